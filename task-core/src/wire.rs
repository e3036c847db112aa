//! Wire types of MCP tasks, serde-exact and camelCase: those of revision 2025-11-25, and
//! [`DetailedTask`], a task as the tasks extension of revision 2026-07-28 shows it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// `_meta` key that ties a message to a task: `{"taskId": ...}`.
pub const RELATED_TASK_META_KEY: &str = "io.modelcontextprotocol/related-task";

/// `_meta` key of `CreateTaskResult` with a string the model may use at once.
pub const MODEL_IMMEDIATE_RESPONSE_META_KEY: &str =
    "io.modelcontextprotocol/model-immediate-response";

/// A task's status. The rules for changing it are those of [`crate::TaskChange`], enforced by
/// every store as a compare-and-set (see [`crate::backend::CHANGEABLE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// The initial state: the work is running.
    Working,
    /// The work waits for input from the requestor.
    InputRequired,
    /// Terminal: the work finished and its result is stored.
    Completed,
    /// Terminal: the work failed; its error (or error result) is stored.
    Failed,
    /// Terminal: the task was cancelled.
    Cancelled,
}

impl TaskStatus {
    /// Every status, in declaration order.
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::Working,
        TaskStatus::InputRequired,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ];

    /// The wire name, such as `input_required`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Working => "working",
            TaskStatus::InputRequired => "input_required",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a wire name; `None` for anything else.
    pub fn parse(text: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The task object of the protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// Unique among all the receiver's tasks.
    pub task_id: String,
    /// Current status.
    pub status: TaskStatus,
    /// Optional human-readable message; for `failed`, the diagnosis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// When the task was created.
    #[serde(with = "crate::backend::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When the task last changed; strictly increases with every change.
    #[serde(with = "crate::backend::time::rfc3339")]
    pub last_updated_at: DateTime<Utc>,
    /// Effective retention in milliseconds from creation; `null` means unlimited.
    /// Always serialised, because strict clients reject a task without it.
    #[serde(default)]
    pub ttl: Option<u64>,
    /// Suggested polling interval in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<u64>,
}

impl Task {
    /// Whether the task has reached a terminal status.
    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }

    /// The instant the task expires, if it has a ttl.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        let ttl = i64::try_from(self.ttl?).unwrap_or(i64::MAX);
        Some(crate::backend::time::from_millis(
            self.created_at.timestamp_millis().saturating_add(ttl),
        ))
    }

    /// Whether the task's ttl has run out by this machine's clock.
    pub fn is_expired(&self) -> bool {
        self.expires_at().is_some_and(|at| at <= Utc::now())
    }
}

/// The `task` field a requestor adds to a request's params.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskMetadata {
    /// Requested retention in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
}

/// The immediate answer to a task-augmented request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateTaskResult {
    /// The created task.
    pub task: Task,
    /// Optional metadata, such as [`MODEL_IMMEDIATE_RESPONSE_META_KEY`].
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

/// Result of `tasks/get`: the task's fields, flat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GetTaskResult {
    /// The task, flattened into the result object.
    #[serde(flatten)]
    pub task: Task,
    /// Optional metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

/// Result of `tasks/cancel`: the task's fields, flat, with status `cancelled`.
pub type CancelTaskResult = GetTaskResult;

impl From<Task> for GetTaskResult {
    fn from(task: Task) -> Self {
        GetTaskResult { task, meta: None }
    }
}

/// Result of `tasks/list`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTasksResult {
    /// One page of tasks, oldest first.
    pub tasks: Vec<Task>,
    /// Opaque cursor of the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Optional metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::time::from_millis;
    use serde_json::json;

    /// What `value` serialises to, compared as JSON values: objects are unordered, so no test
    /// depends on the order keys are written in.
    fn wire<T: Serialize>(value: &T) -> Value {
        let text = serde_json::to_string(value).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn sample() -> Task {
        Task {
            task_id: "786512e2-9e0d-44bd-8f29-789f320fe840".into(),
            status: TaskStatus::Working,
            status_message: None,
            created_at: from_millis(1_764_064_800_000),
            last_updated_at: from_millis(1_764_064_800_250),
            ttl: None,
            poll_interval: None,
        }
    }

    #[test]
    fn task_serialises_exactly_with_null_ttl() {
        assert_eq!(
            wire(&sample()),
            json!({
                "taskId": "786512e2-9e0d-44bd-8f29-789f320fe840",
                "status": "working",
                "createdAt": "2025-11-25T10:00:00.000Z",
                "lastUpdatedAt": "2025-11-25T10:00:00.250Z",
                "ttl": null
            })
        );
    }

    #[test]
    fn task_serialises_all_fields() {
        let task = Task {
            status: TaskStatus::InputRequired,
            status_message: Some("need a name".into()),
            ttl: Some(60_000),
            poll_interval: Some(500),
            ..sample()
        };
        assert_eq!(
            wire(&task),
            json!({
                "taskId": "786512e2-9e0d-44bd-8f29-789f320fe840",
                "status": "input_required",
                "statusMessage": "need a name",
                "createdAt": "2025-11-25T10:00:00.000Z",
                "lastUpdatedAt": "2025-11-25T10:00:00.250Z",
                "ttl": 60000,
                "pollInterval": 500
            })
        );
        let text = serde_json::to_string(&task).unwrap();
        assert_eq!(serde_json::from_str::<Task>(&text).unwrap(), task);
    }

    #[test]
    fn statuses_use_wire_names() {
        let names: Vec<String> = TaskStatus::ALL
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                r#""working""#,
                r#""input_required""#,
                r#""completed""#,
                r#""failed""#,
                r#""cancelled""#
            ]
        );
        for status in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(TaskStatus::parse("done"), None);
    }

    #[test]
    fn timestamps_accept_offsets_and_normalise_to_utc() {
        let text = r#"{"taskId":"a","status":"failed","createdAt":"2025-11-25T12:00:00+02:00","lastUpdatedAt":"2025-11-25T10:00:00.250Z","ttl":null}"#;
        let task: Task = serde_json::from_str(text).unwrap();
        assert_eq!(task.created_at, from_millis(1_764_064_800_000));
    }

    #[test]
    fn metadata_and_create_result_are_exact() {
        assert_eq!(wire(&TaskMetadata::default()), json!({}));
        assert_eq!(wire(&TaskMetadata { ttl: Some(5) }), json!({"ttl": 5}));
        let mut meta = Map::new();
        meta.insert(MODEL_IMMEDIATE_RESPONSE_META_KEY.into(), json!("on it"));
        let created = CreateTaskResult {
            task: sample(),
            meta: Some(meta),
        };
        assert_eq!(
            wire(&created),
            json!({
                "task": wire(&sample()),
                "_meta": {"io.modelcontextprotocol/model-immediate-response": "on it"}
            })
        );
    }

    #[test]
    fn get_and_cancel_results_are_flat() {
        let cancelled = Task {
            status: TaskStatus::Cancelled,
            ..sample()
        };
        let result = CancelTaskResult::from(cancelled.clone());
        let mut flat = wire(&sample());
        flat["status"] = json!("cancelled");
        assert_eq!(wire(&result), flat);
        let text = serde_json::to_string(&result).unwrap();
        let back: GetTaskResult = serde_json::from_str(&text).unwrap();
        assert_eq!(back.task, cancelled);
    }

    #[test]
    fn list_result_omits_absent_cursor() {
        let page = ListTasksResult {
            tasks: vec![],
            next_cursor: None,
            meta: None,
        };
        assert_eq!(wire(&page), json!({"tasks": []}));
        let page = ListTasksResult {
            next_cursor: Some("abc".into()),
            ..page
        };
        assert_eq!(wire(&page), json!({"tasks": [], "nextCursor": "abc"}));
    }

    #[test]
    fn expires_at_counts_from_creation() {
        let task = Task {
            ttl: Some(1_000),
            ..sample()
        };
        assert_eq!(task.expires_at(), Some(from_millis(1_764_064_801_000)));
        assert_eq!(sample().expires_at(), None);
        assert!(task.is_expired(), "created in 2025 with a one-second ttl");
        assert!(!sample().is_expired(), "no ttl, no expiry");
    }
}

/// A task as the tasks extension (`io.modelcontextprotocol/tasks`, revision 2026-07-28) shows
/// it in `tasks/get`: the task's fields, with `ttlMs` and `pollIntervalMs`, and the payload of
/// its status inline. Made from a stored record by [`crate::TaskRecord::detailed`].
///
/// ```
/// use task_core::{NewTask, StoreConfig, TaskChange, TaskStatus, backend};
/// let mut record = backend::create_task_state(NewTask::new(), &StoreConfig::default()).unwrap();
/// let result = serde_json::json!({"content": [], "isError": true});
/// let change = TaskChange::complete(result.as_object().unwrap().clone());
/// let _ = backend::apply_change(change, "t", &mut record, chrono::Utc::now()).unwrap();
/// let shown = serde_json::to_value(record.detailed()).unwrap();
/// assert_eq!(shown["status"], "completed");
/// assert_eq!(shown["result"], result, "the raw tool result, isError included");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailedTask {
    /// Unique among all the receiver's tasks.
    pub task_id: String,
    /// Current status.
    pub status: TaskStatus,
    /// Optional human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// When the task was created.
    #[serde(with = "crate::backend::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When the task last changed.
    #[serde(with = "crate::backend::time::rfc3339")]
    pub last_updated_at: DateTime<Utc>,
    /// Effective retention in milliseconds from creation; `null` means unlimited. Always
    /// serialised.
    #[serde(default)]
    pub ttl_ms: Option<u64>,
    /// Suggested polling interval in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_ms: Option<u64>,
    /// For `input_required`: the pending input requests by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_requests: Option<Map<String, Value>>,
    /// For `completed`: the request's raw result (a tool result with `isError: true`
    /// included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Map<String, Value>>,
    /// For `failed`: the JSON-RPC error the request ended with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::jsonrpc::ErrorData>,
}
