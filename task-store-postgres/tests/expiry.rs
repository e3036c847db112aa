//! Expired tasks leave the table with no one listing or purging: the background sweeper
//! deletes them, and while another session holds the schema's sweep lock it leaves them.

mod support;

use std::time::Duration;
use support::{HANG, Scratch, database_url, options, raw};
use task_core::{NewTask, StoreConfig, TaskStore};

async fn rows(schema: &str) -> i64 {
    let mut conn = raw(&database_url()).await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}.tasks"
    )))
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

async fn until_rows(schema: &str, expected: i64) {
    let waited = async {
        while rows(schema).await != expected {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(HANG, waited)
        .await
        .unwrap_or_else(|_| panic!("{schema} never held {expected} rows"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_deletes_expired_rows_one_process_at_a_time() {
    let every = Duration::from_millis(50);
    let sweeping = options().with_sweep_interval(Some(every));
    let store = Scratch::open_with(StoreConfig::default(), sweeping).await;
    let schema = store.0.schema().to_owned();
    store.create(NewTask::new()).await.unwrap();

    // Another session holds the sweep lock: the sweeper leaves the expired rows alone.
    // The store's own sweep may hold it for a moment, so take it with a blocking lock.
    let mut holder = raw(&database_url()).await;
    sqlx::raw_sql("BEGIN").execute(&mut holder).await.unwrap();
    let locking = sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("task-store sweep {schema}"))
        .execute(&mut holder);
    tokio::time::timeout(HANG, locking)
        .await
        .expect("the sweep lock was never free")
        .unwrap();
    for _ in 0..3 {
        store.create(NewTask::new().with_ttl(1)).await.unwrap();
    }
    assert_eq!(rows(&schema).await, 4);
    tokio::time::sleep(every * 5).await;
    assert_eq!(rows(&schema).await, 4, "no sweep while the lock is held");

    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    until_rows(&schema, 1).await;
}

#[tokio::test]
async fn purge_deletes_only_expired_tasks() {
    let store = Scratch::open(StoreConfig::default()).await;
    let schema = store.0.schema().to_owned();
    let kept = store.create(NewTask::new()).await.unwrap();
    for _ in 0..5 {
        store.create(NewTask::new().with_ttl(1)).await.unwrap();
    }
    let purged = async {
        let mut total = 0;
        while total < 5 {
            total += store.purge_expired().await.unwrap();
        }
        total
    };
    assert_eq!(tokio::time::timeout(HANG, purged).await.unwrap(), 5);
    assert_eq!(rows(&schema).await, 1);
    assert!(
        store
            .get(&task_core::Scope::All, &kept.task_id)
            .await
            .is_ok()
    );
}
