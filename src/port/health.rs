//! The health probe.

use super::error::AdapterError;
use crate::model::{EnvironmentId, ReleaseId, ServiceId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a health check saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Health {
    /// Whether the service is healthy.
    pub healthy: bool,
    /// What was measured.
    pub detail: String,
}

impl Health {
    /// A verdict.
    pub fn new(healthy: bool, detail: impl Into<String>) -> Self {
        Self {
            healthy,
            detail: detail.into(),
        }
    }
}

/// The health probe.
#[async_trait]
pub trait HealthProbe: Send + Sync + fmt::Debug + 'static {
    /// Check `service` (running `release`) in `environment`.
    async fn verify(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        release: &ReleaseId,
    ) -> Result<Health, AdapterError>;
}
