//! The shared conformance suite against the in-memory store.

use std::sync::Arc;
use task_core::{StoreConfig, TaskStore};
use task_store_memory::MemoryTaskStore;

async fn make_store(config: StoreConfig) -> Arc<dyn TaskStore> {
    Arc::new(MemoryTaskStore::new(config))
}

conformance_tests::conformance_suite!(make_store);
