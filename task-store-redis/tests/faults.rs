//! Faults, against a `redis-server` each test starts on a spare port: while Redis is down or
//! frozen every call fails with a retryable error (no panic, no hang), and once it is back the
//! same store works again, scripts reloaded and waiters woken by pub/sub.

mod support;

use serde_json::Map;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use support::{HANG, PrivateRedis, channel_of, fresh_prefix, open_at, until_subscribers};
use task_core::{
    NewTask, PageRequest, Scope, StoreConfig, Task, TaskError, TaskStatus, TaskStore, TaskStoreExt,
};
use task_store_redis::{RedisOptions, RedisTaskStore, redis};
use tokio::time::Instant;

/// Short timeouts, and a polling fallback that never fires within a test, so that every
/// wake-up seen here came by pub/sub.
fn options() -> RedisOptions {
    RedisOptions::default()
        .with_key_prefix(fresh_prefix())
        .with_connect_timeout(Duration::from_millis(500))
        .with_response_timeout(Duration::from_secs(1))
        .with_reconnect_retries(1)
        .with_fallback_poll_interval(Duration::from_secs(3_600))
}

async fn open(server: &PrivateRedis) -> Arc<RedisTaskStore> {
    Arc::new(open_at(&server.url(), StoreConfig::default(), options()).await)
}

fn query<T: redis::FromRedisValue>(server: &PrivateRedis, command: &mut redis::Cmd) -> T {
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_connection_with_timeout(HANG).unwrap();
    command.query(&mut connection).unwrap()
}

/// Runs `call`, which must end (within the hang guard) with a retryable backend error.
async fn fails_retryably<T: std::fmt::Debug>(
    what: &str,
    call: impl Future<Output = Result<T, TaskError>>,
) {
    let start = Instant::now();
    match tokio::time::timeout(HANG, call).await {
        Ok(Err(error)) if error.is_retryable() => {
            eprintln!(
                "{what}: retryable error after {:?}: {error}",
                start.elapsed()
            );
        }
        Ok(other) => panic!("{what} gave {other:?}, expected a retryable backend error"),
        Err(_) => panic!("{what} hung while Redis was away"),
    }
}

/// Every call of the store, each expected to fail retryably while Redis is away.
async fn every_call_fails_retryably(store: &RedisTaskStore, task: &Task) {
    let (all, id) = (&Scope::All, task.task_id.as_str());
    fails_retryably("create", store.create(NewTask::new())).await;
    fails_retryably("get", store.get(all, id)).await;
    fails_retryably("get_record", store.get_record(all, id)).await;
    fails_retryably("get_result", store.get_result(all, id)).await;
    fails_retryably("update", store.set_message(all, id, "x")).await;
    fails_retryably("cancel", store.cancel(all, id)).await;
    fails_retryably("list", store.list(all, PageRequest::first())).await;
    fails_retryably("delete", store.delete(all, id)).await;
    fails_retryably(
        "wait_for_update",
        store.wait_for_update(all, id, task.last_updated_at, None),
    )
    .await;
    fails_retryably("notify_update", store.notify_update(id)).await;
    fails_retryably("purge_expired", store.purge_expired()).await;
    fails_retryably("recover_stuck", store.recover_stuck(Duration::ZERO, "lost")).await;
}

/// Retries `create` until Redis answers again; every failure meanwhile must be retryable.
async fn create_once_back(store: &RedisTaskStore) -> Task {
    let start = Instant::now();
    loop {
        match store.create(NewTask::new().owned_by("alice")).await {
            Ok(task) => {
                eprintln!("back after {:?}", start.elapsed());
                return task;
            }
            Err(error) => assert!(error.is_retryable(), "while reconnecting: {error}"),
        }
        assert!(start.elapsed() < HANG, "the store never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a waiter of `task` is subscribed on `server`.
async fn until_subscribed(server: &PrivateRedis, store: &RedisTaskStore, task: &Task) {
    let channel = channel_of(&store.options().key_prefix, &task.task_id);
    until_subscribers(&server.url(), &channel, 1).await;
}

/// A waiter (which never polls) wakes by pub/sub when the task completes.
async fn waiter_wakes(server: &PrivateRedis, store: &Arc<RedisTaskStore>, task: &Task) {
    let waiter = {
        let (store, id, seen) = (store.clone(), task.task_id.clone(), task.last_updated_at);
        tokio::spawn(async move { store.wait_for_update(&Scope::All, &id, seen, None).await })
    };
    until_subscribed(server, store, task).await;
    store
        .complete(&Scope::All, &task.task_id, Map::new())
        .await
        .unwrap();
    let woke = tokio::time::timeout(HANG, waiter)
        .await
        .expect("the waiter hung")
        .unwrap()
        .unwrap();
    assert_eq!(woke.status, TaskStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_fails_calls_retryably_then_the_same_store_works_again() {
    let mut server = PrivateRedis::start();
    let store = open(&server).await;
    let before = store
        .create(NewTask::new().owned_by("alice"))
        .await
        .unwrap();

    // A waiter parked when Redis dies ends with a retryable error instead of hanging.
    let parked = {
        let (store, id, seen) = (
            store.clone(),
            before.task_id.clone(),
            before.last_updated_at,
        );
        tokio::spawn(async move { store.wait_for_update(&Scope::All, &id, seen, None).await })
    };
    until_subscribed(&server, &store, &before).await;

    server.stop();
    fails_retryably("a parked waiter", async { parked.await.unwrap() }).await;
    every_call_fails_retryably(&store, &before).await;
    fails_retryably(
        "opening another store",
        RedisTaskStore::open_with(&server.url(), StoreConfig::default(), options()),
    )
    .await;

    server.restart();
    let task = create_once_back(&store).await;
    // Without persistence the restart lost every earlier task.
    assert!(matches!(
        store.get(&Scope::All, &before.task_id).await,
        Err(TaskError::NotFound { .. })
    ));
    // The restart emptied the script cache: each script is loaded again on NOSCRIPT.
    let alice = Scope::owner("alice");
    store
        .set_message(&alice, &task.task_id, "half way")
        .await
        .unwrap();
    let listed = store.list(&alice, PageRequest::first()).await.unwrap();
    assert_eq!(listed.tasks.len(), 1);
    assert_eq!(store.purge_expired().await.unwrap(), 0);
    assert!(store.delete(&alice, &task.task_id).await.unwrap());
    // And the subscriber is back: a waiter that never polls wakes.
    let task = store.create(NewTask::new()).await.unwrap();
    waiter_wakes(&server, &store, &task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_times_out_retryably_then_recovers() {
    let server = PrivateRedis::start();
    let store = open(&server).await;
    let task = store.create(NewTask::new()).await.unwrap();
    server.signal("STOP");
    fails_retryably("get", store.get(&Scope::All, &task.task_id)).await;
    fails_retryably("update", store.set_message(&Scope::All, &task.task_id, "x")).await;
    fails_retryably("create", store.create(NewTask::new())).await;
    server.signal("CONT");
    let start = Instant::now();
    loop {
        match store.get(&Scope::All, &task.task_id).await {
            Ok(_) => break,
            Err(error) => assert!(error.is_retryable(), "after resuming: {error}"),
        }
        assert!(start.elapsed() < HANG, "the store never recovered");
    }
    let changed = store
        .set_message(&Scope::All, &task.task_id, "after the freeze")
        .await
        .unwrap();
    assert_eq!(changed.status_message.as_deref(), Some("after the freeze"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushed_scripts_are_loaded_again() {
    let server = PrivateRedis::start();
    let store = open(&server).await;
    let task = store.create(NewTask::new()).await.unwrap();
    let _: String = query(&server, redis::cmd("SCRIPT").arg("FLUSH"));
    let changed = store
        .set_message(&Scope::All, &task.task_id, "x")
        .await
        .unwrap();
    assert_eq!(changed.status_message.as_deref(), Some("x"));
    store.create(NewTask::new()).await.unwrap();
    assert!(store.delete(&Scope::All, &task.task_id).await.unwrap());
    let cached: Vec<i64> = query(
        &server,
        redis::cmd("SCRIPT").arg("EXISTS").arg(update_sha()),
    );
    assert_eq!(cached, [1], "update.lua is cached again");
}

fn update_sha() -> String {
    redis::Script::new(include_str!("../src/lua/update.lua"))
        .get_hash()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_missed_while_the_subscriber_reconnects_still_wakes_the_waiter() {
    let server = PrivateRedis::start();
    let store = open(&server).await;
    let task = store.create(NewTask::new()).await.unwrap();
    let waiter = {
        let (store, id, seen) = (store.clone(), task.task_id.clone(), task.last_updated_at);
        tokio::spawn(async move { store.wait_for_update(&Scope::All, &id, seen, None).await })
    };
    until_subscribed(&server, &store, &task).await;
    // Cut the subscriber's connection, then change the task at once: its message finds no
    // subscriber, so only the subscriber's reconnection (which wakes every waiter) can end
    // the wait; the waiter never polls.
    let killed: i64 = query(
        &server,
        redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub"),
    );
    assert_eq!(killed, 1);
    store
        .complete(&Scope::All, &task.task_id, Map::new())
        .await
        .unwrap();
    let woke = tokio::time::timeout(HANG, waiter)
        .await
        .expect("the waiter hung after losing its message")
        .unwrap()
        .unwrap();
    assert_eq!(woke.status, TaskStatus::Completed);
    // The subscriber is usable again.
    let next = store.create(NewTask::new()).await.unwrap();
    waiter_wakes(&server, &store, &next).await;
}
