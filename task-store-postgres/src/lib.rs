//! A [`TaskStore`](task_core::TaskStore) in PostgreSQL, through sqlx: any number of processes
//! share one store, and each wakes the others' waiters with `LISTEN`/`NOTIFY`.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), task_core::TaskError> {
//! use std::time::Duration;
//! use task_core::{NewTask, Scope, StoreConfig, TaskStore, TaskStoreExt};
//! use task_store_postgres::{PostgresOptions, PostgresTaskStore};
//!
//! let options = PostgresOptions::default().with_sweep_interval(Some(Duration::from_secs(30)));
//! let url = "postgres://postgres@127.0.0.1:5432/test?schema=my_app_tasks";
//! let store = PostgresTaskStore::open_with(url, StoreConfig::default(), options).await?;
//! let task = store.create(NewTask::new()).await?;
//! store.cancel(&Scope::All, &task.task_id).await?;
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//!
//! - **Durability.** A create or update has been committed when it returns (with the server's
//!   `synchronous_commit`, on by default, that means flushed to the server's write-ahead log),
//!   so it survives the client being killed (`kill -9`) right after, and a server restart.
//! - **Group commit.** Creates without limits and the changes one statement makes run one at
//!   a time per kind and store: a write that finds none under way runs at once, with the
//!   single-row statement, and those that concurrent callers make meanwhile share the next
//!   statement (one array per column, `unnest`) and its commit, so they pay one round trip
//!   and one write-ahead-log flush together. Each caller is answered once its statement has
//!   committed, and each row is still decided alone.
//! - **Atomicity.** Every change is one compare-and-set statement, `UPDATE … WHERE status =
//!   ANY (<changeable statuses>) RETURNING …`: status, message, outcome and `lastUpdatedAt`
//!   change together or not at all, and of racing changes (cancel against complete, say)
//!   exactly one wins, whether they come from one store or from many processes. A create is one upsert statement, or with limits a transaction that takes an
//!   advisory lock (one per store for a total limit, one per owner for a per-owner limit),
//!   checks the id and the limits and inserts: two creates never both take the last place.
//!   Input requests, answers and cancel requests (the record path of
//!   `task_core::backend::plan`) are applied to the whole record by
//!   `task_core::backend::apply_change` and written back with a compare-and-set on the
//!   version it was read at, read again if another change came first.
//! - **Expiry.** Every read filters on `expires_at` (creation plus ttl), so a task is
//!   invisible the moment it expires. A background sweeper
//!   ([`PostgresOptions::sweep_interval`], default 60 s) and
//!   [`TaskStore::purge_expired`](task_core::TaskStore::purge_expired) delete expired rows
//!   with a range scan of the expiry index, in batches that skip rows another purge holds.
//!   Any number of processes may run the sweeper on one schema: each batch first takes the
//!   schema's sweep lock (`pg_try_advisory_xact_lock`), so one sweeps at a time.
//! - **Waiting.** Waiters wake at once on writes made through the same store, and return the
//!   task the write returned rather than reading it back. Writes by any other store or
//!   process on the same schema wake them through `LISTEN`/`NOTIFY` on the channel
//!   `task_store.<schema>`, with payloads of the task id and its new version only. The
//!   notification is sent once the change has committed, not by the writing statement
//!   (PostgreSQL serialises the commits of transactions that notify): a write queues its
//!   notification and returns, and one sender per store sends at once those of concurrent
//!   writes together; closing the store sends what is queued first. A notification can still
//!   be lost (the writing process dies between its commit and the notification, or the
//!   listening connection is down): every 2 s each store reads the versions of the tasks it
//!   has waiters for, in one statement, and wakes those whose task moved, so such a change
//!   ends a wait within about 2 s. When the
//!   listening connection comes back, every waiter reads its task afresh at once.
//!   A wait under way rides out a server restart: a read that fails with a retryable error
//!   meanwhile does not end it, and the waiter reads again when the listener is back (or
//!   after a pause of up to 2 s), until its timeout, at which it returns that error.
//! - **Indexes.** get and every change are primary-key lookups; list is a keyset range scan
//!   on `(owner, created_at, task_id)` or `(created_at, task_id)`, in index order with no
//!   sort; expiry is a range scan on `expires_at`; the limits count unfinished tasks in
//!   `(status, owner, expires_at)`. A test checks each statement's plan with `EXPLAIN`.
//! - **Failures.** A call that gets no answer within [`PostgresOptions::call_timeout`]
//!   (default 10 s), connecting included, fails with a retryable error (a wait under way
//!   keeps waiting instead: see Waiting); the store reconnects by itself once the server is
//!   back. See [`error`] for which errors are safe to repeat.
//!
//! # Query plans
//!
//! What `EXPLAIN` shows for each statement on a table of 20,000 tasks with fresh statistics
//! (`tests/plans.rs` checks every line):
//!
//! | statement | plan |
//! |---|---|
//! | get, get_record, get_result, update, delete, create's id check | `Index Scan using tasks_pkey` |
//! | create | `Insert`, conflict arbiter `tasks_pkey` |
//! | concurrent updates, in one batch | `Nested Loop` of `Function Scan on change` (the arrays) and `Index Scan using tasks_pkey` |
//! | concurrent creates, in one batch | `Insert` from `Function Scan on new` (the arrays), conflict arbiter `tasks_pkey` |
//! | list, every owner | `Limit` over `Index Scan using tasks_by_creation`, `ROW(created_at, task_id) > ROW(…)` |
//! | list, one owner | `Limit` over `Index Scan using tasks_by_owner`, `owner = … AND ROW(created_at, task_id) > ROW(…)` |
//! | per-owner limit | `Index Only Scan using tasks_by_status`, stopping at the limit |
//! | total limit, recover_stuck | `Bitmap Index Scan on tasks_by_status` |
//! | purge | `Index Scan using tasks_by_expiry`, `expires_at <= …` |
//!
//! Listing reads in index order, with no sort step, and stops after one page.
//!
//! # Schemas
//!
//! A store lives in one schema of the database ([`PostgresOptions::schema`], default
//! `mcp_tasks`, or `?schema=` in the URL), created when the store first opens; stores in
//! different schemas never see each other's tasks. The schema comes from embedded, versioned
//! migrations run when a store opens; a schema from a newer release, or one holding another
//! application's tables, is refused with a [`PostgresError`]. Version 2 added the columns
//! of the tasks extension's input rounds; rows of version 1 read as tasks that never asked
//! for input. Timestamps are stored as
//! milliseconds from the clients' clocks, as every backend does; `lastUpdatedAt` still
//! increases strictly with every change when clocks disagree.
#![warn(missing_docs)]

mod batch;
pub mod error;
pub mod options;
mod schema;
mod sql;
mod store;
mod wake;

pub use error::PostgresError;
pub use options::PostgresOptions;
pub use schema::SCHEMA_VERSION;
pub use sqlx;
pub use store::PostgresTaskStore;

/// The statements the store runs, with their names, for tests that check their query plans.
#[doc(hidden)]
pub use sql::STATEMENTS;
