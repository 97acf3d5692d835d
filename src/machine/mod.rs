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
pub mod command;
mod contents;
mod decide;
mod describe;
pub mod event;
mod fit;
pub(crate) mod gates;
pub mod incident;
pub mod lifecycle;
pub mod state;

pub use command::{Clearance, Command, RecoveryPermit, Verdict};
pub use contents::Drift;
pub use decide::decide;
pub use event::{Event, EventKind, GateCause, Slot, Subject};
pub(crate) use fit::running_version;
pub use incident::{FollowUp, IncidentRecord};
pub use lifecycle::{DeploymentStatus, LifecycleStep};
pub use state::{
    ActivePlan, AppliedMigration, ClosedGate, CommitRecord, Deployment, DeploymentOrigin,
    EnvironmentState, Poisoning, RemedyKind, RolloutHistory, SchemaState, StageTimes, State,
};
