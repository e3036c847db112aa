//! The MCP 2025-11-25 tasks protocol over any [`task_core::TaskStore`], independent of the
//! transport: a server hands each request's method, params and caller to these functions and
//! writes back what they return.
//!
//! | module | holds |
//! |---|---|
//! | [`handlers`] | `tasks/get`, `tasks/result`, `tasks/list`, `tasks/cancel`, and [`handle`] to route them |
//! | [`tools`] | task-augmented `tools/call`: the `taskSupport` check, [`start_tool_task`], outcomes |
//! | [`notify`] | `notifications/tasks/status`: [`status_notification`] and [`notify::watch_task`] |
//! | [`params`] | the request params, parsed with serde |
//!
//! Errors are JSON-RPC error objects ([`task_core::ErrorData`]); store errors are mapped by
//! `ErrorData::from(&TaskError)`, the workspace's one mapping.
#![warn(missing_docs)]

pub mod handlers;
pub mod notify;
pub mod params;
pub mod tools;

pub use handlers::{handle, tasks_capability};
pub use notify::status_notification;
pub use tools::{StartedTask, TaskSupport, ToolOutcome, check_task_support, start_tool_task};
