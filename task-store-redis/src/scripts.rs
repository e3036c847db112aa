//! The Lua scripts that make every multi-key or read-then-write change atomic. Each is loaded
//! once when a store opens and invoked by EVALSHA; after a Redis restart flushed the script
//! cache, the driver answers NOSCRIPT by loading the script again and retrying.

use crate::error::corrupt;
use crate::record::text;
use redis::{Script, Value};
use std::sync::LazyLock;
use task_core::TaskError;

/// Creates a task with its index entries and expiry (`lua/create.lua`).
pub(crate) static CREATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/create.lua")));

/// Applies one change as a compare-and-set and publishes it (`lua/update.lua`).
pub(crate) static UPDATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/update.lua")));

/// Writes a record changed by task-core as a compare-and-set on lastUpdatedAt and publishes
/// it (`lua/replace.lua`).
pub(crate) static REPLACE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/replace.lua")));

/// Deletes a task with its index entries (`lua/delete.lua`).
pub(crate) static DELETE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/delete.lua")));

/// Removes index entries of expired tasks (`lua/prune.lua`).
pub(crate) static PRUNE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/prune.lua")));

/// Takes or extends the background sweeper's lease (`lua/lease.lua`).
pub(crate) static LEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/lease.lua")));

/// Every script, for loading them when a store opens.
pub(crate) fn all() -> [&'static Script; 6] {
    [&CREATE, &UPDATE, &REPLACE, &DELETE, &PRUNE, &LEASE]
}

/// A script's `{tag, values...}` reply.
pub(crate) fn tagged(reply: Value) -> Result<(String, Vec<Value>), TaskError> {
    let Value::Array(mut items) = reply else {
        // The reply itself may hold a task's payload: only its kind is named.
        let kind = match reply {
            Value::Nil => "nil",
            Value::Int(_) => "an integer",
            Value::SimpleString(_) | Value::BulkString(_) | Value::VerbatimString { .. } => {
                "a string"
            }
            Value::Okay => "OK",
            _ => "not an array",
        };
        return Err(corrupt(format!("a script answered {kind}, not an array")));
    };
    if items.is_empty() {
        return Err(corrupt("empty script reply"));
    }
    let rest = items.split_off(1);
    let tag = text(&items[0])?.unwrap_or_default().to_owned();
    Ok((tag, rest))
}
