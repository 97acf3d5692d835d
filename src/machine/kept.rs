//! What the state keeps beside the histories, as plain records: the
//! last-known-good sets of each environment, and the automatic
//! remediations the loop guard counts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{EnvironmentId, FlagKey, FlagState, IncidentId, ReleaseId, ServiceId};

/// One automatic remediation, as the state remembers it for the loop
/// guard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Remediated {
    pub(crate) incident: IncidentId,
    pub(crate) environment: EnvironmentId,
    pub(crate) release: ReleaseId,
    pub(crate) at: DateTime<Utc>,
}

/// How many sets an environment keeps (the newest; older ones are
/// dropped, numbers are never reused).
pub const KNOWN_GOOD_SETS_KEPT: usize = 32;

/// What an environment ran when it was verified healthy as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnownGoodSet {
    /// Its number in the environment, from 1, in the order recorded.
    pub number: u32,
    /// When.
    pub at: DateTime<Utc>,
    /// Each service's release and revision.
    pub services: BTreeMap<ServiceId, (ReleaseId, crate::model::Revision)>,
    /// Each flag's state.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flags: BTreeMap<FlagKey, FlagState>,
    /// Each service's schema version, where tracked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub schemas: BTreeMap<ServiceId, u32>,
}

impl KnownGoodSet {
    /// Whether two sets hold the same things (whatever their number and
    /// time).
    pub(super) fn same_as(&self, other: &Self) -> bool {
        self.services == other.services
            && self.flags == other.flags
            && self.schemas == other.schemas
    }
}
