//! The host's ports behind seeded faults: each call may time out, fail,
//! crash the driver or be delivered twice, as [`Chaos`] draws it.

use std::sync::Arc;

use async_trait::async_trait;

use super::{AppendFault, Chaos, Work, lock};
use crate::journal::JournalEntry;
use crate::model::{
    Artifact, BranchName, CommitId, EnvironmentId, FlagKey, FlagState, Migration, Release,
    ReleaseId, Runbook, ServiceId,
};
use crate::port::{
    AdapterError, Batch, Builder, BuilderCapabilities, Deployer, DeployerCapabilities, ErrorKind,
    Fence, FlagStore, FlagStoreCapabilities, Health, HealthProbe, JournalStore, Landed,
    MigrationOutcome, Migrator, MigratorCapabilities, Runbooks, Vcs, VcsCapabilities,
};
use crate::recovery::IdempotencyKey;

macro_rules! faulty {
    ($name:ident, $inner:ty) => {
        /// A host's port behind seeded faults.
        #[derive(Debug)]
        pub(crate) struct $name {
            pub(crate) inner: Arc<$inner>,
            pub(crate) chaos: Arc<Chaos>,
        }
    };
}

faulty!(FaultyVcs, dyn Vcs);
faulty!(FaultyDeployer, dyn Deployer);
faulty!(FaultyFlags, dyn FlagStore);
faulty!(FaultyBuilder, dyn Builder);
faulty!(FaultyHealth, dyn HealthProbe);
faulty!(FaultyJournal, dyn JournalStore);
faulty!(FaultyMigrator, dyn Migrator);
faulty!(FaultyRunbooks, dyn Runbooks);

impl FaultyVcs {
    /// Someone may push to `onto` just before a call that moves it.
    async fn race_a_push(&self, service: &ServiceId, onto: &BranchName) {
        if self.chaos.may_push() {
            let head = self.inner.head(service, onto).await;
            self.chaos.maybe_push(service, onto, head);
        }
    }
}

#[async_trait]
impl Vcs for FaultyVcs {
    fn capabilities(&self) -> VcsCapabilities {
        self.inner.capabilities()
    }
    async fn head(
        &self,
        service: &ServiceId,
        branch: &BranchName,
    ) -> Result<CommitId, AdapterError> {
        self.inner.head(service, branch).await
    }
    async fn commits_between(
        &self,
        service: &ServiceId,
        from: &CommitId,
        to: &CommitId,
    ) -> Result<Vec<CommitId>, AdapterError> {
        self.inner.commits_between(service, from, to).await
    }
    async fn revert(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commits: &[CommitId],
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError> {
        self.race_a_push(service, onto).await;
        self.chaos
            .run("vcs.revert", || async {
                let landed = self
                    .inner
                    .revert(key, service, commits, onto, expected_head)
                    .await?;
                self.chaos.charge(key, Work::Revert);
                Ok(landed)
            })
            .await
    }
    async fn merge(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        from: &CommitId,
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError> {
        self.race_a_push(service, onto).await;
        self.chaos
            .run("vcs.merge", || {
                self.inner.merge(key, service, from, onto, expected_head)
            })
            .await
    }
    async fn create_branch(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        branch: &BranchName,
        at: &CommitId,
    ) -> Result<CommitId, AdapterError> {
        self.chaos
            .run("vcs.branch", || {
                self.inner.create_branch(key, service, branch, at)
            })
            .await
    }
    async fn tag(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &CommitId,
        tag: &str,
    ) -> Result<CommitId, AdapterError> {
        self.chaos
            .run("vcs.tag", || self.inner.tag(key, service, commit, tag))
            .await
    }
    async fn cherry_pick(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commits: &[CommitId],
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError> {
        self.race_a_push(service, onto).await;
        self.chaos
            .run("vcs.cherry-pick", || {
                self.inner
                    .cherry_pick(key, service, commits, onto, expected_head)
            })
            .await
    }
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<Landed>, AdapterError> {
        self.inner.outcome(key).await
    }
}

#[async_trait]
impl Deployer for FaultyDeployer {
    fn capabilities(&self) -> DeployerCapabilities {
        self.inner.capabilities()
    }
    async fn deploy(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        release: &Release,
        artifact: &Artifact,
    ) -> Result<(), AdapterError> {
        self.chaos
            .run("deployer.deploy", || async {
                self.inner
                    .deploy(key, environment, release, artifact)
                    .await?;
                self.chaos.charge(key, Work::Stage(environment));
                Ok(())
            })
            .await
    }
    async fn abort(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<(), AdapterError> {
        self.chaos
            .run("deployer.abort", || async {
                self.inner.abort(key, environment, service).await?;
                self.chaos.charge(key, Work::Switch);
                Ok(())
            })
            .await
    }
    async fn deploy_fenced(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        release: &Release,
        artifact: &Artifact,
        fence: &Fence,
    ) -> Result<(), AdapterError> {
        self.chaos
            .run("deployer.deploy", || async {
                self.inner
                    .deploy_fenced(key, environment, release, artifact, fence)
                    .await?;
                self.chaos.charge(key, Work::Stage(environment));
                Ok(())
            })
            .await
    }
    async fn abort_fenced(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
        fence: &Fence,
    ) -> Result<(), AdapterError> {
        self.chaos
            .run("deployer.abort", || async {
                self.inner
                    .abort_fenced(key, environment, service, fence)
                    .await?;
                self.chaos.charge(key, Work::Switch);
                Ok(())
            })
            .await
    }
    fn longest_call(&self) -> Option<std::time::Duration> {
        self.inner.longest_call()
    }
    async fn status(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<Option<ReleaseId>, AdapterError> {
        self.inner.status(environment, service).await
    }
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError> {
        self.inner.outcome(key).await
    }
}

#[async_trait]
impl FlagStore for FaultyFlags {
    fn capabilities(&self) -> FlagStoreCapabilities {
        self.inner.capabilities()
    }
    async fn get(
        &self,
        environment: &EnvironmentId,
        flag: &FlagKey,
    ) -> Result<(FlagState, u64), AdapterError> {
        self.inner.get(environment, flag).await
    }
    async fn set(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        flag: &FlagKey,
        state: &FlagState,
        expected: u64,
    ) -> Result<u64, AdapterError> {
        self.chaos
            .run("flags.set", || async {
                let revision = self
                    .inner
                    .set(key, environment, flag, state, expected)
                    .await?;
                self.chaos.charge(key, Work::Switch);
                Ok(revision)
            })
            .await
    }
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<u64>, AdapterError> {
        self.inner.outcome(key).await
    }
}

#[async_trait]
impl Runbooks for FaultyRunbooks {
    async fn run(
        &self,
        key: &IdempotencyKey,
        runbook: &Runbook,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<String, AdapterError> {
        self.chaos
            .run("runbooks.run", || async {
                let done = self.inner.run(key, runbook, environment, service).await?;
                self.chaos
                    .charge(key, Work::Seconds(runbook.estimate_seconds));
                Ok(done)
            })
            .await
    }
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<String>, AdapterError> {
        self.inner.outcome(key).await
    }
}

#[async_trait]
impl Migrator for FaultyMigrator {
    fn capabilities(&self) -> MigratorCapabilities {
        self.inner.capabilities()
    }
    async fn apply(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
        migration: &Migration,
    ) -> Result<(), AdapterError> {
        self.chaos
            .run("migrator.apply", || async {
                self.inner
                    .apply(key, environment, service, migration)
                    .await?;
                self.chaos.charge(key, Work::Migration);
                Ok(())
            })
            .await
    }
    async fn migrate_batch(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
        migration: &Migration,
        after: (Option<&str>, u64),
    ) -> Result<Batch, AdapterError> {
        self.chaos
            .run("migrator.migrate_batch", || {
                self.inner
                    .migrate_batch(key, environment, service, migration, after)
            })
            .await
    }
    async fn outcome(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<MigrationOutcome>, AdapterError> {
        self.inner.outcome(key).await
    }
}

#[async_trait]
impl Builder for FaultyBuilder {
    fn capabilities(&self) -> BuilderCapabilities {
        self.inner.capabilities()
    }
    async fn build(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &CommitId,
    ) -> Result<crate::port::BuildManifest, AdapterError> {
        self.chaos
            .run("builder.build", || self.inner.build(key, service, commit))
            .await
    }
    async fn outcome(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<crate::port::BuildManifest>, AdapterError> {
        self.inner.outcome(key).await
    }
}

impl FaultyHealth {
    /// The scenario's flagged code failing where its flag reaches enough
    /// users.
    async fn exposed(&self, environment: &EnvironmentId) -> Result<Option<Health>, AdapterError> {
        let exposure = lock(&self.chaos.exposure).clone();
        let Some(exposure) = exposure.filter(|e| e.environment == *environment) else {
            return Ok(None);
        };
        let (state, _) = exposure.flags.get(environment, &exposure.flag).await?;
        let percent = match state {
            crate::model::FlagState::On => 100,
            crate::model::FlagState::Percentage { percent } => percent,
            _ => 0,
        };
        Ok((percent >= exposure.breaks_at).then(|| {
            Health::new(
                false,
                format!(
                    "error rate climbing with flag `{}` at {percent}%",
                    exposure.flag
                ),
            )
        }))
    }

    /// Once per drill, a rollout that looked fine degrades.
    fn degraded(&self, environment: &EnvironmentId, release: &ReleaseId) -> Option<Health> {
        let degrade = {
            let mut done = lock(&self.chaos.degraded_once);
            let fire = self.chaos.spec.degraded_health && !*done && self.chaos.draw().is_some();
            *done |= fire;
            fire
        };
        degrade.then(|| {
            self.chaos.note(
                "degraded health",
                format!("health: `{release}` degraded in `{environment}`"),
            );
            Health::new(false, "error rate climbing after the rollout")
        })
    }
}

#[async_trait]
impl HealthProbe for FaultyHealth {
    async fn verify(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        release: &ReleaseId,
    ) -> Result<Health, AdapterError> {
        if let Some(exposed) = self.exposed(environment).await? {
            return Ok(exposed);
        }
        if let Some(degraded) = self.degraded(environment, release) {
            return Ok(degraded);
        }
        self.inner.verify(environment, service, release).await
    }

    async fn verify_against(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        release: &ReleaseId,
        baseline: &ReleaseId,
    ) -> Result<Health, AdapterError> {
        if let Some(exposed) = self.exposed(environment).await? {
            return Ok(exposed);
        }
        if let Some(degraded) = self.degraded(environment, release) {
            return Ok(degraded);
        }
        self.inner
            .verify_against(environment, service, release, baseline)
            .await
    }
}

#[async_trait]
impl JournalStore for FaultyJournal {
    async fn append(
        &self,
        expected_len: u64,
        entries: &[JournalEntry],
    ) -> Result<(), AdapterError> {
        match self.chaos.append_fault() {
            Some(AppendFault::Crash) => {
                self.chaos.note(
                    "crash at a journal write",
                    format!(
                        "journal: crash before entry {}",
                        expected_len.saturating_add(1)
                    ),
                );
                return Err(AdapterError::new(
                    ErrorKind::Unavailable,
                    "the driver process died",
                ));
            }
            Some(AppendFault::Failure) => {
                self.chaos.note(
                    "failed journal append",
                    format!(
                        "journal: append of entry {} failed",
                        expected_len.saturating_add(1)
                    ),
                );
                return Err(AdapterError::new(
                    ErrorKind::Unavailable,
                    "the journal store is briefly down",
                ));
            }
            None => {}
        }
        self.inner.append(expected_len, entries).await
    }
    async fn read_from(&self, position: u64) -> Result<Vec<JournalEntry>, AdapterError> {
        self.inner.read_from(position).await
    }
}
