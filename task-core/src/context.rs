//! Running a task's work: [`TaskContext`] and [`task_execution`], ported from the MCP Python
//! SDK's `TaskContext` and `task_execution` (`mcp.shared.experimental.tasks`).

use crate::error::TaskError;
use crate::record::TaskOutcome;
use crate::status::TaskChange;
use crate::store::{Scope, TaskStore};
use crate::wire::{Task, TaskStatus};
use serde_json::{Map, Value};
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

/// What a worker holds while it runs one task. It acts with trusted ([`Scope::All`]) access,
/// so it works from any process that shares the store.
#[derive(Clone, Debug)]
pub struct TaskContext {
    store: Arc<dyn TaskStore>,
    task: Task,
}

impl TaskContext {
    /// Loads the task; [`TaskError::NotFound`] if it does not exist.
    pub async fn load(store: Arc<dyn TaskStore>, task_id: &str) -> Result<Self, TaskError> {
        let task = store.get(&Scope::All, task_id).await?;
        Ok(TaskContext { store, task })
    }

    /// The task id.
    pub fn task_id(&self) -> &str {
        &self.task.task_id
    }

    /// The task as this context last wrote or read it.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn TaskStore> {
        &self.store
    }

    async fn apply(&mut self, change: TaskChange) -> Result<&Task, TaskError> {
        self.task = self
            .store
            .update(&Scope::All, &self.task.task_id, change)
            .await?;
        Ok(&self.task)
    }

    /// Changes the status message, keeping the status.
    pub async fn update_status(&mut self, message: impl Into<String>) -> Result<&Task, TaskError> {
        self.apply(TaskChange::message(message)).await
    }

    /// Moves to `input_required` with a message saying what is needed.
    pub async fn require_input(&mut self, message: impl Into<String>) -> Result<&Task, TaskError> {
        let change = TaskChange::status(TaskStatus::InputRequired, Some(message.into()));
        self.apply(change).await
    }

    /// Moves back to `working` once input arrived.
    pub async fn resume(&mut self, message: Option<String>) -> Result<&Task, TaskError> {
        self.apply(TaskChange::status(TaskStatus::Working, message))
            .await
    }

    /// Completes with a result; the result and the status are written together.
    pub async fn complete(&mut self, result: Map<String, Value>) -> Result<&Task, TaskError> {
        self.apply(TaskChange::complete(result)).await
    }

    /// Fails with a message.
    pub async fn fail(&mut self, message: impl Into<String>) -> Result<&Task, TaskError> {
        self.apply(TaskChange::fail(message)).await
    }

    /// Ends in `completed` or `failed` with an explicit outcome.
    pub async fn finish(
        &mut self,
        status: TaskStatus,
        outcome: TaskOutcome,
        message: Option<String>,
    ) -> Result<&Task, TaskError> {
        self.apply(TaskChange::finish(status, outcome, message))
            .await
    }

    /// Whether a cancel was made through the store, by any process. Refreshes [`Self::task`].
    pub async fn is_cancelled(&mut self) -> Result<bool, TaskError> {
        let record = self.store.get_record(&Scope::All, self.task_id()).await?;
        self.task = record.task;
        Ok(record.cancel_requested || self.task.status == TaskStatus::Cancelled)
    }

    /// Resolves once the work should stop: the task was cancelled, ended some other way, or is
    /// gone. Driven by the store's wait, so it wakes as soon as the cancel lands.
    pub async fn cancelled(&self) -> Result<(), TaskError> {
        let mut seen = self.task.last_updated_at;
        loop {
            let record = match self.store.get_record(&Scope::All, self.task_id()).await {
                Err(TaskError::NotFound { .. }) => return Ok(()),
                other => other?,
            };
            if record.cancel_requested || record.task.is_terminal() {
                return Ok(());
            }
            seen = seen.max(record.task.last_updated_at);
            match self
                .store
                .wait_for_update(&Scope::All, self.task_id(), seen, None)
                .await
            {
                Err(TaskError::NotFound { .. }) => return Ok(()),
                other => seen = other?.last_updated_at,
            }
        }
    }
}

/// Runs `work` for a task and records a failure if it errs or panics.
///
/// An error or a panic marks the task `failed` with its message, unless the task is already
/// terminal (checked atomically by the store), and is not propagated. Returns
/// [`TaskError::NotFound`] if the task does not exist, and a store error if recording the
/// failure fails.
///
/// ```
/// # async fn demo(store: std::sync::Arc<dyn task_core::TaskStore>) -> Result<(), task_core::TaskError> {
/// use task_core::{NewTask, task_execution};
/// let task = store.create(NewTask::new()).await?;
/// task_execution(store.clone(), &task.task_id, |mut ctx| async move {
///     ctx.update_status("working on it").await?;
///     ctx.complete(serde_json::Map::new()).await?;
///     Ok::<_, task_core::TaskError>(())
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn task_execution<F, Fut, E>(
    store: Arc<dyn TaskStore>,
    task_id: &str,
    work: F,
) -> Result<(), TaskError>
where
    F: FnOnce(TaskContext) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let ctx = TaskContext::load(store.clone(), task_id).await?;
    // A separate tokio task turns a panic in the work into a JoinError instead of unwinding.
    let message = match tokio::spawn(work(ctx)).await {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(error)) => error.to_string(),
        Err(join) if join.is_panic() => {
            let payload = join.into_panic();
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            format!("task work panicked: {text}")
        }
        Err(_) => "task work was aborted".to_owned(),
    };
    match store
        .update(&Scope::All, task_id, TaskChange::fail(message))
        .await
    {
        Ok(_) | Err(TaskError::InvalidTransition { .. } | TaskError::NotFound { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}
