//! Core of the MCP task store: wire types, the status machine, the [`TaskStore`] trait,
//! errors and their JSON-RPC mapping, and the task helpers of the MCP Python SDK.
//!
//! The crate root is what a user of a store needs:
//!
//! | items | what they are |
//! |---|---|
//! | [`TaskStore`], [`TaskStoreExt`] (its `request_input`, `respond`, `request_cancel`, and `wait_for_answer` serve the tasks extension), [`Scope`], [`PageRequest`], [`TaskPage`], [`Capabilities`], [`StoreConfig`] | the store and its calls |
//! | [`NewTask`], [`TaskChange`], [`TaskRecord`], [`CurrentTask`], [`TaskOutcome`], [`OriginRequest`], [`ProtocolRevision`] | what goes in and comes out |
//! | [`Task`], [`TaskStatus`], [`DetailedTask`] and the results in [`wire`] | protocol types, serde-exact |
//! | [`TaskError`], [`LimitKind`], [`ErrorData`] and [`jsonrpc`] | errors and their JSON-RPC codes |
//! | [`TaskContext`], [`task_execution`], [`cancel_task`], [`wait_for_result`], [`poll_until_terminal`], [`generate_task_id`] | running and following tasks |
//! | [`redact`] | store URLs without their secrets, for errors, logs and output |
//! | [`TracedStore`] and [`trace`] | a `tracing` span on every store call, without payloads or secrets |
//!
//! Authors of a store find what every backend shares in [`backend`].
#![warn(missing_docs)]

pub mod backend;
mod config;
mod context;
mod cursor;
mod error;
mod helpers;
pub mod jsonrpc;
mod record;
pub mod redact;
mod status;
mod store;
pub mod trace;
pub mod wire;

pub use config::StoreConfig;
pub use context::{TaskContext, task_execution};
pub use error::{LimitKind, Retry, TaskError};
pub use helpers::{cancel_task, generate_task_id, poll_until_terminal, wait_for_result};
pub use jsonrpc::ErrorData;
pub use record::{CurrentTask, NewTask, OriginRequest, ProtocolRevision, TaskOutcome, TaskRecord};
pub use status::TaskChange;
pub use store::{Capabilities, PageRequest, Scope, TaskPage, TaskStore, TaskStoreExt};
pub use trace::TracedStore;
pub use wire::{
    CancelTaskResult, CreateTaskResult, DetailedTask, GetTaskResult, ListTasksResult,
    MODEL_IMMEDIATE_RESPONSE_META_KEY, RELATED_TASK_META_KEY, Task, TaskMetadata, TaskStatus,
};
