//! A deployer in memory: what serves where, and aborts.

use super::{Ledgered, lock};
use crate::model::{Artifact, EnvironmentId, Release, ReleaseId, ServiceId};
use crate::port::{AdapterError, Deployer, DeployerCapabilities, ErrorKind, Fence};
use crate::recovery::IdempotencyKey;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct DeployerInner {
    running: BTreeMap<(EnvironmentId, ServiceId), ReleaseId>,
    history: BTreeMap<(EnvironmentId, ServiceId), Vec<ReleaseId>>,
    calls: Ledgered<ReleaseId>,
    /// The highest lease token handed for each lease scope.
    fences: BTreeMap<String, u64>,
}

impl DeployerInner {
    /// Admits `fence` unless a higher token was handed for its scope: a
    /// holder whose lease passed on is refused, as a deploy system that
    /// checks fencing tokens refuses it.
    fn admit(&mut self, fence: &Fence) -> Result<(), AdapterError> {
        let highest = self.fences.entry(fence.scope.clone()).or_insert(0);
        if fence.token < *highest {
            return Err(AdapterError::new(
                ErrorKind::Rejected,
                format!(
                    "stale lease: `{}` holds token {} on `{}`, and token {} was handed since; nothing done (another replica took over)",
                    fence.holder, fence.token, fence.scope, *highest
                ),
            ));
        }
        *highest = fence.token;
        Ok(())
    }

    fn deploy(&mut self, key: &IdempotencyKey, environment: &EnvironmentId, release: &Release) {
        if self.calls.seen(key).is_some() {
            return;
        }
        let at = (environment.clone(), release.service.clone());
        self.running.insert(at.clone(), release.id.clone());
        self.history.entry(at).or_default().push(release.id.clone());
        self.calls.note(key, release.id.clone());
    }

    fn abort(&mut self, key: &IdempotencyKey, environment: &EnvironmentId, service: &ServiceId) {
        if self.calls.seen(key).is_some() {
            return;
        }
        // A rollout here completes at once, so stopping it means returning
        // traffic to the release before it.
        let at = (environment.clone(), service.clone());
        let before = self.history.get(&at).and_then(|h| {
            let n = h.len();
            n.checked_sub(2).and_then(|i| h.get(i)).cloned()
        });
        if let Some(before) = before {
            self.running.insert(at.clone(), before.clone());
            self.history.entry(at).or_default().push(before);
        }
        self.calls
            .note(key, ReleaseId::new(format!("aborted:{service}")));
    }
}

/// A deployer in memory: a rollout completes at once.
#[derive(Debug, Default)]
pub struct InMemoryDeployer {
    inner: Mutex<DeployerInner>,
    longest_call: Option<std::time::Duration>,
}

impl InMemoryDeployer {
    /// The same, saying that a call may take up to `longest` (as a slow
    /// real deployer would; see [`Deployer::longest_call`]).
    #[must_use]
    pub fn with_longest_call(mut self, longest: std::time::Duration) -> Self {
        self.longest_call = Some(longest);
        self
    }

    /// How often the deployer really acted under `key`.
    pub fn executions(&self, key: &IdempotencyKey) -> usize {
        lock(&self.inner).calls.executions(key)
    }

    /// Every key it acted under, with counts.
    pub fn all_executions(&self) -> BTreeMap<IdempotencyKey, usize> {
        lock(&self.inner).calls.acted.clone()
    }
}

#[async_trait]
impl Deployer for InMemoryDeployer {
    fn capabilities(&self) -> DeployerCapabilities {
        DeployerCapabilities::all()
    }

    fn longest_call(&self) -> Option<std::time::Duration> {
        self.longest_call
    }

    async fn deploy(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        release: &Release,
        _artifact: &Artifact,
    ) -> Result<(), AdapterError> {
        lock(&self.inner).deploy(key, environment, release);
        Ok(())
    }

    async fn deploy_fenced(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        release: &Release,
        _artifact: &Artifact,
        fence: &Fence,
    ) -> Result<(), AdapterError> {
        let mut inner = lock(&self.inner);
        inner.admit(fence)?;
        inner.deploy(key, environment, release);
        Ok(())
    }

    async fn abort(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<(), AdapterError> {
        lock(&self.inner).abort(key, environment, service);
        Ok(())
    }

    async fn abort_fenced(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
        fence: &Fence,
    ) -> Result<(), AdapterError> {
        let mut inner = lock(&self.inner);
        inner.admit(fence)?;
        inner.abort(key, environment, service);
        Ok(())
    }

    async fn status(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<Option<ReleaseId>, AdapterError> {
        Ok(lock(&self.inner)
            .running
            .get(&(environment.clone(), service.clone()))
            .cloned())
    }

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError> {
        Ok(lock(&self.inner).calls.seen(key))
    }
}
