//! Runbooks: the host's own recovery actions (a failover, scaling up,
//! disabling an integration, purging a cache), run under an idempotency
//! key.

use super::error::AdapterError;
use crate::model::{EnvironmentId, Runbook, ServiceId};
use crate::recovery::IdempotencyKey;
use async_trait::async_trait;
use std::fmt;

/// Runs the host's runbooks. A runbook registered in the journal
/// ([`Command::RegisterRunbook`](crate::Command::RegisterRunbook)) is
/// offered by the planner where it applies; once chosen, the driver runs
/// it through this port and then measures the service's health. A key
/// seen again answers the first run's result without running twice, and
/// `outcome` says what ran under a key.
#[async_trait]
pub trait Runbooks: Send + Sync + fmt::Debug + 'static {
    /// Runs `runbook` for `service` in `environment`; answers what it did,
    /// in words (kept in the journal as the step's outcome).
    async fn run(
        &self,
        key: &IdempotencyKey,
        runbook: &Runbook,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<String, AdapterError>;

    /// What ran under `key`, if anything.
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<String>, AdapterError>;
}
