//! The journal's streams: the unit of ordering and of expected-version
//! checks. Every event belongs to exactly one.

use serde::{Deserialize, Serialize};

use crate::model::ids::id_type;
use crate::model::{EnvironmentId, IncidentId, ServiceId};

id_type!(
    /// The name of one stream in the journal: `pipeline`, `policy`,
    /// `catalog`, `source`, `freezes`, `gate/<environment>`,
    /// `flags/<environment>`, or `deployments/<environment>/<service>`.
    StreamId
);

impl StreamId {
    /// The stream of pipeline definitions.
    pub fn pipeline() -> Self {
        Self::new("pipeline")
    }

    /// The stream of registered services, artifacts and releases.
    pub fn catalog() -> Self {
        Self::new("catalog")
    }

    /// The stream of recorded commits and changes.
    pub fn source() -> Self {
        Self::new("source")
    }

    /// The stream of policy adoptions.
    pub fn policy() -> Self {
        Self::new("policy")
    }

    /// The stream of declared and lifted freezes.
    pub fn freezes() -> Self {
        Self::new("freezes")
    }

    /// The stream of one environment's delivery gate.
    pub fn gate(env: &EnvironmentId) -> Self {
        Self::from(format!("gate/{env}"))
    }

    /// The stream of one environment's feature flags.
    pub fn flags(env: &EnvironmentId) -> Self {
        Self::from(format!("flags/{env}"))
    }

    /// The stream of one incident.
    pub fn incident(incident: &IncidentId) -> Self {
        Self::from(format!("incident/{incident}"))
    }

    /// The stream of one service's deployments in one environment.
    pub fn deployments(env: &EnvironmentId, service: &ServiceId) -> Self {
        Self::from(format!("deployments/{env}/{service}"))
    }
}
