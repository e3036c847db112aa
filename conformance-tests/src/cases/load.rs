//! 64 workers run 20,000 random operations on one store; afterwards the store must agree with
//! everything that was acknowledged.

use super::*;
use crate::Verdict;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;
use task_core::TaskOutcome;

const WORKERS: u64 = 64;
const OPERATIONS: u64 = 20_000;
const OWNERS: [&str; 4] = ["alice", "bob", "carol", "dave"];

/// SplitMix64: a small, seedable generator, so a failing run can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What the workers were told happened.
#[derive(Default)]
struct Log {
    created: Vec<(String, Option<u64>)>,
    deleted: HashSet<String>,
    /// Successful terminal changes per task: the change that won.
    finished: HashMap<String, Vec<TaskChange>>,
    /// Every `lastUpdatedAt` each task was seen with, per worker, in the order seen.
    seen: HashMap<(u64, String), Vec<DateTime<Utc>>>,
}

struct Shared {
    store: Arc<dyn TaskStore>,
    log: Mutex<Log>,
    ids: Mutex<Vec<String>>,
}

impl Shared {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn pick(&self, rng: &mut Rng) -> Option<String> {
        let ids = self
            .ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (!ids.is_empty()).then(|| ids[rng.below(ids.len() as u64) as usize].clone())
    }

    fn observe(&self, worker: u64, task: &Task) {
        self.log()
            .seen
            .entry((worker, task.task_id.clone()))
            .or_default()
            .push(task.last_updated_at);
    }
}

/// An error the workload expects: the task is gone, or already terminal.
fn expected(error: &TaskError) -> bool {
    matches!(
        error,
        TaskError::NotFound { .. } | TaskError::InvalidTransition { .. }
    )
}

async fn worker(shared: Arc<Shared>, worker: u64, seed: u64) -> Result<(), String> {
    let mut rng = Rng(seed ^ worker.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let store = shared.store.clone();
    for n in 0..OPERATIONS / WORKERS {
        let op = rng.below(100);
        let id = match shared.pick(&mut rng) {
            Some(id) if op >= 15 => id,
            _ => {
                let owner = OWNERS[rng.below(OWNERS.len() as u64) as usize];
                let ttl = (rng.below(10) == 0).then(|| 2_000 + rng.below(3_000));
                let mut new = NewTask::new().owned_by(owner);
                if let Some(ttl) = ttl {
                    new = new.with_ttl(ttl);
                }
                let task = store
                    .create(new)
                    .await
                    .map_err(|e| format!("create: {e}"))?;
                shared.observe(worker, &task);
                shared.log().created.push((task.task_id.clone(), ttl));
                let mut ids = shared
                    .ids
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                ids.push(task.task_id);
                continue;
            }
        };
        let change = match op {
            15..=39 => {
                let status = if rng.below(2) == 0 {
                    TaskStatus::Working
                } else {
                    TaskStatus::InputRequired
                };
                Some(TaskChange::status(status, Some(format!("w{worker} op{n}"))))
            }
            40..=51 => Some(TaskChange::complete(obj(
                json!({ "by": worker, "op": n, "id": id }),
            ))),
            52..=59 => Some(TaskChange::fail(format!("w{worker} op{n} failed"))),
            60..=69 => Some(TaskChange::cancel()),
            _ => None,
        };
        if let Some(change) = change {
            match store.update(&Scope::All, &id, change.clone()).await {
                Ok(task) => {
                    shared.observe(worker, &task);
                    if task.is_terminal() {
                        shared.log().finished.entry(id).or_default().push(change);
                    }
                }
                Err(e) if expected(&e) => {}
                Err(e) => return Err(format!("update {id}: {e}")),
            }
            continue;
        }
        match op {
            70..=84 => {
                let Ok(task) = store.get(&Scope::All, &id).await else {
                    continue;
                };
                shared.observe(worker, &task);
                let timeout = Duration::from_millis(10 + rng.below(40));
                let waited =
                    store.wait_for_update(&Scope::All, &id, task.last_updated_at, Some(timeout));
                match tokio::time::timeout(timeout + Duration::from_secs(10), waited).await {
                    Ok(Ok(task)) => shared.observe(worker, &task),
                    Ok(Err(e)) if expected(&e) => {}
                    Ok(Err(e)) => return Err(format!("wait {id}: {e}")),
                    Err(_) => {
                        return Err(format!("a wait on {id} with a {timeout:?} timeout hung"));
                    }
                }
            }
            85..=94 => {
                let owner = OWNERS[rng.below(OWNERS.len() as u64) as usize];
                let page = PageRequest::first().with_limit(1 + rng.below(50) as usize);
                let page = store
                    .list(&Scope::owner(owner), page)
                    .await
                    .map_err(|e| format!("list: {e}"))?;
                if let Some(cursor) = page.next_cursor {
                    store
                        .list(&Scope::owner(owner), PageRequest::after(Some(cursor)))
                        .await
                        .map_err(|e| format!("list next page: {e}"))?;
                }
            }
            _ => match store.delete(&Scope::All, &id).await {
                Ok(true) => {
                    shared.log().deleted.insert(id);
                }
                Ok(false) => {}
                Err(e) => return Err(format!("delete {id}: {e}")),
            },
        }
    }
    Ok(())
}

/// 64 workers, 20,000 mixed operations (create, status update, complete, fail, cancel, wait,
/// list, delete) from a seeded generator; then every acknowledged write must be in the store.
/// Set `LOAD_SEED` to replay a run.
pub async fn mixed_load(factory: &dyn StoreFactory) -> CaseResult {
    let seed = std::env::var("LOAD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64);
    check_load(factory, seed).await.map_err(|mut e| {
        e.message = format!("{} [LOAD_SEED={seed}]", e.message);
        e
    })
}

async fn check_load(factory: &dyn StoreFactory, seed: u64) -> CaseResult {
    let shared = Arc::new(Shared {
        store: default_store(factory).await,
        log: Mutex::default(),
        ids: Mutex::default(),
    });
    let handles: Vec<_> = (0..WORKERS)
        .map(|w| tokio::spawn(worker(shared.clone(), w, seed)))
        .collect();
    for handle in handles {
        if let Err(error) = step!(handle.await) {
            return Err(fail!("a worker failed: {error}"));
        }
    }
    let store = shared.store.clone();
    let log = std::mem::take(&mut *shared.log());
    let listed = step!(list_all(store.as_ref(), &Scope::All, Some(97)).await);
    let mut live = HashMap::new();
    for task in &listed {
        ensure!(
            live.insert(task.task_id.clone(), task.clone()).is_none(),
            "{} listed twice",
            task.task_id
        );
    }
    for owner in OWNERS {
        let mine = step!(list_all(store.as_ref(), &Scope::owner(owner), Some(89)).await);
        let unique: HashSet<_> = mine.iter().map(|t| &t.task_id).collect();
        ensure_eq!(
            unique.len(),
            mine.len(),
            "{owner}'s listing has no duplicates"
        );
    }
    for (id, ttl) in &log.created {
        let gone = log.deleted.contains(id);
        if !gone && ttl.is_none() {
            ensure!(
                live.contains_key(id),
                "acknowledged task {id} is missing from the listing"
            );
        }
        if gone {
            ensure!(!live.contains_key(id), "deleted task {id} is still listed");
        }
    }
    let mut final_stamps = HashMap::new();
    for (id, listed_task) in &live {
        let record = match store.get_record(&Scope::All, id).await {
            Ok(record) => record,
            Err(TaskError::NotFound { .. }) => continue, // expired since the listing
            Err(e) => return Err(fail!("get_record {id}: {e}")),
        };
        let task = &record.task;
        ensure!(
            task.last_updated_at >= listed_task.last_updated_at,
            "{id}: lastUpdatedAt went back"
        );
        final_stamps.insert(id.clone(), task.last_updated_at);
        let wins = log.finished.get(id).map_or(&[][..], Vec::as_slice);
        match task.status {
            TaskStatus::Working | TaskStatus::InputRequired => {
                ensure!(
                    record.outcome.is_none(),
                    "{id}: a running task holds an outcome"
                );
                ensure!(
                    wins.is_empty(),
                    "{id}: an acknowledged terminal change was lost"
                );
            }
            status => {
                ensure_eq!(wins.len(), 1, "{id}: acknowledged terminal changes");
                ensure_eq!(wins[0].status, Some(status), "{id}: the winner's status");
                ensure!(
                    record.outcome == wins[0].outcome,
                    "{id}: the outcome is not the winner's"
                );
                if status == TaskStatus::Cancelled {
                    ensure!(
                        record.outcome.is_none(),
                        "{id}: a cancelled task holds a result"
                    );
                }
                if status == TaskStatus::Completed {
                    ensure!(
                        matches!(record.outcome, Some(TaskOutcome::Result(_))),
                        "{id}: no result"
                    );
                }
            }
        }
    }
    for ((worker, id), stamps) in &log.seen {
        ensure!(
            stamps.windows(2).all(|w| w[0] <= w[1]),
            "worker {worker} saw {id}'s lastUpdatedAt go back"
        );
        if let (Some(last), Some(stored)) = (stamps.last(), final_stamps.get(id)) {
            ensure!(
                stored >= last,
                "{id}: the stored lastUpdatedAt is older than one seen"
            );
        }
    }
    ensure!(!log.created.is_empty(), "the workload created nothing");
    Ok(Verdict::Passed)
}
