//! Durability: every create and update a store acknowledged survives a `kill -9` of its process
//! right after. A child process writes as fast as it can and reports each acknowledged write;
//! the parent kills it mid-stream with SIGKILL, reopens the file and checks every one.
//!
//! One test kills once, right after an acknowledgement; another kills 20 times at random
//! points of a mixed workload on the same file, checking after each kill that the file is
//! sound and that every acknowledged write is there in its state or the next one.

mod common;

use common::child::{self, ChildProcess};
use common::{Rng, url};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use task_core::{
    NewTask, Scope, StoreConfig, TaskChange, TaskOutcome, TaskRecord, TaskStatus, TaskStore,
    TaskStoreExt,
};
use task_store_sqlite::SqliteTaskStore;

/// Acknowledged writes the parent reads before it kills the child.
const ACKS_BEFORE_KILL: usize = 900;

/// How far a task got, by its last acknowledged write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Created,
    Message,
    Completed,
}

fn result_of(n: u64) -> serde_json::Map<String, serde_json::Value> {
    match json!({ "content": [{ "type": "text", "text": format!("result {n}") }], "n": n }) {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

#[test]
#[ignore = "the child process's entry point; the durability tests run it"]
fn child_process() {
    let Some((role, path)) = child::role() else {
        return;
    };
    if role == "lanes" {
        return lanes(&path);
    }
    assert_eq!(role, "writer");
    let synchronous = std::env::var("SYNCHRONOUS").unwrap_or_else(|_| "normal".into());
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async move {
        let location = format!("{}?synchronous={synchronous}", url(&path));
        let store = match SqliteTaskStore::open(&location, StoreConfig::default()).await {
            Ok(store) => store,
            Err(error) => return child::say(format!("ERROR open: {error}")),
        };
        child::say("READY");
        let all = Scope::All;
        for n in 0u64.. {
            let id = format!("task-{n}");
            let new = NewTask::new()
                .with_id(id.clone())
                .owned_by("durable")
                .with_request("tools/call", json!({ "n": n }));
            let steps = async {
                store.create(new).await?;
                child::say(format!("created {n}"));
                store.set_message(&all, &id, &format!("step {n}")).await?;
                child::say(format!("message {n}"));
                store.complete(&all, &id, result_of(n)).await?;
                child::say(format!("completed {n}"));
                Ok::<_, task_core::TaskError>(())
            };
            if let Err(error) = steps.await {
                return child::say(format!("ERROR {id}: {error}"));
            }
        }
    });
}

fn killed_writer_loses_no_acknowledged_write(synchronous: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.db");
    let mut writer = ChildProcess::spawn("writer", &path, &[("SYNCHRONOUS", synchronous.into())]);
    writer.expect("READY");
    let mut acked: BTreeMap<u64, Stage> = BTreeMap::new();
    for _ in 0..ACKS_BEFORE_KILL {
        let line = writer.next().expect("the writer keeps writing");
        let (stage, n) = line.split_once(' ').expect("a stage and a number");
        let stage = match stage {
            "created" => Stage::Created,
            "message" => Stage::Message,
            "completed" => Stage::Completed,
            _ => panic!("the writer said {line:?}"),
        };
        acked.insert(n.parse().expect("a task number"), stage);
    }
    // SIGKILL, right after the last acknowledgement read.
    writer.child.kill().expect("the writer is killed");
    let status = writer.child.wait().expect("the writer is reaped");
    assert!(!status.success(), "the writer was killed, not finished");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = SqliteTaskStore::open(&url(&path), StoreConfig::default())
            .await
            .expect("the file reopens after the kill");
        let owner = Scope::owner("durable");
        for (&n, &stage) in &acked {
            let id = format!("task-{n}");
            let record = match store.get_record(&owner, &id).await {
                Ok(record) => record,
                Err(error) => panic!("{id} was acknowledged ({stage:?}) but is lost: {error}"),
            };
            let params = record.request.as_ref().map(|r| r.params.clone());
            assert_eq!(params, Some(json!({ "n": n })), "{id}'s request");
            if stage >= Stage::Message {
                let message = format!("step {n}");
                assert_eq!(record.task.status_message, Some(message), "{id}'s message");
            }
            if stage == Stage::Completed {
                assert_eq!(record.task.status, TaskStatus::Completed, "{id}");
                assert_eq!(
                    record.outcome,
                    Some(TaskOutcome::Result(result_of(n))),
                    "{id}"
                );
            }
        }
        let mut conn = sqlx::ConnectOptions::connect(store.connect_options())
            .await
            .unwrap();
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(check, "ok", "the file is consistent after the kill");
    });
    assert!(acked.len() >= ACKS_BEFORE_KILL / 3, "tasks checked");
}

#[test]
fn acknowledged_writes_survive_kill_9_with_synchronous_normal() {
    killed_writer_loses_no_acknowledged_write("normal");
}

#[test]
fn acknowledged_writes_survive_kill_9_with_synchronous_full() {
    killed_writer_loses_no_acknowledged_write("full");
}

/// Concurrent lanes of writes in the child, each running tasks through their stages.
const LANES: usize = 4;
/// Kills of the mixed-workload writer.
const KILLS: usize = 20;

/// How a lane's task ends, by its number.
fn ending(n: u64) -> &'static str {
    ["complete", "fail", "cancel"][(n % 3) as usize]
}

/// A task's stage as its record shows it: 0 created, 1 message set, 2 input required,
/// 3 ended as planned. `None` for any other state: a half-written or foreign record.
fn stage_of(record: &TaskRecord, planned: &str) -> Option<u8> {
    let task = &record.task;
    let message = task.status_message.as_deref();
    let id = &task.task_id;
    let fresh = record.outcome.is_none() && !record.cancel_requested;
    match (task.status, message) {
        (TaskStatus::Working, None) if fresh => Some(0),
        (TaskStatus::Working, Some("m1")) if fresh => Some(1),
        (TaskStatus::InputRequired, Some("need input")) if fresh => Some(2),
        (TaskStatus::Completed, Some("need input")) if planned == "complete" => {
            let result = TaskOutcome::Result(result_for(id));
            (record.outcome == Some(result) && !record.cancel_requested).then_some(3)
        }
        (TaskStatus::Failed, Some(text)) if planned == "fail" && text == format!("failed {id}") => {
            let failure = TaskChange::fail(text).outcome;
            (record.outcome == failure && !record.cancel_requested).then_some(3)
        }
        (TaskStatus::Cancelled, Some("need input")) if planned == "cancel" => {
            (record.outcome.is_none() && record.cancel_requested).then_some(3)
        }
        _ => None,
    }
}

fn result_for(id: &str) -> serde_json::Map<String, serde_json::Value> {
    match json!({ "content": [{ "type": "text", "text": id }], "id": id }) {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

/// The child of the random-kill test: `LANES` lanes each run tasks through create, a message,
/// input required and their ending, reporting every acknowledged step as `ack <id> <stage>`.
fn lanes(path: &std::path::Path) {
    let round = std::env::var("ROUND").unwrap_or_default();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async move {
        let store = match SqliteTaskStore::open(&url(path), StoreConfig::default()).await {
            Ok(store) => store,
            Err(error) => return child::say(format!("ERROR open: {error}")),
        };
        let lanes: Vec<_> = (0..LANES)
            .map(|lane| {
                let (store, round) = (store.clone(), round.clone());
                tokio::spawn(async move {
                    let all = Scope::All;
                    for n in 0u64.. {
                        let id = format!("r{round}-l{lane}-{n}");
                        let new = NewTask::new()
                            .with_id(id.clone())
                            .owned_by("durable")
                            .with_request("tools/call", json!({ "id": id }));
                        store.create(new).await?;
                        child::say(format!("ack {id} 0"));
                        store.set_message(&all, &id, "m1").await?;
                        child::say(format!("ack {id} 1"));
                        let input = Some("need input");
                        store
                            .set_status(&all, &id, TaskStatus::InputRequired, input)
                            .await?;
                        child::say(format!("ack {id} 2"));
                        match ending(n) {
                            "complete" => store.complete(&all, &id, result_for(&id)).await,
                            "fail" => store.fail(&all, &id, &format!("failed {id}")).await,
                            _ => store.cancel(&all, &id).await,
                        }?;
                        child::say(format!("ack {id} 3"));
                    }
                    Ok::<(), task_core::TaskError>(())
                })
            })
            .collect();
        for lane in lanes {
            match lane.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return child::say(format!("ERROR {error}")),
                Err(error) => return child::say(format!("ERROR a lane panicked: {error}")),
            }
        }
    });
}

/// Reads the child's acknowledgements into `acked` (id to stage); `None` once its output ends.
fn read_ack(writer: &mut ChildProcess, acked: &mut HashMap<String, u8>) -> Option<()> {
    let line = writer.next()?;
    let mut words = line.split(' ');
    match (words.next(), words.next(), words.next()) {
        (Some("ack"), Some(id), Some(stage)) => {
            let stage = stage.parse().expect("a stage number");
            let before = acked.insert(id.to_owned(), stage);
            assert!(
                before.is_none_or(|b| b + 1 == stage),
                "{id}: stages are acknowledged in order"
            );
            Some(())
        }
        _ => panic!("the writer said {line:?}"),
    }
}

/// The file after a kill: sound, every acknowledged task in its acknowledged stage or the
/// next (each lane has at most one write in flight), every other row a fresh create of a lane's
/// next task, and no row half-written.
async fn check_after_kill(path: &std::path::Path, acked: &HashMap<String, u8>, round: usize) {
    let store = SqliteTaskStore::open(&url(path), StoreConfig::default())
        .await
        .unwrap_or_else(|e| panic!("round {round}: the file does not reopen: {e}"));
    let mut conn = sqlx::ConnectOptions::connect(store.connect_options())
        .await
        .expect("a connection");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .expect("integrity_check runs");
    assert_eq!(check, "ok", "round {round}: integrity_check");
    let mismatched: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasks \
         WHERE (status IN ('completed', 'failed')) != (outcome IS NOT NULL)",
    )
    .fetch_one(&mut conn)
    .await
    .expect("the consistency query runs");
    assert_eq!(
        mismatched, 0,
        "round {round}: statuses without their outcome"
    );

    let owner = Scope::owner("durable");
    let mut unacknowledged = 0;
    let mut cursor = None;
    let mut rows = 0;
    loop {
        let page = store
            .list(&Scope::All, task_core::PageRequest::after(cursor))
            .await
            .expect("the listing reads");
        for task in &page.tasks {
            rows += 1;
            let id = &task.task_id;
            let record = store
                .get_record(&owner, id)
                .await
                .expect("a readable record");
            let n: u64 = id
                .rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("n");
            let stage = stage_of(&record, ending(n))
                .unwrap_or_else(|| panic!("round {round}: {id} is half-written: {record:?}"));
            let params = record.request.map(|r| r.params);
            assert_eq!(params, Some(json!({ "id": id })), "{id}'s request");
            match acked.get(id) {
                Some(&at) => assert!(
                    stage == at || stage == at + 1,
                    "round {round}: {id} was acknowledged at stage {at} but is at {stage}"
                ),
                None => {
                    assert_eq!(stage, 0, "round {round}: unacknowledged {id} went further");
                    unacknowledged += 1;
                }
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(rows, acked.len() + unacknowledged, "round {round}: rows");
    assert!(
        unacknowledged <= LANES * (round + 1),
        "round {round}: {unacknowledged} creates without an acknowledgement"
    );
    store.close().await;
}

#[test]
fn twenty_kill_9s_at_random_points_lose_no_acknowledged_write() {
    let seed = std::env::var("KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp_nanos_opt().unwrap_or(3) as u64);
    eprintln!("KILL_SEED={seed}");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.db");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut acked: HashMap<String, u8> = HashMap::new();
    for round in 0..KILLS {
        let vars = [("ROUND", round.to_string())];
        let mut writer = ChildProcess::spawn("lanes", &path, &vars);
        // Let a random number of writes through, then kill at a random moment after.
        for _ in 0..1 + rng.below(400) {
            read_ack(&mut writer, &mut acked).expect("the writer keeps writing");
        }
        std::thread::sleep(Duration::from_micros(rng.below(3_000)));
        writer.child.kill().expect("the writer is killed");
        let status = writer.child.wait().expect("the writer is reaped");
        assert!(!status.success(), "the writer was killed, not finished");
        // Whatever it acknowledged before it died counts too.
        while read_ack(&mut writer, &mut acked).is_some() {}
        runtime.block_on(check_after_kill(&path, &acked, round));
    }
    let ended = acked.values().filter(|&&stage| stage == 3).count();
    eprintln!(
        "{KILLS} kills, {} tasks acknowledged, {ended} ended",
        acked.len()
    );
    assert!(acked.len() >= KILLS, "the writers got work done");
}
