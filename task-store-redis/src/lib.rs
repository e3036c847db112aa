//! A [`TaskStore`](task_core::TaskStore) on Redis: how MCP servers scale past one machine.
//! Any number of server processes and workers share one store, and a waiter in one process
//! wakes when a worker in another finishes its task.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), task_core::TaskError> {
//! use task_core::{NewTask, Scope, StoreConfig, TaskStore, TaskStoreExt};
//! use task_store_redis::{RedisOptions, RedisTaskStore};
//!
//! let url = std::env::var("REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
//! # let prefix = format!("doc-{}", task_core::generate_task_id());
//! let options = RedisOptions::default().with_key_prefix(&prefix);
//! let store = RedisTaskStore::open_with(&url, StoreConfig::default(), options).await?;
//! let task = store.create(NewTask::new().owned_by("session-1")).await?;
//! let alice = Scope::owner("session-1");
//! store.complete(&alice, &task.task_id, serde_json::Map::new()).await?;
//! assert!(store.get(&alice, &task.task_id).await?.is_terminal());
//! assert!(store.delete(&alice, &task.task_id).await?);
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//!
//! - **Atomic changes.** Every change that touches more than one key, or reads and then
//!   writes, is one Lua script (`src/lua/*.lua`): create (which refuses a live id and checks
//!   the limits), the status compare-and-set, completion with its outcome, cancel, and delete,
//!   each with its index updates. The status rules come from [`task_core::backend::CHANGEABLE`],
//!   passed to the script; `lastUpdatedAt` is stamped in the script as `max(now, previous + 1)`
//!   on Redis's clock, so it strictly increases whichever process writes. Scripts are loaded
//!   once and run by EVALSHA; after a restart flushed them, they are loaded again on NOSCRIPT.
//!   The tasks extension's input requests, answers and cancel requests take the record path of
//!   [`task_core::backend::update_by_record`]: task-core applies its rules to the record read
//!   with `HGETALL`, and `replace.lua` writes it only if `lastUpdatedAt` is still what was
//!   read, stamped in Rust as `max(now, previous + 1)`.
//! - **One round trip per call.** A get is one `HMGET`, a change one `EVALSHA`, and all
//!   callers share one multiplexed connection. A page of a listing is one range read plus one
//!   pipelined read of its tasks.
//! - **Keys.** Every key starts with the hash tag `{prefix}` ([`RedisOptions::key_prefix`]),
//!   so a store's keys share one cluster slot and stores with different prefixes never meet.
//!   Ids and owners are hex-encoded inside key names: no id or owner can name another key.
//! - **TTL from creation.** A task's hash gets `PEXPIREAT` creation + ttl, so Redis itself
//!   reclaims it. Listing walks a per-owner (or store-wide) sorted set ordered by creation
//!   time then id, with keyset cursors; it skips and prunes entries of expired tasks, as do
//!   [`TaskStore::purge_expired`](task_core::TaskStore::purge_expired) and a background
//!   sweeper every [`RedisOptions::sweep_interval`]: a lease in Redis lets one of the
//!   processes sharing a store sweep at a time. Limits count only unfinished, unexpired
//!   tasks, kept in two sorted sets that a task leaves when it ends;
//!   [`TaskStore::recover_stuck`](task_core::TaskStore::recover_stuck) reads only those, so
//!   its cost follows the tasks running, not the tasks kept.
//! - **Waiting without polling.** Every change `PUBLISH`es on the task's channel. A waiter
//!   subscribes, and only once Redis has confirmed the subscription does it re-read the task,
//!   so no wake-up is lost. A status change publishes the changed task itself, so a woken
//!   waiter returns it without another round trip. One pub/sub connection per store serves
//!   all its waiters and sends subscription changes in batches while messages keep flowing.
//!   If that connection drops, waiters fall back to polling every
//!   [`RedisOptions::fallback_poll_interval`] until it is back, so a lost message delays a waiter but
//!   never hangs it.
//! - **Faults.** While Redis is unreachable every call fails within
//!   [`RedisOptions::call_deadline`] with a [`TaskError::Backend`](task_core::TaskError)
//!   that is retryable (`is_retryable()`), and never panics or hangs. When Redis is back the
//!   same store reconnects by itself.
//!
//! # What Redis itself must provide
//!
//! - **Durability is Redis's.** A task is acknowledged once Redis has it in memory. A Redis
//!   restarted without persistence (no RDB or AOF) comes back empty: every task, result and
//!   index is gone, and reads answer not found. Use `appendonly yes` (with `appendfsync
//!   everysec`, at most about a second of acknowledged writes can be lost on a crash).
//! - **Cluster.** All of a store's keys share the slot of its `{prefix}` tag, so the scripts
//!   run on a cluster unchanged, but one store lives on one shard: give each tenant or
//!   application its own prefix to spread load. Wake-ups use classic pub/sub, which a cluster
//!   forwards to every node. This crate connects to one node URL; for a cluster, point it at
//!   the primary that owns the prefix's slot, or use a proxy.
//! - **Clocks.** Timestamps and expiry use Redis's clock (`TIME` in the scripts), so
//!   processes with skewed clocks still agree on them. Needs Redis 6.2 or later.
//!
//! # TLS
//!
//! A `rediss://` URL connects over TLS (rustls, with ring for its cryptography, installed as
//! the process's rustls provider unless the program installed one first). The server's
//! certificate is always verified, against the system's trust store by default (or the PEM
//! file in `SSL_CERT_FILE`, the directory in `SSL_CERT_DIR`), or against the authorities
//! given in [`RedisOptions::with_tls_root_certificates`]; `#insecure` URLs are refused.
//! Client certificates are not supported. A failed handshake (an untrusted, expired or
//! mismatched certificate, a server that does not speak TLS) is a backend error with
//! [`Retry::Never`](task_core::Retry) whose source is a [`TlsError`]: configuration, which
//! retrying cannot fix.
//!
//! # Replies that cannot be read
//!
//! A reply the driver cannot parse, or a script reply that is not one the script gives, comes
//! after the call was sent. For a change (create, update, delete, purge) that means it may
//! have landed, so the error says [`Retry::OutcomeUnknown`](task_core::Retry), never
//! `Retry::Never`: repeat a create with your own id, or read the task first.

#![warn(missing_docs)]

mod error;
mod keys;
mod options;
mod record;
mod scripts;
mod store;
mod subscriber;

pub use error::{BACKEND, TlsError};
pub use keys::{MAX_PREFIX_LEN, validate_prefix};
pub use options::{PREFIX_PARAM, RedisOptions, SWEEP_PARAM};
pub use redis;
pub use store::RedisTaskStore;
