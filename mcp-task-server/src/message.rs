//! JSON-RPC 2.0 messages: classifying what arrives, building what goes out.

use serde_json::{Map, Value, json};
use task_core::jsonrpc::{ErrorData, INVALID_REQUEST, PARSE_ERROR};

/// One line received from the client.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    /// A request: it gets exactly one response.
    Request {
        /// The request id, echoed in the response.
        id: Value,
        /// The method.
        method: String,
        /// The params, if any.
        params: Option<Value>,
    },
    /// A notification: no response.
    Notification {
        /// The method.
        method: String,
        /// The params, if any.
        params: Option<Value>,
    },
    /// A response to a request of ours (this server sends none, so it is ignored).
    Response,
    /// Not a valid message: answered with this error, under this id (null when unknown).
    Invalid {
        /// The id to answer under.
        id: Value,
        /// The error.
        error: ErrorData,
    },
}

/// Classifies one line of input.
pub fn parse(line: &[u8]) -> Incoming {
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(fields)) => classify(fields),
        Ok(Value::Array(_)) => invalid(Value::Null, "Batches are not supported"),
        Ok(_) => invalid(Value::Null, "A message must be a JSON object"),
        Err(error) => Incoming::Invalid {
            id: Value::Null,
            error: ErrorData::new(PARSE_ERROR, format!("Parse error: {error}")),
        },
    }
}

fn classify(mut fields: Map<String, Value>) -> Incoming {
    // An id that is not a string or a number cannot be echoed back: answer under null.
    let id = match fields.remove("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id),
        Some(_) => return invalid(Value::Null, "The id must be a string or a number"),
    };
    let reply_id = id.clone().unwrap_or(Value::Null);
    if fields.get("jsonrpc") != Some(&json!("2.0")) {
        return invalid(reply_id, "The jsonrpc member must be \"2.0\"");
    }
    let params = fields.remove("params");
    if params
        .as_ref()
        .is_some_and(|p| !p.is_object() && !p.is_array())
    {
        return invalid(reply_id, "The params must be an object or an array");
    }
    match (fields.remove("method"), id) {
        (Some(Value::String(method)), Some(id)) => Incoming::Request { id, method, params },
        (Some(Value::String(method)), None) => Incoming::Notification { method, params },
        (Some(_), _) => invalid(reply_id, "The method must be a string"),
        (None, Some(_)) if fields.contains_key("result") || fields.contains_key("error") => {
            Incoming::Response
        }
        (None, _) => invalid(reply_id, "A request needs a method"),
    }
}

fn invalid(id: Value, message: &str) -> Incoming {
    Incoming::Invalid {
        id,
        error: ErrorData::new(INVALID_REQUEST, format!("Invalid request: {message}")),
    }
}

/// The response to request `id`.
pub fn response(id: Value, outcome: Result<Value, ErrorData>) -> Value {
    match outcome {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(error) => json!({ "jsonrpc": "2.0", "id": id, "error": error }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use task_core::jsonrpc::{INVALID_REQUEST, PARSE_ERROR};

    fn error_code(line: &str) -> (Value, i64) {
        match parse(line.as_bytes()) {
            Incoming::Invalid { id, error } => (id, error.code),
            other => panic!("{line} parsed as {other:?}"),
        }
    }

    #[test]
    fn requests_notifications_and_responses_are_told_apart() {
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Incoming::Request {
                id: json!(1),
                method: "ping".into(),
                params: None
            }
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":"a","method":"tasks/get","params":{"taskId":"t"}}"#),
            Incoming::Request {
                id: json!("a"),
                method: "tasks/get".into(),
                params: Some(json!({"taskId": "t"}))
            }
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Incoming::Notification {
                method: "notifications/initialized".into(),
                params: None
            }
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":4,"result":{}}"#),
            Incoming::Response
        );
    }

    #[test]
    fn malformed_messages_get_the_proper_codes() {
        assert_eq!(error_code("{not json"), (Value::Null, PARSE_ERROR));
        assert_eq!(error_code("\u{0}"), (Value::Null, PARSE_ERROR));
        for (line, id) in [
            ("[]", Value::Null),
            ("3", Value::Null),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
                Value::Null,
            ),
            (r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#, Value::Null),
            (r#"{"jsonrpc":"1.0","id":5,"method":"ping"}"#, json!(5)),
            (r#"{"id":5,"method":"ping"}"#, json!(5)),
            (r#"{"jsonrpc":"2.0","id":5,"method":7}"#, json!(5)),
            (r#"{"jsonrpc":"2.0","id":5}"#, json!(5)),
            (
                r#"{"jsonrpc":"2.0","id":"x","method":"ping","params":"p"}"#,
                json!("x"),
            ),
        ] {
            assert_eq!(error_code(line), (id, INVALID_REQUEST), "{line}");
        }
    }

    #[test]
    fn responses_are_exact() {
        // Compared as values: JSON objects are unordered, and the order serde_json writes
        // keys in depends on its features.
        assert_eq!(
            response(json!(1), Ok(json!({}))),
            json!({"jsonrpc": "2.0", "id": 1, "result": {}})
        );
        let error = ErrorData::new(-32601, "Method not found: x");
        assert_eq!(
            response(json!("a"), Err(error)),
            json!({"jsonrpc": "2.0", "id": "a", "error": {"code": -32601, "message": "Method not found: x"}})
        );
    }
}
