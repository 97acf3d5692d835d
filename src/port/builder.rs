//! The CI builder.

use super::error::AdapterError;
use crate::model::{Artifact, CommitId, ServiceId};
use crate::recovery::IdempotencyKey;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

capabilities!(BuilderCapabilities { on_demand / with_on_demand });

/// What the builder can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BuilderCapabilities {
    /// Build any commit on demand.
    pub on_demand: bool,
}

/// The CI builder: turns a commit into an artifact, once.
#[async_trait]
pub trait Builder: Send + Sync + fmt::Debug + 'static {
    /// What this builder can do.
    fn capabilities(&self) -> BuilderCapabilities;
    /// Build `commit` of `service`.
    async fn build(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &CommitId,
    ) -> Result<Artifact, AdapterError>;
    /// The artifact a build under `key` produced, if it happened.
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<Artifact>, AdapterError>;
}
