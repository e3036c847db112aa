//! Hostile and malformed input, generated with proptest strategies: ids and owners of every
//! shape, cursors that are garbage, altered or someone else's (none may show another owner's
//! tasks), and payloads that are huge, deeply nested or full of numbers at their limits.
//!
//! Each input must get a success or a typed error that fits it, never a panic or a backend
//! error; a failed call changes nothing; what is stored reads back verbatim. Every case prints
//! its seed; set `HOSTILE_SEED` to replay a run and `HOSTILE_CASES` to change how many inputs
//! each case draws.

pub mod harness;
pub mod strategies;

use super::*;
use crate::Verdict;
use harness::{FIXTURE_OWNERS, Fixtures, draw, for_each_input, show};
use serde_json::json;
use std::collections::HashSet;
use std::fmt::Debug;
use std::time::Duration;
use strategies::{
    CursorInput, Hostile, SMALL_LIMIT, TEN_MB, any_name, cursor_input, hostile_change, nest,
    ten_mb_result, ten_mb_text,
};
use task_core::backend::validate;
use task_core::{TaskOutcome, TaskStoreExt};

/// A result that must be a typed error of the expected kind.
fn refused<T: Debug>(
    what: &str,
    result: Result<T, TaskError>,
    expected: fn(&TaskError) -> bool,
) -> Result<(), String> {
    match result {
        Err(e) if expected(&e) => Ok(()),
        other => Err(format!("{what} gave {}", show(&other))),
    }
}

fn invalid_input(e: &TaskError) -> bool {
    matches!(e, TaskError::InvalidInput(_))
}

fn not_found(e: &TaskError) -> bool {
    matches!(e, TaskError::NotFound { .. })
}

/// Ids and owners of every shape through every call: a valid pair is stored and read back
/// verbatim, seen by its owner only and by no one else; an invalid one gets `InvalidInput`
/// from every call and changes nothing.
pub async fn hostile_names(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let fixtures = Fixtures::new(store.clone()).await?;
    let inputs = draw("hostile_names", (any_name(), any_name()))?;
    for_each_input("hostile_names", inputs, move |(id, owner)| {
        let fixtures = fixtures.clone();
        async move {
            let accepted = check_name_pair(&fixtures.store, &id, &owner).await?;
            fixtures.unchanged().await?;
            Ok(accepted)
        }
    })
    .await
}

/// Checks one id and owner through every call; says whether the pair was valid and stored.
async fn check_name_pair(
    store: &Arc<dyn TaskStore>,
    id: &str,
    owner: &str,
) -> Result<bool, String> {
    let valid_id = validate::task_id(id).is_ok();
    let valid_owner = validate::owner(owner).is_ok();
    let scope = Scope::owner(owner);
    let stranger = Scope::owner(FIXTURE_OWNERS[0]);
    let created = store
        .create(NewTask::new().with_id(id).owned_by(owner))
        .await;
    if !(valid_id && valid_owner) {
        refused("create", created, invalid_input)?;
    } else {
        let task = created.map_err(|e| format!("create of a valid id and owner: {e}"))?;
        if task.task_id != id {
            return Err(format!("the id came back as {}", show(&task.task_id)));
        }
        let record = store
            .get_record(&scope, id)
            .await
            .map_err(|e| format!("the owner's get_record: {e}"))?;
        if record.owner.as_deref() != Some(owner) || record.task != task {
            return Err(format!("read back as {}", show(&record)));
        }
        let listed = list_all(store.as_ref(), &scope, Some(7))
            .await
            .map_err(|e| format!("the owner's listing: {e}"))?;
        if listed != [task.clone()] {
            return Err(format!("the owner lists {}", show(&listed)));
        }
        refused(
            "a stranger's get",
            store.get(&stranger, id).await,
            not_found,
        )?;
        refused(
            "a stranger's cancel",
            store.cancel(&stranger, id).await,
            not_found,
        )?;
        let cancelled = store
            .cancel(&scope, id)
            .await
            .map_err(|e| format!("the owner's cancel: {e}"))?;
        if cancelled.status != TaskStatus::Cancelled {
            return Err(format!("cancel left {}", cancelled.status));
        }
        if !store.delete(&scope, id).await.map_err(|e| e.to_string())? {
            return Err("the owner could not delete the task".into());
        }
    }
    // Now the id names no task: each call is refused as invalid input or not found.
    let expected: fn(&TaskError) -> bool = if valid_id && valid_owner {
        not_found
    } else {
        invalid_input
    };
    let seen = task_core::backend::time::now();
    let short = Some(Duration::from_millis(1));
    refused("get", store.get(&scope, id).await, expected)?;
    refused("get_record", store.get_record(&scope, id).await, expected)?;
    refused("get_result", store.get_result(&scope, id).await, expected)?;
    refused(
        "set_message",
        store.set_message(&scope, id, "x").await,
        expected,
    )?;
    refused("cancel", store.cancel(&scope, id).await, expected)?;
    refused("fail", store.fail(&scope, id, "x").await, expected)?;
    let waited = store.wait_for_update(&scope, id, seen, short).await;
    refused("wait_for_update", waited, expected)?;
    match store.delete(&scope, id).await {
        Ok(false) if valid_id && valid_owner => {}
        Err(TaskError::InvalidInput(_)) if !(valid_id && valid_owner) => {}
        other => return Err(format!("delete gave {}", show(&other))),
    }
    match (store.list(&scope, PageRequest::first()).await, valid_owner) {
        (Ok(page), true) if page.tasks.is_empty() => {}
        (Err(TaskError::InvalidInput(_)), false) => {}
        (other, _) => return Err(format!("list gave {}", show(&other))),
    }
    match (store.notify_update(id).await, valid_id) {
        (Ok(()), true) | (Err(TaskError::InvalidInput(_)), false) => Ok(valid_id && valid_owner),
        (other, _) => Err(format!("notify_update gave {other:?}")),
    }
}

/// Cursors of every kind: each listing gets `InvalidCursor` or a page of the caller's own
/// tasks; a cursor with any character changed (other than a hex digit's case) is refused, and
/// another owner's cursor never pages.
pub async fn hostile_cursors(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let (mine, theirs) = (Scope::owner("cursor-α"), Scope::owner("cursor-β"));
    let mut own_ids = HashSet::new();
    for n in 0..8 {
        let task = step!(store.create(NewTask::new().owned_by("cursor-α")).await);
        own_ids.insert(task.task_id);
        step!(store.create(NewTask::new().owned_by("cursor-β")).await);
        if n % 3 == 0 {
            step!(store.create(NewTask::new()).await);
        }
    }
    let cursors = |scope: Scope| {
        let store = store.clone();
        async move {
            let mut cursors = Vec::new();
            let mut cursor = None;
            while cursors.len() < 3 {
                let page = store
                    .list(&scope, PageRequest::after(cursor).with_limit(2))
                    .await?;
                let Some(next) = page.next_cursor else { break };
                cursors.push(next.clone());
                cursor = Some(next);
            }
            Ok::<_, TaskError>(cursors)
        }
    };
    let own = step!(cursors(mine.clone()).await);
    let foreign = step!(cursors(theirs.clone()).await);
    let trusted = step!(cursors(Scope::All).await);
    ensure!(
        own.len() == 3 && foreign.len() == 3 && trusted.len() == 3,
        "each scope has three pages"
    );
    let own_ids = Arc::new(own_ids);
    let inputs = draw("hostile_cursors", cursor_input())?;
    for_each_input("hostile_cursors", inputs, move |input| {
        let (store, mine, own_ids) = (store.clone(), mine.clone(), own_ids.clone());
        let (own, foreign, trusted) = (own.clone(), foreign.clone(), trusted.clone());
        async move {
            // The cursor, and whether it must be refused (`Some(true)`) or accepted.
            let (cursor, must_refuse) = match input {
                CursorInput::Garbage(text) | CursorInput::Hex(text) => (text, None),
                CursorInput::Own { page, capitals } if capitals => {
                    (own[page].to_ascii_uppercase(), Some(false))
                }
                CursorInput::Own { page, .. } => (own[page].clone(), Some(false)),
                CursorInput::Flipped { page, at, to } => {
                    let original = &own[page];
                    let mut chars: Vec<char> = original.chars().collect();
                    let at = at % chars.len();
                    chars[at] = to;
                    let flipped: String = chars.into_iter().collect();
                    let same = flipped.eq_ignore_ascii_case(original);
                    (flipped, Some(!same))
                }
                CursorInput::Resized { page, keep, extra } => {
                    let original = &own[page];
                    let keep = keep % (original.len() + 1);
                    let resized = format!("{}{extra}", &original[..keep]);
                    let same = resized.eq_ignore_ascii_case(original);
                    (resized, Some(!same))
                }
                CursorInput::Foreign {
                    trusted: true,
                    page,
                } => (trusted[page].clone(), Some(true)),
                CursorInput::Foreign {
                    trusted: false,
                    page,
                } => (foreign[page].clone(), Some(true)),
            };
            let page = store
                .list(&mine, PageRequest::after(Some(cursor)).with_limit(3))
                .await;
            match page {
                Err(TaskError::InvalidCursor) if must_refuse == Some(false) => {
                    Err("the owner's own cursor was refused".into())
                }
                Err(TaskError::InvalidCursor) => Ok(false),
                Ok(_) if must_refuse == Some(true) => {
                    Err("an altered or foreign cursor was accepted".into())
                }
                Ok(page) => match page.tasks.iter().find(|t| !own_ids.contains(&t.task_id)) {
                    Some(task) => Err(format!("the page holds {}, not ours", task.task_id)),
                    None => Ok(true),
                },
                Err(other) => Err(format!("list gave {other}")),
            }
        }
    })
    .await
}

/// Random payloads in every change against a store with a small payload limit: each is
/// accepted and reads back exactly, or refused with `InvalidInput` and changes nothing.
pub async fn hostile_payloads(factory: &dyn StoreFactory) -> CaseResult {
    let config = StoreConfig::default().with_max_payload_bytes(SMALL_LIMIT);
    let store = open_store(factory, config.clone()).await;
    let fixtures = Fixtures::new(store.clone()).await?;
    let config = Arc::new(config);
    let inputs = draw("hostile_payloads", hostile_change())?;
    for_each_input("hostile_payloads", inputs, move |input| {
        let (fixtures, config) = (fixtures.clone(), config.clone());
        async move {
            let accepted = check_payload(&fixtures.store, &config, input).await?;
            fixtures.unchanged().await?;
            Ok(accepted)
        }
    })
    .await
}

async fn check_payload(
    store: &Arc<dyn TaskStore>,
    config: &StoreConfig,
    input: Hostile,
) -> Result<bool, String> {
    let all = &Scope::All;
    if let Hostile::Create(params, message) = input {
        let new = NewTask::new()
            .with_request("tools/call", params.clone())
            .with_message(message.clone());
        let fits = validate::json("params", &params, config.max_payload_bytes).is_ok()
            && validate::message(&message, config.max_payload_bytes).is_ok();
        let created = store.create(new).await;
        if !fits {
            return refused("an oversized create", created, invalid_input).map(|()| false);
        }
        let task = created.map_err(|e| format!("create: {e}"))?;
        let record = store
            .get_record(all, &task.task_id)
            .await
            .map_err(|e| format!("get_record: {e}"))?;
        let request = record.request.as_ref();
        let stored = (
            request.map(|r| &r.params),
            record.task.status_message.as_ref(),
        );
        store
            .delete(all, &task.task_id)
            .await
            .map_err(|e| format!("delete: {e}"))?;
        return if stored == (Some(&params), Some(&message)) {
            Ok(true)
        } else {
            Err(format!("read back as {}", show(&stored)))
        };
    }
    let change = match input {
        Hostile::Message(text) => TaskChange::message(text),
        Hostile::Complete(result) => TaskChange::complete(result),
        Hostile::Fail(text) => TaskChange::fail(text),
        Hostile::FailWithError(error) => {
            TaskChange::finish(TaskStatus::Failed, TaskOutcome::Error(error), None)
        }
        Hostile::Create(..) => unreachable!("handled above"),
    };
    let task = store
        .create(NewTask::new().with_message("before"))
        .await
        .map_err(|e| format!("create: {e}"))?;
    let id = task.task_id.as_str();
    let before = store.get_record(all, id).await.map_err(|e| e.to_string())?;
    let fits = validate::change(&change, config).is_ok();
    let applied = store.update(all, id, change.clone()).await;
    let after = store.get_record(all, id).await.map_err(|e| e.to_string())?;
    store.delete(all, id).await.map_err(|e| e.to_string())?;
    if !fits {
        refused("an oversized or too deep change", applied, invalid_input)?;
        return if after == before {
            Ok(false)
        } else {
            Err("a refused change altered the task".into())
        };
    }
    let applied = applied.map_err(|e| format!("update: {e}"))?;
    if applied != after.task {
        return Err("the returned task differs from the stored one".into());
    }
    let expected_message = change
        .status_message
        .as_ref()
        .or(before.task.status_message.as_ref());
    if after.task.status_message.as_ref() != expected_message {
        return Err(format!(
            "the message reads back as {}",
            show(&after.task.status_message)
        ));
    }
    if change.outcome.is_some() && after.outcome != change.outcome {
        return Err(format!(
            "the outcome reads back as {}",
            show(&after.outcome)
        ));
    }
    Ok(true)
}

/// Ten-megabyte payloads: stored and read back exactly under the default limit, and refused
/// with a clear error naming the size and the limit by a store configured for less.
pub async fn hostile_payload_limit(factory: &dyn StoreFactory) -> CaseResult {
    let all = &Scope::All;
    let big = ten_mb_text();
    let result = ten_mb_result(&big);
    let params = json!({ "blob": big });

    // One 10 MB payload per task, each read back once: the largest record stays near 12 MB.
    let roomy = default_store(factory).await;
    ensure!(
        roomy.config().max_payload_bytes > TEN_MB + 1024,
        "the default limit holds 10 MB"
    );
    let with_params = NewTask::new().with_request("tools/call", params.clone());
    let task = step!(roomy.create(with_params).await);
    let record = step!(roomy.get_record(all, &task.task_id).await);
    ensure!(
        record.request.map(|r| r.params) == Some(params.clone()),
        "10 MB of request params read back exactly"
    );
    let messaged = step!(roomy.create(NewTask::new()).await);
    step!(roomy.set_message(all, &messaged.task_id, &big).await);
    let read = step!(roomy.get(all, &messaged.task_id).await);
    ensure!(
        read.status_message.as_deref() == Some(big.as_str()),
        "a 10 MB message reads back exactly"
    );
    let completed = step!(roomy.create(NewTask::new()).await);
    step!(
        roomy
            .complete(all, &completed.task_id, result.clone())
            .await
    );
    let stored = step!(roomy.get_result(all, &completed.task_id).await);
    ensure!(
        stored == Some(TaskOutcome::Result(result.clone())),
        "a 10 MB result reads back exactly"
    );

    let limit = 1024 * 1024;
    let tight = open_store(
        factory,
        StoreConfig::default().with_max_payload_bytes(limit),
    )
    .await;
    let task = step!(tight.create(NewTask::new()).await);
    let before = step!(tight.get_record(all, &task.task_id).await);
    let clear = |error: &TaskError| {
        let text = error.to_string();
        matches!(error, TaskError::InvalidInput(_))
            && text.contains(&limit.to_string())
            && text.contains("limit")
    };
    for (what, refused) in [
        (
            "a 10 MB result",
            tight.complete(all, &task.task_id, result.clone()).await,
        ),
        (
            "a 10 MB failure",
            tight.fail(all, &task.task_id, &big).await,
        ),
        (
            "a 10 MB message",
            tight.set_message(all, &task.task_id, &big).await,
        ),
    ] {
        match refused {
            Err(error) if clear(&error) => {}
            other => {
                return Err(fail!(
                    "{what} gave {}, expected a clear limit error",
                    show(&other)
                ));
            }
        }
    }
    match tight
        .create(NewTask::new().with_request("tools/call", params))
        .await
    {
        Err(error) if clear(&error) => {}
        other => return Err(fail!("10 MB of params gave {}", show(&other))),
    }
    ensure_eq!(
        step!(tight.get_record(all, &task.task_id).await),
        before,
        "refused changes leave the task alone"
    );
    let listed = step!(list_all(tight.as_ref(), all, None).await);
    ensure_eq!(listed.len(), 1, "a refused create stores nothing");
    Ok(Verdict::Passed)
}

/// Deep nesting around the limit: up to [`validate::MAX_JSON_DEPTH`] levels are stored and
/// read back, one more is refused, and far deeper values are refused without overflowing a
/// stack.
pub async fn hostile_nesting(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let all = &Scope::All;
    let max = validate::MAX_JSON_DEPTH;
    for depth in [max - 2, max - 1, max, max + 1, 2 * max, 1_000] {
        // The result object is level 1 and its "deep" member adds `depth` levels.
        let result = obj(json!({ "deep": nest(json!(1), depth) }));
        let task = step!(store.create(NewTask::new()).await);
        let outcome = store.complete(all, &task.task_id, result.clone()).await;
        if depth < max {
            step!(outcome);
            let stored = step!(store.get_result(all, &task.task_id).await);
            ensure!(
                stored == Some(TaskOutcome::Result(result)),
                "{depth} levels read back exactly"
            );
        } else {
            ensure_err!(outcome, TaskError::InvalidInput(_), "{depth} levels");
            let params = nest(json!(1), depth + 1);
            ensure_err!(
                store.create(NewTask::new().with_request("x", params)).await,
                TaskError::InvalidInput(_),
                "{depth} levels of params"
            );
            ensure_eq!(
                step!(store.get(all, &task.task_id).await).status,
                TaskStatus::Working,
                "a refused result changes nothing"
            );
        }
    }
    Ok(Verdict::Passed)
}
