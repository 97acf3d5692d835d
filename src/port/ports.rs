//! The ports bundled for the driver.

use super::builder::Builder;
use super::clock::Clock;
use super::deployer::Deployer;
use super::flags::FlagStore;
use super::health::HealthProbe;
use super::journal::JournalStore;
use super::leases::Leases;
use super::migrations::Migrator;
use super::runbooks::Runbooks;
use super::vcs::Vcs;
use crate::recovery::Capabilities;
use std::sync::Arc;

/// The host's ports, as the driver uses them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Ports {
    /// Version control.
    pub vcs: Arc<dyn Vcs>,
    /// The deployer.
    pub deployer: Arc<dyn Deployer>,
    /// The flag store, if the host has one (without it, retoggling is not
    /// offered).
    pub flags: Option<Arc<dyn FlagStore>>,
    /// The health probe.
    pub health: Arc<dyn HealthProbe>,
    /// The builder.
    pub builder: Arc<dyn Builder>,
    /// The durable journal.
    pub journal: Arc<dyn JournalStore>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Leases between replicas, if several drive the same journal (see
    /// [`Leases`]); none for a single driver.
    pub leases: Option<Arc<dyn Leases>>,
    /// How long a lease the driver takes lasts (30 s unless set).
    pub lease_ttl: std::time::Duration,
    /// The migrator, if the host lets the driver run schema migrations
    /// (see [`Migrator`]); without it, a down-migration is a person's step.
    pub migrator: Option<Arc<dyn Migrator>>,
    /// The host's runbooks, if it runs any (see [`Runbooks`]); without
    /// them, no runbook is offered.
    pub runbooks: Option<Arc<dyn Runbooks>>,
}

/// How long a lease lasts unless set: 30 seconds.
pub const DEFAULT_LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// A port [`PortsBuilder::build`] needs and was not given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the ports lack a {0}: give one with `PortsBuilder::{0}` before `build`")]
pub struct MissingPort(pub &'static str);

/// Builds [`Ports`] with named setters: the VCS, the deployer, the health
/// probe, the builder and the journal store are needed; the flag store is
/// optional (without one, retoggling is not offered) and the clock is
/// [`SystemClock`](crate::SystemClock) unless set.
///
/// ```
/// use std::sync::Arc;
/// use knowngood::memory::*;
/// use knowngood::Ports;
/// let ports = Ports::builder()
///     .vcs(Arc::new(InMemoryVcs::default()))
///     .deployer(Arc::new(InMemoryDeployer::default()))
///     .health(Arc::new(InMemoryHealthProbe::default()))
///     .builder(Arc::new(InMemoryBuilder::new(1, 1, 0)))
///     .journal(Arc::new(InMemoryJournalStore::default()))
///     .build()
///     .unwrap();
/// assert!(!ports.capabilities().flags);
/// let missing = Ports::builder().build().unwrap_err();
/// assert_eq!(missing.to_string(), "the ports lack a vcs: give one with `PortsBuilder::vcs` before `build`");
/// ```
#[derive(Debug, Default, Clone)]
#[must_use]
pub struct PortsBuilder {
    vcs: Option<Arc<dyn Vcs>>,
    deployer: Option<Arc<dyn Deployer>>,
    flags: Option<Arc<dyn FlagStore>>,
    health: Option<Arc<dyn HealthProbe>>,
    builder: Option<Arc<dyn Builder>>,
    journal: Option<Arc<dyn JournalStore>>,
    clock: Option<Arc<dyn Clock>>,
    migrator: Option<Arc<dyn Migrator>>,
    runbooks: Option<Arc<dyn Runbooks>>,
    leases: Option<(Arc<dyn Leases>, std::time::Duration)>,
}

impl PortsBuilder {
    /// Leases between replicas, each taken for `ttl`: another replica
    /// takes over from a holder that died within `ttl` (see [`Leases`]).
    pub fn leases(mut self, leases: Arc<dyn Leases>, ttl: std::time::Duration) -> Self {
        self.leases = Some((leases, ttl));
        self
    }

    /// Version control.
    pub fn vcs(mut self, vcs: Arc<dyn Vcs>) -> Self {
        self.vcs = Some(vcs);
        self
    }

    /// The deployer.
    pub fn deployer(mut self, deployer: Arc<dyn Deployer>) -> Self {
        self.deployer = Some(deployer);
        self
    }

    /// The flag store.
    pub fn flags(mut self, flags: Arc<dyn FlagStore>) -> Self {
        self.flags = Some(flags);
        self
    }

    /// The health probe.
    pub fn health(mut self, health: Arc<dyn HealthProbe>) -> Self {
        self.health = Some(health);
        self
    }

    /// The CI builder.
    pub fn builder(mut self, builder: Arc<dyn Builder>) -> Self {
        self.builder = Some(builder);
        self
    }

    /// The durable journal store.
    pub fn journal(mut self, journal: Arc<dyn JournalStore>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// The clock (default: [`SystemClock`](crate::SystemClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The migrator (optional).
    pub fn migrator(mut self, migrator: Arc<dyn Migrator>) -> Self {
        self.migrator = Some(migrator);
        self
    }

    /// The runbooks (optional).
    pub fn runbooks(mut self, runbooks: Arc<dyn Runbooks>) -> Self {
        self.runbooks = Some(runbooks);
        self
    }

    /// The ports, or the first one missing.
    pub fn build(self) -> Result<Ports, MissingPort> {
        Ok(Ports {
            vcs: self.vcs.ok_or(MissingPort("vcs"))?,
            deployer: self.deployer.ok_or(MissingPort("deployer"))?,
            flags: self.flags,
            health: self.health.ok_or(MissingPort("health"))?,
            builder: self.builder.ok_or(MissingPort("builder"))?,
            journal: self.journal.ok_or(MissingPort("journal"))?,
            clock: self.clock.unwrap_or_else(|| Arc::new(super::SystemClock)),
            lease_ttl: self.leases.as_ref().map_or(DEFAULT_LEASE_TTL, |l| l.1),
            leases: self.leases.map(|l| l.0),
            migrator: self.migrator,
            runbooks: self.runbooks,
        })
    }
}

impl Ports {
    /// Ports by name ([`PortsBuilder`]).
    pub fn builder() -> PortsBuilder {
        PortsBuilder::default()
    }

    /// Bundles the ports, all of them by position (see [`Ports::builder`]
    /// for named setters).
    pub fn new(
        vcs: Arc<dyn Vcs>,
        deployer: Arc<dyn Deployer>,
        flags: Option<Arc<dyn FlagStore>>,
        health: Arc<dyn HealthProbe>,
        builder: Arc<dyn Builder>,
        journal: Arc<dyn JournalStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            vcs,
            deployer,
            flags,
            health,
            builder,
            journal,
            clock,
            leases: None,
            lease_ttl: DEFAULT_LEASE_TTL,
            migrator: None,
            runbooks: None,
        }
    }

    /// The same ports with the host's runbooks: the planner offers each
    /// registered runbook where it applies, and the driver runs the one
    /// chosen through them.
    #[must_use]
    pub fn with_runbooks(mut self, runbooks: Arc<dyn Runbooks>) -> Self {
        self.runbooks = Some(runbooks);
        self
    }

    /// The same ports with a migrator: the driver runs migrations
    /// ([`Driver::migrate`](crate::driver::Driver::migrate)) and a plan's
    /// down-migration steps through it.
    #[must_use]
    pub fn with_migrator(mut self, migrator: Arc<dyn Migrator>) -> Self {
        self.migrator = Some(migrator);
        self
    }

    /// What the ports together can do, for the planner.
    pub fn capabilities(&self) -> Capabilities {
        let vcs = self.vcs.capabilities();
        Capabilities {
            flags: self.flags.is_some(),
            rollback: self.deployer.capabilities().redeploy_earlier,
            abort: self.deployer.capabilities().abort,
            revert: vcs.revert,
            branches: vcs.branches,
            runbooks: self.runbooks.is_some(),
            build: self.builder.capabilities().on_demand,
        }
    }
}
