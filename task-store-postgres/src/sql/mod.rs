//! The statements the store runs, each in its own `.sql` file beside this one, and the mapping
//! between rows and [`TaskRecord`]s.
//!
//! Every read filters `expires_at IS NULL OR expires_at > :now`, so a task is invisible the
//! moment it expires, swept or not. The query plans are listed in the crate docs and checked by
//! the tests in `tests/plans.rs`.

use crate::error::bad_row;
use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::postgres::PgRow;
use std::collections::BTreeSet;
use task_core::backend::{CHANGEABLE, time};
use task_core::{
    OriginRequest, ProtocolRevision, Task, TaskError, TaskOutcome, TaskRecord, TaskStatus,
};

pub(crate) const INSERT: &str = include_str!("insert.sql");
pub(crate) const SELECT_TASK: &str = include_str!("select_task.sql");
pub(crate) const SELECT_RECORD: &str = include_str!("select_record.sql");
pub(crate) const SELECT_OUTCOME: &str = include_str!("select_outcome.sql");
pub(crate) const UPDATE: &str = include_str!("update.sql");
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
pub const STATEMENTS: [(&str, &str); 18] = [
    ("insert", INSERT),
    ("select_task", SELECT_TASK),
    ("select_record", SELECT_RECORD),
    ("select_outcome", SELECT_OUTCOME),
    ("update", UPDATE),
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

/// The task columns every task-returning statement starts with, in order: task_id, status,
/// status_message, created_at, last_updated_at, ttl, poll_interval.
pub(crate) fn task(row: &PgRow) -> Result<Task, TaskError> {
    let task_id: String = row
        .try_get(0)
        .map_err(|e| bad_row("(unknown)", format!("task_id: {e}")))?;
    let bad = |what: &str, e: &dyn std::fmt::Display| bad_row(&task_id, format!("{what}: {e}"));
    let status: &str = row.try_get(1).map_err(|e| bad("status", &e))?;
    let status = TaskStatus::parse(status).ok_or_else(|| bad("status", &status))?;
    let message: Option<Vec<u8>> = row.try_get(2).map_err(|e| bad("status_message", &e))?;
    let status_message = message
        .map(String::from_utf8)
        .transpose()
        .map_err(|e| bad("status_message", &e))?;
    let created_at: i64 = row.try_get(3).map_err(|e| bad("created_at", &e))?;
    let last_updated_at: i64 = row.try_get(4).map_err(|e| bad("last_updated_at", &e))?;
    let ttl = duration(row, 5).map_err(|e| bad("ttl", &e))?;
    let poll_interval = duration(row, 6).map_err(|e| bad("poll_interval", &e))?;
    Ok(Task {
        task_id,
        status,
        status_message,
        created_at: time::from_millis(created_at),
        last_updated_at: time::from_millis(last_updated_at),
        ttl,
        poll_interval,
    })
}

/// The task columns, then owner, as `UPDATE … RETURNING` gives them.
pub(crate) fn task_and_owner(row: &PgRow) -> Result<(Task, Option<String>), TaskError> {
    let task = task(row)?;
    let owner = row
        .try_get(7)
        .map_err(|e| bad_row(&task.task_id, format!("owner: {e}")))?;
    Ok((task, owner))
}

/// A whole record: the task columns, then owner, requested_ttl, outcome, cancel_requested,
/// revision, request, input_requests, input_keys_used, input_responses.
pub(crate) fn record(row: &PgRow) -> Result<TaskRecord, TaskError> {
    let task = task(row)?;
    let bad =
        |what: &str, e: &dyn std::fmt::Display| bad_row(&task.task_id, format!("{what}: {e}"));
    let owner = row.try_get(7).map_err(|e| bad("owner", &e))?;
    let requested_ttl: Option<i64> = row.try_get(8).map_err(|e| bad("requested_ttl", &e))?;
    let outcome = json_column(row, 9).map_err(|e| bad("outcome", &e))?;
    let cancel_requested = row.try_get(10).map_err(|e| bad("cancel_requested", &e))?;
    let revision: &str = row.try_get(11).map_err(|e| bad("revision", &e))?;
    let revision = ProtocolRevision::parse(revision).ok_or_else(|| bad("revision", &revision))?;
    let request: Option<OriginRequest> = json_column(row, 12).map_err(|e| bad("request", &e))?;
    let input_requests: Option<Map<String, Value>> =
        json_column(row, 13).map_err(|e| bad("input_requests", &e))?;
    let input_keys_used: Option<BTreeSet<String>> =
        json_column(row, 14).map_err(|e| bad("input_keys_used", &e))?;
    let input_responses: Option<Map<String, Value>> =
        json_column(row, 15).map_err(|e| bad("input_responses", &e))?;
    Ok(TaskRecord {
        task,
        owner,
        // Stored as the i64 with the same bits, so every u64 round-trips.
        requested_ttl: requested_ttl.map(|ttl| ttl as u64),
        outcome,
        cancel_requested,
        revision,
        request,
        input_requests: input_requests.unwrap_or_default(),
        input_keys_used: input_keys_used.unwrap_or_default(),
        input_responses: input_responses.unwrap_or_default(),
    })
}

/// An outcome column read on its own.
pub(crate) fn outcome(task_id: &str, row: &PgRow) -> Result<Option<TaskOutcome>, TaskError> {
    json_column(row, 0).map_err(|e| bad_row(task_id, format!("outcome: {e}")))
}

/// A duration in ms, stored as a non-negative bigint.
fn duration(row: &PgRow, index: usize) -> Result<Option<u64>, String> {
    let value: Option<i64> = row.try_get(index).map_err(|e| e.to_string())?;
    value
        .map(|ms| u64::try_from(ms).map_err(|_| format!("negative value {ms}")))
        .transpose()
}

fn json_column<T: serde::de::DeserializeOwned>(
    row: &PgRow,
    index: usize,
) -> Result<Option<T>, String> {
    let text: Option<&str> = row.try_get(index).map_err(|e| e.to_string())?;
    text.map(|text| serde_json::from_str(text).map_err(|e| e.to_string()))
        .transpose()
}

/// A value as stored in a JSON column. Serialising these types cannot fail: their maps have
/// string keys and serde_json has no other failure for them.
pub(crate) fn to_json(value: &impl serde::Serialize) -> Result<String, TaskError> {
    serde_json::to_string(value)
        .map_err(|e| TaskError::InvalidInput(format!("cannot store the value as JSON: {e}")))
}

/// A u64 duration, already clamped by task-core, as a bigint.
pub(crate) fn ms(value: Option<u64>) -> Option<i64> {
    value.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}
