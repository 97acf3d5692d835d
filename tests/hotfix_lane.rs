//! Drift both ways and the hotfix lane: production running a commit main
//! does not hold (an unmerged hotfix) is drift too and keeps the gate
//! closed, and the merge-back follow-up closes only when the history shows
//! the hotfix reachable from main.

mod common;

use common::{SERVICE, World, external};
use knowngood::drill::{Scenario, run};
use knowngood::recovery::FollowUpKind;
use knowngood::{Command, Commit, Ledger, Policy, Strategy};

/// Build 1 (a1) in prod; a hotfix commit `hf` on `Hotfix-1` (cut at a1)
/// ships as build 2 through hotfix-dev into prod; main stays at a1.
fn hotfix_in_production() -> World {
    let mut w = World::new();
    w.adopt(common::timed_policy(Policy::hotfix_lane("Hotfix-{build}")));
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    w.ok(Command::MoveBranch {
        service: SERVICE.into(),
        branch: "Hotfix-1".into(),
        head: "a1".into(),
    });
    w.ok(Command::RecordCommit {
        commit: Commit::new("hf", ["a1"]),
    });
    w.ok(Command::MoveBranch {
        service: SERVICE.into(),
        branch: "Hotfix-1".into(),
        head: "hf".into(),
    });
    let hotfix = w.build_at(2, "hf");
    w.deploy("hotfix-dev", &hotfix, true);
    w.deploy("prod", &hotfix, true);
    w
}

fn merge_back(w: &mut World) {
    w.ok(Command::RecordCommit {
        commit: Commit::new("merge-hf", ["a1", "hf"]),
    });
    w.ok(Command::MoveBranch {
        service: SERVICE.into(),
        branch: "main".into(),
        head: "merge-hf".into(),
    });
}

fn close_gate(w: &mut World) {
    w.ok(Command::CloseGate {
        environment: "prod".into(),
        by: "alice".into(),
        reason: "hotfix in production".into(),
    });
}

fn reopen(w: &mut World) -> Result<(), knowngood::Rejection> {
    w.run(Command::ReopenGate {
        environment: "prod".into(),
        by: "alice".into(),
        reason: "all clear".into(),
    })
    .map(drop)
}

#[test]
fn drift_both_ways_an_unmerged_hotfix_in_production_is_drift() {
    let mut w = hotfix_in_production();
    let drift = w
        .ledger
        .state()
        .drift(&"prod".into(), &SERVICE.into())
        .unwrap();
    assert_eq!(drift.ahead_commits, vec!["hf".into()]);
    assert!(drift.missing_commits.is_empty());
    assert!(!drift.is_clear(), "{drift:?}");
    // Merged back: production holds nothing main lacks.
    merge_back(&mut w);
    let drift = w
        .ledger
        .state()
        .drift(&"prod".into(), &SERVICE.into())
        .unwrap();
    assert!(drift.ahead_commits.is_empty(), "{drift:?}");
}

#[test]
fn drift_both_ways_production_on_mains_head_is_clear() {
    let mut w = World::new();
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    let drift = w
        .ledger
        .state()
        .drift(&"prod".into(), &SERVICE.into())
        .unwrap();
    assert!(drift.is_clear(), "{drift:?}");
}

#[test]
fn drift_both_ways_the_gate_stays_closed_until_the_hotfix_is_merged_back() {
    let mut w = hotfix_in_production();
    close_gate(&mut w);
    let refused = reopen(&mut w).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("merge the hotfix back to main"),
        "{refused}"
    );
    merge_back(&mut w);
    reopen(&mut w).unwrap();
}

/// An incident on build 1 with the hotfix plan chosen.
fn hotfix_chosen() -> (World, u32) {
    let mut w = World::new();
    w.adopt(common::timed_policy(Policy::hotfix_lane("Hotfix-{build}")));
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    w.declare(external());
    w.choose(Strategy::Hotfix);
    let incident = w.ledger.state().incident(&"INC-1".into()).unwrap();
    let index = incident
        .follow_ups
        .iter()
        .position(|f| matches!(f.kind, FollowUpKind::MergeHotfixBack { .. }))
        .unwrap();
    (w, u32::try_from(index).unwrap())
}

fn complete(w: &mut World, follow_up: u32) -> Result<(), knowngood::Rejection> {
    w.run(Command::CompleteFollowUp {
        incident: "INC-1".into(),
        follow_up,
        by: "alice".into(),
    })
    .map(drop)
}

#[test]
fn merge_back_follow_up_closes_only_when_the_hotfix_is_reachable_from_main() {
    let (mut w, follow_up) = hotfix_chosen();
    // Nobody cut the branch yet: saying it is merged back is refused.
    let refused = complete(&mut w, follow_up).unwrap_err();
    assert_eq!(refused.rule(), "follow-up-not-done");
    assert!(refused.to_string().contains("`Hotfix-1`"), "{refused}");
    // Cut and fixed, but only cherry-picked onto main (a copy): still not
    // merged back.
    w.ok(Command::MoveBranch {
        service: SERVICE.into(),
        branch: "Hotfix-1".into(),
        head: "a1".into(),
    });
    w.ok(Command::RecordCommit {
        commit: Commit::new("hf", ["a1"]),
    });
    w.ok(Command::MoveBranch {
        service: SERVICE.into(),
        branch: "Hotfix-1".into(),
        head: "hf".into(),
    });
    w.ok(Command::RecordCommit {
        commit: Commit::new("hf-copy", ["a1"]),
    });
    w.ok(Command::MoveBranch {
        service: SERVICE.into(),
        branch: "main".into(),
        head: "hf-copy".into(),
    });
    let refused = complete(&mut w, follow_up).unwrap_err();
    assert!(
        refused.to_string().contains("is not reachable from `main`"),
        "{refused}"
    );
    // A real merge makes it reachable: done.
    w.ok(Command::RecordCommit {
        commit: Commit::new("merge-hf", ["hf-copy", "hf"]),
    });
    w.ok(Command::MoveBranch {
        service: SERVICE.into(),
        branch: "main".into(),
        head: "merge-hf".into(),
    });
    complete(&mut w, follow_up).unwrap();
}

#[test]
fn merge_back_the_driver_merges_and_closes_the_follow_up_after_asking_the_vcs() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/scenarios/hotfix-lane.toml");
    let scenario = Scenario::load(&path).unwrap();
    let report = run(&scenario, 7);
    assert!(report.passed(), "{}", report.verdict());
    let state = Ledger::from_journal(report.journal.clone())
        .unwrap()
        .state()
        .clone();
    let incident = state.incident(&"INC-1".into()).unwrap();
    let merge_back = incident
        .follow_ups
        .iter()
        .find(|f| matches!(f.kind, FollowUpKind::MergeHotfixBack { .. }))
        .unwrap();
    assert!(merge_back.done_at.is_some(), "{merge_back:?}");
    // Main's head is a merge commit whose second parent is the hotfix.
    let main = state.branch(&SERVICE.into(), &"main".into()).unwrap();
    let hotfix = state.branch(&SERVICE.into(), &"Hotfix-43".into()).unwrap();
    assert!(state.is_ancestor(hotfix, main));
    assert_eq!(
        state.commit(main).unwrap().commit.parents.len(),
        2,
        "a merge, not a copy"
    );
    let drift = state.drift(&"prod".into(), &SERVICE.into()).unwrap();
    assert!(drift.ahead_commits.is_empty(), "{drift:?}");
}
