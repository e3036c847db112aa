//! The background sweeper: removes the index entries of expired tasks every
//! [`RedisOptions::sweep_interval`](crate::RedisOptions::sweep_interval), so that the indexes
//! shrink back after expiry even when nothing lists or purges.
//!
//! Redis drops an expired task's hash by itself, but not the task's entries in the store-wide
//! and per-owner sorted sets. Any number of processes may share one store, so before each
//! batch the sweeper takes or extends a lease in Redis (`lua/lease.lua`): one process sweeps
//! at a time. The lease outlives the sweep by design, so whichever process sweeps next starts
//! no sooner than a lease's length later, and a store sees about one sweep per interval
//! however many processes share it. A failed sweep (Redis away, say) is tried again on the
//! next tick; expired tasks are never listed either way.

use super::RedisTaskStore;
use crate::error::corrupt;
use crate::scripts;
use redis::Value;
use std::time::Duration;
use task_core::TaskError;
use tokio::time::{Instant, MissedTickBehavior};

/// Sweeps `store` every `every`, forever: the store that spawned it aborts it when dropped.
pub(super) async fn run(store: RedisTaskStore, every: Duration) {
    let lease = Lease::new(&store, every);
    let mut interval = tokio::time::interval_at(Instant::now() + every, every);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        // An error ends this sweep only; the next tick tries again.
        let _ = store.sweep(&lease).await;
    }
}

/// One store's claim on the sweeper's lease.
#[derive(Debug)]
pub(super) struct Lease {
    /// Names this store object as the holder.
    token: String,
    /// How long a take or extension holds the lease, in ms.
    ms: u64,
}

impl Lease {
    /// A claim of `store`, held for the sweep interval or for as long as one call may take,
    /// whichever is longer: a batch never outlasts the lease that covers it.
    pub(super) fn new(store: &RedisTaskStore, every: Duration) -> Lease {
        let length = every.max(store.options.call_deadline());
        Lease {
            token: task_core::generate_task_id(),
            ms: u64::try_from(length.as_millis()).unwrap_or(u64::MAX).max(1),
        }
    }
}

impl RedisTaskStore {
    /// Takes or extends the lease; whether this store now holds it.
    pub(super) async fn take_lease(&self, lease: &Lease) -> Result<bool, TaskError> {
        let keys = [self.keys.sweep_lease()];
        let ms = lease.ms.to_string();
        let args: [&[u8]; 2] = [lease.token.as_bytes(), ms.as_bytes()];
        match self.invoke(&scripts::LEASE, &keys, &args).await? {
            Value::Int(1) => Ok(true),
            Value::Int(0) => Ok(false),
            other => Err(corrupt(format!("lease script answered {other:?}"))),
        }
    }

    /// One sweep, batch by batch while this store holds the lease; how many tasks left the
    /// index (none when another process holds the lease).
    pub(super) async fn sweep(&self, lease: &Lease) -> Result<u64, TaskError> {
        self.purge_while(|| self.take_lease(lease)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RedisOptions;
    use std::sync::Arc;
    use task_core::{NewTask, StoreConfig, TaskStore};

    fn url() -> String {
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
    }

    async fn open(prefix: &str, sweep: Option<Duration>) -> RedisTaskStore {
        let options = RedisOptions::default()
            .with_key_prefix(prefix)
            .with_sweep_interval(sweep);
        RedisTaskStore::open_with(&url(), StoreConfig::default(), options)
            .await
            .unwrap()
    }

    fn fresh_prefix() -> String {
        format!("test-{}", uuid::Uuid::new_v4().simple())
    }

    /// Stores racing for the lease, really at once: exactly one wins, and only it may extend
    /// the lease while it lasts.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_of_many_racing_stores_holds_the_lease() {
        let prefix = fresh_prefix();
        let store = Arc::new(open(&prefix, None).await);
        let claims: Vec<Arc<Lease>> = (0..16)
            .map(|_| Arc::new(Lease::new(&store, Duration::from_secs(60))))
            .collect();
        let start = Arc::new(tokio::sync::Barrier::new(claims.len()));
        let racers: Vec<_> = claims
            .iter()
            .map(|lease| {
                let (store, lease, start) = (store.clone(), lease.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    store.take_lease(&lease).await.unwrap()
                })
            })
            .collect();
        let mut won = Vec::new();
        for (racer, lease) in racers.into_iter().zip(&claims) {
            if racer.await.unwrap() {
                won.push(lease.clone());
            }
        }
        assert_eq!(won.len(), 1, "exactly one store holds the lease");
        assert!(
            store.take_lease(&won[0]).await.unwrap(),
            "the holder extends"
        );
        for lease in claims.iter().filter(|l| l.token != won[0].token) {
            assert!(!store.take_lease(lease).await.unwrap(), "others wait");
            assert_eq!(store.sweep(lease).await.unwrap(), 0, "and do not sweep");
        }
        let mut del = redis::cmd("DEL");
        del.arg(store.keys.sweep_lease());
        store.query::<i64>(&del).await.unwrap();
    }

    /// The sweeper's task ends when its store is dropped, and it has swept meanwhile.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sweeper_stops_when_the_store_is_dropped() {
        let prefix = fresh_prefix();
        let store = open(&prefix, Some(Duration::from_millis(20))).await;
        let handle = store.sweeper.clone().expect("a sweeper");
        store
            .create(NewTask::new().owned_by("alice").with_ttl(1))
            .await
            .unwrap();
        let all = store.keys.all();
        let swept = async {
            loop {
                let mut count = redis::cmd("ZCARD");
                count.arg(&all);
                if store.query::<u64>(&count).await.unwrap() == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), swept)
            .await
            .expect("the sweeper removes the expired task's entries");
        assert!(!handle.is_finished());
        let lease = store.keys.sweep_lease();
        drop(store);
        let stopped = async {
            while !handle.is_finished() {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), stopped)
            .await
            .expect("the sweeper stops");
        let other = open(&prefix, None).await;
        let mut del = redis::cmd("DEL");
        del.arg(lease);
        other.query::<i64>(&del).await.unwrap();
    }

    #[tokio::test]
    async fn no_sweeper_when_turned_off() {
        let store = open(&fresh_prefix(), None).await;
        assert!(store.sweeper.is_none());
    }
}
