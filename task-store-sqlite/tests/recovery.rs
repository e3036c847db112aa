//! A worker that dies mid-task leaves its tasks running; `recover_stuck`, run by another
//! process after a restart, fails them with a clear message, and the clients waiting on them
//! wake instead of polling forever.

mod common;

use common::child::{self, ChildProcess};
use common::{HANG, fast, url};
use serde_json::Map;
use std::path::Path;
use std::time::Duration;
use task_core::{
    NewTask, Scope, StoreConfig, Task, TaskChange, TaskError, TaskStatus, TaskStore, TaskStoreExt,
};
use task_store_sqlite::SqliteTaskStore;

/// Tasks idle this long count as stuck.
const STUCK_AFTER: Duration = Duration::from_millis(1_000);
const MESSAGE: &str = "worker lost: the server restarted";

async fn open(path: &Path) -> SqliteTaskStore {
    SqliteTaskStore::open_with(&url(path), StoreConfig::default(), fast())
        .await
        .expect("the store opens")
}

#[test]
#[ignore = "the child process's entry point; the recovery test runs it"]
fn child_process() {
    let Some((role, path)) = child::role() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async move {
        let store = open(&path).await;
        child::say("READY");
        let outcome = match role.as_str() {
            "worker" => worker(&store).await,
            "recoverer" => recoverer(&store).await,
            other => Err(TaskError::InvalidInput(format!("unknown role {other}"))),
        };
        if let Err(error) = outcome {
            child::say(format!("ERROR {error}"));
        }
    });
}

/// Picks up the three tasks the parent names, finishes one, and is killed working on the
/// other two.
async fn worker(store: &SqliteTaskStore) -> Result<(), TaskError> {
    let all = Scope::All;
    let ids: Vec<String> = (0..3).filter_map(|_| child::hear()).collect();
    let [running, asking, done] = ids.as_slice() else {
        return Err(TaskError::InvalidInput("three ids expected".into()));
    };
    store.set_message(&all, running, "step 1 of 3").await?;
    store
        .set_status(&all, asking, TaskStatus::InputRequired, Some("which file?"))
        .await?;
    store.complete(&all, done, Map::new()).await?;
    child::say("BUSY");
    // Works "forever": until the parent kills this process.
    child::hear();
    Ok(())
}

/// What a restarted server runs at start-up.
async fn recoverer(store: &SqliteTaskStore) -> Result<(), TaskError> {
    child::hear();
    let recovered = store.recover_stuck(STUCK_AFTER, MESSAGE).await?;
    child::say(format!("RECOVERED {recovered}"));
    Ok(())
}

/// Waits (with no timeout of its own) until `id` ends, as the client would.
fn client_waits(store: &SqliteTaskStore, id: &str) -> tokio::task::JoinHandle<Task> {
    let (store, id) = (store.clone(), id.to_owned());
    tokio::spawn(async move {
        let client = Scope::owner("client");
        let wait = store.wait_until_terminal(&client, &id, None);
        match tokio::time::timeout(HANG, wait).await {
            Ok(Ok(task)) => task,
            Ok(Err(error)) => panic!("the client's wait on {id} failed: {error}"),
            Err(_) => panic!("the client's wait on {id} never ended"),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_tasks_are_failed_by_another_process_and_their_clients_wake() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.db");
    let store = open(&path).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let task = store
            .create(NewTask::new().owned_by("client"))
            .await
            .unwrap();
        ids.push(task.task_id);
    }
    let (running, asking, done) = (&ids[0], &ids[1], &ids[2]);

    let mut worker = ChildProcess::spawn("worker", &path, &[]);
    worker.expect("READY");
    for id in &ids {
        worker.send(id);
    }
    worker.expect("BUSY");
    let waiters = [client_waits(&store, running), client_waits(&store, asking)];
    worker.child.kill().expect("kill -9 the worker");
    worker.child.wait().expect("the worker is reaped");

    // The dead worker's tasks sit where it left them.
    let left = store.get(&Scope::All, asking).await.unwrap();
    assert_eq!(left.status, TaskStatus::InputRequired);
    tokio::time::sleep(STUCK_AFTER + Duration::from_millis(500)).await;
    // Work that is alive: just started, so not stuck.
    let fresh = store
        .create(NewTask::new().owned_by("client"))
        .await
        .unwrap();

    let mut recoverer = ChildProcess::spawn("recoverer", &path, &[]);
    recoverer.expect("READY");
    recoverer.send("GO");
    recoverer.expect("RECOVERED 2");
    recoverer.finish();

    for waiter in waiters {
        let task = waiter.await.expect("the client's wait");
        assert_eq!(task.status, TaskStatus::Failed, "{}", task.task_id);
        assert_eq!(task.status_message.as_deref(), Some(MESSAGE));
        let outcome = store
            .get_result(&Scope::owner("client"), &task.task_id)
            .await;
        assert_eq!(outcome.unwrap(), TaskChange::fail(MESSAGE).outcome);
    }
    let done = store.get(&Scope::All, done).await.unwrap();
    assert_eq!(done.status, TaskStatus::Completed, "a finished task stays");
    let fresh = store.get(&Scope::All, &fresh.task_id).await.unwrap();
    assert_eq!(fresh.status, TaskStatus::Working, "live work is left alone");
    let again = store.recover_stuck(STUCK_AFTER, MESSAGE).await.unwrap();
    assert_eq!(again, 0, "nothing is left to recover");
}
