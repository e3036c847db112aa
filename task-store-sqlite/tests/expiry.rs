//! Expired tasks: invisible at once, reclaimed by the sweeper and by purge_expired.

mod common;

use common::{HANG, TempStore};
use sqlx::ConnectOptions;
use std::time::Duration;
use task_core::{NewTask, Scope, StoreConfig, TaskError, TaskStore};
use task_store_sqlite::SqliteOptions;

/// Rows in the file, expired ones included, read past the store.
async fn rows(temp: &TempStore) -> i64 {
    let mut conn = temp.store.connect_options().connect().await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM tasks")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn expired_rows_are_invisible_before_they_are_purged() {
    let options = SqliteOptions::default().with_sweep_interval(None);
    let temp = TempStore::new(StoreConfig::default(), options).await;
    let store = &temp.store;
    let keep = store.create(NewTask::new()).await.unwrap();
    let short = store.create(NewTask::new().with_ttl(200)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(matches!(
        store.get(&Scope::All, &short.task_id).await,
        Err(TaskError::NotFound { .. })
    ));
    assert_eq!(rows(&temp).await, 2, "the expired row is still stored");
    assert_eq!(store.purge_expired().await.unwrap(), 1);
    assert_eq!(rows(&temp).await, 1);
    assert_eq!(store.get(&Scope::All, &keep.task_id).await.unwrap(), keep);
}

#[tokio::test]
async fn purge_works_through_many_batches() {
    let options = SqliteOptions::default().with_sweep_interval(None);
    let temp = TempStore::new(StoreConfig::default(), options).await;
    for _ in 0..2_500 {
        temp.store
            .create(NewTask::new().with_ttl(100))
            .await
            .unwrap();
    }
    temp.store.create(NewTask::new()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(temp.store.purge_expired().await.unwrap(), 2_500);
    assert_eq!(rows(&temp).await, 1);
}

#[tokio::test]
async fn the_sweeper_reclaims_expired_rows_in_the_background() {
    let options = SqliteOptions::default().with_sweep_interval(Some(Duration::from_millis(50)));
    let temp = TempStore::new(StoreConfig::default(), options).await;
    for _ in 0..5 {
        temp.store
            .create(NewTask::new().with_ttl(100))
            .await
            .unwrap();
    }
    let keep = temp.store.create(NewTask::new()).await.unwrap();
    let swept = async {
        while rows(&temp).await != 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(HANG, swept)
        .await
        .expect("the sweeper deletes the expired rows");
    assert_eq!(
        temp.store.get(&Scope::All, &keep.task_id).await.unwrap(),
        keep
    );
}
