//! Incidents: what broke, where, and what is suspected.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::environment::Slot;
use super::ids::ChangeId;

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Severity {
    /// Customers cannot use a core function.
    Sev1,
    /// A core function is degraded.
    Sev2,
    /// A minor function is degraded.
    Sev3,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sev1 => "SEV1",
            Self::Sev2 => "SEV2",
            Self::Sev3 => "SEV3",
        })
    }
}

/// What is believed to have caused an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SuspectedCause {
    /// A change (a regression). Declaring the incident poisons it.
    Change {
        /// The change.
        change: ChangeId,
    },
    /// A deployment, its change not yet pinned down.
    Deployment {
        /// The revision.
        slot: Slot,
    },
    /// Something outside the code: infrastructure, a third party, data.
    External {
        /// What.
        description: String,
    },
}

impl fmt::Display for SuspectedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Change { change } => write!(f, "change `{change}`"),
            Self::Deployment { slot } => write!(f, "the deployment of {slot}"),
            Self::External { description } => write!(f, "an external change ({description})"),
        }
    }
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum IncidentPhase {
    /// Declared; no strategy chosen yet.
    Detected,
    /// A recovery strategy was chosen and is being carried out.
    Mitigating,
    /// A known-good state is restored.
    Mitigated,
    /// The permanent fix is in production, the gate reopened, no drift.
    Resolved,
    /// The blameless retro is recorded.
    Reviewed,
}

impl IncidentPhase {
    /// The phase that follows, if any.
    pub fn next(self) -> Option<IncidentPhase> {
        match self {
            Self::Detected => Some(Self::Mitigating),
            Self::Mitigating => Some(Self::Mitigated),
            Self::Mitigated => Some(Self::Resolved),
            Self::Resolved => Some(Self::Reviewed),
            Self::Reviewed => None,
        }
    }
}

impl fmt::Display for IncidentPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Detected => "detected",
            Self::Mitigating => "mitigating",
            Self::Mitigated => "mitigated",
            Self::Resolved => "resolved",
            Self::Reviewed => "reviewed",
        })
    }
}
