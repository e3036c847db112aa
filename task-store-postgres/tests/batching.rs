//! Group commit: concurrent callers' creates and changes share statements and commits, and
//! each is still decided alone, exactly as it would be by itself.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use support::Scratch;
use task_core::{NewTask, Scope, StoreConfig, TaskError, TaskStatus, TaskStore, TaskStoreExt};
use tokio::sync::Barrier;

const CALLERS: usize = 64;

/// Runs `call(0)` to `call(n - 1)` in tasks of their own, released together; their results in
/// that order.
async fn all_at_once<T, F>(n: usize, call: impl Fn(usize) -> F) -> Vec<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let start = Arc::new(Barrier::new(n));
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let (start, call) = (start.clone(), call(i));
            tokio::spawn(async move {
                start.wait().await;
                call.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for call in calls {
        results.push(call.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_share_commits_and_each_is_stored() {
    let scratch = Arc::new(Scratch::open(StoreConfig::default()).await);
    let creates = all_at_once(CALLERS, |i| {
        let scratch = scratch.clone();
        let new = NewTask::new()
            .owned_by(format!("owner-{}", i % 4))
            .with_message(format!("task {i}"));
        async move { scratch.0.store.create(new).await }
    })
    .await;
    let mut ids = HashSet::new();
    for created in creates {
        let task = created.unwrap();
        let stored = scratch.get(&Scope::All, &task.task_id).await.unwrap();
        assert_eq!(stored, task, "stored as returned");
        ids.insert(task.task_id);
    }
    assert_eq!(ids.len(), CALLERS, "every create made its own task");
    assert!(
        scratch.0.store.shared_writes() > 0,
        "{CALLERS} concurrent creates never shared a commit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_creates_of_one_id_store_it_once() {
    let scratch = Arc::new(Scratch::open(StoreConfig::default()).await);
    // Pairs of callers create the same id for different owners.
    let creates = all_at_once(CALLERS, |i| {
        let scratch = scratch.clone();
        let owner = format!("caller-{i}");
        let new = NewTask::new()
            .with_id(format!("pair-{}", i / 2))
            .owned_by(&owner);
        async move { (owner, scratch.0.store.create(new).await) }
    })
    .await;
    let mut created = 0;
    for create in creates {
        match create {
            (owner, Ok(task)) => {
                created += 1;
                let mine = Scope::owner(owner);
                let stored = scratch.get(&mine, &task.task_id).await.unwrap();
                assert_eq!(stored, task, "the winner's task");
            }
            (_, Err(error)) => assert!(
                matches!(error, TaskError::AlreadyExists { .. }),
                "the other caller is told the id is taken: {error}"
            ),
        }
    }
    assert_eq!(created, CALLERS / 2, "one create per id wins");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_share_commits_and_one_ending_wins_per_task() {
    let scratch = Arc::new(Scratch::open(StoreConfig::default()).await);
    let tasks = CALLERS / 4;
    let mut ids = Vec::new();
    for i in 0..tasks {
        let owner = format!("owner-{i}");
        ids.push(
            scratch
                .create(NewTask::new().owned_by(owner))
                .await
                .unwrap(),
        );
    }
    // Per task: its owner completes it, its owner cancels it, another owner tries to cancel
    // it, and everyone-scope moves it to input_required: four callers, all at once.
    let calls = all_at_once(tasks * 4, |call| {
        let (scratch, i, role) = (scratch.clone(), call / 4, call % 4);
        let id = ids[i].task_id.clone();
        let owner = Scope::owner(format!("owner-{i}"));
        let stranger = Scope::owner(format!("owner-{}", i + 1));
        async move {
            let store = &scratch.0.store;
            let result = match role {
                0 => store.complete(&owner, &id, serde_json::Map::new()).await,
                1 => store.cancel(&owner, &id).await,
                2 => store.cancel(&stranger, &id).await,
                _ => {
                    let to = TaskStatus::InputRequired;
                    store.set_status(&Scope::All, &id, to, Some("asked")).await
                }
            };
            (role, id, result)
        }
    })
    .await;
    let mut endings = HashMap::new();
    for (role, id, result) in calls {
        match role {
            0 | 1 => {
                if let Ok(task) = result {
                    assert!(task.is_terminal());
                    let earlier = endings.insert(id.clone(), task);
                    assert!(earlier.is_none(), "{id} ended twice");
                }
            }
            2 => assert!(result.is_err(), "another owner's cancel of {id} applied"),
            _ => {
                if let Ok(task) = result {
                    assert_eq!(task.status, TaskStatus::InputRequired);
                }
            }
        }
    }
    assert_eq!(endings.len(), tasks, "every task ended exactly once");
    for (id, ended) in endings {
        let stored = scratch.get(&Scope::All, &id).await.unwrap();
        assert_eq!(stored, ended, "{id} is as its winning change left it");
    }
    assert!(
        scratch.0.store.shared_writes() > 0,
        "{} concurrent changes never shared a commit",
        tasks * 4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_completes_each_keep_their_own_result() {
    let scratch = Arc::new(Scratch::open(StoreConfig::default()).await);
    let mut ids = Vec::new();
    for _ in 0..CALLERS {
        ids.push(scratch.create(NewTask::new()).await.unwrap().task_id);
    }
    let completes = all_at_once(CALLERS, |i| {
        let (scratch, id) = (scratch.clone(), ids[i].clone());
        let mut result = serde_json::Map::new();
        result.insert("caller".into(), i.into());
        result.insert("padding".into(), "x".repeat(1024).into());
        async move { scratch.0.store.complete(&Scope::All, &id, result).await }
    })
    .await;
    for completed in completes {
        assert_eq!(completed.unwrap().status, TaskStatus::Completed);
    }
    for (i, id) in ids.iter().enumerate() {
        let outcome = scratch.get_result(&Scope::All, id).await.unwrap();
        let text = serde_json::to_string(&outcome).unwrap();
        assert!(text.contains(&format!("\"caller\":{i}")), "{id}: {text}");
    }
    assert!(
        scratch.0.store.shared_writes() > 0,
        "{CALLERS} concurrent completes never shared a commit"
    );
}
