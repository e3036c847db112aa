//! The PostgreSQL limit: raw sqlx single statements ([`RawSql`]) in a schema made by our
//! PostgreSQL store, with its connection settings and pool options (size, and no ping before
//! a connection in steady use is handed out); no wake-up notification. A
//! fill is one `INSERT … SELECT … unnest`, a removal one `DELETE … = ANY`.

use super::raw_sql::{RawDb, RawSql, now_ms};
use crate::workload::{OWNER, Res, TTL_MS};
use sqlx::Postgres;
use sqlx::postgres::PgPool;
use task_core::StoreConfig;
use task_store_postgres::{PostgresOptions, PostgresTaskStore};

pub type RawPostgres = RawSql<Postgres>;

impl RawPostgres {
    /// Lets our store create `schema` in the database at `url`, then opens a pool on it with
    /// the store's pool and connection options.
    pub async fn open(url: &str, schema: &str) -> Res<Self> {
        let options = PostgresOptions::default()
            .with_schema(schema)
            .with_sweep_interval(None);
        let store = PostgresTaskStore::open_with(url, StoreConfig::default(), options).await?;
        let connect = store.connect_options().clone();
        let pool_options = store.options().pool_options();
        store.close().await;
        let pool = pool_options.connect_with(connect).await?;
        RawSql::new(pool.clone(), pool)
    }
}

impl RawDb for Postgres {
    const INSERT: &'static str = include_str!("raw_postgres/insert.sql");
    const GET: &'static str = include_str!("raw_postgres/get.sql");
    const TRANSITION: &'static str = include_str!("raw_postgres/transition.sql");
    const PAGE: &'static str = include_str!("raw_postgres/page.sql");
    const NO_WAKE: &'static str = "plain statements send no notification";

    type Message<'a> = &'a [u8];
    type StoredMessage = Option<Vec<u8>>;

    fn message(message: &str) -> &[u8] {
        message.as_bytes()
    }

    async fn fill(writer: &PgPool, n: usize) -> Res<Vec<String>> {
        let ids: Vec<String> = (0..n).map(|_| uuid::Uuid::new_v4().to_string()).collect();
        sqlx::query(include_str!("raw_postgres/fill.sql"))
            .bind(&ids)
            .bind(OWNER)
            .bind(now_ms())
            .bind(TTL_MS as i64)
            .execute(writer)
            .await?;
        Ok(ids)
    }

    async fn remove(writer: &PgPool, ids: &[String]) -> Res<()> {
        sqlx::query(include_str!("raw_postgres/delete.sql"))
            .bind(ids)
            .execute(writer)
            .await?;
        Ok(())
    }
}
