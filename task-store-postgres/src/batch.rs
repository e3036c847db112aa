//! Group commit for the common writes: creates without limits ([`NewRow`]) and the changes
//! one statement makes ([`Change`]). The writes concurrent callers make of one kind go out
//! together, as one statement in one transaction, so they share a round trip and a WAL flush
//! instead of paying one each. A caller is answered only once its write has committed, and
//! every row is still its own compare-and-set, decided exactly as the single-row statement
//! decides it.
//!
//! One [`Batcher`] per kind and store runs one batch at a time: the writes that arrive while
//! a batch is under way go out in the next, up to [`MAX_BATCH`] of them with distinct task
//! ids (a second write to one task waits for the next batch). A batch of one runs the
//! single-row statement, so a lone caller pays nothing for the batching but a hand-over. A
//! write whose caller gave up before its batch went out is dropped unsent.
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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use task_core::{TaskError, TaskRecord};
use task_store_sql::ms;
use task_store_sql::rows::to_json;
use tokio::sync::{mpsc, oneshot};

/// Most writes in one statement.
const MAX_BATCH: usize = 256;

/// A write that can share its statement with others of its kind.
pub(crate) trait Write: Sized + Send + Sync + 'static {
    /// Its answer once committed.
    type Done: Send + 'static;

    /// The task it writes.
    fn task_id(&self) -> &str;

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

/// Hands writes of one kind to the task that runs them in batches.
#[derive(Debug)]
pub(crate) struct Batcher<W: Write> {
    queue: mpsc::UnboundedSender<(W, Answer<W>)>,
    pool: PgPool,
    /// Writes that went out in a batch of two or more.
    shared: Arc<AtomicU64>,
}

impl<W: Write> Batcher<W> {
    /// A batcher and the task that runs its batches through `pool`, each within `within`.
    /// The task ends once the batcher is dropped and every write queued before was answered.
    pub(crate) fn new(pool: PgPool, within: Duration) -> (Self, impl Future<Output = ()>) {
        let (queue, arrivals) = mpsc::unbounded_channel();
        let shared = Arc::new(AtomicU64::new(0));
        let running = run(pool.clone(), within, arrivals, shared.clone());
        let batcher = Batcher {
            queue,
            pool,
            shared,
        };
        (batcher, running)
    }

    /// How many writes went out in a batch of two or more so far.
    pub(crate) fn shared(&self) -> u64 {
        self.shared.load(Ordering::Relaxed)
    }

    /// Runs `write` with whatever other writes are waiting, and returns its answer once the
    /// batch has committed.
    pub(crate) async fn write(&self, write: W) -> Result<W::Done, TaskError> {
        let (answer, answered) = oneshot::channel();
        if let Err(mpsc::error::SendError((write, _))) = self.queue.send((write, answer)) {
            // The batch task is gone (the runtime that ran it has shut down): run it here.
            return write.run_one(&self.pool).await.map_err(driver);
        }
        answered
            .await
            .unwrap_or_else(|_| Err(PostgresError::Stopped.into()))
    }
}

/// The batch task: takes what has arrived, runs it as one batch, answers, and again.
async fn run<W: Write>(
    pool: PgPool,
    within: Duration,
    mut arrivals: mpsc::UnboundedReceiver<(W, Answer<W>)>,
    shared: Arc<AtomicU64>,
) {
    let mut waiting = VecDeque::new();
    let mut arrived = Vec::new();
    loop {
        if waiting.is_empty() {
            if arrivals.recv_many(&mut arrived, MAX_BATCH).await == 0 {
                return;
            }
        } else {
            while let Ok(write) = arrivals.try_recv() {
                arrived.push(write);
            }
        }
        waiting.extend(arrived.drain(..));
        let batch = next_batch(&mut waiting);
        if batch.len() > 1 {
            shared.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        if !batch.is_empty() {
            answer(&pool, within, batch).await;
        }
    }
}

/// Takes from `waiting` the next batch: up to [`MAX_BATCH`] writes to distinct tasks, in
/// task-id order (so that batches lock their rows in one order), without the writes whose
/// callers gave up.
fn next_batch<W: Write>(waiting: &mut VecDeque<(W, Answer<W>)>) -> Vec<(W, Answer<W>)> {
    let mut batch = Vec::new();
    let mut ids = HashSet::new();
    let mut later = VecDeque::new();
    for (write, answer) in waiting.drain(..) {
        if answer.is_closed() {
            continue;
        }
        if batch.len() < MAX_BATCH && ids.insert(write.task_id().to_owned()) {
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

    /// A write that only has a task id.
    struct Named(String);

    impl Write for Named {
        type Done = ();

        fn task_id(&self) -> &str {
            &self.0
        }

        async fn run_one(&self, _: &PgPool) -> Result<(), sqlx::Error> {
            Ok(())
        }

        async fn run_many(_: &PgPool, writes: &[Self]) -> Result<Vec<()>, sqlx::Error> {
            Ok(vec![(); writes.len()])
        }
    }

    type Waiting = VecDeque<(Named, Answer<Named>)>;

    /// Queues writes to `ids`; returns the receivers of those whose callers still wait.
    fn queue(
        waiting: &mut Waiting,
        ids: &[&str],
        gone: &str,
    ) -> Vec<oneshot::Receiver<Result<(), TaskError>>> {
        let mut callers = Vec::new();
        for id in ids {
            let (answer, answered) = oneshot::channel();
            waiting.push_back((Named(id.to_string()), answer));
            if *id != gone {
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
        let _callers = queue(&mut waiting, &["b", "a", "b", "gone", "c", "a"], "gone");
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
    fn a_batch_holds_at_most_max_batch_writes() {
        let mut waiting = Waiting::new();
        let names: Vec<String> = (0..MAX_BATCH + 10).map(|i| format!("{i:04}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let _callers = queue(&mut waiting, &names, "");
        assert_eq!(next_batch(&mut waiting).len(), MAX_BATCH);
        assert_eq!(ids(&next_batch(&mut waiting)), &names[MAX_BATCH..]);
    }
}
