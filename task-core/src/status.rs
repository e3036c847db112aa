//! The status machine: the one place that says which changes a task may undergo.
//!
//! - `working` and `input_required` may move to any status, or keep theirs while the message
//!   changes.
//! - `completed`, `failed` and `cancelled` are terminal and never change again.
//! - `completed` and `failed` are entered together with their outcome; `cancelled` never has one.
//!
//! Stores enforce this as a compare-and-set: a change applies only while the task's status is
//! one of [`CHANGEABLE`]. SQL and Lua backends receive that list as parameters; stores that
//! hold records in memory call [`apply_change`]. Both are for store authors, in
//! [`crate::backend`].

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

/// One atomic change to a task: its status, message and outcome together.
///
/// ```
/// use task_core::{TaskChange, TaskStatus};
/// let change = TaskChange::fail("disk full");
/// assert_eq!(change.status, Some(TaskStatus::Failed));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskChange {
    /// The new status; `None` keeps the current one.
    pub status: Option<TaskStatus>,
    /// The new message; `None` keeps the current one.
    pub status_message: Option<String>,
    /// The outcome, required for `completed` and `failed` and forbidden otherwise.
    pub outcome: Option<TaskOutcome>,
    /// Records that a cancel was requested.
    pub cancel_requested: bool,
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

    /// Completes with a result object.
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

    /// Ends in `completed` or `failed` with an explicit outcome, such as a tool result with
    /// `isError: true` that ends as `failed`.
    pub fn finish(status: TaskStatus, outcome: TaskOutcome, message: Option<String>) -> Self {
        TaskChange {
            status: Some(status),
            status_message: message,
            outcome: Some(outcome),
            cancel_requested: false,
        }
    }

    /// Cancels the task.
    pub fn cancel() -> Self {
        TaskChange {
            status: Some(TaskStatus::Cancelled),
            cancel_requested: true,
            ..TaskChange::default()
        }
    }

    /// The status the task will have after this change, given its current one.
    pub fn target(&self, current: TaskStatus) -> TaskStatus {
        self.status.unwrap_or(current)
    }

    /// Checks the change on its own: it changes something, and its outcome fits its status.
    pub fn validate(&self) -> Result<(), TaskError> {
        let invalid = |why: &str| Err(TaskError::InvalidInput(why.to_owned()));
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

/// Checks `change` ([`check_change`]) and applies it to the record of task `task_id` in place,
/// stamping `lastUpdatedAt` with [`time::next_update`]. Stores that hold records in memory call
/// this under their lock; the other backends do the same in SQL or Lua.
pub fn apply_change(
    change: TaskChange,
    task_id: &str,
    record: &mut TaskRecord,
    now: DateTime<Utc>,
) -> Result<(), TaskError> {
    check_change(&change, task_id, record.task.status)?;
    let TaskChange {
        status,
        status_message,
        outcome,
        cancel_requested,
    } = change;
    if let Some(status) = status {
        record.task.status = status;
    }
    if let Some(message) = status_message {
        record.task.status_message = Some(message);
    }
    if let Some(outcome) = outcome {
        record.outcome = Some(outcome);
    }
    record.cancel_requested |= cancel_requested;
    record.task.last_updated_at = time::next_update(record.task.last_updated_at, now);
    Ok(())
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
}
