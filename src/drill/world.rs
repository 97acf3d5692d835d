//! The world a drill runs in: the in-memory adapters, or the host's own
//! systems.

use crate::drill::faults::PushFn;
use crate::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe,
    InMemoryJournalStore, InMemoryVcs, ManualClock,
};
use crate::model::{BranchName, CommitId, ServiceId};
use crate::port::Ports;
use crate::recovery::IdempotencyKey;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Counts, per idempotency key, how often the host's deployer really acted
/// (for the at-most-once invariant).
pub type ExecutionCount = dyn Fn() -> BTreeMap<IdempotencyKey, usize> + Send + Sync;

/// The host's systems a drill runs on: the ports the driver acts through
/// (the drill injects its faults around them and replaces the clock with
/// its own virtual one), and how the drill lands a commit in the
/// repository (the history's merges, the pushes it plays).
///
/// [`DrillWorld::in_memory`] is the default; a host rehearses an incident
/// against its own adapters with [`DrillWorld::on`]. The journal store
/// must start empty: the drill builds the world from the scenario.
#[derive(Clone)]
pub struct DrillWorld {
    pub(super) ports: Ports,
    pub(super) push: Arc<PushFn>,
    pub(super) executions: Option<Arc<ExecutionCount>>,
}

impl std::fmt::Debug for DrillWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrillWorld")
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

impl DrillWorld {
    /// The built-in in-memory adapters.
    pub fn in_memory() -> Self {
        let vcs = Arc::new(InMemoryVcs::default());
        let deployer = Arc::new(InMemoryDeployer::default());
        let ports = Ports::new(
            vcs.clone(),
            deployer.clone(),
            Some(Arc::new(InMemoryFlagStore::default())),
            Arc::new(InMemoryHealthProbe::default()),
            Arc::new(InMemoryBuilder::new(1000, 9, 0)),
            Arc::new(InMemoryJournalStore::default()),
            Arc::new(ManualClock::at(chrono::DateTime::UNIX_EPOCH)),
        )
        .with_migrator(Arc::new(crate::memory::InMemoryMigrator::default()))
        .with_runbooks(Arc::new(crate::memory::InMemoryRunbooks::default()));
        Self::on(ports, move |service, branch, commit| {
            vcs.commit(service, branch, commit);
        })
        .counting_deployments(move || deployer.all_executions())
    }

    /// The host's `ports`, and `push`, which lands a commit on a branch of
    /// a service's repository as a developer would. The ports' clock is
    /// not used.
    pub fn on(
        ports: Ports,
        push: impl Fn(&ServiceId, &BranchName, &CommitId) + Send + Sync + 'static,
    ) -> Self {
        Self {
            ports,
            push: Arc::new(push),
            executions: None,
        }
    }

    /// Lets the drill check that the deployer acted at most once per key.
    #[must_use]
    pub fn counting_deployments(
        mut self,
        count: impl Fn() -> BTreeMap<IdempotencyKey, usize> + Send + Sync + 'static,
    ) -> Self {
        self.executions = Some(Arc::new(count));
        self
    }
}
