//! Store URLs: which backend, where, and with which settings.
//!
//! | URL | store |
//! |---|---|
//! | `memory://` | in-process memory |
//! | `sqlite://path/to/tasks.db`, `sqlite:tasks.db` | a SQLite file, created if missing |
//! | `sqlite::memory:` | an in-memory SQLite database that lives as long as the store |
//! | `redis://host:port/db?prefix=…` | a Redis server (`rediss://` for TLS) |
//! | `postgres://user@host:port/database?schema=…` | a PostgreSQL schema (`postgresql://` too) |
//!
//! Every URL takes the store settings of [`StoreConfig`] as query parameters, durations in
//! milliseconds and `none` for unlimited: `default_ttl`, `max_ttl`, `default_poll_interval`,
//! `page_size`, `max_page_size`, `max_tasks`, `max_tasks_per_owner`, `max_payload_bytes`.
//! Any other parameter belongs to the backend, which rejects the ones it does not know.
//! `poll_interval`, an older name, is refused with an error that names its replacement.
//!
//! A URL may hold a password (`redis://user:password@host`). Wherever this crate shows a URL,
//! in an error or a debug form, it shows [`redact_url`]'s form, with the password replaced
//! by `***`; do the same when you log one.

use std::collections::BTreeMap;
use std::fmt;
pub use task_core::redact::redact_url;
use task_core::redact::{HIDDEN, is_secret_param};
use task_core::{StoreConfig, TaskError};

/// A backend a URL can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `memory://`
    Memory,
    /// `sqlite://…`, `sqlite:…`, `sqlite::memory:`
    Sqlite,
    /// `redis://…`, `rediss://…`
    Redis,
    /// `postgres://…`, `postgresql://…`
    Postgres,
}

impl Backend {
    /// The Cargo feature that compiles the backend in.
    pub fn feature(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Sqlite => "sqlite",
            Backend::Redis => "redis",
            Backend::Postgres => "postgres",
        }
    }
}

/// A parsed store URL. Its debug form hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl {
    /// The backend.
    pub backend: Backend,
    /// The URL without its query: what the backend opens.
    pub location: String,
    /// Query parameters not consumed by [`StoreUrl::apply_config`], for the backend.
    pub params: BTreeMap<String, String>,
}

impl StoreUrl {
    /// Parses a store URL.
    pub fn parse(url: &str) -> Result<Self, TaskError> {
        let (location, query) = url.split_once('?').unwrap_or((url, ""));
        let backend = if location.starts_with("memory:") {
            Backend::Memory
        } else if location.starts_with("sqlite:") {
            Backend::Sqlite
        } else if location.starts_with("redis://") || location.starts_with("rediss://") {
            Backend::Redis
        } else if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(TaskError::InvalidInput(format!(
                "unknown store URL {:?}: use memory://, sqlite://PATH, sqlite::memory:, redis://HOST:PORT or postgres://HOST:PORT/DATABASE",
                redact_url(url)
            )));
        };
        let mut params = BTreeMap::new();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if params.insert(key.to_string(), value.to_string()).is_some() {
                return Err(TaskError::InvalidInput(format!(
                    "store URL parameter {key:?} is given twice"
                )));
            }
        }
        Ok(StoreUrl {
            backend,
            location: location.to_owned(),
            params,
        })
    }

    /// Moves the [`StoreConfig`] parameters out of [`StoreUrl::params`] onto `config`.
    ///
    /// ```
    /// use task_store::StoreConfig;
    /// use task_store::url::StoreUrl;
    /// let mut url = StoreUrl::parse("memory://?default_poll_interval=2000&max_ttl=none")?;
    /// let config = url.apply_config(StoreConfig::default())?;
    /// assert_eq!(config.default_poll_interval, Some(2_000));
    /// assert_eq!(config.max_ttl, None);
    ///
    /// let mut old = StoreUrl::parse("memory://?poll_interval=2000")?;
    /// let error = old.apply_config(StoreConfig::default()).unwrap_err();
    /// assert!(error.to_string().contains("default_poll_interval"));
    /// # Ok::<(), task_store::TaskError>(())
    /// ```
    pub fn apply_config(&mut self, mut config: StoreConfig) -> Result<StoreConfig, TaskError> {
        if self.params.contains_key(RENAMED_POLL_INTERVAL) {
            return Err(renamed_poll_interval(self.backend));
        }
        if let Some(v) = self.take_optional("default_ttl")? {
            config.default_ttl = v;
        }
        if let Some(v) = self.take_optional("max_ttl")? {
            config.max_ttl = v;
        }
        if let Some(v) = self.take_optional("default_poll_interval")? {
            config.default_poll_interval = v;
        }
        if let Some(v) = self.take_optional("max_tasks")? {
            config.max_tasks = v;
        }
        if let Some(v) = self.take_optional("max_tasks_per_owner")? {
            config.max_tasks_per_owner = v;
        }
        if let Some(v) = self.take_number("page_size")? {
            config.page_size = v;
        }
        if let Some(v) = self.take_number("max_page_size")? {
            config.max_page_size = v;
        }
        if let Some(v) = self.take_number("max_payload_bytes")? {
            config.max_payload_bytes = v;
        }
        Ok(config)
    }

    /// Fails if any parameter is left that nobody consumed.
    pub fn reject_unknown(&self) -> Result<(), TaskError> {
        match self.params.keys().next() {
            Some(key) => Err(TaskError::InvalidInput(format!(
                "unknown {} store URL parameter {key:?}",
                self.backend.feature()
            ))),
            None => Ok(()),
        }
    }

    /// The location with the parameters left for the backend put back as its query.
    pub fn location_with_params(&self) -> String {
        if self.params.is_empty() {
            return self.location.clone();
        }
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.params)
            .finish();
        format!("{}?{query}", self.location)
    }

    /// Removes a parameter and returns its raw value.
    pub fn take(&mut self, key: &str) -> Option<String> {
        self.params.remove(key)
    }

    /// Removes a numeric parameter.
    pub fn take_number<T: std::str::FromStr>(&mut self, key: &str) -> Result<Option<T>, TaskError> {
        self.take(key)
            .map(|raw| {
                raw.parse().map_err(|_| {
                    TaskError::InvalidInput(format!(
                        "store URL parameter {key}={raw:?} is not a number"
                    ))
                })
            })
            .transpose()
    }

    /// Removes a numeric parameter that may be `none`.
    fn take_optional(&mut self, key: &str) -> Result<Option<Option<u64>>, TaskError> {
        match self.params.get(key).map(String::as_str) {
            Some("none") => {
                self.params.remove(key);
                Ok(Some(None))
            }
            _ => Ok(self.take_number(key)?.map(Some)),
        }
    }
}

/// The parameter that [`StoreUrl::apply_config`] refuses: its meaning is split between
/// `default_poll_interval` and, for SQLite, `watch_interval_ms`.
const RENAMED_POLL_INTERVAL: &str = "poll_interval";

/// The error for a URL that still says `poll_interval`.
fn renamed_poll_interval(backend: Backend) -> TaskError {
    let sqlite = match backend {
        Backend::Sqlite => {
            "; how often the store looks for other processes' writes is `watch_interval_ms`"
        }
        Backend::Memory | Backend::Redis | Backend::Postgres => "",
    };
    TaskError::InvalidInput(format!(
        "store URL parameter `poll_interval` has been renamed: the pollInterval (ms) a task \
         suggests to its clients is `default_poll_interval`{sqlite}"
    ))
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown_params: BTreeMap<&str, &str> = self
            .params
            .iter()
            .map(|(name, value)| {
                let value = if is_secret_param(name) { HIDDEN } else { value };
                (name.as_str(), value)
            })
            .collect();
        f.debug_struct("StoreUrl")
            .field("backend", &self.backend)
            .field("location", &redact_url(&self.location))
            .field("params", &shown_params)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_scheme() {
        for (url, backend) in [
            ("memory://", Backend::Memory),
            ("sqlite://tasks.db", Backend::Sqlite),
            ("sqlite::memory:", Backend::Sqlite),
            ("redis://127.0.0.1:6379/2?prefix=app", Backend::Redis),
            ("rediss://cache.example:6380", Backend::Redis),
            ("postgres://app@db:5432/tasks?schema=a", Backend::Postgres),
            ("postgresql://db/tasks", Backend::Postgres),
        ] {
            assert_eq!(StoreUrl::parse(url).unwrap().backend, backend, "{url}");
        }
        assert!(StoreUrl::parse("mysql://x").is_err());
        assert!(StoreUrl::parse("tasks.db").is_err());
    }

    #[test]
    fn config_comes_from_the_query() {
        let mut url =
            StoreUrl::parse("memory://?max_ttl=60000&default_ttl=none&page_size=10&max_tasks_per_owner=5&prefix=a%20b")
                .unwrap();
        let config = url
            .apply_config(StoreConfig::default().with_default_ttl(Some(1)))
            .unwrap();
        assert_eq!(config.max_ttl, Some(60_000));
        assert_eq!(config.default_ttl, None);
        assert_eq!(config.page_size, 10);
        assert_eq!(config.max_tasks_per_owner, Some(5));
        assert_eq!(url.take("prefix").as_deref(), Some("a b"));
        assert!(url.reject_unknown().is_ok());
    }

    #[test]
    fn bad_parameters_are_reported() {
        let mut url = StoreUrl::parse("memory://?max_ttl=soon").unwrap();
        assert!(url.apply_config(StoreConfig::default()).is_err());
        let mut url = StoreUrl::parse("memory://?colour=blue").unwrap();
        url.apply_config(StoreConfig::default()).unwrap();
        let error = url.reject_unknown().unwrap_err().to_string();
        assert!(error.contains("colour"), "{error}");
        assert!(StoreUrl::parse("memory://?a=1&a=2").is_err());
    }

    #[test]
    fn the_old_poll_interval_name_is_refused_with_the_new_one() {
        let mut url = StoreUrl::parse("memory://?default_poll_interval=none").unwrap();
        let config = url.apply_config(StoreConfig::default()).unwrap();
        assert_eq!(config.default_poll_interval, None);
        for (text, names_watch) in [
            ("memory://?poll_interval=100", false),
            ("redis://127.0.0.1:6379/0?poll_interval=100", false),
            ("sqlite://t.db?poll_interval=100&max_ttl=5", true),
        ] {
            let mut url = StoreUrl::parse(text).unwrap();
            let before = url.clone();
            let error = url.apply_config(StoreConfig::default()).unwrap_err();
            assert!(
                matches!(error, TaskError::InvalidInput(_)),
                "{text}: {error}"
            );
            let message = error.to_string();
            assert!(message.contains("`default_poll_interval`"), "{message}");
            assert_eq!(
                message.contains("`watch_interval_ms`"),
                names_watch,
                "{message}"
            );
            assert_eq!(url, before, "{text}: the URL's parameters are untouched");
        }
    }
}
