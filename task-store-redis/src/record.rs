//! How a task record is laid out in its Redis hash, and how replies turn back into tasks.
//!
//! | field | holds |
//! |---|---|
//! | `id` | the task id, verbatim |
//! | `st` | status (`working`, ...) |
//! | `msg` | status message, absent when none |
//! | `c`, `u` | createdAt and lastUpdatedAt, ms since the epoch (written by the scripts) |
//! | `ttl`, `pi` | effective ttl and poll interval in ms, absent when none |
//! | `exp` | expiry instant in ms, absent for an unlimited task (written by create.lua) |
//! | `own` | owner, absent for an unbound task |
//! | `rttl` | requested ttl in ms, absent when none was asked for |
//! | `out` | outcome JSON (`{"result": ...}` or `{"error": ...}`), absent until one is set |
//! | `cx` | `1` once a cancel was requested |
//! | `rev` | protocol revision |
//! | `req` | original request JSON, absent when none |
//! | `inp` | pending input requests JSON, absent when none |
//! | `used` | JSON array of every input request key used, absent when none |
//! | `rsp` | unread answers to input requests JSON, absent when none |
//!
//! Records written before `used` and `rsp` existed read as tasks that never asked for input.

use crate::error::corrupt;
use redis::Value;
use std::collections::HashMap;
use task_core::backend::time;
use task_core::{
    OriginRequest, ProtocolRevision, Scope, Task, TaskError, TaskOutcome, TaskRecord, TaskStatus,
};

/// The fields a `get` reads, in this order.
pub(crate) const TASK_FIELDS: [&str; 8] = ["st", "msg", "c", "u", "ttl", "pi", "own", "id"];

/// The fields a new record is created with, except `c`, `u` and `exp`, which create.lua adds.
pub(crate) fn fields(record: &TaskRecord) -> Result<Vec<(&'static str, String)>, TaskError> {
    let task = &record.task;
    let mut fields = vec![
        ("id", task.task_id.clone()),
        ("st", task.status.as_str().to_owned()),
        ("rev", record.revision.as_str().to_owned()),
    ];
    let mut optional = |name, value: Option<String>| {
        if let Some(value) = value {
            fields.push((name, value));
        }
    };
    optional("msg", task.status_message.clone());
    optional("ttl", task.ttl.map(|t| t.to_string()));
    optional("pi", task.poll_interval.map(|p| p.to_string()));
    optional("own", record.owner.clone());
    optional("rttl", record.requested_ttl.map(|t| t.to_string()));
    optional(
        "out",
        record.outcome.as_ref().map(outcome_json).transpose()?,
    );
    optional("cx", record.cancel_requested.then(|| "1".to_owned()));
    optional("req", record.request.as_ref().map(json).transpose()?);
    let input = input_fields(record)?;
    optional("inp", input.requests);
    optional("used", input.keys_used);
    optional("rsp", input.responses);
    Ok(fields)
}

/// The input fields of a record as stored, `None` for each that is empty (and so absent).
pub(crate) struct InputFields {
    pub requests: Option<String>,
    pub keys_used: Option<String>,
    pub responses: Option<String>,
}

/// The `inp`, `used` and `rsp` fields of `record`.
pub(crate) fn input_fields(record: &TaskRecord) -> Result<InputFields, TaskError> {
    let requests = &record.input_requests;
    let used = &record.input_keys_used;
    let responses = &record.input_responses;
    Ok(InputFields {
        requests: (!requests.is_empty()).then(|| json(requests)).transpose()?,
        keys_used: (!used.is_empty()).then(|| json(used)).transpose()?,
        responses: (!responses.is_empty())
            .then(|| json(responses))
            .transpose()?,
    })
}

/// An outcome as stored in `out`.
pub(crate) fn outcome_json(outcome: &TaskOutcome) -> Result<String, TaskError> {
    json(outcome)
}

fn json(value: &impl serde::Serialize) -> Result<String, TaskError> {
    serde_json::to_string(value)
        .map_err(|e| TaskError::InvalidInput(format!("cannot encode as JSON: {e}")))
}

/// The text of a reply element; `None` for nil (or a script's `false` under RESP3).
pub(crate) fn text(value: &Value) -> Result<Option<&str>, TaskError> {
    match value {
        Value::Nil | Value::Boolean(false) => Ok(None),
        Value::BulkString(bytes) => std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| corrupt("a field is not UTF-8")),
        Value::SimpleString(text) => Ok(Some(text)),
        other => Err(corrupt(format!("unexpected reply {other:?}"))),
    }
}

/// A millisecond count from a reply element (text or integer); `None` for nil.
pub(crate) fn number<T: std::str::FromStr>(value: &Value) -> Result<Option<T>, TaskError> {
    if let Value::Int(n) = value {
        return n
            .to_string()
            .parse()
            .map(Some)
            .map_err(|_| corrupt(format!("number {n} out of range")));
    }
    text(value)?
        .map(|t| t.parse().map_err(|_| corrupt(format!("bad number {t:?}"))))
        .transpose()
}

fn required<T>(value: Option<T>, what: &str) -> Result<T, TaskError> {
    value.ok_or_else(|| corrupt(format!("the record lacks its {what}")))
}

fn status(text: &str) -> Result<TaskStatus, TaskError> {
    TaskStatus::parse(text).ok_or_else(|| corrupt(format!("unknown status {text:?}")))
}

/// A task from its fields in [`TASK_FIELDS`] order after the status; `values` starts at the
/// status. Used for `get`, for listing and for the update script's reply.
pub(crate) fn task(task_id: &str, values: &[Value]) -> Result<Task, TaskError> {
    let [st, msg, c, u, ttl, pi, ..] = values else {
        return Err(corrupt("short reply"));
    };
    Ok(Task {
        task_id: task_id.to_owned(),
        status: status(required(text(st)?, "status")?)?,
        status_message: text(msg)?.map(str::to_owned),
        created_at: time::from_millis(required(number(c)?, "creation time")?),
        last_updated_at: time::from_millis(required(number(u)?, "update time")?),
        ttl: number(ttl)?,
        poll_interval: number(pi)?,
    })
}

/// The reply of `HMGET <task> TASK_FIELDS` as the task `scope` may see: `None` when the task
/// is missing or not visible, which callers report as not found.
pub(crate) fn visible_task(
    task_id: &str,
    scope: &Scope,
    values: &[Value],
) -> Result<Option<(Task, Option<String>)>, TaskError> {
    if matches!(values.first(), None | Some(Value::Nil)) {
        return Ok(None);
    }
    let owner = values.get(6).map(text).transpose()?.flatten();
    if !scope.permits(owner) {
        return Ok(None);
    }
    Ok(Some((task(task_id, values)?, owner.map(str::to_owned))))
}

/// The task update.lua published on its channel, as `scope` may see it; `None` for any other
/// message (a deletion, a bare notify) and for a task `scope` may not see.
pub(crate) fn published_task(task_id: &str, scope: &Scope, message: &[u8]) -> Option<Task> {
    let values: Vec<Value> = serde_json::from_slice::<Vec<serde_json::Value>>(message)
        .ok()?
        .into_iter()
        .map(|field| match field {
            serde_json::Value::String(text) => Value::BulkString(text.into_bytes()),
            _ => Value::Nil,
        })
        .collect();
    // The owner's slot must be there: a shorter array would read as an unbound task.
    if values.len() < 7 {
        return None;
    }
    visible_task(task_id, scope, &values)
        .ok()?
        .map(|(task, _)| task)
}

/// A whole record from `HGETALL`; `None` when the hash is missing.
pub(crate) fn record(
    task_id: &str,
    mut fields: HashMap<String, String>,
) -> Result<Option<TaskRecord>, TaskError> {
    if fields.is_empty() {
        return Ok(None);
    }
    let mut take = |name: &str| {
        fields
            .remove(name)
            .map_or(Value::Nil, |text| Value::BulkString(text.into_bytes()))
    };
    let values: Vec<Value> = ["st", "msg", "c", "u", "ttl", "pi"]
        .into_iter()
        .map(&mut take)
        .collect();
    let requested_ttl = number(&take("rttl"))?;
    let task = task(task_id, &values)?;
    let owner = fields.remove("own");
    let revision = match fields.remove("rev") {
        Some(text) => ProtocolRevision::parse(&text)
            .ok_or_else(|| corrupt(format!("unknown revision {text:?}")))?,
        None => ProtocolRevision::default(),
    };
    let outcome = fields
        .remove("out")
        .map(|text| parse::<TaskOutcome>(&text, "outcome"))
        .transpose()?;
    let request = fields
        .remove("req")
        .map(|text| parse::<OriginRequest>(&text, "request"))
        .transpose()?;
    let input_requests = fields
        .remove("inp")
        .map(|text| parse(&text, "input requests"))
        .transpose()?
        .unwrap_or_default();
    let input_keys_used = fields
        .remove("used")
        .map(|text| parse(&text, "input keys used"))
        .transpose()?
        .unwrap_or_default();
    let input_responses = fields
        .remove("rsp")
        .map(|text| parse(&text, "input responses"))
        .transpose()?
        .unwrap_or_default();
    Ok(Some(TaskRecord {
        task,
        owner,
        requested_ttl,
        outcome,
        cancel_requested: fields.remove("cx").as_deref() == Some("1"),
        revision,
        request,
        input_requests,
        input_keys_used,
        input_responses,
    }))
}

/// Parses stored JSON.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, TaskError> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("stored {what} is not valid: {e}")))
}
