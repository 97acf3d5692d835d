//! A clock that moves only when told.

use crate::port::Clock;
use chrono::{DateTime, Duration, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

/// A clock that moves only when told, or by a fixed tick every time it is
/// read (time passes between every command, deterministically).
///
/// The clock never wraps: past the last time `chrono` can represent it
/// stays there, and [`ManualClock::overflowed`] says so (a drill whose
/// clock overflowed fails).
#[derive(Debug)]
pub struct ManualClock {
    seconds: AtomicI64,
    tick: i64,
    overflowed: std::sync::atomic::AtomicBool,
}

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn at(at: DateTime<Utc>) -> Self {
        Self::ticking(at, Duration::zero())
    }

    /// A clock at `at` that moves forward by `tick` every time it is read.
    ///
    /// ```
    /// use chrono::{Duration, TimeZone, Utc};
    /// use knowngood::memory::ManualClock;
    /// use knowngood::port::Clock;
    /// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let clock = ManualClock::ticking(t0, Duration::seconds(5));
    /// assert_eq!(clock.now(), t0);
    /// assert_eq!(clock.now(), t0 + Duration::seconds(5));
    /// ```
    pub fn ticking(at: DateTime<Utc>, tick: Duration) -> Self {
        Self {
            seconds: AtomicI64::new(at.timestamp()),
            tick: tick.num_seconds().max(0),
            overflowed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Moves the clock forward (never backward: a negative `by` is
    /// ignored).
    pub fn advance(&self, by: Duration) {
        self.forward(by.num_seconds());
    }

    /// Whether the clock was asked to go past the last time `chrono` can
    /// represent (it stays there).
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::SeqCst)
    }

    /// Moves forward by `seconds`, saturating; returns the time before.
    fn forward(&self, seconds: i64) -> i64 {
        let step = seconds.max(0);
        let mut before = self.seconds.load(Ordering::SeqCst);
        loop {
            let after = before.saturating_add(step);
            match self
                .seconds
                .compare_exchange(before, after, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return before,
                Err(actual) => before = actual,
            }
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let at = self.forward(self.tick);
        DateTime::from_timestamp(at, 0).unwrap_or_else(|| {
            self.overflowed.store(true, Ordering::SeqCst);
            DateTime::<Utc>::MAX_UTC
        })
    }
}
