//! Key safety against a real Redis: ids and owners full of key syntax (`{ } : * ?`), spaces
//! and unicode stay inside their own keys, every key carries the store's hash tag first, and
//! prefixes cannot reach each other.

mod support;

use serde_json::Map;
use std::collections::HashSet;
use support::{Scratch, fresh_prefix, redis_url};
use task_core::{NewTask, PageRequest, Scope, StoreConfig, TaskError, TaskStore, TaskStoreExt};
use task_store_redis::{RedisOptions, RedisTaskStore};

/// Names chosen to collide with each other or with key syntax if they were spliced raw.
const NAMES: [&str; 14] = [
    "a",
    "61",
    "t:61",
    "a:b",
    "{tag}",
    "}{",
    "{",
    "*",
    "?",
    "[x]*?",
    "with space",
    " ",
    "ünïcødé-任务-🎉",
    "u\u{308}",
];

/// The text between the first `{` and the first `}` after it: what decides a key's slot.
fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let close = key[open + 1..].find('}')? + open + 1;
    Some(&key[open + 1..close])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_ids_and_owners_stay_in_their_own_keys() {
    let prefix = fresh_prefix();
    let options = RedisOptions::default().with_key_prefix(prefix.clone());
    let store = Scratch::open_with(StoreConfig::default(), options).await;
    for name in NAMES {
        let new = NewTask::new()
            .with_id(name)
            .owned_by(name)
            .with_ttl(600_000);
        store.create(new).await.expect("create");
    }
    // Each owner sees exactly its own task, by get and by list.
    for name in NAMES {
        let scope = Scope::owner(name);
        let listed = store.list(&scope, PageRequest::first()).await.unwrap();
        let ids: Vec<&str> = listed.tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, [name], "owner {name:?} lists");
        for other in NAMES.iter().filter(|other| **other != name) {
            assert!(
                matches!(
                    store.get(&scope, other).await,
                    Err(TaskError::NotFound { .. })
                ),
                "{name:?} must not see {other:?}"
            );
        }
    }
    // Every key sits under the prefix's tag; per task: its hash, its owner's index and expiry
    // sets; plus the store-wide index and expiry sets.
    let keys = store.keys();
    for key in &keys {
        assert!(key.starts_with(&format!("{{{prefix}}}:")), "{key}");
        assert_eq!(hash_tag(key), Some(prefix.as_str()), "{key}");
    }
    assert_eq!(keys.len(), 3 * NAMES.len() + 2, "{keys:#?}");
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), keys.len());

    // Changing or deleting one task leaves every other untouched.
    let victim = "{tag}";
    store
        .complete(&Scope::owner(victim), victim, Map::new())
        .await
        .unwrap();
    assert!(store.delete(&Scope::owner(victim), victim).await.unwrap());
    let left = store.list(&Scope::All, PageRequest::first()).await.unwrap();
    assert_eq!(left.tasks.len(), NAMES.len() - 1);
    for task in &left.tasks {
        assert_eq!(
            task.status,
            task_core::TaskStatus::Working,
            "{}",
            task.task_id
        );
    }
    assert_eq!(store.keys().len(), 3 * (NAMES.len() - 1) + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_with_different_prefixes_never_meet() {
    let base = fresh_prefix();
    // "p" and "p:t" would collide if the tag did not end each prefix: {p}:t:... vs {p:t}:...
    let one = Scratch::open_with(
        StoreConfig::default(),
        RedisOptions::default().with_key_prefix(base.clone()),
    )
    .await;
    let two = Scratch::open_with(
        StoreConfig::default(),
        RedisOptions::default().with_key_prefix(format!("{base}:t")),
    )
    .await;
    one.create(NewTask::new().with_id("61").owned_by("x"))
        .await
        .unwrap();
    two.create(NewTask::new().with_id("61").owned_by("x"))
        .await
        .unwrap();
    two.cancel(&Scope::All, "61").await.unwrap();
    let seen = one.get(&Scope::owner("x"), "61").await.unwrap();
    assert_eq!(seen.status, task_core::TaskStatus::Working);
    assert_eq!(
        one.list(&Scope::All, PageRequest::first())
            .await
            .unwrap()
            .tasks
            .len(),
        1
    );
    assert!(one.delete(&Scope::All, "61").await.unwrap());
    assert!(
        two.get(&Scope::All, "61").await.is_ok(),
        "the other store keeps its task"
    );
    assert!(
        one.keys().is_empty(),
        "deleting the last task leaves no key behind"
    );
}

#[tokio::test]
async fn unsafe_prefixes_are_refused() {
    for bad in [
        "", "a{b", "a}b", "{a}", "a*", "a?b", "[a]", "a b", "ü", "a\nb",
    ] {
        let options = RedisOptions::default().with_key_prefix(bad);
        match RedisTaskStore::open_with(&redis_url(), StoreConfig::default(), options).await {
            Err(TaskError::InvalidInput(_)) => {}
            other => panic!("prefix {bad:?} gave {other:?}"),
        }
    }
    let base = redis_url();
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}prefix=%7Bevil%7D");
    assert!(matches!(
        RedisTaskStore::open(&url, StoreConfig::default()).await,
        Err(TaskError::InvalidInput(_))
    ));
}
