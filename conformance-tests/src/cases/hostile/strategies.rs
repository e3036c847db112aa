//! The proptest strategies of the hostile cases: names, text and JSON of every shape, payloads
//! on both sides of a small limit, tool results and JSON-RPC errors, changes and cursors.

use crate::cases::obj;
use proptest::collection::{hash_map, vec};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use task_core::ErrorData;
use task_core::backend::validate;

/// The payload limit of the store the random payloads go to: small, so that sizes on both
/// sides of it are cheap to generate.
pub const SMALL_LIMIT: usize = 4 * 1024;

/// The size of the large payloads every store must carry under its default limit: 10 MB.
pub const TEN_MB: usize = 10 * 1024 * 1024;

/// 10 MB of text in 25-byte pieces with characters JSON must escape (about 12 MB as JSON).
pub fn ten_mb_text() -> String {
    "ß🎉\"\0 abcdefghijklmnop".repeat(TEN_MB / 25)
}

/// A tool result holding `text` as its content, and a number at the edge of JSON's range.
pub fn ten_mb_result(text: &str) -> Map<String, Value> {
    obj(json!({ "content": [{ "type": "text", "text": text }], "n": u64::MAX }))
}

/// Strings an SQL or key-value store might treat as syntax.
pub const METACHARACTERS: [&str; 14] = [
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

/// Strings of every shape: empty, plain, arbitrary Unicode (control characters included),
/// key and SQL syntax, non-ASCII, and long ones up to 10 KB.
pub fn any_name() -> impl Strategy<Value = String> {
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

/// Text of any characters, strings an SQL or key-value store might treat as syntax, and runs of
/// NULs.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::sample::select(METACHARACTERS.to_vec()).prop_map(str::to_owned),
        (0usize..64).prop_map(|n| "\0".repeat(n)),
    ]
}

/// Arbitrary JSON: scalars, strings of any characters, and small nested arrays and objects.
pub fn json_value() -> impl Strategy<Value = Value> {
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
pub fn nest(value: Value, depth: usize) -> Value {
    (0..depth).fold(value, |inner, level| {
        if level % 2 == 0 {
            Value::Array(vec![inner])
        } else {
            json!({ "k": inner })
        }
    })
}

/// JSON values that are deep, wide, near the payload limit, or just odd.
pub fn payload() -> impl Strategy<Value = Value> {
    prop_oneof![
        json_value(),
        (json_value(), 0usize..=160).prop_map(|(v, depth)| nest(v, depth)),
        (SMALL_LIMIT - 64..SMALL_LIMIT + 64).prop_map(|n| Value::String("x".repeat(n))),
        (0usize..2 * SMALL_LIMIT).prop_map(|n| Value::String("é".repeat(n / 2))),
    ]
}

/// A result object holding `payload` under a random key, so its size and depth vary.
pub fn result_object() -> impl Strategy<Value = Map<String, Value>> {
    (text(), payload()).prop_map(|(key, value)| obj(json!({ "content": [], key: value })))
}

/// The `data` of a JSON-RPC error: absent, an explicit `null` (which must not read back as
/// absent), or a value.
pub fn error_data(
    value: impl Strategy<Value = Value> + 'static,
) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![Just(None), Just(Some(Value::Null)), value.prop_map(Some)]
}

/// One change of any kind with hostile contents.
#[derive(Clone, Debug)]
pub(crate) enum Hostile {
    Message(String),
    Complete(Map<String, Value>),
    Fail(String),
    FailWithError(ErrorData),
    /// A create whose request params and message are hostile.
    Create(Value, String),
}

pub(crate) fn hostile_change() -> impl Strategy<Value = Hostile> {
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

/// A cursor under test, and how it was made.
#[derive(Clone, Debug)]
pub(crate) enum CursorInput {
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

pub(crate) fn cursor_input() -> impl Strategy<Value = CursorInput> {
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
