use super::*;
use crate::Verdict;
use serde_json::json;
use task_core::{ErrorData, TaskOutcome};

/// Results and errors read back exactly: nested, non-ASCII, numeric limits and a megabyte.
pub async fn outcome_round_trip(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let big = "ü€𝄞 ".repeat(1 << 16);
    let result = obj(json!({
        "content": [{ "type": "text", "text": "héllo 世界 🎉 \u{0000} \"quoted\" \\ '; DROP TABLE tasks; --" }],
        "structuredContent": {
            "u64": u64::MAX, "i64": i64::MIN, "max": f64::MAX, "tiny": 5e-324,
            "neg": -0.5, "zero": 0, "null": null, "bools": [true, false],
            "nested": { "a": { "b": { "c": [[[[[["deep"]]]]]] } } }
        },
        "big": big,
        "isError": false
    }));
    let error = ErrorData {
        code: -32000,
        message: "упс: something broke".into(),
        data: Some(json!({ "retry": false, "detail": ["a", 1, 2.5] })),
    };
    let cases = [
        (TaskStatus::Completed, TaskOutcome::Result(result)),
        (TaskStatus::Failed, TaskOutcome::Error(error)),
        (TaskStatus::Completed, TaskOutcome::Result(Map::new())),
    ];
    for (status, outcome) in cases {
        let task = step!(store.create(NewTask::new()).await);
        let change = TaskChange::finish(status, outcome.clone(), Some("fin ✓".into()));
        let done = step!(store.update(&Scope::All, &task.task_id, change).await);
        ensure_eq!(done.status, status, "status");
        ensure_eq!(done.status_message.as_deref(), Some("fin ✓"), "message");
        let stored = step!(store.get_result(&Scope::All, &task.task_id).await);
        ensure!(
            stored.as_ref() == Some(&outcome),
            "the {status} outcome must read back exactly"
        );
        let record = step!(store.get_record(&Scope::All, &task.task_id).await);
        ensure!(
            record.outcome == Some(outcome),
            "get_record's outcome must match"
        );
    }
    Ok(Verdict::Passed)
}

/// A tool result with `isError: true` may end as `failed` and keeps the result.
pub async fn error_result_can_fail(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(store.create(NewTask::new()).await);
    let result = TaskOutcome::Result(obj(json!({
        "content": [{ "type": "text", "text": "no such file" }],
        "isError": true
    })));
    let change = TaskChange::finish(TaskStatus::Failed, result.clone(), None);
    let done = step!(store.update(&Scope::All, &task.task_id, change).await);
    ensure_eq!(done.status, TaskStatus::Failed, "status");
    ensure_eq!(
        step!(store.get_result(&Scope::All, &task.task_id).await),
        Some(result),
        "the error result is kept"
    );
    Ok(Verdict::Passed)
}

/// Oversized or too deeply nested payloads are rejected as invalid input and change nothing.
pub async fn payload_limit(factory: &dyn StoreFactory) -> CaseResult {
    let config = StoreConfig::default().with_max_payload_bytes(1_024);
    let store = open_store(factory, config).await;
    let task = step!(store.create(NewTask::new()).await);
    let before = step!(store.get_record(&Scope::All, &task.task_id).await);
    let mut deep = json!("bottom");
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let too_big = [
        TaskChange::complete(obj(json!({ "text": "x".repeat(2_000) }))),
        TaskChange::complete(obj(json!({ "deep": deep }))),
        TaskChange::fail("y".repeat(2_000)),
        TaskChange::message("z".repeat(2_000)),
    ];
    for change in too_big {
        ensure_err!(
            store.update(&Scope::All, &task.task_id, change).await,
            TaskError::InvalidInput(_),
            "an oversized change"
        );
        let after = step!(store.get_record(&Scope::All, &task.task_id).await);
        ensure_eq!(after, before, "a rejected change must change nothing");
    }
    let huge_request =
        NewTask::new().with_request("tools/call", json!({ "blob": "x".repeat(2_000) }));
    ensure_err!(
        store.create(huge_request).await,
        TaskError::InvalidInput(_),
        "a huge request"
    );
    let listed = step!(list_all(store.as_ref(), &Scope::All, None).await);
    ensure_eq!(listed.len(), 1, "a rejected create stores nothing");
    let fits = TaskChange::complete(obj(json!({ "text": "x".repeat(900) })));
    step!(store.update(&Scope::All, &task.task_id, fits).await);
    Ok(Verdict::Passed)
}
