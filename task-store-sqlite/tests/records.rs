//! Values at the edges of what a record holds read back exactly.

mod common;

use common::TempStore;
use task_core::helpers::MAX_DURATION_MS;
use task_core::{NewTask, Scope, StoreConfig, TaskStore};

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
