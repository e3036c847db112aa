//! The store's keys and ordered indexes: task ids, listing keys and the expiry queue.

use std::borrow::Borrow;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Longest id kept inline; UUIDs (36 bytes) fit.
const INLINE: usize = 38;

/// A task id as the key of the task map: inline when it fits, so that a lookup compares it
/// without reading another cache line.
#[derive(Clone)]
pub(crate) enum TaskKey {
    Inline(u8, [u8; INLINE]),
    Heap(Arc<str>),
}

impl TaskKey {
    pub(crate) fn new(id: &Arc<str>) -> Self {
        if id.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..id.len()].copy_from_slice(id.as_bytes());
            TaskKey::Inline(id.len() as u8, bytes)
        } else {
            TaskKey::Heap(id.clone())
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // `new` copies the bytes of a whole `str`, so the check always passes; it costs a few
            // nanoseconds and keeps the crate free of `unsafe` for the map keys.
            TaskKey::Inline(len, bytes) => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            TaskKey::Heap(id) => id,
        }
    }
}

impl Borrow<str> for TaskKey {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for TaskKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TaskKey {}

// Hashes exactly as the `str` it borrows as, as `Borrow` requires.
impl Hash for TaskKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A task's place in a listing index: creation time in ms, then id (byte order). The time and
/// the id's first eight bytes are packed into one number, so that most comparisons are a single
/// integer one that never reads the id (shared with the task's other index entries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    packed: u128,
    id: Arc<str>,
}

impl Key {
    pub(crate) fn new(ms: i64, id: Arc<str>) -> Self {
        let mut head = [0u8; 8];
        let len = id.len().min(8);
        head[..len].copy_from_slice(&id.as_bytes()[..len]);
        // Flipping the sign bit makes the unsigned order of the time its signed order.
        let time = (ms as u64) ^ (1 << 63);
        Key {
            packed: (u128::from(time) << 64) | u128::from(u64::from_be_bytes(head)),
            id,
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

impl Ord for Key {
    // The zero-padded heads order the ids by their bytes unless equal; then the whole ids
    // decide.
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.packed
            .cmp(&other.packed)
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for Key {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Tasks with a ttl, soonest expiry first. Deleting a task leaves its entry behind, to be
/// skipped when it comes up: pushes are O(1) for the usual ever-later expiries, and deletes are
/// free. The queue is rebuilt when stale entries outnumber live ones.
#[derive(Debug, Default)]
pub(crate) struct ExpiryQueue {
    heap: BinaryHeap<Reverse<Expiry>>,
    /// Live tasks with a ttl: the entries that are not stale.
    live: usize,
}

#[derive(Debug)]
struct Expiry {
    at: i64,
    id: Arc<str>,
}

impl PartialEq for Expiry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Expiry {}

impl Ord for Expiry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at.cmp(&other.at)
    }
}

impl PartialOrd for Expiry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl ExpiryQueue {
    /// A task expiring at `at` was added.
    pub(crate) fn push(&mut self, at: i64, id: Arc<str>) {
        self.live += 1;
        self.heap.push(Reverse(Expiry { at, id }));
    }

    /// A task with a ttl was removed; `live` lists every live task's expiry, for a rebuild.
    pub(crate) fn forget(&mut self, live: impl FnOnce() -> Vec<(i64, Arc<str>)>) {
        self.live = self.live.saturating_sub(1);
        if self.heap.len() > 2 * self.live + 1_024 {
            self.heap = live()
                .into_iter()
                .map(|(at, id)| Reverse(Expiry { at, id }))
                .collect();
            self.live = self.heap.len();
        }
    }

    /// Takes the next entry due at `now_ms`, stale or not: the caller checks that the task
    /// still exists with that expiry.
    pub(crate) fn pop_due(&mut self, now_ms: i64) -> Option<(i64, Arc<str>)> {
        if self.heap.peek()?.0.at > now_ms {
            return None;
        }
        self.heap.pop().map(|Reverse(e)| (e.at, e.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_by_time_then_id_bytes() {
        let ids = [
            "",
            "\u{0}",
            "a",
            "ab",
            "ab\u{0}",
            "ab\u{0}x",
            "abcdefgh",
            "abcdefgh\u{0}",
            "abcdefghi",
            "abcdefgi",
            "b",
            "ü",
            "zzzzzzzzzzzz",
        ];
        let mut keys = Vec::new();
        for ms in [5, -1, 0, i64::MIN, i64::MAX] {
            for id in ids {
                keys.push((ms, Key::new(ms, Arc::from(id))));
            }
        }
        for (ms_a, a) in &keys {
            for (ms_b, b) in &keys {
                let (x, y) = (a.id().as_bytes(), b.id().as_bytes());
                assert_eq!(a.cmp(b), (ms_a, x).cmp(&(ms_b, y)), "{x:?} {y:?}");
            }
        }
    }

    #[test]
    fn task_keys_hash_and_compare_as_their_str() {
        use std::collections::HashMap;
        let long = "y".repeat(100);
        let ids = [
            "",
            "a",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            long.as_str(),
        ];
        let mut map = HashMap::new();
        for id in ids {
            map.insert(TaskKey::new(&Arc::from(id)), id.len());
        }
        for id in ids {
            assert_eq!(map.get(id), Some(&id.len()), "{id}");
            assert_eq!(TaskKey::new(&Arc::from(id)).as_str(), id);
        }
        assert_eq!(map.get("b"), None);
    }

    #[test]
    fn queue_yields_due_entries_soonest_first_and_compacts() {
        let mut queue = ExpiryQueue::default();
        for (at, id) in [(30, "c"), (10, "a"), (20, "b")] {
            queue.push(at, Arc::from(id));
        }
        assert_eq!(queue.pop_due(5), None);
        assert_eq!(queue.pop_due(25).map(|e| e.0), Some(10));
        assert_eq!(queue.pop_due(25).map(|e| e.0), Some(20));
        assert_eq!(queue.pop_due(25), None);
        for i in 0..3_000 {
            queue.push(100 + i, Arc::from(i.to_string()));
        }
        // Forgetting most of them rebuilds the heap from what is still live.
        for _ in 0..2_990 {
            queue.forget(|| vec![(30, Arc::from("c"))]);
        }
        assert_eq!(queue.heap.len(), 1);
    }
}
