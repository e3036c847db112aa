//! Task-augmented `tools/call`: the `execution.taskSupport` check, creating the task, running
//! the tool in the background, and recording how it ended.

use crate::handlers::to_json;
use crate::params::CallToolParams;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::future::Future;
use std::sync::Arc;
use task_core::jsonrpc::{ErrorData, INVALID_PARAMS, METHOD_NOT_FOUND};
use task_core::{
    CreateTaskResult, NewTask, Scope, Task, TaskChange, TaskContext, TaskError, TaskOutcome,
    TaskStatus, TaskStore, task_execution,
};
use tokio::task::JoinHandle;

/// The method a tool call is made with.
pub const CALL_TOOL: &str = "tools/call";

/// A tool's `execution.taskSupport`: whether it may be called as a task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskSupport {
    /// Never as a task (the default when the field is absent).
    #[default]
    Forbidden,
    /// With or without a task.
    Optional,
    /// Only as a task.
    Required,
}

/// What a tool's work ends with: a `CallToolResult` object (`isError: true` included), or a
/// JSON-RPC error that fails the request.
pub type ToolOutcome = Result<Map<String, Value>, ErrorData>;

/// Checks a call against the tool's task support: -32601 for a task on a tool that forbids
/// one, or no task on a tool that requires one, as the specification says.
///
/// ```
/// use task_protocol::tools::{TaskSupport, check_task_support};
/// assert!(check_task_support(TaskSupport::Optional, true).is_ok());
/// assert_eq!(check_task_support(TaskSupport::Forbidden, true).unwrap_err().code, -32601);
/// assert_eq!(check_task_support(TaskSupport::Required, false).unwrap_err().code, -32601);
/// ```
pub fn check_task_support(support: TaskSupport, task_requested: bool) -> Result<(), ErrorData> {
    match (support, task_requested) {
        (TaskSupport::Forbidden, true) => Err(ErrorData::new(
            METHOD_NOT_FOUND,
            "This tool does not support task-augmented invocation",
        )),
        (TaskSupport::Required, false) => Err(ErrorData::new(
            METHOD_NOT_FOUND,
            "This tool requires task-augmented invocation",
        )),
        _ => Ok(()),
    }
}

/// A tool task that was created and whose work is running.
#[derive(Debug)]
pub struct StartedTask {
    /// The immediate answer to the `tools/call`.
    pub result: CreateTaskResult,
    /// The background work; it ends once the task's outcome is recorded or it was cancelled.
    pub worker: JoinHandle<Result<(), TaskError>>,
}

impl StartedTask {
    /// The created task.
    pub fn task(&self) -> &Task {
        &self.result.task
    }

    /// The `CreateTaskResult` JSON to answer with.
    pub fn result_json(&self) -> Result<Value, ErrorData> {
        to_json(&self.result)
    }
}

/// Creates the task of a task-augmented `tools/call`, bound to `caller`, with the requested
/// ttl (the store clamps it, and the answer reports the effective one), and runs `work` in the
/// background under [`task_execution`].
///
/// The work is dropped as soon as the task is cancelled (through the store, by any process),
/// so a tool observes cancellation without any code of its own. Its outcome is recorded with
/// [`record_tool_outcome`]; a panic or a store error marks the task `failed`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::Arc;
/// use task_core::{Scope, StoreConfig, TaskStore, TaskStoreExt};
/// use task_protocol::params::{parse, CallToolParams};
/// let store: Arc<dyn TaskStore> =
///     Arc::new(task_store_memory::MemoryTaskStore::new(StoreConfig::default()));
/// let call: CallToolParams =
///     parse(Some(serde_json::json!({"name": "hi", "task": {"ttl": 60000}}))).unwrap();
/// let caller = Scope::owner("session-1");
/// let started = task_protocol::start_tool_task(store.clone(), &caller, &call, |_ctx| async {
///     let text = serde_json::json!([{"type": "text", "text": "hello"}]);
///     Ok(serde_json::Map::from_iter([("content".to_owned(), text)]))
/// })
/// .await
/// .unwrap();
/// assert_eq!(started.task().ttl, Some(60_000));
/// let id = started.task().task_id.clone();
/// let done = store.wait_until_terminal(&caller, &id, None).await.unwrap();
/// assert_eq!(done.status.as_str(), "completed");
/// # }
/// ```
pub async fn start_tool_task<W, Fut>(
    store: Arc<dyn TaskStore>,
    caller: &Scope,
    call: &CallToolParams,
    work: W,
) -> Result<StartedTask, ErrorData>
where
    W: FnOnce(TaskContext) -> Fut + Send + 'static,
    Fut: Future<Output = ToolOutcome> + Send + 'static,
{
    let Some(metadata) = &call.task else {
        return Err(ErrorData::new(
            INVALID_PARAMS,
            "tools/call has no `task` field: it is not task-augmented",
        ));
    };
    let mut new = NewTask::new().with_request(CALL_TOOL, to_json(call)?);
    if let Some(ttl) = metadata.ttl {
        new = new.with_ttl(ttl);
    }
    if let Some(owner) = caller.owner_name() {
        new = new.owned_by(owner);
    }
    let task = store.create(new).await?;
    let task_id = task.task_id.clone();
    let worker = tokio::spawn(async move {
        task_execution(store, &task_id, move |ctx| run_until_cancelled(ctx, work)).await
    });
    Ok(StartedTask {
        result: CreateTaskResult { task, meta: None },
        worker,
    })
}

/// Runs the work unless the task is cancelled first, then records its outcome.
async fn run_until_cancelled<W, Fut>(ctx: TaskContext, work: W) -> Result<(), TaskError>
where
    W: FnOnce(TaskContext) -> Fut,
    Fut: Future<Output = ToolOutcome>,
{
    let watcher = ctx.clone();
    let cancelled = async move {
        // If the store cannot be watched, let the work run to its end rather than abandon it.
        if watcher.cancelled().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        outcome = work(ctx.clone()) => record_tool_outcome(ctx.store().as_ref(), ctx.task_id(), outcome).await.map(drop),
        () = cancelled => Ok(()),
    }
}

/// Records how a tool call ended, atomically: `completed` with its result; `failed` with the
/// result kept when it has `isError: true`; `failed` with the JSON-RPC error otherwise. A task
/// already terminal (cancelled meanwhile) stays as it is, and its task is returned unchanged.
pub async fn record_tool_outcome(
    store: &dyn TaskStore,
    task_id: &str,
    outcome: ToolOutcome,
) -> Result<Task, TaskError> {
    match store
        .update(&Scope::All, task_id, tool_outcome_change(outcome))
        .await
    {
        Err(TaskError::InvalidTransition { .. }) => store.get(&Scope::All, task_id).await,
        other => other,
    }
}

/// The change that ends a task with a tool's outcome (see [`record_tool_outcome`]).
///
/// ```
/// use serde_json::json;
/// use task_core::TaskStatus;
/// let result = json!({"content": [{"type": "text", "text": "no such file"}], "isError": true});
/// let change = task_protocol::tools::tool_outcome_change(Ok(result.as_object().unwrap().clone()));
/// assert_eq!(change.status, Some(TaskStatus::Failed));
/// assert_eq!(change.status_message.as_deref(), Some("no such file"));
/// ```
pub fn tool_outcome_change(outcome: ToolOutcome) -> TaskChange {
    match outcome {
        Ok(result) if result.get("isError") == Some(&Value::Bool(true)) => {
            let message = first_text(&result).unwrap_or("the tool reported an error");
            let message = message.to_owned();
            TaskChange::finish(
                TaskStatus::Failed,
                TaskOutcome::Result(result),
                Some(message),
            )
        }
        Ok(result) => TaskChange::complete(result),
        Err(error) => {
            let message = error.message.clone();
            TaskChange::finish(TaskStatus::Failed, TaskOutcome::Error(error), Some(message))
        }
    }
}

/// The text of a result's first text content block.
fn first_text(result: &Map<String, Value>) -> Option<&str> {
    result
        .get("content")?
        .as_array()?
        .iter()
        .find(|block| block.get("type").and_then(Value::as_str) == Some("text"))?
        .get("text")?
        .as_str()
}
