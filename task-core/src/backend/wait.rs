//! The wait loop behind [`TaskStore::wait_for_update`](crate::TaskStore::wait_for_update),
//! shared by every backend: each supplies only how it is woken and how it reads the task.

use crate::error::TaskError;
use crate::wire::Task;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The pause before a waiter reads its task again when the task is still there at or after
/// its expiry by this machine's clock, which happens when the store's clock is behind (a
/// Redis server's, say). Each such read doubles the pause, up to one second, so clocks that
/// disagree cost a few reads and never a busy loop.
pub const EXPIRY_RECHECK: Duration = Duration::from_millis(1);

/// The longest pause between such reads.
const MAX_EXPIRY_RECHECK: Duration = Duration::from_secs(1);

/// How a store wakes and reads one waiter's task, for [`wait_for_update`].
pub trait UpdateSource: Send {
    /// Registers for the task's next change and returns the signal that will announce it.
    /// [`wait_for_update`] calls this before every [`UpdateSource::read`], and listens to the
    /// signal before reading, so a change after the read wakes it and a change before the read
    /// is in what it reads. A store that learns of changes by subscribing finishes subscribing
    /// here.
    fn arm(&mut self) -> impl Future<Output = Result<Arc<Notify>, TaskError>> + Send;

    /// Reads the task as the waiter's scope sees it, or [`TaskError::NotFound`] once it is gone
    /// (deleted, expired, or never visible). `woken` says that the signal ended the last pause,
    /// so a store whose signal carries the changed task may answer with it.
    fn read(&mut self, woken: bool) -> impl Future<Output = Result<Task, TaskError>> + Send;
}

/// Waits until the task's `lastUpdatedAt` is later than `seen`, or it is terminal, or the
/// timeout passes, and returns the task as it then is; [`TaskError::NotFound`] when it is or
/// becomes gone. A waiter also wakes at the task's expiry (which no store announces) and,
/// with `poll_every`, at least that often, for stores whose signals may be lost.
///
/// Each round arms the signal, reads the task, and sleeps until the signal, the deadline, the
/// expiry or the next poll, whichever comes first.
pub async fn wait_for_update<S: UpdateSource>(
    source: &mut S,
    seen: DateTime<Utc>,
    timeout: Option<Duration>,
    poll_every: Option<Duration>,
) -> Result<Task, TaskError> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let mut recheck = EXPIRY_RECHECK;
    let mut woken = false;
    loop {
        let notify = source.arm().await?;
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let task = source.read(woken).await?;
        let now = Instant::now();
        if task.last_updated_at > seen || task.is_terminal() || deadline.is_some_and(|d| now >= d) {
            return Ok(task);
        }
        let mut wake_at = deadline;
        if let Some(every) = poll_every {
            wake_at = earliest(wake_at, now.checked_add(every));
        }
        if let Some(expires) = task.expires_at() {
            let pause = match (expires - Utc::now()).to_std() {
                Ok(left) if !left.is_zero() => left,
                // Expired by this clock, yet the store still has it.
                _ => {
                    let pause = recheck;
                    recheck = (recheck * 2).min(MAX_EXPIRY_RECHECK);
                    pause
                }
            };
            wake_at = earliest(wake_at, now.checked_add(pause));
        }
        woken = match wake_at {
            Some(at) => tokio::time::timeout_at(at, notified).await.is_ok(),
            None => {
                notified.await;
                true
            }
        };
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::time;
    use crate::wire::TaskStatus;

    /// A task in a cell, changed by the test; counts the reads.
    struct Fake {
        notify: Arc<Notify>,
        task: Option<Task>,
        reads: usize,
        woken: Vec<bool>,
    }

    impl Fake {
        fn new(ttl: Option<u64>) -> Self {
            let now = time::now();
            Fake {
                notify: Arc::new(Notify::new()),
                task: Some(Task {
                    task_id: "t".into(),
                    status: TaskStatus::Working,
                    status_message: None,
                    created_at: now,
                    last_updated_at: now,
                    ttl,
                    poll_interval: None,
                }),
                reads: 0,
                woken: Vec::new(),
            }
        }
    }

    impl UpdateSource for Fake {
        async fn arm(&mut self) -> Result<Arc<Notify>, TaskError> {
            Ok(self.notify.clone())
        }

        async fn read(&mut self, woken: bool) -> Result<Task, TaskError> {
            self.reads += 1;
            self.woken.push(woken);
            self.task.clone().ok_or_else(|| TaskError::not_found("t"))
        }
    }

    /// Paused time: sleeps advance a virtual clock at once, so the counts below do not depend
    /// on how fast the machine is.
    #[tokio::test(start_paused = true)]
    async fn a_task_past_its_expiry_but_still_there_is_read_a_few_times_not_in_a_loop() {
        let mut fake = Fake::new(Some(0));
        let seen = fake.task.as_ref().map(|t| t.last_updated_at).unwrap();
        let task = wait_for_update(&mut fake, seen, Some(Duration::from_secs(10)), None)
            .await
            .unwrap();
        assert_eq!(task.last_updated_at, seen, "timed out unchanged");
        // Pauses of 1, 2, 4, ... ms up to 1 s: 10 to pass the first second, 9 more to 10 s.
        assert!(fake.reads <= 25, "{} reads in 10 s", fake.reads);
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_wakes_the_waiter_and_says_so() {
        let mut fake = Fake::new(None);
        let notify = fake.notify.clone();
        let seen = fake.task.as_ref().map(|t| t.last_updated_at).unwrap();
        let changer = async {
            tokio::task::yield_now().await;
            notify.notify_waiters();
        };
        let (waited, ()) = tokio::join!(
            tokio::time::timeout(
                Duration::from_secs(1),
                wait_for_update(&mut fake, seen, None, None)
            ),
            changer
        );
        assert!(
            waited.is_err(),
            "an unchanged task keeps the waiter waiting"
        );
        assert_eq!(
            fake.woken,
            [false, true],
            "read once, then again when woken"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_or_a_terminal_status_or_a_deadline_ends_the_wait() {
        let mut fake = Fake::new(None);
        let task = fake.task.clone().unwrap();
        let earlier = time::from_millis(task.last_updated_at.timestamp_millis() - 1);
        let found = wait_for_update(&mut fake, earlier, None, None).await;
        assert_eq!(found.unwrap(), task, "newer than seen");
        let seen = task.last_updated_at;
        fake.task.as_mut().unwrap().status = TaskStatus::Cancelled;
        let found = wait_for_update(&mut fake, seen, None, None).await;
        assert_eq!(found.unwrap().status, TaskStatus::Cancelled, "terminal");
        fake.task.as_mut().unwrap().status = TaskStatus::Working;
        let polls = fake.reads;
        let found = wait_for_update(&mut fake, seen, Some(Duration::from_secs(1)), None).await;
        assert_eq!(found.unwrap(), task, "the deadline");
        assert_eq!(fake.reads - polls, 2, "a read, then one at the deadline");
        let polls = fake.reads;
        let every = Some(Duration::from_millis(100));
        let found = wait_for_update(&mut fake, seen, Some(Duration::from_secs(1)), every).await;
        assert_eq!(found.unwrap(), task);
        assert_eq!(
            fake.reads - polls,
            11,
            "a read every 100 ms of 1 s, and the first"
        );
        fake.task = None;
        let gone = wait_for_update(&mut fake, seen, None, None).await;
        assert!(matches!(gone, Err(TaskError::NotFound { .. })));
    }
}
