//! The statements the store runs, each in its own `.sql` file beside this one. Their rows read
//! back through [`task_store_sql::rows`].
//!
//! Every read filters `expires_at IS NULL OR expires_at > :now`, so a task is invisible the
//! moment it expires, swept or not. The query plans are listed in the crate docs and checked by
//! the tests below.

use task_core::backend::CHANGEABLE;

pub(crate) const INSERT: &str = include_str!("insert.sql");
pub(crate) const SELECT_TASK: &str = include_str!("select_task.sql");
pub(crate) const SELECT_RECORD: &str = include_str!("select_record.sql");
pub(crate) const SELECT_OUTCOME: &str = include_str!("select_outcome.sql");
pub(crate) const UPDATE: &str = include_str!("update.sql");
pub(crate) const END: &str = include_str!("end.sql");
pub(crate) const REPLACE: &str = include_str!("replace.sql");
pub(crate) const DELETE: &str = include_str!("delete.sql");
pub(crate) const LIST_ALL: &str = include_str!("list_all.sql");
pub(crate) const LIST_OWNER: &str = include_str!("list_owner.sql");
pub(crate) const EXISTS_LIVE: &str = include_str!("exists_live.sql");
pub(crate) const COUNT_LIVE_OWNER: &str = include_str!("count_live_owner.sql");
pub(crate) const COUNT_LIVE_TOTAL: &str = include_str!("count_live_total.sql");
pub(crate) const PURGE_BATCH: &str = include_str!("purge_batch.sql");
pub(crate) const RECOVER_STUCK: &str = include_str!("recover_stuck.sql");
pub(crate) const VERSIONS: &str = include_str!("versions.sql");

// update.sql, end.sql and recover_stuck.sql bind the changeable statuses as two parameters.
const _: () = assert!(CHANGEABLE.len() == 2);

/// The changeable statuses, as bound into the compare-and-set statements.
pub(crate) fn changeable() -> (&'static str, &'static str) {
    (CHANGEABLE[0].as_str(), CHANGEABLE[1].as_str())
}

/// A value as stored in a JSON column.
pub(crate) use task_store_sql::rows::to_json;

#[cfg(test)]
mod plans {
    //! The plans in the module docs, checked against the real schema.
    use super::*;
    use crate::schema::{MIGRATIONS, migrate};
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{AssertSqlSafe, ConnectOptions, Row, SqliteConnection};

    async fn plan(conn: &mut SqliteConnection, sql: &'static str, args: usize) -> String {
        let mut query = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
        for _ in 0..args {
            query = query.bind(Option::<i64>::None);
        }
        let rows = query.fetch_all(conn).await.unwrap();
        let lines: Vec<String> = rows.iter().map(|r| r.get::<String, _>(3)).collect();
        lines.join("\n")
    }

    #[tokio::test]
    async fn every_statement_uses_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = SqliteConnectOptions::new()
            .filename(dir.path().join("plans.db"))
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        migrate(&mut conn, MIGRATIONS).await.unwrap();
        let by_id = "SEARCH tasks USING INDEX sqlite_autoindex_tasks_1 (task_id=?)";
        for (sql, args) in [
            (SELECT_TASK, 3),
            (SELECT_RECORD, 3),
            (SELECT_OUTCOME, 3),
            (UPDATE, 10),
            (END, 10),
            (REPLACE, 12),
            (DELETE, 3),
        ] {
            let plan = plan(&mut conn, sql, args).await;
            assert_eq!(plan, by_id, "{sql}");
        }
        let all = plan(&mut conn, LIST_ALL, 4).await;
        assert_eq!(
            all,
            "SEARCH tasks USING INDEX tasks_by_creation ((created_at,task_id)>(?,?))"
        );
        let owner = plan(&mut conn, LIST_OWNER, 5).await;
        assert_eq!(
            owner,
            "SEARCH tasks USING INDEX tasks_by_owner (owner=? AND (created_at,task_id)>(?,?))"
        );
        let count = plan(&mut conn, COUNT_LIVE_OWNER, 3).await;
        let unfinished = "SEARCH tasks USING COVERING INDEX tasks_unfinished (owner=?)";
        assert!(count.contains(unfinished), "{count}");
        assert!(!count.contains("SCAN tasks"), "{count}");
        let expiry = "SEARCH tasks USING COVERING INDEX tasks_by_expiry (expires_at<?)";
        let purge = plan(&mut conn, PURGE_BATCH, 2).await;
        assert!(purge.contains(expiry), "{purge}");
        assert!(!purge.contains("SCAN tasks"), "{purge}");
        let total = plan(&mut conn, COUNT_LIVE_TOTAL, 1).await;
        assert_eq!(total, "SCAN tasks USING COVERING INDEX tasks_unfinished");
        let exists = plan(&mut conn, EXISTS_LIVE, 2).await;
        assert!(exists.contains(by_id), "{exists}");
        let versions = plan(&mut conn, VERSIONS, 1).await;
        assert!(versions.contains(by_id), "{versions}");
    }
}
