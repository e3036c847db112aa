use super::*;
use crate::Verdict;
use std::collections::HashSet;
use task_core::backend::ListPosition;

fn order_key(task: &Task) -> ListPosition {
    ListPosition::after(task)
}

/// Listing is ordered by creation time, ties broken by id, and shows every task once.
pub async fn list_order(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let mut created = Vec::new();
    for i in 0..30 {
        // Caller-chosen ids in reverse, so that id order and insertion order disagree.
        let new = NewTask::new().with_id(format!("task-{:02}", 99 - i));
        created.push(step!(store.create(new).await));
        if i % 10 == 9 {
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
    }
    let listed = step!(list_all(store.as_ref(), &Scope::All, Some(7)).await);
    let mut expected = created.clone();
    expected.sort_by_key(order_key);
    ensure_eq!(listed, expected, "listing order");
    Ok(Verdict::Passed)
}

/// 1,000 tasks paged 37 at a time: none missing, none twice, no page too long.
pub async fn list_paging_1000(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let mut ids = HashSet::new();
    for _ in 0..1_000 {
        ids.insert(step!(store.create(NewTask::new()).await).task_id);
    }
    let mut seen = HashSet::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = step!(
            store
                .list(
                    &Scope::All,
                    PageRequest::after(cursor.take()).with_limit(37)
                )
                .await
        );
        pages += 1;
        ensure!(
            page.tasks.len() <= 37,
            "page {pages} has {} tasks",
            page.tasks.len()
        );
        for task in page.tasks {
            ensure!(
                seen.insert(task.task_id.clone()),
                "{} listed twice",
                task.task_id
            );
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        ensure!(pages <= 1_000, "the listing does not end");
    }
    ensure_eq!(seen, ids, "the listed ids");
    ensure_eq!(pages, 28, "pages of 37 for 1,000 tasks");
    Ok(Verdict::Passed)
}

/// A cursor stays valid after the task it names is deleted.
pub async fn list_cursor_after_delete(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    for _ in 0..25 {
        step!(store.create(NewTask::new()).await);
    }
    let everything = step!(list_all(store.as_ref(), &Scope::All, None).await);
    let first = step!(
        store
            .list(&Scope::All, PageRequest::first().with_limit(10))
            .await
    );
    let Some(cursor) = first.next_cursor else {
        return Err(fail!("a first page of 10 out of 25 must have a cursor"));
    };
    let Some(last) = first.tasks.last() else {
        return Err(fail!("the first page is empty"));
    };
    ensure!(
        step!(store.delete(&Scope::All, &last.task_id).await),
        "delete"
    );
    let rest = step!(list_from(store.as_ref(), &Scope::All, Some(cursor), Some(10)).await);
    ensure_eq!(
        rest,
        everything[10..].to_vec(),
        "the pages after the deleted task"
    );
    Ok(Verdict::Passed)
}

/// Garbage, truncated, extended and altered cursors give InvalidCursor.
pub async fn list_garbage_cursor(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    for _ in 0..3 {
        step!(store.create(NewTask::new()).await);
    }
    let page = step!(
        store
            .list(&Scope::All, PageRequest::first().with_limit(1))
            .await
    );
    let Some(good) = page.next_cursor else {
        return Err(fail!("a page of 1 out of 3 must have a cursor"));
    };
    let mut bad = vec![
        String::new(),
        "garbage".into(),
        "00".into(),
        "ff".repeat(40),
        "é".into(),
        good.chars().take(good.chars().count() - 1).collect(),
        format!("{good}00"),
    ];
    let chars: Vec<char> = good.chars().collect();
    for i in [0, chars.len() / 2, chars.len() - 1] {
        let mut flipped = chars.clone();
        flipped[i] = if flipped[i] == 'a' { 'b' } else { 'a' };
        bad.push(flipped.into_iter().collect());
    }
    for cursor in bad {
        ensure_err!(
            store
                .list(&Scope::All, PageRequest::after(Some(cursor.clone())))
                .await,
            TaskError::InvalidCursor,
            "cursor {cursor:?}"
        );
    }
    Ok(Verdict::Passed)
}

/// The default page size applies, larger requests are clamped to the maximum, zero is invalid.
pub async fn list_page_size(factory: &dyn StoreFactory) -> CaseResult {
    let store = open_store(factory, StoreConfig::default().with_page_size(5, 20)).await;
    for _ in 0..30 {
        step!(store.create(NewTask::new()).await);
    }
    let page = step!(store.list(&Scope::All, PageRequest::first()).await);
    ensure_eq!(page.tasks.len(), 5, "default page");
    let page = step!(
        store
            .list(&Scope::All, PageRequest::first().with_limit(100))
            .await
    );
    ensure_eq!(page.tasks.len(), 20, "clamped page");
    ensure!(page.next_cursor.is_some(), "more pages remain");
    ensure_err!(
        store
            .list(&Scope::All, PageRequest::first().with_limit(0))
            .await,
        TaskError::InvalidInput(_),
        "a zero page size"
    );
    let exact = open_store(factory, StoreConfig::default().with_page_size(5, 20)).await;
    for _ in 0..5 {
        step!(exact.create(NewTask::new()).await);
    }
    let page = step!(exact.list(&Scope::All, PageRequest::first()).await);
    ensure_eq!(page.tasks.len(), 5, "a full last page");
    ensure_eq!(page.next_cursor, None, "no cursor after the last task");
    Ok(Verdict::Passed)
}
