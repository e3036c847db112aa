//! Measures the store against Redis's own round trip: `get` against a raw `HGETALL`, a status
//! update against the `EVALSHA` of a trivial script, at 1 and 32 concurrent callers, plus
//! creates and listing. Every caller shares the store's one multiplexed connection, as the
//! raw baseline shares one `ConnectionManager`.
//!
//! ```sh
//! cargo run --release -p task-store-redis --example throughput [seconds per measurement]
//! ```
//!
//! Uses `REDIS_URL` (default `redis://127.0.0.1:6379`) under a fresh key prefix, deleted at
//! the end.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use task_core::{NewTask, PageRequest, Scope, StoreConfig, TaskStore, TaskStoreExt};
use task_store_redis::redis::{self, AsyncCommands, aio::ConnectionManager};
use task_store_redis::{RedisOptions, RedisTaskStore};

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Runs `op(caller, n)` from `callers` concurrent tasks for `length`; returns operations/s.
async fn rate<F, Fut>(callers: usize, length: Duration, op: F) -> Result<f64, Failure>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Failure>> + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let (op, done) = (op.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while start.elapsed() < length {
                op(caller, n).await?;
                n += 1;
            }
            done.fetch_add(n, Ordering::Relaxed);
            Ok::<_, Failure>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

fn report(what: &str, callers: usize, ours: f64, baseline: Option<(&str, f64)>) {
    match baseline {
        Some((name, raw)) => println!(
            "{what:<22} {callers:>2} callers: {ours:>9.0}/s   {name} {raw:>9.0}/s   {:>5.1}%",
            100.0 * ours / raw
        ),
        None => println!("{what:<22} {callers:>2} callers: {ours:>9.0}/s"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let seconds = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let length = Duration::from_secs_f64(seconds);
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let options = RedisOptions::default().with_key_prefix(prefix.clone());
    let store = Arc::new(RedisTaskStore::open_with(&url, StoreConfig::default(), options).await?);
    let raw = ConnectionManager::new(redis::Client::open(url.as_str())?).await?;
    let trivial = redis::Script::new("return 1");
    trivial
        .prepare_invoke()
        .load_async(&mut raw.clone())
        .await?;
    let trivial = Arc::new(trivial);

    let mut ids = Vec::new();
    for _ in 0..32 {
        ids.push(
            store
                .create(NewTask::new().owned_by("bench"))
                .await?
                .task_id,
        );
    }
    let ids = Arc::new(ids);
    let hash_key = format!("{{{prefix}}}:raw-hash");
    let _: () = raw
        .clone()
        .hset_multiple(&hash_key, &[("st", "working"), ("c", "1"), ("u", "1")])
        .await?;

    for callers in [1, 32] {
        let hgetall = {
            let (raw, key) = (raw.clone(), hash_key.clone());
            rate(callers, length, move |_, _| {
                let (mut raw, key) = (raw.clone(), key.clone());
                async move {
                    let _: std::collections::HashMap<String, String> = raw.hgetall(&key).await?;
                    Ok(())
                }
            })
            .await?
        };
        let get = {
            let (store, ids) = (store.clone(), ids.clone());
            rate(callers, length, move |caller, _| {
                let (store, ids) = (store.clone(), ids.clone());
                async move {
                    store.get(&Scope::owner("bench"), &ids[caller]).await?;
                    Ok(())
                }
            })
            .await?
        };
        report("get", callers, get, Some(("HGETALL", hgetall)));

        let evalsha = {
            let (raw, trivial) = (raw.clone(), trivial.clone());
            rate(callers, length, move |_, _| {
                let (mut raw, trivial) = (raw.clone(), trivial.clone());
                async move {
                    let _: i64 = trivial.prepare_invoke().invoke_async(&mut raw).await?;
                    Ok(())
                }
            })
            .await?
        };
        let update = {
            let (store, ids) = (store.clone(), ids.clone());
            rate(callers, length, move |caller, n| {
                let (store, ids) = (store.clone(), ids.clone());
                async move {
                    let message = format!("step {n}");
                    store
                        .set_message(&Scope::owner("bench"), &ids[caller], &message)
                        .await?;
                    Ok(())
                }
            })
            .await?
        };
        report(
            "update (message)",
            callers,
            update,
            Some(("EVALSHA", evalsha)),
        );

        let create = {
            let store = store.clone();
            rate(callers, length, move |_, _| {
                let store = store.clone();
                async move {
                    let task = store.create(NewTask::new().owned_by("bench")).await?;
                    store.delete(&Scope::All, &task.task_id).await?;
                    Ok(())
                }
            })
            .await?
        };
        report(
            "create + delete",
            callers,
            create,
            Some(("EVALSHA", evalsha)),
        );
    }

    for _ in 0..2_000 {
        store.create(NewTask::new().owned_by("lister")).await?;
    }
    let start = Instant::now();
    let mut listed = 0;
    for _ in 0..5 {
        let mut cursor = None;
        loop {
            let page = store
                .list(
                    &Scope::owner("lister"),
                    PageRequest::after(cursor).with_limit(100),
                )
                .await?;
            listed += page.tasks.len();
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    let per_second = listed as f64 / start.elapsed().as_secs_f64();
    println!("list (pages of 100)       {per_second:>9.0} items/s");

    // Clean up: every key of this run sits under its prefix.
    let mut cleaner = raw.clone();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(store.key_pattern())
            .arg("COUNT")
            .arg(1_000)
            .query_async(&mut cleaner)
            .await?;
        if !keys.is_empty() {
            let _: i64 = cleaner.del(&keys).await?;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    Ok(())
}
