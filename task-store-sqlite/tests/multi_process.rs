//! Two processes on one file: races decided atomically across them, and waiters in one woken
//! by writes in the other.

mod common;

use common::child::{self, ChildProcess};
use common::{HANG, fast, url};
use serde_json::json;
use std::path::Path;
use task_core::{
    NewTask, Scope, StoreConfig, TaskError, TaskOutcome, TaskStatus, TaskStore, TaskStoreExt,
};
use task_store_sqlite::SqliteTaskStore;

const RACE_ROUNDS: usize = 200;
const CREATES: usize = 100;
/// Time for spawned waiters to start waiting before the other side writes.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(200);
/// The per-owner limit both processes enforce in the create race.
const OWNER_LIMIT: u64 = 60;

fn config() -> StoreConfig {
    StoreConfig::default().with_max_tasks_per_owner(Some(OWNER_LIMIT))
}

async fn open(path: &Path) -> SqliteTaskStore {
    SqliteTaskStore::open_with(&url(path), config(), fast())
        .await
        .expect("the store opens")
}

fn child_result() -> serde_json::Map<String, serde_json::Value> {
    match json!({ "by": "child" }) {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

#[test]
#[ignore = "the child process's entry point; the multi-process tests run it"]
fn child_process() {
    let Some((role, path)) = child::role() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async move {
        let store = open(&path).await;
        child::say("READY");
        let outcome = match role.as_str() {
            "completer" => completer(&store).await,
            "creator" => creator(&store).await,
            "worker" => worker(&store).await,
            "waiter" => waiter(&store).await,
            "answerer" => answerer(&store).await,
            other => Err(TaskError::InvalidInput(format!("unknown role {other}"))),
        };
        match outcome {
            Ok(()) => child::say("DONE"),
            Err(error) => child::say(format!("ERROR {error}")),
        }
    });
}

/// Completes the race tasks from the last to the first, while the parent cancels them from the
/// first: each side wins some, and they collide where they meet.
async fn completer(store: &SqliteTaskStore) -> Result<(), TaskError> {
    child::hear();
    child::say("GOING");
    for round in (0..RACE_ROUNDS).rev() {
        let id = format!("race-{round}");
        match store.complete(&Scope::All, &id, child_result()).await {
            Ok(_) => child::say(format!("WON {id}")),
            Err(TaskError::InvalidTransition { .. }) => child::say(format!("LOST {id}")),
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// Creates the same ids as the parent, then tasks of the capped owner.
async fn creator(store: &SqliteTaskStore) -> Result<(), TaskError> {
    child::hear();
    child::say("GOING");
    for i in 0..CREATES {
        // Another request than the parent's for the same id: not a repeat, so one must lose.
        let new = NewTask::new()
            .with_id(format!("dup-{i}"))
            .with_request("tools/call", json!({ "by": "child" }))
            .with_message("child");
        match store.create(new).await {
            Ok(_) => child::say(format!("CREATED dup-{i}")),
            Err(TaskError::AlreadyExists { .. }) => child::say(format!("EXISTS dup-{i}")),
            Err(other) => return Err(other),
        }
    }
    for _ in 0..CREATES {
        match store.create(NewTask::new().owned_by("capped")).await {
            Ok(_) => child::say("CAPPED OK"),
            Err(TaskError::LimitExceeded { .. }) => child::say("CAPPED LIMIT"),
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// Moves the task the parent names, step by step as the parent says.
async fn worker(store: &SqliteTaskStore) -> Result<(), TaskError> {
    let id = child::hear().unwrap_or_default();
    store.set_message(&Scope::All, &id, "half way").await?;
    child::say("MESSAGE");
    child::hear();
    store.complete(&Scope::All, &id, child_result()).await?;
    Ok(())
}

/// Waits for the task the parent names to end.
async fn waiter(store: &SqliteTaskStore) -> Result<(), TaskError> {
    let id = child::hear().unwrap_or_default();
    let waited = {
        let store = store.clone();
        // No timeout of its own: only a wake-up ends it, and the hang guard fails the test.
        let wait = async move { store.wait_until_terminal(&Scope::All, &id, None).await };
        tokio::spawn(tokio::time::timeout(HANG, wait))
    };
    // Let the wait start before the parent writes, so the poller is what must wake it. (Were
    // it slower, the wait would just find the task finished: the test could not fail falsely.)
    tokio::time::sleep(SETTLE).await;
    child::say("WAITING");
    let task = waited
        .await
        .map_err(|e| TaskError::InvalidInput(format!("the wait panicked: {e}")))?
        .map_err(|_| TaskError::InvalidInput("the wait hung".into()))??;
    child::say(format!("WOKE {}", task.status));
    Ok(())
}

/// Answers the input request of the task the parent names, then asks to cancel it.
async fn answerer(store: &SqliteTaskStore) -> Result<(), TaskError> {
    let id = child::hear().unwrap_or_default();
    let answer = json!({"action": "accept", "content": {"name": "Ada"}});
    let responses = serde_json::Map::from_iter([("name".to_owned(), answer)]);
    store
        .respond(&Scope::owner("alice"), &id, responses)
        .await?;
    child::say("ANSWERED");
    child::hear();
    store.request_cancel(&Scope::owner("alice"), &id).await?;
    Ok(())
}

/// A worker waiting for its input answer, and then for a cancel request, in this process is
/// woken by both, written by another process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_wakes_on_answers_and_cancel_requests_from_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.db");
    let store = open(&path).await;
    let task = store
        .create(NewTask::new().owned_by("alice"))
        .await
        .unwrap();
    let ask = json!({"method": "elicitation/create", "params": {"message": "Name?"}});
    let requests = serde_json::Map::from_iter([("name".to_owned(), ask)]);
    store
        .request_input(&Scope::All, &task.task_id, requests)
        .await
        .unwrap();
    let wait_for = |key: &'static str| {
        let (store, id) = (store.clone(), task.task_id.clone());
        // No timeout of its own: only a wake-up ends it, and the hang guard fails the test.
        let wait = async move { store.wait_for_answer(&Scope::All, &id, key, None).await };
        tokio::spawn(tokio::time::timeout(HANG, wait))
    };
    let answered = wait_for("name");
    tokio::time::sleep(SETTLE).await;
    let mut answerer = ChildProcess::spawn("answerer", &path, &[]);
    answerer.expect("READY");
    answerer.send(&task.task_id);
    answerer.expect("ANSWERED");
    let record = answered.await.unwrap().expect("the worker hung").unwrap();
    assert_eq!(
        record
            .answer
            .as_ref()
            .map(|answer| &answer["content"]["name"]),
        Some(&json!("Ada")),
        "the answer reached the worker"
    );
    assert_eq!(record.task.status, TaskStatus::Working);
    let cancelled = wait_for("never-asked");
    tokio::time::sleep(SETTLE).await;
    answerer.send("CANCEL");
    answerer.expect("DONE");
    answerer.finish();
    let record = cancelled.await.unwrap().expect("the worker hung").unwrap();
    assert!(
        record.cancel_requested,
        "the cancel request reached the worker"
    );
    assert_eq!(
        record.task.status,
        TaskStatus::Working,
        "the worker settles it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_against_complete_across_processes_has_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.db");
    let store = open(&path).await;
    for round in 0..RACE_ROUNDS {
        let new = NewTask::new().with_id(format!("race-{round}"));
        store.create(new).await.unwrap();
    }
    let mut completer = ChildProcess::spawn("completer", &path, &[]);
    completer.expect("READY");
    completer.send("GO");
    completer.expect("GOING");
    let mut cancelled = Vec::new();
    for round in 0..RACE_ROUNDS {
        let id = format!("race-{round}");
        match store.cancel(&Scope::All, &id).await {
            Ok(_) => cancelled.push(true),
            Err(TaskError::InvalidTransition { .. }) => cancelled.push(false),
            Err(other) => panic!("cancelling {id}: {other}"),
        }
    }
    let mut complete_won = vec![None; RACE_ROUNDS];
    for _ in 0..RACE_ROUNDS {
        let said = completer.next().expect("the completer reports every round");
        let (won, id) = match said.split_once(' ') {
            Some(("WON", id)) => (true, id.to_owned()),
            Some(("LOST", id)) => (false, id.to_owned()),
            _ => panic!("the completer said {said:?}"),
        };
        let round: usize = id.trim_start_matches("race-").parse().unwrap();
        complete_won[round] = Some(won);
    }
    let mut wins = [0, 0];
    for (round, (cancel_won, complete_won)) in cancelled.into_iter().zip(complete_won).enumerate() {
        let id = format!("race-{round}");
        let complete_won = complete_won.expect("the completer reports every round");
        assert!(
            cancel_won != complete_won,
            "round {round}: exactly one must win (cancel {cancel_won}, complete {complete_won})"
        );
        let record = store.get_record(&Scope::All, &id).await.unwrap();
        if cancel_won {
            wins[0] += 1;
            assert_eq!(record.task.status, TaskStatus::Cancelled, "{id}");
            assert_eq!(
                record.outcome, None,
                "{id}: a cancelled task holds no result"
            );
            assert!(record.cancel_requested, "{id}");
        } else {
            wins[1] += 1;
            assert_eq!(record.task.status, TaskStatus::Completed, "{id}");
            let expected = Some(TaskOutcome::Result(child_result()));
            assert_eq!(record.outcome, expected, "{id}: the completer's result");
            assert!(!record.cancel_requested, "{id}");
        }
    }
    completer.expect("DONE");
    completer.finish();
    eprintln!("cancel won {} rounds, complete won {}", wins[0], wins[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_across_processes_keep_ids_unique_and_limits_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.db");
    let store = open(&path).await;
    let mut creator = ChildProcess::spawn("creator", &path, &[]);
    creator.expect("READY");
    creator.send("GO");
    creator.expect("GOING");
    let mut parent_created = Vec::new();
    for i in 0..CREATES {
        let new = NewTask::new()
            .with_id(format!("dup-{i}"))
            .with_request("tools/call", json!({ "by": "parent" }))
            .with_message("parent");
        match store.create(new).await {
            Ok(_) => parent_created.push(true),
            Err(TaskError::AlreadyExists { .. }) => parent_created.push(false),
            Err(other) => panic!("dup-{i}: {other}"),
        }
    }
    let mut parent_capped = 0;
    for _ in 0..CREATES {
        match store.create(NewTask::new().owned_by("capped")).await {
            Ok(_) => parent_capped += 1,
            Err(TaskError::LimitExceeded { .. }) => {}
            Err(other) => panic!("capped: {other}"),
        }
    }
    for (i, parent_won) in parent_created.into_iter().enumerate() {
        let said = creator.next().expect("the creator reports every id");
        let child_won = match said.split_once(' ') {
            Some(("CREATED", id)) if id == format!("dup-{i}") => true,
            Some(("EXISTS", id)) if id == format!("dup-{i}") => false,
            _ => panic!("dup-{i}: the creator said {said:?}"),
        };
        assert!(parent_won != child_won, "dup-{i}: exactly one create wins");
        let stored = store.get(&Scope::All, &format!("dup-{i}")).await.unwrap();
        let winner = if parent_won { "parent" } else { "child" };
        assert_eq!(stored.status_message.as_deref(), Some(winner), "dup-{i}");
    }
    let mut child_capped = 0;
    for _ in 0..CREATES {
        match creator.next().as_deref() {
            Some("CAPPED OK") => child_capped += 1,
            Some("CAPPED LIMIT") => {}
            other => panic!("the creator said {other:?}"),
        }
    }
    creator.expect("DONE");
    creator.finish();
    assert_eq!(
        parent_capped + child_capped,
        OWNER_LIMIT,
        "tasks created under the limit"
    );
    let page = task_core::PageRequest::first().with_limit(1_000);
    let listed = store.list(&Scope::owner("capped"), page).await.unwrap();
    assert_eq!(listed.tasks.len() as u64, OWNER_LIMIT, "tasks stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_wake_on_writes_from_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.db");
    let store = open(&path).await;
    let task = store.create(NewTask::new()).await.unwrap();
    let mut waiters = Vec::new();
    for _ in 0..4 {
        let (store, id, seen) = (store.clone(), task.task_id.clone(), task.last_updated_at);
        let wait = async move { store.wait_for_update(&Scope::All, &id, seen, None).await };
        waiters.push(tokio::spawn(tokio::time::timeout(HANG, wait)));
    }
    let until_done = {
        let (store, id) = (store.clone(), task.task_id.clone());
        let wait = async move { store.wait_until_terminal(&Scope::All, &id, None).await };
        tokio::spawn(tokio::time::timeout(HANG, wait))
    };
    tokio::time::sleep(SETTLE).await;
    let mut worker = ChildProcess::spawn("worker", &path, &[]);
    worker.expect("READY");
    worker.send(&task.task_id);
    worker.expect("MESSAGE");
    for waiter in waiters {
        let woke = waiter.await.unwrap().expect("the waiter hung").unwrap();
        assert_eq!(
            woke.status_message.as_deref(),
            Some("half way"),
            "woken by the message"
        );
        assert!(woke.last_updated_at > task.last_updated_at);
    }
    worker.send("FINISH");
    worker.expect("DONE");
    worker.finish();
    let done = until_done.await.unwrap().expect("the waiter hung").unwrap();
    assert_eq!(
        done.status,
        TaskStatus::Completed,
        "woken by the completion"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_in_another_process_wakes_on_our_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.db");
    let store = open(&path).await;
    let task = store.create(NewTask::new()).await.unwrap();
    let mut waiter = ChildProcess::spawn("waiter", &path, &[]);
    waiter.expect("READY");
    waiter.send(&task.task_id);
    waiter.expect("WAITING");
    store
        .set_message(&Scope::All, &task.task_id, "progress")
        .await
        .unwrap();
    store.cancel(&Scope::All, &task.task_id).await.unwrap();
    waiter.expect("WOKE cancelled");
    waiter.expect("DONE");
    waiter.finish();
}
