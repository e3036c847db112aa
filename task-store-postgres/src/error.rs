//! What can go wrong below the store, and how it maps into [`TaskError`].
//!
//! Every failure reaches callers as [`TaskError::Backend`] with backend `"postgres"` and a
//! [`PostgresError`] as its source (reach it with `std::error::Error::source` and
//! `downcast_ref`). Its [`Retry`] says what repeating the call can do:
//!
//! - [`Retry::Safe`]: the call never ran or was rolled back: no connection could be made or
//!   taken from the pool in time (the server is down or restarting, or refuses connections
//!   while it starts), a serialization failure or deadlock, a cancelled statement, a lock not
//!   available, too many connections.
//! - [`Retry::OutcomeUnknown`]: the connection was lost or the server shut down while the call
//!   was on its way; a commit may or may not have landed.
//! - [`Retry::Never`]: anything else (a schema this build cannot use, a constraint, a bad row).

use std::io;
use std::sync::Arc;
use std::time::Duration;
use task_core::{Retry, TaskError};
use task_store_sql::{BadRow, SchemaTooNew};

/// The backend name in [`TaskError::Backend`].
pub const BACKEND: &str = "postgres";

/// The source of every [`TaskError::Backend`] this crate returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The schema was written by a newer version of this crate.
    #[error(
        "the task store schema is version {found}, newer than the version {supported} this \
         task-store-postgres supports; open it with a newer release"
    )]
    SchemaTooNew {
        /// The schema's version.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The schema holds tables that are not a task store's.
    #[error("the schema is not a task store: {0}")]
    ForeignSchema(String),
    /// A stored row cannot be read back.
    #[error("the stored row of task {task_id} is unreadable: {reason}")]
    BadRow {
        /// The task whose row is bad.
        task_id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A call took longer than the store's call deadline.
    #[error("no answer from PostgreSQL within {0:?}")]
    TimedOut(Duration),
    /// The store's batch writer stopped before it answered (the runtime that ran it shut
    /// down); the write may or may not have committed.
    #[error("the store's writer stopped before it answered")]
    Stopped,
    /// Any other driver error. Shared by the writes of one batch, which fail together.
    #[error("PostgreSQL: {0}")]
    Driver(#[source] Arc<sqlx::Error>),
}

impl PostgresError {
    /// What repeating the call can do.
    pub fn retry(&self) -> Retry {
        match self {
            PostgresError::Driver(error) => retry(error),
            PostgresError::TimedOut(_) | PostgresError::Stopped => Retry::OutcomeUnknown,
            _ => Retry::Never,
        }
    }

    /// Whether repeating the call may succeed ([`Retry::Safe`] or [`Retry::OutcomeUnknown`]).
    pub fn is_retryable(&self) -> bool {
        self.retry() != Retry::Never
    }
}

impl From<SchemaTooNew> for PostgresError {
    fn from(newer: SchemaTooNew) -> Self {
        let SchemaTooNew { found, supported } = newer;
        PostgresError::SchemaTooNew { found, supported }
    }
}

impl From<PostgresError> for TaskError {
    fn from(error: PostgresError) -> Self {
        TaskError::backend(BACKEND, error.retry(), error)
    }
}

/// The SQLSTATE of a database error.
fn sqlstate(error: &sqlx::Error) -> Option<String> {
    Some(error.as_database_error()?.code()?.into_owned())
}

fn retry(error: &sqlx::Error) -> Retry {
    match error {
        sqlx::Error::Database(_) => match sqlstate(error).as_deref() {
            // serialization_failure, deadlock_detected: the transaction was rolled back.
            Some("40001" | "40P01") => Retry::Safe,
            // lock_not_available, query_canceled (a statement timeout), too_many_connections,
            // cannot_connect_now (the server is starting), connection refused by the server.
            Some("55P03" | "57014" | "53300" | "57P03" | "08001" | "08004") => Retry::Safe,
            // admin_shutdown, crash_shutdown, connection failures once connected: a commit
            // may have landed.
            Some("57P01" | "57P02" | "08000" | "08003" | "08006") => Retry::OutcomeUnknown,
            _ => Retry::Never,
        },
        sqlx::Error::PoolTimedOut => Retry::Safe,
        sqlx::Error::Io(io) if never_connected(io) => Retry::Safe,
        sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed | sqlx::Error::Protocol(_) => {
            Retry::OutcomeUnknown
        }
        _ => Retry::Never,
    }
}

/// An I/O error that says the connection was never made, so nothing was sent.
fn never_connected(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::NotFound
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

/// Maps a driver error into a [`TaskError`].
pub(crate) fn driver(error: sqlx::Error) -> TaskError {
    PostgresError::Driver(Arc::new(error)).into()
}

/// Whether the server refused a statement and rolled it back, so that nothing it wrote
/// landed: a database error other than the server going away.
pub(crate) fn rolled_back(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(_)) && retry(error) != Retry::OutcomeUnknown
}

/// Runs `call`, failing it with [`PostgresError::TimedOut`] after `within`.
pub(crate) async fn deadline<T>(
    within: Duration,
    call: impl Future<Output = Result<T, TaskError>>,
) -> Result<T, TaskError> {
    match tokio::time::timeout(within, call).await {
        Ok(done) => done,
        Err(_) => Err(PostgresError::TimedOut(within).into()),
    }
}

/// A row that does not decode into a task.
pub(crate) fn bad_row(bad: BadRow) -> TaskError {
    let BadRow { task_id, reason } = bad;
    PostgresError::BadRow { task_id, reason }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_safe_and_lost_connections_unknown() {
        let refused = driver(sqlx::Error::Io(io::Error::from(
            io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(refused.retry(), Retry::Safe);
        let reset = driver(sqlx::Error::Io(io::Error::from(
            io::ErrorKind::ConnectionReset,
        )));
        assert_eq!(
            reset.retry(),
            Retry::OutcomeUnknown,
            "a commit may have landed"
        );
        assert_eq!(driver(sqlx::Error::PoolTimedOut).retry(), Retry::Safe);
        assert!(!driver(sqlx::Error::PoolClosed).is_retryable());
        assert!(!driver(sqlx::Error::RowNotFound).is_retryable());
        let timed_out: TaskError =
            PostgresError::TimedOut(std::time::Duration::from_secs(1)).into();
        assert_eq!(timed_out.retry(), Retry::OutcomeUnknown);
        let schema: TaskError = PostgresError::SchemaTooNew {
            found: 9,
            supported: 1,
        }
        .into();
        assert!(!schema.is_retryable());
        assert!(schema.to_string().contains("version 9"), "{schema}");
    }
}
