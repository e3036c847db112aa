//! The store's ordered indexes: listing keys and the expiry queue.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;

/// A task's place in a listing index: creation time in ms, then id (byte order). The id's
/// first eight bytes are kept as a number, so that comparing two keys rarely reads the ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    ms: i64,
    head: u64,
    id: Arc<str>,
}

impl Key {
    pub(crate) fn new(ms: i64, id: Arc<str>) -> Self {
        let mut head = [0u8; 8];
        let len = id.len().min(8);
        head[..len].copy_from_slice(&id.as_bytes()[..len]);
        Key {
            ms,
            head: u64::from_be_bytes(head),
            id,
        }
    }

    pub(crate) fn id(&self) -> &Arc<str> {
        &self.id
    }
}

impl Ord for Key {
    // Byte order of the ids: the zero-padded heads order them unless equal, and then the
    // whole ids decide.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.ms, self.head)
            .cmp(&(other.ms, other.head))
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Tasks with a ttl, soonest expiry first. Deleting a task leaves its entry behind, to be
/// skipped when it comes up (pushes are O(1) for the usual ever-later expiries, and deletes are
/// free); the queue is rebuilt when stale entries outnumber live ones.
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

    /// A task with a ttl was removed; `live` gives the expiry of every live task, for a rebuild.
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
            "", "\u{0}", "a", "ab", "ab\u{0}", "ab\u{0}x", "abcdefgh", "abcdefgh\u{0}", "abcdefghi",
            "abcdefgi", "b", "ü", "zzzzzzzzzzzz",
        ];
        let mut keys: Vec<Key> = Vec::new();
        for ms in [5, -1, 0] {
            for id in ids {
                keys.push(Key::new(ms, Arc::from(id)));
            }
        }
        for a in &keys {
            for b in &keys {
                let expected = (a.ms, a.id.as_bytes()).cmp(&(b.ms, b.id.as_bytes()));
                assert_eq!(a.cmp(b), expected, "{:?} vs {:?}", a.id, b.id);
            }
        }
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
        assert!(queue.heap.len() < 1_100, "{}", queue.heap.len());
    }
}
