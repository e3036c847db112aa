//! Hostile and malformed input, generated with proptest strategies: ids and owners of every
//! shape, cursors that are garbage, tampered with or someone else's, and payloads that are
//! huge, deeply nested or full of numbers at their limits.
//!
//! Each input must get a success or a typed error that fits it, never a panic or a backend
//! error; a failed call changes nothing; what is stored reads back verbatim. Every case prints
//! its seed; set `HOSTILE_SEED` to replay a run and `HOSTILE_CASES` to change how many inputs
//! each case draws.

use super::*;
use crate::{CaseError, Verdict};
use proptest::collection::{hash_map, vec};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::json;
use std::collections::HashSet;
use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;
use task_core::{ErrorData, TaskOutcome, TaskRecord, TaskStoreExt, validate};

/// Inputs drawn per case unless `HOSTILE_CASES` says otherwise.
const CASES: usize = 128;
/// The payload limit of the store the random payloads go to: small, so that sizes on both
/// sides of it are cheap to generate.
pub(super) const SMALL_LIMIT: usize = 4 * 1024;
/// The payload size the issue asks about: 10 MB.
const TEN_MB: usize = 10 * 1024 * 1024;
/// The owners of the fixture tasks every case checks are left alone.
const FIXTURE_OWNERS: [&str; 2] = ["fixture-owner-α", "fixture-owner-β"];

/// Strings an SQL or key-value store might treat as syntax.
pub(super) const METACHARACTERS: [&str; 14] = [
    "'; DROP TABLE tasks; --",
    "\" OR 1=1 --",
    "' OR '1'='1",
    "1; DELETE FROM tasks",
    "%_\\",
    "{mcp-tasks}:t:61",
    "{victim}",
    "}{",
    "*",
    "?",
    "[a-z]*",
    "\\x00",
    "$1 :name ?1",
    "../../etc/passwd",
];

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
        .unwrap_or(CASES)
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
pub(super) fn show(value: &impl Debug) -> String {
    let text = format!("{value:?}");
    match text.char_indices().nth(400) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
        None => text,
    }
}

/// Inputs drawn from a strategy, with the seed that replays them.
pub(super) struct Inputs<T> {
    seed: u64,
    values: Vec<T>,
}

/// Draws the inputs of one case up front (strategies cannot cross an `.await`), printing the
/// seed so that a failure, a panic or a hang can be replayed.
pub(super) fn draw<S: Strategy>(name: &str, strategy: S) -> Result<Inputs<S::Value>, CaseError> {
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
pub(super) async fn for_each_input<T, F, Fut>(
    name: &str,
    inputs: Inputs<T>,
    mut check: F,
) -> CaseResult
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

// ---------------------------------------------------------------------------------------------
// Strategies

/// Strings of every shape: empty, plain, arbitrary Unicode (control characters included),
/// key and SQL syntax, non-ASCII, and long ones up to 10 KB.
pub(super) fn any_name() -> impl Strategy<Value = String> {
    let syntax = vec(
        prop::sample::select(vec![
            '{', '}', ':', '*', '?', '[', ']', '\'', '"', ';', '%', '_', '\\', '-', ' ', '/', '.',
            '$', '\0',
        ]),
        1..40,
    )
    .prop_map(|chars| chars.into_iter().collect::<String>());
    let non_ascii = vec(
        prop::sample::select(vec![
            'ü', '任', '务', '🎉', '\u{308}', '\u{202e}', '\u{feff}', '\u{fffd}', '\u{2028}', 'Ω',
            'é',
        ]),
        1..30,
    )
    .prop_map(|chars| chars.into_iter().collect::<String>());
    let control = (any::<String>(), any::<u8>(), 0usize..8).prop_map(|(text, byte, at)| {
        let control = char::from(byte % 0x20);
        let at = text.char_indices().nth(at).map_or(text.len(), |(i, _)| i);
        let mut text = text;
        text.insert(at, control);
        text
    });
    let long = (200usize..=10_240, any::<char>()).prop_map(|(n, c)| {
        let c = if c.is_control() { 'x' } else { c };
        std::iter::repeat_n(c, n).collect::<String>()
    });
    prop_oneof![
        Just(String::new()),
        "[a-zA-Z0-9_-]{1,40}",
        any::<String>(),
        syntax,
        non_ascii,
        control,
        long,
        prop::sample::select(METACHARACTERS.to_vec()).prop_map(str::to_owned),
        Just("x".repeat(validate::MAX_TASK_ID_BYTES)),
        Just("x".repeat(validate::MAX_TASK_ID_BYTES + 1)),
        Just("o".repeat(validate::MAX_OWNER_BYTES)),
        Just("o".repeat(validate::MAX_OWNER_BYTES + 1)),
    ]
}

/// JSON numbers at and around their limits, and ordinary ones.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            json!(u64::MAX),
            json!(u64::MAX - 1),
            json!(i64::MIN),
            json!(i64::MAX),
            json!(0),
            json!(-1),
            json!(f64::MAX),
            json!(f64::MIN),
            json!(f64::MIN_POSITIVE),
            json!(5e-324),
            json!(-5e-324),
            json!(-0.0),
            json!(1e308),
            json!(0.1),
            json!(9_007_199_254_740_993_u64),
        ]),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
    ]
}

pub(super) fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::sample::select(METACHARACTERS.to_vec()).prop_map(str::to_owned),
        (0usize..64).prop_map(|n| "\0".repeat(n)),
    ]
}

/// Arbitrary JSON: scalars, strings of any characters, and small nested arrays and objects.
pub(super) fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            hash_map(text(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `value` wrapped in `depth` alternating arrays and objects.
fn nest(value: Value, depth: usize) -> Value {
    (0..depth).fold(value, |inner, level| {
        if level % 2 == 0 {
            Value::Array(vec![inner])
        } else {
            json!({ "k": inner })
        }
    })
}

/// JSON values that are deep, wide, near the payload limit, or just odd.
pub(super) fn payload() -> impl Strategy<Value = Value> {
    prop_oneof![
        json_value(),
        (json_value(), 0usize..=160).prop_map(|(v, depth)| nest(v, depth)),
        (SMALL_LIMIT - 64..SMALL_LIMIT + 64).prop_map(|n| Value::String("x".repeat(n))),
        (0usize..2 * SMALL_LIMIT).prop_map(|n| Value::String("é".repeat(n / 2))),
    ]
}

/// A result object holding `payload` under a random key, so its size and depth vary.
pub(super) fn result_object() -> impl Strategy<Value = Map<String, Value>> {
    (text(), payload()).prop_map(|(key, value)| obj(json!({ "content": [], key: value })))
}

/// The `data` of a JSON-RPC error: absent, an explicit `null` (which must not read back as
/// absent), or a value.
pub(super) fn error_data(
    value: impl Strategy<Value = Value> + 'static,
) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![Just(None), Just(Some(Value::Null)), value.prop_map(Some)]
}

/// One change of any kind with hostile contents.
#[derive(Clone, Debug)]
enum Hostile {
    Message(String),
    Complete(Map<String, Value>),
    Fail(String),
    FailWithError(ErrorData),
    /// A create whose request params and message are hostile.
    Create(Value, String),
}

fn hostile_change() -> impl Strategy<Value = Hostile> {
    let message = prop_oneof![
        text(),
        (SMALL_LIMIT - 8..SMALL_LIMIT + 8).prop_map(|n| "m".repeat(n)),
    ];
    let error =
        (any::<i64>(), text(), error_data(payload())).prop_map(|(code, message, data)| ErrorData {
            code,
            message,
            data,
        });
    prop_oneof![
        message.clone().prop_map(Hostile::Message),
        result_object().prop_map(Hostile::Complete),
        message.clone().prop_map(Hostile::Fail),
        error.prop_map(Hostile::FailWithError),
        (payload(), message).prop_map(|(params, message)| Hostile::Create(params, message)),
    ]
}

// ---------------------------------------------------------------------------------------------
// Fixtures: tasks every hostile call must leave alone.

#[derive(Clone)]
pub(super) struct Fixtures {
    pub(super) store: Arc<dyn TaskStore>,
    pub(super) records: Vec<TaskRecord>,
}

impl Fixtures {
    /// Two owners' tasks, one running and one completed each.
    pub(super) async fn new(store: Arc<dyn TaskStore>) -> Result<Fixtures, CaseError> {
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
    pub(super) async fn unchanged(&self) -> Result<(), String> {
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

/// A result that must be a typed error of the expected kind.
fn refused<T: Debug>(
    what: &str,
    result: Result<T, TaskError>,
    expected: fn(&TaskError) -> bool,
) -> Result<(), String> {
    match result {
        Err(e) if expected(&e) => Ok(()),
        other => Err(format!("{what} gave {}", show(&other))),
    }
}

fn invalid_input(e: &TaskError) -> bool {
    matches!(e, TaskError::InvalidInput(_))
}

fn not_found(e: &TaskError) -> bool {
    matches!(e, TaskError::NotFound { .. })
}

// ---------------------------------------------------------------------------------------------
// Cases

/// Ids and owners of every shape through every call: a valid pair is stored and read back
/// verbatim, seen by its owner only and by no one else; an invalid one gets `InvalidInput`
/// from every call and changes nothing.
pub async fn hostile_names(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let fixtures = Fixtures::new(store.clone()).await?;
    let inputs = draw("hostile_names", (any_name(), any_name()))?;
    for_each_input("hostile_names", inputs, move |(id, owner)| {
        let fixtures = fixtures.clone();
        async move {
            let accepted = check_name_pair(&fixtures.store, &id, &owner).await?;
            fixtures.unchanged().await?;
            Ok(accepted)
        }
    })
    .await
}

/// Checks one id and owner through every call; says whether the pair was valid and stored.
async fn check_name_pair(
    store: &Arc<dyn TaskStore>,
    id: &str,
    owner: &str,
) -> Result<bool, String> {
    let valid_id = validate::task_id(id).is_ok();
    let valid_owner = validate::owner(owner).is_ok();
    let scope = Scope::owner(owner);
    let stranger = Scope::owner(FIXTURE_OWNERS[0]);
    let created = store
        .create(NewTask::new().with_id(id).owned_by(owner))
        .await;
    if !(valid_id && valid_owner) {
        refused("create", created, invalid_input)?;
    } else {
        let task = created.map_err(|e| format!("create of a valid id and owner: {e}"))?;
        if task.task_id != id {
            return Err(format!("the id came back as {}", show(&task.task_id)));
        }
        let record = store
            .get_record(&scope, id)
            .await
            .map_err(|e| format!("the owner's get_record: {e}"))?;
        if record.owner.as_deref() != Some(owner) || record.task != task {
            return Err(format!("read back as {}", show(&record)));
        }
        let listed = list_all(store.as_ref(), &scope, Some(7))
            .await
            .map_err(|e| format!("the owner's listing: {e}"))?;
        if listed != [task.clone()] {
            return Err(format!("the owner lists {}", show(&listed)));
        }
        refused(
            "a stranger's get",
            store.get(&stranger, id).await,
            not_found,
        )?;
        refused(
            "a stranger's cancel",
            store.cancel(&stranger, id).await,
            not_found,
        )?;
        let cancelled = store
            .cancel(&scope, id)
            .await
            .map_err(|e| format!("the owner's cancel: {e}"))?;
        if cancelled.status != TaskStatus::Cancelled {
            return Err(format!("cancel left {}", cancelled.status));
        }
        if !store.delete(&scope, id).await.map_err(|e| e.to_string())? {
            return Err("the owner could not delete the task".into());
        }
    }
    // Now the id names no task: each call is refused as invalid input or not found.
    let expected: fn(&TaskError) -> bool = if valid_id && valid_owner {
        not_found
    } else {
        invalid_input
    };
    let seen = task_core::time::now();
    let short = Some(Duration::from_millis(1));
    refused("get", store.get(&scope, id).await, expected)?;
    refused("get_record", store.get_record(&scope, id).await, expected)?;
    refused("get_result", store.get_result(&scope, id).await, expected)?;
    refused(
        "set_message",
        store.set_message(&scope, id, "x").await,
        expected,
    )?;
    refused("cancel", store.cancel(&scope, id).await, expected)?;
    refused("fail", store.fail(&scope, id, "x").await, expected)?;
    let waited = store.wait_for_update(&scope, id, seen, short).await;
    refused("wait_for_update", waited, expected)?;
    match store.delete(&scope, id).await {
        Ok(false) if valid_id && valid_owner => {}
        Err(TaskError::InvalidInput(_)) if !(valid_id && valid_owner) => {}
        other => return Err(format!("delete gave {}", show(&other))),
    }
    match (store.list(&scope, PageRequest::first()).await, valid_owner) {
        (Ok(page), true) if page.tasks.is_empty() => {}
        (Err(TaskError::InvalidInput(_)), false) => {}
        (other, _) => return Err(format!("list gave {}", show(&other))),
    }
    match (store.notify_update(id).await, valid_id) {
        (Ok(()), true) | (Err(TaskError::InvalidInput(_)), false) => Ok(valid_id && valid_owner),
        (other, _) => Err(format!("notify_update gave {other:?}")),
    }
}

/// A cursor under test, and how it was made.
#[derive(Clone, Debug)]
enum CursorInput {
    /// Random text.
    Garbage(String),
    /// Random lowercase hex, the alphabet real cursors use.
    Hex(String),
    /// One of the owner's own cursors with one character replaced.
    Flipped { page: usize, at: usize, to: char },
    /// One of the owner's own cursors cut short or extended.
    Resized {
        page: usize,
        keep: usize,
        extra: String,
    },
    /// A cursor made for another owner, or for trusted access.
    Foreign { trusted: bool, page: usize },
    /// One of the owner's own cursors, as given or with its hex digits in capitals.
    Own { page: usize, capitals: bool },
}

fn cursor_input() -> impl Strategy<Value = CursorInput> {
    prop_oneof![
        any::<String>().prop_map(CursorInput::Garbage),
        vec(any::<u8>(), 0..400).prop_map(|bytes| {
            CursorInput::Garbage(String::from_utf8_lossy(&bytes).into_owned())
        }),
        "[0-9a-f]{0,600}".prop_map(CursorInput::Hex),
        (0usize..3, any::<usize>(), any::<char>())
            .prop_map(|(page, at, to)| CursorInput::Flipped { page, at, to }),
        (0usize..3, any::<usize>(), "[0-9a-fA-F]{0,6}")
            .prop_map(|(page, keep, extra)| CursorInput::Resized { page, keep, extra }),
        (any::<bool>(), 0usize..3)
            .prop_map(|(trusted, page)| CursorInput::Foreign { trusted, page }),
        (0usize..3, any::<bool>()).prop_map(|(page, capitals)| CursorInput::Own { page, capitals }),
    ]
}

/// Cursors of every kind: each listing gets `InvalidCursor` or a page of the caller's own
/// tasks; a cursor with any character changed (other than a hex digit's case) is refused, and
/// another owner's cursor never pages.
pub async fn hostile_cursors(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let (mine, theirs) = (Scope::owner("cursor-α"), Scope::owner("cursor-β"));
    let mut own_ids = HashSet::new();
    for n in 0..8 {
        let task = step!(store.create(NewTask::new().owned_by("cursor-α")).await);
        own_ids.insert(task.task_id);
        step!(store.create(NewTask::new().owned_by("cursor-β")).await);
        if n % 3 == 0 {
            step!(store.create(NewTask::new()).await);
        }
    }
    let cursors = |scope: Scope| {
        let store = store.clone();
        async move {
            let mut cursors = Vec::new();
            let mut cursor = None;
            while cursors.len() < 3 {
                let page = store
                    .list(&scope, PageRequest::after(cursor).with_limit(2))
                    .await?;
                let Some(next) = page.next_cursor else { break };
                cursors.push(next.clone());
                cursor = Some(next);
            }
            Ok::<_, TaskError>(cursors)
        }
    };
    let own = step!(cursors(mine.clone()).await);
    let foreign = step!(cursors(theirs.clone()).await);
    let trusted = step!(cursors(Scope::All).await);
    ensure!(
        own.len() == 3 && foreign.len() == 3 && trusted.len() == 3,
        "each scope has three pages"
    );
    let own_ids = Arc::new(own_ids);
    let inputs = draw("hostile_cursors", cursor_input())?;
    for_each_input("hostile_cursors", inputs, move |input| {
        let (store, mine, own_ids) = (store.clone(), mine.clone(), own_ids.clone());
        let (own, foreign, trusted) = (own.clone(), foreign.clone(), trusted.clone());
        async move {
            // The cursor, and whether it must be refused (`Some(true)`) or accepted.
            let (cursor, must_refuse) = match input {
                CursorInput::Garbage(text) | CursorInput::Hex(text) => (text, None),
                CursorInput::Own { page, capitals } if capitals => {
                    (own[page].to_ascii_uppercase(), Some(false))
                }
                CursorInput::Own { page, .. } => (own[page].clone(), Some(false)),
                CursorInput::Flipped { page, at, to } => {
                    let original = &own[page];
                    let mut chars: Vec<char> = original.chars().collect();
                    let at = at % chars.len();
                    chars[at] = to;
                    let flipped: String = chars.into_iter().collect();
                    let same = flipped.eq_ignore_ascii_case(original);
                    (flipped, Some(!same))
                }
                CursorInput::Resized { page, keep, extra } => {
                    let original = &own[page];
                    let keep = keep % (original.len() + 1);
                    let resized = format!("{}{extra}", &original[..keep]);
                    let same = resized.eq_ignore_ascii_case(original);
                    (resized, Some(!same))
                }
                CursorInput::Foreign {
                    trusted: true,
                    page,
                } => (trusted[page].clone(), Some(true)),
                CursorInput::Foreign {
                    trusted: false,
                    page,
                } => (foreign[page].clone(), Some(true)),
            };
            let page = store
                .list(&mine, PageRequest::after(Some(cursor)).with_limit(3))
                .await;
            match page {
                Err(TaskError::InvalidCursor) if must_refuse == Some(false) => {
                    Err("the owner's own cursor was refused".into())
                }
                Err(TaskError::InvalidCursor) => Ok(false),
                Ok(_) if must_refuse == Some(true) => {
                    Err("a tampered or foreign cursor was accepted".into())
                }
                Ok(page) => match page.tasks.iter().find(|t| !own_ids.contains(&t.task_id)) {
                    Some(task) => Err(format!("the page holds {}, not ours", task.task_id)),
                    None => Ok(true),
                },
                Err(other) => Err(format!("list gave {other}")),
            }
        }
    })
    .await
}

/// Random payloads in every change against a store with a small payload limit: each is
/// accepted and reads back exactly, or refused with `InvalidInput` and changes nothing.
pub async fn hostile_payloads(factory: &dyn StoreFactory) -> CaseResult {
    let config = StoreConfig::default().with_max_payload_bytes(SMALL_LIMIT);
    let store = open_store(factory, config.clone()).await;
    let fixtures = Fixtures::new(store.clone()).await?;
    let config = Arc::new(config);
    let inputs = draw("hostile_payloads", hostile_change())?;
    for_each_input("hostile_payloads", inputs, move |input| {
        let (fixtures, config) = (fixtures.clone(), config.clone());
        async move {
            let accepted = check_payload(&fixtures.store, &config, input).await?;
            fixtures.unchanged().await?;
            Ok(accepted)
        }
    })
    .await
}

async fn check_payload(
    store: &Arc<dyn TaskStore>,
    config: &StoreConfig,
    input: Hostile,
) -> Result<bool, String> {
    let all = &Scope::All;
    if let Hostile::Create(params, message) = input {
        let new = NewTask::new()
            .with_request("tools/call", params.clone())
            .with_message(message.clone());
        let fits = validate::json("params", &params, config.max_payload_bytes).is_ok()
            && validate::message(&message, config.max_payload_bytes).is_ok();
        let created = store.create(new).await;
        if !fits {
            return refused("an oversized create", created, invalid_input).map(|()| false);
        }
        let task = created.map_err(|e| format!("create: {e}"))?;
        let record = store
            .get_record(all, &task.task_id)
            .await
            .map_err(|e| format!("get_record: {e}"))?;
        let request = record.request.as_ref();
        let stored = (
            request.map(|r| &r.params),
            record.task.status_message.as_ref(),
        );
        store
            .delete(all, &task.task_id)
            .await
            .map_err(|e| format!("delete: {e}"))?;
        return if stored == (Some(&params), Some(&message)) {
            Ok(true)
        } else {
            Err(format!("read back as {}", show(&stored)))
        };
    }
    let change = match input {
        Hostile::Message(text) => TaskChange::message(text),
        Hostile::Complete(result) => TaskChange::complete(result),
        Hostile::Fail(text) => TaskChange::fail(text),
        Hostile::FailWithError(error) => {
            TaskChange::finish(TaskStatus::Failed, TaskOutcome::Error(error), None)
        }
        Hostile::Create(..) => unreachable!("handled above"),
    };
    let task = store
        .create(NewTask::new().with_message("before"))
        .await
        .map_err(|e| format!("create: {e}"))?;
    let id = task.task_id.as_str();
    let before = store.get_record(all, id).await.map_err(|e| e.to_string())?;
    let fits = validate::change(&change, config).is_ok();
    let applied = store.update(all, id, change.clone()).await;
    let after = store.get_record(all, id).await.map_err(|e| e.to_string())?;
    store.delete(all, id).await.map_err(|e| e.to_string())?;
    if !fits {
        refused("an oversized or too deep change", applied, invalid_input)?;
        return if after == before {
            Ok(false)
        } else {
            Err("a refused change altered the task".into())
        };
    }
    let applied = applied.map_err(|e| format!("update: {e}"))?;
    if applied != after.task {
        return Err("the returned task differs from the stored one".into());
    }
    let expected_message = change
        .status_message
        .as_ref()
        .or(before.task.status_message.as_ref());
    if after.task.status_message.as_ref() != expected_message {
        return Err(format!(
            "the message reads back as {}",
            show(&after.task.status_message)
        ));
    }
    if change.outcome.is_some() && after.outcome != change.outcome {
        return Err(format!(
            "the outcome reads back as {}",
            show(&after.outcome)
        ));
    }
    Ok(true)
}

/// Ten-megabyte payloads: stored and read back exactly under the default limit, and refused
/// with a clear error naming the size and the limit by a store configured for less.
pub async fn hostile_payload_limit(factory: &dyn StoreFactory) -> CaseResult {
    let all = &Scope::All;
    // 25 bytes a piece, with characters JSON must escape: 10 MB of text, about 12 MB as JSON.
    let big = "ß🎉\"\0 abcdefghijklmnop".repeat(TEN_MB / 25);
    let result = obj(json!({ "content": [{ "type": "text", "text": big }], "n": u64::MAX }));
    let params = json!({ "blob": big });

    // One 10 MB payload per task, each read back once: the largest record stays near 12 MB.
    let roomy = default_store(factory).await;
    ensure!(
        roomy.config().max_payload_bytes > TEN_MB + 1024,
        "the default limit holds 10 MB"
    );
    let with_params = NewTask::new().with_request("tools/call", params.clone());
    let task = step!(roomy.create(with_params).await);
    let record = step!(roomy.get_record(all, &task.task_id).await);
    ensure!(
        record.request.map(|r| r.params) == Some(params.clone()),
        "10 MB of request params read back exactly"
    );
    let messaged = step!(roomy.create(NewTask::new()).await);
    step!(roomy.set_message(all, &messaged.task_id, &big).await);
    let read = step!(roomy.get(all, &messaged.task_id).await);
    ensure!(
        read.status_message.as_deref() == Some(big.as_str()),
        "a 10 MB message reads back exactly"
    );
    let completed = step!(roomy.create(NewTask::new()).await);
    step!(
        roomy
            .complete(all, &completed.task_id, result.clone())
            .await
    );
    let stored = step!(roomy.get_result(all, &completed.task_id).await);
    ensure!(
        stored == Some(TaskOutcome::Result(result.clone())),
        "a 10 MB result reads back exactly"
    );
    // The same through the MCP handlers: tasks/get answers the message, tasks/result the
    // result with the related-task `_meta` added.
    let answer = |method: &'static str, id: &str| {
        let params = json!({ "taskId": id });
        let store = roomy.clone();
        async move { task_protocol::handle(store.as_ref(), all, method, Some(params)).await }
    };
    match answer("tasks/get", &messaged.task_id).await {
        Some(Ok(got)) => ensure!(
            got["statusMessage"].as_str() == Some(big.as_str()),
            "tasks/get answers the 10 MB message exactly"
        ),
        other => {
            return Err(fail!(
                "tasks/get gave {}",
                show(&other.map(|a| a.map(|_| ())))
            ));
        }
    }
    match answer("tasks/result", &completed.task_id).await {
        Some(Ok(Value::Object(mut got))) => {
            ensure!(got.remove("_meta").is_some(), "tasks/result adds `_meta`");
            ensure!(
                got == result,
                "tasks/result answers the 10 MB result exactly"
            );
        }
        other => {
            return Err(fail!(
                "tasks/result gave {}",
                show(&other.map(|a| a.map(|_| ())))
            ));
        }
    }

    let limit = 1024 * 1024;
    let tight = open_store(
        factory,
        StoreConfig::default().with_max_payload_bytes(limit),
    )
    .await;
    let task = step!(tight.create(NewTask::new()).await);
    let before = step!(tight.get_record(all, &task.task_id).await);
    let clear = |error: &TaskError| {
        let text = error.to_string();
        matches!(error, TaskError::InvalidInput(_))
            && text.contains(&limit.to_string())
            && text.contains("limit")
    };
    for (what, refused) in [
        (
            "a 10 MB result",
            tight.complete(all, &task.task_id, result.clone()).await,
        ),
        (
            "a 10 MB failure",
            tight.fail(all, &task.task_id, &big).await,
        ),
        (
            "a 10 MB message",
            tight.set_message(all, &task.task_id, &big).await,
        ),
    ] {
        match refused {
            Err(error) if clear(&error) => {}
            other => {
                return Err(fail!(
                    "{what} gave {}, expected a clear limit error",
                    show(&other)
                ));
            }
        }
    }
    match tight
        .create(NewTask::new().with_request("tools/call", params))
        .await
    {
        Err(error) if clear(&error) => {}
        other => return Err(fail!("10 MB of params gave {}", show(&other))),
    }
    ensure_eq!(
        step!(tight.get_record(all, &task.task_id).await),
        before,
        "refused changes leave the task alone"
    );
    let listed = step!(list_all(tight.as_ref(), all, None).await);
    ensure_eq!(listed.len(), 1, "a refused create stores nothing");
    Ok(Verdict::Passed)
}

/// Deep nesting around the limit: up to [`validate::MAX_JSON_DEPTH`] levels are stored and
/// read back, one more is refused, and far deeper values are refused without overflowing a
/// stack.
pub async fn hostile_nesting(factory: &dyn StoreFactory) -> CaseResult {
    let store = default_store(factory).await;
    let all = &Scope::All;
    let max = validate::MAX_JSON_DEPTH;
    for depth in [max - 2, max - 1, max, max + 1, 2 * max, 1_000] {
        // The result object is level 1 and its "deep" member adds `depth` levels.
        let result = obj(json!({ "deep": nest(json!(1), depth) }));
        let task = step!(store.create(NewTask::new()).await);
        let outcome = store.complete(all, &task.task_id, result.clone()).await;
        if depth < max {
            step!(outcome);
            let stored = step!(store.get_result(all, &task.task_id).await);
            ensure!(
                stored == Some(TaskOutcome::Result(result)),
                "{depth} levels read back exactly"
            );
        } else {
            ensure_err!(outcome, TaskError::InvalidInput(_), "{depth} levels");
            let params = nest(json!(1), depth + 1);
            ensure_err!(
                store.create(NewTask::new().with_request("x", params)).await,
                TaskError::InvalidInput(_),
                "{depth} levels of params"
            );
            ensure_eq!(
                step!(store.get(all, &task.task_id).await).status,
                TaskStatus::Working,
                "a refused result changes nothing"
            );
        }
    }
    Ok(Verdict::Passed)
}
