//! The inspection subcommands.

use crate::output::{self, Output};
use chrono::Utc;
use serde_json::json;
use std::collections::BTreeMap;
use task_store::{PageRequest, Scope, Task, TaskError, TaskStatus, TaskStore, TaskStoreExt};

/// Every task visible to `scope`, walking all pages.
async fn all_tasks(store: &dyn TaskStore, scope: &Scope) -> Result<Vec<Task>, TaskError> {
    let mut tasks = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list(scope, PageRequest::after(cursor)).await?;
        tasks.extend(page.tasks);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(tasks),
        }
    }
}

/// `list`: a table of tasks, optionally of one status.
pub async fn list(
    store: &dyn TaskStore,
    scope: &Scope,
    status: Option<TaskStatus>,
    out: &Output,
) -> Result<(), TaskError> {
    let mut tasks = all_tasks(store, scope).await?;
    tasks.retain(|t| status.is_none_or(|s| t.status == s));
    if out.json {
        return out.json(&tasks);
    }
    let now = Utc::now();
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            vec![
                t.task_id.clone(),
                t.status.to_string(),
                output::age(t, now),
                output::ttl_left(t, now),
                t.status_message.clone().unwrap_or_default(),
            ]
        })
        .collect();
    output::table(&["ID", "STATUS", "AGE", "TTL LEFT", "MESSAGE"], &rows);
    println!("{} task(s)", tasks.len());
    Ok(())
}

/// `get`: one task.
pub async fn get(
    store: &dyn TaskStore,
    scope: &Scope,
    id: &str,
    out: &Output,
) -> Result<(), TaskError> {
    let task = store.get(scope, id).await?;
    print_task(&task, out)
}

fn print_task(task: &Task, out: &Output) -> Result<(), TaskError> {
    if out.json {
        return out.json(task);
    }
    output::fields(&output::task_fields(task));
    Ok(())
}

/// `result`: the outcome of a terminal task.
pub async fn result(
    store: &dyn TaskStore,
    scope: &Scope,
    id: &str,
    wait: bool,
    out: &Output,
) -> Result<(), TaskError> {
    let task = if wait {
        store.wait_until_terminal(scope, id, None).await?
    } else {
        store.get(scope, id).await?
    };
    if !task.is_terminal() {
        return Err(TaskError::InvalidInput(format!(
            "task {id} is still {}; use --wait to wait for it",
            task.status
        )));
    }
    let record = store.get_record(scope, id).await?;
    let outcome = match &record.outcome {
        Some(outcome) => serde_json::to_value(outcome)
            .map_err(|e| TaskError::InvalidInput(format!("cannot print the outcome: {e}")))?,
        None => json!(null),
    };
    if out.json {
        return out.json(&json!({ "status": record.task.status, "outcome": outcome }));
    }
    println!("status: {}", record.task.status);
    match record.outcome {
        Some(_) => out_pretty(&outcome)?,
        None => println!("no outcome: the task was cancelled"),
    }
    Ok(())
}

fn out_pretty(value: &serde_json::Value) -> Result<(), TaskError> {
    Output { json: true }.json(value)
}

/// `cancel`: cancels a task.
pub async fn cancel(
    store: &dyn TaskStore,
    scope: &Scope,
    id: &str,
    out: &Output,
) -> Result<(), TaskError> {
    let task = store.cancel(scope, id).await?;
    if out.json {
        return out.json(&task);
    }
    println!("cancelled {}", task.task_id);
    Ok(())
}

/// `watch`: prints each change until the task is terminal, driven by the store's wait.
pub async fn watch(
    store: &dyn TaskStore,
    scope: &Scope,
    id: &str,
    out: &Output,
) -> Result<(), TaskError> {
    let mut task = store.get(scope, id).await?;
    loop {
        if out.json {
            println!(
                "{}",
                serde_json::to_string(&task)
                    .map_err(|e| TaskError::InvalidInput(format!("cannot print JSON: {e}")))?
            );
        } else {
            println!(
                "{}  {:<14} {}",
                task.last_updated_at.format("%H:%M:%S%.3f"),
                task.status.as_str(),
                task.status_message.as_deref().unwrap_or("")
            );
        }
        if task.is_terminal() {
            return Ok(());
        }
        task = store
            .wait_for_update(scope, id, task.last_updated_at, None)
            .await?;
    }
}

/// `purge`: deletes expired tasks, every owner's: the stores purge by expiry alone.
pub async fn purge(store: &dyn TaskStore, scope: &Scope, out: &Output) -> Result<(), TaskError> {
    if scope.owner_name().is_some() {
        return Err(TaskError::InvalidInput(
            "purge deletes every owner's expired tasks: run it without --owner".into(),
        ));
    }
    let purged = store.purge_expired().await?;
    if out.json {
        return out.json(&json!({ "purged": purged }));
    }
    println!("purged {purged} expired task(s)");
    Ok(())
}

/// What `recover` marks stuck tasks with unless told otherwise.
pub const RECOVER_MESSAGE: &str = "the server restarted and the task's worker was lost";

/// `recover`: fails every running task not updated for `older_than_secs` seconds.
pub async fn recover(
    store: &dyn TaskStore,
    scope: &Scope,
    older_than_secs: u64,
    message: &str,
    out: &Output,
) -> Result<(), TaskError> {
    if scope.owner_name().is_some() {
        return Err(TaskError::InvalidInput(
            "recover acts on every owner's tasks: run it without --owner".into(),
        ));
    }
    let older_than = std::time::Duration::from_secs(older_than_secs);
    let recovered = store.recover_stuck(older_than, message).await?;
    if out.json {
        return out.json(&json!({ "recovered": recovered }));
    }
    println!("marked {recovered} stuck task(s) as failed");
    Ok(())
}

/// `stats`: counts by status.
pub async fn stats(store: &dyn TaskStore, scope: &Scope, out: &Output) -> Result<(), TaskError> {
    let tasks = all_tasks(store, scope).await?;
    let mut counts: BTreeMap<TaskStatus, usize> = TaskStatus::ALL.iter().map(|s| (*s, 0)).collect();
    for task in &tasks {
        *counts.entry(task.status).or_default() += 1;
    }
    if out.json {
        let map: BTreeMap<&str, usize> = counts.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        return out.json(&json!({ "total": tasks.len(), "by_status": map }));
    }
    let mut rows: Vec<Vec<String>> = counts
        .iter()
        .map(|(s, n)| vec![s.to_string(), n.to_string()])
        .collect();
    rows.push(vec!["total".into(), tasks.len().to_string()]);
    output::table(&["STATUS", "TASKS"], &rows);
    Ok(())
}
