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

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::analysis::{Analysis, AnalysisVerdict, Measurement, judge};
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
    clock: Arc<dyn Clock>,
}

impl AnalysisProbe {
    /// Judges `analysis` on `metrics`, looking back from `clock`'s now.
    pub fn new(metrics: Arc<dyn Metrics>, analysis: Analysis, clock: Arc<dyn Clock>) -> Self {
        Self {
            metrics,
            analysis,
            clock,
        }
    }

    /// The verdict on `release` of `service` in `environment`, now.
    pub async fn judge(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        release: &ReleaseId,
    ) -> AnalysisVerdict {
        let now = self.clock.now();
        let mut measured = BTreeMap::new();
        for check in &self.analysis.metrics {
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
                continue;
            };
            let answered = self
                .metrics
                .range(&query, from, now, check.interval_seconds.max(1))
                .await;
            let measurements = instants
                .iter()
                .map(|t| match &answered {
                    Ok(points) => points.iter().find(|(at, _)| at == t).map_or_else(
                        || Measurement::error(*t, format!("`{query}` has no value at {t}")),
                        |(_, v)| Measurement::value(*t, *v),
                    ),
                    Err(e) => Measurement::error(*t, e.to_string()),
                })
                .collect();
            measured.insert(check.name.clone(), measurements);
        }
        judge(&self.analysis, &measured)
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
}
