//! A worker process that dies mid-task leaves its tasks running; `recover_stuck`, run by another
//! process after a restart, fails them with a clear message, and the clients waiting on them
//! (which never poll here) are woken by the recovery's publish.

mod support;

use conformance_tests::child::{Kid, say};
use serde_json::Map;
use std::sync::Arc;
use std::time::Duration;
use support::{HANG, Scratch, fresh_prefix, open_at, redis_url, within_hang};
use task_core::{NewTask, Scope, StoreConfig, TaskChange, TaskStatus, TaskStore, TaskStoreExt};
use task_store_redis::RedisOptions;

const ROLE: &str = "TASK_STORE_REDIS_RECOVERY_ROLE";
const PREFIX: &str = "TASK_STORE_REDIS_RECOVERY_PREFIX";
const TASKS: &str = "TASK_STORE_REDIS_RECOVERY_TASKS";
/// Tasks idle this long count as stuck.
const STUCK_AFTER: Duration = Duration::from_millis(1_000);
const MESSAGE: &str = "worker lost: the server restarted";
const TEST: &str = "a_killed_workers_tasks_are_failed_by_another_process_and_their_clients_wake";

/// Waiters that only a publish can wake.
fn push_only(prefix: &str) -> RedisOptions {
    RedisOptions::default()
        .with_key_prefix(prefix)
        .with_fallback_poll_interval(Duration::from_secs(3_600))
}

/// The children: `worker` moves the three tasks it is given (finishing the last) and then
/// works until it is killed; `recoverer` runs the start-up recovery once.
async fn child(role: &str) {
    let var = |name| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let store = open_at(
        &redis_url(),
        StoreConfig::default(),
        push_only(&var(PREFIX)),
    )
    .await;
    let all = Scope::All;
    match role {
        "worker" => {
            let tasks = var(TASKS);
            let ids: Vec<&str> = tasks.split(',').collect();
            store
                .set_message(&all, ids[0], "step 1 of 3")
                .await
                .unwrap();
            let input = Some("which file?");
            store
                .set_status(&all, ids[1], TaskStatus::InputRequired, input)
                .await
                .unwrap();
            store.complete(&all, ids[2], Map::new()).await.unwrap();
            say("busy");
            tokio::time::sleep(HANG * 10).await;
        }
        "recoverer" => {
            let recovered = store.recover_stuck(STUCK_AFTER, MESSAGE).await.unwrap();
            say(&format!("recovered {recovered}"));
        }
        other => panic!("unknown child role {other:?}"),
    }
}

/// Starts this test again in a child process with `role`, on `prefix`, given `tasks`.
fn spawn_child(role: &str, prefix: &str, tasks: &str) -> Kid {
    Kid::spawn(TEST, &[(ROLE, role), (PREFIX, prefix), (TASKS, tasks)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_tasks_are_failed_by_another_process_and_their_clients_wake() {
    if let Ok(role) = std::env::var(ROLE) {
        return child(&role).await;
    }
    let prefix = fresh_prefix();
    let store = Arc::new(Scratch::open_with(StoreConfig::default(), push_only(&prefix)).await);
    let client = Scope::owner("client");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let task = store
            .create(NewTask::new().owned_by("client"))
            .await
            .unwrap();
        ids.push(task.task_id);
    }

    let mut worker = spawn_child("worker", &prefix, &ids.join(","));
    assert_eq!(worker.next(HANG), "busy");
    let waiters: Vec<_> = ids[..2]
        .iter()
        .map(|id| {
            let (store, id, client) = (store.clone(), id.clone(), client.clone());
            tokio::spawn(async move { store.wait_until_terminal(&client, &id, None).await })
        })
        .collect();
    worker.kill();
    let left = store.get(&Scope::All, &ids[1]).await.unwrap();
    assert_eq!(
        left.status,
        TaskStatus::InputRequired,
        "where the worker left it"
    );

    tokio::time::sleep(STUCK_AFTER + Duration::from_millis(500)).await;
    let fresh = store
        .create(NewTask::new().owned_by("client"))
        .await
        .unwrap();
    let recoverer = spawn_child("recoverer", &prefix, "");
    assert_eq!(recoverer.next(HANG), "recovered 2");
    recoverer.finish();

    for waiter in waiters {
        let task = within_hang("a client's wait", waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(task.status, TaskStatus::Failed, "{}", task.task_id);
        assert_eq!(task.status_message.as_deref(), Some(MESSAGE));
        let outcome = store.get_result(&client, &task.task_id).await.unwrap();
        assert_eq!(outcome, TaskChange::fail(MESSAGE).outcome);
    }
    let done = store.get(&Scope::All, &ids[2]).await.unwrap();
    assert_eq!(done.status, TaskStatus::Completed, "a finished task stays");
    let fresh = store.get(&Scope::All, &fresh.task_id).await.unwrap();
    assert_eq!(fresh.status, TaskStatus::Working, "live work is left alone");
    let again = store.recover_stuck(STUCK_AFTER, MESSAGE).await.unwrap();
    assert_eq!(again, 0, "nothing is left to recover");
}
