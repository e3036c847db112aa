//! Redis errors as [`TaskError`]s, with `retryable` set for what a retry may cure.

use redis::{ErrorKind, RedisError, ServerErrorKind};
use std::time::Duration;
use task_core::TaskError;

/// The backend name in [`TaskError::Backend`].
pub const BACKEND: &str = "redis";

/// A Redis error as a backend error. Lost or refused connections, timeouts, a server still
/// loading its data set or busy with a long script, and fail-overs are retryable.
pub(crate) fn backend(error: RedisError) -> TaskError {
    let retryable = error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_cluster_error()
        || matches!(
            error.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
                    | ServerErrorKind::TryAgain
            )
        )
        || error.code() == Some("BUSY");
    TaskError::backend(BACKEND, retryable, error)
}

/// A call that got no answer in time: retryable, and its effect is unknown.
pub(crate) fn timed_out(after: Duration) -> TaskError {
    TaskError::backend(
        BACKEND,
        true,
        format!("no answer from Redis within {after:?}"),
    )
}

/// Data in Redis that this crate did not write: not retryable.
pub(crate) fn corrupt(why: impl Into<String>) -> TaskError {
    TaskError::backend(
        BACKEND,
        false,
        format!("unexpected data in Redis: {}", why.into()),
    )
}
