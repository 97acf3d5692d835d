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

    /// Check `service` running `release` in `environment` against
    /// `baseline`, the known-good release it replaced there: a canary
    /// judged against its baseline. The driver asks this, instead of
    /// [`verify`](Self::verify), when it records the verdict on a new
    /// revision and a known-good revision of another release served
    /// before it.
    ///
    /// The default ignores the baseline and answers
    /// [`verify`](Self::verify); a probe that compares (such as
    /// [`AnalysisProbe`](crate::adapters::AnalysisProbe) with comparisons)
    /// overrides it.
    async fn verify_against(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        release: &ReleaseId,
        baseline: &ReleaseId,
    ) -> Result<Health, AdapterError> {
        let _ = baseline;
        self.verify(environment, service, release).await
    }
}
