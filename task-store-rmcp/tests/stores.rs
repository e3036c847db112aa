//! The manager against real stores: memory, a SQLite file and Redis. For SQLite and Redis a
//! second manager on a second store object (another process, as far as the store can tell)
//! answers and cancels the work the first one runs.

use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolResult, ContentBlock, DetailedTask, ErrorCode, InputRequest, TaskPayload, TaskStatus,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use task_store::{Scope, TaskStore};
use task_store_rmcp::{TaskExit, TaskManager, TaskOptions};

/// Guards against a hang only; nothing here depends on how fast a store is.
const PATIENCE: Duration = Duration::from_secs(30);

/// Two store objects sharing one backend: the worker's and the other manager's.
struct Pair {
    name: &'static str,
    worker: Arc<dyn TaskStore>,
    other: Arc<dyn TaskStore>,
    _dir: Option<tempfile::TempDir>,
}

async fn pairs() -> Vec<Pair> {
    let memory = task_store::open("memory://").await.expect("memory store");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sqlite = format!("sqlite://{}", dir.path().join("tasks.db").display());
    // scripts/test-all.sh exports REDIS_URL; a server at the default address otherwise.
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = format!(
        "{redis}?prefix=rmcp-test-{}",
        task_store::generate_task_id()
    );
    vec![
        Pair {
            name: "memory",
            worker: Arc::clone(&memory),
            other: memory,
            _dir: None,
        },
        Pair {
            name: "sqlite",
            worker: task_store::open(&sqlite).await.expect("sqlite store"),
            other: task_store::open(&sqlite)
                .await
                .expect("second sqlite store"),
            _dir: Some(dir),
        },
        Pair {
            name: "redis",
            worker: task_store::open(&redis).await.expect("redis store"),
            other: task_store::open(&redis).await.expect("second redis store"),
            _dir: None,
        },
    ]
}

fn ask(message: &str) -> InputRequest {
    serde_json::from_value(json!({
        "method": "elicitation/create",
        "params": {
            "message": message,
            "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}}
        }
    }))
    .expect("a valid elicitation request")
}

fn text(result: &CallToolResult) -> String {
    serde_json::to_value(result).expect("serialisable")["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits, on the store's wake-ups, until the task as `manager` shows it satisfies `done`.
async fn wait_until(
    manager: &TaskManager,
    task_id: &str,
    done: impl Fn(&DetailedTask) -> bool,
) -> DetailedTask {
    loop {
        // Read the change time first: a change after it ends the wait below at once.
        let seen = manager
            .store()
            .get(&Scope::All, task_id)
            .await
            .expect("the task")
            .last_updated_at;
        let task = manager.get_task(task_id).await.expect("the task");
        if done(&task) {
            return task;
        }
        let woken = manager
            .store()
            .wait_for_update(&Scope::All, task_id, seen, Some(PATIENCE))
            .await
            .expect("a wait");
        assert!(
            woken.last_updated_at > seen || woken.is_terminal(),
            "no change within {PATIENCE:?}: {task:?}"
        );
    }
}

fn pending_keys(task: &DetailedTask) -> Vec<String> {
    match &task.payload {
        TaskPayload::InputRequired { input_requests } => input_requests.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_from_another_manager_reach_a_worker_waiting_on_two_requests() {
    for pair in pairs().await {
        let name = pair.name;
        let worker = TaskManager::new(pair.worker);
        let other = TaskManager::new(pair.other);
        let task = worker
            .spawn(TaskOptions::default(), |ctx| {
                Box::pin(async move {
                    let (first, last) = tokio::join!(
                        ctx.request_input("first", ask("First name?")),
                        ctx.request_input("last", ask("Last name?")),
                    );
                    let (first, last) = (first?, last?);
                    Ok::<_, TaskExit>(CallToolResult::success(vec![ContentBlock::text(format!(
                        "{} {}",
                        first["content"]["name"], last["content"]["name"]
                    ))]))
                })
            })
            .await
            .expect("spawned");
        let id = task.task_id.as_str();

        let parked = wait_until(&other, id, |t| pending_keys(t).len() == 2).await;
        assert_eq!(parked.status(), TaskStatus::InputRequired, "{name}");

        let answer = |n: &str| json!({"action": "accept", "content": {"name": n}});
        other
            .update_task(id, [("first".to_owned(), answer("Ada"))])
            .await
            .expect("first answer");
        let half = other.get_task(id).await.expect("the task");
        assert!(
            half.status() == TaskStatus::InputRequired && pending_keys(&half) == ["last"],
            "{name}: {half:?}"
        );

        other
            .update_task(id, [("last".to_owned(), answer("Lovelace"))])
            .await
            .expect("second answer");
        let done = wait_until(&other, id, |t| t.status().is_terminal()).await;
        let TaskPayload::Completed { result } = &done.payload else {
            panic!("{name}: {done:?}");
        };
        let result: CallToolResult =
            serde_json::from_value(Value::Object(result.clone())).expect("a tool result");
        assert_eq!(text(&result), "\"Ada\" \"Lovelace\"", "{name}");
        assert_eq!(worker.running_task_count(), 0, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_from_another_manager_reaches_the_worker() {
    for pair in pairs().await {
        let name = pair.name;
        let worker = TaskManager::new(pair.worker);
        let other = TaskManager::new(pair.other);

        // One worker parked on an input request, one waiting on the cancel signal.
        let parked = worker
            .spawn(TaskOptions::default(), |ctx| {
                Box::pin(async move {
                    ctx.request_input("never", ask("Never answered")).await?;
                    Ok(CallToolResult::success(vec![]))
                })
            })
            .await
            .expect("spawned");
        let busy = worker
            .spawn(TaskOptions::default(), |ctx| {
                Box::pin(async move {
                    ctx.set_status_message("busy").await?;
                    ctx.cancelled().await;
                    assert!(ctx.is_cancel_requested());
                    Err(TaskExit::Cancelled)
                })
            })
            .await
            .expect("spawned");

        wait_until(&other, &parked.task_id, |t| {
            t.status() == TaskStatus::InputRequired
        })
        .await;
        wait_until(&other, &busy.task_id, |t| {
            t.task.status_message.as_deref() == Some("busy")
        })
        .await;
        for task in [&parked, &busy] {
            other.cancel_task(&task.task_id).await.expect("cancel");
            let done = wait_until(&other, &task.task_id, |t| t.status().is_terminal()).await;
            assert_eq!(done.status(), TaskStatus::Cancelled, "{name}: {done:?}");
        }
        // A cancel of a finished task changes nothing.
        other.cancel_task(&busy.task_id).await.expect("cancel");
        let still = other.get_task(&busy.task_id).await.expect("the task");
        assert_eq!(still.status(), TaskStatus::Cancelled, "{name}");
    }
}

/// While the work waits for input its own wait watches for a cancel request (the watcher
/// steps aside); once the wait ends the watcher watches again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_reaches_the_work_during_a_wait_for_input_and_after_one() {
    for pair in pairs().await {
        let name = pair.name;
        let worker = TaskManager::new(pair.worker);
        let other = TaskManager::new(pair.other);
        // Answered once, then waiting on the cancel signal alone.
        let answered = worker
            .spawn(TaskOptions::default(), |ctx| {
                Box::pin(async move {
                    ctx.request_input("go", ask("Go?")).await?;
                    ctx.set_status_message("answered").await?;
                    ctx.cancelled().await;
                    Err(TaskExit::Cancelled)
                })
            })
            .await
            .expect("spawned");
        // Waiting for input and on the cancel signal at once.
        let both = worker
            .spawn(TaskOptions::default(), |ctx| {
                Box::pin(async move {
                    let (asked, ()) = tokio::join!(
                        ctx.request_input("never", ask("Never answered")),
                        ctx.cancelled()
                    );
                    assert!(matches!(asked, Err(TaskExit::Cancelled)));
                    assert!(ctx.is_cancel_requested());
                    Err(TaskExit::Cancelled)
                })
            })
            .await
            .expect("spawned");

        wait_until(&other, &answered.task_id, |t| pending_keys(t) == ["go"]).await;
        other
            .update_task(
                &answered.task_id,
                [("go".to_owned(), json!({"action": "accept"}))],
            )
            .await
            .expect("answer");
        wait_until(&other, &answered.task_id, |t| {
            t.task.status_message.as_deref() == Some("answered")
        })
        .await;
        wait_until(&other, &both.task_id, |t| pending_keys(t) == ["never"]).await;
        for task in [&answered, &both] {
            other.cancel_task(&task.task_id).await.expect("cancel");
            let done = wait_until(&other, &task.task_id, |t| t.status().is_terminal()).await;
            assert_eq!(done.status(), TaskStatus::Cancelled, "{name}: {done:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_errors_and_jsonrpc_errors_come_back_as_the_extension_shows_them() {
    for pair in pairs().await {
        let name = pair.name;
        let worker = TaskManager::new(pair.worker);
        let other = TaskManager::new(pair.other);
        let options = TaskOptions::new()
            .with_ttl_ms(60_000)
            .with_poll_interval_ms(250);

        let tool_error = worker
            .spawn(options.clone(), |_| {
                Box::pin(async { Ok(CallToolResult::error(vec![ContentBlock::text("disk full")])) })
            })
            .await
            .expect("spawned");
        assert_eq!(tool_error.ttl_ms, Some(60_000), "{name}");
        assert_eq!(tool_error.poll_interval_ms, Some(250), "{name}");
        let done = wait_until(&other, &tool_error.task_id, |t| t.status().is_terminal()).await;
        let TaskPayload::Completed { result } = &done.payload else {
            panic!("{name}: {done:?}");
        };
        assert_eq!(result.get("isError"), Some(&json!(true)), "{name}");
        assert_eq!(result["content"][0]["text"], "disk full", "{name}");
        assert_eq!(done.task.ttl_ms, Some(60_000), "{name}");
        assert_eq!(done.task.poll_interval_ms, Some(250), "{name}");

        let failed = worker
            .spawn(options, |_| {
                Box::pin(async {
                    Err(TaskExit::Error(McpError::new(
                        ErrorCode(-32042),
                        "quota exceeded",
                        Some(json!({"retryAfterMs": 1000})),
                    )))
                })
            })
            .await
            .expect("spawned");
        let done = wait_until(&other, &failed.task_id, |t| t.status().is_terminal()).await;
        let TaskPayload::Failed { error } = &done.payload else {
            panic!("{name}: {done:?}");
        };
        assert_eq!(
            Value::Object(error.clone()),
            json!({"code": -32042, "message": "quota exceeded", "data": {"retryAfterMs": 1000}}),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_foreign_tasks_are_invalid_params() {
    for pair in pairs().await {
        let name = pair.name;
        let manager = TaskManager::new(pair.worker);
        let alice = manager.for_owner("alice");
        let bob = TaskManager::new(pair.other).for_owner("bob");
        let task = alice
            .spawn(TaskOptions::default(), |ctx| {
                Box::pin(async move {
                    ctx.cancelled().await;
                    Err(TaskExit::Cancelled)
                })
            })
            .await
            .expect("spawned");
        for id in ["no-such-task", task.task_id.as_str()] {
            let errors = [
                bob.get_task(id).await.expect_err("unknown"),
                bob.update_task(id, [("k".to_owned(), json!({}))])
                    .await
                    .expect_err("unknown"),
                bob.update_task(id, []).await.expect_err("unknown"),
                bob.cancel_task(id).await.expect_err("unknown"),
            ];
            for error in errors {
                assert_eq!(error.code, ErrorCode::INVALID_PARAMS, "{name}: {error:?}");
            }
        }
        // Answers for keys never asked change nothing.
        alice
            .update_task(&task.task_id, [("never-asked".to_owned(), json!({}))])
            .await
            .expect("ignored");
        alice.cancel_task(&task.task_id).await.expect("cancel");
        let done = wait_until(&alice, &task.task_id, |t| t.status().is_terminal()).await;
        assert_eq!(done.status(), TaskStatus::Cancelled, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_keep_waiting_work_alive_and_fail_work_that_stopped() {
    const LEASE: Duration = Duration::from_secs(1);
    for pair in pairs().await {
        let name = pair.name;
        let worker = TaskManager::new(pair.worker).with_lease(LEASE);
        let other = TaskManager::new(pair.other).with_lease(LEASE);
        let task = worker
            .spawn(TaskOptions::default(), |ctx| {
                Box::pin(async move {
                    ctx.request_input("never", ask("Never answered")).await?;
                    Ok(CallToolResult::success(vec![]))
                })
            })
            .await
            .expect("spawned");
        let id = task.task_id.as_str();
        let parked = wait_until(&other, id, |t| t.status() == TaskStatus::InputRequired).await;

        // Two whole leases later the waiting work still holds its task, renewed meanwhile.
        tokio::time::sleep(2 * LEASE).await;
        let waiting = other.get_task(id).await.expect("the task");
        assert_eq!(waiting.status(), TaskStatus::InputRequired, "{name}");
        assert!(
            waiting.task.last_updated_at > parked.task.last_updated_at,
            "{name}: the lease was renewed"
        );

        // The work stops, as in a process that died: its lease lapses and the task fails.
        worker.shutdown();
        let lapsed = wait_until(&other, id, |t| t.status().is_terminal()).await;
        assert_eq!(lapsed.status(), TaskStatus::Failed, "{name}: {lapsed:?}");
        let TaskPayload::Failed { error } = &lapsed.payload else {
            panic!("{name}: {lapsed:?}");
        };
        assert_eq!(error["message"], task_store_rmcp::LAPSED_MESSAGE, "{name}");
        assert_eq!(error["code"], ErrorCode::INTERNAL_ERROR.0, "{name}");
    }
}
