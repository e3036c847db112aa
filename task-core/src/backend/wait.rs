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

/// The first pause before a waiter that rides out an outage (see
/// [`UpdateSource::rides_out`]) reads again when nothing woke it; each failed read doubles
/// it, up to [`MAX_OUTAGE_RETRY`].
pub const OUTAGE_RETRY: Duration = Duration::from_millis(50);

/// The longest pause between reads during an outage.
const MAX_OUTAGE_RETRY: Duration = Duration::from_secs(2);

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

    /// Whether a wait already under way keeps waiting through `error` from
    /// [`UpdateSource::read`] instead of ending with it: for a store whose server may restart
    /// under a waiter and whose signal wakes every waiter once it is back. By default no error
    /// is ridden out.
    fn rides_out(&self, error: &TaskError) -> bool {
        let _ = error;
        false
    }
}

/// Waits until the task's `lastUpdatedAt` is later than `seen`, or it is terminal, or the
/// timeout passes, and returns the task as it then is; [`TaskError::NotFound`] when it is or
/// becomes gone. A waiter also wakes at the task's expiry (which no store announces) and,
/// with `poll_every`, at least that often, for stores whose signals may be lost.
///
/// Each round arms the signal, reads the task, and sleeps until the signal, the deadline, the
/// expiry or the next poll, whichever comes first.
///
/// A failed first read ends the wait with its error. Once a read has succeeded, a later read's
/// error that the source [rides out](UpdateSource::rides_out) (the store's server restarting,
/// say) does not: the waiter sleeps until the signal (which such a store gives when it is
/// back), a pause of [`OUTAGE_RETRY`] doubling up to 2 s, or the deadline, and reads again. At
/// the deadline it returns that error, since it cannot say how the task now is.
pub async fn wait_for_update<S: UpdateSource>(
    source: &mut S,
    seen: DateTime<Utc>,
    timeout: Option<Duration>,
    poll_every: Option<Duration>,
) -> Result<Task, TaskError> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let mut recheck = EXPIRY_RECHECK;
    let mut retry = OUTAGE_RETRY;
    let mut woken = false;
    let mut read_once = false;
    loop {
        let notify = source.arm().await?;
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let task = match source.read(woken).await {
            Ok(task) => task,
            Err(error) if read_once && source.rides_out(&error) => {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    return Err(error);
                }
                let at = deadline.map_or(now + retry, |d| d.min(now + retry));
                retry = (retry * 2).min(MAX_OUTAGE_RETRY);
                woken = tokio::time::timeout_at(at, notified).await.is_ok();
                continue;
            }
            Err(error) => return Err(error),
        };
        read_once = true;
        retry = OUTAGE_RETRY;
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
    use crate::error::Retry;
    use crate::wire::TaskStatus;

    /// A task in a cell, changed by the test; counts the reads.
    struct Fake {
        notify: Arc<Notify>,
        task: Option<Task>,
        reads: usize,
        woken: Vec<bool>,
        /// Reads still to fail with a retryable error, and whether the waiter rides them out.
        failing: usize,
        rides_out: bool,
        /// The task as it is once the failing reads are over: changed meanwhile.
        after_outage: Option<Task>,
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
                failing: 0,
                rides_out: false,
                after_outage: None,
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
            if self.reads > 1 && self.failing > 0 {
                self.failing -= 1;
                if self.failing == 0 && self.after_outage.is_some() {
                    self.task = self.after_outage.take();
                }
                return Err(TaskError::backend(
                    "fake",
                    Retry::Safe,
                    "the server is away",
                ));
            }
            self.task.clone().ok_or_else(|| TaskError::not_found("t"))
        }

        fn rides_out(&self, error: &TaskError) -> bool {
            self.rides_out && error.is_retryable()
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

    /// The first read succeeds, then three fail while the server is away.
    fn outage(rides_out: bool) -> (Fake, DateTime<Utc>) {
        let mut fake = Fake::new(None);
        fake.failing = 3;
        fake.rides_out = rides_out;
        let seen = fake.task.as_ref().map(|t| t.last_updated_at).unwrap();
        (fake, seen)
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_under_way_rides_out_an_outage_and_sees_the_change_made_meanwhile() {
        let (mut fake, seen) = outage(true);
        let mut changed = fake.task.clone().unwrap();
        changed.status = TaskStatus::Completed;
        fake.after_outage = Some(changed);
        let notify = fake.notify.clone();
        // The store wakes its waiters as it loses its server: their reads fail for a while.
        let wake = async {
            tokio::task::yield_now().await;
            notify.notify_waiters();
        };
        let (waited, ()) = tokio::join!(wait_for_update(&mut fake, seen, None, None), wake);
        let done = waited.expect("rode out the outage");
        assert_eq!(
            done.status,
            TaskStatus::Completed,
            "the change made meanwhile"
        );
        assert_eq!(
            fake.reads, 5,
            "the first read, three failed, one after the outage"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_ends_a_wait_at_its_deadline_or_at_once_without_riding_out() {
        let (mut fake, seen) = outage(true);
        fake.failing = usize::MAX;
        let notify = fake.notify.clone();
        let waiting = wait_for_update(&mut fake, seen, Some(Duration::from_secs(5)), None);
        let wake = async {
            tokio::task::yield_now().await;
            notify.notify_waiters();
        };
        let (waited, ()) = tokio::join!(waiting, wake);
        assert!(
            waited.unwrap_err().is_retryable(),
            "the error, at the deadline"
        );
        assert!(
            fake.reads < 20,
            "paused between reads: {} reads",
            fake.reads
        );

        let (mut fake, seen) = outage(false);
        let notify = fake.notify.clone();
        let waiting = wait_for_update(&mut fake, seen, None, None);
        let wake = async {
            tokio::task::yield_now().await;
            notify.notify_waiters();
        };
        let (waited, ()) = tokio::join!(waiting, wake);
        assert!(
            waited.is_err(),
            "a source that does not ride out ends the wait"
        );
        assert_eq!(fake.reads, 2);
    }
}
