//! Waiting across processes: this test binary runs itself again as a child (selected by an
//! environment variable) that opens the same store, and the two talk over the child's stdout.
//! Both sides poll only once an hour, so only a pub/sub wake-up can end a wait in time.

mod support;

use conformance_tests::child::{self, Kid};
use conformance_tests::delegate::Delegating;
use std::time::Duration;
use support::{HANG, Scratch, fresh_prefix, open_at, redis_url};
use task_core::{NewTask, Scope, StoreConfig, TaskStore};
use task_store_redis::RedisOptions;

/// Selects the child's role; unset in the parent.
const ROLE: &str = "TASK_STORE_REDIS_CHILD_ROLE";
const PREFIX: &str = "TASK_STORE_REDIS_CHILD_PREFIX";
const TASK: &str = "TASK_STORE_REDIS_CHILD_TASK";

fn push_only(prefix: &str) -> RedisOptions {
    RedisOptions::default()
        .with_key_prefix(prefix)
        .with_fallback_poll_interval(Duration::from_secs(3_600))
}

/// The child: the shared [`child::act`] roles.
async fn child(role: &str) {
    let var = |name| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let (prefix, task_id) = (var(PREFIX), var(TASK));
    let store = open_at(&redis_url(), StoreConfig::default(), push_only(&prefix)).await;
    let scope = Scope::owner("alice");
    if !child::act(role, &store, &scope, &task_id, HANG).await {
        panic!("unknown child role {role:?}");
    }
}

/// Starts `test` again in a child process with `role`, on `prefix`, given `task_id`.
fn spawn_child(test: &str, role: &str, prefix: &str, task_id: &str) -> Kid {
    Kid::spawn(test, &[(ROLE, role), (PREFIX, prefix), (TASK, task_id)])
}

/// A scratch store that only pub/sub wakes, a task of alice's in it, and a child acting out
/// `role` of [`child::act`] on that task, for the shared scenarios.
async fn act_in_child(test: &str, role: &str) -> (Delegating<Scratch>, String, Kid) {
    let prefix = fresh_prefix();
    let store = Scratch::open_with(StoreConfig::default(), push_only(&prefix)).await;
    let task = store
        .create(NewTask::new().owned_by("alice"))
        .await
        .unwrap();
    let kid = spawn_child(test, role, &prefix, &task.task_id);
    (store, task.task_id, kid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_in_another_process_wakes() {
    if let Ok(role) = std::env::var(ROLE) {
        return child(&role).await;
    }
    let test = "a_waiter_in_another_process_wakes";
    let (store, task_id, kid) = act_in_child(test, child::WAIT).await;
    child::waiter_wakes(&store, kid, &Scope::owner("alice"), &task_id, HANG).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_in_another_process_wakes_this_waiter() {
    if let Ok(role) = std::env::var(ROLE) {
        return child(&role).await;
    }
    let test = "a_worker_in_another_process_wakes_this_waiter";
    let (store, task_id, kid) = act_in_child(test, child::COMPLETE).await;
    child::worker_wakes(&store, kid, &Scope::owner("alice"), &task_id, HANG).await;
}

/// A worker waiting for its input answer, and then for a cancel request, is woken by both,
/// written by another process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_wakes_on_answers_and_cancel_requests_from_another_process() {
    if let Ok(role) = std::env::var(ROLE) {
        return child(&role).await;
    }
    let test = "a_worker_wakes_on_answers_and_cancel_requests_from_another_process";
    let (store, task_id, kid) = act_in_child(test, child::ANSWER).await;
    child::worker_hears_answers(&store, kid, &Scope::owner("alice"), &task_id, HANG).await;
}
