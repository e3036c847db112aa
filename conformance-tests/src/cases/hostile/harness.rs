//! The harness of the hostile cases: inputs drawn up front from a seeded proptest runner (the
//! seed is printed, and `HOSTILE_SEED` replays it), each checked in a task of its own so that a
//! panic in the store is caught and reported with its input; and fixture tasks that every
//! hostile call must leave alone.

use crate::cases::{list_all, obj};
use crate::{CaseError, CaseResult, Verdict};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::json;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use task_core::{NewTask, Scope, TaskRecord, TaskStore, TaskStoreExt};

/// Inputs drawn per case unless `HOSTILE_CASES` says otherwise.
const INPUTS_PER_CASE: usize = 128;
/// The owners of the fixture tasks every case checks are left alone.
pub const FIXTURE_OWNERS: [&str; 2] = ["fixture-owner-α", "fixture-owner-β"];

fn seed() -> u64 {
    std::env::var("HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp_nanos_opt().unwrap_or(7) as u64)
}

fn case_count() -> usize {
    std::env::var("HOSTILE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(INPUTS_PER_CASE)
}

/// A proptest runner whose generator is seeded from `seed`, so a run can be replayed.
fn runner(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    let mut state = seed;
    for chunk in bytes.chunks_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

/// A value's `Debug` text, cut short so a 10 KB id still makes a readable report.
pub fn show(value: &impl Debug) -> String {
    let text = format!("{value:?}");
    match text.char_indices().nth(400) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
        None => text,
    }
}

/// Inputs drawn from a strategy, with the seed that replays them.
pub struct Inputs<T> {
    seed: u64,
    values: Vec<T>,
}

/// Draws the inputs of one case up front (strategies cannot cross an `.await`), printing the
/// seed so that a failure, a panic or a hang can be replayed.
pub fn draw<S: Strategy>(name: &str, strategy: S) -> Result<Inputs<S::Value>, CaseError> {
    let seed = seed();
    eprintln!("{name}: HOSTILE_SEED={seed}");
    let mut runner = runner(seed);
    let values = (0..case_count())
        .map(|_| strategy.new_tree(&mut runner).map(|tree| tree.current()))
        .collect::<Result<_, _>>()
        .map_err(|why| fail!("{name}: no input generated: {why}"))?;
    Ok(Inputs { seed, values })
}

/// Runs `check` on each input in a task of its own, so a panic in the store is caught and
/// reported with the input and the seed. `check` says whether the store accepted the input;
/// the counts are printed, to show that both sides were exercised.
pub async fn for_each_input<T, F, Fut>(name: &str, inputs: Inputs<T>, mut check: F) -> CaseResult
where
    T: Clone + Debug + Send + 'static,
    F: FnMut(T) -> Fut,
    Fut: Future<Output = Result<bool, String>> + Send + 'static,
{
    let (mut accepted, mut refused) = (0, 0);
    for (n, input) in inputs.values.into_iter().enumerate() {
        let outcome = tokio::spawn(check(input.clone())).await;
        let problem = match outcome {
            Ok(Ok(true)) => {
                accepted += 1;
                continue;
            }
            Ok(Ok(false)) => {
                refused += 1;
                continue;
            }
            Ok(Err(problem)) => problem,
            Err(joined) if joined.is_panic() => "the store panicked".to_owned(),
            Err(joined) => format!("the check was cancelled: {joined}"),
        };
        return Err(fail!(
            "{name}: input {n} {}: {problem} [HOSTILE_SEED={}]",
            show(&input),
            inputs.seed
        ));
    }
    eprintln!("{name}: {accepted} inputs accepted, {refused} refused");
    Ok(Verdict::Passed)
}

/// Tasks every hostile call must leave alone.
#[derive(Clone)]
pub struct Fixtures {
    /// The store the fixtures are in.
    pub store: Arc<dyn TaskStore>,
    /// The fixtures as they were made.
    pub records: Vec<TaskRecord>,
}

impl Fixtures {
    /// Two owners' tasks, one running and one completed each.
    pub async fn new(store: Arc<dyn TaskStore>) -> Result<Fixtures, CaseError> {
        let mut records = Vec::new();
        for owner in FIXTURE_OWNERS {
            let running = step!(store.create(NewTask::new().owned_by(owner)).await);
            let done = step!(store.create(NewTask::new().owned_by(owner)).await);
            let result = obj(json!({ "owner": owner }));
            step!(store.complete(&Scope::All, &done.task_id, result).await);
            for task in [running, done] {
                records.push(step!(store.get_record(&Scope::All, &task.task_id).await));
            }
        }
        Ok(Fixtures { store, records })
    }

    /// The fixtures are exactly as they were, and the store holds nothing else.
    pub async fn unchanged(&self) -> Result<(), String> {
        for before in &self.records {
            let id = &before.task.task_id;
            match self.store.get_record(&Scope::All, id).await {
                Ok(after) if &after == before => {}
                Ok(_) => return Err(format!("fixture {id} was changed")),
                Err(e) => return Err(format!("fixture {id} is unreadable: {e}")),
            }
        }
        let listed = list_all(self.store.as_ref(), &Scope::All, None)
            .await
            .map_err(|e| format!("listing every task: {e}"))?;
        if listed.len() != self.records.len() {
            return Err(format!(
                "the store holds {} tasks, not the {} fixtures",
                listed.len(),
                self.records.len()
            ));
        }
        Ok(())
    }
}
