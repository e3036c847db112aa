//! The SQLite limit: raw sqlx single statements ([`RawSql`]) on a database file with our
//! SQLite store's schema, connection settings and pools (one writer connection, a pool of
//! readers); SQL has no notification. A fill and a removal are one transaction of single
//! `INSERT`s or `DELETE`s.

use super::raw_sql::{RawDb, RawSql, now_ms};
use crate::workload::{OWNER, Res, TTL_MS};
use sqlx::Sqlite;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use std::path::Path;

const INSERT: &str = include_str!("raw_sqlite/insert.sql");

pub type RawSqlite = RawSql<Sqlite>;

impl RawSqlite {
    /// Lets our store create the file and its schema, then opens the same pools on it with the
    /// same connection options.
    pub async fn open(path: &Path) -> Res<Self> {
        let store = crate::open_sqlite(path).await?;
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
        RawSql::new(writer, reader)
    }
}

impl RawDb for Sqlite {
    const INSERT: &'static str = INSERT;
    const GET: &'static str = include_str!("raw_sqlite/get.sql");
    const TRANSITION: &'static str = include_str!("raw_sqlite/transition.sql");
    const PAGE: &'static str = include_str!("raw_sqlite/page.sql");
    const NO_WAKE: &'static str = "SQL has no notification";

    type Message<'a> = &'a str;
    type StoredMessage = Option<String>;

    fn message(message: &str) -> &str {
        message
    }

    async fn fill(writer: &SqlitePool, n: usize) -> Res<Vec<String>> {
        let mut tx = writer.begin().await?;
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
        Ok(ids)
    }

    async fn remove(writer: &SqlitePool, ids: &[String]) -> Res<()> {
        let mut tx = writer.begin().await?;
        for id in ids {
            sqlx::query(include_str!("raw_sqlite/delete.sql"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
