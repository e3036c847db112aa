//! Core of the MCP task store: wire types, the status machine, the [`TaskStore`] trait,
//! errors and their JSON-RPC mapping, and the helpers ported from the MCP Python SDK.
//!
//! | module | holds |
//! |---|---|
//! | [`wire`] | protocol types, serde-exact |
//! | [`status`] | the status machine and [`TaskChange`] |
//! | [`store`] | the [`TaskStore`] trait, [`Scope`], paging |
//! | [`record`] | what a store keeps per task |
//! | [`error`] / [`jsonrpc`] | [`TaskError`] and its JSON-RPC codes |
//! | [`helpers`] / [`context`] | `cancel_task`, `task_execution`, polling and waiting |
//! | [`redact`] | store URLs without their secrets, for errors, logs and output |
#![warn(missing_docs)]

pub mod config;
pub mod context;
pub mod cursor;
pub mod error;
pub mod helpers;
pub mod jsonrpc;
pub mod record;
pub mod redact;
pub mod status;
pub mod store;
pub mod time;
pub mod validate;
pub mod wire;

pub use config::StoreConfig;
pub use context::{TaskContext, task_execution};
pub use cursor::ListPosition;
pub use error::{LimitKind, Retry, TaskError, TaskResult};
pub use helpers::{
    cancel_task, create_task_state, generate_task_id, poll_until_terminal, repeated_create,
    wait_for_result,
};
pub use jsonrpc::ErrorData;
pub use record::{NewTask, OriginRequest, ProtocolRevision, TaskOutcome, TaskRecord};
pub use status::{TaskChange, is_terminal};
pub use store::{Capabilities, PageRequest, Scope, TaskPage, TaskStore, TaskStoreExt};
pub use wire::{
    CancelTaskResult, CreateTaskResult, GetTaskResult, ListTasksResult,
    MODEL_IMMEDIATE_RESPONSE_META_KEY, RELATED_TASK_META_KEY, Task, TaskMetadata, TaskStatus,
};
