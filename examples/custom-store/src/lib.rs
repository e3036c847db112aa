//! A [`TaskStore`] written from scratch, the way the author of a new backend would: the
//! records in a plain map under one lock, and everything every store shares taken from
//! [`task_core::backend`]. It passes the whole conformance suite (`tests/conformance.rs`).
//!
//! What the backend module supplies, and where this store uses it:
//!
//! - [`create_task_state`]: checks a [`NewTask`] and builds the record (`create`), and
//!   [`repeated_create`] answers a create whose id is taken;
//! - [`validate`]: the checks every call runs first, so bad input changes nothing;
//! - [`apply_change`]: the status machine and the tasks extension's rules (input requests,
//!   answers, cancel requests) as a compare-and-set on a record (`update`, `recover_stuck`),
//!   stamping `lastUpdatedAt` with [`time::next_update`];
//! - [`PageQuery`]: scope, page size and cursor checked, the page and its cursor built (`list`);
//! - [`wait_for_update`] with an [`UpdateSource`]: the wait loop, its deadline and the wake-up
//!   at expiry (`wait_for_update`);
//! - [`stuck_cutoff`]: which tasks count as stuck (`recover_stuck`).
//!
//! What is left to the store is storage itself: where records live, how a change is made
//! atomic (here: one lock), and how waiters are woken (here: a [`Notify`] per task). Listing
//! sorts every visible task on each call, which a real backend would keep an index for.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), task_core::TaskError> {
//! use custom_store::PlainStore;
//! use task_core::{NewTask, Scope, StoreConfig, TaskStore, TaskStoreExt};
//!
//! let store = PlainStore::new(StoreConfig::default());
//! let task = store.create(NewTask::new().owned_by("alice")).await?;
//! let alice = Scope::owner("alice");
//! store.complete(&alice, &task.task_id, serde_json::Map::new()).await?;
//! assert!(store.get(&alice, &task.task_id).await?.is_terminal());
//! # Ok(()) }
//! ```

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use task_core::backend::{
    self, Applied, ListPosition, PageQuery, UpdateSource, apply_change, create_task_state,
    repeated_create, stuck_cutoff, time, validate,
};
use task_core::{
    LimitKind, NewTask, PageRequest, Scope, StoreConfig, Task, TaskChange, TaskError, TaskOutcome,
    TaskPage, TaskRecord, TaskStore,
};
use tokio::sync::Notify;

/// A [`TaskStore`] in process memory: a map from task id to record, behind one lock.
#[derive(Debug)]
pub struct PlainStore {
    config: StoreConfig,
    tasks: Mutex<HashMap<String, Slot>>,
}

/// One task and the signal its waiters listen to.
#[derive(Debug)]
struct Slot {
    record: TaskRecord,
    changed: Arc<Notify>,
}

impl Slot {
    /// Whether `scope` may see the task at `now`: its owner's, and not expired.
    fn visible(&self, scope: &Scope, now: DateTime<Utc>) -> bool {
        scope.permits(self.record.owner.as_deref()) && !expired(&self.record.task, now)
    }
}

fn expired(task: &Task, now: DateTime<Utc>) -> bool {
    task.expires_at().is_some_and(|at| at <= now)
}

type Tasks = HashMap<String, Slot>;

/// The slot of a task `scope` may see now; a hidden one looks missing.
fn visible<'a>(
    tasks: &'a mut Tasks,
    scope: &Scope,
    task_id: &str,
) -> Result<&'a mut Slot, TaskError> {
    let now = time::now();
    tasks
        .get_mut(task_id)
        .filter(|slot| slot.visible(scope, now))
        .ok_or_else(|| TaskError::not_found(task_id))
}

/// Removes every expired task; returns how many.
fn drop_expired(tasks: &mut Tasks, now: DateTime<Utc>) -> u64 {
    let before = tasks.len();
    tasks.retain(|_, slot| !expired(&slot.record.task, now));
    (before - tasks.len()) as u64
}

impl PlainStore {
    /// An empty store with `config`.
    pub fn new(config: StoreConfig) -> Self {
        PlainStore {
            config,
            tasks: Mutex::new(HashMap::new()),
        }
    }

    // Nothing panics while the lock is held, so a poisoned lock still guards sound data.
    fn lock(&self) -> MutexGuard<'_, Tasks> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_limits(&self, tasks: &Tasks, owner: Option<&str>) -> Result<(), TaskError> {
        // Only unfinished tasks count: a finished one holds nothing up.
        let unfinished = |slot: &&Slot| !slot.record.task.is_terminal();
        if let Some(max) = self.config.max_tasks
            && tasks.values().filter(unfinished).count() as u64 >= max
        {
            let kind = LimitKind::Total;
            return Err(TaskError::LimitExceeded { kind, max });
        }
        if let (Some(max), Some(owner)) = (self.config.max_tasks_per_owner, owner) {
            let owned = tasks
                .values()
                .filter(unfinished)
                .filter(|slot| slot.record.owner.as_deref() == Some(owner))
                .count();
            if owned as u64 >= max {
                let kind = LimitKind::PerOwner;
                return Err(TaskError::LimitExceeded { kind, max });
            }
        }
        Ok(())
    }
}

#[async_trait]
impl TaskStore for PlainStore {
    fn config(&self) -> &StoreConfig {
        &self.config
    }

    async fn create(&self, new: NewTask) -> Result<Task, TaskError> {
        let record = create_task_state(new, &self.config)?;
        let mut tasks = self.lock();
        // Expired tasks neither block their id nor count against the limits.
        drop_expired(&mut tasks, record.task.created_at);
        if let Some(existing) = tasks.get(&record.task.task_id) {
            // The same create repeated gets its task; another gets AlreadyExists.
            return repeated_create(&existing.record, &record);
        }
        let task = record.task.clone();
        self.check_limits(&tasks, record.owner.as_deref())?;
        let changed = Arc::new(Notify::new());
        tasks.insert(task.task_id.clone(), Slot { record, changed });
        Ok(task)
    }

    async fn get(&self, scope: &Scope, task_id: &str) -> Result<Task, TaskError> {
        validate::access(scope, task_id)?;
        Ok(visible(&mut self.lock(), scope, task_id)?
            .record
            .task
            .clone())
    }

    async fn get_record(&self, scope: &Scope, task_id: &str) -> Result<TaskRecord, TaskError> {
        validate::access(scope, task_id)?;
        Ok(visible(&mut self.lock(), scope, task_id)?.record.clone())
    }

    async fn get_result(
        &self,
        scope: &Scope,
        task_id: &str,
    ) -> Result<Option<TaskOutcome>, TaskError> {
        validate::access(scope, task_id)?;
        let mut tasks = self.lock();
        Ok(visible(&mut tasks, scope, task_id)?.record.outcome.clone())
    }

    async fn update(
        &self,
        scope: &Scope,
        task_id: &str,
        change: TaskChange,
    ) -> Result<Task, TaskError> {
        validate::access(scope, task_id)?;
        validate::change(&change, &self.config)?;
        let mut tasks = self.lock();
        let slot = visible(&mut tasks, scope, task_id)?;
        // A change that alters nothing (an answer for no pending key) wakes no one.
        if apply_change(change, task_id, &mut slot.record, time::now())? == Applied::Changed {
            slot.changed.notify_waiters();
        }
        Ok(slot.record.task.clone())
    }

    async fn list(&self, scope: &Scope, page: PageRequest) -> Result<TaskPage, TaskError> {
        let query = PageQuery::new(scope, &page, &self.config)?;
        let now = time::now();
        let tasks = self.lock();
        let mut found: Vec<(ListPosition, &Task)> = tasks
            .values()
            .filter(|slot| slot.visible(scope, now))
            .map(|slot| (ListPosition::after(&slot.record.task), &slot.record.task))
            .filter(|(position, _)| query.after.as_ref().is_none_or(|after| position > after))
            .collect();
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let page = found
            .into_iter()
            .take(query.fetch())
            .map(|(_, task)| task.clone())
            .collect();
        Ok(query.page(page))
    }

    async fn delete(&self, scope: &Scope, task_id: &str) -> Result<bool, TaskError> {
        validate::access(scope, task_id)?;
        let mut tasks = self.lock();
        if visible(&mut tasks, scope, task_id).is_err() {
            return Ok(false);
        }
        if let Some(slot) = tasks.remove(task_id) {
            // Its waiters read again and find it gone.
            slot.changed.notify_waiters();
        }
        Ok(true)
    }

    async fn wait_for_update(
        &self,
        scope: &Scope,
        task_id: &str,
        seen: DateTime<Utc>,
        timeout: Option<Duration>,
    ) -> Result<Task, TaskError> {
        validate::access(scope, task_id)?;
        let mut waiter = Waiter {
            store: self,
            scope,
            task_id,
        };
        // No poll: every change goes through this store, which signals it.
        backend::wait_for_update(&mut waiter, seen, timeout, None).await
    }

    async fn notify_update(&self, task_id: &str) -> Result<(), TaskError> {
        validate::task_id(task_id)?;
        if let Some(slot) = self.lock().get(task_id) {
            slot.changed.notify_waiters();
        }
        Ok(())
    }

    async fn purge_expired(&self) -> Result<u64, TaskError> {
        Ok(drop_expired(&mut self.lock(), time::now()))
    }

    async fn recover_stuck(&self, older_than: Duration, message: &str) -> Result<u64, TaskError> {
        validate::message(message, self.config.max_payload_bytes)?;
        let now = time::now();
        let cutoff = stuck_cutoff(now, older_than);
        let mut recovered = 0;
        for (task_id, slot) in self.lock().iter_mut() {
            let task = &slot.record.task;
            if !slot.visible(&Scope::All, now)
                || task.is_terminal()
                || task.last_updated_at >= cutoff
            {
                continue;
            }
            let change = TaskChange::fail(message);
            if apply_change(change, task_id, &mut slot.record, now).is_ok() {
                slot.changed.notify_waiters();
                recovered += 1;
            }
        }
        Ok(recovered)
    }
}

/// One waiter: how the shared wait loop is woken for its task and reads it.
struct Waiter<'a> {
    store: &'a PlainStore,
    scope: &'a Scope,
    task_id: &'a str,
}

impl UpdateSource for Waiter<'_> {
    async fn arm(&mut self) -> Result<Arc<Notify>, TaskError> {
        let mut tasks = self.store.lock();
        Ok(visible(&mut tasks, self.scope, self.task_id)?
            .changed
            .clone())
    }

    async fn read(&mut self, _woken: bool) -> Result<Task, TaskError> {
        self.store.get(self.scope, self.task_id).await
    }
}
