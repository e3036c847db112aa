//! Waiting across store instances: wake-ups travel by pub/sub, not by polling (the stores
//! here poll once an hour), and one subscription serves all waiters of a task in a store.

mod support;

use serde_json::{Map, json};
use std::sync::Arc;
use std::time::Duration;
use support::{
    Scratch, channel_of, fresh_prefix, raw, redis_url, subscribers, until_subscribers, within_hang,
};
use task_core::{NewTask, Scope, StoreConfig, TaskOutcome, TaskStatus, TaskStore, TaskStoreExt};
use task_store_redis::RedisOptions;

/// Options under `prefix` whose polling fallback never fires within a test.
fn push_only(prefix: &str) -> RedisOptions {
    RedisOptions::default()
        .with_key_prefix(prefix)
        .with_fallback_poll_interval(Duration::from_secs(3_600))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_instance_wakes_waiters_of_another() {
    let prefix = fresh_prefix();
    let waiting = Scratch::open_with(StoreConfig::default(), push_only(&prefix)).await;
    let working = Scratch::open_with(StoreConfig::default(), push_only(&prefix)).await;
    let task = working
        .create(NewTask::new().owned_by("alice"))
        .await
        .unwrap();
    let alice = Scope::owner("alice");

    // The waiter reads first and waits on what it read; the other instance changes the task
    // once the waiter's subscription is in place (a change before that is seen by its read).
    let waiting = Arc::new(waiting);
    let waiter = {
        let (store, alice, id) = (waiting.clone(), alice.clone(), task.task_id.clone());
        tokio::spawn(async move { store.wait_until_terminal(&alice, &id, None).await })
    };
    until_subscribers(&redis_url(), &channel_of(&prefix, &task.task_id), 1).await;
    working
        .set_status(
            &alice,
            &task.task_id,
            TaskStatus::InputRequired,
            Some("name?"),
        )
        .await
        .unwrap();
    let mut result = Map::new();
    result.insert(
        "content".into(),
        json!([{ "type": "text", "text": "done" }]),
    );
    working
        .complete(&alice, &task.task_id, result.clone())
        .await
        .unwrap();

    let woke = within_hang("the waiter", waiter).await.unwrap().unwrap();
    assert_eq!(
        woke.status,
        TaskStatus::Completed,
        "woken by the other instance"
    );
    assert_eq!(
        waiting.get_result(&alice, &task.task_id).await.unwrap(),
        Some(TaskOutcome::Result(result))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_of_a_task_share_one_subscription_released_when_done() {
    let prefix = fresh_prefix();
    let store = Arc::new(Scratch::open_with(StoreConfig::default(), push_only(&prefix)).await);
    let task = store.create(NewTask::new()).await.unwrap();
    let mut waiters = Vec::new();
    for _ in 0..16 {
        let (store, id, seen) = (store.clone(), task.task_id.clone(), task.last_updated_at);
        waiters.push(tokio::spawn(async move {
            store.wait_for_update(&Scope::All, &id, seen, None).await
        }));
    }
    let channel = channel_of(&prefix, &task.task_id);
    until_subscribers(&redis_url(), &channel, 1).await;
    // Let every waiter reach its wait; all of them ride on the one connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        subscribers(&redis_url(), &channel),
        1,
        "one subscription for 16 waiters"
    );

    store
        .complete(&Scope::All, &task.task_id, Map::new())
        .await
        .unwrap();
    for waiter in waiters {
        let woke = within_hang("a waiter", waiter).await.unwrap().unwrap();
        assert_eq!(woke.status, TaskStatus::Completed);
    }
    until_subscribers(&redis_url(), &channel, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_task_ends_waits_in_other_instances() {
    let prefix = fresh_prefix();
    let one = Arc::new(Scratch::open_with(StoreConfig::default(), push_only(&prefix)).await);
    let two = Scratch::open_with(StoreConfig::default(), push_only(&prefix)).await;
    let task = one.create(NewTask::new()).await.unwrap();
    let waiter = {
        let (store, id, seen) = (one.clone(), task.task_id.clone(), task.last_updated_at);
        tokio::spawn(async move { store.wait_for_update(&Scope::All, &id, seen, None).await })
    };
    until_subscribers(&redis_url(), &channel_of(&prefix, &task.task_id), 1).await;
    assert!(two.delete(&Scope::All, &task.task_id).await.unwrap());
    let ended = within_hang("the waiter", waiter).await;
    assert!(matches!(
        ended.unwrap(),
        Err(task_core::TaskError::NotFound { .. })
    ));
}

/// Waiters come and go on the same channels while another instance changes the tasks, so
/// subscribes and unsubscribes of one channel meet in the subscriber's batches. Polling never
/// fires here: a waiter left unsubscribed would hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_coming_and_going_never_miss_a_wake_up() {
    let prefix = fresh_prefix();
    let waiting = Arc::new(Scratch::open_with(StoreConfig::default(), push_only(&prefix)).await);
    let working = Scratch::open_with(StoreConfig::default(), push_only(&prefix)).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(working.create(NewTask::new()).await.unwrap().task_id);
    }
    for round in 0..100u64 {
        let status = if round % 2 == 0 {
            TaskStatus::InputRequired
        } else {
            TaskStatus::Working
        };
        let mut waiters = Vec::new();
        for id in &ids {
            let seen = waiting.get(&Scope::All, id).await.unwrap().last_updated_at;
            for i in 0..6 {
                let (store, id) = (waiting.clone(), id.clone());
                // Every other waiter gives up at once, releasing the channel under the rest.
                let give_up = (i % 2 == 1).then_some(Duration::ZERO);
                let waiter = tokio::spawn(async move {
                    store.wait_for_update(&Scope::All, &id, seen, give_up).await
                });
                if give_up.is_none() {
                    waiters.push((waiter, seen));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(round % 3)).await;
        for id in &ids {
            working
                .set_status(&Scope::All, id, status, None)
                .await
                .unwrap();
        }
        for (waiter, seen) in waiters {
            let woke = within_hang("a waiter", waiter).await.unwrap().unwrap();
            assert!(
                woke.last_updated_at > seen,
                "round {round}: woken by the change"
            );
        }
    }
    for id in &ids {
        until_subscribers(&redis_url(), &channel_of(&prefix, id), 0).await;
    }
}

/// A change that publishes nothing (written here straight into the task's hash, as a lost
/// message would leave it) still reaches the waiter by polling: delayed, never hung.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_without_a_message_is_found_by_polling() {
    let prefix = fresh_prefix();
    let options = RedisOptions::default()
        .with_key_prefix(&prefix)
        .with_fallback_poll_interval(Duration::from_millis(100));
    let store = Arc::new(Scratch::open_with(StoreConfig::default(), options).await);
    let task = store.create(NewTask::new()).await.unwrap();
    let waiter = {
        let (store, id, seen) = (store.clone(), task.task_id.clone(), task.last_updated_at);
        tokio::spawn(async move { store.wait_for_update(&Scope::All, &id, seen, None).await })
    };
    let channel = channel_of(&prefix, &task.task_id);
    until_subscribers(&redis_url(), &channel, 1).await;

    let hex: String = task.task_id.bytes().map(|b| format!("{b:02x}")).collect();
    let stamp = task.last_updated_at.timestamp_millis() + 5;
    task_store_redis::redis::cmd("HSET")
        .arg(format!("{{{prefix}}}:t:{hex}"))
        .arg("st")
        .arg("input_required")
        .arg("u")
        .arg(stamp)
        .query::<i64>(&mut raw(&redis_url()))
        .unwrap();

    let woke = within_hang("the waiter", waiter).await.unwrap().unwrap();
    assert_eq!(woke.status, TaskStatus::InputRequired, "found by polling");
    assert_eq!(woke.last_updated_at.timestamp_millis(), stamp);
}
