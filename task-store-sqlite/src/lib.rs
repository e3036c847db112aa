//! A [`TaskStore`](task_core::TaskStore) in SQLite, through sqlx with SQLite compiled in: no
//! system library is needed.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), task_core::TaskError> {
//! use std::time::Duration;
//! use task_core::{NewTask, Scope, StoreConfig, TaskStore, TaskStoreExt};
//! use task_store_sqlite::{SqliteOptions, SqliteTaskStore, Synchronous};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let url = format!("sqlite://{}?synchronous=full", dir.path().join("tasks.db").display());
//! let options = SqliteOptions::default().with_watch_interval(Duration::from_millis(50));
//! let store = SqliteTaskStore::open_with(&url, StoreConfig::default(), options).await?;
//! assert_eq!(store.options().synchronous, Synchronous::Full);
//! let task = store.create(NewTask::new()).await?;
//! store.cancel(&Scope::All, &task.task_id).await?;
//!
//! // A private database that lives as long as the store:
//! let scratch = SqliteTaskStore::open("sqlite::memory:", StoreConfig::default()).await?;
//! assert!(scratch.get(&Scope::All, &task.task_id).await.is_err());
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//!
//! - **Durability.** A create or update has been committed to the write-ahead log when it
//!   returns, so it survives the process being killed (`kill -9`) right after. With
//!   [`Synchronous::Normal`] (the default) the log is synced to disk at checkpoints, so a power
//!   loss or OS crash may lose the last commits but never corrupts the file; with
//!   [`Synchronous::Full`] every commit is synced and survives those too.
//! - **Atomicity.** Every change is one compare-and-set statement, `UPDATE … WHERE status IN
//!   (<changeable statuses>) RETURNING …`: status, message, outcome and `lastUpdatedAt` change
//!   together or not at all, and of racing changes (cancel against complete, say) exactly one
//!   wins, whether they come from one store, two stores or two processes on the same file.
//!   The statement commits on its own (no transaction around it) and leaves alone a row that
//!   could not be read back, so a change that lands always returns its task: a call never
//!   reports failure for a change that landed.
//!   The tasks extension's input requests, answers and cancel requests take the record path
//!   of [`task_core::backend::update_by_record`]: task-core applies its rules to the record
//!   read back, and one `UPDATE … WHERE last_updated_at = <as read> RETURNING …` writes it, or
//!   writes nothing when another change came first (the record is then read again).
//!   A create is one upsert statement, or with limits a `BEGIN IMMEDIATE` transaction that
//!   checks the id and the limits and inserts. Nothing reads and then writes in a deferred
//!   transaction.
//! - **Expiry.** Every read filters on `expires_at` (creation plus ttl), so a task is
//!   invisible the moment it expires. A background sweeper ([`SqliteOptions::sweep_interval`],
//!   default 60 s) and [`TaskStore::purge_expired`](task_core::TaskStore::purge_expired)
//!   delete expired rows with a range scan of the expiry index.
//! - **Waiting.** Waiters wake at once on writes made through the same store (or its clones),
//!   and return the task the write returned rather than reading it back.
//!   Writes by another store or process on the same file wake them within
//!   [`SqliteOptions::watch_interval`] (default 100 ms, plus the time of one small query): one
//!   poller per store checks `PRAGMA data_version` each interval and, only when the file
//!   changed, reads the versions of the watched tasks in one statement. A version the store
//!   wrote itself wakes nobody a second time.
//! - **Indexes.** get and every change are primary-key lookups, O(log n); list is a keyset range
//!   scan on `(owner, created_at, task_id)` or `(created_at, task_id)`; expiry is a range scan
//!   on `expires_at`; the limits count unfinished tasks in a partial index on
//!   `(owner, expires_at)` that holds no finished task, and a move between working and
//!   input_required changes no index entry. See [Query plans](#query-plans).
//! - **Concurrency.** Reads use a pool of [`SqliteOptions::pool_size`] connections; writes
//!   queue for one writer connection, so writers of one process never spin on `SQLITE_BUSY`.
//!   Writers of several processes wait for each other up to [`SqliteOptions::busy_timeout`].
//!
//! # Query plans
//!
//! What `EXPLAIN QUERY PLAN` reports for each statement (a unit test checks every line):
//!
//! | statement | plan |
//! |---|---|
//! | get, get_record, get_result, update (both statements), delete | `SEARCH tasks USING INDEX sqlite_autoindex_tasks_1 (task_id=?)` |
//! | list, every owner | `SEARCH tasks USING INDEX tasks_by_creation ((created_at,task_id)>(?,?))` |
//! | list, one owner | `SEARCH tasks USING INDEX tasks_by_owner (owner=? AND (created_at,task_id)>(?,?))` |
//! | per-owner limit | `SEARCH tasks USING COVERING INDEX tasks_unfinished (owner=?)`, stopping at the limit |
//! | total limit | `SCAN tasks USING COVERING INDEX tasks_unfinished` (unfinished tasks only) |
//! | purge | `SEARCH tasks USING COVERING INDEX tasks_by_expiry (expires_at<?)` |
//! | waiters' versions | `SEARCH tasks USING INDEX sqlite_autoindex_tasks_1 (task_id=?)` per watched id |
//!
//! Listing reads in index order, with no sort step, and stops after one page.
//!
//! # Connections and errors
//!
//! Every connection opens in WAL mode with `synchronous`, `busy_timeout` and foreign keys set
//! through sqlx's connect options ([`SqliteTaskStore::connect_options`]). The schema comes from
//! embedded, versioned migrations run when a store opens; a file from a newer release, a
//! foreign database and a file that is not a database are refused with a [`SqliteError`].
//! Busy and locked files and pool timeouts ran nothing ([`task_core::Retry::Safe`]); after an
//! I/O failure a commit may or may not have landed ([`task_core::Retry::OutcomeUnknown`]).
#![warn(missing_docs)]

pub mod error;
pub mod options;
mod schema;
mod sql;
mod store;
mod wake;

pub use error::SqliteError;
pub use options::{Location, SqliteOptions, Synchronous};
pub use schema::SCHEMA_VERSION;
pub use sqlx;
pub use store::SqliteTaskStore;
