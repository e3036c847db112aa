//! Waking waiters: at once for writes made through this store, and through PostgreSQL's
//! `LISTEN`/`NOTIFY` for writes made by any store or process on the same schema.
//!
//! The waiters themselves are a [`task_core::backend::Waiters`]: a waiter registers before it
//! reads the task, so a write that lands after the read wakes it and a write before the read
//! is seen by the read.
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
//! made meanwhile ends its wait then. A waiter whose read fails meanwhile (the server is
//! away) keeps waiting ([`Waiters::through_outages`]) and reads again at that wake-up, or
//! after a pause if the read failed for another reason.

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use task_core::backend::Waiters;

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
    use std::future::Future;
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
