//! Gradual rollouts driven: a dark launch, then each percentage up to on,
//! every stage set through the flag store, held, measured, its verdict
//! journaled; a failed stage puts the flag back to the last good stage,
//! not off; a flag changed by hand is never written over; a crash at any
//! journal write resumes to the same end without setting anything twice.

mod common;

use std::sync::Arc;

use common::misbehaving::FailingJournal;
use common::{SERVICE, World, t};
use knowngood::async_trait::async_trait;
use knowngood::driver::{DriveError, Driver, FlagRollout};
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryJournalStore, InMemoryVcs,
    ManualClock, block_on,
};
use knowngood::port::{
    AdapterError, FlagStore, FlagStoreCapabilities, Health, HealthProbe, JournalStore, Ports,
};
use knowngood::recovery::IdempotencyKey;
use knowngood::rollout::GradualRollout;
use knowngood::{
    Command, EnvironmentId, EventKind, FlagKey, FlagState, ReleaseId, ServiceId, Verdict,
};

const FLAG: &str = "new-checkout";

/// Healthy while the flag reaches fewer than `breaks_at` percent of users.
#[derive(Debug)]
struct Exposure {
    flags: Arc<InMemoryFlagStore>,
    breaks_at: u8,
}

#[async_trait]
impl HealthProbe for Exposure {
    async fn verify(
        &self,
        environment: &EnvironmentId,
        _service: &ServiceId,
        _release: &ReleaseId,
    ) -> Result<Health, AdapterError> {
        let (state, _) = self.flags.get(environment, &FLAG.into()).await?;
        let percent = match state {
            FlagState::On => 100,
            FlagState::Percentage { percent } => percent,
            _ => 0,
        };
        Ok(if percent >= self.breaks_at {
            Health::new(
                false,
                format!("error rate 7.1% with the flag at {percent}%"),
            )
        } else {
            Health::new(true, format!("error rate 0.2% with the flag at {percent}%"))
        })
    }
}

/// A flag store that serves only on and off.
#[derive(Debug, Default)]
struct OnOff(InMemoryFlagStore);

#[async_trait]
impl FlagStore for OnOff {
    fn capabilities(&self) -> FlagStoreCapabilities {
        FlagStoreCapabilities::none()
    }
    async fn get(
        &self,
        environment: &EnvironmentId,
        flag: &FlagKey,
    ) -> Result<(FlagState, u64), AdapterError> {
        self.0.get(environment, flag).await
    }
    async fn set(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        flag: &FlagKey,
        state: &FlagState,
        expected_revision: u64,
    ) -> Result<u64, AdapterError> {
        self.0
            .set(key, environment, flag, state, expected_revision)
            .await
    }
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<u64>, AdapterError> {
        self.0.outcome(key).await
    }
}

struct Host {
    flags: Arc<InMemoryFlagStore>,
    store: Arc<InMemoryJournalStore>,
    clock: Arc<ManualClock>,
    breaks_at: u8,
}

impl Host {
    /// Build 1 verified in prod; the flag never set.
    fn new(breaks_at: u8) -> Self {
        let mut w = World::new();
        w.merge("PR-1", "a1", None);
        let one = w.build_at(1, "a1");
        w.through_qa(&one);
        w.deploy("prod", &one, true);
        Self {
            flags: Arc::new(InMemoryFlagStore::default()),
            store: w.stored(),
            clock: Arc::new(ManualClock::at(t(w.clock + 1))),
            breaks_at,
        }
    }

    fn ports_with(&self, journal: Arc<dyn JournalStore>, flags: Arc<dyn FlagStore>) -> Ports {
        Ports::new(
            Arc::new(InMemoryVcs::default()),
            Arc::new(InMemoryDeployer::default()),
            Some(flags),
            Arc::new(Exposure {
                flags: self.flags.clone(),
                breaks_at: self.breaks_at,
            }),
            Arc::new(InMemoryBuilder::new(3, 1, 0)),
            journal,
            self.clock.clone(),
        )
    }

    fn ports(&self) -> Ports {
        self.ports_with(self.store.clone(), self.flags.clone())
    }

    fn roll_out(&self, rollout: &GradualRollout) -> Result<(Driver, FlagRollout), DriveError> {
        roll_out_on(self.ports(), rollout)
    }

    fn flag(&self) -> FlagState {
        block_on(self.flags.get(&"prod".into(), &FLAG.into()))
            .unwrap()
            .0
    }
}

fn roll_out_on(
    ports: Ports,
    rollout: &GradualRollout,
) -> Result<(Driver, FlagRollout), DriveError> {
    block_on(async {
        let mut driver = Driver::resume(ports, "knowngood-driver").await?;
        let done = driver
            .roll_out_flag(rollout, &IdempotencyKey::new("rollout-1"))
            .await?;
        Ok((driver, done))
    })
}

fn rollout() -> GradualRollout {
    GradualRollout::new("prod", SERVICE, FLAG, [5, 25, 100]).unwrap()
}

/// What the driver's ledger knows of the flag in prod.
fn flag_record(driver: &Driver) -> knowngood::FlagRecord {
    driver
        .state()
        .environment(&"prod".into())
        .and_then(|e| e.flag_record(&FLAG.into()))
        .cloned()
        .expect("the flag was set in prod")
}

fn verdicts(driver: &Driver) -> Vec<(String, bool)> {
    driver
        .journal()
        .entries()
        .iter()
        .filter_map(|e| match &e.event.kind {
            EventKind::FlagVerified { state, healthy, .. } => Some((state.to_string(), *healthy)),
            _ => None,
        })
        .collect()
}

#[test]
fn gradual_rollout_every_stage_is_set_measured_and_journaled_up_to_on() {
    let host = Host::new(101);
    let (driver, done) = host.roll_out(&rollout()).unwrap();
    assert!(matches!(done, FlagRollout::Done { .. }), "{done}");
    assert_eq!(host.flag(), FlagState::On);
    assert_eq!(
        verdicts(&driver),
        [
            ("0%".to_owned(), true),
            ("5%".to_owned(), true),
            ("25%".to_owned(), true),
            ("on".to_owned(), true)
        ]
    );
    // Every stage's measurement is its evidence, in the journal.
    let record = flag_record(&driver);
    assert!(record.verdicts.iter().all(|v| v.detail.contains("0.2%")));
    assert_eq!(record.last_good, Some(FlagState::On));
    // Each stage set once, under its own key.
    assert!(host.flags.all_executions().values().all(|n| *n == 1));
    assert_eq!(host.flags.all_executions().len(), 4);
    // Done is done: again under the same key, nothing is set or measured.
    let entries = driver.journal().len();
    let (again, replayed) = host.roll_out(&rollout()).unwrap();
    assert_eq!(replayed, done);
    assert_eq!(again.journal().len(), entries);
}

#[test]
fn gradual_rollout_a_failed_stage_goes_back_to_the_last_good_percentage_not_off() {
    let host = Host::new(25);
    let (driver, halted) = host.roll_out(&rollout()).unwrap();
    let FlagRollout::Halted {
        percent,
        back_to,
        now,
        why,
    } = &halted
    else {
        panic!("{halted}")
    };
    assert_eq!(*percent, 25);
    assert_eq!(*back_to, FlagState::Percentage { percent: 5 });
    assert_eq!(now, back_to);
    assert!(why.contains("7.1%"), "{why}");
    assert_eq!(host.flag(), FlagState::Percentage { percent: 5 });
    assert_eq!(
        verdicts(&driver),
        [
            ("0%".to_owned(), true),
            ("5%".to_owned(), true),
            ("25%".to_owned(), false)
        ]
    );
    let record = flag_record(&driver);
    assert_eq!(record.last_good, Some(FlagState::Percentage { percent: 5 }));
    assert!(halted.to_string().contains("put back to 5%"), "{halted}");
    // Asked again under the same key: the same answer, nothing redone.
    let sets = host.flags.all_executions();
    let (_, again) = host.roll_out(&rollout()).unwrap();
    assert_eq!(again, halted);
    assert_eq!(host.flags.all_executions(), sets);
}

#[test]
fn gradual_rollout_a_failed_dark_launch_goes_back_to_off() {
    let host = Host::new(0);
    let (_, halted) = host.roll_out(&rollout()).unwrap();
    assert!(
        matches!(
            &halted,
            FlagRollout::Halted {
                percent: 0,
                back_to: FlagState::Off,
                ..
            }
        ),
        "{halted}"
    );
    assert_eq!(host.flag(), FlagState::Off);
}

#[test]
fn gradual_rollout_each_stage_is_held_before_it_is_measured() {
    let host = Host::new(101);
    let held = rollout().holding(std::time::Duration::from_secs(600));
    let (driver, first) = host.roll_out(&held).unwrap();
    let FlagRollout::Holding { percent: 0, until } = first else {
        panic!("{first}")
    };
    assert!(verdicts(&driver).is_empty(), "nothing measured while held");
    // Asked too early: still held, nothing measured.
    host.clock.advance(chrono::Duration::minutes(9));
    let (_, early) = host.roll_out(&held).unwrap();
    assert_eq!(early, FlagRollout::Holding { percent: 0, until });
    let mut stages = Vec::new();
    for _ in 0..10 {
        host.clock.advance(chrono::Duration::minutes(10));
        let (_, step) = host.roll_out(&held).unwrap();
        match step {
            FlagRollout::Holding { percent, .. } => stages.push(percent),
            FlagRollout::Done { .. } => break,
            other => panic!("{other}"),
        }
    }
    assert_eq!(stages, [5, 25, 100]);
    assert_eq!(host.flag(), FlagState::On);
}

#[test]
fn gradual_rollout_a_flag_changed_by_hand_between_stages_is_never_written_over() {
    let host = Host::new(101);
    let held = rollout().holding(std::time::Duration::from_secs(600));
    host.roll_out(&held).unwrap();
    host.clock.advance(chrono::Duration::minutes(10));
    let (_, at_five) = host.roll_out(&held).unwrap();
    assert!(matches!(at_five, FlagRollout::Holding { percent: 5, .. }));
    host.clock.advance(chrono::Duration::minutes(10));
    // Someone pulls the kill switch in the flag store itself.
    let (_, revision) = block_on(host.flags.get(&"prod".into(), &FLAG.into())).unwrap();
    block_on(host.flags.set(
        &IdempotencyKey::new("by-hand"),
        &"prod".into(),
        &FLAG.into(),
        &FlagState::Off,
        revision,
    ))
    .unwrap();
    let (_, stopped) = host.roll_out(&held).unwrap();
    // The 5% stage, held long enough, is not measured with the flag off,
    // and nothing is set over the person's decision.
    let FlagRollout::Interrupted {
        percent,
        expected,
        found,
    } = &stopped
    else {
        panic!("{stopped}")
    };
    assert_eq!(*percent, 5);
    assert_eq!(*expected, FlagState::Percentage { percent: 5 });
    assert_eq!(*found, FlagState::Off);
    assert_eq!(host.flag(), FlagState::Off);
}

#[test]
fn gradual_rollout_crash_after_each_journal_write_resumes_to_the_same_end() {
    let reference = Host::new(25);
    let (uninterrupted, end) = reference.roll_out(&rollout()).unwrap();
    let mut crash_points = 0;
    for crash_at in 0.. {
        let host = Host::new(25);
        let crashing = FailingJournal::at(&host.store, crash_at);
        match roll_out_on(host.ports_with(crashing, host.flags.clone()), &rollout()) {
            Err(DriveError::Journal(_)) => crash_points += 1,
            Ok(_) => break,
            Err(other) => panic!("crash point {crash_at}: {other}"),
        }
        host.clock.advance(chrono::Duration::minutes(3));
        let (resumed, again) = host.roll_out(&rollout()).unwrap();
        assert_eq!(again, end, "crash point {crash_at}");
        assert_eq!(host.flag(), FlagState::Percentage { percent: 5 });
        assert_eq!(
            verdicts(&resumed),
            verdicts(&uninterrupted),
            "crash point {crash_at}"
        );
        for (key, n) in host.flags.all_executions() {
            assert_eq!(n, 1, "crash point {crash_at}: {key} set twice");
        }
    }
    // Three stages set and measured, to the failed one, and the put-back.
    assert_eq!(crash_points, 7);
}

#[test]
fn gradual_rollout_needs_a_flag_store_that_serves_percentages() {
    let host = Host::new(101);
    let on_off = Arc::new(OnOff::default());
    let err = roll_out_on(
        host.ports_with(host.store.clone(), on_off.clone()),
        &rollout(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("cannot serve percentages"),
        "{err}"
    );
    assert!(on_off.0.all_executions().is_empty(), "nothing was set");
    // Negative: the same rollout on a store that can goes through.
    assert!(matches!(
        host.roll_out(&rollout()).unwrap().1,
        FlagRollout::Done { .. }
    ));
}

#[test]
fn verdict_needs_evidence_a_healthy_flag_verdict_without_a_measurement_is_refused() {
    let mut w = World::new();
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    let verdict =
        |verdict: Verdict, evidence: Option<&str>, key: &str| Command::RecordFlagVerdict {
            environment: "prod".into(),
            flag: FLAG.into(),
            verdict,
            evidence: evidence.map(str::to_owned),
            by: "probe".into(),
            key: IdempotencyKey::new(key),
        };
    let refusal = w.run(verdict(Verdict::Healthy, None, "m-1")).unwrap_err();
    assert_eq!(refusal.rule(), "verdict-needs-evidence");
    assert!(
        refusal.to_string().contains("needs its evidence"),
        "{refusal}"
    );
    let refusal = w
        .run(verdict(Verdict::Healthy, Some("  "), "m-1"))
        .unwrap_err();
    assert_eq!(refusal.rule(), "verdict-needs-evidence");
    // Positive: measured, it is recorded on the flag's state there, once.
    let entries = w.ok(verdict(Verdict::Healthy, Some("error rate 0.1%"), "m-1"));
    assert_eq!(entries.len(), 1);
    assert!(matches!(
        &entries[0].event.kind,
        EventKind::FlagVerified {
            state: FlagState::Off,
            ..
        }
    ));
    assert!(
        w.ok(verdict(Verdict::Healthy, Some("again"), "m-1"))
            .is_empty()
    );
    // An unhealthy verdict carries its reason, and needs nothing more.
    let unhealthy = Verdict::Unhealthy {
        reason: "error rate 5%".into(),
    };
    assert_eq!(w.ok(verdict(unhealthy, None, "m-2")).len(), 1);
}
