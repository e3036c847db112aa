//! In-memory [`TaskStore`]: the reference backend.
//!
//! - get and update are O(1): one hash lookup under a lock;
//! - list is O(log n + page): a keyset range scan of a B-tree ordered by (createdAt, id);
//! - expired tasks are invisible at once and reclaimed from an expiry-ordered B-tree on each
//!   create and by [`TaskStore::purge_expired`], never by scanning every task;
//! - waiters sleep on a per-task [`tokio::sync::Notify`].
//!
//! Nothing survives the process; use the SQLite or Redis store for that.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), task_core::TaskError> {
//! use task_core::{NewTask, Scope, StoreConfig, TaskStore, TaskStoreExt};
//! use task_store_memory::MemoryTaskStore;
//!
//! let store = MemoryTaskStore::new(StoreConfig::default());
//! let task = store.create(NewTask::new()).await?;
//! store.complete(&Scope::All, &task.task_id, serde_json::Map::new()).await?;
//! assert!(store.get(&Scope::All, &task.task_id).await?.is_terminal());
//! # Ok(()) }
//! ```

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use task_core::{
    Capabilities, LimitKind, ListPosition, NewTask, PageRequest, Scope, StoreConfig, Task,
    TaskChange, TaskError, TaskOutcome, TaskPage, TaskRecord, TaskStore, create_task_state, time,
    validate,
};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Position of a task in a listing index: creation time in ms, then id.
type Key = (i64, Arc<str>);

/// A [`TaskStore`] that keeps everything in process memory.
#[derive(Debug)]
pub struct MemoryTaskStore {
    config: StoreConfig,
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    tasks: HashMap<Arc<str>, Entry>,
    /// Every task, in listing order.
    order: BTreeSet<Key>,
    /// Each owner's tasks, in listing order.
    by_owner: HashMap<String, BTreeSet<Key>>,
    /// Tasks with a ttl, by expiry instant in ms.
    expiry: BTreeSet<(i64, Arc<str>)>,
}

#[derive(Debug)]
struct Entry {
    id: Arc<str>,
    record: TaskRecord,
    /// Created by the first waiter.
    waiters: Option<Arc<Notify>>,
}

impl Entry {
    fn key(&self) -> Key {
        (
            self.record.task.created_at.timestamp_millis(),
            self.id.clone(),
        )
    }

    fn expires_ms(&self) -> Option<i64> {
        self.record.task.expires_at().map(|t| t.timestamp_millis())
    }

    fn visible(&self, scope: &Scope, now_ms: i64) -> bool {
        scope.permits(self.record.owner.as_deref())
            && self.expires_ms().is_none_or(|at| now_ms < at)
    }

    fn wake(&self) {
        if let Some(waiters) = &self.waiters {
            waiters.notify_waiters();
        }
    }
}

impl State {
    fn entry(&self, scope: &Scope, task_id: &str, now_ms: i64) -> Result<&Entry, TaskError> {
        self.tasks
            .get(task_id)
            .filter(|e| e.visible(scope, now_ms))
            .ok_or_else(|| TaskError::not_found(task_id))
    }

    fn entry_mut(
        &mut self,
        scope: &Scope,
        task_id: &str,
        now_ms: i64,
    ) -> Result<&mut Entry, TaskError> {
        self.tasks
            .get_mut(task_id)
            .filter(|e| e.visible(scope, now_ms))
            .ok_or_else(|| TaskError::not_found(task_id))
    }

    fn insert(&mut self, record: TaskRecord) {
        let id: Arc<str> = Arc::from(record.task.task_id.as_str());
        let entry = Entry {
            id: id.clone(),
            record,
            waiters: None,
        };
        let key = entry.key();
        if let Some(at) = entry.expires_ms() {
            self.expiry.insert((at, id.clone()));
        }
        if let Some(owner) = &entry.record.owner {
            self.by_owner
                .entry(owner.clone())
                .or_default()
                .insert(key.clone());
        }
        self.order.insert(key);
        self.tasks.insert(id, entry);
    }

    fn remove(&mut self, task_id: &str) -> Option<Entry> {
        let entry = self.tasks.remove(task_id)?;
        let key = entry.key();
        self.order.remove(&key);
        if let Some(owner) = &entry.record.owner
            && let Some(keys) = self.by_owner.get_mut(owner)
        {
            keys.remove(&key);
            if keys.is_empty() {
                self.by_owner.remove(owner);
            }
        }
        if let Some(at) = entry.expires_ms() {
            self.expiry.remove(&(at, entry.id.clone()));
        }
        entry.wake();
        Some(entry)
    }

    /// Removes every task expired at `now_ms`; costs O(log n) per removed task.
    fn sweep(&mut self, now_ms: i64) -> u64 {
        let mut removed = 0;
        while let Some((at, id)) = self.expiry.first().cloned() {
            if at > now_ms {
                break;
            }
            self.remove(&id);
            removed += 1;
        }
        removed
    }

    fn check_limits(&self, config: &StoreConfig, owner: Option<&str>) -> Result<(), TaskError> {
        if let Some(max) = config.max_tasks
            && self.tasks.len() as u64 >= max
        {
            return Err(TaskError::LimitExceeded {
                kind: LimitKind::Total,
                max,
            });
        }
        if let (Some(max), Some(owner)) = (config.max_tasks_per_owner, owner) {
            let live = self.by_owner.get(owner).map_or(0, BTreeSet::len);
            if live as u64 >= max {
                return Err(TaskError::LimitExceeded {
                    kind: LimitKind::PerOwner,
                    max,
                });
            }
        }
        Ok(())
    }
}

impl MemoryTaskStore {
    /// An empty store with `config`.
    pub fn new(config: StoreConfig) -> Self {
        MemoryTaskStore {
            config,
            state: RwLock::new(State::default()),
        }
    }

    /// Number of tasks held, expired ones not yet reclaimed included.
    pub fn len(&self) -> usize {
        self.read().tasks.len()
    }

    /// Whether the store holds no task.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // No code panics while holding the lock, so a poisoned lock still guards consistent data.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryTaskStore {
    fn default() -> Self {
        MemoryTaskStore::new(StoreConfig::default())
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

#[async_trait]
impl TaskStore for MemoryTaskStore {
    fn config(&self) -> &StoreConfig {
        &self.config
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn create(&self, new: NewTask) -> Result<Task, TaskError> {
        let record = create_task_state(new, &self.config)?;
        let task = record.task.clone();
        let mut state = self.write();
        state.sweep(now_ms());
        if state.tasks.contains_key(task.task_id.as_str()) {
            return Err(TaskError::AlreadyExists {
                task_id: task.task_id,
            });
        }
        state.check_limits(&self.config, record.owner.as_deref())?;
        state.insert(record);
        Ok(task)
    }

    async fn get(&self, scope: &Scope, task_id: &str) -> Result<Task, TaskError> {
        validate::access(scope, task_id)?;
        let state = self.read();
        Ok(state.entry(scope, task_id, now_ms())?.record.task.clone())
    }

    async fn get_record(&self, scope: &Scope, task_id: &str) -> Result<TaskRecord, TaskError> {
        validate::access(scope, task_id)?;
        let state = self.read();
        Ok(state.entry(scope, task_id, now_ms())?.record.clone())
    }

    async fn get_result(
        &self,
        scope: &Scope,
        task_id: &str,
    ) -> Result<Option<TaskOutcome>, TaskError> {
        validate::access(scope, task_id)?;
        let state = self.read();
        Ok(state
            .entry(scope, task_id, now_ms())?
            .record
            .outcome
            .clone())
    }

    async fn update(
        &self,
        scope: &Scope,
        task_id: &str,
        change: TaskChange,
    ) -> Result<Task, TaskError> {
        validate::access(scope, task_id)?;
        validate::change(&change, &self.config)?;
        let mut state = self.write();
        let entry = state.entry_mut(scope, task_id, now_ms())?;
        change.apply(&mut entry.record, time::now())?;
        entry.wake();
        Ok(entry.record.task.clone())
    }

    async fn list(&self, scope: &Scope, page: PageRequest) -> Result<TaskPage, TaskError> {
        scope.validate()?;
        let limit = self.config.page_limit(page.limit)?;
        let start = match &page.cursor {
            Some(cursor) => {
                let position = ListPosition::decode(cursor, scope)?;
                Bound::Excluded((position.created_at_ms, Arc::from(position.task_id)))
            }
            None => Bound::Unbounded,
        };
        let state = self.read();
        let now = now_ms();
        let empty = BTreeSet::new();
        let index = match scope {
            Scope::All => &state.order,
            Scope::Owner(owner) => state.by_owner.get(owner).unwrap_or(&empty),
        };
        let mut tasks: Vec<Task> = index
            .range((start, Bound::Unbounded))
            .filter_map(|(_, id)| state.tasks.get(id))
            .filter(|entry| entry.visible(scope, now))
            .take(limit + 1)
            .map(|entry| entry.record.task.clone())
            .collect();
        let next_cursor = if tasks.len() > limit {
            tasks.truncate(limit);
            tasks.last().map(|t| ListPosition::after(t).encode(scope))
        } else {
            None
        };
        Ok(TaskPage { tasks, next_cursor })
    }

    async fn delete(&self, scope: &Scope, task_id: &str) -> Result<bool, TaskError> {
        validate::access(scope, task_id)?;
        let mut state = self.write();
        if state.entry(scope, task_id, now_ms()).is_err() {
            return Ok(false);
        }
        Ok(state.remove(task_id).is_some())
    }

    async fn wait_for_update(
        &self,
        scope: &Scope,
        task_id: &str,
        seen: DateTime<Utc>,
        timeout: Option<Duration>,
    ) -> Result<Task, TaskError> {
        validate::access(scope, task_id)?;
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            // Register interest first, then check: a change after the check wakes the
            // registered waiter, and a change before it is seen by the check.
            let waiters = {
                let mut state = self.write();
                let entry = state.entry_mut(scope, task_id, now_ms())?;
                entry.waiters.get_or_insert_default().clone()
            };
            let notified = waiters.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let expires_at = {
                let state = self.read();
                let task = &state.entry(scope, task_id, now_ms())?.record.task;
                if task.last_updated_at > seen || task.is_terminal() {
                    return Ok(task.clone());
                }
                task.expires_at()
            };
            let expiry = expires_at.and_then(|at| {
                let left = (at - Utc::now()).to_std().unwrap_or_default();
                Instant::now().checked_add(left)
            });
            let wake_at = match (deadline, expiry) {
                (Some(d), Some(e)) => Some(d.min(e)),
                (d, e) => d.or(e),
            };
            match wake_at {
                Some(at) => {
                    let _ = tokio::time::timeout_at(at, notified).await;
                }
                None => notified.await,
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return self.get(scope, task_id).await;
            }
        }
    }

    async fn notify_update(&self, task_id: &str) -> Result<(), TaskError> {
        validate::task_id(task_id)?;
        if let Some(entry) = self.read().tasks.get(task_id) {
            entry.wake();
        }
        Ok(())
    }

    async fn purge_expired(&self) -> Result<u64, TaskError> {
        Ok(self.write().sweep(now_ms()))
    }

    async fn recover_stuck(&self, older_than: Duration, message: &str) -> Result<u64, TaskError> {
        validate::message(message, self.config.max_payload_bytes)?;
        let now = time::now();
        let cutoff = chrono::Duration::from_std(older_than)
            .ok()
            .and_then(|age| now.checked_sub_signed(age))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let mut state = self.write();
        let now_ms = now.timestamp_millis();
        let mut recovered = 0;
        for entry in state.tasks.values_mut() {
            let task = &entry.record.task;
            if task.is_terminal()
                || task.last_updated_at >= cutoff
                || !entry.visible(&Scope::All, now_ms)
            {
                continue;
            }
            if TaskChange::fail(message)
                .apply(&mut entry.record, now)
                .is_ok()
            {
                entry.wake();
                recovered += 1;
            }
        }
        Ok(recovered)
    }
}
