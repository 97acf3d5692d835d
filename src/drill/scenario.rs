//! The scenario file format (version 1), in JSON or TOML.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::machine::Command;
use crate::model::{
    BranchName, ChangeId, CommitId, EnvironmentId, FlagKey, FlagState, IncidentId, Migration,
    PipelineSpec, Policy, ReleaseId, SchemaRange, ServiceId, Severity, Strategy, SuspectedCause,
};

/// The scenario format this version reads.
pub const SCENARIO_FORMAT: u32 = 1;

/// One incident rehearsal: the world before, the incident, the faults to
/// inject, and what must come out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Scenario {
    /// The format version (1).
    pub format: u32,
    /// A short name.
    pub name: String,
    /// What it rehearses.
    #[serde(default)]
    pub description: String,
    /// The service the history steps concern unless they name one.
    #[serde(default = "default_service")]
    pub service: ServiceId,
    /// Other services to register.
    #[serde(default)]
    pub other_services: Vec<ServiceId>,
    /// The pipeline.
    pub pipeline: PipelineSpec,
    /// The team's rules.
    #[serde(default)]
    pub policy: Policy,
    /// What happened before the incident, in order.
    #[serde(default)]
    pub history: Vec<HistoryStep>,
    /// The incident.
    pub incident: IncidentSpec,
    /// Faults to inject.
    #[serde(default)]
    pub faults: FaultSpec,
    /// What must come out.
    #[serde(default)]
    pub expect: Expectation,
    /// What the person on call asks the planner for (who plans: `oncall`
    /// unless it says; the clearance they bring; a named rollback
    /// revision). The plan is chosen and driven as them.
    #[serde(default)]
    pub request: crate::recovery::PlanRequest,
    /// The host's runbooks, registered before the history; the drill's
    /// host runs them (in memory, each taking its own estimate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runbooks: Vec<crate::model::Runbook>,
    /// Health measured, not told: an analysis the driver's health probe
    /// judges on scripted series, per release (none: the in-memory probe
    /// answers healthy unless the host's says otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<DrillMetrics>,
}

/// Metric analysis in a drill: the driver's health probe is an
/// [`AnalysisProbe`](crate::adapters::AnalysisProbe) judging `analysis` on
/// an [`InMemoryMetrics`](crate::memory::InMemoryMetrics) whose series are
/// scripted per release and metric (in every environment). A release or a
/// metric without a series has no data: measured, it is an error, never
/// healthy. A drill whose incident ends mitigated while the release
/// serving there measures unhealthy fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DrillMetrics {
    /// The metrics judged.
    pub analysis: Vec<crate::analysis::MetricCheck>,
    /// Each release's series, by metric name.
    #[serde(default)]
    pub series: BTreeMap<ReleaseId, BTreeMap<String, crate::memory::Series>>,
    /// Series that differ in one environment (production load, say),
    /// by environment, then release, then metric; they replace `series`
    /// there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub in_environment:
        BTreeMap<EnvironmentId, BTreeMap<ReleaseId, BTreeMap<String, crate::memory::Series>>>,
    /// Metrics on which a new release is also judged against the
    /// known-good release it replaces (a canary against its baseline).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compare: Vec<crate::analysis::Comparison>,
}

fn default_service() -> ServiceId {
    ServiceId::new("payments")
}

/// One thing that happened before the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum HistoryStep {
    /// A change merged to main as one commit on top of main's head.
    Merge {
        /// The change.
        change: ChangeId,
        /// Its commit.
        commit: CommitId,
        /// Flags it sits behind.
        #[serde(default)]
        flags: Vec<FlagKey>,
        /// The part no flag covers, when it is only partly behind `flags`.
        #[serde(default)]
        unflagged: Option<String>,
        /// The change it reverts.
        #[serde(default)]
        reverts: Option<ChangeId>,
        /// Earlier changes it builds on.
        #[serde(default)]
        depends_on: Vec<ChangeId>,
        /// The service (default: the scenario's).
        #[serde(default)]
        service: Option<ServiceId>,
    },
    /// A build of a commit, registered as a release.
    Build {
        /// The release's name.
        release: ReleaseId,
        /// Its version.
        version: semver::Version,
        /// Its build number.
        build: u64,
        /// The commit built.
        commit: CommitId,
        /// The schema versions it runs on.
        #[serde(default)]
        schema: Option<SchemaRange>,
        /// Versions it needs of other services.
        #[serde(default)]
        requires: BTreeMap<ServiceId, semver::VersionReq>,
        /// The service (default: the scenario's).
        #[serde(default)]
        service: Option<ServiceId>,
    },
    /// A release deployed and verified through environments in order; the
    /// last verification fails when `healthy` is false.
    Ship {
        /// The release.
        release: ReleaseId,
        /// The environments, upstream first.
        through: Vec<EnvironmentId>,
        /// Whether the last verification passes.
        #[serde(default = "yes")]
        healthy: bool,
    },
    /// A release shipped by the driver ([`Driver::ship`](crate::driver::Driver::ship))
    /// through environments in order, each deployment measured by the
    /// scenario's health probe (its `[metrics]`, or the host's) and
    /// against the known-good release it replaces; stops at the first
    /// that measures unhealthy. With the policy's `auto_declare`, an
    /// unhealthy production deployment becomes the incident (see
    /// [`IncidentSpec::automatic`]); where the policy remediates, the
    /// driver then remediates by itself.
    Deliver {
        /// The release.
        release: ReleaseId,
        /// The environments, upstream first.
        through: Vec<EnvironmentId>,
        /// Tells this shipment apart from an earlier one of the same
        /// release (a pipeline retrying it): its keys are
        /// `deliver/<release>/<environment>/<attempt>`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<String>,
    },
    /// A release rolled out but not yet verified (work in flight).
    RollOut {
        /// The release.
        release: ReleaseId,
        /// Where.
        environment: EnvironmentId,
    },
    /// A release whose rollout started and is still in progress (it can
    /// still be aborted).
    Start {
        /// The release.
        release: ReleaseId,
        /// Where.
        environment: EnvironmentId,
    },
    /// A flag set.
    SetFlag {
        /// Where.
        environment: EnvironmentId,
        /// Which.
        flag: FlagKey,
        /// To what.
        state: FlagState,
    },
    /// A gradual rollout of a flag driven by the driver
    /// ([`Driver::roll_out_flag`](crate::driver::Driver::roll_out_flag)):
    /// a dark launch, then `steps` up to 100, each stage held
    /// `hold_minutes` and measured. With `breaks_at`, the flagged code
    /// fails the service's health wherever the flag reaches that share of
    /// users, for the rest of the drill: the rollout must halt at the
    /// first stage at or above it and put the flag back to the stage
    /// before, or the drill fails; without it, it must reach on.
    RollOutFlag {
        /// Where.
        environment: EnvironmentId,
        /// Which flag.
        flag: FlagKey,
        /// The percentages after the dark launch, rising to 100.
        steps: Vec<u8>,
        /// How long each stage is held before it is measured.
        #[serde(default)]
        hold_minutes: u32,
        /// The share of users at which the flagged code fails.
        #[serde(default)]
        breaks_at: Option<u8>,
        /// The service measured (default: the scenario's).
        #[serde(default)]
        service: Option<ServiceId>,
    },
    /// A schema migration applied. With `batch`, the driver runs it
    /// through the host's migrator
    /// ([`Driver::migrate`](crate::driver::Driver::migrate)): a data
    /// migration in batches of that many rows, each recorded, resumed
    /// after every crash the faults inject; without, it is recorded as
    /// a person ran it.
    Migrate {
        /// Where.
        environment: EnvironmentId,
        /// The migration.
        migration: Migration,
        /// Whose database (default: the scenario's service).
        #[serde(default)]
        service: Option<ServiceId>,
        /// Rows per batch, when the driver runs it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch: Option<u64>,
    },
    /// A release's artifact expired from the registry: it can no longer be
    /// deployed (nor be a rollback target).
    Expire {
        /// The release whose artifact expires.
        release: ReleaseId,
    },
    /// Time passes.
    Wait {
        /// Minutes.
        minutes: u32,
    },
    /// Any command, as the core takes it.
    Command {
        /// The command.
        command: Box<Command>,
    },
}

fn yes() -> bool {
    true
}

/// The incident of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IncidentSpec {
    /// Its name.
    #[serde(default = "default_incident")]
    pub id: IncidentId,
    /// Where.
    pub environment: EnvironmentId,
    /// How bad.
    #[serde(default = "default_severity")]
    pub severity: Severity,
    /// What is suspected. For an automatic incident, the cause the
    /// driver must have named.
    pub cause: SuspectedCause,
    /// What is seen (for an automatic incident, the driver writes it).
    #[serde(default)]
    pub summary: String,
    /// Detected without a person: no one declares it; a `deliver` step's
    /// failed production verification must have (the policy's
    /// `auto_declare`), with `cause` as its suspected cause, or the drill
    /// fails. The drill then responds to that incident.
    #[serde(default)]
    pub automatic: bool,
}

fn default_incident() -> IncidentId {
    IncidentId::new("INC-1")
}

fn default_severity() -> Severity {
    Severity::Sev1
}

/// Faults to inject, drawn from the drill's seed.
// Each switch is an independent fault a scenario turns on; an enum set
// would read worse in scenario files.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct FaultSpec {
    /// Chance (0 to 1) that a port call meets a fault.
    pub rate: f64,
    /// Chance (0 to 1) that the driver crashes at a journal write.
    pub crash_rate: f64,
    /// After the incident, someone tries to deploy the newest release to
    /// the incident's environment anyway (it must be refused when it
    /// carries the cause).
    pub reckless_deploy: bool,
    /// Once per drill, health degrades after a rollout that looked fine
    /// (the drill then chooses again).
    pub degraded_health: bool,
    /// Seconds the clock moves forward every time it is read, so that time
    /// passes between every command the driver sends (0: it moves only
    /// between the drill's stages).
    pub clock_tick_seconds: u32,
    /// Chance (0 to 1) that a journal append fails without a crash (the
    /// store was briefly down): the same driver goes on.
    pub append_failure_rate: f64,
    /// After every crash the clock jumps before the new process resumes:
    /// seconds, hours or days, drawn from the seed.
    pub clock_jumps: bool,
    /// Once per drill, someone pushes a commit to the branch a revert or
    /// pick is about to move (racing the driver); the person then records
    /// it in the ledger and the drive goes on.
    pub concurrent_push: bool,
    /// Approvers take hours: the driver is polled (sometimes by a new
    /// process) several times before they approve.
    pub late_approvals: bool,
}

impl Default for FaultSpec {
    fn default() -> Self {
        Self {
            rate: 0.0,
            crash_rate: 0.0,
            reckless_deploy: false,
            degraded_health: false,
            clock_tick_seconds: 0,
            append_failure_rate: 0.0,
            clock_jumps: false,
            concurrent_push: false,
            late_approvals: false,
        }
    }
}

impl Eq for FaultSpec {}

/// What a drill must show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Expectation {
    /// The planner's top option.
    pub top: Option<Strategy>,
    /// Options that must not be applicable.
    pub inapplicable: Vec<Strategy>,
    /// Options that must be applicable.
    pub applicable: Vec<Strategy>,
    /// Choose this strategy instead of the top one.
    pub choose: Option<Strategy>,
    /// The release serving in the incident's environment at the end.
    pub serving: Option<ReleaseId>,
    /// Whether the incident ends mitigated (default: yes).
    pub mitigated: Option<bool>,
    /// At most this many minutes from detection to mitigation.
    pub max_minutes_to_mitigate: Option<u64>,
    /// The branch whose head production must run at the end (after a
    /// revert, usually `main`).
    pub serving_head_of: Option<BranchName>,
    /// How many times the remediation policies acted by themselves
    /// during the drill (each a `remediation_decided` in the journal).
    pub remediations: Option<u32>,
    /// Other environments (production elsewhere running the cause) that
    /// must end serving what the incident's environment serves, verified
    /// known good there: the plan covered them too.
    pub also_restored: Vec<EnvironmentId>,
    /// Whether falling back to another strategy after one failed is an
    /// acceptable outcome (default: no, a fallback fails the drill). Every
    /// fallback shows in the report either way.
    pub fallback_allowed: bool,
    /// Once mitigated, resolve the incident with this plan (a revert, a
    /// fix forward, a hotfix): planned and driven under the same incident,
    /// then every follow-up the history can prove closed, and the incident
    /// resolved. The drill fails unless it ends resolved.
    pub resolve_with: Option<Strategy>,
    /// With `resolve_with`: choose it up front, with the first plan
    /// ([`Command::PlanResolution`](crate::Command::PlanResolution)); once
    /// the incident is mitigated the driver plans, chooses and drives it
    /// by itself.
    pub resolve_up_front: bool,
}

/// A scenario file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: cannot be read: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not parse or does not fit the format.
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// Where and what, as the parser says it.
        message: String,
    },
    /// The file parses but says something impossible.
    #[error("{file}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// What.
        message: String,
    },
}

impl Scenario {
    /// Reads a scenario from JSON text; `file` names it in errors.
    pub fn from_json(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = serde_json::from_str(text).map_err(|e| ScenarioError::Parse {
            file: file.to_owned(),
            message: format!("line {}, column {}: {e}", e.line(), e.column()),
        })?;
        scenario.validated(file)
    }

    /// Reads a scenario from TOML text; `file` names it in errors.
    #[cfg(feature = "toml")]
    pub fn from_toml(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            file: file.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        scenario.validated(file)
    }

    /// Reads a scenario file, JSON or TOML by its extension.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            file: file.clone(),
            source,
        })?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Self::from_json(&text, &file),
            #[cfg(feature = "toml")]
            Some("toml") => Self::from_toml(&text, &file),
            other => Err(ScenarioError::Invalid {
                file,
                message: format!(
                    "unknown scenario extension {other:?}: use .json{}",
                    if cfg!(feature = "toml") {
                        " or .toml"
                    } else {
                        " (or enable the `toml` feature)"
                    }
                ),
            }),
        }
    }

    fn validated(self, file: &str) -> Result<Scenario, ScenarioError> {
        let invalid = |message: String| ScenarioError::Invalid {
            file: file.to_owned(),
            message,
        };
        if self.format != SCENARIO_FORMAT {
            return Err(invalid(format!(
                "field `format`: this version reads scenario format {SCENARIO_FORMAT}, the file says {}",
                self.format
            )));
        }
        let pipeline = self
            .pipeline
            .clone()
            .build()
            .map_err(|e| invalid(format!("field `pipeline`: {e}")))?;
        let known = |env: &EnvironmentId, field: String| {
            if pipeline.contains(env) {
                Ok(())
            } else {
                Err(invalid(format!("{field}: unknown environment `{env}`")))
            }
        };
        known(
            &self.incident.environment,
            "field `incident.environment`".to_owned(),
        )?;
        for (i, step) in self.history.iter().enumerate() {
            let field = format!(
                "history step {} (field `history[{i}]`)",
                i.saturating_add(1)
            );
            match step {
                HistoryStep::Ship { through, .. } => {
                    for env in through {
                        known(env, field.clone())?;
                    }
                }
                HistoryStep::RollOut { environment, .. }
                | HistoryStep::SetFlag { environment, .. }
                | HistoryStep::Migrate { environment, .. } => known(environment, field)?,
                _ => {}
            }
        }
        if !(0.0..=1.0).contains(&self.faults.rate)
            || !(0.0..=1.0).contains(&self.faults.crash_rate)
        {
            return Err(invalid(
                "field `faults`: rates must lie between 0 and 1".to_owned(),
            ));
        }
        Ok(self)
    }
}
