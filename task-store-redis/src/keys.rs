//! Key names and index members: the only place that turns ids and owners into Redis names.
//!
//! Every key starts with the store's hash tag `{prefix}`, so one store lives in one cluster
//! slot and the prefix (which cannot contain braces) is what decides the slot. Ids and owners
//! are hex-encoded inside key names, so no id or owner, whatever its characters, can produce
//! another task's key or leave the store's keyspace.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{p}:t:<hex id>` | hash | one task record; expires with the task |
//! | `{p}:all` | sorted set | every task, as index members |
//! | `{p}:exp` | sorted set | tasks with a ttl, scored by expiry ms |
//! | `{p}:o:<hex owner>` | sorted set | one owner's tasks, as index members |
//! | `{p}:oe:<hex owner>` | sorted set | one owner's tasks with a ttl, scored by expiry ms |
//! | `{p}:sweep` | string | the sweeper's lease: which process sweeps; expires by itself |
//! | `{p}:un` | sorted set | unfinished tasks, scored by expiry ms (`+inf` for none) |
//! | `{p}:uo` | sorted set | unfinished owned tasks, as `<hex owner>:<hex expiry>` + member |
//!
//! Waiters listen on the channel `{p}:ch:<hex id>`.

use task_core::TaskError;

/// Longest key prefix accepted.
pub const MAX_PREFIX_LEN: usize = 64;

/// Checks a key prefix: 1 to 64 ASCII letters, digits or `-_.:/`. Braces would break the hash
/// tag, and glob characters would make the store's key pattern match other stores' keys.
pub fn validate_prefix(prefix: &str) -> Result<(), TaskError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:/".contains(c);
    if prefix.is_empty() || prefix.len() > MAX_PREFIX_LEN || !prefix.chars().all(allowed) {
        return Err(TaskError::InvalidInput(format!(
            "Redis key prefix {prefix:?} must be 1 to {MAX_PREFIX_LEN} ASCII letters, digits or '-_.:/'"
        )));
    }
    Ok(())
}

/// The key names of one store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    /// `{prefix}`: the hash tag every key starts with.
    tag: String,
}

impl Keys {
    /// Key names under `prefix`, which must have passed [`validate_prefix`].
    pub fn new(prefix: &str) -> Self {
        Keys {
            tag: format!("{{{prefix}}}"),
        }
    }

    /// The hash of one task.
    pub fn task(&self, task_id: &str) -> String {
        self.named("t:", task_id)
    }

    /// The index of every task.
    pub fn all(&self) -> String {
        format!("{}:all", self.tag)
    }

    /// The expiry index of every task with a ttl.
    pub fn expiry(&self) -> String {
        format!("{}:exp", self.tag)
    }

    /// The unfinished tasks, which `max_tasks` counts.
    pub fn unfinished(&self) -> String {
        format!("{}:un", self.tag)
    }

    /// The unfinished tasks by owner, which `max_tasks_per_owner` counts.
    pub fn unfinished_by_owner(&self) -> String {
        format!("{}:uo", self.tag)
    }

    /// The index of one owner's tasks.
    pub fn owner_index(&self, owner: &str) -> String {
        self.named("o:", owner)
    }

    /// The expiry index of one owner's tasks with a ttl.
    pub fn owner_expiry(&self, owner: &str) -> String {
        self.named("oe:", owner)
    }

    /// The background sweeper's lease: names the process that may sweep, until it expires.
    pub fn sweep_lease(&self) -> String {
        format!("{}:sweep", self.tag)
    }

    /// The pub/sub channel that wakes a task's waiters.
    pub fn channel(&self, task_id: &str) -> String {
        self.named("ch:", task_id)
    }

    /// A glob pattern matching every key of this store and nothing else.
    pub fn pattern(&self) -> String {
        format!("{}:*", self.tag)
    }

    /// The keys a create or delete of a task with `owner` touches: the task, the two global
    /// indexes, the two sets of unfinished tasks, then the owner's two indexes if it has an
    /// owner.
    pub fn task_and_indexes(&self, task_id: &str, owner: Option<&str>) -> Vec<String> {
        let mut keys = vec![
            self.task(task_id),
            self.all(),
            self.expiry(),
            self.unfinished(),
            self.unfinished_by_owner(),
        ];
        if let Some(owner) = owner {
            keys.push(self.owner_index(owner));
            keys.push(self.owner_expiry(owner));
        }
        keys
    }

    fn named(&self, kind: &str, name: &str) -> String {
        let mut key = String::with_capacity(self.tag.len() + 1 + kind.len() + 2 * name.len());
        key.push_str(&self.tag);
        key.push(':');
        key.push_str(kind);
        push_hex(&mut key, name);
        key
    }
}

/// `name` as lowercase hex, two digits per byte: how key names and the scripts spell owners.
pub(crate) fn hex(name: &str) -> String {
    let mut text = String::with_capacity(2 * name.len());
    push_hex(&mut text, name);
    text
}

fn push_hex(text: &mut String, name: &str) {
    for byte in name.bytes() {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// One entry of the listing and expiry indexes: `created` as 16 hex digits, the id, a NUL,
/// then the owner (empty for an unbound task).
///
/// Index sets give every member score 0, so Redis orders them bytewise: by creation time,
/// then by id (ids hold no control characters, so the NUL ends an id before any longer id
/// with the same start). The create, delete and prune scripts build the same string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    /// Creation time in ms since the epoch.
    pub created_ms: i64,
    /// The task id.
    pub task_id: String,
    /// The owner, if any.
    pub owner: Option<String>,
}

impl Member {
    /// The member's text.
    #[cfg(test)]
    pub fn encode(&self) -> String {
        format!(
            "{:016x}{}",
            self.created_ms,
            Member::tail(&self.task_id, self.owner.as_deref())
        )
    }

    /// What follows the creation time: the create script prepends the time it reads.
    pub fn tail(task_id: &str, owner: Option<&str>) -> String {
        format!("{task_id}\0{}", owner.unwrap_or(""))
    }

    /// Parses a member; `None` for anything the scripts did not write.
    pub fn decode(bytes: &[u8]) -> Option<Member> {
        let text = std::str::from_utf8(bytes).ok()?;
        let created = text.get(..16)?;
        let created_ms = i64::from_str_radix(created, 16).ok()?;
        let (task_id, owner) = text.get(16..)?.split_once('\0')?;
        Some(Member {
            created_ms,
            task_id: task_id.to_owned(),
            owner: (!owner.is_empty()).then(|| owner.to_owned()),
        })
    }

    /// The smallest `ZRANGEBYLEX` bound after every member of the task at
    /// (`created_ms`, `task_id`), whoever owns it: the keyset position of a cursor.
    pub fn after(created_ms: i64, task_id: &str) -> String {
        // Members of that task continue with NUL; any later id continues with a byte >= 0x20.
        format!("[{created_ms:016x}{task_id}\u{1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_checked() {
        for good in [
            "mcp-tasks",
            "a",
            "app:v1/tasks_2.0",
            &"x".repeat(MAX_PREFIX_LEN),
        ] {
            assert!(validate_prefix(good).is_ok(), "{good}");
        }
        let too_long = "x".repeat(MAX_PREFIX_LEN + 1);
        for bad in [
            "", "a{b", "a}b", "a*", "a?", "[a]", "a b", "ü", "a\n", &too_long,
        ] {
            assert!(validate_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_key_starts_with_the_prefix_tag() {
        let keys = Keys::new("p");
        let odd = "{x}:*? ü";
        for key in [
            keys.task(odd),
            keys.all(),
            keys.expiry(),
            keys.sweep_lease(),
            keys.unfinished(),
            keys.unfinished_by_owner(),
            keys.owner_index(odd),
            keys.owner_expiry(odd),
            keys.channel(odd),
        ] {
            assert!(key.starts_with("{p}:"), "{key}");
            // The slot is decided by the first {...}: the prefix.
            assert_eq!(key.find('{'), Some(0));
            assert_eq!(key.find('}'), Some(2));
            assert_eq!(key.matches(['{', '}', '*', '?', ' ']).count(), 2, "{key}");
        }
    }

    #[test]
    fn names_never_collide() {
        let keys = Keys::new("p");
        let names = [
            "a", "61", "a:", "t:61", "", "{p}", "ü", "u\u{308}", "aa", "a\0a",
        ];
        let mut seen = std::collections::HashSet::new();
        for name in names {
            assert!(seen.insert(keys.task(name)), "{name:?}");
            assert!(seen.insert(keys.owner_index(name)), "{name:?}");
            assert!(seen.insert(keys.owner_expiry(name)), "{name:?}");
            assert!(seen.insert(keys.channel(name)), "{name:?}");
        }
        assert_eq!(keys.task("a"), "{p}:t:61");
    }

    #[test]
    fn members_round_trip_and_sort_by_time_then_id() {
        let member = |ms, id: &str, owner: Option<&str>| Member {
            created_ms: ms,
            task_id: id.into(),
            owner: owner.map(Into::into),
        };
        let samples = [
            member(1_764_064_800_000, "b", None),
            member(1_764_064_800_000, "ab", Some("x")),
            member(1_764_064_800_000, "a", Some("zz")),
            member(1_764_064_800_000, "a b", None),
            member(1_764_064_800_001, "0", Some("{o}:*")),
            member(99, "ü", None),
        ];
        for m in &samples {
            assert_eq!(Member::decode(m.encode().as_bytes()).as_ref(), Some(m));
        }
        let mut by_text = samples.to_vec();
        by_text.sort_by_key(Member::encode);
        let mut by_position = samples.to_vec();
        by_position.sort_by(|a, b| (a.created_ms, &a.task_id).cmp(&(b.created_ms, &b.task_id)));
        assert_eq!(by_text, by_position);
        // The keyset bound sits after every member of its task and before the next task.
        let bound = Member::after(1_764_064_800_000, "a");
        let bound = &bound[1..];
        assert!(samples[2].encode().as_str() < bound);
        assert!(samples[3].encode().as_str() > bound);
        assert!(samples[1].encode().as_str() > bound);
        assert_eq!(Member::decode(b"garbage"), None);
    }

    proptest::proptest! {
        /// Whatever an id or owner holds, its keys carry this store's tag and nothing but hex
        /// after it, so they can neither name another store's key nor another task's.
        #[test]
        fn any_name_stays_in_its_own_keys(a in ".*", b in ".*", prefix in "[a-z0-9:._/-]{1,20}") {
            let keys = Keys::new(&prefix);
            let tag = format!("{{{prefix}}}:");
            for (kind, key) in [
                ("t:", keys.task(&a)),
                ("o:", keys.owner_index(&a)),
                ("oe:", keys.owner_expiry(&a)),
                ("ch:", keys.channel(&a)),
            ] {
                let name = key.strip_prefix(&tag).and_then(|k| k.strip_prefix(kind));
                let name = name.unwrap_or_else(|| panic!("{key:?} lacks {tag}{kind}"));
                proptest::prop_assert!(name.bytes().all(|c| c.is_ascii_hexdigit()), "{key:?}");
                proptest::prop_assert_eq!(name.len(), 2 * a.len());
            }
            proptest::prop_assert_eq!(keys.task(&a) == keys.task(&b), a == b);
            proptest::prop_assert_eq!(keys.owner_index(&a) == keys.owner_index(&b), a == b);
        }
    }
}
