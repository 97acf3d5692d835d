//! Freezes: time windows in which some actions are closed (deny) or the
//! only times they are open (allow), per action and environment.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{Actor, EnvironmentId, FreezeId};

/// An action a freeze can close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum GatedAction {
    /// Deploying new work along the main lane.
    Deliver,
    /// Re-deploying an older release.
    Rollback,
    /// Deploying along the hotfix lane (into hotfix-development, or into
    /// production from it).
    Hotfix,
    /// Changing a feature flag.
    FlagChange,
}

impl fmt::Display for GatedAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Deliver => "deliver",
            Self::Rollback => "rollback",
            Self::Hotfix => "hotfix",
            Self::FlagChange => "flag change",
        })
    }
}

/// Whether a freeze closes its actions inside its window, or opens them
/// only inside it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FreezeEffect {
    /// The actions are closed inside the window.
    #[default]
    Deny,
    /// The actions are open only inside this window (or another allow
    /// window for the same action and environment). A deny always wins.
    Allow,
}

/// One freeze rule.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use knowngood::{Freeze, GatedAction};
/// let holidays = Freeze::deny(
///     "holiday-2026",
///     [GatedAction::Deliver],
///     Utc.with_ymd_and_hms(2026, 12, 20, 0, 0, 0).unwrap(),
///     "alice",
///     "holiday freeze",
/// )
/// .until(Utc.with_ymd_and_hms(2027, 1, 4, 0, 0, 0).unwrap())
/// .in_environment("prod");
/// assert!(holidays.covers(GatedAction::Deliver, &"prod".into()));
/// assert!(!holidays.covers(GatedAction::Rollback, &"prod".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Freeze {
    /// Its name.
    pub id: FreezeId,
    /// Deny or allow.
    #[serde(default)]
    pub effect: FreezeEffect,
    /// The actions it covers.
    pub actions: BTreeSet<GatedAction>,
    /// The environments it covers; empty means every environment.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub environments: BTreeSet<EnvironmentId>,
    /// When the window opens.
    pub starts: DateTime<Utc>,
    /// When it closes; `None` means until lifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends: Option<DateTime<Utc>>,
    /// Who declared it.
    pub declared_by: Actor,
    /// Why.
    pub reason: String,
}

impl Freeze {
    /// A deny freeze of `actions` in every environment from `starts` until lifted.
    pub fn deny(
        id: impl Into<FreezeId>,
        actions: impl IntoIterator<Item = GatedAction>,
        starts: DateTime<Utc>,
        declared_by: impl Into<Actor>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            effect: FreezeEffect::Deny,
            actions: actions.into_iter().collect(),
            environments: BTreeSet::new(),
            starts,
            ends: None,
            declared_by: declared_by.into(),
            reason: reason.into(),
        }
    }

    /// The same rule as an allow window.
    #[must_use]
    pub fn allowing(mut self) -> Self {
        self.effect = FreezeEffect::Allow;
        self
    }

    /// Ends the window at `ends`.
    #[must_use]
    pub fn until(mut self, ends: DateTime<Utc>) -> Self {
        self.ends = Some(ends);
        self
    }

    /// Limits the rule to an environment (call again for more).
    #[must_use]
    pub fn in_environment(mut self, env: impl Into<EnvironmentId>) -> Self {
        self.environments.insert(env.into());
        self
    }

    /// Whether the rule speaks about `action` in `env`, whatever the time.
    pub fn covers(&self, action: GatedAction, env: &EnvironmentId) -> bool {
        self.actions.contains(&action)
            && (self.environments.is_empty() || self.environments.contains(env))
    }

    /// Whether `at` falls inside the window.
    pub fn is_active_at(&self, at: DateTime<Utc>) -> bool {
        self.starts <= at && self.ends.is_none_or(|end| at < end)
    }
}
