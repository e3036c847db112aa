//! The stores the cases run against, each fresh and empty, and each removing what it wrote.

use conformance_tests::delegate::{Delegate, Delegating};
use std::sync::Arc;
use std::time::Duration;
use task_core::{StoreConfig, TaskStore};
use task_store_memory::MemoryTaskStore;
use task_store_redis::redis::{self, Commands};
use task_store_redis::{RedisOptions, RedisTaskStore};
use task_store_sqlite::SqliteTaskStore;

/// A memory store.
pub async fn memory(config: StoreConfig) -> Arc<dyn TaskStore> {
    Arc::new(MemoryTaskStore::new(config))
}

/// A SQLite store on a file in a temporary directory, removed with the store.
#[derive(Debug)]
struct TempSqlite {
    store: SqliteTaskStore,
    _dir: tempfile::TempDir,
}

impl Delegate for TempSqlite {
    fn inner(&self) -> &dyn TaskStore {
        &self.store
    }
}

/// A SQLite store on a fresh file.
pub async fn sqlite(config: StoreConfig) -> Arc<dyn TaskStore> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("tasks.db").display());
    let store = SqliteTaskStore::open(&url, config)
        .await
        .unwrap_or_else(|e| panic!("a fresh store at {url} opens: {e}"));
    Arc::new(Delegating(TempSqlite { store, _dir: dir }))
}

/// A Redis store under a key prefix of its own, whose keys are deleted when it is dropped.
#[derive(Debug)]
struct ScratchRedis {
    store: RedisTaskStore,
    url: String,
}

impl Delegate for ScratchRedis {
    fn inner(&self) -> &dyn TaskStore {
        &self.store
    }
}

impl Drop for ScratchRedis {
    fn drop(&mut self) {
        // Best effort: a server that went away has nothing left to delete.
        let _ = delete_keys(&self.url, &self.store.key_pattern());
    }
}

/// Deletes every key matching `pattern`.
fn delete_keys(url: &str, pattern: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut connection = client.get_connection_with_timeout(Duration::from_secs(5))?;
    let keys = connection
        .scan_match::<_, String>(pattern)?
        .collect::<Result<Vec<_>, _>>()?;
    if !keys.is_empty() {
        redis::cmd("DEL").arg(&keys).query::<i64>(&mut connection)?;
    }
    Ok(())
}

/// A Redis store on `REDIS_URL` (default `redis://127.0.0.1:6379`) under a fresh key prefix.
/// The cases store 10 MB payloads, which a busy server may take seconds to handle, so replies
/// may take longer than the default 2 s.
pub async fn redis(config: StoreConfig) -> Arc<dyn TaskStore> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let options = RedisOptions::default()
        .with_key_prefix(format!(
            "task-protocol-test-{}",
            task_core::generate_task_id()
        ))
        .with_response_timeout(Duration::from_secs(30));
    match RedisTaskStore::open_with(&url, config, options).await {
        Ok(store) => Arc::new(Delegating(ScratchRedis { store, url })),
        Err(error) => panic!(
            "cannot open a Redis store at {url}: {error}. These tests need a server: \
             run ./scripts/test-all.sh (it starts one) or set REDIS_URL"
        ),
    }
}
