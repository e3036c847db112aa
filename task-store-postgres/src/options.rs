//! How to open a store: the server's URL and the settings of [`PostgresOptions`].

use sqlx::Connection;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;
use task_core::TaskError;
use task_core::redact::redact_url;

/// The URL query parameter that names the schema.
pub const SCHEMA_PARAM: &str = "schema";
/// The URL query parameter that sets [`PostgresOptions::sweep_interval`] in ms.
pub const SWEEP_PARAM: &str = "sweep_interval_ms";
/// The URL query parameter that sets [`PostgresOptions::pool_size`].
pub const POOL_PARAM: &str = "pool_size";
/// The URL query parameter that sets [`PostgresOptions::call_timeout`] in ms.
pub const CALL_TIMEOUT_PARAM: &str = "call_timeout_ms";

/// Every query parameter this crate reads itself.
pub const PARAMS: [&str; 4] = [SCHEMA_PARAM, SWEEP_PARAM, POOL_PARAM, CALL_TIMEOUT_PARAM];

/// The driver's query parameters, passed on to it; any other parameter is refused.
const DRIVER_PARAMS: [&str; 13] = [
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// A pooled connection idle this long is checked with a ping before it is handed out.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// Pings a connection that sat idle for [`IDLE_CHECK`] or more: `false` (a failed ping)
/// makes the pool open another.
fn check_idle(
    conn: &mut PgConnection,
    idle: PoolConnectionMetadata,
) -> Pin<Box<dyn Future<Output = Result<bool, sqlx::Error>> + Send + '_>> {
    Box::pin(async move { Ok(idle.idle_for < IDLE_CHECK || conn.ping().await.is_ok()) })
}

/// Longest schema name: the wake-up channel is `task_store.` and the schema, and channel
/// names are at most 63 bytes.
const MAX_SCHEMA_BYTES: usize = 52;

/// Settings of a [`crate::PostgresTaskStore`].
///
/// Every setting can also be given in the URL's query: `schema`, `pool_size`,
/// `sweep_interval_ms` (0 turns the sweeper off) and `call_timeout_ms`. The driver takes
/// `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `application_name`, `options` and the other
/// libpq-style parameters sqlx knows; any other parameter is refused.
///
/// ```
/// use std::time::Duration;
/// use task_store_postgres::PostgresOptions;
/// let options = PostgresOptions::default()
///     .with_schema("tenant_a")
///     .with_pool_size(4);
/// assert_eq!(options.schema, "tenant_a");
/// assert_eq!(options.call_timeout, Duration::from_secs(10));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The schema that holds the store's tables, created if missing: lower-case ASCII letters,
    /// digits and `_`, starting with a letter or `_`, at most 52 bytes. Stores in different
    /// schemas of one database never see each other's tasks. Default `mcp_tasks`.
    pub schema: String,
    /// Most connections the store keeps open, besides the two of its own that listen for
    /// and send wake-ups. Default 10.
    pub pool_size: u32,
    /// How often the background sweeper deletes expired tasks; `None` turns it off (expired
    /// tasks stay invisible either way). Default 60 s.
    pub sweep_interval: Option<Duration>,
    /// How long one call may take, connecting included, before it fails with a retryable
    /// error: when the server is down or restarting, calls fail within this time. Default 10 s.
    pub call_timeout: Duration,
    /// Sends every change through the record path (read, `apply_change`, compare-and-set on
    /// the version), which otherwise serves only changes the single statement cannot express.
    /// For tests of that path.
    #[doc(hidden)]
    pub changes_through_records: bool,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            schema: "mcp_tasks".to_owned(),
            pool_size: 10,
            sweep_interval: Some(Duration::from_secs(60)),
            call_timeout: Duration::from_secs(10),
            changes_through_records: false,
        }
    }
}

impl PostgresOptions {
    /// The options of the store's connection pool: [`PostgresOptions::pool_size`]
    /// connections, each taken within [`PostgresOptions::call_timeout`]. A connection in
    /// steady use goes straight to its next statement; one idle for 500 ms or more is
    /// pinged first and replaced if the server has gone away meanwhile (a restart, say), so
    /// a dead connection costs no call.
    pub fn pool_options(&self) -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(self.pool_size)
            .min_connections(0)
            .acquire_timeout(self.call_timeout)
            .test_before_acquire(false)
            .before_acquire(check_idle)
    }

    /// Sets the schema.
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Sets the pool size.
    pub fn with_pool_size(mut self, size: u32) -> Self {
        self.pool_size = size;
        self
    }

    /// Sets the sweep interval; `None` turns the sweeper off.
    pub fn with_sweep_interval(mut self, every: Option<Duration>) -> Self {
        self.sweep_interval = every;
        self
    }

    /// Sets the call timeout.
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Applies one URL query parameter of [`PARAMS`].
    pub fn set_url_param(&mut self, name: &str, value: &str) -> Result<(), TaskError> {
        let number = || {
            value.parse::<u64>().map_err(|_| {
                TaskError::InvalidInput(format!("{name} must be a whole number, got {value:?}"))
            })
        };
        match name {
            SCHEMA_PARAM => self.schema = value.to_owned(),
            POOL_PARAM => {
                let size = number()?;
                self.pool_size = u32::try_from(size).map_err(|_| {
                    TaskError::InvalidInput(format!("{name} is too large: {value}"))
                })?;
            }
            SWEEP_PARAM => {
                let ms = number()?;
                self.sweep_interval = (ms > 0).then(|| Duration::from_millis(ms));
            }
            CALL_TIMEOUT_PARAM => self.call_timeout = Duration::from_millis(number()?),
            _ => {
                return Err(TaskError::InvalidInput(format!(
                    "unknown PostgreSQL store parameter {name:?}"
                )));
            }
        }
        Ok(())
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), TaskError> {
        check_schema(&self.schema)?;
        if self.pool_size == 0 {
            return Err(TaskError::InvalidInput(
                "pool_size must be at least 1".into(),
            ));
        }
        if self.call_timeout.is_zero() {
            return Err(TaskError::InvalidInput(
                "call_timeout must be longer than zero".into(),
            ));
        }
        Ok(())
    }
}

/// A schema name needs no quoting anywhere: SQL, `search_path` and channel names.
fn check_schema(schema: &str) -> Result<(), TaskError> {
    let mut chars = schema.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !first_ok || !rest_ok || schema.len() > MAX_SCHEMA_BYTES || schema.starts_with("pg_") {
        return Err(TaskError::InvalidInput(format!(
            "schema {schema:?} is not allowed: use lower-case letters, digits and _, starting \
             with a letter or _, at most {MAX_SCHEMA_BYTES} bytes, not starting with pg_"
        )));
    }
    Ok(())
}

/// Splits a store URL into the driver's connect options and the store's options: the
/// parameters of [`PARAMS`] override `options`, the rest go to the driver.
pub(crate) fn parse(
    url: &str,
    mut options: PostgresOptions,
) -> Result<(PgConnectOptions, PostgresOptions), TaskError> {
    let shown = redact_url(url);
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(TaskError::InvalidInput(format!(
            "not a PostgreSQL URL: {shown:?}; use postgres://USER@HOST:PORT/DATABASE"
        )));
    }
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut driver_params = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if PARAMS.contains(&&*name) {
            options.set_url_param(&name, &value)?;
        } else if DRIVER_PARAMS.contains(&&*name) {
            driver_params.push((name.into_owned(), value.into_owned()));
        } else {
            return Err(TaskError::InvalidInput(format!(
                "unknown PostgreSQL store URL parameter {name:?}: the store takes {}, the \
                 driver {}",
                PARAMS.join(", "),
                DRIVER_PARAMS.join(", ")
            )));
        }
    }
    options.validate()?;
    let mut driver_url = base.to_owned();
    if !driver_params.is_empty() {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&driver_params)
            .finish();
        driver_url = format!("{driver_url}?{query}");
    }
    // The driver's own message may quote the URL: show only the redacted one.
    let connect = PgConnectOptions::from_str(&driver_url)
        .map_err(|_| TaskError::InvalidInput(format!("not a valid PostgreSQL URL: {shown:?}")))?;
    Ok((connect, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_parameters_are_taken_and_the_rest_left_to_the_driver() {
        let url = "postgres://app:pw@db.example:6543/tasks?schema=tenant_a&pool_size=3\
                   &sweep_interval_ms=0&call_timeout_ms=2500&application_name=my%20app";
        let (connect, options) = parse(url, PostgresOptions::default()).unwrap();
        assert_eq!(options.schema, "tenant_a");
        assert_eq!(options.pool_size, 3);
        assert_eq!(options.sweep_interval, None);
        assert_eq!(options.call_timeout, Duration::from_millis(2500));
        assert_eq!(connect.get_host(), "db.example");
        assert_eq!(connect.get_port(), 6543);
        assert_eq!(connect.get_database(), Some("tasks"));
        assert_eq!(connect.get_application_name(), Some("my app"));
    }

    #[test]
    fn bad_urls_and_settings_are_refused_without_their_secrets() {
        for url in [
            "mysql://u:hunter2@host/x",
            "postgres://u:hunter2@host/x?schema=Bad-Name",
            "postgres://u:hunter2@host/x?schema=pg_catalog",
            "postgres://u:hunter2@host/x?pool_size=0",
            "postgres://u:hunter2@host/x?pool_size=many",
            "postgres://u:hunter2@host:notaport/x",
            "postgres://u:hunter2@host/x?colour=blue",
        ] {
            let error = parse(url, PostgresOptions::default()).unwrap_err();
            let text = error.to_string();
            assert!(!text.contains("hunter2"), "{text}");
            assert!(matches!(error, TaskError::InvalidInput(_)), "{url}: {text}");
        }
        let long = "x".repeat(MAX_SCHEMA_BYTES + 1);
        assert!(check_schema(&long).is_err());
        assert!(check_schema(&"x".repeat(MAX_SCHEMA_BYTES)).is_ok());
    }
}
