//! The state machine: commands are checked by [`decide`] against the
//! [`State`] and turn into [`Event`]s; [`State::apply`] folds events into
//! the state. Both are pure.
//!
//! ```text
//! Command ──decide(&State, now)──▶ Vec<Event> ──apply──▶ State
//!                │
//!                └──▶ Rejection (nothing changes)
//! ```

mod apply;
mod cause;
pub mod command;
mod contents;
mod cow;
mod decide;
mod deploy;
mod describe;
pub mod effect;
pub mod event;
mod fit;
mod follow_ups;
pub(crate) mod gates;
mod history;
pub mod incident;
mod incident_apply;
mod kept;
mod known_good;
pub mod lifecycle;
mod packed;
mod planned;
mod rehearse;
pub(crate) mod rejection;
mod remediation;
pub(crate) use remediation::clearance as remediation_clearance;
mod response;
mod rules;
mod runbooks;
pub mod state;
mod steps;
mod stream;
mod target;
mod way_back;

pub use crate::model::Slot;
pub use command::{Clearance, Command, Verdict};
pub use contents::Drift;
pub use decide::decide;
pub use effect::{
    ConsideredOption, Effect, EffectAction, EffectOutcome, EffectStatus, FollowUpKind,
    IdempotencyKey,
};
pub use event::{Event, EventKind, GateCause, RecoveryPermit, Subject};
pub(crate) use follow_ups::not_done;
pub use incident::{FollowUp, IncidentRecord, PlannedHead};
pub use kept::{KNOWN_GOOD_SETS_KEPT, KnownGoodSet};
pub use known_good::SetDifference;
pub use lifecycle::{DeploymentStatus, LifecycleStep};
pub use planned::{Addition, Additions};
pub use rehearse::{Rehearsal, rehearse};
pub use rejection::SkippedCandidate;
pub(crate) use response::resolves;
pub use state::{
    ActivePlan, AppliedMigration, ClosedGate, CommitRecord, DataProgress, Deployment,
    DeploymentOrigin, EnvironmentState, FlagRecord, FlagVerdict, Poisoning, RemedyKind,
    RolloutHistory, SchemaState, StageTimes, State,
};
pub(crate) use steps::{
    Rework, built_release_id, fast_track_command, fitted_clearance, opened_for, promote_stages,
    promoted_release, ship_key,
};
pub use stream::StreamId;
pub use target::{HotfixBase, RollbackTarget};
pub use way_back::{NextStep, OpenFollowUp, WayBack};
