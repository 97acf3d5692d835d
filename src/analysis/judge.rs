//! Judging measurements: each one, each metric, the whole analysis.
//!
//! The rules, as Argo Rollouts documents them:
//!
//! - **assess-measurement**: an error is an error; a value meeting the
//!   failure condition is failed; otherwise one meeting the success
//!   condition is successful; one meeting neither is inconclusive when
//!   both are given, failed when only the success condition is given, and
//!   successful when only the failure condition (or none) is.
//! - **failure-limit**: one failed measurement more than the limit fails
//!   the metric at once.
//! - **inconclusive-limit**: one inconclusive measurement more than the
//!   limit makes the metric inconclusive at once.
//! - **consecutive-error-limit**: one error more than the limit, in a row,
//!   makes the metric an error; a measurement with a value resets the run.
//! - **count**: a metric is successful once `count` measurements (errors
//!   included) were taken without any limit passed; running before.
//! - **dry-run**: a dry-run metric is judged and reported, never deciding.
//! - **analysis-phase**: the analysis is failed if a deciding metric
//!   failed, else an error if one is, else inconclusive if one is, else
//!   running if one is, else successful. Measurements are judged in time
//!   order; those past `count` are ignored.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Analysis, Measured, Measurement, MetricCheck};

/// What one measurement says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MeasurementPhase {
    /// Meets the success condition (or the failure condition is not met).
    Successful,
    /// Meets the failure condition (or misses the only success condition).
    Failed,
    /// Meets neither of two conditions: a person decides.
    Inconclusive,
    /// No value.
    Error,
}

/// Where a metric or an analysis stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// Every metric took its measurements within its limits: healthy.
    Successful,
    /// More measurements are due.
    Running,
    /// Too many inconclusive measurements: a person decides.
    Inconclusive,
    /// Too many errors in a row: nothing could be measured.
    Error,
    /// Too many failed measurements: unhealthy.
    Failed,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Successful => "healthy",
            Self::Running => "running",
            Self::Inconclusive => "inconclusive",
            Self::Error => "error",
            Self::Failed => "unhealthy",
        })
    }
}

/// Judges one measurement by `check`'s conditions (rule
/// **assess-measurement**).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use knowngood::analysis::{Condition, Measurement, MeasurementPhase, MetricCheck, assess};
/// let check = MetricCheck::new("p99", "q")
///     .success(Condition::Below(200.0))
///     .failure(Condition::Above(400.0));
/// let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// assert_eq!(assess(&check, &Measurement::value(at, 300.0)), MeasurementPhase::Inconclusive);
/// ```
pub fn assess(check: &MetricCheck, measurement: &Measurement) -> MeasurementPhase {
    let value = match &measurement.value {
        Measured::Value(v) => *v,
        Measured::Error(_) => return MeasurementPhase::Error,
    };
    if check.failure.is_some_and(|c| c.holds(value)) {
        return MeasurementPhase::Failed;
    }
    match (check.success, check.failure) {
        (Some(success), _) if success.holds(value) => MeasurementPhase::Successful,
        (Some(_), Some(_)) => MeasurementPhase::Inconclusive,
        (Some(_), None) => MeasurementPhase::Failed,
        (None, _) => MeasurementPhase::Successful,
    }
}

/// A metric's verdict, with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MetricVerdict {
    /// The metric.
    pub metric: String,
    /// Where it stands.
    pub phase: Phase,
    /// Whether it only reports.
    pub dry_run: bool,
    /// Measurements judged (at most `count`).
    pub measured: u32,
    /// Successful ones.
    pub successful: u32,
    /// Failed ones.
    pub failed: u32,
    /// Inconclusive ones.
    pub inconclusive: u32,
    /// Errors.
    pub errors: u32,
    /// The values judged, in time order (errors left out).
    pub values: Vec<f64>,
    /// The success condition they were judged by.
    pub success: Option<super::Condition>,
    /// The failure condition they were judged by.
    pub failure: Option<super::Condition>,
    /// The rule that decided, with its numbers (`None` while running).
    pub reason: Option<String>,
}

impl fmt::Display for MetricVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{} {}: {} measured ({} ok, {} failed, {} inconclusive, {} errors)",
            self.metric,
            if self.dry_run { " (dry run)" } else { "" },
            self.phase,
            self.measured,
            self.successful,
            self.failed,
            self.inconclusive,
            self.errors
        )?;
        // The values (the last twelve when there are more) and what they
        // were held against.
        if !self.values.is_empty() {
            let shown = self.values.len().saturating_sub(12);
            let values: Vec<String> = self
                .values
                .iter()
                .skip(shown)
                .map(|v| super::rounded(*v))
                .collect();
            write!(
                f,
                ", values [{}{}]",
                if shown > 0 { "…, " } else { "" },
                values.join(", ")
            )?;
        }
        write!(
            f,
            " against success {} and failure {}",
            show(self.success),
            show(self.failure)
        )?;
        if let Some(reason) = &self.reason {
            write!(f, "; {reason}")?;
        }
        Ok(())
    }
}

fn over(count: u32, limit: Option<u32>) -> bool {
    limit.is_some_and(|limit| count > limit)
}

fn judge_metric(check: &MetricCheck, measurements: &[Measurement]) -> MetricVerdict {
    let mut ordered: Vec<&Measurement> = measurements.iter().collect();
    ordered.sort_by_key(|m| m.at);
    let mut verdict = MetricVerdict {
        metric: check.name.clone(),
        phase: Phase::Running,
        dry_run: check.dry_run,
        measured: 0,
        successful: 0,
        failed: 0,
        inconclusive: 0,
        errors: 0,
        values: Vec::new(),
        success: check.success,
        failure: check.failure,
        reason: None,
    };
    let mut in_a_row = 0_u32;
    let limit = |l: Option<u32>| l.map_or_else(|| "no limit".to_owned(), |l| format!("limit {l}"));
    for measurement in ordered.into_iter().take(check.count as usize) {
        verdict.measured = verdict.measured.saturating_add(1);
        if let Measured::Value(v) = measurement.value {
            verdict.values.push(v);
        }
        match assess(check, measurement) {
            MeasurementPhase::Successful => {
                verdict.successful = verdict.successful.saturating_add(1);
            }
            MeasurementPhase::Failed => verdict.failed = verdict.failed.saturating_add(1),
            MeasurementPhase::Inconclusive => {
                verdict.inconclusive = verdict.inconclusive.saturating_add(1);
            }
            MeasurementPhase::Error => verdict.errors = verdict.errors.saturating_add(1),
        }
        // A value ends a run of errors; an error extends it.
        let last_error = match &measurement.value {
            Measured::Error(why) => Some(why.as_str()),
            Measured::Value(_) => None,
        };
        in_a_row = last_error.map_or(0, |_| in_a_row.saturating_add(1));
        // The first limit passed stops the metric at once, in this order.
        let stop = if over(verdict.failed, check.failure_limit) {
            Some((
                Phase::Failed,
                format!(
                    "{} failed ({}), condition {}",
                    verdict.failed,
                    limit(check.failure_limit),
                    check
                        .failure
                        .map_or_else(|| format!("not {}", show(check.success)), |c| c.to_string())
                ),
            ))
        } else if in_a_row > check.consecutive_error_limit {
            Some((
                Phase::Error,
                format!(
                    "{in_a_row} errors in a row (limit {}), the last: {}",
                    check.consecutive_error_limit,
                    last_error.unwrap_or_default()
                ),
            ))
        } else if over(verdict.inconclusive, check.inconclusive_limit) {
            Some((
                Phase::Inconclusive,
                format!(
                    "{} inconclusive ({}): neither {} nor {}; a person decides whether to go on or roll back",
                    verdict.inconclusive,
                    limit(check.inconclusive_limit),
                    show(check.success),
                    show(check.failure)
                ),
            ))
        } else {
            None
        };
        if let Some((phase, reason)) = stop {
            verdict.phase = phase;
            verdict.reason = Some(reason);
            return verdict;
        }
    }
    if verdict.measured >= check.count {
        verdict.phase = Phase::Successful;
        verdict.reason = Some(format!(
            "{} of {} measurements within the limits",
            verdict.measured, check.count
        ));
    }
    verdict
}

fn show(condition: Option<super::Condition>) -> String {
    condition.map_or_else(|| "no condition".to_owned(), |c| c.to_string())
}

/// An analysis's verdict: its phase, the metric that decided, and every
/// metric's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AnalysisVerdict {
    /// Where the analysis stands.
    pub phase: Phase,
    /// The metric that decided it (`None` when successful or running).
    pub decided_by: Option<String>,
    /// Every metric, dry runs included, in the analysis's order.
    pub metrics: Vec<MetricVerdict>,
}

impl AnalysisVerdict {
    /// Whether the analysis says healthy.
    pub fn is_healthy(&self) -> bool {
        self.phase == Phase::Successful
    }
}

impl fmt::Display for AnalysisVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.phase)?;
        if let Some(by) = &self.decided_by {
            write!(f, " (decided by {by})")?;
        }
        for metric in &self.metrics {
            write!(f, "; {metric}")?;
        }
        Ok(())
    }
}

/// Judges `analysis` on `measured` (each metric's measurements, by name;
/// a metric with none is running). See the module's rules.
pub fn judge(
    analysis: &Analysis,
    measured: &BTreeMap<String, Vec<Measurement>>,
) -> AnalysisVerdict {
    let metrics: Vec<MetricVerdict> = analysis
        .metrics
        .iter()
        .map(|check| {
            judge_metric(
                check,
                measured.get(&check.name).map_or(&[][..], Vec::as_slice),
            )
        })
        .collect();
    // The worst deciding phase, the first metric with it.
    let deciding = metrics.iter().filter(|m| !m.dry_run);
    let phase = deciding
        .clone()
        .map(|m| m.phase)
        .max()
        .unwrap_or(Phase::Successful);
    let decided_by = matches!(phase, Phase::Failed | Phase::Error | Phase::Inconclusive)
        .then(|| {
            deciding
                .filter(|m| m.phase == phase)
                .map(|m| m.metric.clone())
                .next()
        })
        .flatten();
    AnalysisVerdict {
        phase,
        decided_by,
        metrics,
    }
}
