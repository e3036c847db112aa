//! The one workload every subject runs: fill the store to a size, then time each operation over
//! a fixed number of calls on random existing tasks (seeded), in batches that keep the store at
//! its size, each operation time-boxed.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Errors of the benchmark program itself; a failing subject shows up in its cell.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Result of the benchmark program.
pub type Res<T> = Result<T, BoxError>;

/// Page size of every listing, for every subject.
pub const PAGE_SIZE: usize = 100;
/// Ttl of every created task (one hour): every subject keeps an expiry for it.
pub const TTL_MS: u64 = 3_600_000;
/// The owner (session) every task is bound to.
pub const OWNER: &str = "bench-session";

/// What is measured.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Op {
    Create,
    Get,
    Status,
    Complete,
    Cancel,
    List,
    Wake,
    /// A task manager starts a task and its work.
    Spawn,
    /// A task manager answers `tasks/get`.
    TaskGet,
    /// From `tasks/update` with an answer to the waiting work resuming.
    Resume,
    /// From `tasks/cancel` to the running work seeing the request.
    CancelSeen,
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::Create,
        Op::Get,
        Op::Status,
        Op::Complete,
        Op::Cancel,
        Op::List,
        Op::Wake,
        Op::Spawn,
        Op::TaskGet,
        Op::Resume,
        Op::CancelSeen,
    ];

    /// Whether the operation is a task manager's rather than a store's.
    pub fn is_manager(self) -> bool {
        matches!(self, Op::Spawn | Op::TaskGet | Op::Resume | Op::CancelSeen)
    }

    /// Whether the operation is measured as a latency rather than a rate.
    pub fn is_latency(self) -> bool {
        matches!(self, Op::Wake | Op::Resume | Op::CancelSeen)
    }

    /// The row label.
    pub fn label(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Get => "get",
            Op::Status => "status update",
            Op::Complete => "complete (1 KB result)",
            Op::Cancel => "cancel",
            Op::List => "list all pages",
            Op::Wake => "wake-up latency",
            Op::Spawn => "spawn",
            Op::TaskGet => "get_task",
            Op::Resume => "tasks/update → work resumes",
            Op::CancelSeen => "tasks/cancel → work sees it",
        }
    }

    /// The name used by `--ops` and by the Python SDK script's JSON.
    pub fn key(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Get => "get",
            Op::Status => "status",
            Op::Complete => "complete",
            Op::Cancel => "cancel",
            Op::List => "list",
            Op::Wake => "wake",
            Op::Spawn => "spawn",
            Op::TaskGet => "get-task",
            Op::Resume => "resume",
            Op::CancelSeen => "cancel-seen",
        }
    }

    pub fn parse(text: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.key() == text)
    }
}

/// The non-terminal status a status update moves a task to. Updates alternate between the two,
/// so that every subject, including those that refuse `working -> working`, sees a real
/// transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flip {
    InputRequired,
    Working,
}

impl Flip {
    fn other(self) -> Flip {
        match self {
            Flip::InputRequired => Flip::Working,
            Flip::Working => Flip::InputRequired,
        }
    }
}

/// Message written by every status update.
pub const STATUS_MESSAGE: &str = "step 2 of 4";

/// A tool result of about 1 KB, the payload of every completion.
pub fn one_kb_result() -> serde_json::Map<String, serde_json::Value> {
    let text = "lorem ipsum dolor sit amet ".repeat(37);
    let value = serde_json::json!({
        "content": [{"type": "text", "text": text}],
        "isError": false,
    });
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// A store under test, driven through its own public API.
///
/// Every method acts on the tasks of [`OWNER`]. A subject without an operation says so in
/// [`Subject::unsupported`], and its cell reads "n/a" with the reason.
pub trait Subject: Send + Sync + 'static {
    /// What a waiter remembers of a task to tell a later change (its version).
    type Version: Send + 'static;

    /// Whether the subject is a task manager: it runs the manager's operations
    /// ([`Op::is_manager`]), with [`Subject::create`] spawning a task whose work waits for
    /// input and [`Subject::get`] answering `tasks/get`; a store runs the others.
    const MANAGER: bool = false;

    /// Why the subject cannot run `op`, if it cannot.
    fn unsupported(&self, _op: Op) -> Option<&'static str> {
        None
    }

    /// Creates `n` tasks the quickest way the subject allows and returns their ids, or `None`
    /// to be filled through [`Subject::create`] by concurrent callers.
    fn fill(&self, _n: usize) -> impl Future<Output = Res<Option<Vec<String>>>> + Send {
        async { Ok(None) }
    }

    /// Creates one task and returns its id.
    fn create(&self) -> impl Future<Output = Res<String>> + Send;

    /// Reads one task.
    fn get(&self, id: &str) -> impl Future<Output = Res<()>> + Send;

    /// Moves a non-terminal task to `to` with [`STATUS_MESSAGE`].
    fn set_status(&self, id: &str, to: Flip) -> impl Future<Output = Res<()>> + Send;

    /// Completes a task with [`one_kb_result`].
    fn complete(&self, id: &str) -> impl Future<Output = Res<()>> + Send;

    /// Cancels a task.
    fn cancel(&self, id: &str) -> impl Future<Output = Res<()>> + Send;

    /// Reads the page after `cursor` ([`PAGE_SIZE`] tasks); returns its length and the next
    /// cursor.
    fn list_page(
        &self,
        cursor: Option<String>,
    ) -> impl Future<Output = Res<(usize, Option<String>)>> + Send;

    /// Deletes tasks (untimed: keeps the store at its size between batches).
    fn remove(&self, ids: &[String]) -> impl Future<Output = Res<()>> + Send;

    /// Reads a task's version, for a waiter.
    fn version(&self, _id: &str) -> impl Future<Output = Res<Self::Version>> + Send {
        async { Err("no wake-ups".into()) }
    }

    /// Waits until the task changes from `seen`; fails if it does not within a few seconds.
    fn wait_change(&self, _id: &str, _seen: Self::Version) -> impl Future<Output = Res<()>> + Send {
        async { Err("no wake-ups".into()) }
    }

    /// A manager: once the work of task `id` waits for input, answers it and returns the time
    /// from the `tasks/update` call to the work resuming.
    fn resume(&self, _id: &str) -> impl Future<Output = Res<Duration>> + Send {
        async { Err("not a task manager".into()) }
    }

    /// A manager: spawns a task whose work waits for a cancel request, cancels it and returns
    /// the time from the `tasks/cancel` call to the work seeing it.
    fn cancel_seen(&self) -> impl Future<Output = Res<Duration>> + Send {
        async { Err("not a task manager".into()) }
    }
}

/// How many calls each operation gets and how long it may take.
#[derive(Clone, Debug)]
pub struct Plan {
    pub calls: PlanCalls,
    /// Time box of one operation at one concurrency (timed work only).
    pub budget: Duration,
    /// Rounds of the wake-up measurement (split among the callers).
    pub wake_rounds: usize,
    /// Repetitions of each rate measurement, each with an equal share of the time box; the
    /// median is reported, which discounts a burst of outside load.
    pub reps: usize,
}

/// Calls per operation.
#[derive(Clone, Copy, Debug)]
pub struct PlanCalls {
    pub create: usize,
    pub get: usize,
    pub status: usize,
    pub complete: usize,
    pub cancel: usize,
}

impl PlanCalls {
    pub fn of(&self, op: Op) -> usize {
        match op {
            Op::Create | Op::Spawn => self.create,
            Op::Get | Op::TaskGet => self.get,
            Op::Status => self.status,
            Op::Complete => self.complete,
            Op::Cancel => self.cancel,
            Op::List | Op::Wake | Op::Resume | Op::CancelSeen => 0,
        }
    }
}

/// The outcome of one operation at one concurrency.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Cell {
    /// Calls (or, for listing, items) per second.
    Rate {
        count: usize,
        seconds: f64,
        /// Set when the time box ended the measurement before the planned work was done.
        partial: Option<String>,
    },
    /// Wake-up latency.
    Latency {
        p50: Duration,
        p99: Duration,
        samples: usize,
    },
    /// The subject has no equivalent operation.
    NotApplicable(String),
    /// The subject failed.
    Failed(String),
}

impl Cell {
    /// Time per call (for listing, per page of [`PAGE_SIZE`] tasks), for rates.
    pub fn per_call(&self, op: Op) -> Option<Duration> {
        let per_item = 1.0 / self.rate()?;
        let items = if op == Op::List {
            PAGE_SIZE as f64
        } else {
            1.0
        };
        Some(Duration::from_secs_f64(per_item * items))
    }

    /// Per second, for rates.
    pub fn rate(&self) -> Option<f64> {
        match self {
            Cell::Rate { count, seconds, .. } if *seconds > 0.0 => Some(*count as f64 / seconds),
            _ => None,
        }
    }
}

/// The tasks of a filled store, with what the workload knows of each.
pub struct Pool {
    ids: Vec<String>,
    /// The status the next update moves each task to.
    next: Vec<Flip>,
    rng: fastrand::Rng,
}

impl Pool {
    fn new(ids: Vec<String>, seed: u64) -> Self {
        Pool {
            next: vec![Flip::InputRequired; ids.len()],
            ids,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Heap bytes of the workload's own list of ids, left out of a store's bytes per task.
    pub fn own_bytes(&self) -> usize {
        self.ids.capacity() * std::mem::size_of::<String>()
            + self.ids.iter().map(String::capacity).sum::<usize>()
    }

    /// `k` distinct random positions.
    fn sample(&mut self, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..self.ids.len()).collect();
        let k = k.min(all.len());
        for i in 0..k {
            let j = self.rng.usize(i..all.len());
            all.swap(i, j);
        }
        all.truncate(k);
        all
    }
}

/// One timed call.
#[derive(Clone, Copy)]
enum Call {
    Create,
    Get(usize),
    Status(usize, Flip),
    Complete(usize),
    Cancel(usize),
}

async fn call<S: Subject>(subject: &S, ids: &IdTable, call: Call) -> Res<Option<String>> {
    match call {
        Call::Create => return subject.create().await.map(Some),
        Call::Get(i) => subject.get(ids.get(i)).await?,
        Call::Status(i, to) => subject.set_status(ids.get(i), to).await?,
        Call::Complete(i) => subject.complete(ids.get(i)).await?,
        Call::Cancel(i) => subject.cancel(ids.get(i)).await?,
    }
    Ok(None)
}

/// The ids of a batch in one buffer, so that looking one up costs the workload a single cache
/// line (ids of one length, such as UUIDs, sit at a fixed stride).
struct IdTable {
    text: String,
    /// End offset of each id, unless they all have the length `stride`.
    ends: Vec<usize>,
    stride: Option<usize>,
}

impl IdTable {
    fn new(ids: &[String]) -> Self {
        let stride = ids
            .first()
            .map(String::len)
            .filter(|&len| len > 0 && ids.iter().all(|id| id.len() == len));
        let mut text = String::with_capacity(ids.iter().map(String::len).sum());
        let mut ends = Vec::new();
        for id in ids {
            text.push_str(id);
            if stride.is_none() {
                ends.push(text.len());
            }
        }
        IdTable { text, ends, stride }
    }

    fn get(&self, i: usize) -> &str {
        match self.stride {
            Some(len) => &self.text[i * len..(i + 1) * len],
            None => {
                let start = if i == 0 { 0 } else { self.ends[i - 1] };
                &self.text[start..self.ends[i]]
            }
        }
    }
}

/// What one batch did.
struct Batch {
    /// Calls that ran: the first `done` of the batch.
    done: usize,
    elapsed: Duration,
    created: Vec<String>,
}

/// Checks a deadline between calls without reading the clock before every fast call: the
/// stride between reads doubles (up to 64 calls) while reads come less than 100 µs apart, so
/// the time box is overshot by at most about 200 µs.
struct DeadlineCheck {
    deadline: Instant,
    last: Instant,
    stride: usize,
    until_read: usize,
}

impl DeadlineCheck {
    fn new(deadline: Instant) -> Self {
        DeadlineCheck {
            deadline,
            last: Instant::now(),
            stride: 1,
            until_read: 0,
        }
    }

    fn passed(&mut self) -> bool {
        if self.until_read > 0 {
            self.until_read -= 1;
            return false;
        }
        let now = Instant::now();
        if now >= self.deadline {
            return true;
        }
        let quick = now.duration_since(self.last) < Duration::from_micros(100);
        self.stride = if quick { (self.stride * 2).min(64) } else { 1 };
        self.last = now;
        self.until_read = self.stride - 1;
        false
    }
}

/// Runs `calls` with `callers` concurrent tasks, each taking the next call until none is left
/// or `deadline` passes. A call taken always runs, so the first `done` calls ran.
async fn run_batch<S: Subject>(
    subject: &Arc<S>,
    ids: &Arc<IdTable>,
    calls: Vec<Call>,
    callers: usize,
    deadline: Instant,
) -> Res<Batch> {
    let calls = Arc::new(calls);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::with_capacity(callers);
    for _ in 0..callers {
        let (subject, ids, calls, next) =
            (subject.clone(), ids.clone(), calls.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut created = Vec::new();
            let mut clock = DeadlineCheck::new(deadline);
            loop {
                if clock.passed() {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&c) = calls.get(i) else { break };
                if let Some(id) = call(&*subject, &ids, c).await? {
                    created.push(id);
                }
            }
            Ok::<_, BoxError>(created)
        }));
    }
    let mut created = Vec::new();
    let mut failure = None;
    for worker in workers {
        match worker.await {
            Ok(Ok(ids)) => created.extend(ids),
            Ok(Err(e)) => failure = Some(e),
            Err(e) => failure = Some(e.into()),
        }
    }
    let elapsed = start.elapsed();
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(Batch {
        done: next.load(Ordering::Relaxed).min(calls.len()),
        elapsed,
        created,
    })
}

/// Fills a fresh subject with `n` tasks; creates through the API use 32 callers.
pub async fn fill<S: Subject>(subject: &Arc<S>, n: usize, seed: u64) -> Res<Pool> {
    let ids = match subject.fill(n).await? {
        Some(ids) => ids,
        None => create_many(subject, n).await?,
    };
    if ids.len() != n {
        return Err(format!("filled {} tasks instead of {n}", ids.len()).into());
    }
    Ok(Pool::new(ids, seed))
}

async fn create_many<S: Subject>(subject: &Arc<S>, n: usize) -> Res<Vec<String>> {
    let far = Instant::now() + Duration::from_secs(24 * 3_600);
    let batch = run_batch(
        subject,
        &Arc::new(IdTable::new(&[])),
        vec![Call::Create; n],
        32,
        far,
    )
    .await?;
    Ok(batch.created)
}

/// Times one operation at one concurrency on a filled store, keeping the store at its size.
///
/// `single` is how long one call (for listing, one page) took at one caller, if measured: when
/// `callers` such calls at once cannot fit in the time box on this machine's cores, the cell
/// says so instead of overrunning it.
pub async fn measure<S: Subject>(
    subject: &Arc<S>,
    pool: &mut Pool,
    op: Op,
    callers: usize,
    plan: &Plan,
    single: Option<Duration>,
) -> Cell {
    if let Some(reason) = subject.unsupported(op) {
        return Cell::NotApplicable(reason.to_owned());
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if let Some(single) = single
        && callers > 1
        && single.mul_f64(callers as f64 / cores as f64) > plan.budget * 2
    {
        let per = if op == Op::List { "page" } else { "call" };
        return Cell::NotApplicable(format!(
            "one {per} takes {:.1} s, {callers} at once overrun the time box",
            single.as_secs_f64()
        ));
    }
    if op.is_latency() {
        let measured = match op {
            Op::Wake => measure_rounds(subject, pool, callers, plan, wake_round::<S>).await,
            Op::Resume => {
                let round = |subject: Arc<S>, id: String, flip| async move {
                    Ok::<_, BoxError>((subject.resume(&id).await?, flip))
                };
                measure_rounds(subject, pool, callers, plan, round).await
            }
            _ => {
                let round = |subject: Arc<S>, _id: String, flip| async move {
                    Ok::<_, BoxError>((subject.cancel_seen().await?, flip))
                };
                measure_rounds(subject, pool, callers, plan, round).await
            }
        };
        return measured.unwrap_or_else(|e| Cell::Failed(e.to_string()));
    }
    let reps = plan.reps.max(1);
    let share = Plan {
        budget: plan.budget / reps as u32,
        ..plan.clone()
    };
    let mut cells = Vec::with_capacity(reps);
    for _ in 0..reps {
        let outcome = match op {
            Op::List => measure_list(subject, pool.len(), callers, share.budget).await,
            _ => measure_calls(subject, pool, op, callers, &share).await,
        };
        match outcome {
            // Fewer than ten calls (or pages) in a share of the time box: another share would
            // tell no more, only take longer.
            Ok(Cell::Rate { count, .. })
                if count < 10 * if op == Op::List { PAGE_SIZE } else { 1 } =>
            {
                return outcome.unwrap_or_else(|e| Cell::Failed(e.to_string()));
            }
            Ok(cell) => cells.push(cell),
            Err(e) => return Cell::Failed(e.to_string()),
        }
    }
    cells.sort_by(|a, b| {
        a.rate()
            .partial_cmp(&b.rate())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    cells.swap_remove(cells.len() / 2)
}

async fn measure_calls<S: Subject>(
    subject: &Arc<S>,
    pool: &mut Pool,
    op: Op,
    callers: usize,
    plan: &Plan,
) -> Res<Cell> {
    let planned = plan.calls.of(op);
    let n = pool.len();
    // Writes that end tasks may take at most half the store per batch; creates a quarter.
    let batch_max = match op {
        Op::Get | Op::TaskGet => planned,
        Op::Status => n,
        Op::Complete | Op::Cancel => (n / 2).max(1),
        _ => (n / 4).max(1),
    };
    let mut done = 0;
    let mut timed = Duration::ZERO;
    while done < planned && timed < plan.budget {
        let k = (planned - done).min(batch_max);
        let ids = Arc::new(IdTable::new(&pool.ids));
        let (calls, picked): (Vec<Call>, Vec<usize>) = match op {
            Op::Create | Op::Spawn => (vec![Call::Create; k], Vec::new()),
            Op::Get | Op::TaskGet => (
                (0..k).map(|_| Call::Get(pool.rng.usize(0..n))).collect(),
                Vec::new(),
            ),
            Op::Status => {
                let picked = pool.sample(k);
                let calls = picked
                    .iter()
                    .map(|&i| Call::Status(i, pool.next[i]))
                    .collect();
                (calls, picked)
            }
            Op::Complete | Op::Cancel => {
                let picked = pool.sample(k);
                let calls = picked
                    .iter()
                    .map(|&i| match op {
                        Op::Complete => Call::Complete(i),
                        _ => Call::Cancel(i),
                    })
                    .collect();
                (calls, picked)
            }
            Op::List | Op::Wake | Op::Resume | Op::CancelSeen => {
                return Err("not a call".into());
            }
        };
        let deadline = Instant::now() + (plan.budget - timed);
        let batch = run_batch(subject, &ids, calls, callers, deadline).await?;
        done += batch.done;
        timed += batch.elapsed;
        // Untimed: put the store back at its size, with every task non-terminal.
        match op {
            Op::Create | Op::Spawn => subject.remove(&batch.created).await?,
            Op::Status => {
                for &i in &picked[..batch.done] {
                    pool.next[i] = pool.next[i].other();
                }
            }
            Op::Complete | Op::Cancel => {
                let ended: Vec<String> = picked[..batch.done]
                    .iter()
                    .map(|&i| pool.ids[i].clone())
                    .collect();
                subject.remove(&ended).await?;
                let fresh = match subject.fill(ended.len()).await? {
                    Some(fresh) => fresh,
                    None => create_many(subject, ended.len()).await?,
                };
                for (&i, id) in picked[..batch.done].iter().zip(fresh) {
                    pool.ids[i] = id;
                    pool.next[i] = Flip::InputRequired;
                }
            }
            _ => {}
        }
        if batch.done == 0 {
            break;
        }
    }
    Ok(Cell::Rate {
        count: done,
        seconds: timed.as_secs_f64(),
        partial: (done < planned).then(|| format!("{done} of {planned} calls in the time box")),
    })
}

/// Each caller walks every page from the start; items per second over all callers.
async fn measure_list<S: Subject>(
    subject: &Arc<S>,
    n: usize,
    callers: usize,
    budget: Duration,
) -> Res<Cell> {
    let start = Instant::now();
    let deadline = start + budget;
    let mut walkers = Vec::new();
    for _ in 0..callers {
        let subject = subject.clone();
        walkers.push(tokio::spawn(async move {
            let (mut items, mut cursor) = (0, None);
            loop {
                let (len, next) = subject.list_page(cursor).await?;
                items += len;
                cursor = next;
                if cursor.is_none() || Instant::now() >= deadline {
                    break;
                }
            }
            Ok::<_, BoxError>((items, cursor.is_none()))
        }));
    }
    let (mut items, mut finished) = (0, 0);
    for walker in walkers {
        let (walked, complete) = walker.await??;
        items += walked;
        finished += usize::from(complete);
    }
    let seconds = start.elapsed().as_secs_f64();
    if finished == callers && items != n * callers {
        return Err(format!("listed {items} tasks, expected {}", n * callers).into());
    }
    Ok(Cell::Rate {
        count: items,
        seconds,
        partial: (finished < callers)
            .then(|| format!("{items} of {} items in the time box", n * callers)),
    })
}

/// `callers` concurrent rounds, each on its own task and timed by `round`, which gets the
/// status the task's next update moves it to and returns the one after. Rounds are split among
/// the callers and stop at the time box once each caller has one sample.
async fn measure_rounds<S, R, F>(
    subject: &Arc<S>,
    pool: &mut Pool,
    callers: usize,
    plan: &Plan,
    round: R,
) -> Res<Cell>
where
    S: Subject,
    R: Fn(Arc<S>, String, Flip) -> F + Clone + Send + 'static,
    F: Future<Output = Res<(Duration, Flip)>> + Send + 'static,
{
    let picked = pool.sample(callers);
    let rounds = plan.wake_rounds.div_ceil(callers).max(1);
    let deadline = Instant::now() + plan.budget;
    let mut pairs = Vec::new();
    for &i in &picked {
        let (subject, round) = (subject.clone(), round.clone());
        let id = pool.ids[i].clone();
        let mut flip = pool.next[i];
        pairs.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                if Instant::now() >= deadline && !samples.is_empty() {
                    break;
                }
                let (sample, next) = round(subject.clone(), id.clone(), flip).await?;
                samples.push(sample);
                flip = next;
            }
            Ok::<_, BoxError>((samples, flip))
        }));
    }
    let mut samples = Vec::new();
    for (pair, &i) in pairs.into_iter().zip(&picked) {
        let (mut got, flip) = pair.await??;
        samples.append(&mut got);
        pool.next[i] = flip;
    }
    samples.sort();
    Ok(Cell::Latency {
        p50: percentile(&samples, 0.50),
        p99: percentile(&samples, 0.99),
        samples: samples.len(),
    })
}

/// One wake-up: a waiter reads the task's version and waits; the updater lets it park, then
/// changes the status. Latency runs from the moment the update call returns (the transition is
/// committed) to the waiter's return; a waiter that returned first counts as zero.
async fn wake_round<S: Subject>(subject: Arc<S>, id: String, flip: Flip) -> Res<(Duration, Flip)> {
    let seen = subject.version(&id).await?;
    let waiter = {
        let (subject, id) = (subject.clone(), id.clone());
        tokio::spawn(async move {
            subject.wait_change(&id, seen).await?;
            Ok::<_, BoxError>(Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(1)).await;
    subject.set_status(&id, flip).await?;
    let committed = Instant::now();
    let woke = waiter.await??;
    Ok((woke.saturating_duration_since(committed), flip.other()))
}

/// The `q` quantile of sorted samples (nearest rank).
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
