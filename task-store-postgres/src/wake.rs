//! Waking waiters: at once for writes made through this store, and through PostgreSQL's
//! `LISTEN`/`NOTIFY` for writes made by any store or process on the same schema.
//!
//! Each watched task has one [`Notify`]. A waiter registers before it reads the task, so a
//! write that lands after the read wakes it and a write before the read is seen by the read.
//!
//! Every statement that changes or deletes a task also queues a notification on the schema's
//! channel, which PostgreSQL delivers when the change commits: `"<version> <task id>"` for a
//! change (the version is the new `lastUpdatedAt` in ms), `"gone <task id>"` for a deletion.
//! One listener per store, on a connection of its own, wakes the waiters of the task named.
//! A version this store wrote itself already woke its waiters when the write returned, so its
//! notification wakes nobody a second time.
//!
//! Notifications sent while the listener's connection is down are lost. Once the listener is
//! back (listening again), it wakes every waiter, and each reads its task afresh: a change
//! made meanwhile ends its wait then.

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use task_core::{Scope, Task};
use tokio::sync::Notify;

/// The first pause before the listener tries to connect again; it doubles up to
/// [`MAX_RECONNECT_PAUSE`].
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);
const MAX_RECONNECT_PAUSE: Duration = Duration::from_secs(2);

/// The watched tasks of one store.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    watched: Mutex<HashMap<Arc<str>, Watch>>,
}

#[derive(Debug)]
struct Watch {
    notify: Arc<Notify>,
    waiters: usize,
    /// The task and its owner as this store's newest write left them; dropped when the task
    /// changes in a way this store did not see written.
    written: Option<(Task, Option<String>)>,
    /// The version this store's newest write left, `Some(None)` for a deletion: its
    /// notification wakes nobody again. `None` when unknown.
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
    pub(crate) fn written(
        &self,
        scope: &Scope,
        seen: chrono::DateTime<chrono::Utc>,
    ) -> Option<Task> {
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
            forget_and_wake(watch);
        }
    }

    /// Wakes every waiter of every task; they read their tasks afresh.
    pub(crate) fn wake_all(&self) {
        for watch in self.lock().values_mut() {
            forget_and_wake(watch);
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

    /// Handles one notification's payload: wakes the task's waiters unless this store's own
    /// write left that very version (that write woke them already).
    pub(crate) fn notified(&self, payload: &str) {
        let Some((version, task_id)) = payload.split_once(' ') else {
            return;
        };
        let version = match version {
            "gone" => None,
            number => match number.parse::<i64>() {
                Ok(ms) => Some(ms),
                // Not ours: read afresh rather than guess.
                Err(_) => return self.wake(task_id),
            },
        };
        if let Some(watch) = self.lock().get_mut(task_id) {
            if watch.local == Some(version) {
                return;
            }
            let written = watch.written.as_ref();
            if written.map(|(task, _)| task.last_updated_at.timestamp_millis()) != version {
                watch.written = None;
            }
            watch.local = None;
            watch.notify.notify_waiters();
        }
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

fn forget_and_wake(watch: &mut Watch) {
    watch.written = None;
    watch.local = None;
    watch.notify.notify_waiters();
}

/// Connects a listener on `pool` (a pool of one connection of its own) and listens on
/// `channel`.
pub(crate) async fn connect(pool: &PgPool, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

/// The listener: runs until the store aborts it.
pub(crate) async fn listen(
    pool: PgPool,
    channel: String,
    waiters: Arc<Waiters>,
    first: PgListener,
) {
    let mut listener = Some(first);
    let mut pause = RECONNECT_PAUSE;
    loop {
        let live = match listener.as_mut() {
            Some(live) => live,
            None => match connect(&pool, &channel).await {
                Ok(fresh) => {
                    // Listening again: whatever changed while nobody listened is read afresh.
                    waiters.wake_all();
                    pause = RECONNECT_PAUSE;
                    listener.insert(fresh)
                }
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_RECONNECT_PAUSE);
                    continue;
                }
            },
        };
        match live.try_recv().await {
            Ok(Some(notification)) => waiters.notified(notification.payload()),
            // The connection dropped and the listener is listening again on a new one.
            Ok(None) => waiters.wake_all(),
            // Reconnecting failed, or the server ended the session: start over.
            Err(_) => listener = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn armed(guard: &WatchGuard) -> std::pin::Pin<Box<tokio::sync::futures::Notified<'_>>> {
        let mut notified = Box::pin(guard.notify().notified());
        notified.as_mut().enable();
        notified
    }

    fn is_ready<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> bool {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        future.poll(&mut cx).is_ready()
    }

    fn at(ms: i64) -> DateTime<chrono::Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    fn task(ms: i64) -> Task {
        Task {
            task_id: "t 1".into(),
            status: task_core::TaskStatus::Working,
            status_message: None,
            created_at: at(1),
            last_updated_at: at(ms),
            ttl: None,
            poll_interval: None,
        }
    }

    #[test]
    fn registrations_are_counted_and_removed_with_the_last_waiter() {
        let waiters = Arc::new(Waiters::default());
        let first = waiters.watch("t");
        let second = waiters.watch("t");
        assert!(Arc::ptr_eq(&first.notify, &second.notify));
        drop(first);
        assert!(!waiters.is_empty());
        drop(second);
        assert!(waiters.is_empty());
    }

    #[test]
    fn a_notification_wakes_unless_this_store_wrote_that_version() {
        let waiters = Arc::new(Waiters::default());
        let guard = waiters.watch("t 1");
        let mut first = armed(&guard);
        waiters.notified("5 t 1");
        assert!(
            is_ready(first.as_mut()),
            "a foreign change wakes; ids may hold spaces"
        );
        let mut own = armed(&guard);
        waiters.wake_with(&task(10), None);
        assert!(is_ready(own.as_mut()), "the write wakes");
        let mut echo = armed(&guard);
        waiters.notified("10 t 1");
        assert!(
            !is_ready(echo.as_mut()),
            "its own notification: no second wake"
        );
        assert_eq!(guard.written(&Scope::All, at(5)), Some(task(10)));
        waiters.notified("11 t 1");
        assert!(is_ready(echo.as_mut()), "a newer foreign change wakes");
        assert_eq!(
            guard.written(&Scope::All, at(5)),
            None,
            "and is read afresh"
        );
        let mut gone = armed(&guard);
        waiters.notified("gone t 1");
        assert!(is_ready(gone.as_mut()), "a deletion wakes");
        let mut other = armed(&guard);
        waiters.notified("3 unwatched");
        waiters.notified("garbage");
        assert!(!is_ready(other.as_mut()), "another task's change");
        waiters.wake_all();
        assert!(
            is_ready(other.as_mut()),
            "after a reconnection every waiter reads afresh"
        );
    }
}
