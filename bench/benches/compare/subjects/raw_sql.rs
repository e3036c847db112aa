//! What the raw-sqlx limits for PostgreSQL and SQLite share: single statements (a get is one
//! primary-key `SELECT`; every transition one `UPDATE … RETURNING`; a create one `INSERT`; a
//! page one keyset `SELECT`), each database with its own SQL ([`RawDb`]).

use crate::workload::{Flip, OWNER, Op, PAGE_SIZE, Res, STATUS_MESSAGE, Subject, TTL_MS};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

/// What differs between the databases: the statements (kept in their `.sql` files), how a
/// status message is stored, and how tasks are created or deleted in bulk.
pub trait RawDb: Database {
    const INSERT: &'static str;
    const GET: &'static str;
    const TRANSITION: &'static str;
    const PAGE: &'static str;
    /// Why there is no wake-up notification.
    const NO_WAKE: &'static str;

    /// A status message as bound.
    type Message<'a>: Encode<'a, Self> + Type<Self>;
    /// A status message (or none) as read back.
    type StoredMessage: for<'r> Decode<'r, Self> + Type<Self>;
    fn message(message: &str) -> Self::Message<'_>;

    /// Creates `n` tasks through `writer` the quickest way and returns their ids.
    fn fill(writer: &Pool<Self>, n: usize) -> impl Future<Output = Res<Vec<String>>> + Send;

    /// Deletes the tasks `ids` through `writer`.
    fn remove(writer: &Pool<Self>, ids: &[String]) -> impl Future<Output = Res<()>> + Send;
}

/// The statements every [`RawDb`] runs alike, written once over sqlx's [`Database`].
pub trait Statements: RawDb {
    /// Creates the task `id`.
    fn insert(writer: &Pool<Self>, id: &str) -> impl Future<Output = Res<()>> + Send;

    /// Reads and decodes the task `id`.
    fn get(reader: &Pool<Self>, id: &str) -> impl Future<Output = Res<()>> + Send;

    /// Moves the non-terminal task `id` to `status` and decodes it.
    fn transition(
        writer: &Pool<Self>,
        id: &str,
        status: &str,
        message: Option<&str>,
        outcome: Option<&str>,
    ) -> impl Future<Output = Res<()>> + Send;

    /// Reads and decodes up to `limit` tasks after `(created, id)`.
    fn page(
        reader: &Pool<Self>,
        created: i64,
        id: String,
        limit: i64,
    ) -> impl Future<Output = Res<Vec<RawTask<Self::StoredMessage>>>> + Send;
}

impl<D: RawDb> Statements for D
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    usize: ColumnIndex<D::Row>,
    for<'a> &'a str: Encode<'a, D> + Type<D>,
    for<'a> Option<&'a str>: Encode<'a, D> + Type<D>,
    for<'a> Option<D::Message<'a>>: Encode<'a, D> + Type<D>,
    String: for<'a> Encode<'a, D> + for<'r> Decode<'r, D> + Type<D>,
    i64: for<'a> Encode<'a, D> + for<'r> Decode<'r, D> + Type<D>,
{
    async fn insert(writer: &Pool<D>, id: &str) -> Res<()> {
        sqlx::query(D::INSERT)
            .bind(id)
            .bind(OWNER)
            .bind(now_ms())
            .bind(TTL_MS as i64)
            .execute(writer)
            .await?;
        Ok(())
    }

    async fn get(reader: &Pool<D>, id: &str) -> Res<()> {
        let row = sqlx::query(D::GET)
            .bind(id)
            .fetch_optional(reader)
            .await?
            .ok_or("task not found")?;
        std::hint::black_box(decode::<D>(&row)?);
        Ok(())
    }

    async fn transition(
        writer: &Pool<D>,
        id: &str,
        status: &str,
        message: Option<&str>,
        outcome: Option<&str>,
    ) -> Res<()> {
        let row = sqlx::query(D::TRANSITION)
            .bind(id)
            .bind(status)
            .bind(message.map(D::message))
            .bind(outcome)
            .bind(now_ms())
            .fetch_optional(writer)
            .await?
            .ok_or("task not found or terminal")?;
        std::hint::black_box(decode::<D>(&row)?);
        Ok(())
    }

    async fn page(
        reader: &Pool<D>,
        created: i64,
        id: String,
        limit: i64,
    ) -> Res<Vec<RawTask<D::StoredMessage>>> {
        let rows = sqlx::query(D::PAGE)
            .bind(OWNER)
            .bind(created)
            .bind(id)
            .bind(limit)
            .fetch_all(reader)
            .await?;
        rows.iter().map(decode::<D>).collect()
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The columns of a task, decoded as a store would.
pub type RawTask<M> = (String, String, M, i64, i64, Option<i64>, Option<i64>);

fn decode<D: RawDb>(row: &D::Row) -> Res<RawTask<D::StoredMessage>>
where
    usize: ColumnIndex<D::Row>,
    String: for<'r> Decode<'r, D> + Type<D>,
    i64: for<'r> Decode<'r, D> + Type<D>,
{
    Ok((
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
        row.try_get(6)?,
    ))
}

/// Raw statements on a `writer` pool (creates, transitions, deletes) and a `reader` pool (gets,
/// pages), which may be one pool.
pub struct RawSql<D: Database> {
    writer: Pool<D>,
    reader: Pool<D>,
    result: String,
}

impl<D: Database> RawSql<D> {
    pub fn new(writer: Pool<D>, reader: Pool<D>) -> Res<Self> {
        let result = serde_json::to_string(&crate::workload::one_kb_result())?;
        Ok(RawSql {
            writer,
            reader,
            result,
        })
    }
}

impl<D: Statements> Subject for RawSql<D> {
    type Version = ();

    fn unsupported(&self, op: Op) -> Option<&'static str> {
        (op == Op::Wake).then_some(D::NO_WAKE)
    }

    async fn fill(&self, n: usize) -> Res<Option<Vec<String>>> {
        Ok(Some(D::fill(&self.writer, n).await?))
    }

    async fn create(&self) -> Res<String> {
        let id = uuid::Uuid::new_v4().to_string();
        D::insert(&self.writer, &id).await?;
        Ok(id)
    }

    async fn get(&self, id: &str) -> Res<()> {
        D::get(&self.reader, id).await
    }

    async fn set_status(&self, id: &str, to: Flip) -> Res<()> {
        let status = match to {
            Flip::InputRequired => "input_required",
            Flip::Working => "working",
        };
        D::transition(&self.writer, id, status, Some(STATUS_MESSAGE), None).await
    }

    async fn complete(&self, id: &str) -> Res<()> {
        D::transition(&self.writer, id, "completed", None, Some(&self.result)).await
    }

    async fn cancel(&self, id: &str) -> Res<()> {
        D::transition(&self.writer, id, "cancelled", None, None).await
    }

    async fn list_page(&self, cursor: Option<String>) -> Res<(usize, Option<String>)> {
        let (created, id) = match cursor.as_deref().and_then(|c| c.split_once(' ')) {
            Some((created, id)) => (created.parse::<i64>()?, id.to_owned()),
            None => (i64::MIN, String::new()),
        };
        let mut tasks = D::page(&self.reader, created, id, PAGE_SIZE as i64 + 1).await?;
        let next = if tasks.len() > PAGE_SIZE {
            tasks.truncate(PAGE_SIZE);
            tasks.last().map(|t| format!("{} {}", t.3, t.0))
        } else {
            None
        };
        Ok((tasks.len(), next))
    }

    async fn remove(&self, ids: &[String]) -> Res<()> {
        D::remove(&self.writer, ids).await
    }
}
