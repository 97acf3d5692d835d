//! A health probe in memory, answering what the test set.

use super::lock;
use crate::model::{EnvironmentId, ReleaseId, ServiceId};
use crate::port::{AdapterError, Health, HealthProbe};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A health probe in memory: healthy unless told otherwise per release.
#[derive(Debug, Default)]
pub struct InMemoryHealthProbe {
    verdicts: Mutex<BTreeMap<(EnvironmentId, ReleaseId), Health>>,
}

impl InMemoryHealthProbe {
    /// What the probe will say about `release` in `environment`.
    pub fn set(&self, environment: &EnvironmentId, release: &ReleaseId, health: Health) {
        lock(&self.verdicts).insert((environment.clone(), release.clone()), health);
    }
}

#[async_trait]
impl HealthProbe for InMemoryHealthProbe {
    async fn verify(
        &self,
        environment: &EnvironmentId,
        _service: &ServiceId,
        release: &ReleaseId,
    ) -> Result<Health, AdapterError> {
        Ok(lock(&self.verdicts)
            .get(&(environment.clone(), release.clone()))
            .cloned()
            .unwrap_or_else(|| Health::new(true, "error rate 0.1%, p99 180 ms")))
    }
}
