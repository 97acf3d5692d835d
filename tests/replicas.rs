//! Snapshots and leases on the built-in adapters: a start from a snapshot
//! equals a full replay (property), a snapshot that does not check out is
//! passed over and named, a driver started from a snapshot holds only what
//! it appends, and a lease keeps a second replica from acting. Each test
//! is named after the rule it pins.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::misbehaving::{DeployerFault, Hook, MisbehavingDeployer};
use knowngood::drill::{Scenario, run};
use knowngood::driver::{DriveError, DriveReport, Driver};
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe,
    InMemoryJournalStore, InMemoryLeases, InMemoryVcs, ManualClock, block_on,
};
use knowngood::port::{Deployer as _, JournalStore};
use knowngood::{
    Chain, Command, Journal, Leases, Ledger, Policy, Ports, Service, Snapshot, SnapshotProblem,
    Startup, StoredSnapshot, Strategy, open_ledger,
};
use proptest::prelude::*;

fn scenarios() -> Vec<Scenario> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| Scenario::load(p).unwrap()).collect()
}

/// A store holding `journal`, with a snapshot taken after its first `at`
/// entries.
fn stored_with_snapshot(journal: &Journal, at: usize) -> InMemoryJournalStore {
    let store = InMemoryJournalStore::with_chain(journal.chain().clone());
    block_on(store.append(0, journal.entries())).unwrap();
    let prefix = Ledger::from_journal(journal.truncated(at)).unwrap();
    block_on(store.save_snapshot(&Snapshot::of(&prefix).seal(journal.chain()))).unwrap();
    store
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Rule: a start from any snapshot plus the tail yields the state a
    /// full replay yields, for the journals of seeded drills.
    #[test]
    fn snapshot_plus_tail_equals_full_replay(which in 0_usize..64, seed in 0_u64..1_000, cut in 0_usize..=1_000) {
        let scenarios = scenarios();
        let scenario = &scenarios[which % scenarios.len()];
        let journal = run(scenario, seed).journal;
        let at = journal.len() * cut / 1_000;
        let store = stored_with_snapshot(&journal, at);
        let (started, report) = block_on(open_ledger(&store, Startup::Snapshot)).unwrap();
        let full = journal.replay().unwrap();
        prop_assert_eq!(report.snapshot, Some(at as u64));
        prop_assert_eq!(report.replayed, (journal.len() - at) as u64);
        prop_assert!(report.ignored.is_empty());
        prop_assert_eq!(started.state(), &full);
        prop_assert_eq!(started.journal().head(), journal.head());
        prop_assert_eq!(started.journal().streams(), journal.streams());
        prop_assert!(started.journal().entries().is_empty());
    }
}

fn registered(names: &[&str]) -> Ledger {
    let mut ledger = Ledger::new();
    for name in names {
        ledger
            .execute(
                &Command::RegisterService {
                    service: Service::new(*name),
                },
                common::t(0),
            )
            .unwrap();
    }
    ledger
}

#[test]
fn snapshot_is_used_only_when_its_seal_holds() {
    let ledger = registered(&["a", "b", "c", "d"]);
    let store = stored_with_snapshot(ledger.journal(), 2);
    let good = store.snapshots().pop().unwrap();
    // Positive: the sealed snapshot is used.
    let (_, report) = block_on(open_ledger(&store, Startup::Snapshot)).unwrap();
    assert_eq!(report.snapshot, Some(2));
    // Negative: a newer one whose body was edited is passed over, named,
    // and the older one is used.
    let newest = Snapshot::of(&ledger).seal(&Chain::unnamed());
    let forged = StoredSnapshot::new(
        newest.position,
        newest.hash,
        newest.seal,
        newest.body.replace("\"d\"", "\"x\""),
    );
    block_on(store.save_snapshot(&forged)).unwrap();
    let (started, report) = block_on(open_ledger(&store, Startup::Snapshot)).unwrap();
    assert_eq!(
        report.ignored,
        vec![SnapshotProblem::BadSeal { position: 4 }]
    );
    assert_eq!(report.snapshot, Some(2));
    assert_eq!(started.state(), ledger.state());
    assert_eq!(good.position, 2);
}

#[test]
fn snapshot_is_used_only_when_the_journal_holds_its_hash_at_its_position() {
    let ledger = registered(&["a", "b", "c"]);
    let other = registered(&["a", "x", "y", "z"]);
    // Positive: taken of this journal.
    let store = stored_with_snapshot(ledger.journal(), 3);
    assert_eq!(
        block_on(open_ledger(&store, Startup::Snapshot))
            .unwrap()
            .1
            .snapshot,
        Some(3)
    );
    // Negative: a snapshot of another journal (same chain, so its seal
    // holds) at a position this one has, and one past this journal's end.
    let store = stored_with_snapshot(ledger.journal(), 1);
    let foreign = Snapshot::of(&Ledger::from_journal(other.journal().truncated(2)).unwrap())
        .seal(&Chain::unnamed());
    block_on(store.save_snapshot(&foreign)).unwrap();
    let beyond = Snapshot::of(&other).seal(&Chain::unnamed());
    block_on(store.save_snapshot(&beyond)).unwrap();
    let (started, report) = block_on(open_ledger(&store, Startup::Snapshot)).unwrap();
    assert!(
        matches!(&report.ignored[..], [
            SnapshotProblem::NotInJournal { position: 4, found: shorter },
            SnapshotProblem::NotInJournal { position: 2, found: other },
        ] if shorter == "is shorter" && other.starts_with("holds an entry with hash")),
        "{:?}",
        report.ignored
    );
    assert_eq!(report.snapshot, Some(1));
    assert_eq!(started.state(), ledger.state());
    // The warning says what to think.
    assert!(
        report.ignored[0]
            .to_string()
            .contains("does not match the journal, which is shorter")
    );
}

#[test]
fn snapshot_whose_tail_does_not_fold_is_passed_over_for_an_older_one_or_a_full_replay() {
    // Four services, then an artifact of the fourth.
    let mut ledger = registered(&["a", "b", "c", "d"]);
    let artifact = knowngood::Artifact::new(
        "d",
        knowngood::Digest::parse("sha256:4f2a9c1e0b7d").unwrap(),
        semver::Version::new(1, 0, 0),
        1,
        "c0ffee1",
    );
    ledger
        .execute(&Command::RegisterArtifact { artifact }, common::t(0))
        .unwrap();
    let at = |n: usize| Ledger::from_journal(ledger.journal().truncated(n)).unwrap();
    // A snapshot at 4, sealed on the journal's chain and filed at the
    // journal's own head there, whose state lacks "d": the entry after it
    // (an artifact of "d") does not fold into it.
    let mut doctored = Snapshot::of(&at(4));
    doctored.state = registered(&["a", "b", "c"]).state().clone();
    let store = stored_with_snapshot(ledger.journal(), 2);
    block_on(store.save_snapshot(&doctored.seal(&Chain::unnamed()))).unwrap();
    // Positive: the older, good snapshot is used, and the bad one named.
    let (started, report) = block_on(open_ledger(&store, Startup::Snapshot)).unwrap();
    assert_eq!(report.snapshot, Some(2));
    assert_eq!(report.replayed, 3);
    assert!(
        matches!(&report.ignored[..], [SnapshotProblem::DoesNotFold { position: 4, detail }] if !detail.is_empty()),
        "{:?}",
        report.ignored
    );
    assert_eq!(started.state(), ledger.state());
    // With no older snapshot, the journal is replayed from its start.
    let store = InMemoryJournalStore::with_chain(Chain::unnamed());
    block_on(store.append(0, ledger.journal().entries())).unwrap();
    block_on(store.save_snapshot(&doctored.seal(&Chain::unnamed()))).unwrap();
    let (started, report) = block_on(open_ledger(&store, Startup::Snapshot)).unwrap();
    assert_eq!(report.snapshot, None);
    assert_eq!(report.replayed, 5);
    assert_eq!(report.ignored.len(), 1);
    assert_eq!(started.state(), ledger.state());
    // Negative: a good snapshot at the same place folds and is used.
    let store = stored_with_snapshot(ledger.journal(), 4);
    let (_, report) = block_on(open_ledger(&store, Startup::Snapshot)).unwrap();
    assert_eq!((report.snapshot, report.ignored.len()), (Some(4), 0));
}

#[test]
fn snapshot_is_used_only_in_its_own_format_and_on_its_own_chain() {
    let keyed = Chain::named("payments-prod").keyed(b"from the vault");
    let mut ledger = Ledger::from_journal(Journal::with_chain(keyed.clone())).unwrap();
    ledger
        .execute(
            &Command::RegisterService {
                service: Service::new("payments"),
            },
            common::t(0),
        )
        .unwrap();
    let sealed = Snapshot::of(&ledger).seal(&keyed);
    // Positive: opened with the key.
    assert!(sealed.open(&keyed).is_ok());
    // Negative: a forger without the key, or another journal's chain.
    assert_eq!(
        sealed.open(&Chain::named("payments-prod").keyed(b"guess")),
        Err(SnapshotProblem::BadSeal { position: 1 })
    );
    assert!(sealed.open(&Chain::unnamed()).is_err());
    // A format this version does not know is named, sealed or not.
    let mut body: serde_json::Value = serde_json::from_str(&sealed.body).unwrap();
    body["format"] = 3.into();
    let future: Snapshot = serde_json::from_value(body).unwrap();
    assert_eq!(
        future.seal(&keyed).open(&keyed),
        Err(SnapshotProblem::UnknownFormat {
            position: 1,
            format: 3
        })
    );
}

/// Rule: a snapshot written by an earlier format (format 1 wrote every
/// deployment as an object, before histories were packed) is never misread:
/// it is passed over, named with its format, and the start replays.
#[test]
fn snapshot_of_an_earlier_format_is_passed_over_with_its_reason_and_never_misread() {
    let scenarios = scenarios();
    let journal = run(&scenarios[0], 7).journal;
    let at = journal.len() / 2;
    let prefix = Ledger::from_journal(journal.truncated(at)).unwrap();
    // The body format 1 wrote: the same state, each history's deployments
    // a list of objects.
    let sealed = Snapshot::of(&prefix).seal(journal.chain());
    let mut body: serde_json::Value = serde_json::from_str(&sealed.body).unwrap();
    body["format"] = 1.into();
    let mut histories = 0;
    for (env, services) in body["state"]["environments"].as_object_mut().unwrap() {
        for (service, history) in services["services"].as_object_mut().unwrap() {
            let deployments: Vec<&knowngood::Deployment> = prefix
                .state()
                .history(&env.as_str().into(), &service.as_str().into())
                .unwrap()
                .deployments()
                .collect();
            history["deployments"] = serde_json::to_value(deployments).unwrap();
            histories += 1;
        }
    }
    assert!(histories > 0, "the snapshot holds deployments");
    let old_body = serde_json::to_string(&body).unwrap();
    // Sealed as every format is: the chain's link of the head's hash, then
    // of the body.
    let chain = journal.chain();
    let bound = chain.link(&chain.genesis(), sealed.hash.to_string().as_bytes());
    let old = knowngood::StoredSnapshot::new(
        sealed.position,
        sealed.hash,
        chain.link(&bound, old_body.as_bytes()),
        old_body,
    );
    assert_eq!(
        old.open(chain),
        Err(SnapshotProblem::UnknownFormat {
            position: at as u64,
            format: 1
        })
    );
    // A store holding only it starts by replaying everything, and says why.
    let store = InMemoryJournalStore::with_chain(chain.clone());
    block_on(store.append(0, journal.entries())).unwrap();
    block_on(store.save_snapshot(&old)).unwrap();
    let (started, report) = block_on(open_ledger(&store, Startup::Snapshot)).unwrap();
    assert_eq!(report.snapshot, None);
    assert_eq!(
        report.ignored,
        vec![SnapshotProblem::UnknownFormat {
            position: at as u64,
            format: 1
        }]
    );
    assert_eq!(report.replayed, journal.len() as u64);
    assert_eq!(started.state(), &journal.replay().unwrap());
    // Negative: the same state in this format is used.
    let store = stored_with_snapshot(&journal, at);
    let (_, report) = block_on(open_ledger(&store, Startup::Snapshot)).unwrap();
    assert_eq!(
        (report.snapshot, report.ignored.len()),
        (Some(at as u64), 0)
    );
}

#[test]
fn snapshot_journal_started_after_one_does_not_replay_from_its_start() {
    let ledger = registered(&["a", "b"]);
    let started = Ledger::from_snapshot(Snapshot::of(&ledger), Chain::unnamed());
    let err = started.journal().replay().unwrap_err();
    assert_eq!(err.rejection.rule(), "journal-not-held-whole");
    assert!(err.to_string().contains("Ledger::from_snapshot"), "{err}");
    // Held whole, it replays.
    assert!(ledger.journal().replay().is_ok());
}

// ----- the driver ------------------------------------------------------------

struct Host {
    vcs: Arc<InMemoryVcs>,
    deployer: Arc<InMemoryDeployer>,
    store: Arc<InMemoryJournalStore>,
    clock: Arc<ManualClock>,
    leases: Arc<InMemoryLeases>,
}

impl Host {
    fn of(world: &common::World) -> Host {
        let clock = Arc::new(ManualClock::at(common::t(world.clock + 1)));
        let host = Host {
            vcs: Arc::new(InMemoryVcs::default()),
            deployer: Arc::new(InMemoryDeployer::default()),
            store: Arc::new(InMemoryJournalStore::default()),
            leases: Arc::new(InMemoryLeases::new(clock.clone())),
            clock,
        };
        for c in ["a1", "998b"] {
            host.vcs
                .commit(&common::SERVICE.into(), &"main".into(), &c.into());
        }
        block_on(host.store.append(0, world.ledger.journal().entries())).unwrap();
        host
    }

    fn ports(&self, leases: bool) -> Ports {
        self.ports_hooked(leases, Arc::new(|| {}))
    }

    fn ports_hooked(&self, leases: bool, hook: Arc<dyn Fn() + Send + Sync>) -> Ports {
        let mut ports = Ports::builder()
            .vcs(self.vcs.clone())
            .deployer(MisbehavingDeployer::new(
                &self.deployer,
                DeployerFault::BeforeEach(Hook(hook)),
            ))
            .flags(Arc::new(InMemoryFlagStore::default()))
            .health(Arc::new(InMemoryHealthProbe::default()))
            .builder(Arc::new(InMemoryBuilder::new(3, 1, 9)))
            .journal(self.store.clone())
            .clock(self.clock.clone());
        if leases {
            let leases: Arc<dyn Leases> = self.leases.clone();
            ports = ports.leases(leases, Duration::from_secs(30));
        }
        ports.build().unwrap()
    }
}

fn revert_world() -> common::World {
    let mut w = common::bad_commit_in_production(Policy::forward_only());
    w.choose(Strategy::Revert);
    w
}

#[test]
fn snapshot_driver_started_from_one_holds_only_what_it_appends_and_goes_on() {
    let world = revert_world();
    let host = Host::of(&world);
    let mut first = block_on(Driver::resume(host.ports(false), "first")).unwrap();
    assert_eq!(first.started().snapshot, None);
    assert_eq!(
        block_on(first.write_snapshot()).unwrap(),
        world.ledger.journal().len() as u64
    );

    let mut second = block_on(Driver::resume_with(
        host.ports(false),
        "second",
        Startup::Snapshot,
    ))
    .unwrap();
    assert_eq!(
        second.started().snapshot,
        Some(world.ledger.journal().len() as u64)
    );
    assert_eq!(second.started().replayed, 0);
    assert!(second.journal().entries().is_empty());
    assert_eq!(second.state(), first.state());
    let report = block_on(second.drive(&"INC-1".into())).unwrap();
    assert!(matches!(report, DriveReport::Done { .. }));
    // It holds what it appended, and lets go of it at its next snapshot.
    let appended = second.journal().entries().len();
    assert!(appended > 0);
    assert_eq!(
        second.journal().len(),
        world.ledger.journal().len() + appended
    );
    block_on(second.write_snapshot()).unwrap();
    assert!(second.journal().entries().is_empty());
    // The store holds the whole journal, and replays to the same state.
    let (full, _) = block_on(open_ledger(host.store.as_ref(), Startup::Replay)).unwrap();
    assert_eq!(full.state(), second.state());
    // The first driver, held whole, catches up with what the second did.
    block_on(first.refresh()).unwrap();
    assert_eq!(first.state(), second.state());
}

#[test]
fn lease_held_by_another_replica_keeps_a_driver_from_acting() {
    let world = revert_world();
    let host = Host::of(&world);
    // Negative: another replica holds the incident's lease.
    let held = block_on(
        host.leases
            .acquire("incident/INC-1", "other", Duration::from_secs(30)),
    )
    .unwrap();
    assert!(matches!(held, knowngood::LeaseAnswer::Granted { .. }));
    let mut driver = block_on(Driver::resume(host.ports(true), "replica-a")).unwrap();
    let err = block_on(driver.drive(&"INC-1".into())).unwrap_err();
    assert!(
        matches!(&err, DriveError::LeaseHeld { holder, .. } if holder == "other"),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was done"), "{err}");
    assert!(host.deployer.all_executions().is_empty());
    assert_eq!(host.vcs.all_executions().len(), 0);
    // Positive: once it runs out, the driver takes it, acts, and lets go.
    host.clock.advance(chrono::Duration::seconds(31));
    let report = block_on(driver.drive(&"INC-1".into())).unwrap();
    assert!(matches!(report, DriveReport::Done { .. }));
    assert!(matches!(
        block_on(
            host.leases
                .acquire("incident/INC-1", "other", Duration::from_secs(30))
        )
        .unwrap(),
        knowngood::LeaseAnswer::Granted { .. }
    ));
}

#[test]
fn lease_lost_mid_plan_stops_the_driver_before_its_next_step() {
    let world = revert_world();
    let host = Host::of(&world);
    // The deployer takes 20 minutes of the clock per call: the lease runs
    // out during the ship step and another replica takes it.
    let clock = host.clock.clone();
    let leases = host.leases.clone();
    let hook = Arc::new(move || {
        clock.advance(chrono::Duration::minutes(20));
        let _ = block_on(leases.acquire("incident/INC-1", "replica-b", Duration::from_secs(600)));
    });
    let mut driver = block_on(Driver::resume(host.ports_hooked(true, hook), "replica-a")).unwrap();
    let err = block_on(driver.drive(&"INC-1".into())).unwrap_err();
    assert!(
        matches!(&err, DriveError::LeaseLost { holder: Some(h), .. } if h == "replica-b"),
        "{err}"
    );
    // It stopped before acting again: the ship step's deploys stopped at
    // the one in flight when the lease was lost.
    assert_eq!(host.deployer.all_executions().len(), 1, "{err}");
}

#[test]
fn fence_a_holder_whose_lease_passed_on_is_refused_by_the_deployer() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let world = revert_world();
    // Positive: the holder's deploys carry its lease, and are admitted.
    let host = Host::of(&world);
    let mut driver = block_on(Driver::resume(
        host.ports_hooked(true, Arc::new(|| {})),
        "replica-a",
    ))
    .unwrap();
    let report = block_on(driver.drive(&"INC-1".into())).unwrap();
    assert!(matches!(report, DriveReport::Done { .. }));
    assert!(!host.deployer.all_executions().is_empty());
    // Negative: replica A is paused just before its first deploy reaches
    // the deployer; meanwhile its lease runs out, replica B takes it (a
    // higher token) and acts under it. A's deploy then arrives with the
    // old token: refused, nothing deployed.
    let host = Host::of(&world);
    let (clock, leases, deployer) = (
        host.clock.clone(),
        host.leases.clone(),
        host.deployer.clone(),
    );
    let paused = AtomicBool::new(false);
    let hook = Arc::new(move || {
        if paused.swap(true, Ordering::SeqCst) {
            return;
        }
        clock.advance(chrono::Duration::minutes(20));
        let knowngood::LeaseAnswer::Granted { token } =
            block_on(leases.acquire("incident/INC-1", "replica-b", Duration::from_secs(600)))
                .unwrap()
        else {
            panic!("replica B did not get the lease")
        };
        let fence = knowngood::Fence::new("incident/INC-1", "replica-b", token);
        block_on(deployer.abort_fenced(
            &"replica-b/abort".into(),
            &"qa".into(),
            &"payments".into(),
            &fence,
        ))
        .unwrap();
    });
    let mut driver = block_on(Driver::resume(host.ports_hooked(true, hook), "replica-a")).unwrap();
    let err = block_on(driver.drive(&"INC-1".into())).unwrap_err();
    // Told so, A finds the lease passed on and stops: the step is B's
    // now, not failed, and A records nothing of it.
    assert!(
        matches!(&err, DriveError::LeaseLost { holder: Some(h), .. } if h == "replica-b"),
        "{err}"
    );
    assert!(
        !driver.journal().entries().iter().any(|e| matches!(
            &e.event.kind,
            knowngood::EventKind::EffectRecorded {
                outcome: knowngood::recovery::EffectOutcome::Failed { .. },
                ..
            }
        )),
        "a refused stale holder recorded the step as failed"
    );
    let acted: Vec<String> = host
        .deployer
        .all_executions()
        .into_keys()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(
        acted,
        ["replica-b/abort"],
        "replica A deployed after losing its lease"
    );
}

#[test]
fn lease_renewed_in_time_lets_a_long_plan_finish() {
    let world = revert_world();
    let host = Host::of(&world);
    // Each deploy takes 10 s of a 30 s lease: the driver renews as it goes.
    let clock = host.clock.clone();
    let hook = Arc::new(move || clock.advance(chrono::Duration::seconds(10)));
    let mut driver = block_on(Driver::resume(host.ports_hooked(true, hook), "replica-a")).unwrap();
    let report = block_on(driver.drive(&"INC-1".into())).unwrap();
    assert!(matches!(report, DriveReport::Done { .. }));
}

/// A store that keeps no snapshots (the trait's defaults), around the
/// in-memory one.
#[derive(Debug)]
struct KeepsNoSnapshots(Arc<InMemoryJournalStore>);

#[async_trait::async_trait]
impl JournalStore for KeepsNoSnapshots {
    async fn append(
        &self,
        expected_len: u64,
        entries: &[knowngood::JournalEntry],
    ) -> Result<(), knowngood::AdapterError> {
        self.0.append(expected_len, entries).await
    }
    async fn read_from(
        &self,
        position: u64,
    ) -> Result<Vec<knowngood::JournalEntry>, knowngood::AdapterError> {
        self.0.read_from(position).await
    }
}

#[test]
fn snapshot_every_n_entries_is_written_by_the_driver_and_a_failure_is_said() {
    let world = revert_world();
    let host = Host::of(&world);
    let len = world.ledger.journal().len();
    // Positive: a snapshot each time 5 entries were added.
    let mut driver = block_on(Driver::resume(host.ports(false), "bot"))
        .unwrap()
        .snapshot_every(5);
    let report = block_on(driver.drive(&"INC-1".into())).unwrap();
    assert!(matches!(report, DriveReport::Done { .. }));
    let added = driver.journal().len() - len;
    let positions: Vec<u64> = host.store.snapshots().iter().map(|s| s.position).collect();
    assert!(added >= 10, "{added}");
    assert!(
        positions.len() >= added / 5 - 1,
        "{positions:?} after {added} entries"
    );
    assert!(
        positions.windows(2).all(|w| w[1] - w[0] >= 5),
        "{positions:?}"
    );
    assert!(driver.snapshot_failure().is_none());
    // Negative: a store that keeps none; the commands still go through,
    // and the driver says why the snapshot is missing.
    let host = Host::of(&world);
    let mut ports = host.ports(false);
    ports.journal = Arc::new(KeepsNoSnapshots(host.store.clone()));
    let mut driver = block_on(Driver::resume(ports, "bot"))
        .unwrap()
        .snapshot_every(5);
    let report = block_on(driver.drive(&"INC-1".into())).unwrap();
    assert!(matches!(report, DriveReport::Done { .. }));
    let failure = driver.snapshot_failure().expect("said");
    assert!(
        failure.to_string().contains("keeps no snapshots"),
        "{failure}"
    );
}

#[test]
fn snapshot_every_counts_from_the_newest_stored_snapshot_not_from_zero_in_each_process() {
    let world = revert_world();
    let host = Host::of(&world);
    let len = world.ledger.journal().len() as u64;
    assert!(len >= 5, "the world's journal is long enough to be due");
    // Three short-lived processes, one command each.
    for run in 1..=3 {
        let mut driver = block_on(Driver::resume(host.ports(false), "bot"))
            .unwrap()
            .snapshot_every(5);
        block_on(driver.execute(&Command::RegisterService {
            service: Service::new(format!("short-lived-{run}")),
        }))
        .unwrap();
        assert!(driver.snapshot_failure().is_none());
    }
    // Positive: the first is due (none stored) and writes one; negative:
    // the next two are one and two entries past it, and write none.
    let positions: Vec<u64> = host.store.snapshots().iter().map(|s| s.position).collect();
    assert_eq!(positions, vec![len + 1]);
}

#[test]
fn clock_behind_the_journal_a_replica_taking_over_records_and_keeps_the_order() {
    let world = revert_world();
    let host = Host::of(&world);
    // This replica's clock is 90 s behind the last event another replica
    // recorded.
    let last = world.ledger.state().last_event_at().unwrap();
    let mut ports = host.ports(false);
    ports.clock = Arc::new(ManualClock::at(last - chrono::Duration::seconds(90)));
    let mut driver = block_on(Driver::resume(ports, "standby")).unwrap();
    // Positive: it drives the incident to the end, refused nothing.
    let report = block_on(driver.drive(&"INC-1".into())).unwrap();
    assert!(matches!(report, DriveReport::Done { .. }), "{report:?}");
    // Every entry it recorded is stamped at or after the one before.
    let stamps: Vec<_> = driver
        .journal()
        .entries()
        .iter()
        .map(|e| e.event.at)
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
    // Negative: a clock further behind than the driver tolerates is still
    // refused, and the core itself refuses any command stamped in the past.
    let mut ports = host.ports(false);
    ports.clock = Arc::new(ManualClock::at(last - chrono::Duration::seconds(90)));
    let mut strict = block_on(Driver::resume(ports, "strict"))
        .unwrap()
        .tolerate_clock_skew(Duration::from_secs(60));
    let late = block_on(strict.execute(&Command::RegisterService {
        service: Service::new("late-by-90s"),
    }))
    .unwrap_err();
    assert!(
        matches!(&late, DriveError::Refused(r) if r.rule() == "clock-went-backwards"),
        "{late}"
    );
    let mut ledger = Ledger::from_journal(driver.journal().clone()).unwrap();
    let refusal = ledger
        .execute(
            &Command::RegisterService {
                service: Service::new("late"),
            },
            last - chrono::Duration::seconds(90),
        )
        .unwrap_err();
    assert_eq!(refusal.rule(), "clock-went-backwards");
}

/// A store another writer always beats.
#[derive(Debug)]
struct AlwaysBeaten(Arc<InMemoryJournalStore>);

#[async_trait::async_trait]
impl JournalStore for AlwaysBeaten {
    async fn append(
        &self,
        _: u64,
        _: &[knowngood::JournalEntry],
    ) -> Result<(), knowngood::AdapterError> {
        Err(knowngood::AdapterError::new(
            knowngood::ErrorKind::Conflict,
            "another writer appended first",
        ))
    }
    async fn read_from(
        &self,
        position: u64,
    ) -> Result<Vec<knowngood::JournalEntry>, knowngood::AdapterError> {
        self.0.read_from(position).await
    }
}

fn register(name: &str) -> Command {
    Command::RegisterService {
        service: Service::new(name),
    }
}

#[test]
fn journal_race_the_loser_reads_what_it_missed_and_decides_again() {
    let world = revert_world();
    let host = Host::of(&world);
    let mut a = block_on(Driver::resume(host.ports(false), "a")).unwrap();
    let mut b = block_on(Driver::resume(host.ports(false), "b")).unwrap();
    block_on(a.execute(&register("from-a"))).unwrap();
    // Positive: b had not seen a's entry; it reads it, decides again and
    // records its own after it, by itself, and counts it.
    let entries = block_on(b.execute(&register("from-b"))).unwrap();
    assert_eq!(b.decided_again(), 1);
    assert_eq!(entries[0].position, a.journal().len() as u64 + 1);
    assert!(b.state().service(&"from-a".into()).is_some());
    assert_eq!(a.decided_again(), 0);
    // Decided again, a command can be refused by what the other wrote.
    let artifact = |config: &str| {
        knowngood::Artifact::new(
            "from-a",
            knowngood::Digest::parse("sha256:4f2a9c1e0b7d").unwrap(),
            semver::Version::new(1, 0, 0),
            1,
            config,
        )
    };
    block_on(a.execute(&Command::RegisterArtifact {
        artifact: artifact("c0ffee1"),
    }))
    .unwrap();
    let refused = block_on(b.execute(&Command::RegisterArtifact {
        artifact: artifact("d00d"),
    }))
    .unwrap_err();
    assert!(
        matches!(&refused, DriveError::Refused(r) if r.rule() == "conflicting-artifact"),
        "{refused}"
    );
    assert_eq!(b.decided_again(), 2);
    // Negative, bounded: a store that is always beaten stops the driver
    // with the store's conflict after a few tries, nothing recorded.
    let mut ports = host.ports(false);
    ports.journal = Arc::new(AlwaysBeaten(host.store.clone()));
    let mut c = block_on(Driver::resume(ports, "c")).unwrap();
    let len = c.journal().len();
    let error = block_on(c.execute(&register("never"))).unwrap_err();
    assert!(
        matches!(&error, DriveError::Journal(e) if e.kind() == knowngood::ErrorKind::Conflict),
        "{error}"
    );
    assert_eq!(c.decided_again(), 5);
    assert_eq!(c.journal().len(), len);
}

#[test]
fn nothing_to_resume_an_empty_store_is_no_history_to_begin_again() {
    let world = revert_world();
    let host = Host::of(&world);
    // Negative: a store holding nothing (a misspelt journal name, lost
    // data) is refused, and nothing is written to it.
    let mut ports = host.ports(false);
    let empty = Arc::new(InMemoryJournalStore::default());
    ports.journal = empty.clone();
    let refused = block_on(Driver::resume(ports.clone(), "bot")).unwrap_err();
    assert!(matches!(refused, DriveError::NothingToResume), "{refused}");
    assert!(refused.to_string().contains("journal's name"), "{refused}");
    assert!(empty.entries().is_empty());
    // A first run is a start.
    assert!(block_on(Driver::start(ports, "bot")).is_ok());
    // Positive: the store that holds the journal resumes.
    let resumed = block_on(Driver::resume(host.ports(false), "bot")).unwrap();
    assert_eq!(resumed.journal().len(), world.ledger.journal().len());
}

/// A deployer that says a call may take two minutes.
#[derive(Debug)]
struct Slow(Arc<dyn knowngood::port::Deployer>);

#[async_trait::async_trait]
impl knowngood::port::Deployer for Slow {
    fn capabilities(&self) -> knowngood::port::DeployerCapabilities {
        self.0.capabilities()
    }
    async fn deploy(
        &self,
        key: &knowngood::IdempotencyKey,
        environment: &knowngood::EnvironmentId,
        release: &knowngood::Release,
        artifact: &knowngood::Artifact,
    ) -> Result<(), knowngood::AdapterError> {
        self.0.deploy(key, environment, release, artifact).await
    }
    async fn abort(
        &self,
        key: &knowngood::IdempotencyKey,
        environment: &knowngood::EnvironmentId,
        service: &knowngood::ServiceId,
    ) -> Result<(), knowngood::AdapterError> {
        self.0.abort(key, environment, service).await
    }
    async fn status(
        &self,
        environment: &knowngood::EnvironmentId,
        service: &knowngood::ServiceId,
    ) -> Result<Option<knowngood::ReleaseId>, knowngood::AdapterError> {
        self.0.status(environment, service).await
    }
    async fn outcome(
        &self,
        key: &knowngood::IdempotencyKey,
    ) -> Result<Option<knowngood::ReleaseId>, knowngood::AdapterError> {
        self.0.outcome(key).await
    }
    fn longest_call(&self) -> Option<Duration> {
        Some(Duration::from_secs(120))
    }
}

#[test]
fn lease_covers_a_long_call_a_standby_cannot_take_over_mid_deploy() {
    let world = revert_world();
    let answers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let drive_with = |slow: bool| {
        let host = Host::of(&world);
        let (clock, leases, seen) = (host.clock.clone(), host.leases.clone(), answers.clone());
        // Each deploy takes a minute, twice the 30 s lease; meanwhile a
        // standby asks for the lease.
        let hook = Arc::new(move || {
            clock.advance(chrono::Duration::seconds(60));
            let answer =
                block_on(leases.acquire("incident/INC-1", "standby", Duration::from_secs(30)))
                    .unwrap();
            seen.lock().unwrap().push(answer);
        });
        let mut ports = host.ports_hooked(true, hook);
        if slow {
            ports.deployer = Arc::new(Slow(ports.deployer.clone()));
        }
        let mut driver = block_on(Driver::resume(ports, "active")).unwrap();
        block_on(driver.drive(&"INC-1".into()))
    };
    // Positive: told that a call may take two minutes, the driver holds
    // the lease through it; the standby is refused every time.
    let report = drive_with(true).unwrap();
    assert!(matches!(report, DriveReport::Done { .. }), "{report:?}");
    let seen: Vec<_> = answers.lock().unwrap().drain(..).collect();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|a| matches!(a, knowngood::LeaseAnswer::Held { .. })),
        "{seen:?}"
    );
    // Negative: not told, the lease lapses mid-call and the standby gets it.
    let _ = drive_with(false);
    let seen: Vec<_> = answers.lock().unwrap().drain(..).collect();
    assert!(
        seen.iter()
            .any(|a| matches!(a, knowngood::LeaseAnswer::Granted { .. })),
        "{seen:?}"
    );
}
