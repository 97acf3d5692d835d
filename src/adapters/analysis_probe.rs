//! A [`HealthProbe`] that measures: it judges an [`Analysis`] on what the
//! host's [`Metrics`] source says about the release, and answers with the
//! verdict and its numbers as the evidence the driver records.
//!
//! It looks back, so that a verification needs no timer: asked at `now`,
//! each metric's `count` measurements are the instants `now − (count − 1)
//! × interval`, …, `now`, read with one range query (the query's
//! `{environment}`, `{service}` and `{release}` filled in first). An
//! instant the source has no value for is an error measurement; a query
//! that fails makes every instant one (so the metric's
//! `consecutive_error_limit` decides). The metric's `initial_delay` is the
//! host's to respect by asking late enough.
//!
//! Healthy only when the analysis is successful. Running (the source has
//! fewer points than asked for), inconclusive and error verdicts are not
//! healthy, and say so: a person or a later drive decides.
//!
//! With [`comparing`](AnalysisProbe::comparing), a new release is also
//! judged against its baseline when the driver names one
//! ([`HealthProbe::verify_against`]): each compared metric's samples of
//! the release (the ones the analysis measured) against the baseline's
//! over the same instants, with [`compare`] (rule
//! **canary-worse-than-baseline**). A comparison that cannot be made (the
//! baseline has too few samples, or its query fails) is not healthy
//! either, and says why: a canary is compared with a baseline serving
//! beside it, as Kayenta runs them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::analysis::{
    Analysis, AnalysisError, AnalysisVerdict, Comparison, ComparisonVerdict, Measured, Measurement,
    MetricCheck, compare, judge,
};
use crate::model::{EnvironmentId, ReleaseId, ServiceId};
use crate::port::{AdapterError, Clock, Health, HealthProbe, Metrics, fill_query};

/// A health probe judging an [`Analysis`] on a [`Metrics`] source.
///
/// ```
/// use std::sync::Arc;
/// use chrono::{TimeZone, Utc};
/// use knowngood::adapters::AnalysisProbe;
/// use knowngood::analysis::{Analysis, Condition, MetricCheck};
/// use knowngood::memory::{InMemoryMetrics, ManualClock, Series, block_on};
/// use knowngood::port::HealthProbe;
/// let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 10, 0).unwrap();
/// let metrics = Arc::new(InMemoryMetrics::default());
/// metrics.script(r#"errors{release="payments@2"}"#, Series::Steady(0.3));
/// let analysis = Analysis::new([MetricCheck::new("errors", r#"errors{release="{release}"}"#)
///     .failure(Condition::Above(0.05))
///     .count(3)
///     .every(60)])?;
/// let probe = AnalysisProbe::new(metrics, analysis, Arc::new(ManualClock::at(now)));
/// let health = block_on(probe.verify(&"prod".into(), &"payments".into(), &"payments@2".into())).unwrap();
/// assert!(!health.healthy);
/// assert!(health.detail.starts_with("unhealthy (decided by errors)"), "{}", health.detail);
/// # Ok::<(), knowngood::analysis::AnalysisError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AnalysisProbe {
    metrics: Arc<dyn Metrics>,
    analysis: Analysis,
    comparisons: Vec<Comparison>,
    clock: Arc<dyn Clock>,
}

impl AnalysisProbe {
    /// Judges `analysis` on `metrics`, looking back from `clock`'s now.
    pub fn new(metrics: Arc<dyn Metrics>, analysis: Analysis, clock: Arc<dyn Clock>) -> Self {
        Self {
            metrics,
            analysis,
            comparisons: Vec::new(),
            clock,
        }
    }

    /// Also judges a new release against its baseline, one
    /// [`Comparison`] per metric of the analysis (see the module).
    ///
    /// # Errors
    ///
    /// [`AnalysisError::BadMetric`] when a comparison names a metric the
    /// analysis does not measure, names one twice, or asks for a
    /// confidence outside (0, 1) or a negative or non-finite allowed
    /// effect.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use chrono::{TimeZone, Utc};
    /// use knowngood::adapters::AnalysisProbe;
    /// use knowngood::analysis::{Analysis, Comparison, Condition, MetricCheck, Worse};
    /// use knowngood::memory::{InMemoryMetrics, ManualClock, Series, block_on};
    /// use knowngood::port::HealthProbe;
    /// let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 30, 0).unwrap();
    /// let metrics = Arc::new(InMemoryMetrics::default());
    /// let p99 = |release: &str| format!(r#"p99{{release="{release}"}}"#);
    /// metrics.script(p99("payments@1"), Series::Noisy { base: 200.0, spread: 10.0, seed: 1 });
    /// metrics.script(p99("payments@2"), Series::Noisy { base: 300.0, spread: 10.0, seed: 2 });
    /// let analysis = Analysis::new([MetricCheck::new("p99", r#"p99{release="{release}"}"#)
    ///     .failure(Condition::Above(1000.0))
    ///     .count(20)
    ///     .every(60)])?;
    /// let probe = AnalysisProbe::new(metrics, analysis, Arc::new(ManualClock::at(now)))
    ///     .comparing([Comparison::new("p99", Worse::Higher, 0.1)])?;
    /// // Alone, the new release passes its thresholds…
    /// let alone = block_on(probe.verify(&"prod".into(), &"payments".into(), &"payments@2".into()));
    /// assert!(alone.unwrap().healthy);
    /// // …against its baseline, it is 50 % slower.
    /// let against = block_on(probe.verify_against(
    ///     &"prod".into(), &"payments".into(), &"payments@2".into(), &"payments@1".into()));
    /// let health = against.unwrap();
    /// assert!(!health.healthy);
    /// assert!(health.detail.contains("p99 fails"), "{}", health.detail);
    /// # Ok::<(), knowngood::analysis::AnalysisError>(())
    /// ```
    pub fn comparing(
        mut self,
        comparisons: impl IntoIterator<Item = Comparison>,
    ) -> Result<Self, AnalysisError> {
        let comparisons: Vec<Comparison> = comparisons.into_iter().collect();
        for (i, c) in comparisons.iter().enumerate() {
            let bad = |problem: &str| AnalysisError::BadMetric {
                metric: c.metric.clone(),
                problem: problem.to_owned(),
            };
            if self.analysis.metric(&c.metric).is_none() {
                return Err(bad(
                    "is compared, and the analysis does not measure it: add it to the analysis",
                ));
            }
            if comparisons.iter().take(i).any(|o| o.metric == c.metric) {
                return Err(bad("is compared twice: keep one comparison per metric"));
            }
            if !(c.confidence > 0.0 && c.confidence < 1.0) {
                return Err(bad(
                    "is compared at a confidence outside (0, 1): use 0.95 for 95 %",
                ));
            }
            if !(c.allowed_effect.is_finite() && c.allowed_effect >= 0.0) {
                return Err(bad(
                    "is compared allowing a negative or non-finite effect: use 0.1 for 10 %",
                ));
            }
        }
        self.comparisons = comparisons;
        Ok(self)
    }

    /// The verdict on `release` of `service` in `environment`, now.
    pub async fn judge(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        release: &ReleaseId,
    ) -> AnalysisVerdict {
        let measured = self
            .measure_all(environment, service, release, self.clock.now())
            .await;
        judge(&self.analysis, &measured)
    }

    /// The verdict on `release` against `baseline`, now: the analysis on
    /// `release` and each comparison.
    pub async fn judge_against(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        release: &ReleaseId,
        baseline: &ReleaseId,
    ) -> BaselineVerdict {
        let now = self.clock.now();
        let measured = self.measure_all(environment, service, release, now).await;
        let mut compared = Vec::new();
        for comparison in &self.comparisons {
            let Some(check) = self.analysis.metric(&comparison.metric) else {
                continue;
            };
            let canary = values(measured.get(&check.name).map_or(&[][..], Vec::as_slice));
            let base = values(
                &self
                    .measure(check, environment, service, baseline, now)
                    .await,
            );
            compared.push(
                compare(comparison, &base, &canary).map_err(|e| format!("not compared: {e}")),
            );
        }
        BaselineVerdict {
            analysis: judge(&self.analysis, &measured),
            baseline: baseline.clone(),
            comparisons: compared,
        }
    }

    /// Every metric's measurements of `release`, the last at `now`.
    async fn measure_all(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        release: &ReleaseId,
        now: DateTime<Utc>,
    ) -> BTreeMap<String, Vec<Measurement>> {
        let mut measured = BTreeMap::new();
        for check in &self.analysis.metrics {
            let taken = self
                .measure(check, environment, service, release, now)
                .await;
            measured.insert(check.name.clone(), taken);
        }
        measured
    }

    /// `check`'s `count` measurements of `release`, the last at `now`.
    async fn measure(
        &self,
        check: &MetricCheck,
        environment: &EnvironmentId,
        service: &ServiceId,
        release: &ReleaseId,
        now: DateTime<Utc>,
    ) -> Vec<Measurement> {
        let query = fill_query(
            &check.query,
            environment.as_str(),
            service.as_str(),
            release.as_str(),
        );
        let step = chrono::Duration::seconds(i64::from(check.interval_seconds.max(1)));
        let instants: Vec<DateTime<Utc>> = (0..check.count)
            .rev()
            .filter_map(|k| {
                step.checked_mul(i32::try_from(k).ok()?)
                    .and_then(|back| now.checked_sub_signed(back))
            })
            .collect();
        let Some(from) = instants.first().copied() else {
            return Vec::new();
        };
        let answered = self
            .metrics
            .range(&query, from, now, check.interval_seconds.max(1))
            .await;
        instants
            .iter()
            .map(|t| match &answered {
                Ok(points) => points.iter().find(|(at, _)| at == t).map_or_else(
                    || Measurement::error(*t, format!("`{query}` has no value at {t}")),
                    |(_, v)| Measurement::value(*t, *v),
                ),
                Err(e) => Measurement::error(*t, e.to_string()),
            })
            .collect()
    }
}

/// The values among `measurements` (errors left out).
fn values(measurements: &[Measurement]) -> Vec<f64> {
    measurements
        .iter()
        .filter_map(|m| match m.value {
            Measured::Value(v) => Some(v),
            _ => None,
        })
        .collect()
}

/// A release judged by the analysis and against its baseline.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BaselineVerdict {
    /// The analysis of the release on its own.
    pub analysis: AnalysisVerdict,
    /// The release it was compared with.
    pub baseline: ReleaseId,
    /// Each comparison's verdict, or why it could not be made.
    pub comparisons: Vec<Result<ComparisonVerdict, String>>,
}

impl BaselineVerdict {
    /// Healthy: the analysis is successful and every comparison was made
    /// and passes.
    pub fn is_healthy(&self) -> bool {
        self.analysis.is_healthy()
            && self
                .comparisons
                .iter()
                .all(|c| matches!(c, Ok(v) if v.pass))
    }
}

impl fmt::Display for BaselineVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} against baseline `{}`",
            if self.is_healthy() {
                "healthy"
            } else {
                "unhealthy"
            },
            self.baseline
        )?;
        for c in &self.comparisons {
            match c {
                Ok(v) => write!(f, "; {v}")?,
                Err(why) => write!(f, "; {why}")?,
            }
        }
        write!(f, "; the analysis alone: {}", self.analysis)
    }
}

#[async_trait]
impl HealthProbe for AnalysisProbe {
    async fn verify(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        release: &ReleaseId,
    ) -> Result<Health, AdapterError> {
        let verdict = self.judge(environment, service, release).await;
        Ok(Health::new(verdict.is_healthy(), verdict.to_string()))
    }

    async fn verify_against(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        release: &ReleaseId,
        baseline: &ReleaseId,
    ) -> Result<Health, AdapterError> {
        if self.comparisons.is_empty() {
            return self.verify(environment, service, release).await;
        }
        let verdict = self
            .judge_against(environment, service, release, baseline)
            .await;
        Ok(Health::new(verdict.is_healthy(), verdict.to_string()))
    }
}
