//! What a store keeps per task: one record from which each protocol revision's view is derived.

use crate::jsonrpc::ErrorData;
use crate::wire::{DetailedTask, Task, TaskStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;

/// The protocol revision a task was created under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProtocolRevision {
    /// Tasks in the core protocol (SEP-1686).
    #[default]
    #[serde(rename = "2025-11-25")]
    V2025_11_25,
    /// Tasks as the `io.modelcontextprotocol/tasks` extension (SEP-2663).
    #[serde(rename = "2026-07-28")]
    V2026_07_28,
}

impl ProtocolRevision {
    /// The revision's date string.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolRevision::V2025_11_25 => "2025-11-25",
            ProtocolRevision::V2026_07_28 => "2026-07-28",
        }
    }

    /// Parses a revision's date string.
    pub fn parse(text: &str) -> Option<Self> {
        [ProtocolRevision::V2025_11_25, ProtocolRevision::V2026_07_28]
            .into_iter()
            .find(|r| r.as_str() == text)
    }
}

impl fmt::Display for ProtocolRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a task ended: exactly what the underlying request returned.
///
/// Serialised like a JSON-RPC response body: `{"result": {...}}` or `{"error": {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskOutcome {
    /// The request's result object (a tool result with `isError: true` included).
    Result(Map<String, Value>),
    /// The request's JSON-RPC error.
    Error(ErrorData),
}

/// The request that created a task, kept so later revisions can replay or describe it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OriginRequest {
    /// JSON-RPC method, such as `tools/call`.
    pub method: String,
    /// The request's params.
    pub params: Value,
}

/// Everything needed to create a task. Unset fields take the store's defaults.
///
/// ```
/// use task_core::NewTask;
/// let new = NewTask::new().owned_by("session-1").with_ttl(60_000);
/// assert_eq!(new.owner.as_deref(), Some("session-1"));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewTask {
    /// A caller-chosen id; a UUID v4 is generated when `None`.
    pub task_id: Option<String>,
    /// The owner (session or principal) the task is bound to; `None` for an unbound task.
    pub owner: Option<String>,
    /// Requested ttl in ms; `None` asks for the store's default. The store clamps it.
    pub ttl: Option<u64>,
    /// Suggested poll interval in ms; `None` takes the store's default.
    pub poll_interval: Option<u64>,
    /// The initial status message.
    pub status_message: Option<String>,
    /// The revision the task is created under.
    pub revision: ProtocolRevision,
    /// The original request.
    pub request: Option<OriginRequest>,
}

impl NewTask {
    /// A task with every field left to the store.
    pub fn new() -> Self {
        NewTask::default()
    }

    /// Uses a caller-supplied id.
    pub fn with_id(mut self, task_id: impl Into<String>) -> Self {
        self.task_id = Some(task_id.into());
        self
    }

    /// Binds the task to an owner.
    pub fn owned_by(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Requests a ttl in milliseconds.
    pub fn with_ttl(mut self, ttl_ms: u64) -> Self {
        self.ttl = Some(ttl_ms);
        self
    }

    /// Sets the suggested poll interval in milliseconds.
    pub fn with_poll_interval(mut self, poll_interval_ms: u64) -> Self {
        self.poll_interval = Some(poll_interval_ms);
        self
    }

    /// Sets the initial status message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.status_message = Some(message.into());
        self
    }

    /// Records the request that created the task.
    pub fn with_request(mut self, method: impl Into<String>, params: Value) -> Self {
        self.request = Some(OriginRequest {
            method: method.into(),
            params,
        });
        self
    }

    /// Sets the protocol revision.
    pub fn with_revision(mut self, revision: ProtocolRevision) -> Self {
        self.revision = revision;
        self
    }
}

impl TaskRecord {
    /// The task as the tasks extension (revision 2026-07-28) shows it: `input_required` with
    /// its pending requests, `completed` with its raw result, `failed` with its JSON-RPC
    /// error.
    pub fn detailed(&self) -> DetailedTask {
        detailed(&self.task, self.outcome.as_ref(), &self.input_requests)
    }

    /// Whether `other`, a record fresh from [`crate::backend::create_task_state`], asks for the task
    /// this record holds: the same id, owner, protocol revision, original request and
    /// requested ttl. The initial status message and poll interval are not compared: they
    /// describe the task's progress, not what it does.
    pub fn is_same_create(&self, other: &TaskRecord) -> bool {
        self.task.task_id == other.task.task_id
            && self.owner == other.owner
            && self.revision == other.revision
            && self.request == other.request
            && self.requested_ttl == other.requested_ttl
    }
}

/// One task as the store holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRecord {
    /// The protocol view of the task.
    pub task: Task,
    /// The owner it is bound to, if any.
    pub owner: Option<String>,
    /// The ttl the requestor asked for, before clamping.
    pub requested_ttl: Option<u64>,
    /// The outcome, present exactly when the status is `completed` or `failed`.
    pub outcome: Option<TaskOutcome>,
    /// Whether a cancel was requested (kept apart from the status for revision 2026-07-28).
    pub cancel_requested: bool,
    /// The revision it was created under.
    pub revision: ProtocolRevision,
    /// The request that created it.
    pub request: Option<OriginRequest>,
    /// Pending input requests by key (revision 2026-07-28): each an `elicitation/create`,
    /// `sampling/createMessage` or other request object, kept as JSON. Non-empty only while
    /// the task is `input_required`.
    pub input_requests: Map<String, Value>,
    /// Every input request key the task has ever used, pending or answered: a key is never
    /// used twice over the task's life.
    pub input_keys_used: BTreeSet<String>,
    /// Answers received for input requests, by key, for the worker to read; dropped when the
    /// task ends.
    pub input_responses: Map<String, Value>,
}

/// A task as the work waiting on it and `tasks/get` need it: its record without what only
/// grows over the task's life (the input keys used, the answers already given, the original
/// request). Read by [`TaskStore::get_current`](crate::TaskStore::get_current), whose cost
/// then does not grow with the rounds of input a task went through.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentTask {
    /// The protocol view of the task.
    pub task: Task,
    /// Whether a cancel was requested.
    pub cancel_requested: bool,
    /// The outcome, present exactly when the status is `completed` or `failed`.
    pub outcome: Option<TaskOutcome>,
    /// Pending input requests by key.
    pub input_requests: Map<String, Value>,
    /// The answer to the input request that was asked about, once it has one.
    pub answer: Option<Value>,
}

impl CurrentTask {
    /// The current part of `record`, with the answer to input request `answer_to` if any.
    pub fn of(record: TaskRecord, answer_to: Option<&str>) -> Self {
        let TaskRecord {
            task,
            cancel_requested,
            outcome,
            input_requests,
            mut input_responses,
            ..
        } = record;
        CurrentTask {
            task,
            cancel_requested,
            outcome,
            input_requests,
            answer: answer_to.and_then(|key| input_responses.remove(key)),
        }
    }

    /// Whether the work waiting for the answer may stop waiting: the answer came, a cancel
    /// was requested, or the task ended.
    pub fn settles_wait(&self) -> bool {
        self.answer.is_some() || self.cancel_requested || self.task.is_terminal()
    }

    /// The task as the tasks extension shows it, as [`TaskRecord::detailed`].
    pub fn detailed(&self) -> DetailedTask {
        detailed(&self.task, self.outcome.as_ref(), &self.input_requests)
    }
}

/// The extension's view: `input_required` with its pending requests, `completed` with its raw
/// result, `failed` with its JSON-RPC error.
fn detailed(
    task: &Task,
    outcome: Option<&TaskOutcome>,
    input_requests: &Map<String, Value>,
) -> DetailedTask {
    let (mut result, mut error) = (None, None);
    if task.is_terminal() {
        match outcome {
            Some(TaskOutcome::Result(map)) => result = Some(map.clone()),
            Some(TaskOutcome::Error(data)) => error = Some(data.clone()),
            None => {}
        }
    }
    DetailedTask {
        task_id: task.task_id.clone(),
        status: task.status,
        status_message: task.status_message.clone(),
        created_at: task.created_at,
        last_updated_at: task.last_updated_at,
        ttl_ms: task.ttl,
        poll_interval_ms: task.poll_interval,
        input_requests: (task.status == TaskStatus::InputRequired).then(|| input_requests.clone()),
        result,
        error,
    }
}
