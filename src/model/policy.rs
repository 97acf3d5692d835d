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
    /// Stop the suspected rollout while it is still rolling out or not yet
    /// verified, and return to what served before. Not a rollback.
    Abort,
    /// One of the host's own runbooks ([`Runbook`](crate::Runbook)): a
    /// failover, scaling up, disabling an integration. Not in
    /// [`Strategy::ALL`]: the planner offers one option per registered
    /// runbook.
    Runbook,
}

impl Strategy {
    /// Every built-in strategy, in the order the specification lists
    /// them (host runbooks, [`Strategy::Runbook`], come after).
    pub const ALL: [Strategy; 8] = [
        Self::Retoggle,
        Self::Rollback,
        Self::Revert,
        Self::Hotfix,
        Self::FixForward,
        Self::Wait,
        Self::RevertInFlightThenFix,
        Self::Abort,
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
            Self::Abort => "abort",
            Self::Runbook => "runbook",
        })
    }
}

/// A strategy name that is not one of [`Strategy::ALL`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a strategy: use one of {}, runbook", Strategy::ALL.map(|s| s.to_string()).join(", "))]
pub struct UnknownStrategy {
    /// What was given.
    pub given: String,
}

impl std::str::FromStr for Strategy {
    type Err = UnknownStrategy;

    /// The names [`Display`](fmt::Display) writes (and serde uses):
    /// `retoggle`, `rollback`, `revert`, `hotfix`, `fix-forward`, `wait`,
    /// `revert-in-flight-then-fix`, `abort`, `runbook`.
    ///
    /// ```
    /// use knowngood::Strategy;
    /// for s in Strategy::ALL {
    ///     assert_eq!(s.to_string().parse::<Strategy>(), Ok(s));
    /// }
    /// assert!("roll-back".parse::<Strategy>().unwrap_err().to_string().contains("rollback"));
    /// ```
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .chain([Self::Runbook])
            .find(|s| s.to_string() == text.trim())
            .ok_or_else(|| UnknownStrategy {
                given: text.to_owned(),
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

impl HotfixLanePolicy {
    /// A hotfix lane whose branches are named by `template`.
    pub fn new(branch_template: impl Into<String>) -> Self {
        Self {
            branch_template: branch_template.into(),
        }
    }

    /// The branch name for a hotfix of the production build `build` at
    /// `version`.
    ///
    /// ```
    /// use knowngood::HotfixLanePolicy;
    /// let v = semver::Version::new(1, 4, 1);
    /// assert_eq!(HotfixLanePolicy::new("Hotfix-{build}").branch_name(&v, 43), "Hotfix-43");
    /// assert_eq!(HotfixLanePolicy::new("hotfix/{version}").branch_name(&v, 43), "hotfix/1.4.1");
    /// ```
    pub fn branch_name(&self, version: &semver::Version, build: u64) -> String {
        self.branch_template
            .replace("{build}", &build.to_string())
            .replace("{version}", &version.to_string())
    }
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
#[allow(clippy::struct_excessive_bools)] // a policy file's switches read best as booleans
pub struct Policy {
    /// Strategies the team is willing to use (by default every built-in
    /// one and the host's runbooks).
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
    /// Roles whose members may break glass where the policy otherwise
    /// refuses: a rollback under a forward-only policy, with a
    /// justification that the journal keeps.
    pub break_glass_roles: BTreeSet<Role>,
    /// Approvals a deployment into an environment needs before its rollout
    /// starts. Rollbacks need none: they restore what already served there.
    pub approvals: BTreeMap<EnvironmentId, ApprovalRule>,
    /// Builders whose artifacts production accepts; empty accepts any.
    pub trusted_builders: BTreeSet<BuilderId>,
    /// Seconds to switch a flag and see it take effect (estimates).
    pub flag_seconds: u64,
    /// Seconds to prepare and merge a fix (estimates).
    pub fix_seconds: u64,
    /// Seconds to prepare and merge a revert (estimates).
    pub revert_seconds: u64,
    /// Seconds to run a reversible down-migration before a rollback
    /// (estimates).
    pub migrate_seconds: u64,
    /// Seconds an environment takes when neither `stage_seconds` nor the
    /// journal says (estimates).
    pub default_stage_seconds: u64,
    /// Verified deployments an environment needs before estimates use the
    /// durations observed there instead of the policy's.
    pub observations_needed: u64,
    /// How many earlier known-good releases must stay possible rollback
    /// targets: a contract migration is refused while one of them still
    /// needs the old schema.
    pub rollback_window: u32,
    /// Whether a flag at 0 % (a dark launch: the code runs on mirrored
    /// traffic, its results are discarded) counts as off when deciding
    /// whether a poisoned change behind it is neutralised. Off by default:
    /// dark-launched code still runs, so it can still break production.
    pub dark_launch_counts_as_off: bool,
    /// Whether a fix may be fast-tracked past the test stages of its lane
    /// (an explicit, recorded [`Command::FastTrack`](crate::Command::FastTrack)).
    pub fast_track_allowed: bool,
    /// Roles whose members may authorise a fast-track; empty: anyone the
    /// team lets drive a recovery.
    pub fast_track_roles: BTreeSet<Role>,
    /// Detection without a person: when the driver measures a production
    /// deployment unhealthy and no incident is open there, it declares one
    /// of this severity itself, the failed verification as its evidence
    /// and the deployment as the suspected cause. `None` (the default): a
    /// person declares.
    pub auto_declare: Option<crate::model::Severity>,
    /// Bake time: how long a release must have served verified in an
    /// environment, in seconds, before it is promoted out of it (rule
    /// `bake-time`; a soak in staging, one production region before the
    /// rest). Steps of an incident's recovery plan are not held by it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub bake_seconds: BTreeMap<EnvironmentId, u64>,
    /// Automatic remediation, per environment: what the driver may do by
    /// itself when a deployment there fails its verification (rules
    /// `remediation-allowed` and `remediation-limit`). None by default: a
    /// person decides.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub remediation: BTreeMap<EnvironmentId, RemediationPolicy>,
}

/// What the driver may do by itself when a deployment fails its
/// verification in one environment: declare the incident, choose the
/// best-ranked option among `strategies` that the core accepts, drive it
/// and mark the incident mitigated on its measurements, at most
/// `per_release` times for one release there and `per_window` times in
/// any `window_seconds` (the loop guard); past that, or when no allowed
/// option applies, it stops and a person chooses from the ranked plan.
/// A freeze holds it like any change, unless `during_freeze`.
///
/// ```
/// use knowngood::{Policy, RemediationPolicy, Strategy};
/// let mut policy = Policy::default();
/// policy.remediation.insert("prod".into(), RemediationPolicy::default());
/// assert!(policy.remediation[&"prod".into()].strategies.contains(&Strategy::Rollback));
/// let parsed: RemediationPolicy = serde_json::from_str(r#"{"strategies": ["abort"], "per_release": 2}"#).unwrap();
/// assert_eq!(parsed.per_window, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RemediationPolicy {
    /// The strategies it may choose by itself (default: abort, rollback,
    /// retoggle: none of them builds or changes main).
    pub strategies: BTreeSet<Strategy>,
    /// At most this many automatic remediations for one release in the
    /// environment (default 1: a second failure of the same release waits
    /// for a person).
    pub per_release: u32,
    /// At most this many in the environment within `window_seconds`
    /// (default 3).
    pub per_window: u32,
    /// The window, in seconds (default an hour).
    pub window_seconds: u64,
    /// Whether it acts during a freeze that covers its steps (default
    /// no: it hands over). Yes makes its choice carry a freeze override,
    /// which the core accepts only when the driver's actor holds one of
    /// the policy's `freeze_override_roles`, and audits.
    pub during_freeze: bool,
}

impl Default for RemediationPolicy {
    fn default() -> Self {
        Self {
            strategies: [Strategy::Abort, Strategy::Rollback, Strategy::Retoggle]
                .into_iter()
                .collect(),
            per_release: 1,
            per_window: 3,
            window_seconds: 3600,
            during_freeze: false,
        }
    }
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
            allowed_strategies: Strategy::ALL
                .into_iter()
                .chain([Strategy::Runbook])
                .collect(),
            forward_only: false,
            hotfix_lane: None,
            main_always_deployable: false,
            stage_seconds: BTreeMap::new(),
            roles: BTreeMap::new(),
            freeze_override_roles: BTreeSet::new(),
            break_glass_roles: BTreeSet::new(),
            approvals: BTreeMap::new(),
            trusted_builders: BTreeSet::new(),
            flag_seconds: 60,
            fix_seconds: 1800,
            revert_seconds: 300,
            migrate_seconds: 600,
            default_stage_seconds: 900,
            observations_needed: 5,
            rollback_window: 3,
            dark_launch_counts_as_off: false,
            fast_track_allowed: true,
            fast_track_roles: BTreeSet::new(),
            auto_declare: None,
            bake_seconds: BTreeMap::new(),
            remediation: BTreeMap::new(),
        }
    }
}

/// The longest duration a policy may name, in seconds: 366 days. Longer
/// values are refused when the policy is adopted (they are typos, and they
/// would swamp every estimate).
pub const MAX_POLICY_SECONDS: u64 = 366 * 24 * 3600;

impl Policy {
    /// The first duration longer than [`MAX_POLICY_SECONDS`], by field
    /// name (`stage_seconds.<environment>` for a stage), if any.
    pub fn absurd_duration(&self) -> Option<(String, u64)> {
        let named = [
            ("flag_seconds", self.flag_seconds),
            ("fix_seconds", self.fix_seconds),
            ("revert_seconds", self.revert_seconds),
            ("migrate_seconds", self.migrate_seconds),
            ("default_stage_seconds", self.default_stage_seconds),
        ];
        named
            .into_iter()
            .map(|(field, value)| (field.to_owned(), value))
            .chain(
                self.stage_seconds
                    .iter()
                    .map(|(env, value)| (format!("stage_seconds.{env}"), *value)),
            )
            .chain(
                self.bake_seconds
                    .iter()
                    .map(|(env, value)| (format!("bake_seconds.{env}"), *value)),
            )
            .chain(self.remediation.iter().map(|(env, r)| {
                (
                    format!("remediation.{env}.window_seconds"),
                    r.window_seconds,
                )
            }))
            .find(|(_, value)| *value > MAX_POLICY_SECONDS)
    }

    /// Forward-only: never roll back; every recovery moves forward.
    pub fn forward_only() -> Self {
        Self {
            forward_only: true,
            ..Self::default()
        }
    }

    /// A hotfix lane with branches named by `branch_template`, e.g.
    /// `Hotfix-{build}` or `hotfix/{version}`.
    pub fn hotfix_lane(branch_template: impl Into<String>) -> Self {
        Self {
            hotfix_lane: Some(HotfixLanePolicy::new(branch_template)),
            ..Self::default()
        }
    }

    /// Continuous deployment: every check runs before the merge, so main
    /// is always deploy-ready and fixing forward is always safe; no hotfix
    /// lane (deployments along it are refused) and no fast-tracked
    /// revert-in-flight-then-fix (nothing in flight blocks a fix).
    pub fn continuous_deployment() -> Self {
        Self {
            main_always_deployable: true,
            ..Self::default()
        }
    }
}

impl Policy {
    /// Whether the policy lets the team use `strategy`: it is listed in
    /// `allowed_strategies`, and no rule of the policy rules it out (a
    /// forward-only policy rules out rollback, a policy without a hotfix
    /// lane rules out hotfix, and main always deploy-ready rules out the
    /// fast-tracked revert-in-flight-then-fix). The core refuses choosing a
    /// strategy the policy does not allow.
    pub fn allows(&self, strategy: Strategy) -> bool {
        self.forbids(strategy).is_none()
    }

    /// Why the policy rules `strategy` out, in words; `None` when it allows
    /// it.
    ///
    /// ```
    /// use knowngood::{Policy, Strategy};
    /// let why = Policy::forward_only().forbids(Strategy::Rollback).unwrap();
    /// assert_eq!(why, "the policy is forward-only: no rollbacks");
    /// ```
    pub fn forbids(&self, strategy: Strategy) -> Option<String> {
        if self.forward_only && strategy == Strategy::Rollback {
            return Some("the policy is forward-only: no rollbacks".to_owned());
        }
        if strategy == Strategy::Hotfix && self.hotfix_lane.is_none() {
            return Some("the policy does not use a hotfix lane".to_owned());
        }
        if strategy == Strategy::RevertInFlightThenFix && self.main_always_deployable {
            return Some(
                "main is always deploy-ready under this policy: nothing in flight blocks a fix, so fix forward instead"
                    .to_owned(),
            );
        }
        (!self.allowed_strategies.contains(&strategy))
            .then(|| format!("the policy does not allow {strategy}"))
    }
}

impl Policy {
    /// Whether `actor` holds `role`.
    pub fn holds(&self, actor: &Actor, role: &Role) -> bool {
        self.roles
            .get(role)
            .is_some_and(|members| members.contains(actor))
    }

    /// Whether `actor` may authorise a fast-track: the policy allows
    /// fast-tracks and names no role, or `actor` holds one it names.
    pub fn may_fast_track(&self, actor: &Actor) -> bool {
        self.fast_track_allowed
            && (self.fast_track_roles.is_empty() || self.fast_track_role(actor).is_some())
    }

    /// The first role the policy names for fast-tracks that `actor` holds.
    pub fn fast_track_role(&self, actor: &Actor) -> Option<&Role> {
        self.fast_track_roles
            .iter()
            .find(|role| self.holds(actor, role))
    }

    /// Whether `actor` may break glass where the policy otherwise refuses.
    pub fn may_break_glass(&self, actor: &Actor) -> bool {
        self.break_glass_roles
            .iter()
            .any(|role| self.holds(actor, role))
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
