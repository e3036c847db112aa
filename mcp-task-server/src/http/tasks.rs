//! Where the HTTP mode's tasks live: the only module that knows which task manager runs them.
//!
//! Today that is rmcp's in-memory [`TaskManager`], so tasks live as long as the process and
//! only this process sees them. Everything else (the tools, the handler) goes through
//! [`Tasks`], whose calls are async and take the caller's owner, so another manager can take
//! its place by changing this module alone.
//!
//! On top of rmcp's manager this adds what a shared server needs: each task is bound to the
//! owner that created it, and another owner's task id answers exactly like an unknown one;
//! `inputResponses` larger than the store's payload limit are refused before anything changes;
//! ttl and poll interval come from the store's settings.

use rmcp::ErrorData;
use rmcp::model::{DetailedTask, InputResponses, Task, TaskPayload};
use rmcp::task_manager::TaskManager;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use task_core::StoreConfig;

pub use rmcp::task_manager::{TaskContext, TaskExit, TaskFuture, TaskOptions};

/// Who owns a task: a principal, or `None` for the anonymous owner (no authentication
/// configured), whose task ids are their only capability.
pub type Owner = Option<String>;

/// The tasks of one server process, shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct Tasks {
    manager: TaskManager,
    owners: Arc<Mutex<Owners>>,
    options: TaskOptions,
    max_payload_bytes: usize,
}

/// The owner of each live task, forgotten in creation order once its ttl has passed. A task
/// without a known owner is unknown, so tasks vanish at creation + ttl, as in every store
/// (rmcp's manager would keep a settled task up to one more ttl).
#[derive(Default)]
struct Owners {
    by_task: HashMap<String, Owner>,
    expiry: VecDeque<(Instant, String)>,
}

impl Owners {
    fn forget_expired(&mut self, now: Instant) {
        while let Some((deadline, _)) = self.expiry.front() {
            if *deadline > now {
                break;
            }
            if let Some((_, task_id)) = self.expiry.pop_front() {
                self.by_task.remove(&task_id);
            }
        }
    }
}

impl Tasks {
    /// Tasks kept with the ttl, poll interval and payload limit of `config`.
    pub fn new(config: &StoreConfig) -> Self {
        let mut options = TaskOptions::new().with_ttl_ms(config.effective_ttl(None));
        if let Some(interval) = config.default_poll_interval {
            options = options.with_poll_interval_ms(interval);
        }
        Tasks {
            manager: TaskManager::new(),
            owners: Arc::default(),
            options,
            max_payload_bytes: config.max_payload_bytes,
        }
    }

    /// Creates a task bound to `owner` and starts `work` in the background. The task is
    /// visible to `get` before this returns.
    pub async fn spawn<F>(&self, owner: &Owner, work: F) -> Result<Task, ErrorData>
    where
        F: FnOnce(TaskContext) -> TaskFuture,
    {
        let task = self.manager.spawn(self.options.clone(), work);
        // The request's span names the task it created.
        tracing::Span::current().record("task_id", task.task_id.as_str());
        let now = Instant::now();
        let mut owners = self.lock();
        owners.forget_expired(now);
        owners.by_task.insert(task.task_id.clone(), owner.clone());
        // No ttl, or one too long to reach: kept for the life of the process.
        let deadline = self
            .options
            .ttl_ms
            .and_then(|ttl| now.checked_add(Duration::from_millis(ttl)));
        if let Some(deadline) = deadline {
            owners.expiry.push_back((deadline, task.task_id.clone()));
        }
        Ok(task)
    }

    /// `tasks/get`: the task with its input requests, result or error.
    pub async fn get(&self, owner: &Owner, task_id: &str) -> Result<DetailedTask, ErrorData> {
        self.check_owner(owner, task_id)?;
        self.manager.get_task(task_id)
    }

    /// `tasks/update`: hands answers to the work waiting for them. Keys that were never asked
    /// or already answered are ignored; on a finished task this changes nothing.
    pub async fn update(
        &self,
        owner: &Owner,
        task_id: &str,
        responses: InputResponses,
    ) -> Result<(), ErrorData> {
        self.check_owner(owner, task_id)?;
        let value = serde_json::to_value(&responses)
            .map_err(|error| ErrorData::invalid_params(error.to_string(), None))?;
        task_core::backend::validate::json("inputResponses", &value, self.max_payload_bytes)
            .map_err(|error| ErrorData::invalid_params(error.to_string(), None))?;
        // Only answers to pending requests count; an update that answers nothing changes
        // nothing, not even `lastUpdatedAt` (rmcp's manager would touch it).
        let TaskPayload::InputRequired { input_requests } = self.manager.get_task(task_id)?.payload
        else {
            return Ok(());
        };
        let answers: Vec<_> = responses
            .into_iter()
            .filter(|(key, _)| input_requests.contains_key(key))
            .collect();
        if answers.is_empty() {
            return Ok(());
        }
        self.manager.update_task(task_id, answers)
    }

    /// `tasks/cancel`: asks the work to stop; it settles the task. On a finished task this
    /// changes nothing.
    pub async fn cancel(&self, owner: &Owner, task_id: &str) -> Result<(), ErrorData> {
        self.check_owner(owner, task_id)?;
        self.manager.cancel_task(task_id)
    }

    /// Stops every running task's work and forgets every task.
    pub fn shutdown(&self) {
        self.manager.shutdown();
        let mut owners = self.lock();
        owners.by_task.clear();
        owners.expiry.clear();
    }

    /// A task of another owner, or one whose owner was forgotten, is unknown.
    fn check_owner(&self, owner: &Owner, task_id: &str) -> Result<(), ErrorData> {
        let mut owners = self.lock();
        owners.forget_expired(Instant::now());
        match owners.by_task.get(task_id) {
            Some(bound) if bound == owner => Ok(()),
            _ => Err(unknown_task(task_id)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Owners> {
        // The map stays consistent whatever panicked while holding it.
        self.owners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// rmcp's answer for an id it does not know, word for word.
fn unknown_task(task_id: &str) -> ErrorData {
    ErrorData::invalid_params(format!("unknown task: {task_id}"), None)
}
