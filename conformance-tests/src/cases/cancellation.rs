use super::*;
use crate::Verdict;
use serde_json::json;
use task_core::jsonrpc::{ErrorData, INVALID_PARAMS};
use task_core::{TaskOutcome, TaskStoreExt, cancel_task};
use tokio::sync::Barrier;

async fn cancel_from(factory: &dyn StoreFactory, from: TaskStatus) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(task_in(store.as_ref(), from).await);
    let cancelled = step!(cancel_task(store.as_ref(), &Scope::All, &task.task_id).await);
    ensure_eq!(
        cancelled.task.status,
        TaskStatus::Cancelled,
        "cancel result"
    );
    ensure!(
        cancelled.task.last_updated_at > task.last_updated_at,
        "lastUpdatedAt must grow"
    );
    let record = step!(store.get_record(&Scope::All, &task.task_id).await);
    ensure_eq!(record.task, cancelled.task, "get after cancel");
    ensure!(record.cancel_requested, "the cancel-requested flag is set");
    ensure_eq!(record.outcome, None, "a cancelled task has no outcome");
    Ok(Verdict::Passed)
}

/// A working task can be cancelled.
pub async fn cancel_working(factory: &dyn StoreFactory) -> CaseResult {
    cancel_from(factory, TaskStatus::Working).await
}

/// An input_required task can be cancelled.
pub async fn cancel_input_required(factory: &dyn StoreFactory) -> CaseResult {
    cancel_from(factory, TaskStatus::InputRequired).await
}

/// Cancelling a terminal task is rejected with -32602 and changes nothing.
pub async fn cancel_terminal_rejected(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    for from in [
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ] {
        let task = step!(task_in(store.as_ref(), from).await);
        let before = step!(store.get_record(&Scope::All, &task.task_id).await);
        match cancel_task(store.as_ref(), &Scope::All, &task.task_id).await {
            Err(error @ TaskError::InvalidTransition { .. }) => {
                let rpc = ErrorData::from(&error);
                ensure_eq!(rpc.code, INVALID_PARAMS, "JSON-RPC code");
                ensure_eq!(
                    rpc.message,
                    format!("Cannot cancel task in terminal state '{from}'"),
                    "JSON-RPC message"
                );
            }
            other => return Err(fail!("cancelling a {from} task gave {other:?}")),
        }
        let after = step!(store.get_record(&Scope::All, &task.task_id).await);
        ensure_eq!(after, before, "a rejected cancel changes nothing");
    }
    let missing = cancel_task(store.as_ref(), &Scope::All, "no-such-task").await;
    ensure_err!(
        missing,
        TaskError::NotFound { .. },
        "cancelling a missing task"
    );
    Ok(Verdict::Passed)
}

/// Cancel and complete race 200 times; each round has exactly one winner, and the record
/// agrees with it.
pub async fn cancel_complete_race(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let mut wins = [0u32; 2];
    for round in 0..200 {
        let task = step!(store.create(NewTask::new()).await);
        let id = task.task_id;
        let barrier = Arc::new(Barrier::new(2));
        let result = obj(json!({ "round": round }));
        let cancel = {
            let (store, id, barrier) = (store.clone(), id.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.cancel(&Scope::All, &id).await
            })
        };
        let complete = {
            let (store, id, barrier, result) =
                (store.clone(), id.clone(), barrier.clone(), result.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.complete(&Scope::All, &id, result).await
            })
        };
        let cancel = step!(cancel.await);
        let complete = step!(complete.await);
        let record = step!(store.get_record(&Scope::All, &id).await);
        match (&cancel, &complete) {
            (Ok(_), Err(TaskError::InvalidTransition { .. })) => {
                wins[0] += 1;
                ensure_eq!(record.task.status, TaskStatus::Cancelled, "round {round}");
                ensure_eq!(
                    record.outcome,
                    None,
                    "round {round}: cancelled holds no result"
                );
            }
            (Err(TaskError::InvalidTransition { .. }), Ok(_)) => {
                wins[1] += 1;
                ensure_eq!(record.task.status, TaskStatus::Completed, "round {round}");
                ensure_eq!(
                    record.outcome,
                    Some(TaskOutcome::Result(result)),
                    "round {round}: the completer's result"
                );
            }
            _ => {
                return Err(fail!(
                    "round {round}: cancel gave {cancel:?} and complete gave {complete:?}; exactly one must win"
                ));
            }
        }
    }
    ensure_eq!(wins[0] + wins[1], 200, "rounds with a winner");
    Ok(Verdict::Passed)
}

/// Eight workers move one task to different terminal states at once, 50 times; exactly one
/// wins each round and the others get InvalidTransition.
pub async fn terminal_race(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    for round in 0..50 {
        let task = step!(store.create(NewTask::new()).await);
        let barrier = Arc::new(Barrier::new(8));
        let mut handles = Vec::new();
        for worker in 0..8 {
            let (store, id, barrier) = (store.clone(), task.task_id.clone(), barrier.clone());
            let change = match worker % 3 {
                0 => TaskChange::complete(obj(json!({ "worker": worker }))),
                1 => TaskChange::fail(format!("worker {worker}")),
                _ => TaskChange::cancel(),
            };
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                (change.clone(), store.update(&Scope::All, &id, change).await)
            }));
        }
        let mut winners = Vec::new();
        for handle in handles {
            let (change, result) = step!(handle.await);
            match result {
                Ok(task) => winners.push((change, task)),
                Err(TaskError::InvalidTransition { .. }) => {}
                Err(other) => return Err(fail!("round {round}: unexpected {other}")),
            }
        }
        ensure_eq!(winners.len(), 1, "round {round}: winners");
        let (change, won) = &winners[0];
        let record = step!(store.get_record(&Scope::All, &task.task_id).await);
        ensure_eq!(&record.task, won, "round {round}: the winner's task");
        ensure_eq!(
            record.outcome,
            change.outcome,
            "round {round}: the winner's outcome"
        );
    }
    Ok(Verdict::Passed)
}

/// Once cancelled, a task stays cancelled: late completion, failure or progress is refused and
/// no result is stored.
pub async fn cancel_is_sticky(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(task_in(store.as_ref(), TaskStatus::Cancelled).await);
    let before = step!(store.get_record(&Scope::All, &task.task_id).await);
    let late = [
        TaskChange::complete(obj(json!({ "late": true }))),
        TaskChange::fail("late failure"),
        TaskChange::message("late progress"),
        TaskChange::status(TaskStatus::Working, None),
    ];
    for change in late {
        ensure_err!(
            store.update(&Scope::All, &task.task_id, change).await,
            TaskError::InvalidTransition {
                from: TaskStatus::Cancelled,
                ..
            },
            "a late change"
        );
    }
    ensure_eq!(
        step!(store.get_result(&Scope::All, &task.task_id).await),
        None,
        "result"
    );
    let after = step!(store.get_record(&Scope::All, &task.task_id).await);
    ensure_eq!(after, before, "the cancelled record is untouched");
    Ok(Verdict::Passed)
}
