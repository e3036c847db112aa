//! Values at the edges of what a record holds read back exactly.

mod common;

use common::TempStore;
use sqlx::ConnectOptions;
use task_core::backend::MAX_DURATION_MS;
use task_core::{NewTask, Scope, StoreConfig, TaskError, TaskStatus, TaskStore, TaskStoreExt};

#[tokio::test]
async fn extreme_ttls_and_intervals_round_trip() {
    let temp = TempStore::new(StoreConfig::default(), Default::default()).await;
    let new = NewTask::new()
        .with_ttl(u64::MAX)
        .with_poll_interval(u64::MAX);
    let task = temp.store.create(new).await.unwrap();
    assert_eq!(task.ttl, Some(MAX_DURATION_MS), "clamped by task-core");
    assert_eq!(task.poll_interval, Some(MAX_DURATION_MS));
    let record = temp
        .store
        .get_record(&Scope::All, &task.task_id)
        .await
        .unwrap();
    assert_eq!(record.task, task);
    assert_eq!(
        record.requested_ttl,
        Some(u64::MAX),
        "the request is kept as asked"
    );
    assert!(record.input_requests.is_empty());

    let zero = temp.store.create(NewTask::new().with_ttl(0)).await.unwrap();
    assert_eq!(zero.ttl, Some(0));
    assert!(
        temp.store.get(&Scope::All, &zero.task_id).await.is_err(),
        "a zero ttl expires at once"
    );
}

/// A change whose row cannot be read back (a value another program left that no task can
/// hold) is refused and leaves the row alone: a call never reports failure for a change that
/// landed.
#[tokio::test]
async fn a_change_whose_row_cannot_be_read_back_does_not_land() {
    let temp = TempStore::new(StoreConfig::default(), Default::default()).await;
    let store = &temp.store;
    let task = store.create(NewTask::new()).await.unwrap();
    let mut raw = store.connect_options().connect().await.unwrap();
    sqlx::query("UPDATE tasks SET poll_interval = -5 WHERE task_id = ?1")
        .bind(&task.task_id)
        .execute(&mut raw)
        .await
        .unwrap();
    let error = store
        .complete(&Scope::All, &task.task_id, serde_json::Map::new())
        .await
        .unwrap_err();
    assert!(matches!(error, TaskError::Backend { .. }), "{error}");
    let (status, updated, outcome): (String, i64, Option<String>) =
        sqlx::query_as("SELECT status, last_updated_at, outcome FROM tasks WHERE task_id = ?1")
            .bind(&task.task_id)
            .fetch_one(&mut raw)
            .await
            .unwrap();
    assert_eq!(status, "working", "the completion did not land");
    assert_eq!(updated, task.last_updated_at.timestamp_millis());
    assert_eq!(outcome, None);
    // Once the row is readable again, the same change lands.
    sqlx::query("UPDATE tasks SET poll_interval = 5 WHERE task_id = ?1")
        .bind(&task.task_id)
        .execute(&mut raw)
        .await
        .unwrap();
    let done = store
        .complete(&Scope::All, &task.task_id, serde_json::Map::new())
        .await
        .unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
}
