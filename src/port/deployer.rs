//! The deployer: what serves where.

use super::error::AdapterError;
use crate::model::{Artifact, EnvironmentId, Release, ReleaseId, ServiceId};
use crate::recovery::IdempotencyKey;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

capabilities!(DeployerCapabilities {
    redeploy_earlier / with_redeploy_earlier,
    abort / with_abort,
});

/// What the deployer can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeployerCapabilities {
    /// Deploy a release that ran before (roll back).
    pub redeploy_earlier: bool,
    /// Abort a rollout in flight.
    pub abort: bool,
}

/// The deployer: moves releases into environments.
///
/// # Contract
///
/// - [`deploy`](Deployer::deploy) returns once all traffic is on the
///   release; afterwards [`status`](Deployer::status) names it. The driver
///   checks that after every deploy and stops with
///   [`DriveError::Diverged`](crate::driver::DriveError::Diverged) when
///   the deployer serves something else.
/// - [`abort`](Deployer::abort) stops a rollout in flight and returns
///   traffic to what served before it; aborting where nothing is in flight
///   is success.
/// - A key seen before answers the first result without acting;
///   [`outcome`](Deployer::outcome) reports it after a crash.
#[async_trait]
pub trait Deployer: Send + Sync + fmt::Debug + 'static {
    /// What this deployer can do.
    fn capabilities(&self) -> DeployerCapabilities;
    /// Roll `release` out to `environment`, returning once all traffic is
    /// on it.
    async fn deploy(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        release: &Release,
        artifact: &Artifact,
    ) -> Result<(), AdapterError>;
    /// Stop the rollout of `service` in flight in `environment`.
    async fn abort(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<(), AdapterError>;
    /// The release serving `service` in `environment`, if any, as the
    /// deployer sees it (not as the ledger believes).
    async fn status(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<Option<ReleaseId>, AdapterError>;
    /// The release a deploy under `key` rolled out, if it happened.
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError>;
    /// How long one deploy or abort may run at most, when the deployer
    /// knows (a command's timeout): before such a call the driver holds its
    /// lease for at least that long plus the lease's own length, so that
    /// the lease covers the whole call and no other replica takes over
    /// while it runs. `None` (the default): a call fits in the lease.
    fn longest_call(&self) -> Option<std::time::Duration> {
        None
    }
    /// Deploys as [`deploy`](Deployer::deploy) does, for the holder of
    /// `fence`: the driver calls this instead whenever it holds a lease. A
    /// deployer that can check (one that remembers the highest token it
    /// was handed for the lease's scope, or hands the token on to a deploy
    /// system that does) refuses a stale holder — a replica paused past
    /// its lease that wakes up mid-plan — with
    /// [`ErrorKind::Rejected`](super::ErrorKind::Rejected) and does
    /// nothing. The default cannot check, and deploys.
    async fn deploy_fenced(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        release: &Release,
        artifact: &Artifact,
        fence: &super::leases::Fence,
    ) -> Result<(), AdapterError> {
        let _ = fence;
        self.deploy(key, environment, release, artifact).await
    }
    /// Aborts as [`abort`](Deployer::abort) does, for the holder of
    /// `fence` (see [`deploy_fenced`](Deployer::deploy_fenced)).
    async fn abort_fenced(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
        fence: &super::leases::Fence,
    ) -> Result<(), AdapterError> {
        let _ = fence;
        self.abort(key, environment, service).await
    }
}
