//! Where the HTTP mode's tasks live: the only module that knows which task manager runs them.
//!
//! Tasks live in the server's store through [`task_store_rmcp::TaskManager`], so they outlast
//! the process (on a durable store) and every instance sharing the store answers for them.
//! Work runs in the instance that created it; answers and cancel requests reach it through
//! the store. Everything else (the tools, the handler) goes through [`Tasks`].
//!
//! With a lease (`--lease-secs`, on by default), this instance renews the lease of each task
//! whose work runs here and fails the store's tasks whose lease lapsed: an instance that dies
//! leaves no task running forever.
//!
//! Each task is bound to the owner that created it, and another owner's task id answers
//! exactly like an unknown one; `inputResponses` larger than the store's payload limit are
//! refused before anything changes; ttl and poll interval come from the store's settings.

use rmcp::ErrorData;
use rmcp::model::{DetailedTask, InputResponses, Task};
use std::sync::Arc;
use std::time::Duration;
use task_core::TaskStore;
use task_store_rmcp::TaskManager;

pub use task_store_rmcp::{TaskContext, TaskExit, TaskFuture, TaskOptions};

/// Who owns a task: a principal, or `None` for the anonymous owner (no authentication
/// configured), whose task ids are their only capability.
pub type Owner = Option<String>;

/// The tasks of one server process, shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct Tasks {
    manager: TaskManager,
    options: TaskOptions,
    max_payload_bytes: usize,
}

impl Tasks {
    /// Tasks kept in `store`, with its ttl, poll interval and payload limit, and leases of
    /// `lease` when given.
    pub fn new(store: Arc<dyn TaskStore>, lease: Option<Duration>) -> Self {
        let config = store.config();
        // `None` takes the store's default ttl.
        let mut options = TaskOptions::new().with_ttl_ms(None);
        if let Some(interval) = config.default_poll_interval {
            options = options.with_poll_interval_ms(interval);
        }
        let max_payload_bytes = config.max_payload_bytes;
        let mut manager = TaskManager::new(store);
        if let Some(lease) = lease {
            manager = manager.with_lease(lease);
        }
        Tasks {
            manager,
            options,
            max_payload_bytes,
        }
    }

    /// The manager as `owner` sees it.
    fn manager(&self, owner: &Owner) -> TaskManager {
        match owner {
            Some(principal) => self.manager.for_owner(principal.clone()),
            None => self.manager.clone(),
        }
    }

    /// Creates a task bound to `owner` and starts `work` in the background. The task is
    /// visible to `get` before this returns.
    pub async fn spawn<F>(&self, owner: &Owner, work: F) -> Result<Task, ErrorData>
    where
        F: FnOnce(TaskContext) -> TaskFuture,
    {
        let task = self
            .manager(owner)
            .spawn(self.options.clone(), work)
            .await?;
        // The request's span names the task it created.
        tracing::Span::current().record("task_id", task.task_id.as_str());
        Ok(task)
    }

    /// `tasks/get`: the task with its input requests, result or error.
    pub async fn get(&self, owner: &Owner, task_id: &str) -> Result<DetailedTask, ErrorData> {
        self.manager(owner).get_task(task_id).await
    }

    /// `tasks/update`: hands answers to the work waiting for them. Keys that were never asked
    /// or already answered are ignored; on a finished task this changes nothing.
    pub async fn update(
        &self,
        owner: &Owner,
        task_id: &str,
        responses: InputResponses,
    ) -> Result<(), ErrorData> {
        let manager = self.manager(owner);
        // An unknown task is reported as such before the size of the answers.
        manager.get_task(task_id).await?;
        let value = serde_json::to_value(&responses)
            .map_err(|error| ErrorData::invalid_params(error.to_string(), None))?;
        task_core::backend::validate::json("inputResponses", &value, self.max_payload_bytes)
            .map_err(|error| ErrorData::invalid_params(error.to_string(), None))?;
        manager.update_task(task_id, responses).await
    }

    /// `tasks/cancel`: asks the work to stop; it settles the task. On a finished task this
    /// changes nothing.
    pub async fn cancel(&self, owner: &Owner, task_id: &str) -> Result<(), ErrorData> {
        self.manager(owner).cancel_task(task_id).await
    }

    /// Stops the work of every task running in this process.
    pub fn shutdown(&self) {
        self.manager.shutdown();
    }
}
