//! A CI builder in memory: one artifact per commit built.

use super::{Ledgered, lock};
use crate::model::{Artifact, CommitId, Digest, ServiceId};
use crate::port::{AdapterError, Builder, BuilderCapabilities, ErrorKind};
use crate::recovery::IdempotencyKey;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct BuilderInner {
    calls: Ledgered<Artifact>,
    builds: u64,
}

/// A builder in memory: build numbers count up from `first_build`, the
/// version's patch number follows the build number, the digest is derived
/// from service and commit.
#[derive(Debug, Default)]
pub struct InMemoryBuilder {
    inner: Mutex<BuilderInner>,
    first_build: u64,
    version: (u64, u64),
}

impl InMemoryBuilder {
    /// Builds numbered from `first_build`, versioned `major.minor.<build>`.
    pub fn new(first_build: u64, major: u64, minor: u64) -> Self {
        Self {
            inner: Mutex::default(),
            first_build,
            version: (major, minor),
        }
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
    ) -> Result<Artifact, AdapterError> {
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
        Ok(inner.calls.note(key, artifact))
    }

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<Artifact>, AdapterError> {
        Ok(lock(&self.inner).calls.seen(key))
    }
}
