//! What can go wrong below the store, and how it maps into [`TaskError`].
//!
//! Every failure reaches callers as [`TaskError::Backend`] with backend `"sqlite"` and a
//! [`SqliteError`] as its source (reach it with `std::error::Error::source` and `downcast_ref`).
//! Its [`Retry`] is [`Retry::Safe`] for a busy or locked database (`SQLITE_BUSY`,
//! `SQLITE_LOCKED`) and a pool timeout, which ran nothing, and [`Retry::OutcomeUnknown`] for
//! I/O errors (`SQLITE_IOERR`, `SQLITE_PROTOCOL`, a lost worker), after which a commit may or
//! may not have reached the file.

use task_core::{Retry, TaskError};
use task_store_sql::{BadRow, SchemaTooNew};

/// The backend name in [`TaskError::Backend`].
pub const BACKEND: &str = "sqlite";

// SQLite primary result codes (the low byte of an extended code).
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_IOERR: i32 = 10;
const SQLITE_CORRUPT: i32 = 11;
const SQLITE_PROTOCOL: i32 = 15;
const SQLITE_NOTADB: i32 = 26;

/// The source of every [`TaskError::Backend`] this crate returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// The file was written by a newer version of this crate.
    #[error(
        "the database schema is version {found}, newer than the version {supported} this \
         task-store-sqlite supports; open it with a newer release"
    )]
    SchemaTooNew {
        /// The file's schema version (`PRAGMA user_version`).
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The file is a SQLite database, but not a task store.
    #[error("the database is not a task store: {0}")]
    ForeignDatabase(String),
    /// The file is not a SQLite database, or it is corrupt.
    #[error("the file is not a SQLite database or is corrupt: {0}")]
    Corrupt(#[source] sqlx::Error),
    /// A stored row cannot be read back.
    #[error("the stored row of task {task_id} is unreadable: {reason}")]
    BadRow {
        /// The task whose row is bad.
        task_id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Any other driver error.
    #[error("SQLite: {0}")]
    Driver(#[source] sqlx::Error),
}

impl SqliteError {
    /// What repeating the call can do.
    pub fn retry(&self) -> Retry {
        match self {
            SqliteError::Driver(error) => retry(error),
            _ => Retry::Never,
        }
    }

    /// Whether repeating the call may succeed ([`Retry::Safe`] or [`Retry::OutcomeUnknown`]).
    pub fn is_retryable(&self) -> bool {
        self.retry() != Retry::Never
    }
}

impl From<SchemaTooNew> for SqliteError {
    fn from(newer: SchemaTooNew) -> Self {
        let SchemaTooNew { found, supported } = newer;
        SqliteError::SchemaTooNew { found, supported }
    }
}

impl From<SqliteError> for TaskError {
    fn from(error: SqliteError) -> Self {
        TaskError::backend(BACKEND, error.retry(), error)
    }
}

/// The SQLite primary result code of a database error.
fn primary_code(error: &sqlx::Error) -> Option<i32> {
    let code = error.as_database_error()?.code()?;
    code.parse::<i32>().ok().map(|extended| extended & 0xff)
}

fn retry(error: &sqlx::Error) -> Retry {
    match error {
        sqlx::Error::Database(_) => match primary_code(error) {
            Some(SQLITE_BUSY | SQLITE_LOCKED) => Retry::Safe,
            Some(SQLITE_IOERR | SQLITE_PROTOCOL) => Retry::OutcomeUnknown,
            _ => Retry::Never,
        },
        sqlx::Error::PoolTimedOut => Retry::Safe,
        sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => Retry::OutcomeUnknown,
        _ => Retry::Never,
    }
}

/// Maps a driver error into a [`TaskError`].
pub(crate) fn driver(error: sqlx::Error) -> TaskError {
    let error = match primary_code(&error) {
        Some(SQLITE_CORRUPT | SQLITE_NOTADB) => SqliteError::Corrupt(error),
        _ => SqliteError::Driver(error),
    };
    error.into()
}

/// A row that does not decode into a task.
pub(crate) fn bad_row(bad: BadRow) -> TaskError {
    let BadRow { task_id, reason } = bad;
    SqliteError::BadRow { task_id, reason }.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn io_and_pool_errors_are_retryable_and_closed_pools_not() {
        let io = driver(sqlx::Error::Io(io::Error::other("disk went away")));
        assert!(io.is_retryable());
        assert_eq!(
            io.retry(),
            Retry::OutcomeUnknown,
            "a commit may have landed"
        );
        assert!(driver(sqlx::Error::PoolTimedOut).is_retryable());
        assert_eq!(driver(sqlx::Error::PoolTimedOut).retry(), Retry::Safe);
        assert!(!driver(sqlx::Error::PoolClosed).is_retryable());
        assert!(!driver(sqlx::Error::RowNotFound).is_retryable());
        let schema: TaskError = SqliteError::SchemaTooNew {
            found: 9,
            supported: 1,
        }
        .into();
        assert!(!schema.is_retryable());
        assert!(schema.to_string().contains("version 9"), "{schema}");
    }
}
