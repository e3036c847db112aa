use super::*;
use crate::Verdict;
use std::time::Duration;
use task_core::TaskStoreExt;
use tokio::time::timeout;

/// Far longer than any wake-up should take; reaching it means a waiter hung.
const HANG: Duration = Duration::from_secs(30);

/// Sixteen waiters on one task all wake when it completes.
pub async fn wait_many_waiters(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(store.create(NewTask::new()).await);
    let mut waiters = Vec::new();
    for _ in 0..16 {
        let (store, id, seen) = (store.clone(), task.task_id.clone(), task.last_updated_at);
        waiters.push(tokio::spawn(async move {
            store
                .wait_for_update(&Scope::All, &id, seen, Some(HANG))
                .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    step!(store.complete(&Scope::All, &task.task_id, Map::new()).await);
    for (i, waiter) in waiters.into_iter().enumerate() {
        let seen = step!(step!(waiter.await));
        ensure_eq!(
            seen.status,
            TaskStatus::Completed,
            "waiter {i} must wake to the change"
        );
    }
    Ok(Verdict::Passed)
}

/// A change that lands between the caller's read and its wait still ends the wait at once.
pub async fn wait_lost_wakeup(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(store.create(NewTask::new()).await);
    let seen = step!(store.get(&Scope::All, &task.task_id).await).last_updated_at;
    step!(
        store
            .set_message(&Scope::All, &task.task_id, "moved on")
            .await
    );
    let woke = timeout(
        HANG,
        store.wait_for_update(&Scope::All, &task.task_id, seen, None),
    )
    .await;
    let woke = step!(step!(woke));
    ensure!(
        woke.last_updated_at > seen,
        "the wait must see the earlier change"
    );
    ensure_eq!(woke.status_message.as_deref(), Some("moved on"), "message");
    Ok(Verdict::Passed)
}

/// 200 rounds of a change racing a read-then-wait: no round loses its wake-up.
pub async fn wait_lost_wakeup_concurrent(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    for round in 0..200 {
        let task = step!(store.create(NewTask::new()).await);
        let writer = {
            let (store, id) = (store.clone(), task.task_id.clone());
            tokio::spawn(async move { store.set_message(&Scope::All, &id, "go").await })
        };
        let mut current = step!(store.get(&Scope::All, &task.task_id).await);
        while current.status_message.is_none() {
            let waited =
                store.wait_for_update(&Scope::All, &task.task_id, current.last_updated_at, None);
            current = match timeout(HANG, waited).await {
                Ok(result) => step!(result),
                Err(_) => return Err(fail!("round {round}: the waiter missed its wake-up")),
            };
        }
        step!(step!(writer.await));
    }
    Ok(Verdict::Passed)
}

/// Waiting on a terminal task returns at once, even with no timeout.
pub async fn wait_already_terminal(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    for status in [
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ] {
        let task = step!(task_in(store.as_ref(), status).await);
        let waited = store.wait_for_update(&Scope::All, &task.task_id, task.last_updated_at, None);
        let woke = match timeout(HANG, waited).await {
            Ok(result) => step!(result),
            Err(_) => return Err(fail!("waiting on a {status} task hung")),
        };
        ensure_eq!(woke, task, "the terminal task");
        let done = store.wait_until_terminal(&Scope::All, &task.task_id, None);
        let done = step!(step!(timeout(HANG, done).await));
        ensure_eq!(done.status, status, "wait_until_terminal");
    }
    Ok(Verdict::Passed)
}

/// A wait with a timeout on a quiet task returns it unchanged.
pub async fn wait_timeout(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(store.create(NewTask::new()).await);
    let short = Some(Duration::from_millis(50));
    let waited = store.wait_for_update(&Scope::All, &task.task_id, task.last_updated_at, short);
    let same = step!(step!(timeout(HANG, waited).await));
    ensure_eq!(same, task, "an unchanged task after the timeout");
    let until = store.wait_until_terminal(&Scope::All, &task.task_id, short);
    let still = step!(step!(timeout(HANG, until).await));
    ensure_eq!(
        still.status,
        TaskStatus::Working,
        "wait_until_terminal times out"
    );
    Ok(Verdict::Passed)
}

/// A message-only change wakes a waiter too.
pub async fn wait_sees_message_change(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(store.create(NewTask::new()).await);
    let waiter = {
        let (store, id, seen) = (store.clone(), task.task_id.clone(), task.last_updated_at);
        tokio::spawn(async move {
            store
                .wait_for_update(&Scope::All, &id, seen, Some(HANG))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    step!(store.set_message(&Scope::All, &task.task_id, "25%").await);
    let woke = step!(step!(waiter.await));
    ensure_eq!(
        woke.status_message.as_deref(),
        Some("25%"),
        "the waiter sees the message"
    );
    Ok(Verdict::Passed)
}

/// Waiting on a missing task fails; a task deleted under a waiter ends its wait with NotFound;
/// notify_update on any id is harmless.
pub async fn wait_missing_or_deleted(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let now = task_core::backend::time::now();
    ensure_err!(
        store
            .wait_for_update(&Scope::All, "missing", now, Some(HANG))
            .await,
        TaskError::NotFound { .. },
        "a missing task"
    );
    let task = step!(store.create(NewTask::new()).await);
    let waiter = {
        let (store, id, seen) = (store.clone(), task.task_id.clone(), task.last_updated_at);
        tokio::spawn(async move { store.wait_for_update(&Scope::All, &id, seen, None).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    step!(store.notify_update(&task.task_id).await);
    step!(store.notify_update("missing").await);
    ensure!(
        step!(store.delete(&Scope::All, &task.task_id).await),
        "delete"
    );
    match timeout(HANG, waiter).await {
        Ok(joined) => ensure_err!(step!(joined), TaskError::NotFound { .. }, "the waiter"),
        Err(_) => return Err(fail!("a waiter on a deleted task hung")),
    }
    Ok(Verdict::Passed)
}
