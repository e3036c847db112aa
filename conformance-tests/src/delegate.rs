//! Test tooling: a store that hands every call to another, for test wrappers that change one
//! thing (a deliberate flaw, a record of the calls made, a scratch store that cleans up after
//! itself) and leave the rest alone.
//!
//! Implement [`Delegate`] for a type that holds the inner store, override only what differs,
//! and use it as a [`TaskStore`] through [`Delegating`]:
//!
//! ```
//! use conformance_tests::delegate::{Delegate, Delegating};
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use task_core::{NewTask, Scope, StoreConfig, TaskError, TaskStore, TaskStoreExt};
//! use task_store_memory::MemoryTaskStore;
//!
//! /// Counts the calls made to a memory store, and refuses to delete.
//! #[derive(Debug)]
//! struct Counting {
//!     inner: MemoryTaskStore,
//!     calls: AtomicUsize,
//! }
//!
//! #[async_trait::async_trait]
//! impl Delegate for Counting {
//!     fn inner(&self) -> &dyn TaskStore {
//!         &self.inner
//!     }
//!
//!     fn before(&self, _call: &'static str) -> Result<(), TaskError> {
//!         self.calls.fetch_add(1, Ordering::Relaxed);
//!         Ok(())
//!     }
//!
//!     async fn delete(&self, _scope: &Scope, _task_id: &str) -> Result<bool, TaskError> {
//!         Ok(false)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), TaskError> {
//! let store = Delegating(Counting {
//!     inner: MemoryTaskStore::new(StoreConfig::default()),
//!     calls: AtomicUsize::new(0),
//! });
//! let task = store.create(NewTask::new()).await?;
//! store.cancel(&Scope::All, &task.task_id).await?;
//! assert!(!store.delete(&Scope::All, &task.task_id).await?);
//! // `Delegating` dereferences to the wrapper's own fields.
//! assert_eq!(store.calls.load(Ordering::Relaxed), 3);
//! # Ok(())
//! # }
//! ```

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::fmt::Debug;
use std::ops::Deref;
use std::time::Duration;
use task_core::{
    Capabilities, NewTask, PageRequest, Scope, StoreConfig, Task, TaskChange, TaskError,
    TaskOutcome, TaskPage, TaskRecord, TaskStore,
};

/// A test wrapper around a store: every method passes the call to [`Delegate::inner`] unless
/// the wrapper overrides it. [`Delegating`] makes it a [`TaskStore`].
#[async_trait]
pub trait Delegate: Send + Sync + Debug + 'static {
    /// The store that calls go to.
    fn inner(&self) -> &dyn TaskStore;

    /// Runs before each async call, overridden or not, with the name of the [`TaskStore`]
    /// method (`"create"`, `"get"`, ...); an error ends the call with that error.
    fn before(&self, _call: &'static str) -> Result<(), TaskError> {
        Ok(())
    }

    /// [`TaskStore::config`].
    fn config(&self) -> &StoreConfig {
        self.inner().config()
    }

    /// [`TaskStore::capabilities`].
    fn capabilities(&self) -> Capabilities {
        self.inner().capabilities()
    }

    /// [`TaskStore::create`].
    async fn create(&self, new: NewTask) -> Result<Task, TaskError> {
        self.inner().create(new).await
    }

    /// [`TaskStore::get`].
    async fn get(&self, scope: &Scope, task_id: &str) -> Result<Task, TaskError> {
        self.inner().get(scope, task_id).await
    }

    /// [`TaskStore::get_record`].
    async fn get_record(&self, scope: &Scope, task_id: &str) -> Result<TaskRecord, TaskError> {
        self.inner().get_record(scope, task_id).await
    }

    /// [`TaskStore::get_result`].
    async fn get_result(
        &self,
        scope: &Scope,
        task_id: &str,
    ) -> Result<Option<TaskOutcome>, TaskError> {
        self.inner().get_result(scope, task_id).await
    }

    /// [`TaskStore::update`].
    async fn update(
        &self,
        scope: &Scope,
        task_id: &str,
        change: TaskChange,
    ) -> Result<Task, TaskError> {
        self.inner().update(scope, task_id, change).await
    }

    /// [`TaskStore::list`].
    async fn list(&self, scope: &Scope, page: PageRequest) -> Result<TaskPage, TaskError> {
        self.inner().list(scope, page).await
    }

    /// [`TaskStore::delete`].
    async fn delete(&self, scope: &Scope, task_id: &str) -> Result<bool, TaskError> {
        self.inner().delete(scope, task_id).await
    }

    /// [`TaskStore::wait_for_update`].
    async fn wait_for_update(
        &self,
        scope: &Scope,
        task_id: &str,
        seen: DateTime<Utc>,
        timeout: Option<Duration>,
    ) -> Result<Task, TaskError> {
        self.inner()
            .wait_for_update(scope, task_id, seen, timeout)
            .await
    }

    /// [`TaskStore::notify_update`].
    async fn notify_update(&self, task_id: &str) -> Result<(), TaskError> {
        self.inner().notify_update(task_id).await
    }

    /// [`TaskStore::purge_expired`].
    async fn purge_expired(&self) -> Result<u64, TaskError> {
        self.inner().purge_expired().await
    }

    /// [`TaskStore::recover_stuck`].
    async fn recover_stuck(&self, older_than: Duration, message: &str) -> Result<u64, TaskError> {
        self.inner().recover_stuck(older_than, message).await
    }
}

/// The [`TaskStore`] made of a [`Delegate`]: each call runs [`Delegate::before`], then the
/// delegate's method. It dereferences to the delegate, so a test can reach its fields.
#[derive(Debug)]
pub struct Delegating<D>(pub D);

impl<D> Deref for Delegating<D> {
    type Target = D;

    fn deref(&self) -> &D {
        &self.0
    }
}

#[async_trait]
impl<D: Delegate> TaskStore for Delegating<D> {
    fn config(&self) -> &StoreConfig {
        Delegate::config(&self.0)
    }

    fn capabilities(&self) -> Capabilities {
        Delegate::capabilities(&self.0)
    }

    async fn create(&self, new: NewTask) -> Result<Task, TaskError> {
        self.0.before("create")?;
        Delegate::create(&self.0, new).await
    }

    async fn get(&self, scope: &Scope, task_id: &str) -> Result<Task, TaskError> {
        self.0.before("get")?;
        Delegate::get(&self.0, scope, task_id).await
    }

    async fn get_record(&self, scope: &Scope, task_id: &str) -> Result<TaskRecord, TaskError> {
        self.0.before("get_record")?;
        Delegate::get_record(&self.0, scope, task_id).await
    }

    async fn get_result(
        &self,
        scope: &Scope,
        task_id: &str,
    ) -> Result<Option<TaskOutcome>, TaskError> {
        self.0.before("get_result")?;
        Delegate::get_result(&self.0, scope, task_id).await
    }

    async fn update(
        &self,
        scope: &Scope,
        task_id: &str,
        change: TaskChange,
    ) -> Result<Task, TaskError> {
        self.0.before("update")?;
        Delegate::update(&self.0, scope, task_id, change).await
    }

    async fn list(&self, scope: &Scope, page: PageRequest) -> Result<TaskPage, TaskError> {
        self.0.before("list")?;
        Delegate::list(&self.0, scope, page).await
    }

    async fn delete(&self, scope: &Scope, task_id: &str) -> Result<bool, TaskError> {
        self.0.before("delete")?;
        Delegate::delete(&self.0, scope, task_id).await
    }

    async fn wait_for_update(
        &self,
        scope: &Scope,
        task_id: &str,
        seen: DateTime<Utc>,
        timeout: Option<Duration>,
    ) -> Result<Task, TaskError> {
        self.0.before("wait_for_update")?;
        Delegate::wait_for_update(&self.0, scope, task_id, seen, timeout).await
    }

    async fn notify_update(&self, task_id: &str) -> Result<(), TaskError> {
        self.0.before("notify_update")?;
        Delegate::notify_update(&self.0, task_id).await
    }

    async fn purge_expired(&self) -> Result<u64, TaskError> {
        self.0.before("purge_expired")?;
        Delegate::purge_expired(&self.0).await
    }

    async fn recover_stuck(&self, older_than: Duration, message: &str) -> Result<u64, TaskError> {
        self.0.before("recover_stuck")?;
        Delegate::recover_stuck(&self.0, older_than, message).await
    }
}
