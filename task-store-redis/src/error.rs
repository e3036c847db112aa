//! Redis errors as [`TaskError`]s, each saying what a retry can do ([`Retry`]).

use redis::{ErrorKind, RedisError, ServerErrorKind};
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use task_core::{Retry, TaskError};

/// The backend name in [`TaskError::Backend`].
pub const BACKEND: &str = "redis";

/// The TLS handshake with a `rediss://` server failed: its certificate was not trusted
/// (signed by an unknown authority, for another name, expired) or the two sides could not
/// agree on TLS at all. That is configuration, not a passing fault, so the
/// [`TaskError::Backend`] carrying it says [`Retry::Never`]; reach it with
/// `std::error::Error::source` and `downcast_ref::<TlsError>()`.
#[derive(Debug)]
pub struct TlsError {
    certificate: bool,
    reason: String,
}

impl TlsError {
    /// Whether the server's certificate was refused, rather than the handshake itself.
    pub fn is_certificate_error(&self) -> bool {
        self.certificate
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.certificate {
            "the Redis server's TLS certificate was refused"
        } else {
            "the TLS handshake with the Redis server failed"
        };
        write!(f, "{what}: {}", self.reason)
    }
}

impl std::error::Error for TlsError {}

/// The rustls error somewhere in `error`'s chain, if any. It reaches the driver inside an
/// `io::Error`, which the driver keeps in an `Arc`, and the `source` of both skips what they
/// wrap, so each is opened too.
fn tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<TlsError> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            let certificate = matches!(
                tls,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::UnsupportedNameType
            );
            return Some(TlsError {
                certificate,
                reason: tls.to_string(),
            });
        }
        let wrapped = current
            .downcast_ref::<Arc<dyn std::error::Error + Send + Sync>>()
            .map(|shared| shared.as_ref() as &(dyn std::error::Error + 'static))
            .or_else(|| {
                current
                    .downcast_ref::<io::Error>()
                    .and_then(io::Error::get_ref)
                    .map(|inner| inner as &(dyn std::error::Error + 'static))
            });
        let inner = wrapped.and_then(tls_failure);
        if inner.is_some() {
            return inner;
        }
        next = current.source();
    }
    None
}

/// A Redis error as a backend error, with what a retry can do.
pub(crate) fn backend(error: RedisError) -> TaskError {
    if let Some(tls) = tls_failure(&error) {
        return TaskError::backend(BACKEND, Retry::Never, tls);
    }
    let retry = retry(&error);
    TaskError::backend(BACKEND, retry, error)
}

/// A change whose reply could not be read (garbled, or not what the script answers) was
/// still sent and may have landed: `error`, a [`Retry::Never`] from decoding, becomes
/// [`Retry::OutcomeUnknown`]. Other errors (not found, a refused transition) pass unchanged.
pub(crate) fn unreadable_reply(error: TaskError) -> TaskError {
    match error {
        TaskError::Backend { source, .. } => TaskError::backend(
            BACKEND,
            Retry::OutcomeUnknown,
            format!(
                "Redis's reply to a change could not be read, so whether it landed is unknown: {source}"
            ),
        ),
        other => other,
    }
}

/// A refused connection never carried the call, and a server that answers it is loading its
/// data set, is read-only or down in a fail-over, asks to try again, or is busy with a long
/// script has not run it: safe to repeat. A timeout, a connection lost once the call was
/// sent, or a reply the driver could not parse leaves its effect unknown.
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
    } else if error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || matches!(
            error.kind(),
            ErrorKind::Parse | ErrorKind::UnexpectedReturnType
        )
    {
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

    #[test]
    fn an_unreadable_reply_leaves_the_outcome_unknown() {
        let garbled = RedisError::from((ErrorKind::Parse, "invalid response"));
        assert_eq!(retry(&garbled), Retry::OutcomeUnknown);
        let decoded = unreadable_reply(corrupt("update script answered \"??\""));
        assert_eq!(decoded.retry(), Retry::OutcomeUnknown);
        let refused = unreadable_reply(TaskError::not_found("t1"));
        assert!(matches!(refused, TaskError::NotFound { .. }), "{refused:?}");
    }
}
