//! The memory store's limit: a bare `HashMap` of tasks behind the same lock as ours (a std
//! `RwLock`), doing only what any store must: clone a task out, change it in place.

use crate::workload::{Flip, Op, Res, STATUS_MESSAGE, Subject, TTL_MS};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use task_core::backend::time;
use task_core::{Task, TaskStatus};
use tokio::sync::Notify;

struct Entry {
    task: Task,
    outcome: Option<Map<String, Value>>,
    waiters: Option<Arc<Notify>>,
}

pub struct BareMap {
    map: RwLock<HashMap<String, Entry>>,
    result: Map<String, Value>,
}

impl BareMap {
    pub fn new() -> Self {
        BareMap {
            map: RwLock::new(HashMap::new()),
            result: crate::workload::one_kb_result(),
        }
    }

    fn change(&self, id: &str, status: TaskStatus, outcome: Option<Map<String, Value>>) -> Res<()> {
        let message = (outcome.is_none() && status != TaskStatus::Cancelled)
            .then(|| STATUS_MESSAGE.to_owned());
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        let entry = map.get_mut(id).ok_or("task not found")?;
        entry.task.status = status;
        if message.is_some() {
            entry.task.status_message = message;
        }
        if outcome.is_some() {
            entry.outcome = outcome;
        }
        entry.task.last_updated_at = time::next_update(entry.task.last_updated_at, time::now());
        if let Some(waiters) = &entry.waiters {
            waiters.notify_waiters();
        }
        Ok(())
    }
}

impl Subject for BareMap {
    type Version = DateTime<Utc>;

    fn unsupported(&self, op: Op) -> Option<&'static str> {
        (op == Op::List).then_some("a bare HashMap has no listing order")
    }

    async fn create(&self) -> Res<String> {
        let now = time::now();
        let task = Task {
            task_id: uuid::Uuid::new_v4().to_string(),
            status: TaskStatus::Working,
            status_message: None,
            created_at: now,
            last_updated_at: now,
            ttl: Some(TTL_MS),
            poll_interval: Some(500),
        };
        let id = task.task_id.clone();
        let entry = Entry {
            task,
            outcome: None,
            waiters: None,
        };
        self.map
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone(), entry);
        Ok(id)
    }

    async fn get(&self, id: &str) -> Res<()> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        let task = map.get(id).ok_or("task not found")?.task.clone();
        drop(map);
        std::hint::black_box(task);
        Ok(())
    }

    async fn set_status(&self, id: &str, to: Flip) -> Res<()> {
        let status = match to {
            Flip::InputRequired => TaskStatus::InputRequired,
            Flip::Working => TaskStatus::Working,
        };
        self.change(id, status, None)
    }

    async fn complete(&self, id: &str) -> Res<()> {
        self.change(id, TaskStatus::Completed, Some(self.result.clone()))
    }

    async fn cancel(&self, id: &str) -> Res<()> {
        self.change(id, TaskStatus::Cancelled, None)
    }

    async fn list_page(&self, _cursor: Option<String>) -> Res<(usize, Option<String>)> {
        Err("no listing".into())
    }

    async fn remove(&self, ids: &[String]) -> Res<()> {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        for id in ids {
            map.remove(id);
        }
        Ok(())
    }

    async fn version(&self, id: &str) -> Res<DateTime<Utc>> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        Ok(map.get(id).ok_or("task not found")?.task.last_updated_at)
    }

    async fn wait_change(&self, id: &str, seen: DateTime<Utc>) -> Res<()> {
        let waiters = {
            let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
            let entry = map.get_mut(id).ok_or("task not found")?;
            entry.waiters.get_or_insert_default().clone()
        };
        let notified = waiters.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.version(id).await? > seen {
            return Ok(());
        }
        tokio::time::timeout(Duration::from_secs(5), notified)
            .await
            .map_err(|_| "waiter not woken within 5 s")?;
        Ok(())
    }
}
