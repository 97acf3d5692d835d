//! The domain model: plain data describing what is built, where it runs and
//! the rules the team follows. Nothing here changes over time; the
//! [`machine`](crate::machine) module records what happens to it.

pub mod artifact;
pub mod environment;
pub mod flag;
pub mod freeze;
pub mod ids;
pub mod incident;
pub mod pipeline;
pub mod policy;
pub mod runbook;
pub mod schema;
pub mod source;

pub use artifact::{Artifact, Release, Service};
pub use environment::{Environment, EnvironmentRole, Slot};
pub use flag::FlagState;
pub use freeze::{Freeze, FreezeEffect, GatedAction};
pub use ids::{
    Actor, BranchName, BuilderId, ChangeId, CommitId, ConfigRevision, Digest, DigestError,
    EnvironmentId, FlagKey, FreezeId, IncidentId, MAX_NAME_BYTES, MigrationId, PlanId, ReleaseId,
    Revision, Role, RunbookId, ServiceId, check_name, check_ref_name, check_release_name,
};
pub use incident::{IncidentPhase, Severity, SuspectedCause};
pub use pipeline::{Lane, Pipeline, PipelineError, PipelineSpec, Promotion};
pub use policy::{
    ApprovalRule, HotfixLanePolicy, MAX_POLICY_SECONDS, Policy, RemediationPolicy, Strategy,
    UnknownStrategy,
};
pub use runbook::{CauseKind, Runbook};
pub use schema::{Migration, MigrationPhase, SchemaRange};
pub use source::{Change, Commit};
