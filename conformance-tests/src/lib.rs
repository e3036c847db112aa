//! The conformance suite for [`TaskStore`] implementations: lifecycle, transitions,
//! cancellation races, outcomes, waiting, listing, ttl, owner isolation, limits, ids, a mixed
//! load, hostile input generated with proptest, and the same through the MCP handlers of
//! `task_protocol`.
//!
//! Every backend in this workspace runs it, and so can yours, in a few lines:
//!
//! ```
//! use std::sync::Arc;
//! use task_core::{StoreConfig, TaskStore};
//!
//! // The factory gets the configuration a case needs and returns a fresh, empty store.
//! async fn make_store(config: StoreConfig) -> Arc<dyn TaskStore> {
//!     Arc::new(task_store_memory::MemoryTaskStore::new(config))
//! }
//!
//! // In a test file this expands to `mod conformance` with one `#[tokio::test]` per case.
//! conformance_tests::conformance_suite!(make_store);
//! # fn main() {}
//! ```
//!
//! Or run the cases yourself with [`run_all`], [`CASES`], or each case's own public function in
//! [`cases`], such as `cases::cancellation::cancel_complete_race(&factory)`. Cases that need a
//! feature the store does not declare in [`task_core::Capabilities`] are reported as skipped,
//! by name, on stderr.
//!
//! The suite creates stores through the factory and fills them; point the factory at a
//! scratch database or key prefix. The list of cases may grow in any release.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use task_core::{StoreConfig, TaskStore};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Makes a fresh, empty store with the given configuration for one case.
pub trait StoreFactory: Send + Sync {
    /// Builds the store.
    fn make(&self, config: StoreConfig) -> BoxFuture<'static, Arc<dyn TaskStore>>;
}

impl<F, Fut> StoreFactory for F
where
    F: Fn(StoreConfig) -> Fut + Send + Sync,
    Fut: Future<Output = Arc<dyn TaskStore>> + Send + 'static,
{
    fn make(&self, config: StoreConfig) -> BoxFuture<'static, Arc<dyn TaskStore>> {
        Box::pin(self(config))
    }
}

/// How a case ended, when it did not fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every check held.
    Passed,
    /// The store declared that it lacks a feature the case needs.
    Skipped(&'static str),
}

/// Why a case failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseError {
    /// What did not hold.
    pub message: String,
    /// Where in the suite, as `file:line`.
    pub location: String,
}

impl std::fmt::Display for CaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at {})", self.message, self.location)
    }
}

impl std::error::Error for CaseError {}

/// The result of one case.
pub type CaseResult = Result<Verdict, CaseError>;

/// Fails the case with a formatted message.
macro_rules! fail {
    ($($arg:tt)+) => {
        $crate::CaseError { message: format!($($arg)+), location: format!("{}:{}", file!(), line!()) }
    };
}

/// Fails the case unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(fail!($($arg)+));
        }
    };
}

/// Fails the case unless both sides are equal.
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($arg:tt)+) => {{
        let (left, right) = (&$left, &$right);
        if left != right {
            return Err(fail!(
                "{}: `{}` is {:?} but should be {:?}",
                format!($($arg)+),
                stringify!($left),
                left,
                right
            ));
        }
    }};
}

/// Unwraps a `Result`, failing the case with the error.
macro_rules! step {
    ($expr:expr) => {
        match $expr {
            Ok(value) => value,
            Err(error) => return Err(fail!("`{}` failed: {error}", stringify!($expr))),
        }
    };
}

/// Fails the case unless the expression is an error matching the pattern.
macro_rules! ensure_err {
    ($expr:expr, $pattern:pat, $($arg:tt)+) => {
        match $expr {
            Err($pattern) => {}
            other => {
                return Err(fail!(
                    "{}: `{}` gave {:?}, expected {}",
                    format!($($arg)+),
                    stringify!($expr),
                    other,
                    stringify!($pattern)
                ))
            }
        }
    };
}

pub mod cases;

pub use cases::{CASES, Case};

/// Longest a case may run before it counts as hung (a waiter that never wakes, say).
pub const CASE_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs one case by name, with the hang guard. Unknown names fail.
pub async fn run_case(name: &str, factory: &dyn StoreFactory) -> CaseResult {
    let case = CASES
        .iter()
        .find(|case| case.name == name)
        .ok_or_else(|| fail!("no conformance case is named `{name}`"))?;
    match tokio::time::timeout(CASE_TIMEOUT, (case.run)(factory)).await {
        Ok(result) => result,
        Err(_) => Err(fail!("case `{name}` hung for {CASE_TIMEOUT:?}")),
    }
}

/// Runs every case in turn and returns each one's result by name.
pub async fn run_all(factory: &dyn StoreFactory) -> Vec<(&'static str, CaseResult)> {
    let mut results = Vec::with_capacity(CASES.len());
    for case in CASES {
        results.push((case.name, run_case(case.name, factory).await));
    }
    results
}

/// Runs one case and panics if it fails: what each test made by [`conformance_suite!`] awaits.
/// A skipped case is reported on stderr, uncaptured.
pub async fn check_case(name: &str, factory: impl StoreFactory) {
    use std::io::Write;
    match run_case(name, &factory).await {
        Ok(Verdict::Passed) => {}
        Ok(Verdict::Skipped(why)) => {
            let _ = writeln!(
                std::io::stderr(),
                "conformance case `{name}` SKIPPED: the store lacks {why}"
            );
        }
        Err(error) => panic!("conformance case `{name}` failed: {error}"),
    }
}

/// Checks that a macro expansion lists exactly the suite's cases.
pub fn assert_case_list(listed: &[&str]) {
    let known: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    assert_eq!(
        listed,
        known.as_slice(),
        "conformance_suite! is out of date"
    );
}

/// Expands into `mod conformance` holding one `#[tokio::test]` per case, on a multi-threaded
/// runtime, each calling the given factory
/// (`Fn(StoreConfig) -> impl Future<Output = Arc<dyn TaskStore>>`) for its stores. The calling
/// crate needs tokio with the `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr) => {
        $crate::conformance_suite!(@cases $factory;
            lifecycle,
            record_round_trip,
            delete,
            transitions_allowed,
            transitions_forbidden,
            outcome_must_match_status,
            message_update_keeps_status,
            last_updated_strictly_increases,
            cancel_working,
            cancel_input_required,
            cancel_terminal_rejected,
            cancel_complete_race,
            terminal_race,
            cancel_is_sticky,
            outcome_round_trip,
            error_result_can_fail,
            payload_limit,
            wait_many_waiters,
            wait_lost_wakeup,
            wait_lost_wakeup_concurrent,
            wait_already_terminal,
            wait_timeout,
            wait_sees_message_change,
            wait_missing_or_deleted,
            list_order,
            list_paging_1000,
            list_cursor_after_delete,
            list_garbage_cursor,
            list_page_size,
            ttl_expiry,
            ttl_counts_from_creation,
            ttl_null,
            ttl_clamp,
            ttl_default,
            purge_expired,
            wait_ends_at_expiry,
            list_cursor_after_expiry,
            owner_isolation,
            unbound_tasks_fail_closed,
            cursor_owner_binding,
            limit_per_owner,
            limit_total,
            limits_ignore_expired,
            id_validation,
            odd_ids_verbatim,
            duplicate_id,
            duplicate_id_race,
            generated_ids_unique,
            concurrent_workers,
            concurrent_message_updates,
            recover_stuck,
            context_lifecycle,
            execution_records_failures,
            mixed_load,
            hostile_names,
            hostile_cursors,
            hostile_payloads,
            hostile_payload_limit,
            hostile_nesting,
            protocol_hostile_requests,
            protocol_hostile_outcomes,
            protocol_foreign_like_missing,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        #[allow(unused_imports)]
        mod conformance {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    $crate::check_case(stringify!($case), $factory).await;
                }
            )*

            #[test]
            fn suite_lists_every_case() {
                $crate::assert_case_list(&[$(stringify!($case)),*]);
            }
        }
    };
}
