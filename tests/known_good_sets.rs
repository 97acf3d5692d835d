//! Last-known-good sets: each time an environment is verified healthy as
//! a whole, what it ran (each service's release and revision, the flags,
//! the schema versions) is kept, numbered; the state says how the
//! environment differs now from any of them.

mod common;

use common::World;
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
    assert_eq!(first.services[&common::SERVICE.into()].0, one);
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
    let slot = common::slot_of(&entries[0]);
    w.start(&slot);
    w.complete(&slot);
    w.verify(&slot, true);
    let sets = prod(&w);
    assert_eq!(sets.len(), 2, "{sets:?}");
    // The same release, at another revision: a set of its own.
    assert_eq!(sets[1].services[&common::SERVICE.into()].0, one);
    assert_ne!(
        sets[1].services[&common::SERVICE.into()].1,
        sets[0].services[&common::SERVICE.into()].1
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
