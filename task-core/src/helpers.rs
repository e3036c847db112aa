//! Ports of the MCP Python SDK's task helpers (its `helpers.py` and `polling.py`).

use crate::backend::{time, validate};
use crate::config::StoreConfig;
use crate::error::TaskError;
use crate::record::{NewTask, TaskOutcome, TaskRecord};
use crate::store::{Scope, TaskStore, TaskStoreExt};
use crate::wire::{CancelTaskResult, Task, TaskStatus};
use serde_json::Map;
use std::future::Future;
use std::time::Duration;

/// Longest ttl or poll interval a store keeps (100 years, in ms); longer requests are shortened,
/// which the protocol allows, so every backend can represent the expiry instant.
pub const MAX_DURATION_MS: u64 = 100 * 365 * 24 * 3_600 * 1_000;

/// A fresh, unguessable task id: a random UUID v4.
pub fn generate_task_id() -> String {
    let mut buffer = uuid::Uuid::encode_buffer();
    uuid::Uuid::new_v4()
        .hyphenated()
        .encode_lower(&mut buffer)
        .to_owned()
}

/// Validates `new` and builds the record of a fresh `working` task, with the ttl defaulted and
/// clamped by `config`. Every backend creates tasks through this, then stores the record.
pub fn create_task_state(new: NewTask, config: &StoreConfig) -> Result<TaskRecord, TaskError> {
    let NewTask {
        task_id,
        owner,
        ttl,
        poll_interval,
        status_message,
        revision,
        request,
    } = new;
    let task_id = match task_id {
        Some(id) => {
            validate::task_id(&id)?;
            id
        }
        None => generate_task_id(),
    };
    if let Some(owner) = &owner {
        validate::owner(owner)?;
    }
    if let Some(message) = &status_message {
        validate::message(message, config.max_payload_bytes)?;
    }
    if let Some(request) = &request {
        validate::json("request params", &request.params, config.max_payload_bytes)?;
    }
    let now = time::now();
    Ok(TaskRecord {
        task: Task {
            task_id,
            status: TaskStatus::Working,
            status_message,
            created_at: now,
            last_updated_at: now,
            ttl: config.effective_ttl(ttl).map(|t| t.min(MAX_DURATION_MS)),
            poll_interval: poll_interval
                .or(config.default_poll_interval)
                .map(|p| p.min(MAX_DURATION_MS)),
        },
        owner,
        requested_ttl: ttl,
        outcome: None,
        cancel_requested: false,
        revision,
        request,
        input_requests: Map::new(),
        input_keys_used: Default::default(),
        input_responses: Map::new(),
    })
}

/// What a create answers when its id is taken by a live task: that task, as it is now, when
/// the same create made it (see [`TaskRecord::is_same_create`]), so that repeating a create
/// whose outcome is unknown never makes a second task; [`TaskError::AlreadyExists`] otherwise.
/// Every store answers a taken id through this.
///
/// ```
/// use task_core::backend::{create_task_state, repeated_create};
/// use task_core::{NewTask, StoreConfig, TaskError};
/// let config = StoreConfig::default();
/// let new = NewTask::new().with_id("job-1").owned_by("alice");
/// let stored = create_task_state(new.clone(), &config).unwrap();
/// let again = create_task_state(new, &config).unwrap();
/// assert_eq!(repeated_create(&stored, &again).unwrap(), stored.task);
/// let other = create_task_state(NewTask::new().with_id("job-1").owned_by("bob"), &config).unwrap();
/// assert!(matches!(repeated_create(&stored, &other), Err(TaskError::AlreadyExists { .. })));
/// ```
pub fn repeated_create(existing: &TaskRecord, new: &TaskRecord) -> Result<Task, TaskError> {
    if existing.is_same_create(new) {
        Ok(existing.task.clone())
    } else {
        Err(TaskError::AlreadyExists {
            task_id: new.task.task_id.clone(),
        })
    }
}

/// Cancels a task the spec's way: a missing, foreign or expired task gives
/// [`TaskError::NotFound`], a terminal one [`TaskError::InvalidTransition`] (both -32602).
/// The check and the write are one atomic step inside the store.
pub async fn cancel_task(
    store: &(impl TaskStore + ?Sized),
    scope: &Scope,
    task_id: &str,
) -> Result<CancelTaskResult, TaskError> {
    Ok(store.cancel(scope, task_id).await?.into())
}

/// Waits until the task is terminal, then returns it with its outcome: what `tasks/result`
/// answers. With a timeout that passes first, returns the task still running and `None`.
pub async fn wait_for_result(
    store: &(impl TaskStore + ?Sized),
    scope: &Scope,
    task_id: &str,
    timeout: Option<Duration>,
) -> Result<(Task, Option<TaskOutcome>), TaskError> {
    let task = store.wait_until_terminal(scope, task_id, timeout).await?;
    if !task.is_terminal() {
        return Ok((task, None));
    }
    let record = store.get_record(scope, task_id).await?;
    Ok((record.task, record.outcome))
}

/// Polls `get` until the task is terminal, sleeping the task's `pollInterval` (or
/// `default_interval`) between calls and passing every state seen to `on_status`. For clients
/// of a remote task; a local store should use [`TaskStoreExt::wait_until_terminal`].
pub async fn poll_until_terminal<G, Fut, E>(
    task_id: &str,
    default_interval: Duration,
    mut get: G,
    mut on_status: impl FnMut(&Task),
) -> Result<Task, E>
where
    G: FnMut(&str) -> Fut,
    Fut: Future<Output = Result<Task, E>>,
{
    loop {
        let task = get(task_id).await?;
        on_status(&task);
        if task.is_terminal() {
            return Ok(task);
        }
        let interval = task
            .poll_interval
            .map_or(default_interval, Duration::from_millis);
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_uuid_v4() {
        let id = generate_task_id();
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_ne!(id, generate_task_id());
    }

    #[test]
    fn create_task_state_applies_config() {
        let config = StoreConfig::default()
            .with_default_ttl(Some(1_000))
            .with_max_ttl(Some(5_000));
        let record = create_task_state(NewTask::new().with_ttl(9_000), &config).unwrap();
        assert_eq!(record.task.status, TaskStatus::Working);
        assert_eq!(record.task.ttl, Some(5_000));
        assert_eq!(record.requested_ttl, Some(9_000));
        assert_eq!(record.task.poll_interval, Some(500));
        assert_eq!(record.task.created_at, record.task.last_updated_at);
        let record = create_task_state(NewTask::new(), &config).unwrap();
        assert_eq!(record.task.ttl, Some(1_000));
        let huge = create_task_state(NewTask::new().with_ttl(u64::MAX), &StoreConfig::default());
        assert_eq!(huge.unwrap().task.ttl, Some(MAX_DURATION_MS));
    }

    #[test]
    fn create_task_state_rejects_bad_ids_and_owners() {
        let config = StoreConfig::default();
        for bad in ["", "a\tb"] {
            assert!(matches!(
                create_task_state(NewTask::new().with_id(bad), &config),
                Err(TaskError::InvalidInput(_))
            ));
            assert!(create_task_state(NewTask::new().owned_by(bad), &config).is_err());
        }
    }

    // Paused time: the sleeps advance a virtual clock at once, which the test then reads.
    #[tokio::test(start_paused = true)]
    async fn polling_honours_poll_interval_and_stops_at_terminal() {
        let start = tokio::time::Instant::now();
        let mut calls = 0;
        let mut seen = Vec::new();
        let task = poll_until_terminal(
            "t",
            Duration::from_secs(60),
            |id| {
                calls += 1;
                let status = if calls < 3 {
                    TaskStatus::Working
                } else {
                    TaskStatus::Completed
                };
                let task = Task {
                    task_id: id.to_owned(),
                    status,
                    status_message: None,
                    created_at: time::now(),
                    last_updated_at: time::now(),
                    ttl: None,
                    // The task's own interval, then none: the default's turn.
                    poll_interval: (calls == 1).then_some(250),
                };
                async move { Ok::<_, TaskError>(task) }
            },
            |t| seen.push(t.status),
        )
        .await
        .unwrap();
        assert_eq!(task.status, TaskStatus::Completed);
        assert_eq!(
            seen,
            [
                TaskStatus::Working,
                TaskStatus::Working,
                TaskStatus::Completed
            ]
        );
        let slept = start.elapsed();
        let expected = Duration::from_millis(250) + Duration::from_secs(60);
        assert!(
            slept >= expected && slept < expected + Duration::from_millis(10),
            "slept {slept:?} of virtual time, expected {expected:?}"
        );
    }
}
