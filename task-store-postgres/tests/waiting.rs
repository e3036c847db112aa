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

/// Many writers at once: their announcements go out in shared batches, and each names its own
/// task and version, so every waiter of another store wakes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_waiter_wakes_when_many_writes_land_at_once() {
    const TASKS: usize = 64;
    let (a, b) = pair().await;
    let mut listener = sqlx::postgres::PgListener::connect(&a.url).await.unwrap();
    listener.listen(a.store.channel()).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        tasks.push(a.store.create(NewTask::new()).await.unwrap());
    }
    let waiting: Vec<_> = tasks
        .iter()
        .map(|task| {
            let store = a.store.clone();
            let id = task.task_id.clone();
            tokio::spawn(async move {
                store
                    .wait_until_terminal(&Scope::All, &id, Some(HANG))
                    .await
            })
        })
        .collect();
    let writes: Vec<_> = tasks
        .iter()
        .map(|task| {
            let store = b.clone();
            let id = task.task_id.clone();
            tokio::spawn(async move {
                store
                    .complete(&Scope::All, &id, serde_json::Map::new())
                    .await
            })
        })
        .collect();
    let mut expected = std::collections::BTreeSet::new();
    for write in writes {
        let done = write.await.unwrap().unwrap();
        let version = done.last_updated_at.timestamp_millis();
        expected.insert(format!("{version} {}", done.task_id));
    }
    for waiter in waiting {
        let woken = waiter.await.unwrap().unwrap();
        assert_eq!(woken.status, TaskStatus::Completed);
    }
    // Each completion was announced, whatever batch carried it.
    let mut heard = std::collections::BTreeSet::new();
    while heard.len() < TASKS {
        heard.insert(listener.recv().await.unwrap().payload().to_owned());
    }
    assert_eq!(heard, expected);
}

/// A change committed with no announcement (its process died right after the commit) still
/// ends the wait of another store's waiter: the store reads its waiters' versions now and then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_nobody_announced_still_wakes_a_waiter() {
    let (a, _b) = pair().await;
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
    // The store's pool runs on its schema; this statement announces nothing.
    sqlx::query(
        "UPDATE tasks SET status = 'failed', last_updated_at = last_updated_at + 1 \
         WHERE task_id = $1",
    )
    .bind(&task.task_id)
    .execute(a.store.pool())
    .await
    .unwrap();
    let woken = waiting.await.unwrap().unwrap();
    assert_eq!(woken.status, TaskStatus::Failed);
}
