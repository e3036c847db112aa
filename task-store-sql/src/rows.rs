//! Rows back into [`task_core`] types, for any sqlx driver whose rows hold the column types
//! the stores use ([`Columns`]).
//!
//! Every task-returning statement starts with the task columns, in order: task_id, status,
//! status_message, created_at, last_updated_at, ttl, poll_interval. `UPDATE … RETURNING`
//! adds owner; a whole record adds owner, requested_ttl, outcome, cancel_requested, revision,
//! request, input_requests, input_keys_used, input_responses. Times and durations are
//! milliseconds in 64-bit integers, JSON values are text, and the status message is text
//! read as bytes (PostgreSQL keeps it as `bytea`, which holds any text, NUL included).

use serde_json::{Map, Value};
use sqlx::{ColumnIndex, Decode, Row, Type};
use std::collections::BTreeSet;
use std::fmt::Display;
use task_core::backend::{PageQuery, time};
use task_core::{
    OriginRequest, ProtocolRevision, Task, TaskError, TaskOutcome, TaskPage, TaskRecord, TaskStatus,
};

/// A stored row that does not decode into a task. Each store wraps it in its own error type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stored row of task {task_id} is unreadable: {reason}")]
pub struct BadRow {
    /// The task whose row is bad, or `(unknown)` when its id is unreadable too.
    pub task_id: String,
    /// What is wrong with it.
    pub reason: String,
}

impl BadRow {
    fn new(task_id: &str, what: &str, error: &dyn Display) -> BadRow {
        BadRow {
            task_id: task_id.to_owned(),
            reason: format!("{what}: {error}"),
        }
    }
}

/// The column reads the decoding needs, by position. Every sqlx row whose driver decodes
/// text, bytes, 64-bit integers and booleans has them.
pub trait Columns {
    /// A text column.
    fn text(&self, index: usize) -> Result<Option<&str>, String>;
    /// A bytes column (or a text column read as its bytes).
    fn bytes(&self, index: usize) -> Result<Option<&[u8]>, String>;
    /// A 64-bit integer column.
    fn integer(&self, index: usize) -> Result<Option<i64>, String>;
    /// A boolean column.
    fn flag(&self, index: usize) -> Result<bool, String>;
}

impl<R> Columns for R
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> &'r str: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> &'r [u8]: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, index: usize) -> Result<Option<&str>, String> {
        self.try_get(index).map_err(|e| e.to_string())
    }

    fn bytes(&self, index: usize) -> Result<Option<&[u8]>, String> {
        self.try_get(index).map_err(|e| e.to_string())
    }

    fn integer(&self, index: usize) -> Result<Option<i64>, String> {
        self.try_get(index).map_err(|e| e.to_string())
    }

    fn flag(&self, index: usize) -> Result<bool, String> {
        self.try_get(index).map_err(|e| e.to_string())
    }
}

/// The task columns.
pub fn task(row: &impl Columns) -> Result<Task, BadRow> {
    let task_id = match row.text(0) {
        Ok(Some(id)) => id.to_owned(),
        Ok(None) => return Err(BadRow::new("(unknown)", "task_id", &"NULL")),
        Err(e) => return Err(BadRow::new("(unknown)", "task_id", &e)),
    };
    let bad = |what: &str, e: &dyn Display| BadRow::new(&task_id, what, e);
    let status = required(row.text(1)).map_err(|e| bad("status", &e))?;
    let status = TaskStatus::parse(status).ok_or_else(|| bad("status", &status))?;
    let message = row.bytes(2).map_err(|e| bad("status_message", &e))?;
    let status_message = message
        .map(|bytes| std::str::from_utf8(bytes).map(str::to_owned))
        .transpose()
        .map_err(|e| bad("status_message", &e))?;
    let created_at = required(row.integer(3)).map_err(|e| bad("created_at", &e))?;
    let last_updated_at = required(row.integer(4)).map_err(|e| bad("last_updated_at", &e))?;
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
pub fn task_and_owner(row: &impl Columns) -> Result<(Task, Option<String>), BadRow> {
    let task = task(row)?;
    let owner = row
        .text(7)
        .map_err(|e| BadRow::new(&task.task_id, "owner", &e))?;
    Ok((task, owner.map(str::to_owned)))
}

/// A whole record.
pub fn record(row: &impl Columns) -> Result<TaskRecord, BadRow> {
    let task = task(row)?;
    let bad = |what: &str, e: &dyn Display| BadRow::new(&task.task_id, what, e);
    let owner = row.text(7).map_err(|e| bad("owner", &e))?;
    let requested_ttl = row.integer(8).map_err(|e| bad("requested_ttl", &e))?;
    let outcome = json_column(row, 9).map_err(|e| bad("outcome", &e))?;
    let cancel_requested = row.flag(10).map_err(|e| bad("cancel_requested", &e))?;
    let revision = required(row.text(11)).map_err(|e| bad("revision", &e))?;
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
        owner: owner.map(str::to_owned),
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

/// The page of a `list` statement's rows (see [`list_query`](crate::list_query)).
pub fn page<R: Columns>(query: &PageQuery<'_>, rows: &[R]) -> Result<TaskPage, BadRow> {
    let tasks = rows.iter().map(task).collect::<Result<Vec<_>, _>>()?;
    Ok(query.page(tasks))
}

/// An outcome column read on its own.
pub fn outcome(task_id: &str, row: &impl Columns) -> Result<Option<TaskOutcome>, BadRow> {
    json_column(row, 0).map_err(|e| BadRow::new(task_id, "outcome", &e))
}

/// A value as stored in a JSON column. Serialising these types cannot fail: their maps have
/// string keys and serde_json has no other failure for them.
pub fn to_json(value: &impl serde::Serialize) -> Result<String, TaskError> {
    serde_json::to_string(value)
        .map_err(|e| TaskError::InvalidInput(format!("cannot store the value as JSON: {e}")))
}

/// A column that must not be NULL.
fn required<T>(value: Result<Option<T>, String>) -> Result<T, String> {
    value?.ok_or_else(|| "unexpected null".to_owned())
}

/// A duration in ms, stored as a non-negative 64-bit integer.
fn duration(row: &impl Columns, index: usize) -> Result<Option<u64>, String> {
    row.integer(index)?
        .map(|ms| u64::try_from(ms).map_err(|_| format!("negative value {ms}")))
        .transpose()
}

fn json_column<T: serde::de::DeserializeOwned>(
    row: &impl Columns,
    index: usize,
) -> Result<Option<T>, String> {
    row.text(index)?
        .map(|text| serde_json::from_str(text).map_err(|e| e.to_string()))
        .transpose()
}
