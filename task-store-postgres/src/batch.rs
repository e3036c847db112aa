//! Group commit for the common writes: creates without limits ([`NewRow`]) and the changes
//! one statement makes ([`Change`]). The writes concurrent callers make of one kind go out
//! together, as one statement in one transaction, so they share a round trip and a WAL flush
//! instead of paying one each. A caller is answered only once its write has committed, and
//! every row is still its own compare-and-set, decided exactly as the single-row statement
//! decides it.
//!
//! One [`Batcher`] per kind and store runs one write or batch at a time. A write that finds
//! none under way runs at once, with the single-row statement, in its caller's task: a lone
//! caller pays nothing for the batching. The writes that arrive while one is under way wait,
//! and when it ends the batch task runs them together, up to [`MAX_BATCH`] of them and
//! [`MAX_BATCH_BYTES`], with distinct task ids (a second write to one task waits for the next
//! batch), and again until none wait. A write whose caller gave up before its batch went out
//! is dropped unsent.
//!
//! A batch the server refused as a whole (a deadlock with another process's batch, say) was
//! rolled back, so its writes run again one by one and each gets its own answer. Any other
//! failure (the connection lost, the call timeout) is every write's answer: such a commit
//! may or may not have landed, as for a single statement.

use crate::error::{PostgresError, deadline, driver, rolled_back};
use crate::sql;
use sqlx::PgPool;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row};
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use task_core::{TaskError, TaskRecord};
use task_store_sql::ms;
use task_store_sql::rows::to_json;
use tokio::sync::{Notify, oneshot};
use tokio::task::AbortHandle;

/// Most writes in one statement.
const MAX_BATCH: usize = 256;

/// Most bytes of values in one statement (a lone write may be larger). sqlx 0.9.0 leaves
/// Nagle's algorithm on (no `TCP_NODELAY`: launchbadge/sqlx#4335), so a statement larger than
/// the socket's send buffer (16 KB at first on Linux) goes out in more than one write, and the
/// last part then waits for the server's delayed ACK: 40 ms. Under this size a batch goes out
/// in one write.
const MAX_BATCH_BYTES: usize = 12 * 1024;

/// A write that can share its statement with others of its kind.
pub(crate) trait Write: Sized + Send + Sync + 'static {
    /// Its answer once committed.
    type Done: Send + 'static;

    /// The task it writes.
    fn task_id(&self) -> &str;

    /// About how many bytes its values take in a statement.
    fn size(&self) -> usize;

    /// Runs this write alone, with the single-row statement.
    fn run_one(
        &self,
        pool: &PgPool,
    ) -> impl Future<Output = Result<Self::Done, sqlx::Error>> + Send;

    /// Runs `writes` (two or more, distinct task ids) as one statement; one answer per write,
    /// in their order.
    fn run_many(
        pool: &PgPool,
        writes: &[Self],
    ) -> impl Future<Output = Result<Vec<Self::Done>, sqlx::Error>> + Send;
}

type Answer<W> = oneshot::Sender<Result<<W as Write>::Done, TaskError>>;
type Waiting<W> = VecDeque<(W, Answer<W>)>;

/// Runs the writes of one kind: a write that finds none under way runs at once in its
/// caller's task; writes that arrive while one is under way wait, and the batch task runs them
/// together when it ends.
pub(crate) struct Batcher<W: Write> {
    state: Arc<Mutex<State<W>>>,
    /// Wakes the batch task: writes are waiting and it is their turn.
    turn: Arc<Notify>,
    task: AbortHandle,
    pool: PgPool,
    /// Writes that went out in a batch of two or more.
    shared: Arc<AtomicU64>,
}

struct State<W: Write> {
    /// A write or a batch is under way. While it is not, nothing waits.
    busy: bool,
    waiting: Waiting<W>,
    /// The batcher was dropped: the task ends once nothing waits.
    closed: bool,
}

impl<W: Write> Batcher<W> {
    /// A batcher whose batch task runs on the current runtime, each batch through `pool`
    /// within `within`. The task ends once the batcher is dropped and nothing waits.
    pub(crate) fn start(pool: PgPool, within: Duration) -> Self {
        let state = Arc::new(Mutex::new(State {
            busy: false,
            waiting: VecDeque::new(),
            closed: false,
        }));
        let turn = Arc::new(Notify::new());
        let shared = Arc::new(AtomicU64::new(0));
        let running = run(
            pool.clone(),
            within,
            state.clone(),
            turn.clone(),
            shared.clone(),
        );
        let task = tokio::spawn(running).abort_handle();
        Batcher {
            state,
            turn,
            task,
            pool,
            shared,
        }
    }

    /// How many writes went out in a batch of two or more so far.
    pub(crate) fn shared(&self) -> u64 {
        self.shared.load(Ordering::Relaxed)
    }

    /// Runs `write`, alone or in the next batch, and returns its answer once it has
    /// committed.
    pub(crate) async fn write(&self, write: W) -> Result<W::Done, TaskError> {
        let queued = {
            let mut state = lock(&self.state);
            // No batch task is left when the runtime that ran it has shut down.
            let alive = !self.task.is_finished();
            if state.busy && alive {
                let (answer, answered) = oneshot::channel();
                state.waiting.push_back((write, answer));
                Ok(answered)
            } else {
                state.busy |= alive;
                Err(write)
            }
        };
        match queued {
            Ok(answered) => answered
                .await
                .unwrap_or_else(|_| Err(PostgresError::Stopped.into())),
            Err(write) => {
                // Nothing was under way: this write goes now, from here.
                let _turn = Turn(self);
                write.run_one(&self.pool).await.map_err(driver)
            }
        }
    }
}

impl<W: Write> Drop for Batcher<W> {
    fn drop(&mut self) {
        lock(&self.state).closed = true;
        self.turn.notify_one();
    }
}

/// A write under way in its caller's task. When it ends, or its caller gives up on it, the
/// writes that arrived meanwhile go to the batch task.
struct Turn<'a, W: Write>(&'a Batcher<W>);

impl<W: Write> Drop for Turn<'_, W> {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        if state.waiting.is_empty() {
            state.busy = false;
        } else {
            self.0.turn.notify_one();
        }
    }
}

/// The state, even if a thread panicked holding it (nothing here leaves it half-changed).
fn lock<W: Write>(state: &Mutex<State<W>>) -> MutexGuard<'_, State<W>> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The batch task: whenever it is its turn, runs the waiting writes in batches until none
/// wait.
async fn run<W: Write>(
    pool: PgPool,
    within: Duration,
    state: Arc<Mutex<State<W>>>,
    turn: Arc<Notify>,
    shared: Arc<AtomicU64>,
) {
    loop {
        turn.notified().await;
        loop {
            let batch = {
                let mut state = lock(&state);
                let batch = next_batch(&mut state.waiting);
                if batch.is_empty() {
                    if state.closed {
                        return;
                    }
                    state.busy = false;
                    break;
                }
                batch
            };
            if batch.len() > 1 {
                shared.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            answer(&pool, within, batch).await;
        }
    }
}

/// Takes from `waiting` the next batch: up to [`MAX_BATCH`] writes to distinct tasks and
/// [`MAX_BATCH_BYTES`], in task-id order (so that batches lock their rows in one order),
/// without the writes whose callers gave up.
fn next_batch<W: Write>(waiting: &mut Waiting<W>) -> Vec<(W, Answer<W>)> {
    let mut batch = Vec::new();
    let mut ids = HashSet::new();
    let mut bytes = 0;
    let mut later = VecDeque::new();
    for (write, answer) in waiting.drain(..) {
        if answer.is_closed() {
            continue;
        }
        let fits = batch.is_empty()
            || (batch.len() < MAX_BATCH && bytes + write.size() <= MAX_BATCH_BYTES);
        // A write held back holds back the later writes to its task too.
        let first_to_its_task = ids.insert(write.task_id().to_owned());
        if fits && first_to_its_task {
            bytes += write.size();
            batch.push((write, answer));
        } else {
            later.push_back((write, answer));
        }
    }
    *waiting = later;
    batch.sort_by(|a, b| a.0.task_id().cmp(b.0.task_id()));
    batch
}

/// Runs `batch` and answers each of its callers.
async fn answer<W: Write>(pool: &PgPool, within: Duration, batch: Vec<(W, Answer<W>)>) {
    let (writes, answers): (Vec<W>, Vec<Answer<W>>) = batch.into_iter().unzip();
    let ran = tokio::time::timeout(within, async {
        match writes.as_slice() {
            [one] => one.run_one(pool).await.map(|done| vec![done]),
            many => W::run_many(pool, many).await,
        }
    })
    .await;
    match ran {
        Ok(Ok(done)) => {
            for (answer, done) in answers.into_iter().zip(done) {
                // A caller that gave up needs no answer.
                let _ = answer.send(Ok(done));
            }
        }
        Ok(Err(error)) if writes.len() > 1 && rolled_back(&error) => {
            for (write, answer) in writes.iter().zip(answers) {
                let alone = deadline(within, async { write.run_one(pool).await.map_err(driver) });
                let _ = answer.send(alone.await);
            }
        }
        Ok(Err(error)) => {
            let error = Arc::new(error);
            for answer in answers {
                let _ = answer.send(Err(PostgresError::Driver(error.clone()).into()));
            }
        }
        Err(_) => {
            for answer in answers {
                let _ = answer.send(Err(PostgresError::TimedOut(within).into()));
            }
        }
    }
}

/// A new task's row, as `insert.sql` stores it. Its answer: whether it was stored (`false`:
/// a live task holds the id).
#[derive(Debug)]
pub(crate) struct NewRow {
    task_id: String,
    owner: Option<String>,
    status: &'static str,
    status_message: Option<Vec<u8>>,
    created_at: i64,
    last_updated_at: i64,
    ttl: Option<i64>,
    expires_at: Option<i64>,
    poll_interval: Option<i64>,
    requested_ttl: Option<i64>,
    revision: &'static str,
    request: Option<String>,
    input_requests: String,
}

impl NewRow {
    /// The row of `record`.
    pub(crate) fn of(record: &TaskRecord) -> Result<NewRow, TaskError> {
        let task = &record.task;
        Ok(NewRow {
            task_id: task.task_id.clone(),
            owner: record.owner.clone(),
            status: task.status.as_str(),
            status_message: task.status_message.clone().map(String::into_bytes),
            created_at: task.created_at.timestamp_millis(),
            last_updated_at: task.last_updated_at.timestamp_millis(),
            ttl: ms(task.ttl),
            expires_at: task.expires_at().map(|at| at.timestamp_millis()),
            poll_interval: ms(task.poll_interval),
            // The same bits as an i64, so every u64 round-trips.
            requested_ttl: record.requested_ttl.map(|ttl| ttl as i64),
            revision: record.revision.as_str(),
            request: record.request.as_ref().map(to_json).transpose()?,
            input_requests: to_json(&record.input_requests)?,
        })
    }

    /// `insert.sql` with this row's values.
    pub(crate) fn query(&self) -> Query<'_, Postgres, PgArguments> {
        sqlx::query(sql::INSERT)
            .bind(&self.task_id)
            .bind(&self.owner)
            .bind(self.status)
            .bind(&self.status_message)
            .bind(self.created_at)
            .bind(self.last_updated_at)
            .bind(self.ttl)
            .bind(self.expires_at)
            .bind(self.poll_interval)
            .bind(self.requested_ttl)
            .bind(self.revision)
            .bind(&self.request)
            .bind(&self.input_requests)
    }
}

impl Write for NewRow {
    type Done = bool;

    fn task_id(&self) -> &str {
        &self.task_id
    }

    fn size(&self) -> usize {
        let text = |value: &Option<String>| value.as_ref().map_or(0, String::len);
        self.task_id.len()
            + text(&self.owner)
            + self.status_message.as_ref().map_or(0, Vec::len)
            + text(&self.request)
            + self.input_requests.len()
            + 120
    }

    async fn run_one(&self, pool: &PgPool) -> Result<bool, sqlx::Error> {
        Ok(self.query().execute(pool).await?.rows_affected() == 1)
    }

    async fn run_many(pool: &PgPool, rows: &[Self]) -> Result<Vec<bool>, sqlx::Error> {
        let stored: HashSet<String> = sqlx::query_scalar(sql::INSERT_BATCH)
            .bind(column(rows, |r| r.task_id.as_str()))
            .bind(column(rows, |r| r.owner.as_deref()))
            .bind(column(rows, |r| r.status))
            .bind(column(rows, |r| r.status_message.as_deref()))
            .bind(column(rows, |r| r.created_at))
            .bind(column(rows, |r| r.last_updated_at))
            .bind(column(rows, |r| r.ttl))
            .bind(column(rows, |r| r.expires_at))
            .bind(column(rows, |r| r.poll_interval))
            .bind(column(rows, |r| r.requested_ttl))
            .bind(column(rows, |r| r.revision))
            .bind(column(rows, |r| r.request.as_deref()))
            .bind(column(rows, |r| r.input_requests.as_str()))
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
        Ok(rows.iter().map(|r| stored.contains(&r.task_id)).collect())
    }
}

/// A change `update.sql` makes, with its arguments. Its answer: the changed row (the task's
/// columns, then its owner), or `None` when the compare-and-set refused it.
#[derive(Debug)]
pub(crate) struct Change {
    pub(crate) task_id: String,
    /// The caller's owner, or `None` for a caller that sees every task.
    pub(crate) owner: Option<String>,
    pub(crate) now: i64,
    pub(crate) status: Option<&'static str>,
    pub(crate) status_message: Option<Vec<u8>>,
    pub(crate) outcome: Option<String>,
    pub(crate) cancel_requested: bool,
    /// Whether the change ends the task.
    pub(crate) ends: bool,
    /// Whether it applies only while no input request is pending.
    pub(crate) needs_no_pending_input: bool,
}

impl Write for Change {
    type Done = Option<PgRow>;

    fn task_id(&self) -> &str {
        &self.task_id
    }

    fn size(&self) -> usize {
        self.task_id.len()
            + self.owner.as_ref().map_or(0, String::len)
            + self.status_message.as_ref().map_or(0, Vec::len)
            + self.outcome.as_ref().map_or(0, String::len)
            + 60
    }

    async fn run_one(&self, pool: &PgPool) -> Result<Option<PgRow>, sqlx::Error> {
        sqlx::query(sql::UPDATE)
            .bind(&self.task_id)
            .bind(sql::changeable())
            .bind(&self.owner)
            .bind(self.now)
            .bind(self.status)
            .bind(&self.status_message)
            .bind(&self.outcome)
            .bind(self.cancel_requested)
            .bind(self.ends)
            .bind(self.needs_no_pending_input)
            .fetch_optional(pool)
            .await
    }

    async fn run_many(pool: &PgPool, changes: &[Self]) -> Result<Vec<Option<PgRow>>, sqlx::Error> {
        let rows = sqlx::query(sql::UPDATE_BATCH)
            .bind(column(changes, |c| c.task_id.as_str()))
            .bind(column(changes, |c| c.owner.as_deref()))
            .bind(column(changes, |c| c.now))
            .bind(column(changes, |c| c.status))
            .bind(column(changes, |c| c.status_message.as_deref()))
            .bind(column(changes, |c| c.outcome.as_deref()))
            .bind(column(changes, |c| c.cancel_requested))
            .bind(column(changes, |c| c.ends))
            .bind(column(changes, |c| c.needs_no_pending_input))
            .bind(sql::changeable())
            .fetch_all(pool)
            .await?;
        let mut changed = HashMap::with_capacity(rows.len());
        for row in rows {
            changed.insert(row.try_get::<String, _>(0)?, row);
        }
        Ok(changes.iter().map(|c| changed.remove(&c.task_id)).collect())
    }
}

/// One argument array of a batch statement: `get` of every write.
fn column<'a, W, T>(writes: &'a [W], get: impl Fn(&'a W) -> T) -> Vec<T> {
    writes.iter().map(get).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write that only has a task id and a size in KB.
    struct Named(String, usize);

    impl Write for Named {
        type Done = ();

        fn task_id(&self) -> &str {
            &self.0
        }

        fn size(&self) -> usize {
            self.1 * 1024
        }

        async fn run_one(&self, _: &PgPool) -> Result<(), sqlx::Error> {
            Ok(())
        }

        async fn run_many(_: &PgPool, writes: &[Self]) -> Result<Vec<()>, sqlx::Error> {
            Ok(vec![(); writes.len()])
        }
    }

    type Waiting = super::Waiting<Named>;

    /// Queues writes of `(id, KB)`; returns the receivers of those whose callers still wait
    /// (all but the writes to `gone`).
    fn queue(
        waiting: &mut Waiting,
        writes: &[(&str, usize)],
        gone: &str,
    ) -> Vec<oneshot::Receiver<Result<(), TaskError>>> {
        let mut callers = Vec::new();
        for &(id, kb) in writes {
            let (answer, answered) = oneshot::channel();
            waiting.push_back((Named(id.to_owned(), kb), answer));
            if id != gone {
                callers.push(answered);
            }
        }
        callers
    }

    fn ids(batch: &[(Named, Answer<Named>)]) -> Vec<&str> {
        batch.iter().map(|(write, _)| write.task_id()).collect()
    }

    #[test]
    fn a_batch_takes_distinct_tasks_in_id_order_without_callers_that_left() {
        let mut waiting = Waiting::new();
        let writes = ["b", "a", "b", "gone", "c", "a"].map(|id| (id, 0));
        let _callers = queue(&mut waiting, &writes, "gone");
        let first = next_batch(&mut waiting);
        assert_eq!(ids(&first), ["a", "b", "c"]);
        let second = next_batch(&mut waiting);
        assert_eq!(
            ids(&second),
            ["a", "b"],
            "second writes to a task wait their turn"
        );
        assert!(next_batch(&mut waiting).is_empty());
    }

    #[test]
    fn a_batch_holds_at_most_max_batch_bytes_but_a_large_write_goes_alone() {
        let mut waiting = Waiting::new();
        let writes = [("a", 5), ("b", 4), ("c", 13), ("d", 1), ("c", 0)];
        let _callers = queue(&mut waiting, &writes, "");
        assert_eq!(ids(&next_batch(&mut waiting)), ["a", "b", "d"]);
        assert_eq!(
            ids(&next_batch(&mut waiting)),
            ["c"],
            "over the limit, it goes alone"
        );
        assert_eq!(
            ids(&next_batch(&mut waiting)),
            ["c"],
            "and its task's next write waits"
        );
    }

    #[test]
    fn a_batch_holds_at_most_max_batch_writes() {
        let mut waiting = Waiting::new();
        let names: Vec<String> = (0..MAX_BATCH + 10).map(|i| format!("{i:04}")).collect();
        let writes: Vec<(&str, usize)> = names.iter().map(|id| (id.as_str(), 0)).collect();
        let _callers = queue(&mut waiting, &writes, "");
        assert_eq!(next_batch(&mut waiting).len(), MAX_BATCH);
        assert_eq!(ids(&next_batch(&mut waiting)), &names[MAX_BATCH..]);
    }
}
