use super::*;
use crate::Verdict;
use serde_json::json;
use task_core::{ProtocolRevision, TaskOutcome, TaskStoreExt};

/// working -> input_required -> working -> completed, with the result stored.
pub async fn lifecycle(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let all = Scope::All;
    let created = step!(store.create(NewTask::new()).await);
    ensure_eq!(created.status, TaskStatus::Working, "a new task");
    ensure_eq!(created.created_at, created.last_updated_at, "a new task");
    ensure_eq!(
        created.poll_interval,
        Some(500),
        "the default poll interval"
    );
    let id = created.task_id.clone();
    ensure_eq!(
        step!(store.get(&all, &id).await),
        created,
        "get after create"
    );

    let mut previous = created.clone();
    let steps = [
        (TaskStatus::InputRequired, "need a name"),
        (TaskStatus::Working, "resumed"),
    ];
    for (status, message) in steps {
        let task = step!(store.set_status(&all, &id, status, Some(message)).await);
        ensure_eq!(task.status, status, "after moving to {status}");
        ensure_eq!(task.status_message.as_deref(), Some(message), "message");
        ensure!(
            task.last_updated_at > previous.last_updated_at,
            "lastUpdatedAt must grow"
        );
        ensure_eq!(
            task.created_at,
            created.created_at,
            "createdAt never changes"
        );
        ensure_eq!(
            step!(store.get(&all, &id).await),
            task,
            "get returns the change"
        );
        ensure_eq!(
            step!(store.get_result(&all, &id).await),
            None,
            "no result yet"
        );
        previous = task;
    }
    let result = obj(json!({ "content": [{ "type": "text", "text": "done" }] }));
    let done = step!(store.complete(&all, &id, result.clone()).await);
    ensure_eq!(done.status, TaskStatus::Completed, "after complete");
    ensure!(
        done.last_updated_at > previous.last_updated_at,
        "lastUpdatedAt must grow"
    );
    ensure_eq!(
        step!(store.get(&all, &id).await),
        done,
        "get after complete"
    );
    ensure_eq!(
        step!(store.get_result(&all, &id).await),
        Some(TaskOutcome::Result(result)),
        "the stored result"
    );
    Ok(Verdict::Passed)
}

/// Every field of a created record reads back as written.
pub async fn record_round_trip(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let params = json!({ "name": "sleep", "arguments": { "seconds": 1.5, "text": "zzz ü" } });
    let new = NewTask::new()
        .owned_by("alice")
        .with_ttl(3_600_000)
        .with_poll_interval(250)
        .with_message("queued")
        .with_request("tools/call", params.clone())
        .with_revision(ProtocolRevision::V2026_07_28);
    let task = step!(store.create(new).await);
    ensure_eq!(task.ttl, Some(3_600_000), "ttl");
    ensure_eq!(task.poll_interval, Some(250), "poll interval");
    ensure_eq!(task.status_message.as_deref(), Some("queued"), "message");
    let record = step!(
        store
            .get_record(&Scope::owner("alice"), &task.task_id)
            .await
    );
    ensure_eq!(record.task, task, "the record's task");
    ensure_eq!(record.owner.as_deref(), Some("alice"), "owner");
    ensure_eq!(record.requested_ttl, Some(3_600_000), "requested ttl");
    ensure_eq!(record.revision, ProtocolRevision::V2026_07_28, "revision");
    let request = record.request.clone().map(|r| (r.method, r.params));
    ensure_eq!(request, Some(("tools/call".to_owned(), params)), "request");
    ensure!(!record.cancel_requested, "no cancel was requested");
    ensure!(record.outcome.is_none(), "no outcome yet");
    ensure!(record.input_requests.is_empty(), "no input requests");
    Ok(Verdict::Passed)
}

/// Delete removes a task from every read; a second delete finds nothing.
pub async fn delete(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let all = Scope::All;
    let keep = step!(store.create(NewTask::new()).await);
    let gone = step!(task_in(store.as_ref(), TaskStatus::Completed).await);
    ensure!(
        step!(store.delete(&all, &gone.task_id).await),
        "first delete"
    );
    ensure!(
        !step!(store.delete(&all, &gone.task_id).await),
        "second delete"
    );
    ensure_err!(
        store.get(&all, &gone.task_id).await,
        TaskError::NotFound { .. },
        "get"
    );
    ensure_err!(
        store.get_result(&all, &gone.task_id).await,
        TaskError::NotFound { .. },
        "get_result"
    );
    ensure_err!(
        store.cancel(&all, &gone.task_id).await,
        TaskError::NotFound { .. },
        "cancel"
    );
    let listed = step!(list_all(store.as_ref(), &all, None).await);
    let ids: Vec<_> = listed.iter().map(|t| t.task_id.as_str()).collect();
    ensure_eq!(ids, vec![keep.task_id.as_str()], "list after delete");
    let again = step!(
        store
            .create(NewTask::new().with_id(gone.task_id.clone()))
            .await
    );
    ensure_eq!(
        again.status,
        TaskStatus::Working,
        "a deleted id can be reused"
    );
    Ok(Verdict::Passed)
}
