//! Records written before the store kept input request keys and answers (`used`, `rsp`)
//! stay readable, and take the tasks extension's changes.

mod support;

use serde_json::{Map, json};
use std::collections::HashMap;
use support::{Scratch, raw, redis_url};
use task_core::{NewTask, Scope, StoreConfig, TaskStatus, TaskStore, TaskStoreExt};
use task_store_redis::redis;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_without_input_fields_reads_and_takes_input_rounds() {
    let store = Scratch::open(StoreConfig::default()).await;
    let task = store
        .create(NewTask::new().owned_by("alice"))
        .await
        .unwrap();
    let key = store
        .keys()
        .into_iter()
        .find(|k| k.contains(":t:"))
        .expect("the task's hash");
    // Rewrite the hash with exactly the fields an earlier release wrote.
    let mut connection = raw(&redis_url());
    let created = task.created_at.timestamp_millis().to_string();
    let _: () = redis::cmd("DEL").arg(&key).query(&mut connection).unwrap();
    let old = [
        ("id", task.task_id.as_str()),
        ("st", "working"),
        ("rev", "2025-11-25"),
        ("own", "alice"),
        ("c", created.as_str()),
        ("u", created.as_str()),
    ];
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg(&old[..])
        .query(&mut connection)
        .unwrap();

    let alice = Scope::owner("alice");
    let record = store.get_record(&alice, &task.task_id).await.unwrap();
    assert!(record.input_keys_used.is_empty() && record.input_responses.is_empty());
    let ask = Map::from_iter([("name".to_owned(), json!({"method": "elicitation/create"}))]);
    let parked = store
        .request_input(&alice, &task.task_id, ask)
        .await
        .unwrap();
    assert_eq!(parked.status, TaskStatus::InputRequired);
    let answer = Map::from_iter([("name".to_owned(), json!("Ada"))]);
    let resumed = store
        .respond(&alice, &task.task_id, answer.clone())
        .await
        .unwrap();
    assert_eq!(resumed.status, TaskStatus::Working);
    let record = store.get_record(&alice, &task.task_id).await.unwrap();
    assert_eq!(record.input_responses, answer);
    let fields: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(&key)
        .query(&mut connection)
        .unwrap();
    assert_eq!(fields.get("used").map(String::as_str), Some(r#"["name"]"#));
    assert!(!fields.contains_key("inp"), "nothing pending, no field");
}
