//! Two processes on one schema: this test binary runs itself again as a child (selected by an
//! environment variable), which opens the same store; the two talk over the child's stdin and
//! stdout. Waiters never poll, so only a `NOTIFY` from the other process can end a wait.

mod support;

use conformance_tests::child::{self, Kid, await_go, say};
use serde_json::{Map, json};
use support::{HANG, Scratch, database_url, open_at};
use task_core::{NewTask, Scope, StoreConfig, TaskError, TaskStatus, TaskStore, TaskStoreExt};
use task_store_postgres::PostgresOptions;

/// Selects the child's role; unset in the parent.
const ROLE: &str = "TASK_STORE_POSTGRES_CHILD_ROLE";
const SCHEMA: &str = "TASK_STORE_POSTGRES_CHILD_SCHEMA";
const TASKS: &str = "TASK_STORE_POSTGRES_CHILD_TASKS";
fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// The child: the shared scenarios' roles ([`child::act_in_scenario`]), and `race`: on the parent's signal, tries to complete every
/// task, and reports the ids it won. `write`: creates and completes tasks until killed,
/// reporting each id once the completion has returned.
async fn child(role: &str) {
    let schema = var(SCHEMA);
    let options = PostgresOptions::default().with_schema(schema);
    let store = open_at(&database_url(), StoreConfig::default(), options).await;
    let scope = Scope::owner("alice");
    if child::act_in_scenario(role, &store, &scope, HANG).await {
        return;
    }
    match role {
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

/// Runs the shared scenario of `role` ([`child::scenario`]) on a scratch store, with the
/// child on the same schema.
async fn shared_scenario(test: &str, role: &str) {
    let store = Scratch::open(StoreConfig::default()).await;
    let vars = [(SCHEMA, store.0.schema())];
    child::scenario(&store, test, (ROLE, role), &vars, "alice", HANG).await;
}

conformance_tests::cross_process_scenarios!(ROLE, child, shared_scenario);

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
