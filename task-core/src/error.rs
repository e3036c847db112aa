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

/// What repeating a call that failed with [`TaskError::Backend`] can do.
///
/// ```
/// use task_core::{NewTask, Retry, TaskError, TaskStore};
/// # async fn demo(store: &dyn TaskStore) -> Result<(), TaskError> {
/// // A caller-supplied id makes a repeated create safe whatever happened to the first one.
/// let new = NewTask::new().with_id("job-42").owned_by("alice");
/// let task = match store.create(new.clone()).await {
///     Err(error) if error.retry() != Retry::Never => store.create(new).await?,
///     other => other?,
/// };
/// # let _ = task; Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Retry {
    /// The call changed nothing: the backend refused it (busy, read-only, loading) or never
    /// received it (a refused connection). The same call may succeed later, and repeating it
    /// is safe whatever it does.
    Safe,
    /// The call may or may not have taken effect: no answer came in time, or the connection
    /// was lost after the call was sent. Repeating a read is safe. Repeating a change is safe
    /// when the change is idempotent: a create with a caller-supplied id (a repeat answers the
    /// task the first call made, see [`crate::TaskStore::create`]), a delete, or a change to a
    /// terminal status (a repeat after the first landed is refused with
    /// [`TaskError::InvalidTransition`]). Anything else may apply twice: read the task first.
    OutcomeUnknown,
    /// Repeating the call fails the same way (corrupt data, a closed store, a bad schema).
    Never,
}

impl Retry {
    /// The name in JSON-RPC error data: `safe`, `outcome_unknown` or `never`.
    pub fn as_str(self) -> &'static str {
        match self {
            Retry::Safe => "safe",
            Retry::OutcomeUnknown => "outcome_unknown",
            Retry::Never => "never",
        }
    }
}

impl std::fmt::Display for Retry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
    /// An input request used a key the task has used before (pending or answered). Keys are
    /// unique over a task's life, so an answer can never be taken for another request's.
    /// Nothing changed.
    #[error("task {task_id}: input request key '{key}' was used before")]
    InputKeyReused {
        /// The task.
        task_id: String,
        /// The key asked again.
        key: String,
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
        /// What repeating the call can do: [`Retry::Safe`] when it changed nothing,
        /// [`Retry::OutcomeUnknown`] when it may have taken effect (a timeout, a connection
        /// lost mid-call), [`Retry::Never`] when it cannot succeed.
        retry: Retry,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl TaskError {
    /// A backend error.
    pub fn backend(
        backend: &'static str,
        retry: Retry,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        TaskError::Backend {
            backend,
            retry,
            source: source.into(),
        }
    }

    /// A not-found error for `task_id`.
    pub fn not_found(task_id: &str) -> Self {
        TaskError::NotFound {
            task_id: task_id.to_owned(),
        }
    }

    /// What repeating the call can do; [`Retry::Never`] for every error but
    /// [`TaskError::Backend`], since those describe the request or the task, not a passing
    /// failure.
    pub fn retry(&self) -> Retry {
        match self {
            TaskError::Backend { retry, .. } => *retry,
            _ => Retry::Never,
        }
    }

    /// Whether repeating the same call may succeed: [`Retry::Safe`] or
    /// [`Retry::OutcomeUnknown`]. For a change that is not idempotent, check
    /// [`TaskError::is_safe_to_retry`] instead, or read the task first.
    pub fn is_retryable(&self) -> bool {
        self.retry() != Retry::Never
    }

    /// Whether the call changed nothing, so repeating it is safe whatever it does.
    pub fn is_safe_to_retry(&self) -> bool {
        self.retry() == Retry::Safe
    }

    /// The variant's name, for logs and metrics: `not_found`, `already_exists`,
    /// `invalid_transition`, `input_key_reused`, `invalid_cursor`, `invalid_input`,
    /// `limit_exceeded` or `backend`.
    /// Unlike the message, it never holds an id, a payload or a backend's words.
    pub fn kind(&self) -> &'static str {
        match self {
            TaskError::NotFound { .. } => "not_found",
            TaskError::AlreadyExists { .. } => "already_exists",
            TaskError::InvalidTransition { .. } => "invalid_transition",
            TaskError::InvalidCursor => "invalid_cursor",
            TaskError::InputKeyReused { .. } => "input_key_reused",
            TaskError::InvalidInput(_) => "invalid_input",
            TaskError::LimitExceeded { .. } => "limit_exceeded",
            TaskError::Backend { .. } => "backend",
        }
    }
}
