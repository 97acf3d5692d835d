//! Commands: what someone asks the system to do. A command is checked
//! against the current state by [`decide`](super::decide); it either yields
//! events or is rejected, changing nothing.

/// A step through a closed gate; it lives in [`super::event`] and is
/// named here too, where it always was.
pub use super::event::RecoveryPermit;
use crate::model::Slot;
use serde::{Deserialize, Serialize};

use crate::machine::effect::{ConsideredOption, Effect, FollowUpKind, IdempotencyKey};
use crate::model::{
    Actor, Artifact, BranchName, Change, ChangeId, Commit, CommitId, Digest, EnvironmentId,
    FlagKey, FlagState, Freeze, FreezeId, IncidentId, Migration, Pipeline, PlanId, Policy, Release,
    ReleaseId, Revision, Service, ServiceId, Severity, Strategy, SuspectedCause,
};

/// The outcome of a health verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Verdict {
    /// The release is healthy.
    Healthy,
    /// The release is not healthy.
    Unhealthy {
        /// What the probe saw.
        reason: String,
    },
}

/// Extra authority a gated command may carry.
///
/// Both are journaled with the command and show in the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Clearance {
    /// Override the freezes that would refuse the command, with this
    /// reason. The actor must hold one of the policy's
    /// `freeze_override_roles`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze_override: Option<String>,
    /// Skip the approvals a deployment needs, with this written
    /// justification. Always journaled and marked in the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<String>,
    /// Roll back to a named revision that was never verified known good
    /// (or failed, or was itself rolled back), with this written reason.
    /// Journaled with the rollback and marked in the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unverified_target: Option<String>,
}

impl Clearance {
    /// No extra authority.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether it carries no extra authority.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// Override freezes, for `reason`.
    pub fn override_freeze(reason: impl Into<String>) -> Self {
        Self {
            freeze_override: Some(reason.into()),
            ..Self::default()
        }
    }

    /// Break glass: skip approvals, for `justification`.
    pub fn break_glass(justification: impl Into<String>) -> Self {
        Self {
            break_glass: Some(justification.into()),
            ..Self::default()
        }
    }

    /// Roll back to a revision never verified known good, for `reason`
    /// (see [`Clearance::unverified_target`]).
    ///
    /// ```
    /// use knowngood::{Clearance, Command, Revision};
    /// let command = Command::rollback_to(
    ///     "prod",
    ///     "payments",
    ///     Revision(20),
    ///     "alice",
    ///     "r21 corrupts carts",
    /// )
    /// .with_clearance(Clearance::unverified_target("r20 served the canary for an hour without errors"));
    /// assert_eq!(command.name(), "rollback");
    /// ```
    pub fn unverified_target(reason: impl Into<String>) -> Self {
        Self {
            unverified_target: Some(reason.into()),
            ..Self::default()
        }
    }
}

/// A request to change the state.
///
/// ```
/// use knowngood::{Command, Revision, Slot};
/// let cmd = Command::StartRollout { slot: Slot::new("prod", "payments", Revision(3)) };
/// assert_eq!(cmd.name(), "start_rollout");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Command {
    /// Define the pipeline, or redefine it (environments that already have
    /// rollout history must remain).
    DefinePipeline {
        /// The validated pipeline.
        pipeline: Pipeline,
    },
    /// Register a service. Registering the same service again is a no-op.
    RegisterService {
        /// The service.
        service: Service,
    },
    /// Record a commit; its parents must be recorded first.
    RecordCommit {
        /// The commit.
        commit: Commit,
    },
    /// Record a merged change; its commits must be recorded first.
    RecordChange {
        /// The change.
        change: Change,
    },
    /// Register a build output of a registered service.
    RegisterArtifact {
        /// The artifact.
        artifact: Artifact,
    },
    /// Register a release of a registered artifact.
    RegisterRelease {
        /// The release.
        release: Release,
    },
    /// Deploy a release to an environment as a new revision. The release's
    /// artifact must have been verified in every upstream environment of
    /// one lane into `environment`.
    RequestDeployment {
        /// Where.
        environment: EnvironmentId,
        /// What.
        release: ReleaseId,
        /// Who asks.
        by: Actor,
        /// Freeze override or break-glass, if needed.
        #[serde(default)]
        clearance: Clearance,
        /// The effect this deployment carries out, if a driver asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        effect: Option<IdempotencyKey>,
    },
    /// The deployer began moving traffic to a requested revision. Refused
    /// until the approvals the policy asks for are in (or glass was broken).
    StartRollout {
        /// The revision.
        slot: Slot,
    },
    /// All traffic is on the revision.
    CompleteRollout {
        /// The revision.
        slot: Slot,
    },
    /// The rollout failed before it completed.
    FailRollout {
        /// The revision.
        slot: Slot,
        /// What went wrong.
        reason: String,
        /// Who reports it (a person, the deployer, a probe).
        by: Actor,
    },
    /// Record the health verification of a completed rollout.
    RecordVerification {
        /// The revision.
        slot: Slot,
        /// The outcome.
        verdict: Verdict,
        /// Who reports it (a person or a health probe).
        by: Actor,
        /// What was measured for a healthy verdict (the probe's detail:
        /// error rate, latency), kept in the journal with it. The driver
        /// always gives it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        evidence: Option<String>,
    },
    /// Record the health measured with a flag at its current state in an
    /// environment (one stage of a gradual rollout): the verdict is on
    /// the state the flag has there now. A healthy verdict needs its
    /// evidence (rule `verdict-needs-evidence`); one with a key already
    /// recorded for the flag changes nothing.
    RecordFlagVerdict {
        /// Where.
        environment: EnvironmentId,
        /// Which flag.
        flag: FlagKey,
        /// The outcome.
        verdict: Verdict,
        /// What was measured (the probe's detail).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        evidence: Option<String>,
        /// Who measured (a person or a health probe).
        by: Actor,
        /// The measurement's key (a rollout stage's), so that a retry does
        /// not record it twice.
        key: IdempotencyKey,
    },
    /// Stop a rollout still in flight; the stable release keeps serving.
    /// Once a rollout has completed, use [`Command::Rollback`] instead.
    AbortRollout {
        /// The revision in flight.
        slot: Slot,
        /// Who stops it.
        by: Actor,
        /// Why.
        reason: String,
    },
    /// Deploy an older release as a new revision. Without `to_revision` the
    /// target is the last revision verified known good before the current
    /// one; with it, that revision's release (like
    /// `kubectl rollout undo --to-revision`).
    Rollback {
        /// Where.
        environment: EnvironmentId,
        /// Which service.
        service: ServiceId,
        /// An explicit target revision.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to_revision: Option<Revision>,
        /// Who asks.
        by: Actor,
        /// Why.
        reason: String,
        /// Freeze override, if needed.
        #[serde(default)]
        clearance: Clearance,
        /// The effect this rollback carries out, if a driver asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        effect: Option<IdempotencyKey>,
    },
    /// Approve a requested deployment. The approver must hold the role the
    /// policy names for the environment and must not be the requester.
    Approve {
        /// The requested revision.
        slot: Slot,
        /// Who approves.
        by: Actor,
    },
    /// Adopt the team's rules; they apply from now on.
    AdoptPolicy {
        /// The policy.
        policy: Policy,
        /// Who adopts it.
        by: Actor,
    },
    /// Move a branch of a service's repository to a recorded commit.
    MoveBranch {
        /// The service.
        service: ServiceId,
        /// The branch, e.g. `main`.
        branch: BranchName,
        /// The commit it now points at.
        head: CommitId,
    },
    /// Mark a change as the cause of an incident: no release containing it
    /// may enter production until it is neutralised (its flags off, a
    /// revert of it contained, or a declared fix contained).
    PoisonChange {
        /// The change.
        change: ChangeId,
        /// Who marks it.
        by: Actor,
        /// Why.
        reason: String,
    },
    /// Declare that `fix` repairs `change`: a release containing both is
    /// no longer poisoned by `change`.
    DeclareFix {
        /// The poisoned change.
        change: ChangeId,
        /// The change that fixes it.
        fix: ChangeId,
        /// Who declares it.
        by: Actor,
    },
    /// Set a feature flag in an environment.
    SetFlag {
        /// Where.
        environment: EnvironmentId,
        /// Which flag.
        flag: FlagKey,
        /// Its new state.
        state: FlagState,
        /// Who sets it.
        by: Actor,
        /// Freeze override, if needed.
        #[serde(default)]
        clearance: Clearance,
    },
    /// Stop the line: close an environment's delivery gate by hand.
    CloseGate {
        /// Where.
        environment: EnvironmentId,
        /// Who closes it.
        by: Actor,
        /// Why.
        reason: String,
    },
    /// Let `release` skip the test stages of `lane` on its way into
    /// `target` (which stages: [`Pipeline::fast_track_skips`](crate::Pipeline::fast_track_skips)):
    /// entering `target`, and anything after a skipped stage, then needs
    /// only the stages that are not skipped. Explicit, authorised (refused
    /// when the policy does not allow fast-tracks or `by` holds none of its
    /// fast-track roles) and recorded with who, why, the stages skipped and
    /// the role. The driver issues it when a chosen plan fast-tracks a fix.
    FastTrack {
        /// The release to fast-track.
        release: ReleaseId,
        /// Where it is going.
        target: EnvironmentId,
        /// Along which lane.
        lane: crate::model::Lane,
        /// Who authorises it.
        by: Actor,
        /// Why.
        reason: String,
    },
    /// Make a recovery plan the active one behind a closed gate: only its
    /// steps may deploy there until the gate reopens. Replaces any earlier
    /// plan.
    AuthorizeRecovery {
        /// Where.
        environment: EnvironmentId,
        /// The plan's name.
        plan: PlanId,
        /// The steps it may take.
        permits: Vec<RecoveryPermit>,
        /// Who authorizes it.
        by: Actor,
    },
    /// Reopen a closed delivery gate. Refused while a service there is
    /// rolled back (drift), not verified known good, or runs a poisoned
    /// change.
    ReopenGate {
        /// Where.
        environment: EnvironmentId,
        /// Who reopens it.
        by: Actor,
        /// Why.
        reason: String,
    },
    /// Declare a freeze (a deny or allow window).
    DeclareFreeze {
        /// The freeze.
        freeze: Freeze,
    },
    /// Expire an artifact from the registry: it can no longer be
    /// deployed, so it stops being a rollback target.
    ExpireArtifact {
        /// The artifact.
        digest: Digest,
        /// Who expires it.
        by: Actor,
    },
    /// Record one batch of a data migration (phase `migrate`) moved: where
    /// it stopped (the migrator's cursor) and how much it moved. Judged by
    /// the rules of applying that migration (in sequence, the serving
    /// release verified, compatible), and only for a data migration not
    /// complete yet (rule `data-migration-in-batches`); a key already
    /// recorded as the last batch changes nothing. Record the migration
    /// itself with [`Command::ApplyMigration`] when the last batch is done.
    RecordMigrationProgress {
        /// Where.
        environment: EnvironmentId,
        /// Whose database.
        service: ServiceId,
        /// The data migration.
        migration: Migration,
        /// Where the next batch starts.
        cursor: String,
        /// Rows (or items) this batch moved.
        moved: u64,
        /// Whether the migrator says the data migration is complete.
        #[serde(default)]
        done: bool,
        /// Who moved them.
        by: Actor,
        /// The batch's key.
        key: IdempotencyKey,
    },
    /// Register one of the host's runbooks (or a new definition of it):
    /// the planner offers it beside the built-in strategies wherever its
    /// scope says it applies (rule `runbook-applies`).
    RegisterRunbook {
        /// The runbook.
        runbook: crate::model::Runbook,
    },
    /// Record a schema migration applied to a service's database in an
    /// environment. It must start from the current schema version; going
    /// down undoes the last migration and needs it to be reversible; a
    /// contract step is refused while a release inside the rollback window
    /// still needs the old schema.
    ApplyMigration {
        /// Where.
        environment: EnvironmentId,
        /// Whose database.
        service: ServiceId,
        /// The migration.
        migration: Migration,
        /// Who applies it.
        by: Actor,
    },
    /// Declare an incident in an environment. Stops the line there and, when
    /// the cause is a change, poisons it.
    DeclareIncident {
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
        /// Who declares it.
        by: Actor,
        /// When the impact began, if known (a metric crossing its line, the
        /// first customer report): time to detect runs from it. It may not
        /// be later than the declaration.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        impact_began: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Choose how to recover: adopt one option of a recovery plan. Build
    /// it with [`RecoveryPlan::choose`](crate::RecoveryPlan::choose), which
    /// refuses an option the planner found not applicable. The core then
    /// judges it on its own: the incident must be open, the policy must
    /// allow the strategy, and every step must pass a dry run
    /// ([`rehearse`](crate::machine::rehearse)) on the state as it would be
    /// once the earlier steps succeeded. The steps become the recovery plan
    /// allowed through the closed gate.
    ChooseStrategy {
        /// The incident.
        incident: IncidentId,
        /// The strategy.
        strategy: Strategy,
        /// Its steps, in order, each with its idempotency key.
        steps: Vec<Effect>,
        /// The obligations it leaves.
        #[serde(default)]
        follow_ups: Vec<FollowUpKind>,
        /// What was on the table, kept for the retro.
        #[serde(default)]
        considered: Vec<ConsideredOption>,
        /// Why this option, in plain words.
        #[serde(default)]
        explanation: String,
        /// Who chooses. Every step is judged as this actor, in the
        /// rehearsal and when the driver carries it out.
        by: Actor,
        /// The authority the chooser brings to the plan's steps (a freeze
        /// override, break-glass, a rollback target never verified), each
        /// used only by the steps that need it and audited there.
        #[serde(default, skip_serializing_if = "Clearance::is_none")]
        clearance: Clearance,
    },
    /// The environment's remediation policy chooses a plan by itself for
    /// an incident it detected (a deployment that failed its
    /// verification): judged as [`Command::ChooseStrategy`] as `by`, and
    /// first by the policy (rules `remediation-allowed`: the environment
    /// has a remediation policy that allows `strategy`; and
    /// `remediation-limit`: the loop guard, per release and per window).
    /// Recorded as the policy's decision with its evidence
    /// ([`EventKind::RemediationDecided`](crate::EventKind::RemediationDecided)),
    /// then as the strategy chosen.
    Remediate {
        /// The incident, just declared.
        incident: IncidentId,
        /// The strategy the policy chose.
        strategy: Strategy,
        /// The planner's steps for it.
        steps: Vec<Effect>,
        /// The obligations it leaves.
        follow_ups: Vec<FollowUpKind>,
        /// Why this one, in words.
        explanation: String,
        /// The measurement that failed.
        evidence: String,
        /// Who acts for the policy (the driver).
        by: Actor,
    },
    /// Choose up front the plan that will resolve the incident once it is
    /// mitigated (a rollback now, the revert after): the driver plans and
    /// chooses `strategy` as the current plan's chooser when the incident
    /// is mitigated, and carries it out under the same incident. Refused
    /// unless `strategy` fixes main and ships it and the policy allows it,
    /// before mitigation (rule `resolution-up-front`).
    PlanResolution {
        /// The incident.
        incident: IncidentId,
        /// The resolving strategy (revert, fix forward, hotfix).
        strategy: Strategy,
        /// Who chooses it.
        by: Actor,
    },
    /// Pin an incident suspected on a deployment to the change that
    /// caused it, once someone found it (the deployment brought it): the
    /// incident's cause becomes the change, which is poisoned as a
    /// declaration naming it would have, and the planner can offer a
    /// revert, a hotfix or a flag switch for it. Refused unless the cause
    /// is a deployment that brought the change (rule `pin-cause`).
    PinCause {
        /// The incident.
        incident: IncidentId,
        /// The change.
        change: ChangeId,
        /// Who found it.
        by: Actor,
    },
    /// Take what a branch the incident's plan ships carries at `head` into
    /// the plan: after someone pushed while it ran, a person looked at the
    /// difference ([`State::unplanned`](crate::State::unplanned)) and lets
    /// it ship. Refused unless the plan ships that branch and `head` is its
    /// recorded head (rule `accept-planned-branch`); a reason is needed.
    AcceptChanges {
        /// The incident.
        incident: IncidentId,
        /// Whose repository.
        service: ServiceId,
        /// The branch.
        branch: BranchName,
        /// The head looked at.
        head: CommitId,
        /// Who accepts it.
        by: Actor,
        /// Why.
        reason: String,
    },
    /// Record that a known-good state is restored. Refused until the
    /// service serves a verified release without the cause.
    MarkMitigated {
        /// The incident.
        incident: IncidentId,
        /// Who says so.
        by: Actor,
    },
    /// Record the permanent fix. Refused while the gate is closed or the
    /// environment drifts from main.
    ResolveIncident {
        /// The incident.
        incident: IncidentId,
        /// Who says so.
        by: Actor,
    },
    /// Record the blameless retro.
    RecordRetro {
        /// The incident.
        incident: IncidentId,
        /// Its summary or a link to it.
        summary: String,
        /// Who records it.
        by: Actor,
    },
    /// Mark a follow-up done.
    CompleteFollowUp {
        /// The incident.
        incident: IncidentId,
        /// The follow-up's number in the incident's list, from 0.
        follow_up: u32,
        /// Who did it.
        by: Actor,
    },
    /// Mark a follow-up done by its stable id
    /// ([`FollowUpKind::id`](crate::machine::FollowUpKind::id), such as
    /// `fix-main/payments`): the same rules as
    /// [`Command::CompleteFollowUp`], without counting places in a list.
    CloseFollowUp {
        /// The incident.
        incident: IncidentId,
        /// The follow-up's id.
        follow_up: String,
        /// Who did it.
        by: Actor,
    },
    /// Record what became of one step of the chosen strategy (the driver
    /// does this; a person confirms steps only a person can take, such as
    /// landing a fix). A step already done stays done: a repeated outcome
    /// is harmless.
    RecordEffect {
        /// The incident.
        incident: IncidentId,
        /// The step's key.
        key: IdempotencyKey,
        /// What became of it.
        outcome: crate::machine::effect::EffectOutcome,
        /// Who performed it (the driver's actor: with several replicas,
        /// which one), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Actor>,
    },
    /// Lift a freeze before its window ends. Allowed to whoever declared it
    /// and to holders of a freeze-override role.
    LiftFreeze {
        /// The freeze.
        freeze: FreezeId,
        /// Who lifts it.
        by: Actor,
        /// Why.
        reason: String,
    },
}

impl Command {
    /// Deploy `release` to `environment` as a new revision, with no extra
    /// clearance.
    ///
    /// ```
    /// use knowngood::Command;
    /// let cmd = Command::deploy("prod", "payments@1.4.2", "deploy-bot");
    /// assert_eq!(cmd.name(), "request_deployment");
    /// ```
    pub fn deploy(
        environment: impl Into<EnvironmentId>,
        release: impl Into<ReleaseId>,
        by: impl Into<Actor>,
    ) -> Self {
        Self::RequestDeployment {
            environment: environment.into(),
            release: release.into(),
            by: by.into(),
            clearance: Clearance::none(),
            effect: None,
        }
    }

    /// Roll `service` in `environment` back to the last revision verified
    /// known good, with no extra clearance.
    pub fn rollback(
        environment: impl Into<EnvironmentId>,
        service: impl Into<ServiceId>,
        by: impl Into<Actor>,
        reason: impl Into<String>,
    ) -> Self {
        let mut command = Self::rollback_to(environment, service, Revision(0), by, reason);
        if let Self::Rollback { to_revision, .. } = &mut command {
            *to_revision = None;
        }
        command
    }

    /// Roll `service` in `environment` back to the release of `revision`.
    pub fn rollback_to(
        environment: impl Into<EnvironmentId>,
        service: impl Into<ServiceId>,
        revision: Revision,
        by: impl Into<Actor>,
        reason: impl Into<String>,
    ) -> Self {
        Self::Rollback {
            environment: environment.into(),
            service: service.into(),
            to_revision: Some(revision),
            by: by.into(),
            reason: reason.into(),
            clearance: Clearance::none(),
            effect: None,
        }
    }

    /// The same command carrying `clearance`. Commands that take no
    /// clearance are returned unchanged.
    #[must_use]
    pub fn with_clearance(mut self, new: Clearance) -> Self {
        match &mut self {
            Self::RequestDeployment { clearance, .. }
            | Self::Rollback { clearance, .. }
            | Self::SetFlag { clearance, .. } => *clearance = new,
            _ => {}
        }
        self
    }

    /// The same deployment or rollback, carrying out `key`: the
    /// deployment records it, so a driver resuming after a crash finds it
    /// instead of asking twice. Other commands are returned unchanged.
    #[must_use]
    pub fn for_effect(mut self, key: IdempotencyKey) -> Self {
        if let Self::RequestDeployment { effect, .. } | Self::Rollback { effect, .. } = &mut self {
            *effect = Some(key);
        }
        self
    }

    /// The command's name, as in its serialized `type` tag.
    pub fn name(&self) -> &'static str {
        match self {
            Self::DefinePipeline { .. } => "define_pipeline",
            Self::RegisterService { .. } => "register_service",
            Self::RecordCommit { .. } => "record_commit",
            Self::RecordChange { .. } => "record_change",
            Self::RegisterArtifact { .. } => "register_artifact",
            Self::RegisterRelease { .. } => "register_release",
            Self::RequestDeployment { .. } => "request_deployment",
            Self::StartRollout { .. } => "start_rollout",
            Self::CompleteRollout { .. } => "complete_rollout",
            Self::FailRollout { .. } => "fail_rollout",
            Self::RecordVerification { .. } => "record_verification",
            Self::RecordFlagVerdict { .. } => "record_flag_verdict",
            Self::AbortRollout { .. } => "abort_rollout",
            Self::Rollback { .. } => "rollback",
            Self::Approve { .. } => "approve",
            Self::AdoptPolicy { .. } => "adopt_policy",
            Self::MoveBranch { .. } => "move_branch",
            Self::PoisonChange { .. } => "poison_change",
            Self::DeclareFix { .. } => "declare_fix",
            Self::SetFlag { .. } => "set_flag",
            Self::CloseGate { .. } => "close_gate",
            Self::AuthorizeRecovery { .. } => "authorize_recovery",
            Self::FastTrack { .. } => "fast_track",
            Self::ReopenGate { .. } => "reopen_gate",
            Self::DeclareFreeze { .. } => "declare_freeze",
            Self::LiftFreeze { .. } => "lift_freeze",
            Self::ExpireArtifact { .. } => "expire_artifact",
            Self::ApplyMigration { .. } => "apply_migration",
            Self::RegisterRunbook { .. } => "register_runbook",
            Self::RecordMigrationProgress { .. } => "record_migration_progress",
            Self::DeclareIncident { .. } => "declare_incident",
            Self::ChooseStrategy { .. } => "choose_strategy",
            Self::AcceptChanges { .. } => "accept_changes",
            Self::PinCause { .. } => "pin_cause",
            Self::Remediate { .. } => "remediate",
            Self::PlanResolution { .. } => "plan_resolution",
            Self::MarkMitigated { .. } => "mark_mitigated",
            Self::ResolveIncident { .. } => "resolve_incident",
            Self::RecordRetro { .. } => "record_retro",
            Self::CompleteFollowUp { .. } => "complete_follow_up",
            Self::CloseFollowUp { .. } => "close_follow_up",
            Self::RecordEffect { .. } => "record_effect",
        }
    }
}
