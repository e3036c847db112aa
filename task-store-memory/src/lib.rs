//! In-memory [`TaskStore`]: the reference backend.
//!
//! - get and update are O(1): one hash lookup under a lock, with a fast hasher (foldhash, seeded
//!   per process);
//! - list is O(log n + page): a keyset range scan of a B-tree ordered by (createdAt, id), one
//!   per owner; the index of all tasks, for [`Scope::All`], is built by the first such listing
//!   (O(n log n), once), so that servers that list only per owner never maintain it;
//! - expired tasks are invisible at once and reclaimed from an expiry queue on each create and
//!   by [`TaskStore::purge_expired`], never by scanning every task;
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

mod clock;
mod index;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clock::Now;
use index::{ExpiryQueue, Key, TaskKey};
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use task_core::backend::{
    self, Applied, PageQuery, UpdateSource, apply_change, create_task_state, repeated_create,
    stuck_cutoff, time, validate,
};
use task_core::{
    Capabilities, CurrentTask, LimitKind, NewTask, PageRequest, Scope, StoreConfig, Task,
    TaskChange, TaskError, TaskOutcome, TaskPage, TaskRecord, TaskStore,
};
use tokio::sync::Notify;

/// A hash map with foldhash: several times faster than SipHash on task ids, and randomly seeded.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A [`TaskStore`] that keeps everything in process memory.
#[derive(Debug)]
pub struct MemoryTaskStore {
    config: StoreConfig,
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    tasks: FastMap<TaskKey, Entry>,
    /// Every task, in listing order, once a [`Scope::All`] listing has asked for it.
    all: Option<BTreeSet<Key>>,
    /// Each owner's tasks, in listing order. The key is the one copy of the owner's name that
    /// all its tasks share.
    by_owner: FastMap<Arc<str>, BTreeSet<Key>>,
    /// Tasks with a ttl, soonest expiry first.
    expiry: ExpiryQueue,
    /// Unfinished tasks (`working` or `input_required`): what `max_tasks` counts.
    unfinished: u64,
    /// Each owner's unfinished tasks: what `max_tasks_per_owner` counts. Owners with none
    /// have no entry.
    unfinished_by_owner: FastMap<Arc<str>, u64>,
}

#[derive(Debug)]
struct Entry {
    /// The id, shared by the task's index entries.
    id: Arc<str>,
    /// The owner's shared name (a key of `by_owner`). The stored record's own `owner` is `None`
    /// and its task id empty, so that a task carries no extra copies; [`Entry::record`] puts
    /// both back.
    owner: Option<Arc<str>>,
    /// Creation time plus ttl, in ms.
    expires_ms: Option<i64>,
    record: TaskRecord,
    /// Created by the first waiter.
    waiters: Option<Arc<Notify>>,
}

impl Entry {
    fn key(&self) -> Key {
        let created_ms = self.record.task.created_at.timestamp_millis();
        Key::new(created_ms, self.id.clone())
    }

    fn visible(&self, scope: &Scope, now: &Now) -> bool {
        let owned = match scope {
            Scope::All => true,
            Scope::Owner(owner) => self.owner.as_deref() == Some(owner.as_str()),
        };
        owned && self.expires_ms.is_none_or(|at| now.before(at))
    }

    /// The task, its id copied from `id` (the key of the lookup, already in cache) rather than
    /// from the stored copy.
    fn task(&self, id: &str) -> Task {
        let task = &self.record.task;
        Task {
            task_id: id.to_owned(),
            status: task.status,
            status_message: task.status_message.clone(),
            created_at: task.created_at,
            last_updated_at: task.last_updated_at,
            ttl: task.ttl,
            poll_interval: task.poll_interval,
        }
    }

    /// The whole record, id and owner included.
    fn record(&self) -> TaskRecord {
        let mut record = self.record.clone();
        record.task.task_id = self.id.to_string();
        record.owner = self.owner.as_deref().map(str::to_owned);
        record
    }

    fn wake(&self) {
        if let Some(waiters) = &self.waiters {
            waiters.notify_waiters();
        }
    }
}

impl State {
    fn entry(&self, scope: &Scope, task_id: &str, now: &Now) -> Result<&Entry, TaskError> {
        self.tasks
            .get(task_id)
            .filter(|e| e.visible(scope, now))
            .ok_or_else(|| TaskError::not_found(task_id))
    }

    fn entry_mut(
        &mut self,
        scope: &Scope,
        task_id: &str,
        now: &Now,
    ) -> Result<&mut Entry, TaskError> {
        self.tasks
            .get_mut(task_id)
            .filter(|e| e.visible(scope, now))
            .ok_or_else(|| TaskError::not_found(task_id))
    }

    fn insert(&mut self, id: Arc<str>, mut record: TaskRecord) {
        let owner =
            record
                .owner
                .take()
                .map(|owner| match self.by_owner.get_key_value(owner.as_str()) {
                    Some((shared, _)) => shared.clone(),
                    None => Arc::from(owner),
                });
        let entry = Entry {
            id: id.clone(),
            owner,
            // As `Task::expires_at`, whose calendar arithmetic the capped ttl never needs.
            expires_ms: record.task.ttl.map(|ttl| {
                let ttl = i64::try_from(ttl).unwrap_or(i64::MAX);
                record
                    .task
                    .created_at
                    .timestamp_millis()
                    .saturating_add(ttl)
            }),
            record,
            waiters: None,
        };
        let key = entry.key();
        if let Some(at) = entry.expires_ms {
            self.expiry.push(at, id.clone());
        }
        if let Some(owner) = &entry.owner {
            match self.by_owner.get_mut(&**owner) {
                Some(keys) => {
                    keys.insert(key.clone());
                }
                None => {
                    self.by_owner
                        .insert(owner.clone(), BTreeSet::from([key.clone()]));
                }
            }
        }
        if let Some(all) = &mut self.all {
            all.insert(key);
        }
        if !entry.record.task.is_terminal() {
            self.started(entry.owner.as_ref());
        }
        self.tasks.insert(TaskKey::new(&id), entry);
    }

    /// Counts a new unfinished task of `owner`.
    fn started(&mut self, owner: Option<&Arc<str>>) {
        self.unfinished += 1;
        if let Some(owner) = owner {
            *self.unfinished_by_owner.entry(owner.clone()).or_default() += 1;
        }
    }

    /// Stops counting an unfinished task of `owner`: it ended or is gone.
    fn ended(&mut self, owner: Option<&Arc<str>>) {
        self.unfinished = self.unfinished.saturating_sub(1);
        if let Some(owner) = owner
            && let Some(count) = self.unfinished_by_owner.get_mut(owner)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.unfinished_by_owner.remove(owner);
            }
        }
    }

    fn remove(&mut self, task_id: &str) -> Option<Entry> {
        let entry = self.tasks.remove(task_id)?;
        let key = entry.key();
        if let Some(all) = &mut self.all {
            all.remove(&key);
        }
        if let Some(owner) = &entry.owner
            && let Some(keys) = self.by_owner.get_mut(owner)
        {
            keys.remove(&key);
            if keys.is_empty() {
                self.by_owner.remove(owner);
            }
        }
        if !entry.record.task.is_terminal() {
            self.ended(entry.owner.as_ref());
        }
        if entry.expires_ms.is_some() {
            let tasks = &self.tasks;
            self.expiry.forget(|| {
                let live = tasks
                    .values()
                    .filter_map(|e| Some((e.expires_ms?, e.id.clone())));
                live.collect()
            });
        }
        entry.wake();
        Some(entry)
    }

    /// Removes every task expired at `now_ms`; costs O(log n) per removed task.
    fn sweep(&mut self, now_ms: i64) -> u64 {
        let mut removed = 0;
        while let Some((at, id)) = self.expiry.pop_due(now_ms) {
            // A deleted task's entry stays in the queue; skip it.
            let id = &*id;
            let current = self.tasks.get(id).is_some_and(|e| e.expires_ms == Some(at));
            if current && self.remove(id).is_some() {
                removed += 1;
            }
        }
        removed
    }

    /// Refuses a new task of `owner` when it would exceed a limit. Only unfinished tasks
    /// count; the caller has swept expired ones first.
    fn check_limits(&self, config: &StoreConfig, owner: Option<&str>) -> Result<(), TaskError> {
        if let Some(max) = config.max_tasks
            && self.unfinished >= max
        {
            return Err(TaskError::LimitExceeded {
                kind: LimitKind::Total,
                max,
            });
        }
        if let (Some(max), Some(owner)) = (config.max_tasks_per_owner, owner) {
            let unfinished = self.unfinished_by_owner.get(owner).copied().unwrap_or(0);
            if unfinished >= max {
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

#[async_trait]
impl TaskStore for MemoryTaskStore {
    fn config(&self) -> &StoreConfig {
        &self.config
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn create(&self, new: NewTask) -> Result<Task, TaskError> {
        let mut record = create_task_state(new, &self.config)?;
        let id: Arc<str> = Arc::from(record.task.task_id.as_str());
        let mut state = self.write();
        state.sweep(record.task.created_at.timestamp_millis());
        if let Some(existing) = state.tasks.get(&*id) {
            return repeated_create(&existing.record(), &record);
        }
        state.check_limits(&self.config, record.owner.as_deref())?;
        // The answer takes the id; the stored record keeps none (see `Entry::record`).
        let task_id = std::mem::take(&mut record.task.task_id);
        let task = Task {
            task_id,
            ..record.task.clone()
        };
        state.insert(id, record);
        Ok(task)
    }

    async fn get(&self, scope: &Scope, task_id: &str) -> Result<Task, TaskError> {
        validate::access(scope, task_id)?;
        let now = Now::lazy();
        let state = self.read();
        Ok(state.entry(scope, task_id, &now)?.task(task_id))
    }

    async fn get_record(&self, scope: &Scope, task_id: &str) -> Result<TaskRecord, TaskError> {
        validate::access(scope, task_id)?;
        let state = self.read();
        Ok(state.entry(scope, task_id, &Now::lazy())?.record())
    }

    async fn get_current(
        &self,
        scope: &Scope,
        task_id: &str,
        answer_to: Option<&str>,
    ) -> Result<CurrentTask, TaskError> {
        validate::access(scope, task_id)?;
        let state = self.read();
        let entry = state.entry(scope, task_id, &Now::lazy())?;
        // Copies only what is current: the keys used and the answers given grow with every
        // round of input, and the work reads this each round.
        let record = &entry.record;
        Ok(CurrentTask {
            task: entry.task(task_id),
            cancel_requested: record.cancel_requested,
            outcome: record.outcome.clone(),
            input_requests: record.input_requests.clone(),
            answer: answer_to.and_then(|key| record.input_responses.get(key).cloned()),
        })
    }

    async fn get_result(
        &self,
        scope: &Scope,
        task_id: &str,
    ) -> Result<Option<TaskOutcome>, TaskError> {
        validate::access(scope, task_id)?;
        let state = self.read();
        Ok(state
            .entry(scope, task_id, &Now::lazy())?
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
        let now = Now::precise();
        let mut state = self.write();
        let entry = state.entry_mut(scope, task_id, &now)?;
        let applied = apply_change(
            change,
            task_id,
            &mut entry.record,
            time::from_millis(now.ms()),
        )?;
        let task = entry.task(task_id);
        if applied == Applied::Unchanged {
            return Ok(task);
        }
        // Woken once the lock is released, so that a waiter does not wake only to wait for it.
        // None is missed: a waiter listens before it reads, and reads under the lock.
        let waiters = entry.waiters.clone();
        // Only an unfinished task changes; a terminal one now has ended.
        if task.is_terminal() {
            let owner = entry.owner.clone();
            state.ended(owner.as_ref());
        }
        drop(state);
        if let Some(waiters) = waiters {
            waiters.notify_waiters();
        }
        Ok(task)
    }

    async fn list(&self, scope: &Scope, page: PageRequest) -> Result<TaskPage, TaskError> {
        let query = PageQuery::new(scope, &page, &self.config)?;
        let start = match &query.after {
            Some(position) => {
                let id = Arc::from(position.task_id.as_str());
                Bound::Excluded(Key::new(position.created_at_ms, id))
            }
            None => Bound::Unbounded,
        };
        if *scope == Scope::All && self.read().all.is_none() {
            let mut state = self.write();
            if state.all.is_none() {
                state.all = Some(state.tasks.values().map(Entry::key).collect());
            }
        }
        let state = self.read();
        let now = Now::lazy();
        let empty = BTreeSet::new();
        let index = match scope {
            Scope::All => state.all.as_ref().unwrap_or(&empty),
            Scope::Owner(owner) => state.by_owner.get(owner.as_str()).unwrap_or(&empty),
        };
        let tasks: Vec<Task> = index
            .range((start, Bound::Unbounded))
            .filter_map(|key| {
                let id = key.id();
                state.tasks.get(id).map(|entry| (id, entry))
            })
            .filter(|(_, entry)| entry.visible(scope, &now))
            .take(query.fetch())
            .map(|(id, entry)| entry.task(id))
            .collect();
        Ok(query.page(tasks))
    }

    async fn delete(&self, scope: &Scope, task_id: &str) -> Result<bool, TaskError> {
        validate::access(scope, task_id)?;
        let mut state = self.write();
        if state.entry(scope, task_id, &Now::precise()).is_err() {
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
        let mut source = Waiter {
            store: self,
            scope,
            task_id,
        };
        backend::wait_for_update(&mut source, seen, timeout, None).await
    }

    async fn notify_update(&self, task_id: &str) -> Result<(), TaskError> {
        validate::task_id(task_id)?;
        if let Some(entry) = self.read().tasks.get(task_id) {
            entry.wake();
        }
        Ok(())
    }

    async fn purge_expired(&self) -> Result<u64, TaskError> {
        Ok(self.write().sweep(clock::precise_ms()))
    }

    async fn recover_stuck(&self, older_than: Duration, message: &str) -> Result<u64, TaskError> {
        validate::message(message, self.config.max_payload_bytes)?;
        let clock = Now::precise();
        let now = time::from_millis(clock.ms());
        let cutoff = stuck_cutoff(now, older_than);
        let mut state = self.write();
        let mut ended = Vec::new();
        for entry in state.tasks.values_mut() {
            let task = &entry.record.task;
            if task.is_terminal()
                || task.last_updated_at >= cutoff
                || !entry.visible(&Scope::All, &clock)
            {
                continue;
            }
            if apply_change(TaskChange::fail(message), &entry.id, &mut entry.record, now).is_ok() {
                entry.wake();
                ended.push(entry.owner.clone());
            }
        }
        for owner in &ended {
            state.ended(owner.as_ref());
        }
        Ok(ended.len() as u64)
    }
}

/// One waiter's view of its task, for the shared wait loop.
struct Waiter<'a> {
    store: &'a MemoryTaskStore,
    scope: &'a Scope,
    task_id: &'a str,
}

impl UpdateSource for Waiter<'_> {
    async fn arm(&mut self) -> Result<Arc<Notify>, TaskError> {
        // Once a waiter made the task's signal, later ones share it under the read lock.
        {
            let state = self.store.read();
            let entry = state.entry(self.scope, self.task_id, &Now::lazy())?;
            if let Some(waiters) = &entry.waiters {
                return Ok(waiters.clone());
            }
        }
        let mut state = self.store.write();
        let entry = state.entry_mut(self.scope, self.task_id, &Now::lazy())?;
        Ok(entry.waiters.get_or_insert_default().clone())
    }

    async fn read(&mut self, _woken: bool) -> Result<Task, TaskError> {
        let state = self.store.read();
        Ok(state
            .entry(self.scope, self.task_id, &Now::lazy())?
            .task(self.task_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// A waiter whose task is past its expiry by the wall clock, but not yet by the store's own
    /// clock (clocks that disagree), pauses between its reads instead of spinning on them.
    /// Time is paused: the waiter's timeout passes only as its sleeps advance it.
    #[tokio::test(start_paused = true)]
    async fn a_waiter_at_expiry_does_not_spin() {
        let store = MemoryTaskStore::default();
        let task = store.create(NewTask::new().with_ttl(1)).await.unwrap();
        while !task.is_expired() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let reads = Rc::new(Cell::new(0u64));
        let counted = reads.clone();
        // The store's clock stands at the epoch, so the task is still there; were the waiter to
        // spin, the clock jumps far ahead after many reads and the task vanishes.
        let _clock = clock::manual::set(move || {
            counted.set(counted.get() + 1);
            if counted.get() > 10_000 {
                i64::MAX / 2
            } else {
                0
            }
        });
        let waited = store
            .wait_for_update(
                &Scope::All,
                &task.task_id,
                task.last_updated_at,
                Some(Duration::from_millis(100)),
            )
            .await;
        assert_eq!(
            waited.unwrap(),
            task,
            "the wait times out, the task unchanged"
        );
        assert!(
            reads.get() <= 100,
            "{} clock reads in one wait",
            reads.get()
        );
    }
}
