//! The state: everything the events so far say, arranged for fast lookup.
//! Built only by [`State::apply`]; read by [`decide`](super::decide) and by
//! hosts.

use super::event::RecoveryPermit;
use crate::model::Slot;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::rejection::Rejection;
use crate::model::{
    Actor, Artifact, BranchName, Change, ChangeId, Commit, CommitId, Digest, EnvironmentId,
    FlagKey, FlagState, Freeze, FreezeId, Pipeline, PlanId, Policy, Release, ReleaseId, Service,
    ServiceId,
};

use super::event::GateCause;
use super::incident::IncidentRecord;
use super::lifecycle::DeploymentStatus;
use crate::model::{IncidentId, Migration};

pub use super::history::{Deployment, DeploymentOrigin, RolloutHistory};

/// The recovery plan allowed through a closed gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ActivePlan {
    /// The plan's name.
    pub plan: PlanId,
    /// The steps it may take.
    pub permits: Vec<RecoveryPermit>,
    /// Who authorized it.
    pub by: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

/// A closed delivery gate: the line is stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClosedGate {
    /// Who closed it, or whose action closed it.
    pub by: Actor,
    /// Why.
    pub reason: String,
    /// What closed it.
    pub cause: GateCause,
    /// Since when.
    pub since: DateTime<Utc>,
    /// The recovery plan allowed through, once one is authorized.
    pub plan: Option<ActivePlan>,
}

impl ClosedGate {
    /// Whether the active plan permits `step`.
    pub fn permits(&self, step: &RecoveryPermit) -> bool {
        self.plan.as_ref().is_some_and(|p| p.permits.contains(step))
    }
}

/// A schema migration as applied in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppliedMigration {
    /// The migration.
    pub migration: Migration,
    /// When it was applied.
    pub at: DateTime<Utc>,
    /// For a data migration moved in batches, the rows its batches moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved: Option<u64>,
}

/// One service's database schema in one environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SchemaState {
    /// The current schema version.
    pub version: u32,
    /// Every migration applied, oldest first.
    pub applied: Vec<AppliedMigration>,
    /// Data migrations under way (batches recorded, not complete yet),
    /// by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub moving: BTreeMap<crate::model::MigrationId, DataProgress>,
}

/// How far a data migration has moved, batch by batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DataProgress {
    /// Where the next batch starts (the migrator's cursor).
    pub cursor: String,
    /// Rows moved so far.
    pub moved: u64,
    /// Batches recorded.
    pub batches: u32,
    /// The migrator said the last batch completed it: all that is left is
    /// to record the migration.
    #[serde(default)]
    pub done: bool,
    /// The last batch's key.
    pub last_key: super::effect::IdempotencyKey,
    /// When the last batch was recorded.
    pub at: DateTime<Utc>,
}

/// Durations observed in one environment, from request to verification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StageTimes {
    /// Verified deployments measured.
    pub samples: u64,
    /// Their total duration, in seconds.
    pub total_seconds: u64,
}

impl StageTimes {
    /// The mean, if anything was measured.
    pub fn mean_seconds(&self) -> Option<u64> {
        self.total_seconds.checked_div(self.samples)
    }
}

/// What one environment holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentState {
    services: BTreeMap<ServiceId, RolloutHistory>,
    verified: super::cow::CowSet<Digest>,
    pub(crate) schemas: BTreeMap<ServiceId, SchemaState>,
    pub(crate) observed: StageTimes,
    pub(crate) flags: Arc<BTreeMap<FlagKey, FlagState>>,
    pub(crate) gate: Option<ClosedGate>,
    /// What is known of each flag beyond its state: since when, its last
    /// measurement, its last healthy state.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) flag_records: Arc<BTreeMap<FlagKey, FlagRecord>>,
    /// What it ran each time it was verified healthy as a whole, the
    /// newest last ([`State::known_good_sets`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) known_good: Arc<Vec<super::kept::KnownGoodSet>>,
}

/// What an environment knows of one flag beyond its state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FlagRecord {
    /// When it was last set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Its measurements, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verdicts: Vec<FlagVerdict>,
    /// The last state it was measured healthy at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_good: Option<FlagState>,
}

impl FlagRecord {
    /// Its last measurement.
    pub fn last_verdict(&self) -> Option<&FlagVerdict> {
        self.verdicts.last()
    }

    /// The measurement made under `key`.
    pub fn verdict(&self, key: &super::effect::IdempotencyKey) -> Option<&FlagVerdict> {
        self.verdicts.iter().rev().find(|v| v.key == *key)
    }
}

/// One measurement of an environment's health with a flag at a state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FlagVerdict {
    /// The state measured.
    pub state: FlagState,
    /// Whether it measured healthy.
    pub healthy: bool,
    /// The evidence, or why it is unhealthy.
    pub detail: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The measurement's key.
    pub key: super::effect::IdempotencyKey,
}

impl EnvironmentState {
    /// The rollout history of `service` here (empty if never deployed).
    pub fn history(&self, service: &ServiceId) -> Option<&RolloutHistory> {
        self.services.get(service)
    }

    /// Every service with history here, by name.
    pub fn services(&self) -> impl Iterator<Item = (&ServiceId, &RolloutHistory)> {
        self.services.iter()
    }

    /// Whether an artifact was ever verified healthy here.
    pub fn has_verified(&self, digest: &Digest) -> bool {
        self.verified.contains(digest)
    }

    /// The state of a flag here (a flag never set is off).
    pub fn flag(&self, flag: &FlagKey) -> &FlagState {
        const OFF: &FlagState = &FlagState::Off;
        self.flags.get(flag).unwrap_or(OFF)
    }

    /// What is known of `flag` here beyond its state (since when, its
    /// last measurement, its last healthy state), if anything.
    pub fn flag_record(&self, flag: &FlagKey) -> Option<&FlagRecord> {
        self.flag_records.get(flag)
    }

    /// Every flag set here, by key.
    pub fn flags(&self) -> impl Iterator<Item = (&FlagKey, &FlagState)> {
        self.flags.iter()
    }

    /// The delivery gate, if it is closed.
    pub fn closed_gate(&self) -> Option<&ClosedGate> {
        self.gate.as_ref()
    }

    /// The schema of `service`'s database here, if migrations were recorded.
    pub fn schema(&self, service: &ServiceId) -> Option<&SchemaState> {
        self.schemas.get(service)
    }

    /// Durations observed here.
    pub fn observed(&self) -> StageTimes {
        self.observed
    }

    fn has_history(&self) -> bool {
        self.services.values().any(|h| !h.is_empty())
    }
}

/// A recorded commit and the change it belongs to, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommitRecord {
    /// The commit.
    pub commit: Commit,
    /// The change it is part of.
    pub change: Option<ChangeId>,
    /// Its generation: 1 for a root, one more than its highest parent
    /// otherwise. A commit's ancestors all have lower generations, which
    /// lets ancestry questions stop early instead of walking the history.
    #[serde(default)]
    pub generation: u64,
}

/// Why and by whom a change was poisoned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Poisoning {
    /// Who marked it.
    pub by: Actor,
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// How a later change neutralises an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RemedyKind {
    /// It reverts it.
    Revert,
    /// It was declared to fix it.
    Fix,
}

/// Everything the events so far say. Equal event sequences give equal
/// states.
///
/// Cloning is cheap and independent of the history's length: every
/// collection is shared copy-on-write (`Arc`), and a rollout history keeps
/// its older revisions in a shared block, so a clone copies only what is
/// changed afterwards. That is what makes dry runs
/// ([`rehearse`](super::rehearse)) cost what a plan changes, not what the
/// journal holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// When the last event happened: no later event may be stamped earlier.
    #[serde(default)]
    pub(crate) last_at: Option<DateTime<Utc>>,
    pub(crate) policy: Policy,
    /// The host's runbooks, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) runbooks: Arc<BTreeMap<crate::model::RunbookId, crate::model::Runbook>>,
    /// Every automatic remediation, for the remediation policies' loop
    /// guard.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) remediated: Arc<Vec<super::kept::Remediated>>,
    pub(crate) expired: super::cow::CowSet<Digest>,
    /// Every step key any chosen plan has used (ports remember keys
    /// forever, so a key is never handed out twice).
    pub(crate) step_keys: super::cow::CowSet<super::effect::IdempotencyKey>,
    pub(crate) incidents: super::cow::CowMap<IncidentId, IncidentRecord>,
    pub(crate) freezes: Arc<BTreeMap<FreezeId, Freeze>>,
    pub(crate) poisoned: Arc<BTreeMap<ChangeId, Poisoning>>,
    pub(crate) remedies: Arc<BTreeMap<ChangeId, BTreeMap<ChangeId, RemedyKind>>>,
    pub(crate) branches: Arc<BTreeMap<ServiceId, BTreeMap<BranchName, CommitId>>>,
    pub(crate) pipeline: Option<Pipeline>,
    pub(crate) services: Arc<BTreeMap<ServiceId, Service>>,
    pub(crate) commits: super::cow::CowMap<CommitId, CommitRecord>,
    pub(crate) changes: super::cow::CowMap<ChangeId, Change>,
    pub(crate) artifacts: super::cow::CowMap<Digest, Artifact>,
    pub(crate) releases: super::cow::CowMap<ReleaseId, Release>,
    #[serde(default)]
    pub(crate) environments: Arc<BTreeMap<EnvironmentId, EnvironmentState>>,
    /// The stages each artifact was fast-tracked past.
    #[serde(default)]
    pub(crate) fast_tracked: Arc<BTreeMap<Digest, BTreeSet<EnvironmentId>>>,
}

impl State {
    /// The stages `digest` was fast-tracked past ([`Command::FastTrack`](crate::Command::FastTrack)).
    pub fn fast_tracked(&self, digest: &Digest) -> impl Iterator<Item = &EnvironmentId> {
        self.fast_tracked.get(digest).into_iter().flatten()
    }

    /// An empty state: no pipeline, nothing registered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds every copy-on-write collection's private parts back into its
    /// block where no clone shares it any more. A holder that keeps taking
    /// snapshot clones (the driver, before every command) calls this first,
    /// so that the private parts do not grow with every write.
    pub(crate) fn fold(&mut self) {
        self.expired.fold();
        self.step_keys.fold();
        self.incidents.fold();
        self.commits.fold();
        self.changes.fold();
        self.artifacts.fold();
        self.releases.fold();
        if let Some(environments) = Arc::get_mut(&mut self.environments) {
            for env in environments.values_mut() {
                env.verified.fold();
                for history in env.services.values_mut() {
                    history.deployments.fold();
                }
            }
        }
    }

    /// When the last event happened, if any: time only moves forward, so
    /// every later command must be stamped at or after it.
    pub fn last_event_at(&self) -> Option<DateTime<Utc>> {
        self.last_at
    }

    /// The pipeline, once defined.
    pub fn pipeline(&self) -> Option<&Pipeline> {
        self.pipeline.as_ref()
    }

    /// The policy in force (the default one until a policy is adopted).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Every declared freeze that was not lifted, by name (including ones
    /// whose window is over or not yet open).
    pub fn freezes(&self) -> impl Iterator<Item = &Freeze> {
        self.freezes.values()
    }

    /// Poisoned changes and why.
    pub fn poisoned(&self) -> impl Iterator<Item = (&ChangeId, &Poisoning)> {
        self.poisoned.iter()
    }

    /// Whether a change is poisoned.
    pub fn is_poisoned(&self, change: &ChangeId) -> bool {
        self.poisoned.contains_key(change)
    }

    /// The changes known to revert or fix `change`.
    pub fn remedies(&self, change: &ChangeId) -> impl Iterator<Item = (&ChangeId, RemedyKind)> {
        self.remedies
            .get(change)
            .into_iter()
            .flat_map(|m| m.iter().map(|(c, k)| (c, *k)))
    }

    /// Every recorded change, by id.
    pub fn changes(&self) -> impl Iterator<Item = &Change> {
        self.changes.values()
    }

    /// Recorded changes that declare they depend on `change`.
    pub fn changes_depending_on<'s>(
        &'s self,
        change: &'s ChangeId,
    ) -> impl Iterator<Item = &'s ChangeId> + 's {
        self.changes
            .values()
            .filter(move |c| c.depends_on.contains(change))
            .map(|c| &c.id)
    }

    /// Where a branch of a service's repository points.
    pub fn branch(&self, service: &ServiceId, branch: &BranchName) -> Option<&CommitId> {
        self.branches.get(service)?.get(branch)
    }

    /// The migration that takes `service`'s schema in `env` from where it is
    /// down to `to`, named `id`: what a person records (`ApplyMigration`)
    /// after running a down-migration step. The core refuses it when a
    /// migration it undoes is irreversible.
    pub fn down_migration(
        &self,
        env: &EnvironmentId,
        service: &ServiceId,
        to: u32,
        id: impl Into<crate::model::MigrationId>,
    ) -> Migration {
        let from = self
            .environment(env)
            .and_then(|e| e.schema(service))
            .map_or(to, |s| s.version);
        let mut down = Migration::new(id, crate::model::MigrationPhase::Migrate, from, to);
        down.reversible = true;
        down
    }

    /// Who could still approve the deployment in `slot` so that its rollout
    /// may start: members of the role the policy names for its environment,
    /// other than the requester and those who approved already, as many as
    /// are still needed (fewer when the role has too few members). Empty
    /// when nothing is needed or the revision is not waiting for approval.
    pub fn pending_approvers(&self, slot: &Slot) -> Vec<Actor> {
        let Ok(d) = self.deployment(slot) else {
            return Vec::new();
        };
        let Some(rule) = self.policy.approvals.get(&slot.environment) else {
            return Vec::new();
        };
        if d.status != DeploymentStatus::Requested
            || d.break_glass().is_some()
            || !matches!(d.origin(), DeploymentOrigin::Deploy)
        {
            return Vec::new();
        }
        let have = d
            .approvals()
            .iter()
            .filter(|a| **a != d.requested_by && self.policy.holds(a, &rule.role))
            .count();
        let need = usize::try_from(rule.approvers)
            .unwrap_or(usize::MAX)
            .saturating_sub(have);
        self.policy
            .roles
            .get(&rule.role)
            .into_iter()
            .flatten()
            .filter(|a| **a != d.requested_by && !d.approvals().contains(*a))
            .take(need)
            .cloned()
            .collect()
    }

    /// Whether an artifact was expired from the registry (it can no longer
    /// be deployed, so it is no rollback target).
    pub fn is_expired(&self, digest: &Digest) -> bool {
        self.expired.contains(digest)
    }

    /// An incident.
    pub fn incident(&self, id: &IncidentId) -> Option<&IncidentRecord> {
        self.incidents.get(id)
    }

    /// Every incident, by name.
    pub fn incidents(&self) -> impl Iterator<Item = &IncidentRecord> {
        self.incidents.values()
    }

    /// A registered service.
    pub fn service(&self, id: &ServiceId) -> Option<&Service> {
        self.services.get(id)
    }

    /// A recorded commit.
    pub fn commit(&self, id: &CommitId) -> Option<&CommitRecord> {
        self.commits.get(id)
    }

    /// A recorded change.
    pub fn change(&self, id: &ChangeId) -> Option<&Change> {
        self.changes.get(id)
    }

    /// A registered artifact.
    pub fn artifact(&self, digest: &Digest) -> Option<&Artifact> {
        self.artifacts.get(digest)
    }

    /// A registered release.
    pub fn release(&self, id: &ReleaseId) -> Option<&Release> {
        self.releases.get(id)
    }

    /// What an environment holds.
    pub fn environment(&self, id: &EnvironmentId) -> Option<&EnvironmentState> {
        self.environments.get(id)
    }

    /// The rollout history of a service in an environment, if it has one.
    pub fn history(&self, env: &EnvironmentId, service: &ServiceId) -> Option<&RolloutHistory> {
        self.environments.get(env)?.services.get(service)
    }

    /// The release serving `service` in `env` now.
    pub fn current_release(&self, env: &EnvironmentId, service: &ServiceId) -> Option<&Release> {
        let d = self.history(env, service)?.current()?;
        self.releases.get(&d.release)
    }

    /// The artifact a release deploys, or the rejection naming it.
    pub(super) fn artifact_of(&self, release: &Release) -> Result<&Artifact, Rejection> {
        self.artifacts
            .get(&release.artifact)
            .ok_or_else(|| Rejection::UnknownArtifact {
                digest: release.artifact.clone(),
            })
    }

    /// The change, or the rejection naming it.
    pub(super) fn known_change(&self, change: &ChangeId) -> Result<&Change, Rejection> {
        self.changes
            .get(change)
            .ok_or_else(|| Rejection::UnknownChange {
                change: change.clone(),
            })
    }

    /// Whether an environment has any rollout history.
    pub(super) fn environment_has_history(&self, env: &EnvironmentId) -> bool {
        self.environments
            .get(env)
            .is_some_and(EnvironmentState::has_history)
    }

    /// The environment, or the rejection naming it.
    pub(super) fn known_environment(
        &self,
        env: &EnvironmentId,
    ) -> Result<&EnvironmentState, Rejection> {
        self.environments
            .get(env)
            .ok_or_else(|| Rejection::UnknownEnvironment {
                environment: env.clone(),
            })
    }

    /// The deployment in `slot`, or the rejection naming it.
    pub(super) fn deployment(&self, slot: &Slot) -> Result<&Deployment, Rejection> {
        self.known_environment(&slot.environment)?
            .services
            .get(&slot.service)
            .and_then(|h| h.get(slot.revision))
            .ok_or_else(|| Rejection::UnknownRevision { slot: slot.clone() })
    }

    pub(super) fn history_mut(
        &mut self,
        env: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<&mut RolloutHistory, Rejection> {
        Ok(std::sync::Arc::make_mut(&mut self.environments)
            .get_mut(env)
            .ok_or_else(|| Rejection::UnknownEnvironment {
                environment: env.clone(),
            })?
            .services
            .entry(service.clone())
            .or_default())
    }

    pub(super) fn environment_mut(
        &mut self,
        env: &EnvironmentId,
    ) -> Result<&mut EnvironmentState, Rejection> {
        std::sync::Arc::make_mut(&mut self.environments)
            .get_mut(env)
            .ok_or_else(|| Rejection::UnknownEnvironment {
                environment: env.clone(),
            })
    }

    pub(super) fn deployment_mut(&mut self, slot: &Slot) -> Result<&mut Deployment, Rejection> {
        std::sync::Arc::make_mut(&mut self.environments)
            .get_mut(&slot.environment)
            .ok_or_else(|| Rejection::UnknownEnvironment {
                environment: slot.environment.clone(),
            })?
            .services
            .get_mut(&slot.service)
            .and_then(|h| h.get_mut(slot.revision))
            .ok_or_else(|| Rejection::UnknownRevision { slot: slot.clone() })
    }

    pub(super) fn set_current(&mut self, slot: &Slot) -> Result<(), Rejection> {
        let history = self.history_mut(&slot.environment, &slot.service)?;
        history.current = Some(slot.revision);
        Ok(())
    }

    pub(super) fn push_deployment(
        &mut self,
        env: &EnvironmentId,
        service: &ServiceId,
        deployment: Deployment,
    ) -> Result<(), Rejection> {
        self.history_mut(env, service)?.deployments.push(deployment);
        Ok(())
    }

    pub(super) fn mark_verified(&mut self, env: &EnvironmentId, digest: Digest) {
        if let Some(e) = std::sync::Arc::make_mut(&mut self.environments).get_mut(env) {
            e.verified.insert(digest);
        }
    }

    pub(super) fn define_pipeline(&mut self, pipeline: Pipeline) {
        for env in pipeline.environments() {
            std::sync::Arc::make_mut(&mut self.environments)
                .entry(env.id.clone())
                .or_default();
        }
        std::sync::Arc::make_mut(&mut self.environments).retain(|id, _| pipeline.contains(id));
        self.pipeline = Some(pipeline);
    }
}
