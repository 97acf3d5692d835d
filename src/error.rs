//! Rejections: why a command was refused, in words a host can show a person
//! as they are, naming the rule, the objects involved and what would unblock
//! it. A rejected command changes nothing.
//!
//! They are the core's own vocabulary and live beside the rules, in the
//! state machine; this module names them where they always were.

pub use crate::machine::rejection::{
    GateHold, Rejection, SkippedCandidate, TargetProblem, UpstreamGap,
};
