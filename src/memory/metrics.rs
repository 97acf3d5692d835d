//! A metrics source in memory, replaying scripted series: for drills and
//! tests that need a slow regression, a noisy metric, a missing series or
//! a flapping probe.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::lock;
use crate::port::{AdapterError, ErrorKind, Metrics};

/// What a scripted query answers over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Series {
    /// The same value always.
    Steady(f64),
    /// `before` until `at`, `after` from then on: a release that breaks
    /// the moment it serves.
    Step {
        /// When it changes.
        at: DateTime<Utc>,
        /// Before.
        before: f64,
        /// From then on.
        after: f64,
    },
    /// `from` until `since`, then moving linearly to `to` over `seconds`,
    /// then `to`: a slow regression.
    Ramp {
        /// When it starts to move.
        since: DateTime<Utc>,
        /// Where it starts.
        from: f64,
        /// Where it ends.
        to: f64,
        /// How long it takes.
        seconds: u32,
    },
    /// `base` plus up to `spread` either way, pseudo-random by the second
    /// (the same for the same `seed` and instant).
    Noisy {
        /// The middle.
        base: f64,
        /// The most it strays either way.
        spread: f64,
        /// Picks the noise.
        seed: u64,
    },
    /// `value` for `period_seconds`, then no data for as long, and again.
    Flapping {
        /// The value while there is one.
        value: f64,
        /// How long each half lasts.
        period_seconds: u32,
    },
    /// No data at all: the series is missing.
    Missing,
    /// These points: at an instant, the latest at or before it.
    Points(Vec<(DateTime<Utc>, f64)>),
}

impl Series {
    /// The value at `t`, if there is one.
    pub fn value_at(&self, t: DateTime<Utc>) -> Option<f64> {
        match self {
            Self::Steady(v) => Some(*v),
            Self::Step { at, before, after } => Some(if t < *at { *before } else { *after }),
            Self::Ramp {
                since,
                from,
                to,
                seconds,
            } => {
                #[allow(clippy::cast_precision_loss)]
                let elapsed = t.signed_duration_since(*since).num_milliseconds() as f64 / 1000.0;
                let share = if *seconds == 0 {
                    if elapsed >= 0.0 { 1.0 } else { 0.0 }
                } else {
                    (elapsed / f64::from(*seconds)).clamp(0.0, 1.0)
                };
                Some(from + (to - from) * share)
            }
            Self::Noisy { base, spread, seed } => {
                let mixed = u64::from_ne_bytes(t.timestamp().to_ne_bytes())
                    .wrapping_add(*seed)
                    .wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let mixed = (mixed ^ (mixed >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                // A fraction in [-1, 1] from the top bits.
                #[allow(clippy::cast_precision_loss)]
                let unit = (mixed >> 11) as f64 / (1_u64 << 53) as f64 * 2.0 - 1.0;
                Some(base + spread * unit)
            }
            Self::Flapping {
                value,
                period_seconds,
            } => {
                let period = i64::from((*period_seconds).max(1));
                (t.timestamp().div_euclid(period) % 2 == 0).then_some(*value)
            }
            Self::Missing => None,
            Self::Points(points) => points
                .iter()
                .filter(|(at, _)| *at <= t)
                .max_by_key(|(at, _)| *at)
                .map(|(_, v)| *v),
        }
    }
}

/// A metrics source in memory: each query answers its scripted
/// [`Series`]; a query never scripted is not found; the whole source can
/// be taken down.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use knowngood::memory::{InMemoryMetrics, Series, block_on};
/// use knowngood::port::Metrics;
/// let metrics = InMemoryMetrics::default();
/// let deploy = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
/// metrics.script("errors", Series::Step { at: deploy, before: 0.001, after: 0.4 });
/// assert_eq!(block_on(metrics.at("errors", deploy)).unwrap(), 0.4);
/// assert!(block_on(metrics.at("latency", deploy)).is_err());
/// ```
#[derive(Debug, Default)]
pub struct InMemoryMetrics {
    series: Mutex<BTreeMap<String, Series>>,
    down: AtomicBool,
}

impl InMemoryMetrics {
    /// `query` answers `series` from now on.
    pub fn script(&self, query: impl Into<String>, series: Series) {
        lock(&self.series).insert(query.into(), series);
    }

    /// Takes the whole source down (every call unavailable) or back up.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn series(&self, query: &str) -> Result<Series, AdapterError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(AdapterError::new(
                ErrorKind::Unavailable,
                "the metrics source is down",
            ));
        }
        lock(&self.series).get(query).cloned().ok_or_else(|| {
            AdapterError::new(ErrorKind::NotFound, format!("no series for `{query}`"))
        })
    }
}

#[async_trait]
impl Metrics for InMemoryMetrics {
    async fn at(&self, query: &str, at: DateTime<Utc>) -> Result<f64, AdapterError> {
        self.series(query)?.value_at(at).ok_or_else(|| {
            AdapterError::new(
                ErrorKind::NotFound,
                format!("`{query}` has no value at {at}"),
            )
        })
    }

    async fn range(
        &self,
        query: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        step_seconds: u32,
    ) -> Result<Vec<(DateTime<Utc>, f64)>, AdapterError> {
        let series = self.series(query)?;
        let step = chrono::Duration::seconds(i64::from(step_seconds.max(1)));
        let mut points = Vec::new();
        let mut t = from;
        while t <= to {
            if let Some(v) = series.value_at(t) {
                points.push((t, v));
            }
            match t.checked_add_signed(step) {
                Some(next) => t = next,
                None => break,
            }
        }
        Ok(points)
    }
}
