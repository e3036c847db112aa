//! Durability: every create and update a store acknowledged survives a `kill -9` of its process
//! right after. A child process writes as fast as it can and reports each acknowledged write;
//! the parent kills it mid-stream with SIGKILL, reopens the file and checks every one.

mod common;

use common::child::{self, ChildProcess};
use common::url;
use serde_json::json;
use std::collections::BTreeMap;
use task_core::{NewTask, Scope, StoreConfig, TaskOutcome, TaskStatus, TaskStore, TaskStoreExt};
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
