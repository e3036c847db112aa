use super::*;
use crate::Verdict;
use std::time::Duration;
use task_core::TaskStoreExt;
use tokio::time::sleep;

fn skip_without_ttl(store: &dyn TaskStore) -> Option<Verdict> {
    (!store.capabilities().ttl).then_some(Verdict::Skipped("ttl expiry"))
}

/// An expired task is gone for every read, write and listing.
pub async fn ttl_expiry(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    if let Some(skip) = skip_without_ttl(store.as_ref()) {
        return Ok(skip);
    }
    let keep = step!(store.create(NewTask::new()).await);
    let task = step!(store.create(NewTask::new().with_ttl(1_000)).await);
    ensure_eq!(task.ttl, Some(1_000), "ttl");
    step!(store.get(&Scope::All, &task.task_id).await);
    sleep(Duration::from_millis(1_300)).await;
    let id = task.task_id.as_str();
    let all = &Scope::All;
    ensure_err!(store.get(all, id).await, TaskError::NotFound { .. }, "get");
    ensure_err!(
        store.get_record(all, id).await,
        TaskError::NotFound { .. },
        "get_record"
    );
    ensure_err!(
        store.get_result(all, id).await,
        TaskError::NotFound { .. },
        "get_result"
    );
    ensure_err!(
        store.set_message(all, id, "x").await,
        TaskError::NotFound { .. },
        "update"
    );
    ensure_err!(
        store.cancel(all, id).await,
        TaskError::NotFound { .. },
        "cancel"
    );
    let now = task_core::backend::time::now();
    ensure_err!(
        store.wait_for_update(all, id, now, None).await,
        TaskError::NotFound { .. },
        "wait"
    );
    ensure!(!step!(store.delete(all, id).await), "delete finds nothing");
    let listed = step!(list_all(store.as_ref(), all, None).await);
    ensure_eq!(listed, vec![keep], "only the unexpired task is listed");
    let reused = step!(store.create(NewTask::new().with_id(id)).await);
    ensure_eq!(
        reused.status,
        TaskStatus::Working,
        "an expired id can be reused"
    );
    Ok(Verdict::Passed)
}

/// The ttl counts from creation, not from completion.
pub async fn ttl_counts_from_creation(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    if let Some(skip) = skip_without_ttl(store.as_ref()) {
        return Ok(skip);
    }
    let task = step!(store.create(NewTask::new().with_ttl(1_500)).await);
    sleep(Duration::from_millis(700)).await;
    step!(store.complete(&Scope::All, &task.task_id, Map::new()).await);
    sleep(Duration::from_millis(1_100)).await;
    ensure_err!(
        store.get(&Scope::All, &task.task_id).await,
        TaskError::NotFound { .. },
        "1.8 s after creation a 1.5 s task is gone, though it completed 1.1 s ago"
    );
    Ok(Verdict::Passed)
}

/// Without a default or a cap, a task without a ttl keeps `ttl: null`; with a cap it gets the cap.
pub async fn ttl_null(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(store.create(NewTask::new()).await);
    ensure_eq!(task.ttl, None, "unlimited ttl");
    let text = step!(serde_json::to_string(&task));
    ensure!(
        text.contains(r#""ttl":null"#),
        "ttl must serialise as null: {text}"
    );
    let read = step!(store.get(&Scope::All, &task.task_id).await);
    ensure_eq!(read.ttl, None, "unlimited ttl read back");
    let capped = open_store(factory, StoreConfig::default().with_max_ttl(Some(60_000))).await;
    let task = step!(capped.create(NewTask::new()).await);
    ensure_eq!(task.ttl, Some(60_000), "an unlimited request under a cap");
    Ok(Verdict::Passed)
}

/// A ttl above the maximum is clamped; the record keeps the requested value.
pub async fn ttl_clamp(factory: &dyn StoreFactory) -> CaseResult {
    let store = open_store(factory, StoreConfig::default().with_max_ttl(Some(10_000))).await;
    let task = step!(store.create(NewTask::new().with_ttl(60_000)).await);
    ensure_eq!(task.ttl, Some(10_000), "clamped ttl");
    let record = step!(store.get_record(&Scope::All, &task.task_id).await);
    ensure_eq!(record.task.ttl, Some(10_000), "stored ttl");
    ensure_eq!(record.requested_ttl, Some(60_000), "requested ttl");
    let task = step!(store.create(NewTask::new().with_ttl(5_000)).await);
    ensure_eq!(task.ttl, Some(5_000), "a ttl under the cap");
    Ok(Verdict::Passed)
}

/// A task without a requested ttl gets the default.
pub async fn ttl_default(factory: &dyn StoreFactory) -> CaseResult {
    let config = StoreConfig::default().with_default_ttl(Some(7_000));
    let store = open_store(factory, config).await;
    let task = step!(store.create(NewTask::new()).await);
    ensure_eq!(task.ttl, Some(7_000), "default ttl");
    let read = step!(store.get(&Scope::All, &task.task_id).await);
    ensure_eq!(read.ttl, Some(7_000), "default ttl read back");
    Ok(Verdict::Passed)
}

/// purge_expired reclaims expired tasks and leaves the rest.
pub async fn purge_expired(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    if let Some(skip) = skip_without_ttl(store.as_ref()) {
        return Ok(skip);
    }
    for _ in 0..5 {
        step!(store.create(NewTask::new().with_ttl(200)).await);
    }
    let mut keep = vec![
        step!(store.create(NewTask::new()).await),
        step!(store.create(NewTask::new().with_ttl(3_600_000)).await),
    ];
    keep.sort_by_key(task_core::backend::ListPosition::after);
    sleep(Duration::from_millis(400)).await;
    let purged = step!(store.purge_expired().await);
    ensure!(purged <= 5, "purged {purged} tasks, but only 5 expired");
    ensure_eq!(step!(store.purge_expired().await), 0, "a second purge");
    let listed = step!(list_all(store.as_ref(), &Scope::All, None).await);
    ensure_eq!(listed, keep, "the live tasks remain");
    Ok(Verdict::Passed)
}

/// A waiter without a timeout ends when its task expires.
pub async fn wait_ends_at_expiry(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    if let Some(skip) = skip_without_ttl(store.as_ref()) {
        return Ok(skip);
    }
    let task = step!(store.create(NewTask::new().with_ttl(500)).await);
    let waited = store.wait_for_update(&Scope::All, &task.task_id, task.last_updated_at, None);
    match tokio::time::timeout(Duration::from_secs(30), waited).await {
        Ok(result) => ensure_err!(result, TaskError::NotFound { .. }, "the wait's end"),
        Err(_) => return Err(fail!("a waiter on an expiring task hung")),
    }
    Ok(Verdict::Passed)
}

/// A cursor stays valid after the task it points at expires: the next pages hold the rest.
pub async fn list_cursor_after_expiry(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    if let Some(skip) = skip_without_ttl(store.as_ref()) {
        return Ok(skip);
    }
    // Apart in time from its neighbours, the short-lived task is sixth in creation order.
    for _ in 0..5 {
        step!(store.create(NewTask::new()).await);
    }
    sleep(Duration::from_millis(5)).await;
    let short = step!(store.create(NewTask::new().with_ttl(1_000)).await);
    sleep(Duration::from_millis(5)).await;
    for _ in 0..20 {
        step!(store.create(NewTask::new()).await);
    }
    let everything = step!(list_all(store.as_ref(), &Scope::All, None).await);
    ensure_eq!(everything[5].task_id, short.task_id, "the sixth task");
    let first = step!(
        store
            .list(&Scope::All, PageRequest::first().with_limit(6))
            .await
    );
    let Some(cursor) = first.next_cursor else {
        return Err(fail!("a first page of 6 out of 26 must have a cursor"));
    };
    sleep(Duration::from_millis(1_300)).await;
    ensure_err!(
        store.get(&Scope::All, &short.task_id).await,
        TaskError::NotFound { .. },
        "the task the cursor points at expired"
    );
    let rest = step!(list_from(store.as_ref(), &Scope::All, Some(cursor), Some(6)).await);
    ensure_eq!(
        rest,
        everything[6..].to_vec(),
        "the pages after the expired task"
    );
    Ok(Verdict::Passed)
}
