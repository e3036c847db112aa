//! Helpers shared by the integration tests: stores in fresh temporary directories, and child
//! processes.
#![allow(dead_code)]

pub mod child;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::time::Duration;
use task_core::{
    NewTask, PageRequest, Scope, StoreConfig, Task, TaskChange, TaskError, TaskOutcome, TaskPage,
    TaskRecord, TaskStore,
};
use task_store_sqlite::{SqliteOptions, SqliteTaskStore};

/// Far longer than any wake-up should take; reaching it means something hung.
pub const HANG: Duration = Duration::from_secs(60);

/// SplitMix64: a small seeded generator, so a random run can be replayed from its seed.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A store on a real file in a temporary directory that is removed with the store.
#[derive(Debug)]
pub struct TempStore {
    pub store: SqliteTaskStore,
    pub dir: tempfile::TempDir,
}

impl TempStore {
    /// A fresh store with `config` and `options`.
    pub async fn new(config: StoreConfig, options: SqliteOptions) -> TempStore {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("tasks.db");
        let store = SqliteTaskStore::open_with(&url(&path), config, options)
            .await
            .expect("a fresh store opens");
        TempStore { store, dir }
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("tasks.db")
    }
}

/// The `sqlite://` URL of a path.
pub fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Options for tests: a short poll interval keeps cross-process tests quick.
pub fn fast() -> SqliteOptions {
    SqliteOptions::default().with_poll_interval(Duration::from_millis(20))
}

#[async_trait]
impl TaskStore for TempStore {
    fn config(&self) -> &StoreConfig {
        self.store.config()
    }
    async fn create(&self, new: NewTask) -> Result<Task, TaskError> {
        self.store.create(new).await
    }
    async fn get(&self, scope: &Scope, task_id: &str) -> Result<Task, TaskError> {
        self.store.get(scope, task_id).await
    }
    async fn get_record(&self, scope: &Scope, task_id: &str) -> Result<TaskRecord, TaskError> {
        self.store.get_record(scope, task_id).await
    }
    async fn get_result(
        &self,
        scope: &Scope,
        task_id: &str,
    ) -> Result<Option<TaskOutcome>, TaskError> {
        self.store.get_result(scope, task_id).await
    }
    async fn update(
        &self,
        scope: &Scope,
        task_id: &str,
        change: TaskChange,
    ) -> Result<Task, TaskError> {
        self.store.update(scope, task_id, change).await
    }
    async fn list(&self, scope: &Scope, page: PageRequest) -> Result<TaskPage, TaskError> {
        self.store.list(scope, page).await
    }
    async fn delete(&self, scope: &Scope, task_id: &str) -> Result<bool, TaskError> {
        self.store.delete(scope, task_id).await
    }
    async fn wait_for_update(
        &self,
        scope: &Scope,
        task_id: &str,
        seen: DateTime<Utc>,
        timeout: Option<Duration>,
    ) -> Result<Task, TaskError> {
        self.store
            .wait_for_update(scope, task_id, seen, timeout)
            .await
    }
    async fn notify_update(&self, task_id: &str) -> Result<(), TaskError> {
        self.store.notify_update(task_id).await
    }
    async fn purge_expired(&self) -> Result<u64, TaskError> {
        self.store.purge_expired().await
    }
    async fn recover_stuck(&self, older_than: Duration, message: &str) -> Result<u64, TaskError> {
        self.store.recover_stuck(older_than, message).await
    }
}
