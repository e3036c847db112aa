//! Waking waiters: at once for writes made through this store, and through PostgreSQL's
//! `LISTEN`/`NOTIFY` for writes made by any store or process on the same schema.
//!
//! The waiters themselves are a [`task_core::backend::Waiters`]: a waiter registers before it
//! reads the task, so a write that lands after the read wakes it and a write before the read
//! is seen by the read.
//!
//! Every change or deletion is announced on the schema's channel once it has committed:
//! `"<version> <task id>"` for a change (the version is the new `lastUpdatedAt` in ms),
//! `"gone <task id>"` for a deletion. The write itself sends no notification: PostgreSQL
//! serialises the commits of transactions that notify (a lock held across the commit's flush),
//! which would take group commit away from concurrent writes. Instead a write queues its
//! announcement and returns, and one [`Notifier`] per store, on a connection of its own, sends
//! at once whatever was queued while it sent the last batch, in one short transaction.
//!
//! One listener per store, on a connection of its own, wakes the waiters of the task named.
//! A version this store wrote itself already woke its waiters when the write returned, so its
//! notification wakes nobody a second time.
//!
//! Announcements can be lost: a process may die between its commit and its announcement, a
//! notification fails to send, or the listener's connection is down. So every
//! [`MISSED_POLL`] the store reads the versions of the tasks it has waiters for, in one
//! statement, and wakes those whose version moved: a change is seen within that bound even
//! when its announcement never came. When the listener is back (listening again), it wakes
//! every waiter at once, and each reads its task afresh. A waiter whose read fails meanwhile (the server is away) keeps
//! waiting ([`Waiters::through_outages`]) and reads again at the next wake-up, or after a
//! pause if the read failed for another reason.

use crate::sql;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use task_core::backend::{Waiters, time};
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

/// How often a store reads the versions of the tasks it has waiters for, in case an
/// announcement was lost: the longest a waiter waits for a change whose announcement never
/// came.
pub(crate) const MISSED_POLL: Duration = Duration::from_secs(2);

/// Most announcements sent in one transaction.
const MAX_BATCH: usize = 1_000;

/// The first pause before the listener tries to connect again; it doubles up to
/// [`MAX_RECONNECT_PAUSE`].
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);
const MAX_RECONNECT_PAUSE: Duration = Duration::from_secs(2);

/// Handles one notification's payload: wakes the task's waiters unless this store's own
/// write left that very version (that write woke them already).
fn notified(waiters: &Waiters, payload: &str) {
    let Some((version, task_id)) = payload.split_once(' ') else {
        return;
    };
    match version {
        "gone" => waiters.changed(task_id, None),
        number => match number.parse::<i64>() {
            Ok(ms) => waiters.changed(task_id, Some(ms)),
            // Not ours: read afresh rather than guess.
            Err(_) => waiters.wake(task_id),
        },
    }
}

/// Connects a listener on `pool` (a pool of one connection of its own) and listens on
/// `channel`.
pub(crate) async fn connect(pool: &PgPool, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection is made again before try_recv reports it (the default, stated here
    // because the wake-up below relies on it).
    listener.eager_reconnect(true);
    listener.listen(channel).await?;
    Ok(listener)
}

/// Announcements waiting to be sent, and whoever waits until they were.
type Pending = (Vec<String>, Option<oneshot::Sender<()>>);

/// Sends the announcements of this store's writes, after they commit.
#[derive(Debug)]
pub(crate) struct Notifier {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Notifier {
    /// A notifier and the task that sends its announcements on `channel` through `pool` (a
    /// pool of one connection of its own), each batch within `within`. The task ends once the
    /// notifier is dropped and everything queued before was sent.
    pub(crate) fn new(
        pool: PgPool,
        channel: String,
        within: Duration,
    ) -> (Notifier, impl Future<Output = ()>) {
        let (queue, pending) = mpsc::unbounded_channel();
        (Notifier { queue }, send(pool, channel, within, pending))
    }

    /// Queues `payloads` for the next batch and returns: the writer's own waiters were woken
    /// already, and waiters elsewhere need no answer from it (an announcement that fails to
    /// go out is made up for within [`MISSED_POLL`]).
    pub(crate) fn announce(&self, payloads: Vec<String>) {
        if !payloads.is_empty() {
            // Only fails once the sending task is gone, when nobody is left to hear it.
            let _ = self.queue.send((payloads, None));
        }
    }

    /// Returns once everything queued so far was sent, or failed to be.
    pub(crate) async fn flush(&self) {
        let (sent, done) = oneshot::channel();
        if self.queue.send((Vec::new(), Some(sent))).is_ok() {
            // An error means the sending task is gone: nothing is left to send.
            let _ = done.await;
        }
    }
}

/// The notifier's task: whatever writes queued while the last batch was being sent goes out
/// as the next batch, so concurrent writes share one transaction and one lock.
async fn send(
    pool: PgPool,
    channel: String,
    within: Duration,
    mut pending: mpsc::UnboundedReceiver<Pending>,
) {
    let mut batch = Vec::new();
    while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let payloads: Vec<&str> = batch
            .iter()
            .flat_map(|(payloads, _)| payloads.iter().map(String::as_str))
            .collect();
        if !payloads.is_empty() {
            let sent = sqlx::query(sql::NOTIFY)
                .bind(&channel)
                .bind(&payloads)
                .execute(&pool);
            // One that failed is made up for by the waiters' stores within MISSED_POLL.
            let _ = tokio::time::timeout(within, sent).await;
        }
        for (_, flushed) in batch.drain(..) {
            if let Some(flushed) = flushed {
                // A caller that gave up waiting needs no answer.
                let _ = flushed.send(());
            }
        }
    }
}

/// The fallback for lost announcements: every [`MISSED_POLL`], reads the versions of the
/// watched tasks and wakes the waiters of those that moved. Runs until the store aborts it.
pub(crate) async fn poll(pool: PgPool, waiters: Arc<Waiters>, within: Duration) {
    let mut interval = tokio::time::interval(MISSED_POLL);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let ids: Vec<String> = waiters
            .watched_ids()
            .iter()
            .map(|id| id.to_string())
            .collect();
        if ids.is_empty() {
            continue;
        }
        let read = sqlx::query_as::<_, (String, i64)>(sql::SELECT_VERSIONS)
            .bind(&ids)
            .bind(time::now().timestamp_millis())
            .fetch_all(&pool);
        // A failed read is tried again on the next tick.
        let Ok(Ok(rows)) = tokio::time::timeout(within, read).await else {
            continue;
        };
        let versions: std::collections::HashMap<String, i64> = rows.into_iter().collect();
        for id in &ids {
            waiters.polled(id, versions.get(id).copied());
        }
    }
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
            Ok(Some(notification)) => notified(&waiters, notification.payload()),
            // The connection dropped and the listener is listening again on a new one (sqlx
            // reconnects before it returns this).
            Ok(None) => waiters.wake_all(),
            // Reconnecting failed, or the server ended the session: start over.
            Err(_) => listener = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;

    fn is_ready<F: Future>(future: Pin<&mut F>) -> bool {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        future.poll(&mut cx).is_ready()
    }

    #[test]
    fn a_payload_names_the_version_and_the_task() {
        let waiters = Arc::new(Waiters::default());
        let guard = waiters.watch("t 1");
        let armed = || {
            let mut notified = Box::pin(guard.notify().notified());
            notified.as_mut().enable();
            notified
        };
        let mut first = armed();
        notified(&waiters, "5 t 1");
        assert!(is_ready(first.as_mut()), "a change; ids may hold spaces");
        let mut gone = armed();
        notified(&waiters, "gone t 1");
        assert!(is_ready(gone.as_mut()), "a deletion");
        let mut odd = armed();
        notified(&waiters, "v2 t 1");
        assert!(is_ready(odd.as_mut()), "an unknown version: read afresh");
        let mut other = armed();
        notified(&waiters, "3 unwatched");
        notified(&waiters, "garbage");
        assert!(!is_ready(other.as_mut()), "another task, or no task at all");
    }
}
