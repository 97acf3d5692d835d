//! Environments, their roles, and the slots releases run in.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ids::{EnvironmentId, Revision, ServiceId};

/// What an environment is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum EnvironmentRole {
    /// Where new work is first deployed.
    Development,
    /// The development environment of the hotfix lane: it mirrors what
    /// production runs, so a fix can be verified against it.
    HotfixDevelopment,
    /// Test / QA.
    Test,
    /// Staging: the last stop before production.
    Staging,
    /// Serves customers. A pipeline may have several (e.g. regions).
    Production,
}

impl fmt::Display for EnvironmentRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Development => "development",
            Self::HotfixDevelopment => "hotfix-development",
            Self::Test => "test",
            Self::Staging => "staging",
            Self::Production => "production",
        })
    }
}

/// A named place software runs.
///
/// ```
/// use knowngood::{Environment, EnvironmentRole};
/// let prod = Environment::new("prod-eu", EnvironmentRole::Production);
/// assert!(prod.is_production());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Environment {
    /// The environment's name.
    pub id: EnvironmentId,
    /// What it is for.
    pub role: EnvironmentRole,
}

impl Environment {
    /// An environment with this name and role.
    pub fn new(id: impl Into<EnvironmentId>, role: EnvironmentRole) -> Self {
        Self {
            id: id.into(),
            role,
        }
    }

    /// Whether this environment serves customers.
    pub fn is_production(&self) -> bool {
        self.role == EnvironmentRole::Production
    }
}

/// One revision of one service in one environment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Slot {
    /// The environment.
    pub environment: EnvironmentId,
    /// The service.
    pub service: ServiceId,
    /// The revision in that service's rollout history there.
    pub revision: Revision,
}

impl Slot {
    /// Names one revision.
    pub fn new(
        environment: impl Into<EnvironmentId>,
        service: impl Into<ServiceId>,
        revision: Revision,
    ) -> Self {
        Self {
            environment: environment.into(),
            service: service.into(),
            revision,
        }
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` {} in `{}`",
            self.service, self.revision, self.environment
        )
    }
}
