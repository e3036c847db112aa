//! Waking waiters: at once for writes made through this store, and within the watch interval
//! for writes made by other stores or processes on the same file.
//!
//! The waiters themselves are a [`task_core::backend::Waiters`]: a waiter registers before it
//! reads the task, so a write that lands after the read wakes it and a write before the read
//! is seen by the read.
//!
//! One poller per store watches the file: every watch interval it reads `PRAGMA data_version`
//! on a connection of its own, which changes whenever any other connection commits. Only then
//! does it read the versions (`lastUpdatedAt`) of the watched tasks in one statement, and it
//! wakes each task whose version differs from the one it saw last, or that it sees for the
//! first time. Any commit after a waiter registered therefore wakes it by the next tick.
//!
//! `data_version` changes for this store's own commits too, since the poller reads on a
//! connection of its own. A version the store itself wrote (or a deletion it made) already
//! woke the waiters when the write returned, so the poller records it without waking them a
//! second time.

use crate::error::driver;
use crate::sql;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Row, SqliteConnection};
use std::sync::Arc;
use std::time::Duration;
use task_core::TaskError;
use task_core::backend::Waiters;
use tokio::time::MissedTickBehavior;

/// Ids per versions query, well under SQLite's limits.
const BATCH: usize = 500;

/// The poller: runs until the store drops it (its task is aborted).
pub(crate) async fn poll(connect: SqliteConnectOptions, waiters: Arc<Waiters>, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut conn: Option<SqliteConnection> = None;
    let mut last_data_version = None;
    loop {
        interval.tick().await;
        if waiters.is_empty() {
            continue;
        }
        let live = match conn.as_mut() {
            Some(live) => live,
            None => match connect.connect().await {
                Ok(fresh) => conn.insert(fresh),
                Err(_) => continue, // the file is unreachable for now; try next tick
            },
        };
        if check(live, &waiters, &mut last_data_version).await.is_err() {
            // Start over on a fresh connection; the first look wakes everyone once.
            conn = None;
            last_data_version = None;
        }
    }
}

async fn check(
    conn: &mut SqliteConnection,
    waiters: &Waiters,
    last_data_version: &mut Option<i64>,
) -> Result<(), TaskError> {
    // Read before the versions: a commit after this read changes it for the next tick.
    let data_version: i64 = sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(&mut *conn)
        .await
        .map_err(driver)?;
    if *last_data_version == Some(data_version) {
        return Ok(());
    }
    for ids in waiters.watched_ids().chunks(BATCH) {
        let ids: Vec<&str> = ids.iter().map(|id| &**id).collect();
        let ids = sql::to_json(&ids)?;
        let rows = sqlx::query(sql::VERSIONS)
            .bind(ids)
            .fetch_all(&mut *conn)
            .await
            .map_err(driver)?;
        for row in rows {
            let id: &str = row.try_get(0).map_err(driver)?;
            let version: Option<i64> = row.try_get(1).map_err(driver)?;
            waiters.polled(id, version);
        }
    }
    *last_data_version = Some(data_version);
    Ok(())
}
