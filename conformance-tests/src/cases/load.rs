//! 64 workers run 20,000 random operations on one store; afterwards the store must agree with
//! everything that was acknowledged.

use super::*;
use crate::Verdict;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;
use task_core::{TaskOutcome, TaskStoreExt};
use tokio::task::JoinHandle;

const WORKERS: u64 = 64;
const OPERATIONS: u64 = 20_000;
const OWNERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
/// A ttl no task outlives during the run: such tasks must all still be there at the end.
const LONG_TTL_MS: u64 = 600_000;
/// How far the store's clock may run ahead of ours when we judge that a short-lived task has
/// expired (Redis stamps tasks with its own clock).
const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(1);
/// Far longer than any wait or wake-up should take; reaching it means a waiter hung.
const HANG: Duration = Duration::from_secs(30);

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

/// An acknowledged create.
struct Created {
    id: String,
    owner: &'static str,
    ttl: Option<u64>,
    created_at: DateTime<Utc>,
}

/// A wait without a timeout, parked in the background: it must end once its task changes.
struct Parked {
    id: String,
    seen: DateTime<Utc>,
    handle: JoinHandle<Result<Task, TaskError>>,
}

/// What the workers were told happened.
#[derive(Default)]
struct Log {
    created: Vec<Created>,
    deleted: HashSet<String>,
    /// Successful terminal changes per task: the change that won.
    finished: HashMap<String, Vec<TaskChange>>,
    /// The `lastUpdatedAt` of every acknowledged change, per task.
    changed: HashMap<String, Vec<DateTime<Utc>>>,
    /// Every `lastUpdatedAt` each task was seen with, per worker, in the order seen.
    seen: HashMap<(u64, String), Vec<DateTime<Utc>>>,
    parked: Vec<Parked>,
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

/// The operations worker `worker` runs: 20,000 split over the workers, none lost to rounding.
fn share(worker: u64) -> u64 {
    OPERATIONS / WORKERS + u64::from(worker < OPERATIONS % WORKERS)
}

async fn create(shared: &Shared, rng: &mut Rng, worker: u64) -> Result<(), String> {
    let owner = OWNERS[rng.below(OWNERS.len() as u64) as usize];
    let ttl = match rng.below(10) {
        0 => Some(2_000 + rng.below(3_000)),
        1 => Some(LONG_TTL_MS),
        _ => None,
    };
    let mut new = NewTask::new().owned_by(owner);
    if let Some(ttl) = ttl {
        new = new.with_ttl(ttl);
    }
    let task = shared
        .store
        .create(new)
        .await
        .map_err(|e| format!("create: {e}"))?;
    shared.observe(worker, &task);
    shared.log().created.push(Created {
        id: task.task_id.clone(),
        owner,
        ttl,
        created_at: task.created_at,
    });
    shared
        .ids
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(task.task_id);
    Ok(())
}

async fn wait(shared: &Arc<Shared>, rng: &mut Rng, worker: u64, id: String) -> Result<(), String> {
    let store = &shared.store;
    let Ok(task) = store.get(&Scope::All, &id).await else {
        return Ok(());
    };
    shared.observe(worker, &task);
    if rng.below(8) == 0 {
        // Park a wait without a timeout; the checks at the end make sure it ends.
        let (store, waited, seen) = (store.clone(), id.clone(), task.last_updated_at);
        let handle = tokio::spawn(async move {
            store
                .wait_for_update(&Scope::All, &waited, seen, None)
                .await
        });
        let seen = task.last_updated_at;
        shared.log().parked.push(Parked { id, seen, handle });
        return Ok(());
    }
    let timeout = Duration::from_millis(10 + rng.below(40));
    let waited = store.wait_for_update(&Scope::All, &id, task.last_updated_at, Some(timeout));
    match tokio::time::timeout(timeout + HANG, waited).await {
        Ok(Ok(task)) => shared.observe(worker, &task),
        Ok(Err(e)) if expected(&e) => {}
        Ok(Err(e)) => return Err(format!("wait {id}: {e}")),
        Err(_) => return Err(format!("a wait on {id} with a {timeout:?} timeout hung")),
    }
    Ok(())
}

async fn worker(shared: Arc<Shared>, worker: u64, seed: u64) -> Result<(), String> {
    let mut rng = Rng(seed ^ worker.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let store = shared.store.clone();
    for n in 0..share(worker) {
        let op = rng.below(100);
        let id = match shared.pick(&mut rng) {
            Some(id) if op >= 15 => id,
            _ => {
                create(&shared, &mut rng, worker).await?;
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
                    let mut log = shared.log();
                    log.changed
                        .entry(id.clone())
                        .or_default()
                        .push(task.last_updated_at);
                    if task.is_terminal() {
                        log.finished.entry(id).or_default().push(change);
                    }
                }
                Err(e) if expected(&e) => {}
                Err(e) => return Err(format!("update {id}: {e}")),
            }
            continue;
        }
        match op {
            70..=84 => wait(&shared, &mut rng, worker, id).await?,
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
/// list, delete) from a seeded generator; then every acknowledged write must be in the store,
/// and every wait must have ended. The seed is printed at the start and in any failure; set
/// `LOAD_SEED` to replay a run.
pub async fn mixed_load(factory: &dyn StoreFactory) -> CaseResult {
    let seed = std::env::var("LOAD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64);
    // Shown with the test's output if it fails, even by a panic or a hang.
    eprintln!("mixed_load: LOAD_SEED={seed}");
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
    let mut log = std::mem::take(&mut *shared.log());
    let live = listing_has_each_task_once(store.as_ref()).await?;
    let listed_at = Utc::now();
    acknowledged_tasks_exist(&log, &live, listed_at)?;
    let final_stamps = records_agree(store.as_ref(), &log, &live).await?;
    stamps_never_go_back(&log, &final_stamps)?;
    parked_waiters_end(store.as_ref(), std::mem::take(&mut log.parked)).await?;
    ensure!(!log.created.is_empty(), "the workload created nothing");
    Ok(Verdict::Passed)
}

/// A full listing, and each owner's, hold every live task exactly once, and in its owner's
/// listing only. Returns the tasks by id, with the owner whose listing held each.
async fn listing_has_each_task_once(
    store: &dyn TaskStore,
) -> Result<HashMap<String, (Task, &'static str)>, crate::CaseError> {
    let listed = step!(list_all(store, &Scope::All, Some(97)).await);
    let mut everyone = HashMap::new();
    for task in &listed {
        ensure!(
            everyone
                .insert(task.task_id.clone(), task.clone())
                .is_none(),
            "{} listed twice",
            task.task_id
        );
    }
    let mut live = HashMap::new();
    for owner in OWNERS {
        for task in step!(list_all(store, &Scope::owner(owner), Some(89)).await) {
            let id = task.task_id.clone();
            if let Some((_, first)) = live.insert(id.clone(), (task, owner)) {
                return Err(fail!("{id} is listed by {first} and by {owner}"));
            }
        }
    }
    // Expiry between the listings may drop a task from the later ones, never add one.
    for id in live.keys() {
        ensure!(
            everyone.contains_key(id),
            "{id} is in its owner's listing but not in the full one"
        );
    }
    Ok(live)
}

/// Every acknowledged create is listed unless it was deleted or its ttl ran out before the
/// listing ended at `listed_at`.
fn acknowledged_tasks_exist(
    log: &Log,
    live: &HashMap<String, (Task, &'static str)>,
    listed_at: DateTime<Utc>,
) -> CaseResult {
    for created in &log.created {
        let id = &created.id;
        let deleted = log.deleted.contains(id);
        match live.get(id) {
            Some(_) if deleted => return Err(fail!("deleted task {id} is still listed")),
            Some((_, owner)) => ensure_eq!(*owner, created.owner, "{id}'s owner"),
            None if deleted => {}
            None => {
                let expires = created
                    .ttl
                    .and_then(|ttl| i64::try_from(ttl).ok())
                    .map(|ttl| created.created_at + chrono::Duration::milliseconds(ttl));
                ensure!(
                    expires.is_some_and(|at| at <= listed_at + CLOCK_SKEW),
                    "acknowledged task {id} (ttl {:?}) is missing from the listing",
                    created.ttl
                );
            }
        }
    }
    Ok(Verdict::Passed)
}

/// Each listed task reads back exactly as listed, holds the outcome of the one terminal
/// change that won, and no cancelled task holds a result: each task holds exactly one status,
/// which its listing, its record and its outcome agree on. Returns each task's final
/// `lastUpdatedAt`.
async fn records_agree(
    store: &dyn TaskStore,
    log: &Log,
    live: &HashMap<String, (Task, &'static str)>,
) -> Result<HashMap<String, DateTime<Utc>>, crate::CaseError> {
    let mut final_stamps = HashMap::new();
    for (id, (listed, owner)) in live {
        let record = match store.get_record(&Scope::All, id).await {
            Ok(record) => record,
            Err(TaskError::NotFound { .. }) => continue, // expired since the listing
            Err(e) => return Err(fail!("get_record {id}: {e}")),
        };
        let task = &record.task;
        ensure!(task == listed, "{id} reads back unlike its listing");
        ensure_eq!(record.owner.as_deref(), Some(*owner), "{id}'s owner");
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
    Ok(final_stamps)
}

/// `lastUpdatedAt` never goes back: not as one worker saw it, not between acknowledged
/// changes (each has its own), and not below the stored value.
fn stamps_never_go_back(log: &Log, stored: &HashMap<String, DateTime<Utc>>) -> CaseResult {
    for ((worker, id), stamps) in &log.seen {
        ensure!(
            stamps.windows(2).all(|w| w[0] <= w[1]),
            "worker {worker} saw {id}'s lastUpdatedAt go back"
        );
        if let (Some(last), Some(stored)) = (stamps.last(), stored.get(id)) {
            ensure!(
                stored >= last,
                "{id}: the stored lastUpdatedAt is older than one seen"
            );
        }
    }
    for (id, stamps) in &log.changed {
        let distinct: HashSet<_> = stamps.iter().collect();
        ensure_eq!(
            distinct.len(),
            stamps.len(),
            "{id}: acknowledged changes with their own lastUpdatedAt"
        );
    }
    Ok(Verdict::Passed)
}

/// Every parked wait ends once its task changes again (or at once if it is terminal, deleted
/// or expired), and returns a later or terminal task, or not found.
async fn parked_waiters_end(store: &dyn TaskStore, parked: Vec<Parked>) -> CaseResult {
    let ids: HashSet<&str> = parked.iter().map(|p| p.id.as_str()).collect();
    for id in ids {
        match store.set_message(&Scope::All, id, "wake up").await {
            Ok(_) => {}
            Err(e) if expected(&e) => {}
            Err(e) => return Err(fail!("nudging {id}: {e}")),
        }
    }
    for Parked { id, seen, handle } in parked {
        let ended = match tokio::time::timeout(HANG, handle).await {
            Ok(joined) => step!(joined),
            Err(_) => return Err(fail!("a wait on {id} never ended: a lost wake-up")),
        };
        match ended {
            Ok(task) => ensure!(
                task.last_updated_at > seen || task.is_terminal(),
                "a wait on {id} returned a task it had already seen"
            ),
            Err(TaskError::NotFound { .. }) => {}
            Err(e) => return Err(fail!("a wait on {id} failed: {e}")),
        }
    }
    Ok(Verdict::Passed)
}
