//! The statements the store runs, each in its own `.sql` file beside this one. Their rows read
//! back through [`task_store_sql::rows`].
//!
//! Every read filters `expires_at IS NULL OR expires_at > :now`, so a task is invisible the
//! moment it expires, swept or not. The query plans are listed in the crate docs and checked by
//! the tests in `tests/plans.rs`.

use task_core::backend::CHANGEABLE;

pub(crate) const INSERT: &str = include_str!("insert.sql");
pub(crate) const INSERT_BATCH: &str = include_str!("insert_batch.sql");
pub(crate) const SELECT_TASK: &str = include_str!("select_task.sql");
pub(crate) const SELECT_RECORD: &str = include_str!("select_record.sql");
pub(crate) const SELECT_OUTCOME: &str = include_str!("select_outcome.sql");
pub(crate) const UPDATE: &str = include_str!("update.sql");
pub(crate) const UPDATE_BATCH: &str = include_str!("update_batch.sql");
pub(crate) const UPDATE_RECORD: &str = include_str!("update_record.sql");
pub(crate) const DELETE: &str = include_str!("delete.sql");
pub(crate) const LIST_ALL: &str = include_str!("list_all.sql");
pub(crate) const LIST_OWNER: &str = include_str!("list_owner.sql");
pub(crate) const EXISTS_LIVE: &str = include_str!("exists_live.sql");
pub(crate) const COUNT_LIVE_OWNER: &str = include_str!("count_live_owner.sql");
pub(crate) const COUNT_LIVE_TOTAL: &str = include_str!("count_live_total.sql");
pub(crate) const LOCK: &str = include_str!("lock.sql");
pub(crate) const TRY_LOCK: &str = include_str!("try_lock.sql");
pub(crate) const PURGE_BATCH: &str = include_str!("purge_batch.sql");
pub(crate) const RECOVER_STUCK: &str = include_str!("recover_stuck.sql");
pub(crate) const NOTIFY: &str = include_str!("notify.sql");
pub(crate) const SELECT_VERSIONS: &str = include_str!("select_versions.sql");

/// Every statement with its name, for the plan tests.
#[doc(hidden)]
pub const STATEMENTS: [(&str, &str); 20] = [
    ("insert", INSERT),
    ("insert_batch", INSERT_BATCH),
    ("select_task", SELECT_TASK),
    ("select_record", SELECT_RECORD),
    ("select_outcome", SELECT_OUTCOME),
    ("update", UPDATE),
    ("update_batch", UPDATE_BATCH),
    ("update_record", UPDATE_RECORD),
    ("delete", DELETE),
    ("list_all", LIST_ALL),
    ("list_owner", LIST_OWNER),
    ("exists_live", EXISTS_LIVE),
    ("count_live_owner", COUNT_LIVE_OWNER),
    ("count_live_total", COUNT_LIVE_TOTAL),
    ("lock", LOCK),
    ("try_lock", TRY_LOCK),
    ("purge_batch", PURGE_BATCH),
    ("recover_stuck", RECOVER_STUCK),
    ("notify", NOTIFY),
    ("select_versions", SELECT_VERSIONS),
];

/// The changeable statuses, as bound into the compare-and-set statements.
pub(crate) fn changeable() -> Vec<&'static str> {
    CHANGEABLE.iter().map(|status| status.as_str()).collect()
}

/// A value as stored in a JSON column.
pub(crate) use task_store_sql::rows::to_json;
