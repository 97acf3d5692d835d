//! Every port can be implemented from outside the crate, with only the
//! public API: each adapter here wraps an in-memory one and says what it
//! can do with the capabilities' constructors (a struct literal of a
//! `#[non_exhaustive]` struct would not compile here).

use std::sync::Arc;

// The versions knowngood uses, re-exported: no separate dependency needed.
use knowngood::async_trait::async_trait;
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe,
    InMemoryJournalStore, InMemoryVcs, ManualClock,
};
use knowngood::port::{
    AdapterError, Builder, BuilderCapabilities, Clock, Deployer, DeployerCapabilities, FlagStore,
    FlagStoreCapabilities, Health, HealthProbe, JournalStore, Landed, Ports, Vcs, VcsCapabilities,
};
use knowngood::recovery::IdempotencyKey;
use knowngood::{
    Artifact, BranchName, CommitId, EnvironmentId, FlagKey, FlagState, JournalEntry, Release,
    ReleaseId, ServiceId,
};

/// A VCS that can revert but cannot branch.
#[derive(Debug, Default)]
struct RevertOnly(InMemoryVcs);

#[async_trait]
impl Vcs for RevertOnly {
    fn capabilities(&self) -> VcsCapabilities {
        VcsCapabilities::none().with_revert(true)
    }
    async fn head(&self, s: &ServiceId, b: &BranchName) -> Result<CommitId, AdapterError> {
        self.0.head(s, b).await
    }
    async fn commits_between(
        &self,
        s: &ServiceId,
        from: &CommitId,
        to: &CommitId,
    ) -> Result<Vec<CommitId>, AdapterError> {
        self.0.commits_between(s, from, to).await
    }
    async fn revert(
        &self,
        k: &IdempotencyKey,
        s: &ServiceId,
        c: &[CommitId],
        onto: &BranchName,
        expected: &CommitId,
    ) -> Result<Landed, AdapterError> {
        self.0.revert(k, s, c, onto, expected).await
    }
    async fn cherry_pick(
        &self,
        k: &IdempotencyKey,
        s: &ServiceId,
        c: &[CommitId],
        onto: &BranchName,
        expected: &CommitId,
    ) -> Result<Landed, AdapterError> {
        self.0.cherry_pick(k, s, c, onto, expected).await
    }
    async fn merge(
        &self,
        k: &IdempotencyKey,
        s: &ServiceId,
        from: &CommitId,
        onto: &BranchName,
        expected: &CommitId,
    ) -> Result<Landed, AdapterError> {
        self.0.merge(k, s, from, onto, expected).await
    }
    async fn create_branch(
        &self,
        k: &IdempotencyKey,
        s: &ServiceId,
        b: &BranchName,
        at: &CommitId,
    ) -> Result<CommitId, AdapterError> {
        self.0.create_branch(k, s, b, at).await
    }
    async fn tag(
        &self,
        k: &IdempotencyKey,
        s: &ServiceId,
        c: &CommitId,
        tag: &str,
    ) -> Result<CommitId, AdapterError> {
        self.0.tag(k, s, c, tag).await
    }
    async fn outcome(&self, k: &IdempotencyKey) -> Result<Option<Landed>, AdapterError> {
        self.0.outcome(k).await
    }
}

/// A deployer that cannot abort.
#[derive(Debug, Default)]
struct NoAbort(InMemoryDeployer);

#[async_trait]
impl Deployer for NoAbort {
    fn capabilities(&self) -> DeployerCapabilities {
        DeployerCapabilities::all().with_abort(false)
    }
    async fn deploy(
        &self,
        k: &IdempotencyKey,
        e: &EnvironmentId,
        r: &Release,
        a: &Artifact,
    ) -> Result<(), AdapterError> {
        self.0.deploy(k, e, r, a).await
    }
    async fn abort(
        &self,
        k: &IdempotencyKey,
        e: &EnvironmentId,
        s: &ServiceId,
    ) -> Result<(), AdapterError> {
        self.0.abort(k, e, s).await
    }
    async fn status(
        &self,
        e: &EnvironmentId,
        s: &ServiceId,
    ) -> Result<Option<ReleaseId>, AdapterError> {
        self.0.status(e, s).await
    }
    async fn outcome(&self, k: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError> {
        self.0.outcome(k).await
    }
}

/// A flag store with only on and off.
#[derive(Debug, Default)]
struct OnOff(InMemoryFlagStore);

#[async_trait]
impl FlagStore for OnOff {
    fn capabilities(&self) -> FlagStoreCapabilities {
        FlagStoreCapabilities::none()
    }
    async fn get(&self, e: &EnvironmentId, f: &FlagKey) -> Result<(FlagState, u64), AdapterError> {
        self.0.get(e, f).await
    }
    async fn set(
        &self,
        k: &IdempotencyKey,
        e: &EnvironmentId,
        f: &FlagKey,
        s: &FlagState,
        expected: u64,
    ) -> Result<u64, AdapterError> {
        self.0.set(k, e, f, s, expected).await
    }
    async fn outcome(&self, k: &IdempotencyKey) -> Result<Option<u64>, AdapterError> {
        self.0.outcome(k).await
    }
}

/// A builder that only builds what CI already queued.
#[derive(Debug)]
struct Queued(InMemoryBuilder);

#[async_trait]
impl Builder for Queued {
    fn capabilities(&self) -> BuilderCapabilities {
        BuilderCapabilities::none()
    }
    async fn build(
        &self,
        k: &IdempotencyKey,
        s: &ServiceId,
        c: &CommitId,
    ) -> Result<knowngood::port::BuildManifest, AdapterError> {
        self.0.build(k, s, c).await
    }
    async fn outcome(
        &self,
        k: &IdempotencyKey,
    ) -> Result<Option<knowngood::port::BuildManifest>, AdapterError> {
        self.0.outcome(k).await
    }
}

#[derive(Debug, Default)]
struct Probe(InMemoryHealthProbe);

#[async_trait]
impl HealthProbe for Probe {
    async fn verify(
        &self,
        e: &EnvironmentId,
        s: &ServiceId,
        r: &ReleaseId,
    ) -> Result<Health, AdapterError> {
        self.0.verify(e, s, r).await
    }
}

#[derive(Debug, Default)]
struct Store(InMemoryJournalStore);

#[async_trait]
impl JournalStore for Store {
    async fn append(
        &self,
        expected_len: u64,
        entries: &[JournalEntry],
    ) -> Result<(), AdapterError> {
        self.0.append(expected_len, entries).await
    }
    async fn read_from(&self, position: u64) -> Result<Vec<JournalEntry>, AdapterError> {
        self.0.read_from(position).await
    }
}

#[derive(Debug)]
struct FixedClock(ManualClock);

impl Clock for FixedClock {
    fn now(&self) -> knowngood::chrono::DateTime<knowngood::chrono::Utc> {
        self.0.now()
    }
}

#[test]
fn outside_ports_every_port_can_be_implemented_and_says_what_it_can_do() {
    let ports = Ports::new(
        Arc::new(RevertOnly::default()),
        Arc::new(NoAbort::default()),
        Some(Arc::new(OnOff::default())),
        Arc::new(Probe::default()),
        Arc::new(Queued(InMemoryBuilder::new(1, 1, 0))),
        Arc::new(Store::default()),
        Arc::new(FixedClock(ManualClock::at(
            knowngood::chrono::DateTime::UNIX_EPOCH,
        ))),
    );
    let caps = ports.capabilities();
    assert!(caps.revert && !caps.branches);
    assert!(caps.rollback && !caps.abort);
    assert!(caps.flags);
    assert!(!ports.flags.as_ref().unwrap().capabilities().gradual);
    assert!(!ports.builder.capabilities().on_demand);
    assert_eq!(
        VcsCapabilities::none()
            .with_revert(true)
            .with_branches(true),
        VcsCapabilities::all()
    );
}

#[test]
fn outside_ports_named_setters_and_a_first_run_distinct_from_a_resume() {
    use knowngood::memory::{InMemoryJournalStore, block_on};
    use knowngood::{Command, DriveError, Driver, Service};
    let store = Arc::new(InMemoryJournalStore::default());
    let ports = || {
        Ports::builder()
            .vcs(Arc::new(RevertOnly::default()))
            .deployer(Arc::new(NoAbort::default()))
            .health(Arc::new(Probe::default()))
            .builder(Arc::new(Queued(InMemoryBuilder::new(1, 1, 0))))
            .journal(store.clone())
            .clock(Arc::new(FixedClock(ManualClock::at(
                knowngood::chrono::DateTime::UNIX_EPOCH,
            ))))
            .build()
            .unwrap()
    };
    // Missing ports are named.
    let missing = Ports::builder()
        .vcs(Arc::new(RevertOnly::default()))
        .build()
        .unwrap_err();
    assert_eq!(missing, knowngood::MissingPort("deployer"));
    // The first run starts on an empty store.
    let mut first = block_on(Driver::start(ports(), "bot")).unwrap();
    block_on(first.execute(&Command::RegisterService {
        service: Service::new("payments"),
    }))
    .unwrap();
    // Starting again over the same store is refused: it is a resume.
    let again = block_on(Driver::start(ports(), "bot")).unwrap_err();
    assert!(
        matches!(again, DriveError::AlreadyStarted { entries: 1 }),
        "{again}"
    );
    assert!(again.to_string().contains("Driver::resume"));
    let resumed = block_on(Driver::resume(ports(), "bot")).unwrap();
    assert!(resumed.state().service(&"payments".into()).is_some());
}

/// A driver on outside ports over QA and production with `payments@1.5.0`
/// registered, with `leases` among its ports if given; and its deployer.
fn shipping_world(leases: Option<Arc<dyn knowngood::Leases>>) -> (knowngood::Driver, Arc<NoAbort>) {
    use knowngood::memory::{InMemoryJournalStore, block_on};
    use knowngood::{Artifact, Command, Digest, Driver, EnvironmentRole, PipelineSpec, Service};
    let deployer = Arc::new(NoAbort::default());
    let ports = Ports::builder()
        .vcs(Arc::new(RevertOnly::default()))
        .deployer(deployer.clone())
        .health(Arc::new(Probe::default()))
        .builder(Arc::new(Queued(InMemoryBuilder::new(1, 1, 0))))
        .journal(Arc::new(InMemoryJournalStore::default()))
        .clock(Arc::new(FixedClock(ManualClock::at(
            knowngood::chrono::DateTime::UNIX_EPOCH,
        ))))
        .build()
        .unwrap();
    let mut ports = ports;
    ports.leases = leases;
    let mut driver = block_on(Driver::start(ports, "ci")).unwrap();
    let pipeline = PipelineSpec::new()
        .environment("qa", EnvironmentRole::Test)
        .environment("prod", EnvironmentRole::Production)
        .promote("qa", "prod")
        .build()
        .unwrap();
    let digest = Digest::parse("sha256:4f2a9c1e0b7d").unwrap();
    for command in [
        Command::DefinePipeline { pipeline },
        Command::RegisterService {
            service: Service::new("payments"),
        },
        Command::RegisterArtifact {
            artifact: Artifact::new(
                "payments",
                digest.clone(),
                "1.5.0".parse().unwrap(),
                43,
                "c43",
            ),
        },
        Command::RegisterRelease {
            release: Release::new("payments@1.5.0", "payments", digest, "cfg-7"),
        },
    ] {
        block_on(driver.execute(&command)).unwrap();
    }
    (driver, deployer)
}

#[test]
fn outside_ports_ship_a_release_deploys_verifies_and_keeps_the_core_rules() {
    use knowngood::memory::block_on;
    use knowngood::{Artifact, Command, Digest, Shipped};
    let (mut driver, deployer) = shipping_world(None);
    let release: ReleaseId = "payments@1.5.0".into();
    // Production refuses what QA has not verified, like any deployment.
    let refused = block_on(driver.ship(&"prod".into(), &release, &"ci-job-7/prod".into()));
    assert!(
        matches!(&refused, Err(knowngood::DriveError::Refused(r)) if r.rule() == "not-verified-upstream"),
        "{refused:?}"
    );
    let key: IdempotencyKey = "ci-job-7/qa".into();
    let Shipped::Verified { slot } = block_on(driver.ship(&"qa".into(), &release, &key)).unwrap()
    else {
        panic!("waiting");
    };
    assert_eq!(slot.environment.as_str(), "qa");
    // Shipping again under the same key deploys nothing new, and says it
    // is a replay.
    let again = block_on(driver.ship(&"qa".into(), &release, &key)).unwrap();
    assert_eq!(
        again,
        Shipped::Replayed {
            slot: slot.clone(),
            status: knowngood::DeploymentStatus::KnownGood,
            serving: Some(slot.clone()),
        }
    );
    assert_eq!(deployer.0.executions(&key), 1);
    let Shipped::Verified { .. } =
        block_on(driver.ship(&"prod".into(), &release, &"ci-job-8/prod".into())).unwrap()
    else {
        panic!("waiting");
    };
    // Something else ships to QA later: the old key's replay says what
    // serves now.
    let newer = Digest::parse("sha256:5f2a9c1e0b7e").unwrap();
    for command in [
        Command::RegisterArtifact {
            artifact: Artifact::new(
                "payments",
                newer.clone(),
                "1.6.0".parse().unwrap(),
                44,
                "c44",
            ),
        },
        Command::RegisterRelease {
            release: Release::new("payments@1.6.0", "payments", newer, "cfg-8"),
        },
    ] {
        block_on(driver.execute(&command)).unwrap();
    }
    let Shipped::Verified { slot: later } = block_on(driver.ship(
        &"qa".into(),
        &"payments@1.6.0".into(),
        &"ci-job-9/qa".into(),
    ))
    .unwrap() else {
        panic!("waiting");
    };
    let replay = block_on(driver.ship(&"qa".into(), &release, &key)).unwrap();
    assert_eq!(
        replay,
        Shipped::Replayed {
            slot,
            status: knowngood::DeploymentStatus::Superseded,
            serving: Some(later),
        },
        "a replay, not a claim that the old release serves"
    );
    assert_eq!(deployer.0.executions(&key), 1);
}

#[test]
fn ship_lease_one_replica_at_a_time_ships_to_an_environment_and_service() {
    use knowngood::memory::{InMemoryLeases, block_on};
    use knowngood::{DriveError, Leases as _, Shipped};
    let clock = Arc::new(ManualClock::at(knowngood::chrono::DateTime::UNIX_EPOCH));
    let leases = Arc::new(InMemoryLeases::new(clock));
    let (mut driver, deployer) = shipping_world(Some(leases.clone()));
    let ttl = std::time::Duration::from_secs(30);
    let release: ReleaseId = "payments@1.5.0".into();
    let key: IdempotencyKey = "ci-job-7/qa".into();
    // Another replica is shipping to QA's payments.
    let knowngood::LeaseAnswer::Granted { token } =
        block_on(leases.acquire("ship/qa/payments", "replica-b", ttl)).unwrap()
    else {
        panic!("the lease was free");
    };
    // Negative: this one does nothing, and says who ships.
    let busy = block_on(driver.ship(&"qa".into(), &release, &key)).unwrap_err();
    assert!(
        matches!(&busy, DriveError::ShipInProgress { holder, .. } if holder == "replica-b"),
        "{busy}"
    );
    assert_eq!(deployer.0.executions(&key), 0);
    // Positive: once it let go, this one ships, and lets go in turn.
    block_on(leases.release("ship/qa/payments", "replica-b", token)).unwrap();
    let shipped = block_on(driver.ship(&"qa".into(), &release, &key)).unwrap();
    assert!(matches!(shipped, Shipped::Verified { .. }), "{shipped:?}");
    assert_eq!(deployer.0.executions(&key), 1);
    assert!(matches!(
        block_on(leases.acquire("ship/qa/payments", "replica-b", ttl)).unwrap(),
        knowngood::LeaseAnswer::Granted { .. }
    ));
}
