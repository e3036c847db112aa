use super::*;
use crate::Verdict;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use task_core::{TaskOutcome, TaskStoreExt};

/// Eight workers each run 25 tasks through create, progress and completion at once; every
/// task ends with its own result and the listing shows each exactly once.
pub async fn concurrent_workers(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let mut workers = Vec::new();
    for worker in 0..8 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            for n in 0..25 {
                let task = store
                    .create(NewTask::new().owned_by(format!("w{worker}")))
                    .await?;
                for step in 0..3 {
                    store
                        .set_message(&Scope::All, &task.task_id, &format!("step {step}"))
                        .await?;
                }
                let result = obj(json!({ "worker": worker, "n": n }));
                store
                    .complete(&Scope::All, &task.task_id, result.clone())
                    .await?;
                done.push((task.task_id, result));
            }
            Ok::<_, TaskError>(done)
        }));
    }
    let mut expected = HashMap::new();
    for worker in workers {
        expected.extend(step!(step!(worker.await)));
    }
    ensure_eq!(expected.len(), 200, "tasks created");
    let listed = step!(list_all(store.as_ref(), &Scope::All, Some(13)).await);
    ensure_eq!(listed.len(), 200, "tasks listed");
    for task in listed {
        ensure_eq!(task.status, TaskStatus::Completed, "{}", task.task_id);
        let outcome = step!(store.get_result(&Scope::All, &task.task_id).await);
        let Some(result) = expected.remove(&task.task_id) else {
            return Err(fail!("{} listed twice or never created", task.task_id));
        };
        ensure_eq!(
            outcome,
            Some(TaskOutcome::Result(result)),
            "{}'s result",
            task.task_id
        );
    }
    Ok(Verdict::Passed)
}

/// Ten writers change one task's message 20 times each; every change is applied and
/// `lastUpdatedAt` never repeats.
pub async fn concurrent_message_updates(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let task = step!(store.create(NewTask::new()).await);
    let mut writers = Vec::new();
    for writer in 0..10 {
        let (store, id) = (store.clone(), task.task_id.clone());
        writers.push(tokio::spawn(async move {
            let mut stamps = Vec::new();
            for n in 0..20 {
                let changed = store
                    .set_message(&Scope::All, &id, &format!("{writer}/{n}"))
                    .await?;
                stamps.push(changed.last_updated_at);
            }
            Ok::<_, TaskError>(stamps)
        }));
    }
    let mut stamps = Vec::new();
    for writer in writers {
        stamps.extend(step!(step!(writer.await)));
    }
    let total = stamps.len();
    stamps.sort();
    stamps.dedup();
    ensure_eq!(
        stamps.len(),
        total,
        "every change has its own lastUpdatedAt"
    );
    let last = step!(store.get(&Scope::All, &task.task_id).await);
    ensure_eq!(
        Some(&last.last_updated_at),
        stamps.last(),
        "the last change is the stored one"
    );
    Ok(Verdict::Passed)
}

/// recover_stuck fails non-terminal tasks idle for longer than the given age, and only them.
/// Only lower bounds on time are relied on (a sleep), so a slow machine cannot fail it.
pub async fn recover_stuck(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let stuck = [
        step!(task_in(store.as_ref(), TaskStatus::Working).await),
        step!(task_in(store.as_ref(), TaskStatus::InputRequired).await),
    ];
    let done = step!(task_in(store.as_ref(), TaskStatus::Completed).await);
    ensure_eq!(
        step!(
            store
                .recover_stuck(Duration::from_secs(3600), "worker lost")
                .await
        ),
        0,
        "tasks idle for less than the age"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let recovered = step!(
        store
            .recover_stuck(Duration::from_millis(200), "worker lost")
            .await
    );
    ensure_eq!(recovered, 2, "recovered tasks");
    for task in &stuck {
        let record = step!(store.get_record(&Scope::All, &task.task_id).await);
        ensure_eq!(record.task.status, TaskStatus::Failed, "a stuck task");
        ensure_eq!(
            record.task.status_message.as_deref(),
            Some("worker lost"),
            "message"
        );
        ensure_eq!(
            record.outcome,
            TaskChange::fail("worker lost").outcome,
            "outcome"
        );
    }
    ensure_eq!(
        step!(store.get(&Scope::All, &done.task_id).await).status,
        TaskStatus::Completed,
        "done"
    );
    ensure_eq!(
        step!(
            store
                .recover_stuck(Duration::from_millis(200), "again")
                .await
        ),
        0,
        "second run"
    );
    Ok(Verdict::Passed)
}

/// A touch (a live worker's heartbeat) moves only `lastUpdatedAt`, in `working` and in
/// `input_required`, so `recover_stuck` passes the touched task by and takes the idle one; on
/// a task that has ended it is acknowledged and changes nothing. The touched task is touched
/// just before the recovery, whose age leaves it most of a second to spare.
pub async fn touch_keeps_a_task_alive(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let idle = step!(task_in(store.as_ref(), TaskStatus::Working).await);
    let mut touched = Vec::new();
    for status in [TaskStatus::Working, TaskStatus::InputRequired] {
        let task = step!(task_in(store.as_ref(), status).await);
        touched.push(step!(store.get_record(&Scope::All, &task.task_id).await));
    }
    let parked = step!(store.create(NewTask::new()).await);
    let ask = obj(json!({"k": {"method": "elicitation/create"}}));
    step!(store.request_input(&Scope::All, &parked.task_id, ask).await);
    touched.push(step!(store.get_record(&Scope::All, &parked.task_id).await));
    tokio::time::sleep(Duration::from_secs(1)).await;
    for before in &touched {
        let id = &before.task.task_id;
        let task = step!(store.update(&Scope::All, id, TaskChange::touch()).await);
        ensure!(
            task.last_updated_at > before.task.last_updated_at,
            "a touch moves lastUpdatedAt"
        );
        let mut after = step!(store.get_record(&Scope::All, id).await);
        ensure_eq!(after.task.last_updated_at, task.last_updated_at, "stored");
        after.task.last_updated_at = before.task.last_updated_at;
        ensure_eq!(&after, before, "a touch changes nothing else");
    }
    let recovered = step!(
        store
            .recover_stuck(Duration::from_millis(800), "worker lost")
            .await
    );
    ensure_eq!(recovered, 1, "only the idle task is stuck");
    let idle = step!(store.get(&Scope::All, &idle.task_id).await);
    ensure_eq!(idle.status, TaskStatus::Failed, "the idle task");
    for before in &touched {
        let now = step!(store.get(&Scope::All, &before.task.task_id).await);
        ensure_eq!(now.status, before.task.status, "a touched task");
    }
    let ended = step!(store.get(&Scope::All, &idle.task_id).await);
    let again = step!(
        store
            .update(&Scope::All, &idle.task_id, TaskChange::touch())
            .await
    );
    ensure_eq!(again, ended, "a touch of an ended task changes nothing");
    Ok(Verdict::Passed)
}
