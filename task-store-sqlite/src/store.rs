//! [`SqliteTaskStore`]: the [`TaskStore`] implementation.

use crate::error::{bad_row, driver};
use crate::options::{Location, SqliteOptions};
use crate::schema::{MIGRATIONS, migrate};
use crate::sql;
use crate::wake;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{ConnectOptions, SqliteConnection};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use task_core::backend::{
    self, ChangePlan, MAX_RECORD_ATTEMPTS, PageQuery, RecordWriter, Waiters, time,
    update_by_record, validate,
};
use task_core::{
    LimitKind, NewTask, PageRequest, Scope, StoreConfig, Task, TaskChange, TaskError, TaskOutcome,
    TaskPage, TaskRecord, TaskStatus, TaskStore,
};
use task_store_sql::{Insert, Recovery, check_limit, list_query, ms, rows, to_i64};
use tokio::task::AbortHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// Expired rows deleted per statement by a purge.
const PURGE_BATCH: i64 = 1_000;

/// A [`TaskStore`] in a SQLite file (or a private in-memory database).
///
/// Cloning is cheap and shares the store. The background sweeper and poller stop when the last
/// clone is dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), task_core::TaskError> {
/// use task_core::{NewTask, Scope, StoreConfig, TaskStore, TaskStoreExt};
/// use task_store_sqlite::SqliteTaskStore;
///
/// let dir = tempfile::tempdir().unwrap();
/// let url = format!("sqlite://{}", dir.path().join("tasks.db").display());
/// let store = SqliteTaskStore::open(&url, StoreConfig::default()).await?;
/// let task = store.create(NewTask::new().owned_by("alice")).await?;
/// let alice = Scope::owner("alice");
/// store.complete(&alice, &task.task_id, serde_json::Map::new()).await?;
/// assert!(store.get(&alice, &task.task_id).await?.is_terminal());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteTaskStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: StoreConfig,
    options: SqliteOptions,
    location: Location,
    connect: SqliteConnectOptions,
    /// Serves reads; for a memory store, the writer pool itself.
    reader: SqlitePool,
    /// One connection: this process's writers queue here instead of spinning on SQLITE_BUSY.
    writer: SqlitePool,
    waiters: Arc<Waiters>,
    background: Vec<AbortHandle>,
    /// Holds a memory database open for as long as the store lives.
    _keeper: Option<Mutex<SqliteConnection>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.background {
            task.abort();
        }
    }
}

impl fmt::Debug for SqliteTaskStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteTaskStore")
            .field("location", &self.inner.location)
            .field("options", &self.inner.options)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl SqliteTaskStore {
    /// Opens (creating if missing) the store at `location` with the default
    /// [`SqliteOptions`]: `sqlite://path`, `sqlite:path`, a plain path, or `sqlite::memory:`.
    /// A URL may carry settings, such as `sqlite://tasks.db?synchronous=full`.
    pub async fn open(location: &str, config: StoreConfig) -> Result<Self, TaskError> {
        SqliteTaskStore::open_with(location, config, SqliteOptions::default()).await
    }

    /// Opens the store at `location` with `options`; settings in the URL override them.
    ///
    /// Creates the file if it is missing and migrates its schema. Fails with a
    /// [`crate::SqliteError`] inside [`TaskError::Backend`] for a file that is not a SQLite
    /// database, is another application's database, or has a newer schema.
    pub async fn open_with(
        location: &str,
        config: StoreConfig,
        options: SqliteOptions,
    ) -> Result<Self, TaskError> {
        let (location, options) = Location::parse(location, options)?;
        let connect = location.connect_options(&options);
        let keeper = match location {
            Location::Memory => Some(connect.connect().await.map_err(driver)?),
            Location::File(_) => None,
        };
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(connect.clone())
            .await
            .map_err(driver)?;
        {
            let mut conn = writer.acquire().await.map_err(driver)?;
            migrate(&mut conn, MIGRATIONS).await?;
        }
        let waiters = Arc::new(Waiters::default());
        let mut background = Vec::new();
        let reader = match location {
            Location::Memory => writer.clone(),
            Location::File(_) => {
                // The writer made the file; later connections must not make a new, empty one.
                let existing = connect.clone().create_if_missing(false);
                let poller = wake::poll(existing.clone(), waiters.clone(), options.watch_interval);
                background.push(tokio::spawn(poller).abort_handle());
                SqlitePoolOptions::new()
                    .max_connections(options.pool_size)
                    .test_before_acquire(false)
                    .connect_lazy_with(existing)
            }
        };
        if let Some(every) = options.sweep_interval {
            let sweeper = sweep(writer.clone(), every);
            background.push(tokio::spawn(sweeper).abort_handle());
        }
        Ok(SqliteTaskStore {
            inner: Arc::new(Inner {
                config,
                options,
                location,
                connect,
                reader,
                writer,
                waiters,
                background,
                _keeper: keeper.map(Mutex::new),
            }),
        })
    }

    /// Where the database lives.
    pub fn location(&self) -> &Location {
        &self.inner.location
    }

    /// The settings the store runs with, URL settings included.
    pub fn options(&self) -> &SqliteOptions {
        &self.inner.options
    }

    /// The options every connection of the store opens with (WAL, synchronous, busy timeout,
    /// foreign keys), for tools that open their own connections on the same settings.
    pub fn connect_options(&self) -> &SqliteConnectOptions {
        &self.inner.connect
    }

    /// Stops the background tasks and closes every connection, waiting for them to finish.
    /// Calls on this store (and its clones) fail afterwards.
    pub async fn close(&self) {
        for task in &self.inner.background {
            task.abort();
        }
        self.inner.reader.close().await;
        self.inner.writer.close().await;
    }

    #[cfg(test)]
    pub(crate) fn background(&self) -> &[AbortHandle] {
        &self.inner.background
    }

    async fn fetch_task(
        &self,
        query: &'static str,
        scope: &Scope,
        task_id: &str,
    ) -> Result<SqliteRow, TaskError> {
        validate::access(scope, task_id)?;
        sqlx::query(query)
            .bind(task_id)
            .bind(scope.owner_name())
            .bind(now_ms())
            .fetch_optional(&self.inner.reader)
            .await
            .map_err(driver)?
            .ok_or_else(|| TaskError::not_found(task_id))
    }
}

/// A new record: in a `BEGIN IMMEDIATE` transaction with the duplicate and limit checks when
/// limits apply, else as the single upsert statement.
impl Insert for SqliteTaskStore {
    async fn insert(&self, record: &TaskRecord) -> Result<bool, TaskError> {
        let config = &self.inner.config;
        let task = &record.task;
        let now = task.created_at.timestamp_millis();
        let request = record.request.as_ref().map(sql::to_json).transpose()?;
        let input_requests = sql::to_json(&record.input_requests)?;
        let insert = sqlx::query(sql::INSERT)
            .bind(&task.task_id)
            .bind(&record.owner)
            .bind(task.status.as_str())
            .bind(&task.status_message)
            .bind(now)
            .bind(task.last_updated_at.timestamp_millis())
            .bind(ms(task.ttl))
            .bind(task.expires_at().map(|at| at.timestamp_millis()))
            .bind(ms(task.poll_interval))
            // The same bits as an i64, so every u64 round-trips.
            .bind(record.requested_ttl.map(|ttl| ttl as i64))
            .bind(record.revision.as_str())
            .bind(request)
            .bind(input_requests);
        let per_owner = config.max_tasks_per_owner.zip(record.owner.as_deref());
        if config.max_tasks.is_none() && per_owner.is_none() {
            let done = insert.execute(&self.inner.writer).await.map_err(driver)?;
            return Ok(done.rows_affected() == 1);
        }
        let mut tx = self
            .inner
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(driver)?;
        let exists: bool = sqlx::query_scalar(sql::EXISTS_LIVE)
            .bind(&task.task_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(driver)?;
        if exists {
            return Ok(false);
        }
        if let Some(max) = config.max_tasks {
            let live: i64 = sqlx::query_scalar(sql::COUNT_LIVE_TOTAL)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(driver)?;
            check_limit(LimitKind::Total, max, live)?;
        }
        if let Some((max, owner)) = per_owner {
            let live: i64 = sqlx::query_scalar(sql::COUNT_LIVE_OWNER)
                .bind(owner)
                .bind(now)
                .bind(to_i64(max))
                .fetch_one(&mut *tx)
                .await
                .map_err(driver)?;
            check_limit(LimitKind::PerOwner, max, live)?;
        }
        let done = insert.execute(&mut *tx).await.map_err(driver)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        tx.commit().await.map_err(driver)?;
        Ok(true)
    }
}

/// Deletes expired rows in short batches; returns how many.
async fn purge(writer: &SqlitePool) -> Result<u64, TaskError> {
    let now = now_ms();
    let mut purged = 0;
    loop {
        let done = sqlx::query(sql::PURGE_BATCH)
            .bind(now)
            .bind(PURGE_BATCH)
            .execute(writer)
            .await
            .map_err(driver)?;
        purged += done.rows_affected();
        if done.rows_affected() < PURGE_BATCH as u64 {
            return Ok(purged);
        }
    }
}

/// The sweeper: purges every `every` until the store aborts it.
async fn sweep(writer: SqlitePool, every: Duration) {
    let start = Instant::now() + every;
    let mut interval = tokio::time::interval_at(start, every);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        // A failed sweep (a busy file, say) is retried on the next tick; reads never see
        // expired rows either way.
        let _ = purge(&writer).await;
    }
}

#[async_trait]
impl TaskStore for SqliteTaskStore {
    fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    async fn create(&self, new: NewTask) -> Result<Task, TaskError> {
        task_store_sql::create(self, new, &self.inner.config).await
    }

    async fn get(&self, scope: &Scope, task_id: &str) -> Result<Task, TaskError> {
        let row = self.fetch_task(sql::SELECT_TASK, scope, task_id).await?;
        rows::task(&row).map_err(bad_row)
    }

    async fn get_record(&self, scope: &Scope, task_id: &str) -> Result<TaskRecord, TaskError> {
        let row = self.fetch_task(sql::SELECT_RECORD, scope, task_id).await?;
        rows::record(&row).map_err(bad_row)
    }

    async fn get_result(
        &self,
        scope: &Scope,
        task_id: &str,
    ) -> Result<Option<TaskOutcome>, TaskError> {
        let row = self.fetch_task(sql::SELECT_OUTCOME, scope, task_id).await?;
        rows::outcome(task_id, &row).map_err(bad_row)
    }

    async fn update(
        &self,
        scope: &Scope,
        task_id: &str,
        change: TaskChange,
    ) -> Result<Task, TaskError> {
        validate::access(scope, task_id)?;
        validate::change(&change, &self.inner.config)?;
        let ChangePlan::Direct {
            ends,
            needs_no_pending_input,
        } = backend::plan(&change)
        else {
            return update_by_record(self, scope, task_id, &change).await;
        };
        let outcome = change.outcome.as_ref().map(sql::to_json).transpose()?;
        let (working, input_required) = sql::changeable();
        for _ in 0..MAX_RECORD_ATTEMPTS {
            // One autocommit statement; its WHERE clause leaves alone a row that could not be
            // read back, so a change that lands always returns its task. fetch_all, not
            // fetch_optional: an `UPDATE … RETURNING` commits only when it runs to the end,
            // and sqlx's fetch_optional stops after the row and ignores the error of that
            // commit (launchbadge/sqlx#3430), so a write that failed (a full disk, say) would
            // be acknowledged. An error here means nothing landed, or, for an I/O error whose
            // commit may have reached the file, says so with Retry::OutcomeUnknown.
            // Two statements, not one with a flag: SQLite maintains the index of unfinished
            // tasks on every statement that writes `finished`, so only end.sql writes it.
            let statement = if ends { sql::END } else { sql::UPDATE };
            let rows = sqlx::query(statement)
                .bind(task_id)
                .bind(working)
                .bind(input_required)
                .bind(scope.owner_name())
                .bind(time::now().timestamp_millis())
                .bind(change.status.map(TaskStatus::as_str))
                .bind(change.status_message.as_deref())
                .bind(outcome.as_deref())
                .bind(change.cancel_requested)
                .bind(needs_no_pending_input)
                .fetch_all(&self.inner.writer)
                .await
                .map_err(driver)?;
            let Some(row) = rows.first() else {
                backend::refusal(self, &change, scope, task_id).await?;
                continue;
            };
            return match rows::task_and_owner(row) {
                Ok((task, owner)) => {
                    self.inner.waiters.wake_with(&task, owner);
                    Ok(task)
                }
                // The change landed: answer with the task as it now reads, not with a failure.
                Err(_) => {
                    self.inner.waiters.wake(task_id);
                    self.get(scope, task_id).await
                }
            };
        }
        Err(backend::contended(crate::error::BACKEND, task_id))
    }

    async fn list(&self, scope: &Scope, page: PageRequest) -> Result<TaskPage, TaskError> {
        let page = PageQuery::new(scope, &page, &self.inner.config)?;
        let query = list_query(sql::LIST_ALL, sql::LIST_OWNER, &page, now_ms());
        let found = query.fetch_all(&self.inner.reader).await.map_err(driver)?;
        rows::page(&page, &found).map_err(bad_row)
    }

    async fn delete(&self, scope: &Scope, task_id: &str) -> Result<bool, TaskError> {
        validate::access(scope, task_id)?;
        let done = sqlx::query(sql::DELETE)
            .bind(task_id)
            .bind(scope.owner_name())
            .bind(now_ms())
            .execute(&self.inner.writer)
            .await
            .map_err(driver)?;
        let deleted = done.rows_affected() > 0;
        if deleted {
            self.inner.waiters.wake_deleted(task_id);
        }
        Ok(deleted)
    }

    async fn wait_for_update(
        &self,
        scope: &Scope,
        task_id: &str,
        seen: DateTime<Utc>,
        timeout: Option<Duration>,
    ) -> Result<Task, TaskError> {
        validate::access(scope, task_id)?;
        let waiters = &self.inner.waiters;
        waiters.wait(self, scope, task_id, seen, timeout).await
    }

    async fn notify_update(&self, task_id: &str) -> Result<(), TaskError> {
        validate::task_id(task_id)?;
        // Waiters in other processes need no signal: their pollers see every committed change.
        self.inner.waiters.wake(task_id);
        Ok(())
    }

    async fn purge_expired(&self) -> Result<u64, TaskError> {
        purge(&self.inner.writer).await
    }

    async fn recover_stuck(&self, older_than: Duration, message: &str) -> Result<u64, TaskError> {
        let recovery = Recovery::new(message, older_than, &self.inner.config)?;
        let (working, input_required) = sql::changeable();
        let rows = sqlx::query(sql::RECOVER_STUCK)
            .bind(working)
            .bind(input_required)
            .bind(recovery.cutoff_ms)
            .bind(recovery.status.as_str())
            .bind(message)
            .bind(&recovery.outcome)
            .bind(recovery.now_ms)
            .fetch_all(&self.inner.writer)
            .await
            .map_err(driver)?;
        for row in &rows {
            match rows::task_and_owner(row) {
                Ok((task, owner)) => self.inner.waiters.wake_with(&task, owner),
                Err(_) => {
                    if let Ok(id) = sqlx::Row::try_get::<&str, _>(row, 0) {
                        self.inner.waiters.wake(id);
                    }
                }
            }
        }
        Ok(rows.len() as u64)
    }
}

/// The record path of the changes that need the whole record (input requests, answers,
/// cancel requests): a read, then `replace.sql` as the compare-and-set.
impl RecordWriter for SqliteTaskStore {
    const BACKEND: &'static str = crate::error::BACKEND;

    async fn read_record(&self, scope: &Scope, task_id: &str) -> Result<TaskRecord, TaskError> {
        self.get_record(scope, task_id).await
    }

    async fn replace_record(
        &self,
        scope: &Scope,
        expected: DateTime<Utc>,
        record: &TaskRecord,
    ) -> Result<bool, TaskError> {
        let task = &record.task;
        if task.is_terminal() {
            // replace.sql does not write `finished`: ending changes take end.sql (backend::plan
            // never routes them here).
            return Err(TaskError::InvalidInput(
                "the record path does not end tasks".into(),
            ));
        }
        let outcome = record.outcome.as_ref().map(sql::to_json).transpose()?;
        // One autocommit compare-and-set, fetched whole for the reason update() gives.
        let rows = sqlx::query(sql::REPLACE)
            .bind(task.task_id.as_str())
            .bind(scope.owner_name())
            .bind(expected.timestamp_millis())
            .bind(now_ms())
            .bind(task.status.as_str())
            .bind(task.status_message.as_deref())
            .bind(outcome)
            .bind(record.cancel_requested)
            .bind(sql::to_json(&record.input_requests)?)
            .bind(sql::to_json(&record.input_keys_used)?)
            .bind(sql::to_json(&record.input_responses)?)
            .bind(task.last_updated_at.timestamp_millis())
            .fetch_all(&self.inner.writer)
            .await
            .map_err(driver)?;
        let Some(row) = rows.first() else {
            return Ok(false);
        };
        // The change landed either way; waiters of a row that reads back badly re-read it.
        match rows::task_and_owner(row) {
            Ok((task, owner)) => self.inner.waiters.wake_with(&task, owner),
            Err(_) => self.inner.waiters.wake(task.task_id.as_str()),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Synchronous;

    async fn pragma(conn: &mut SqliteConnection, name: &'static str) -> String {
        let row = sqlx::query(name).fetch_one(conn).await.unwrap();
        match sqlx::Row::try_get::<i64, _>(&row, 0) {
            Ok(number) => number.to_string(),
            Err(_) => sqlx::Row::get::<String, _>(&row, 0),
        }
    }

    #[tokio::test]
    async fn every_connection_gets_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?synchronous=full&busy_timeout_ms=1234&pool_size=3",
            dir.path().join("t.db").display()
        );
        let store = SqliteTaskStore::open(&url, StoreConfig::default())
            .await
            .unwrap();
        assert_eq!(store.options().synchronous, Synchronous::Full);
        // Hold every reader connection at once, so each is a distinct connection.
        let mut held = vec![store.inner.writer.acquire().await.unwrap()];
        for _ in 0..3 {
            held.push(store.inner.reader.acquire().await.unwrap());
        }
        for conn in &mut held {
            assert_eq!(pragma(conn, "PRAGMA journal_mode").await, "wal");
            assert_eq!(pragma(conn, "PRAGMA synchronous").await, "2", "FULL");
            assert_eq!(pragma(conn, "PRAGMA busy_timeout").await, "1234");
            assert_eq!(pragma(conn, "PRAGMA foreign_keys").await, "1");
            assert_eq!(pragma(conn, "PRAGMA journal_size_limit").await, "67108864");
        }
        drop(held);
        let normal = format!("sqlite://{}", dir.path().join("n.db").display());
        let store = SqliteTaskStore::open(&normal, StoreConfig::default())
            .await
            .unwrap();
        let mut conn = store.inner.reader.acquire().await.unwrap();
        assert_eq!(pragma(&mut conn, "PRAGMA synchronous").await, "1", "NORMAL");
        assert_eq!(pragma(&mut conn, "PRAGMA busy_timeout").await, "5000");
    }

    #[tokio::test]
    async fn a_memory_database_outlives_its_pool_connections() {
        let store = SqliteTaskStore::open("sqlite::memory:", StoreConfig::default())
            .await
            .unwrap();
        let task = store.create(NewTask::new()).await.unwrap();
        // Without the keeper, closing the pool's only connection would drop the database.
        store.inner.writer.close().await;
        let mut conn = store.connect_options().connect().await.unwrap();
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE task_id = ?1")
            .bind(&task.task_id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(count, 1);
        // Two memory stores are separate databases.
        let other = SqliteTaskStore::open("sqlite::memory:", StoreConfig::default())
            .await
            .unwrap();
        assert!(other.get(&Scope::All, &task.task_id).await.is_err());
    }

    #[tokio::test]
    async fn background_tasks_stop_when_the_store_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let options = SqliteOptions::default().with_sweep_interval(Some(Duration::from_secs(1)));
        let store =
            SqliteTaskStore::open_with(path.to_str().unwrap(), StoreConfig::default(), options)
                .await
                .unwrap();
        let handles: Vec<AbortHandle> = store.background().to_vec();
        assert_eq!(handles.len(), 2, "a poller and a sweeper");
        assert!(handles.iter().all(|h| !h.is_finished()));
        let clone = store.clone();
        drop(store);
        tokio::task::yield_now().await;
        assert!(
            handles.iter().all(|h| !h.is_finished()),
            "a clone keeps them"
        );
        drop(clone);
        let stopped = async {
            while !handles.iter().all(AbortHandle::is_finished) {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), stopped)
            .await
            .expect("the background tasks stop");
    }
}
