//! The schema: embedded, versioned migrations, applied when a store opens.
//!
//! A store lives in one PostgreSQL schema. Its table `task_store_schema` marks the schema as a
//! task store's and holds the schema version. Opening runs, in one transaction under an
//! advisory lock (so processes opening one new schema at once do not both migrate it), every
//! migration newer than the schema. A schema of a newer version, or one holding tables that
//! are not a task store's, is refused with a clear error and left as it is.

use crate::error::{PostgresError, driver};
use sqlx::{Connection, PgConnection};
use task_core::TaskError;
pub(crate) use task_store_sql::Migration;

/// Every migration, oldest first. Append new ones; never edit a released one.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("0001_tasks.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("0002_input.sql"),
    },
];

/// What `task_store_schema.application` holds in a task store's schema.
pub(crate) const APPLICATION: &str = "mcp-task-store";

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 2;

const _: () = assert!(MIGRATIONS[MIGRATIONS.len() - 1].version == SCHEMA_VERSION);

/// Brings `schema` to the newest version of `migrations`, or explains why it cannot. The
/// connection's `search_path` must be `schema`.
pub(crate) async fn migrate(
    conn: &mut PgConnection,
    schema: &str,
    migrations: &[Migration],
) -> Result<(), TaskError> {
    let mut tx = conn.begin().await.map_err(driver)?;
    // A refusal rolls back at once: the connection must not sit in a transaction that holds
    // locks on the schema until the pool next uses it.
    match upgrade(&mut tx, schema, migrations).await {
        Ok(()) => tx.commit().await.map_err(driver),
        Err(error) => {
            let _ = tx.rollback().await;
            Err(error)
        }
    }
}

async fn upgrade(
    tx: &mut PgConnection,
    schema: &str,
    migrations: &[Migration],
) -> Result<(), TaskError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("task-store migrate {schema}"))
        .execute(&mut *tx)
        .await
        .map_err(driver)?;
    // The name is checked (PostgresOptions::validate): it needs no quoting.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(&mut *tx)
    .await
    .map_err(driver)?;
    let marked: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_tables \
         WHERE schemaname = $1 AND tablename = 'task_store_schema')",
    )
    .bind(schema)
    .fetch_one(&mut *tx)
    .await
    .map_err(driver)?;
    let version = if marked {
        let rows: Vec<(String, i32)> =
            sqlx::query_as("SELECT application, version FROM task_store_schema")
                .fetch_all(&mut *tx)
                .await
                .map_err(driver)?;
        match rows.as_slice() {
            [(application, version)] if application == APPLICATION => i64::from(*version),
            _ => {
                return Err(PostgresError::ForeignSchema(format!(
                    "its task_store_schema table does not name {APPLICATION}"
                ))
                .into());
            }
        }
    } else {
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'p', 'f')",
        )
        .bind(schema)
        .fetch_one(&mut *tx)
        .await
        .map_err(driver)?;
        if tables > 0 {
            return Err(PostgresError::ForeignSchema(format!(
                "schema {schema} holds {tables} tables but no task store schema version"
            ))
            .into());
        }
        0
    };
    let pending = Migration::pending(migrations, version).map_err(PostgresError::from)?;
    for migration in pending {
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .map_err(driver)?;
        let to = i32::try_from(migration.version).unwrap_or(i32::MAX);
        sqlx::query("DELETE FROM task_store_schema")
            .execute(&mut *tx)
            .await
            .map_err(driver)?;
        sqlx::query("INSERT INTO task_store_schema (application, version) VALUES ($1, $2)")
            .bind(APPLICATION)
            .bind(to)
            .execute(&mut *tx)
            .await
            .map_err(driver)?;
    }
    Ok(())
}
