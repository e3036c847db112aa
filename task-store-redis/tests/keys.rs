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
    // sets; plus the store-wide index and expiry sets and the two sets of unfinished tasks.
    let keys = store.keys();
    for key in &keys {
        assert!(key.starts_with(&format!("{{{prefix}}}:")), "{key}");
        assert_eq!(hash_tag(key), Some(prefix.as_str()), "{key}");
    }
    assert_eq!(keys.len(), 3 * NAMES.len() + 4, "{keys:#?}");
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
    assert_eq!(store.keys().len(), 3 * (NAMES.len() - 1) + 4);
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

/// One command as `redis-cli monitor` shows it: its name, lowercased, and its arguments.
fn parse_monitor_line(line: &str) -> Option<(String, Vec<Vec<u8>>)> {
    let rest = &line[line.find("] ")? + 2..];
    let mut args = Vec::new();
    let mut bytes = rest.bytes().peekable();
    while let Some(byte) = bytes.next() {
        if byte != b'"' {
            continue;
        }
        let mut arg = Vec::new();
        while let Some(byte) = bytes.next() {
            match byte {
                b'"' => break,
                b'\\' => match bytes.next()? {
                    b'n' => arg.push(b'\n'),
                    b'r' => arg.push(b'\r'),
                    b't' => arg.push(b'\t'),
                    b'a' => arg.push(7),
                    b'b' => arg.push(8),
                    b'x' => {
                        let hex = [bytes.next()?, bytes.next()?];
                        arg.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
                    }
                    other => arg.push(other),
                },
                other => arg.push(other),
            }
        }
        args.push(arg);
    }
    let name = String::from_utf8(args.first()?.clone())
        .ok()?
        .to_ascii_lowercase();
    Some((name, args.split_off(1)))
}

/// The keys (and channels) a command names, for the commands this crate sends and its
/// scripts run; `None` for a command the test does not know.
fn named_keys(name: &str, args: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    match name {
        "evalsha" | "eval" => {
            let count: usize = std::str::from_utf8(args.get(1)?).ok()?.parse().ok()?;
            Some(args.get(2..2 + count)?.to_vec())
        }
        "hmget" | "hgetall" | "hget" | "hset" | "hdel" | "del" | "exists" | "pexpireat"
        | "zadd" | "zrem" | "zcard" | "zcount" | "zrangebylex" | "zrangebyscore" | "zrange"
        | "zscore" | "zscan" | "zlexcount" | "zremrangebylex" | "zremrangebyscore" | "publish"
        | "subscribe" | "unsubscribe" => Some(vec![args.first()?.clone()]),
        "time" | "script" | "ping" | "client" | "hello" | "select" | "echo" | "info" => {
            Some(Vec::new())
        }
        _ => None,
    }
}

/// Every key of the server, with its serialised value and its expiry.
fn snapshot(url: &str) -> std::collections::BTreeMap<Vec<u8>, (Vec<u8>, i64)> {
    let mut connection = support::raw(url);
    let keys: Vec<Vec<u8>> = task_store_redis::redis::cmd("KEYS")
        .arg("*")
        .query(&mut connection)
        .unwrap();
    keys.into_iter()
        .map(|key| {
            let dump: Vec<u8> = task_store_redis::redis::cmd("DUMP")
                .arg(&key)
                .query(&mut connection)
                .unwrap();
            let expires: i64 = task_store_redis::redis::cmd("PEXPIRETIME")
                .arg(&key)
                .query(&mut connection)
                .unwrap();
            (key, (dump, expires))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_crafted_as_other_stores_keys_touch_nothing_outside_their_own_store() {
    use std::io::{BufRead, BufReader};
    let server = support::PrivateRedis::start();
    let url = server.url();
    // Two stores an attacker would like to reach, with tasks, owners and expiries.
    for prefix in ["victim", "mcp-tasks"] {
        let options = RedisOptions::default().with_key_prefix(prefix);
        let store = support::open_at(&url, StoreConfig::default(), options).await;
        for (id, owner) in [("61", "x"), ("t:61", "{victim}"), ("ab", "o:78")] {
            let new = NewTask::new()
                .with_id(id)
                .owned_by(owner)
                .with_ttl(3_600_000);
            store.create(new).await.unwrap();
        }
        store
            .create(NewTask::new().with_id("unbound"))
            .await
            .unwrap();
    }
    let before = snapshot(&url);

    let mut monitor = std::process::Command::new("redis-cli")
        .args(["-p", &server.port.to_string(), "monitor"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("redis-cli monitor (it comes with redis-server)");
    let mut lines = BufReader::new(monitor.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "OK", "monitoring");

    // The attacker's store, prefix "a", with names that spell the others' keys, hash tags,
    // index members and glob patterns.
    let crafted = [
        "{victim}:t:3631",
        "}:t:3631",
        "{victim}",
        "victim",
        "{mcp-tasks}:all",
        "{mcp-tasks}:o:78",
        "{a}:all",
        "00000000000000000061\0x",
        "*",
        "{victim}*",
        "61",
        "t:61",
    ];
    let options = RedisOptions::default().with_key_prefix("a");
    let attacker = support::open_at(&url, StoreConfig::default(), options).await;
    for name in crafted {
        let scope = Scope::owner(name);
        let new = NewTask::new().with_id(name).owned_by(name).with_ttl(60_000);
        match attacker.create(new).await {
            Ok(_) => {}
            Err(TaskError::InvalidInput(_)) => continue, // the NUL: refused before Redis
            Err(other) => panic!("create {name:?}: {other}"),
        }
        attacker.get(&scope, name).await.unwrap();
        attacker.set_message(&scope, name, name).await.unwrap();
        let ask = serde_json::Map::from_iter([(name.to_string(), serde_json::json!({}))]);
        attacker
            .request_input(&scope, name, ask.clone())
            .await
            .unwrap();
        attacker.respond(&scope, name, ask).await.unwrap();
        attacker.request_cancel(&scope, name).await.unwrap();
        attacker.list(&scope, PageRequest::first()).await.unwrap();
        attacker.get(&Scope::owner("x"), name).await.unwrap_err();
        attacker.cancel(&Scope::All, name).await.unwrap();
        attacker.notify_update(name).await.unwrap();
    }
    attacker
        .list(&Scope::All, PageRequest::first())
        .await
        .unwrap();
    attacker.purge_expired().await.unwrap();
    attacker
        .recover_stuck(std::time::Duration::ZERO, "x")
        .await
        .unwrap();
    for name in crafted.iter().filter(|n| !n.contains('\0')) {
        assert!(
            attacker.delete(&Scope::All, name).await.unwrap(),
            "{name:?}"
        );
        assert!(!attacker.delete(&Scope::owner(*name), name).await.unwrap());
    }
    let sentinel = format!("end-{}", uuid::Uuid::new_v4().simple());
    let _: String = task_store_redis::redis::cmd("ECHO")
        .arg(&sentinel)
        .query(&mut support::raw(&url))
        .unwrap();

    // Every key and channel the attacker's calls named, its scripts included, is its own, and
    // every key a script touched was passed to it in KEYS (monitor shows a script's calls
    // right after its EVALSHA, marked `lua`).
    let mut commands = 0;
    let mut declared: Vec<Vec<u8>> = Vec::new();
    let mut script_calls = 0;
    for line in lines.by_ref() {
        let line = line.expect("monitor output");
        if line.contains(&sentinel) {
            break;
        }
        let (name, args) = parse_monitor_line(&line).unwrap_or_else(|| panic!("{line}"));
        let keys = named_keys(&name, &args)
            .unwrap_or_else(|| panic!("a command this test does not know: {line}"));
        for key in &keys {
            assert!(key.starts_with(b"{a}:"), "outside the store: {line}");
        }
        if name == "evalsha" || name == "eval" {
            declared = keys;
        } else if line.contains(" lua] ") && name != "publish" {
            for key in &keys {
                assert!(declared.contains(key), "not in the script's KEYS: {line}");
            }
            script_calls += 1;
        }
        commands += 1;
    }
    let _ = monitor.kill();
    let _ = monitor.wait();
    assert!(commands > 100, "the monitor saw the calls ({commands})");
    assert!(
        script_calls > 50,
        "the monitor saw the scripts' calls ({script_calls})"
    );

    // And the other stores are byte for byte as they were; the attacker left no key behind.
    assert_eq!(
        snapshot(&url),
        before,
        "keys outside the attacker's store changed"
    );
}
