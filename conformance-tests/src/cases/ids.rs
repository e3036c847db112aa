use super::*;
use crate::Verdict;
use std::collections::HashSet;
use tokio::sync::Barrier;

/// Ids and owners that must be refused: empty, too long, control characters.
fn invalid_names() -> Vec<String> {
    vec![
        String::new(),
        "x".repeat(257),
        "x".repeat(10_240),
        "line\nbreak".into(),
        "nul\0byte".into(),
        "tab\tchar".into(),
        "\u{7f}".into(),
        "\u{85}next-line".into(),
    ]
}

/// Invalid ids and owners give InvalidInput everywhere and store nothing.
pub async fn id_validation(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    for bad in invalid_names() {
        ensure_err!(
            store.create(NewTask::new().with_id(bad.clone())).await,
            TaskError::InvalidInput(_),
            "create with id {bad:?}"
        );
        ensure_err!(
            store.get(&Scope::All, &bad).await,
            TaskError::InvalidInput(_),
            "get {bad:?}"
        );
        if bad.len() == 257 {
            continue; // too long for an id, but a valid owner
        }
        ensure_err!(
            store.create(NewTask::new().owned_by(bad.clone())).await,
            TaskError::InvalidInput(_),
            "create with owner {bad:?}"
        );
        ensure_err!(
            store.get(&Scope::Owner(bad.clone()), "some-id").await,
            TaskError::InvalidInput(_),
            "get as owner {bad:?}"
        );
        ensure_err!(
            store
                .list(&Scope::Owner(bad.clone()), PageRequest::first())
                .await,
            TaskError::InvalidInput(_),
            "list as owner {bad:?}"
        );
    }
    ensure!(
        step!(list_all(store.as_ref(), &Scope::All, None).await).is_empty(),
        "nothing stored"
    );
    Ok(Verdict::Passed)
}

/// Ids and owners with punctuation, SQL, key syntax and non-ASCII are stored verbatim.
pub async fn odd_ids_verbatim(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let names = [
        "{tag}:*?[]".to_owned(),
        "'; DROP TABLE tasks; --".into(),
        "\" OR 1=1 --".into(),
        "with space".into(),
        "ünïcødé-任务-🎉".into(),
        "%_\\".into(),
        "x".repeat(256),
    ];
    for name in &names {
        let task = step!(
            store
                .create(NewTask::new().with_id(name.clone()).owned_by(name.clone()))
                .await
        );
        ensure_eq!(&task.task_id, name, "the id is kept verbatim");
        let scope = Scope::Owner(name.clone());
        let record = step!(store.get_record(&scope, name).await);
        ensure_eq!(
            record.owner.as_ref(),
            Some(name),
            "the owner is kept verbatim"
        );
        let listed = step!(list_all(store.as_ref(), &scope, None).await);
        ensure_eq!(listed, vec![task], "the owner lists exactly their task");
    }
    let listed = step!(list_all(store.as_ref(), &Scope::All, None).await);
    ensure_eq!(listed.len(), names.len(), "every odd task is listed once");
    Ok(Verdict::Passed)
}

/// A duplicate id is refused and leaves the original untouched.
pub async fn duplicate_id(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let original = step!(
        store
            .create(NewTask::new().with_id("dup").owned_by("alice"))
            .await
    );
    let before = step!(store.get_record(&Scope::All, "dup").await);
    ensure_err!(
        store
            .create(NewTask::new().with_id("dup").owned_by("bob").with_ttl(5))
            .await,
        TaskError::AlreadyExists { .. },
        "a second create"
    );
    let after = step!(store.get_record(&Scope::All, "dup").await);
    ensure_eq!(after, before, "the original is untouched");
    ensure_eq!(after.task, original, "the original task");
    Ok(Verdict::Passed)
}

/// Eight concurrent creates of one id, each for a different request: exactly one succeeds.
pub async fn duplicate_id_race(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    for round in 0..20 {
        let id = format!("race-{round}");
        let barrier = Arc::new(Barrier::new(8));
        let mut handles = Vec::new();
        for worker in 0..8 {
            let (store, id, barrier) = (store.clone(), id.clone(), barrier.clone());
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                store
                    .create(
                        NewTask::new()
                            .with_id(id)
                            .with_request("tools/call", serde_json::json!({ "worker": worker }))
                            .with_message(format!("w{worker}")),
                    )
                    .await
            }));
        }
        let mut winners = Vec::new();
        for handle in handles {
            match step!(handle.await) {
                Ok(task) => winners.push(task),
                Err(TaskError::AlreadyExists { .. }) => {}
                Err(other) => return Err(fail!("round {round}: unexpected {other}")),
            }
        }
        ensure_eq!(winners.len(), 1, "round {round}: creates that succeeded");
        let stored = step!(store.get(&Scope::All, &id).await);
        ensure_eq!(
            stored,
            winners[0],
            "round {round}: the winner's task is stored"
        );
    }
    Ok(Verdict::Passed)
}

/// A create repeated with the same caller-supplied id, owner and request (after an error
/// whose outcome was unknown, say) answers the task the first one made, as it now is, and
/// creates nothing; the same id for another owner or another request is still refused.
pub async fn create_repeat_is_idempotent(factory: &dyn StoreFactory) -> CaseResult {
    let config = StoreConfig::default().with_max_tasks_per_owner(Some(2));
    let store = open_store(factory, config).await;
    let request = serde_json::json!({ "name": "sleep", "arguments": { "seconds": 1 } });
    let new = NewTask::new()
        .with_id("job-1")
        .owned_by("alice")
        .with_ttl(600_000)
        .with_request("tools/call", request.clone())
        .with_message("queued");
    let first = step!(store.create(new.clone()).await);
    let again = step!(store.create(new.clone()).await);
    ensure_eq!(again, first, "the repeat answers the first task");
    let alice = Scope::owner("alice");
    ensure_eq!(
        step!(list_all(store.as_ref(), &alice, None).await).len(),
        1,
        "alice's tasks after the repeat"
    );

    // The task moves on; a late repeat answers it as it now is, and changes nothing.
    step!(
        store
            .update(&alice, "job-1", change_to(TaskStatus::InputRequired, "x"))
            .await
    );
    let before = step!(store.get_record(&alice, "job-1").await);
    let late = step!(store.create(new.clone()).await);
    ensure_eq!(late, before.task, "a late repeat answers the task as it is");
    ensure_eq!(
        step!(store.get_record(&alice, "job-1").await),
        before,
        "the late repeat changed nothing"
    );

    // A repeat starts no task, so it is answered even at the limit.
    step!(store.create(NewTask::new().owned_by("alice")).await);
    if store.capabilities().limits {
        ensure_err!(
            store.create(NewTask::new().owned_by("alice")).await,
            TaskError::LimitExceeded { .. },
            "a third unfinished task of alice"
        );
    }
    ensure_eq!(
        step!(store.create(new.clone()).await),
        before.task,
        "a repeat at the limit"
    );

    // Anything that makes it another create is refused.
    let others = [
        ("another owner", new.clone().owned_by("bob")),
        (
            "no owner",
            NewTask {
                owner: None,
                ..new.clone()
            },
        ),
        (
            "other params",
            new.clone()
                .with_request("tools/call", serde_json::json!({ "name": "sleep" })),
        ),
        (
            "another method",
            new.clone()
                .with_request("sampling/createMessage", request.clone()),
        ),
        ("another ttl", new.clone().with_ttl(1_000)),
        (
            "another revision",
            new.clone()
                .with_revision(task_core::ProtocolRevision::V2026_07_28),
        ),
    ];
    for (what, other) in others {
        ensure_err!(
            store.create(other).await,
            TaskError::AlreadyExists { .. },
            "the same id with {what}"
        );
    }
    ensure_eq!(
        step!(store.get_record(&alice, "job-1").await),
        before,
        "refused creates changed nothing"
    );

    // Once finished, it is still answered; once deleted, the id is free for a new task.
    step!(
        store
            .update(&alice, "job-1", change_to(TaskStatus::Completed, "done"))
            .await
    );
    let done = step!(store.create(new.clone()).await);
    ensure_eq!(done.status, TaskStatus::Completed, "a repeat after the end");
    ensure!(step!(store.delete(&alice, "job-1").await), "delete");
    let fresh = step!(store.create(new).await);
    ensure_eq!(
        fresh.status,
        TaskStatus::Working,
        "a new task under the freed id"
    );
    Ok(Verdict::Passed)
}

/// Eight concurrent identical creates of one id: all of them answer the one task that exists.
pub async fn create_repeat_race(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    for round in 0..20 {
        let id = format!("same-{round}");
        let barrier = Arc::new(Barrier::new(8));
        let mut handles = Vec::new();
        for _ in 0..8 {
            let (store, id, barrier) = (store.clone(), id.clone(), barrier.clone());
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                let new = NewTask::new()
                    .with_id(id)
                    .owned_by("alice")
                    .with_request("tools/call", serde_json::json!({ "round": round }));
                store.create(new).await
            }));
        }
        let mut answers = Vec::new();
        for handle in handles {
            answers.push(step!(step!(handle.await)));
        }
        let stored = step!(store.get(&Scope::All, &id).await);
        for answer in &answers {
            ensure_eq!(
                answer,
                &stored,
                "round {round}: every create answers the task"
            );
        }
    }
    let stored = step!(list_all(store.as_ref(), &Scope::All, None).await);
    ensure_eq!(stored.len(), 20, "one task per id");
    Ok(Verdict::Passed)
}

/// Generated ids are distinct UUID v4 strings.
pub async fn generated_ids_unique(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let mut ids = HashSet::new();
    for _ in 0..500 {
        let id = step!(store.create(NewTask::new()).await).task_id;
        let uuid = step!(uuid_v4_check(&id));
        ensure!(ids.insert(uuid), "duplicate id {id}");
    }
    Ok(Verdict::Passed)
}

/// Checks the canonical text form of a UUID v4 and returns it.
fn uuid_v4_check(id: &str) -> Result<String, String> {
    let groups: Vec<&str> = id.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let hex = groups
        .iter()
        .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
    let version = groups.get(2).and_then(|g| g.chars().next());
    let variant = groups.get(3).and_then(|g| g.chars().next());
    if lengths == [8, 4, 4, 4, 12]
        && hex
        && version == Some('4')
        && matches!(variant, Some('8' | '9' | 'a' | 'b'))
    {
        Ok(id.to_owned())
    } else {
        Err(format!("{id:?} is not a UUID v4"))
    }
}
