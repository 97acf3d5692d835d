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
        rev25.origin(),
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
    // Named, revision 1 (which failed its verification) is refused too…
    assert_eq!(
        w.rollback("prod", Some(1)).unwrap_err().rule(),
        "rollback-target-known-good"
    );
    // …unless someone says why, which the journal keeps.
    let entries = w
        .run(
            knowngood::Command::rollback_to("prod", SERVICE, Revision(1), "alice", "2 is worse")
                .with_clearance(knowngood::Clearance::unverified_target(
                    "1 failed on a flaky probe; it served a week",
                )),
        )
        .unwrap();
    assert!(entries[0].event.kind.is_exception());
}

#[test]
fn rollback_target_known_good_a_named_revision_must_have_been_verified() {
    let mut w = World::named_targets();
    let before = w.ledger.clone();
    for (revision, says) in [
        (3, "it is failed"),
        (4, "it was never verified known good (it is superseded)"),
    ] {
        let refusal = w.rollback("prod", Some(revision)).unwrap_err();
        assert_eq!(refusal.rule(), "rollback-target-known-good", "{refusal}");
        let text = refusal.to_string();
        assert!(text.contains(says), "{text}");
        assert!(text.contains("Clearance::unverified_target"), "{text}");
    }
    assert_eq!(w.ledger, before, "nothing recorded");
    // Negative: a verified revision is accepted as named, with no
    // exception in the audit trail.
    let entries = w.rollback("prod", Some(2)).unwrap();
    let EventKind::RollbackRequested {
        target,
        unverified_target,
        ..
    } = &entries[0].event.kind
    else {
        panic!("{:?}", entries[0].event.kind)
    };
    assert_eq!(*target, Revision(2));
    assert_eq!(*unverified_target, None);
    assert!(entries.iter().all(|e| !e.event.kind.is_exception()));
}

#[test]
fn rollback_target_known_good_an_override_says_why_and_is_audited() {
    let mut w = World::named_targets();
    let override_to = |revision, reason: &str| {
        knowngood::Command::rollback_to(
            "prod",
            SERVICE,
            Revision(revision),
            "alice",
            "6 corrupts carts",
        )
        .with_clearance(knowngood::Clearance::unverified_target(reason))
    };
    // A blank reason is no reason.
    assert_eq!(
        w.run(override_to(4, "  ")).unwrap_err().rule(),
        "reason-required"
    );
    // An override a verified target does not need is refused.
    assert_eq!(
        w.run(override_to(2, "just in case")).unwrap_err().rule(),
        "needless-target-override"
    );
    // As does one for the core's own choice, always verified.
    let mut unnamed = knowngood::Command::rollback("prod", SERVICE, "alice", "6 corrupts carts");
    unnamed = unnamed.with_clearance(knowngood::Clearance::unverified_target("why not"));
    assert_eq!(
        w.run(unnamed).unwrap_err().rule(),
        "break-glass-not-applicable"
    );
    let entries = w
        .run(override_to(
            4,
            "4 ran the canary for an hour without errors",
        ))
        .unwrap();
    let rollback = &entries[0].event.kind;
    let EventKind::RollbackRequested {
        unverified_target, ..
    } = rollback
    else {
        panic!("{rollback:?}")
    };
    assert_eq!(
        unverified_target.as_deref(),
        Some("4 ran the canary for an hour without errors")
    );
    assert!(rollback.is_exception() && rollback.is_audited());
    assert!(
        rollback.to_string().contains("UNVERIFIED TARGET"),
        "{rollback}"
    );
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
