//! The health probe's contract.

use super::{ConformanceFailure, ensure, fail};
use crate::model::{EnvironmentId, ServiceId};
use crate::port::HealthProbe;

/// Checks a [`HealthProbe`]: it answers for a release serving in
/// `environment`, with a detail saying what it measured.
pub async fn health_probe(
    port: &dyn HealthProbe,
    environment: &EnvironmentId,
    service: &ServiceId,
    release: &crate::model::ReleaseId,
) -> Result<(), ConformanceFailure> {
    const P: &str = "health probe";
    match port.verify(environment, service, release).await {
        Ok(health) => ensure(
            P,
            "says-what-it-measured",
            !health.detail.is_empty(),
            || "the verdict has no detail".to_owned(),
        ),
        Err(e) => fail(P, "verify", e.to_string()),
    }
}
