//! Waking waiters: at once for writes made through this store, and within the watch interval
//! for writes made by other stores or processes on the same file.
//!
//! Each watched task has one [`Notify`]. A waiter registers before it reads the task, so a
//! write that lands after the read wakes it and a write before the read is seen by the read.
//!
//! One poller per store watches the file: every watch interval it reads `PRAGMA data_version`
//! on a connection of its own, which changes whenever any other connection commits. Only then
//! does it read the versions (`lastUpdatedAt`) of the watched tasks in one statement, and it
//! wakes each task whose version differs from the one it saw last, or that it sees for the
//! first time. Any commit after a waiter registered therefore wakes it by the next tick.
//!
//! `data_version` changes for this store's own commits too, since the poller reads on a
//! connection of its own. A version the store itself wrote (or a deletion it made) already
//! woke the waiters when the write returned, so the poller records it without waking them a
//! second time.
//!
//! A write through this store also leaves the task it returned with the watch, so the waiters
//! it wakes can return that instead of reading the task back: under load the read-back, not
//! the signal, is what a woken waiter waits for.

use crate::error::driver;
use crate::sql;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Row, SqliteConnection};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use task_core::{Scope, Task, TaskError};
use tokio::sync::Notify;
use tokio::time::MissedTickBehavior;

/// Ids per versions query, well under SQLite's limits.
const BATCH: usize = 500;

/// The watched tasks of one store.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    watched: Mutex<HashMap<Arc<str>, Watch>>,
}

#[derive(Debug)]
struct Watch {
    notify: Arc<Notify>,
    waiters: usize,
    /// What the poller last read: `None` before its first look, `Some(None)` for a gone task.
    polled: Option<Option<i64>>,
    /// The task and its owner as this store's newest write left them; dropped when the task
    /// changes in a way this store did not see written.
    written: Option<(Task, Option<String>)>,
    /// The version this store's newest write left, `Some(None)` for a deletion: the poller
    /// does not wake anyone for it again. `None` when unknown.
    local: Option<Option<i64>>,
}

/// Registration of one waiter; dropping it unregisters.
#[derive(Debug)]
pub(crate) struct WatchGuard {
    waiters: Arc<Waiters>,
    id: Arc<str>,
    notify: Arc<Notify>,
}

impl WatchGuard {
    /// The task's wake-up signal.
    pub(crate) fn notify(&self) -> &Arc<Notify> {
        &self.notify
    }

    /// The task as this store last wrote it, if `scope` may see it, it is newer than `seen`
    /// and it has not expired.
    pub(crate) fn written(&self, scope: &Scope, seen: DateTime<Utc>) -> Option<Task> {
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
    // Nothing panics while the lock is held, so a poisoned map is still consistent.
    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Watch>> {
        self.watched.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a waiter of `task_id`.
    pub(crate) fn watch(self: &Arc<Self>, task_id: &str) -> WatchGuard {
        let mut watched = self.lock();
        let id = match watched.get_key_value(task_id) {
            Some((id, _)) => id.clone(),
            None => Arc::from(task_id),
        };
        let watch = watched.entry(id.clone()).or_insert_with(|| Watch {
            notify: Arc::new(Notify::new()),
            waiters: 0,
            polled: None,
            written: None,
            local: None,
        });
        watch.waiters += 1;
        WatchGuard {
            waiters: self.clone(),
            id,
            notify: watch.notify.clone(),
        }
    }

    /// Wakes every waiter of `task_id` in this store; they read the task afresh.
    pub(crate) fn wake(&self, task_id: &str) {
        if let Some(watch) = self.lock().get_mut(task_id) {
            watch.written = None;
            watch.local = None;
            watch.notify.notify_waiters();
        }
    }

    /// Wakes the waiters of a task this store just deleted.
    pub(crate) fn wake_deleted(&self, task_id: &str) {
        if let Some(watch) = self.lock().get_mut(task_id) {
            watch.written = None;
            watch.local = Some(None);
            watch.notify.notify_waiters();
        }
    }

    /// Wakes the waiters of a task this store just wrote, leaving them the written task.
    pub(crate) fn wake_with(&self, task: &Task, owner: Option<String>) {
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

    fn watched_ids(&self) -> Vec<Arc<str>> {
        self.lock().keys().cloned().collect()
    }

    fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Records the version the poller read and wakes the task's waiters if it is news: a
    /// version it has not seen, and not one this store's own write left (that write woke
    /// them already).
    fn observe(&self, task_id: &str, version: Option<i64>) {
        if let Some(watch) = self.lock().get_mut(task_id)
            && watch.polled != Some(version)
        {
            watch.polled = Some(version);
            let written = watch.written.as_ref();
            if written.map(|(task, _)| task.last_updated_at.timestamp_millis()) != version {
                watch.written = None;
            }
            if watch.local != Some(version) {
                watch.local = None;
                watch.notify.notify_waiters();
            }
        }
    }
}

/// The poller: runs until the store drops it (its task is aborted).
pub(crate) async fn poll(connect: SqliteConnectOptions, waiters: Arc<Waiters>, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut conn: Option<SqliteConnection> = None;
    let mut last_data_version = None;
    loop {
        interval.tick().await;
        if waiters.is_empty() {
            continue;
        }
        let live = match conn.as_mut() {
            Some(live) => live,
            None => match connect.connect().await {
                Ok(fresh) => conn.insert(fresh),
                Err(_) => continue, // the file is unreachable for now; try next tick
            },
        };
        if check(live, &waiters, &mut last_data_version).await.is_err() {
            // Start over on a fresh connection; the first look wakes everyone once.
            conn = None;
            last_data_version = None;
        }
    }
}

async fn check(
    conn: &mut SqliteConnection,
    waiters: &Waiters,
    last_data_version: &mut Option<i64>,
) -> Result<(), TaskError> {
    // Read before the versions: a commit after this read changes it for the next tick.
    let data_version: i64 = sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(&mut *conn)
        .await
        .map_err(driver)?;
    if *last_data_version == Some(data_version) {
        return Ok(());
    }
    for ids in waiters.watched_ids().chunks(BATCH) {
        let ids: Vec<&str> = ids.iter().map(|id| &**id).collect();
        let ids = sql::to_json(&ids)?;
        let rows = sqlx::query(sql::VERSIONS)
            .bind(ids)
            .fetch_all(&mut *conn)
            .await
            .map_err(driver)?;
        for row in rows {
            let id: &str = row.try_get(0).map_err(driver)?;
            let version: Option<i64> = row.try_get(1).map_err(driver)?;
            waiters.observe(id, version);
        }
    }
    *last_data_version = Some(data_version);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_are_counted_and_removed_with_the_last_waiter() {
        let waiters = Arc::new(Waiters::default());
        let first = waiters.watch("t");
        let second = waiters.watch("t");
        assert!(Arc::ptr_eq(&first.notify, &second.notify));
        assert_eq!(waiters.watched_ids().len(), 1);
        drop(first);
        assert_eq!(waiters.watched_ids().len(), 1);
        drop(second);
        assert!(waiters.is_empty());
    }

    #[tokio::test]
    async fn the_poller_wakes_on_first_sight_and_on_change_only() {
        let waiters = Arc::new(Waiters::default());
        let guard = waiters.watch("t");
        let armed = || {
            let mut notified = Box::pin(guard.notify().notified());
            notified.as_mut().enable();
            notified
        };
        let mut first = armed();
        waiters.observe("t", Some(1));
        assert!(is_ready(first.as_mut()), "first sight wakes");
        let mut same = armed();
        waiters.observe("t", Some(1));
        assert!(!is_ready(same.as_mut()), "no change, no wake");
        waiters.observe("t", Some(2));
        assert!(is_ready(same.as_mut()), "a change wakes");
        let mut gone = armed();
        waiters.observe("t", None);
        assert!(is_ready(gone.as_mut()), "a deletion wakes");
        let mut other = armed();
        waiters.observe("unwatched", Some(5));
        assert!(!is_ready(other.as_mut()), "another task's change");
    }

    #[test]
    fn a_write_leaves_its_task_for_waiters_that_may_see_it_and_have_not() {
        let waiters = Arc::new(Waiters::default());
        let guard = waiters.watch("t");
        let alice = Scope::owner("alice");
        assert_eq!(guard.written(&alice, at(0)), None, "nothing written yet");
        waiters.wake_with(&task(10), Some("alice".into()));
        assert_eq!(guard.written(&alice, at(5)), Some(task(10)));
        assert_eq!(guard.written(&Scope::All, at(5)), Some(task(10)));
        assert_eq!(
            guard.written(&Scope::owner("bob"), at(5)),
            None,
            "not bob's"
        );
        assert_eq!(guard.written(&alice, at(10)), None, "already seen");
        waiters.wake_with(&task(8), Some("alice".into()));
        assert_eq!(
            guard.written(&alice, at(5)),
            Some(task(10)),
            "the newest stays"
        );
        waiters.observe("t", Some(10));
        assert_eq!(
            guard.written(&alice, at(5)),
            Some(task(10)),
            "the poller saw it too"
        );
        waiters.observe("t", Some(12));
        assert_eq!(guard.written(&alice, at(5)), None, "changed elsewhere");
        waiters.wake_with(&task(20), Some("alice".into()));
        waiters.wake("t");
        assert_eq!(
            guard.written(&alice, at(5)),
            None,
            "a plain wake means read afresh"
        );
        let mut expired = task(30);
        expired.ttl = Some(1);
        waiters.wake_with(&expired, Some("alice".into()));
        assert_eq!(guard.written(&alice, at(5)), None, "expired");
    }

    #[test]
    fn the_poller_leaves_this_stores_own_writes_alone() {
        let waiters = Arc::new(Waiters::default());
        let guard = waiters.watch("t");
        let armed = || {
            let mut notified = Box::pin(guard.notify().notified());
            notified.as_mut().enable();
            notified
        };
        waiters.observe("t", Some(1));
        let mut written = armed();
        waiters.wake_with(&task(10), None);
        assert!(is_ready(written.as_mut()), "the write wakes");
        let mut polled = armed();
        waiters.observe("t", Some(10));
        assert!(
            !is_ready(polled.as_mut()),
            "the poller sees the store's own write: no second wake"
        );
        assert_eq!(guard.written(&Scope::All, at(5)), Some(task(10)));
        waiters.observe("t", Some(11));
        assert!(is_ready(polled.as_mut()), "a foreign write wakes");

        let mut deleted = armed();
        waiters.wake_deleted("t");
        assert!(is_ready(deleted.as_mut()), "the deletion wakes");
        let mut polled = armed();
        waiters.observe("t", None);
        assert!(!is_ready(polled.as_mut()), "and only once");

        // A plain wake says nothing of the version: the poller's next news wakes again.
        waiters.wake("t");
        let mut recreated = armed();
        waiters.observe("t", Some(20));
        assert!(
            is_ready(recreated.as_mut()),
            "a foreign write after a plain wake"
        );
    }

    /// Whether the future is ready when polled once.
    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    /// Task "t", working, last updated at `ms`.
    fn task(ms: i64) -> Task {
        Task {
            task_id: "t".into(),
            status: task_core::TaskStatus::Working,
            status_message: None,
            created_at: at(1),
            last_updated_at: at(ms),
            ttl: None,
            poll_interval: None,
        }
    }

    fn is_ready<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> bool {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        future.poll(&mut cx).is_ready()
    }
}
