//! A create: the record built and checked by task-core, stored by the store's insert, and a
//! taken id answered by the task that holds it.

use crate::to_i64;
use std::future::Future;
use task_core::backend::{RecordWriter, create_task_state, repeated_create};
use task_core::{LimitKind, NewTask, Scope, StoreConfig, Task, TaskError, TaskRecord};

/// Tries of a create whose id keeps changing hands between the insert and the read.
pub const CREATE_ATTEMPTS: usize = 3;

/// The write of a new task: what [`create`] needs beyond reading records.
pub trait Insert: RecordWriter {
    /// Stores `record` as a new task, checking the store's limits ([`check_limit`]) where
    /// they apply. `false`, having written nothing, when a live task holds its id.
    fn insert(&self, record: &TaskRecord) -> impl Future<Output = Result<bool, TaskError>> + Send;
}

/// [`TaskStore::create`](task_core::TaskStore::create) through `store`: builds the record,
/// inserts it, and answers a taken id with [`repeated_create`] against the task holding it.
pub async fn create<S: Insert>(
    store: &S,
    new: NewTask,
    config: &StoreConfig,
) -> Result<Task, TaskError> {
    let record = create_task_state(new, config)?;
    let task_id = record.task.task_id.as_str();
    // A task that held the id and is gone by the time it is read (deleted or expired
    // meanwhile) leaves the id free: try again.
    for _ in 0..CREATE_ATTEMPTS {
        if store.insert(&record).await? {
            return Ok(record.task);
        }
        match store.read_record(&Scope::All, task_id).await {
            Ok(existing) => return repeated_create(&existing, &record),
            Err(TaskError::NotFound { .. }) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(TaskError::AlreadyExists {
        task_id: task_id.to_owned(),
    })
}

/// Refuses a new task when `live` unfinished tasks already fill the limit `max` of `kind`.
pub fn check_limit(kind: LimitKind, max: u64, live: i64) -> Result<(), TaskError> {
    if live >= to_i64(max) {
        return Err(TaskError::LimitExceeded { kind, max });
    }
    Ok(())
}
