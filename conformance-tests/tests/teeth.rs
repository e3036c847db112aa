//! The suite has teeth: deliberately broken stores fail the cases that guard against their
//! flaws, and a store that declares a missing feature gets those cases skipped by name.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use conformance_tests::delegate::{Delegate, Delegating};
use conformance_tests::{CaseResult, StoreFactory, Verdict, run_all, run_case};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use task_core::{
    Capabilities, LimitKind, NewTask, PageRequest, Scope, StoreConfig, Task, TaskChange, TaskError,
    TaskOutcome, TaskPage, TaskRecord, TaskStatus, TaskStore, TaskStoreExt,
};
use task_store_memory::MemoryTaskStore;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Flaw {
    /// Reports success for changes to terminal tasks (and returns the changed task).
    TerminalChanges,
    /// `wait_for_update` returns at once, whether or not anything changed.
    WaitReturnsAtOnce,
    /// Scoped reads ignore the owner.
    IgnoresOwner,
    /// Drops the ttl, so tasks never expire.
    DropsTtl,
    /// Correct, but declares no ttl and no limits.
    DeclaresNothing,
    /// Cuts status messages at the first NUL, as a C-string API would.
    TruncatesAtNul,
    /// Answers a cursor it cannot read with the first page instead of an error.
    ForgivingCursor,
    /// Counts finished tasks against the limits, as if they were still running.
    CountsFinished,
    /// Refuses a repeated create of a taken id, even one the same create made.
    RefusesRepeats,
    /// Answers a create of a taken id with the task holding it, whoever asked for what.
    AnswersAnyHolder,
    /// Lets an input request key be asked again (reports success, changes nothing).
    ReusesKeys,
    /// Puts the task back to `working` after any answer, answering the rest with `null`.
    ResumesEarly,
    /// Acknowledges answers without keeping them.
    DropsAnswers,
    /// Refuses answers that name keys not pending, instead of ignoring those keys.
    RefusesUnknownKeys,
    /// Acknowledges oversized input requests and answers instead of refusing them.
    AcceptsOversized,
    /// Moves a task with pending requests to `working`, answering them with `null`.
    ResumesOnStatus,
    /// Turns a cancel request into an immediate cancel.
    CancelsAtOnce,
    /// Acknowledges cancel requests without recording them.
    IgnoresCancelRequests,
    /// Shows an ended task's input requests as still pending.
    KeepsInputAfterEnd,
    /// Stores every failure as an internal error with the message only.
    FailsGenerically,
}

/// How many tasks `scope` can list, finished ones included.
async fn stored(store: &dyn TaskStore, scope: &Scope) -> Result<u64, TaskError> {
    let mut count = 0;
    let mut cursor = None;
    loop {
        let page = store.list(scope, PageRequest::after(cursor)).await?;
        count += page.tasks.len() as u64;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(count),
        }
    }
}

/// `text` up to its first NUL.
fn cut_at_nul(text: String) -> String {
    match text.split_once('\0') {
        Some((head, _)) => head.to_owned(),
        None => text,
    }
}

/// The memory store with one flaw; what the flaw does not touch goes to the store unchanged.
#[derive(Debug)]
struct Broken {
    inner: MemoryTaskStore,
    flaw: Flaw,
}

#[async_trait]
impl Delegate for Broken {
    fn inner(&self) -> &dyn TaskStore {
        &self.inner
    }

    fn capabilities(&self) -> Capabilities {
        match self.flaw {
            Flaw::DeclaresNothing => Capabilities::ALL.with_ttl(false).with_limits(false),
            _ => Capabilities::ALL,
        }
    }

    async fn create(&self, mut new: NewTask) -> Result<Task, TaskError> {
        if self.flaw == Flaw::DropsTtl {
            new.ttl = None;
        }
        if self.flaw == Flaw::TruncatesAtNul {
            new.status_message = new.status_message.map(cut_at_nul);
        }
        if let Some(id) = &new.task_id
            && let Ok(held) = self.inner.get(&Scope::All, id).await
        {
            match self.flaw {
                Flaw::RefusesRepeats => {
                    let task_id = held.task_id;
                    return Err(TaskError::AlreadyExists { task_id });
                }
                Flaw::AnswersAnyHolder => return Ok(held),
                _ => {}
            }
        }
        if self.flaw == Flaw::CountsFinished {
            let config = self.inner.config();
            if let Some(max) = config.max_tasks
                && stored(&self.inner, &Scope::All).await? >= max
            {
                let kind = LimitKind::Total;
                return Err(TaskError::LimitExceeded { kind, max });
            }
            if let (Some(max), Some(owner)) = (config.max_tasks_per_owner, &new.owner)
                && stored(&self.inner, &Scope::owner(owner.as_str())).await? >= max
            {
                let kind = LimitKind::PerOwner;
                return Err(TaskError::LimitExceeded { kind, max });
            }
        }
        self.inner.create(new).await
    }

    async fn get(&self, scope: &Scope, task_id: &str) -> Result<Task, TaskError> {
        let scope = if self.flaw == Flaw::IgnoresOwner {
            &Scope::All
        } else {
            scope
        };
        self.inner.get(scope, task_id).await
    }

    async fn get_record(&self, scope: &Scope, task_id: &str) -> Result<TaskRecord, TaskError> {
        let mut record = self.inner.get_record(scope, task_id).await?;
        if self.flaw == Flaw::KeepsInputAfterEnd && record.task.is_terminal() {
            for key in &record.input_keys_used {
                record.input_requests.insert(key.clone(), json!({}));
            }
        }
        Ok(record)
    }

    async fn update(
        &self,
        scope: &Scope,
        task_id: &str,
        mut change: TaskChange,
    ) -> Result<Task, TaskError> {
        if self.flaw == Flaw::TruncatesAtNul {
            change.status_message = change.status_message.map(cut_at_nul);
        }
        let inner = &self.inner;
        let answer = change.input_responses.is_some();
        match self.flaw {
            Flaw::DropsAnswers if answer => return inner.get(scope, task_id).await,
            Flaw::RefusesUnknownKeys if answer => {
                let pending = inner.get_record(scope, task_id).await?.input_requests;
                let keys = change.input_responses.iter().flat_map(|m| m.keys());
                if let Some(key) = keys.into_iter().find(|k| !pending.contains_key(*k)) {
                    return Err(TaskError::InvalidInput(format!("unknown key {key}")));
                }
            }
            Flaw::CancelsAtOnce if change.is_cancel_request() => change = TaskChange::cancel(),
            Flaw::IgnoresCancelRequests if change.is_cancel_request() => {
                return inner.get(scope, task_id).await;
            }
            Flaw::FailsGenerically => {
                if let Some(TaskOutcome::Error(error)) = &change.outcome {
                    change = TaskChange::fail(error.message.clone());
                }
            }
            _ => {}
        }
        let result = inner.update(scope, task_id, change.clone()).await;
        match (self.flaw, result) {
            (Flaw::TerminalChanges, Err(TaskError::InvalidTransition { .. })) => {
                let mut task = inner.get(scope, task_id).await?;
                task.status = change.target(task.status);
                Ok(task)
            }
            (Flaw::ReusesKeys, Err(TaskError::InputKeyReused { .. }))
            | (Flaw::AcceptsOversized, Err(TaskError::InvalidInput(_)))
            | (Flaw::CancelsAtOnce, Err(TaskError::InvalidTransition { .. })) => {
                inner.get(scope, task_id).await
            }
            (Flaw::ResumesEarly, Ok(task))
                if answer && task.status == TaskStatus::InputRequired =>
            {
                self.answer_all(scope, task_id).await
            }
            (
                Flaw::ResumesOnStatus,
                Err(TaskError::InvalidTransition {
                    from: TaskStatus::InputRequired,
                    ..
                }),
            ) => {
                self.answer_all(scope, task_id).await?;
                inner.update(scope, task_id, change).await
            }
            (_, other) => other,
        }
    }

    async fn list(&self, scope: &Scope, page: PageRequest) -> Result<TaskPage, TaskError> {
        let limit = page.limit;
        match self.inner.list(scope, page).await {
            Err(TaskError::InvalidCursor) if self.flaw == Flaw::ForgivingCursor => {
                let first = PageRequest {
                    cursor: None,
                    limit,
                };
                self.inner.list(scope, first).await
            }
            other => other,
        }
    }

    async fn wait_for_update(
        &self,
        scope: &Scope,
        task_id: &str,
        seen: DateTime<Utc>,
        timeout: Option<Duration>,
    ) -> Result<Task, TaskError> {
        if self.flaw == Flaw::WaitReturnsAtOnce {
            return self.inner.get(scope, task_id).await;
        }
        self.inner
            .wait_for_update(scope, task_id, seen, timeout)
            .await
    }
}

impl Broken {
    /// Answers every pending input request of the task with `null`.
    async fn answer_all(&self, scope: &Scope, task_id: &str) -> Result<Task, TaskError> {
        let pending = self.inner.get_record(scope, task_id).await?.input_requests;
        let nulls = pending.into_iter().map(|(key, _)| (key, json!(null)));
        self.inner.respond(scope, task_id, nulls.collect()).await
    }
}

fn factory(flaw: Flaw) -> impl StoreFactory {
    move |config: StoreConfig| async move {
        Arc::new(Delegating(Broken {
            inner: MemoryTaskStore::new(config),
            flaw,
        })) as Arc<dyn TaskStore>
    }
}

async fn verdict(flaw: Flaw, case: &str) -> CaseResult {
    run_case(case, &factory(flaw)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_that_changes_terminal_tasks_is_caught() {
    for case in [
        "transitions_forbidden",
        "cancel_terminal_rejected",
        "cancel_complete_race",
        "terminal_race",
        "cancel_is_sticky",
        "mixed_load",
    ] {
        let result = verdict(Flaw::TerminalChanges, case).await;
        assert!(
            result.is_err(),
            "{case} let a terminal task change: {result:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wait_that_does_not_wait_is_caught() {
    let result = verdict(Flaw::WaitReturnsAtOnce, "wait_many_waiters").await;
    assert!(result.is_err(), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_that_ignores_owners_is_caught() {
    for case in ["owner_isolation", "unbound_tasks_fail_closed"] {
        let result = verdict(Flaw::IgnoresOwner, case).await;
        assert!(result.is_err(), "{case}: {result:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_that_never_expires_is_caught() {
    for case in [
        "ttl_expiry",
        "ttl_clamp",
        "ttl_counts_from_creation",
        "list_cursor_after_expiry",
    ] {
        let result = verdict(Flaw::DropsTtl, case).await;
        assert!(result.is_err(), "{case}: {result:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_that_mangles_hostile_input_is_caught() {
    let result = verdict(Flaw::TruncatesAtNul, "hostile_payloads").await;
    assert!(result.is_err(), "NUL-truncated messages: {result:?}");
    for case in [
        "hostile_cursors",
        "list_garbage_cursor",
        "cursor_owner_binding",
    ] {
        let result = verdict(Flaw::ForgivingCursor, case).await;
        assert!(result.is_err(), "{case} let a bad cursor page: {result:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_whose_limits_count_finished_tasks_is_caught() {
    let result = verdict(Flaw::CountsFinished, "limits_count_unfinished").await;
    assert!(result.is_err(), "{result:?}");
    // The flaw is the only difference: the cases about live limits still pass.
    for case in ["limit_per_owner", "limit_total"] {
        let result = verdict(Flaw::CountsFinished, case).await;
        assert!(result.is_ok(), "{case}: {result:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_whose_repeated_creates_are_wrong_is_caught() {
    let result = verdict(Flaw::RefusesRepeats, "create_repeat_is_idempotent").await;
    assert!(result.is_err(), "a repeat was refused: {result:?}");
    for case in ["create_repeat_is_idempotent", "duplicate_id"] {
        let result = verdict(Flaw::AnswersAnyHolder, case).await;
        assert!(
            result.is_err(),
            "{case} let a stranger get the task: {result:?}"
        );
    }
}

/// Each rule of the tasks extension's input rounds and cancel requests, broken on its own,
/// fails the cases that state it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_that_breaks_the_extension_rules_is_caught() {
    let caught = [
        (Flaw::ReusesKeys, "input_keys_never_reused"),
        (Flaw::ResumesEarly, "partial_answers_keep_the_rest_pending"),
        (Flaw::ResumesEarly, "input_round_race"),
        (Flaw::DropsAnswers, "answers_wake_the_worker"),
        (Flaw::DropsAnswers, "partial_answers_keep_the_rest_pending"),
        (
            Flaw::RefusesUnknownKeys,
            "partial_answers_keep_the_rest_pending",
        ),
        (Flaw::AcceptsOversized, "input_payload_limit"),
        (Flaw::AcceptsOversized, "input_requests_park_the_task"),
        (Flaw::ResumesOnStatus, "pending_input_blocks_working"),
        (
            Flaw::CancelsAtOnce,
            "cancel_request_leaves_the_end_to_the_worker",
        ),
        (
            Flaw::IgnoresCancelRequests,
            "cancel_request_leaves_the_end_to_the_worker",
        ),
        (
            Flaw::KeepsInputAfterEnd,
            "terminal_payloads_as_the_extension_shows_them",
        ),
        (
            Flaw::FailsGenerically,
            "terminal_payloads_as_the_extension_shows_them",
        ),
    ];
    for (flaw, case) in caught {
        let result = verdict(flaw, case).await;
        assert!(result.is_err(), "{case} let {flaw:?} pass: {result:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn undeclared_features_are_skipped_by_name() {
    let results = run_all(&factory(Flaw::DeclaresNothing)).await;
    let skipped: Vec<&str> = results
        .iter()
        .filter(|(_, r)| matches!(r, Ok(Verdict::Skipped(_))))
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(
        skipped,
        [
            "ttl_expiry",
            "ttl_counts_from_creation",
            "purge_expired",
            "wait_ends_at_expiry",
            "list_cursor_after_expiry",
            "limit_per_owner",
            "limit_total",
            "limits_ignore_expired",
            "limits_count_unfinished"
        ]
    );
    let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(failed.is_empty(), "{failed:?}");
}

#[tokio::test]
async fn an_unknown_case_name_fails() {
    let result = run_case("no_such_case", &factory(Flaw::DeclaresNothing)).await;
    assert!(result.is_err());
}
