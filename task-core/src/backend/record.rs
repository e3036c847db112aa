//! The record path of a change (see [`ChangePlan::Record`](crate::backend::ChangePlan)):
//! read the record, apply the change with the shared rules, write it back only if nothing
//! changed it in between.

use crate::backend::time;
use crate::error::{Retry, TaskError};
use crate::record::TaskRecord;
use crate::status::{Applied, TaskChange, apply_change, explain_refusal};
use crate::store::Scope;
use crate::wire::Task;
use chrono::{DateTime, Utc};
use std::future::Future;

/// How many times [`update_by_record`] reads again after losing a race before it gives up.
/// Each lost race means another change landed, so the store as a whole made progress.
pub const MAX_RECORD_ATTEMPTS: usize = 64;

/// Whole-record reads and compare-and-set writes: what a backend supplies for
/// [`update_by_record`].
pub trait RecordWriter: Send + Sync {
    /// The backend's name, as in [`TaskError::Backend`].
    const BACKEND: &'static str;

    /// The task's whole record as `scope` sees it, or [`TaskError::NotFound`].
    fn read_record(
        &self,
        scope: &Scope,
        task_id: &str,
    ) -> impl Future<Output = Result<TaskRecord, TaskError>> + Send;

    /// Writes what a change may alter in `record` (status, message, outcome, the cancel
    /// flag, input requests, keys used, input responses and `lastUpdatedAt`) as one atomic
    /// compare-and-set: only if the stored task is still visible to `scope`, unexpired, and
    /// its `lastUpdatedAt` is still `expected`. Returns `false`, writing nothing, when it is
    /// not. Wakes the task's waiters, in every process, when it writes.
    ///
    /// [`update_by_record`] never passes a record whose status is terminal unless the
    /// backend routes changes that end a task here too, in which case the write also
    /// updates whatever the backend counts unfinished tasks with.
    fn replace_record(
        &self,
        scope: &Scope,
        expected: DateTime<Utc>,
        record: &TaskRecord,
    ) -> impl Future<Output = Result<bool, TaskError>> + Send;
}

/// Applies `change` to task `task_id` through `writer`: reads the record, runs
/// [`apply_change`] on it, and writes it back by [`RecordWriter::replace_record`], reading
/// again when another change won the race. A change that alters nothing (see [`Applied`])
/// writes nothing and answers the task as it is. The caller has validated the change.
pub async fn update_by_record<W: RecordWriter>(
    writer: &W,
    scope: &Scope,
    task_id: &str,
    change: &TaskChange,
) -> Result<Task, TaskError> {
    for _ in 0..MAX_RECORD_ATTEMPTS {
        let record = writer.read_record(scope, task_id).await?;
        let expected = record.task.last_updated_at;
        let mut next = record.clone();
        match apply_change(change.clone(), task_id, &mut next, time::now())? {
            Applied::Unchanged => return Ok(record.task),
            Applied::Changed => {
                if writer.replace_record(scope, expected, &next).await? {
                    return Ok(next.task);
                }
            }
        }
    }
    Err(contended(W::BACKEND, task_id))
}

/// After a one-statement change (see [`plan`](crate::backend::plan)) matched no row: reads the
/// record as it now is and returns the refusal [`explain_refusal`] names in it. `Ok(())` means
/// the task changed in between and would take the change now, so the caller tries again.
pub async fn refusal<W: RecordWriter>(
    writer: &W,
    change: &TaskChange,
    scope: &Scope,
    task_id: &str,
) -> Result<(), TaskError> {
    let record = writer.read_record(scope, task_id).await?;
    match explain_refusal(change, task_id, &record) {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    }
}

/// The error of a change that lost [`MAX_RECORD_ATTEMPTS`] races in a row to other changes of
/// the same task. Nothing was written, so it is safe to repeat.
pub fn contended(backend: &'static str, task_id: &str) -> TaskError {
    TaskError::backend(
        backend,
        Retry::Safe,
        format!("task {task_id} kept changing: {MAX_RECORD_ATTEMPTS} attempts lost the race"),
    )
}
