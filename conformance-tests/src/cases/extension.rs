use super::*;
use crate::Verdict;
use serde_json::json;
use std::time::Duration;
use task_core::jsonrpc::ErrorData;
use task_core::{CurrentTask, TaskOutcome, TaskRecord, TaskStoreExt};
use tokio::sync::Barrier;

/// Longest a waiter may take to see a change before the case calls it lost.
const HANG: Duration = Duration::from_secs(60);

/// A key full of the syntax of SQL, JSON paths, Redis keys and globs, kept verbatim.
const ODD_KEY: &str = "{k}:* ü'\\\"$.[0]";

/// An `elicitation/create` request object asking `message`.
fn elicitation(message: &str) -> Value {
    json!({
        "method": "elicitation/create",
        "params": {"message": message, "requestedSchema": {"type": "object"}},
    })
}

/// Input requests by key, one elicitation each.
fn asks(keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .map(|key| ((*key).to_owned(), elicitation(key)))
        .collect()
}

/// Answers by key.
fn answers(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect()
}

async fn record(store: &dyn TaskStore, task_id: &str) -> Result<TaskRecord, TaskError> {
    store.get_record(&Scope::All, task_id).await
}

/// A working task that asked for `keys`.
async fn asking(store: &dyn TaskStore, keys: &[&str]) -> Result<Task, TaskError> {
    let task = store.create(NewTask::new()).await?;
    store
        .request_input(&Scope::All, &task.task_id, asks(keys))
        .await
}

/// Input requests park the task in `input_required` with every request pending, kept as
/// given, and shown by the extension's view.
pub async fn input_requests_park_the_task(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(store.create(NewTask::new().owned_by("alice")).await);
    let alice = Scope::owner("alice");
    let parked = step!(
        store
            .request_input(&alice, &task.task_id, asks(&["a"]))
            .await
    );
    ensure_eq!(parked.status, TaskStatus::InputRequired, "status");
    ensure!(
        parked.last_updated_at > task.last_updated_at,
        "lastUpdatedAt must grow"
    );
    let more = step!(
        store
            .request_input(&alice, &task.task_id, asks(&["b", ODD_KEY]))
            .await
    );
    ensure_eq!(more.status, TaskStatus::InputRequired, "status");
    let held = step!(record(store.as_ref(), &task.task_id).await);
    ensure_eq!(held.task, more, "the record's task");
    ensure_eq!(
        held.input_requests,
        asks(&["a", "b", ODD_KEY]),
        "pending requests"
    );
    let used: Vec<&str> = held.input_keys_used.iter().map(String::as_str).collect();
    ensure_eq!(used, ["a", "b", ODD_KEY], "keys used");
    ensure!(held.input_responses.is_empty(), "no answers yet");
    let shown = held.detailed();
    ensure_eq!(
        shown.input_requests,
        Some(asks(&["a", "b", ODD_KEY])),
        "view"
    );
    ensure_eq!(shown.status, TaskStatus::InputRequired, "view status");
    let bob = store
        .request_input(&Scope::owner("bob"), &task.task_id, asks(&["d"]))
        .await;
    ensure_err!(bob, TaskError::NotFound { .. }, "another owner's task");
    let empty = store
        .request_input(&Scope::All, &task.task_id, Map::new())
        .await;
    ensure_err!(empty, TaskError::InvalidInput(_), "no keys");
    let bad_key = store
        .request_input(&Scope::All, &task.task_id, asks(&["bad\nkey"]))
        .await;
    ensure_err!(bad_key, TaskError::InvalidInput(_), "a control character");
    let after = step!(record(store.as_ref(), &task.task_id).await);
    ensure_eq!(after, held, "refused requests change nothing");
    Ok(Verdict::Passed)
}

/// A key is never used twice over a task's life, pending or answered: asking again is a
/// typed error and changes nothing, even for the other keys of the same call.
pub async fn input_keys_never_reused(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(asking(store.as_ref(), &["a"]).await);
    let id = &task.task_id;
    let before = step!(record(store.as_ref(), id).await);
    ensure_err!(
        store.request_input(&Scope::All, id, asks(&["a"])).await,
        TaskError::InputKeyReused { .. },
        "a pending key"
    );
    ensure_err!(
        store
            .request_input(&Scope::All, id, asks(&["a", "b"]))
            .await,
        TaskError::InputKeyReused { .. },
        "a pending key among new ones"
    );
    ensure_eq!(
        step!(record(store.as_ref(), id).await),
        before,
        "nothing changed"
    );
    step!(
        store
            .respond(
                &Scope::All,
                id,
                answers(&[("a", json!({"action": "accept"}))])
            )
            .await
    );
    let answered = step!(record(store.as_ref(), id).await);
    match store.request_input(&Scope::All, id, asks(&["a"])).await {
        Err(TaskError::InputKeyReused { key, .. }) => ensure_eq!(key, "a", "the key named"),
        other => return Err(fail!("an answered key asked again gave {other:?}")),
    }
    ensure_eq!(
        step!(record(store.as_ref(), id).await),
        answered,
        "nothing changed"
    );
    let fresh = step!(store.request_input(&Scope::All, id, asks(&["b"])).await);
    ensure_eq!(
        fresh.status,
        TaskStatus::InputRequired,
        "a new key still works"
    );
    Ok(Verdict::Passed)
}

/// An answer may cover some keys: those leave the pending set at once and the task stays
/// `input_required` until none is pending; unknown and already answered keys are ignored, and
/// an answer with nothing pending in it changes nothing at all.
pub async fn partial_answers_keep_the_rest_pending(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(asking(store.as_ref(), &["a", "b", "c"]).await);
    let id = &task.task_id;
    let first = answers(&[("a", json!(1)), ("never-asked", json!("x"))]);
    let after_a = step!(store.respond(&Scope::All, id, first).await);
    ensure_eq!(after_a.status, TaskStatus::InputRequired, "b and c pending");
    ensure!(
        after_a.last_updated_at > task.last_updated_at,
        "an answer is a change"
    );
    let held = step!(record(store.as_ref(), id).await);
    ensure_eq!(held.input_requests, asks(&["b", "c"]), "pending after a");
    ensure_eq!(held.input_responses, answers(&[("a", json!(1))]), "answers");
    for ignored in [
        answers(&[("a", json!(2))]),
        answers(&[("zzz", json!(3))]),
        Map::new(),
    ] {
        let same = step!(store.respond(&Scope::All, id, ignored.clone()).await);
        ensure_eq!(same, held.task, "acknowledged: {ignored:?}");
        let after = step!(record(store.as_ref(), id).await);
        ensure_eq!(
            after,
            held,
            "nothing pending answered changes nothing: {ignored:?}"
        );
    }
    let after_b = step!(
        store
            .respond(&Scope::All, id, answers(&[("b", json!(true))]))
            .await
    );
    ensure_eq!(after_b.status, TaskStatus::InputRequired, "c pending");
    let done = step!(
        store
            .respond(
                &Scope::All,
                id,
                answers(&[("c", json!(null)), ("a", json!(9))])
            )
            .await
    );
    ensure_eq!(
        done.status,
        TaskStatus::Working,
        "none pending: working again"
    );
    let held = step!(record(store.as_ref(), id).await);
    ensure!(held.input_requests.is_empty(), "nothing pending");
    let expected = answers(&[("a", json!(1)), ("b", json!(true)), ("c", json!(null))]);
    ensure_eq!(held.input_responses, expected, "every first answer kept");
    ensure_eq!(
        held.detailed().input_requests,
        None,
        "a working task shows none"
    );
    Ok(Verdict::Passed)
}

/// A task's current part (`get_current`) is its record without the keys used, the other
/// answers and the original request, each part as the record holds it; another owner's scope
/// sees no task. `wait_for_answer` finds an answer given before it waits, wakes for one given
/// while it waits, and ends without one at a cancel request.
pub async fn current_part_of_the_record(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let new = NewTask::new()
        .owned_by("alice")
        .with_request("tools/call", json!({"name": "t"}));
    let task = step!(store.create(new).await);
    let id = task.task_id.clone();
    let alice = Scope::owner("alice");
    step!(
        store
            .request_input(&alice, &id, asks(&["a", ODD_KEY]))
            .await
    );
    let first = json!({"action": "accept", "content": {"n": 1}});
    step!(
        store
            .respond(&alice, &id, answers(&[("a", first.clone())]))
            .await
    );
    step!(store.request_input(&alice, &id, asks(&["b"])).await);
    let held = step!(record(store.as_ref(), &id).await);
    for key in [None, Some("a"), Some(ODD_KEY), Some("b"), Some("never")] {
        let current = step!(store.get_current(&alice, &id, key).await);
        let expected = CurrentTask::of(held.clone(), key);
        ensure_eq!(current, expected, "the current part, answer to {key:?}");
    }
    let current = step!(store.get_current(&Scope::All, &id, Some("a")).await);
    ensure_eq!(current.answer, Some(first.clone()), "the answer");
    ensure_eq!(current.input_requests, asks(&[ODD_KEY, "b"]), "pending");
    ensure_eq!(current.detailed(), held.detailed(), "the extension's view");
    let bob = store.get_current(&Scope::owner("bob"), &id, None).await;
    ensure_err!(bob, TaskError::NotFound { .. }, "another owner's task");

    let early = step!(
        store
            .wait_for_answer(&Scope::All, &id, "a", Some(HANG))
            .await
    );
    ensure_eq!(early.answer, Some(first), "an answer given before the wait");
    let worker = {
        let (store, id) = (store.clone(), id.clone());
        tokio::spawn(async move {
            store
                .wait_for_answer(&Scope::All, &id, "b", Some(HANG))
                .await
        })
    };
    step!(
        store
            .respond(&alice, &id, answers(&[("b", json!(2))]))
            .await
    );
    let woke = step!(step!(worker.await));
    ensure_eq!(
        woke.answer,
        Some(json!(2)),
        "an answer given during the wait"
    );

    step!(store.request_input(&alice, &id, asks(&["c"])).await);
    step!(store.request_cancel(&alice, &id).await);
    let cancelled = step!(
        store
            .wait_for_answer(&Scope::All, &id, "c", Some(HANG))
            .await
    );
    ensure!(
        cancelled.cancel_requested && cancelled.answer.is_none(),
        "a cancel request ends the wait without an answer"
    );
    let result = Map::from_iter([("content".to_owned(), json!([]))]);
    step!(store.complete(&alice, &id, result.clone()).await);
    let done = step!(store.get_current(&alice, &id, Some("a")).await);
    ensure_eq!(
        done.outcome,
        Some(TaskOutcome::Result(result)),
        "the outcome"
    );
    ensure_eq!(done.answer, None, "answers are dropped when the task ends");
    let held = step!(record(store.as_ref(), &id).await);
    ensure_eq!(done, CurrentTask::of(held, Some("a")), "the ended task");
    Ok(Verdict::Passed)
}

/// A worker waiting for its answer wakes when it arrives and finds it in the record; an
/// answer written through another owner's scope never reaches it.
pub async fn answers_wake_the_worker(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(store.create(NewTask::new().owned_by("alice")).await);
    let id = task.task_id.clone();
    step!(store.request_input(&Scope::All, &id, asks(&["name"])).await);
    let worker = {
        let (store, id) = (store.clone(), id.clone());
        tokio::spawn(async move {
            store
                .wait_for_answer(&Scope::All, &id, "name", Some(HANG))
                .await
        })
    };
    let stranger = store
        .respond(
            &Scope::owner("bob"),
            &id,
            answers(&[("name", json!("eve"))]),
        )
        .await;
    ensure_err!(
        stranger,
        TaskError::NotFound { .. },
        "another owner answers"
    );
    let answer = json!({"action": "accept", "content": {"name": "Ada"}});
    step!(
        store
            .respond(
                &Scope::owner("alice"),
                &id,
                answers(&[("name", answer.clone())])
            )
            .await
    );
    let woke = step!(step!(worker.await));
    ensure_eq!(
        woke.answer.as_ref(),
        Some(&answer),
        "the worker got the answer"
    );
    ensure_eq!(woke.task.status, TaskStatus::Working, "working again");
    Ok(Verdict::Passed)
}

/// Answers and input requests over the store's payload limit are refused with a clear
/// error and change nothing.
pub async fn input_payload_limit(factory: &dyn StoreFactory) -> CaseResult {
    let config = StoreConfig {
        max_payload_bytes: 1024,
        ..StoreConfig::default()
    };
    let store = open_store(factory, config).await;
    let task = step!(asking(store.as_ref(), &["a"]).await);
    let id = &task.task_id;
    let before = step!(record(store.as_ref(), id).await);
    let big = json!("x".repeat(2048));
    match store
        .respond(&Scope::All, id, answers(&[("a", big.clone())]))
        .await
    {
        Err(TaskError::InvalidInput(why)) => ensure!(
            why.contains("input responses") && why.contains("1024"),
            "the error names what and the limit: {why}"
        ),
        other => return Err(fail!("an oversized answer gave {other:?}")),
    }
    let mut huge = Map::new();
    huge.insert(
        "b".to_owned(),
        json!({"method": "elicitation/create", "params": big}),
    );
    ensure_err!(
        store.request_input(&Scope::All, id, huge).await,
        TaskError::InvalidInput(_),
        "an oversized request"
    );
    ensure_eq!(
        step!(record(store.as_ref(), id).await),
        before,
        "nothing changed"
    );
    let fits = step!(
        store
            .respond(&Scope::All, id, answers(&[("a", json!("ok"))]))
            .await
    );
    ensure_eq!(
        fits.status,
        TaskStatus::Working,
        "an answer within the limit"
    );
    Ok(Verdict::Passed)
}

/// A task with pending input requests does not move to `working` by a status change (its
/// answers would be lost); its message may still change.
pub async fn pending_input_blocks_working(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(asking(store.as_ref(), &["a"]).await);
    let id = &task.task_id;
    let noted = step!(store.set_message(&Scope::All, id, "waiting for a").await);
    ensure_eq!(
        noted.status,
        TaskStatus::InputRequired,
        "a message keeps it"
    );
    let before = step!(record(store.as_ref(), id).await);
    ensure_err!(
        store
            .set_status(&Scope::All, id, TaskStatus::Working, None)
            .await,
        TaskError::InvalidTransition {
            from: TaskStatus::InputRequired,
            to: TaskStatus::Working,
            ..
        },
        "working with a request pending"
    );
    ensure_eq!(
        step!(record(store.as_ref(), id).await),
        before,
        "nothing changed"
    );
    // Without keyed requests (revision 2025-11-25), input_required and working alternate.
    let plain = step!(task_in(store.as_ref(), TaskStatus::InputRequired).await);
    let back = step!(
        store
            .set_status(&Scope::All, &plain.task_id, TaskStatus::Working, None)
            .await
    );
    ensure_eq!(
        back.status,
        TaskStatus::Working,
        "a plain input_required task"
    );
    Ok(Verdict::Passed)
}

/// A cancel request records the flag, withdraws pending input requests and wakes the worker,
/// and leaves the status to it: the worker may still complete, fail or cancel. Repeating it,
/// or asking for a task that has ended, changes nothing.
pub async fn cancel_request_leaves_the_end_to_the_worker(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    for settle in [
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ] {
        let task = step!(asking(store.as_ref(), &["a"]).await);
        let id = task.task_id.clone();
        let worker = {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move {
                store
                    .wait_for_answer(&Scope::All, &id, "a", Some(HANG))
                    .await
            })
        };
        let asked = step!(store.request_cancel(&Scope::All, &id).await);
        ensure_eq!(asked.status, TaskStatus::Working, "{settle}: not ended yet");
        ensure!(
            asked.last_updated_at > task.last_updated_at,
            "{settle}: a cancel request is a change"
        );
        let woke = step!(step!(worker.await));
        ensure!(
            woke.cancel_requested,
            "{settle}: the worker sees the request"
        );
        ensure!(
            woke.input_requests.is_empty(),
            "{settle}: requests withdrawn"
        );
        let again = step!(store.request_cancel(&Scope::All, &id).await);
        ensure_eq!(again, asked, "{settle}: a repeated request changes nothing");
        let late = step!(
            store
                .respond(&Scope::All, &id, answers(&[("a", json!(1))]))
                .await
        );
        ensure_eq!(late, asked, "{settle}: an answer to a withdrawn request");
        let ended = step!(
            store
                .update(&Scope::All, &id, change_to(settle, "after the request"))
                .await
        );
        ensure_eq!(ended.status, settle, "the worker's choice");
        let done = step!(record(store.as_ref(), &id).await);
        ensure!(done.cancel_requested, "{settle}: the flag stays");
        let after_end = step!(store.request_cancel(&Scope::All, &id).await);
        ensure_eq!(after_end, done.task, "{settle}: acknowledged after the end");
        ensure_eq!(
            step!(record(store.as_ref(), &id).await),
            done,
            "{settle}: nothing changed after the end"
        );
    }
    let missing = store.request_cancel(&Scope::All, "no-such-task").await;
    ensure_err!(missing, TaskError::NotFound { .. }, "a missing task");
    Ok(Verdict::Passed)
}

/// Ending a task drops its pending requests and unread answers; `completed` shows the raw
/// result, `isError: true` included, `failed` the JSON-RPC error as given, and both show
/// `ttlMs` and `pollIntervalMs`.
pub async fn terminal_payloads_as_the_extension_shows_them(
    factory: &dyn StoreFactory,
) -> CaseResult {
    let store = default_store(factory).await;
    let new = || NewTask::new().with_ttl(600_000).with_poll_interval(250);
    let task = step!(store.create(new()).await);
    let id = &task.task_id;
    step!(
        store
            .request_input(&Scope::All, id, asks(&["a", "b"]))
            .await
    );
    step!(
        store
            .respond(&Scope::All, id, answers(&[("a", json!(1))]))
            .await
    );
    let tool_error = obj(json!({
        "content": [{"type": "text", "text": "no such file"}],
        "isError": true,
    }));
    step!(store.complete(&Scope::All, id, tool_error.clone()).await);
    let done = step!(record(store.as_ref(), id).await);
    ensure!(done.input_requests.is_empty(), "requests dropped");
    ensure!(done.input_responses.is_empty(), "answers dropped");
    let shown = step!(serde_json::to_value(done.detailed()).map_err(|e| e.to_string()));
    ensure_eq!(shown["status"], json!("completed"), "status");
    ensure_eq!(shown["result"], Value::Object(tool_error), "the raw result");
    ensure_eq!(shown["ttlMs"], json!(task.ttl), "ttlMs");
    ensure_eq!(shown["pollIntervalMs"], json!(250), "pollIntervalMs");
    ensure!(
        shown.get("error").is_none() && shown.get("inputRequests").is_none(),
        "only the result: {shown}"
    );

    let failing = step!(store.create(new()).await);
    let error = ErrorData {
        code: -32050,
        message: "upstream refused".into(),
        data: Some(json!({"retryAfterMs": 1000})),
    };
    step!(
        store
            .update(
                &Scope::All,
                &failing.task_id,
                TaskChange::fail_with(error.clone())
            )
            .await
    );
    let failed = step!(record(store.as_ref(), &failing.task_id).await);
    ensure_eq!(
        failed.outcome,
        Some(TaskOutcome::Error(error.clone())),
        "the error as given"
    );
    let shown = step!(serde_json::to_value(failed.detailed()).map_err(|e| e.to_string()));
    ensure_eq!(shown["status"], json!("failed"), "status");
    let expected = step!(serde_json::to_value(&error).map_err(|e| e.to_string()));
    ensure_eq!(shown["error"], expected, "the JSON-RPC error");
    ensure!(shown.get("result").is_none(), "no result: {shown}");
    ensure!(shown.get("ttlMs").is_some(), "ttlMs is always there");
    Ok(Verdict::Passed)
}

/// Answers to each of eight keys and a message update race on one task, 20 times: every
/// answer lands (none lost to another writer), and the task is `working` at the end.
pub async fn input_round_race(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let keys = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];
    for round in 0..20 {
        let task = step!(asking(store.as_ref(), &keys).await);
        let barrier = Arc::new(Barrier::new(keys.len() + 1));
        let mut handles = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let (store, id, barrier) = (store.clone(), task.task_id.clone(), barrier.clone());
            let answer = answers(&[(key, json!(i))]);
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                store.respond(&Scope::All, &id, answer).await.map(|_| ())
            }));
        }
        let (store2, id, messenger) = (store.clone(), task.task_id.clone(), barrier.clone());
        handles.push(tokio::spawn(async move {
            messenger.wait().await;
            store2
                .set_message(&Scope::All, &id, "progress")
                .await
                .map(|_| ())
        }));
        for handle in handles {
            step!(step!(handle.await));
        }
        let held = step!(record(store.as_ref(), &task.task_id).await);
        ensure_eq!(held.task.status, TaskStatus::Working, "round {round}");
        ensure!(
            held.input_requests.is_empty(),
            "round {round}: none pending"
        );
        let expected: Map<String, Value> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| ((*key).to_owned(), json!(i)))
            .collect();
        ensure_eq!(
            held.input_responses,
            expected,
            "round {round}: every answer"
        );
        ensure_eq!(
            held.task.status_message.as_deref(),
            Some("progress"),
            "round {round}: the message"
        );
    }
    Ok(Verdict::Passed)
}
