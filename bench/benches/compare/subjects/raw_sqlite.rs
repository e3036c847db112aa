//! The SQLite limit: raw sqlx single statements on a database file with our SQLite store's
//! schema, connection settings and pools (one writer connection, a pool of readers). A get is
//! one primary-key `SELECT`; every transition one `UPDATE … RETURNING`; a create one `INSERT`;
//! a page one keyset `SELECT`.

use crate::workload::{Flip, OWNER, Op, PAGE_SIZE, Res, STATUS_MESSAGE, Subject, TTL_MS};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use task_core::StoreConfig;
use task_store_sqlite::SqliteTaskStore;

const INSERT: &str = include_str!("raw_sqlite/insert.sql");
const GET: &str = include_str!("raw_sqlite/get.sql");
const TRANSITION: &str = include_str!("raw_sqlite/transition.sql");
const PAGE: &str = include_str!("raw_sqlite/page.sql");
const DELETE: &str = include_str!("raw_sqlite/delete.sql");

pub struct RawSqlite {
    writer: SqlitePool,
    reader: SqlitePool,
    result: String,
}

impl RawSqlite {
    /// Lets our store create the file and its schema, then opens the same pools on it with the
    /// same connection options.
    pub async fn open(path: &Path) -> Res<Self> {
        let location = path.to_str().ok_or("database path is not UTF-8")?;
        let store = SqliteTaskStore::open(location, StoreConfig::default()).await?;
        let connect: SqliteConnectOptions = store.connect_options().clone();
        let readers = store.options().pool_size;
        store.close().await;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(connect.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(readers)
            .test_before_acquire(false)
            .connect_with(connect)
            .await?;
        let result = serde_json::to_string(&crate::workload::one_kb_result())?;
        Ok(RawSqlite {
            writer,
            reader,
            result,
        })
    }

    async fn transition(
        &self,
        id: &str,
        status: &str,
        message: Option<&str>,
        outcome: Option<&str>,
    ) -> Res<()> {
        let row = sqlx::query(TRANSITION)
            .bind(id)
            .bind(status)
            .bind(message)
            .bind(outcome)
            .bind(now_ms())
            .fetch_optional(&self.writer)
            .await?
            .ok_or("task not found or terminal")?;
        std::hint::black_box(decode(&row)?);
        Ok(())
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The columns of a task, decoded as a store would.
type RawTask = (
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
);

fn decode(row: &sqlx::sqlite::SqliteRow) -> Res<RawTask> {
    Ok((
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
        row.try_get(6)?,
    ))
}

impl Subject for RawSqlite {
    type Version = ();

    fn unsupported(&self, op: Op) -> Option<&'static str> {
        (op == Op::Wake).then_some("SQL has no notification")
    }

    async fn fill(&self, n: usize) -> Res<Option<Vec<String>>> {
        let mut tx = self.writer.begin().await?;
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let id = uuid::Uuid::new_v4().to_string();
            sqlx::query(INSERT)
                .bind(&id)
                .bind(OWNER)
                .bind(now_ms())
                .bind(TTL_MS as i64)
                .execute(&mut *tx)
                .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(Some(ids))
    }

    async fn create(&self) -> Res<String> {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(INSERT)
            .bind(&id)
            .bind(OWNER)
            .bind(now_ms())
            .bind(TTL_MS as i64)
            .execute(&self.writer)
            .await?;
        Ok(id)
    }

    async fn get(&self, id: &str) -> Res<()> {
        let row = sqlx::query(GET)
            .bind(id)
            .fetch_optional(&self.reader)
            .await?
            .ok_or("task not found")?;
        std::hint::black_box(decode(&row)?);
        Ok(())
    }

    async fn set_status(&self, id: &str, to: Flip) -> Res<()> {
        let status = match to {
            Flip::InputRequired => "input_required",
            Flip::Working => "working",
        };
        self.transition(id, status, Some(STATUS_MESSAGE), None)
            .await
    }

    async fn complete(&self, id: &str) -> Res<()> {
        self.transition(id, "completed", None, Some(&self.result))
            .await
    }

    async fn cancel(&self, id: &str) -> Res<()> {
        self.transition(id, "cancelled", None, None).await
    }

    async fn list_page(&self, cursor: Option<String>) -> Res<(usize, Option<String>)> {
        let (created, id) = match cursor.as_deref().and_then(|c| c.split_once(' ')) {
            Some((created, id)) => (created.parse::<i64>()?, id.to_owned()),
            None => (i64::MIN, String::new()),
        };
        let rows = sqlx::query(PAGE)
            .bind(OWNER)
            .bind(created)
            .bind(id)
            .bind(PAGE_SIZE as i64 + 1)
            .fetch_all(&self.reader)
            .await?;
        let mut tasks = rows.iter().map(decode).collect::<Res<Vec<_>>>()?;
        let next = if tasks.len() > PAGE_SIZE {
            tasks.truncate(PAGE_SIZE);
            tasks.last().map(|t| format!("{} {}", t.3, t.0))
        } else {
            None
        };
        Ok((tasks.len(), next))
    }

    async fn remove(&self, ids: &[String]) -> Res<()> {
        let mut tx = self.writer.begin().await?;
        for id in ids {
            sqlx::query(DELETE).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
