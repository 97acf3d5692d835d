//! The conformance suite passes on every in-memory adapter and fails on a
//! deliberately broken one, naming the broken contract.
#![cfg(feature = "testkit")]

use async_trait::async_trait;
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlags, InMemoryJournal, InMemoryVcs, block_on,
};
use knowngood::port::{
    AdapterError, Deployer, DeployerCapabilities, FlagStore, FlagStoreCapabilities,
};
use knowngood::recovery::IdempotencyKey;
use knowngood::testkit::conformance;
use knowngood::{Artifact, EnvironmentId, FlagKey, FlagState, Release, ReleaseId, ServiceId};
use std::sync::Mutex;

#[test]
fn conformance_in_memory_adapters_pass() {
    block_on(conformance::deployer(
        &InMemoryDeployer::default(),
        &"prod".into(),
    ))
    .unwrap();
    block_on(conformance::flag_store(&InMemoryFlags::default())).unwrap();
    block_on(conformance::journal_store(&InMemoryJournal::default())).unwrap();
    block_on(conformance::builder(
        &InMemoryBuilder::new(1, 1, 0),
        &"payments".into(),
        &"a1".into(),
    ))
    .unwrap();
    let vcs = InMemoryVcs::default();
    vcs.commit(&"payments".into(), &"main".into(), &"a1".into());
    block_on(conformance::vcs(&vcs, &"payments".into(), &"main".into())).unwrap();
}

/// Deploys on every call, ignoring the idempotency key.
#[derive(Debug, Default)]
struct ForgetfulDeployer {
    running: Mutex<Option<ReleaseId>>,
}

#[async_trait]
impl Deployer for ForgetfulDeployer {
    fn capabilities(&self) -> DeployerCapabilities {
        DeployerCapabilities::all()
    }
    async fn deploy(
        &self,
        _key: &IdempotencyKey,
        _env: &EnvironmentId,
        release: &Release,
        _a: &Artifact,
    ) -> Result<(), AdapterError> {
        *self.running.lock().unwrap() = Some(release.id.clone());
        Ok(())
    }
    async fn abort(
        &self,
        _key: &IdempotencyKey,
        _env: &EnvironmentId,
        _service: &ServiceId,
    ) -> Result<(), AdapterError> {
        Ok(())
    }
    async fn status(
        &self,
        _env: &EnvironmentId,
        _service: &ServiceId,
    ) -> Result<Option<ReleaseId>, AdapterError> {
        Ok(self.running.lock().unwrap().clone())
    }
    async fn outcome(&self, _key: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError> {
        Ok(self.running.lock().unwrap().clone())
    }
}

#[test]
fn conformance_fails_on_a_deliberately_broken_adapter() {
    let failure = block_on(conformance::deployer(
        &ForgetfulDeployer::default(),
        &"prod".into(),
    ))
    .unwrap_err();
    assert_eq!(failure.check, "replayed-key-does-not-act-again");
    assert!(
        failure
            .to_string()
            .starts_with("deployer breaks `replayed-key-does-not-act-again`"),
        "{failure}"
    );
}

/// Ignores the expected revision: last writer wins.
#[derive(Debug, Default)]
struct CarelessFlags {
    inner: InMemoryFlags,
}

#[async_trait]
impl FlagStore for CarelessFlags {
    fn capabilities(&self) -> FlagStoreCapabilities {
        self.inner.capabilities()
    }
    async fn get(
        &self,
        env: &EnvironmentId,
        flag: &FlagKey,
    ) -> Result<(FlagState, u64), AdapterError> {
        self.inner.get(env, flag).await
    }
    async fn set(
        &self,
        key: &IdempotencyKey,
        env: &EnvironmentId,
        flag: &FlagKey,
        state: &FlagState,
        _expected: u64,
    ) -> Result<u64, AdapterError> {
        let (_, current) = self.inner.get(env, flag).await?;
        self.inner.set(key, env, flag, state, current).await
    }
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<u64>, AdapterError> {
        self.inner.outcome(key).await
    }
}

#[test]
fn conformance_catches_a_flag_store_that_ignores_the_expected_revision() {
    let failure = block_on(conformance::flag_store(&CarelessFlags::default())).unwrap_err();
    assert_eq!(failure.check, "stale-revision-is-a-conflict", "{failure}");
}
