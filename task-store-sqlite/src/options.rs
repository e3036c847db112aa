//! How to open a store: where the database lives ([`Location`]) and how its connections
//! behave ([`SqliteOptions`]).

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use task_core::TaskError;
use task_core::redact::redact_url;

/// Bytes of write-ahead log kept after a checkpoint (64 MiB).
const JOURNAL_SIZE_LIMIT: &str = "67108864";

/// When a commit reaches the disk (`PRAGMA synchronous`). Both survive a crash of the process;
/// they differ on power loss or an operating-system crash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// The write-ahead log is synced at checkpoints only. A commit survives a `kill -9`; the
    /// last commits before a power loss may be lost, but the file stays consistent.
    #[default]
    Normal,
    /// The write-ahead log is synced on every commit: a commit also survives a power loss.
    Full,
}

impl Synchronous {
    fn pragma(self) -> SqliteSynchronous {
        match self {
            Synchronous::Normal => SqliteSynchronous::Normal,
            Synchronous::Full => SqliteSynchronous::Full,
        }
    }
}

/// Connection and background settings of a [`crate::SqliteTaskStore`].
///
/// Every setting can also be given in the URL's query: `synchronous=full|normal`,
/// `busy_timeout_ms`, `sweep_interval_ms` (0 turns the sweeper off), `watch_interval_ms` and
/// `pool_size`. `poll_interval_ms`, an older name of `watch_interval_ms`, is refused with an
/// error that names it.
///
/// ```
/// use std::time::Duration;
/// use task_store_sqlite::{SqliteOptions, Synchronous};
/// let options = SqliteOptions::default()
///     .with_synchronous(Synchronous::Full)
///     .with_watch_interval(Duration::from_millis(20));
/// assert_eq!(options.busy_timeout, Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// When commits reach the disk. Default [`Synchronous::Normal`].
    pub synchronous: Synchronous,
    /// How long a statement waits for another connection's write lock before it fails with a
    /// retryable error (`busy_timeout`). Default 5 s.
    pub busy_timeout: Duration,
    /// How often the background sweeper deletes expired tasks; `None` turns it off (expired
    /// tasks stay invisible either way). Default 60 s.
    pub sweep_interval: Option<Duration>,
    /// How often a file store checks for writes made by other processes or stores on the same
    /// file, to wake its waiters: the bound on cross-process wake-up latency. Default 100 ms.
    /// (Not the `pollInterval` tasks report to clients: that is
    /// [`task_core::StoreConfig::default_poll_interval`].)
    pub watch_interval: Duration,
    /// Connections that serve reads; writes go through one connection of their own. Default 4.
    pub pool_size: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Normal,
            busy_timeout: Duration::from_secs(5),
            sweep_interval: Some(Duration::from_secs(60)),
            watch_interval: Duration::from_millis(100),
            pool_size: 4,
        }
    }
}

impl SqliteOptions {
    /// Sets [`SqliteOptions::synchronous`].
    pub fn with_synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// Sets [`SqliteOptions::busy_timeout`].
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sets [`SqliteOptions::sweep_interval`].
    pub fn with_sweep_interval(mut self, interval: Option<Duration>) -> Self {
        self.sweep_interval = interval;
        self
    }

    /// Sets [`SqliteOptions::watch_interval`].
    pub fn with_watch_interval(mut self, interval: Duration) -> Self {
        self.watch_interval = interval;
        self
    }

    /// Sets [`SqliteOptions::pool_size`].
    pub fn with_pool_size(mut self, size: u32) -> Self {
        self.pool_size = size;
        self
    }

    /// Applies one `key=value` setting from a URL query.
    fn apply(&mut self, key: &str, value: &str) -> Result<(), TaskError> {
        let invalid =
            || TaskError::InvalidInput(format!("invalid value {value:?} for `{key}` in the URL"));
        let millis = || value.parse::<u64>().map(Duration::from_millis);
        match key {
            "synchronous" => {
                self.synchronous = match value.to_ascii_lowercase().as_str() {
                    "normal" => Synchronous::Normal,
                    "full" => Synchronous::Full,
                    _ => return Err(invalid()),
                }
            }
            "busy_timeout_ms" => self.busy_timeout = millis().map_err(|_| invalid())?,
            "sweep_interval_ms" => {
                let every = millis().map_err(|_| invalid())?;
                self.sweep_interval = (!every.is_zero()).then_some(every);
            }
            "watch_interval_ms" => self.watch_interval = millis().map_err(|_| invalid())?,
            "poll_interval_ms" | "poll_interval" => {
                return Err(TaskError::InvalidInput(format!(
                    "`{key}` in the URL has been renamed: how often the store looks for other \
                     processes' writes is `watch_interval_ms`"
                )));
            }
            "pool_size" => self.pool_size = value.parse().map_err(|_| invalid())?,
            _ => {
                return Err(TaskError::InvalidInput(format!(
                    "unknown setting `{key}` in the URL; known: synchronous, busy_timeout_ms, \
                     sweep_interval_ms, watch_interval_ms, pool_size"
                )));
            }
        }
        Ok(())
    }

    /// Checks the settings make sense together.
    fn check(&self) -> Result<(), TaskError> {
        let invalid = |why: &str| Err(TaskError::InvalidInput(why.to_owned()));
        if self.pool_size == 0 {
            return invalid("pool_size must be at least 1");
        }
        if self.watch_interval.is_zero() {
            return invalid("watch_interval must be positive");
        }
        if self.sweep_interval.is_some_and(|every| every.is_zero()) {
            return invalid("sweep_interval must be positive; use None to turn the sweeper off");
        }
        if self.busy_timeout.as_millis() > i32::MAX as u128 {
            return invalid("busy_timeout is too long");
        }
        Ok(())
    }
}

/// Where a store's database lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A file, created if missing.
    File(PathBuf),
    /// A private in-memory database that lives as long as the store.
    Memory,
}

impl Location {
    /// Parses `sqlite::memory:`, `sqlite://path?settings`, `sqlite:path?settings`, `:memory:` or
    /// a plain path, and applies the URL's settings on top of `options`.
    pub(crate) fn parse(
        text: &str,
        mut options: SqliteOptions,
    ) -> Result<(Location, SqliteOptions), TaskError> {
        let location = match text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
        {
            Some(rest) => {
                let (database, query) = rest.split_once('?').unwrap_or((rest, ""));
                for pair in query.split('&').filter(|pair| !pair.is_empty()) {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    options.apply(key, value)?;
                }
                match database {
                    "" => {
                        return Err(TaskError::InvalidInput(format!(
                            "the URL {:?} names no database file",
                            redact_url(text)
                        )));
                    }
                    ":memory:" => Location::Memory,
                    // sqlx percent-decodes the path, so `?` and `#` can be part of a name.
                    _ => {
                        let decoded =
                            SqliteConnectOptions::from_str(&format!("sqlite://{database}"))
                                .map_err(|e| {
                                    TaskError::InvalidInput(format!(
                                        "bad SQLite URL {:?}: {e}",
                                        redact_url(text)
                                    ))
                                })?;
                        Location::File(decoded.get_filename().to_path_buf())
                    }
                }
            }
            None if text == ":memory:" => Location::Memory,
            None if text.is_empty() => {
                return Err(TaskError::InvalidInput("empty database path".into()));
            }
            None => Location::File(PathBuf::from(text)),
        };
        options.check()?;
        Ok((location, options))
    }

    /// Where a URL (`sqlite://path?settings`, `sqlite:path`, `sqlite::memory:`) or a plain path
    /// puts the database, its settings checked. Opens nothing.
    ///
    /// ```
    /// use task_store_sqlite::Location;
    /// let location = Location::from_url("sqlite://data/tasks.db?synchronous=full")?;
    /// assert_eq!(location.path(), Some(std::path::Path::new("data/tasks.db")));
    /// # Ok::<(), task_core::TaskError>(())
    /// ```
    pub fn from_url(text: &str) -> Result<Location, TaskError> {
        Location::parse(text, SqliteOptions::default()).map(|(location, _)| location)
    }

    /// The file's path, for a file store.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Location::File(path) => Some(path),
            Location::Memory => None,
        }
    }

    /// The options every connection of the store opens with: WAL, `synchronous`,
    /// `busy_timeout` and foreign keys, set per connection by sqlx.
    pub(crate) fn connect_options(&self, options: &SqliteOptions) -> SqliteConnectOptions {
        let base = match self {
            Location::File(path) => SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // Truncate the log after a checkpoint, so a burst of large outcomes does
                // not leave a large file behind.
                .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT),
            // A uniquely named shared-cache database, private to this store.
            Location::Memory => SqliteConnectOptions::from_str("sqlite::memory:")
                .unwrap_or_default()
                .in_memory(true)
                .shared_cache(true),
        };
        base.synchronous(options.synchronous.pragma())
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true)
            .statement_cache_capacity(64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Location, SqliteOptions), TaskError> {
        Location::parse(text, SqliteOptions::default())
    }

    #[test]
    fn urls_and_paths() {
        let file = |p: &str| Location::File(PathBuf::from(p));
        assert_eq!(parse("sqlite://tasks.db").unwrap().0, file("tasks.db"));
        assert_eq!(parse("sqlite:tasks.db").unwrap().0, file("tasks.db"));
        assert_eq!(parse("sqlite:///var/x.db").unwrap().0, file("/var/x.db"));
        assert_eq!(
            parse("sqlite://my%20file.db").unwrap().0,
            file("my file.db")
        );
        assert_eq!(parse("/tmp/a?b.db").unwrap().0, file("/tmp/a?b.db"));
        assert_eq!(parse("sqlite::memory:").unwrap().0, Location::Memory);
        assert_eq!(parse(":memory:").unwrap().0, Location::Memory);
        assert!(parse("").is_err());
        assert!(parse("sqlite://").is_err());
    }

    #[test]
    fn url_settings() {
        let (location, options) = parse(
            "sqlite://t.db?synchronous=FULL&busy_timeout_ms=250&sweep_interval_ms=0\
             &watch_interval_ms=20&pool_size=2",
        )
        .unwrap();
        assert_eq!(location, Location::File("t.db".into()));
        assert_eq!(options.synchronous, Synchronous::Full);
        assert_eq!(options.busy_timeout, Duration::from_millis(250));
        assert_eq!(options.sweep_interval, None);
        assert_eq!(options.watch_interval, Duration::from_millis(20));
        assert_eq!(options.pool_size, 2);
        for bad in [
            "sqlite://t.db?synchronous=off",
            "sqlite://t.db?pool_size=0",
            "sqlite://t.db?watch_interval_ms=x",
            "sqlite://t.db?watch_interval_ms=0",
            "sqlite://t.db?mode=ro",
        ] {
            assert!(
                matches!(parse(bad), Err(TaskError::InvalidInput(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn old_interval_names_are_refused_with_the_new_one() {
        for old in ["poll_interval_ms", "poll_interval"] {
            let error = parse(&format!("sqlite://t.db?{old}=50")).unwrap_err();
            assert!(matches!(error, TaskError::InvalidInput(_)), "{error}");
            let message = error.to_string();
            assert!(message.contains(old), "{message}");
            assert!(message.contains("`watch_interval_ms`"), "{message}");
        }
    }
}
