//! The life of one deployment (one revision of one service in one
//! environment), as a hand-written state machine.
//!
//! ```text
//! requested → rolling-out → verifying → known-good → superseded
//!     ↘ aborted   ↘ aborted / failed   ↘ aborted / failed / superseded (never verified)
//! verifying, known-good or failed → rolled-back (a rollback away from it completed)
//! superseded → known-good (reinstated: the revision that replaced it was aborted)
//! ```
//!
//! | status \ step | start | complete | fail | pass | fail-verification | abort | supersede | roll-back | reinstate |
//! |---|---|---|---|---|---|---|---|---|---|
//! | requested | rolling-out | – | – | – | – | aborted | – | – | – |
//! | rolling-out | – | verifying | failed | – | – | aborted | – | – | – |
//! | verifying | – | – | – | known-good | failed | aborted | superseded | rolled-back | – |
//! | known-good | – | – | – | – | – | – | superseded | rolled-back | – |
//! | failed | – | – | – | – | – | – | failed | rolled-back | – |
//! | superseded | – | – | – | – | – | – | – | – | known-good |
//! | aborted, rolled-back | – | – | – | – | – | – | – | – | – |
//!
//! *Abort* stops a rollout that is not verified yet — still in flight
//! (requested or rolling out), or rolled out and being verified — and
//! returns to what served before: the stable release keeps serving, or the
//! known-good revision the aborted one replaced is *reinstated*. Nothing is
//! rewritten: the aborted revision stays in the history, aborted. *Roll
//! back* happens after a rollout was verified (or failed), by deploying an
//! older release as a new revision. A failed revision that is superseded
//! stays *failed*: the failure is what matters. A revision superseded while
//! still verifying was never verified, so it is never a default rollback
//! target, and never reinstated.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where one deployment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DeploymentStatus {
    /// Asked for; nothing has moved yet.
    Requested,
    /// The deployer is moving traffic to the release.
    RollingOut,
    /// The rollout completed; the release serves and its health is being checked.
    Verifying,
    /// Verified healthy: a known-good release in this environment.
    KnownGood,
    /// The rollout or its verification failed.
    Failed,
    /// Stopped before it was verified; what served before serves (again).
    Aborted,
    /// Was known good, then replaced by a newer rollout.
    Superseded,
    /// Replaced by a rollback to an older release.
    RolledBack,
}

impl DeploymentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [DeploymentStatus; 8] = [
        Self::Requested,
        Self::RollingOut,
        Self::Verifying,
        Self::KnownGood,
        Self::Failed,
        Self::Aborted,
        Self::Superseded,
        Self::RolledBack,
    ];

    /// The status after `step`, or `None` when the step is not allowed here.
    pub fn after(self, step: LifecycleStep) -> Option<Self> {
        use DeploymentStatus as S;
        use LifecycleStep as L;
        match (self, step) {
            (S::Requested, L::StartRollout) => Some(S::RollingOut),
            (S::Requested | S::RollingOut | S::Verifying, L::Abort) => Some(S::Aborted),
            (S::RollingOut, L::CompleteRollout) => Some(S::Verifying),
            (S::RollingOut, L::FailRollout) | (S::Verifying, L::FailVerification) => {
                Some(S::Failed)
            }
            (S::Verifying, L::PassVerification) | (S::Superseded, L::Reinstate) => {
                Some(S::KnownGood)
            }
            (S::Verifying | S::KnownGood, L::Supersede) => Some(S::Superseded),
            (S::Failed, L::Supersede) => Some(S::Failed),
            (S::Verifying | S::KnownGood | S::Failed, L::RollBack) => Some(S::RolledBack),
            (
                S::Requested
                | S::RollingOut
                | S::Verifying
                | S::KnownGood
                | S::Failed
                | S::Aborted
                | S::Superseded
                | S::RolledBack,
                _,
            ) => None,
        }
    }

    /// Requested or rolling out: a rollout that can still be aborted, and
    /// that blocks any other rollout of the same service there.
    pub fn is_in_flight(self) -> bool {
        matches!(self, Self::Requested | Self::RollingOut)
    }

    /// No further step applies.
    pub fn is_final(self) -> bool {
        LifecycleStep::ALL.iter().all(|&s| self.after(s).is_none())
    }
}

impl fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Requested => "requested",
            Self::RollingOut => "rolling-out",
            Self::Verifying => "verifying",
            Self::KnownGood => "known-good",
            Self::Failed => "failed",
            Self::Aborted => "aborted",
            Self::Superseded => "superseded",
            Self::RolledBack => "rolled-back",
        })
    }
}

/// A step that moves a deployment along its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum LifecycleStep {
    /// The deployer began moving traffic.
    StartRollout,
    /// All traffic is on the release.
    CompleteRollout,
    /// The rollout itself failed.
    FailRollout,
    /// Health verification passed.
    PassVerification,
    /// Health verification failed.
    FailVerification,
    /// The rollout was stopped in flight.
    Abort,
    /// A newer rollout of the same service completed.
    Supersede,
    /// A rollback away from this revision completed.
    RollBack,
    /// The revision that replaced this one was aborted before it was
    /// verified: this one serves again.
    Reinstate,
}

impl LifecycleStep {
    /// Every step.
    pub const ALL: [LifecycleStep; 9] = [
        Self::StartRollout,
        Self::CompleteRollout,
        Self::FailRollout,
        Self::PassVerification,
        Self::FailVerification,
        Self::Abort,
        Self::Supersede,
        Self::RollBack,
        Self::Reinstate,
    ];
}

impl fmt::Display for LifecycleStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::StartRollout => "start the rollout",
            Self::CompleteRollout => "complete the rollout",
            Self::FailRollout => "fail the rollout",
            Self::PassVerification => "pass verification",
            Self::FailVerification => "fail verification",
            Self::Abort => "abort",
            Self::Supersede => "supersede",
            Self::RollBack => "roll back",
            Self::Reinstate => "reinstate",
        })
    }
}
