//! The clock the driver reads, and the real one.

use chrono::{DateTime, Utc};
use std::fmt;

/// Where the driver gets the time from (the core never reads a clock).
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock: the one place knowngood reads the time of day. The
/// core never does; hosts hand this to the driver.
///
/// ```
/// use knowngood::{Clock, SystemClock};
/// let now = SystemClock.now();
/// assert!(now.timestamp() > 1_700_000_000);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        // SystemClock: the one reading of the time of day in the library.
        let now = std::time::SystemTime::now(); // SystemClock
        DateTime::<Utc>::from(now)
    }
}
