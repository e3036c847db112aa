//! Durable task state for MCP servers: one dependency, backends chosen by Cargo features.
//!
//! | feature | backend | URL |
//! |---|---|---|
//! | `memory` (default) | `MemoryTaskStore` | `memory://` |
//! | `sqlite` | `SqliteTaskStore` | `sqlite://path/to/tasks.db`, `sqlite::memory:` |
//! | `redis` | `RedisTaskStore` | `redis://host:port/db?prefix=NAME` |
//! | `postgres` | `PostgresTaskStore` | `postgres://user@host:port/database?schema=NAME` |
//!
//! [`open`] picks the backend from a URL and returns an `Arc<dyn TaskStore>`; [`StoreBuilder`]
//! adds settings in code. The types and helpers of `task_core` that a store's users need are
//! re-exported here; what only the author of a store needs stays in `task_core::backend`.
//!
//! With the default `memory` feature (`task-store = "0.1"`):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), task_store::TaskError> {
//! # #[cfg(feature = "memory")] {
//! use task_store::{NewTask, Scope, TaskStoreExt};
//!
//! let store = task_store::open("memory://?max_ttl=3600000").await?;
//! let task = store.create(NewTask::new().owned_by("session-1")).await?;
//! assert_eq!(task.ttl, Some(3_600_000));
//! let done = store.cancel(&Scope::owner("session-1"), &task.task_id).await?;
//! assert!(done.is_terminal());
//! # }
//! # Ok(()) }
//! ```
//!
//! With `features = ["sqlite"]`, tasks survive restarts in one file, which several processes
//! may share; SQLite settings such as `synchronous=full` go in the query too:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), task_store::TaskError> {
//! # #[cfg(feature = "sqlite")] {
//! # let dir = tempfile::tempdir().map_err(|e| task_store::TaskError::backend("doc", task_store::Retry::Never, e))?;
//! # let path = dir.path().join("tasks.db");
//! let url = format!("sqlite://{}?synchronous=full&max_ttl=86400000", path.display());
//! let store = task_store::open(&url).await?;
//! let task = store.create(task_store::NewTask::new().with_ttl(u64::MAX)).await?;
//! assert_eq!(task.ttl, Some(86_400_000));
//! # }
//! # Ok(()) }
//! ```
//!
//! With `features = ["redis"]`, many server processes share one Redis; `prefix` keeps one
//! application's tasks apart from another's, and `sweep_interval_ms` sets how often expired
//! tasks' index entries are swept (`0`: never):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), task_store::TaskError> {
//! # #[cfg(feature = "redis")] {
//! # let server = std::env::var("REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
//! # let prefix = format!("doc-{}", task_store::generate_task_id());
//! let url = format!("{server}/0?prefix={prefix}&default_ttl=60000&sweep_interval_ms=30000");
//! let store = task_store::open(&url).await?;
//! let task = store.create(task_store::NewTask::new()).await?;
//! assert_eq!(task.ttl, Some(60_000));
//! # store.delete(&task_store::Scope::All, &task.task_id).await?;
//! # }
//! # Ok(()) }
//! ```
//!
//! With `features = ["postgres"]`, many server processes share one PostgreSQL database;
//! `schema` keeps one application's tasks apart from another's (created if missing), and a
//! change in one process wakes waiters in every other through `LISTEN`/`NOTIFY`:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), task_store::TaskError> {
//! # #[cfg(feature = "postgres")] {
//! # let server = std::env::var("DATABASE_URL").unwrap_or("postgres://postgres@127.0.0.1:5432/test".into());
//! # let schema = format!("doc_{}", task_store::generate_task_id().replace('-', ""));
//! let url = format!("{server}?schema={schema}&default_ttl=60000&sweep_interval_ms=30000");
//! let store = task_store::open(&url).await?;
//! let task = store.create(task_store::NewTask::new()).await?;
//! assert_eq!(task.ttl, Some(60_000));
//! # use task_store::postgres::sqlx::{self, Connection};
//! # let mut conn = sqlx::PgConnection::connect(&server).await.unwrap();
//! # let drop = format!("DROP SCHEMA {schema} CASCADE");
//! # sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(&mut conn).await.unwrap();
//! # }
//! # Ok(()) }
//! ```
//!
//! With several features, such as `features = ["sqlite", "redis"]`, the URL picks the backend
//! at run time: one binary runs on a file in development and on Redis in production.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), task_store::TaskError> {
//! # #[cfg(all(feature = "sqlite", feature = "redis"))] {
//! use task_store::{NewTask, Scope};
//!
//! # let server = std::env::var("REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
//! # let prefix = format!("doc-{}", task_store::generate_task_id());
//! for url in ["sqlite::memory:".to_owned(), format!("{server}/0?prefix={prefix}")] {
//!     let store = task_store::open(&url).await?;
//!     let task = store.create(NewTask::new()).await?;
//!     assert_eq!(store.get(&Scope::All, &task.task_id).await?, task);
//! #   store.delete(&Scope::All, &task.task_id).await?;
//! }
//! # }
//! # Ok(()) }
//! ```
//!
//! A backend that is not compiled in is named in the error
//! (`task-store = { version = "0.1", default-features = false }`):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let compiled_in = [
//!     cfg!(feature = "memory"),
//!     cfg!(feature = "sqlite"),
//!     cfg!(feature = "redis"),
//!     cfg!(feature = "postgres"),
//! ];
//! let urls = ["memory://", "sqlite::memory:", "redis://127.0.0.1:6379", "postgres://127.0.0.1/x"];
//! let features = ["memory", "sqlite", "redis", "postgres"];
//! for ((url, feature), compiled_in) in urls.iter().zip(features).zip(compiled_in) {
//!     if !compiled_in {
//!         let error = task_store::open(url).await.unwrap_err();
//!         assert!(error.to_string().contains(&format!("enable the `{feature}` feature")));
//!     }
//! }
//! # }
//! ```
#![warn(missing_docs)]

pub mod url;

pub use task_core::{
    CancelTaskResult, Capabilities, CreateTaskResult, CurrentTask, DetailedTask, ErrorData,
    GetTaskResult, LimitKind, ListTasksResult, MODEL_IMMEDIATE_RESPONSE_META_KEY, NewTask,
    OriginRequest, PageRequest, ProtocolRevision, RELATED_TASK_META_KEY, Retry, Scope, StoreConfig,
    Task, TaskChange, TaskContext, TaskError, TaskMetadata, TaskOutcome, TaskPage, TaskRecord,
    TaskStatus, TaskStore, TaskStoreExt, TracedStore, cancel_task, generate_task_id, jsonrpc,
    poll_until_terminal, task_execution, wait_for_result, wire,
};
#[cfg(feature = "memory")]
pub use task_store_memory::{self as memory, MemoryTaskStore};
#[cfg(feature = "postgres")]
pub use task_store_postgres::{self as postgres, PostgresOptions, PostgresTaskStore};
#[cfg(feature = "redis")]
pub use task_store_redis::{self as redis, RedisOptions, RedisTaskStore};
#[cfg(feature = "sqlite")]
pub use task_store_sqlite::{self as sqlite, SqliteOptions, SqliteTaskStore};

use std::sync::Arc;
use url::{Backend, StoreUrl};

/// Opens the store a URL names, with default settings plus those in the URL's query. Every
/// call of the store runs in a `tracing` span (see [`TracedStore`]).
pub async fn open(url: &str) -> Result<Arc<dyn TaskStore>, TaskError> {
    StoreBuilder::new(url).open().await
}

/// Opens a store from a URL with settings given in code; the URL's query overrides them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), task_store::TaskError> {
/// # #[cfg(feature = "memory")] {
/// use task_store::{StoreBuilder, StoreConfig};
/// let store = StoreBuilder::new("memory://")
///     .config(StoreConfig::default().with_max_tasks_per_owner(Some(100)))
///     .open()
///     .await?;
/// assert_eq!(store.config().max_tasks_per_owner, Some(100));
/// # }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct StoreBuilder {
    url: String,
    config: StoreConfig,
}

impl std::fmt::Debug for StoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreBuilder")
            .field("url", &url::redact_url(&self.url))
            .field("config", &self.config)
            .finish()
    }
}

impl StoreBuilder {
    /// A builder for the store at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        StoreBuilder {
            url: url.into(),
            config: StoreConfig::default(),
        }
    }

    /// Sets the store settings; parameters in the URL's query still override them.
    pub fn config(mut self, config: StoreConfig) -> Self {
        self.config = config;
        self
    }

    /// Opens the store, wrapped in a [`TracedStore`]: every call runs in a `tracing` span.
    pub async fn open(self) -> Result<Arc<dyn TaskStore>, TaskError> {
        let mut url = StoreUrl::parse(&self.url)?;
        let config = url.apply_config(self.config)?;
        match url.backend {
            #[cfg(feature = "memory")]
            Backend::Memory => {
                let rest = url.location.trim_start_matches("memory:");
                if !rest.trim_start_matches("//").is_empty() {
                    return Err(TaskError::InvalidInput(format!(
                        "a memory store URL has no location: {:?}",
                        url::redact_url(&url.location)
                    )));
                }
                url.reject_unknown()?;
                Ok(Arc::new(TracedStore::new(MemoryTaskStore::new(config))))
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => {
                // The backend reads its own settings (synchronous, busy_timeout_ms, ...) from
                // the query and rejects unknown ones.
                let location = url.location_with_params();
                let store = SqliteTaskStore::open(&location, config).await?;
                Ok(Arc::new(TracedStore::new(store)))
            }
            #[cfg(feature = "redis")]
            Backend::Redis => {
                let mut options = RedisOptions::default();
                for name in [
                    task_store_redis::PREFIX_PARAM,
                    task_store_redis::SWEEP_PARAM,
                ] {
                    if let Some(value) = url.take(name) {
                        options.set_url_param(name, &value)?;
                    }
                }
                let mut location = url.location.clone();
                if let Some(protocol) = url.take("protocol") {
                    location = format!("{location}?protocol={protocol}");
                }
                url.reject_unknown()?;
                let store = RedisTaskStore::open_with(&location, config, options).await?;
                Ok(Arc::new(TracedStore::new(store)))
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                // The backend reads its own settings (schema, pool_size, ...) from the query,
                // passes the driver's on, and rejects unknown ones.
                let location = url.location_with_params();
                let store = PostgresTaskStore::open(&location, config).await?;
                Ok(Arc::new(TracedStore::new(store)))
            }
            #[allow(unreachable_patterns)]
            backend => {
                let _ = config;
                Err(missing_feature(backend))
            }
        }
    }
}

fn missing_feature(backend: Backend) -> TaskError {
    let feature = backend.feature();
    TaskError::InvalidInput(format!(
        "the {feature} backend is not compiled in: enable the `{feature}` feature of task-store"
    ))
}
