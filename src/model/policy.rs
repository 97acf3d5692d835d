//! The team's rules, as plain data loadable with serde.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::ids::{Actor, BuilderId, EnvironmentId, Role};

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
    /// Who holds each role.
    pub roles: BTreeMap<Role, BTreeSet<Actor>>,
    /// Roles whose members may override a freeze (with a reason) or lift
    /// one they did not declare.
    pub freeze_override_roles: BTreeSet<Role>,
    /// Approvals a deployment into an environment needs before its rollout
    /// starts. Rollbacks need none: they restore what already served there.
    pub approvals: BTreeMap<EnvironmentId, ApprovalRule>,
    /// Builders whose artifacts production accepts; empty accepts any.
    pub trusted_builders: BTreeSet<BuilderId>,
}

/// How many people from which role must approve a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ApprovalRule {
    /// Distinct approvers needed, none of them the requester.
    pub approvers: u32,
    /// The role they must hold.
    pub role: Role,
}

impl ApprovalRule {
    /// `approvers` distinct members of `role`.
    pub fn new(approvers: u32, role: impl Into<Role>) -> Self {
        Self {
            approvers,
            role: role.into(),
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allowed_strategies: Strategy::ALL.into_iter().collect(),
            forward_only: false,
            hotfix_lane: None,
            main_always_deployable: false,
            stage_seconds: BTreeMap::new(),
            roles: BTreeMap::new(),
            freeze_override_roles: BTreeSet::new(),
            approvals: BTreeMap::new(),
            trusted_builders: BTreeSet::new(),
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

impl Policy {
    /// Whether `actor` holds `role`.
    pub fn holds(&self, actor: &Actor, role: &Role) -> bool {
        self.roles
            .get(role)
            .is_some_and(|members| members.contains(actor))
    }

    /// Whether `actor` may override a freeze.
    pub fn may_override_freeze(&self, actor: &Actor) -> bool {
        self.freeze_override_roles
            .iter()
            .any(|role| self.holds(actor, role))
    }

    /// Whether production accepts artifacts from `builder` (`None`: the
    /// artifact states no builder).
    pub fn trusts(&self, builder: Option<&BuilderId>) -> bool {
        self.trusted_builders.is_empty()
            || builder.is_some_and(|b| self.trusted_builders.contains(b))
    }
}
