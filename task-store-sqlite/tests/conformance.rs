//! The shared conformance suite, every case, against stores on real files.

mod common;

use std::sync::Arc;
use task_core::{StoreConfig, TaskStore};
use task_store_sqlite::SqliteOptions;

async fn make_store(config: StoreConfig) -> Arc<dyn TaskStore> {
    Arc::new(common::TempStore::new(config, SqliteOptions::default()).await)
}

conformance_tests::conformance_suite!(make_store);

/// The same suite on the in-memory mode.
mod memory {
    use super::*;
    use task_store_sqlite::SqliteTaskStore;

    async fn make_store(config: StoreConfig) -> Arc<dyn TaskStore> {
        match SqliteTaskStore::open("sqlite::memory:", config).await {
            Ok(store) => Arc::new(store),
            Err(error) => panic!("a memory store opens: {error}"),
        }
    }

    conformance_tests::conformance_suite!(make_store);
}
