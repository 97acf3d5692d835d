//! The CI builder.

use super::error::AdapterError;
use crate::model::{
    Artifact, CommitId, ConfigRevision, Release, ReleaseId, SchemaRange, ServiceId,
};
use crate::recovery::IdempotencyKey;
use async_trait::async_trait;
use semver::VersionReq;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

capabilities!(BuilderCapabilities { on_demand / with_on_demand });

/// What the builder can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BuilderCapabilities {
    /// Build any commit on demand. Without it the planner offers no plan
    /// that builds (a revert, a hotfix, a fix forward, waiting for work in
    /// flight): they would fail at their ship step.
    pub on_demand: bool,
}

/// What a build made: the artifact, and the release the driver registers
/// for it, as the build says — its configuration revision, the schema
/// versions it runs on, and what it needs of other services — so that the
/// core's schema and requirement rules judge what was really built.
///
/// ```
/// use knowngood::port::BuildManifest;
/// use knowngood::{Artifact, Digest, SchemaRange};
/// let artifact = Artifact::new(
///     "payments",
///     Digest::parse("sha256:00ff00ff").unwrap(),
///     semver::Version::new(1, 5, 1),
///     1234,
///     "c0ffee1",
/// );
/// let manifest = BuildManifest::new(artifact, "cfg-17")
///     .on_schema(SchemaRange::new(3, 4))
///     .requiring("ledger", semver::VersionReq::parse(">=3.0").unwrap());
/// let release = manifest.release();
/// assert_eq!(release.id.as_str(), "payments@1.5.1+1234");
/// assert_eq!(release.config.as_str(), "cfg-17");
/// assert_eq!(release.requires.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BuildManifest {
    /// The artifact built.
    pub artifact: Artifact,
    /// The release's name; `service@version+build` when the build names
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseId>,
    /// The configuration revision the release deploys with.
    pub config: ConfigRevision,
    /// The schema versions it runs on (`None`: no database, or not
    /// tracked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaRange>,
    /// Versions of other services it needs beside it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requires: BTreeMap<ServiceId, VersionReq>,
}

impl BuildManifest {
    /// `artifact`, deployed with configuration `config`, on no tracked
    /// schema and requiring nothing.
    pub fn new(artifact: Artifact, config: impl Into<ConfigRevision>) -> Self {
        Self {
            artifact,
            release: None,
            config: config.into(),
            schema: None,
            requires: BTreeMap::new(),
        }
    }

    /// Names the release.
    #[must_use]
    pub fn named(mut self, release: impl Into<ReleaseId>) -> Self {
        self.release = Some(release.into());
        self
    }

    /// Declares the schema versions the release runs on.
    #[must_use]
    pub fn on_schema(mut self, range: SchemaRange) -> Self {
        self.schema = Some(range);
        self
    }

    /// Adds a requirement on another service's version.
    #[must_use]
    pub fn requiring(mut self, service: impl Into<ServiceId>, requirement: VersionReq) -> Self {
        self.requires.insert(service.into(), requirement);
        self
    }

    /// The release's name: the build's own, or `service@version+build`.
    pub fn release_id(&self) -> ReleaseId {
        self.release
            .clone()
            .unwrap_or_else(|| crate::machine::built_release_id(&self.artifact))
    }

    /// The release the driver registers for this build.
    pub fn release(&self) -> Release {
        let mut release = Release::new(
            self.release_id(),
            self.artifact.service.clone(),
            self.artifact.digest.clone(),
            self.config.clone(),
        );
        release.schema = self.schema;
        release.requires.clone_from(&self.requires);
        release
    }
}

/// The CI builder: turns a commit into an artifact and the release it
/// makes, once per key.
#[async_trait]
pub trait Builder: Send + Sync + fmt::Debug + 'static {
    /// What this builder can do.
    fn capabilities(&self) -> BuilderCapabilities;
    /// Build `commit` of `service`: the artifact and what its release is.
    async fn build(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &CommitId,
    ) -> Result<BuildManifest, AdapterError>;
    /// What a build under `key` made, if it happened.
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<BuildManifest>, AdapterError>;
}
