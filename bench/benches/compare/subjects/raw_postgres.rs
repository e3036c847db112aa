//! The PostgreSQL limit: raw sqlx single statements in a schema made by our PostgreSQL store,
//! with its connection settings and pool size. A get is one primary-key `SELECT`; every
//! transition one `UPDATE … RETURNING` (no wake-up notification); a create one `INSERT`; a
//! page one keyset `SELECT`.

use crate::workload::{Flip, OWNER, Op, PAGE_SIZE, Res, STATUS_MESSAGE, Subject, TTL_MS};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use task_core::StoreConfig;
use task_store_postgres::{PostgresOptions, PostgresTaskStore};

const INSERT: &str = include_str!("raw_postgres/insert.sql");
const FILL: &str = include_str!("raw_postgres/fill.sql");
const GET: &str = include_str!("raw_postgres/get.sql");
const TRANSITION: &str = include_str!("raw_postgres/transition.sql");
const PAGE: &str = include_str!("raw_postgres/page.sql");
const DELETE: &str = include_str!("raw_postgres/delete.sql");

pub struct RawPostgres {
    pool: PgPool,
    result: String,
}

impl RawPostgres {
    /// Lets our store create `schema` in the database at `url`, then opens a pool of the
    /// store's size on it with the same connection options.
    pub async fn open(url: &str, schema: &str) -> Res<Self> {
        let options = PostgresOptions::default()
            .with_schema(schema)
            .with_sweep_interval(None);
        let store = PostgresTaskStore::open_with(url, StoreConfig::default(), options).await?;
        let connect = store.connect_options().clone();
        let size = store.options().pool_size;
        store.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(size)
            .connect_with(connect)
            .await?;
        let result = serde_json::to_string(&crate::workload::one_kb_result())?;
        Ok(RawPostgres { pool, result })
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
            .bind(message.map(str::as_bytes))
            .bind(outcome)
            .bind(now_ms())
            .fetch_optional(&self.pool)
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
    Option<Vec<u8>>,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
);

fn decode(row: &PgRow) -> Res<RawTask> {
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

impl Subject for RawPostgres {
    type Version = ();

    fn unsupported(&self, op: Op) -> Option<&'static str> {
        (op == Op::Wake).then_some("plain statements send no notification")
    }

    async fn fill(&self, n: usize) -> Res<Option<Vec<String>>> {
        let ids: Vec<String> = (0..n).map(|_| uuid::Uuid::new_v4().to_string()).collect();
        sqlx::query(FILL)
            .bind(&ids)
            .bind(OWNER)
            .bind(now_ms())
            .bind(TTL_MS as i64)
            .execute(&self.pool)
            .await?;
        Ok(Some(ids))
    }

    async fn create(&self) -> Res<String> {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(INSERT)
            .bind(&id)
            .bind(OWNER)
            .bind(now_ms())
            .bind(TTL_MS as i64)
            .execute(&self.pool)
            .await?;
        Ok(id)
    }

    async fn get(&self, id: &str) -> Res<()> {
        let row = sqlx::query(GET)
            .bind(id)
            .fetch_optional(&self.pool)
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
            .fetch_all(&self.pool)
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
        sqlx::query(DELETE).bind(ids).execute(&self.pool).await?;
        Ok(())
    }
}
