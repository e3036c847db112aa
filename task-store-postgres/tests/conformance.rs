//! The shared conformance suite against a real PostgreSQL, every case, each store in a schema
//! of its own (dropped when the case ends).

mod support;

use support::scratch_store;

conformance_tests::conformance_suite!(scratch_store);

/// The same suite with every change through the record path (read, `apply_change`,
/// compare-and-set on the version), which serves changes the single statement cannot express.
mod through_records {
    use super::support::{Scratch, options};
    use std::sync::Arc;
    use task_core::{StoreConfig, TaskStore};

    async fn make_store(config: StoreConfig) -> Arc<dyn TaskStore> {
        let mut options = options();
        options.changes_through_records = true;
        Arc::new(Scratch::open_with(config, options).await)
    }

    conformance_tests::conformance_suite!(make_store);
}
