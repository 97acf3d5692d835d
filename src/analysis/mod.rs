//! Metric analysis: whether a release is healthy, judged from measurements
//! as pure functions of the values and their times (no clock, no I/O).
//!
//! An [`Analysis`] is one or more [`MetricCheck`]s. Each names a query the
//! host's metrics port answers (opaque here), a success and a failure
//! [`Condition`], when to measure (`initial_delay`, then every `interval`,
//! `count` times) and how many bad measurements it tolerates
//! (`failure_limit`, `inconclusive_limit`, `consecutive_error_limit`). A
//! dry-run metric is judged and reported but never decides. The
//! semantics follow Argo Rollouts' analysis (see [`judge`] for each
//! rule). [`compare`] judges a canary's samples against its baseline's
//! with a Mann–Whitney U test and an allowed effect size, as Kayenta does.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use knowngood::analysis::{Analysis, Condition, Measurement, MetricCheck, Phase, judge};
//! let errors = MetricCheck::new("error-rate", "sum(rate(errors[1m]))")
//!     .success(Condition::AtMost(0.01))
//!     .failure(Condition::Above(0.05))
//!     .count(3);
//! let analysis = Analysis::new([errors])?;
//! let at = |s| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, s).unwrap();
//! let measured = [(
//!     "error-rate".to_owned(),
//!     vec![
//!         Measurement::value(at(0), 0.002),
//!         Measurement::value(at(10), 0.004),
//!         Measurement::value(at(20), 0.09),
//!     ],
//! )];
//! let verdict = judge(&analysis, &measured.into_iter().collect());
//! assert_eq!(verdict.phase, Phase::Failed);
//! assert_eq!(verdict.decided_by.as_deref(), Some("error-rate"));
//! # Ok::<(), knowngood::analysis::AnalysisError>(())
//! ```

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod compare;
mod judge;

pub use compare::{Comparison, ComparisonVerdict, Worse, compare};
pub use judge::{AnalysisVerdict, MeasurementPhase, MetricVerdict, Phase, assess, judge};

/// `value` to six significant digits, without trailing zeros: how
/// verdicts write the numbers they judged.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "the digit count is a small whole number"
)]
pub(crate) fn rounded(value: f64) -> String {
    if !value.is_finite() || value == 0.0 {
        return value.to_string();
    }
    let magnitude = value.abs().log10().floor();
    let decimals = (5.0 - magnitude).clamp(0.0, 17.0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// A condition on one measured value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Condition {
    /// `value < limit`.
    Below(f64),
    /// `value <= limit`.
    AtMost(f64),
    /// `value > limit`.
    Above(f64),
    /// `value >= limit`.
    AtLeast(f64),
    /// `low <= value <= high`.
    Within {
        /// The lower bound, included.
        low: f64,
        /// The upper bound, included.
        high: f64,
    },
    /// `value < low` or `value > high`.
    Outside {
        /// Below this is outside.
        low: f64,
        /// Above this is outside.
        high: f64,
    },
}

impl Condition {
    /// Whether `value` meets the condition.
    ///
    /// ```
    /// use knowngood::analysis::Condition;
    /// assert!(Condition::Within { low: 0.0, high: 1.0 }.holds(1.0));
    /// assert!(!Condition::Below(1.0).holds(1.0));
    /// ```
    pub fn holds(&self, value: f64) -> bool {
        match *self {
            Self::Below(limit) => value < limit,
            Self::AtMost(limit) => value <= limit,
            Self::Above(limit) => value > limit,
            Self::AtLeast(limit) => value >= limit,
            Self::Within { low, high } => low <= value && value <= high,
            Self::Outside { low, high } => value < low || value > high,
        }
    }

    /// Why the condition cannot judge anything (a bound that is not a
    /// number, a range whose low end is above its high end), if so.
    fn problem(&self) -> Option<String> {
        let bounds = match *self {
            Self::Below(l) | Self::AtMost(l) | Self::Above(l) | Self::AtLeast(l) => vec![l],
            Self::Within { low, high } | Self::Outside { low, high } => vec![low, high],
        };
        if let Some(b) = bounds.iter().find(|b| !b.is_finite()) {
            return Some(format!("a bound is {b}, not a finite number"));
        }
        match *self {
            Self::Within { low, high } | Self::Outside { low, high } if low > high => Some(
                format!("its low bound {low} is above its high bound {high}"),
            ),
            _ => None,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Below(l) => write!(f, "< {l}"),
            Self::AtMost(l) => write!(f, "<= {l}"),
            Self::Above(l) => write!(f, "> {l}"),
            Self::AtLeast(l) => write!(f, ">= {l}"),
            Self::Within { low, high } => write!(f, "within [{low}, {high}]"),
            Self::Outside { low, high } => write!(f, "outside [{low}, {high}]"),
        }
    }
}

/// One metric of an analysis: what to ask, how to judge each answer, when
/// to ask, and how much bad news it tolerates. In a file, only `name` and
/// `query` are needed; the rest default as [`MetricCheck::new`] sets them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MetricCheck {
    /// Its name, unique in the analysis.
    pub name: String,
    /// The query the metrics port answers (opaque to the core).
    pub query: String,
    /// A measurement meeting this is successful.
    #[serde(default)]
    pub success: Option<Condition>,
    /// A measurement meeting this is failed (checked first).
    #[serde(default)]
    pub failure: Option<Condition>,
    /// Seconds between measurements (60 unless set).
    #[serde(default = "sixty")]
    pub interval_seconds: u32,
    /// How many measurements to take (at least 1; 1 unless set).
    #[serde(default = "one")]
    pub count: u32,
    /// Seconds to wait before the first.
    #[serde(default)]
    pub initial_delay_seconds: u32,
    /// Failed measurements tolerated; one more fails the metric (`None`:
    /// any number). Default 0.
    #[serde(default = "zero")]
    pub failure_limit: Option<u32>,
    /// Inconclusive measurements tolerated; one more makes the metric
    /// inconclusive (`None`: any number). Default 0.
    #[serde(default = "zero")]
    pub inconclusive_limit: Option<u32>,
    /// Errors in a row tolerated; one more makes the metric an error.
    /// Default 4.
    #[serde(default = "four")]
    pub consecutive_error_limit: u32,
    /// Judged and reported, never deciding.
    #[serde(default)]
    pub dry_run: bool,
}

fn sixty() -> u32 {
    60
}
fn one() -> u32 {
    1
}
#[allow(clippy::unnecessary_wraps)] // serde's default for an `Option` field
fn zero() -> Option<u32> {
    Some(0)
}
fn four() -> u32 {
    4
}

impl MetricCheck {
    /// A metric measured once, right away, with no condition yet (every
    /// value is then successful), no failure or inconclusive measurement
    /// tolerated and four errors in a row.
    pub fn new(name: impl Into<String>, query: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            query: query.into(),
            success: None,
            failure: None,
            interval_seconds: 60,
            count: 1,
            initial_delay_seconds: 0,
            failure_limit: Some(0),
            inconclusive_limit: Some(0),
            consecutive_error_limit: 4,
            dry_run: false,
        }
    }

    /// A measurement meeting `condition` is successful.
    #[must_use]
    pub fn success(mut self, condition: Condition) -> Self {
        self.success = Some(condition);
        self
    }

    /// A measurement meeting `condition` is failed.
    #[must_use]
    pub fn failure(mut self, condition: Condition) -> Self {
        self.failure = Some(condition);
        self
    }

    /// Takes `count` measurements.
    #[must_use]
    pub fn count(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// Measures every `seconds`.
    #[must_use]
    pub fn every(mut self, seconds: u32) -> Self {
        self.interval_seconds = seconds;
        self
    }

    /// Waits `seconds` before the first measurement.
    #[must_use]
    pub fn initial_delay(mut self, seconds: u32) -> Self {
        self.initial_delay_seconds = seconds;
        self
    }

    /// Tolerates `limit` failed measurements (`None`: any number).
    #[must_use]
    pub fn failure_limit(mut self, limit: Option<u32>) -> Self {
        self.failure_limit = limit;
        self
    }

    /// Tolerates `limit` inconclusive measurements (`None`: any number).
    #[must_use]
    pub fn inconclusive_limit(mut self, limit: Option<u32>) -> Self {
        self.inconclusive_limit = limit;
        self
    }

    /// Tolerates `limit` errors in a row.
    #[must_use]
    pub fn consecutive_error_limit(mut self, limit: u32) -> Self {
        self.consecutive_error_limit = limit;
        self
    }

    /// Reported, never deciding.
    #[must_use]
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// When measurement number `taken` (from 0) is due for an analysis
    /// started at `started`: after the initial delay, then every interval;
    /// `None` once `count` were taken.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use knowngood::analysis::MetricCheck;
    /// let check = MetricCheck::new("p99", "q").initial_delay(30).every(10).count(2);
    /// let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// assert_eq!(check.due(start, 1), Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 40).unwrap()));
    /// assert_eq!(check.due(start, 2), None);
    /// ```
    pub fn due(&self, started: DateTime<Utc>, taken: u32) -> Option<DateTime<Utc>> {
        if taken >= self.count {
            return None;
        }
        let seconds = u64::from(self.initial_delay_seconds)
            .saturating_add(u64::from(self.interval_seconds).saturating_mul(u64::from(taken)));
        let offset = chrono::Duration::try_seconds(i64::try_from(seconds).ok()?)?;
        started.checked_add_signed(offset)
    }

    fn problem(&self) -> Option<String> {
        if self.name.trim().is_empty() {
            return Some("has no name".to_owned());
        }
        if self.count == 0 {
            return Some("takes no measurement (`count` is 0)".to_owned());
        }
        for (which, condition) in [("success", &self.success), ("failure", &self.failure)] {
            if let Some(problem) = condition.as_ref().and_then(Condition::problem) {
                return Some(format!("has a {which} condition where {problem}"));
            }
        }
        None
    }
}

/// The metrics that judge a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Analysis {
    /// The metrics, each with a name of its own.
    pub metrics: Vec<MetricCheck>,
}

impl Analysis {
    /// An analysis of `metrics`: at least one, names unique, each taking at
    /// least one measurement, conditions with finite bounds.
    pub fn new(metrics: impl IntoIterator<Item = MetricCheck>) -> Result<Self, AnalysisError> {
        let metrics: Vec<MetricCheck> = metrics.into_iter().collect();
        if metrics.is_empty() {
            return Err(AnalysisError::NoMetric);
        }
        let mut names = std::collections::BTreeSet::new();
        for metric in &metrics {
            if let Some(problem) = metric.problem() {
                return Err(AnalysisError::BadMetric {
                    metric: metric.name.clone(),
                    problem,
                });
            }
            if !names.insert(metric.name.as_str()) {
                return Err(AnalysisError::DuplicateMetric {
                    metric: metric.name.clone(),
                });
            }
        }
        Ok(Self { metrics })
    }

    /// The metric named `name`.
    pub fn metric(&self, name: &str) -> Option<&MetricCheck> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

/// One answer of the metrics port: a value, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Measurement {
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// What it says.
    pub value: Measured,
}

/// What a measurement says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Measured {
    /// A number.
    Value(f64),
    /// No number: the query failed, the series is missing, the answer was
    /// not a finite number.
    Error(String),
}

impl Measurement {
    /// A value taken at `at` (a value that is not a finite number is an
    /// error: nothing can be judged from it).
    pub fn value(at: DateTime<Utc>, value: f64) -> Self {
        let value = if value.is_finite() {
            Measured::Value(value)
        } else {
            Measured::Error(format!("the answer is {value}, not a finite number"))
        };
        Self { at, value }
    }

    /// A failed measurement taken at `at`.
    pub fn error(at: DateTime<Utc>, why: impl Into<String>) -> Self {
        Self {
            at,
            value: Measured::Error(why.into()),
        }
    }
}

/// An analysis or a comparison that cannot be judged as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisError {
    /// An analysis with no metric judges nothing.
    #[error("an analysis needs at least one metric")]
    NoMetric,
    /// Two metrics with one name.
    #[error("metric `{metric}` is named twice: give each metric a name of its own")]
    DuplicateMetric {
        /// The name.
        metric: String,
    },
    /// A metric that cannot judge anything.
    #[error("metric `{metric}` {problem}")]
    BadMetric {
        /// Which.
        metric: String,
        /// What is wrong.
        problem: String,
    },
    /// A comparison with too few samples on one side.
    #[error(
        "comparing `{metric}` needs at least {needed} samples on each side; the baseline has {baseline}, the canary {canary}"
    )]
    TooFewSamples {
        /// Which metric.
        metric: String,
        /// The least on each side.
        needed: usize,
        /// The baseline's.
        baseline: usize,
        /// The canary's.
        canary: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::rounded;

    #[test]
    fn verdicts_write_six_significant_digits_and_no_trailing_zeros() {
        assert_eq!(rounded(0.002_019_729_438_969_170_5), "0.00201973");
        assert_eq!(rounded(257.982_889_864_285_94), "257.983");
        assert_eq!(rounded(0.4), "0.4");
        assert_eq!(rounded(1_234_567.8), "1234568");
        assert_eq!(rounded(-0.05), "-0.05");
        assert_eq!(rounded(0.0), "0");
        assert_eq!(rounded(f64::NAN), "NaN");
    }
}
