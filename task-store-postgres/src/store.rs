//! [`PostgresTaskStore`]: the [`TaskStore`] implementation.

use crate::batch::{Batcher, Change, NewRow};
use crate::error::{bad_row, deadline, driver};
use crate::options::{self, PostgresOptions};
use crate::schema::{MIGRATIONS, migrate};
use crate::sql;
use crate::wake;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use task_core::backend::{
    self, ChangePlan, MAX_RECORD_ATTEMPTS, PageQuery, RecordWriter, Waiters, time,
    update_by_record, validate,
};
use task_core::redact::redact_url;
use task_core::{
    LimitKind, NewTask, PageRequest, Scope, StoreConfig, Task, TaskChange, TaskError, TaskOutcome,
    TaskPage, TaskRecord, TaskStatus, TaskStore,
};
use task_store_sql::{Insert, Recovery, check_limit, list_query, rows, to_i64};
use tokio::task::AbortHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// Expired rows deleted per statement by a purge.
const PURGE_BATCH: i64 = 1_000;

/// A [`TaskStore`] in a PostgreSQL schema.
///
/// Cloning is cheap and shares the store. The background listener and sweeper stop when the
/// last clone is dropped.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), task_core::TaskError> {
/// use task_core::{NewTask, Scope, StoreConfig, TaskStore, TaskStoreExt};
/// use task_store_postgres::PostgresTaskStore;
///
/// let url = "postgres://postgres@127.0.0.1:5432/test?schema=my_app_tasks";
/// let store = PostgresTaskStore::open(url, StoreConfig::default()).await?;
/// let task = store.create(NewTask::new().owned_by("alice")).await?;
/// let alice = Scope::owner("alice");
/// store.complete(&alice, &task.task_id, serde_json::Map::new()).await?;
/// assert!(store.get(&alice, &task.task_id).await?.is_terminal());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresTaskStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: StoreConfig,
    options: PostgresOptions,
    /// The URL without its secrets, for Debug.
    shown_url: String,
    connect: PgConnectOptions,
    pool: PgPool,
    /// The listener's own connection.
    listener_pool: PgPool,
    /// The notifier's own connection.
    notifier_pool: PgPool,
    notifier: wake::Notifier,
    /// Creates without limits, run in batches.
    inserts: Batcher<NewRow>,
    /// Changes by the single statement, run in batches.
    changes: Batcher<Change>,
    /// The wake-up channel: `task_store.` and the schema.
    channel: String,
    waiters: Arc<Waiters>,
    background: Vec<AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.background {
            task.abort();
        }
    }
}

impl fmt::Debug for PostgresTaskStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresTaskStore")
            .field("url", &self.inner.shown_url)
            .field("options", &self.inner.options)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    time::now().timestamp_millis()
}

impl PostgresTaskStore {
    /// Opens the store at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, or
    /// `postgresql://…`) with the default [`PostgresOptions`]; store settings may come in the
    /// URL's query, such as `?schema=tenant_a`.
    pub async fn open(url: &str, config: StoreConfig) -> Result<Self, TaskError> {
        PostgresTaskStore::open_with(url, config, PostgresOptions::default()).await
    }

    /// Opens the store at `url` with `options`; settings in the URL override them.
    ///
    /// Creates the schema if it is missing and migrates it. Fails with a
    /// [`crate::PostgresError`] inside [`TaskError::Backend`] when the server does not answer
    /// within the call timeout, or the schema holds another application's tables, or a newer
    /// version of the store's.
    pub async fn open_with(
        url: &str,
        config: StoreConfig,
        options: PostgresOptions,
    ) -> Result<Self, TaskError> {
        let (connect, options) = options::parse(url, options)?;
        let connect = connect.options([("search_path", options.schema.as_str())]);
        let shown_url = redact_url(url);
        let within = options.call_timeout;
        let pool = options.pool_options().connect_lazy_with(connect.clone());
        let listener_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(within)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(connect.clone());
        // Announcements commit without waiting for the flush: a server crash that loses one
        // also drops every listener's connection, and a listener that listens again wakes
        // every waiter.
        let notifier_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(within)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(connect.clone().options([("synchronous_commit", "off")]));
        let schema = options.schema.clone();
        let channel = format!("task_store.{schema}");
        let opened = deadline(within, async {
            let mut conn = pool.acquire().await.map_err(driver)?;
            migrate(&mut conn, &schema, MIGRATIONS).await?;
            wake::connect(&listener_pool, &channel)
                .await
                .map_err(driver)
        })
        .await;
        let listener = match opened {
            Ok(listener) => listener,
            Err(error) => {
                pool.close().await;
                listener_pool.close().await;
                return Err(error);
            }
        };
        // The listener wakes every waiter once it listens again after losing its connection,
        // so a waiter can keep waiting through the outage rather than fail.
        let waiters = Arc::new(Waiters::through_outages());
        let mut background = Vec::new();
        let listening = wake::listen(
            listener_pool.clone(),
            channel.clone(),
            waiters.clone(),
            listener,
        );
        background.push(tokio::spawn(listening).abort_handle());
        // Not aborted with the store: it ends by itself once the announcements queued before
        // the store was dropped were sent.
        let (notifier, sending) =
            wake::Notifier::new(notifier_pool.clone(), channel.clone(), within);
        tokio::spawn(sending);
        // Their batch tasks are not aborted either: each ends once nothing waits.
        let inserts = Batcher::start(pool.clone(), within);
        let changes = Batcher::start(pool.clone(), within);
        let polling = wake::poll(pool.clone(), waiters.clone(), within);
        background.push(tokio::spawn(polling).abort_handle());
        if let Some(every) = options.sweep_interval {
            let sweeper = sweep(pool.clone(), schema.clone(), every, within);
            background.push(tokio::spawn(sweeper).abort_handle());
        }
        Ok(PostgresTaskStore {
            inner: Arc::new(Inner {
                config,
                options,
                shown_url,
                connect,
                pool,
                listener_pool,
                notifier_pool,
                notifier,
                inserts,
                changes,
                channel,
                waiters,
                background,
            }),
        })
    }

    /// Whether a store exists at `url`: its schema holds a task store's tables. Creates
    /// nothing, for tools that only read. Settings in the URL's query apply as in
    /// [`PostgresTaskStore::open`].
    pub async fn exists(url: &str) -> Result<bool, TaskError> {
        let (connect, options) = options::parse(url, PostgresOptions::default())?;
        deadline(options.call_timeout, async {
            let mut conn = connect.connect().await.map_err(driver)?;
            let exists: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_tables \
                 WHERE schemaname = $1 AND tablename = 'task_store_schema')",
            )
            .bind(&options.schema)
            .fetch_one(&mut conn)
            .await
            .map_err(driver)?;
            // Closing politely is a courtesy to the server; the answer stands either way.
            let _ = conn.close().await;
            Ok(exists)
        })
        .await
    }

    /// The settings the store runs with, URL settings included.
    pub fn options(&self) -> &PostgresOptions {
        &self.inner.options
    }

    /// The options every connection of the store opens with (its schema as `search_path`
    /// included), for tools that open their own connections on the same settings.
    pub fn connect_options(&self) -> &PgConnectOptions {
        &self.inner.connect
    }

    /// The connection pool, for tools that run their own statements on the store's schema.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// How many creates and changes so far shared their statement and commit with others
    /// (group commit); for tests.
    #[doc(hidden)]
    pub fn shared_writes(&self) -> u64 {
        self.inner.inserts.shared() + self.inner.changes.shared()
    }

    /// The channel on which every change is announced (`task_store.` and the schema).
    pub fn channel(&self) -> &str {
        &self.inner.channel
    }

    /// Stops the background tasks and closes every connection. Calls on this store (and its
    /// clones) fail afterwards.
    pub async fn close(&self) {
        // The announcements of the writes made so far go out first.
        let _ = tokio::time::timeout(self.inner.options.call_timeout, self.inner.notifier.flush())
            .await;
        for task in &self.inner.background {
            task.abort();
        }
        self.inner.listener_pool.close().await;
        self.inner.notifier_pool.close().await;
        self.inner.pool.close().await;
    }

    /// Queues the announcements of committed changes for the waiters of every store on the
    /// schema, sent at once by the notifier. A change whose announcement fails has committed
    /// all the same, so the call that made it succeeds: waiters elsewhere see it within
    /// [`wake::MISSED_POLL`].
    fn announce(&self, payloads: Vec<String>) {
        self.inner.notifier.announce(payloads);
    }

    /// Runs `call` within the call timeout.
    async fn within<T>(
        &self,
        call: impl Future<Output = Result<T, TaskError>>,
    ) -> Result<T, TaskError> {
        deadline(self.inner.options.call_timeout, call).await
    }

    async fn fetch_task(
        &self,
        query: &'static str,
        scope: &Scope,
        task_id: &str,
    ) -> Result<PgRow, TaskError> {
        validate::access(scope, task_id)?;
        self.within(async {
            sqlx::query(query)
                .bind(task_id)
                .bind(scope.owner_name())
                .bind(now_ms())
                .fetch_optional(&self.inner.pool)
                .await
                .map_err(driver)
        })
        .await?
        .ok_or_else(|| TaskError::not_found(task_id))
    }
}

/// A new record, within the call timeout: the upsert statement (alone, or in one statement with
/// concurrent callers' creates: `batch.rs`), or with limits a transaction that takes the
/// limit's advisory lock, checks the id and the limits, and inserts.
impl Insert for PostgresTaskStore {
    async fn insert(&self, record: &TaskRecord) -> Result<bool, TaskError> {
        self.within(self.insert_now(record)).await
    }
}

impl PostgresTaskStore {
    /// [`Insert::insert`] without the deadline.
    async fn insert_now(&self, record: &TaskRecord) -> Result<bool, TaskError> {
        let config = &self.inner.config;
        let row = NewRow::of(record)?;
        let per_owner = config.max_tasks_per_owner.zip(record.owner.as_deref());
        if config.max_tasks.is_none() && per_owner.is_none() {
            return self.inner.inserts.write(row).await;
        }
        let task = &record.task;
        let now = task.created_at.timestamp_millis();
        let schema = &self.inner.options.schema;
        // One lock per store for a total limit, else one per owner: creates that could push
        // the same count over its limit take turns, others do not wait.
        let lock = match (config.max_tasks, per_owner) {
            (Some(_), _) | (None, None) => format!("task-store limits {schema}"),
            (None, Some((_, owner))) => format!("task-store limits {schema} owner {owner}"),
        };
        let mut tx = self.inner.pool.begin().await.map_err(driver)?;
        sqlx::query(sql::LOCK)
            .bind(lock)
            .execute(&mut *tx)
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
        let changeable = sql::changeable();
        if let Some(max) = config.max_tasks {
            let live: i64 = sqlx::query_scalar(sql::COUNT_LIVE_TOTAL)
                .bind(&changeable)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(driver)?;
            check_limit(LimitKind::Total, max, live)?;
        }
        if let Some((max, owner)) = per_owner {
            let live: i64 = sqlx::query_scalar(sql::COUNT_LIVE_OWNER)
                .bind(owner)
                .bind(&changeable)
                .bind(now)
                .bind(to_i64(max))
                .fetch_one(&mut *tx)
                .await
                .map_err(driver)?;
            check_limit(LimitKind::PerOwner, max, live)?;
        }
        let done = row.query().execute(&mut *tx).await.map_err(driver)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        tx.commit().await.map_err(driver)?;
        Ok(true)
    }
}

/// The record path of the changes that need the whole record (input requests, answers,
/// cancel requests): a read, then `update_record.sql` as the compare-and-set.
impl RecordWriter for PostgresTaskStore {
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
        let outcome = record.outcome.as_ref().map(sql::to_json).transpose()?;
        let input_requests = sql::to_json(&record.input_requests)?;
        let input_keys_used = sql::to_json(&record.input_keys_used)?;
        let input_responses = sql::to_json(&record.input_responses)?;
        let changeable = sql::changeable();
        // Unfinished tasks are counted by status, so a write that ends the task needs nothing
        // more than its status.
        let rows = self
            .within(async {
                sqlx::query(sql::UPDATE_RECORD)
                    .bind(task.task_id.as_str())
                    .bind(expected.timestamp_millis())
                    .bind(&changeable)
                    .bind(scope.owner_name())
                    .bind(now_ms())
                    .bind(task.status.as_str())
                    .bind(task.status_message.as_deref().map(str::as_bytes))
                    .bind(outcome)
                    .bind(record.cancel_requested)
                    .bind(input_requests)
                    .bind(task.last_updated_at.timestamp_millis())
                    .bind(input_keys_used)
                    .bind(input_responses)
                    .fetch_all(&self.inner.pool)
                    .await
                    .map_err(driver)
            })
            .await?;
        let Some(row) = rows.first() else {
            return Ok(false);
        };
        let (task, owner) = rows::task_and_owner(row).map_err(bad_row)?;
        self.inner.waiters.wake_with(&task, owner);
        self.announce(vec![changed(&task)]);
        Ok(true)
    }
}

/// The announcement of a change that left `task`: `"<version> <task id>"`.
fn changed(task: &Task) -> String {
    format!(
        "{} {}",
        task.last_updated_at.timestamp_millis(),
        task.task_id
    )
}

/// Deletes expired rows in short batches; returns how many. With `lock`, each batch first
/// takes that advisory lock, and the purge stops when another session holds it.
async fn purge(pool: &PgPool, lock: Option<&str>) -> Result<u64, TaskError> {
    let now = now_ms();
    let mut purged = 0;
    loop {
        let mut tx = pool.begin().await.map_err(driver)?;
        if let Some(lock) = lock {
            let held: bool = sqlx::query_scalar(sql::TRY_LOCK)
                .bind(lock)
                .fetch_one(&mut *tx)
                .await
                .map_err(driver)?;
            if !held {
                return Ok(purged);
            }
        }
        let done = sqlx::query(sql::PURGE_BATCH)
            .bind(now)
            .bind(PURGE_BATCH)
            .execute(&mut *tx)
            .await
            .map_err(driver)?;
        tx.commit().await.map_err(driver)?;
        purged += done.rows_affected();
        if done.rows_affected() < PURGE_BATCH as u64 {
            return Ok(purged);
        }
    }
}

/// The sweeper: purges every `every` until the store aborts it. Any number of processes may
/// sweep one schema: each batch takes the schema's sweep lock first, so one sweeps at a time
/// and the others skip their turn.
async fn sweep(pool: PgPool, schema: String, every: Duration, within: Duration) {
    let lock = format!("task-store sweep {schema}");
    let start = Instant::now() + every;
    let mut interval = tokio::time::interval_at(start, every);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        // A failed sweep (the server away, say) is tried again on the next tick; reads never
        // see expired rows either way.
        let _ = deadline(within, purge(&pool, Some(&lock))).await;
    }
}

#[async_trait]
impl TaskStore for PostgresTaskStore {
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
        let plan = backend::plan(&change);
        let ChangePlan::Direct {
            ends,
            needs_no_pending_input,
        } = plan
        else {
            return update_by_record(self, scope, task_id, &change).await;
        };
        if self.inner.options.changes_through_records {
            return update_by_record(self, scope, task_id, &change).await;
        }
        let outcome = change.outcome.as_ref().map(sql::to_json).transpose()?;
        for _ in 0..MAX_RECORD_ATTEMPTS {
            // One statement, committed on its own or with concurrent callers' changes; its
            // wake-up is announced after the commit.
            let write = Change {
                task_id: task_id.to_owned(),
                owner: scope.owner_name().map(str::to_owned),
                now: time::now().timestamp_millis(),
                status: change.status.map(TaskStatus::as_str),
                status_message: change.status_message.clone().map(String::into_bytes),
                outcome: outcome.clone(),
                cancel_requested: change.cancel_requested,
                ends,
                needs_no_pending_input,
            };
            let row = self.within(self.inner.changes.write(write)).await?;
            let Some(row) = row else {
                // The decision was atomic; the record as it now is only names it.
                backend::refusal(self, &change, scope, task_id).await?;
                continue;
            };
            let (task, owner) = rows::task_and_owner(&row).map_err(bad_row)?;
            self.inner.waiters.wake_with(&task, owner);
            self.announce(vec![changed(&task)]);
            return Ok(task);
        }
        Err(backend::contended(crate::error::BACKEND, task_id))
    }

    async fn list(&self, scope: &Scope, page: PageRequest) -> Result<TaskPage, TaskError> {
        let page = PageQuery::new(scope, &page, &self.inner.config)?;
        let query = list_query(sql::LIST_ALL, sql::LIST_OWNER, &page, now_ms());
        let found = self
            .within(async { query.fetch_all(&self.inner.pool).await.map_err(driver) })
            .await?;
        rows::page(&page, &found).map_err(bad_row)
    }

    async fn delete(&self, scope: &Scope, task_id: &str) -> Result<bool, TaskError> {
        validate::access(scope, task_id)?;
        let rows = self
            .within(async {
                sqlx::query(sql::DELETE)
                    .bind(task_id)
                    .bind(scope.owner_name())
                    .bind(now_ms())
                    .fetch_all(&self.inner.pool)
                    .await
                    .map_err(driver)
            })
            .await?;
        let deleted = !rows.is_empty();
        if deleted {
            self.inner.waiters.wake_deleted(task_id);
            self.announce(vec![format!("gone {task_id}")]);
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
        self.inner.waiters.wake(task_id);
        // Waiters in other processes: the version is unknown here, so they read afresh.
        self.within(async {
            sqlx::query("SELECT pg_notify($1, $2)::text")
                .bind(&self.inner.channel)
                .bind(format!("notify {task_id}"))
                .execute(&self.inner.pool)
                .await
                .map_err(driver)
        })
        .await?;
        Ok(())
    }

    async fn purge_expired(&self) -> Result<u64, TaskError> {
        self.within(purge(&self.inner.pool, None)).await
    }

    async fn recover_stuck(&self, older_than: Duration, message: &str) -> Result<u64, TaskError> {
        let recovery = Recovery::new(message, older_than, &self.inner.config)?;
        let rows = self
            .within(async {
                sqlx::query(sql::RECOVER_STUCK)
                    .bind(sql::changeable())
                    .bind(recovery.cutoff_ms)
                    .bind(recovery.status.as_str())
                    .bind(message.as_bytes())
                    .bind(&recovery.outcome)
                    .bind(recovery.now_ms)
                    .fetch_all(&self.inner.pool)
                    .await
                    .map_err(driver)
            })
            .await?;
        let mut announced = Vec::with_capacity(rows.len());
        for row in &rows {
            match rows::task_and_owner(row) {
                Ok((task, owner)) => {
                    announced.push(changed(&task));
                    self.inner.waiters.wake_with(&task, owner);
                }
                Err(_) => {
                    if let Ok(id) = sqlx::Row::try_get::<&str, _>(row, 0) {
                        announced.push(format!("notify {id}"));
                        self.inner.waiters.wake(id);
                    }
                }
            }
        }
        self.announce(announced);
        Ok(rows.len() as u64)
    }
}
