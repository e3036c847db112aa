//! Redis errors as [`TaskError`]s, each saying what a retry can do ([`Retry`]).

use redis::{ErrorKind, RedisError, ServerErrorKind};
use std::time::Duration;
use task_core::{Retry, TaskError};

/// The backend name in [`TaskError::Backend`].
pub const BACKEND: &str = "redis";

/// A Redis error as a backend error, with what a retry can do.
pub(crate) fn backend(error: RedisError) -> TaskError {
    let retry = retry(&error);
    TaskError::backend(BACKEND, retry, error)
}

/// A refused connection never carried the call, and a server that answers it is loading its
/// data set, is read-only or down in a fail-over, asks to try again, or is busy with a long
/// script has not run it: safe to repeat. A timeout or a connection lost once the call was
/// sent leaves its effect unknown.
fn retry(error: &RedisError) -> Retry {
    let refused_by_server = error.is_cluster_error()
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
    if error.is_connection_refusal() || refused_by_server {
        Retry::Safe
    } else if error.is_io_error() || error.is_timeout() || error.is_connection_dropped() {
        Retry::OutcomeUnknown
    } else {
        Retry::Never
    }
}

/// A call that got no answer in time: it may have run, so its effect is unknown.
pub(crate) fn timed_out(after: Duration) -> TaskError {
    TaskError::backend(
        BACKEND,
        Retry::OutcomeUnknown,
        format!("no answer from Redis within {after:?}"),
    )
}

/// Data in Redis that this crate did not write: a retry cannot help.
pub(crate) fn corrupt(why: impl Into<String>) -> TaskError {
    TaskError::backend(
        BACKEND,
        Retry::Never,
        format!("unexpected data in Redis: {}", why.into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn a_refusal_is_safe_to_repeat_and_a_lost_answer_is_unknown() {
        let refused = RedisError::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(retry(&refused), Retry::Safe);
        let loading =
            RedisError::from((ErrorKind::Server(ServerErrorKind::BusyLoading), "LOADING"));
        assert_eq!(retry(&loading), Retry::Safe);
        let reset = RedisError::from(io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(retry(&reset), Retry::OutcomeUnknown);
        let timeout = RedisError::from(io::Error::from(io::ErrorKind::TimedOut));
        assert_eq!(retry(&timeout), Retry::OutcomeUnknown);
        assert_eq!(
            timed_out(Duration::from_secs(1)).retry(),
            Retry::OutcomeUnknown
        );
        assert_eq!(corrupt("x").retry(), Retry::Never);
    }
}
