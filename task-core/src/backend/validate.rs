//! Input checks shared by every backend, run before anything is written.

use crate::config::StoreConfig;
use crate::error::TaskError;
use crate::record::TaskOutcome;
use crate::status::TaskChange;
use crate::store::Scope;
use serde_json::{Map, Value};
use std::{fmt, io};

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
    } else if has_control(text) {
        "contains a control character".to_owned()
    } else {
        return Ok(());
    };
    Err(TaskError::InvalidInput(format!("{kind} {problem}")))
}

/// Whether `text` holds a control character (Unicode category Cc). Printable ASCII, the usual
/// case, is checked a byte at a time; anything else char by char.
fn has_control(text: &str) -> bool {
    // A loop without early exit over the bytes, which the compiler checks many at a time.
    let mut outside = 0u8;
    for &byte in text.as_bytes() {
        outside |= u8::from(byte.wrapping_sub(0x20) >= 0x5f);
    }
    outside != 0 && text.chars().any(char::is_control)
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
    if let Some(requests) = &change.input_requests {
        for key in requests.keys() {
            input_key(key)?;
        }
        object("input requests", requests, config.max_payload_bytes)?;
    }
    if let Some(responses) = &change.input_responses {
        // Keys are not checked: those that match no pending request are ignored.
        object("input responses", responses, config.max_payload_bytes)?;
    }
    Ok(())
}

/// An input request key is non-empty, at most [`MAX_TASK_ID_BYTES`] bytes, without control
/// characters.
pub fn input_key(key: &str) -> Result<(), TaskError> {
    check_name("input request key", key, MAX_TASK_ID_BYTES)
}

/// Same checks as [`json`] for a JSON object held as a map, without copying it.
pub fn object(what: &str, map: &Map<String, Value>, max_bytes: usize) -> Result<(), TaskError> {
    let members = map.keys().map(|k| string_bound(k) + 2).sum::<usize>();
    let bound = 2 + members + depth(what, map.values().map(|v| (v, 2)).collect())?;
    if bound <= max_bytes {
        return Ok(());
    }
    size(what, map, max_bytes)
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
    let bound = depth(what, vec![(value, 1)])?;
    if bound <= max_bytes {
        return Ok(());
    }
    size(what, value, max_bytes)
}

/// Same checks as [`json`] for a task outcome, counting the outcome's own wrapper level.
pub fn outcome(value: &TaskOutcome, max_bytes: usize) -> Result<(), TaskError> {
    // The wrapper: `{"result":...}`, or `{"error":{"code":...,"message":...,"data":...}}`.
    let bound = match value {
        TaskOutcome::Result(map) => {
            let members = map.iter().map(|(k, _)| string_bound(k) + 2).sum::<usize>();
            16 + members + depth("result", map.values().map(|v| (v, 2)).collect())?
        }
        TaskOutcome::Error(error) => {
            let data = depth("error", error.data.iter().map(|v| (v, 2)).collect())?;
            64 + string_bound(&error.message) + data
        }
    };
    if bound <= max_bytes {
        return Ok(());
    }
    size("outcome", value, max_bytes)
}

/// Checks the nesting and returns an upper bound of the serialised size, so that the exact
/// (serialising) count is needed only for payloads near the limit. Walks without recursion, so
/// a hostile payload cannot overflow the stack.
fn depth(what: &str, mut stack: Vec<(&Value, usize)>) -> Result<usize, TaskError> {
    let mut bound = 0usize;
    while let Some((node, level)) = stack.pop() {
        // Every value is followed by at most one separator (`,`).
        bound = bound.saturating_add(1);
        match node {
            Value::Array(_) | Value::Object(_) if level > MAX_JSON_DEPTH => {
                return Err(TaskError::InvalidInput(format!(
                    "{what} nests deeper than {MAX_JSON_DEPTH} levels"
                )));
            }
            Value::Array(items) => {
                bound = bound.saturating_add(2);
                stack.extend(items.iter().map(|v| (v, level + 1)));
            }
            Value::Object(map) => {
                bound = bound.saturating_add(2);
                for (key, value) in map {
                    bound = bound.saturating_add(string_bound(key) + 1);
                    stack.push((value, level + 1));
                }
            }
            Value::String(text) => bound = bound.saturating_add(string_bound(text)),
            Value::Number(number) => bound = bound.saturating_add(number_len(number)),
            Value::Null | Value::Bool(_) => bound = bound.saturating_add(5),
        }
    }
    Ok(bound)
}

/// The length of a number as serde_json writes it, counted without allocating.
fn number_len(number: &serde_json::Number) -> usize {
    let mut counter = ByteCounter(0);
    let _ = fmt::Write::write_fmt(&mut counter, format_args!("{number}"));
    counter.0
}

/// Most bytes a string takes in JSON: quotes, and each byte escaped as `\u00XX` at worst.
fn string_bound(text: &str) -> usize {
    text.len().saturating_mul(6).saturating_add(2)
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

impl fmt::Write for ByteCounter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0 += text.len();
        Ok(())
    }
}

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

    #[test]
    fn size_limit_is_exact_near_the_bound() {
        // The bound lets small payloads through uncounted; near the limit the count is exact.
        let value = json!({"text": "a\"b\n\u{1}ü", "n": [1.5, -20, null, true]});
        let exact = serde_json::to_string(&value).unwrap().len();
        assert!(json("result", &value, exact).is_ok());
        assert!(json("result", &value, exact - 1).is_err());
        let serde_json::Value::Object(map) = value else {
            unreachable!()
        };
        let outcome = TaskOutcome::Result(map);
        let exact = serde_json::to_string(&outcome).unwrap().len();
        assert!(super::outcome(&outcome, exact).is_ok());
        assert!(super::outcome(&outcome, exact - 1).is_err());
    }

    #[test]
    fn size_bound_is_never_below_the_exact_size() {
        let values = [
            json!(null),
            json!(-1.7976931348623157e308),
            json!(u64::MAX),
            json!("\u{0}\u{1f}\"\\/ü€😀"),
            json!([[], {}, [null, false], {"": ""}]),
            json!({"\u{7}key": {"nested": ["x", 1, {"y": "\t"}]}}),
        ];
        for value in values {
            let exact = serde_json::to_string(&value).unwrap().len();
            assert!(depth("v", vec![(&value, 1)]).unwrap() >= exact, "{value}");
        }
        let error = TaskOutcome::Error(crate::jsonrpc::ErrorData {
            code: i64::MIN,
            message: "\u{1}".repeat(3),
            data: Some(json!({"why": "\n"})),
        });
        let exact = serde_json::to_string(&error).unwrap().len();
        assert!(super::outcome(&error, exact).is_ok());
        assert!(super::outcome(&error, exact - 1).is_err());
    }

    #[test]
    fn control_characters_are_found_in_any_script() {
        for clean in ["abc-123 ~", "ünïcødé", "日本語", "😀"] {
            assert!(!has_control(clean), "{clean}");
        }
        for dirty in ["a\u{0}", "\u{1f}", "x\u{7f}", "ü\u{85}", "\u{9f}z"] {
            assert!(has_control(dirty), "{dirty:?}");
        }
    }
}
