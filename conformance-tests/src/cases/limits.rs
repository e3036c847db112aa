use super::*;
use crate::Verdict;
use std::time::Duration;
use task_core::LimitKind;

fn skip_without_limits(store: &dyn TaskStore) -> Option<Verdict> {
    (!store.capabilities().limits).then_some(Verdict::Skipped("task limits"))
}

/// An owner cannot exceed `max_tasks_per_owner` unfinished tasks; others can still create;
/// deleting frees room.
pub async fn limit_per_owner(factory: &dyn StoreFactory) -> CaseResult {
    let config = StoreConfig::default().with_max_tasks_per_owner(Some(3));
    let store = open_store(factory, config).await;
    if let Some(skip) = skip_without_limits(store.as_ref()) {
        return Ok(skip);
    }
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(step!(store.create(NewTask::new().owned_by("alice")).await));
    }
    ensure_err!(
        store
            .create(NewTask::new().owned_by("alice").with_id("one-too-many"))
            .await,
        TaskError::LimitExceeded {
            kind: LimitKind::PerOwner,
            max: 3
        },
        "alice's fourth task"
    );
    ensure_err!(
        store.get(&Scope::All, "one-too-many").await,
        TaskError::NotFound { .. },
        "a refused create stores nothing"
    );
    step!(store.create(NewTask::new().owned_by("bob")).await);
    step!(store.create(NewTask::new()).await);
    ensure!(
        step!(store.delete(&Scope::All, &mine[0].task_id).await),
        "delete"
    );
    step!(store.create(NewTask::new().owned_by("alice")).await);
    Ok(Verdict::Passed)
}

/// The store cannot exceed `max_tasks` unfinished tasks.
pub async fn limit_total(factory: &dyn StoreFactory) -> CaseResult {
    let config = StoreConfig::default().with_max_tasks(Some(5));
    let store = open_store(factory, config).await;
    if let Some(skip) = skip_without_limits(store.as_ref()) {
        return Ok(skip);
    }
    for i in 0..5 {
        step!(
            store
                .create(NewTask::new().owned_by(format!("owner-{i}")))
                .await
        );
    }
    ensure_err!(
        store.create(NewTask::new()).await,
        TaskError::LimitExceeded {
            kind: LimitKind::Total,
            max: 5
        },
        "the sixth task"
    );
    ensure_eq!(
        step!(list_all(store.as_ref(), &Scope::All, None).await).len(),
        5,
        "tasks stored"
    );
    Ok(Verdict::Passed)
}

/// Expired tasks do not count against limits.
pub async fn limits_ignore_expired(factory: &dyn StoreFactory) -> CaseResult {
    let config = StoreConfig::default()
        .with_max_tasks_per_owner(Some(2))
        .with_max_tasks(Some(2));
    let store = open_store(factory, config).await;
    if let Some(skip) = skip_without_limits(store.as_ref()) {
        return Ok(skip);
    }
    if !store.capabilities().ttl {
        return Ok(Verdict::Skipped("ttl expiry"));
    }
    for _ in 0..2 {
        step!(
            store
                .create(NewTask::new().owned_by("alice").with_ttl(200))
                .await
        );
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    for _ in 0..2 {
        step!(store.create(NewTask::new().owned_by("alice")).await);
    }
    Ok(Verdict::Passed)
}

/// Limits count only unfinished tasks: an owner (or a store) whose tasks have all ended, in
/// any terminal status, can start as many again, and a task that ends frees its place at once.
pub async fn limits_count_unfinished(factory: &dyn StoreFactory) -> CaseResult {
    let config = StoreConfig::default()
        .with_max_tasks_per_owner(Some(3))
        .with_max_tasks(Some(4));
    let store = open_store(factory, config).await;
    if let Some(skip) = skip_without_limits(store.as_ref()) {
        return Ok(skip);
    }
    let alice = Scope::owner("alice");
    // Three rounds of three finished tasks: nine in all, three times the per-owner limit.
    for round in 0..3 {
        for (i, status) in [
            TaskStatus::Completed,
            TaskStatus::Failed,
            TaskStatus::Cancelled,
        ]
        .into_iter()
        .enumerate()
        {
            let task = step!(store.create(NewTask::new().owned_by("alice")).await);
            let tag = format!("round {round} task {i}");
            step!(
                store
                    .update(&alice, &task.task_id, change_to(status, &tag))
                    .await
            );
        }
    }
    ensure_eq!(
        step!(list_all(store.as_ref(), &alice, None).await).len(),
        9,
        "alice's finished tasks are all still stored"
    );
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(step!(store.create(NewTask::new().owned_by("alice")).await));
    }
    ensure_err!(
        store.create(NewTask::new().owned_by("alice")).await,
        TaskError::LimitExceeded {
            kind: LimitKind::PerOwner,
            max: 3
        },
        "a fourth unfinished task of alice"
    );
    // A task waiting for input is unfinished too.
    step!(
        store
            .update(
                &alice,
                &open[0].task_id,
                change_to(TaskStatus::InputRequired, "asks")
            )
            .await
    );
    ensure_err!(
        store.create(NewTask::new().owned_by("alice")).await,
        TaskError::LimitExceeded {
            kind: LimitKind::PerOwner,
            max: 3
        },
        "alice's fourth task while one waits for input"
    );
    // Ending one frees its place at once.
    step!(
        store
            .update(
                &alice,
                &open[0].task_id,
                change_to(TaskStatus::Completed, "done")
            )
            .await
    );
    step!(store.create(NewTask::new().owned_by("alice")).await);
    // The store holds 13 tasks, of which 3 are unfinished; the total limit is 4.
    step!(store.create(NewTask::new().owned_by("bob")).await);
    ensure_err!(
        store.create(NewTask::new()).await,
        TaskError::LimitExceeded {
            kind: LimitKind::Total,
            max: 4
        },
        "a fifth unfinished task in the store"
    );
    step!(
        store
            .update(
                &Scope::All,
                &open[1].task_id,
                change_to(TaskStatus::Failed, "gave up")
            )
            .await
    );
    // Ended through trusted access, it frees its place in both limits: alice has two
    // unfinished tasks again and the store three.
    step!(store.create(NewTask::new().owned_by("alice")).await);
    Ok(Verdict::Passed)
}
