//! `pmcp-tasks` 0.2: its generic store over the in-memory and Redis backends.

use crate::workload::{Flip, OWNER, Op, PAGE_SIZE, Res, STATUS_MESSAGE, Subject, TTL_MS};
use pmcp_tasks::store::StorageBackend;
use pmcp_tasks::store::backend::make_key;
use pmcp_tasks::{
    GenericTaskStore, InMemoryBackend, ListTasksOptions, RedisBackend, TaskRecord,
    TaskSecurityConfig, TaskStatus,
};
use serde_json::Value;
use std::sync::Arc;

/// A pmcp store. It is filled by writing its records straight into its backend: its own
/// `create` reads back every task of the owner first, which would take hours at 100,000 tasks.
pub struct Pmcp<B: StorageBackend> {
    store: Arc<GenericTaskStore<B>>,
    result: Value,
}

impl<B: StorageBackend + 'static> Pmcp<B> {
    fn with_backend(backend: B) -> Self {
        let security = TaskSecurityConfig::default().with_max_tasks_per_owner(usize::MAX);
        Pmcp {
            store: Arc::new(GenericTaskStore::new(backend).with_security(security)),
            result: Value::Object(crate::workload::one_kb_result()),
        }
    }
}

impl Pmcp<InMemoryBackend> {
    pub fn memory() -> Self {
        Pmcp::with_backend(InMemoryBackend::new())
    }
}

impl Pmcp<RedisBackend> {
    /// The Redis store, its keys under `prefix`.
    pub async fn redis(url: &str, prefix: &str) -> Res<Self> {
        let backend = RedisBackend::new(url).await?.with_prefix(prefix);
        Ok(Pmcp::with_backend(backend))
    }
}

fn status(to: Flip) -> TaskStatus {
    match to {
        Flip::InputRequired => TaskStatus::InputRequired,
        Flip::Working => TaskStatus::Working,
    }
}

impl<B: StorageBackend + 'static> Subject for Pmcp<B> {
    type Version = ();

    fn unsupported(&self, op: Op) -> Option<&'static str> {
        (op == Op::Wake).then_some("no push wake-ups; callers poll")
    }

    async fn fill(&self, n: usize) -> Res<Option<Vec<String>>> {
        let mut workers = Vec::new();
        let per_worker = n.div_ceil(16).max(1);
        let mut left = n;
        while left > 0 {
            let count = per_worker.min(left);
            left -= count;
            let store = self.store.clone();
            workers.push(tokio::spawn(async move {
                let mut ids = Vec::with_capacity(count);
                for _ in 0..count {
                    let mut record =
                        TaskRecord::new(OWNER.to_owned(), "tools/call".to_owned(), Some(TTL_MS));
                    record.task.poll_interval = Some(store.poll_interval_ms());
                    let bytes = serde_json::to_vec(&record)?;
                    let key = make_key(OWNER, &record.task.task_id);
                    store.backend().put(&key, &bytes).await?;
                    ids.push(record.task.task_id);
                }
                Ok::<_, crate::workload::BoxError>(ids)
            }));
        }
        let mut ids = Vec::with_capacity(n);
        for worker in workers {
            ids.extend(worker.await??);
        }
        Ok(Some(ids))
    }

    async fn create(&self) -> Res<String> {
        let record = self.store.create(OWNER, "tools/call", Some(TTL_MS)).await?;
        Ok(record.task.task_id)
    }

    async fn get(&self, id: &str) -> Res<()> {
        std::hint::black_box(self.store.get(id, OWNER).await?);
        Ok(())
    }

    async fn set_status(&self, id: &str, to: Flip) -> Res<()> {
        self.store
            .update_status(id, OWNER, status(to), Some(STATUS_MESSAGE.to_owned()))
            .await?;
        Ok(())
    }

    async fn complete(&self, id: &str) -> Res<()> {
        self.store
            .complete_with_result(id, OWNER, TaskStatus::Completed, None, self.result.clone())
            .await?;
        Ok(())
    }

    async fn cancel(&self, id: &str) -> Res<()> {
        self.store.cancel(id, OWNER).await?;
        Ok(())
    }

    async fn list_page(&self, cursor: Option<String>) -> Res<(usize, Option<String>)> {
        let options = ListTasksOptions {
            owner_id: OWNER.to_owned(),
            cursor,
            limit: Some(PAGE_SIZE),
        };
        let page = self.store.list(options).await?;
        Ok((page.tasks.len(), page.next_cursor))
    }

    async fn remove(&self, ids: &[String]) -> Res<()> {
        for id in ids {
            self.store.backend().delete(&make_key(OWNER, id)).await?;
        }
        Ok(())
    }
}
