use super::*;
use crate::Verdict;
use task_core::{TaskOutcome, TaskStoreExt};

const CHANGEABLE: [TaskStatus; 2] = [TaskStatus::Working, TaskStatus::InputRequired];
const TERMINAL: [TaskStatus; 3] = [
    TaskStatus::Completed,
    TaskStatus::Failed,
    TaskStatus::Cancelled,
];

/// From `working` and `input_required`, every status can be entered.
pub async fn transitions_allowed(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    for from in CHANGEABLE {
        for to in TaskStatus::ALL {
            let task = step!(task_in(store.as_ref(), from).await);
            let changed = step!(
                store
                    .update(&Scope::All, &task.task_id, change_to(to, "allowed"))
                    .await
            );
            ensure_eq!(changed.status, to, "{from} -> {to}");
            let outcome = step!(store.get_result(&Scope::All, &task.task_id).await);
            let expected_outcome = match to {
                TaskStatus::Completed => Some(TaskOutcome::Result(obj(
                    serde_json::json!({ "tag": "allowed" }),
                ))),
                TaskStatus::Failed => change_to(to, "allowed").outcome,
                _ => None,
            };
            ensure_eq!(outcome, expected_outcome, "outcome after {from} -> {to}");
        }
    }
    Ok(Verdict::Passed)
}

/// A terminal task never changes: not its status, message or outcome.
pub async fn transitions_forbidden(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    for from in TERMINAL {
        let task = step!(task_in(store.as_ref(), from).await);
        let before = step!(store.get_record(&Scope::All, &task.task_id).await);
        let mut attempts: Vec<TaskChange> = TaskStatus::ALL
            .into_iter()
            .map(|to| change_to(to, "forbidden"))
            .collect();
        attempts.push(TaskChange::message("late news"));
        for change in attempts {
            let to = change.target(from);
            match store.update(&Scope::All, &task.task_id, change).await {
                Err(TaskError::InvalidTransition {
                    from: got_from,
                    to: got_to,
                    ..
                }) => {
                    ensure_eq!(got_from, from, "the error's from");
                    ensure_eq!(got_to, to, "the error's to");
                }
                other => {
                    return Err(fail!(
                        "{from} -> {to} gave {other:?}, expected InvalidTransition"
                    ));
                }
            }
            let after = step!(store.get_record(&Scope::All, &task.task_id).await);
            ensure_eq!(after, before, "a rejected change must change nothing");
        }
    }
    Ok(Verdict::Passed)
}

/// `completed` and `failed` need an outcome, nothing else may carry one, and an empty change
/// is rejected; each rejection changes nothing.
pub async fn outcome_must_match_status(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(store.create(NewTask::new()).await);
    let before = step!(store.get_record(&Scope::All, &task.task_id).await);
    let result = TaskOutcome::Result(obj(serde_json::json!({ "x": 1 })));
    let bad = [
        TaskChange::status(TaskStatus::Completed, None),
        TaskChange::status(TaskStatus::Failed, Some("no outcome".into())),
        TaskChange {
            outcome: Some(result.clone()),
            ..TaskChange::cancel()
        },
        TaskChange {
            outcome: Some(result),
            ..TaskChange::status(TaskStatus::Working, None)
        },
        TaskChange::default(),
    ];
    for change in bad {
        let label = format!("{change:?}");
        ensure_err!(
            store.update(&Scope::All, &task.task_id, change).await,
            TaskError::InvalidInput(_),
            "{label}"
        );
        let after = step!(store.get_record(&Scope::All, &task.task_id).await);
        ensure_eq!(after, before, "a rejected change must change nothing");
    }
    ensure_err!(
        store
            .set_status(&Scope::All, &task.task_id, TaskStatus::Completed, None)
            .await,
        TaskError::InvalidInput(_),
        "set_status to a terminal status"
    );
    Ok(Verdict::Passed)
}

/// A non-terminal task may change its message and keep its status.
pub async fn message_update_keeps_status(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    for status in CHANGEABLE {
        let task = step!(task_in(store.as_ref(), status).await);
        let changed = step!(store.set_message(&Scope::All, &task.task_id, "50%").await);
        ensure_eq!(changed.status, status, "status kept");
        ensure_eq!(changed.status_message.as_deref(), Some("50%"), "message");
        let same = step!(
            store
                .set_status(&Scope::All, &task.task_id, status, Some("60%"))
                .await
        );
        ensure_eq!(same.status, status, "re-entering the same status");
        ensure_eq!(same.status_message.as_deref(), Some("60%"), "message");
    }
    Ok(Verdict::Passed)
}

/// Every change moves `lastUpdatedAt` strictly forward, even many in one millisecond.
pub async fn last_updated_strictly_increases(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(store.create(NewTask::new()).await);
    let mut last = task.last_updated_at;
    for i in 0..50 {
        let message = format!("step {i}");
        let changed = step!(
            store
                .set_message(&Scope::All, &task.task_id, &message)
                .await
        );
        ensure!(
            changed.last_updated_at > last,
            "update {i}: {} is not after {last}",
            changed.last_updated_at
        );
        last = changed.last_updated_at;
    }
    Ok(Verdict::Passed)
}
