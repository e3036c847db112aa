//! Waiting across processes: this test binary runs itself again as a child (selected by an
//! environment variable) that opens the same store, and the two talk over the child's stdout.
//! Both sides poll only once an hour, so only a pub/sub wake-up can end a wait in time.

mod support;

use conformance_tests::child;
use std::time::Duration;
use support::{HANG, Scratch, fresh_prefix, open_at, redis_url};
use task_core::{Scope, StoreConfig};
use task_store_redis::RedisOptions;

/// Selects the child's role; unset in the parent.
const ROLE: &str = "TASK_STORE_REDIS_CHILD_ROLE";
const PREFIX: &str = "TASK_STORE_REDIS_CHILD_PREFIX";

fn push_only(prefix: &str) -> RedisOptions {
    RedisOptions::default()
        .with_key_prefix(prefix)
        .with_fallback_poll_interval(Duration::from_secs(3_600))
}

/// The child: the shared scenarios' roles ([`child::act_in_scenario`]).
async fn child(role: &str) {
    let prefix = std::env::var(PREFIX).unwrap_or_else(|_| panic!("{PREFIX} is not set"));
    let store = open_at(&redis_url(), StoreConfig::default(), push_only(&prefix)).await;
    let scope = Scope::owner("alice");
    if !child::act_in_scenario(role, &store, &scope, HANG).await {
        panic!("unknown child role {role:?}");
    }
}

/// Runs the shared scenario of `role` ([`child::scenario`]) on a scratch store that only
/// pub/sub wakes, with the child under the same prefix.
async fn shared_scenario(test: &str, role: &str) {
    let prefix = fresh_prefix();
    let store = Scratch::open_with(StoreConfig::default(), push_only(&prefix)).await;
    let vars = [(PREFIX, prefix.as_str())];
    child::scenario(&store, test, (ROLE, role), &vars, "alice", HANG).await;
}

conformance_tests::cross_process_scenarios!(ROLE, child, shared_scenario);
