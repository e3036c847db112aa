//! The waiters of one store, by task: one [`Notify`] per watched task, woken at once by the
//! store's own writes and, through [`Waiters::changed`] or [`Waiters::polled`], by changes the
//! store learns of from elsewhere (another process on the same storage).
//!
//! A write through the store also leaves the task it returned with the watch, so the waiters
//! it wakes can return that instead of reading the task back: under load the read-back, not
//! the signal, is what a woken waiter waits for. The version that write left (its
//! `lastUpdatedAt` in ms, or a deletion) is remembered too, so that the same change announced
//! again from outside wakes nobody a second time.

use super::wait::{UpdateSource, wait_for_update};
use crate::error::TaskError;
use crate::store::{Scope, TaskStore};
use crate::wire::Task;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

/// A task's version as seen from outside: its `lastUpdatedAt` in milliseconds, `None` once it
/// is gone.
pub type Version = Option<i64>;

/// The watched tasks of one store. Share it in an [`Arc`]: each waiter holds a [`WatchGuard`]
/// that points back to it.
#[derive(Debug, Default)]
pub struct Waiters {
    watched: Mutex<HashMap<Arc<str>, Watch>>,
    /// Whether a wait under way keeps waiting through a retryable read error.
    through_outages: bool,
}

#[derive(Debug)]
struct Watch {
    notify: Arc<Notify>,
    waiters: usize,
    /// The task and its owner as this store's newest write left them; dropped when the task
    /// changes in a way this store did not see written.
    written: Option<(Task, Option<String>)>,
    /// The version this store's newest write left: a change announced from outside with that
    /// version wakes nobody again. `None` when unknown.
    local: Option<Version>,
    /// What [`Waiters::polled`] last read: `None` before its first look.
    polled: Option<Version>,
}

/// The registration of one waiter of one task; dropping it unregisters.
#[derive(Debug)]
pub struct WatchGuard {
    waiters: Arc<Waiters>,
    id: Arc<str>,
    notify: Arc<Notify>,
}

impl WatchGuard {
    /// The task's wake-up signal.
    pub fn notify(&self) -> &Arc<Notify> {
        &self.notify
    }

    /// The task as this store last wrote it, if `scope` may see it, it is newer than `seen`
    /// and it has not expired.
    pub fn written(&self, scope: &Scope, seen: DateTime<Utc>) -> Option<Task> {
        let watched = self.waiters.lock();
        let (task, owner) = watched.get(&self.id)?.written.as_ref()?;
        (scope.permits(owner.as_deref()) && task.last_updated_at > seen && !task.is_expired())
            .then(|| task.clone())
    }
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        let mut watched = self.waiters.lock();
        if let Some(watch) = watched.get_mut(&self.id) {
            watch.waiters -= 1;
            if watch.waiters == 0 {
                watched.remove(&self.id);
            }
        }
    }
}

impl Waiters {
    /// Waiters whose waits, once under way, keep waiting through a retryable error of a read
    /// (the store's server away, say) and read again when woken or after a pause, until their
    /// timeout: for a store that wakes every waiter ([`Waiters::wake_all`]) once it can see
    /// changes again. See [`wait_for_update`].
    pub fn through_outages() -> Self {
        Waiters {
            through_outages: true,
            ..Waiters::default()
        }
    }

    // Nothing panics while the lock is held, so a poisoned map is still consistent.
    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Watch>> {
        self.watched.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a waiter of `task_id`. Register before reading the task: a write after the
    /// read then wakes the waiter, and a write before it is in what it reads.
    pub fn watch(self: &Arc<Self>, task_id: &str) -> WatchGuard {
        let mut watched = self.lock();
        let id = match watched.get_key_value(task_id) {
            Some((id, _)) => id.clone(),
            None => Arc::from(task_id),
        };
        let watch = watched.entry(id.clone()).or_insert_with(|| Watch {
            notify: Arc::new(Notify::new()),
            waiters: 0,
            written: None,
            local: None,
            polled: None,
        });
        watch.waiters += 1;
        WatchGuard {
            waiters: self.clone(),
            id,
            notify: watch.notify.clone(),
        }
    }

    /// [`TaskStore::wait_for_update`] for a store that wakes through these waiters: registers
    /// a waiter of `task_id`, then runs [`wait_for_update`] with reads through `store`'s `get`,
    /// except that a waiter woken by the store's own write returns the task that write left.
    pub async fn wait<S: TaskStore + ?Sized>(
        self: &Arc<Self>,
        store: &S,
        scope: &Scope,
        task_id: &str,
        seen: DateTime<Utc>,
        timeout: Option<Duration>,
    ) -> Result<Task, TaskError> {
        // Register first, then read: a write after the read wakes this registration.
        let mut source = Waiter {
            store,
            scope,
            task_id,
            seen,
            watch: self.watch(task_id),
            through_outages: self.through_outages,
        };
        wait_for_update(&mut source, seen, timeout, None).await
    }

    /// Wakes every waiter of `task_id`; they read the task afresh.
    pub fn wake(&self, task_id: &str) {
        if let Some(watch) = self.lock().get_mut(task_id) {
            forget_and_wake(watch);
        }
    }

    /// Wakes every waiter of every task; they read their tasks afresh. For a store that may
    /// have missed changes (a listener that reconnected, say).
    pub fn wake_all(&self) {
        for watch in self.lock().values_mut() {
            forget_and_wake(watch);
        }
    }

    /// Wakes the waiters of a task this store just deleted.
    pub fn wake_deleted(&self, task_id: &str) {
        if let Some(watch) = self.lock().get_mut(task_id) {
            watch.written = None;
            watch.local = Some(None);
            watch.notify.notify_waiters();
        }
    }

    /// Wakes the waiters of a task this store just wrote, leaving them the written task and
    /// its owner.
    pub fn wake_with(&self, task: &Task, owner: Option<String>) {
        if let Some(watch) = self.lock().get_mut(task.task_id.as_str()) {
            // Concurrent writers may get here out of order: keep the newest.
            let newer = watch
                .written
                .as_ref()
                .is_none_or(|(kept, _)| kept.last_updated_at < task.last_updated_at);
            if newer {
                watch.local = Some(Some(task.last_updated_at.timestamp_millis()));
                watch.written = Some((task.clone(), owner));
            }
            watch.notify.notify_waiters();
        }
    }

    /// A change to `task_id` announced from outside, leaving `version`: wakes its waiters
    /// unless this store's own write left that very version (that write woke them already).
    pub fn changed(&self, task_id: &str, version: Version) {
        if let Some(watch) = self.lock().get_mut(task_id) {
            announce(watch, version);
        }
    }

    /// `version` of `task_id` as a poller just read it: [`Waiters::changed`] when it is not
    /// what the poller read last time, or the poller's first look at this watch.
    pub fn polled(&self, task_id: &str, version: Version) {
        if let Some(watch) = self.lock().get_mut(task_id)
            && watch.polled != Some(version)
        {
            watch.polled = Some(version);
            announce(watch, version);
        }
    }

    /// The ids of the watched tasks.
    pub fn watched_ids(&self) -> Vec<Arc<str>> {
        self.lock().keys().cloned().collect()
    }

    /// Whether no task is watched.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// One waiter's view of its task, for the shared wait loop.
struct Waiter<'a, S: ?Sized> {
    store: &'a S,
    scope: &'a Scope,
    task_id: &'a str,
    seen: DateTime<Utc>,
    watch: WatchGuard,
    through_outages: bool,
}

impl<S: TaskStore + ?Sized> UpdateSource for Waiter<'_, S> {
    async fn arm(&mut self) -> Result<Arc<Notify>, TaskError> {
        Ok(self.watch.notify().clone())
    }

    async fn read(&mut self, woken: bool) -> Result<Task, TaskError> {
        // A write through this store leaves the task it wrote: no need to read it back.
        if woken && let Some(task) = self.watch.written(self.scope, self.seen) {
            return Ok(task);
        }
        // Under load a read mostly waits for a connection: a write through this store
        // meanwhile leaves its task, and the waiter takes that rather than wait on.
        let read = self.store.get(self.scope, self.task_id);
        tokio::pin!(read);
        loop {
            let notified = self.watch.notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(task) = self.watch.written(self.scope, self.seen) {
                return Ok(task);
            }
            tokio::select! {
                biased;
                read = &mut read => return read,
                () = notified => {}
            }
        }
    }

    fn rides_out(&self, error: &TaskError) -> bool {
        self.through_outages && error.is_retryable()
    }
}

fn forget_and_wake(watch: &mut Watch) {
    watch.written = None;
    watch.local = None;
    watch.notify.notify_waiters();
}

fn announce(watch: &mut Watch, version: Version) {
    let written = watch.written.as_ref();
    if written.map(|(task, _)| task.last_updated_at.timestamp_millis()) != version {
        watch.written = None;
    }
    if watch.local != Some(version) {
        watch.local = None;
        watch.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::TaskStatus;
    use std::future::Future;
    use std::pin::Pin;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    /// Task "t 1" (ids may hold spaces), working, last updated at `ms`.
    fn task(ms: i64) -> Task {
        Task {
            task_id: "t 1".into(),
            status: TaskStatus::Working,
            status_message: None,
            created_at: at(1),
            last_updated_at: at(ms),
            ttl: None,
            poll_interval: None,
        }
    }

    fn armed(guard: &WatchGuard) -> Pin<Box<tokio::sync::futures::Notified<'_>>> {
        let mut notified = Box::pin(guard.notify().notified());
        notified.as_mut().enable();
        notified
    }

    /// Whether the future is ready when polled once.
    fn is_ready<F: Future>(future: Pin<&mut F>) -> bool {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        future.poll(&mut cx).is_ready()
    }

    /// A store whose reads never finish: what a waiter's read looks like while it waits
    /// for a connection.
    #[derive(Debug, Default)]
    struct Stalled(crate::StoreConfig);

    #[async_trait::async_trait]
    impl TaskStore for Stalled {
        fn config(&self) -> &crate::StoreConfig {
            &self.0
        }
        async fn create(&self, _: crate::NewTask) -> Result<Task, TaskError> {
            unimplemented!()
        }
        async fn get(&self, _: &Scope, _: &str) -> Result<Task, TaskError> {
            std::future::pending().await
        }
        async fn get_record(&self, _: &Scope, _: &str) -> Result<crate::TaskRecord, TaskError> {
            unimplemented!()
        }
        async fn get_result(
            &self,
            _: &Scope,
            _: &str,
        ) -> Result<Option<crate::TaskOutcome>, TaskError> {
            unimplemented!()
        }
        async fn update(
            &self,
            _: &Scope,
            _: &str,
            _: crate::TaskChange,
        ) -> Result<Task, TaskError> {
            unimplemented!()
        }
        async fn list(
            &self,
            _: &Scope,
            _: crate::PageRequest,
        ) -> Result<crate::TaskPage, TaskError> {
            unimplemented!()
        }
        async fn delete(&self, _: &Scope, _: &str) -> Result<bool, TaskError> {
            unimplemented!()
        }
        async fn wait_for_update(
            &self,
            _: &Scope,
            _: &str,
            _: DateTime<Utc>,
            _: Option<Duration>,
        ) -> Result<Task, TaskError> {
            unimplemented!()
        }
        async fn notify_update(&self, _: &str) -> Result<(), TaskError> {
            unimplemented!()
        }
        async fn purge_expired(&self) -> Result<u64, TaskError> {
            unimplemented!()
        }
        async fn recover_stuck(&self, _: Duration, _: &str) -> Result<u64, TaskError> {
            unimplemented!()
        }
    }

    #[test]
    fn a_write_during_the_read_ends_the_wait_without_it() {
        let waiters = Arc::new(Waiters::default());
        let store = Stalled::default();
        let mut wait = Box::pin(waiters.wait(&store, &Scope::All, "t 1", at(5), None));
        assert!(!is_ready(wait.as_mut()), "the read is under way");
        waiters.wake_with(&task(4), None);
        assert!(!is_ready(wait.as_mut()), "an older version than seen");
        waiters.wake_with(&task(10), None);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match wait.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Ok(woken)) => assert_eq!(woken, task(10)),
            other => panic!("the wait did not end with the written task: {other:?}"),
        }
    }

    #[test]
    fn registrations_are_counted_and_removed_with_the_last_waiter() {
        let waiters = Arc::new(Waiters::default());
        let first = waiters.watch("t");
        let second = waiters.watch("t");
        assert!(Arc::ptr_eq(first.notify(), second.notify()));
        assert_eq!(waiters.watched_ids().len(), 1);
        drop(first);
        assert_eq!(waiters.watched_ids().len(), 1);
        drop(second);
        assert!(waiters.is_empty());
    }

    #[test]
    fn a_write_leaves_its_task_for_waiters_that_may_see_it_and_have_not() {
        let waiters = Arc::new(Waiters::default());
        let guard = waiters.watch("t 1");
        let alice = Scope::owner("alice");
        assert_eq!(guard.written(&alice, at(0)), None, "nothing written yet");
        waiters.wake_with(&task(10), Some("alice".into()));
        assert_eq!(guard.written(&alice, at(5)), Some(task(10)));
        assert_eq!(guard.written(&Scope::All, at(5)), Some(task(10)));
        let bob = Scope::owner("bob");
        assert_eq!(guard.written(&bob, at(5)), None, "not bob's");
        assert_eq!(guard.written(&alice, at(10)), None, "already seen");
        waiters.wake_with(&task(8), Some("alice".into()));
        let kept = guard.written(&alice, at(5));
        assert_eq!(kept, Some(task(10)), "the newest stays");
        waiters.changed("t 1", Some(10));
        let kept = guard.written(&alice, at(5));
        assert_eq!(kept, Some(task(10)), "announced again from outside");
        waiters.changed("t 1", Some(12));
        let kept = guard.written(&alice, at(5));
        assert_eq!(kept, None, "changed elsewhere");
        waiters.wake_with(&task(20), Some("alice".into()));
        waiters.wake("t 1");
        let kept = guard.written(&alice, at(5));
        assert_eq!(kept, None, "a plain wake means read afresh");
        let mut expired = task(30);
        expired.ttl = Some(1);
        waiters.wake_with(&expired, Some("alice".into()));
        assert_eq!(guard.written(&alice, at(5)), None, "expired");
    }

    #[test]
    fn an_announced_change_wakes_unless_this_store_wrote_that_version() {
        let waiters = Arc::new(Waiters::default());
        let guard = waiters.watch("t 1");
        let mut first = armed(&guard);
        waiters.changed("t 1", Some(5));
        assert!(is_ready(first.as_mut()), "a foreign change wakes");
        let mut own = armed(&guard);
        waiters.wake_with(&task(10), None);
        assert!(is_ready(own.as_mut()), "the write wakes");
        let mut echo = armed(&guard);
        waiters.changed("t 1", Some(10));
        assert!(!is_ready(echo.as_mut()), "its own change: no second wake");
        waiters.changed("t 1", Some(11));
        assert!(is_ready(echo.as_mut()), "a newer foreign change wakes");
        let mut deleted = armed(&guard);
        waiters.wake_deleted("t 1");
        assert!(is_ready(deleted.as_mut()), "the deletion wakes");
        let mut echo = armed(&guard);
        waiters.changed("t 1", None);
        assert!(!is_ready(echo.as_mut()), "and only once");
        let mut other = armed(&guard);
        waiters.changed("unwatched", Some(3));
        assert!(!is_ready(other.as_mut()), "another task's change");
        waiters.wake_all();
        assert!(is_ready(other.as_mut()), "every waiter reads afresh");
    }

    #[test]
    fn a_poller_wakes_on_first_sight_and_on_change_only() {
        let waiters = Arc::new(Waiters::default());
        let guard = waiters.watch("t 1");
        let mut first = armed(&guard);
        waiters.polled("t 1", Some(1));
        assert!(is_ready(first.as_mut()), "first sight wakes");
        let mut same = armed(&guard);
        waiters.polled("t 1", Some(1));
        assert!(!is_ready(same.as_mut()), "no change, no wake");
        waiters.polled("t 1", Some(2));
        assert!(is_ready(same.as_mut()), "a change wakes");
        let mut own = armed(&guard);
        waiters.wake_with(&task(10), None);
        assert!(is_ready(own.as_mut()), "the write wakes");
        let mut echo = armed(&guard);
        waiters.polled("t 1", Some(10));
        assert!(
            !is_ready(echo.as_mut()),
            "the store's own write: no second wake"
        );
        // A plain wake says nothing of the version: the poller's next news wakes again.
        waiters.wake("t 1");
        let mut news = armed(&guard);
        waiters.polled("t 1", Some(20));
        assert!(
            is_ready(news.as_mut()),
            "a foreign write after a plain wake"
        );
        let mut gone = armed(&guard);
        waiters.polled("t 1", None);
        assert!(is_ready(gone.as_mut()), "a deletion wakes");
    }
}
