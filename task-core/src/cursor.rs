//! Opaque keyset cursors for `tasks/list`.
//!
//! A cursor names the last task of a page by `(createdAt, taskId)`, the listing order, so it
//! stays valid after that task is deleted or expires. It also carries a tag of the owner it was
//! made for and a corruption check, so a garbled or truncated cursor, or one made for another
//! owner, is rejected.
//!
//! The check is a plain 64-bit FNV-1a hash, not keyed: it catches accidents, not forgery, and
//! anyone can build a cursor that passes it. What stops a forged cursor is owner scoping: a
//! cursor only says where a page starts, and every listing reads the caller's own tasks only,
//! so a made-up cursor can at most start a page somewhere else among them.

use crate::backend::validate::MAX_TASK_ID_BYTES;
use crate::error::TaskError;
use crate::store::Scope;
use crate::wire::Task;

const VERSION: u8 = 1;
const HEADER: usize = 1 + 8 + 8;
/// Bytes of the corruption check at the end of a cursor.
const CHECK: usize = 8;

/// A position in the listing order: just after the task created at `created_at_ms` with id
/// `task_id`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListPosition {
    /// Creation time in ms since the epoch.
    pub created_at_ms: i64,
    /// The task id, which breaks ties.
    pub task_id: String,
}

impl ListPosition {
    /// The position just after `task`.
    pub fn after(task: &Task) -> Self {
        ListPosition {
            created_at_ms: task.created_at.timestamp_millis(),
            task_id: task.task_id.clone(),
        }
    }

    /// Encodes the position as an opaque cursor bound to `scope`.
    pub fn encode(&self, scope: &Scope) -> String {
        let mut bytes = Vec::with_capacity(HEADER + self.task_id.len() + CHECK);
        bytes.push(VERSION);
        bytes.extend_from_slice(&self.created_at_ms.to_be_bytes());
        bytes.extend_from_slice(&scope_tag(scope).to_be_bytes());
        bytes.extend_from_slice(self.task_id.as_bytes());
        let sum = corruption_check(&bytes);
        bytes.extend_from_slice(&sum.to_be_bytes());
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Decodes a cursor made by [`ListPosition::encode`] for the same scope.
    pub fn decode(cursor: &str, scope: &Scope) -> Result<Self, TaskError> {
        // Digits only: `from_str_radix` also takes a sign, so "+f" would read as "0f".
        if cursor.len() > 2 * (HEADER + MAX_TASK_ID_BYTES + CHECK)
            || !cursor.len().is_multiple_of(2)
            || !cursor.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(TaskError::InvalidCursor);
        }
        let bytes = (0..cursor.len())
            .step_by(2)
            .map(|i| {
                cursor
                    .get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or(TaskError::InvalidCursor)?;
        if bytes.len() < HEADER + 1 + CHECK || bytes[0] != VERSION {
            return Err(TaskError::InvalidCursor);
        }
        let (body, sum) = bytes.split_at(bytes.len() - CHECK);
        if corruption_check(body).to_be_bytes() != sum
            || body[9..HEADER] != scope_tag(scope).to_be_bytes()
        {
            return Err(TaskError::InvalidCursor);
        }
        let mut created = [0u8; 8];
        created.copy_from_slice(&body[1..9]);
        let task_id =
            String::from_utf8(body[HEADER..].to_vec()).map_err(|_| TaskError::InvalidCursor)?;
        Ok(ListPosition {
            created_at_ms: i64::from_be_bytes(created),
            task_id,
        })
    }
}

/// 64-bit FNV-1a. Every step is a bijection of the state, so any single changed byte changes
/// the result.
fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(seed, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The corruption check: unkeyed, so it detects damage, not tampering (see the module docs).
fn corruption_check(bytes: &[u8]) -> u64 {
    fnv1a(fnv1a(0xcbf2_9ce4_8422_2325, b"mcp-task-cursor"), bytes)
}

fn scope_tag(scope: &Scope) -> u64 {
    let seed = fnv1a(0xcbf2_9ce4_8422_2325, b"mcp-task-scope");
    match scope {
        Scope::All => fnv1a(seed, b"*all"),
        Scope::Owner(owner) => fnv1a(fnv1a(seed, b"owner:"), owner.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position() -> ListPosition {
        ListPosition {
            created_at_ms: 1_764_064_800_000,
            task_id: "task-ü-{}".into(),
        }
    }

    #[test]
    fn round_trips_for_its_scope() {
        for scope in [Scope::All, Scope::Owner("alice".into())] {
            let cursor = position().encode(&scope);
            assert_eq!(ListPosition::decode(&cursor, &scope).unwrap(), position());
        }
    }

    #[test]
    fn rejects_other_scopes_garbage_and_every_single_byte_flip() {
        let alice = Scope::Owner("alice".into());
        let cursor = position().encode(&alice);
        let bob = Scope::Owner("bob".into());
        assert!(ListPosition::decode(&cursor, &bob).is_err());
        assert!(ListPosition::decode(&cursor, &Scope::All).is_err());
        for garbage in ["", "zz", "0", "not a cursor", &"f".repeat(10_000)] {
            assert!(ListPosition::decode(garbage, &alice).is_err(), "{garbage}");
        }
        let bytes = cursor.as_bytes();
        for i in 0..bytes.len() {
            let mut flipped = bytes.to_vec();
            flipped[i] = if flipped[i] == b'0' { b'1' } else { b'0' };
            let text = String::from_utf8(flipped).unwrap();
            if text != cursor {
                assert!(ListPosition::decode(&text, &alice).is_err(), "byte {i}");
            }
        }
    }

    #[test]
    fn rejects_a_sign_in_place_of_a_digit() {
        let alice = Scope::Owner("alice".into());
        let cursor = position().encode(&alice);
        // A pair starting with '0' whose '0' becomes '+' or '-' would parse as the same byte.
        let at = cursor.find('0').unwrap_or(0);
        for sign in ["+", "-"] {
            let mut text = cursor.clone();
            text.replace_range(at..at + 1, sign);
            assert!(ListPosition::decode(&text, &alice).is_err(), "{text}");
        }
    }
}
