//! Every statement's query plan, from `EXPLAIN` on the real schema: each finds its rows through
//! the index meant for it, and listing reads in index order with no sort.
//!
//! The table holds 20,000 rows of 100 owners, most of them finished, with fresh statistics
//! (`ANALYZE`), so the planner chooses as it would on a store in use. The session also turns
//! sequential scans off (`enable_seqscan = off`): a statement that still scans the table has
//! no index it can use.

mod support;

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{Postgres, Row};
use support::Scratch;
use task_core::StoreConfig;
use task_store_postgres::STATEMENTS;

type Binder = fn(Query<'static, Postgres, PgArguments>) -> Query<'static, Postgres, PgArguments>;

/// Typical arguments for each statement, by name.
fn arguments(name: &str) -> Binder {
    match name {
        "insert" => |q| {
            q.bind("task-7")
                .bind(Some("owner-7"))
                .bind("working")
                .bind(Option::<Vec<u8>>::None)
                .bind(1_i64)
                .bind(1_i64)
                .bind(Some(10_i64))
                .bind(Some(11_i64))
                .bind(Option::<i64>::None)
                .bind(Option::<i64>::None)
                .bind("2025-11-25")
                .bind(Option::<String>::None)
                .bind("{}")
        },
        "select_task" | "select_record" | "select_outcome" => {
            |q| q.bind("task-7").bind(Some("owner-7")).bind(1_i64)
        }
        "update" => |q| {
            q.bind("task-7")
                .bind(vec!["working", "input_required"])
                .bind(Some("owner-7"))
                .bind(1_i64)
                .bind(Some("completed"))
                .bind(Option::<Vec<u8>>::None)
                .bind(Some("{}"))
                .bind(false)
                .bind(true)
                .bind(false)
        },
        "update_record" => |q| {
            q.bind("task-7")
                .bind(7_i64)
                .bind(vec!["working", "input_required"])
                .bind(Some("owner-7"))
                .bind(1_i64)
                .bind("completed")
                .bind(Option::<Vec<u8>>::None)
                .bind(Some("{}"))
                .bind(false)
                .bind("{}")
                .bind(8_i64)
                .bind("[]")
                .bind("{}")
        },
        "insert_batch" => |q| {
            q.bind(vec!["task-7", "task-new"])
                .bind(vec![Some("owner-7"), None])
                .bind(vec!["working", "working"])
                .bind(vec![Option::<Vec<u8>>::None, None])
                .bind(vec![1_i64, 1])
                .bind(vec![1_i64, 1])
                .bind(vec![Some(10_i64), None])
                .bind(vec![Some(11_i64), None])
                .bind(vec![Option::<i64>::None, None])
                .bind(vec![Option::<i64>::None, None])
                .bind(vec!["2025-11-25", "2025-11-25"])
                .bind(vec![Option::<String>::None, None])
                .bind(vec!["{}", "{}"])
        },
        "update_batch" => |q| {
            q.bind(vec!["task-7", "task-8"])
                .bind(vec![Some("owner-7"), None])
                .bind(vec![1_i64, 1])
                .bind(vec![Some("completed"), Some("cancelled")])
                .bind(vec![Option::<Vec<u8>>::None, None])
                .bind(vec![Some("{}"), None])
                .bind(vec![false, false])
                .bind(vec![true, true])
                .bind(vec![false, false])
                .bind(vec!["working", "input_required"])
        },
        "delete" => |q| q.bind("task-7").bind(Some("owner-7")).bind(1_i64),
        "list_all" => |q| q.bind(1_i64).bind("task-7").bind(1_i64).bind(21_i64),
        "list_owner" => |q| {
            q.bind("owner-7")
                .bind(1_i64)
                .bind("task-7")
                .bind(1_i64)
                .bind(21_i64)
        },
        "exists_live" => |q| q.bind("task-7").bind(1_i64),
        "count_live_owner" => |q| {
            q.bind("owner-7")
                .bind(vec!["working", "input_required"])
                .bind(1_i64)
                .bind(100_i64)
        },
        "count_live_total" => |q| q.bind(vec!["working", "input_required"]).bind(1_i64),
        "lock" | "try_lock" => |q| q.bind("lock"),
        "purge_batch" => |q| q.bind(1_i64).bind(1000_i64),
        "recover_stuck" => |q| {
            q.bind(vec!["working", "input_required"])
                .bind(1_i64)
                .bind("failed")
                .bind(b"lost".to_vec())
                .bind("{}")
                .bind(1_i64)
        },
        "notify" => |q| q.bind("chan").bind(vec!["1 task-7"]),
        "select_versions" => |q| q.bind(vec!["task-7", "task-8"]).bind(1_i64),
        other => panic!("no arguments for statement {other}"),
    }
}

/// The index each statement must use, or `None` for statements that read no table.
fn expected(name: &str) -> Option<&'static str> {
    match name {
        "insert" | "insert_batch" | "select_task" | "select_record" | "select_outcome"
        | "update" | "update_batch" | "update_record" | "delete" | "exists_live"
        | "select_versions" => Some("tasks_pkey"),
        "list_all" => Some("tasks_by_creation"),
        "list_owner" => Some("tasks_by_owner"),
        "count_live_owner" | "count_live_total" | "recover_stuck" => Some("tasks_by_status"),
        "purge_batch" => Some("tasks_by_expiry"),
        "lock" | "try_lock" | "notify" => None,
        other => panic!("no expected plan for statement {other}"),
    }
}

#[tokio::test]
async fn every_statement_uses_its_index() {
    let scratch = Scratch::open(StoreConfig::default()).await;
    let mut conn = scratch.0.store.pool().acquire().await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO tasks (task_id, owner, status, created_at, last_updated_at, ttl, \
         expires_at, revision) \
         SELECT 'task-' || i, 'owner-' || (i % 100), \
                CASE WHEN i % 10 = 0 THEN 'working' ELSE 'completed' END, \
                i, i, CASE WHEN i % 2 = 0 THEN 1000 END, CASE WHEN i % 2 = 0 THEN i + 1000 END, \
                '2025-11-25' \
         FROM generate_series(1, 20000) AS i; \
         ANALYZE tasks; \
         SET enable_seqscan = off",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    for (name, statement) in STATEMENTS {
        let explain = format!("EXPLAIN {statement}");
        let query = arguments(name)(sqlx::query(sqlx::AssertSqlSafe(explain)));
        let rows = query.fetch_all(&mut *conn).await.unwrap();
        let plan: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
        let plan = plan.join("\n");
        assert!(
            !plan.contains("Seq Scan"),
            "{name} scans the table:\n{plan}"
        );
        if let Some(index) = expected(name) {
            assert!(plan.contains(index), "{name} does not use {index}:\n{plan}");
        }
        if name.starts_with("list") {
            assert!(!plan.contains("Sort"), "{name} sorts:\n{plan}");
        }
        println!("{name}:\n{plan}\n");
    }
}
