//! `notifications/tasks/status`: building it, and watching a task to send one per change.

use crate::handlers::related_task;
use serde_json::{Value, json};
use std::future::Future;
use task_core::{RELATED_TASK_META_KEY, Scope, Task, TaskError, TaskStore};

/// The method of a task status notification.
pub const TASK_STATUS: &str = "notifications/tasks/status";

/// The JSON-RPC notification that reports a task's state: params are the full task, plus the
/// related-task `_meta` that every message tied to a task carries.
///
/// ```
/// use task_core::backend::time;
/// use task_core::{Task, TaskStatus};
/// let task = Task {
///     task_id: "t1".into(),
///     status: TaskStatus::Completed,
///     status_message: None,
///     created_at: time::now(),
///     last_updated_at: time::now(),
///     ttl: None,
///     poll_interval: None,
/// };
/// let message = task_protocol::status_notification(&task);
/// assert_eq!(message["method"], "notifications/tasks/status");
/// assert_eq!(message["params"]["status"], "completed");
/// assert!(message["params"]["ttl"].is_null());
/// ```
pub fn status_notification(task: &Task) -> Value {
    let mut params = serde_json::to_value(task).unwrap_or_else(|_| json!({}));
    if let Value::Object(fields) = &mut params {
        fields.insert(
            "_meta".to_owned(),
            json!({ RELATED_TASK_META_KEY: related_task(&task.task_id) }),
        );
    }
    json!({ "jsonrpc": "2.0", "method": TASK_STATUS, "params": params })
}

/// Watches a task through the store's wait and passes one status notification per observed
/// change to `send`, starting after the state `task` shows. Ends when the task is terminal
/// (after sending that last state) or gone; a store failure is returned.
///
/// Changes that land between two waits are folded into the next one: the task's latest state
/// is what each notification carries, and the last one is always sent.
pub async fn watch_task<S, Fut>(
    store: &dyn TaskStore,
    caller: &Scope,
    task: &Task,
    mut send: S,
) -> Result<(), TaskError>
where
    S: FnMut(Value) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut seen = task.last_updated_at;
    let mut terminal = task.is_terminal();
    while !terminal {
        let task = match store
            .wait_for_update(caller, &task.task_id, seen, None)
            .await
        {
            Err(TaskError::NotFound { .. }) => return Ok(()),
            other => other?,
        };
        if task.last_updated_at > seen {
            seen = task.last_updated_at;
            send(status_notification(&task)).await;
        }
        terminal = task.is_terminal();
    }
    Ok(())
}
