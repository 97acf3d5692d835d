//! Rejections: why a command was refused, in words a host can show a person
//! as they are, naming the rule, the objects involved and what would unblock
//! it. A rejected command changes nothing.

use serde::{Deserialize, Serialize};

use crate::machine::{DeploymentStatus, LifecycleStep, Slot};
use crate::model::{
    ChangeId, CommitId, Digest, EnvironmentId, Lane, ReleaseId, Revision, ServiceId,
};

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
    /// A change refers to a change not recorded yet.
    #[error("change `{change}` is not recorded: record the changes it depends on first")]
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
        "{current} of `{service}` in `{environment}` has no earlier revision verified known good with another release: name a target revision explicitly"
    )]
    NoKnownGoodTarget {
        /// Where.
        environment: EnvironmentId,
        /// Which service.
        service: ServiceId,
        /// What is serving now.
        current: Revision,
    },
    /// The explicit rollback target cannot be used.
    #[error("cannot roll back to {}: {problem}", .target)]
    UnusableRollbackTarget {
        /// The target named.
        target: Slot,
        /// Why it cannot be used.
        problem: TargetProblem,
    },
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
    /// The rule that refused the command, as a stable kebab-case name (the
    /// same as the `rule` tag in its serialized form).
    pub fn rule(&self) -> &'static str {
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
        }
    }
}
