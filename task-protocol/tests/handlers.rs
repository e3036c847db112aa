//! The `tasks/*` handlers against the in-memory reference store.

use conformance_tests::delegate::{Delegate, Delegating};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use task_core::jsonrpc::{ErrorData, INTERNAL_ERROR, INVALID_PARAMS};
use task_core::{
    NewTask, Retry, Scope, StoreConfig, Task, TaskChange, TaskError, TaskOutcome, TaskStatus,
    TaskStore, TaskStoreExt,
};
use task_protocol::handle;
use task_store_memory::MemoryTaskStore;

const GUARD: Duration = Duration::from_secs(30);

fn store(config: StoreConfig) -> Arc<dyn TaskStore> {
    Arc::new(MemoryTaskStore::new(config))
}

fn alice() -> Scope {
    Scope::owner("alice")
}

async fn call(
    store: &dyn TaskStore,
    caller: &Scope,
    method: &str,
    params: Value,
) -> Result<Value, ErrorData> {
    handle(store, caller, method, Some(params))
        .await
        .expect("a tasks/* method")
}

/// Calls a method about one task as Alice.
async fn on_task(store: &dyn TaskStore, method: &str, task_id: &str) -> Result<Value, ErrorData> {
    call(store, &alice(), method, json!({"taskId": task_id})).await
}

async fn create(store: &dyn TaskStore, owner: &str) -> Task {
    store
        .create(NewTask::new().owned_by(owner).with_ttl(60_000))
        .await
        .unwrap()
}

fn text_result(text: &str) -> Map<String, Value> {
    json!({"content": [{"type": "text", "text": text}]})
        .as_object()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn get_answers_the_task_flat() {
    let store = store(StoreConfig::default());
    let task = create(store.as_ref(), "alice").await;
    let answer = on_task(store.as_ref(), "tasks/get", &task.task_id)
        .await
        .unwrap();
    assert_eq!(answer, serde_json::to_value(&task).unwrap());
    assert_eq!(answer["status"], "working");
    assert_eq!(answer["ttl"], 60_000);
    assert!(answer.get("task").is_none() && answer.get("_meta").is_none());
}

#[tokio::test]
async fn unknown_foreign_and_expired_ids_are_invalid_params() {
    let store = store(StoreConfig::default());
    let bobs = create(store.as_ref(), "bob").await;
    let short = store
        .create(NewTask::new().owned_by("alice").with_ttl(1))
        .await
        .unwrap();
    tokio::time::timeout(GUARD, async {
        while store.get(&alice(), &short.task_id).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the 1 ms task expires");
    for id in [
        "no-such-task",
        bobs.task_id.as_str(),
        short.task_id.as_str(),
    ] {
        for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
            let error = call(store.as_ref(), &alice(), method, json!({"taskId": id}))
                .await
                .unwrap_err();
            assert_eq!(error.code, INVALID_PARAMS, "{method} {id}");
            assert_eq!(error.message, format!("Task not found: {id}"));
        }
    }
    // Bob's task is untouched by Alice's cancel.
    assert_eq!(
        store.get(&Scope::All, &bobs.task_id).await.unwrap().status,
        TaskStatus::Working
    );
}

#[tokio::test]
async fn malformed_params_are_invalid_params() {
    let store = store(StoreConfig::default());
    for (method, params) in [
        ("tasks/get", None),
        ("tasks/get", Some(json!({"taskId": 7}))),
        ("tasks/result", Some(json!({"id": "x"}))),
        ("tasks/cancel", Some(json!([]))),
        ("tasks/list", Some(json!({"cursor": 3}))),
        ("tasks/get", Some(json!({"taskId": ""}))),
    ] {
        let error = handle(store.as_ref(), &alice(), method, params.clone())
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(error.code, INVALID_PARAMS, "{method} {params:?}");
    }
    assert!(
        handle(store.as_ref(), &alice(), "tools/list", None)
            .await
            .is_none()
    );
}

#[tokio::test]
async fn list_shows_only_the_callers_tasks_page_by_page() {
    let store = store(StoreConfig::default().with_page_size(2, 2));
    let mut mine = Vec::new();
    for i in 0..5 {
        mine.push(create(store.as_ref(), "alice").await);
        if i % 2 == 0 {
            create(store.as_ref(), "bob").await;
        }
    }
    let mut seen = Vec::new();
    let mut params = json!({});
    loop {
        let page = call(store.as_ref(), &alice(), "tasks/list", params)
            .await
            .unwrap();
        let tasks = page["tasks"].as_array().unwrap();
        assert!(tasks.len() <= 2);
        seen.extend(
            tasks
                .iter()
                .map(|t| t["taskId"].as_str().unwrap().to_owned()),
        );
        match page.get("nextCursor") {
            Some(cursor) => params = json!({"cursor": cursor}),
            None => break,
        }
    }
    // Oldest first, ties broken by id.
    mine.sort_by(|a, b| (a.created_at, &a.task_id).cmp(&(b.created_at, &b.task_id)));
    let mine: Vec<String> = mine.into_iter().map(|t| t.task_id).collect();
    assert_eq!(seen, mine);
    // Absent params list the first page too.
    let first = handle(store.as_ref(), &alice(), "tasks/list", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first["tasks"][0]["taskId"], mine[0].as_str());
}

#[tokio::test]
async fn bad_or_foreign_cursors_are_invalid_params() {
    let store = store(StoreConfig::default().with_page_size(1, 1));
    create(store.as_ref(), "alice").await;
    create(store.as_ref(), "alice").await;
    let page = call(store.as_ref(), &alice(), "tasks/list", json!({}))
        .await
        .unwrap();
    let cursor = page["nextCursor"].clone();
    assert!(cursor.is_string());
    let bob = Scope::owner("bob");
    for (caller, cursor) in [(&alice(), json!("garbage")), (&bob, cursor)] {
        let error = call(
            store.as_ref(),
            caller,
            "tasks/list",
            json!({"cursor": cursor}),
        )
        .await
        .unwrap_err();
        assert_eq!(error.code, INVALID_PARAMS);
        assert_eq!(error.message, "Invalid cursor");
    }
}

#[tokio::test]
async fn cancel_answers_flat_and_refuses_terminal_tasks() {
    let store = store(StoreConfig::default());
    let task = create(store.as_ref(), "alice").await;
    let params = json!({"taskId": task.task_id});
    let answer = call(store.as_ref(), &alice(), "tasks/cancel", params.clone())
        .await
        .unwrap();
    assert_eq!(answer["status"], "cancelled");
    assert_eq!(answer["taskId"], task.task_id.as_str());
    assert!(answer.get("task").is_none());
    let again = call(store.as_ref(), &alice(), "tasks/cancel", params)
        .await
        .unwrap_err();
    assert_eq!(again.code, INVALID_PARAMS);
    assert_eq!(
        again.message,
        "Cannot cancel task in terminal state 'cancelled'"
    );

    let done = create(store.as_ref(), "alice").await;
    store
        .complete(&alice(), &done.task_id, Map::new())
        .await
        .unwrap();
    let error = on_task(store.as_ref(), "tasks/cancel", &done.task_id)
        .await
        .unwrap_err();
    assert_eq!(error.code, INVALID_PARAMS);
    assert_eq!(
        store.get(&alice(), &done.task_id).await.unwrap().status,
        TaskStatus::Completed
    );
}

#[tokio::test]
async fn result_waits_for_completion_and_carries_related_task_meta() {
    let store = store(StoreConfig::default());
    let task = create(store.as_ref(), "alice").await;
    let waiter = {
        let store = store.clone();
        let params = json!({"taskId": task.task_id});
        tokio::spawn(async move { call(store.as_ref(), &alice(), "tasks/result", params).await })
    };
    // A status change that is not terminal does not end the wait.
    store
        .set_message(&alice(), &task.task_id, "half way")
        .await
        .unwrap();
    let mut result = text_result("done");
    result.insert("_meta".into(), json!({"app/trace": "abc"}));
    store
        .complete(&alice(), &task.task_id, result)
        .await
        .unwrap();
    let answer = tokio::time::timeout(GUARD, waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(answer["content"][0]["text"], "done");
    assert_eq!(
        answer["_meta"],
        json!({"app/trace": "abc", "io.modelcontextprotocol/related-task": {"taskId": task.task_id}})
    );
}

#[tokio::test]
async fn result_of_a_failed_request_is_its_error() {
    let store = store(StoreConfig::default());
    let task = create(store.as_ref(), "alice").await;
    let error = ErrorData {
        code: -32000,
        message: "boom".into(),
        data: Some(json!({"why": "testing"})),
    };
    let change = TaskChange::finish(TaskStatus::Failed, TaskOutcome::Error(error.clone()), None);
    store.update(&alice(), &task.task_id, change).await.unwrap();
    let answer = on_task(store.as_ref(), "tasks/result", &task.task_id).await;
    assert_eq!(answer, Err(error));
}

#[tokio::test]
async fn result_of_a_tool_error_result_is_that_result() {
    let store = store(StoreConfig::default());
    let task = create(store.as_ref(), "alice").await;
    let mut result = text_result("bad input");
    result.insert("isError".into(), json!(true));
    let change = TaskChange::finish(TaskStatus::Failed, TaskOutcome::Result(result), None);
    store.update(&alice(), &task.task_id, change).await.unwrap();
    let answer = on_task(store.as_ref(), "tasks/result", &task.task_id)
        .await
        .unwrap();
    assert_eq!(answer["isError"], true);
    assert_eq!(answer["content"][0]["text"], "bad input");
    assert_eq!(
        answer["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        task.task_id.as_str()
    );
}

#[tokio::test]
async fn result_of_a_cancelled_task_is_a_clear_error() {
    let store = store(StoreConfig::default());
    let task = create(store.as_ref(), "alice").await;
    let waiter = {
        let store = store.clone();
        let params = json!({"taskId": task.task_id});
        tokio::spawn(async move { call(store.as_ref(), &alice(), "tasks/result", params).await })
    };
    on_task(store.as_ref(), "tasks/cancel", &task.task_id)
        .await
        .unwrap();
    let error = tokio::time::timeout(GUARD, waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(error.code, INVALID_PARAMS);
    assert_eq!(
        error.message,
        format!("Task {} was cancelled and has no result", task.task_id)
    );
    assert_eq!(
        error.data,
        Some(json!({"taskId": task.task_id, "status": "cancelled"}))
    );
}

/// The memory store with a switch that makes every call fail as a lost connection would.
#[derive(Debug)]
struct Unreachable {
    inner: MemoryTaskStore,
    down: AtomicBool,
}

impl Delegate for Unreachable {
    fn inner(&self) -> &dyn TaskStore {
        &self.inner
    }

    fn before(&self, _call: &'static str) -> Result<(), TaskError> {
        if self.down.load(Ordering::SeqCst) {
            Err(TaskError::backend(
                "test",
                Retry::Safe,
                "connection refused",
            ))
        } else {
            Ok(())
        }
    }
}

#[tokio::test]
async fn storage_failures_are_internal_errors() {
    let store = Delegating(Unreachable {
        inner: MemoryTaskStore::new(StoreConfig::default()),
        down: AtomicBool::new(false),
    });
    let task = create(&store, "alice").await;
    store.down.store(true, Ordering::SeqCst);
    for (method, params) in [
        ("tasks/get", json!({"taskId": task.task_id})),
        ("tasks/result", json!({"taskId": task.task_id})),
        ("tasks/cancel", json!({"taskId": task.task_id})),
        ("tasks/list", json!({})),
    ] {
        let error = call(&store, &alice(), method, params).await.unwrap_err();
        assert_eq!(error.code, INTERNAL_ERROR, "{method}");
        assert_eq!(
            error.data,
            Some(json!({"retryable": true, "outcomeUnknown": false}))
        );
    }
    store.down.store(false, Ordering::SeqCst);
    assert_eq!(
        store.get(&alice(), &task.task_id).await.unwrap().status,
        TaskStatus::Working
    );
}
