//! The whole conformance suite against the example store.

use custom_store::PlainStore;
use std::sync::Arc;
use task_core::{StoreConfig, TaskStore};

async fn make_store(config: StoreConfig) -> Arc<dyn TaskStore> {
    Arc::new(PlainStore::new(config))
}

conformance_tests::conformance_suite!(make_store);
