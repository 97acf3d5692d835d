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
fn move_branch(w: &mut World, branch: &str, head: &str) {
    w.ok(Command::MoveBranch {
        service: SERVICE.into(),
        branch: branch.into(),
        head: head.into(),
    });
}

/// Records `commit` (with `parents`) and moves `branch` to it.
fn commit_on(w: &mut World, branch: &str, commit: &str, parents: &[&str]) {
    w.ok(Command::RecordCommit {
        commit: Commit::new(commit, parents.iter().copied()),
    });
    move_branch(w, branch, commit);
}

fn hotfix_in_production() -> World {
    let mut w = World::new();
    w.adopt(common::timed_policy(Policy::hotfix_lane("Hotfix-{build}")));
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    move_branch(&mut w, "Hotfix-1", "a1");
    commit_on(&mut w, "Hotfix-1", "hf", &["a1"]);
    let hotfix = w.build_at(2, "hf");
    w.deploy("hotfix-dev", &hotfix, true);
    w.deploy("prod", &hotfix, true);
    w
}

fn merge_back(w: &mut World) {
    commit_on(w, "main", "merge-hf", &["a1", "hf"]);
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
    w.ship_change(("PR-1", "a1", None), 1);
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
    move_branch(&mut w, "Hotfix-1", "a1");
    commit_on(&mut w, "Hotfix-1", "hf", &["a1"]);
    commit_on(&mut w, "main", "hf-copy", &["a1"]);
    let refused = complete(&mut w, follow_up).unwrap_err();
    assert!(
        refused.to_string().contains("is not reachable from `main`"),
        "{refused}"
    );
    // A real merge makes it reachable: done.
    commit_on(&mut w, "main", "merge-hf", &["hf-copy", "hf"]);
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

// ----- the hotfix lane follows production ------------------------------------

use knowngood::recovery::EffectAction;

/// Build `n` (commit `c{n}`) through QA into prod, hotfix-lane policy.
fn ship(w: &mut World, n: u64) {
    let commit = format!("c{n}");
    let parent = w
        .ledger
        .state()
        .branch(&SERVICE.into(), &"main".into())
        .map(ToString::to_string);
    w.ship_change((&format!("PR-{n}"), &commit, parent.as_deref()), n);
}

fn lane_policy_world() -> World {
    let mut w = World::new();
    w.adopt(common::timed_policy(Policy::hotfix_lane("Hotfix-{build}")));
    w
}

/// `Hotfix-43` is at `commit` and hotfix-dev runs `release`.
fn assert_lane_at(state: &knowngood::State, commit: &str, release: &knowngood::ReleaseId) {
    assert_eq!(
        state.branch(&SERVICE.into(), &"Hotfix-43".into()),
        Some(&commit.into())
    );
    assert_eq!(
        state
            .current_release(&"hotfix-dev".into(), &SERVICE.into())
            .map(|r| &r.id),
        Some(release)
    );
}

#[test]
fn hotfix_lane_follows_production_each_deployment_names_the_branch_and_the_mirror() {
    let mut w = lane_policy_world();
    ship(&mut w, 43);
    let due = w
        .ledger
        .state()
        .hotfix_lane_upkeep(&"prod".into(), &SERVICE.into());
    assert_eq!(
        due,
        vec![
            EffectAction::CutBranch {
                service: SERVICE.into(),
                branch: "Hotfix-43".into(),
                at: "c43".into(),
            },
            EffectAction::Mirror {
                environment: "hotfix-dev".into(),
                service: SERVICE.into(),
                release: common::release_id(43),
            },
        ]
    );
    // Done by hand: nothing is due any more.
    move_branch(&mut w, "Hotfix-43", "c43");
    w.deploy("hotfix-dev", &common::release_id(43), true);
    assert!(
        w.ledger
            .state()
            .hotfix_lane_upkeep(&"prod".into(), &SERVICE.into())
            .is_empty()
    );
    // The next production deployment re-points the lane.
    ship(&mut w, 44);
    let due = w
        .ledger
        .state()
        .hotfix_lane_upkeep(&"prod".into(), &SERVICE.into());
    assert_eq!(due.len(), 2, "{due:?}");
    assert!(
        matches!(&due[0], EffectAction::CutBranch { branch, at, .. } if branch.as_str() == "Hotfix-44" && at.as_str() == "c44")
    );
}

#[test]
fn hotfix_lane_follows_production_only_where_the_policy_uses_one() {
    let mut w = World::new();
    ship(&mut w, 1);
    assert!(
        w.ledger
            .state()
            .hotfix_lane_upkeep(&"prod".into(), &SERVICE.into())
            .is_empty()
    );
}

#[test]
fn hotfix_lane_follows_production_the_driver_keeps_it_once_per_deployment() {
    use knowngood::driver::{DriveReport, Driver};
    use knowngood::memory::{
        InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe,
        InMemoryJournalStore, InMemoryVcs, ManualClock, block_on,
    };
    use knowngood::port::{JournalStore, Ports};
    use std::sync::Arc;

    let mut w = lane_policy_world();
    ship(&mut w, 43);
    let store = Arc::new(InMemoryJournalStore::default());
    block_on(store.append(0, w.ledger.journal().entries())).unwrap();
    let vcs = Arc::new(InMemoryVcs::default());
    vcs.commit(&SERVICE.into(), &"main".into(), &"c43".into());
    let deployer = Arc::new(InMemoryDeployer::default());
    let ports = Ports::new(
        vcs.clone(),
        deployer.clone(),
        Some(Arc::new(InMemoryFlagStore::default())),
        Arc::new(InMemoryHealthProbe::default()),
        Arc::new(InMemoryBuilder::new(1, 1, 0)),
        store.clone(),
        Arc::new(ManualClock::at(common::t(w.clock + 1))),
    );
    let mut driver = block_on(Driver::resume(ports.clone(), "bot")).unwrap();
    let DriveReport::Done { steps } =
        block_on(driver.keep_hotfix_lane(&"prod".into(), &SERVICE.into())).unwrap()
    else {
        panic!("waiting");
    };
    assert_eq!(steps.len(), 2, "{steps:?}");
    let state = driver.state();
    assert_lane_at(state, "c43", &common::release_id(43));
    assert!(
        state
            .hotfix_lane_upkeep(&"prod".into(), &SERVICE.into())
            .is_empty()
    );
    // Again, from a new process: nothing to do, nothing done twice.
    let mut again = block_on(Driver::resume(ports, "bot")).unwrap();
    let report = block_on(again.keep_hotfix_lane(&"prod".into(), &SERVICE.into())).unwrap();
    assert!(
        matches!(report, DriveReport::Done { ref steps } if steps.is_empty()),
        "{report}"
    );
    for key in &steps {
        assert!(deployer.executions(key) <= 1);
    }
}

#[test]
fn hotfix_lane_follows_production_in_the_drill_before_and_after_the_incident() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/scenarios/hotfix-lane.toml");
    let scenario = Scenario::load(&path).unwrap();
    let report = run(&scenario, 2);
    assert!(report.passed(), "{:?}", report.failures);
    let entries = report.journal.entries();
    let declared = entries
        .iter()
        .position(|e| matches!(e.event.kind, knowngood::EventKind::IncidentDeclared { .. }))
        .unwrap();
    // Before the incident the driver cut `Hotfix-43` and mirrored build 43
    // into hotfix-dev.
    let before = Ledger::from_journal(report.journal.truncated(declared))
        .unwrap()
        .state()
        .clone();
    assert_lane_at(&before, "a1", &"payments@1.4.3".into());
    // At the end it follows the hotfix now in production.
    let after = Ledger::from_journal(report.journal.clone())
        .unwrap()
        .state()
        .clone();
    assert!(
        after
            .hotfix_lane_upkeep(&"prod".into(), &SERVICE.into())
            .is_empty()
    );
}
