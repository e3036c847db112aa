//! The conformance suite for [`TaskStore`] implementations: lifecycle, transitions,
//! cancellation races, the tasks extension's input rounds and cancel requests, outcomes,
//! waiting, listing, ttl, owner isolation, limits, ids, a mixed load, and hostile input
//! generated with proptest. Of this workspace it needs only `task_core`:
//! the MCP handlers of `task_protocol` run their own cases, over the workspace's stores.
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
//! The cases are listed once, in [`for_each_case!`], which makes both the tests above and
//! [`CASES`]. Run them yourself with [`run_all`] or [`run_case`], or call each case's own
//! public function in [`cases`], such as `cases::cancellation::cancel_complete_race(&factory)`.
//! Cases that need a feature the store does not declare in [`task_core::Capabilities`] are
//! reported as skipped, by name, on stderr.
//!
//! The suite creates stores through the factory and fills them; point the factory at a
//! scratch database or key prefix. The list of cases may grow in any release.
//!
//! For tests of your own, the crate also has test tooling: [`child`], a second process on the
//! same store; [`delegate`], a wrapper that hands every call to another store except those it
//! overrides; the hostile input generators and their harness in [`cases::hostile::strategies`] and [`cases::hostile::harness`]; and the
//! macros the cases check with ([`ensure!`], [`ensure_eq!`], [`ensure_err!`], [`step!`],
//! [`fail!`]), each failing a case with a [`CaseError`] that says where.

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

/// A [`CaseError`] with a formatted message and the `file:line` it was made at.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)+) => {
        $crate::CaseError { message: format!($($arg)+), location: format!("{}:{}", file!(), line!()) }
    };
}

/// Fails the case (returns a [`CaseError`]) unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::fail!($($arg)+));
        }
    };
}

/// Fails the case unless both sides are equal, showing both.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($arg:tt)+) => {{
        let (left, right) = (&$left, &$right);
        if left != right {
            return Err($crate::fail!(
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
#[macro_export]
macro_rules! step {
    ($expr:expr) => {
        match $expr {
            Ok(value) => value,
            Err(error) => return Err($crate::fail!("`{}` failed: {error}", stringify!($expr))),
        }
    };
}

/// Fails the case unless the expression is an error matching the pattern.
#[macro_export]
macro_rules! ensure_err {
    ($expr:expr, $pattern:pat, $($arg:tt)+) => {
        match $expr {
            Err($pattern) => {}
            other => {
                return Err($crate::fail!(
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
pub mod child;
pub mod delegate;
#[cfg(feature = "fixtures")]
pub mod fixtures;

pub use cases::CASES;

/// Longest a case may run before it counts as hung (a waiter that never wakes, say).
pub const CASE_TIMEOUT: Duration = Duration::from_secs(180);

/// One named case of the suite.
pub struct Case {
    /// The case's name, which is also its test's name.
    pub name: &'static str,
    /// Runs the case against stores made by the factory.
    pub run: for<'a> fn(&'a dyn StoreFactory) -> BoxFuture<'a, CaseResult>,
}

impl Case {
    /// Runs the case with the hang guard: a case still running after [`CASE_TIMEOUT`] fails.
    pub async fn run_guarded(&self, factory: &dyn StoreFactory) -> CaseResult {
        match tokio::time::timeout(CASE_TIMEOUT, (self.run)(factory)).await {
            Ok(result) => result,
            Err(_) => Err(fail!("case `{}` hung for {CASE_TIMEOUT:?}", self.name)),
        }
    }

    /// Runs the case and panics if it fails: what each test made by [`conformance_suite!`]
    /// awaits. A skipped case is reported on stderr, uncaptured.
    pub async fn check(&self, factory: impl StoreFactory) {
        use std::io::Write;
        let name = self.name;
        match self.run_guarded(&factory).await {
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
}

/// Runs one case by name, with the hang guard. Unknown names fail.
pub async fn run_case(name: &str, factory: &dyn StoreFactory) -> CaseResult {
    let case = CASES
        .iter()
        .find(|case| case.name == name)
        .ok_or_else(|| fail!("no conformance case is named `{name}`"))?;
    case.run_guarded(factory).await
}

/// Runs every case in turn and returns each one's result by name.
pub async fn run_all(factory: &dyn StoreFactory) -> Vec<(&'static str, CaseResult)> {
    let mut results = Vec::with_capacity(CASES.len());
    for case in CASES {
        results.push((case.name, case.run_guarded(factory).await));
    }
    results
}

/// Expands into `mod conformance` holding one `#[tokio::test]` per case of
/// [`for_each_case!`], named after the case, on a multi-threaded runtime, each calling the
/// given factory (`Fn(StoreConfig) -> impl Future<Output = Arc<dyn TaskStore>>`) for its
/// stores. The calling crate needs tokio with the `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr) => {
        #[allow(unused_imports)]
        mod conformance {
            use super::*;
            $crate::for_each_case!($crate::conformance_suite! { @tests $factory; });
        }
    };
    (@tests $factory:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let case = $crate::Case {
                    name: stringify!($case),
                    run: |factory| ::std::boxed::Box::pin($crate::cases::$module::$case(factory)),
                };
                case.check($factory).await;
            }
        )*
    };
}
