//! Redis killed and restarted in the middle of a load, against a `redis-server` the test starts
//! with an append-only file synced before every answer:
//!
//! - while it is down, every call fails with a retryable error, and none hangs;
//! - once it is back, the same store objects work again;
//! - every acknowledged create, completion, failure, cancellation and delete survived;
//! - no record is inconsistent: its status agrees with its outcome, and with its entries in
//!   the listing indexes, which hold nothing else.
//!
//! The workload is drawn from a seeded generator (`RESTART_SEED` replays it).

mod support;

use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{HANG, PrivateRedis, fresh_prefix, keys_matching, open_at, raw};
use task_core::{
    NewTask, PageRequest, Scope, StoreConfig, TaskChange, TaskError, TaskOutcome, TaskStatus,
    TaskStore,
};
use task_store_redis::{RedisOptions, RedisTaskStore, redis};
use tokio::time::Instant;

const WORKERS: u64 = 16;
const OWNERS: [&str; 3] = ["alice", "bob", "carol"];

/// Where the test is; workers read it to judge what their calls may answer.
const RUNNING: u8 = 0;
/// Redis is dead: calls that start and end in this phase must fail retryably.
const DOWN: u8 = 1;
/// Redis is starting again: calls may go either way.
const RESTARTING: u8 = 2;
const BACK: u8 = 3;
const STOP: u8 = 4;

/// What the workers were told, and what they saw.
#[derive(Default)]
struct Log {
    /// Acknowledged creates: id to owner.
    created: HashMap<String, &'static str>,
    deleted: HashSet<String>,
    /// Deletes whose effect is unknown (they failed retryably).
    maybe_deleted: HashSet<String>,
    /// The acknowledged terminal change of each task.
    finished: HashMap<String, TaskChange>,
    /// Calls that started and ended while Redis was down; each failed retryably.
    failed_while_down: u64,
    /// The slowest of those failures.
    slowest_failure: Duration,
    /// Successful calls after the restart.
    succeeded_after: u64,
}

struct Shared {
    store: RedisTaskStore,
    phase: AtomicU8,
    log: Mutex<Log>,
    ids: Mutex<Vec<String>>,
}

impl Shared {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn phase(&self) -> u8 {
        self.phase.load(Ordering::SeqCst)
    }
}

/// SplitMix64, seeded, so a run can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n.max(1)
    }
}

fn result_for(id: &str) -> serde_json::Map<String, Value> {
    match json!({ "content": [{ "type": "text", "text": id }] }) {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

/// What one call did, for the log.
enum Done {
    Created(String, &'static str),
    Finished(String, TaskChange),
    Deleted(String),
    Other,
}

async fn one_call(shared: &Shared, rng: &mut Rng) -> (Result<Done, TaskError>, Option<String>) {
    let store = &shared.store;
    let all = &Scope::All;
    let id = {
        let ids = shared.ids.lock().unwrap_or_else(|e| e.into_inner());
        (!ids.is_empty()).then(|| ids[rng.below(ids.len() as u64) as usize].clone())
    };
    let op = rng.below(100);
    let Some(id) = id.filter(|_| op >= 25) else {
        let owner = OWNERS[rng.below(OWNERS.len() as u64) as usize];
        let created = store.create(NewTask::new().owned_by(owner)).await;
        return (created.map(|t| Done::Created(t.task_id, owner)), None);
    };
    let change = match op {
        25..=44 => Some(TaskChange::message(format!("step {op}"))),
        45..=54 => Some(TaskChange::complete(result_for(&id))),
        55..=59 => Some(TaskChange::fail(format!("failed {id}"))),
        60..=64 => Some(TaskChange::cancel()),
        _ => None,
    };
    let done = match (change, op) {
        (Some(change), _) => store.update(all, &id, change.clone()).await.map(|task| {
            if task.status.is_terminal() {
                Done::Finished(id.clone(), change)
            } else {
                Done::Other
            }
        }),
        (None, 65..=79) => store.get(all, &id).await.map(|_| Done::Other),
        (None, 80..=89) => {
            let owner = Scope::owner(OWNERS[rng.below(OWNERS.len() as u64) as usize]);
            let page = PageRequest::first().with_limit(20);
            store.list(&owner, page).await.map(|_| Done::Other)
        }
        (None, 90..=95) => {
            let seen = task_core::backend::time::now();
            let wait = Some(Duration::from_millis(20));
            store
                .wait_for_update(all, &id, seen, wait)
                .await
                .map(|_| Done::Other)
        }
        (None, _) => store.delete(all, &id).await.map(|deleted| {
            if deleted {
                Done::Deleted(id.clone())
            } else {
                Done::Other
            }
        }),
    };
    let deleting = op >= 96;
    (done, deleting.then_some(id))
}

async fn worker(shared: Arc<Shared>, seed: u64, worker: u64) -> Result<(), String> {
    let mut rng = Rng(seed ^ worker.wrapping_mul(0x2545_f491_4f6c_dd1d));
    loop {
        let started_in = shared.phase();
        if started_in == STOP {
            return Ok(());
        }
        let start = Instant::now();
        let (outcome, deleting) =
            match tokio::time::timeout(HANG, one_call(&shared, &mut rng)).await {
                Ok(outcome) => outcome,
                Err(_) => return Err(format!("a call hung for {HANG:?} (phase {started_in})")),
            };
        let elapsed = start.elapsed();
        let ended_in = shared.phase();
        let down = started_in == DOWN && ended_in == DOWN;
        let mut log = shared.log();
        match outcome {
            Ok(_) if down => return Err("a call succeeded while Redis was down".into()),
            Ok(done) => {
                if ended_in == BACK && started_in == BACK {
                    log.succeeded_after += 1;
                }
                match done {
                    Done::Created(id, owner) => {
                        log.created.insert(id.clone(), owner);
                        drop(log);
                        shared
                            .ids
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(id);
                    }
                    Done::Finished(id, change) => {
                        if let Some(earlier) = log.finished.insert(id.clone(), change) {
                            return Err(format!("{id} ended twice: first {earlier:?}"));
                        }
                    }
                    Done::Deleted(id) => {
                        log.deleted.insert(id);
                    }
                    Done::Other => {}
                }
            }
            Err(TaskError::NotFound { .. } | TaskError::InvalidTransition { .. }) if !down => {}
            Err(error) if error.is_retryable() => {
                if down {
                    log.failed_while_down += 1;
                    log.slowest_failure = log.slowest_failure.max(elapsed);
                }
                if let Some(id) = deleting {
                    log.maybe_deleted.insert(id);
                }
            }
            Err(error) => return Err(format!("unexpected error in phase {ended_in}: {error}")),
        }
    }
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Checks every record and index entry in Redis directly; returns the ids of the records.
fn records_are_consistent(url: &str, prefix: &str) -> BTreeSet<String> {
    let mut connection = raw(url);
    let tag = format!("{{{prefix}}}");
    let mut all_members = BTreeSet::new();
    let mut owner_members: HashMap<String, BTreeSet<Vec<u8>>> = HashMap::new();
    let mut ids = BTreeSet::new();
    for key in keys_matching(url, &format!("{tag}:t:*")) {
        let fields: HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
            .arg(&key)
            .query(&mut connection)
            .expect("HGETALL");
        let text = |name: &str| {
            fields
                .get(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let id = text("id").unwrap_or_else(|| panic!("{key} has no id"));
        assert_eq!(
            key,
            format!("{tag}:t:{}", hex(&id)),
            "{id}: the key names its id"
        );
        let status = text("st").and_then(|s| TaskStatus::parse(&s));
        let status = status.unwrap_or_else(|| panic!("{id}: no valid status in {fields:?}"));
        let outcome: Option<TaskOutcome> = text("out").map(|o| serde_json::from_str(&o).unwrap());
        match status {
            TaskStatus::Completed => assert!(
                matches!(outcome, Some(TaskOutcome::Result(_))),
                "{id}: completed without its result"
            ),
            TaskStatus::Failed => assert!(outcome.is_some(), "{id}: failed without its error"),
            _ => assert!(outcome.is_none(), "{id}: {status} holds an outcome"),
        }
        assert_eq!(
            status == TaskStatus::Cancelled,
            text("cx").is_some(),
            "{id}: cancelled exactly when a cancel was requested"
        );
        let created: i64 = text("c")
            .and_then(|c| c.parse().ok())
            .expect("a creation time");
        let owner = text("own").expect("every task here has an owner");
        let member = format!("{created:016x}{id}\0{owner}").into_bytes();
        owner_members
            .entry(owner)
            .or_default()
            .insert(member.clone());
        all_members.insert(member);
        ids.insert(id);
    }
    let members = |key: String| -> BTreeSet<Vec<u8>> {
        redis::cmd("ZRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .query::<Vec<Vec<u8>>>(&mut raw(url))
            .expect("ZRANGE")
            .into_iter()
            .collect()
    };
    assert_eq!(
        members(format!("{tag}:all")),
        all_members,
        "the listing index holds exactly the records"
    );
    for owner in OWNERS {
        let expected = owner_members.remove(owner).unwrap_or_default();
        assert_eq!(
            members(format!("{tag}:o:{}", hex(owner))),
            expected,
            "{owner}'s index holds exactly {owner}'s records"
        );
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_under_load_fails_calls_retryably_and_loses_nothing_acknowledged() {
    let seed = std::env::var("RESTART_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp_nanos_opt().unwrap_or(5) as u64);
    eprintln!("RESTART_SEED={seed}");
    let dir = tempfile::tempdir().expect("a directory for the append-only file");
    let mut server = PrivateRedis::start_persistent(dir.path());
    let prefix = fresh_prefix();
    let options = RedisOptions::default()
        .with_key_prefix(prefix.clone())
        .with_connect_timeout(Duration::from_millis(500))
        .with_response_timeout(Duration::from_secs(1))
        .with_reconnect_retries(1)
        .with_fallback_poll_interval(Duration::from_millis(200));
    let store = open_at(&server.url(), StoreConfig::default(), options).await;
    let shared = Arc::new(Shared {
        store,
        phase: AtomicU8::new(RUNNING),
        log: Mutex::default(),
        ids: Mutex::default(),
    });
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| tokio::spawn(worker(shared.clone(), seed, w)))
        .collect();

    tokio::time::sleep(Duration::from_millis(1_500)).await;
    tokio::task::block_in_place(|| server.stop());
    shared.phase.store(DOWN, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await;
    shared.phase.store(RESTARTING, Ordering::SeqCst);
    tokio::task::block_in_place(|| server.restart());
    shared.phase.store(BACK, Ordering::SeqCst);
    let back = Instant::now();
    while shared.log().succeeded_after < 300 {
        assert!(
            back.elapsed() < HANG,
            "work never resumed after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shared.phase.store(STOP, Ordering::SeqCst);
    for worker in workers {
        if let Err(error) = worker.await.expect("a worker") {
            panic!("{error} [RESTART_SEED={seed}]");
        }
    }

    let log = std::mem::take(&mut *shared.log());
    eprintln!(
        "{} creates acknowledged, {} calls failed retryably while Redis was down (the slowest \
         after {:?}), {} calls succeeded after the restart",
        log.created.len(),
        log.failed_while_down,
        log.slowest_failure,
        log.succeeded_after
    );
    assert!(
        log.failed_while_down > 0,
        "calls were made while Redis was down"
    );

    let stored = records_are_consistent(&server.url(), &prefix);
    let store = &shared.store;
    for (id, owner) in &log.created {
        let found = store.get_record(&Scope::owner(*owner), id).await;
        if log.deleted.contains(id) {
            assert!(found.is_err(), "deleted task {id} is back");
            continue;
        }
        if log.maybe_deleted.contains(id) {
            continue;
        }
        let record = found.unwrap_or_else(|e| panic!("acknowledged task {id} is lost: {e}"));
        assert!(stored.contains(id), "{id} is read but not stored?");
        if let Some(change) = log.finished.get(id) {
            assert_eq!(
                Some(record.task.status),
                change.status,
                "{id}'s acknowledged end"
            );
            assert_eq!(
                record.outcome, change.outcome,
                "{id}'s acknowledged outcome"
            );
        }
    }
    let listed = list_ids(store).await;
    assert_eq!(listed, stored, "the listing shows exactly the stored tasks");
}

async fn list_ids(store: &RedisTaskStore) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = store
            .list(&Scope::All, PageRequest::after(cursor).with_limit(100))
            .await
            .expect("listing after the restart");
        ids.extend(page.tasks.into_iter().map(|t| t.task_id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return ids,
        }
    }
}
