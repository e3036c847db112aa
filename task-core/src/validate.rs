//! Input checks shared by every backend, run before anything is written.

use crate::config::StoreConfig;
use crate::error::TaskError;
use crate::record::TaskOutcome;
use crate::status::TaskChange;
use crate::store::Scope;
use serde_json::Value;
use std::io;

/// Longest caller-supplied task id, in bytes.
pub const MAX_TASK_ID_BYTES: usize = 256;
/// Longest owner, in bytes.
pub const MAX_OWNER_BYTES: usize = 1024;
/// Deepest nesting of arrays and objects accepted in a stored JSON payload. It keeps every
/// stored payload readable back by serde_json, whose parser stops at 128 levels.
pub const MAX_JSON_DEPTH: usize = 100;

fn check_name(kind: &str, text: &str, max: usize) -> Result<(), TaskError> {
    let problem = if text.is_empty() {
        "is empty".to_owned()
    } else if text.len() > max {
        format!("is {} bytes long, the limit is {max}", text.len())
    } else if text.chars().any(char::is_control) {
        "contains a control character".to_owned()
    } else {
        return Ok(());
    };
    Err(TaskError::InvalidInput(format!("{kind} {problem}")))
}

/// A task id is non-empty, at most [`MAX_TASK_ID_BYTES`] bytes, without control characters.
pub fn task_id(id: &str) -> Result<(), TaskError> {
    check_name("task id", id, MAX_TASK_ID_BYTES)
}

/// An owner is non-empty, at most [`MAX_OWNER_BYTES`] bytes, without control characters.
pub fn owner(owner: &str) -> Result<(), TaskError> {
    check_name("owner", owner, MAX_OWNER_BYTES)
}

/// The arguments of any call on one task: the caller's owner (if scoped) and the task id.
pub fn access(scope: &Scope, task_id: &str) -> Result<(), TaskError> {
    scope.validate()?;
    self::task_id(task_id)
}

/// A change is well-formed ([`TaskChange::validate`]) and its message and outcome fit the
/// store's payload limit. Every backend runs this before touching storage.
pub fn change(change: &TaskChange, config: &StoreConfig) -> Result<(), TaskError> {
    change.validate()?;
    if let Some(text) = &change.status_message {
        message(text, config.max_payload_bytes)?;
    }
    if let Some(value) = &change.outcome {
        outcome(value, config.max_payload_bytes)?;
    }
    Ok(())
}

/// A status message fits in `max_bytes`.
pub fn message(text: &str, max_bytes: usize) -> Result<(), TaskError> {
    if text.len() > max_bytes {
        return Err(TaskError::InvalidInput(format!(
            "status message is {} bytes long, the limit is {max_bytes}",
            text.len()
        )));
    }
    Ok(())
}

/// A JSON value nests at most [`MAX_JSON_DEPTH`] levels and serialises to at most `max_bytes`.
pub fn json(what: &str, value: &Value, max_bytes: usize) -> Result<(), TaskError> {
    depth(what, vec![(value, 1)])?;
    size(what, value, max_bytes)
}

/// Same checks as [`json`] for a task outcome, counting the outcome's own wrapper level.
pub fn outcome(value: &TaskOutcome, max_bytes: usize) -> Result<(), TaskError> {
    match value {
        TaskOutcome::Result(map) => depth("result", map.values().map(|v| (v, 2)).collect())?,
        TaskOutcome::Error(error) => depth("error", error.data.iter().map(|v| (v, 2)).collect())?,
    }
    size("outcome", value, max_bytes)
}

// Walks without recursion, so a hostile payload cannot overflow the stack.
fn depth(what: &str, mut stack: Vec<(&Value, usize)>) -> Result<(), TaskError> {
    while let Some((node, level)) = stack.pop() {
        match node {
            Value::Array(_) | Value::Object(_) if level > MAX_JSON_DEPTH => {
                return Err(TaskError::InvalidInput(format!(
                    "{what} nests deeper than {MAX_JSON_DEPTH} levels"
                )));
            }
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, level + 1))),
            Value::Object(map) => stack.extend(map.values().map(|v| (v, level + 1))),
            _ => {}
        }
    }
    Ok(())
}

fn size(what: &str, value: &impl serde::Serialize, max_bytes: usize) -> Result<(), TaskError> {
    let mut counter = ByteCounter(0);
    serde_json::to_writer(&mut counter, value)
        .map_err(|e| TaskError::InvalidInput(format!("{what} is not valid JSON: {e}")))?;
    if counter.0 > max_bytes {
        return Err(TaskError::InvalidInput(format!(
            "{what} is {} bytes, the limit is {max_bytes}",
            counter.0
        )));
    }
    Ok(())
}

struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_checked() {
        assert!(task_id("abc-123").is_ok());
        assert!(task_id("ünïcødé {}:*? ok").is_ok());
        assert!(task_id(&"x".repeat(256)).is_ok());
        assert!(task_id("").is_err());
        assert!(task_id(&"x".repeat(257)).is_err());
        assert!(task_id("a\nb").is_err());
        assert!(task_id("a\u{7f}").is_err());
        assert!(owner("").is_err());
    }

    #[test]
    fn deep_or_large_json_is_rejected() {
        let mut deep = json!(1);
        for _ in 0..MAX_JSON_DEPTH {
            deep = json!([deep]);
        }
        assert!(json("result", &deep, usize::MAX).is_ok());
        let deeper = json!({ "x": deep });
        assert!(json("result", &deeper, usize::MAX).is_err());
        assert!(json("result", &json!("0123456789"), 12).is_ok());
        assert!(json("result", &json!("0123456789"), 11).is_err());
    }
}
