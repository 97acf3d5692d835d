//! Delivery metrics from the journal, for one environment (usually
//! production) and optionally one service, over a time window: deployment
//! frequency, lead time for changes (merged to serving there), change
//! failure rate (deployments that failed their rollout or verification,
//! were rolled back, or were named, or brought the change named, as an
//! incident's cause), time to restore (detected to mitigated) and time to
//! detect (the impact's beginning, when the declaration gives it, or else
//! the suspect deployment serving, to the incident's detection).
//! The journal's cause links make the failure rate and time to detect
//! exact instead of guessed from timing.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use knowngood::Ledger;
//! use knowngood::metrics::{MetricsQuery, delivery_metrics};
//! let ledger = Ledger::new();
//! let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
//! let query = MetricsQuery::new("prod", from, from + Duration::days(28)).per(Duration::days(7));
//! let metrics = delivery_metrics(ledger.state(), &query);
//! assert_eq!(metrics.deployments, 0);
//! assert_eq!(metrics.periods.len(), 4);
//! println!("{}", metrics.to_markdown());
//! ```

use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::machine::{Deployment, DeploymentOrigin, DeploymentStatus, Slot, State};
use crate::model::{ChangeId, EnvironmentId, ServiceId, SuspectedCause};
use crate::recovery::human;

/// Which deliveries to measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MetricsQuery {
    /// The environment (usually production).
    pub environment: EnvironmentId,
    /// One service, or every service there.
    pub service: Option<ServiceId>,
    /// The window's start (included).
    pub from: DateTime<Utc>,
    /// The window's end (excluded).
    pub to: DateTime<Utc>,
    /// The length of each period of the trend (the whole window when
    /// `None`).
    pub period: Option<Duration>,
}

impl MetricsQuery {
    /// Every service in `environment` from `from` to `to`.
    pub fn new(
        environment: impl Into<EnvironmentId>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Self {
        Self {
            environment: environment.into(),
            service: None,
            from,
            to,
            period: None,
        }
    }

    /// Only `service`.
    #[must_use]
    pub fn service(mut self, service: impl Into<ServiceId>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// A trend in periods of `period` (a day, a week).
    #[must_use]
    pub fn per(mut self, period: Duration) -> Self {
        self.period = Some(period);
        self
    }
}

/// Durations measured, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Durations {
    /// How many were measured.
    pub samples: u32,
    /// The median (the lower middle of an even count).
    pub median_seconds: Option<u64>,
    /// The longest.
    pub max_seconds: Option<u64>,
}

impl Durations {
    fn of(mut seconds: Vec<u64>) -> Self {
        seconds.sort_unstable();
        Self {
            samples: u32::try_from(seconds.len()).unwrap_or(u32::MAX),
            median_seconds: seconds
                .len()
                .checked_sub(1)
                .and_then(|last| seconds.get(last / 2))
                .copied(),
            max_seconds: seconds.last().copied(),
        }
    }

    fn text(&self) -> String {
        self.median_seconds.map_or_else(
            || "—".to_owned(),
            |m| format!("{} (n = {})", human(m), self.samples),
        )
    }
}

/// One period of the trend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Period {
    /// Its start (included).
    pub from: DateTime<Utc>,
    /// Its end (excluded).
    pub to: DateTime<Utc>,
    /// Deployments that started serving in it.
    pub deployments: u32,
    /// Of those, how many failed.
    pub failed: u32,
    /// Lead time of the changes they brought.
    pub lead_time: Durations,
    /// Incidents detected in it, detected to mitigated.
    pub time_to_restore: Durations,
}

/// The delivery metrics of one environment over a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeliveryMetrics {
    /// What was measured.
    pub query: MetricsQuery,
    /// Deployments (not rollbacks) that started serving in the window, or
    /// failed their rollout there.
    pub deployments: u32,
    /// Of those, how many failed: rollout or verification failed, rolled
    /// back, or named (or bringing the change named) as an incident's
    /// cause.
    pub failed: u32,
    /// The failed deployments, with why.
    pub failures: Vec<(Slot, String)>,
    /// From a change's merge to its first serving in the environment.
    pub lead_time: Durations,
    /// Incidents detected in the window, from detection to mitigation.
    pub time_to_restore: Durations,
    /// Incidents detected in the window, from when their impact began
    /// (as declared) or else from the suspect deployment or change
    /// serving, to detection.
    pub time_to_detect: Durations,
    /// The trend, period by period.
    pub periods: Vec<Period>,
}

impl DeliveryMetrics {
    /// Deployments per day over the window.
    pub fn deployments_per_day(&self) -> f64 {
        let days = self
            .query
            .to
            .signed_duration_since(self.query.from)
            .num_seconds()
            .max(1);
        f64::from(self.deployments) * 86_400.0 / f64_of(days)
    }

    /// The share of deployments that failed, from 0 to 1 (`None` without
    /// deployments).
    pub fn change_failure_rate(&self) -> Option<f64> {
        (self.deployments > 0).then(|| f64::from(self.failed) / f64::from(self.deployments))
    }

    /// The report as a Markdown table, the trend table and one Mermaid
    /// chart per metric.
    pub fn to_markdown(&self) -> String {
        let q = &self.query;
        let mut out = String::new();
        let scope = q.service.as_ref().map_or_else(
            || "every service".to_owned(),
            |s| format!("`{}`", crate::retro::md_code(s.as_str())),
        );
        let _ = writeln!(
            out,
            "## Delivery metrics: `{}`, {scope}\n\n{} to {}\n",
            crate::retro::md_code(q.environment.as_str()),
            q.from.format("%Y-%m-%d %H:%M"),
            q.to.format("%Y-%m-%d %H:%M")
        );
        out.push_str("| Metric | Value |\n|---|---|\n");
        let _ = writeln!(
            out,
            "| Deployment frequency | {} ({:.2} per day) |",
            self.deployments,
            self.deployments_per_day()
        );
        let _ = writeln!(
            out,
            "| Lead time for changes (median) | {} |",
            self.lead_time.text()
        );
        let rate = self.change_failure_rate().map_or_else(
            || "—".to_owned(),
            |r| {
                format!(
                    "{:.0} % ({} of {})",
                    r * 100.0,
                    self.failed,
                    self.deployments
                )
            },
        );
        let _ = writeln!(out, "| Change failure rate | {rate} |");
        let _ = writeln!(
            out,
            "| Time to restore (median) | {} |",
            self.time_to_restore.text()
        );
        let _ = writeln!(
            out,
            "| Time to detect (median) | {} |",
            self.time_to_detect.text()
        );
        if !self.failures.is_empty() {
            out.push_str("\nFailed deployments:\n\n");
            for (slot, why) in &self.failures {
                let _ = writeln!(
                    out,
                    "- `{}`: {}",
                    crate::retro::md_code(&slot.to_string()),
                    crate::retro::md_code(why)
                );
            }
        }
        if self.periods.len() > 1 {
            out.push_str("\n| Period from | Deployments | Failed | Lead time (median) | Time to restore (median) |\n|---|---|---|---|---|\n");
            for p in &self.periods {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    p.from.format("%Y-%m-%d"),
                    p.deployments,
                    p.failed,
                    p.lead_time.text(),
                    p.time_to_restore.text()
                );
            }
            for chart in self.mermaid_charts() {
                let _ = write!(out, "\n```mermaid\n{chart}```\n");
            }
        }
        out
    }

    /// One Mermaid `xychart-beta` per metric over the periods:
    /// deployments, failed deployments, median lead time (hours) and
    /// median time to restore (minutes).
    pub fn mermaid_charts(&self) -> Vec<String> {
        let labels: Vec<String> = self
            .periods
            .iter()
            .map(|p| format!("\"{}\"", p.from.format("%m-%d")))
            .collect();
        let series = [
            (
                "Deployments",
                self.periods
                    .iter()
                    .map(|p| u64::from(p.deployments))
                    .collect::<Vec<_>>(),
            ),
            (
                "Failed deployments",
                self.periods.iter().map(|p| u64::from(p.failed)).collect(),
            ),
            (
                "Lead time, median (h)",
                self.periods
                    .iter()
                    .map(|p| p.lead_time.median_seconds.unwrap_or(0) / 3600)
                    .collect(),
            ),
            (
                "Time to restore, median (min)",
                self.periods
                    .iter()
                    .map(|p| p.time_to_restore.median_seconds.unwrap_or(0) / 60)
                    .collect(),
            ),
        ];
        series
            .into_iter()
            .map(|(title, values)| {
                let values: Vec<String> = values.iter().map(ToString::to_string).collect();
                format!(
                    "xychart-beta\n  title \"{} in {}\"\n  x-axis [{}]\n  bar [{}]\n",
                    title,
                    crate::picture::mermaid_text(self.query.environment.as_str()),
                    labels.join(", "),
                    values.join(", ")
                )
            })
            .collect()
    }
}

#[allow(clippy::cast_precision_loss)] // day counts are far below 2^52
fn f64_of(n: i64) -> f64 {
    n as f64
}

/// Measures `query` on `state` (the state a journal folds into).
pub fn delivery_metrics(state: &State, query: &MetricsQuery) -> DeliveryMetrics {
    let within = |at: DateTime<Utc>, from: DateTime<Utc>, to: DateTime<Utc>| at >= from && at < to;
    let env = &query.environment;
    let services: Vec<(&ServiceId, &crate::machine::RolloutHistory)> = state
        .environment(env)
        .map(|e| {
            e.services()
                .filter(|(s, _)| query.service.as_ref().is_none_or(|q| q == *s))
                .collect()
        })
        .unwrap_or_default();
    let incidents: Vec<&crate::machine::IncidentRecord> = state
        .incidents()
        .filter(|i| i.environment == *env)
        .filter(|i| query.service.as_ref().is_none_or(|s| *s == i.service))
        .collect();

    // Every forward deployment in the window, with what it brought.
    let mut delivered: Vec<Delivered> = Vec::new();
    for (service, history) in &services {
        let mut previous: Option<&Deployment> = None;
        for d in history.deployments() {
            let counted = matches!(d.origin(), DeploymentOrigin::Deploy)
                && !matches!(
                    d.status,
                    DeploymentStatus::Requested | DeploymentStatus::Aborted
                );
            let at = d.completed_at.unwrap_or(d.requested_at);
            if counted && within(at, query.from, query.to) {
                let slot = Slot::new(env.clone(), (*service).clone(), d.revision);
                let changes = brought(state, previous, d);
                let failure = failure(&incidents, &slot, d, &changes);
                let lead: Vec<u64> = match d.completed_at {
                    Some(done) => changes
                        .iter()
                        .filter_map(|c| state.change(c))
                        .filter_map(|c| {
                            u64::try_from(done.signed_duration_since(c.merged_at).num_seconds())
                                .ok()
                        })
                        .collect(),
                    None => Vec::new(),
                };
                delivered.push(Delivered {
                    at,
                    slot,
                    failure,
                    lead,
                });
            }
            if d.completed_at.is_some() {
                previous = Some(d);
            }
        }
    }
    delivered.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.slot.cmp(&b.slot)));

    let restores: Vec<(DateTime<Utc>, u64)> = incidents
        .iter()
        .filter(|i| within(i.detected_at, query.from, query.to))
        .filter_map(|i| {
            let seconds = u64::try_from(i.time_to_mitigate()?.num_seconds()).ok()?;
            Some((i.detected_at, seconds))
        })
        .collect();
    let detects: Vec<u64> = incidents
        .iter()
        .filter(|i| within(i.detected_at, query.from, query.to))
        .filter_map(|i| {
            // From when the impact began, when the declaration says;
            // from when the suspect began to serve otherwise.
            let began = i.impact_began.or_else(|| suspect_served_at(state, i))?;
            u64::try_from(i.detected_at.signed_duration_since(began).num_seconds()).ok()
        })
        .collect();

    let summary = |from: DateTime<Utc>, to: DateTime<Utc>| {
        let these: Vec<&Delivered> = delivered
            .iter()
            .filter(|d| within(d.at, from, to))
            .collect();
        (
            u32::try_from(these.len()).unwrap_or(u32::MAX),
            u32::try_from(these.iter().filter(|d| d.failure.is_some()).count()).unwrap_or(u32::MAX),
            Durations::of(these.iter().flat_map(|d| d.lead.iter().copied()).collect()),
            Durations::of(
                restores
                    .iter()
                    .filter(|(at, _)| within(*at, from, to))
                    .map(|(_, s)| *s)
                    .collect(),
            ),
        )
    };
    let periods = period_bounds(query)
        .into_iter()
        .map(|(from, to)| {
            let (deployments, failed, lead_time, time_to_restore) = summary(from, to);
            Period {
                from,
                to,
                deployments,
                failed,
                lead_time,
                time_to_restore,
            }
        })
        .collect();
    let (deployments, failed, lead_time, time_to_restore) = summary(query.from, query.to);
    DeliveryMetrics {
        query: query.clone(),
        deployments,
        failed,
        failures: delivered
            .iter()
            .filter_map(|d| Some((d.slot.clone(), d.failure.clone()?)))
            .collect(),
        lead_time,
        time_to_restore,
        time_to_detect: Durations::of(detects),
        periods,
    }
}

struct Delivered {
    at: DateTime<Utc>,
    slot: Slot,
    failure: Option<String>,
    lead: Vec<u64>,
}

/// The periods of the trend: `period`-long slices of the window (the last
/// one shorter), at most 1,000 of them; the whole window without a period.
fn period_bounds(query: &MetricsQuery) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let step = query
        .period
        .filter(|p| *p > Duration::zero())
        .unwrap_or_else(|| query.to.signed_duration_since(query.from));
    let mut from = query.from;
    while from < query.to && out.len() < 1000 {
        let to = from
            .checked_add_signed(step)
            .unwrap_or(query.to)
            .min(query.to);
        if to <= from {
            break;
        }
        out.push((from, to));
        from = to;
    }
    out
}

/// The changes deployment `d` brought that the one serving before it
/// lacked, without those it also brings a revert of (a release holding a
/// change and its revert does not run the change); none when commits are
/// not recorded.
fn brought(state: &State, previous: Option<&Deployment>, d: &Deployment) -> Vec<ChangeId> {
    let commit = |d: &Deployment| {
        let release = state.release(&d.release)?;
        Some(&state.artifact(&release.artifact)?.source_commit)
    };
    let Some(to) = commit(d) else {
        return Vec::new();
    };
    let from = previous.and_then(commit);
    let reverted = |change: &ChangeId| {
        state
            .remedies(change)
            .filter(|(_, kind)| *kind == crate::machine::RemedyKind::Revert)
            .filter_map(|(revert, _)| state.change(revert))
            .any(|revert| revert.commits.iter().all(|c| state.is_ancestor(c, to)))
    };
    state
        .changes_of(state.commits_between(from, to).into_iter())
        .into_iter()
        .filter(|c| !reverted(c))
        .collect()
}

/// Why a deployment counts as failed, if it does.
fn failure(
    incidents: &[&crate::machine::IncidentRecord],
    slot: &Slot,
    d: &Deployment,
    changes: &[ChangeId],
) -> Option<String> {
    match d.status {
        DeploymentStatus::Failed => return Some("its rollout or verification failed".to_owned()),
        DeploymentStatus::RolledBack => return Some("it was rolled back".to_owned()),
        _ => {}
    }
    incidents.iter().find_map(|i| match &i.cause {
        SuspectedCause::Deployment { slot: s } if s == slot => {
            Some(format!("incident `{}` names it as the cause", i.id))
        }
        SuspectedCause::Change { change } if changes.contains(change) => Some(format!(
            "it brought `{change}`, the cause of incident `{}`",
            i.id
        )),
        _ => None,
    })
}

/// When the incident's suspect deployment started serving in its
/// environment: the deployment named, or the first there that brought the
/// change named.
fn suspect_served_at(
    state: &State,
    incident: &crate::machine::IncidentRecord,
) -> Option<DateTime<Utc>> {
    let history = state.history(&incident.environment, &incident.service)?;
    match &incident.cause {
        SuspectedCause::Deployment { slot } => history.get(slot.revision)?.completed_at,
        SuspectedCause::Change { change } => {
            let change = state.change(change)?;
            history
                .deployments()
                .filter(|d| d.completed_at.is_some_and(|at| at <= incident.detected_at))
                .find(|d| {
                    state
                        .release(&d.release)
                        .and_then(|r| state.artifact(&r.artifact))
                        .is_some_and(|a| {
                            change
                                .commits
                                .iter()
                                .any(|c| state.is_ancestor(c, &a.source_commit))
                        })
                })?
                .completed_at
        }
        SuspectedCause::External { .. } => None,
    }
}
