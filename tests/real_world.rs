//! The driver at the seams with the real world, as a host meets them: a
//! clock that moves between a crash and the resume, a driver rebuilt from
//! the journal store only, approvals that arrive hours later, a branch that
//! someone pushed to, a plan chosen a second time, and port errors a host
//! must tell apart. Each test is named after the defect it pins.

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use chrono::Duration;
use common::misbehaving::{
    DeployerFault, FailingJournal, MisbehavingDeployer, MisbehavingVcs, VcsFault,
};
use common::{SERVICE, World, t};
use knowngood::driver::{DriveError, DriveReport, Driver, StepFailure};
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe,
    InMemoryJournalStore, InMemoryVcs, ManualClock, block_on,
};
use knowngood::port::{AdapterError, Deployer, ErrorKind, FlagStore, JournalStore, Ports, Vcs};
use knowngood::recovery::{EffectOutcome, EffectStatus, IdempotencyKey};
use knowngood::{
    ApprovalRule, Command, CommitId, DeploymentStatus, EnvironmentId, EventKind, FlagKey,
    FlagState, JournalEntry, Policy, Rejection, Strategy,
};

/// The host's systems (in memory) and its journal store.
struct Host {
    vcs: Arc<InMemoryVcs>,
    deployer: Arc<InMemoryDeployer>,
    flags: Arc<InMemoryFlagStore>,
    builder: Arc<InMemoryBuilder>,
    store: Arc<InMemoryJournalStore>,
    clock: Arc<ManualClock>,
}

impl Host {
    /// The world's journal in the store; main holds `a1` and `998b`.
    fn of(w: &World) -> Host {
        let host = Host {
            vcs: Arc::new(InMemoryVcs::default()),
            deployer: Arc::new(InMemoryDeployer::default()),
            flags: Arc::new(InMemoryFlagStore::default()),
            builder: Arc::new(InMemoryBuilder::new(3, 1, 9)),
            store: Arc::new(InMemoryJournalStore::default()),
            clock: Arc::new(ManualClock::at(t(w.clock + 1))),
        };
        for c in ["a1", "998b"] {
            host.vcs.commit(&SERVICE.into(), &"main".into(), &c.into());
        }
        block_on(host.store.append(0, w.ledger.journal().entries())).unwrap();
        host
    }

    fn ports_with(
        &self,
        vcs: Arc<dyn Vcs>,
        deployer: Arc<dyn Deployer>,
        journal: Arc<dyn JournalStore>,
    ) -> Ports {
        Ports::new(
            vcs,
            deployer,
            Some(self.flags.clone()),
            Arc::new(InMemoryHealthProbe::default()),
            self.builder.clone(),
            journal,
            self.clock.clone(),
        )
    }

    fn ports(&self) -> Ports {
        self.ports_with(self.vcs.clone(), self.deployer.clone(), self.store.clone())
    }

    /// A new process: a driver built from the journal store alone.
    #[allow(clippy::unused_self)] // reads as the host starting a process
    fn driver(&self, ports: Ports) -> Driver {
        block_on(Driver::resume(ports, "knowngood-driver")).unwrap()
    }

    #[allow(clippy::unused_self)]
    fn drive(&self, driver: &mut Driver) -> Result<DriveReport, DriveError> {
        block_on(driver.drive(&"INC-1".into()))
    }

    /// Plans with the driver's state now and chooses `strategy`.
    fn choose(&self, driver: &mut Driver, strategy: Strategy) {
        let plan = knowngood::plan(
            driver.state(),
            &"INC-1".into(),
            self.clock_now(),
            &driver.ports().capabilities(),
        )
        .unwrap();
        let command = plan.choose(strategy, "alice").unwrap();
        block_on(driver.execute(&command)).unwrap();
    }

    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use knowngood::port::Clock;
        self.clock.now()
    }

    fn stored(&self) -> knowngood::Journal {
        knowngood::Journal::from_entries(self.store.entries()).unwrap()
    }
}

/// The kinds of the journal's events, in order (timestamps left out: the
/// clock moved).
fn kinds(journal: &knowngood::Journal) -> Vec<&'static str> {
    common::type_names(journal.entries())
}

fn revert_world() -> World {
    let mut w = common::bad_commit_in_production(Policy::forward_only());
    w.choose(Strategy::Revert);
    w
}

fn main_head(driver: &Driver) -> CommitId {
    driver
        .state()
        .branch(&SERVICE.into(), &"main".into())
        .unwrap()
        .clone()
}

fn serving_commit(driver: &Driver) -> CommitId {
    let state = driver.state();
    let release = state
        .current_release(&"prod".into(), &SERVICE.into())
        .unwrap();
    state
        .artifact(&release.artifact)
        .unwrap()
        .source_commit
        .clone()
}

// ----- resume with a moving clock ------------------------------------------

#[test]
fn resume_with_a_moving_clock_after_a_crash_at_every_journal_write_finishes_the_plan() {
    // Seconds, hours and days pass between each crash and the resume of a
    // driver rebuilt from the store alone (see `crash_everywhere`).
    crash_everywhere(revert_world, |_| {});
}

#[test]
fn resume_with_a_moving_clock_after_a_failed_append_the_same_driver_goes_on() {
    let reference = Host::of(&revert_world());
    let mut uninterrupted = reference.driver(reference.ports());
    reference.drive(&mut uninterrupted).unwrap();
    for fail_at in [0, 3, 6, 9, 12] {
        let host = Host::of(&revert_world());
        let failing = FailingJournal::at(&host.store, fail_at);
        let mut driver =
            host.driver(host.ports_with(host.vcs.clone(), host.deployer.clone(), failing));
        let err = host.drive(&mut driver).unwrap_err();
        assert!(matches!(err, DriveError::Journal(_)), "{err}");
        // The driver forgot what the store did not take; the same process
        // drives again a day later.
        assert_eq!(&host.stored(), driver.journal());
        host.clock.advance(Duration::days(1));
        let report = host.drive(&mut driver).unwrap();
        assert!(matches!(report, DriveReport::Done { .. }));
        assert_eq!(kinds(driver.journal()), kinds(uninterrupted.journal()));
        assert_eq!(&host.stored(), driver.journal());
    }
}

#[test]
fn resume_with_a_moving_clock_rerecording_the_revert_is_a_no_op() {
    // The revert's change was stored, then the process died before the
    // branch moved. Hours later the driver records the same change again:
    // identified by what the effect made, not by when.
    let host = Host::of(&revert_world());
    let change_stored = FailingJournal::when(&host.store, |stored, _| {
        stored.last().is_some_and(|e| {
            matches!(&e.event.kind, EventKind::ChangeRecorded { change } if change.id.as_str() == "revert-PR-2")
        })
    });
    let mut first =
        host.driver(host.ports_with(host.vcs.clone(), host.deployer.clone(), change_stored));
    assert!(matches!(
        host.drive(&mut first),
        Err(DriveError::Journal(_))
    ));
    let stored = knowngood::Ledger::from_journal(host.stored()).unwrap();
    assert!(stored.state().change(&"revert-PR-2".into()).is_some());
    host.clock.advance(Duration::hours(6));
    let mut resumed = host.driver(host.ports());
    assert!(matches!(
        host.drive(&mut resumed).unwrap(),
        DriveReport::Done { .. }
    ));
    let recorded = host
        .stored()
        .entries()
        .iter()
        .filter(|e| matches!(&e.event.kind, EventKind::ChangeRecorded { change } if change.id.as_str() == "revert-PR-2"))
        .count();
    assert_eq!(recorded, 1);
}

#[test]
fn resume_after_a_crash_while_journaling_a_failed_verification_keeps_the_step_failed() {
    let mut w = common::bad_commit_in_production(Policy::default());
    w.choose(Strategy::Rollback);
    let host = Host::of(&w);
    let health = Arc::new(InMemoryHealthProbe::default());
    health.set(
        &"prod".into(),
        &common::release_id(1),
        knowngood::port::Health::new(false, "error rate 30%"),
    );
    let failing = FailingJournal::when(&host.store, |_, new| {
        new.iter().any(|e| {
            matches!(
                &e.event.kind,
                EventKind::EffectRecorded {
                    outcome: EffectOutcome::Failed { .. },
                    ..
                }
            )
        })
    });
    let mut ports = host.ports_with(host.vcs.clone(), host.deployer.clone(), failing);
    ports.health = health.clone();
    let mut first = host.driver(ports.clone());
    assert!(matches!(
        host.drive(&mut first),
        Err(DriveError::Journal(_))
    ));
    // Later the service looks fine again; the rollback's verification failed
    // all the same, and the resumed driver must say so.
    health.set(
        &"prod".into(),
        &common::release_id(1),
        knowngood::port::Health::new(true, "error rate 0.1%"),
    );
    host.clock.advance(Duration::minutes(30));
    let mut resumed = host.driver(ports);
    let err = host.drive(&mut resumed).unwrap_err();
    assert!(
        matches!(&err, DriveError::StepFailed { failure: StepFailure::Unhealthy(why), .. } if why.contains("failed its verification")),
        "{err}"
    );
}

#[test]
fn evidence_before_victory_a_successor_quotes_the_measurement_recorded_before_a_crash() {
    let mut w = common::bad_commit_in_production(Policy::default());
    w.choose(Strategy::Rollback);
    let host = Host::of(&w);
    let health = Arc::new(InMemoryHealthProbe::default());
    health.set(
        &"prod".into(),
        &common::release_id(1),
        knowngood::port::Health::new(true, "error rate 0.1%, p99 180 ms"),
    );
    // The verdict is recorded; the process dies before the verify step's
    // outcome is.
    let failing = FailingJournal::when(&host.store, |stored, new| {
        stored.iter().any(|e| {
            matches!(
                &e.event.kind,
                EventKind::DeploymentVerified {
                    evidence: Some(_),
                    ..
                }
            )
        }) && new.iter().any(|e| {
            matches!(
                &e.event.kind,
                EventKind::EffectRecorded {
                    outcome: EffectOutcome::Succeeded { .. },
                    ..
                }
            )
        })
    });
    let mut ports = host.ports_with(host.vcs.clone(), host.deployer.clone(), failing);
    ports.health = health.clone();
    let mut first = host.driver(ports.clone());
    assert!(matches!(
        host.drive(&mut first),
        Err(DriveError::Journal(_))
    ));
    // Positive: the verdict went into the journal with what was measured.
    let stored = host.stored();
    assert!(
        stored.entries().iter().any(|e| matches!(
            &e.event.kind,
            EventKind::DeploymentVerified { evidence: Some(m), .. } if m == "error rate 0.1%, p99 180 ms"
        )),
        "the verdict was journaled without its measurement"
    );
    // The successor finds the revision known good and quotes the recorded
    // measurement as the step's outcome, not a bare "known good".
    let mut resumed = host.driver(ports);
    host.drive(&mut resumed).unwrap();
    let detail = resumed
        .journal()
        .entries()
        .iter()
        .rev()
        .find_map(|e| match &e.event.kind {
            EventKind::EffectRecorded {
                key,
                outcome: EffectOutcome::Succeeded { detail },
                ..
            } if key.as_str().ends_with("verify") => Some(detail.clone()),
            _ => None,
        })
        .unwrap();
    assert!(detail.contains("error rate 0.1%, p99 180 ms"), "{detail}");
    // Negative: a verdict given without a measurement (by a person) is
    // journaled without one, and is not quoted as if measured.
    let mut w = common::bad_commit_in_production(Policy::default());
    let release = w.build(3);
    let slot = w.deploy("dev", &release, true);
    let verified = w
        .ledger
        .journal()
        .entries()
        .iter()
        .rev()
        .find_map(|e| match &e.event.kind {
            EventKind::DeploymentVerified { slot: s, evidence } if *s == slot => {
                Some(evidence.clone())
            }
            _ => None,
        });
    assert_eq!(verified, Some(None));
}

// ----- approvals -----------------------------------------------------------

/// Forward-only; production needs one approval from `release-managers`
/// (carol, dave); the revert is chosen (its ship waits at production).
fn revert_needing_approval() -> World {
    let mut w = common::bad_commit_in_production(Policy::forward_only());
    let mut policy = common::timed_policy(Policy::forward_only());
    policy.roles.insert(
        "release-managers".into(),
        ["carol".into(), "dave".into()].into(),
    );
    policy
        .approvals
        .insert("prod".into(), ApprovalRule::new(1, "release-managers"));
    w.adopt(policy);
    w.choose(Strategy::Revert);
    w
}

#[test]
fn approvals_arriving_late_pause_the_driver_then_it_resumes() {
    let host = Host::of(&revert_needing_approval());
    let mut driver = host.driver(host.ports());
    let report = host.drive(&mut driver).unwrap();
    let DriveReport::AwaitingApprovals {
        slot, have, need, ..
    } = &report
    else {
        panic!("{report:?}")
    };
    assert_eq!((*have, *need), (0, 1));
    assert!(
        report
            .instruction()
            .contains("needs 1 more approval from role `release-managers`"),
        "{report}"
    );
    let slot = slot.clone();
    // Hours pass; a new process polls and is told the same, without
    // opening another revision or touching the deployer.
    for hours in [2, 9] {
        host.clock.advance(Duration::hours(hours));
        let mut again = host.driver(host.ports());
        let report = host.drive(&mut again).unwrap();
        assert!(
            matches!(&report, DriveReport::AwaitingApprovals { slot: s, .. } if *s == slot),
            "{report:?}"
        );
    }
    assert_eq!(
        host.deployer.all_executions().len(),
        2,
        "dev and qa only, each once"
    );
    // A day later carol approves (through any process).
    host.clock.advance(Duration::days(1));
    let mut approver = host.driver(host.ports());
    block_on(approver.execute(&Command::Approve {
        slot: slot.clone(),
        by: "carol".into(),
    }))
    .unwrap();
    host.clock.advance(Duration::minutes(3));
    let mut resumed = host.driver(host.ports());
    let report = host.drive(&mut resumed).unwrap();
    assert!(matches!(report, DriveReport::Done { .. }), "{report:?}");
    let history = resumed
        .state()
        .history(&"prod".into(), &SERVICE.into())
        .unwrap();
    assert_eq!(history.current().unwrap().revision, slot.revision);
    assert_eq!(host.deployer.all_executions().len(), 3);
    assert_eq!(serving_commit(&resumed), main_head(&resumed));
}

#[test]
fn approvals_never_leave_the_environment_blocked_when_another_plan_is_chosen() {
    let host = Host::of(&revert_needing_approval());
    let mut driver = host.driver(host.ports());
    let DriveReport::AwaitingApprovals { slot, .. } = host.drive(&mut driver).unwrap() else {
        panic!("expected to wait for approvals")
    };
    let shipped = driver
        .state()
        .history(&"prod".into(), &SERVICE.into())
        .unwrap()
        .get(slot.revision)
        .unwrap()
        .release
        .clone();
    let again = Command::deploy("prod", shipped, "bob");
    let blocked = knowngood::decide(driver.state(), &again, host.clock_now()).unwrap_err();
    assert_eq!(blocked.rule(), "rollout-in-flight", "{blocked}");
    // Nobody approves; the team chooses again (attempt 2): what the
    // planner now ranks first.
    host.clock.advance(Duration::hours(1));
    let plan = knowngood::plan(
        driver.state(),
        &"INC-1".into(),
        host.clock_now(),
        &driver.ports().capabilities(),
    )
    .unwrap();
    let best = plan.best().expect("an applicable option").strategy;
    block_on(driver.execute(&plan.choose(best, "alice").unwrap())).unwrap();
    let history = driver
        .state()
        .history(&"prod".into(), &SERVICE.into())
        .unwrap();
    assert_eq!(
        history.get(slot.revision).unwrap().status,
        DeploymentStatus::Aborted,
        "the earlier attempt's request is withdrawn"
    );
    // Production is open to the next rollout.
    assert!(
        knowngood::decide(driver.state(), &again, host.clock_now()).is_ok(),
        "production is still blocked"
    );
}

// ----- a VCS that moves on its own ------------------------------------------

#[test]
fn branch_moved_under_the_driver_stops_with_a_typed_conflict_naming_the_unknown_commits() {
    let host = Host::of(&revert_world());
    // Someone pushes to main; the ledger never hears of it.
    host.vcs
        .commit(&SERVICE.into(), &"main".into(), &"zz9".into());
    let mut driver = host.driver(host.ports());
    let err = host.drive(&mut driver).unwrap_err();
    let DriveError::BranchMoved {
        expected,
        found,
        unknown,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((expected.as_str(), found.as_str()), ("998b", "zz9"));
    assert_eq!(unknown, &[CommitId::new("zz9")]);
    assert!(
        err.to_string().contains("record the commits pushed since"),
        "{err}"
    );
    let key = IdempotencyKey::new("INC-1/attempt-1/revert/1-revert");
    assert_eq!(host.vcs.executions(&key), 0, "nothing was reverted");
    assert_ne!(
        driver.state().incident(&"INC-1".into()).unwrap().effects[&key],
        EffectStatus::Failed,
        "a push is not the step's failure"
    );
    // The host records the push, and drives again later.
    for command in [
        Command::RecordCommit {
            commit: knowngood::Commit::new("zz9", [CommitId::new("998b")]),
        },
        Command::MoveBranch {
            service: SERVICE.into(),
            branch: "main".into(),
            head: "zz9".into(),
        },
    ] {
        block_on(driver.execute(&command)).unwrap();
    }
    host.clock.advance(Duration::hours(1));
    let mut resumed = host.driver(host.ports());
    // The revert lands on top of the push; before building, the driver
    // stops: the release would carry zz9, which no recorded change holds.
    let report = host.drive(&mut resumed).unwrap();
    let DriveReport::Outgrown { additions, .. } = &report else {
        panic!("{report:?}")
    };
    assert_eq!(additions.unattributed, [CommitId::new("zz9")]);
    block_on(resumed.execute(&Command::AcceptChanges {
        incident: "INC-1".into(),
        service: SERVICE.into(),
        branch: "main".into(),
        head: additions.head.clone(),
        by: "alice".into(),
        reason: "zz9 is the config bump we expected".into(),
    }))
    .unwrap();
    assert!(matches!(
        host.drive(&mut resumed).unwrap(),
        DriveReport::Done { .. }
    ));
    // The ledger records the revert where git put it: on top of zz9.
    let revert = resumed
        .state()
        .change(&"revert-PR-2".into())
        .unwrap()
        .commits[0]
        .clone();
    assert_eq!(
        resumed.state().commit(&revert).unwrap().commit.parents,
        vec![CommitId::new("zz9")]
    );
    assert_eq!(serving_commit(&resumed), main_head(&resumed));
    assert_eq!(
        block_on(host.vcs.head(&SERVICE.into(), &"main".into())).unwrap(),
        main_head(&resumed)
    );
}

#[test]
fn branch_moved_by_a_push_racing_the_revert_is_a_conflict_not_a_failure() {
    let host = Host::of(&revert_world());
    let racing = MisbehavingVcs::new(&host.vcs, VcsFault::PushBeforeFirstRevert("raced".into()));
    let mut driver =
        host.driver(host.ports_with(racing, host.deployer.clone(), host.store.clone()));
    let err = host.drive(&mut driver).unwrap_err();
    assert!(
        matches!(&err, DriveError::BranchMoved { found, unknown, .. }
            if found.as_str() == "raced" && unknown == &[CommitId::new("raced")]),
        "{err}"
    );
    let key = IdempotencyKey::new("INC-1/attempt-1/revert/1-revert");
    assert_eq!(
        driver.state().incident(&"INC-1".into()).unwrap().effects[&key],
        EffectStatus::Started
    );
}

// ----- choosing again ------------------------------------------------------

fn set_flag_by_hand(host: &Host, state: &FlagState) {
    let (env, flag) = (EnvironmentId::new("prod"), FlagKey::new("new-checkout"));
    let (_, revision) = block_on(host.flags.get(&env, &flag)).unwrap();
    let key = IdempotencyKey::new(format!("by-hand/{revision}"));
    block_on(host.flags.set(&key, &env, &flag, state, revision)).unwrap();
}

#[test]
fn choosing_the_same_strategy_again_gets_fresh_keys_and_acts_again() {
    let host = Host::of(&common::flagged_change_in_production());
    set_flag_by_hand(&host, &FlagState::On);
    let mut driver = host.driver(host.ports());
    host.choose(&mut driver, Strategy::Retoggle);
    assert!(matches!(
        host.drive(&mut driver).unwrap(),
        DriveReport::Done { .. }
    ));
    let flag = (EnvironmentId::new("prod"), FlagKey::new("new-checkout"));
    assert_eq!(
        block_on(host.flags.get(&flag.0, &flag.1)).unwrap().0,
        FlagState::Off
    );
    // Someone turns it back on by hand (and says so); the team retoggles
    // again.
    set_flag_by_hand(&host, &FlagState::On);
    block_on(driver.execute(&Command::SetFlag {
        environment: "prod".into(),
        flag: "new-checkout".into(),
        state: FlagState::On,
        by: "bob".into(),
        clearance: knowngood::Clearance::none(),
    }))
    .unwrap();
    host.clock.advance(Duration::minutes(20));
    host.choose(&mut driver, Strategy::Retoggle);
    let steps = driver
        .state()
        .incident(&"INC-1".into())
        .unwrap()
        .steps
        .clone();
    assert!(
        steps[0].key.as_str().starts_with("INC-1/attempt-2/"),
        "{:?}",
        steps[0].key
    );
    assert!(matches!(
        host.drive(&mut driver).unwrap(),
        DriveReport::Done { .. }
    ));
    assert_eq!(
        block_on(host.flags.get(&flag.0, &flag.1)).unwrap().0,
        FlagState::Off,
        "the second attempt really turned the flag off"
    );
    assert_eq!(host.flags.executions(&steps[0].key), 1);
}

#[test]
fn choosing_the_same_strategy_again_after_a_failed_rollback_reaches_the_deployer() {
    let mut w = common::bad_commit_in_production(Policy::default());
    w.choose(Strategy::Rollback);
    let host = Host::of(&w);
    let refusing = MisbehavingDeployer::new(&host.deployer, DeployerFault::RefuseFirst);
    let ports = host.ports_with(host.vcs.clone(), refusing, host.store.clone());
    let mut driver = host.driver(ports);
    let err = host.drive(&mut driver).unwrap_err();
    // Errors keep their kind.
    assert_eq!(
        err.adapter_error().map(AdapterError::kind),
        Some(ErrorKind::Rejected)
    );
    assert!(matches!(
        &err,
        DriveError::StepFailed {
            failure: StepFailure::Port {
                port: "deployer",
                ..
            },
            ..
        }
    ));
    let first = driver.state().incident(&"INC-1".into()).unwrap().steps[0]
        .key
        .clone();
    assert_eq!(
        driver.state().incident(&"INC-1".into()).unwrap().effects[&first],
        EffectStatus::Failed,
        "the failure is journaled"
    );
    host.clock.advance(Duration::minutes(5));
    host.choose(&mut driver, Strategy::Rollback);
    assert!(matches!(
        host.drive(&mut driver).unwrap(),
        DriveReport::Done { .. }
    ));
    let second = driver.state().incident(&"INC-1".into()).unwrap().steps[0]
        .key
        .clone();
    assert_ne!(first, second);
    assert_eq!(
        host.deployer.executions(&second),
        1,
        "the deployer was reached"
    );
    assert_eq!(
        block_on(host.deployer.status(&"prod".into(), &SERVICE.into())).unwrap(),
        Some(common::release_id(1))
    );
}

#[test]
fn step_key_reused_by_an_earlier_plan_is_refused() {
    let mut w = common::bad_commit_in_production(Policy::default());
    let first = w.plan().choose(Strategy::Rollback, "alice").unwrap();
    w.ok(first.clone());
    // The same plan again (its keys already used): refused.
    let refusal = w.run(first).unwrap_err();
    assert_eq!(refusal.rule(), "step-key-reused", "{refusal}");
    assert!(matches!(refusal, Rejection::StepKeyReused { .. }));
    // Planned again, the plan has fresh keys: accepted.
    w.choose(Strategy::Rollback);
}

// ----- errors keep their kind ----------------------------------------------

#[test]
fn errors_keep_their_kind_a_conflicting_revert_is_a_conflict_without_matching_text() {
    let host = Host::of(&revert_world());
    host.vcs.conflict_on(&"998b".into());
    let mut driver = host.driver(host.ports());
    let err = host.drive(&mut driver).unwrap_err();
    let Some(adapter) = err.adapter_error() else {
        panic!("{err}")
    };
    assert_eq!(adapter.kind(), ErrorKind::Conflict);
    let key = IdempotencyKey::new("INC-1/attempt-1/revert/1-revert");
    let outcomes: Vec<_> = driver
        .journal()
        .entries()
        .iter()
        .filter_map(|e| match &e.event.kind {
            EventKind::EffectRecorded {
                key: k, outcome, ..
            } if *k == key => Some(outcome.clone()),
            _ => None,
        })
        .collect();
    assert!(
        matches!(outcomes.last(), Some(EffectOutcome::Failed { error }) if error.contains("does not apply cleanly")),
        "{outcomes:?}"
    );
}

// ----- reconciling with what the deployer really runs ----------------------

#[test]
fn deployer_serving_something_else_is_reported_and_the_rollout_stays_open() {
    let mut w = common::bad_commit_in_production(Policy::default());
    w.choose(Strategy::Rollback);
    let host = Host::of(&w);
    let ports = host.ports_with(
        host.vcs.clone(),
        MisbehavingDeployer::new(
            &host.deployer,
            DeployerFault::ReportServing("payments@hand-built".into()),
        ),
        host.store.clone(),
    );
    let mut driver = host.driver(ports);
    let err = host.drive(&mut driver).unwrap_err();
    assert!(
        matches!(&err, DriveError::Diverged { found: Some(r), .. } if r.as_str() == "payments@hand-built"),
        "{err}"
    );
    let latest = driver
        .state()
        .history(&"prod".into(), &SERVICE.into())
        .unwrap()
        .latest()
        .unwrap()
        .status;
    assert_eq!(
        latest,
        DeploymentStatus::RollingOut,
        "not completed on faith"
    );
}

// ----- crash everywhere, for every seam -----------------------------------

/// Drives to the end as a host would: approves when asked (carol), records
/// a push when told (with the parent the VCS has), moving the clock.
fn drive_as_host(host: &Host, driver: &mut Driver) -> Result<(), DriveError> {
    for _ in 0..10 {
        match host.drive(driver) {
            Ok(DriveReport::Done { .. }) => return Ok(()),
            Ok(DriveReport::AwaitingApprovals { slot, .. }) => {
                host.clock.advance(Duration::hours(4));
                block_on(driver.execute(&Command::Approve {
                    slot,
                    by: "carol".into(),
                }))?;
            }
            Err(DriveError::BranchMoved {
                service,
                branch,
                expected,
                found,
                ..
            }) => {
                host.clock.advance(Duration::minutes(10));
                for command in [
                    Command::RecordCommit {
                        commit: knowngood::Commit::new(found.clone(), [expected]),
                    },
                    Command::MoveBranch {
                        service,
                        branch,
                        head: found,
                    },
                ] {
                    block_on(driver.execute(&command))?;
                }
            }
            // The push is code nobody on call has seen: the person looks,
            // and lets it ship with the revert.
            Ok(DriveReport::Outgrown { additions, .. }) => {
                host.clock.advance(Duration::minutes(5));
                block_on(driver.execute(&Command::AcceptChanges {
                    incident: "INC-1".into(),
                    service: additions.service.clone(),
                    branch: additions.branch.clone(),
                    head: additions.head.clone(),
                    by: "alice".into(),
                    reason: "looked at the push".into(),
                }))?;
            }
            Ok(other) => panic!("unexpected pause: {other:?}"),
            Err(e) => return Err(e),
        }
    }
    panic!("the drive did not finish")
}

/// Crashes the driver at every journal write of `world`'s plan (after
/// `prepare`), moves the clock, resumes from the store alone as the host
/// would, and compares with an uninterrupted run.
fn crash_everywhere(world: fn() -> World, prepare: fn(&Host)) {
    let reference = Host::of(&world());
    prepare(&reference);
    let mut uninterrupted = reference.driver(reference.ports());
    drive_as_host(&reference, &mut uninterrupted).unwrap();
    let jumps = [Duration::seconds(3), Duration::hours(7), Duration::days(2)];
    let mut crash_points = 0;
    for crash_at in 0.. {
        let host = Host::of(&world());
        prepare(&host);
        let crashing = FailingJournal::at(&host.store, crash_at);
        let mut first =
            host.driver(host.ports_with(host.vcs.clone(), host.deployer.clone(), crashing));
        match drive_as_host(&host, &mut first) {
            Err(DriveError::Journal(_)) => crash_points += 1,
            Ok(()) => break,
            Err(other) => panic!("crash point {crash_at}: {other}"),
        }
        drop(first);
        host.clock.advance(jumps[crash_at % jumps.len()]);
        let mut resumed = host.driver(host.ports());
        drive_as_host(&host, &mut resumed)
            .unwrap_or_else(|e| panic!("crash point {crash_at}: {e}"));
        assert_eq!(
            kinds(resumed.journal()),
            kinds(uninterrupted.journal()),
            "crash point {crash_at}"
        );
        assert_eq!(serving_commit(&resumed), main_head(&resumed));
        for (key, n) in host.deployer.all_executions() {
            assert_eq!(n, 1, "crash point {crash_at}: deployed twice under {key}");
        }
        assert_eq!(
            block_on(host.vcs.head(&SERVICE.into(), &"main".into())).unwrap(),
            main_head(&resumed),
            "crash point {crash_at}: the ledger and the repository agree"
        );
        let revert_key = IdempotencyKey::new("INC-1/attempt-1/revert/1-revert");
        assert_eq!(host.vcs.executions(&revert_key), 1);
        assert_eq!(&host.stored(), resumed.journal());
        assert!(host.stored().verify_chain().is_ok());
    }
    assert!(crash_points > 20, "only {crash_points} crash points");
}

#[test]
fn approvals_arriving_late_with_a_crash_at_every_journal_write() {
    crash_everywhere(revert_needing_approval, |_| {});
}

#[test]
fn branch_moved_under_the_driver_with_a_crash_at_every_journal_write() {
    crash_everywhere(revert_world, |host| {
        host.vcs
            .commit(&SERVICE.into(), &"main".into(), &"zz9".into());
    });
}

// ----- resuming incrementally ------------------------------------------------

#[test]
fn resume_incrementally_refresh_takes_only_the_new_entries_and_equals_a_full_resume() {
    let host = Host::of(&revert_world());
    let mut watcher = host.driver(host.ports());
    let before = watcher.journal().len();
    // Another process drives the plan to the end.
    let mut worker = host.driver(host.ports());
    assert!(matches!(
        host.drive(&mut worker).unwrap(),
        DriveReport::Done { .. }
    ));
    let taken = block_on(watcher.refresh()).unwrap();
    assert_eq!(taken, worker.journal().len() - before);
    assert_eq!(watcher.journal(), worker.journal());
    assert_eq!(watcher.state(), host.driver(host.ports()).state());
    assert_eq!(block_on(watcher.refresh()).unwrap(), 0, "nothing new");
}

/// A store whose backing journal the host can swap (a restore from backup).
#[derive(Debug)]
struct Swappable(Mutex<Arc<InMemoryJournalStore>>);

#[async_trait]
impl JournalStore for Swappable {
    async fn append(&self, expected: u64, entries: &[JournalEntry]) -> Result<(), AdapterError> {
        let inner = self.0.lock().unwrap().clone();
        inner.append(expected, entries).await
    }
    async fn read_from(&self, position: u64) -> Result<Vec<JournalEntry>, AdapterError> {
        let inner = self.0.lock().unwrap().clone();
        inner.read_from(position).await
    }
}

#[test]
fn resume_incrementally_a_store_that_no_longer_ends_as_remembered_is_read_whole() {
    let host = Host::of(&revert_world());
    let store = Arc::new(Swappable(Mutex::new(host.store.clone())));
    let ports = host.ports_with(host.vcs.clone(), host.deployer.clone(), store.clone());
    let mut driver = host.driver(ports);
    assert!(matches!(
        host.drive(&mut driver).unwrap(),
        DriveReport::Done { .. }
    ));
    // The store is restored from a backup taken before the plan ran.
    let backup = Host::of(&revert_world());
    *store.0.lock().unwrap() = backup.store.clone();
    let taken = block_on(driver.refresh()).unwrap();
    assert_eq!(
        taken,
        backup.store.entries().len(),
        "rebuilt from the store"
    );
    assert_eq!(
        driver.journal().entries(),
        backup.store.entries().as_slice()
    );
}
