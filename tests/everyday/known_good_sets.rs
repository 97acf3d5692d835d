//! Last-known-good sets: each time an environment is verified healthy as
//! a whole, what it ran (each service's release and revision, the flags,
//! the schema versions) is kept, numbered; the state says how the
//! environment differs now from any of them.

use crate::common::World;
use knowngood::{Command, FlagState, SetDifference};

fn prod(w: &World) -> &[knowngood::KnownGoodSet] {
    w.ledger.state().known_good_sets(&"prod".into())
}

#[test]
fn known_good_sets_are_kept_each_time_the_environment_is_verified_healthy_as_a_whole() {
    let mut w = World::new();
    let one = w.ready_for_prod(1);
    w.deploy("prod", &one, true);
    assert_eq!(prod(&w).len(), 1);
    let first = &prod(&w)[0];
    assert_eq!(first.number, 1);
    assert_eq!(first.services[&crate::common::SERVICE.into()].0, one);
    // A flag turned on, then build 2 verified: set 2 holds both.
    w.ok(Command::SetFlag {
        environment: "prod".into(),
        flag: "new-checkout".into(),
        state: FlagState::On,
        by: "bob".into(),
        clearance: knowngood::Clearance::none(),
    });
    let two = w.ready_for_prod(2);
    w.deploy("prod", &two, true);
    let sets = prod(&w);
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[1].number, 2);
    assert_eq!(sets[1].flags[&"new-checkout".into()], FlagState::On);
    // How prod differs now from set 1: the release and the flag.
    let differences = w
        .ledger
        .state()
        .differences_from_set(&"prod".into(), 1)
        .unwrap();
    assert_eq!(differences.len(), 2, "{differences:?}");
    assert!(
        matches!(&differences[0], SetDifference::Service { then: Some(r), now: Some(n), .. } if *r == one && *n == two)
    );
    assert!(matches!(
        &differences[1],
        SetDifference::Flag {
            then: FlagState::Off,
            now: FlagState::On,
            ..
        }
    ));
    assert_eq!(
        differences[1].to_string(),
        "flag `new-checkout` is on (then off)"
    );
    // From the newest set: no difference.
    assert_eq!(
        w.ledger.state().differences_from_set(&"prod".into(), 2),
        Some(Vec::new())
    );
    assert_eq!(
        w.ledger.state().differences_from_set(&"prod".into(), 9),
        None
    );
}

#[test]
fn known_good_sets_none_for_a_failed_verification_nor_the_same_set_twice() {
    let mut w = World::new();
    let one = w.ready_for_prod(1);
    w.deploy("prod", &one, true);
    // Measured healthy again with nothing changed: not kept twice.
    w.ok(Command::RecordFlagVerdict {
        environment: "prod".into(),
        flag: "new-checkout".into(),
        verdict: knowngood::Verdict::Healthy,
        evidence: Some("error rate 0.1%".into()),
        by: "probe".into(),
        key: "measure-1".into(),
    });
    assert_eq!(prod(&w).len(), 1);
    // Build 2 fails its verification: no set.
    let two = w.ready_for_prod(2);
    w.deploy("prod", &two, false);
    assert_eq!(prod(&w).len(), 1);
    // Rolled back to build 1 and verified: the same release at a new
    // revision, a set of its own.
    let entries = w.rollback("prod", None).unwrap();
    let slot = crate::common::slot_of(&entries[0]);
    w.start(&slot);
    w.complete(&slot);
    w.verify(&slot, true);
    let sets = prod(&w);
    assert_eq!(sets.len(), 2, "{sets:?}");
    // The same release, at another revision: a set of its own.
    assert_eq!(sets[1].services[&crate::common::SERVICE.into()].0, one);
    assert_ne!(
        sets[1].services[&crate::common::SERVICE.into()].1,
        sets[0].services[&crate::common::SERVICE.into()].1
    );
}

#[test]
fn known_good_sets_the_newest_are_kept_and_numbers_never_reused() {
    let mut w = World::new();
    for n in 1..=40 {
        let r = w.ready_for_prod(n);
        w.deploy("prod", &r, true);
    }
    let sets = prod(&w);
    assert_eq!(sets.len(), knowngood::KNOWN_GOOD_SETS_KEPT);
    assert_eq!(sets[0].number, 9);
    assert_eq!(sets.last().unwrap().number, 40);
    // Rebuilt from the journal alone: the same sets.
    let replayed = w.ledger.journal().replay().unwrap();
    assert_eq!(replayed.known_good_sets(&"prod".into()), sets);
}

/// Build 1 verified in prod (set 1); the flag turned on and build 2
/// verified (set 2); `INC-1` declared on PR-2's deployment.
fn after_two_sets() -> World {
    let mut w = World::new();
    w.adopt(crate::common::timed_policy(knowngood::Policy::default()));
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    w.ok(Command::SetFlag {
        environment: "prod".into(),
        flag: "new-checkout".into(),
        state: FlagState::On,
        by: "bob".into(),
        clearance: knowngood::Clearance::none(),
    });
    w.merge("PR-2", "b2", Some("a1"));
    let two = w.build_at(2, "b2");
    w.through_qa(&two);
    w.deploy("prod", &two, true);
    w.declare(crate::common::change_cause("PR-2"));
    w
}

fn plan_returning(w: &World, number: u32) -> knowngood::RecoveryPlan {
    knowngood::plan_for(
        w.ledger.state(),
        &"INC-1".into(),
        crate::common::t(w.clock),
        &knowngood::Capabilities::all(),
        &knowngood::PlanRequest::by("alice").return_to_set(number),
    )
    .unwrap()
}

#[test]
fn known_good_set_return_the_environment_to_a_set_as_a_plan() {
    let mut w = after_two_sets();
    let plan = plan_returning(&w, 1);
    let option = plan.option(knowngood::Strategy::Rollback).unwrap();
    assert!(option.applicable, "{}", option.why_not());
    let steps: Vec<String> = option.steps.iter().map(|s| s.action.to_string()).collect();
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert!(steps[0].contains("back to revision 1"), "{steps:?}");
    assert!(
        steps[1].contains("set flag `new-checkout` to off"),
        "{steps:?}"
    );
    assert!(steps[2].starts_with("verify"), "{steps:?}");
    // Chosen and carried out: prod runs set 1 again.
    let command = plan.choose(knowngood::Strategy::Rollback, "alice").unwrap();
    w.ok(command);
    let store = w.stored();
    let clock = std::sync::Arc::new(knowngood::memory::ManualClock::at(crate::common::t(
        w.clock + 1,
    )));
    let flags = std::sync::Arc::new(knowngood::memory::InMemoryFlagStore::default());
    knowngood::memory::block_on(knowngood::port::FlagStore::set(
        flags.as_ref(),
        &"seed".into(),
        &"prod".into(),
        &"new-checkout".into(),
        &FlagState::On,
        0,
    ))
    .unwrap();
    let mut ports = crate::common::in_memory_ports(store, clock);
    ports.flags = Some(flags);
    let state = knowngood::memory::block_on(async {
        let mut driver = knowngood::Driver::resume(ports, "knowngood-driver")
            .await
            .unwrap();
        let report = driver.drive(&"INC-1".into()).await.unwrap();
        assert!(
            matches!(report, knowngood::DriveReport::Done { .. }),
            "{report}"
        );
        driver.state().clone()
    });
    assert_eq!(
        state.differences_from_set(&"prod".into(), 1),
        Some(Vec::new())
    );
}

#[test]
fn known_good_set_a_set_not_kept_or_already_running_is_no_plan() {
    let w = after_two_sets();
    let plan = plan_returning(&w, 7);
    let option = plan.option(knowngood::Strategy::Rollback).unwrap();
    assert!(!option.applicable);
    assert_eq!(option.blocked_by(), Some("known-good-set"));
    assert!(
        option
            .why_not()
            .contains("keeps no known-good set 7 (it keeps 1, 2)"),
        "{}",
        option.why_not()
    );
    let plan = plan_returning(&w, 2);
    let option = plan.option(knowngood::Strategy::Rollback).unwrap();
    assert!(
        option.why_not().contains("runs known-good set 2 already"),
        "{}",
        option.why_not()
    );
}

#[test]
fn known_good_set_a_contract_migration_in_the_way_is_the_cores_refusal() {
    let mut w = World::new();
    w.adopt(crate::common::timed_policy(knowngood::Policy::default()));
    let migrate = |w: &mut World, id: &str, phase, from, to| {
        w.ok(Command::ApplyMigration {
            environment: "prod".into(),
            service: crate::common::SERVICE.into(),
            migration: knowngood::Migration::new(id, phase, from, to),
            by: "alice".into(),
        });
    };
    migrate(&mut w, "m1", knowngood::MigrationPhase::Expand, 0, 1);
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    w.merge("PR-2", "b2", Some("a1"));
    let two = w.build_at(2, "b2");
    w.through_qa(&two);
    w.deploy("prod", &two, true);
    // Set 1 ran on schema 1; a contract migration takes prod to 2.
    assert_eq!(prod(&w)[0].schemas[&crate::common::SERVICE.into()], 1);
    migrate(&mut w, "m2", knowngood::MigrationPhase::Contract, 1, 2);
    w.declare(crate::common::change_cause("PR-2"));
    let plan = plan_returning(&w, 1);
    let option = plan.option(knowngood::Strategy::Rollback).unwrap();
    assert!(
        option
            .steps
            .iter()
            .any(|s| s.action.to_string().contains("down to schema 1")),
        "{:?}",
        option.steps
    );
    assert!(!option.applicable);
    let blocker = option.blocked_by().unwrap_or_default().to_owned();
    assert_ne!(blocker, "known-good-set");
    assert!(
        option.why_not().contains("m2"),
        "{blocker}: {}",
        option.why_not()
    );
}

#[test]
fn known_good_set_an_expired_artifact_in_the_way_is_the_cores_refusal() {
    let mut w = after_two_sets();
    w.ok(Command::ExpireArtifact {
        digest: crate::common::digest(1),
        by: "registry".into(),
    });
    let plan = plan_returning(&w, 1);
    let option = plan.option(knowngood::Strategy::Rollback).unwrap();
    assert!(!option.applicable);
    assert_ne!(option.blocked_by(), Some("known-good-set"));
    assert!(option.why_not().contains("expired"), "{}", option.why_not());
}
