//! A durable task manager for [rmcp](https://docs.rs/rmcp) servers: the shape of
//! `rmcp::task_manager::TaskManager`, with every task kept in a [`TaskStore`] (memory,
//! SQLite, Redis or your own) instead of one process's memory.
//!
//! The work of a task runs in the process that spawned it. `tasks/get`, `tasks/update` and
//! `tasks/cancel` may reach any process that shares the store: answers and cancel requests
//! are written to the store, and the store's wake-ups carry them to the waiting work. With
//! [`TaskManager::with_lease`], the tasks of a process that dies end `failed` instead of
//! running forever.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rmcp::ErrorData> {
//! use rmcp::model::{CallToolResult, ContentBlock, InputRequest, TaskStatus};
//! use task_store::{Scope, TaskStoreExt};
//! use task_store_rmcp::{TaskExit, TaskManager, TaskOptions};
//!
//! let internal = |e: task_store::TaskError| rmcp::ErrorData::internal_error(e.to_string(), None);
//! let manager = TaskManager::new(task_store::open("memory://").await.map_err(internal)?);
//! let task = manager
//!     .spawn(TaskOptions::default(), |ctx| {
//!         Box::pin(async move {
//!             let ask: InputRequest = serde_json::from_value(serde_json::json!({
//!                 "method": "elicitation/create",
//!                 "params": {"message": "Your name?", "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}}}
//!             }))
//!             .map_err(|e| rmcp::ErrorData::internal_error(e.to_string(), None))?;
//!             let answer = ctx.request_input("name", ask).await?;
//!             Ok::<_, TaskExit>(CallToolResult::success(vec![ContentBlock::text(
//!                 format!("hello {answer}"),
//!             )]))
//!         })
//!     })
//!     .await?;
//!
//! // Any manager on the same store may answer: here, this one. Wait on the store's wake-ups
//! // until the work has asked.
//! let id = task.task_id.clone();
//! let store = manager.store();
//! loop {
//!     let seen = store.get(&Scope::All, &id).await.map_err(internal)?.last_updated_at;
//!     if manager.get_task(&id).await?.status() != TaskStatus::Working {
//!         break;
//!     }
//!     store.wait_for_update(&Scope::All, &id, seen, None).await.map_err(internal)?;
//! }
//! assert_eq!(manager.get_task(&id).await?.status(), TaskStatus::InputRequired);
//! let answer = serde_json::json!({"action": "accept", "content": {"name": "Ada"}});
//! manager.update_task(&id, [("name".to_owned(), answer)]).await?;
//! store.wait_until_terminal(&Scope::All, &id, None).await.map_err(internal)?;
//! assert_eq!(manager.get_task(&id).await?.status(), TaskStatus::Completed);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolResult, DetailedTask, InputRequest, InputRequests, InputResponses, Task,
};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;
use task_core::{
    NewTask, ProtocolRevision, Scope, TaskChange, TaskError, TaskStore, TaskStoreExt, jsonrpc,
};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinError};

pub use rmcp::task_manager::{TaskExit, TaskFuture, TaskOptions};

/// How long a task's cancel watch waits before reading the store again after the store
/// failed: an outage should not turn into a busy loop.
const RETRY_AFTER_STORE_ERROR: Duration = Duration::from_secs(1);

/// The message of a task whose work panicked.
const PANICKED: &str = "the task's work panicked";

/// The lease [`TaskManager::with_lease`] is usually given: long enough to ride out a brief
/// store outage, short enough that a client learns of a dead instance within two minutes.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// The status message (and JSON-RPC error message) of a task whose lease lapsed.
pub const LAPSED_MESSAGE: &str = "the server instance running this task stopped before it finished";

/// How many lease renewals fit in one lease: a lease lapses only after this many renewals in
/// a row were missed.
const RENEWALS_PER_LEASE: u32 = 4;

/// Tasks kept in a [`TaskStore`], with the calls of `rmcp::task_manager::TaskManager`. Cheap
/// to clone; clones share the work running in this process.
///
/// Differences from rmcp's manager: every call that reads or writes the store is `async` and
/// returns the store's failures as an `ErrorData`; `spawn` returns a `Result`; a task lives as
/// long as the store's ttl rules say (from creation), not until one ttl after it settles.
#[derive(Clone, Debug)]
pub struct TaskManager {
    store: Arc<dyn TaskStore>,
    scope: Scope,
    running: Arc<Mutex<HashMap<String, AbortHandle>>>,
}

impl TaskManager {
    /// A manager whose tasks live in `store`, visible to every caller.
    pub fn new(store: Arc<dyn TaskStore>) -> Self {
        TaskManager {
            store,
            scope: Scope::All,
            running: Arc::default(),
        }
    }

    /// A view of this manager for one owner (a principal or session): the tasks it spawns are
    /// bound to `owner`, and `get_task`, `update_task` and `cancel_task` answer another
    /// owner's task exactly like an unknown one. It shares the running work with `self`.
    pub fn for_owner(&self, owner: impl Into<String>) -> Self {
        TaskManager {
            scope: Scope::owner(owner),
            ..self.clone()
        }
    }

    /// The store the tasks live in.
    pub fn store(&self) -> &Arc<dyn TaskStore> {
        &self.store
    }

    /// Creates a task in the store and runs the future `make_future` builds in the
    /// background, in this process. The task is visible to every manager sharing the store
    /// before this returns. When the future ends, its result settles the task: `Ok` as
    /// `completed` with the tool result (`isError: true` included), [`TaskExit::Cancelled`] as
    /// `cancelled`, [`TaskExit::Error`] as `failed` with that JSON-RPC error.
    ///
    /// `options.ttl_ms` of `None` takes the store's default ttl; the store clamps every ttl.
    pub async fn spawn<F>(&self, options: TaskOptions, make_future: F) -> Result<Task, McpError>
    where
        F: FnOnce(TaskContext) -> TaskFuture,
    {
        let mut new = NewTask::new().with_revision(ProtocolRevision::V2026_07_28);
        if let Some(owner) = self.scope.owner_name() {
            new = new.owned_by(owner);
        }
        if let Some(ttl) = options.ttl_ms {
            new = new.with_ttl(ttl);
        }
        if let Some(interval) = options.poll_interval_ms {
            new = new.with_poll_interval(interval);
        }
        if let Some(message) = options.status_message {
            new = new.with_message(message);
        }
        let task = self
            .store
            .create(new)
            .await
            .map_err(|error| request_error("", &error))?;
        let task_id = task.task_id.clone();

        let (cancel_tx, cancel_rx) = watch::channel(false);
        let cancel_tx = Arc::new(cancel_tx);
        let waiting = Arc::new(watch::Sender::new(0));
        let context = TaskContext {
            task_id: task_id.clone(),
            store: Arc::clone(&self.store),
            cancel: cancel_rx,
            raise: Arc::downgrade(&cancel_tx),
            waiting: Arc::clone(&waiting),
        };
        let future = make_future(context);
        let watcher = tokio::spawn(watch_cancel(
            Arc::clone(&self.store),
            task_id.clone(),
            cancel_tx,
            waiting,
        ));
        let work = tokio::spawn(future);
        lock(&self.running).insert(task_id.clone(), work.abort_handle());
        let store = Arc::clone(&self.store);
        let running = Arc::clone(&self.running);
        tokio::spawn(async move {
            let ended = work.await;
            watcher.abort();
            lock(&running).remove(&task_id);
            settle(store.as_ref(), &task_id, ended).await;
        });
        to_rmcp_task(&task)
    }

    /// `tasks/get`: the task with its pending input requests, result or error, as the tasks
    /// extension shows it. An unknown task is an invalid-params error, as in rmcp.
    pub async fn get_task(&self, task_id: &str) -> Result<DetailedTask, McpError> {
        let current = self
            .store
            .get_current(&self.scope, task_id, None)
            .await
            .map_err(|error| request_error(task_id, &error))?;
        convert(&current.detailed())
    }

    /// `tasks/update`: hands answers to the work waiting for them, wherever it runs. Keys that
    /// are not pending (never asked, already answered) are ignored; on a finished task this
    /// changes nothing. Answers larger than the store's payload limit are refused.
    pub async fn update_task(
        &self,
        task_id: &str,
        input_responses: impl IntoIterator<Item = (String, Value)>,
    ) -> Result<(), McpError> {
        let responses: Map<String, Value> = input_responses.into_iter().collect();
        let result = if responses.is_empty() {
            // Nothing to apply; still an unknown task is an error.
            self.store.get(&self.scope, task_id).await
        } else {
            self.store.respond(&self.scope, task_id, responses).await
        };
        result
            .map(drop)
            .map_err(|error| request_error(task_id, &error))
    }

    /// `tasks/cancel`: asks the work to stop, wherever it runs; the work settles the task
    /// (`cancelled`, or still `completed` or `failed`). Pending input requests are withdrawn.
    /// On a finished task this changes nothing.
    pub async fn cancel_task(&self, task_id: &str) -> Result<(), McpError> {
        self.store
            .request_cancel(&self.scope, task_id)
            .await
            .map(drop)
            .map_err(|error| request_error(task_id, &error))
    }

    /// Keeps a lease on the tasks whose work runs in this process, and fails the tasks of the
    /// whole store whose lease lapsed, so that no client waits forever on work whose
    /// process died. Returns the manager; call it once, inside a Tokio runtime.
    ///
    /// Every `lease / 4` a background task renews the lease of each task running here (a
    /// [`TaskChange::touch`], which moves its `lastUpdatedAt`, waiting for input included),
    /// then fails every unfinished task of the store not updated for `lease`
    /// ([`TaskStore::recover_stuck`] with [`LAPSED_MESSAGE`]). A dead process's tasks thus end
    /// `failed` within about `lease * 5 / 4` of its last renewal, seen by every manager
    /// sharing the store, as long as one of them holds leases. It stops when every clone of
    /// this manager is dropped.
    ///
    /// Every process that runs work on the store must hold leases at least this long (the
    /// sweep fails any task idle for `lease`, whoever runs it), and the lease must exceed the
    /// clock skew between them on stores stamped by their clients (SQLite, PostgreSQL).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as [`tokio::spawn`] does.
    pub fn with_lease(self, lease: Duration) -> Self {
        tokio::spawn(keep_leases(
            Arc::clone(&self.store),
            Arc::downgrade(&self.running),
            lease,
        ));
        self
    }

    /// How many tasks have work running in this process.
    pub fn running_task_count(&self) -> usize {
        lock(&self.running).len()
    }

    /// Stops the work of every task running in this process. Their tasks stay as the store
    /// holds them, and their leases are no longer renewed: with leases
    /// ([`TaskManager::with_lease`]) any manager sharing the store fails them once the lease
    /// lapses; without, [`TaskStore::recover_stuck`] settles them after a restart.
    pub fn shutdown(&self) {
        for (_, work) in lock(&self.running).drain() {
            work.abort();
        }
    }
}

/// What a task's work gets: its id, a way to ask for input, and the cancel signal. Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct TaskContext {
    task_id: String,
    store: Arc<dyn TaskStore>,
    cancel: watch::Receiver<bool>,
    /// Raises the cancel flag from the work's own wait for input. Weak, so that the flag's
    /// channel closes (and [`TaskContext::cancelled`] returns) once the watcher is gone.
    raise: Weak<watch::Sender<bool>>,
    /// How many of the work's waits for input are under way; while any is, it watches for a
    /// cancel request in the watcher's stead.
    waiting: Arc<watch::Sender<usize>>,
}

/// One wait for input under way, for [`TaskContext::waiting`]; counted off when dropped,
/// however the wait ends.
struct WaitingForInput<'a>(&'a watch::Sender<usize>);

impl<'a> WaitingForInput<'a> {
    fn start(waiting: &'a watch::Sender<usize>) -> Self {
        // Only the first wait needs the watcher to step aside.
        waiting.send_if_modified(|n| {
            *n += 1;
            *n == 1
        });
        WaitingForInput(waiting)
    }
}

impl Drop for WaitingForInput<'_> {
    fn drop(&mut self) {
        // The last one hands the watch back to the watcher, which reads the task afresh.
        self.0.send_if_modified(|n| {
            *n -= 1;
            *n == 0
        });
    }
}

impl TaskContext {
    /// The task's id.
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// Parks the task in `input_required` with `request` under `key` and waits for the
    /// answer, which may come through any manager sharing the store. A key is never reused
    /// over the task's life: a reuse is an error. Several calls may wait at once; the task
    /// stays `input_required` until none is pending. A cancel request ends the wait with
    /// [`TaskExit::Cancelled`].
    pub async fn request_input(
        &self,
        key: impl Into<String>,
        request: InputRequest,
    ) -> Result<Value, TaskExit> {
        let key = key.into();
        let mut answers = self
            .request_inputs(InputRequests::from([(key.clone(), request)]))
            .await?;
        answers.remove(&key).ok_or(TaskExit::Cancelled)
    }

    /// Parks the task with several input requests at once, in one atomic change, and waits
    /// until every one is answered; answers may arrive together or one at a time. A cancel
    /// request ends the wait with [`TaskExit::Cancelled`].
    pub async fn request_inputs(
        &self,
        requests: InputRequests,
    ) -> Result<InputResponses, TaskExit> {
        if self.is_cancel_requested() {
            return Err(TaskExit::Cancelled);
        }
        let mut pending = Map::new();
        for (key, request) in requests {
            let request = serde_json::to_value(request)
                .map_err(|error| McpError::internal_error(error.to_string(), None))?;
            pending.insert(key, request);
        }
        let keys: Vec<String> = pending.keys().cloned().collect();
        // From here this wait sees a cancel request itself, so an answer wakes the work
        // alone, not the watcher as well.
        let _waiting = WaitingForInput::start(&self.waiting);
        self.store
            .request_input(&Scope::All, &self.task_id, pending)
            .await
            .map_err(exit_error)?;
        let mut answers = InputResponses::new();
        for key in keys {
            // Answers stay in the record until the task ends, so a key answered while this
            // waited on another is found at once. The wait reads only that answer, not those
            // of earlier rounds, so a round costs the same however many came before.
            let waited = self
                .store
                .wait_for_answer(&Scope::All, &self.task_id, &key, None)
                .await;
            let current = match waited {
                Ok(current) => current,
                Err(error) => {
                    if matches!(error, TaskError::NotFound { .. }) {
                        self.raise_cancel();
                    }
                    return Err(exit_error(error));
                }
            };
            if current.cancel_requested || current.task.is_terminal() {
                self.raise_cancel();
            }
            let answer = current.answer.ok_or(TaskExit::Cancelled)?;
            answers.insert(key, answer);
        }
        Ok(answers)
    }

    /// Raises the cancel flag, as the watcher does, when the work's own wait saw the request
    /// (or the task ended or vanished without this work).
    fn raise_cancel(&self) {
        if let Some(flag) = self.raise.upgrade() {
            flag.send_replace(true);
        }
    }

    /// Whether a cancel was requested, through any manager sharing the store, or the task
    /// ended or vanished without this work.
    pub fn is_cancel_requested(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Resolves once [`TaskContext::is_cancel_requested`] holds, or the task's work has
    /// ended.
    pub async fn cancelled(&self) {
        let mut cancel = self.cancel.clone();
        // An error means the task's work has ended: nothing is left to cancel.
        let _ = cancel.wait_for(|requested| *requested).await;
    }

    /// Sets the task's status message, seen by every manager sharing the store.
    pub async fn set_status_message(&self, message: impl Into<String>) -> Result<(), TaskExit> {
        self.store
            .set_message(&Scope::All, &self.task_id, &message.into())
            .await
            .map(drop)
            .map_err(exit_error)
    }
}

/// Follows one task in the store until a cancel is requested or the task ends, and raises
/// the work's cancel flag then. Runs beside the work and is stopped when the work ends.
///
/// While the work waits for input (`waiting` above zero) its own wait sees a cancel request
/// and raises the flag, so the watcher steps aside: an answer then wakes the work alone. When
/// the last such wait ends the watcher reads the task afresh, so a request made meanwhile is
/// not missed.
async fn watch_cancel(
    store: Arc<dyn TaskStore>,
    task_id: String,
    flag: Arc<watch::Sender<bool>>,
    waiting: Arc<watch::Sender<usize>>,
) {
    let mut inputs = waiting.subscribe();
    loop {
        // Never an error: this holds the sender.
        let _ = inputs.wait_for(|n| *n == 0).await;
        let error = match store.get_current(&Scope::All, &task_id, None).await {
            // Ended elsewhere (an immediate cancel, a recovery) or requested: stop the work.
            Ok(current) if current.cancel_requested || current.task.is_terminal() => {
                flag.send_replace(true);
                return;
            }
            Ok(current) => {
                let seen = current.task.last_updated_at;
                tokio::select! {
                    biased;
                    // The work waits for input: its wait watches now.
                    _ = inputs.wait_for(|n| *n > 0) => continue,
                    waited = store.wait_for_update(&Scope::All, &task_id, seen, None) => {
                        match waited {
                            Ok(_) => continue,
                            Err(error) => error,
                        }
                    }
                }
            }
            Err(error) => error,
        };
        if matches!(error, TaskError::NotFound { .. }) {
            flag.send_replace(true);
            return;
        }
        tracing::warn!(task_id, %error, "could not read the task's cancel request; retrying");
        tokio::time::sleep(RETRY_AFTER_STORE_ERROR).await;
    }
}

/// The lease loop of [`TaskManager::with_lease`]: renews the leases of the tasks running in
/// this process, then fails the store's tasks whose lease lapsed, every `lease / 4`, until
/// the manager is gone.
async fn keep_leases(
    store: Arc<dyn TaskStore>,
    running: Weak<Mutex<HashMap<String, AbortHandle>>>,
    lease: Duration,
) {
    let every = (lease / RENEWALS_PER_LEASE).max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(running) = running.upgrade() else {
            return;
        };
        let ids: Vec<String> = lock(&running).keys().cloned().collect();
        drop(running);
        for task_id in ids {
            match store
                .update(&Scope::All, &task_id, TaskChange::touch())
                .await
            {
                // Gone or ended: its work learns of it through its cancel watch.
                Ok(_) | Err(TaskError::NotFound { .. }) => {}
                Err(error) => tracing::warn!(task_id, %error, "could not renew the task's lease"),
            }
        }
        match store.recover_stuck(lease, LAPSED_MESSAGE).await {
            Ok(0) => {}
            Ok(count) => tracing::warn!(count, "failed tasks whose lease lapsed"),
            Err(error) => tracing::warn!(%error, "could not fail tasks whose lease lapsed"),
        }
    }
}

/// Records how the work ended. A task that already ended, or vanished, keeps its state.
async fn settle(
    store: &dyn TaskStore,
    task_id: &str,
    ended: Result<Result<CallToolResult, TaskExit>, JoinError>,
) {
    let change = match ended {
        Ok(Ok(result)) => TaskChange::complete(result_object(&result)),
        Ok(Err(TaskExit::Cancelled)) => TaskChange::cancel(),
        Ok(Err(TaskExit::Error(error))) => TaskChange::fail_with(jsonrpc_error(&error)),
        // Stopped by `shutdown`: left as it is, for `recover_stuck`.
        Err(join) if join.is_cancelled() => return,
        Err(_) => TaskChange::fail(PANICKED),
    };
    match store.update(&Scope::All, task_id, change).await {
        Ok(_) | Err(TaskError::InvalidTransition { .. } | TaskError::NotFound { .. }) => {}
        Err(error) => tracing::warn!(task_id, %error, "could not record how the task ended"),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The map stays consistent whatever panicked while holding it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The tool result as the task's result object, as rmcp's manager keeps it.
fn result_object(result: &CallToolResult) -> Map<String, Value> {
    match serde_json::to_value(result) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// rmcp's error as the store keeps it: code, message and data unchanged.
fn jsonrpc_error(error: &McpError) -> jsonrpc::ErrorData {
    let mut data = jsonrpc::ErrorData::new(i64::from(error.code.0), error.message.to_string());
    data.data = error.data.clone();
    data
}

/// The error a `tasks/*` request gets for a store failure: an unknown task, or a request the
/// store refused, is invalid params; anything else is internal.
fn request_error(task_id: &str, error: &TaskError) -> McpError {
    match error {
        TaskError::NotFound { .. } => {
            McpError::invalid_params(format!("unknown task: {task_id}"), None)
        }
        TaskError::InvalidInput(_) | TaskError::LimitExceeded { .. } => {
            McpError::invalid_params(error.to_string(), None)
        }
        _ => McpError::internal_error(error.to_string(), None),
    }
}

fn exit_error(error: TaskError) -> TaskExit {
    TaskExit::Error(McpError::internal_error(error.to_string(), None))
}

/// The store's extension view as rmcp's model type; both follow the same wire shape.
fn convert(detailed: &task_core::DetailedTask) -> Result<DetailedTask, McpError> {
    serde_json::to_value(detailed)
        .and_then(serde_json::from_value)
        .map_err(|error| McpError::internal_error(format!("stored task: {error}"), None))
}

/// A freshly created task as rmcp's model type.
fn to_rmcp_task(task: &task_core::Task) -> Result<Task, McpError> {
    let detailed = task_core::DetailedTask {
        task_id: task.task_id.clone(),
        status: task.status,
        status_message: task.status_message.clone(),
        created_at: task.created_at,
        last_updated_at: task.last_updated_at,
        ttl_ms: task.ttl,
        poll_interval_ms: task.poll_interval,
        input_requests: None,
        result: None,
        error: None,
    };
    Ok(convert(&detailed)?.task)
}
