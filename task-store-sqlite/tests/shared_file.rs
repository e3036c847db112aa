//! Two stores in one process sharing one file behave as one store: the whole conformance
//! suite runs against a pair whose calls alternate between the two (so a waiter on one is
//! woken by a write through the other), and races between them have exactly one winner.

mod common;

use common::{HANG, TempStore, fast, url};
use conformance_tests::delegate::{Delegate, Delegating};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use task_core::{
    NewTask, Scope, StoreConfig, TaskError, TaskOutcome, TaskStatus, TaskStore, TaskStoreExt,
};
use task_store_sqlite::SqliteTaskStore;
use tokio::sync::Barrier;

/// Two stores on one file; each call goes to the next one in turn.
#[derive(Debug)]
struct Pair {
    first: Delegating<TempStore>,
    second: SqliteTaskStore,
    turn: AtomicUsize,
}

impl Pair {
    async fn new(config: StoreConfig) -> Delegating<Pair> {
        let first = TempStore::new(config.clone(), fast()).await;
        let second = SqliteTaskStore::open_with(&url(&first.path()), config, fast())
            .await
            .expect("a second store on the same file");
        Delegating(Pair {
            first,
            second,
            turn: AtomicUsize::new(0),
        })
    }

    fn next(&self) -> &SqliteTaskStore {
        if self.turn.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
            &self.first.store
        } else {
            &self.second
        }
    }
}

impl Delegate for Pair {
    fn inner(&self) -> &dyn TaskStore {
        self.next()
    }
}

async fn make_pair(config: StoreConfig) -> Arc<dyn TaskStore> {
    Arc::new(Pair::new(config).await)
}

conformance_tests::conformance_suite!(make_pair);

fn obj(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_on_one_store_against_complete_on_the_other() {
    let pair = Arc::new(Pair::new(StoreConfig::default()).await);
    let mut wins = [0, 0];
    for round in 0..200 {
        let task = pair.first.store.create(NewTask::new()).await.unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let result = obj(json!({ "round": round }));
        let cancel = {
            let (pair, id, barrier) = (pair.clone(), task.task_id.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                pair.first.store.cancel(&Scope::All, &id).await
            })
        };
        let complete = {
            let (pair, id, barrier, result) =
                (pair.clone(), task.task_id.clone(), barrier, result.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                pair.second.complete(&Scope::All, &id, result).await
            })
        };
        let (cancel, complete) = (cancel.await.unwrap(), complete.await.unwrap());
        for store in [&pair.first.store, &pair.second] {
            let record = store.get_record(&Scope::All, &task.task_id).await.unwrap();
            match (&cancel, &complete) {
                (Ok(_), Err(TaskError::InvalidTransition { .. })) => {
                    assert_eq!(record.task.status, TaskStatus::Cancelled, "round {round}");
                    assert_eq!(record.outcome, None, "round {round}");
                }
                (Err(TaskError::InvalidTransition { .. }), Ok(_)) => {
                    assert_eq!(record.task.status, TaskStatus::Completed, "round {round}");
                    let expected = Some(TaskOutcome::Result(result.clone()));
                    assert_eq!(record.outcome, expected, "round {round}");
                }
                other => panic!("round {round}: exactly one must win, got {other:?}"),
            }
        }
        wins[usize::from(complete.is_ok())] += 1;
    }
    eprintln!("cancel won {} rounds, complete won {}", wins[0], wins[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_waiter_on_one_store_wakes_on_a_write_through_the_other() {
    let pair = Pair::new(StoreConfig::default()).await;
    for _ in 0..20 {
        let task = pair.first.store.create(NewTask::new()).await.unwrap();
        let waiter = {
            let (store, id) = (pair.first.store.clone(), task.task_id.clone());
            // No timeout of its own: only a wake-up ends it, and the hang guard fails the test.
            let wait = async move { store.wait_until_terminal(&Scope::All, &id, None).await };
            tokio::spawn(tokio::time::timeout(HANG, wait))
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        pair.second
            .set_message(&Scope::All, &task.task_id, "half way")
            .await
            .unwrap();
        pair.second
            .fail(&Scope::All, &task.task_id, "broke")
            .await
            .unwrap();
        let done = waiter.await.unwrap().expect("the waiter hung").unwrap();
        assert_eq!(done.status, TaskStatus::Failed);
        assert_eq!(done.status_message.as_deref(), Some("broke"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delete_through_one_store_ends_waits_on_the_other() {
    let pair = Pair::new(StoreConfig::default()).await;
    let task = pair.first.store.create(NewTask::new()).await.unwrap();
    let waiter = {
        let (store, id) = (pair.first.store.clone(), task.task_id.clone());
        tokio::spawn(async move { store.wait_until_terminal(&Scope::All, &id, None).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        pair.second
            .delete(&Scope::All, &task.task_id)
            .await
            .unwrap()
    );
    let ended = tokio::time::timeout(HANG, waiter)
        .await
        .expect("the wait ends")
        .unwrap();
    assert!(
        matches!(ended, Err(TaskError::NotFound { .. })),
        "{ended:?}"
    );
}
