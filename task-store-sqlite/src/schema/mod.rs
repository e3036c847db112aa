//! The schema: embedded, versioned migrations, applied when a store opens.
//!
//! The file's `PRAGMA user_version` is its schema version and `PRAGMA application_id` marks it
//! as a task store. Opening runs, in one `BEGIN IMMEDIATE` transaction (so two processes opening
//! the same new file cannot both migrate it), every migration newer than the file. A file of a
//! newer version, or a database that is not a task store, is refused with a clear error.

use crate::error::{SqliteError, driver};
use sqlx::{AssertSqlSafe, Connection, SqliteConnection};
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
        sql: include_str!("0002_unfinished.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("0003_input.sql"),
    },
    Migration {
        version: 4,
        sql: include_str!("0004_finished.sql"),
    },
];

/// `PRAGMA application_id` of a task store: "MCPT".
pub(crate) const APPLICATION_ID: i64 = 0x4d43_5054;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 4;

const _: () = assert!(MIGRATIONS[MIGRATIONS.len() - 1].version == SCHEMA_VERSION);

/// Brings the database to the newest version of `migrations`, or explains why it cannot.
pub(crate) async fn migrate(
    conn: &mut SqliteConnection,
    migrations: &[Migration],
) -> Result<(), TaskError> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(driver)?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await
        .map_err(driver)?;
    let application_id: i64 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut *tx)
        .await
        .map_err(driver)?;
    if version == 0 {
        let objects: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_schema")
            .fetch_one(&mut *tx)
            .await
            .map_err(driver)?;
        if objects > 0 || application_id != 0 {
            return Err(SqliteError::ForeignDatabase(format!(
                "it holds {objects} schema objects but no task store schema version"
            ))
            .into());
        }
    } else if application_id != APPLICATION_ID {
        return Err(SqliteError::ForeignDatabase(format!(
            "its application id is {application_id:#x}, a task store's is {APPLICATION_ID:#x}"
        ))
        .into());
    }
    let pending = Migration::pending(migrations, version).map_err(SqliteError::from)?;
    for migration in pending {
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .map_err(driver)?;
        // PRAGMA takes no bound parameters; the version is an integer we own.
        let set_version = format!("PRAGMA user_version = {}", migration.version);
        sqlx::raw_sql(AssertSqlSafe(set_version))
            .execute(&mut *tx)
            .await
            .map_err(driver)?;
    }
    tx.commit().await.map_err(driver)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::ConnectOptions;
    use sqlx::sqlite::SqliteConnectOptions;

    async fn fresh_file(dir: &tempfile::TempDir) -> SqliteConnection {
        SqliteConnectOptions::new()
            .filename(dir.path().join("t.db"))
            .create_if_missing(true)
            .connect()
            .await
            .unwrap()
    }

    async fn user_version(conn: &mut SqliteConnection) -> i64 {
        sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(conn)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn applies_only_the_missing_migrations_and_refuses_newer_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = fresh_file(&dir).await;
        migrate(&mut conn, MIGRATIONS).await.unwrap();
        assert_eq!(user_version(&mut conn).await, SCHEMA_VERSION);

        // A later release adds a column: only that step runs on a file of this version.
        let newer = SCHEMA_VERSION + 1;
        let next = Migration {
            version: newer,
            sql: "ALTER TABLE tasks ADD COLUMN note TEXT",
        };
        let later: Vec<Migration> = MIGRATIONS.iter().copied().chain([next]).collect();
        migrate(&mut conn, &later).await.unwrap();
        assert_eq!(user_version(&mut conn).await, newer);
        migrate(&mut conn, &later).await.unwrap(); // nothing left to do
        let notes: i64 = sqlx::query_scalar("SELECT count(note) FROM tasks")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(notes, 0);

        // This build knows versions up to SCHEMA_VERSION: the newer file is refused and left
        // alone.
        let error = migrate(&mut conn, MIGRATIONS).await.unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains(&format!("version {newer}"))
                && text.contains(&format!("version {SCHEMA_VERSION}")),
            "{text}"
        );
        assert_eq!(user_version(&mut conn).await, newer);
    }

    #[tokio::test]
    async fn a_version_1_file_gets_the_unfinished_index_and_input_columns_and_keeps_its_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = fresh_file(&dir).await;
        migrate(&mut conn, &MIGRATIONS[..1]).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO tasks (task_id, status, created_at, last_updated_at, revision) \
             VALUES ('t', 'working', 1, 1, '2025-11-25'); \
             INSERT INTO tasks \
                 (task_id, status, created_at, last_updated_at, revision, input_requests) \
             VALUES ('i', 'input_required', 2, 2, '2025-11-25', '{\"b\": {}, \"a\": {}}')",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        migrate(&mut conn, MIGRATIONS).await.unwrap();
        assert_eq!(user_version(&mut conn).await, SCHEMA_VERSION);
        let (tasks, indexes): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM tasks), \
             (SELECT count(*) FROM sqlite_schema WHERE name = 'tasks_unfinished')",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!((tasks, indexes), (2, 1));
        // The keys of requests held pending count as used, so none is asked again.
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT input_keys_used, input_responses FROM tasks ORDER BY created_at",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let expected = [("[]", "{}"), (r#"["a","b"]"#, "{}")];
        let expected: Vec<(String, String)> = expected.map(|(u, r)| (u.into(), r.into())).into();
        assert_eq!(rows, expected);
    }

    #[tokio::test]
    async fn a_version_3_file_marks_its_finished_tasks_and_counts_only_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = fresh_file(&dir).await;
        migrate(&mut conn, &MIGRATIONS[..3]).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO tasks (task_id, owner, status, created_at, last_updated_at, revision) \
             VALUES ('w', 'a', 'working', 1, 1, '2025-11-25'), \
                    ('i', 'a', 'input_required', 2, 2, '2025-11-25'), \
                    ('c', 'a', 'completed', 3, 3, '2025-11-25'), \
                    ('f', 'b', 'failed', 4, 4, '2025-11-25'), \
                    ('x', NULL, 'cancelled', 5, 5, '2025-11-25')",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        migrate(&mut conn, MIGRATIONS).await.unwrap();
        assert_eq!(user_version(&mut conn).await, SCHEMA_VERSION);
        let flags: Vec<(String, i64)> =
            sqlx::query_as("SELECT task_id, finished FROM tasks ORDER BY created_at")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let expected = [("w", 0), ("i", 0), ("c", 1), ("f", 1), ("x", 1)];
        let expected: Vec<(String, i64)> = expected.map(|(id, f)| (id.into(), f)).into();
        assert_eq!(flags, expected);
        let (old, new): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM sqlite_schema WHERE name = 'tasks_by_status'), \
             (SELECT count(*) FROM sqlite_schema WHERE name = 'tasks_unfinished')",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!((old, new), (0, 1));
        let owner: i64 = sqlx::query_scalar(crate::sql::COUNT_LIVE_OWNER)
            .bind("a")
            .bind(0)
            .bind(10)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let total: i64 = sqlx::query_scalar(crate::sql::COUNT_LIVE_TOTAL)
            .bind(0)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!((owner, total), (2, 2));
    }

    #[tokio::test]
    async fn a_failed_migration_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = fresh_file(&dir).await;
        let broken = [
            MIGRATIONS[0],
            Migration {
                version: 2,
                sql: "CREATE TABLE extra (x); THIS IS NOT SQL",
            },
        ];
        assert!(migrate(&mut conn, &broken).await.is_err());
        assert_eq!(user_version(&mut conn).await, 0);
        let objects: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_schema")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(objects, 0, "the whole upgrade rolled back");
    }
}
