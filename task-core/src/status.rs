//! The status machine: the one place that says which changes a task may undergo.
//!
//! - `working` and `input_required` may move to any status, or keep theirs while the message
//!   changes.
//! - `completed`, `failed` and `cancelled` are terminal and never change again.
//! - `completed` and `failed` are entered together with their outcome; `cancelled` never has one.
//! - The tasks extension's input requests, answers and cancel requests follow the rules listed
//!   at [`apply_change`].
//!
//! Stores enforce this as a compare-and-set: a change applies only while the task's status is
//! one of [`CHANGEABLE`]. Stores that hold records in memory call [`apply_change`]; SQL and
//! script backends follow [`plan`]: the common changes as one statement that receives
//! [`CHANGEABLE`] as parameters, the others by [`apply_change`] on the record they read and a
//! compare-and-set write. All of it is for store authors, in [`crate::backend`].

use crate::backend::time;
use crate::error::TaskError;
use crate::jsonrpc::{ErrorData, INTERNAL_ERROR};
use crate::record::{TaskOutcome, TaskRecord};
use crate::wire::TaskStatus;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The statuses from which a task may change at all.
pub const CHANGEABLE: [TaskStatus; 2] = [TaskStatus::Working, TaskStatus::InputRequired];

impl TaskStatus {
    /// Whether the status is terminal: `completed`, `failed` or `cancelled`.
    pub fn is_terminal(self) -> bool {
        !CHANGEABLE.contains(&self)
    }
}

/// One atomic change to a task: its status, message and outcome together, or one of the
/// changes of the tasks extension (revision 2026-07-28): input requests, their answers, a
/// cancel request.
///
/// ```
/// use task_core::{TaskChange, TaskStatus};
/// let change = TaskChange::fail("disk full");
/// assert_eq!(change.status, Some(TaskStatus::Failed));
/// let ask = TaskChange::request_input(serde_json::Map::from_iter([(
///     "confirm".to_owned(),
///     serde_json::json!({"method": "elicitation/create", "params": {"message": "Delete?"}}),
/// )]));
/// assert!(ask.validate().is_ok());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskChange {
    /// The new status; `None` keeps the current one.
    pub status: Option<TaskStatus>,
    /// The new message; `None` keeps the current one.
    pub status_message: Option<String>,
    /// The outcome, required for `completed` and `failed` and forbidden otherwise.
    pub outcome: Option<TaskOutcome>,
    /// Records that a cancel was requested. With a status of `cancelled` this is the
    /// 2025-11-25 cancel; without a status it is the extension's cancel request, which leaves
    /// the status to the worker (see [`TaskChange::request_cancel`]).
    pub cancel_requested: bool,
    /// Input requests to add to the pending set, by key: the task becomes `input_required`
    /// (see [`TaskChange::request_input`]).
    pub input_requests: Option<Map<String, Value>>,
    /// Answers to pending input requests, by key (see [`TaskChange::respond`]).
    pub input_responses: Option<Map<String, Value>>,
    /// Moves `lastUpdatedAt` and nothing else: a live worker's heartbeat (see
    /// [`TaskChange::touch`]).
    pub touch: bool,
}

/// Whether [`apply_change`] changed the record. Some changes are acknowledged without
/// changing anything: answers for keys that are not pending, a repeated cancel request.
/// A store writes nothing and wakes no one for those.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Applied {
    /// The record changed; `lastUpdatedAt` moved.
    Changed,
    /// Nothing changed.
    Unchanged,
}

impl TaskChange {
    /// Changes only the status message.
    pub fn message(message: impl Into<String>) -> Self {
        TaskChange {
            status_message: Some(message.into()),
            ..TaskChange::default()
        }
    }

    /// Moves to a non-terminal status, optionally with a message.
    pub fn status(status: TaskStatus, message: Option<String>) -> Self {
        TaskChange {
            status: Some(status),
            status_message: message,
            ..TaskChange::default()
        }
    }

    /// Completes with a result object: for a tool, the raw `CallToolResult`, `isError: true`
    /// included.
    pub fn complete(result: Map<String, Value>) -> Self {
        TaskChange::finish(TaskStatus::Completed, TaskOutcome::Result(result), None)
    }

    /// Fails with a message; the outcome is an internal JSON-RPC error carrying it.
    pub fn fail(message: impl Into<String>) -> Self {
        let message = message.into();
        TaskChange::finish(
            TaskStatus::Failed,
            TaskOutcome::Error(ErrorData::new(INTERNAL_ERROR, message.clone())),
            Some(message),
        )
    }

    /// Fails with the JSON-RPC error the request ended with, kept as given (code, message
    /// and data).
    pub fn fail_with(error: ErrorData) -> Self {
        TaskChange::finish(TaskStatus::Failed, TaskOutcome::Error(error), None)
    }

    /// Ends in `completed` or `failed` with an explicit outcome, such as a tool result with
    /// `isError: true` that ends as `failed`.
    pub fn finish(status: TaskStatus, outcome: TaskOutcome, message: Option<String>) -> Self {
        TaskChange {
            status: Some(status),
            status_message: message,
            outcome: Some(outcome),
            ..TaskChange::default()
        }
    }

    /// Cancels the task at once (revision 2025-11-25): it ends `cancelled`.
    pub fn cancel() -> Self {
        TaskChange {
            status: Some(TaskStatus::Cancelled),
            cancel_requested: true,
            ..TaskChange::default()
        }
    }

    /// Asks the worker to stop (the extension's `tasks/cancel`): records the cancel request
    /// and wakes the task's waiters, and the worker settles the task (`cancelled`, or still
    /// `completed` or `failed`). Pending input requests are withdrawn, so a task that waited
    /// on them reports `working` until it settles. A repeated request, or one for a task that
    /// has ended, changes nothing.
    pub fn request_cancel() -> Self {
        TaskChange {
            cancel_requested: true,
            ..TaskChange::default()
        }
    }

    /// Parks the task in `input_required` with `requests` (an `elicitation/create`,
    /// `sampling/createMessage`, ... request object each) added to those pending. Every key
    /// must be new to the task: one used before, even answered, gives
    /// [`TaskError::InputKeyReused`] and changes nothing.
    pub fn request_input(requests: Map<String, Value>) -> Self {
        TaskChange {
            input_requests: Some(requests),
            ..TaskChange::default()
        }
    }

    /// Answers input requests (the extension's `tasks/update` with `inputResponses`). It may
    /// cover some or all pending keys: each answered key leaves the pending set at once and
    /// its answer is kept in [`TaskRecord::input_responses`] for the worker; keys that are
    /// not pending (unknown, already answered) are ignored. The task returns to `working`
    /// when no request is left pending. An answer that matches no pending key, or reaches a
    /// task that has ended, changes nothing.
    pub fn respond(responses: Map<String, Value>) -> Self {
        TaskChange {
            input_responses: Some(responses),
            ..TaskChange::default()
        }
    }

    /// Moves the task's `lastUpdatedAt` and changes nothing else: the heartbeat by which a
    /// live worker keeps [`TaskStore::recover_stuck`](crate::TaskStore::recover_stuck) from
    /// taking its task, however long the task waits for input. It wakes the task's waiters
    /// like any change. On a task that has ended it is acknowledged and changes nothing.
    pub fn touch() -> Self {
        TaskChange {
            touch: true,
            ..TaskChange::default()
        }
    }

    /// The status the task will have after this change, given its current one.
    pub fn target(&self, current: TaskStatus) -> TaskStatus {
        if self.input_requests.is_some() {
            return TaskStatus::InputRequired;
        }
        self.status.unwrap_or(current)
    }

    /// Whether this is the extension's cancel request: the flag without a status.
    pub fn is_cancel_request(&self) -> bool {
        self.cancel_requested && self.status.is_none()
    }

    /// Checks the change on its own: it changes something, its outcome fits its status, and
    /// the extension's changes come alone.
    pub fn validate(&self) -> Result<(), TaskError> {
        let invalid = |why: &str| Err(TaskError::InvalidInput(why.to_owned()));
        if self.touch {
            if *self != TaskChange::touch() {
                return invalid("a touch is a change of its own");
            }
            return Ok(());
        }
        if self.input_responses.is_some() {
            let alone = self.status.is_none()
                && self.status_message.is_none()
                && self.outcome.is_none()
                && !self.cancel_requested
                && self.input_requests.is_none();
            if !alone {
                return invalid("input responses are a change of their own");
            }
            return Ok(());
        }
        if let Some(requests) = &self.input_requests {
            if requests.is_empty() {
                return invalid("an input request needs at least one key");
            }
            let ends = self.status.is_some_and(|s| s != TaskStatus::InputRequired);
            if ends || self.outcome.is_some() || self.cancel_requested {
                return invalid("input requests go with no status but input_required");
            }
            return Ok(());
        }
        if self.status.is_none() && self.status_message.is_none() && !self.cancel_requested {
            return invalid("a change must set a status, a message or a cancel request");
        }
        match (self.status, &self.outcome) {
            (Some(TaskStatus::Completed | TaskStatus::Failed), None) => {
                invalid("completed and failed need an outcome")
            }
            (Some(TaskStatus::Completed | TaskStatus::Failed), Some(_)) => Ok(()),
            (_, Some(_)) => invalid("only completed and failed carry an outcome"),
            (_, None) => Ok(()),
        }
    }
}

/// The compare-and-set check: may task `task_id`, in status `from`, take `change`? Every
/// target is allowed from a non-terminal status, none from a terminal one.
pub fn check_change(change: &TaskChange, task_id: &str, from: TaskStatus) -> Result<(), TaskError> {
    if from.is_terminal() {
        return Err(TaskError::InvalidTransition {
            task_id: task_id.to_owned(),
            from,
            to: change.target(from),
        });
    }
    Ok(())
}

/// How a backend may apply a change, as [`plan`] decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangePlan {
    /// One statement over the task's columns, as a compare-and-set on its status: set the
    /// status, message, outcome and cancel flag the change gives, only while the status is
    /// one of [`CHANGEABLE`].
    Direct {
        /// The change ends the task: the same statement clears its pending input requests
        /// and responses.
        ends: bool,
        /// The change applies only while no input request is pending (a move to `working`);
        /// otherwise it is refused, as [`explain_refusal`] says.
        needs_no_pending_input: bool,
    },
    /// The change depends on the whole record (input requests, answers, a cancel request):
    /// read it, [`apply_change`], and write it back as a compare-and-set on `lastUpdatedAt`,
    /// which [`update_by_record`](crate::backend::update_by_record) does.
    Record,
}

/// How `change` can be applied. Every change may also go through the record path; the
/// direct one saves a read for the common changes.
pub fn plan(change: &TaskChange) -> ChangePlan {
    if change.input_requests.is_some() || change.input_responses.is_some() {
        return ChangePlan::Record;
    }
    if change.is_cancel_request() || change.touch {
        return ChangePlan::Record;
    }
    ChangePlan::Direct {
        ends: change.status.is_some_and(TaskStatus::is_terminal),
        needs_no_pending_input: change.status == Some(TaskStatus::Working),
    }
}

/// Why a direct change (see [`ChangePlan::Direct`]) that changed no row was refused, from the
/// record as it now is: the error [`apply_change`] gives. `None` when the change would apply
/// now (the task changed in between): the backend tries again.
pub fn explain_refusal(
    change: &TaskChange,
    task_id: &str,
    record: &TaskRecord,
) -> Option<TaskError> {
    let mut copy = record.clone();
    apply_change(
        change.clone(),
        task_id,
        &mut copy,
        record.task.last_updated_at,
    )
    .err()
}

/// Checks `change` and applies it to the record of task `task_id` in place, stamping
/// `lastUpdatedAt` with [`time::next_update`] when it changes anything. These are the rules
/// of every store:
///
/// - a task that has ended never changes ([`TaskError::InvalidTransition`]); answers,
///   cancel requests and touches for it are acknowledged and change nothing;
/// - a touch moves `lastUpdatedAt` only;
/// - input requests take keys new to the task ([`TaskError::InputKeyReused`] otherwise) and
///   park it in `input_required`;
/// - answers take pending keys out of the pending set and ignore the others; the task goes
///   back to `working` when none is pending;
/// - a task with pending input requests does not move to `working` by a status change;
/// - a cancel request sets the flag and withdraws pending input requests;
/// - a task that ends drops its pending input requests and unread answers.
///
/// Stores that hold records in memory call this under their lock; SQL and script backends
/// follow [`plan`].
pub fn apply_change(
    change: TaskChange,
    task_id: &str,
    record: &mut TaskRecord,
    now: DateTime<Utc>,
) -> Result<Applied, TaskError> {
    let from = record.task.status;
    let acknowledged =
        change.input_responses.is_some() || change.is_cancel_request() || change.touch;
    if from.is_terminal() && acknowledged {
        return Ok(Applied::Unchanged);
    }
    check_change(&change, task_id, from)?;
    let TaskChange {
        status,
        status_message,
        outcome,
        cancel_requested,
        input_requests,
        input_responses,
        touch: _,
    } = change;
    if let Some(requests) = input_requests {
        if let Some(key) = requests
            .keys()
            .find(|k| record.input_keys_used.contains(*k))
        {
            return Err(TaskError::InputKeyReused {
                task_id: task_id.to_owned(),
                key: key.clone(),
            });
        }
        record.input_keys_used.extend(requests.keys().cloned());
        record.input_requests.extend(requests);
        record.task.status = TaskStatus::InputRequired;
    }
    if let Some(responses) = input_responses {
        let mut answered = false;
        for (key, value) in responses {
            if record.input_requests.remove(&key).is_some() {
                record.input_responses.insert(key, value);
                answered = true;
            }
        }
        if !answered {
            return Ok(Applied::Unchanged);
        }
        if record.input_requests.is_empty() && from == TaskStatus::InputRequired {
            record.task.status = TaskStatus::Working;
        }
    }
    if cancel_requested && status.is_none() {
        let pending = !record.input_requests.is_empty();
        if record.cancel_requested && !pending && status_message.is_none() {
            return Ok(Applied::Unchanged);
        }
        if pending {
            record.input_requests.clear();
            record.task.status = TaskStatus::Working;
        }
    }
    if status == Some(TaskStatus::Working) && !record.input_requests.is_empty() {
        return Err(TaskError::InvalidTransition {
            task_id: task_id.to_owned(),
            from,
            to: TaskStatus::Working,
        });
    }
    if let Some(status) = status {
        record.task.status = status;
        if status.is_terminal() {
            record.input_requests.clear();
            record.input_responses.clear();
        }
    }
    if let Some(message) = status_message {
        record.task.status_message = Some(message);
    }
    if let Some(outcome) = outcome {
        record.outcome = Some(outcome);
    }
    record.cancel_requested |= cancel_requested;
    record.task.last_updated_at = time::next_update(record.task.last_updated_at, now);
    Ok(Applied::Changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskStatus::*;

    /// A change that moves to `to`, with the outcome `to` needs.
    fn change_to(to: TaskStatus) -> TaskChange {
        match to {
            Completed => TaskChange::complete(Map::new()),
            Failed => TaskChange::fail("x"),
            Cancelled => TaskChange::cancel(),
            other => TaskChange::status(other, None),
        }
    }

    #[test]
    fn non_terminal_statuses_go_anywhere_and_terminal_ones_nowhere() {
        for from in TaskStatus::ALL {
            for to in TaskStatus::ALL {
                let allowed = matches!(from, Working | InputRequired);
                let checked = check_change(&change_to(to), "t", from);
                assert_eq!(checked.is_ok(), allowed, "{from} -> {to}");
            }
        }
        assert!(!Working.is_terminal() && !InputRequired.is_terminal());
        assert!(Completed.is_terminal() && Failed.is_terminal() && Cancelled.is_terminal());
    }

    #[test]
    fn outcomes_must_match_their_status() {
        assert!(TaskChange::complete(Map::new()).validate().is_ok());
        assert!(TaskChange::fail("x").validate().is_ok());
        assert!(TaskChange::cancel().validate().is_ok());
        assert!(TaskChange::message("x").validate().is_ok());
        assert!(TaskChange::default().validate().is_err());
        assert!(TaskChange::status(Completed, None).validate().is_err());
        assert!(TaskChange::status(Failed, None).validate().is_err());
        let mut cancel_with_result = TaskChange::cancel();
        cancel_with_result.outcome = Some(TaskOutcome::Result(Map::new()));
        assert!(cancel_with_result.validate().is_err());
    }

    #[test]
    fn message_change_on_terminal_task_names_its_status() {
        let err = check_change(&TaskChange::message("late"), "t", Completed).unwrap_err();
        assert!(matches!(
            err,
            TaskError::InvalidTransition {
                from: Completed,
                to: Completed,
                ..
            }
        ));
    }

    fn record() -> TaskRecord {
        let config = crate::StoreConfig::default();
        crate::backend::create_task_state(crate::NewTask::new().with_id("t"), &config).unwrap()
    }

    fn keys(names: &[&str]) -> Map<String, Value> {
        names
            .iter()
            .map(|k| ((*k).to_owned(), Value::from(*k)))
            .collect()
    }

    fn apply(change: TaskChange, record: &mut TaskRecord) -> Result<Applied, TaskError> {
        apply_change(change, "t", record, chrono::Utc::now())
    }

    #[test]
    fn input_rounds_follow_the_rules() {
        let mut task = record();
        let asked = apply(TaskChange::request_input(keys(&["a", "b"])), &mut task);
        assert_eq!(asked.unwrap(), Applied::Changed);
        assert_eq!(task.task.status, InputRequired);
        let before = task.clone();
        let reused = apply(TaskChange::request_input(keys(&["c", "a"])), &mut task);
        assert!(matches!(reused, Err(TaskError::InputKeyReused { key, .. }) if key == "a"));
        assert_eq!(task, before, "a refused request changes nothing");
        let working = apply(TaskChange::status(Working, None), &mut task);
        assert!(matches!(working, Err(TaskError::InvalidTransition { .. })));
        let ignored = apply(TaskChange::respond(keys(&["zzz"])), &mut task).unwrap();
        assert_eq!(ignored, Applied::Unchanged);
        assert_eq!(task, before);
        assert_eq!(
            apply(TaskChange::respond(keys(&["a", "zzz"])), &mut task).unwrap(),
            Applied::Changed
        );
        assert_eq!(task.task.status, InputRequired, "b is pending");
        assert_eq!(task.input_responses, keys(&["a"]));
        let _ = apply(TaskChange::respond(keys(&["b"])), &mut task).unwrap();
        assert_eq!(task.task.status, Working, "none pending");
        let reused = apply(TaskChange::request_input(keys(&["b"])), &mut task);
        assert!(
            matches!(reused, Err(TaskError::InputKeyReused { .. })),
            "answered keys too"
        );
    }

    #[test]
    fn cancel_requests_withdraw_input_and_endings_drop_it() {
        let mut task = record();
        let _ = apply(TaskChange::request_input(keys(&["a"])), &mut task).unwrap();
        let _ = apply(TaskChange::request_cancel(), &mut task).unwrap();
        assert!(task.cancel_requested && task.input_requests.is_empty());
        assert_eq!(task.task.status, Working);
        let again = apply(TaskChange::request_cancel(), &mut task).unwrap();
        assert_eq!(again, Applied::Unchanged);
        let _ = apply(TaskChange::request_input(keys(&["b"])), &mut task).unwrap();
        let _ = apply(TaskChange::respond(keys(&["b"])), &mut task).unwrap();
        let _ = apply(TaskChange::request_input(keys(&["c"])), &mut task).unwrap();
        let _ = apply(TaskChange::complete(Map::new()), &mut task).unwrap();
        assert!(task.input_requests.is_empty() && task.input_responses.is_empty());
        let late = apply(TaskChange::request_cancel(), &mut task).unwrap();
        assert_eq!(late, Applied::Unchanged, "acknowledged after the end");
        let late = apply(TaskChange::respond(keys(&["c"])), &mut task).unwrap();
        assert_eq!(late, Applied::Unchanged);
        let reask = apply(TaskChange::request_input(keys(&["d"])), &mut task);
        assert!(matches!(reask, Err(TaskError::InvalidTransition { .. })));
    }

    #[test]
    fn a_touch_moves_only_the_version_and_comes_alone() {
        let mut task = record();
        let _ = apply(TaskChange::request_input(keys(&["a"])), &mut task).unwrap();
        let before = task.clone();
        let later = before.task.last_updated_at + chrono::Duration::seconds(5);
        let touched = apply_change(TaskChange::touch(), "t", &mut task, later).unwrap();
        assert_eq!(touched, Applied::Changed);
        assert_eq!(task.task.last_updated_at, later);
        task.task.last_updated_at = before.task.last_updated_at;
        assert_eq!(task, before, "nothing else moved");
        let mut with_message = TaskChange::touch();
        with_message.status_message = Some("x".into());
        assert!(with_message.validate().is_err());
        assert!(TaskChange::touch().validate().is_ok());
        let _ = apply(TaskChange::cancel(), &mut task).unwrap();
        let ended = task.clone();
        assert_eq!(
            apply(TaskChange::touch(), &mut task).unwrap(),
            Applied::Unchanged
        );
        assert_eq!(task, ended);
    }

    #[test]
    fn extension_changes_come_alone_and_plan_their_path() {
        let mut mixed = TaskChange::respond(keys(&["a"]));
        mixed.status_message = Some("x".into());
        assert!(mixed.validate().is_err());
        assert!(TaskChange::request_input(Map::new()).validate().is_err());
        let mut ending = TaskChange::request_input(keys(&["a"]));
        ending.status = Some(Completed);
        assert!(ending.validate().is_err());
        assert!(TaskChange::respond(Map::new()).validate().is_ok());
        assert!(TaskChange::request_cancel().validate().is_ok());
        for record_path in [
            TaskChange::request_input(keys(&["a"])),
            TaskChange::respond(keys(&["a"])),
            TaskChange::request_cancel(),
            TaskChange::touch(),
        ] {
            assert_eq!(plan(&record_path), ChangePlan::Record, "{record_path:?}");
        }
        let direct = |ends, needs_no_pending_input| ChangePlan::Direct {
            ends,
            needs_no_pending_input,
        };
        assert_eq!(plan(&TaskChange::message("m")), direct(false, false));
        assert_eq!(
            plan(&TaskChange::status(Working, None)),
            direct(false, true)
        );
        assert_eq!(
            plan(&TaskChange::status(InputRequired, None)),
            direct(false, false)
        );
        assert_eq!(plan(&TaskChange::cancel()), direct(true, false));
        assert_eq!(plan(&TaskChange::fail("x")), direct(true, false));
    }
}
