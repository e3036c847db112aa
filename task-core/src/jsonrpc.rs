//! JSON-RPC error objects and the one mapping from [`TaskError`] to them.

use crate::error::{Retry, TaskError};
use crate::wire::TaskStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist or is not available.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// Internal error.
pub const INTERNAL_ERROR: i64 = -32603;
/// A task limit was reached: the request was valid, but the server starts no further task
/// for this requestor (or at all) until one of its unfinished tasks ends. The server is not
/// broken, so this is not [`INTERNAL_ERROR`]. MCP 2026-07-28 reserves -32020 to -32099 for
/// its own codes and asks for any other code to lie outside JSON-RPC's reserved range
/// (-32768 to -32000); 429 mirrors HTTP's Too Many Requests. `data` is
/// `{"limit": "per_owner" | "total", "max": <the limit>}`.
pub const LIMIT_EXCEEDED: i64 = 429;

/// A short name for an error code, for logs: `parse_error`, `invalid_request`,
/// `method_not_found`, `invalid_params`, `internal_error`, `limit_exceeded`, or `error` for
/// any other code.
///
/// ```
/// use task_core::jsonrpc::{INVALID_PARAMS, code_name};
/// assert_eq!(code_name(INVALID_PARAMS), "invalid_params");
/// assert_eq!(code_name(-32042), "error");
/// ```
pub fn code_name(code: i64) -> &'static str {
    match code {
        PARSE_ERROR => "parse_error",
        INVALID_REQUEST => "invalid_request",
        METHOD_NOT_FOUND => "method_not_found",
        INVALID_PARAMS => "invalid_params",
        INTERNAL_ERROR => "internal_error",
        LIMIT_EXCEEDED => "limit_exceeded",
        _ => "error",
    }
}

/// A JSON-RPC error object `{code, message, data?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorData {
    /// The error code.
    pub code: i64,
    /// A short description.
    pub message: String,
    /// Optional details. A `"data": null` that was sent is kept as `Some(Value::Null)`, so a
    /// stored error reads back exactly as the request returned it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub data: Option<Value>,
}

/// A field that is present, even as `null`, is `Some`; `default` makes an absent one `None`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl ErrorData {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        ErrorData {
            code,
            message: message.into(),
            data: None,
        }
    }
}

impl From<&TaskError> for ErrorData {
    fn from(error: &TaskError) -> Self {
        match error {
            TaskError::NotFound { task_id } => {
                ErrorData::new(INVALID_PARAMS, format!("Task not found: {task_id}"))
            }
            TaskError::InvalidTransition {
                from,
                to: TaskStatus::Cancelled,
                ..
            } => ErrorData::new(
                INVALID_PARAMS,
                format!("Cannot cancel task in terminal state '{from}'"),
            ),
            TaskError::InvalidTransition { .. }
            | TaskError::AlreadyExists { .. }
            | TaskError::InvalidInput(_) => ErrorData::new(INVALID_PARAMS, error.to_string()),
            TaskError::InvalidCursor => ErrorData::new(INVALID_PARAMS, "Invalid cursor"),
            // The worker's mistake, not the requestor's: the server is at fault.
            TaskError::InputKeyReused { .. } => ErrorData::new(INTERNAL_ERROR, error.to_string()),
            TaskError::LimitExceeded { kind, max } => ErrorData {
                code: LIMIT_EXCEEDED,
                message: error.to_string(),
                data: Some(json!({ "limit": kind.as_str(), "max": max })),
            },
            TaskError::Backend { retry, .. } => ErrorData {
                code: INTERNAL_ERROR,
                message: "Task storage failed".into(),
                data: Some(json!({
                    "retryable": *retry != Retry::Never,
                    "outcomeUnknown": *retry == Retry::OutcomeUnknown,
                })),
            },
        }
    }
}

impl From<TaskError> for ErrorData {
    fn from(error: TaskError) -> Self {
        ErrorData::from(&error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LimitKind;

    #[test]
    fn every_variant_maps_to_its_code() {
        let cases = [
            (TaskError::not_found("t"), INVALID_PARAMS),
            (
                TaskError::AlreadyExists {
                    task_id: "t".into(),
                },
                INVALID_PARAMS,
            ),
            (
                TaskError::InvalidTransition {
                    task_id: "t".into(),
                    from: TaskStatus::Completed,
                    to: TaskStatus::Cancelled,
                },
                INVALID_PARAMS,
            ),
            (TaskError::InvalidCursor, INVALID_PARAMS),
            (
                TaskError::InputKeyReused {
                    task_id: "t".into(),
                    key: "k".into(),
                },
                INTERNAL_ERROR,
            ),
            (TaskError::InvalidInput("x".into()), INVALID_PARAMS),
            (
                TaskError::LimitExceeded {
                    kind: LimitKind::Total,
                    max: 1,
                },
                LIMIT_EXCEEDED,
            ),
            (TaskError::backend("x", Retry::Safe, "down"), INTERNAL_ERROR),
        ];
        for (error, code) in cases {
            assert_eq!(ErrorData::from(&error).code, code, "{error}");
        }
    }

    #[test]
    fn a_limit_is_no_internal_error_and_says_which() {
        let error = TaskError::LimitExceeded {
            kind: LimitKind::PerOwner,
            max: 3,
        };
        assert_eq!(
            serde_json::to_value(ErrorData::from(&error)).unwrap(),
            json!({
                "code": 429,
                "message": "task limit exceeded: at most 3 unfinished tasks per owner",
                "data": {"limit": "per_owner", "max": 3}
            })
        );
        // Outside JSON-RPC's reserved range, which MCP partly claims for its own codes.
        assert!(!(-32768..=-32000).contains(&LIMIT_EXCEEDED));
    }

    #[test]
    fn cancelling_a_terminal_task_says_so() {
        let error = TaskError::InvalidTransition {
            task_id: "t".into(),
            from: TaskStatus::Failed,
            to: TaskStatus::Cancelled,
        };
        assert_eq!(
            ErrorData::from(&error).message,
            "Cannot cancel task in terminal state 'failed'"
        );
    }

    #[test]
    fn data_round_trips_absent_null_or_set() {
        for data in [None, Some(Value::Null), Some(json!({"k": [1, null]}))] {
            let error = ErrorData {
                code: 1,
                message: "m".into(),
                data,
            };
            let text = serde_json::to_string(&error).unwrap();
            assert_eq!(
                serde_json::from_str::<ErrorData>(&text).unwrap(),
                error,
                "{text}"
            );
        }
    }

    #[test]
    fn backend_errors_do_not_leak_their_source() {
        let data = ErrorData::from(&TaskError::backend(
            "redis",
            Retry::OutcomeUnknown,
            "secret host name",
        ));
        assert_eq!(
            serde_json::to_value(&data).unwrap(),
            json!({
                "code": -32603,
                "message": "Task storage failed",
                "data": {"retryable": true, "outcomeUnknown": true}
            })
        );
        let data = ErrorData::from(&TaskError::backend("sqlite", Retry::Safe, "busy"));
        assert_eq!(
            data.data,
            Some(json!({"retryable": true, "outcomeUnknown": false}))
        );
    }
}
