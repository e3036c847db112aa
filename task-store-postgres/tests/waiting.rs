//! Wake-ups through `LISTEN`/`NOTIFY` between two stores on one schema (as two processes
//! would be), and after the listening connection is cut off.

mod support;

use std::time::Duration;
use support::{HANG, Scratch, database_url, open_at, options, raw};
use task_core::{NewTask, Scope, StoreConfig, TaskStatus, TaskStore, TaskStoreExt};
use task_store_postgres::PostgresTaskStore;

async fn pair() -> (support::Scratch, PostgresTaskStore) {
    let scratch = Scratch::open_with(StoreConfig::default(), options()).await;
    let schema = scratch.0.schema().to_owned();
    let options = task_store_postgres::PostgresOptions::default().with_schema(schema);
    let other = open_at(&database_url(), StoreConfig::default(), options).await;
    (scratch.0, other)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_another_store_wakes_a_waiter() {
    let (a, b) = pair().await;
    let task = a.store.create(NewTask::new()).await.unwrap();
    let waiting = {
        let store = a.store.clone();
        let id = task.task_id.clone();
        tokio::spawn(async move {
            store
                .wait_for_update(&Scope::All, &id, task.last_updated_at, Some(HANG))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    b.set_message(&Scope::All, &task.task_id, "half way")
        .await
        .unwrap();
    let woken = waiting.await.unwrap().unwrap();
    assert_eq!(woken.status_message.as_deref(), Some("half way"));
    let deleted = {
        let store = a.store.clone();
        let id = task.task_id.clone();
        let seen = woken.last_updated_at;
        tokio::spawn(async move {
            store
                .wait_for_update(&Scope::All, &id, seen, Some(HANG))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(b.delete(&Scope::All, &task.task_id).await.unwrap());
    assert!(matches!(
        deleted.await.unwrap(),
        Err(task_core::TaskError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_wakes_after_its_listener_is_cut_off() {
    let (a, b) = pair().await;
    let channel = a.store.channel().to_owned();
    let task = a.store.create(NewTask::new()).await.unwrap();
    let waiting = {
        let store = a.store.clone();
        let id = task.task_id.clone();
        tokio::spawn(async move {
            store
                .wait_until_terminal(&Scope::All, &id, Some(HANG))
                .await
        })
    };
    // End every session that listens on the store's channel: a's and b's listeners.
    let mut admin = raw(&database_url()).await;
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE $1",
    )
    .bind(format!("%LISTEN \"{channel}\"%"))
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!ended.is_empty(), "the listeners were found");
    // Completed while a's listener may still be away: if its notification is lost, the
    // listener's reconnection makes the waiter read the task afresh.
    b.complete(&Scope::All, &task.task_id, serde_json::Map::new())
        .await
        .unwrap();
    let woken = waiting.await.unwrap().unwrap();
    assert_eq!(woken.status, TaskStatus::Completed);
}
