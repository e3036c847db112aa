//! Everything measured, each behind the one [`crate::workload::Subject`] trait.

mod bare_map;
mod manager;
mod ours;
mod pmcp;
mod raw_postgres;
mod raw_redis;
mod raw_sql;
mod raw_sqlite;
mod turul;

pub use bare_map::BareMap;
pub use manager::Manager;
pub use ours::Ours;
pub use pmcp::Pmcp;
pub use raw_postgres::RawPostgres;
pub use raw_redis::{RawRedis, delete_keys};
pub use raw_sqlite::RawSqlite;
pub use turul::Turul;
