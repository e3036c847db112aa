//! Expiry inside Redis: task hashes carry `PEXPIREAT` creation + ttl, and the index entries
//! they leave behind are never listed and are pruned by listing, by purge and by the
//! background sweeper.

mod support;

use std::time::Duration;
use support::{HANG, Scratch, fresh_prefix, open_at, raw, redis_url};
use task_core::{NewTask, PageRequest, Scope, StoreConfig, Task, TaskError, TaskStore};
use task_store_redis::{RedisOptions, redis};

fn zcard(key: &str) -> u64 {
    redis::cmd("ZCARD")
        .arg(key)
        .query(&mut raw(&redis_url()))
        .unwrap()
}

fn key_of(store: &Scratch, kind: &str) -> String {
    store
        .keys()
        .into_iter()
        .find(|key| key.ends_with(kind))
        .unwrap_or_else(|| panic!("no key ending in {kind}"))
}

/// Waits until every one of `ids` reads as not found.
/// `per_owner` tasks with a 200 ms ttl for alice, bob and no owner, then one long-lived task
/// of bob's.
async fn short_and_long(store: &dyn TaskStore, per_owner: usize) -> (Vec<String>, Task) {
    let mut short = Vec::new();
    for owner in [Some("alice"), Some("bob"), None] {
        for _ in 0..per_owner {
            let mut new = NewTask::new().with_ttl(200);
            new.owner = owner.map(str::to_owned);
            short.push(store.create(new).await.unwrap().task_id);
        }
    }
    let keep = store
        .create(NewTask::new().owned_by("bob").with_ttl(600_000))
        .await
        .unwrap();
    (short, keep)
}

async fn until_expired(store: &dyn TaskStore, ids: &[String]) {
    let start = tokio::time::Instant::now();
    for id in ids {
        while store.get(&Scope::All, id).await.is_ok() {
            assert!(start.elapsed() < HANG, "task {id} never expired");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_keys_expire_at_creation_plus_ttl() {
    let store = Scratch::open(StoreConfig::default()).await;
    let task = store
        .create(NewTask::new().with_id("short").with_ttl(60_000))
        .await
        .unwrap();
    store
        .create(NewTask::new().with_id("forever"))
        .await
        .unwrap();
    let mut connection = raw(&redis_url());
    let task_key = |id: &str| {
        let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}:t:{hex}",
            store.store.key_pattern().trim_end_matches(":*")
        )
    };
    let expire_at: i64 = redis::cmd("PEXPIRETIME")
        .arg(task_key("short"))
        .query(&mut connection)
        .unwrap();
    let created = task.created_at.timestamp_millis();
    // The key lives while now <= its expiry, so it expires 1 ms before creation + ttl.
    assert_eq!(expire_at, created + 60_000 - 1);
    let unlimited: i64 = redis::cmd("PEXPIRETIME")
        .arg(task_key("forever"))
        .query(&mut connection)
        .unwrap();
    assert_eq!(unlimited, -1, "a task without ttl never expires");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_skips_and_prunes_expired_entries() {
    let store = Scratch::open(StoreConfig::default()).await;
    let mut short = Vec::new();
    for _ in 0..3 {
        let task = store
            .create(NewTask::new().owned_by("alice").with_ttl(200))
            .await
            .unwrap();
        short.push(task.task_id);
    }
    let keep = store
        .create(NewTask::new().owned_by("alice"))
        .await
        .unwrap();
    let (all, owner) = (key_of(&store, ":all"), key_of(&store, ":o:616c696365"));
    until_expired(&store, &short).await;
    assert_eq!(
        zcard(&all),
        4,
        "expired entries linger until something prunes them"
    );

    let page = store
        .list(&Scope::owner("alice"), PageRequest::first().with_limit(1))
        .await
        .unwrap();
    assert_eq!(
        page.tasks,
        vec![keep.clone()],
        "expired tasks are never listed"
    );
    assert_eq!(page.next_cursor, None, "nothing live follows");
    assert_eq!(zcard(&all), 1, "the listing pruned the store-wide index");
    assert_eq!(zcard(&owner), 1, "the listing pruned the owner's index");
    let expiry_sets = store
        .keys()
        .iter()
        .filter(|k| k.contains(":exp") || k.contains(":oe:"))
        .count();
    assert_eq!(expiry_sets, 0, "no expiry entries remain");
    assert_eq!(
        store.purge_expired().await.unwrap(),
        0,
        "nothing left to purge"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_prunes_every_index_and_counts_once() {
    let store = Scratch::open(StoreConfig::default()).await;
    let (short, keep) = short_and_long(&store, 2).await;
    until_expired(&store, &short).await;
    assert_eq!(store.purge_expired().await.unwrap(), 6);
    assert_eq!(store.purge_expired().await.unwrap(), 0);
    let mut keys = store.keys();
    keys.sort();
    // Left: bob's live task with its index and expiry entries, and the store-wide ones, the
    // two sets of unfinished tasks among them.
    assert_eq!(keys.len(), 7, "{keys:#?}");
    assert_eq!(zcard(&key_of(&store, ":all")), 1);
    assert_eq!(zcard(&key_of(&store, ":exp")), 1);
    assert_eq!(zcard(&key_of(&store, ":un")), 1, "unfinished");
    assert_eq!(zcard(&key_of(&store, ":uo")), 1, "unfinished by owner");
    let listed = store.list(&Scope::All, PageRequest::first()).await.unwrap();
    assert_eq!(listed.tasks, vec![keep]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_id_reused_by_another_owner_stays_theirs() {
    let store = Scratch::open(StoreConfig::default()).await;
    store
        .create(
            NewTask::new()
                .with_id("shared")
                .owned_by("alice")
                .with_ttl(200),
        )
        .await
        .unwrap();
    until_expired(&store, &["shared".to_owned()]).await;
    let bobs = store
        .create(NewTask::new().with_id("shared").owned_by("bob"))
        .await
        .unwrap();
    // Alice's stale index entry names the id, but the task now is bob's.
    let alice = store
        .list(&Scope::owner("alice"), PageRequest::first())
        .await
        .unwrap();
    assert!(
        alice.tasks.is_empty(),
        "alice sees nothing: {:?}",
        alice.tasks
    );
    assert!(matches!(
        store.get(&Scope::owner("alice"), "shared").await,
        Err(TaskError::NotFound { .. })
    ));
    let bob = store
        .list(&Scope::owner("bob"), PageRequest::first())
        .await
        .unwrap();
    assert_eq!(bob.tasks, vec![bobs.clone()]);
    let everyone = store.list(&Scope::All, PageRequest::first()).await.unwrap();
    assert_eq!(everyone.tasks, vec![bobs], "listed once");
}

/// With no listing and no purge, the background sweeper shrinks every index back once tasks
/// expire, while three stores (as three processes would) share the prefix and sweep it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_shrinks_every_index_after_expiry_without_a_listing() {
    let base = redis_url();
    let join = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{join}prefix={}&sweep_interval_ms=50", fresh_prefix());
    let options = RedisOptions::from_url(&url).unwrap();
    let store = Scratch::open_at(&url, StoreConfig::default(), options.clone()).await;
    let _others = [
        open_at(&url, StoreConfig::default(), options.clone()).await,
        open_at(&url, StoreConfig::default(), options).await,
    ];
    let (_, keep) = short_and_long(&store, 3).await;
    let (all, expiry) = (key_of(&store, ":all"), key_of(&store, ":exp"));
    let start = tokio::time::Instant::now();
    while zcard(&all) > 1 {
        assert!(
            start.elapsed() < HANG,
            "the expired tasks' entries were never swept: {} left",
            zcard(&all)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(zcard(&expiry), 1, "the expiry index shrank too");
    let alice = |key: &String| key.contains(":o:616c696365") || key.contains(":oe:616c696365");
    assert!(!store.keys().iter().any(alice), "alice's indexes are gone");
    assert_eq!(zcard(&key_of(&store, ":o:626f62")), 1, "bob's index");
    assert_eq!(
        zcard(&key_of(&store, ":oe:626f62")),
        1,
        "bob's expiry index"
    );
    assert_eq!(
        store.purge_expired().await.unwrap(),
        0,
        "nothing left to purge"
    );
    let listed = store.list(&Scope::All, PageRequest::first()).await.unwrap();
    assert_eq!(listed.tasks, vec![keep]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_change_that_ends_a_task_leaves_the_sets_of_unfinished_tasks() {
    use task_core::{TaskStatus, TaskStoreExt};
    let store = Scratch::open(StoreConfig::default()).await;
    let alice = Scope::owner("alice");
    let first = store
        .create(NewTask::new().owned_by("alice"))
        .await
        .unwrap();
    let second = store
        .create(NewTask::new().owned_by("alice").with_ttl(600_000))
        .await
        .unwrap();
    let (unfinished, by_owner) = (key_of(&store, ":un"), key_of(&store, ":uo"));
    for status in [TaskStatus::InputRequired, TaskStatus::Working] {
        store
            .set_status(&alice, &first.task_id, status, Some("moving"))
            .await
            .unwrap();
    }
    assert_eq!((zcard(&unfinished), zcard(&by_owner)), (2, 2));
    store
        .complete(&alice, &first.task_id, serde_json::Map::new())
        .await
        .unwrap();
    assert_eq!((zcard(&unfinished), zcard(&by_owner)), (1, 1));
    // Trusted access: the script spells the owner for the entry itself.
    store.cancel(&Scope::All, &second.task_id).await.unwrap();
    assert_eq!((zcard(&unfinished), zcard(&by_owner)), (0, 0));
}
