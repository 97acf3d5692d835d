//! Host runbooks: recovery actions a team registers (fail over to another
//! region, scale up, disable an integration, purge a cache), ranked by the
//! planner beside the built-in strategies and run through the host's
//! [`Runbooks`](crate::port::Runbooks) port.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{EnvironmentId, RunbookId, ServiceId, SuspectedCause};

/// The kind of a suspected cause, for a runbook's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CauseKind {
    /// A change (a regression).
    Change,
    /// A deployment, its change not pinned down.
    Deployment,
    /// Something outside the code.
    External,
}

impl CauseKind {
    /// The kind of `cause`.
    pub fn of(cause: &SuspectedCause) -> Self {
        match cause {
            SuspectedCause::Change { .. } => Self::Change,
            SuspectedCause::Deployment { .. } => Self::Deployment,
            SuspectedCause::External { .. } => Self::External,
        }
    }
}

impl fmt::Display for CauseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Change => "a change",
            Self::Deployment => "a deployment",
            Self::External => "an external cause",
        })
    }
}

/// A recovery action the host knows how to take.
///
/// ```
/// use knowngood::{CauseKind, Runbook};
/// let failover = Runbook::new("failover-to-eu-west", "Fail over to eu-west", true, 300)
///     .for_causes([CauseKind::External])
///     .undone_by("fail back to eu-central once it is healthy");
/// assert!(failover.restores);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Runbook {
    /// Its name.
    pub id: RunbookId,
    /// What it does, in words.
    pub title: String,
    /// Whether it restores a healthy service (a failover) or only relieves
    /// the symptoms (scaling up, shedding load): a runbook that only
    /// relieves ranks after every option that restores.
    pub restores: bool,
    /// About how long it takes, in seconds.
    pub estimate_seconds: u64,
    /// Where it applies (empty: every production environment).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<EnvironmentId>,
    /// Whose incidents it applies to (empty: every service).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceId>,
    /// The kinds of cause it helps with (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<CauseKind>,
    /// What must be done afterwards to undo it (fail back, scale down):
    /// it becomes a follow-up of the incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<String>,
}

impl Runbook {
    /// A runbook that applies everywhere, to any cause.
    pub fn new(
        id: impl Into<RunbookId>,
        title: impl Into<String>,
        restores: bool,
        estimate_seconds: u64,
    ) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            restores,
            estimate_seconds,
            environments: Vec::new(),
            services: Vec::new(),
            causes: Vec::new(),
            undo: None,
        }
    }

    /// … only in `environments`.
    #[must_use]
    pub fn in_environments(
        mut self,
        environments: impl IntoIterator<Item = impl Into<EnvironmentId>>,
    ) -> Self {
        self.environments = environments.into_iter().map(Into::into).collect();
        self
    }

    /// … only for `services`.
    #[must_use]
    pub fn for_services(
        mut self,
        services: impl IntoIterator<Item = impl Into<ServiceId>>,
    ) -> Self {
        self.services = services.into_iter().map(Into::into).collect();
        self
    }

    /// … only for these kinds of cause.
    #[must_use]
    pub fn for_causes(mut self, causes: impl IntoIterator<Item = CauseKind>) -> Self {
        self.causes = causes.into_iter().collect();
        self
    }

    /// … undone afterwards by `undo` (a follow-up).
    #[must_use]
    pub fn undone_by(mut self, undo: impl Into<String>) -> Self {
        self.undo = Some(undo.into());
        self
    }
}
