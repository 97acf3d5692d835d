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
mod decide;
pub mod event;
pub mod lifecycle;
pub mod state;

pub use command::{Command, Verdict};
pub use decide::decide;
pub use event::{Event, EventKind, Slot};
pub use lifecycle::{DeploymentStatus, LifecycleStep};
pub use state::{
    CommitRecord, Deployment, DeploymentOrigin, EnvironmentState, RolloutHistory, State,
};
