//! For store authors: what a [`TaskStore`](crate::TaskStore) implementation needs beyond the
//! types its users see.
//!
//! Users of a store never need this module. A backend takes from it the logic every store
//! shares, so that each holds only what is particular to its storage:
//!
//! | item | use |
//! |---|---|
//! | [`create_task_state`] | validate a [`NewTask`](crate::NewTask) and build the record of a fresh task |
//! | [`repeated_create`] | answer a create whose caller-supplied id exists already |
//! | [`validate`] | the input checks every call runs before it touches storage |
//! | [`CHANGEABLE`], [`check_change`], [`apply_change`], [`Applied`] | the status machine and the extension's rules, as a compare-and-set |
//! | [`plan`], [`ChangePlan`], [`explain_refusal`], [`refusal`] | which changes one statement can apply, and why one was refused |
//! | [`RecordWriter`], [`update_by_record`] | the other changes: read, apply, compare-and-set write |
//! | [`PageQuery`] | one `list` call: scope, cursor and size checked, the page built |
//! | [`UpdateSource`], [`wait_for_update`] | the wait loop: wake-ups, deadline and expiry |
//! | [`Waiters`], [`WatchGuard`] | the waiters of one store by task, and its `wait_for_update`: woken by its own writes and by changes from elsewhere |
//! | [`stuck_cutoff`] | which tasks `recover_stuck` fails |
//! | [`time`] | timestamps: milliseconds, strictly increasing `lastUpdatedAt` |
//! | [`ListPosition`] | the keyset position a cursor encodes, for stores that page themselves |
//!
//! A store that keeps records in memory applies every change with [`apply_change`] under its
//! lock. A store over a database may do the same through [`update_by_record`], supplying only
//! a whole-record read and a compare-and-set write ([`RecordWriter`]); [`plan`] says which
//! common changes it may instead apply with one statement.
//!
//! The `custom-store` example of the workspace is a complete store built on this module alone;
//! it passes the whole conformance suite.

mod page;
mod record;
pub mod time;
pub mod validate;
mod wait;
mod waiters;

pub use crate::cursor::ListPosition;
pub use crate::helpers::{MAX_DURATION_MS, create_task_state, repeated_create};
pub use crate::status::{
    Applied, CHANGEABLE, ChangePlan, apply_change, check_change, explain_refusal, plan,
};
pub use page::PageQuery;
pub use record::{MAX_RECORD_ATTEMPTS, RecordWriter, contended, refusal, update_by_record};
pub use wait::{EXPIRY_RECHECK, UpdateSource, wait_for_update};
pub use waiters::{Version, Waiters, WatchGuard};

use chrono::{DateTime, Utc};
use std::time::Duration;

/// The cutoff of [`TaskStore::recover_stuck`](crate::TaskStore::recover_stuck) at `now`: a
/// non-terminal task last updated before the returned instant is stuck. An `older_than`
/// reaching back past the earliest representable time gives that earliest time, so no task is
/// stuck.
///
/// ```
/// use task_core::backend::{stuck_cutoff, time};
/// let now = time::from_millis(10_000);
/// let cutoff = stuck_cutoff(now, std::time::Duration::from_secs(4));
/// assert_eq!(cutoff, time::from_millis(6_000));
/// ```
pub fn stuck_cutoff(now: DateTime<Utc>, older_than: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(older_than)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stuck_cutoff_saturates_at_the_start_of_time() {
        let now = time::from_millis(1_000);
        assert_eq!(stuck_cutoff(now, Duration::ZERO), now);
        assert_eq!(
            stuck_cutoff(now, Duration::from_millis(1)),
            time::from_millis(999)
        );
        assert_eq!(stuck_cutoff(now, Duration::MAX), DateTime::<Utc>::MIN_UTC);
    }
}
