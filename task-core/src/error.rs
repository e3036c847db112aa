//! The one error type every store returns.

use crate::wire::TaskStatus;

/// Which task limit was hit. Limits count unfinished tasks (`working` or `input_required`)
/// that have not expired; finished tasks never do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitKind {
    /// Unfinished tasks of one owner.
    PerOwner,
    /// Unfinished tasks in the whole store.
    Total,
}

impl LimitKind {
    /// The limit's name in JSON-RPC error data: `per_owner` or `total`.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::PerOwner => "per_owner",
            LimitKind::Total => "total",
        }
    }
}

/// Everything that can go wrong in a task store. Match on the variants; the JSON-RPC mapping
/// lives in [`crate::jsonrpc`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// No such task, or it expired, or it belongs to another owner: all look the same.
    #[error("task not found: {task_id}")]
    NotFound {
        /// The id that was asked for.
        task_id: String,
    },
    /// A task with this id already exists.
    #[error("task already exists: {task_id}")]
    AlreadyExists {
        /// The duplicate id.
        task_id: String,
    },
    /// The status machine forbids the change; `to == from` means a message change on a
    /// terminal task.
    #[error("task {task_id} cannot change from '{from}' to '{to}'")]
    InvalidTransition {
        /// The task.
        task_id: String,
        /// Its status when the change was attempted.
        from: TaskStatus,
        /// The status the change asked for.
        to: TaskStatus,
    },
    /// The list cursor is malformed, fails its corruption check, or was made for another
    /// owner.
    #[error("invalid cursor")]
    InvalidCursor,
    /// An argument is malformed: a bad id or owner, an oversized payload, an empty change.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Creating the task would exceed a configured limit of unfinished tasks. Nothing was
    /// created; the same call can succeed once one of those tasks has ended.
    #[error("task limit exceeded: at most {max} unfinished tasks {}", match .kind { LimitKind::PerOwner => "per owner", LimitKind::Total => "in the store" })]
    LimitExceeded {
        /// Which limit.
        kind: LimitKind,
        /// Its configured value.
        max: u64,
    },
    /// The storage backend failed.
    #[error("{backend} backend error: {source}")]
    Backend {
        /// The backend's name, such as `sqlite`.
        backend: &'static str,
        /// Whether retrying the same call may succeed (busy, timeout, connection lost).
        retryable: bool,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl TaskError {
    /// A backend error.
    pub fn backend(
        backend: &'static str,
        retryable: bool,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        TaskError::Backend {
            backend,
            retryable,
            source: source.into(),
        }
    }

    /// A not-found error for `task_id`.
    pub fn not_found(task_id: &str) -> Self {
        TaskError::NotFound {
            task_id: task_id.to_owned(),
        }
    }

    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TaskError::Backend {
                retryable: true,
                ..
            }
        )
    }
}

/// Shorthand for results in this crate.
pub type TaskResult<T> = Result<T, TaskError>;
