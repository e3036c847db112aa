//! Store-wide settings shared by every backend: ttl policy, paging and limits.

use crate::error::TaskError;

/// Settings every backend honours in the same way.
///
/// ```
/// use task_core::StoreConfig;
/// let config = StoreConfig::default()
///     .with_default_ttl(Some(60_000))
///     .with_max_ttl(Some(3_600_000))
///     .with_max_tasks_per_owner(Some(100));
/// assert_eq!(config.effective_ttl(None), Some(60_000));
/// assert_eq!(config.effective_ttl(Some(86_400_000)), Some(3_600_000));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Ttl in ms for a task whose requestor asked for none; `None` means unlimited.
    pub default_ttl: Option<u64>,
    /// Upper bound on any ttl in ms; `None` means no cap (and unlimited tasks are allowed).
    pub max_ttl: Option<u64>,
    /// The `pollInterval` in ms a task reports to its clients (how often they should poll it)
    /// when its creator sets none; `None` leaves it out. Default 500 ms.
    pub default_poll_interval: Option<u64>,
    /// Page size of a list call that does not ask for one.
    pub page_size: usize,
    /// Largest page a list call may ask for; larger requests are clamped.
    pub max_page_size: usize,
    /// Maximum unfinished (`working` or `input_required`), unexpired tasks per owner.
    /// Finished tasks do not count: they stay readable until their ttl ends.
    pub max_tasks_per_owner: Option<u64>,
    /// Maximum unfinished, unexpired tasks in the whole store.
    pub max_tasks: Option<u64>,
    /// Largest serialised outcome, request params or status message, in bytes.
    pub max_payload_bytes: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            default_ttl: None,
            max_ttl: None,
            default_poll_interval: Some(500),
            page_size: 100,
            max_page_size: 1_000,
            max_tasks_per_owner: None,
            max_tasks: None,
            max_payload_bytes: 16 * 1024 * 1024,
        }
    }
}

impl StoreConfig {
    /// The ttl a task gets: the request (or the default when absent), clamped to the maximum.
    pub fn effective_ttl(&self, requested: Option<u64>) -> Option<u64> {
        match (requested.or(self.default_ttl), self.max_ttl) {
            (Some(ttl), Some(max)) => Some(ttl.min(max)),
            (None, Some(max)) => Some(max),
            (ttl, None) => ttl,
        }
    }

    /// The page size of a list call, clamped to `1..=max_page_size`.
    pub fn page_limit(&self, requested: Option<usize>) -> Result<usize, TaskError> {
        match requested {
            Some(0) => Err(TaskError::InvalidInput("page size must be positive".into())),
            Some(n) => Ok(n.min(self.max_page_size.max(1))),
            None => Ok(self.page_size.clamp(1, self.max_page_size.max(1))),
        }
    }

    /// Sets [`StoreConfig::default_ttl`].
    pub fn with_default_ttl(mut self, ttl_ms: Option<u64>) -> Self {
        self.default_ttl = ttl_ms;
        self
    }

    /// Sets [`StoreConfig::max_ttl`].
    pub fn with_max_ttl(mut self, ttl_ms: Option<u64>) -> Self {
        self.max_ttl = ttl_ms;
        self
    }

    /// Sets [`StoreConfig::default_poll_interval`].
    pub fn with_default_poll_interval(mut self, interval_ms: Option<u64>) -> Self {
        self.default_poll_interval = interval_ms;
        self
    }

    /// Sets [`StoreConfig::page_size`] and [`StoreConfig::max_page_size`].
    pub fn with_page_size(mut self, default: usize, max: usize) -> Self {
        self.page_size = default;
        self.max_page_size = max;
        self
    }

    /// Sets [`StoreConfig::max_tasks_per_owner`].
    pub fn with_max_tasks_per_owner(mut self, max: Option<u64>) -> Self {
        self.max_tasks_per_owner = max;
        self
    }

    /// Sets [`StoreConfig::max_tasks`].
    pub fn with_max_tasks(mut self, max: Option<u64>) -> Self {
        self.max_tasks = max;
        self
    }

    /// Sets [`StoreConfig::max_payload_bytes`].
    pub fn with_max_payload_bytes(mut self, max: usize) -> Self {
        self.max_payload_bytes = max;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_defaults_then_clamps() {
        let open = StoreConfig::default();
        assert_eq!(open.effective_ttl(None), None);
        assert_eq!(open.effective_ttl(Some(5)), Some(5));
        let capped = open.with_default_ttl(Some(10)).with_max_ttl(Some(100));
        assert_eq!(capped.effective_ttl(None), Some(10));
        assert_eq!(capped.effective_ttl(Some(50)), Some(50));
        assert_eq!(capped.effective_ttl(Some(500)), Some(100));
        let cap_only = StoreConfig::default().with_max_ttl(Some(100));
        assert_eq!(cap_only.effective_ttl(None), Some(100));
    }

    #[test]
    fn page_limit_is_clamped() {
        let config = StoreConfig::default().with_page_size(10, 50);
        assert_eq!(config.page_limit(None).unwrap(), 10);
        assert_eq!(config.page_limit(Some(20)).unwrap(), 20);
        assert_eq!(config.page_limit(Some(500)).unwrap(), 50);
        assert!(config.page_limit(Some(0)).is_err());
    }
}
