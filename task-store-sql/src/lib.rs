//! What the SQL stores of this workspace share, written once for every sqlx driver: reading
//! rows back into [`task_core`] types ([`rows`]), a create with the id and limit checks
//! ([`create`]), and choosing the migrations a database still needs ([`Migration`]).
//!
//! Users of a store never need this crate; `task-store-sqlite` and `task-store-postgres` are
//! built on it. Each keeps its own SQL text, connections and error type: the logic here
//! returns what went wrong ([`BadRow`], a refused limit as [`task_core::TaskError`]) and the
//! store wraps it.

mod create;
mod recover;
pub mod rows;

pub use create::{CREATE_ATTEMPTS, Insert, check_limit, create};
pub use recover::Recovery;
pub use rows::BadRow;

use sqlx::query::Query;
use sqlx::{Database, Encode, Type};
use task_core::Scope;
use task_core::backend::PageQuery;

/// One schema step: the version it brings the database to and its SQL.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// The schema version after this step.
    pub version: i64,
    /// The statements of the step.
    pub sql: &'static str,
}

impl Migration {
    /// The newest version of `migrations` (oldest first), 0 for none.
    pub fn latest(migrations: &[Migration]) -> i64 {
        migrations.last().map_or(0, |m| m.version)
    }

    /// The steps of `migrations` (oldest first) a database at `version` still needs, or
    /// [`SchemaTooNew`] when `version` is newer than every step: a newer build wrote it.
    pub fn pending(migrations: &[Migration], version: i64) -> Result<&[Migration], SchemaTooNew> {
        let supported = Migration::latest(migrations);
        if version > supported {
            let found = version;
            return Err(SchemaTooNew { found, supported });
        }
        let done = migrations.partition_point(|m| m.version <= version);
        Ok(&migrations[done..])
    }
}

/// A database whose schema a newer build wrote. Each store wraps it in its own error type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the schema is version {found}, newer than the version {supported} this build supports")]
pub struct SchemaTooNew {
    /// The database's schema version.
    pub found: i64,
    /// The newest version this build knows.
    pub supported: i64,
}

/// A count or size as a signed 64-bit SQL integer, saturating at `i64::MAX`.
pub fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A u64 duration in ms, already clamped by task-core, as a signed 64-bit SQL integer.
pub fn ms(value: Option<u64>) -> Option<i64> {
    value.map(to_i64)
}

/// A `list` statement bound for `page`: `all` for [`Scope::All`], else
/// `owner`, which takes the owner first. Both then take the keyset position after which the
/// page starts (`created_at`, `task_id`; one before every task for the first page), the
/// current time in ms and how many rows to fetch ([`PageQuery::fetch`]). Read the rows back
/// with [`rows::page`].
pub fn list_query<DB>(
    all: &'static str,
    owner: &'static str,
    page: &PageQuery<'_>,
    now_ms: i64,
) -> Query<'static, DB, DB::Arguments>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    let (after_ms, after_id) = match &page.after {
        Some(position) => (position.created_at_ms, position.task_id.as_str()),
        None => (i64::MIN, ""),
    };
    let query = match page.scope {
        Scope::All => sqlx::query(all),
        Scope::Owner(name) => sqlx::query(owner).bind(name.as_str()),
    };
    query
        .bind(after_ms)
        .bind(after_id)
        .bind(now_ms)
        .bind(to_i64(page.fetch() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: [Migration; 3] = [
        Migration {
            version: 1,
            sql: "1",
        },
        Migration {
            version: 2,
            sql: "2",
        },
        Migration {
            version: 3,
            sql: "3",
        },
    ];

    fn versions(steps: Result<&[Migration], SchemaTooNew>) -> Result<Vec<i64>, SchemaTooNew> {
        steps.map(|steps| steps.iter().map(|m| m.version).collect())
    }

    #[test]
    fn only_the_missing_steps_are_pending_and_newer_databases_are_refused() {
        assert_eq!(Migration::latest(&STEPS), 3);
        assert_eq!(Migration::latest(&[]), 0);
        assert_eq!(versions(Migration::pending(&STEPS, 0)), Ok(vec![1, 2, 3]));
        assert_eq!(versions(Migration::pending(&STEPS, 2)), Ok(vec![3]));
        assert_eq!(versions(Migration::pending(&STEPS, 3)), Ok(vec![]));
        let newer = SchemaTooNew {
            found: 4,
            supported: 3,
        };
        assert_eq!(versions(Migration::pending(&STEPS, 4)), Err(newer));
    }

    #[test]
    fn counts_saturate() {
        assert_eq!(to_i64(u64::MAX), i64::MAX);
        assert_eq!(ms(Some(5)), Some(5));
        assert_eq!(ms(None), None);
    }
}
