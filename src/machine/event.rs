//! Events: facts that happened, in the past tense. State is the fold of
//! events; nothing else changes it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::stream::StreamId;
/// Where one revision runs; it lives in [`crate::model`] and is named
/// here too, where it always was.
pub use crate::model::Slot;
use crate::model::{
    Actor, Artifact, BranchName, Change, ChangeId, Commit, CommitId, EnvironmentId, FlagKey,
    FlagState, Freeze, FreezeId, GatedAction, Pipeline, PlanId, Policy, Release, ReleaseId,
    Revision, Service, ServiceId,
};

use crate::machine::effect::{ConsideredOption, FollowUpKind, IdempotencyKey};
use crate::model::{Digest, IncidentId, Migration, Severity, Strategy, SuspectedCause};

/// One recorded fact and the moment it happened (supplied by the host; the
/// core reads no clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// An event that happened at `at`.
    pub fn new(at: DateTime<Utc>, kind: EventKind) -> Self {
        Self { at, kind }
    }

    /// The journal stream this event belongs to: `pipeline`, `catalog`,
    /// `source`, or `deployments/<environment>/<service>`.
    pub fn stream(&self) -> StreamId {
        match &self.kind {
            EventKind::PipelineDefined { .. } => StreamId::pipeline(),
            EventKind::ServiceRegistered { .. }
            | EventKind::ArtifactRegistered { .. }
            | EventKind::ReleaseRegistered { .. }
            | EventKind::ArtifactExpired { .. } => StreamId::catalog(),
            EventKind::CommitRecorded { .. } | EventKind::ChangeRecorded { .. } => {
                StreamId::source()
            }
            EventKind::DeploymentRequested { slot, .. }
            | EventKind::RollbackRequested { slot, .. }
            | EventKind::RolloutStarted { slot, .. }
            | EventKind::RolloutCompleted { slot, .. }
            | EventKind::RolloutFailed { slot, .. }
            | EventKind::DeploymentVerified { slot, .. }
            | EventKind::VerificationFailed { slot, .. }
            | EventKind::RolloutAborted { slot, .. }
            | EventKind::RevisionSuperseded { slot, .. }
            | EventKind::RevisionRolledBack { slot, .. }
            | EventKind::DeploymentApproved { slot, .. }
            | EventKind::BreakGlassUsed { slot, .. }
            | EventKind::FreezeOverridden {
                subject: Subject::Deployment { slot },
                ..
            } => StreamId::deployments(&slot.environment, &slot.service),
            EventKind::PolicyAdopted { .. } | EventKind::RunbookRegistered { .. } => {
                StreamId::policy()
            }
            EventKind::BranchMoved { .. }
            | EventKind::ChangePoisoned { .. }
            | EventKind::FixDeclared { .. } => StreamId::source(),
            EventKind::FlagSet { environment, .. }
            | EventKind::FlagVerified { environment, .. }
            | EventKind::FreezeOverridden {
                subject: Subject::Flag { environment, .. },
                ..
            } => StreamId::flags(environment),
            EventKind::GateClosed { environment, .. }
            | EventKind::RecoveryAuthorized { environment, .. }
            | EventKind::FastTrackAuthorized {
                target: environment,
                ..
            }
            | EventKind::GateReopened { environment, .. } => StreamId::gate(environment),
            EventKind::FreezeDeclared { .. } | EventKind::FreezeLifted { .. } => {
                StreamId::freezes()
            }
            EventKind::MigrationApplied {
                environment,
                service,
                ..
            }
            | EventKind::MigrationProgressed {
                environment,
                service,
                ..
            } => StreamId::deployments(environment, service),
            EventKind::IncidentDeclared { incident, .. }
            | EventKind::StrategyChosen { incident, .. }
            | EventKind::ChangesAccepted { incident, .. }
            | EventKind::CausePinned { incident, .. }
            | EventKind::ResolutionPlanned { incident, .. }
            | EventKind::RemediationDecided { incident, .. }
            | EventKind::IncidentMitigated { incident, .. }
            | EventKind::IncidentResolved { incident, .. }
            | EventKind::RetroRecorded { incident, .. }
            | EventKind::FollowUpCompleted { incident, .. }
            | EventKind::EffectRecorded { incident, .. } => StreamId::incident(incident),
        }
    }
}

/// Why a delivery gate closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum GateCause {
    /// Someone stopped the line by hand.
    Manual,
    /// A production rollout or its verification failed.
    FailedDeployment {
        /// The failed revision.
        slot: Slot,
    },
    /// A production rollback was requested.
    Rollback {
        /// The rollback revision.
        slot: Slot,
    },
    /// An incident was declared there.
    Incident {
        /// The incident.
        incident: IncidentId,
    },
}

/// What a freeze override let through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "subject", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Subject {
    /// A deployment or rollback.
    Deployment {
        /// Its revision.
        slot: Slot,
    },
    /// A flag change.
    Flag {
        /// Where.
        environment: EnvironmentId,
        /// Which flag.
        flag: FlagKey,
    },
}

/// What happened. Serialized with a `type` tag in `snake_case`; the tag
/// names are part of the journal format and never change meaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The pipeline was defined or redefined.
    PipelineDefined {
        /// The pipeline now in force.
        pipeline: Pipeline,
    },
    /// A service was registered.
    ServiceRegistered {
        /// The service.
        service: Service,
    },
    /// A commit was recorded.
    CommitRecorded {
        /// The commit.
        commit: Commit,
    },
    /// A change (merged pull request) was recorded.
    ChangeRecorded {
        /// The change.
        change: Change,
    },
    /// A build output was registered.
    ArtifactRegistered {
        /// The artifact.
        artifact: Artifact,
    },
    /// A release (artifact + configuration) was registered.
    ReleaseRegistered {
        /// The release.
        release: Release,
    },
    /// A deployment of a release was requested as a new revision.
    DeploymentRequested {
        /// The new revision.
        slot: Slot,
        /// The release to deploy.
        release: ReleaseId,
        /// Who asked.
        by: Actor,
        /// The effect it carries out, if a driver asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        effect: Option<IdempotencyKey>,
    },
    /// A rollback was requested: a new revision deploying an older release.
    RollbackRequested {
        /// The new revision.
        slot: Slot,
        /// The older release it deploys.
        release: ReleaseId,
        /// The revision whose release it restores.
        target: Revision,
        /// The revision being rolled back (what was serving).
        rolled_back_from: Revision,
        /// Who asked.
        by: Actor,
        /// Why.
        reason: String,
        /// The effect it carries out, if a driver asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        effect: Option<IdempotencyKey>,
        /// The written reason for a target never verified known good
        /// ([`Clearance::unverified_target`](crate::Clearance)), if it is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unverified_target: Option<String>,
    },
    /// The deployer began moving traffic.
    RolloutStarted {
        /// The revision.
        slot: Slot,
    },
    /// All traffic is on the revision's release.
    RolloutCompleted {
        /// The revision.
        slot: Slot,
    },
    /// The rollout failed before completing; the stable release kept serving.
    RolloutFailed {
        /// The revision.
        slot: Slot,
        /// What went wrong.
        reason: String,
    },
    /// Health verification passed: the release is known good here.
    DeploymentVerified {
        /// The revision.
        slot: Slot,
        /// What was measured (a health probe's detail), when the verdict
        /// came with it: the evidence a successor quotes after a crash.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        evidence: Option<String>,
    },
    /// Health verification failed.
    VerificationFailed {
        /// The revision.
        slot: Slot,
        /// What went wrong.
        reason: String,
    },
    /// A rollout in flight was stopped; the stable release kept serving.
    RolloutAborted {
        /// The revision.
        slot: Slot,
        /// The revision still serving, if any.
        stable: Option<Revision>,
        /// Who stopped it.
        by: Actor,
        /// Why.
        reason: String,
    },
    /// A known-good revision was replaced by a newer rollout.
    RevisionSuperseded {
        /// The replaced revision.
        slot: Slot,
        /// The revision that replaced it.
        by_revision: Revision,
    },
    /// A revision was replaced by the completed rollback away from it.
    RevisionRolledBack {
        /// The replaced revision.
        slot: Slot,
        /// The rollback revision.
        by_revision: Revision,
    },
    /// Someone approved a requested deployment.
    DeploymentApproved {
        /// The revision.
        slot: Slot,
        /// The approver.
        by: Actor,
    },
    /// A deployment skipped its approvals on a written justification.
    BreakGlassUsed {
        /// The revision.
        slot: Slot,
        /// Who broke the glass.
        by: Actor,
        /// Why.
        justification: String,
    },
    /// A freeze was overridden by a holder of an override role.
    FreezeOverridden {
        /// What it let through.
        subject: Subject,
        /// The action.
        action: GatedAction,
        /// The freezes overridden (empty when the action was outside every
        /// allow window).
        freezes: Vec<FreezeId>,
        /// Who overrode them.
        by: Actor,
        /// Why.
        reason: String,
    },
    /// The team's rules changed.
    PolicyAdopted {
        /// The policy now in force.
        policy: Policy,
        /// Who adopted it.
        by: Actor,
    },
    /// A branch moved.
    BranchMoved {
        /// The service whose repository it is.
        service: ServiceId,
        /// The branch.
        branch: BranchName,
        /// Its new head.
        head: CommitId,
    },
    /// A change was marked as the cause of an incident.
    ChangePoisoned {
        /// The change.
        change: ChangeId,
        /// Who marked it.
        by: Actor,
        /// Why.
        reason: String,
    },
    /// A change was declared to fix a poisoned one.
    FixDeclared {
        /// The poisoned change.
        change: ChangeId,
        /// The fix.
        fix: ChangeId,
        /// Who declared it.
        by: Actor,
    },
    /// A feature flag was set.
    FlagSet {
        /// Where.
        environment: EnvironmentId,
        /// Which flag.
        flag: FlagKey,
        /// Its new state.
        state: FlagState,
        /// Who set it.
        by: Actor,
    },
    /// Health was measured with a flag at `state` in an environment.
    FlagVerified {
        /// Where.
        environment: EnvironmentId,
        /// Which flag.
        flag: FlagKey,
        /// The state measured.
        state: FlagState,
        /// Whether it measured healthy.
        healthy: bool,
        /// What was measured (a healthy verdict's evidence), or why it is
        /// unhealthy.
        detail: String,
        /// Who measured.
        by: Actor,
        /// The measurement's key.
        key: IdempotencyKey,
    },
    /// A delivery gate closed: only the active recovery plan may deploy.
    GateClosed {
        /// Where.
        environment: EnvironmentId,
        /// Who closed it, or whose action closed it.
        by: Actor,
        /// Why.
        reason: String,
        /// What closed it.
        cause: GateCause,
    },
    /// A release may skip test stages on its way into an environment.
    FastTrackAuthorized {
        /// The release.
        release: ReleaseId,
        /// Its artifact.
        digest: crate::model::Digest,
        /// Where it is going.
        target: EnvironmentId,
        /// Along which lane.
        lane: crate::model::Lane,
        /// The stages it skips, upstream first.
        skipped: Vec<EnvironmentId>,
        /// Who authorised it.
        by: Actor,
        /// Why.
        reason: String,
        /// The policy role it was authorised under (`None`: the policy
        /// names no fast-track role).
        role: Option<crate::model::Role>,
    },
    /// A recovery plan became the active one behind a closed gate.
    RecoveryAuthorized {
        /// Where.
        environment: EnvironmentId,
        /// The plan.
        plan: PlanId,
        /// The steps it may take.
        permits: Vec<RecoveryPermit>,
        /// Who authorized it.
        by: Actor,
    },
    /// A delivery gate reopened.
    GateReopened {
        /// Where.
        environment: EnvironmentId,
        /// Who reopened it.
        by: Actor,
        /// Why.
        reason: String,
    },
    /// A freeze was declared.
    FreezeDeclared {
        /// The freeze.
        freeze: Freeze,
    },
    /// A freeze was lifted before its window ended.
    FreezeLifted {
        /// The freeze.
        freeze: FreezeId,
        /// Who lifted it.
        by: Actor,
        /// Why.
        reason: String,
    },
    /// An artifact was expired from the registry.
    ArtifactExpired {
        /// The artifact.
        digest: Digest,
        /// Who expired it.
        by: Actor,
    },
    /// One of the host's runbooks was registered (or defined anew).
    RunbookRegistered {
        /// The runbook.
        runbook: crate::model::Runbook,
    },
    /// One batch of a data migration moved.
    MigrationProgressed {
        /// Where.
        environment: EnvironmentId,
        /// Whose database.
        service: ServiceId,
        /// The data migration.
        migration: crate::model::MigrationId,
        /// Where the next batch starts.
        cursor: String,
        /// Rows this batch moved.
        moved: u64,
        /// Whether the migrator says the data migration is complete.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        done: bool,
        /// Who moved them.
        by: Actor,
        /// The batch's key.
        key: IdempotencyKey,
    },
    /// A schema migration was applied.
    MigrationApplied {
        /// Where.
        environment: EnvironmentId,
        /// Whose database.
        service: ServiceId,
        /// The migration.
        migration: Migration,
        /// Who applied it.
        by: Actor,
    },
    /// An incident was declared.
    IncidentDeclared {
        /// Its name.
        incident: IncidentId,
        /// Where.
        environment: EnvironmentId,
        /// The service affected.
        service: ServiceId,
        /// How bad.
        severity: Severity,
        /// What is suspected.
        cause: SuspectedCause,
        /// What is seen.
        summary: String,
        /// Who declared it.
        by: Actor,
        /// When the impact began, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        impact_began: Option<DateTime<Utc>>,
    },
    /// A recovery strategy was chosen.
    StrategyChosen {
        /// The incident.
        incident: IncidentId,
        /// The strategy.
        strategy: Strategy,
        /// Every option on the table, ranked.
        considered: Vec<ConsideredOption>,
        /// Why the chosen one (the planner's explanation).
        explanation: String,
        /// Obligations it leaves.
        follow_ups: Vec<FollowUpKind>,
        /// The steps to carry out, in order.
        steps: Vec<crate::machine::effect::Effect>,
        /// Who chose.
        by: Actor,
        /// The authority the chooser brought to the steps.
        #[serde(default, skip_serializing_if = "crate::Clearance::is_none")]
        clearance: crate::Clearance,
    },
    /// The environment's remediation policy acted by itself: it chose
    /// `strategy` for `incident`, on the evidence of a failed
    /// verification, the `nth` time for `release` there and the
    /// `in_window`-th time in its window.
    RemediationDecided {
        /// The incident.
        incident: IncidentId,
        /// Where.
        environment: EnvironmentId,
        /// The release that failed.
        release: ReleaseId,
        /// What the policy chose.
        strategy: Strategy,
        /// The failed measurement.
        evidence: String,
        /// The how-manieth automatic remediation of `release` there.
        nth: u32,
        /// The how-manieth in the policy's window there.
        in_window: u32,
        /// Who acted for the policy.
        by: Actor,
    },
    /// The plan that will resolve the incident once it is mitigated was
    /// chosen up front.
    ResolutionPlanned {
        /// The incident.
        incident: IncidentId,
        /// The resolving strategy.
        strategy: Strategy,
        /// Who chose it.
        by: Actor,
    },
    /// An incident suspected on a deployment was pinned to the change
    /// that caused it.
    CausePinned {
        /// The incident.
        incident: IncidentId,
        /// The change.
        change: ChangeId,
        /// Who found it.
        by: Actor,
    },
    /// A person took what a branch the incident's plan ships carries at
    /// `head` into the plan (what was pushed there after it was chosen).
    ChangesAccepted {
        /// The incident.
        incident: IncidentId,
        /// Whose repository.
        service: ServiceId,
        /// The branch.
        branch: BranchName,
        /// The head accepted.
        head: CommitId,
        /// Who looked and accepted it.
        by: Actor,
        /// Why.
        reason: String,
    },
    /// A known-good state was restored.
    IncidentMitigated {
        /// The incident.
        incident: IncidentId,
        /// Who said so.
        by: Actor,
    },
    /// The permanent fix is in production.
    IncidentResolved {
        /// The incident.
        incident: IncidentId,
        /// Who said so.
        by: Actor,
    },
    /// The retro was recorded.
    RetroRecorded {
        /// The incident.
        incident: IncidentId,
        /// Its summary.
        summary: String,
        /// Who recorded it.
        by: Actor,
    },
    /// Something became of one step of the chosen strategy.
    EffectRecorded {
        /// The incident.
        incident: IncidentId,
        /// The step's key.
        key: IdempotencyKey,
        /// What became of it.
        outcome: crate::machine::effect::EffectOutcome,
        /// Who performed it, when known (absent from entries written
        /// before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Actor>,
    },
    /// A follow-up was done.
    FollowUpCompleted {
        /// The incident.
        incident: IncidentId,
        /// Its number.
        follow_up: u32,
        /// Who did it.
        by: Actor,
    },
}

impl EventKind {
    /// The event's type tag, as written in the journal.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::PipelineDefined { .. } => "pipeline_defined",
            Self::ServiceRegistered { .. } => "service_registered",
            Self::CommitRecorded { .. } => "commit_recorded",
            Self::ChangeRecorded { .. } => "change_recorded",
            Self::ArtifactRegistered { .. } => "artifact_registered",
            Self::ReleaseRegistered { .. } => "release_registered",
            Self::DeploymentRequested { .. } => "deployment_requested",
            Self::RollbackRequested { .. } => "rollback_requested",
            Self::RolloutStarted { .. } => "rollout_started",
            Self::RolloutCompleted { .. } => "rollout_completed",
            Self::RolloutFailed { .. } => "rollout_failed",
            Self::DeploymentVerified { .. } => "deployment_verified",
            Self::VerificationFailed { .. } => "verification_failed",
            Self::RolloutAborted { .. } => "rollout_aborted",
            Self::RevisionSuperseded { .. } => "revision_superseded",
            Self::RevisionRolledBack { .. } => "revision_rolled_back",
            Self::DeploymentApproved { .. } => "deployment_approved",
            Self::BreakGlassUsed { .. } => "break_glass_used",
            Self::FreezeOverridden { .. } => "freeze_overridden",
            Self::PolicyAdopted { .. } => "policy_adopted",
            Self::BranchMoved { .. } => "branch_moved",
            Self::ChangePoisoned { .. } => "change_poisoned",
            Self::FixDeclared { .. } => "fix_declared",
            Self::FlagSet { .. } => "flag_set",
            Self::FlagVerified { .. } => "flag_verified",
            Self::GateClosed { .. } => "gate_closed",
            Self::RecoveryAuthorized { .. } => "recovery_authorized",
            Self::FastTrackAuthorized { .. } => "fast_track_authorized",
            Self::GateReopened { .. } => "gate_reopened",
            Self::FreezeDeclared { .. } => "freeze_declared",
            Self::FreezeLifted { .. } => "freeze_lifted",
            Self::ArtifactExpired { .. } => "artifact_expired",
            Self::MigrationApplied { .. } => "migration_applied",
            Self::MigrationProgressed { .. } => "migration_progressed",
            Self::RunbookRegistered { .. } => "runbook_registered",
            Self::IncidentDeclared { .. } => "incident_declared",
            Self::StrategyChosen { .. } => "strategy_chosen",
            Self::ChangesAccepted { .. } => "changes_accepted",
            Self::CausePinned { .. } => "cause_pinned",
            Self::ResolutionPlanned { .. } => "resolution_planned",
            Self::RemediationDecided { .. } => "remediation_decided",
            Self::IncidentMitigated { .. } => "incident_mitigated",
            Self::IncidentResolved { .. } => "incident_resolved",
            Self::RetroRecorded { .. } => "retro_recorded",
            Self::FollowUpCompleted { .. } => "follow_up_completed",
            Self::EffectRecorded { .. } => "effect_recorded",
        }
    }

    /// Whether the event belongs in the audit trail: authority used or
    /// changed (approvals, break-glass, freeze overrides, gates, freezes,
    /// policy, poisoned changes, rollbacks and aborts).
    pub fn is_audited(&self) -> bool {
        matches!(
            self,
            Self::DeploymentApproved { .. }
                | Self::BreakGlassUsed { .. }
                | Self::FreezeOverridden { .. }
                | Self::PolicyAdopted { .. }
                | Self::RunbookRegistered { .. }
                | Self::ChangePoisoned { .. }
                | Self::FixDeclared { .. }
                | Self::GateClosed { .. }
                | Self::RecoveryAuthorized { .. }
                | Self::FastTrackAuthorized { .. }
                | Self::GateReopened { .. }
                | Self::FreezeDeclared { .. }
                | Self::FreezeLifted { .. }
                | Self::RollbackRequested { .. }
                | Self::RolloutAborted { .. }
                | Self::ArtifactExpired { .. }
                | Self::MigrationApplied { .. }
                | Self::IncidentDeclared { .. }
                | Self::StrategyChosen { .. }
                | Self::ChangesAccepted { .. }
                | Self::CausePinned { .. }
                | Self::ResolutionPlanned { .. }
                | Self::RemediationDecided { .. }
                | Self::IncidentMitigated { .. }
                | Self::IncidentResolved { .. }
                | Self::RetroRecorded { .. }
                | Self::FollowUpCompleted { .. }
        )
    }

    /// Whether the event marks an exception to the rules: broken glass, an
    /// overridden freeze, a fast-track, a rollback to a target never
    /// verified known good.
    pub fn is_exception(&self) -> bool {
        matches!(
            self,
            Self::BreakGlassUsed { .. }
                | Self::FreezeOverridden { .. }
                | Self::FastTrackAuthorized { .. }
                | Self::RollbackRequested {
                    unverified_target: Some(_),
                    ..
                }
        )
    }
}

/// One step a recovery plan may take through a closed delivery gate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RecoveryPermit {
    /// Deploy this release.
    Deploy {
        /// The release.
        release: ReleaseId,
    },
    /// Roll this service back.
    Rollback {
        /// The service.
        service: ServiceId,
    },
    /// Deploy a new release of this service moving forward (a revert, a
    /// fix, a hotfix), still subject to every other rule.
    Forward {
        /// The service.
        service: ServiceId,
    },
}

impl std::fmt::Display for RecoveryPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Deploy { release } => write!(f, "deploy `{release}`"),
            Self::Rollback { service } => write!(f, "roll back `{service}`"),
            Self::Forward { service } => write!(f, "ship a new release of `{service}`"),
        }
    }
}
