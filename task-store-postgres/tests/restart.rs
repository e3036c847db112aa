//! The server restarted under load (`pg_ctl restart -m fast` on a private cluster this test
//! starts): calls fail with a retryable error rather than hang, the same store objects work
//! again once the server is back, nothing acknowledged is lost, and a waiter still wakes.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::{Cluster, HANG, open_at};
use task_core::{NewTask, Scope, StoreConfig, TaskError, TaskStatus, TaskStore, TaskStoreExt};
use task_store_postgres::{PostgresError, PostgresOptions, PostgresTaskStore};

fn options() -> PostgresOptions {
    PostgresOptions::default()
        .with_schema("restart")
        .with_call_timeout(Duration::from_secs(2))
}

/// Creates and completes tasks until told to stop; returns the ids whose completion was
/// acknowledged and the errors seen.
async fn load(store: PostgresTaskStore, stop: Arc<AtomicBool>) -> (Vec<String>, Vec<TaskError>) {
    let mut done = Vec::new();
    let mut errors = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let call = async {
            let task = store.create(NewTask::new()).await?;
            store
                .complete(&Scope::All, &task.task_id, serde_json::Map::new())
                .await?;
            Ok::<_, TaskError>(task.task_id)
        };
        match tokio::time::timeout(HANG, call).await.expect("a call hung") {
            Ok(id) => done.push(id),
            Err(error) => {
                errors.push(error);
                // The server is away: no need to spin.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    (done, errors)
}

/// Repeats `call` until it succeeds, as long as it fails with retryable errors.
async fn once_back<T>(what: &str, mut call: impl AsyncFnMut() -> Result<T, TaskError>) -> T {
    let retrying = async {
        loop {
            match call().await {
                Ok(done) => return done,
                Err(error) => {
                    assert!(error.is_retryable(), "{what}: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    };
    tokio::time::timeout(HANG, retrying).await.expect(what)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_fails_calls_retryably_and_the_store_recovers() {
    let cluster = Cluster::start();
    let url = cluster.url();
    let store = open_at(&url, StoreConfig::default(), options()).await;
    let other = open_at(&url, StoreConfig::default(), options()).await;

    // A waiter of this store, on a task another store will complete after the restart.
    let watched = store.create(NewTask::new()).await.unwrap();
    let waiting = {
        let store = store.clone();
        let id = watched.task_id.clone();
        tokio::spawn(async move {
            store
                .wait_until_terminal(&Scope::All, &id, Some(HANG))
                .await
        })
    };

    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = (0..4)
        .map(|_| tokio::spawn(load(store.clone(), stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::task::block_in_place(|| cluster.restart());
    // Calls succeed again on the same store objects. A store's first call on a connection
    // that was in use when the server went away fails, as the calls under way did.
    once_back("the store recovers", async || {
        store.create(NewTask::new()).await
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);

    let mut acknowledged = Vec::new();
    let mut errors = Vec::new();
    for loader in loaders {
        let (done, failed) = loader.await.unwrap();
        acknowledged.extend(done);
        errors.extend(failed);
    }
    assert!(!acknowledged.is_empty(), "the load ran");
    for error in &errors {
        assert!(
            error.is_retryable(),
            "a failure during the restart is retryable: {error}"
        );
        let source =
            std::error::Error::source(error).and_then(|s| s.downcast_ref::<PostgresError>());
        assert!(source.is_some(), "typed as a PostgresError: {error:?}");
    }
    once_back("the other store recovers", async || {
        other.get(&Scope::All, &watched.task_id).await
    })
    .await;
    for id in &acknowledged {
        let task = other.get(&Scope::All, id).await.unwrap();
        assert_eq!(task.status, TaskStatus::Completed, "{id} was acknowledged");
    }

    // The waiter's store listens again: a change by the other store wakes it.
    other
        .complete(&Scope::All, &watched.task_id, serde_json::Map::new())
        .await
        .unwrap();
    let woken = waiting.await.unwrap().unwrap();
    assert_eq!(woken.status, TaskStatus::Completed);
    eprintln!(
        "{} tasks acknowledged, {} calls failed during the restart",
        acknowledged.len(),
        errors.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_fails_calls_within_the_call_timeout() {
    let cluster = Cluster::start();
    let store = open_at(&cluster.url(), StoreConfig::default(), options()).await;
    let task = store.create(NewTask::new()).await.unwrap();
    drop(cluster);
    let error = tokio::time::timeout(HANG, store.get(&Scope::All, &task.task_id))
        .await
        .expect("the call ends")
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
}
