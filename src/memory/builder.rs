//! A CI builder in memory: one artifact per commit built.

use super::{Ledgered, lock};
use crate::model::{Artifact, CommitId, ConfigRevision, Digest, SchemaRange, ServiceId};
use crate::port::{AdapterError, BuildManifest, Builder, BuilderCapabilities, ErrorKind};
use crate::recovery::IdempotencyKey;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct BuilderInner {
    calls: Ledgered<BuildManifest>,
    builds: u64,
}

/// What the builder says of the releases it builds from one commit.
#[derive(Debug, Clone)]
struct Described {
    config: ConfigRevision,
    schema: Option<SchemaRange>,
    requires: BTreeMap<ServiceId, semver::VersionReq>,
}

/// A builder in memory: build numbers count up from `first_build`, the
/// version's patch number follows the build number, the digest is derived
/// from service and commit. Its manifest says configuration `cfg-<commit>`
/// on no tracked schema, requiring nothing, unless
/// [`InMemoryBuilder::with_manifest`] describes the commit otherwise.
#[derive(Debug, Default)]
pub struct InMemoryBuilder {
    inner: Mutex<BuilderInner>,
    first_build: u64,
    version: (u64, u64),
    described: BTreeMap<CommitId, Described>,
}

impl InMemoryBuilder {
    /// Builds numbered from `first_build`, versioned `major.minor.<build>`.
    pub fn new(first_build: u64, major: u64, minor: u64) -> Self {
        Self {
            inner: Mutex::default(),
            first_build,
            version: (major, minor),
            described: BTreeMap::new(),
        }
    }

    /// What a build of `commit` says of its release: configuration
    /// `config`, schema versions `schema`, and `requires` of other
    /// services.
    #[must_use]
    pub fn with_manifest(
        mut self,
        commit: impl Into<CommitId>,
        config: impl Into<ConfigRevision>,
        schema: Option<SchemaRange>,
        requires: impl IntoIterator<Item = (ServiceId, semver::VersionReq)>,
    ) -> Self {
        self.described.insert(
            commit.into(),
            Described {
                config: config.into(),
                schema,
                requires: requires.into_iter().collect(),
            },
        );
        self
    }

    /// How often the builder really built under `key`.
    pub fn executions(&self, key: &IdempotencyKey) -> usize {
        lock(&self.inner).calls.executions(key)
    }

    /// Every key it acted under, with counts.
    pub fn all_executions(&self) -> BTreeMap<IdempotencyKey, usize> {
        lock(&self.inner).calls.acted.clone()
    }
}

#[async_trait]
impl Builder for InMemoryBuilder {
    fn capabilities(&self) -> BuilderCapabilities {
        BuilderCapabilities { on_demand: true }
    }

    async fn build(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &CommitId,
    ) -> Result<BuildManifest, AdapterError> {
        let mut inner = lock(&self.inner);
        if let Some(done) = inner.calls.seen(key) {
            return Ok(done);
        }
        let build = self.first_build + inner.builds;
        inner.builds = inner.builds.saturating_add(1);
        let hash = format!("{service}/{commit}")
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
        let digest = Digest::parse(&format!("sha256:{hash:016x}{build:08x}"))
            .map_err(|e| AdapterError::new(ErrorKind::Rejected, e.to_string()))?;
        let artifact = Artifact::new(
            service.clone(),
            digest,
            semver::Version::new(self.version.0, self.version.1, build),
            build,
            commit.clone(),
        )
        .built_by("in-memory-ci");
        let manifest = match self.described.get(commit) {
            Some(d) => {
                let mut m = BuildManifest::new(artifact, d.config.clone());
                m.schema = d.schema;
                m.requires.clone_from(&d.requires);
                m
            }
            None => BuildManifest::new(artifact, format!("cfg-{commit}")),
        };
        Ok(inner.calls.note(key, manifest))
    }

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<BuildManifest>, AdapterError> {
        Ok(lock(&self.inner).calls.seen(key))
    }
}
