//! The driver carries a chosen plan out through the ports: crash after any
//! journal write and resume, unknown outcomes reconciled both ways,
//! duplicate outcomes harmless, capabilities shaping the plan.

mod common;
#[cfg(feature = "flagd")]
#[path = "common/tmp.rs"]
mod tmp;

use std::sync::Arc;

use common::misbehaving::{DeployerFault, FailingJournal, MisbehavingDeployer};
use common::{SERVICE, t};
use knowngood::driver::{DriveError, DriveReport, Driver};
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe,
    InMemoryJournalStore, InMemoryVcs, ManualClock, block_on,
};
use knowngood::port::{Deployer, JournalStore, Ports};
use knowngood::recovery::{EffectOutcome, IdempotencyKey};
use knowngood::{Command, EventKind, Policy, Strategy};

/// The in-memory world the driver acts on.
struct Adapters {
    vcs: Arc<InMemoryVcs>,
    deployer: Arc<InMemoryDeployer>,
    builder: Arc<InMemoryBuilder>,
    store: Arc<InMemoryJournalStore>,
    clock: Arc<ManualClock>,
}

impl Adapters {
    fn ports(&self, journal: Arc<dyn JournalStore>, deployer: Arc<dyn Deployer>) -> Ports {
        Ports::new(
            self.vcs.clone(),
            deployer,
            Some(Arc::new(InMemoryFlagStore::default())),
            Arc::new(InMemoryHealthProbe::default()),
            self.builder.clone(),
            journal,
            self.clock.clone(),
        )
    }

    fn plain_ports(&self) -> Ports {
        self.ports(self.store.clone(), self.deployer.clone())
    }
}

/// Forward-only: PR-2 (998b) broke prod; the revert strategy is chosen.
/// Its steps: revert, tag, ship through dev → qa → prod, verify.
fn revert_chosen() -> Adapters {
    let mut w = common::bad_commit_in_production(Policy::forward_only());
    w.choose(Strategy::Revert);
    let adapters = Adapters {
        vcs: Arc::new(InMemoryVcs::default()),
        deployer: Arc::new(InMemoryDeployer::default()),
        builder: Arc::new(InMemoryBuilder::new(3, 1, 9)),
        store: Arc::new(InMemoryJournalStore::default()),
        clock: Arc::new(ManualClock::at(t(w.clock + 1))),
    };
    for c in ["a1", "998b"] {
        adapters
            .vcs
            .commit(&SERVICE.into(), &"main".into(), &c.into());
    }
    block_on(adapters.store.append(0, w.ledger.journal().entries())).unwrap();
    adapters
}

fn drive(ports: Ports) -> Result<(Driver, DriveReport), DriveError> {
    block_on(async {
        let mut driver = Driver::resume(ports, "knowngood-driver").await?;
        let report = driver.drive(&"INC-1".into()).await?;
        Ok((driver, report))
    })
}

#[test]
fn driver_carries_out_a_revert_end_to_end_and_production_equals_head() {
    let a = revert_chosen();
    let (driver, report) = drive(a.plain_ports()).unwrap();
    let DriveReport::Done { steps } = report else {
        panic!("{report:?}")
    };
    assert_eq!(steps.len(), 4);
    let state = driver.state();
    // Production runs the build of main's head, which holds the revert.
    let head = state
        .branch(&SERVICE.into(), &"main".into())
        .unwrap()
        .clone();
    let running = state
        .current_release(&"prod".into(), &SERVICE.into())
        .unwrap();
    assert_eq!(
        state.artifact(&running.artifact).unwrap().source_commit,
        head
    );
    assert_eq!(
        state.change(&"revert-PR-2".into()).unwrap().reverts,
        Some("PR-2".into())
    );
    assert_eq!(a.vcs.tagged(&SERVICE.into(), "revert-PR-2"), Some(head));
    let drift = state.drift(&"prod".into(), &SERVICE.into()).unwrap();
    assert!(drift.is_clear(), "{drift:?}");
    // The store holds exactly what the driver holds, and it replays.
    let stored = knowngood::Journal::from_entries(a.store.entries()).unwrap();
    assert_eq!(&stored, driver.journal());
    assert!(stored.verify_chain().is_ok());
}

#[test]
fn driver_crash_after_each_journal_write_then_resume_gives_the_uninterrupted_result() {
    let reference = revert_chosen();
    let (uninterrupted, _) = drive(reference.plain_ports()).unwrap();
    let mut crash_points = 0;
    for crash_at in 0.. {
        let a = revert_chosen();
        let crashing = FailingJournal::at(&a.store, crash_at);
        match drive(a.ports(crashing, a.deployer.clone())) {
            Err(DriveError::Journal(_)) => crash_points += 1,
            Ok(_) => break, // past the last write: nothing left to crash
            Err(other) => panic!("crash point {crash_at}: {other}"),
        }
        let (resumed, report) = drive(a.plain_ports()).unwrap();
        assert!(matches!(report, DriveReport::Done { .. }));
        assert_eq!(
            resumed.state(),
            uninterrupted.state(),
            "crash point {crash_at}"
        );
        assert_eq!(
            resumed.journal(),
            uninterrupted.journal(),
            "crash point {crash_at}"
        );
        for (key, n) in a.deployer.all_executions() {
            assert_eq!(n, 1, "crash point {crash_at}: deployed twice under {key}");
        }
        assert_eq!(
            a.deployer.all_executions().len(),
            3,
            "dev, qa and prod, once each"
        );
        assert_eq!(
            a.vcs
                .executions(&IdempotencyKey::new("INC-1/attempt-1/revert/1-revert")),
            1
        );
        assert_eq!(
            a.builder
                .executions(&IdempotencyKey::new("INC-1/attempt-1/revert/3-ship#build")),
            1
        );
    }
    assert!(crash_points > 20, "only {crash_points} crash points");
}

#[test]
fn driver_reconciles_an_unknown_outcome_both_ways_by_asking_the_port() {
    for acted in [true, false] {
        let a = revert_chosen();
        let flaky = MisbehavingDeployer::new(&a.deployer, DeployerFault::TimeOutFirst { acted });
        let (driver, report) = drive(a.ports(a.store.clone(), flaky)).unwrap();
        assert!(matches!(report, DriveReport::Done { .. }), "acted={acted}");
        for (key, n) in a.deployer.all_executions() {
            assert_eq!(n, 1, "acted={acted}: {key}");
        }
        let outcomes: Vec<EffectOutcome> = driver
            .journal()
            .entries()
            .iter()
            .filter_map(|e| match &e.event.kind {
                EventKind::EffectRecorded { outcome, .. } => Some(outcome.clone()),
                _ => None,
            })
            .filter(|o| {
                matches!(
                    o,
                    EffectOutcome::Unknown { .. } | EffectOutcome::Reconciled { .. }
                )
            })
            .collect();
        assert_eq!(outcomes.len(), 2, "acted={acted}: {outcomes:?}");
        assert!(
            matches!(&outcomes[0], EffectOutcome::Unknown { error } if error.contains("timed out"))
        );
        assert_eq!(outcomes[1], EffectOutcome::Reconciled { happened: acted });
    }
}

#[test]
fn driver_duplicate_delivery_of_an_outcome_is_harmless() {
    let a = revert_chosen();
    let (mut driver, _) = drive(a.plain_ports()).unwrap();
    let before = driver.journal().clone();
    let again = Command::RecordEffect {
        incident: "INC-1".into(),
        key: IdempotencyKey::new("INC-1/attempt-1/revert/1-revert"),
        outcome: EffectOutcome::Succeeded {
            detail: "late duplicate".into(),
        },
        by: None,
    };
    let entries = block_on(driver.execute(&again)).unwrap();
    assert!(entries.is_empty());
    assert_eq!(driver.journal(), &before);
    // A key that is not a step of the plan is refused.
    let stray = Command::RecordEffect {
        incident: "INC-1".into(),
        key: IdempotencyKey::new("INC-1/revert/9-nothing"),
        outcome: EffectOutcome::Started,
        by: None,
    };
    assert!(
        matches!(block_on(driver.execute(&stray)), Err(DriveError::Refused(r)) if r.rule() == "unknown-effect")
    );
}

#[test]
fn driver_a_port_without_a_capability_removes_the_option_with_the_reason() {
    let a = revert_chosen();
    let mut ports = a.plain_ports();
    ports.flags = None;
    let driver = block_on(Driver::resume(ports, "bot")).unwrap();
    let caps = driver.ports().capabilities();
    assert!(!caps.flags);
    let plan = knowngood::plan(driver.state(), &"INC-1".into(), t(0), &caps).unwrap();
    let retoggle = plan.option(Strategy::Retoggle).unwrap();
    let check = retoggle
        .checks
        .iter()
        .find(|c| c.name == "flag-store-available")
        .unwrap();
    assert_eq!(check.detail, "the host has no flag store");
    assert!(!retoggle.applicable);
}

#[test]
fn driver_stops_at_a_failed_step_with_the_reason() {
    let a = revert_chosen();
    a.vcs.conflict_on(&"998b".into());
    let failure = drive(a.plain_ports()).unwrap_err();
    assert!(
        failure
            .to_string()
            .contains("reverting `998b` does not apply cleanly"),
        "{failure}"
    );
    // Driving again does not retry the failed step behind the team's back.
    let again = drive(a.plain_ports()).unwrap_err();
    assert!(
        again.to_string().contains("choose a strategy again"),
        "{again}"
    );
}

#[tokio::test]
async fn driver_runs_under_tokio_too() {
    let a = revert_chosen();
    let mut driver = Driver::resume(a.plain_ports(), "bot").await.unwrap();
    let report = driver.drive(&"INC-1".into()).await.unwrap();
    assert!(matches!(report, DriveReport::Done { .. }));
}

/// Drives the retoggle of `new-checkout` in prod with `flags` as the flag
/// store (PR-2 behind it broke prod; the flag is on in the ledger).
fn drive_retoggle(flags: Arc<dyn knowngood::port::FlagStore>) -> DriveReport {
    drive_retoggle_measured(flags, Arc::new(InMemoryHealthProbe::default()))
        .unwrap()
        .1
}

/// As [`drive_retoggle`], measuring health with `health`.
fn drive_retoggle_measured(
    flags: Arc<dyn knowngood::port::FlagStore>,
    health: Arc<InMemoryHealthProbe>,
) -> Result<(Driver, DriveReport), DriveError> {
    let mut w = common::flagged_change_in_production();
    w.choose(Strategy::Retoggle);
    let store = Arc::new(InMemoryJournalStore::default());
    block_on(store.append(0, w.ledger.journal().entries())).unwrap();
    let mut ports = common::ports_on(store);
    ports.clock = Arc::new(ManualClock::at(t(w.clock + 1)));
    ports.flags = Some(flags);
    ports.health = health;
    drive(ports)
}

#[test]
fn verify_without_looking_a_retoggle_on_a_known_good_revision_is_measured_before_done() {
    // The flag goes off on build 2, known good before the incident; the
    // service still errors at 40 %.
    let health = Arc::new(InMemoryHealthProbe::default());
    health.set(
        &"prod".into(),
        &common::release_id(2),
        knowngood::port::Health::new(false, "error rate 40 %"),
    );
    let failed =
        drive_retoggle_measured(Arc::new(InMemoryFlagStore::default()), health).unwrap_err();
    assert!(
        failed
            .to_string()
            .contains("measures unhealthy now: error rate 40 %"),
        "{failed}"
    );
    // Negative: measured healthy, it is done, the measurement its evidence.
    let health = Arc::new(InMemoryHealthProbe::default());
    health.set(
        &"prod".into(),
        &common::release_id(2),
        knowngood::port::Health::new(true, "error rate 0.1 %"),
    );
    let (driver, report) =
        drive_retoggle_measured(Arc::new(InMemoryFlagStore::default()), health).unwrap();
    assert!(matches!(report, DriveReport::Done { .. }), "{report:?}");
    // The measurement is in the journal, with the step.
    let journal = serde_json::to_string(driver.journal().entries()).unwrap();
    assert!(
        journal.contains("measured healthy now: error rate 0.1 %"),
        "{journal}"
    );
}

#[test]
fn driver_a_flag_the_store_does_not_define_is_written_even_to_turn_it_off() {
    use knowngood::port::FlagStore as _;
    let (env, flag) = ("prod".into(), "new-checkout".into());
    // Never set in the store: it reads `Off` at revision 0, the store's
    // default, not what users get; the driver writes it.
    let never_set = Arc::new(InMemoryFlagStore::default());
    let report = drive_retoggle(never_set.clone());
    assert!(matches!(report, DriveReport::Done { .. }), "{report:?}");
    assert_eq!(
        block_on(never_set.get(&env, &flag)).unwrap(),
        (knowngood::FlagState::Off, 1),
        "a flag at revision 0 is written"
    );
    // Negative: a flag the store defines as off already is not written again.
    let defined_off = Arc::new(InMemoryFlagStore::default());
    let key = IdempotencyKey::new("someone-else");
    block_on(defined_off.set(&key, &env, &flag, &knowngood::FlagState::Off, 0)).unwrap();
    let report = drive_retoggle(defined_off.clone());
    assert!(matches!(report, DriveReport::Done { .. }), "{report:?}");
    assert_eq!(
        block_on(defined_off.get(&env, &flag)).unwrap(),
        (knowngood::FlagState::Off, 1),
        "a flag defined as off is left at its revision"
    );
}

#[cfg(feature = "flagd")]
#[test]
fn driver_a_flag_the_flagd_file_does_not_define_is_defined_off_not_taken_for_off() {
    let dir = tmp::TempDir::new("driver-flagd-absent");
    let file = dir.path().join("prod.flags.json");
    // flagd serves an absent flag as the application's code default.
    std::fs::write(&file, r#"{ "flags": {} }"#).unwrap();
    let flags = knowngood::adapters::FlagdFileStore::new().environment("prod", &file);
    let report = drive_retoggle(Arc::new(flags));
    assert!(matches!(report, DriveReport::Done { .. }), "{report:?}");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        written["flags"]["new-checkout"]["defaultVariant"], "off",
        "{written}"
    );
    assert_eq!(written["flags"]["new-checkout"]["state"], "ENABLED");
}

/// Builds 1 and 2 served in prod; build 3 (PR-3) is still rolling out
/// there (the deployer has it) when the incident names it; abort chosen.
fn abort_chosen(deployer: &Arc<InMemoryDeployer>) -> Ports {
    let mut w = common::suspect_rolling_out();
    w.choose(Strategy::Abort);
    for (n, id) in (1..=3)
        .map(common::release_id)
        .collect::<Vec<_>>()
        .iter()
        .enumerate()
    {
        let release = w.ledger.state().release(id).unwrap().clone();
        let artifact = w
            .ledger
            .state()
            .artifact(&release.artifact)
            .unwrap()
            .clone();
        let key = IdempotencyKey::new(format!("before/{n}"));
        block_on(deployer.deploy(&key, &"prod".into(), &release, &artifact)).unwrap();
    }
    let store = Arc::new(InMemoryJournalStore::default());
    block_on(store.append(0, w.ledger.journal().entries())).unwrap();
    let mut ports = common::ports_on(store);
    ports.clock = Arc::new(ManualClock::at(t(w.clock + 1)));
    ports
}

#[test]
fn abort_not_reconciled_an_abort_that_did_nothing_is_caught_by_the_deployers_status() {
    let deployer = Arc::new(InMemoryDeployer::default());
    let mut ports = abort_chosen(&deployer);
    ports.deployer = MisbehavingDeployer::new(&deployer, DeployerFault::AbortDoesNothing);
    let err = drive(ports).unwrap_err();
    let DriveError::Diverged {
        expected, found, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(*expected, common::release_id(2));
    assert_eq!(*found, Some(common::release_id(3)), "{err}");
    // Negative: an abort that stops the rollout is recorded, and build 2
    // serves again, measured.
    let deployer = Arc::new(InMemoryDeployer::default());
    let mut ports = abort_chosen(&deployer);
    ports.deployer = deployer.clone();
    let (driver, report) = drive(ports).unwrap();
    assert!(matches!(report, DriveReport::Done { .. }), "{report:?}");
    let serving = driver
        .state()
        .current_release(&"prod".into(), &common::SERVICE.into())
        .unwrap();
    assert_eq!(serving.id, common::release_id(2));
}
