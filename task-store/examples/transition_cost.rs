//! Creates `n` tasks in a SQLite or Redis store, then puts each through one kind of change, as
//! the benchmark's transition cells do: the store opened directly (no tracing wrapper),
//! owner-scoped calls, a status message, a 1 KB result. Run it
//! once with `none` and once with a change under callgrind: the difference in instructions,
//! divided by the number of changes, is what one change costs this process.
//!
//! ```sh
//! cargo build --release -p task-store --features sqlite,redis --example transition_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!   target/release/examples/transition_cost 'redis://127.0.0.1:6379?prefix=cost&sweep_interval_ms=0' complete 2000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!   target/release/examples/transition_cost /tmp/cost.db complete 2000
//! ```
//!
//! Changes: `none` (the creates alone), `status` (to input_required and back to working: two
//! changes a task), `complete`, `cancel`. An optional fourth argument runs that many callers at
//! once. It prints the changes' wall-clock rate, which means little under valgrind. A Redis
//! URL's `prefix` names the keys, a SQLite location the file; both are the caller's to remove.

use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Instant;
use task_store::{
    NewTask, RedisTaskStore, Scope, SqliteTaskStore, StoreConfig, TaskStatus, TaskStore,
    TaskStoreExt,
};

type Failure = Box<dyn std::error::Error + Send + Sync>;

const OWNER: &str = "bench-session";

/// The benchmark's 1 KB result.
fn result() -> Map<String, Value> {
    let text = "lorem ipsum dolor sit amet ".repeat(37);
    match json!({"content": [{"type": "text", "text": text}], "isError": false}) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Puts each of `ids` through `change`; returns how many changes it made.
async fn run(
    store: &dyn TaskStore,
    change: &str,
    ids: &[String],
    result: &Map<String, Value>,
) -> Result<usize, Failure> {
    let scope = Scope::owner(OWNER);
    let mut made = 0;
    for id in ids {
        match change {
            "none" => {}
            "status" => {
                for status in [TaskStatus::InputRequired, TaskStatus::Working] {
                    store
                        .set_status(&scope, id, status, Some("step 2 of 4"))
                        .await?;
                    made += 1;
                }
            }
            "complete" => {
                store.complete(&scope, id, result.clone()).await?;
                made += 1;
            }
            "cancel" => {
                store.cancel(&scope, id).await?;
                made += 1;
            }
            other => return Err(format!("unknown change {other:?}").into()),
        }
    }
    Ok(made)
}

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, change, n, rest @ ..] = args.as_slice() else {
        return Err("usage: transition_cost URL none|status|complete|cancel N [CALLERS]".into());
    };
    let n: usize = n.parse()?;
    let callers: usize = rest.first().map(|c| c.parse()).transpose()?.unwrap_or(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store: Arc<dyn TaskStore> = if url.starts_with("redis") {
            Arc::new(RedisTaskStore::open(url, StoreConfig::default()).await?)
        } else {
            Arc::new(SqliteTaskStore::open(url, StoreConfig::default()).await?)
        };
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let new = NewTask::new().owned_by(OWNER).with_ttl(3_600_000);
            ids.push(store.create(new).await?.task_id);
        }
        let result = result();
        let start = Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        for chunk in ids.chunks(n.div_ceil(callers.max(1)).max(1)) {
            let (store, chunk, change) = (store.clone(), chunk.to_vec(), change.clone());
            let result = result.clone();
            workers.spawn(async move { run(&*store, &change, &chunk, &result).await });
        }
        let mut made = 0;
        while let Some(done) = workers.join_next().await {
            made += done??;
        }
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{change}: {made} changes in {seconds:.3} s, {:.0}/s",
            made as f64 / seconds
        );
        Ok(())
    })
}
