//! Migrations driven through the host's migrator: expand, a data migration
//! moved in paced batches (each recorded, resumable from the last recorded
//! cursor, after a crash at any journal write), contract; the core judges
//! before anything runs; a plan's down-migration is run by the driver when
//! the migrator can go down.

mod common;

use std::sync::Arc;

use common::misbehaving::FailingJournal;
use common::{SERVICE, World, t};
use knowngood::driver::{DriveError, DriveReport, Driver, Migrated, MigrationPace};
use knowngood::memory::{InMemoryJournalStore, InMemoryMigrator, ManualClock, block_on};
use knowngood::migration::SchemaChangePlan;
use knowngood::port::{JournalStore, Ports};
use knowngood::recovery::IdempotencyKey;
use knowngood::{Command, EventKind, Migration, MigrationPhase as P, SchemaRange, Strategy};

struct Host {
    migrator: Arc<InMemoryMigrator>,
    store: Arc<InMemoryJournalStore>,
    clock: Arc<ManualClock>,
    plan: SchemaChangePlan,
}

/// `migration` applied in prod by a person.
fn migrated(w: &mut World, migration: Migration) {
    w.ok(Command::ApplyMigration {
        environment: "prod".into(),
        service: SERVICE.into(),
        migration,
        by: "dba".into(),
    });
}

/// Schema 4 in prod, build 2 (4..=5) serving and verified there: ready
/// to expand to 5, move 2,500 rows, and (with build 3, 5..=6) contract.
fn expandable() -> World {
    let mut w = World::new();
    migrated(&mut w, Migration::new("baseline", P::Expand, 3, 4));
    let two = w.register_on_schema(2, SchemaRange::new(4, 5));
    w.through_qa(&two);
    w.deploy("prod", &two, true);
    w
}

impl Host {
    fn of(w: &World) -> Self {
        Self {
            migrator: Arc::new(InMemoryMigrator::default().rows("split-address-migrate", 2500)),
            store: w.stored(),
            clock: Arc::new(ManualClock::at(t(w.clock + 1))),
            plan: SchemaChangePlan::new(SERVICE, "split-address", 4).unwrap(),
        }
    }

    fn ports_on(&self, journal: Arc<dyn JournalStore>) -> Ports {
        common::in_memory_ports(journal, self.clock.clone()).with_migrator(self.migrator.clone())
    }

    fn migrate_on(
        &self,
        journal: Arc<dyn JournalStore>,
        step: usize,
        pace: MigrationPace,
    ) -> Result<(Driver, Migrated), DriveError> {
        let migration = self.plan.steps[step].migration.clone();
        block_on(async {
            let mut driver = Driver::resume(self.ports_on(journal), "knowngood-driver").await?;
            let done = driver
                .migrate(
                    (&"prod".into(), &SERVICE.into()),
                    &migration,
                    &IdempotencyKey::new(format!("schema/{}", migration.id)),
                    pace,
                )
                .await?;
            Ok((driver, done))
        })
    }

    fn migrate(&self, step: usize, pace: MigrationPace) -> Result<(Driver, Migrated), DriveError> {
        self.migrate_on(self.store.clone(), step, pace)
    }
}

fn batches(driver: &Driver) -> Vec<u64> {
    driver
        .journal()
        .entries()
        .iter()
        .filter_map(|e| match &e.event.kind {
            EventKind::MigrationProgressed { moved, .. } => Some(*moved),
            _ => None,
        })
        .collect()
}

fn pace(batch: u64) -> MigrationPace {
    MigrationPace::new(batch, std::time::Duration::ZERO)
}

#[test]
fn migration_driven_expand_then_data_in_batches_each_recorded() {
    let host = Host::of(&expandable());
    let (_, expanded) = host.migrate(0, pace(1000)).unwrap();
    assert_eq!(
        expanded,
        Migrated::Done {
            migration: "split-address-expand".into(),
            version: 5,
            moved: 0
        }
    );
    assert_eq!(
        host.migrator.version(&"prod".into(), &SERVICE.into()),
        Some(5)
    );
    let (driver, moved) = host.migrate(1, pace(1000)).unwrap();
    assert!(
        matches!(
            moved,
            Migrated::Done {
                moved: 2500,
                version: 5,
                ..
            }
        ),
        "{moved}"
    );
    assert_eq!(batches(&driver), [1000, 1000, 500]);
    let schema = driver
        .state()
        .environment(&"prod".into())
        .unwrap()
        .schema(&SERVICE.into())
        .unwrap();
    assert!(schema.moving.is_empty());
    assert_eq!(schema.applied.last().unwrap().moved, Some(2500));
    // Once recorded, the same call runs nothing and says so again.
    let entries = driver.journal().len();
    let (again, replayed) = host.migrate(1, pace(1000)).unwrap();
    assert_eq!(replayed, moved);
    assert_eq!(again.journal().len(), entries);
    assert!(host.migrator.all_executions().values().all(|n| *n == 1));
}

#[test]
fn migration_driven_data_batches_are_paced_and_resume_where_they_stopped() {
    let host = Host::of(&expandable());
    host.migrate(0, pace(1000)).unwrap();
    let paced = MigrationPace::new(1000, std::time::Duration::from_secs(60));
    let (_, first) = host.migrate(1, paced).unwrap();
    let Migrated::Pacing {
        moved: 1000, until, ..
    } = first
    else {
        panic!("{first}")
    };
    // Too early: nothing moves.
    let (driver, early) = host.migrate(1, paced).unwrap();
    assert_eq!(early, first);
    assert_eq!(batches(&driver), [1000]);
    assert!(until > t(0));
    host.clock.advance(chrono::Duration::seconds(60));
    let (_, second) = host.migrate(1, paced).unwrap();
    assert!(
        matches!(second, Migrated::Pacing { moved: 2000, .. }),
        "{second}"
    );
    host.clock.advance(chrono::Duration::seconds(60));
    let (driver, done) = host.migrate(1, paced).unwrap();
    assert!(matches!(done, Migrated::Done { moved: 2500, .. }), "{done}");
    assert_eq!(batches(&driver), [1000, 1000, 500]);
    assert_eq!(
        host.migrator.moved(
            &"prod".into(),
            &SERVICE.into(),
            &"split-address-migrate".into()
        ),
        2500
    );
}

#[test]
fn migration_driven_crash_after_each_journal_write_resumes_without_moving_twice() {
    let reference = Host::of(&expandable());
    reference.migrate(0, pace(1000)).unwrap();
    let (uninterrupted, end) = reference.migrate(1, pace(700)).unwrap();
    let mut crash_points = 0;
    for crash_at in 0.. {
        let host = Host::of(&expandable());
        host.migrate(0, pace(1000)).unwrap();
        let crashing = FailingJournal::at(&host.store, crash_at);
        match host.migrate_on(crashing, 1, pace(700)) {
            Err(DriveError::Journal(_)) => crash_points += 1,
            Ok(_) => break,
            Err(other) => panic!("crash point {crash_at}: {other}"),
        }
        host.clock.advance(chrono::Duration::minutes(5));
        let (resumed, again) = host.migrate(1, pace(700)).unwrap();
        assert_eq!(again, end, "crash point {crash_at}");
        assert_eq!(
            batches(&resumed),
            batches(&uninterrupted),
            "crash point {crash_at}"
        );
        assert_eq!(
            host.migrator.moved(
                &"prod".into(),
                &SERVICE.into(),
                &"split-address-migrate".into()
            ),
            2500,
            "crash point {crash_at}"
        );
        for (key, n) in host.migrator.all_executions() {
            assert_eq!(n, 1, "crash point {crash_at}: {key} ran twice");
        }
    }
    // Four batches (700, 700, 700, 400) recorded, then the migration.
    assert_eq!(crash_points, 5);
}

#[test]
fn migration_driven_the_core_judges_before_anything_runs() {
    // Build 3 (5..=6) is still verifying in prod: the data must wait.
    let mut w = expandable();
    w.ok(Command::ApplyMigration {
        environment: "prod".into(),
        service: SERVICE.into(),
        migration: SchemaChangePlan::new(SERVICE, "split-address", 4)
            .unwrap()
            .steps[0]
            .migration
            .clone(),
        by: "dba".into(),
    });
    let three = w.register_on_schema(3, SchemaRange::new(5, 6));
    w.through_qa(&three);
    w.roll_out("prod", &three);
    let host = Host::of(&w);
    let err = host.migrate(1, pace(1000)).unwrap_err();
    let DriveError::Refused(refusal) = &err else {
        panic!("{err}")
    };
    assert_eq!(refusal.rule(), "migration-before-verification");
    assert!(host.migrator.all_executions().is_empty(), "nothing ran");
    // The contract too (and it is irreversible).
    let err = host.migrate(2, pace(1000)).unwrap_err();
    assert!(matches!(err, DriveError::Refused(_)), "{err}");
    assert!(host.migrator.all_executions().is_empty());
}

#[test]
fn migration_driven_needs_a_migrator() {
    let w = expandable();
    let host = Host::of(&w);
    let ports = common::in_memory_ports(host.store.clone(), host.clock.clone());
    let err = block_on(async {
        let mut driver = Driver::resume(ports, "bot").await?;
        driver
            .migrate(
                (&"prod".into(), &SERVICE.into()),
                &host.plan.steps[0].migration,
                &IdempotencyKey::new("m"),
                MigrationPace::default(),
            )
            .await
    })
    .unwrap_err();
    assert!(err.to_string().contains("no migrator"), "{err}");
}

#[test]
fn data_migration_in_batches_only_a_data_migration_not_complete_takes_batches() {
    let mut w = expandable();
    let plan = SchemaChangePlan::new(SERVICE, "split-address", 4).unwrap();
    let batch = |m: &Migration, key: &str| Command::RecordMigrationProgress {
        environment: "prod".into(),
        service: SERVICE.into(),
        migration: m.clone(),
        cursor: "100".into(),
        moved: 100,
        done: false,
        by: "bot".into(),
        key: IdempotencyKey::new(key),
    };
    // An expand runs whole.
    let refusal = w.run(batch(&plan.steps[0].migration, "b-1")).unwrap_err();
    assert_eq!(refusal.rule(), "data-migration-in-batches");
    assert!(refusal.to_string().contains("runs whole"), "{refusal}");
    // Before the expand, the data migration is out of sequence.
    let refusal = w.run(batch(&plan.steps[1].migration, "b-1")).unwrap_err();
    assert_eq!(refusal.rule(), "migration-out-of-sequence");
    w.ok(Command::ApplyMigration {
        environment: "prod".into(),
        service: SERVICE.into(),
        migration: plan.steps[0].migration.clone(),
        by: "dba".into(),
    });
    // Positive: a batch is recorded, once per key.
    assert_eq!(w.ok(batch(&plan.steps[1].migration, "b-1")).len(), 1);
    assert!(w.ok(batch(&plan.steps[1].migration, "b-1")).is_empty());
    assert_eq!(w.ok(batch(&plan.steps[1].migration, "b-2")).len(), 1);
    let progress = w
        .ledger
        .state()
        .environment(&"prod".into())
        .unwrap()
        .schema(&SERVICE.into())
        .unwrap()
        .moving[&"split-address-migrate".into()]
        .clone();
    assert_eq!((progress.moved, progress.batches), (200, 2));
    // Complete: no more batches.
    w.ok(Command::ApplyMigration {
        environment: "prod".into(),
        service: SERVICE.into(),
        migration: plan.steps[1].migration.clone(),
        by: "dba".into(),
    });
    let refusal = w.run(batch(&plan.steps[1].migration, "b-3")).unwrap_err();
    assert_eq!(refusal.rule(), "data-migration-in-batches");
    assert!(refusal.to_string().contains("complete"), "{refusal}");
}

/// Schema 4 with build 1 (4..=4) verified in prod; build 2 (4..=5) then
/// verified, the schema expanded to 5; build 2 is the incident's suspect.
fn rollback_needs_down_migration() -> World {
    let mut w = World::new();
    migrated(&mut w, Migration::new("baseline", P::Expand, 3, 4));
    let one = w.register_on_schema(1, SchemaRange::new(4, 4));
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    let two = w.register_on_schema(2, SchemaRange::new(4, 5));
    w.through_qa(&two);
    let slot = w.deploy("prod", &two, true);
    migrated(&mut w, Migration::new("add-column", P::Expand, 4, 5));
    w.declare(knowngood::SuspectedCause::Deployment { slot });
    w.choose(Strategy::Rollback);
    w
}

#[test]
fn migration_driven_a_plans_down_migration_is_run_by_the_driver_with_a_migrator() {
    let w = rollback_needs_down_migration();
    let host = Host::of(&w);
    let (driver, report) = block_on(async {
        let mut driver = Driver::resume(host.ports_on(host.store.clone()), "knowngood-driver")
            .await
            .unwrap();
        let report = driver.drive(&"INC-1".into()).await.unwrap();
        (driver, report)
    });
    assert!(matches!(report, DriveReport::Done { .. }), "{report}");
    let state = driver.state();
    let schema = state
        .environment(&"prod".into())
        .unwrap()
        .schema(&SERVICE.into())
        .unwrap();
    assert_eq!(schema.version, 4);
    assert_eq!(
        host.migrator.version(&"prod".into(), &SERVICE.into()),
        Some(4)
    );
    assert_eq!(host.migrator.all_executions().len(), 1);
    // Negative: without a migrator, the same step waits for a person.
    let host = Host::of(&w);
    let ports = common::in_memory_ports(host.store.clone(), host.clock.clone());
    let report = block_on(async {
        let mut driver = Driver::resume(ports, "knowngood-driver").await.unwrap();
        driver.drive(&"INC-1".into()).await.unwrap()
    });
    let DriveReport::Paused { instruction, .. } = report else {
        panic!("{report}")
    };
    assert!(instruction.contains("down to 4"), "{instruction}");
}
