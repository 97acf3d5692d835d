//! Commands: what someone asks the system to do. A command is checked
//! against the current state by [`decide`](super::decide); it either yields
//! events or is rejected, changing nothing.

use serde::{Deserialize, Serialize};

use crate::model::{
    Actor, Artifact, Change, Commit, EnvironmentId, Pipeline, Release, ReleaseId, Revision,
    Service, ServiceId,
};

use super::event::Slot;

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
    },
    /// The deployer began moving traffic to a requested revision.
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
    },
    /// Record the health verification of a completed rollout.
    RecordVerification {
        /// The revision.
        slot: Slot,
        /// The outcome.
        verdict: Verdict,
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
    },
}

impl Command {
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
            Self::AbortRollout { .. } => "abort_rollout",
            Self::Rollback { .. } => "rollback",
        }
    }
}
