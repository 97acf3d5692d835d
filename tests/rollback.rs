//! Rollback: a new revision deploying an older release, with a
//! `rolled_back_from` link; default target = last verified known good.

mod common;

use common::{SERVICE, World, release_id};
use knowngood::{
    DeploymentOrigin, DeploymentStatus, EventKind, Rejection, Revision, TargetProblem,
};

fn history(w: &World) -> &knowngood::RolloutHistory {
    w.ledger
        .state()
        .history(&"prod".into(), &SERVICE.into())
        .unwrap()
}

/// Production history with revisions 1..=24, each a new build, all verified
/// healthy except 24.
fn twenty_four_revisions() -> World {
    let mut w = World::new();
    for n in 1..=24 {
        let release = w.ready_for_prod(n);
        w.deploy("prod", &release, n != 24);
    }
    assert_eq!(history(&w).deployments().len(), 24);
    w
}

#[test]
fn rollback_to_revision_23_is_revision_25_running_23s_release() {
    let mut w = twenty_four_revisions();
    let entries = w.rollback("prod", Some(23)).unwrap();
    let EventKind::RollbackRequested {
        slot,
        release,
        target,
        rolled_back_from,
        ..
    } = &entries[0].event.kind
    else {
        panic!("{entries:?}")
    };
    assert_eq!(slot.revision, Revision(25));
    assert_eq!(*release, release_id(23));
    assert_eq!(*target, Revision(23));
    assert_eq!(*rolled_back_from, Revision(24));

    let back = slot.clone();
    w.start(&back);
    let done = w.ok(knowngood::Command::CompleteRollout { slot: back.clone() });
    assert_eq!(
        common::type_names(&done),
        ["rollout_completed", "revision_rolled_back"]
    );
    w.verify(&back, true);

    let h = history(&w);
    let rev25 = h.get(Revision(25)).unwrap();
    assert_eq!(rev25.release, release_id(23));
    assert_eq!(rev25.rolled_back_from(), Some(Revision(24)));
    assert_eq!(rev25.status, DeploymentStatus::KnownGood);
    assert!(matches!(
        rev25.origin,
        DeploymentOrigin::Rollback {
            target: Revision(23),
            ..
        }
    ));
    assert_eq!(
        h.get(Revision(24)).unwrap().status,
        DeploymentStatus::RolledBack
    );
    // History is never rewritten: 23 keeps its own record.
    assert_eq!(
        h.get(Revision(23)).unwrap().status,
        DeploymentStatus::Superseded
    );
    assert_eq!(h.current().unwrap().revision, Revision(25));
}

#[test]
fn default_rollback_target_is_the_last_verified_known_good_revision() {
    let mut w = twenty_four_revisions();
    let entries = w.rollback("prod", None).unwrap();
    let EventKind::RollbackRequested { target, .. } = &entries[0].event.kind else {
        panic!()
    };
    assert_eq!(*target, Revision(23));
}

#[test]
fn default_rollback_target_skips_a_failed_and_an_unverified_revision() {
    let mut w = World::new();
    let good = w.ready_for_prod(1);
    w.deploy("prod", &good, true); // 1: known good
    let unverified = w.ready_for_prod(2);
    w.roll_out("prod", &unverified); // 2: completed, never verified
    let failed = w.ready_for_prod(3);
    w.deploy("prod", &failed, false); // 3: failed verification (supersedes 2)
    let bad = w.ready_for_prod(4);
    w.deploy("prod", &bad, true); // 4: serving, found bad later

    let h = history(&w);
    assert_eq!(
        h.get(Revision(2)).unwrap().status,
        DeploymentStatus::Superseded
    );
    assert!(!h.get(Revision(2)).unwrap().was_verified());
    assert_eq!(h.get(Revision(3)).unwrap().status, DeploymentStatus::Failed);

    let entries = w.rollback("prod", None).unwrap();
    let EventKind::RollbackRequested {
        target, release, ..
    } = &entries[0].event.kind
    else {
        panic!()
    };
    assert_eq!((*target, release.clone()), (Revision(1), release_id(1)));
}

#[test]
fn default_rollback_target_is_absent_when_nothing_earlier_was_verified() {
    let mut w = World::new();
    let first = w.ready_for_prod(1);
    w.deploy("prod", &first, false);
    let second = w.ready_for_prod(2);
    w.deploy("prod", &second, true);
    let before = w.ledger.clone();
    let refusal = w.rollback("prod", None).unwrap_err();
    assert_eq!(
        refusal,
        Rejection::NoKnownGoodTarget {
            environment: "prod".into(),
            service: SERVICE.into(),
            current: Revision(2),
            skipped: Vec::new(),
            why: "none of the 1 revision(s) of `payments` in `prod` before revision 2 was verified known good with another release".into(),
        }
    );
    assert!(
        refusal
            .to_string()
            .contains("name a target revision explicitly")
    );
    assert_eq!(w.ledger, before);
    // An explicit target is still accepted: revision 1 did serve.
    assert!(w.rollback("prod", Some(1)).is_ok());
}

#[test]
fn explicit_rollback_target_must_have_served_and_differ_from_the_current_release() {
    let mut w = World::new();
    let a = w.ready_for_prod(1);
    w.deploy("prod", &a, true); // 1
    let b = w.ready_for_prod(2);
    let aborted = w.request("prod", &b); // 2: aborted, never served
    w.ok(knowngood::Command::AbortRollout {
        slot: aborted,
        by: "alice".into(),
        reason: "wrong config".into(),
    });
    w.deploy("prod", &b, true); // 3: serving build 2
    w.deploy("prod", &a, true); // 4: serving build 1 again

    let problem = |w: &mut World, to| match w.rollback("prod", Some(to)).unwrap_err() {
        Rejection::UnusableRollbackTarget { problem, .. } => problem,
        other => panic!("{other}"),
    };
    assert_eq!(problem(&mut w, 4), TargetProblem::IsCurrent);
    assert_eq!(
        problem(&mut w, 1),
        TargetProblem::SameRelease(release_id(1))
    );
    assert_eq!(
        problem(&mut w, 2),
        TargetProblem::NeverServed(DeploymentStatus::Aborted)
    );
    assert_eq!(
        w.rollback("prod", Some(9)).unwrap_err().rule(),
        "unknown-revision"
    );
    assert!(w.rollback("prod", Some(3)).is_ok());
}

#[test]
fn nothing_to_roll_back_without_a_completed_rollout() {
    let mut w = World::new();
    assert_eq!(
        w.rollback("prod", None).unwrap_err().rule(),
        "nothing-to-roll-back"
    );
    let a = w.ready_for_prod(1);
    let slot = w.request("prod", &a);
    w.start(&slot);
    // Still nothing has served in prod: the in-flight rollout is aborted, not rolled back.
    assert_eq!(
        w.rollback("prod", None).unwrap_err().rule(),
        "nothing-to-roll-back"
    );
}

#[test]
fn a_completed_rollback_serves_the_target_release() {
    let mut w = twenty_four_revisions();
    let entries = w.rollback("prod", None).unwrap();
    let back = common::slot_of(&entries[0]);
    w.start(&back);
    w.complete(&back);
    assert_eq!(
        w.ledger
            .state()
            .current_release(&"prod".into(), &SERVICE.into())
            .unwrap()
            .id,
        release_id(23)
    );
}
