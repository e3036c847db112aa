//! One walk of an index in keyset order, shared by listing and stuck-task recovery: each step
//! reads the next members with one `ZRANGEBYLEX`, then their tasks with one pipelined read;
//! members of tasks that are gone (expired) are skipped, collected, and pruned as it goes.

use super::{PRUNE_BATCH, RedisTaskStore};
use crate::keys::Member;
use redis::cmd;
use task_core::{Scope, Task, TaskError};

/// A walk of one index from a keyset position to its end.
#[derive(Debug)]
pub(super) struct Walk<'a> {
    store: &'a RedisTaskStore,
    scope: &'a Scope,
    index: String,
    /// The `ZRANGEBYLEX` lower bound of the next step.
    start: Vec<u8>,
    /// Whether the last step reached the end of the index.
    ended: bool,
    /// Members of tasks that are gone, to prune.
    stale: Vec<Vec<u8>>,
}

impl<'a> Walk<'a> {
    /// A walk of the index `scope` lists (the store-wide one for [`Scope::All`], the owner's
    /// otherwise), from the bound `start` (`-` for the beginning).
    pub(super) fn new(store: &'a RedisTaskStore, scope: &'a Scope, start: Vec<u8>) -> Walk<'a> {
        let index = match scope {
            Scope::All => store.keys.all(),
            Scope::Owner(owner) => store.keys.owner_index(owner),
        };
        Walk {
            store,
            scope,
            index,
            start,
            ended: false,
            stale: Vec::new(),
        }
    }

    /// The live tasks among the next `count` members, in index order; `None` once the index
    /// has ended. Fewer than `count` tasks come back when members were stale.
    pub(super) async fn next(&mut self, count: usize) -> Result<Option<Vec<Task>>, TaskError> {
        if self.ended {
            return Ok(None);
        }
        let mut range = cmd("ZRANGEBYLEX");
        range
            .arg(&self.index)
            .arg(&self.start)
            .arg("+")
            .arg("LIMIT")
            .arg(0)
            .arg(count);
        let members: Vec<Vec<u8>> = self.store.query(&range).await?;
        self.ended = members.len() < count;
        let Some(last) = members.last() else {
            return Ok(None);
        };
        self.start = [b"(".as_slice(), last].concat();
        let (decoded, raw): (Vec<Member>, Vec<&Vec<u8>>) = members
            .iter()
            .filter_map(|bytes| Member::decode(bytes).map(|m| (m, bytes)))
            .unzip();
        let found = self.store.resolve(self.scope, &decoded).await?;
        let mut tasks = Vec::with_capacity(found.len());
        for (found, bytes) in found.into_iter().zip(raw) {
            match found {
                Some(task) => tasks.push(task),
                None => self.stale.push(bytes.clone()),
            }
        }
        if self.stale.len() >= PRUNE_BATCH {
            self.prune().await?;
        }
        Ok(Some(tasks))
    }

    /// Ends the walk, pruning the stale members it still holds.
    pub(super) async fn finish(mut self) -> Result<(), TaskError> {
        self.prune().await
    }

    async fn prune(&mut self) -> Result<(), TaskError> {
        if !self.stale.is_empty() {
            self.store.prune(&self.stale).await?;
            self.stale.clear();
        }
        Ok(())
    }
}
