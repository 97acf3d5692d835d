//! Drills from Rust: given this pipeline and history, when this incident
//! and these faults, then this verdict. The builder produces the same
//! [`Scenario`] the file format does, and runs on the same engine.

use crate::model::{
    ChangeId, CommitId, EnvironmentId, FlagKey, FlagState, PipelineSpec, Policy, ReleaseId,
    Strategy, SuspectedCause,
};

use super::report::DrillReport;
use super::run::run;
use super::scenario::{
    Expectation, FaultSpec, HistoryStep, IncidentSpec, SCENARIO_FORMAT, Scenario, ScenarioError,
};

/// A drill being described.
///
/// ```
/// use knowngood::drill::Drill;
/// use knowngood::{EnvironmentRole, PipelineSpec, Strategy, SuspectedCause};
/// let pipeline = PipelineSpec::new()
///     .environment("qa", EnvironmentRole::Test)
///     .environment("prod", EnvironmentRole::Production)
///     .promote("qa", "prod");
/// let report = Drill::given("bad-release", pipeline)
///     .merge("PR-1", "a1")
///     .build("payments@1.0.0", "1.0.0", 1, "a1")
///     .ship("payments@1.0.0", ["qa", "prod"])
///     .merge("PR-2", "b2")
///     .build("payments@1.1.0", "1.1.0", 2, "b2")
///     .ship("payments@1.1.0", ["qa", "prod"])
///     .when_incident("prod", SuspectedCause::Change { change: "PR-2".into() }, "errors")
///     .with_faults(0.2, 0.05)
///     .then_top(Strategy::Rollback)
///     .then_serving("payments@1.0.0")
///     .run(7)
///     .unwrap();
/// assert!(report.passed(), "{:?}", report.failures);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Drill {
    scenario: Scenario,
    incident: Option<IncidentSpec>,
    /// What the builder could not take (reported by `scenario` and `run`).
    problems: Vec<String>,
}

impl Drill {
    /// Given this pipeline (the default service is `payments`).
    pub fn given(name: impl Into<String>, pipeline: PipelineSpec) -> Self {
        Self {
            scenario: Scenario {
                format: SCENARIO_FORMAT,
                name: name.into(),
                description: String::new(),
                service: "payments".into(),
                other_services: Vec::new(),
                pipeline,
                policy: Policy::default(),
                history: Vec::new(),
                incident: IncidentSpec {
                    id: "INC-1".into(),
                    environment: "prod".into(),
                    severity: crate::model::Severity::Sev1,
                    cause: SuspectedCause::External {
                        description: "not declared".to_owned(),
                    },
                    summary: String::new(),
                    automatic: false,
                },
                faults: FaultSpec::default(),
                expect: Expectation::default(),
                metrics: None,
                runbooks: Vec::new(),
                request: crate::recovery::PlanRequest::default(),
            },
            incident: None,
            problems: Vec::new(),
        }
    }

    /// ... under this policy.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.scenario.policy = policy;
        self
    }

    /// ... with one of the host's runbooks.
    pub fn runbook(mut self, runbook: crate::model::Runbook) -> Self {
        self.scenario.runbooks.push(runbook);
        self
    }

    /// ... and this happened before.
    pub fn step(mut self, step: HistoryStep) -> Self {
        self.scenario.history.push(step);
        self
    }

    /// A change merged to main as one commit.
    pub fn merge(self, change: impl Into<ChangeId>, commit: impl Into<CommitId>) -> Self {
        self.merge_flagged(change, commit, None, None)
    }

    /// A change merged to main as one commit, wholly behind `flag`.
    pub fn merge_behind_flag(
        self,
        change: impl Into<ChangeId>,
        commit: impl Into<CommitId>,
        flag: impl Into<FlagKey>,
    ) -> Self {
        self.merge_flagged(change, commit, Some(flag.into()), None)
    }

    /// A change merged to main as one commit, only partly behind `flag`:
    /// `unflagged` names the part no flag covers.
    pub fn merge_partly_behind_flag(
        self,
        change: impl Into<ChangeId>,
        commit: impl Into<CommitId>,
        flag: impl Into<FlagKey>,
        unflagged: impl Into<String>,
    ) -> Self {
        self.merge_flagged(change, commit, Some(flag.into()), Some(unflagged.into()))
    }

    fn merge_flagged(
        self,
        change: impl Into<ChangeId>,
        commit: impl Into<CommitId>,
        flag: Option<FlagKey>,
        unflagged: Option<String>,
    ) -> Self {
        self.step(HistoryStep::Merge {
            change: change.into(),
            commit: commit.into(),
            flags: flag.into_iter().collect(),
            unflagged,
            reverts: None,
            depends_on: Vec::new(),
            service: None,
        })
    }

    /// A flag set in an environment.
    pub fn set_flag(
        self,
        environment: impl Into<EnvironmentId>,
        flag: impl Into<FlagKey>,
        state: FlagState,
    ) -> Self {
        self.step(HistoryStep::SetFlag {
            environment: environment.into(),
            flag: flag.into(),
            state,
        })
    }

    /// A build of `commit` registered as `release`. A version that is not
    /// semver makes [`Drill::scenario`] (and [`Drill::run`]) fail, naming
    /// the release.
    pub fn build(
        mut self,
        release: impl Into<ReleaseId>,
        version: &str,
        build: u64,
        commit: impl Into<CommitId>,
    ) -> Self {
        let release = release.into();
        let parsed = semver::Version::parse(version).unwrap_or_else(|e| {
            self.problems.push(format!(
                "build `{release}`: version `{version}` is not semver ({e})"
            ));
            semver::Version::new(0, 0, 0)
        });
        self.step(HistoryStep::Build {
            release,
            version: parsed,
            build,
            commit: commit.into(),
            schema: None,
            requires: std::collections::BTreeMap::new(),
            service: None,
        })
    }

    /// A release deployed and verified through environments.
    pub fn ship<E: Into<EnvironmentId>>(
        self,
        release: impl Into<ReleaseId>,
        through: impl IntoIterator<Item = E>,
    ) -> Self {
        self.step(HistoryStep::Ship {
            release: release.into(),
            through: through.into_iter().map(Into::into).collect(),
            healthy: true,
        })
    }

    /// ... the driver ships `release` through environments in order,
    /// measuring each deployment ([`HistoryStep::Deliver`]).
    pub fn deliver<E: Into<EnvironmentId>>(
        self,
        release: impl Into<ReleaseId>,
        through: impl IntoIterator<Item = E>,
    ) -> Self {
        self.step(HistoryStep::Deliver {
            release: release.into(),
            through: through.into_iter().map(Into::into).collect(),
            attempt: None,
        })
    }

    /// When this incident is declared.
    pub fn when_incident(
        self,
        environment: impl Into<EnvironmentId>,
        cause: SuspectedCause,
        summary: impl Into<String>,
    ) -> Self {
        self.incident(environment.into(), cause, summary.into(), false)
    }

    /// The scenario's incident, `INC-1`, SEV1.
    fn incident(
        mut self,
        environment: EnvironmentId,
        cause: SuspectedCause,
        summary: String,
        automatic: bool,
    ) -> Self {
        self.incident = Some(IncidentSpec {
            id: "INC-1".into(),
            environment,
            severity: crate::model::Severity::Sev1,
            cause,
            summary,
            automatic,
        });
        self
    }

    /// When the driver detects the incident itself: a
    /// [`deliver`](Self::deliver)ed release measures unhealthy in
    /// `environment` (production) and the policy's `auto_declare` declares
    /// it, naming `cause`.
    pub fn when_detected(
        self,
        environment: impl Into<EnvironmentId>,
        cause: SuspectedCause,
    ) -> Self {
        self.incident(environment.into(), cause, String::new(), true)
    }

    /// ... with port faults at `rate` and driver crashes at `crash_rate`.
    pub fn with_faults(mut self, rate: f64, crash_rate: f64) -> Self {
        self.scenario.faults.rate = rate;
        self.scenario.faults.crash_rate = crash_rate;
        self
    }

    /// Then the planner's top option is `strategy`.
    pub fn then_top(mut self, strategy: Strategy) -> Self {
        self.scenario.expect.top = Some(strategy);
        self
    }

    /// ... and `strategy` is not applicable.
    pub fn then_inapplicable(mut self, strategy: Strategy) -> Self {
        self.scenario.expect.inapplicable.push(strategy);
        self
    }

    /// ... and `release` serves at the end.
    pub fn then_serving(mut self, release: impl Into<ReleaseId>) -> Self {
        self.scenario.expect.serving = Some(release.into());
        self
    }

    /// ... within `minutes` of detection.
    pub fn then_mitigated_within(mut self, minutes: u64) -> Self {
        self.scenario.expect.max_minutes_to_mitigate = Some(minutes);
        self
    }

    /// The scenario described, checked like a file.
    pub fn scenario(self) -> Result<Scenario, ScenarioError> {
        let mut scenario = self.scenario;
        if !self.problems.is_empty() {
            return Err(ScenarioError::Invalid {
                file: scenario.name,
                message: self.problems.join("; "),
            });
        }
        let Some(incident) = self.incident else {
            return Err(ScenarioError::Invalid {
                file: scenario.name,
                message: "no incident: call `when_incident`".to_owned(),
            });
        };
        scenario.incident = incident;
        let name = scenario.name.clone();
        let json = serde_json::to_string(&scenario).map_err(|e| ScenarioError::Invalid {
            file: name.clone(),
            message: e.to_string(),
        })?;
        Scenario::from_json(&json, &name)
    }

    /// Runs the drill with faults drawn from `seed`.
    pub fn run(self, seed: u64) -> Result<DrillReport, ScenarioError> {
        Ok(run(&self.scenario()?, seed))
    }
}
