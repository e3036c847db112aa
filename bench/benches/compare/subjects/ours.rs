//! Our stores, through the `TaskStore` trait every backend implements.

use crate::workload::{Flip, OWNER, Op, PAGE_SIZE, Res, STATUS_MESSAGE, Subject, TTL_MS};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use task_core::{NewTask, PageRequest, Scope, TaskStatus, TaskStore, TaskStoreExt};

/// Longest a waiter waits before the measurement counts it as a lost wake-up.
const WAKE_GUARD: Duration = Duration::from_secs(5);

/// One of our backends, called as an MCP server calls it: scoped to the session's owner.
pub struct Ours<S> {
    store: Arc<S>,
    scope: Scope,
    result: Map<String, Value>,
}

impl<S: TaskStore> Ours<S> {
    pub fn new(store: S) -> Self {
        Ours {
            store: Arc::new(store),
            scope: Scope::owner(OWNER),
            result: crate::workload::one_kb_result(),
        }
    }
}

impl<S: TaskStore> Subject for Ours<S> {
    type Version = DateTime<Utc>;

    fn unsupported(&self, _op: Op) -> Option<&'static str> {
        None
    }

    async fn create(&self) -> Res<String> {
        let new = NewTask::new().owned_by(OWNER).with_ttl(TTL_MS);
        Ok(self.store.create(new).await?.task_id)
    }

    async fn get(&self, id: &str) -> Res<()> {
        std::hint::black_box(self.store.get(&self.scope, id).await?);
        Ok(())
    }

    async fn set_status(&self, id: &str, to: Flip) -> Res<()> {
        let status = match to {
            Flip::InputRequired => TaskStatus::InputRequired,
            Flip::Working => TaskStatus::Working,
        };
        self.store
            .set_status(&self.scope, id, status, Some(STATUS_MESSAGE))
            .await?;
        Ok(())
    }

    async fn complete(&self, id: &str) -> Res<()> {
        self.store
            .complete(&self.scope, id, self.result.clone())
            .await?;
        Ok(())
    }

    async fn cancel(&self, id: &str) -> Res<()> {
        self.store.cancel(&self.scope, id).await?;
        Ok(())
    }

    async fn list_page(&self, cursor: Option<String>) -> Res<(usize, Option<String>)> {
        let page = PageRequest::after(cursor).with_limit(PAGE_SIZE);
        let page = self.store.list(&self.scope, page).await?;
        Ok((page.tasks.len(), page.next_cursor))
    }

    async fn remove(&self, ids: &[String]) -> Res<()> {
        let mut workers = Vec::new();
        for chunk in ids.chunks(ids.len().div_ceil(16).max(1)) {
            let (store, scope, chunk) = (self.store.clone(), self.scope.clone(), chunk.to_vec());
            workers.push(tokio::spawn(async move {
                for id in &chunk {
                    store.delete(&scope, id).await?;
                }
                Ok::<_, task_core::TaskError>(())
            }));
        }
        for worker in workers {
            worker.await??;
        }
        Ok(())
    }

    async fn version(&self, id: &str) -> Res<DateTime<Utc>> {
        Ok(self.store.get(&self.scope, id).await?.last_updated_at)
    }

    async fn wait_change(&self, id: &str, seen: DateTime<Utc>) -> Res<()> {
        let task = self
            .store
            .wait_for_update(&self.scope, id, seen, Some(WAKE_GUARD))
            .await?;
        if task.last_updated_at <= seen {
            return Err(format!("waiter not woken within {WAKE_GUARD:?}").into());
        }
        Ok(())
    }
}
