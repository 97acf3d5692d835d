//! The team's rules, as plain data loadable with serde.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::ids::EnvironmentId;

/// A way back to a known-good state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Strategy {
    /// Turn off the flags the bad change sits behind.
    Retoggle,
    /// Re-deploy the last release known good in the environment.
    Rollback,
    /// A new commit undoing the bad change, through the normal pipeline.
    Revert,
    /// A branch cut from what production runs, fixed, shipped on the hotfix lane.
    Hotfix,
    /// Fix on main and promote normally.
    FixForward,
    /// Let the work in flight pass, then ship the fix with it.
    Wait,
    /// Revert the in-flight change, fix, fast-track, then re-apply the change.
    RevertInFlightThenFix,
}

impl Strategy {
    /// Every strategy, in the order the specification lists them.
    pub const ALL: [Strategy; 7] = [
        Self::Retoggle,
        Self::Rollback,
        Self::Revert,
        Self::Hotfix,
        Self::FixForward,
        Self::Wait,
        Self::RevertInFlightThenFix,
    ];
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Retoggle => "retoggle",
            Self::Rollback => "rollback",
            Self::Revert => "revert",
            Self::Hotfix => "hotfix",
            Self::FixForward => "fix-forward",
            Self::Wait => "wait",
            Self::RevertInFlightThenFix => "revert-in-flight-then-fix",
        })
    }
}

/// How the hotfix lane is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HotfixLanePolicy {
    /// Template for hotfix branch names: `{build}` and `{version}` are
    /// replaced by the production artifact's build number and version, e.g.
    /// `Hotfix-{build}` or `hotfix/{version}`.
    pub branch_template: String,
}

impl Default for HotfixLanePolicy {
    fn default() -> Self {
        Self {
            branch_template: "hotfix/{version}".to_owned(),
        }
    }
}

/// The team's rules. Every field has a default, so a policy file needs to
/// name only what it changes.
///
/// ```
/// use knowngood::{Policy, Strategy};
/// let policy: Policy = serde_json::from_str(r#"{ "forward_only": true }"#).unwrap();
/// assert!(policy.forward_only);
/// assert!(policy.allows(Strategy::Revert));
/// assert!(!policy.allows(Strategy::Rollback));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Policy {
    /// Strategies the team is willing to use.
    pub allowed_strategies: BTreeSet<Strategy>,
    /// Never roll back: every recovery moves forward through the pipeline.
    pub forward_only: bool,
    /// Whether and how the hotfix lane is used; `None` turns it off.
    pub hotfix_lane: Option<HotfixLanePolicy>,
    /// Main is always deploy-ready (continuous deployment with every check
    /// before the merge), so fixing forward is always safe.
    pub main_always_deployable: bool,
    /// Typical time an artifact spends in each environment (deploy and
    /// verification), in seconds, used for time-to-restore estimates until
    /// the journal holds observed durations.
    pub stage_seconds: BTreeMap<EnvironmentId, u64>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allowed_strategies: Strategy::ALL.into_iter().collect(),
            forward_only: false,
            hotfix_lane: None,
            main_always_deployable: false,
            stage_seconds: BTreeMap::new(),
        }
    }
}

impl Policy {
    /// Whether the policy lets the team use `strategy`.
    pub fn allows(&self, strategy: Strategy) -> bool {
        if self.forward_only && strategy == Strategy::Rollback {
            return false;
        }
        if strategy == Strategy::Hotfix && self.hotfix_lane.is_none() {
            return false;
        }
        self.allowed_strategies.contains(&strategy)
    }
}
