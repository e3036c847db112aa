//! Measures wake-up latency through Redis pub/sub, as the bench's wake-up cells do: pairs of
//! a waiter and an updater, each pair on its own task. The waiter reads the task and waits;
//! the updater lets it park (1 ms), then changes the status. The latency runs from the moment
//! the update returns (the change is committed) to the waiter's return; a waiter that
//! returned first counts as zero. Prints p50 and p99 at 1 and 32 concurrent pairs.
//!
//! ```sh
//! cargo run --release -p task-store-redis --example wake_latency [rounds]
//! ```
//!
//! Uses `REDIS_URL` (default `redis://127.0.0.1:6379`) under a fresh key prefix, deleted at
//! the end.

use std::sync::Arc;
use std::time::{Duration, Instant};
use task_core::{NewTask, Scope, StoreConfig, TaskStatus, TaskStore, TaskStoreExt};
use task_store_redis::{RedisOptions, RedisTaskStore};

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// `rounds` wake-ups split among `pairs` concurrent pairs; their latencies, sorted.
async fn measure(
    store: &Arc<RedisTaskStore>,
    pairs: usize,
    rounds: usize,
) -> Result<Vec<Duration>, Failure> {
    let each = rounds.div_ceil(pairs).max(1);
    let mut tasks = Vec::new();
    for _ in 0..pairs {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let id = store.create(NewTask::new()).await?.task_id;
            let mut flip = TaskStatus::InputRequired;
            let mut samples = Vec::with_capacity(each);
            for _ in 0..each {
                let seen = store.get(&Scope::All, &id).await?.last_updated_at;
                let waiter = {
                    let (store, id) = (store.clone(), id.clone());
                    tokio::spawn(async move {
                        store.wait_for_update(&Scope::All, &id, seen, None).await?;
                        Ok::<_, Failure>(Instant::now())
                    })
                };
                tokio::time::sleep(Duration::from_millis(1)).await;
                store.set_status(&Scope::All, &id, flip, None).await?;
                let committed = Instant::now();
                flip = match flip {
                    TaskStatus::InputRequired => TaskStatus::Working,
                    _ => TaskStatus::InputRequired,
                };
                samples.push(waiter.await??.saturating_duration_since(committed));
            }
            store.delete(&Scope::All, &id).await?;
            Ok::<_, Failure>(samples)
        }));
    }
    let mut samples = Vec::new();
    for task in tasks {
        samples.append(&mut task.await??);
    }
    samples.sort();
    Ok(samples)
}

/// The `q` quantile of sorted samples (nearest rank).
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let rounds = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let options = RedisOptions::default().with_key_prefix(prefix);
    let store = Arc::new(RedisTaskStore::open_with(&url, StoreConfig::default(), options).await?);
    // Warm up: the subscriber connects on the first wait.
    measure(&store, 1, 20).await?;
    for pairs in [1, 32] {
        let samples = measure(&store, pairs, rounds).await?;
        println!(
            "{pairs:>2} pairs, {} wake-ups: p50 {:>4} µs, p99 {:>5} µs",
            samples.len(),
            percentile(&samples, 0.50).as_micros(),
            percentile(&samples, 0.99).as_micros()
        );
    }
    Ok(())
}
