//! What the planner says about one way back.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::machine::{ConsideredOption, Effect, FollowUpKind};
use crate::model::Strategy;

/// The outcome of one precondition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CheckOutcome {
    /// It holds.
    Passed,
    /// It does not: the option is not applicable.
    Failed,
    /// Only a port can tell, when the step runs (e.g. whether a revert
    /// applies cleanly); it does not block the option.
    Unknown,
}

/// One named precondition and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Check {
    /// The precondition's name, e.g. `flags-on`.
    pub name: std::borrow::Cow<'static, str>,
    /// What was found.
    pub outcome: CheckOutcome,
    /// Why, in words.
    pub detail: String,
}

impl Check {
    pub(super) fn new(name: &'static str, passed: bool, detail: impl Into<String>) -> Self {
        Self {
            name: std::borrow::Cow::Borrowed(name),
            outcome: if passed {
                CheckOutcome::Passed
            } else {
                CheckOutcome::Failed
            },
            detail: detail.into(),
        }
    }

    /// The core's refusal of a rehearsed step, named after its rule.
    pub(super) fn refused(refusal: &crate::error::Rejection) -> Self {
        Self {
            name: std::borrow::Cow::Owned(refusal.rule().to_owned()),
            outcome: CheckOutcome::Failed,
            detail: refusal.to_string(),
        }
    }

    pub(super) fn unknown(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name: std::borrow::Cow::Borrowed(name),
            outcome: CheckOutcome::Unknown,
            detail: detail.into(),
        }
    }
}

/// Where an estimate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum EstimateBasis {
    /// The policy's stage durations (or its default).
    Policy,
    /// Durations observed in the journal for every stage involved.
    Observed,
    /// Observed for some stages, the policy for others.
    Mixed,
    /// The host runbook's own estimate.
    Runbook,
}

impl EstimateBasis {
    pub(super) fn merge(self, other: Self) -> Self {
        if self == other { self } else { Self::Mixed }
    }
}

impl fmt::Display for EstimateBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Policy => "from the policy's stage durations",
            Self::Observed => "from durations observed in the journal",
            Self::Mixed => "partly observed, partly from the policy",
            Self::Runbook => "from the runbook's own estimate",
        })
    }
}

/// Estimated time to restore a known-good state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Estimate {
    /// Seconds.
    pub seconds: u64,
    /// Where the figure comes from.
    pub basis: EstimateBasis,
}

/// What an option costs the team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TeamCost {
    /// Merges someone must make.
    pub merges: u32,
    /// Deliveries held back (a closed gate counts as one).
    pub freezes: u32,
    /// Obligations left to track.
    pub follow_ups: Vec<FollowUpKind>,
}

impl TeamCost {
    /// One number for ranking ties: merges, freezes and follow-ups (the
    /// retro every option shares does not count).
    pub fn disruption(&self) -> u32 {
        let tracked = self
            .follow_ups
            .iter()
            .filter(|f| **f != FollowUpKind::HoldRetro)
            .count();
        self.merges
            .saturating_add(self.freezes)
            .saturating_add(u32::try_from(tracked).unwrap_or(u32::MAX))
    }
}

/// What customers notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CustomerImpact {
    /// Changes customers lose (temporarily) under this option.
    pub changes_withdrawn: u32,
    /// In words.
    pub summary: String,
}

/// Everything the planner says about one strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RecoveryOption {
    /// The strategy.
    pub strategy: Strategy,
    /// For [`Strategy::Runbook`], which of the host's runbooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<crate::model::RunbookId>,
    /// Whether every precondition holds (none failed).
    pub applicable: bool,
    /// `false` when the option is possible but probably will not help
    /// (e.g. rolling code back when the cause is external).
    pub likely_to_help: bool,
    /// Every precondition checked, by name.
    pub checks: Vec<Check>,
    /// What could go wrong.
    pub risks: Vec<String>,
    /// The ordered steps it would run.
    pub steps: Vec<Effect>,
    /// Estimated time to restore a known-good state.
    pub estimate: Estimate,
    /// What it costs the team.
    pub cost: TeamCost,
    /// What customers notice.
    pub impact: CustomerImpact,
}

impl RecoveryOption {
    /// Its name: the strategy's, or the word runbook and the runbook's id
    /// in backticks for a host runbook.
    pub fn name(&self) -> String {
        match &self.runbook {
            Some(id) => format!("runbook `{id}`"),
            None => self.strategy.to_string(),
        }
    }

    /// The preconditions that failed.
    pub fn failed_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|c| c.outcome == CheckOutcome::Failed)
    }

    /// The name of the first precondition that fails: a planner check or
    /// the core rule that would refuse one of its steps.
    pub fn blocked_by(&self) -> Option<&str> {
        self.failed_checks().next().map(|c| c.name.as_ref())
    }

    /// Why it is not applicable, in one line (empty when it is).
    pub fn why_not(&self) -> String {
        self.failed_checks()
            .map(|c| c.detail.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl From<&RecoveryOption> for ConsideredOption {
    fn from(o: &RecoveryOption) -> Self {
        Self {
            strategy: o.strategy,
            runbook: o.runbook.clone(),
            applicable: o.applicable,
            estimate_seconds: o.estimate.seconds,
            why_not: o.why_not(),
        }
    }
}
