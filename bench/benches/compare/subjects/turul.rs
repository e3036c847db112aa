//! `turul-mcp-task-storage` 0.4: its in-memory, SQLite and PostgreSQL stores, through its
//! `TaskStorage` trait.

use crate::workload::{Flip, OWNER, Op, PAGE_SIZE, Res, STATUS_MESSAGE, Subject, TTL_MS};
use chrono::Utc;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection, PgPool, SqlitePool};
use std::path::Path;
use std::time::Duration;
use turul_mcp_protocol::TaskStatus;
use turul_mcp_task_storage::{
    InMemoryTaskConfig, InMemoryTaskStorage, PostgresTaskConfig, PostgresTaskStorage,
    SqliteTaskConfig, SqliteTaskStorage, TaskOutcome, TaskRecord, TaskStorage,
};

/// A turul store. Its SQL stores are filled and emptied in bulk through a second connection to
/// their database (with its own settings left alone), since their one-commit-per-call writes
/// would take minutes to fill a million tasks.
pub struct Turul<T> {
    store: T,
    bulk: Option<Bulk>,
    result: Value,
}

/// The second connection to a turul SQL store's database.
enum Bulk {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Turul<InMemoryTaskStorage> {
    /// The in-memory store, without its default 10,000-task cap.
    pub fn memory() -> Self {
        let config = InMemoryTaskConfig {
            max_tasks: 0,
            default_page_size: PAGE_SIZE as u32,
        };
        Turul {
            store: InMemoryTaskStorage::with_config(config),
            bulk: None,
            result: Value::Object(crate::workload::one_kb_result()),
        }
    }
}

impl Turul<SqliteTaskStorage> {
    /// The SQLite store on a file, with its defaults except the task cap (whose check counts
    /// every row on each create).
    pub async fn sqlite(path: &Path) -> Res<Self> {
        let config = SqliteTaskConfig {
            database_path: path.to_path_buf(),
            max_tasks: 0,
            default_page_size: PAGE_SIZE as u32,
            verify_tables: true,
            create_tables: true,
            ..SqliteTaskConfig::default()
        };
        let store = SqliteTaskStorage::with_config(config).await?;
        let bulk = SqlitePool::connect_with(SqliteConnectOptions::new().filename(path)).await?;
        Ok(Turul {
            store,
            bulk: Some(Bulk::Sqlite(bulk)),
            result: Value::Object(crate::workload::one_kb_result()),
        })
    }
}

impl Turul<PostgresTaskStorage> {
    /// The PostgreSQL store in `schema` (made here) of the database at `url`, with its defaults
    /// except the task cap (whose check counts every row on each create). Its pool is made
    /// here exactly as its `with_config` makes it, so that [`Turul::pool`] can close it: the
    /// store's cleanup task would keep it open.
    pub async fn postgres(url: &str, schema: &str) -> Res<Self> {
        let connect: PgConnectOptions = url.parse()?;
        let mut admin = PgConnection::connect_with(&connect).await?;
        // The schema names are the benchmark's own.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await?;
        let _ = admin.close().await;
        let config = PostgresTaskConfig {
            max_tasks: 0,
            default_page_size: PAGE_SIZE as u32,
            verify_tables: true,
            create_tables: true,
            ..PostgresTaskConfig::default()
        };
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(config.min_connections)
            .acquire_timeout(Duration::from_secs(config.connection_timeout_secs))
            .idle_timeout(Some(Duration::from_secs(300)))
            .max_lifetime(Some(Duration::from_secs(1800)))
            .test_before_acquire(true)
            .connect_with(connect.options([("search_path", schema)]))
            .await?;
        let store = PostgresTaskStorage::with_pool(pool.clone(), config).await?;
        // Fills and empties go through the same pool: the bench's calls are not timed then.
        let bulk = pool;
        Ok(Turul {
            store,
            bulk: Some(Bulk::Postgres(bulk)),
            result: Value::Object(crate::workload::one_kb_result()),
        })
    }
}

impl<T> Turul<T> {
    /// The pool of a PostgreSQL store, to close once measured.
    pub fn pool(&self) -> Option<PgPool> {
        match &self.bulk {
            Some(Bulk::Postgres(pool)) => Some(pool.clone()),
            _ => None,
        }
    }
}

fn new_record() -> TaskRecord {
    let now = Utc::now().to_rfc3339();
    TaskRecord {
        task_id: InMemoryTaskStorage::generate_task_id(),
        session_id: Some(OWNER.to_owned()),
        status: TaskStatus::Working,
        status_message: None,
        created_at: now.clone(),
        last_updated_at: now,
        ttl: Some(TTL_MS as i64),
        poll_interval: Some(500),
        original_method: "tools/call".to_owned(),
        original_params: None,
        result: None,
        meta: None,
    }
}

const INSERT: &str = "INSERT INTO tasks (task_id, session_id, status, status_message, created_at, \
     last_updated_at, ttl, poll_interval, original_method, original_params, result, meta) \
     VALUES (?, ?, 'working', NULL, ?, ?, ?, ?, ?, NULL, NULL, NULL)";
const DELETE: &str = "DELETE FROM tasks WHERE task_id = ?";
const PG_FILL: &str = "INSERT INTO tasks (task_id, session_id, status, created_at, \
     last_updated_at, ttl, poll_interval, original_method) \
     SELECT id, $2, 'working', $3, $3, $4, $5, $6 FROM unnest($1::text[]) AS id";
const PG_DELETE: &str = "DELETE FROM tasks WHERE task_id = ANY ($1)";

impl<T: TaskStorage + 'static> Subject for Turul<T> {
    type Version = ();

    fn unsupported(&self, op: Op) -> Option<&'static str> {
        (op == Op::Wake).then_some("no wait or notify; callers poll")
    }

    async fn fill(&self, n: usize) -> Res<Option<Vec<String>>> {
        let Some(bulk) = &self.bulk else {
            return Ok(None);
        };
        let bulk = match bulk {
            Bulk::Sqlite(bulk) => bulk,
            Bulk::Postgres(bulk) => {
                let record = new_record();
                let ids: Vec<String> = (0..n)
                    .map(|_| InMemoryTaskStorage::generate_task_id())
                    .collect();
                sqlx::query(PG_FILL)
                    .bind(&ids)
                    .bind(&record.session_id)
                    .bind(&record.created_at)
                    .bind(record.ttl)
                    .bind(record.poll_interval.map(|p| p as i64))
                    .bind(&record.original_method)
                    .execute(bulk)
                    .await?;
                return Ok(Some(ids));
            }
        };
        let mut tx = bulk.begin().await?;
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let record = new_record();
            sqlx::query(INSERT)
                .bind(&record.task_id)
                .bind(&record.session_id)
                .bind(&record.created_at)
                .bind(&record.last_updated_at)
                .bind(record.ttl)
                .bind(record.poll_interval.map(|p| p as i64))
                .bind(&record.original_method)
                .execute(&mut *tx)
                .await?;
            ids.push(record.task_id);
        }
        tx.commit().await?;
        Ok(Some(ids))
    }

    async fn create(&self) -> Res<String> {
        Ok(self.store.create_task(new_record()).await?.task_id)
    }

    async fn get(&self, id: &str) -> Res<()> {
        match self.store.get_task(id).await? {
            Some(task) => {
                std::hint::black_box(task);
                Ok(())
            }
            None => Err(format!("task {id} not found").into()),
        }
    }

    async fn set_status(&self, id: &str, to: Flip) -> Res<()> {
        let status = match to {
            Flip::InputRequired => TaskStatus::InputRequired,
            Flip::Working => TaskStatus::Working,
        };
        self.store
            .update_task_status(id, status, Some(STATUS_MESSAGE.to_owned()))
            .await?;
        Ok(())
    }

    /// Two calls: turul has no single call that stores a result and ends the task.
    async fn complete(&self, id: &str) -> Res<()> {
        self.store
            .store_task_result(id, TaskOutcome::Success(self.result.clone()))
            .await?;
        self.store
            .update_task_status(id, TaskStatus::Completed, None)
            .await?;
        Ok(())
    }

    async fn cancel(&self, id: &str) -> Res<()> {
        self.store
            .update_task_status(id, TaskStatus::Cancelled, None)
            .await?;
        Ok(())
    }

    async fn list_page(&self, cursor: Option<String>) -> Res<(usize, Option<String>)> {
        let page = self
            .store
            .list_tasks_for_session(OWNER, cursor.as_deref(), Some(PAGE_SIZE as u32))
            .await?;
        Ok((page.tasks.len(), page.next_cursor))
    }

    async fn remove(&self, ids: &[String]) -> Res<()> {
        match &self.bulk {
            Some(Bulk::Postgres(bulk)) => {
                sqlx::query(PG_DELETE).bind(ids).execute(bulk).await?;
            }
            Some(Bulk::Sqlite(bulk)) => {
                let mut tx = bulk.begin().await?;
                for id in ids {
                    sqlx::query(DELETE).bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            None => {
                for id in ids {
                    self.store.delete_task(id).await?;
                }
            }
        }
        Ok(())
    }
}
