//! Two processes on one schema: this test binary runs itself again as a child (selected by an
//! environment variable), which opens the same store; the two talk over the child's stdin and
//! stdout. Waiters never poll, so only a `NOTIFY` from the other process can end a wait.

mod support;

use conformance_tests::child::{Kid, await_go, say};
use serde_json::{Map, Value, json};
use support::{HANG, Scratch, database_url, open_at};
use task_core::{
    NewTask, Scope, StoreConfig, TaskError, TaskOutcome, TaskStatus, TaskStore, TaskStoreExt,
};
use task_store_postgres::PostgresOptions;

/// Selects the child's role; unset in the parent.
const ROLE: &str = "TASK_STORE_POSTGRES_CHILD_ROLE";
const SCHEMA: &str = "TASK_STORE_POSTGRES_CHILD_SCHEMA";
const TASKS: &str = "TASK_STORE_POSTGRES_CHILD_TASKS";
fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// The child. `wait`: waits for the task to end and reports it. `complete`: completes it with
/// a result naming its process id. `race`: on the parent's signal, tries to complete every
/// task, and reports the ids it won. `write`: creates and completes tasks until killed,
/// reporting each id once the completion has returned.
async fn child(role: &str) {
    let schema = var(SCHEMA);
    let options = PostgresOptions::default().with_schema(schema);
    let store = open_at(&database_url(), StoreConfig::default(), options).await;
    let scope = Scope::owner("alice");
    match role {
        "wait" => {
            let task_id = var(TASKS);
            let task = store.get(&scope, &task_id).await.unwrap();
            say("waiting");
            let done = store.wait_until_terminal(&scope, &task_id, Some(HANG));
            let done = done.await.unwrap();
            let outcome = store.get_result(&scope, &task_id).await.unwrap();
            let _ = task;
            say(&json!({ "status": done.status, "outcome": outcome }).to_string());
        }
        "complete" => {
            let task_id = var(TASKS);
            say("ready");
            await_go();
            let mut result = Map::new();
            result.insert("by".into(), json!(std::process::id()));
            store.complete(&scope, &task_id, result).await.unwrap();
            say("completed");
        }
        "race" => {
            let ids = var(TASKS);
            say("ready");
            await_go();
            let mut won = Vec::new();
            for id in ids.split(',') {
                match store.complete(&scope, id, Map::new()).await {
                    Ok(_) => won.push(id.to_owned()),
                    Err(TaskError::InvalidTransition { .. }) => {}
                    Err(other) => panic!("an unexpected error: {other}"),
                }
            }
            say(&json!(won).to_string());
        }
        "write" => {
            say("ready");
            for n in 0.. {
                let task = store
                    .create(NewTask::new().owned_by("alice"))
                    .await
                    .unwrap();
                let mut result = Map::new();
                result.insert("n".into(), json!(n));
                store.complete(&scope, &task.task_id, result).await.unwrap();
                say(&task.task_id);
            }
        }
        other => panic!("unknown child role {other:?}"),
    }
}

/// Starts `test` again in a child process with `role`, on `schema`, given `tasks`.
fn spawn(test: &str, role: &str, schema: &str, tasks: &str) -> Kid {
    Kid::spawn(test, &[(ROLE, role), (SCHEMA, schema), (TASKS, tasks)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_in_another_process_wakes() {
    if let Ok(role) = std::env::var(ROLE) {
        return child(&role).await;
    }
    let store = Scratch::open(StoreConfig::default()).await;
    let task = store
        .create(NewTask::new().owned_by("alice"))
        .await
        .unwrap();
    let kid = spawn(
        "a_waiter_in_another_process_wakes",
        "wait",
        store.0.schema(),
        &task.task_id,
    );
    assert_eq!(kid.next(HANG), "waiting");
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
    let store = Scratch::open(StoreConfig::default()).await;
    let task = store
        .create(NewTask::new().owned_by("alice"))
        .await
        .unwrap();
    let mut kid = spawn(
        "a_worker_in_another_process_wakes_this_waiter",
        "complete",
        store.0.schema(),
        &task.task_id,
    );
    assert_eq!(kid.next(HANG), "ready");
    let alice = Scope::owner("alice");
    let seen = store.get(&alice, &task.task_id).await.unwrap();
    let waiting = store.wait_for_update(&alice, &task.task_id, seen.last_updated_at, Some(HANG));
    kid.go();
    let done = waiting.await.unwrap();
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
    assert_eq!(result["by"], json!(kid.id()), "the child completed it");
    kid.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_race_between_two_processes_has_one_winner() {
    if let Ok(role) = std::env::var(ROLE) {
        return child(&role).await;
    }
    let store = Scratch::open(StoreConfig::default()).await;
    let alice = Scope::owner("alice");
    let mut ids = Vec::new();
    for _ in 0..200 {
        let task = store
            .create(NewTask::new().owned_by("alice"))
            .await
            .unwrap();
        ids.push(task.task_id);
    }
    let mut kid = spawn(
        "each_race_between_two_processes_has_one_winner",
        "race",
        store.0.schema(),
        &ids.join(","),
    );
    assert_eq!(kid.next(HANG), "ready");
    kid.go();
    // This process cancels the same tasks, in the same order, at the same time.
    let mut cancelled = Vec::new();
    for id in &ids {
        match store.cancel(&alice, id).await {
            Ok(_) => cancelled.push(id.clone()),
            Err(TaskError::InvalidTransition { .. }) => {}
            Err(other) => panic!("an unexpected error: {other}"),
        }
    }
    let completed: Vec<String> = serde_json::from_str(&kid.next(HANG)).unwrap();
    kid.finish();
    assert_eq!(
        cancelled.len() + completed.len(),
        ids.len(),
        "every task has exactly one winner"
    );
    for id in &ids {
        let task = store.get(&alice, id).await.unwrap();
        let expected = if completed.contains(id) {
            TaskStatus::Completed
        } else {
            assert!(cancelled.contains(id));
            TaskStatus::Cancelled
        };
        assert_eq!(task.status, expected, "{id} ended as its winner left it");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_mid_write_loses_nothing_it_was_told_was_written() {
    if let Ok(role) = std::env::var(ROLE) {
        return child(&role).await;
    }
    let store = Scratch::open(StoreConfig::default()).await;
    let alice = Scope::owner("alice");
    let mut kid = spawn(
        "a_client_killed_mid_write_loses_nothing_it_was_told_was_written",
        "write",
        store.0.schema(),
        "",
    );
    assert_eq!(kid.next(HANG), "ready");
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 100 {
        acknowledged.push(kid.next(HANG));
    }
    // SIGKILL, in the middle of whatever write comes next.
    kid.kill();
    acknowledged.extend(kid.said());
    for id in &acknowledged {
        let task = store.get(&alice, id).await.unwrap();
        assert_eq!(task.status, TaskStatus::Completed, "{id} was acknowledged");
    }
    // Whatever the killed write left is whole: every task is either working or completed
    // with its result.
    let mut cursor = None;
    loop {
        let page = store
            .list(&alice, task_core::PageRequest::after(cursor))
            .await
            .unwrap();
        for task in &page.tasks {
            let outcome = store.get_result(&alice, &task.task_id).await.unwrap();
            match task.status {
                TaskStatus::Working => assert!(outcome.is_none()),
                TaskStatus::Completed => assert!(outcome.is_some()),
                other => panic!("a task in {other}"),
            }
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
}
