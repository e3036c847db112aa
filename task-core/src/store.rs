//! The `TaskStore` trait every backend implements, and the conveniences built on it.

use crate::backend::validate;
use crate::config::StoreConfig;
use crate::error::TaskError;
use crate::record::{CurrentTask, NewTask, TaskOutcome, TaskRecord};
use crate::status::TaskChange;
use crate::wire::{Task, TaskStatus};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::fmt::Debug;
use std::time::Duration;

/// Who is asking. Scoped callers see only their own tasks; a task of another owner, or an
/// unbound task, looks exactly like a missing one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Trusted access (workers, administration): every task.
    All,
    /// A session or principal: only tasks bound to this owner.
    Owner(String),
}

impl Scope {
    /// A scope for `owner`.
    pub fn owner(owner: impl Into<String>) -> Self {
        Scope::Owner(owner.into())
    }

    /// Whether this scope may see a task bound to `task_owner`. Fails closed: a scoped caller
    /// never sees an unbound task.
    pub fn permits(&self, task_owner: Option<&str>) -> bool {
        match self {
            Scope::All => true,
            Scope::Owner(owner) => task_owner == Some(owner.as_str()),
        }
    }

    /// The owner this scope is limited to, if any.
    pub fn owner_name(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Owner(owner) => Some(owner),
        }
    }

    /// Checks the owner name, if any.
    pub fn validate(&self) -> Result<(), TaskError> {
        self.owner_name().map_or(Ok(()), validate::owner)
    }
}

/// One `list` call: where to start and how many to return.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// A cursor from a previous page; `None` starts at the oldest task.
    pub cursor: Option<String>,
    /// Page size; `None` takes the store's default. Clamped to the store's maximum.
    pub limit: Option<usize>,
}

impl PageRequest {
    /// The first page at the default size.
    pub fn first() -> Self {
        PageRequest::default()
    }

    /// The page after `cursor`.
    pub fn after(cursor: Option<String>) -> Self {
        PageRequest {
            cursor,
            limit: None,
        }
    }

    /// Sets the page size.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// One page of tasks, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskPage {
    /// The tasks.
    pub tasks: Vec<Task>,
    /// Cursor of the next page; `None` on the last one.
    pub next_cursor: Option<String>,
}

/// Optional features. A store without one declares it, and the conformance suite reports the
/// cases that need it as skipped, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Tasks expire at creation plus ttl.
    pub ttl: bool,
    /// `max_tasks` and `max_tasks_per_owner` are enforced.
    pub limits: bool,
}

impl Capabilities {
    /// Every feature.
    pub const ALL: Capabilities = Capabilities {
        ttl: true,
        limits: true,
    };

    /// Declares ttl expiry supported or not.
    pub fn with_ttl(mut self, supported: bool) -> Self {
        self.ttl = supported;
        self
    }

    /// Declares limits supported or not.
    pub fn with_limits(mut self, supported: bool) -> Self {
        self.limits = supported;
        self
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities::ALL
    }
}

/// Durable task state. Implementations must make every change atomic: a change is a
/// compare-and-set against the status machine (see [`crate::backend::CHANGEABLE`]).
///
/// Use it as `Arc<dyn TaskStore>`; the conveniences are in [`TaskStoreExt`].
///
/// ```
/// # async fn demo(store: std::sync::Arc<dyn task_core::TaskStore>) -> Result<(), task_core::TaskError> {
/// use task_core::{NewTask, Scope, TaskStoreExt};
/// let task = store.create(NewTask::new().owned_by("alice")).await?;
/// let alice = Scope::owner("alice");
/// store.set_message(&alice, &task.task_id, "half way").await?;
/// store.complete(&alice, &task.task_id, serde_json::Map::new()).await?;
/// assert!(store.get(&alice, &task.task_id).await?.is_terminal());
/// # Ok(()) }
/// ```
#[async_trait]
pub trait TaskStore: Send + Sync + Debug + 'static {
    /// The settings the store enforces.
    fn config(&self) -> &StoreConfig;

    /// The optional features the store supports.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// Creates a task in `working`. The task is durable when this returns.
    ///
    /// A caller-supplied id makes the call idempotent: when a live task already holds the id
    /// and the same create made it (same owner, revision, request and requested ttl, see
    /// [`TaskRecord::is_same_create`]), the call answers that task as it now is and creates
    /// nothing, so a create repeated after [`crate::Retry::OutcomeUnknown`] never makes two
    /// tasks. Any other holder of the id gives [`TaskError::AlreadyExists`]. A repeat is
    /// answered before the limits are checked: it starts no task.
    async fn create(&self, new: NewTask) -> Result<Task, TaskError>;

    /// Reads a task.
    async fn get(&self, scope: &Scope, task_id: &str) -> Result<Task, TaskError>;

    /// Reads a task's whole record: owner, outcome, flags and original request.
    async fn get_record(&self, scope: &Scope, task_id: &str) -> Result<TaskRecord, TaskError>;

    /// Reads what a task's record holds now (see [`CurrentTask`]), with the answer to input
    /// request `answer_to` if it has one: what the work waiting on the task and `tasks/get`
    /// need. The default reads the whole record; a store that keeps the record's parts apart
    /// answers without the input keys used and the answers given so far, which grow with
    /// every round of input.
    async fn get_current(
        &self,
        scope: &Scope,
        task_id: &str,
        answer_to: Option<&str>,
    ) -> Result<CurrentTask, TaskError> {
        let record = self.get_record(scope, task_id).await?;
        Ok(CurrentTask::of(record, answer_to))
    }

    /// Reads a task's outcome; `None` until it is `completed` or `failed`.
    async fn get_result(
        &self,
        scope: &Scope,
        task_id: &str,
    ) -> Result<Option<TaskOutcome>, TaskError>;

    /// Applies one change atomically: status, message and outcome together, or one of the
    /// tasks extension's changes (input requests, answers, a cancel request), only if the
    /// rules of [`crate::backend::apply_change`] allow it from the task as it is. Wakes the
    /// task's waiters, in every process that shares the store, when anything changed; a
    /// change that alters nothing (an answer for no pending key, say) answers the task as
    /// it is.
    async fn update(
        &self,
        scope: &Scope,
        task_id: &str,
        change: TaskChange,
    ) -> Result<Task, TaskError>;

    /// Lists tasks visible to `scope`, ordered by creation time, ties broken by id.
    async fn list(&self, scope: &Scope, page: PageRequest) -> Result<TaskPage, TaskError>;

    /// Deletes a task; `false` if there was none (or it is not visible to `scope`).
    async fn delete(&self, scope: &Scope, task_id: &str) -> Result<bool, TaskError>;

    /// Waits until the task's `lastUpdatedAt` is later than `seen`, or it is terminal, or the
    /// timeout passes, and returns the task as it then is. A change made after the caller read
    /// `seen` and before this call still ends the wait at once.
    async fn wait_for_update(
        &self,
        scope: &Scope,
        task_id: &str,
        seen: DateTime<Utc>,
        timeout: Option<Duration>,
    ) -> Result<Task, TaskError>;

    /// Wakes every waiter of a task, in any process that shares the store.
    async fn notify_update(&self, task_id: &str) -> Result<(), TaskError>;

    /// Deletes every expired task now; returns how many.
    async fn purge_expired(&self) -> Result<u64, TaskError>;

    /// Marks every non-terminal task not updated for `older_than` as `failed` with `message`,
    /// for a restarted server whose workers died; returns how many. Their waiters wake.
    ///
    /// ```
    /// # async fn on_start(store: &dyn task_core::TaskStore) -> Result<(), task_core::TaskError> {
    /// // Longer than the longest gap between a live worker's updates.
    /// let stuck_after = std::time::Duration::from_secs(600);
    /// store.recover_stuck(stuck_after, "the server restarted; the task was lost").await?;
    /// # Ok(()) }
    /// ```
    async fn recover_stuck(&self, older_than: Duration, message: &str) -> Result<u64, TaskError>;
}

/// Conveniences over [`TaskStore`], for every store including `dyn TaskStore`.
#[async_trait]
pub trait TaskStoreExt: TaskStore {
    /// Changes only the status message.
    async fn set_message(
        &self,
        scope: &Scope,
        task_id: &str,
        message: &str,
    ) -> Result<Task, TaskError> {
        self.update(scope, task_id, TaskChange::message(message))
            .await
    }

    /// Moves to a non-terminal status (`working` or `input_required`).
    async fn set_status(
        &self,
        scope: &Scope,
        task_id: &str,
        status: TaskStatus,
        message: Option<&str>,
    ) -> Result<Task, TaskError> {
        if status.is_terminal() {
            return Err(TaskError::InvalidInput(format!(
                "'{status}' is terminal: use complete, fail or cancel"
            )));
        }
        let change = TaskChange::status(status, message.map(str::to_owned));
        self.update(scope, task_id, change).await
    }

    /// Completes with a result, atomically.
    async fn complete(
        &self,
        scope: &Scope,
        task_id: &str,
        result: Map<String, Value>,
    ) -> Result<Task, TaskError> {
        self.update(scope, task_id, TaskChange::complete(result))
            .await
    }

    /// Fails with a message, atomically.
    async fn fail(&self, scope: &Scope, task_id: &str, message: &str) -> Result<Task, TaskError> {
        self.update(scope, task_id, TaskChange::fail(message)).await
    }

    /// Cancels a non-terminal task; a terminal one gives [`TaskError::InvalidTransition`].
    async fn cancel(&self, scope: &Scope, task_id: &str) -> Result<Task, TaskError> {
        self.update(scope, task_id, TaskChange::cancel()).await
    }

    /// Parks the task in `input_required` with `requests` added to those pending (the tasks
    /// extension): see [`TaskChange::request_input`].
    async fn request_input(
        &self,
        scope: &Scope,
        task_id: &str,
        requests: Map<String, Value>,
    ) -> Result<Task, TaskError> {
        self.update(scope, task_id, TaskChange::request_input(requests))
            .await
    }

    /// Answers pending input requests (`tasks/update` with `inputResponses`): see
    /// [`TaskChange::respond`].
    async fn respond(
        &self,
        scope: &Scope,
        task_id: &str,
        responses: Map<String, Value>,
    ) -> Result<Task, TaskError> {
        self.update(scope, task_id, TaskChange::respond(responses))
            .await
    }

    /// Asks the worker to stop (the extension's `tasks/cancel`): see
    /// [`TaskChange::request_cancel`].
    async fn request_cancel(&self, scope: &Scope, task_id: &str) -> Result<Task, TaskError> {
        self.update(scope, task_id, TaskChange::request_cancel())
            .await
    }

    /// For a worker: waits until input request `key` has an answer, a cancel is requested,
    /// the task ends or the timeout passes. Woken by the store's wake-ups, so an answer
    /// written by another process that shares the store ends the wait. Reads through
    /// [`TaskStore::get_current`], so each read costs the same however many inputs the task
    /// was given before. Returns the task as it then is, with the answer in
    /// [`CurrentTask::answer`] (`None` when a cancel was requested, the task ended or the
    /// timeout passed).
    ///
    /// ```
    /// # async fn worker(store: &dyn task_core::TaskStore, id: &str) -> Result<(), task_core::TaskError> {
    /// use task_core::{Scope, TaskStoreExt};
    /// let ask = serde_json::json!({"method": "elicitation/create", "params": {"message": "Name?"}});
    /// let requests = serde_json::Map::from_iter([("name".to_owned(), ask)]);
    /// store.request_input(&Scope::All, id, requests).await?;
    /// match store.wait_for_answer(&Scope::All, id, "name", None).await?.answer {
    ///     Some(answer) => println!("answered: {answer}"),
    ///     None => println!("cancel requested, or the task ended"),
    /// }
    /// # Ok(()) }
    /// ```
    async fn wait_for_answer(
        &self,
        scope: &Scope,
        task_id: &str,
        key: &str,
        timeout: Option<Duration>,
    ) -> Result<CurrentTask, TaskError> {
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let current = self.get_current(scope, task_id, Some(key)).await?;
            if current.settles_wait() {
                return Ok(current);
            }
            let remaining = match deadline {
                Some(d) => match d.checked_duration_since(tokio::time::Instant::now()) {
                    Some(r) if !r.is_zero() => Some(r),
                    _ => return Ok(current),
                },
                None => None,
            };
            self.wait_for_update(scope, task_id, current.task.last_updated_at, remaining)
                .await?;
        }
    }

    /// Waits until the task is terminal (or the timeout passes) and returns it.
    async fn wait_until_terminal(
        &self,
        scope: &Scope,
        task_id: &str,
        timeout: Option<Duration>,
    ) -> Result<Task, TaskError> {
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut task = self.get(scope, task_id).await?;
        while !task.is_terminal() {
            let remaining = match deadline {
                Some(d) => match d.checked_duration_since(tokio::time::Instant::now()) {
                    Some(r) if !r.is_zero() => Some(r),
                    _ => break,
                },
                None => None,
            };
            task = self
                .wait_for_update(scope, task_id, task.last_updated_at, remaining)
                .await?;
        }
        Ok(task)
    }
}

impl<T: TaskStore + ?Sized> TaskStoreExt for T {}
