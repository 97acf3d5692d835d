//! # knowngood
//!
//! Restore production to a known good state.
//!
//! When a deploy goes wrong, a team must choose fast between turning a
//! flag off, rolling back, a forward-only revert, a hotfix, fixing forward
//! or waiting for work already in flight. `knowngood` models releases,
//! artifacts, environments, a pipeline with a hotfix lane, and their
//! history as a deterministic state machine recorded in an event journal,
//! so that the decision can be made from facts and replayed later.
//!
//! ## A five-minute tour
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use knowngood::{
//!     Artifact, Command, Digest, EnvironmentRole, Ledger, PipelineSpec, Release, Revision,
//!     Service, Slot, Verdict,
//! };
//!
//! let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
//! let pipeline = PipelineSpec::new()
//!     .environment("qa", EnvironmentRole::Test)
//!     .environment("prod", EnvironmentRole::Production)
//!     .promote("qa", "prod")
//!     .build()?;
//!
//! let mut ledger = Ledger::new();
//! ledger.execute(&Command::DefinePipeline { pipeline }, t0)?;
//! ledger.execute(&Command::RegisterService { service: Service::new("payments") }, t0)?;
//! let digest = Digest::parse("sha256:4f2a9c1e0b7d")?;
//! let artifact = Artifact::new("payments", digest.clone(), semver::Version::new(1, 4, 2), 43, "998b1f0");
//! ledger.execute(&Command::RegisterArtifact { artifact }, t0)?;
//! let release = Release::new("payments@1.4.2", "payments", digest, "cfg-7");
//! ledger.execute(&Command::RegisterRelease { release }, t0)?;
//!
//! // Production only accepts what QA verified.
//! let to_prod = Command::deploy("prod", "payments@1.4.2", "deploy-bot");
//! let refusal = ledger.execute(&to_prod, t0).unwrap_err();
//! assert_eq!(refusal.rule(), "not-verified-upstream");
//!
//! // Deploy to QA, roll out, verify.
//! ledger.execute(&Command::deploy("qa", "payments@1.4.2", "deploy-bot"), t0)?;
//! let slot = Slot::new("qa", "payments", Revision(1));
//! ledger.execute(&Command::StartRollout { slot: slot.clone() }, t0)?;
//! ledger.execute(&Command::CompleteRollout { slot: slot.clone() }, t0 + Duration::minutes(3))?;
//! let healthy = Command::RecordVerification { slot, verdict: Verdict::Healthy, by: "probe".into(), evidence: Some("error rate 0.1%".into()) };
//! ledger.execute(&healthy, t0 + Duration::minutes(8))?;
//!
//! // Now production accepts the same digest.
//! ledger.execute(&to_prod, t0 + Duration::minutes(9))?;
//!
//! // The journal rebuilds the exact state.
//! let rebuilt = Ledger::from_journal(ledger.journal().clone())?;
//! assert_eq!(rebuilt.state(), ledger.state());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## How it fits together
//!
//! - [`model`]: plain data: services, commits and changes, artifacts,
//!   releases, environments, the [`Pipeline`] and the [`Policy`].
//! - [`machine`]: [`Command`] → [`decide`] → [`Event`]s → [`State::apply`].
//!   Pure: no clock, no ids, no I/O. Time and ids are inputs.
//! - [`journal`]: the append-only [`Journal`] with per-stream expected
//!   versions and a JSON Lines form; replay rebuilds the state.
//! - [`Ledger`]: state and journal kept in step for the common case.
//! - [`rehearse`]: the dry run. Any command — or a whole recovery plan —
//!   decided and applied on a copy-on-write view of the state: the events
//!   it would record and the state it would leave, the real state
//!   untouched.
//! - [`recovery`]: the planner. It lists every way back, and the core is
//!   the only judge: every option whose own checks pass is rehearsed
//!   through [`decide`], so the planner never offers what the core would
//!   refuse (a property test drives every offered option over a thousand
//!   random histories). [`port`] and [`driver`]: carrying a plan out
//!   through the host's systems; [`memory`]: in-memory adapters.
//! - [`manual`]: the design, chapter by chapter.

#![warn(clippy::arithmetic_side_effects)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod adapters;
pub mod analysis;
pub mod drill;
pub mod driver;
pub mod error;
pub mod journal;
mod ledger;
pub mod machine;
pub mod manual;
pub mod memory;
pub mod metrics;
pub mod migration;
pub mod model;
pub mod picture;
pub mod port;
pub mod recovery;
pub mod retro;
pub mod rollout;
pub mod startup;
pub mod suspects;
#[cfg(feature = "testkit")]
pub mod testkit;
mod trace;

pub use error::{GateHold, Rejection, TargetProblem, UpstreamGap};
pub use journal::{
    Chain, ChainHead, CorruptJournal, EntryHash, ExpectedVersion, Journal, JournalEntry,
    JournalError, LineProblem, MAX_LINE_BYTES, ReplayError, SNAPSHOT_FORMAT, Snapshot,
    SnapshotProblem, StoredSnapshot, StreamId, TamperEvidence,
};
pub use ledger::{CatchUpError, Ledger};
pub use machine::{
    ActivePlan, Addition, Additions, AppliedMigration, Clearance, ClosedGate, Command,
    CommitRecord, DataProgress, Deployment, DeploymentOrigin, DeploymentStatus, Drift,
    EnvironmentState, Event, EventKind, FlagRecord, FlagVerdict, FollowUp, GateCause,
    IncidentRecord, KNOWN_GOOD_SETS_KEPT, KnownGoodSet, LifecycleStep, NextStep, OpenFollowUp,
    PlannedHead, Poisoning, RecoveryPermit, Rehearsal, RemedyKind, RollbackTarget, RolloutHistory,
    SchemaState, SetDifference, SkippedCandidate, Slot, StageTimes, State, Subject, Verdict,
    WayBack, decide, rehearse,
};
pub use model::{
    Actor, ApprovalRule, Artifact, BranchName, BuilderId, CauseKind, Change, ChangeId, Commit,
    CommitId, ConfigRevision, Digest, DigestError, Environment, EnvironmentId, EnvironmentRole,
    FlagKey, FlagState, Freeze, FreezeEffect, FreezeId, GatedAction, HotfixLanePolicy, IncidentId,
    IncidentPhase, Lane, MAX_NAME_BYTES, MAX_POLICY_SECONDS, Migration, MigrationId,
    MigrationPhase, Pipeline, PipelineError, PipelineSpec, PlanId, Policy, Promotion, Release,
    ReleaseId, RemediationPolicy, Revision, Role, Runbook, RunbookId, SchemaRange, Service,
    ServiceId, Severity, Strategy, SuspectedCause, UnknownStrategy, check_name, check_ref_name,
    check_release_name,
};
pub use recovery::{
    Capabilities, HotfixBase, PlanRequest, RecoveryOption, RecoveryPlan, hotfix_base, plan,
    plan_for,
};
pub use startup::{StartError, StartReport, Startup, open_ledger};

// What every host touches, at the root.
pub use driver::{
    Delivered, DeliveryWait, DriveError, DriveReport, Driver, FlagRollout, Migrated, MigrationPace,
    Shipped, Synced,
};
pub use port::SystemClock;
pub use port::{
    AdapterError, Clock, ErrorKind, Fence, JournalStore, LeaseAnswer, Leases, MissingPort, Ports,
    PortsBuilder,
};
pub use recovery::IdempotencyKey;

// The versions of the crates in knowngood's public API, so that a host
// uses the same ones: `knowngood::chrono`, `knowngood::semver`, and
// `knowngood::async_trait` for implementing the ports.
pub use async_trait;
pub use chrono;
pub use semver;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
