//! The current time for expiry checks, read cheaply when an exact reading cannot change the
//! answer.
//!
//! The precise wall clock costs about 40 ns a read on a virtual machine, a fifth of a whole
//! `get`. Linux's coarse wall clock (the time of the last timer tick) costs about 5 ns and is
//! never ahead of the precise one, only up to a few ms behind it. So when a task's expiry lies
//! more than [`MARGIN_MS`] past the coarse reading, the task is certainly live, and the precise
//! clock is read only for tasks that expire within about a second.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Expiries further than this past the coarse reading need no precise reading.
const MARGIN_MS: i64 = 1_000;

/// "Now" for one call: the coarse reading, and the precise one once it is needed.
pub(crate) struct Now {
    coarse: Option<i64>,
    precise: Cell<Option<i64>>,
}

impl Now {
    /// For reads: the coarse clock now, the precise one on demand.
    pub(crate) fn lazy() -> Self {
        Now {
            coarse: coarse_ms(),
            precise: Cell::new(None),
        }
    }

    /// For writes, which stamp the precise time anyway.
    pub(crate) fn precise() -> Self {
        let ms = precise_ms();
        Now {
            coarse: Some(ms),
            precise: Cell::new(Some(ms)),
        }
    }

    /// The precise time in ms since the epoch.
    pub(crate) fn ms(&self) -> i64 {
        match self.precise.get() {
            Some(ms) => ms,
            None => {
                let ms = precise_ms();
                self.precise.set(Some(ms));
                ms
            }
        }
    }

    /// Whether the instant `at` (ms since the epoch) is still to come.
    pub(crate) fn before(&self, at: i64) -> bool {
        if self
            .coarse
            .is_some_and(|coarse| at.saturating_sub(coarse) > MARGIN_MS)
        {
            return true;
        }
        self.ms() < at
    }
}

/// The wall clock in ms since the epoch, read without building a calendar date.
pub(crate) fn precise_ms() -> i64 {
    #[cfg(test)]
    if let Some(ms) = manual::read() {
        return ms;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The coarse wall clock in ms, if the platform has one.
#[cfg(target_os = "linux")]
fn coarse_ms() -> Option<i64> {
    #[cfg(test)]
    if let Some(ms) = manual::read() {
        return Some(ms);
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes only to the `timespec` it is given, which lives on this
    // stack frame for the whole call.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    (status == 0).then(|| ts.tv_sec.saturating_mul(1_000) + ts.tv_nsec / 1_000_000)
}

#[cfg(not(target_os = "linux"))]
fn coarse_ms() -> Option<i64> {
    None
}

/// A clock the tests set by hand, for the thread that sets it: the store then reads its time
/// from it, coarse and precise alike.
#[cfg(test)]
pub(crate) mod manual {
    use std::cell::RefCell;

    type Clock = Box<dyn FnMut() -> i64>;

    thread_local! {
        static CLOCK: RefCell<Option<Clock>> = const { RefCell::new(None) };
    }

    /// Sets the clock until the guard drops.
    pub(crate) fn set(clock: impl FnMut() -> i64 + 'static) -> Guard {
        CLOCK.with(|c| *c.borrow_mut() = Some(Box::new(clock)));
        Guard
    }

    pub(crate) fn read() -> Option<i64> {
        CLOCK.with(|c| c.borrow_mut().as_mut().map(|clock| clock()))
    }

    /// Puts the real clock back.
    pub(crate) struct Guard;

    impl Drop for Guard {
        fn drop(&mut self) {
            CLOCK.with(|c| *c.borrow_mut() = None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_clock_is_never_ahead_and_lags_less_than_the_margin() {
        for _ in 0..1_000 {
            let coarse = coarse_ms();
            let precise = precise_ms();
            if let Some(coarse) = coarse {
                assert!(
                    coarse <= precise,
                    "coarse {coarse} ahead of precise {precise}"
                );
                assert!(
                    precise - coarse < MARGIN_MS,
                    "coarse lags {} ms",
                    precise - coarse
                );
            }
        }
    }

    #[test]
    fn before_agrees_with_the_precise_clock() {
        let now = Now::lazy();
        let reference = precise_ms();
        // Far future and far past need no care; near instants go through the precise clock.
        assert!(now.before(reference + 10 * MARGIN_MS));
        assert!(!now.before(reference - 10 * MARGIN_MS));
        assert!(!now.before(reference - 1));
        assert!(now.before(i64::MAX));
        assert!(!now.before(i64::MIN));
        let fixed = Now::precise();
        assert!(fixed.before(fixed.ms() + 1));
        assert!(!fixed.before(fixed.ms()));
    }
}
