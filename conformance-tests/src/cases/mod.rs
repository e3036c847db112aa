//! The cases, grouped by topic. [`for_each_case!`](crate::for_each_case) lists them all, in
//! order; [`CASES`] is made from that list.

use crate::{Case, CaseResult, StoreFactory};
use serde_json::{Map, Value};
use std::sync::Arc;
use task_core::{
    NewTask, PageRequest, Scope, StoreConfig, Task, TaskChange, TaskError, TaskStatus, TaskStore,
};

/// Cancelling, and cancel racing completion.
pub mod cancellation;
/// Concurrent workers, and recovering stuck tasks.
pub mod concurrency;
/// `TaskContext` and `task_execution` on the store.
pub mod context;
/// The tasks extension (revision 2026-07-28): input requests, answers, cancel requests and
/// terminal payloads.
pub mod extension;
/// Hostile names, cursors and payloads, generated with proptest.
pub mod hostile;
/// Task ids: validation, verbatim storage, duplicates, generation.
pub mod ids;
/// Create, read, record round trip and delete.
pub mod lifecycle;
/// Total and per-owner task limits.
pub mod limits;
/// Listing order, paging and cursors.
pub mod listing;
/// A seeded mixed load of concurrent workers, then the invariants.
pub mod load;
/// Results and errors, and the payload limit.
pub mod outcomes;
/// Isolation between owners.
pub mod owners;
/// The status machine.
pub mod transitions;
/// Time to live: expiry, clamping, purging.
pub mod ttl;
/// Waiting for changes: wake-ups, timeouts, deletion.
pub mod waiting;

/// Calls the macro `$callback` with every case of the suite, in order, as `module::case` paths
/// under [`cases`](crate::cases), after the tokens given with it:
/// `for_each_case!(my_macro! { args })` expands to
/// `my_macro! { args lifecycle::lifecycle, lifecycle::record_round_trip, ... }`.
///
/// Its source is the one list of the suite's cases, in order: [`CASES`](crate::CASES) and the
/// tests of [`conformance_suite!`](crate::conformance_suite) are both made from it.
#[macro_export]
macro_rules! for_each_case {
    ($($callback:ident)::+ ! { $($args:tt)* }) => {
        $($callback)::+! { $($args)*
            lifecycle::lifecycle,
            lifecycle::record_round_trip,
            lifecycle::delete,
            transitions::transitions_allowed,
            transitions::transitions_forbidden,
            transitions::outcome_must_match_status,
            transitions::message_update_keeps_status,
            transitions::last_updated_strictly_increases,
            cancellation::cancel_working,
            cancellation::cancel_input_required,
            cancellation::cancel_terminal_rejected,
            cancellation::cancel_complete_race,
            cancellation::terminal_race,
            cancellation::cancel_is_sticky,
            extension::input_requests_park_the_task,
            extension::input_keys_never_reused,
            extension::partial_answers_keep_the_rest_pending,
            extension::current_part_of_the_record,
            extension::answers_wake_the_worker,
            extension::input_payload_limit,
            extension::pending_input_blocks_working,
            extension::cancel_request_leaves_the_end_to_the_worker,
            extension::terminal_payloads_as_the_extension_shows_them,
            extension::input_round_race,
            outcomes::outcome_round_trip,
            outcomes::error_result_can_fail,
            outcomes::payload_limit,
            waiting::wait_many_waiters,
            waiting::wait_lost_wakeup,
            waiting::wait_lost_wakeup_concurrent,
            waiting::wait_already_terminal,
            waiting::wait_timeout,
            waiting::wait_sees_message_change,
            waiting::wait_missing_or_deleted,
            listing::list_order,
            listing::list_paging_1000,
            listing::list_cursor_after_delete,
            listing::list_garbage_cursor,
            listing::list_page_size,
            ttl::ttl_expiry,
            ttl::ttl_counts_from_creation,
            ttl::ttl_null,
            ttl::ttl_clamp,
            ttl::ttl_default,
            ttl::purge_expired,
            ttl::wait_ends_at_expiry,
            ttl::list_cursor_after_expiry,
            owners::owner_isolation,
            owners::unbound_tasks_fail_closed,
            owners::cursor_owner_binding,
            limits::limit_per_owner,
            limits::limit_total,
            limits::limits_ignore_expired,
            limits::limits_count_unfinished,
            ids::id_validation,
            ids::odd_ids_verbatim,
            ids::duplicate_id,
            ids::duplicate_id_race,
            ids::create_repeat_is_idempotent,
            ids::create_repeat_race,
            ids::generated_ids_unique,
            concurrency::concurrent_workers,
            concurrency::concurrent_message_updates,
            concurrency::recover_stuck,
            concurrency::touch_keeps_a_task_alive,
            context::context_lifecycle,
            context::execution_records_failures,
            load::mixed_load,
            hostile::hostile_names,
            hostile::hostile_cursors,
            hostile::hostile_payloads,
            hostile::hostile_payload_limit,
            hostile::hostile_nesting,
        }
    };
}

macro_rules! table {
    ($($module:ident :: $name:ident),* $(,)?) => {
        /// Every case, in the order [`for_each_case!`](crate::for_each_case) lists them.
        pub static CASES: &[Case] = &[
            $(Case { name: stringify!($name), run: |factory| Box::pin($module::$name(factory)) }),*
        ];
    };
}

for_each_case!(table! {});

/// A JSON object from a `json!` literal.
fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => Map::from_iter([("value".to_owned(), other)]),
    }
}

async fn open_store(factory: &dyn StoreFactory, config: StoreConfig) -> Arc<dyn TaskStore> {
    factory.make(config).await
}

async fn default_store(factory: &dyn StoreFactory) -> Arc<dyn TaskStore> {
    open_store(factory, StoreConfig::default()).await
}

/// The change that moves a task into `status`, with an outcome where one is needed.
fn change_to(status: TaskStatus, tag: &str) -> TaskChange {
    match status {
        TaskStatus::Working | TaskStatus::InputRequired => {
            TaskChange::status(status, Some(format!("{status} {tag}")))
        }
        TaskStatus::Completed => TaskChange::complete(obj(serde_json::json!({ "tag": tag }))),
        TaskStatus::Failed => TaskChange::fail(format!("failed {tag}")),
        TaskStatus::Cancelled => TaskChange::cancel(),
    }
}

/// A fresh task brought to `status`.
async fn task_in(store: &dyn TaskStore, status: TaskStatus) -> Result<Task, TaskError> {
    let task = store.create(NewTask::new()).await?;
    if status == TaskStatus::Working {
        return Ok(task);
    }
    store
        .update(&Scope::All, &task.task_id, change_to(status, "setup"))
        .await
}

/// Every task visible to `scope`, page by page.
async fn list_all(
    store: &dyn TaskStore,
    scope: &Scope,
    limit: Option<usize>,
) -> Result<Vec<Task>, TaskError> {
    list_from(store, scope, None, limit).await
}

/// Every task visible to `scope` after `cursor` (from the start for `None`), page by page.
async fn list_from(
    store: &dyn TaskStore,
    scope: &Scope,
    mut cursor: Option<String>,
    limit: Option<usize>,
) -> Result<Vec<Task>, TaskError> {
    let mut tasks = Vec::new();
    loop {
        let page = store
            .list(
                scope,
                PageRequest {
                    cursor: cursor.take(),
                    limit,
                },
            )
            .await?;
        tasks.extend(page.tasks);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(tasks),
        }
    }
}
