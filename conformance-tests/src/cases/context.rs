use super::*;
use crate::Verdict;
use serde_json::json;
use task_core::jsonrpc::{ErrorData, INTERNAL_ERROR};
use task_core::{TaskContext, TaskOutcome, TaskStoreExt, task_execution};

/// The failure `TaskChange::fail(message)` records.
fn failure(message: &str) -> Option<TaskOutcome> {
    Some(TaskOutcome::Error(ErrorData::new(INTERNAL_ERROR, message)))
}

/// A worker's `TaskContext` walks a task through its statuses, sees a cancel made through
/// the store, and cannot write over it.
pub async fn context_lifecycle(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(store.create(NewTask::new()).await);
    let id = task.task_id.as_str();
    let mut ctx = step!(TaskContext::load(store.clone(), id).await);
    ensure_eq!(ctx.task(), &task, "the loaded task");

    let after = step!(ctx.update_status("step 1").await).clone();
    ensure_eq!(after.status, TaskStatus::Working, "update_status keeps");
    ensure_eq!(after.status_message.as_deref(), Some("step 1"), "message");
    step!(ctx.require_input("need a name").await);
    ensure_eq!(
        ctx.task().status,
        TaskStatus::InputRequired,
        "require_input"
    );
    step!(ctx.resume(Some("thanks".into())).await);
    ensure_eq!(ctx.task().status, TaskStatus::Working, "resume");
    let stored = step!(store.get(&Scope::All, id).await);
    ensure_eq!(
        &stored,
        ctx.task(),
        "the store holds what the context wrote"
    );

    ensure!(!step!(ctx.is_cancelled().await), "nobody cancelled yet");
    step!(store.cancel(&Scope::All, id).await);
    ensure!(
        step!(ctx.is_cancelled().await),
        "a cancel through the store"
    );
    ensure_eq!(ctx.task().status, TaskStatus::Cancelled, "refreshed task");
    step!(ctx.cancelled().await);
    ensure_err!(
        ctx.complete(obj(json!({ "late": true }))).await,
        TaskError::InvalidTransition { .. },
        "completing a cancelled task"
    );
    ensure_eq!(
        step!(store.get_result(&Scope::All, id).await),
        None,
        "no result"
    );

    let other = step!(store.create(NewTask::new()).await);
    let mut ctx = step!(TaskContext::load(store.clone(), &other.task_id).await);
    step!(ctx.fail("broke").await);
    ensure_eq!(ctx.task().status, TaskStatus::Failed, "fail");
    ensure_eq!(
        ctx.task().status_message.as_deref(),
        Some("broke"),
        "message"
    );
    let outcome = step!(store.get_result(&Scope::All, &other.task_id).await);
    ensure_eq!(outcome, failure("broke"), "the failure's error");
    Ok(Verdict::Passed)
}

/// `task_execution` leaves a completed task alone, records an error or a panic as a failure,
/// never writes over a task that ended meanwhile, and refuses an unknown id.
pub async fn execution_records_failures(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let result = obj(json!({ "content": [] }));

    let done = step!(store.create(NewTask::new()).await);
    let written = result.clone();
    step!(
        task_execution(store.clone(), &done.task_id, |mut ctx| async move {
            ctx.complete(written).await.map(|_| ())
        })
        .await
    );
    let outcome = step!(store.get_result(&Scope::All, &done.task_id).await);
    ensure_eq!(outcome, Some(TaskOutcome::Result(result)), "completed work");

    let erring = step!(store.create(NewTask::new()).await);
    step!(
        task_execution(store.clone(), &erring.task_id, |_ctx| async {
            Err::<(), _>("disk on fire")
        })
        .await
    );
    let after = step!(store.get(&Scope::All, &erring.task_id).await);
    ensure_eq!(after.status, TaskStatus::Failed, "an error fails the task");
    let outcome = step!(store.get_result(&Scope::All, &erring.task_id).await);
    ensure_eq!(outcome, failure("disk on fire"), "the error's message");

    let panicking = step!(store.create(NewTask::new()).await);
    step!(
        task_execution(store.clone(), &panicking.task_id, |_ctx| async {
            if std::hint::black_box(true) {
                panic!("expected by the conformance suite");
            }
            Ok::<(), &str>(())
        })
        .await
    );
    let outcome = step!(store.get_result(&Scope::All, &panicking.task_id).await);
    let message = "task work panicked: expected by the conformance suite";
    ensure_eq!(outcome, failure(message), "a panic fails the task");

    let cancelled = step!(store.create(NewTask::new()).await);
    step!(
        task_execution(store.clone(), &cancelled.task_id, |ctx| async move {
            ctx.store().cancel(&Scope::All, ctx.task_id()).await?;
            Err::<(), _>(TaskError::InvalidInput("gave up after the cancel".into()))
        })
        .await
    );
    let after = step!(store.get(&Scope::All, &cancelled.task_id).await);
    ensure_eq!(
        after.status,
        TaskStatus::Cancelled,
        "a late error changes nothing"
    );
    let outcome = step!(store.get_result(&Scope::All, &cancelled.task_id).await);
    ensure_eq!(outcome, None, "no failure on a cancelled task");

    ensure_err!(
        task_execution(store.clone(), "no-such-task", |_ctx| async {
            Ok::<(), &str>(())
        })
        .await,
        TaskError::NotFound { .. },
        "an unknown id"
    );
    Ok(Verdict::Passed)
}
