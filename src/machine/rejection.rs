//! Rejections: why a command was refused, in words a host can show a person
//! as they are, naming the rule, the objects involved and what would unblock
//! it. A rejected command changes nothing.

use serde::{Deserialize, Serialize};

use super::effect::IdempotencyKey;
use super::event::RecoveryPermit;
use super::lifecycle::{DeploymentStatus, LifecycleStep};
use crate::model::{
    Actor, BuilderId, ChangeId, CommitId, Digest, EnvironmentId, FlagKey, FreezeId, GatedAction,
    IncidentId, IncidentPhase, Lane, MigrationId, PlanId, ReleaseId, Revision, Role, SchemaRange,
    ServiceId, Slot, Strategy,
};

/// Why a closed delivery gate must stay closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "hold", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum GateHold {
    /// The service runs a rollback: production lags main until a fixed
    /// release reaches it.
    #[error("`{service}` runs rollback {revision} (drift from main): ship a fixed release first")]
    Drift {
        /// The service.
        service: ServiceId,
        /// The rollback revision serving.
        revision: Revision,
    },
    /// What serves holds commits main does not: a hotfix not merged back.
    #[error(
        "`{service}` runs `{release}`, which holds {} commit(s) main does not (first `{first}`): merge the hotfix back to main first", .commits
    )]
    Unmerged {
        /// The service.
        service: ServiceId,
        /// The release serving.
        release: ReleaseId,
        /// How many commits main lacks.
        commits: usize,
        /// The oldest of them.
        first: CommitId,
    },
    /// What serves has not been verified known good.
    #[error("`{service}` {revision} is {status}, not verified known good")]
    NotKnownGood {
        /// The service.
        service: ServiceId,
        /// The revision serving.
        revision: Revision,
        /// Its status.
        status: DeploymentStatus,
    },
    /// What serves contains a poisoned change without a remedy.
    #[error("`{service}` runs `{release}`, which contains poisoned change `{change}`")]
    PoisonRunning {
        /// The service.
        service: ServiceId,
        /// The release serving.
        release: ReleaseId,
        /// The poisoned change.
        change: ChangeId,
    },
    /// What serves was built from a commit that is not recorded, so it
    /// cannot be proved free of poisoned changes.
    #[error("`{service}` runs `{release}`, built from unrecorded commit `{commit}`")]
    UnknownContents {
        /// The service.
        service: ServiceId,
        /// The release serving.
        release: ReleaseId,
        /// Its source commit.
        commit: CommitId,
    },
}

/// Environments on one lane into an environment where an artifact has not
/// been verified yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamGap {
    /// The lane.
    pub lane: Lane,
    /// Upstream environments on that lane without a verified deployment of
    /// the artifact, sorted by name.
    pub missing: Vec<EnvironmentId>,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Rejection {
    /// Deployments need a pipeline.
    #[error("no pipeline is defined yet: define the pipeline before deploying")]
    NoPipeline,
    /// A redefined pipeline would drop an environment that has history.
    #[error(
        "the new pipeline drops environment `{environment}`, which has rollout history: keep it in the pipeline"
    )]
    PipelineDropsEnvironment {
        /// The environment that would be dropped.
        environment: EnvironmentId,
    },
    /// The environment is not in the pipeline.
    #[error(
        "environment `{environment}` is not in the pipeline: check the name or add it to the pipeline"
    )]
    UnknownEnvironment {
        /// The name given.
        environment: EnvironmentId,
    },
    /// The service is not registered.
    #[error("service `{service}` is not registered: register it first")]
    UnknownService {
        /// The name given.
        service: ServiceId,
    },
    /// The artifact is not registered.
    #[error("artifact `{digest}` is not registered: register the build first")]
    UnknownArtifact {
        /// The digest given.
        digest: Digest,
    },
    /// The same digest was registered before with different details.
    #[error(
        "artifact `{digest}` is already registered with different details: a digest names exactly one build"
    )]
    ConflictingArtifact {
        /// The digest.
        digest: Digest,
    },
    /// The release is not registered.
    #[error("release `{release}` is not registered: register it first")]
    UnknownRelease {
        /// The name given.
        release: ReleaseId,
    },
    /// The same release name was registered before with different details.
    #[error(
        "release `{release}` is already registered with different details: give the new release its own name"
    )]
    ConflictingRelease {
        /// The name.
        release: ReleaseId,
    },
    /// A release names an artifact of another service.
    #[error(
        "release `{release}` is of service `{service}` but artifact `{digest}` is a build of `{artifact_service}`: pair the release with a build of its own service"
    )]
    ArtifactOfOtherService {
        /// The release.
        release: ReleaseId,
        /// The release's service.
        service: ServiceId,
        /// The artifact.
        digest: Digest,
        /// The artifact's service.
        artifact_service: ServiceId,
    },
    /// A commit or change refers to a commit not recorded yet.
    #[error(
        "commit `{commit}` is not recorded: record commits parents first, before the changes that contain them"
    )]
    UnknownCommit {
        /// The missing commit.
        commit: CommitId,
    },
    /// The same commit id was recorded before with other parents.
    #[error(
        "commit `{commit}` is already recorded with other parents: a commit id names one commit"
    )]
    ConflictingCommit {
        /// The commit.
        commit: CommitId,
    },
    /// A command names a change not recorded yet.
    #[error("change `{change}` is not recorded: record it (`Command::RecordChange`) first")]
    UnknownChange {
        /// The missing change.
        change: ChangeId,
    },
    /// The same change id was recorded before with other details.
    #[error(
        "change `{change}` is already recorded with other details: a change id names one change"
    )]
    ConflictingChange {
        /// The change.
        change: ChangeId,
    },
    /// A commit already belongs to another change.
    #[error(
        "commit `{commit}` already belongs to change `{owner}`, so it cannot also be part of `{change}`"
    )]
    CommitInOtherChange {
        /// The commit.
        commit: CommitId,
        /// The change that owns it.
        owner: ChangeId,
        /// The change that claimed it too.
        change: ChangeId,
    },
    /// The revision does not exist.
    #[error("{slot} does not exist: check the revision number in the rollout history")]
    UnknownRevision {
        /// The revision named.
        slot: Slot,
    },
    /// A recorded deployment does not carry the next revision number
    /// (found only when replaying a journal that was edited or merged).
    #[error("{slot} is out of sequence: the next revision there is {expected}")]
    RevisionOutOfSequence {
        /// The revision recorded.
        slot: Slot,
        /// The revision expected.
        expected: Revision,
    },
    /// The step does not apply to the revision's status.
    #[error("cannot {step} for {slot}: it is {status}{}", transition_hint(*.status, *.step))]
    IllegalTransition {
        /// The revision.
        slot: Slot,
        /// Its status.
        status: DeploymentStatus,
        /// The step asked for.
        step: LifecycleStep,
    },
    /// Another rollout of the same service is still under way there.
    #[error("{slot} is still {status}: finish, fail or abort it before starting another rollout")]
    RolloutInFlight {
        /// The rollout under way.
        slot: Slot,
        /// Its status.
        status: DeploymentStatus,
    },
    /// Promotion requires the artifact verified upstream.
    #[error("artifact `{digest}` cannot enter `{environment}`: {}", gaps_text(.gaps))]
    NotVerifiedUpstream {
        /// Where it was to go.
        environment: EnvironmentId,
        /// The artifact.
        digest: Digest,
        /// What is missing, per lane into the environment.
        gaps: Vec<UpstreamGap>,
    },
    /// Nothing of the service runs there, so nothing can be rolled back.
    #[error(
        "no release of `{service}` has completed a rollout in `{environment}`, so there is nothing to roll back"
    )]
    NothingToRollBack {
        /// Where.
        environment: EnvironmentId,
        /// Which service.
        service: ServiceId,
    },
    /// No earlier revision was verified known good.
    #[error(
        "no rollback target: {why}; recover forward, or name a target revision explicitly with `Clearance::unverified_target` and a reason (audited)"
    )]
    NoKnownGoodTarget {
        /// Where.
        environment: EnvironmentId,
        /// Which service.
        service: ServiceId,
        /// What is serving now.
        current: Revision,
        /// The candidates passed over, newest first, and why.
        #[serde(default)]
        skipped: Vec<SkippedCandidate>,
        /// Why, naming only the facts that apply
        /// ([`State::no_rollback_target_reason`](crate::State::no_rollback_target_reason)).
        #[serde(default)]
        why: String,
    },
    /// A delivery gate is closed and the step is not in the active
    /// recovery plan.
    #[error(
        "the delivery gate of `{environment}` is closed ({reason}, by {closed_by}): only steps of the active recovery plan may deploy there, and {}; authorize a recovery plan with this step, or reopen the gate once production is known good",
        plan_text(plan.as_ref(), step)
    )]
    GateClosed {
        /// Where.
        environment: EnvironmentId,
        /// Why it closed.
        reason: String,
        /// Who closed it.
        closed_by: Actor,
        /// The active plan, if any.
        plan: Option<PlanId>,
        /// The step refused.
        step: RecoveryPermit,
    },
    /// A recovery plan can only be authorized behind a closed gate.
    #[error(
        "the delivery gate of `{environment}` is open: close it (stop the line) before authorizing a recovery plan"
    )]
    GateOpen {
        /// Where.
        environment: EnvironmentId,
    },
    /// A recovery plan with no step.
    #[error(
        "recovery plan `{plan}` permits no step: list the deployments or rollbacks it may make"
    )]
    EmptyRecoveryPlan {
        /// The plan.
        plan: PlanId,
    },
    /// The gate cannot reopen yet.
    #[error("the delivery gate of `{environment}` must stay closed: {hold}")]
    GateMustStayClosed {
        /// Where.
        environment: EnvironmentId,
        /// What holds it closed.
        hold: GateHold,
    },
    /// A release carries a poisoned change into production.
    #[error(
        "release `{release}` contains poisoned change `{change}` without its revert or a declared fix, so it may not enter `{environment}`: merge a revert of `{change}` (or declare a fix) and ship a release containing it, or turn the change's flags off there"
    )]
    PoisonedRelease {
        /// Where it was to go.
        environment: EnvironmentId,
        /// The release.
        release: ReleaseId,
        /// The poisoned change it carries.
        change: ChangeId,
    },
    /// A release carries a change that main has reverted, into an
    /// environment that does not run that change now.
    #[error(
        "release `{release}` carries `{change}`, which main reverted in `{revert}`, and `{environment}` does not run `{change}` now: shipping it would bring back what main took out; ship a release built after the revert instead"
    )]
    RevertedOnMain {
        /// Where it was to go.
        environment: EnvironmentId,
        /// The release.
        release: ReleaseId,
        /// The reverted change it carries.
        change: ChangeId,
        /// The revert main holds.
        revert: ChangeId,
    },
    /// A release built from an unrecorded commit cannot be proved free of
    /// poisoned changes.
    #[error(
        "release `{release}` was built from commit `{commit}`, which is not recorded, so it cannot be proved free of poisoned changes: record the commit and its history first"
    )]
    UnknownSourceCommit {
        /// The release.
        release: ReleaseId,
        /// Its source commit.
        commit: CommitId,
    },
    /// Production accepts only artifacts from trusted builders.
    #[error(
        "artifact `{digest}` was built by {}, which the policy does not trust for production (trusted: {}): rebuild it on a trusted builder",
        or_none(builder.as_ref()), list(trusted)
    )]
    UntrustedArtifact {
        /// The artifact.
        digest: Digest,
        /// The builder its provenance names.
        builder: Option<BuilderId>,
        /// The builders the policy trusts.
        trusted: Vec<BuilderId>,
    },
    /// A freeze closes the action.
    #[error(
        "{action} in `{environment}` is frozen{}{}: wait for the window to end, or override with a reason as a holder of a freeze-override role",
        if freezes.is_empty() { String::new() } else { format!(" by {}", list(freezes)) },
        if *outside_allow_windows { " (outside every allow window)" } else { "" }
    )]
    Frozen {
        /// The action.
        action: GatedAction,
        /// Where.
        environment: EnvironmentId,
        /// The deny freezes in force.
        freezes: Vec<FreezeId>,
        /// Whether allow windows exist for the action and none is open.
        outside_allow_windows: bool,
    },
    /// The actor may not override freezes or lift this one.
    #[error(
        "{actor} may not override or lift freezes: that needs one of the roles {} named in the policy",
        list(roles)
    )]
    OverrideNotPermitted {
        /// Who tried.
        actor: Actor,
        /// The roles that may.
        roles: Vec<Role>,
    },
    /// The policy does not let this actor fast-track a release.
    #[error(
        "{actor} may not fast-track past test stages: {}",
        if *allowed { format!("that needs one of the roles {} named in the policy", list(roles)) } else { "the policy does not allow fast-tracks; ship through every stage".to_owned() }
    )]
    FastTrackNotPermitted {
        /// Who tried.
        actor: Actor,
        /// Whether the policy allows fast-tracks at all.
        allowed: bool,
        /// The roles that may.
        roles: Vec<Role>,
    },
    /// A reason or justification is needed and was empty.
    #[error("{what} needs a reason: say why, for the audit trail")]
    ReasonRequired {
        /// What needed it.
        what: String,
    },
    /// Breaking glass skips approvals, which this command does not need.
    #[error(
        "`{command}` needs no approvals, so there is no glass to break: send it without break-glass"
    )]
    BreakGlassNotApplicable {
        /// The command.
        command: String,
    },
    /// The rollout cannot start before its approvals.
    #[error(
        "{slot} has {have} of the {need} approvals from role `{role}` it needs before its rollout starts: ask more approvers, or break glass with a written justification"
    )]
    ApprovalsMissing {
        /// The revision.
        slot: Slot,
        /// Valid approvals so far.
        have: u32,
        /// Approvals needed.
        need: u32,
        /// The role approvers must hold.
        role: Role,
    },
    /// The requester cannot approve their own deployment.
    #[error("{actor} requested {slot} and cannot approve it too: ask someone else")]
    SelfApproval {
        /// The revision.
        slot: Slot,
        /// Who tried.
        actor: Actor,
    },
    /// The approver lacks the role.
    #[error("{actor} does not hold role `{role}`, which approvals in `{environment}` need")]
    NotInRole {
        /// Who tried.
        actor: Actor,
        /// The role needed.
        role: Role,
        /// Where.
        environment: EnvironmentId,
    },
    /// Only a requested deployment can be approved.
    #[error("{slot} is {status}: only a requested deployment can be approved")]
    NotAwaitingApproval {
        /// The revision.
        slot: Slot,
        /// Its status.
        status: DeploymentStatus,
    },
    /// A policy asks for more approvers than its role has members.
    #[error(
        "the policy asks for {need} approvers from role `{role}` in `{environment}` but the role has {members} members: add members or lower the count"
    )]
    UnsatisfiableApprovals {
        /// Where.
        environment: EnvironmentId,
        /// The role.
        role: Role,
        /// Approvers needed.
        need: u32,
        /// Members the role has.
        members: usize,
    },
    /// The freeze is not declared (or was lifted).
    #[error("freeze `{freeze}` is not declared: check its name")]
    UnknownFreeze {
        /// The name.
        freeze: FreezeId,
    },
    /// A freeze with that name exists with other details.
    #[error(
        "freeze `{freeze}` is already declared with other details: give the new one its own name"
    )]
    ConflictingFreeze {
        /// The name.
        freeze: FreezeId,
    },
    /// A freeze that can never apply.
    #[error("freeze `{freeze}` is not valid: {problem}")]
    InvalidFreeze {
        /// The name.
        freeze: FreezeId,
        /// What is wrong.
        problem: String,
    },
    /// A flag state that cannot be.
    #[error("flag `{flag}` cannot be set so: {problem}")]
    InvalidFlagState {
        /// The flag.
        flag: FlagKey,
        /// What is wrong.
        problem: String,
    },
    /// A change cannot fix itself.
    #[error("change `{change}` cannot be declared a fix of itself")]
    SelfFix {
        /// The change.
        change: ChangeId,
    },
    /// The artifact was expired from the registry.
    #[error(
        "artifact `{digest}` was expired from the registry and can no longer be deployed: rebuild it or pick another release"
    )]
    ArtifactExpired {
        /// The artifact.
        digest: Digest,
    },
    /// The release cannot run on the environment's schema.
    #[error(
        "release `{release}` runs on {range} but `{environment}` is at schema {version}: migrate the schema first (down only if the migrations since are reversible), or pick a release that runs on it"
    )]
    SchemaIncompatible {
        /// The release.
        release: ReleaseId,
        /// What it runs on.
        range: SchemaRange,
        /// Where.
        environment: EnvironmentId,
        /// The schema version there.
        version: u32,
    },
    /// A migration that does not start from the current schema version.
    #[error(
        "migration `{migration}` starts from schema {from} but `{service}` in `{environment}` is at schema {current}"
    )]
    MigrationOutOfSequence {
        /// The migration.
        migration: MigrationId,
        /// Where.
        environment: EnvironmentId,
        /// Whose database.
        service: ServiceId,
        /// Its start.
        from: u32,
        /// The current version.
        current: u32,
    },
    /// Going down would undo an irreversible migration.
    #[error(
        "schema {to} cannot be restored: migration `{undone}` ({phase}) is irreversible, its old data is gone"
    )]
    IrreversibleMigration {
        /// The migration that would be undone.
        undone: MigrationId,
        /// Its phase.
        phase: crate::model::MigrationPhase,
        /// The version that was asked for.
        to: u32,
    },
    /// Data is moved or the old shape removed before the release that
    /// needs the new schema was verified where it serves.
    #[error(
        "migration `{migration}` ({phase}) waits for `{release}` (revision {revision}) to be verified in `{environment}`: it is {status}. Expand first, deploy, verify, and only then migrate and contract"
    )]
    MigrationBeforeVerification {
        /// The migration.
        migration: MigrationId,
        /// Its phase.
        phase: crate::model::MigrationPhase,
        /// Where.
        environment: EnvironmentId,
        /// The release that is not yet verified there.
        release: ReleaseId,
        /// Its revision.
        revision: crate::model::Revision,
        /// Where it stands.
        status: crate::machine::DeploymentStatus,
    },
    /// An incident whose impact began after it was declared.
    #[error(
        "incident `{incident}` cannot have begun at {began}, after it is declared ({declared}): give the time the impact began, or none"
    )]
    ImpactAfterDeclaration {
        /// The incident.
        incident: IncidentId,
        /// When the declaration says the impact began.
        began: chrono::DateTime<chrono::Utc>,
        /// When it is declared.
        declared: chrono::DateTime<chrono::Utc>,
    },
    /// Contracting now would strand a release inside the rollback window.
    #[error(
        "contract migration `{migration}` would leave schema {to}, which release `{release}` ({range}) inside the rollback window of `{environment}` cannot run on: wait until it leaves the window, or keep the old schema longer"
    )]
    ContractInsideRollbackWindow {
        /// The contract migration.
        migration: MigrationId,
        /// Where.
        environment: EnvironmentId,
        /// The version it would leave.
        to: u32,
        /// The release that still needs the old schema.
        release: ReleaseId,
        /// What it runs on.
        range: SchemaRange,
    },
    /// A release needs another service at a version not running there.
    #[error("release `{release}` requires `{service}` {requirement}, but `{environment}` runs {}: deploy a matching `{service}` first", running.as_ref().map_or_else(|| "none".to_owned(), |v| format!("{v}")))]
    RequirementUnmet {
        /// The release.
        release: ReleaseId,
        /// Where.
        environment: EnvironmentId,
        /// The service required.
        service: ServiceId,
        /// The requirement.
        requirement: semver::VersionReq,
        /// The version running there, if any.
        running: Option<Box<semver::Version>>,
    },
    /// Another service running there requires more of this one.
    #[error(
        "`{dependant}` (release `{dependant_release}`) in `{environment}` requires `{service}` {requirement}, which release `{release}` ({version}) does not meet: move `{dependant}` first (for a rollback, roll it back first)"
    )]
    BreaksDependant {
        /// The release refused.
        release: ReleaseId,
        /// Its service.
        service: ServiceId,
        /// Its version.
        version: Box<semver::Version>,
        /// Where.
        environment: EnvironmentId,
        /// The service that depends on it.
        dependant: ServiceId,
        /// The dependant's running release.
        dependant_release: ReleaseId,
        /// What the dependant requires.
        requirement: semver::VersionReq,
    },
    /// No incident of that name.
    #[error("incident `{incident}` is not declared: check its name")]
    UnknownIncident {
        /// The name.
        incident: IncidentId,
    },
    /// An incident of that name exists.
    #[error("incident `{incident}` is already declared: give a new incident its own name")]
    DuplicateIncident {
        /// The name.
        incident: IncidentId,
    },
    /// The incident is not in the phase the command needs.
    #[error("incident `{incident}` is {phase}, so it cannot {step} now")]
    IllegalIncidentStep {
        /// The incident.
        incident: IncidentId,
        /// Its phase.
        phase: IncidentPhase,
        /// What was asked.
        step: String,
    },
    /// The chosen strategy is not applicable: the planner found a
    /// precondition that fails. [`Rejection::rule`] names that
    /// precondition (a planner check such as `cause-is-a-change`, or the
    /// core rule that would refuse one of its steps).
    #[error("{strategy} is not applicable for incident `{incident}`: {why}")]
    StrategyNotApplicable {
        /// The incident.
        incident: IncidentId,
        /// The strategy.
        strategy: Strategy,
        /// The first precondition that fails, by name.
        check: String,
        /// Its failed preconditions.
        why: String,
    },
    /// The policy does not let the team use this strategy.
    #[error("{why}: choose another strategy, or adopt a policy that allows {strategy}")]
    StrategyForbidden {
        /// The strategy.
        strategy: Strategy,
        /// Which rule of the policy rules it out.
        why: String,
    },
    /// One step of a chosen plan would be refused by the core once the
    /// steps before it succeeded, so the plan cannot be carried out.
    /// [`Rejection::rule`] is the rule of that step's refusal.
    #[error(
        "{strategy} for incident `{incident}` cannot be carried out: step `{key}` ({action}) would be refused: {refusal}"
    )]
    PlanStepRefused {
        /// The incident.
        incident: IncidentId,
        /// The strategy.
        strategy: Strategy,
        /// The step's key.
        key: IdempotencyKey,
        /// What the step does.
        action: String,
        /// The core's refusal of its command.
        refusal: Box<Rejection>,
    },
    /// A forward-only policy refuses rollbacks unless glass is broken by a
    /// member of a break-glass role, with a justification.
    #[error("the policy is forward-only: `{service}` in `{environment}` cannot be rolled back; ship a revert or a fix instead, or break glass with a justification as a member of {}", if .roles.is_empty() { "a break-glass role (the policy names none)".to_owned() } else { list(.roles) })]
    ForwardOnly {
        /// Where.
        environment: EnvironmentId,
        /// Which service.
        service: ServiceId,
        /// Who tried.
        actor: Actor,
        /// The roles whose members may break glass.
        roles: Vec<Role>,
    },
    /// The policy turns the hotfix lane off, so nothing may be deployed
    /// along it.
    #[error(
        "the policy turns the hotfix lane off: `{release}` cannot enter `{environment}` along it; adopt a policy with a hotfix lane or ship along the main lane"
    )]
    HotfixLaneDisabled {
        /// Where.
        environment: EnvironmentId,
        /// What.
        release: ReleaseId,
    },
    /// A rollout being verified cannot be aborted: nothing verified served
    /// before it to return to.
    #[error(
        "{slot} serves and nothing verified served before it: roll forward or roll back to a named revision instead of aborting"
    )]
    NothingToReturnTo {
        /// The revision.
        slot: Slot,
    },
    /// Two steps of a chosen plan share a key.
    #[error("incident `{incident}`: two steps share the key `{key}`; every step needs its own")]
    DuplicateStepKey {
        /// The incident.
        incident: IncidentId,
        /// The key.
        key: IdempotencyKey,
    },
    /// A policy names a duration no team means (a typo, or hostile input).
    #[error(
        "the policy's `{field}` is {value} s, longer than the {max} s (366 days) a policy may name: fix the value and adopt the policy again"
    )]
    AbsurdPolicyValue {
        /// The field, e.g. `fix_seconds` or `stage_seconds.prod`.
        field: String,
        /// Its value.
        value: u64,
        /// The most allowed.
        max: u64,
    },
    /// A name registered for a service, an environment, an incident or a
    /// flag is not one the journal can hold safely (see
    /// [`check_name`](crate::check_name)).
    #[error(
        "the {what} name {name:?} {problem}: names are 1 to 128 characters from ASCII letters, digits, `.`, `_` and `-`, starting with a letter or digit (e.g. `prod-eu`); pick another name"
    )]
    InvalidName {
        /// What is named: `service`, `environment`, `incident` or `flag`.
        what: String,
        /// The name as given.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A journal that starts after a snapshot was asked to replay from its
    /// first entry, which it does not hold.
    #[error(
        "the journal holds the entries after position {held_from} only (it started from a snapshot or let go of older entries): start from the snapshot (Ledger::from_snapshot) or read the whole journal from the store"
    )]
    JournalNotHeldWhole {
        /// How many entries come before the first one held.
        held_from: u64,
    },
    /// A command (or an event read back) stamped before the last recorded
    /// event: time only moves forward.
    #[error(
        "stamped {at}, before the last recorded event ({last}): time only moves forward, so check the clock that stamped it; nothing was recorded"
    )]
    ClockWentBackwards {
        /// The command's (or event's) time.
        at: chrono::DateTime<chrono::Utc>,
        /// The last recorded event's time.
        last: chrono::DateTime<chrono::Utc>,
    },
    /// A step's key was used by a plan chosen earlier (ports remember
    /// every key, so reusing one would skip the step).
    #[error(
        "incident `{incident}`: the step key `{key}` was used by an earlier plan; plan again (the planner numbers each attempt's keys)"
    )]
    StepKeyReused {
        /// The incident.
        incident: IncidentId,
        /// The key.
        key: IdempotencyKey,
    },
    /// A branch whose head is not recorded.
    #[error(
        "the head of branch `{branch}` of `{service}` is not recorded: record it with MoveBranch first"
    )]
    UnknownBranch {
        /// Whose repository.
        service: ServiceId,
        /// The branch.
        branch: crate::model::BranchName,
    },
    /// A strategy chosen up front to resolve an incident that does not fix
    /// main.
    #[error(
        "{strategy} does not resolve incident `{incident}`: choose up front a plan that fixes main and ships it (revert, fix-forward or hotfix)"
    )]
    NotAResolution {
        /// The incident.
        incident: IncidentId,
        /// The strategy named.
        strategy: crate::model::Strategy,
    },
    /// A remediation the environment's policy does not allow.
    #[error(
        "the remediation policy of `{environment}` does not let the driver choose {strategy} by itself: {why}; a person chooses from the ranked plan"
    )]
    RemediationNotAllowed {
        /// Where.
        environment: EnvironmentId,
        /// The strategy.
        strategy: Strategy,
        /// Why not.
        why: String,
    },
    /// The loop guard: the environment's remediation policy has acted as
    /// often as it may.
    #[error(
        "the remediation policy of `{environment}` stops here: {why}; a person chooses from the ranked plan"
    )]
    RemediationLimit {
        /// Where.
        environment: EnvironmentId,
        /// The release that failed.
        release: ReleaseId,
        /// Which limit, in words.
        why: String,
    },
    /// A release promoted out of an environment before it served verified
    /// there for the policy's bake time.
    #[error(
        "`{release}` has served verified in `{environment}` for {}, less than its bake time of {}: promote it into `{target}` from {ready_at}",
        super::effect::human(*.served),
        super::effect::human(*.bake)
    )]
    StillBaking {
        /// The release.
        release: ReleaseId,
        /// Where it is baking.
        environment: EnvironmentId,
        /// Where it was to go.
        target: EnvironmentId,
        /// How long it has served verified there, in seconds.
        served: u64,
        /// The bake time there, in seconds.
        bake: u64,
        /// When it will have baked.
        ready_at: chrono::DateTime<chrono::Utc>,
    },
    /// A promote step with nothing of its plan's to promote: what serves
    /// in the environment it promotes from was not shipped and verified by
    /// a step of the incident's plan.
    #[error(
        "incident `{incident}`'s plan has shipped nothing of `{service}` verified to `{environment}` to promote: put the step after the ship step into `{environment}`"
    )]
    NothingShippedToPromote {
        /// The incident.
        incident: IncidentId,
        /// Where the step promotes from.
        environment: EnvironmentId,
        /// Which service.
        service: ServiceId,
    },
    /// A cause that cannot be pinned to the change named.
    #[error("the cause of incident `{incident}` cannot be pinned to `{change}`: {why}")]
    CauseNotPinned {
        /// The incident.
        incident: IncidentId,
        /// The change named.
        change: ChangeId,
        /// Why.
        why: String,
    },
    /// A runbook that does not apply to the incident.
    #[error("runbook `{runbook}` does not apply to incident `{incident}`: {why}")]
    RunbookNotApplicable {
        /// The runbook.
        runbook: crate::model::RunbookId,
        /// The incident.
        incident: IncidentId,
        /// Why.
        why: String,
    },
    /// A batch of a data migration that cannot be recorded.
    #[error("a batch of `{migration}` cannot be recorded: {why}")]
    DataMigrationRefused {
        /// The migration.
        migration: crate::model::MigrationId,
        /// Why.
        why: String,
    },
    /// A healthy verdict without the measurement behind it.
    #[error(
        "a healthy verdict on {what} needs its evidence (what was measured): measure, then record the probe's detail with it"
    )]
    UnmeasuredVerdict {
        /// What the verdict is on.
        what: String,
    },
    /// Accepting changes on a branch the incident's current plan does not
    /// ship (or an incident not being mitigated or resolved).
    #[error(
        "incident `{incident}` has no open plan that ships `{branch}` of `{service}`: only what a plan's ship step builds can be accepted into it"
    )]
    NotAPlannedBranch {
        /// The incident.
        incident: IncidentId,
        /// Whose repository.
        service: ServiceId,
        /// The branch.
        branch: crate::model::BranchName,
    },
    /// Accepting a head the ledger does not record for the branch.
    #[error(
        "`{head}` is not the recorded head of `{branch}` of `{service}` ({}): sync what landed, look at the difference again, then accept the head it names",
        recorded.as_ref().map_or_else(|| "none is recorded".to_owned(), |r| format!("it is `{r}`"))
    )]
    NotTheRecordedHead {
        /// Whose repository.
        service: ServiceId,
        /// The branch.
        branch: crate::model::BranchName,
        /// The head given.
        head: CommitId,
        /// The head recorded.
        recorded: Option<CommitId>,
    },
    /// A known-good state is not restored yet.
    #[error("incident `{incident}` is not mitigated yet: {why}")]
    NotYetMitigated {
        /// The incident.
        incident: IncidentId,
        /// What is still wrong.
        why: String,
    },
    /// A mitigated incident takes only a plan that resolves it.
    #[error(
        "incident `{incident}` is mitigated: {strategy} would only mitigate it again; choose a plan that fixes main and ships it (revert, fix-forward or hotfix), then resolve"
    )]
    AlreadyMitigated {
        /// The incident.
        incident: IncidentId,
        /// The strategy asked for.
        strategy: crate::model::Strategy,
    },
    /// The permanent fix is not in place yet.
    #[error("incident `{incident}` is not resolved yet: {why}")]
    NotYetResolved {
        /// The incident.
        incident: IncidentId,
        /// What is still missing.
        why: String,
    },
    /// A follow-up marked done whose work the recorded history does not
    /// show (a hotfix branch not reachable from main).
    #[error(
        "follow-up {follow_up} of incident `{incident}` is not done: {why}; record the commits and branch moves that do it first"
    )]
    FollowUpNotDone {
        /// The incident.
        incident: IncidentId,
        /// The follow-up's index.
        follow_up: u32,
        /// What the history lacks.
        why: String,
    },
    /// No step with that key in the incident's chosen strategy.
    #[error("incident `{incident}` has no step `{key}` in its chosen strategy")]
    UnknownEffect {
        /// The incident.
        incident: IncidentId,
        /// The key given.
        key: IdempotencyKey,
    },
    /// No follow-up with that number.
    #[error("incident `{incident}` has no follow-up number {follow_up}")]
    UnknownFollowUp {
        /// The incident.
        incident: IncidentId,
        /// The number given.
        follow_up: u32,
    },
    /// No follow-up with that id.
    #[error(
        "incident `{incident}` has no follow-up `{follow_up}`; its follow-ups are: {}",
        if known.is_empty() { "none".to_owned() } else { list(known) }
    )]
    UnknownFollowUpId {
        /// The incident.
        incident: IncidentId,
        /// The id given.
        follow_up: String,
        /// The ids it has.
        known: Vec<String>,
    },
    /// The explicit rollback target cannot be used.
    #[error("cannot roll back to {}: {problem}", .target)]
    UnusableRollbackTarget {
        /// The target named.
        target: Slot,
        /// Why it cannot be used.
        problem: TargetProblem,
    },
    /// A rollback names a revision that is not a verified known-good
    /// state: never verified, failed, or itself rolled back.
    #[error(
        "{target} is not verified known good ({why}): roll back to a verified revision (omit the revision to let the core choose), or say why this one with `Clearance::unverified_target` (audited)"
    )]
    RollbackTargetNotKnownGood {
        /// The target named.
        target: Slot,
        /// What it is instead.
        why: String,
    },
    /// An override that nothing needed: the rollback's target is verified
    /// known good.
    #[error(
        "{target} was verified known good: roll back to it without `unverified_target`, so the audit trail records no exception that was not one"
    )]
    NeedlessTargetOverride {
        /// The target named.
        target: Slot,
    },
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plan_text(plan: Option<&PlanId>, step: &RecoveryPermit) -> String {
    match plan {
        Some(plan) => format!("plan `{plan}` does not {step}"),
        None => format!("no recovery plan is authorized to {step}"),
    }
}

fn or_none<T: std::fmt::Display>(item: Option<&T>) -> String {
    item.map_or_else(|| "none".to_owned(), |i| format!("`{i}`"))
}

/// Why an explicitly named rollback target cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TargetProblem {
    /// It is the revision serving now.
    #[error("it is the revision serving now")]
    IsCurrent,
    /// Its release is the one serving now.
    #[error("its release `{0}` is the one serving now")]
    SameRelease(ReleaseId),
    /// It never completed a rollout, so it never served.
    #[error("it never completed a rollout (it is {0}), so it never served")]
    NeverServed(DeploymentStatus),
}

fn transition_hint(status: DeploymentStatus, step: LifecycleStep) -> &'static str {
    match (status, step) {
        (
            DeploymentStatus::Verifying | DeploymentStatus::KnownGood | DeploymentStatus::Failed,
            LifecycleStep::Abort,
        ) => " (the rollout has completed: roll back instead of aborting)",
        (
            DeploymentStatus::Requested,
            LifecycleStep::CompleteRollout | LifecycleStep::FailRollout,
        ) => " (start the rollout first)",
        (
            DeploymentStatus::RollingOut,
            LifecycleStep::PassVerification | LifecycleStep::FailVerification,
        ) => " (complete the rollout before verifying it)",
        _ => "",
    }
}

fn gaps_text(gaps: &[UpstreamGap]) -> String {
    gaps.iter()
        .map(|g| {
            let envs: Vec<_> = g.missing.iter().map(|e| format!("`{e}`")).collect();
            format!(
                "on the {} lane it is not yet verified in {}",
                g.lane,
                envs.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
        + ": deploy and verify it upstream first"
}

impl Rejection {
    /// The rule that refused the command, as a stable kebab-case name.
    ///
    /// For [`Rejection::StrategyNotApplicable`] it is the failed
    /// precondition, and for [`Rejection::PlanStepRefused`] the rule of the
    /// refused step, so a host reacts to the cause, not to the wrapper.
    pub fn rule(&self) -> &str {
        match self {
            Self::StrategyNotApplicable { check, .. } => check,
            Self::PlanStepRefused { refusal, .. } => refusal.rule(),
            other => other.own_rule(),
        }
    }

    /// The rule of this rejection itself, as a stable kebab-case name (the
    /// same as the `rule` tag in its serialized form).
    pub fn own_rule(&self) -> &'static str {
        match self {
            Self::NoPipeline => "no-pipeline",
            Self::PipelineDropsEnvironment { .. } => "pipeline-drops-environment",
            Self::UnknownEnvironment { .. } => "unknown-environment",
            Self::UnknownService { .. } => "unknown-service",
            Self::UnknownArtifact { .. } => "unknown-artifact",
            Self::ConflictingArtifact { .. } => "conflicting-artifact",
            Self::UnknownRelease { .. } => "unknown-release",
            Self::ConflictingRelease { .. } => "conflicting-release",
            Self::ArtifactOfOtherService { .. } => "artifact-of-other-service",
            Self::UnknownCommit { .. } => "unknown-commit",
            Self::ConflictingCommit { .. } => "conflicting-commit",
            Self::UnknownChange { .. } => "unknown-change",
            Self::ConflictingChange { .. } => "conflicting-change",
            Self::CommitInOtherChange { .. } => "commit-in-other-change",
            Self::UnknownRevision { .. } => "unknown-revision",
            Self::RevisionOutOfSequence { .. } => "revision-out-of-sequence",
            Self::IllegalTransition { .. } => "illegal-transition",
            Self::RolloutInFlight { .. } => "rollout-in-flight",
            Self::NotVerifiedUpstream { .. } => "not-verified-upstream",
            Self::NothingToRollBack { .. } => "nothing-to-roll-back",
            Self::NoKnownGoodTarget { .. } => "no-known-good-target",
            Self::UnusableRollbackTarget { .. } => "unusable-rollback-target",
            Self::RollbackTargetNotKnownGood { .. } => "rollback-target-known-good",
            Self::NeedlessTargetOverride { .. } => "needless-target-override",
            Self::RevertedOnMain { .. } => "reverted-on-main",
            Self::GateClosed { .. } => "gate-closed",
            Self::GateOpen { .. } => "gate-open",
            Self::EmptyRecoveryPlan { .. } => "empty-recovery-plan",
            Self::GateMustStayClosed { .. } => "gate-must-stay-closed",
            Self::PoisonedRelease { .. } => "poisoned-release",
            Self::UnknownSourceCommit { .. } => "unknown-source-commit",
            Self::UntrustedArtifact { .. } => "untrusted-artifact",
            Self::Frozen { .. } => "frozen",
            Self::OverrideNotPermitted { .. } => "override-not-permitted",
            Self::FastTrackNotPermitted { .. } => "fast-track-not-permitted",
            Self::ReasonRequired { .. } => "reason-required",
            Self::BreakGlassNotApplicable { .. } => "break-glass-not-applicable",
            Self::ApprovalsMissing { .. } => "approvals-missing",
            Self::SelfApproval { .. } => "self-approval",
            Self::NotInRole { .. } => "not-in-role",
            Self::NotAwaitingApproval { .. } => "not-awaiting-approval",
            Self::UnsatisfiableApprovals { .. } => "unsatisfiable-approvals",
            Self::UnknownFreeze { .. } => "unknown-freeze",
            Self::ConflictingFreeze { .. } => "conflicting-freeze",
            Self::InvalidFreeze { .. } => "invalid-freeze",
            Self::InvalidFlagState { .. } => "invalid-flag-state",
            Self::SelfFix { .. } => "self-fix",
            Self::ArtifactExpired { .. } => "artifact-expired",
            Self::SchemaIncompatible { .. } => "schema-incompatible",
            Self::MigrationOutOfSequence { .. } => "migration-out-of-sequence",
            Self::IrreversibleMigration { .. } => "irreversible-migration",
            Self::ContractInsideRollbackWindow { .. } => "contract-inside-rollback-window",
            Self::MigrationBeforeVerification { .. } => "migration-before-verification",
            Self::ImpactAfterDeclaration { .. } => "impact-after-declaration",
            Self::RequirementUnmet { .. } => "requirement-unmet",
            Self::BreaksDependant { .. } => "breaks-dependant",
            Self::UnknownIncident { .. } => "unknown-incident",
            Self::DuplicateIncident { .. } => "duplicate-incident",
            Self::IllegalIncidentStep { .. } => "illegal-incident-step",
            Self::StrategyNotApplicable { .. } => "strategy-not-applicable",
            Self::StrategyForbidden { .. } => "strategy-forbidden",
            Self::PlanStepRefused { .. } => "plan-step-refused",
            Self::ForwardOnly { .. } => "forward-only",
            Self::HotfixLaneDisabled { .. } => "hotfix-lane-disabled",
            Self::UnknownBranch { .. } => "unknown-branch",
            Self::DuplicateStepKey { .. } => "duplicate-step-key",
            Self::StepKeyReused { .. } => "step-key-reused",
            Self::ClockWentBackwards { .. } => "clock-went-backwards",
            Self::AbsurdPolicyValue { .. } => "absurd-policy-value",
            Self::InvalidName { .. } => "invalid-name",
            Self::JournalNotHeldWhole { .. } => "journal-not-held-whole",
            Self::NothingToReturnTo { .. } => "nothing-to-return-to",
            Self::UnmeasuredVerdict { .. } => "verdict-needs-evidence",
            Self::DataMigrationRefused { .. } => "data-migration-in-batches",
            Self::RunbookNotApplicable { .. } => "runbook-applies",
            Self::CauseNotPinned { .. } => "pin-cause",
            Self::NotAResolution { .. } => "resolution-up-front",
            Self::NothingShippedToPromote { .. } => "promote-what-shipped",
            Self::StillBaking { .. } => "bake-time",
            Self::RemediationNotAllowed { .. } => "remediation-allowed",
            Self::RemediationLimit { .. } => "remediation-limit",
            Self::NotAPlannedBranch { .. } | Self::NotTheRecordedHead { .. } => {
                "accept-planned-branch"
            }
            Self::NotYetMitigated { .. } => "not-yet-mitigated",
            Self::NotYetResolved { .. } => "not-yet-resolved",
            Self::AlreadyMitigated { .. } => "resolve-after-mitigation",
            Self::UnknownFollowUp { .. } | Self::UnknownFollowUpId { .. } => "unknown-follow-up",
            Self::FollowUpNotDone { .. } => "follow-up-not-done",
            Self::UnknownEffect { .. } => "unknown-effect",
        }
    }
}

/// A candidate the rule passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SkippedCandidate {
    /// The revision.
    pub revision: Revision,
    /// Its release.
    pub release: ReleaseId,
    /// Why it does not qualify, in words.
    pub why: String,
}
