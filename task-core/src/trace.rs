//! Spans for store calls, from the [`tracing`] crate.
//!
//! [`TracedStore`] wraps any store so that each call runs in a DEBUG span named `store`, of
//! target [`TARGET`], and ends with a DEBUG event `done` in that span, which carries the
//! span's fields and the call's `elapsed` time; `task_store::open` wraps every store it opens.
//! The fields say who and what, never a payload or a secret, so they are safe to ship to any
//! log collector:
//!
//! | field | value |
//! |---|---|
//! | `call` | the method: `create`, `get`, `update`, … |
//! | `task_id` | the task's id, when the call names one (for `create`, the id it made) |
//! | `owner` | the owner the call is scoped to; absent for trusted access ([`Scope::All`]) |
//! | `outcome` | `ok`, or the error's [`TaskError::kind`] |
//! | `retry` | for a backend error, what a retry can do ([`Retry::as_str`](crate::Retry::as_str)) |
//! | `count` | for `list`, `purge_expired` and `recover_stuck`, how many tasks |
//!
//! Status messages, results, errors' messages, requests and input responses never reach a
//! span, and neither does a store's URL.
//!
//! ```
//! # async fn demo<S: task_core::TaskStore>(store: S) {
//! use task_core::{Scope, TaskStore, TracedStore};
//! let store = TracedStore::new(store);
//! // Printed by a `tracing_subscriber::fmt` subscriber as
//! // DEBUG store{call="get" task_id="t1" owner="alice" outcome="not_found"}: task_store: done elapsed=…
//! let _ = store.get(&Scope::owner("alice"), "t1").await;
//! # }
//! ```

use crate::config::StoreConfig;
use crate::error::TaskError;
use crate::record::{CurrentTask, NewTask, TaskOutcome, TaskRecord};
use crate::status::TaskChange;
use crate::store::{Capabilities, PageRequest, Scope, TaskPage, TaskStore};
use crate::wire::Task;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};
use tracing::field::Empty;
use tracing::{Instrument, Span};

/// The target of the store spans, for `RUST_LOG` filters such as `task_store=debug`.
pub const TARGET: &str = "task_store";

/// `ok`, or the error's [`TaskError::kind`]: the `outcome` field of every span.
pub fn outcome<T>(result: &Result<T, TaskError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => error.kind(),
    }
}

/// A store whose every call runs in a DEBUG span of target [`TARGET`], with the fields the
/// [module](self) lists, and ends with a `done` event. It answers exactly as the store it
/// wraps, and its debug form is that store's.
#[derive(Clone)]
pub struct TracedStore<S> {
    inner: S,
}

impl<S> TracedStore<S> {
    /// Traces the calls of `inner`.
    pub fn new(inner: S) -> Self {
        TracedStore { inner }
    }

    /// The store underneath.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the store underneath.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for TracedStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

fn span(call: &'static str, task_id: Option<&str>, owner: Option<&str>) -> Span {
    tracing::debug_span!(
        target: TARGET,
        "store",
        call,
        task_id,
        owner,
        outcome = Empty,
        retry = Empty,
        count = Empty,
    )
}

/// Runs `call` in `span`, records its outcome there (and what `describe` reads off a
/// success), and ends with a `done` event in the span that carries its fields and the call's
/// `elapsed` time. The event, not the span's close, reports the call: a driver may hold the
/// span a little longer.
async fn traced<T>(
    span: Span,
    call: impl Future<Output = Result<T, TaskError>>,
    describe: impl FnOnce(&Span, &T),
) -> Result<T, TaskError> {
    let started = Instant::now();
    let result = call.instrument(span.clone()).await;
    span.record("outcome", outcome(&result));
    match &result {
        Ok(value) => describe(&span, value),
        Err(error @ TaskError::Backend { .. }) => {
            span.record("retry", error.retry().as_str());
        }
        Err(_) => {}
    }
    tracing::debug!(target: TARGET, parent: &span, elapsed = ?started.elapsed(), "done");
    result
}

/// For calls whose success adds no field.
fn nothing<T>(_: &Span, _: &T) {}

/// For calls that count tasks.
fn count(span: &Span, count: &u64) {
    span.record("count", count);
}

#[async_trait]
impl<S: TaskStore> TaskStore for TracedStore<S> {
    fn config(&self) -> &StoreConfig {
        self.inner.config()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn create(&self, new: NewTask) -> Result<Task, TaskError> {
        let span = span("create", new.task_id.as_deref(), new.owner.as_deref());
        traced(span, self.inner.create(new), |span, task| {
            span.record("task_id", task.task_id.as_str());
        })
        .await
    }

    async fn get(&self, scope: &Scope, task_id: &str) -> Result<Task, TaskError> {
        let span = span("get", Some(task_id), scope.owner_name());
        traced(span, self.inner.get(scope, task_id), nothing).await
    }

    async fn get_record(&self, scope: &Scope, task_id: &str) -> Result<TaskRecord, TaskError> {
        let span = span("get_record", Some(task_id), scope.owner_name());
        traced(span, self.inner.get_record(scope, task_id), nothing).await
    }

    async fn get_current(
        &self,
        scope: &Scope,
        task_id: &str,
        answer_to: Option<&str>,
    ) -> Result<CurrentTask, TaskError> {
        let span = span("get_current", Some(task_id), scope.owner_name());
        let get = self.inner.get_current(scope, task_id, answer_to);
        traced(span, get, nothing).await
    }

    async fn get_result(
        &self,
        scope: &Scope,
        task_id: &str,
    ) -> Result<Option<TaskOutcome>, TaskError> {
        let span = span("get_result", Some(task_id), scope.owner_name());
        traced(span, self.inner.get_result(scope, task_id), nothing).await
    }

    async fn update(
        &self,
        scope: &Scope,
        task_id: &str,
        change: TaskChange,
    ) -> Result<Task, TaskError> {
        let span = span("update", Some(task_id), scope.owner_name());
        traced(span, self.inner.update(scope, task_id, change), nothing).await
    }

    async fn list(&self, scope: &Scope, page: PageRequest) -> Result<TaskPage, TaskError> {
        let span = span("list", None, scope.owner_name());
        traced(span, self.inner.list(scope, page), |span, page| {
            span.record("count", page.tasks.len());
        })
        .await
    }

    async fn delete(&self, scope: &Scope, task_id: &str) -> Result<bool, TaskError> {
        let span = span("delete", Some(task_id), scope.owner_name());
        traced(span, self.inner.delete(scope, task_id), nothing).await
    }

    async fn wait_for_update(
        &self,
        scope: &Scope,
        task_id: &str,
        seen: DateTime<Utc>,
        timeout: Option<Duration>,
    ) -> Result<Task, TaskError> {
        let span = span("wait_for_update", Some(task_id), scope.owner_name());
        let wait = self.inner.wait_for_update(scope, task_id, seen, timeout);
        traced(span, wait, nothing).await
    }

    async fn notify_update(&self, task_id: &str) -> Result<(), TaskError> {
        let span = span("notify_update", Some(task_id), None);
        traced(span, self.inner.notify_update(task_id), nothing).await
    }

    async fn purge_expired(&self) -> Result<u64, TaskError> {
        let span = span("purge_expired", None, None);
        traced(span, self.inner.purge_expired(), count).await
    }

    async fn recover_stuck(&self, older_than: Duration, message: &str) -> Result<u64, TaskError> {
        let span = span("recover_stuck", None, None);
        let recover = self.inner.recover_stuck(older_than, message);
        traced(span, recover, count).await
    }
}
