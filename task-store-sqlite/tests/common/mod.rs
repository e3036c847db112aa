//! Helpers shared by the integration tests: stores in fresh temporary directories, and child
//! processes.
#![allow(dead_code)]

pub mod child;

use conformance_tests::delegate::{Delegate, Delegating};
use std::path::{Path, PathBuf};
use std::time::Duration;
use task_core::{StoreConfig, TaskStore};
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

/// A store on a real file in a temporary directory that is removed with the store. As a
/// [`Delegating`] store it is a `TaskStore` itself.
#[derive(Debug)]
pub struct TempStore {
    pub store: SqliteTaskStore,
    pub dir: tempfile::TempDir,
}

impl TempStore {
    /// A fresh store with `config` and `options`.
    pub async fn new(config: StoreConfig, options: SqliteOptions) -> Delegating<TempStore> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("tasks.db");
        let store = SqliteTaskStore::open_with(&url(&path), config, options)
            .await
            .expect("a fresh store opens");
        Delegating(TempStore { store, dir })
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("tasks.db")
    }
}

impl Delegate for TempStore {
    fn inner(&self) -> &dyn TaskStore {
        &self.store
    }
}

/// The `sqlite://` URL of a path.
pub fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Options for tests: a short poll interval keeps cross-process tests quick.
pub fn fast() -> SqliteOptions {
    SqliteOptions::default().with_watch_interval(Duration::from_millis(20))
}
