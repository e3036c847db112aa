//! What `recover_stuck` writes.

use crate::rows::to_json;
use std::time::Duration;
use task_core::backend::{stuck_cutoff, time, validate};
use task_core::{StoreConfig, TaskChange, TaskError, TaskStatus};

/// One [`TaskStore::recover_stuck`](task_core::TaskStore::recover_stuck) call, checked: the
/// failure every stuck task gets, and which tasks are stuck.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The failed status.
    pub status: TaskStatus,
    /// The failure's outcome, as stored JSON.
    pub outcome: String,
    /// The time of the call in ms: the stuck tasks' new `lastUpdatedAt`.
    pub now_ms: i64,
    /// A task that has not ended and was last updated before this (in ms) is stuck.
    pub cutoff_ms: i64,
}

impl Recovery {
    /// Checks `message` against `config` and fixes the failure and the cutoff for tasks not
    /// updated for `older_than`.
    pub fn new(
        message: &str,
        older_than: Duration,
        config: &StoreConfig,
    ) -> Result<Recovery, TaskError> {
        validate::message(message, config.max_payload_bytes)?;
        let change = TaskChange::fail(message);
        let (Some(status), Some(outcome)) = (change.status, &change.outcome) else {
            return Err(TaskError::InvalidInput("a failure needs an outcome".into()));
        };
        let now = time::now();
        Ok(Recovery {
            status,
            outcome: to_json(outcome)?,
            now_ms: now.timestamp_millis(),
            cutoff_ms: stuck_cutoff(now, older_than).timestamp_millis(),
        })
    }
}
