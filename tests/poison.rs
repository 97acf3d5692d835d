//! Poisoned changes, revert pairs, neutralisation by flag or fix, and drift.

mod common;

use common::{SERVICE, World, release_id};
use knowngood::{Command, FlagState, Rejection, Revision};

fn deploy_cmd(n: u64) -> Command {
    Command::deploy("prod", release_id(n), "deploy-bot")
}

/// a1 (PR-1, build 1, good in prod) ← 998b (PR-2, build 2, breaks prod) ←
/// e5 (PR-3, unrelated). Build 2 failed in prod, the line stopped, PR-2 is
/// poisoned and a recovery plan is authorized.
fn broken_by_998b() -> World {
    let mut w = World::new();
    w.merge("PR-1", "a1", None);
    let good = w.build_at(1, "a1");
    w.through_qa(&good);
    w.deploy("prod", &good, true);
    w.merge("PR-2", "998b", Some("a1"));
    let bad = w.build_at(2, "998b");
    w.through_qa(&bad);
    w.deploy("prod", &bad, false); // stops the line, authorizes the test plan
    w.merge("PR-3", "e5", Some("998b"));
    w.ok(Command::PoisonChange {
        change: "PR-2".into(),
        by: "alice".into(),
        reason: "checkout errors".into(),
    });
    w
}

#[test]
fn forward_only_scenario_head_refused_until_the_revert_is_merged_then_drift_clears() {
    let mut w = broken_by_998b();
    let entries = w.rollback("prod", None).unwrap();
    let back = common::slot_of(&entries[0]);
    w.start(&back);
    w.complete(&back);
    w.verify(&back, true);

    // Drift: production lacks 998b and e5 (PR-2, PR-3) from main.
    let drift = w
        .ledger
        .state()
        .drift(&"prod".into(), &SERVICE.into())
        .unwrap();
    assert_eq!(drift.running, release_id(1));
    assert_eq!(drift.rolled_back_from, Some(Revision(2)));
    assert_eq!(drift.missing_commits, vec!["998b".into(), "e5".into()]);
    assert_eq!(drift.missing_changes, vec!["PR-2".into(), "PR-3".into()]);
    assert!(!drift.is_clear());

    // Head (e5) contains 998b: refused for prod.
    let head = w.build_at(3, "e5");
    w.through_qa(&head);
    let before = w.ledger.clone();
    assert_eq!(
        w.run(deploy_cmd(3)).unwrap_err(),
        Rejection::PoisonedRelease {
            environment: "prod".into(),
            release: release_id(3),
            change: "PR-2".into()
        }
    );
    assert_eq!(w.ledger, before);
    // The gate stays closed while prod runs the rollback.
    assert_eq!(
        w.run(Command::ReopenGate {
            environment: "prod".into(),
            by: "alice".into(),
            reason: "done?".into()
        })
        .unwrap_err()
        .rule(),
        "gate-must-stay-closed"
    );

    // The revert dd3a of PR-2 is merged; the release containing both goes.
    w.merge_change("PR-4", "dd3a", Some("e5"), |c| c.reverting("PR-2"));
    let fixed = w.build_at(4, "dd3a");
    w.through_qa(&fixed);
    let slot = common::slot_of(&w.ok(deploy_cmd(4))[0]);
    w.start(&slot);
    w.complete(&slot);
    w.verify(&slot, true);
    let drift = w
        .ledger
        .state()
        .drift(&"prod".into(), &SERVICE.into())
        .unwrap();
    assert!(drift.is_clear(), "{drift:?}");
    w.ok(Command::ReopenGate {
        environment: "prod".into(),
        by: "alice".into(),
        reason: "PR-2 reverted".into(),
    });
    assert!(w.gate("prod").is_none());
}

#[test]
fn revert_pairs_travel_together_a_batch_without_the_revert_is_refused() {
    let mut w = broken_by_998b();
    // The revert lands on main, but build 3 was cut from e5, before it.
    w.merge_change("PR-4", "dd3a", Some("e5"), |c| c.reverting("PR-2"));
    let batch_without_revert = w.build_at(3, "e5");
    w.through_qa(&batch_without_revert);
    assert_eq!(w.run(deploy_cmd(3)).unwrap_err().rule(), "poisoned-release");
    // A batch with both the bad commit and its revert is fine.
    let batch_with_both = w.build_at(4, "dd3a");
    w.through_qa(&batch_with_both);
    assert!(w.run(deploy_cmd(4)).is_ok());
}

#[test]
fn poisoned_change_behind_a_flag_is_neutralised_when_the_flag_is_off_there() {
    let mut w = World::new();
    w.merge("PR-1", "a1", None);
    w.merge_change("PR-2", "f1", Some("a1"), |c| c.behind_flag("new-checkout"));
    w.ok(Command::SetFlag {
        environment: "prod".into(),
        flag: "new-checkout".into(),
        state: FlagState::Percentage { percent: 10 },
        by: "bob".into(),
        clearance: knowngood::Clearance::none(),
    });
    w.ok(Command::PoisonChange {
        change: "PR-2".into(),
        by: "alice".into(),
        reason: "10% see errors".into(),
    });
    let release = w.build_at(1, "f1");
    w.through_qa(&release);
    assert_eq!(w.run(deploy_cmd(1)).unwrap_err().rule(), "poisoned-release");
    w.ok(Command::SetFlag {
        environment: "prod".into(),
        flag: "new-checkout".into(),
        state: FlagState::Off,
        by: "alice".into(),
        clearance: knowngood::Clearance::none(),
    });
    assert!(w.run(deploy_cmd(1)).is_ok());
}

#[test]
fn poisoned_change_is_neutralised_by_a_declared_fix_contained_in_the_release() {
    let mut w = broken_by_998b();
    w.merge("PR-5", "fx", Some("e5"));
    let release = w.build_at(3, "fx");
    w.through_qa(&release);
    assert_eq!(w.run(deploy_cmd(3)).unwrap_err().rule(), "poisoned-release");
    assert_eq!(
        w.run(Command::DeclareFix {
            change: "PR-2".into(),
            fix: "PR-2".into(),
            by: "bob".into()
        })
        .unwrap_err()
        .rule(),
        "self-fix"
    );
    w.ok(Command::DeclareFix {
        change: "PR-2".into(),
        fix: "PR-5".into(),
        by: "bob".into(),
    });
    assert!(w.run(deploy_cmd(3)).is_ok());
}

#[test]
fn releases_of_unrecorded_commits_are_refused_for_production_only_while_something_is_poisoned() {
    // Built from unrecorded commit c0001: fine while nothing is poisoned.
    let mut w = World::new();
    w.ready_for_prod(1);
    assert!(w.run(deploy_cmd(1)).is_ok(), "no poison: nothing to prove");

    let mut w = World::new();
    w.merge("PR-1", "a1", None);
    w.ok(Command::PoisonChange {
        change: "PR-1".into(),
        by: "alice".into(),
        reason: "bad".into(),
    });
    let opaque = w.ready_for_prod(1);
    let refusal = w.run(deploy_cmd(1)).unwrap_err();
    assert_eq!(
        refusal,
        Rejection::UnknownSourceCommit {
            release: opaque,
            commit: "c0001".into()
        }
    );
    assert!(
        refusal.to_string().contains("record the commit"),
        "{refusal}"
    );
}

#[test]
fn default_rollback_target_skips_a_release_carrying_a_poisoned_change() {
    let mut w = World::new();
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    w.merge("PR-2", "b2", Some("a1")); // the real culprit, found late
    let two = w.build_at(2, "b2");
    w.through_qa(&two);
    w.deploy("prod", &two, true);
    w.merge("PR-3", "c3", Some("b2"));
    let three = w.build_at(3, "c3");
    w.through_qa(&three);
    w.deploy("prod", &three, true);
    w.ok(Command::PoisonChange {
        change: "PR-2".into(),
        by: "alice".into(),
        reason: "data corruption".into(),
    });
    // Naming the poisoned revision explicitly is refused ...
    assert_eq!(
        w.rollback("prod", Some(2)).unwrap_err().rule(),
        "poisoned-release"
    );
    // ... and the default target skips it.
    let entries = w.rollback("prod", None).unwrap();
    let knowngood::EventKind::RollbackRequested { target, .. } = &entries[0].event.kind else {
        panic!()
    };
    assert_eq!(*target, Revision(1), "revision 2 carries PR-2");
}

#[test]
fn poisoning_rules_need_known_changes_and_a_reason() {
    let mut w = World::new();
    assert_eq!(
        w.run(Command::PoisonChange {
            change: "PR-9".into(),
            by: "alice".into(),
            reason: "x".into()
        })
        .unwrap_err()
        .rule(),
        "unknown-change"
    );
    w.merge("PR-1", "a1", None);
    assert_eq!(
        w.run(Command::PoisonChange {
            change: "PR-1".into(),
            by: "alice".into(),
            reason: " ".into()
        })
        .unwrap_err()
        .rule(),
        "reason-required"
    );
    assert_eq!(
        w.ok(Command::PoisonChange {
            change: "PR-1".into(),
            by: "alice".into(),
            reason: "bad".into()
        })
        .len(),
        1
    );
    assert!(
        w.ok(Command::PoisonChange {
            change: "PR-1".into(),
            by: "alice".into(),
            reason: "bad".into()
        })
        .is_empty()
    );
    assert!(w.ledger.state().is_poisoned(&"PR-1".into()));
}

/// a1 (PR-1, build 1) ← x2 (PR-2, build 2) ← r3 (PR-3 reverts PR-2,
/// build 3). Nothing was ever declared or poisoned.
fn reverted_without_an_incident(dev_runs_build_2: bool) -> World {
    let mut w = World::new();
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.merge("PR-2", "x2", Some("a1"));
    w.build_at(2, "x2");
    if dev_runs_build_2 {
        w.deploy("dev", &release_id(2), true);
    }
    w.merge_change("PR-3", "r3", Some("x2"), |c| c.reverting("PR-2"));
    w.build_at(3, "r3");
    w
}

fn deploy_to(env: &str, n: u64) -> Command {
    Command::deploy(env, release_id(n), "deploy-bot")
}

#[test]
fn revert_pairs_hold_without_an_incident_a_release_without_the_revert_cannot_enter() {
    let mut w = reverted_without_an_incident(false);
    let refused = w.run(deploy_to("dev", 2)).unwrap_err();
    assert_eq!(refused.rule(), "reverted-on-main");
    assert_eq!(
        refused,
        Rejection::RevertedOnMain {
            environment: "dev".into(),
            release: release_id(2),
            change: "PR-2".into(),
            revert: "PR-3".into(),
        }
    );
    assert!(
        refused.to_string().contains("after the revert"),
        "{refused}"
    );
    // The release with both the change and its revert is fine.
    assert!(w.run(deploy_to("dev", 3)).is_ok());
}

#[test]
fn revert_pairs_hold_without_an_incident_redeploying_what_already_runs_is_allowed() {
    let mut w = reverted_without_an_incident(true);
    // dev already runs PR-2: deploying build 2 there again changes nothing.
    assert!(w.run(deploy_to("dev", 2)).is_ok());
    // But it may not move on into qa, which does not run PR-2.
    assert_eq!(
        w.run(deploy_to("qa", 2)).unwrap_err().rule(),
        "reverted-on-main"
    );
}

#[test]
fn revert_pairs_hold_without_an_incident_a_rollback_to_before_the_revert_is_refused() {
    let mut w = World::new();
    w.merge("PR-1", "a1", None);
    w.merge("PR-2", "x2", Some("a1"));
    let two = w.build_at(2, "x2");
    w.through_qa(&two);
    w.deploy("prod", &two, true);
    w.merge_change("PR-3", "r3", Some("x2"), |c| c.reverting("PR-2"));
    let three = w.build_at(3, "r3");
    w.through_qa(&three);
    w.deploy("prod", &three, true);
    let refused = w
        .run(Command::Rollback {
            environment: "prod".into(),
            service: SERVICE.into(),
            to_revision: Some(Revision(1)),
            by: "alice".into(),
            reason: "build 3 is slow".into(),
            clearance: knowngood::Clearance::none(),
            effect: None,
        })
        .unwrap_err();
    assert_eq!(refused.rule(), "reverted-on-main", "{refused}");
}
