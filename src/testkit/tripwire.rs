//! Kill points: the host's ports behind a tripwire that calls the test's
//! hook just before and just after every call that acts or records, so a
//! test can crash the process (SIGKILL) at each of them in turn and check
//! that a successor finishes the plan with every effect done once.
//!
//! The points are numbered in the order the driver reaches them, across
//! every port: point `2k` is just before the `k`-th acting call, `2k + 1`
//! just after it returned (whatever it answered) and before the driver
//! could record it. Reads (`head`, `status`, `outcome`, `get`, `verify`,
//! journal reads) pass through without a point: a crash around a read is
//! a crash before the next acting call.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use knowngood::memory::*;
//! use knowngood::testkit::tripwire::{tripwire, KillPoint};
//! use knowngood::Ports;
//!
//! let seen = Arc::new(Mutex::new(Vec::<KillPoint>::new()));
//! let log = seen.clone();
//! let ports = Ports::builder()
//!     .vcs(Arc::new(InMemoryVcs::default()))
//!     .deployer(Arc::new(InMemoryDeployer::default()))
//!     .health(Arc::new(InMemoryHealthProbe::default()))
//!     .builder(Arc::new(InMemoryBuilder::new(1, 1, 0)))
//!     .journal(Arc::new(InMemoryJournalStore::default()))
//!     .build()
//!     .unwrap();
//! // A real kill-point test crashes the process here when the point is
//! // the one it was told to die at.
//! let ports = tripwire(ports, move |point| log.lock().unwrap().push(point.clone()));
//! block_on(ports.journal.append(0, &[])).unwrap();
//! let seen = seen.lock().unwrap();
//! assert_eq!(seen.len(), 2);
//! assert_eq!(seen[0].call, "journal.append");
//! assert_eq!(seen[1].index, 1);
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::journal::{JournalEntry, StoredSnapshot};
use crate::model::{
    Artifact, BranchName, CommitId, EnvironmentId, FlagKey, FlagState, Migration, Release,
    ReleaseId, Runbook, ServiceId,
};
use crate::port::{
    AdapterError, Batch, Builder, BuilderCapabilities, Deployer, DeployerCapabilities, Fence,
    FlagStore, FlagStoreCapabilities, JournalStore, Landed, MigrationOutcome, Migrator,
    MigratorCapabilities, Ports, Runbooks, Vcs, VcsCapabilities,
};
use crate::recovery::IdempotencyKey;

/// Before or after an acting call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Moment {
    /// The call has not started.
    Before,
    /// The call returned (success or error); the driver has not recorded
    /// what it answered.
    After,
}

/// One point at which a test may crash the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KillPoint {
    /// The point's number, counted from 0 across every port.
    pub index: u64,
    /// The call, as `port.method` (`vcs.revert`, `deployer.deploy`,
    /// `flags.set`, `builder.build`, `journal.append`, …).
    pub call: String,
    /// Before or after it.
    pub moment: Moment,
}

impl fmt::Display for KillPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let moment = match self.moment {
            Moment::Before => "before",
            Moment::After => "after",
        };
        write!(f, "#{} {moment} {}", self.index, self.call)
    }
}

type Hook = dyn Fn(&KillPoint) + Send + Sync;

/// The shared counter and the test's hook.
struct Wire {
    next: AtomicU64,
    hook: Box<Hook>,
}

impl fmt::Debug for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wire")
            .field("next", &self.next.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl Wire {
    fn trip(&self, call: &str, moment: Moment) {
        let point = KillPoint {
            index: self.next.fetch_add(1, Ordering::SeqCst),
            call: call.to_owned(),
            moment,
        };
        (self.hook)(&point);
    }

    /// Runs `act` between the points before and after it.
    async fn around<T, F>(&self, call: &str, act: F) -> T
    where
        F: std::future::Future<Output = T>,
    {
        self.trip(call, Moment::Before);
        let answer = act.await;
        self.trip(call, Moment::After);
        answer
    }
}

/// `ports` with every acting call between two kill points, `hook` called
/// at each (see the [module](self) for the numbering). The health probe,
/// the clock and the leases are kept as they are.
pub fn tripwire(ports: Ports, hook: impl Fn(&KillPoint) + Send + Sync + 'static) -> Ports {
    let wire = Arc::new(Wire {
        next: AtomicU64::new(0),
        hook: Box::new(hook),
    });
    Ports {
        vcs: Arc::new(Tripped {
            inner: ports.vcs,
            wire: wire.clone(),
        }),
        deployer: Arc::new(Tripped {
            inner: ports.deployer,
            wire: wire.clone(),
        }),
        flags: ports.flags.map(|inner| {
            Arc::new(Tripped {
                inner,
                wire: wire.clone(),
            }) as Arc<dyn FlagStore>
        }),
        builder: Arc::new(Tripped {
            inner: ports.builder,
            wire: wire.clone(),
        }),
        runbooks: ports.runbooks.map(|inner| {
            Arc::new(Tripped {
                inner,
                wire: wire.clone(),
            }) as Arc<dyn Runbooks>
        }),
        migrator: ports.migrator.map(|inner| {
            Arc::new(Tripped {
                inner,
                wire: wire.clone(),
            }) as Arc<dyn Migrator>
        }),
        journal: Arc::new(Tripped {
            inner: ports.journal,
            wire,
        }),
        ..ports
    }
}

/// One port behind the tripwire.
#[derive(Debug)]
struct Tripped<P: ?Sized> {
    inner: Arc<P>,
    wire: Arc<Wire>,
}

#[async_trait]
impl Vcs for Tripped<dyn Vcs> {
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
        let act = self
            .inner
            .revert(key, service, commits, onto, expected_head);
        self.wire.around("vcs.revert", act).await
    }
    async fn cherry_pick(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commits: &[CommitId],
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError> {
        let act = self
            .inner
            .cherry_pick(key, service, commits, onto, expected_head);
        self.wire.around("vcs.cherry_pick", act).await
    }
    async fn merge(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        from: &CommitId,
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError> {
        let act = self.inner.merge(key, service, from, onto, expected_head);
        self.wire.around("vcs.merge", act).await
    }
    async fn create_branch(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        branch: &BranchName,
        at: &CommitId,
    ) -> Result<CommitId, AdapterError> {
        let act = self.inner.create_branch(key, service, branch, at);
        self.wire.around("vcs.create_branch", act).await
    }
    async fn tag(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &CommitId,
        tag: &str,
    ) -> Result<CommitId, AdapterError> {
        let act = self.inner.tag(key, service, commit, tag);
        self.wire.around("vcs.tag", act).await
    }
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<Landed>, AdapterError> {
        self.inner.outcome(key).await
    }
}

#[async_trait]
impl Deployer for Tripped<dyn Deployer> {
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
        let act = self.inner.deploy(key, environment, release, artifact);
        self.wire.around("deployer.deploy", act).await
    }
    async fn abort(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<(), AdapterError> {
        let act = self.inner.abort(key, environment, service);
        self.wire.around("deployer.abort", act).await
    }
    async fn deploy_fenced(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        release: &Release,
        artifact: &Artifact,
        fence: &Fence,
    ) -> Result<(), AdapterError> {
        let act = self
            .inner
            .deploy_fenced(key, environment, release, artifact, fence);
        self.wire.around("deployer.deploy", act).await
    }
    async fn abort_fenced(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
        fence: &Fence,
    ) -> Result<(), AdapterError> {
        let act = self.inner.abort_fenced(key, environment, service, fence);
        self.wire.around("deployer.abort", act).await
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
    fn longest_call(&self) -> Option<std::time::Duration> {
        self.inner.longest_call()
    }
}

#[async_trait]
impl FlagStore for Tripped<dyn FlagStore> {
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
        expected_revision: u64,
    ) -> Result<u64, AdapterError> {
        let act = self
            .inner
            .set(key, environment, flag, state, expected_revision);
        self.wire.around("flags.set", act).await
    }
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<u64>, AdapterError> {
        self.inner.outcome(key).await
    }
}

#[async_trait]
impl Runbooks for Tripped<dyn Runbooks> {
    async fn run(
        &self,
        key: &IdempotencyKey,
        runbook: &Runbook,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<String, AdapterError> {
        let act = self.inner.run(key, runbook, environment, service);
        self.wire.around("runbooks.run", act).await
    }
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<String>, AdapterError> {
        self.inner.outcome(key).await
    }
}

#[async_trait]
impl Migrator for Tripped<dyn Migrator> {
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
        let act = self.inner.apply(key, environment, service, migration);
        self.wire.around("migrator.apply", act).await
    }
    async fn migrate_batch(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
        migration: &Migration,
        after: (Option<&str>, u64),
    ) -> Result<Batch, AdapterError> {
        let act = self
            .inner
            .migrate_batch(key, environment, service, migration, after);
        self.wire.around("migrator.migrate_batch", act).await
    }
    async fn outcome(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<MigrationOutcome>, AdapterError> {
        self.inner.outcome(key).await
    }
}

#[async_trait]
impl Builder for Tripped<dyn Builder> {
    fn capabilities(&self) -> BuilderCapabilities {
        self.inner.capabilities()
    }
    async fn build(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &CommitId,
    ) -> Result<crate::port::BuildManifest, AdapterError> {
        let act = self.inner.build(key, service, commit);
        self.wire.around("builder.build", act).await
    }
    async fn outcome(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<crate::port::BuildManifest>, AdapterError> {
        self.inner.outcome(key).await
    }
}

#[async_trait]
impl JournalStore for Tripped<dyn JournalStore> {
    async fn append(
        &self,
        expected_len: u64,
        entries: &[JournalEntry],
    ) -> Result<(), AdapterError> {
        let act = self.inner.append(expected_len, entries);
        self.wire.around("journal.append", act).await
    }
    async fn append_fenced(
        &self,
        expected_len: u64,
        entries: &[JournalEntry],
        fence: &Fence,
    ) -> Result<(), AdapterError> {
        let act = self.inner.append_fenced(expected_len, entries, fence);
        self.wire.around("journal.append", act).await
    }
    async fn read_from(&self, position: u64) -> Result<Vec<JournalEntry>, AdapterError> {
        self.inner.read_from(position).await
    }
    async fn read_page(
        &self,
        position: u64,
        max: usize,
    ) -> Result<Vec<JournalEntry>, AdapterError> {
        self.inner.read_page(position, max).await
    }
    async fn save_snapshot(&self, snapshot: &StoredSnapshot) -> Result<(), AdapterError> {
        let act = self.inner.save_snapshot(snapshot);
        self.wire.around("journal.save_snapshot", act).await
    }
    async fn read_snapshot(
        &self,
        before: Option<u64>,
    ) -> Result<Option<StoredSnapshot>, AdapterError> {
        self.inner.read_snapshot(before).await
    }
    fn chain(&self) -> crate::journal::Chain {
        self.inner.chain()
    }
}
