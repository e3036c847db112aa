//! The cases: hostile requests, hostile outcomes read back through `tasks/result`, 10 MB
//! payloads through `tasks/get` and `tasks/result`, and proof that a foreign id costs the same
//! store calls as a missing one.

use conformance_tests::cases::hostile::harness::{Fixtures, draw, for_each_input, show};
use conformance_tests::cases::hostile::strategies::{
    SMALL_LIMIT, any_name, error_data, json_value, result_object, ten_mb_result, ten_mb_text, text,
};
use conformance_tests::delegate::{Delegate, Delegating};
use conformance_tests::{CaseResult, StoreFactory, Verdict, ensure, ensure_eq, fail, step};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use task_core::backend::validate;
use task_core::jsonrpc::{ErrorData, INVALID_PARAMS};
use task_core::{
    NewTask, PageRequest, RELATED_TASK_META_KEY, Scope, StoreConfig, Task, TaskError, TaskStatus,
    TaskStore, TaskStoreExt,
};
use task_protocol::tools::{record_tool_outcome, tool_outcome_change};
use task_protocol::{ToolOutcome, handle};

/// The methods a request may name; the last is none of the handlers'.
const METHODS: [&str; 5] = [
    "tasks/get",
    "tasks/result",
    "tasks/list",
    "tasks/cancel",
    "tasks/update",
];
/// An id no task has.
const MISSING: &str = "00000000-0000-4000-8000-00000000beef";
/// Far longer than any answer should take; `tasks/result` blocks, so a wrong answer could hang.
const HANG: Duration = Duration::from_secs(30);

/// One request to the handlers.
#[derive(Clone, Debug)]
struct Request {
    method: &'static str,
    params: Option<Value>,
    caller: String,
}

fn request(fixture_ids: Vec<String>) -> impl Strategy<Value = Request> {
    let params = prop_oneof![
        json_value(),
        any_name().prop_map(|id| json!({ "taskId": id })),
        prop::sample::select(fixture_ids).prop_map(|id| json!({ "taskId": id })),
        json_value().prop_map(|id| json!({ "taskId": id })),
        any_name().prop_map(|cursor| json!({ "cursor": cursor })),
        json_value().prop_map(|cursor| json!({ "cursor": cursor })),
        (any_name(), json_value())
            .prop_map(|(id, odd)| json!({ "taskId": id, "_meta": odd, "extra": odd })),
    ];
    let caller = prop_oneof![any_name(), Just("a stranger".to_owned())];
    (
        prop::sample::select(METHODS.to_vec()),
        prop::option::of(params),
        caller,
    )
        .prop_map(|(method, params, caller)| Request {
            method,
            params,
            caller,
        })
}

async fn answer(
    store: &dyn TaskStore,
    request: &Request,
) -> Result<Option<Result<Value, ErrorData>>, String> {
    let caller = Scope::owner(request.caller.clone());
    let call = handle(store, &caller, request.method, request.params.clone());
    tokio::time::timeout(HANG, call)
        .await
        .map_err(|_| format!("{} hung", request.method))
}

/// The answer as text with `id` replaced, to compare a foreign id's answer with a missing one's.
fn masked(answer: &Option<Result<Value, ErrorData>>, id: &str) -> String {
    format!("{answer:?}").replace(id, "<id>")
}

/// Hostile requests to `tasks/*` from callers who own nothing: each is answered -32602 (or,
/// for `tasks/list`, with an empty page), never -32603 or a panic, within the hang guard; an
/// unknown method is left to the server; a foreign task's id gets exactly a missing id's
/// answer; and no request changes a task.
pub async fn protocol_hostile_requests(factory: &dyn StoreFactory) -> CaseResult {
    let store = factory.make(StoreConfig::default()).await;
    let fixtures = Fixtures::new(store.clone()).await?;
    let ids: Vec<String> = fixtures
        .records
        .iter()
        .map(|r| r.task.task_id.clone())
        .collect();
    let inputs = draw("protocol_hostile_requests", request(ids.clone()))?;
    let ids = Arc::new(ids);
    for_each_input("protocol_hostile_requests", inputs, move |request| {
        let (fixtures, ids) = (fixtures.clone(), ids.clone());
        async move {
            let store = fixtures.store.as_ref();
            let answered = answer(store, &request).await?;
            let accepted = match (&answered, request.method) {
                (None, "tasks/update") => false,
                (Some(Ok(page)), "tasks/list") => {
                    if page["tasks"] != json!([]) || page.get("nextCursor").is_some() {
                        return Err(format!("a caller who owns nothing listed {page}"));
                    }
                    true
                }
                (Some(Err(error)), _) if error.code == INVALID_PARAMS => false,
                (other, method) => return Err(format!("{method} answered {}", show(other))),
            };
            let named = request
                .params
                .as_ref()
                .and_then(|p| p.get("taskId"))
                .and_then(Value::as_str)
                .filter(|id| ids.iter().any(|f| f == id));
            if let Some(foreign) = named {
                let mut missing = request.clone();
                if let Some(Value::Object(params)) = &mut missing.params {
                    params.insert("taskId".into(), json!(MISSING));
                }
                let for_missing = answer(store, &missing).await?;
                if masked(&answered, foreign) != masked(&for_missing, MISSING) {
                    return Err(format!(
                        "a foreign id answered {} but a missing one {}",
                        show(&answered),
                        show(&for_missing)
                    ));
                }
            }
            fixtures.unchanged().await?;
            Ok(accepted)
        }
    })
    .await
}

/// A tool's outcome: a result (sometimes an error result or one with its own `_meta`), or a
/// JSON-RPC error; with a status message before it.
#[derive(Clone, Debug)]
struct Ending {
    message: String,
    outcome: ToolOutcome,
}

fn ending() -> impl Strategy<Value = Ending> {
    let result = prop_oneof![
        result_object(),
        (result_object(), text()).prop_map(|(mut result, said)| {
            result.insert("isError".into(), json!(true));
            result.insert("content".into(), json!([{ "type": "text", "text": said }]));
            result
        }),
        (result_object(), json_value()).prop_map(|(mut result, meta)| {
            result.insert("_meta".into(), meta);
            result
        }),
    ];
    let error =
        (any::<i64>(), text(), error_data(json_value())).prop_map(|(code, message, data)| {
            ErrorData {
                code,
                message,
                data,
            }
        });
    let outcome = prop_oneof![result.prop_map(Ok), error.prop_map(Err)];
    (text(), outcome).prop_map(|(message, outcome)| Ending { message, outcome })
}

/// What `tasks/result` must answer for a stored result: the result, with the related-task
/// entry added to its `_meta` (kept when it is an object, replaced when it is not).
fn with_related_task(mut result: Map<String, Value>, task_id: &str) -> Value {
    let mut meta = match result.remove("_meta") {
        Some(Value::Object(meta)) => meta,
        _ => Map::new(),
    };
    meta.insert(
        RELATED_TASK_META_KEY.to_owned(),
        json!({ "taskId": task_id }),
    );
    result.insert("_meta".into(), Value::Object(meta));
    Value::Object(result)
}

/// Hostile status messages and tool outcomes, written the way a server does and read back
/// through `tasks/get`, `tasks/list` and `tasks/result`: what fits the payload limit comes back
/// verbatim (a JSON-RPC error as that same error); what does not is refused and leaves the task
/// running.
pub async fn protocol_hostile_outcomes(factory: &dyn StoreFactory) -> CaseResult {
    let config = StoreConfig::default().with_max_payload_bytes(SMALL_LIMIT);
    let store = factory.make(config.clone()).await;
    let config = Arc::new(config);
    let inputs = draw("protocol_hostile_outcomes", ending())?;
    for_each_input("protocol_hostile_outcomes", inputs, move |ending| {
        let (store, config) = (store.clone(), config.clone());
        async move { check_ending(store.as_ref(), &config, ending).await }
    })
    .await
}

async fn check_ending(
    store: &dyn TaskStore,
    config: &StoreConfig,
    ending: Ending,
) -> Result<bool, String> {
    let caller = Scope::owner("protocol-caller");
    let call = |method: &'static str, id: &str| {
        let params = json!({ "taskId": id });
        let caller = caller.clone();
        async move {
            let answered = handle(store, &caller, method, Some(params));
            match tokio::time::timeout(HANG, answered).await {
                Ok(Some(answer)) => Ok(answer),
                Ok(None) => Err(format!("{method} is not handled")),
                Err(_) => Err(format!("{method} hung")),
            }
        }
    };
    let task = store
        .create(NewTask::new().owned_by("protocol-caller"))
        .await
        .map_err(|e| format!("create: {e}"))?;
    let id = task.task_id.as_str();
    let message_fits = validate::message(&ending.message, config.max_payload_bytes).is_ok();
    match store.set_message(&caller, id, &ending.message).await {
        Ok(_) if message_fits => {}
        Err(TaskError::InvalidInput(_)) if !message_fits => {}
        other => return Err(format!("set_message gave {}", show(&other))),
    }
    let got = call("tasks/get", id).await?.map_err(|e| e.message)?;
    let shown = got.get("statusMessage").and_then(Value::as_str);
    if message_fits && shown != Some(ending.message.as_str()) {
        return Err(format!("tasks/get shows the message as {}", show(&shown)));
    }
    let change = tool_outcome_change(ending.outcome.clone());
    let fits = validate::change(&change, config).is_ok();
    let recorded = record_tool_outcome(store, id, ending.outcome.clone()).await;
    if !fits {
        refused_tool_outcome(recorded)?;
        let still = call("tasks/get", id).await?.map_err(|e| e.message)?;
        if still["status"] != "working" {
            return Err(format!(
                "a refused outcome left the task {}",
                still["status"]
            ));
        }
        store.delete(&caller, id).await.map_err(|e| e.to_string())?;
        return Ok(false);
    }
    recorded.map_err(|e| format!("recording the outcome: {e}"))?;
    let result = call("tasks/result", id).await?;
    let expected = match ending.outcome {
        Ok(stored) => Ok(with_related_task(stored, id)),
        Err(error) => Err(error),
    };
    if result != expected {
        return Err(format!("tasks/result answered {}", show(&result)));
    }
    let got = call("tasks/get", id).await?.map_err(|e| e.message)?;
    let listed = handle(store, &caller, "tasks/list", None).await;
    let listed = listed
        .ok_or("tasks/list is not handled")?
        .map_err(|e| e.message)?;
    if listed["tasks"] != json!([got]) {
        return Err(format!("tasks/list shows {}", show(&listed)));
    }
    store.delete(&caller, id).await.map_err(|e| e.to_string())?;
    Ok(true)
}

fn refused_tool_outcome(recorded: Result<Task, TaskError>) -> Result<(), String> {
    match recorded {
        Err(TaskError::InvalidInput(_)) => Ok(()),
        other => Err(format!("an oversized outcome gave {}", show(&other))),
    }
}

/// A store that records which of its calls were made, in order.
#[derive(Debug)]
struct Recording {
    inner: Arc<dyn TaskStore>,
    calls: Mutex<Vec<&'static str>>,
}

impl Recording {
    fn take(&self) -> Vec<&'static str> {
        std::mem::take(
            &mut *self
                .calls
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl Delegate for Recording {
    fn inner(&self) -> &dyn TaskStore {
        self.inner.as_ref()
    }

    fn before(&self, call: &'static str) -> Result<(), TaskError> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(call);
        Ok(())
    }
}

/// Through the handlers, another owner's task (running or finished) and a missing id get the
/// same answer from the same store calls, for `tasks/get`, `tasks/result`, `tasks/cancel`, and
/// `tasks/list` with the other owner's cursor: nothing, not even an extra round trip, tells
/// the caller that the task exists.
pub async fn protocol_foreign_like_missing(factory: &dyn StoreFactory) -> CaseResult {
    let inner = factory.make(StoreConfig::default()).await;
    let store = Delegating(Recording {
        inner,
        calls: Mutex::default(),
    });
    let (alice, bob) = (Scope::owner("alice"), Scope::owner("bob"));
    let running = step!(store.create(NewTask::new().owned_by("alice")).await);
    let finished = step!(store.create(NewTask::new().owned_by("alice")).await);
    step!(store.complete(&alice, &finished.task_id, Map::new()).await);
    step!(store.create(NewTask::new().owned_by("alice")).await);
    let page = step!(store.list(&alice, PageRequest::first().with_limit(1)).await);
    let Some(alices_cursor) = page.next_cursor else {
        return Err(fail!("alice has a second page"));
    };
    store.take();
    for foreign in [&running.task_id, &finished.task_id] {
        for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
            let mut runs = Vec::new();
            for id in [foreign.as_str(), MISSING] {
                let params = json!({ "taskId": id });
                let answered = handle(&store, &bob, method, Some(params)).await;
                runs.push((store.take(), masked(&answered, id)));
            }
            ensure_eq!(runs[0], runs[1], "{method}: a foreign id and a missing one");
        }
    }
    let mut runs = Vec::new();
    for cursor in [alices_cursor.clone(), "00".repeat(alices_cursor.len() / 2)] {
        let params = json!({ "cursor": cursor });
        let answered = handle(&store, &bob, "tasks/list", Some(params)).await;
        runs.push((store.take(), format!("{answered:?}")));
    }
    ensure_eq!(
        runs[0],
        runs[1],
        "tasks/list: alice's cursor and a garbage one"
    );
    let still = step!(store.get_record(&alice, &running.task_id).await);
    ensure_eq!(
        still.task.status,
        TaskStatus::Working,
        "bob changed nothing"
    );
    Ok(Verdict::Passed)
}

/// Ten-megabyte payloads through the handlers: `tasks/get` answers a 10 MB status message
/// exactly, and `tasks/result` a 10 MB result, with the related-task `_meta` added.
pub async fn protocol_ten_mb_payloads(factory: &dyn StoreFactory) -> CaseResult {
    let all = &Scope::All;
    let big = ten_mb_text();
    let result = ten_mb_result(&big);
    let roomy = factory.make(StoreConfig::default()).await;
    let messaged = step!(roomy.create(NewTask::new()).await);
    step!(roomy.set_message(all, &messaged.task_id, &big).await);
    let completed = step!(roomy.create(NewTask::new()).await);
    step!(
        roomy
            .complete(all, &completed.task_id, result.clone())
            .await
    );
    let answer = |method: &'static str, id: &str| {
        let params = json!({ "taskId": id });
        let store = roomy.clone();
        async move { handle(store.as_ref(), all, method, Some(params)).await }
    };
    match answer("tasks/get", &messaged.task_id).await {
        Some(Ok(got)) => ensure!(
            got["statusMessage"].as_str() == Some(big.as_str()),
            "tasks/get answers the 10 MB message exactly"
        ),
        other => {
            return Err(fail!(
                "tasks/get gave {}",
                show(&other.map(|a| a.map(|_| ())))
            ));
        }
    }
    match answer("tasks/result", &completed.task_id).await {
        Some(Ok(Value::Object(mut got))) => {
            ensure!(got.remove("_meta").is_some(), "tasks/result adds `_meta`");
            ensure!(
                got == result,
                "tasks/result answers the 10 MB result exactly"
            );
        }
        other => {
            return Err(fail!(
                "tasks/result gave {}",
                show(&other.map(|a| a.map(|_| ())))
            ));
        }
    }
    Ok(Verdict::Passed)
}
