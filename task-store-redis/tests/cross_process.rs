//! Waiting across processes: this test binary runs itself again as a child (selected by an
//! environment variable) that opens the same store, and the two talk over the child's stdout.
//! Both sides poll only once an hour, so only a pub/sub wake-up can end a wait in time.

mod support;

use conformance_tests::child::{Kid, say};
use serde_json::{Map, Value, json};
use std::time::Duration;
use support::{HANG, Scratch, fresh_prefix, open_at, redis_url, within_hang};
use task_core::{NewTask, Scope, StoreConfig, TaskOutcome, TaskStatus, TaskStore, TaskStoreExt};
use task_store_redis::RedisOptions;

/// Selects the child's role; unset in the parent.
const ROLE: &str = "TASK_STORE_REDIS_CHILD_ROLE";
const PREFIX: &str = "TASK_STORE_REDIS_CHILD_PREFIX";
const TASK: &str = "TASK_STORE_REDIS_CHILD_TASK";

fn push_only(prefix: &str) -> RedisOptions {
    RedisOptions::default()
        .with_key_prefix(prefix)
        .with_fallback_poll_interval(Duration::from_secs(3_600))
}

/// The child: `wait` waits for the task to end and reports it; `complete` completes it with a
/// result naming its process id.
async fn child(role: &str) {
    let var = |name| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let (prefix, task_id) = (var(PREFIX), var(TASK));
    let store = open_at(&redis_url(), StoreConfig::default(), push_only(&prefix)).await;
    let scope = Scope::owner("alice");
    match role {
        "wait" => {
            let task = store.get(&scope, &task_id).await.unwrap();
            say("waiting");
            let done = store.wait_for_update(&scope, &task_id, task.last_updated_at, None);
            let done = within_hang("the child's wait", done).await.unwrap();
            let outcome = store.get_result(&scope, &task_id).await.unwrap();
            say(&json!({ "status": done.status, "outcome": outcome }).to_string());
        }
        "complete" => {
            say("ready");
            // Give the parent's wait a head start; a change before it is seen by its read.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut result = Map::new();
            result.insert("by".into(), json!(std::process::id()));
            store.complete(&scope, &task_id, result).await.unwrap();
            say("completed");
        }
        "answer" => {
            say("ready");
            // Give the parent's wait a head start; a change before it is seen by its read.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let answer = json!({"action": "accept", "content": {"name": "Ada"}});
            let responses = Map::from_iter([("name".to_owned(), answer)]);
            store.respond(&scope, &task_id, responses).await.unwrap();
            say("answered");
            tokio::time::sleep(Duration::from_millis(300)).await;
            store.request_cancel(&scope, &task_id).await.unwrap();
            say("cancel requested");
        }
        other => panic!("unknown child role {other:?}"),
    }
}

/// Starts `test` again in a child process with `role`, on `prefix`, given `task_id`.
fn spawn_child(test: &str, role: &str, prefix: &str, task_id: &str) -> Kid {
    Kid::spawn(test, &[(ROLE, role), (PREFIX, prefix), (TASK, task_id)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_in_another_process_wakes() {
    if let Ok(role) = std::env::var(ROLE) {
        return child(&role).await;
    }
    let prefix = fresh_prefix();
    let store = Scratch::open_with(StoreConfig::default(), push_only(&prefix)).await;
    let task = store
        .create(NewTask::new().owned_by("alice"))
        .await
        .unwrap();
    let kid = spawn_child(
        "a_waiter_in_another_process_wakes",
        "wait",
        &prefix,
        &task.task_id,
    );
    assert_eq!(kid.next(HANG), "waiting");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut result = Map::new();
    result.insert("answer".into(), json!(42));
    store
        .complete(&Scope::owner("alice"), &task.task_id, result.clone())
        .await
        .unwrap();
    let report: Value = serde_json::from_str(&kid.next(HANG)).unwrap();
    assert_eq!(report["status"], json!(TaskStatus::Completed));
    assert_eq!(report["outcome"], json!(TaskOutcome::Result(result)));
    kid.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_in_another_process_wakes_this_waiter() {
    if let Ok(role) = std::env::var(ROLE) {
        return child(&role).await;
    }
    let prefix = fresh_prefix();
    let store = Scratch::open_with(StoreConfig::default(), push_only(&prefix)).await;
    let task = store
        .create(NewTask::new().owned_by("alice"))
        .await
        .unwrap();
    let kid = spawn_child(
        "a_worker_in_another_process_wakes_this_waiter",
        "complete",
        &prefix,
        &task.task_id,
    );
    assert_eq!(kid.next(HANG), "ready");
    let alice = Scope::owner("alice");
    let done = store.wait_until_terminal(&alice, &task.task_id, None);
    let done = within_hang("the parent's wait", done).await.unwrap();
    assert_eq!(
        done.status,
        TaskStatus::Completed,
        "woken by the other process"
    );
    assert_eq!(kid.next(HANG), "completed");
    let Some(TaskOutcome::Result(result)) = store.get_result(&alice, &task.task_id).await.unwrap()
    else {
        panic!("no result");
    };
    assert_eq!(
        result["by"],
        json!(kid.id()),
        "the child process completed it"
    );
    assert_ne!(kid.id(), std::process::id());
    kid.finish();
}

/// A worker waiting for its input answer, and then for a cancel request, is woken by both,
/// written by another process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_wakes_on_answers_and_cancel_requests_from_another_process() {
    if let Ok(role) = std::env::var(ROLE) {
        return child(&role).await;
    }
    let prefix = fresh_prefix();
    let store = Scratch::open_with(StoreConfig::default(), push_only(&prefix)).await;
    let task = store
        .create(NewTask::new().owned_by("alice"))
        .await
        .unwrap();
    let ask = json!({"method": "elicitation/create", "params": {"message": "Name?"}});
    let requests = Map::from_iter([("name".to_owned(), ask)]);
    let alice = Scope::owner("alice");
    store
        .request_input(&alice, &task.task_id, requests)
        .await
        .unwrap();
    let (process, lines) = spawn_child(
        "a_worker_wakes_on_answers_and_cancel_requests_from_another_process",
        "answer",
        &prefix,
        &task.task_id,
    );
    assert_eq!(next_line(&lines), "ready");
    let answered = store.wait_for_response(&alice, &task.task_id, "name", None);
    let record = within_hang("the worker's wait for its answer", answered)
        .await
        .unwrap();
    assert_eq!(
        record.input_responses["name"]["content"]["name"],
        json!("Ada"),
        "the answer reached the worker"
    );
    assert_eq!(record.task.status, TaskStatus::Working);
    assert_eq!(next_line(&lines), "answered");
    let cancelled = store.wait_for_response(&alice, &task.task_id, "never-asked", None);
    let record = within_hang("the worker's wait for a cancel request", cancelled)
        .await
        .unwrap();
    assert!(
        record.cancel_requested,
        "the cancel request reached the worker"
    );
    assert_eq!(
        record.task.status,
        TaskStatus::Working,
        "the worker settles it"
    );
    assert_eq!(next_line(&lines), "cancel requested");
    finish(process);
}
