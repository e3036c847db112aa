//! Handlers of `tasks/get`, `tasks/result`, `tasks/list` and `tasks/cancel`.
//!
//! Each takes the request's params and the caller's [`Scope`] (its session or principal) and
//! returns the result JSON or a JSON-RPC error object. Store errors become JSON-RPC errors
//! through the one mapping, `ErrorData::from(&TaskError)`: -32602 for an unknown, foreign or
//! expired id, a terminal cancel or a bad cursor; -32603 for storage failures.

use crate::params::{ListTasksParams, TaskIdParams, parse};
use serde::Serialize;
use serde_json::{Map, Value, json};
use task_core::jsonrpc::{ErrorData, INTERNAL_ERROR, INVALID_PARAMS};
use task_core::{
    GetTaskResult, ListTasksResult, PageRequest, RELATED_TASK_META_KEY, Scope, Task, TaskOutcome,
    TaskStatus, TaskStore, cancel_task, wait_for_result,
};

/// `tasks/get`.
pub const GET: &str = "tasks/get";
/// `tasks/result`.
pub const RESULT: &str = "tasks/result";
/// `tasks/list`.
pub const LIST: &str = "tasks/list";
/// `tasks/cancel`.
pub const CANCEL: &str = "tasks/cancel";

/// The `tasks` server capability these handlers implement:
/// `{list: {}, cancel: {}, requests: {tools: {call: {}}}}`.
pub fn tasks_capability() -> Value {
    json!({ "list": {}, "cancel": {}, "requests": { "tools": { "call": {} } } })
}

/// Runs the handler of a `tasks/*` method; `None` if `method` is not one of them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use task_core::{Scope, StoreConfig};
/// let store = task_store_memory::MemoryTaskStore::new(StoreConfig::default());
/// let params = serde_json::json!({"taskId": "nope"});
/// let answer = task_protocol::handle(&store, &Scope::owner("s1"), "tasks/get", Some(params)).await;
/// assert_eq!(answer.unwrap().unwrap_err().code, -32602);
/// # }
/// ```
pub async fn handle(
    store: &dyn TaskStore,
    caller: &Scope,
    method: &str,
    params: Option<Value>,
) -> Option<Result<Value, ErrorData>> {
    Some(match method {
        GET => get_task(store, caller, params).await,
        RESULT => get_task_result(store, caller, params).await,
        LIST => list_tasks(store, caller, params).await,
        CANCEL => cancel(store, caller, params).await,
        _ => return None,
    })
}

/// `tasks/get`: the task's fields, flat.
pub async fn get_task(
    store: &dyn TaskStore,
    caller: &Scope,
    params: Option<Value>,
) -> Result<Value, ErrorData> {
    let TaskIdParams { task_id } = parse(params)?;
    let task = store.get(caller, &task_id).await?;
    to_json(&GetTaskResult::from(task))
}

/// `tasks/cancel`: sets `cancelled` atomically and answers with the task's fields, flat.
pub async fn cancel(
    store: &dyn TaskStore,
    caller: &Scope,
    params: Option<Value>,
) -> Result<Value, ErrorData> {
    let TaskIdParams { task_id } = parse(params)?;
    to_json(&cancel_task(store, caller, &task_id).await?)
}

/// `tasks/list`: one page of the caller's tasks, oldest first.
pub async fn list_tasks(
    store: &dyn TaskStore,
    caller: &Scope,
    params: Option<Value>,
) -> Result<Value, ErrorData> {
    let ListTasksParams { cursor } = parse(params)?;
    let page = store.list(caller, PageRequest::after(cursor)).await?;
    to_json(&ListTasksResult {
        tasks: page.tasks,
        next_cursor: page.next_cursor,
        meta: None,
    })
}

/// `tasks/result`: waits (on the store's wake-ups, not by polling) until the task is terminal,
/// then answers exactly what the underlying request returned, with the related-task `_meta`.
///
/// - A task that failed with a JSON-RPC error answers with that same error.
/// - A task that failed with a result (a tool result with `isError: true`) answers with it.
/// - A cancelled task has no result and answers -32602 ([`cancelled_error`]).
pub async fn get_task_result(
    store: &dyn TaskStore,
    caller: &Scope,
    params: Option<Value>,
) -> Result<Value, ErrorData> {
    let TaskIdParams { task_id } = parse(params)?;
    let (task, outcome) = wait_for_result(store, caller, &task_id, None).await?;
    match (task.status, outcome) {
        (TaskStatus::Cancelled, _) => Err(cancelled_error(&task)),
        (_, Some(TaskOutcome::Result(mut result))) => {
            add_related_task(&mut result, &task.task_id);
            Ok(Value::Object(result))
        }
        (_, Some(TaskOutcome::Error(error))) => Err(error),
        (status, None) => Err(ErrorData::new(
            INTERNAL_ERROR,
            format!(
                "Task {} is {status} but has no stored outcome",
                task.task_id
            ),
        )),
    }
}

/// The answer of `tasks/result` for a cancelled task.
///
/// It is -32602 (invalid params), like cancelling a terminal task: the id is valid but names
/// a task whose state has no result to give. It is not -32603, which would tell the client
/// that storage failed and a retry might help. `data` says which task and why, so a client can
/// tell it from an unknown id: `{"taskId": ..., "status": "cancelled"}`.
pub fn cancelled_error(task: &Task) -> ErrorData {
    ErrorData {
        code: INVALID_PARAMS,
        message: format!("Task {} was cancelled and has no result", task.task_id),
        data: Some(json!({ "taskId": task.task_id, "status": task.status })),
    }
}

/// The `_meta` value that ties a message to a task: `{"taskId": ...}`.
pub fn related_task(task_id: &str) -> Value {
    json!({ "taskId": task_id })
}

/// Adds `_meta["io.modelcontextprotocol/related-task"]` to a result, keeping its other `_meta`.
pub fn add_related_task(result: &mut Map<String, Value>, task_id: &str) {
    let meta = result
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Value::Object(meta) = meta {
        meta.insert(RELATED_TASK_META_KEY.to_owned(), related_task(task_id));
    }
}

/// Serialises a result; the wire types always serialise, but a failure is still an error.
pub(crate) fn to_json(value: &impl Serialize) -> Result<Value, ErrorData> {
    serde_json::to_value(value).map_err(|error| {
        ErrorData::new(
            INTERNAL_ERROR,
            format!("could not serialise the result: {error}"),
        )
    })
}
