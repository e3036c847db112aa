//! Task-augmented `tools/call` helpers and status notifications, against the memory store.

use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;
use task_core::jsonrpc::{ErrorData, INVALID_PARAMS, METHOD_NOT_FOUND};
use task_core::{Scope, StoreConfig, TaskOutcome, TaskStatus, TaskStore, TaskStoreExt};
use task_protocol::notify::watch_task;
use task_protocol::params::{CallToolParams, parse};
use task_protocol::tools::{TaskSupport, check_task_support, record_tool_outcome};
use task_protocol::{ToolOutcome, handle, start_tool_task};
use task_store_memory::MemoryTaskStore;
use tokio::sync::{mpsc, oneshot};

const GUARD: Duration = Duration::from_secs(30);

fn store(config: StoreConfig) -> Arc<dyn TaskStore> {
    Arc::new(MemoryTaskStore::new(config))
}

fn alice() -> Scope {
    Scope::owner("alice")
}

fn task_call(ttl: u64) -> CallToolParams {
    parse(Some(json!({
        "name": "work",
        "arguments": {"n": 1},
        "task": {"ttl": ttl},
        "_meta": {"progressToken": 7}
    })))
    .unwrap()
}

fn text_result(text: &str) -> Map<String, Value> {
    json!({"content": [{"type": "text", "text": text}]})
        .as_object()
        .unwrap()
        .clone()
}

/// Calls a method about one task as Alice.
async fn on_task(store: &dyn TaskStore, method: &str, task_id: &str) -> Result<Value, ErrorData> {
    handle(store, &alice(), method, Some(json!({"taskId": task_id})))
        .await
        .expect("a tasks/* method")
}

async fn finished(store: &Arc<dyn TaskStore>, task_id: &str) -> task_core::TaskRecord {
    let task = tokio::time::timeout(GUARD, store.wait_until_terminal(&alice(), task_id, None))
        .await
        .expect("the task ends")
        .unwrap();
    assert!(task.is_terminal());
    store.get_record(&alice(), task_id).await.unwrap()
}

#[test]
fn task_support_follows_the_specification() {
    use TaskSupport::*;
    for (support, with_task, allowed) in [
        (Forbidden, false, true),
        (Forbidden, true, false),
        (Optional, false, true),
        (Optional, true, true),
        (Required, false, false),
        (Required, true, true),
    ] {
        let answer = check_task_support(support, with_task);
        assert_eq!(answer.is_ok(), allowed, "{support:?} task={with_task}");
        if let Err(error) = answer {
            assert_eq!(error.code, METHOD_NOT_FOUND);
        }
    }
    // Absent means forbidden, and the wire names are lowercase.
    assert_eq!(TaskSupport::default(), Forbidden);
    let parsed: TaskSupport = serde_json::from_value(json!("required")).unwrap();
    assert_eq!(parsed, Required);
    assert_eq!(serde_json::to_value(Optional).unwrap(), json!("optional"));
}

#[tokio::test]
async fn a_tool_task_is_created_bound_clamped_and_completed() {
    let store = store(StoreConfig::default().with_max_ttl(Some(10_000)));
    let call = task_call(60_000);
    let (release, released) = oneshot::channel::<()>();
    let started = start_tool_task(store.clone(), &alice(), &call, |_ctx| async move {
        let _ = released.await;
        Ok(text_result("done"))
    })
    .await
    .unwrap();
    // The answer comes at once, with the effective (clamped) ttl.
    let created = started.result_json().unwrap();
    assert_eq!(created["task"]["status"], "working");
    assert_eq!(created["task"]["ttl"], 10_000);
    let id = started.task().task_id.clone();
    // Bound to its owner, and the original request is kept verbatim.
    let record = store.get_record(&alice(), &id).await.unwrap();
    assert_eq!(record.owner.as_deref(), Some("alice"));
    assert_eq!(record.requested_ttl, Some(60_000));
    let request = record.request.unwrap();
    assert_eq!(request.method, "tools/call");
    assert_eq!(request.params["_meta"]["progressToken"], 7);
    assert_eq!(request.params["arguments"]["n"], 1);
    assert!(store.get(&Scope::owner("bob"), &id).await.is_err());

    release.send(()).unwrap();
    let record = finished(&store, &id).await;
    assert_eq!(record.task.status, TaskStatus::Completed);
    assert_eq!(
        record.outcome,
        Some(TaskOutcome::Result(text_result("done")))
    );
    started.worker.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_error_result_ends_failed_with_the_result_kept() {
    let store = store(StoreConfig::default());
    let mut result = text_result("no such file");
    result.insert("isError".into(), json!(true));
    let kept = result.clone();
    let started = start_tool_task(store.clone(), &alice(), &task_call(1_000), |_| async {
        Ok(result)
    })
    .await
    .unwrap();
    let id = started.task().task_id.clone();
    let record = finished(&store, &id).await;
    assert_eq!(record.task.status, TaskStatus::Failed);
    assert_eq!(record.task.status_message.as_deref(), Some("no such file"));
    assert_eq!(record.outcome, Some(TaskOutcome::Result(kept)));
    let answer = on_task(store.as_ref(), "tasks/result", &id).await.unwrap();
    assert_eq!(answer["isError"], true);
}

#[tokio::test]
async fn a_json_rpc_error_ends_failed_and_is_the_result() {
    let store = store(StoreConfig::default());
    let error = ErrorData::new(-32000, "it broke");
    let returned = error.clone();
    let started = start_tool_task(store.clone(), &alice(), &task_call(1_000), |_| async {
        Err(returned)
    })
    .await
    .unwrap();
    let id = started.task().task_id.clone();
    let record = finished(&store, &id).await;
    assert_eq!(record.task.status, TaskStatus::Failed);
    assert_eq!(record.task.status_message.as_deref(), Some("it broke"));
    let answer = on_task(store.as_ref(), "tasks/result", &id).await;
    assert_eq!(answer, Err(error));
}

#[tokio::test]
async fn a_panicking_tool_ends_failed() {
    let store = store(StoreConfig::default());
    let started = start_tool_task(store.clone(), &alice(), &task_call(1_000), |_| async {
        if true {
            panic!("tool bug");
        }
        Ok(Map::new())
    })
    .await
    .unwrap();
    let record = finished(&store, &started.task().task_id).await;
    assert_eq!(record.task.status, TaskStatus::Failed);
    assert!(record.task.status_message.unwrap().contains("tool bug"));
}

#[tokio::test]
async fn cancelling_drops_the_work_and_the_task_stays_cancelled() {
    let store = store(StoreConfig::default());
    let (running_tx, running) = oneshot::channel::<()>();
    let (dropped_tx, dropped) = oneshot::channel::<()>();
    let started = start_tool_task(
        store.clone(),
        &alice(),
        &task_call(60_000),
        |_| async move {
            // Held until the work future is dropped: `dropped` then sees the sender go.
            let _alive = dropped_tx;
            let _ = running_tx.send(());
            std::future::pending::<ToolOutcome>().await
        },
    )
    .await
    .unwrap();
    let id = started.task().task_id.clone();
    tokio::time::timeout(GUARD, running).await.unwrap().unwrap();
    on_task(store.as_ref(), "tasks/cancel", &id).await.unwrap();
    // The work is dropped (its sender closes) and the worker ends.
    assert!(tokio::time::timeout(GUARD, dropped).await.unwrap().is_err());
    tokio::time::timeout(GUARD, started.worker)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let record = store.get_record(&alice(), &id).await.unwrap();
    assert_eq!(record.task.status, TaskStatus::Cancelled);
    assert_eq!(record.outcome, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_completion_race_safely() {
    let store = store(StoreConfig::default());
    let (mut completed, mut cancelled) = (0, 0);
    for _ in 0..200 {
        let (go_tx, go) = tokio::sync::watch::channel(false);
        let mut go_work = go.clone();
        let started = start_tool_task(
            store.clone(),
            &alice(),
            &task_call(60_000),
            |_| async move {
                let _ = go_work.wait_for(|go| *go).await;
                Ok(text_result("won"))
            },
        )
        .await
        .unwrap();
        let id = started.task().task_id.clone();
        let canceller = {
            let (store, id, mut go) = (store.clone(), id.clone(), go.clone());
            tokio::spawn(async move {
                let _ = go.wait_for(|go| *go).await;
                on_task(store.as_ref(), "tasks/cancel", &id).await
            })
        };
        go_tx.send(true).unwrap();
        let cancel = canceller.await.unwrap();
        started.worker.await.unwrap().unwrap();
        let record = store.get_record(&alice(), &id).await.unwrap();
        match record.task.status {
            TaskStatus::Completed => {
                completed += 1;
                assert_eq!(
                    record.outcome,
                    Some(TaskOutcome::Result(text_result("won")))
                );
                assert_eq!(cancel.unwrap_err().code, INVALID_PARAMS);
            }
            TaskStatus::Cancelled => {
                cancelled += 1;
                assert_eq!(
                    record.outcome, None,
                    "a cancelled task never holds a result"
                );
                assert_eq!(cancel.unwrap()["status"], "cancelled");
            }
            other => panic!("task ended {other}"),
        }
    }
    eprintln!("race outcomes: {completed} completed, {cancelled} cancelled");
    assert_eq!(completed + cancelled, 200);
}

#[tokio::test]
async fn an_outcome_after_a_cancel_changes_nothing() {
    let store = store(StoreConfig::default());
    let task = store
        .create(task_core::NewTask::new().owned_by("alice"))
        .await
        .unwrap();
    store.cancel(&alice(), &task.task_id).await.unwrap();
    let after = record_tool_outcome(store.as_ref(), &task.task_id, Ok(text_result("late")))
        .await
        .unwrap();
    assert_eq!(after.status, TaskStatus::Cancelled);
    assert_eq!(
        store.get_result(&alice(), &task.task_id).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_call_without_a_task_field_is_refused() {
    let store = store(StoreConfig::default());
    let call: CallToolParams = parse(Some(json!({"name": "work"}))).unwrap();
    let error = start_tool_task(store.clone(), &alice(), &call, |_| async { Ok(Map::new()) })
        .await
        .unwrap_err();
    assert_eq!(error.code, INVALID_PARAMS);
    assert!(
        store
            .list(&Scope::All, Default::default())
            .await
            .unwrap()
            .tasks
            .is_empty()
    );
}

#[tokio::test]
async fn the_watcher_sends_one_notification_per_observed_change() {
    let store = store(StoreConfig::default());
    let task = store
        .create(task_core::NewTask::new().owned_by("alice").with_ttl(60_000))
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watcher = {
        let (store, task) = (store.clone(), task.clone());
        tokio::spawn(async move {
            watch_task(store.as_ref(), &alice(), &task, |message| {
                let _ = tx.send(message);
                async {}
            })
            .await
        })
    };
    let mut next = async || {
        tokio::time::timeout(GUARD, rx.recv())
            .await
            .unwrap()
            .unwrap()
    };
    store
        .set_message(&alice(), &task.task_id, "step 1")
        .await
        .unwrap();
    let first = next().await;
    assert_eq!(first["method"], "notifications/tasks/status");
    assert_eq!(first["params"]["statusMessage"], "step 1");
    assert_eq!(first["params"]["status"], "working");
    store
        .set_status(&alice(), &task.task_id, TaskStatus::InputRequired, None)
        .await
        .unwrap();
    assert_eq!(next().await["params"]["status"], "input_required");
    store
        .complete(&alice(), &task.task_id, Map::new())
        .await
        .unwrap();
    let last = next().await;
    assert_eq!(last["params"]["status"], "completed");
    assert_eq!(last["params"]["taskId"], task.task_id.as_str());
    assert_eq!(last["params"]["ttl"], 60_000);
    assert_eq!(
        last["params"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        task.task_id.as_str()
    );
    tokio::time::timeout(GUARD, watcher)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        rx.recv().await.is_none(),
        "nothing after the terminal state"
    );
}

#[tokio::test]
async fn the_watcher_ends_quietly_when_the_task_is_deleted() {
    let store = store(StoreConfig::default());
    let task = store
        .create(task_core::NewTask::new().owned_by("alice"))
        .await
        .unwrap();
    let watcher = {
        let (store, task) = (store.clone(), task.clone());
        tokio::spawn(async move {
            let mut sent = 0;
            let result = watch_task(store.as_ref(), &alice(), &task, |_| {
                sent += 1;
                async {}
            })
            .await;
            (result, sent)
        })
    };
    store.delete(&alice(), &task.task_id).await.unwrap();
    let (result, sent) = tokio::time::timeout(GUARD, watcher).await.unwrap().unwrap();
    assert!(result.is_ok());
    assert_eq!(sent, 0);
}
