use super::*;
use crate::Verdict;
use std::time::Duration;
use task_core::{ErrorData, TaskStoreExt};

/// Every owner-scoped call on `id`, with its error (if any) rendered as JSON-RPC after the id is
/// replaced by a placeholder, so a foreign task can be compared with a missing one.
async fn scoped_answers(store: &dyn TaskStore, scope: &Scope, id: &str) -> Vec<String> {
    let render = |result: Result<String, TaskError>| match result {
        Ok(text) => format!("ok {text}"),
        Err(error) => {
            let rpc = ErrorData::from(&error);
            format!(
                "{:?} {} {}",
                std::mem::discriminant(&error),
                rpc.code,
                rpc.message.replace(id, "<id>")
            )
        }
    };
    let now = task_core::backend::time::now();
    let short = Some(Duration::from_millis(10));
    vec![
        render(store.get(scope, id).await.map(|t| t.task_id)),
        render(store.get_record(scope, id).await.map(|r| r.task.task_id)),
        render(store.get_result(scope, id).await.map(|r| format!("{r:?}"))),
        render(store.set_message(scope, id, "x").await.map(|t| t.task_id)),
        render(store.cancel(scope, id).await.map(|t| t.task_id)),
        render(
            store
                .complete(scope, id, Map::new())
                .await
                .map(|t| t.task_id),
        ),
        render(
            store
                .wait_for_update(scope, id, now, short)
                .await
                .map(|t| t.task_id),
        ),
        render(store.delete(scope, id).await.map(|d| d.to_string())),
    ]
}

/// Another owner's task is indistinguishable from a missing one, for every call and in lists.
pub async fn owner_isolation(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let (alice, bob) = (Scope::owner("alice"), Scope::owner("bob"));
    let mine = step!(store.create(NewTask::new().owned_by("alice")).await);
    let theirs = step!(store.create(NewTask::new().owned_by("bob")).await);
    let before = step!(store.get_record(&Scope::All, &mine.task_id).await);

    let foreign = scoped_answers(store.as_ref(), &bob, &mine.task_id).await;
    let missing =
        scoped_answers(store.as_ref(), &bob, "00000000-0000-4000-8000-000000000000").await;
    ensure_eq!(
        foreign,
        missing,
        "a foreign task must answer like a missing one"
    );
    ensure!(
        foreign[0].contains("-32602"),
        "not found is -32602: {}",
        foreign[0]
    );
    let after = step!(store.get_record(&Scope::All, &mine.task_id).await);
    ensure_eq!(after, before, "bob's attempts change nothing");

    let alice_sees = step!(list_all(store.as_ref(), &alice, None).await);
    ensure_eq!(alice_sees, vec![mine.clone()], "alice lists only her task");
    let bob_sees = step!(list_all(store.as_ref(), &bob, None).await);
    ensure_eq!(bob_sees, vec![theirs.clone()], "bob lists only his task");
    let everyone = step!(list_all(store.as_ref(), &Scope::All, None).await);
    ensure_eq!(everyone.len(), 2, "trusted access lists both");

    let own = step!(store.cancel(&alice, &mine.task_id).await);
    ensure_eq!(
        own.status,
        TaskStatus::Cancelled,
        "alice cancels her own task"
    );
    ensure!(
        step!(store.delete(&bob, &theirs.task_id).await),
        "bob deletes his own task"
    );
    Ok(Verdict::Passed)
}

/// A scoped caller never sees an unbound task; trusted access does.
pub async fn unbound_tasks_fail_closed(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let alice = Scope::owner("alice");
    let unbound = step!(store.create(NewTask::new()).await);
    ensure_err!(
        store.get(&alice, &unbound.task_id).await,
        TaskError::NotFound { .. },
        "get"
    );
    ensure_err!(
        store.cancel(&alice, &unbound.task_id).await,
        TaskError::NotFound { .. },
        "cancel"
    );
    ensure!(
        step!(list_all(store.as_ref(), &alice, None).await).is_empty(),
        "alice lists nothing"
    );
    ensure_eq!(
        step!(store.get(&Scope::All, &unbound.task_id).await),
        unbound,
        "trusted get"
    );
    Ok(Verdict::Passed)
}

/// A cursor made for one owner is rejected for another owner and for trusted access.
pub async fn cursor_owner_binding(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    for owner in ["alice", "bob"] {
        for _ in 0..3 {
            step!(store.create(NewTask::new().owned_by(owner)).await);
        }
    }
    let alice = Scope::owner("alice");
    let page = step!(store.list(&alice, PageRequest::first().with_limit(1)).await);
    let Some(cursor) = page.next_cursor else {
        return Err(fail!("alice has more than one page"));
    };
    for other in [Scope::owner("bob"), Scope::All] {
        ensure_err!(
            store
                .list(&other, PageRequest::after(Some(cursor.clone())))
                .await,
            TaskError::InvalidCursor,
            "alice's cursor used by {other:?}"
        );
    }
    let rest = step!(store.list(&alice, PageRequest::after(Some(cursor))).await);
    ensure_eq!(rest.tasks.len(), 2, "alice's own cursor works");
    Ok(Verdict::Passed)
}
