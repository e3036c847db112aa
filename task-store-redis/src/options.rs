//! [`RedisOptions`]: the key prefix, the waiters' polling fallback, the background sweeper, the
//! timeouts and the certificate authorities a `rediss://` server is checked against.

use crate::keys;
use std::fmt;
use std::time::Duration;
use task_core::TaskError;
use task_core::redact::redact_url;

/// The URL query parameter [`RedisOptions::from_url`] reads the key prefix from.
pub const PREFIX_PARAM: &str = "prefix";

/// The URL query parameter [`RedisOptions::from_url`] reads the sweep interval from, in ms
/// (`0` turns the sweeper off).
pub const SWEEP_PARAM: &str = "sweep_interval_ms";

/// Longest pause between two reconnect attempts of one call.
pub(crate) const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// How a [`crate::RedisTaskStore`] uses Redis. The defaults suit a Redis on the same network.
///
/// The URL's query may set the key prefix (`prefix`) and the sweep interval
/// (`sweep_interval_ms`, `0` for no sweeper); see [`RedisOptions::from_url`].
///
/// ```
/// use std::time::Duration;
/// use task_store_redis::RedisOptions;
///
/// let options = RedisOptions::default()
///     .with_key_prefix("billing-tasks")
///     .with_fallback_poll_interval(Duration::from_secs(5))
///     .with_sweep_interval(Some(Duration::from_secs(300)));
/// assert_eq!(options.key_prefix, "billing-tasks");
/// let url = "redis://127.0.0.1:6379/0?prefix=app%3Av2&sweep_interval_ms=0";
/// let from_url = RedisOptions::from_url(url)?;
/// assert_eq!(from_url.key_prefix, "app:v2");
/// assert_eq!(from_url.sweep_interval, None);
/// # Ok::<(), task_core::TaskError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisOptions {
    /// Every key starts with the hash tag `{key_prefix}`, so stores with different prefixes
    /// share a Redis without meeting, and each store sits in one cluster slot. 1 to 64 ASCII
    /// letters, digits or `-_.:/`. Default `mcp-tasks`.
    pub key_prefix: String,
    /// How often a waiter re-reads its task when no wake-up arrives: a lost pub/sub message
    /// delays a waiter by at most this much. Default 2 s. (Not the `pollInterval` tasks report
    /// to clients: that is [`task_core::StoreConfig::default_poll_interval`].)
    pub fallback_poll_interval: Duration,
    /// How often the background sweeper removes the index entries of expired tasks (Redis
    /// drops the task hashes itself at expiry, but not their entries in the listing and
    /// expiry indexes); `None` turns it off, leaving that to listings and
    /// [`TaskStore::purge_expired`](task_core::TaskStore::purge_expired). Many processes may
    /// share one store: a lease in Redis lets one of them sweep at a time, and sweeps happen
    /// about once per interval whatever the number of processes. Default 60 s.
    pub sweep_interval: Option<Duration>,
    /// Longest wait to open one connection. Default 1 s.
    pub connect_timeout: Duration,
    /// Longest wait for one reply. Default 2 s.
    pub response_timeout: Duration,
    /// Connection attempts a call makes again after the first fails, while Redis is away,
    /// before it gives up with a retryable error. Default 2.
    pub reconnect_retries: usize,
    /// For `rediss://`: PEM certificates of the authorities the server's certificate must
    /// chain to, in place of the system's trust store. Default `None`: the system's trust
    /// store, or the PEM file named by `SSL_CERT_FILE` (or the directory `SSL_CERT_DIR`).
    pub tls_root_certificates: Option<Vec<u8>>,
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roots = self
            .tls_root_certificates
            .as_ref()
            .map(|pem| format!("{} bytes of PEM", pem.len()));
        f.debug_struct("RedisOptions")
            .field("key_prefix", &self.key_prefix)
            .field("fallback_poll_interval", &self.fallback_poll_interval)
            .field("sweep_interval", &self.sweep_interval)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("reconnect_retries", &self.reconnect_retries)
            .field("tls_root_certificates", &roots)
            .finish()
    }
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            key_prefix: "mcp-tasks".to_owned(),
            fallback_poll_interval: Duration::from_secs(2),
            sweep_interval: Some(Duration::from_secs(60)),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(2),
            reconnect_retries: 2,
            tls_root_certificates: None,
        }
    }
}

impl RedisOptions {
    /// The defaults, with the settings the URL's query names: the key prefix (`prefix`) and
    /// the sweep interval in ms (`sweep_interval_ms`, `0` for none), as in
    /// `redis://host:6379/0?prefix=my-app&sweep_interval_ms=10000`. Other parameters are the
    /// driver's (such as `protocol`).
    pub fn from_url(url: &str) -> Result<Self, TaskError> {
        let parsed = redis::parse_redis_url(url).ok_or_else(|| {
            TaskError::InvalidInput(format!("not a Redis URL: {:?}", redact_url(url)))
        })?;
        let mut options = RedisOptions::default();
        for (name, value) in parsed.query_pairs() {
            options.set_url_param(&name, &value)?;
        }
        options.validate()?;
        Ok(options)
    }

    /// Applies one URL query parameter that names a setting of these options
    /// ([`PREFIX_PARAM`] or [`SWEEP_PARAM`]), and answers whether it named one; other names
    /// change nothing.
    ///
    /// ```
    /// use task_store_redis::RedisOptions;
    /// let mut options = RedisOptions::default();
    /// assert!(options.set_url_param("sweep_interval_ms", "2500")?);
    /// assert!(!options.set_url_param("protocol", "resp3")?);
    /// assert!(options.set_url_param("sweep_interval_ms", "soon").is_err());
    /// # Ok::<(), task_core::TaskError>(())
    /// ```
    pub fn set_url_param(&mut self, name: &str, value: &str) -> Result<bool, TaskError> {
        match name {
            PREFIX_PARAM => self.key_prefix = value.to_owned(),
            SWEEP_PARAM => {
                let ms: u64 = value.parse().map_err(|_| {
                    TaskError::InvalidInput(format!(
                        "invalid value {value:?} for `{SWEEP_PARAM}` in the URL: \
                         a number of ms, 0 for no sweeper"
                    ))
                })?;
                self.sweep_interval = (ms > 0).then(|| Duration::from_millis(ms));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Sets [`RedisOptions::key_prefix`].
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Sets [`RedisOptions::fallback_poll_interval`].
    pub fn with_fallback_poll_interval(mut self, interval: Duration) -> Self {
        self.fallback_poll_interval = interval;
        self
    }

    /// Sets [`RedisOptions::sweep_interval`]; `None` turns the sweeper off.
    pub fn with_sweep_interval(mut self, interval: Option<Duration>) -> Self {
        self.sweep_interval = interval;
        self
    }

    /// Sets [`RedisOptions::connect_timeout`].
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`RedisOptions::response_timeout`].
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Sets [`RedisOptions::reconnect_retries`].
    pub fn with_reconnect_retries(mut self, retries: usize) -> Self {
        self.reconnect_retries = retries;
        self
    }

    /// Sets [`RedisOptions::tls_root_certificates`]: a `rediss://` server's certificate must
    /// chain to one of these PEM certificates (a private certificate authority's, say).
    pub fn with_tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_certificates = Some(pem.into());
        self
    }

    /// Checks the prefix, and that every duration is positive.
    pub fn validate(&self) -> Result<(), TaskError> {
        keys::validate_prefix(&self.key_prefix)?;
        if self.sweep_interval.is_some_and(|every| every.is_zero()) {
            return Err(TaskError::InvalidInput(
                "sweep_interval must be positive; use None to turn the sweeper off".to_owned(),
            ));
        }
        for (name, value) in [
            ("fallback_poll_interval", self.fallback_poll_interval),
            ("connect_timeout", self.connect_timeout),
            ("response_timeout", self.response_timeout),
        ] {
            if value.is_zero() {
                return Err(TaskError::InvalidInput(format!("{name} must be positive")));
            }
        }
        Ok(())
    }

    /// The most one call can take while Redis is unreachable or silent: every connection
    /// attempt, the pauses between them, and a script call with its NOSCRIPT fallback (three
    /// replies). Calls are cut off there even if the driver would wait longer.
    pub fn call_deadline(&self) -> Duration {
        let attempts = u32::try_from(self.reconnect_retries.saturating_add(1)).unwrap_or(u32::MAX);
        self.connect_timeout
            .saturating_mul(attempts)
            .saturating_add(MAX_RECONNECT_DELAY.saturating_mul(attempts - 1))
            .saturating_add(self.response_timeout.saturating_mul(3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_prefix_is_read_and_checked() {
        let plain = RedisOptions::from_url("redis://127.0.0.1:6379").unwrap();
        assert_eq!(plain, RedisOptions::default());
        let named = RedisOptions::from_url("redis://h:1/2?protocol=resp2&prefix=a%2Fb").unwrap();
        assert_eq!(named.key_prefix, "a/b");
        assert!(RedisOptions::from_url("redis://h/?prefix=%7Bx%7D").is_err());
        assert!(RedisOptions::from_url("http://h/").is_err());
        assert!(RedisOptions::from_url("not a url").is_err());
        let swept = RedisOptions::from_url("redis://h/?sweep_interval_ms=250").unwrap();
        assert_eq!(swept.sweep_interval, Some(Duration::from_millis(250)));
        let off = RedisOptions::from_url("redis://h/?sweep_interval_ms=0").unwrap();
        assert_eq!(off.sweep_interval, None);
        assert!(RedisOptions::from_url("redis://h/?sweep_interval_ms=-1").is_err());
    }

    #[test]
    fn durations_must_be_positive_and_bound_a_call() {
        let zero = RedisOptions::default().with_fallback_poll_interval(Duration::ZERO);
        assert!(zero.validate().is_err());
        let never = RedisOptions::default().with_sweep_interval(Some(Duration::ZERO));
        assert!(never.validate().is_err());
        let options = RedisOptions::default()
            .with_connect_timeout(Duration::from_secs(1))
            .with_response_timeout(Duration::from_secs(2))
            .with_reconnect_retries(2);
        assert_eq!(options.call_deadline(), Duration::from_secs(3 + 2 + 6));
    }
}
