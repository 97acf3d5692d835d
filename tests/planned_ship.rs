//! What ships is what was planned: a plan remembers the heads of the
//! branches it ships; when someone pushes while it runs, the driver checks
//! what the release would now carry before it builds. Changes kept dark by
//! their flags go on, said in the step's outcome; anything live, or a
//! commit nobody recorded a change for, stops for a person, who accepts it
//! (rule `accept-planned-branch`) or chooses again.

mod common;

use std::sync::Arc;

use common::{SERVICE, World, t};
use knowngood::driver::{DriveReport, Driver};
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe,
    InMemoryJournalStore, InMemoryVcs, ManualClock, block_on,
};
use knowngood::port::{JournalStore, Ports};
use knowngood::recovery::EffectOutcome;
use knowngood::{Command, EventKind, Ledger, Policy, Strategy};

struct Adapters {
    vcs: Arc<InMemoryVcs>,
    builder: Arc<InMemoryBuilder>,
    store: Arc<InMemoryJournalStore>,
    clock: Arc<ManualClock>,
    deployer: Arc<InMemoryDeployer>,
}

impl Adapters {
    fn ports(&self) -> Ports {
        Ports::new(
            self.vcs.clone(),
            self.deployer.clone(),
            Some(Arc::new(InMemoryFlagStore::default())),
            Arc::new(InMemoryHealthProbe::default()),
            self.builder.clone(),
            self.store.clone(),
            self.clock.clone(),
        )
    }

    fn drive(&self) -> (Driver, DriveReport) {
        block_on(async {
            let mut driver = Driver::resume(self.ports(), "knowngood-driver")
                .await
                .unwrap();
            let report = driver.drive(&"INC-1".into()).await.unwrap();
            (driver, report)
        })
    }

    fn execute(&self, command: &Command) -> Result<(), knowngood::DriveError> {
        block_on(async {
            let mut driver = Driver::resume(self.ports(), "oncall").await?;
            driver.execute(command).await.map(drop)
        })
    }

    fn builds(&self) -> usize {
        self.builder.all_executions().values().sum()
    }
}

/// PR-2 (998b) broke prod under a forward-only policy and the revert is
/// chosen; then, before the driver runs, `push` lands more work on main
/// (in the ledger and in the VCS), as a developer pushing while the
/// revert is being pushed.
fn revert_chosen_then(push: impl FnOnce(&mut World) -> Vec<&'static str>) -> Adapters {
    let mut w = common::bad_commit_in_production(Policy::forward_only());
    w.choose(Strategy::Revert);
    let pushed = push(&mut w);
    let a = Adapters {
        vcs: Arc::new(InMemoryVcs::default()),
        builder: Arc::new(InMemoryBuilder::new(3, 1, 9)),
        store: Arc::new(InMemoryJournalStore::default()),
        clock: Arc::new(ManualClock::at(t(w.clock + 1))),
        deployer: Arc::new(InMemoryDeployer::default()),
    };
    for c in ["a1", "998b"].into_iter().chain(pushed) {
        a.vcs.commit(&SERVICE.into(), &"main".into(), &c.into());
    }
    block_on(a.store.append(0, w.ledger.journal().entries())).unwrap();
    a
}

fn pr4_live(w: &mut World) -> Vec<&'static str> {
    w.clock += 1;
    w.merge("PR-4", "c4", Some("998b"));
    vec!["c4"]
}

fn outgrown(report: &DriveReport) -> &knowngood::Additions {
    match report {
        DriveReport::Outgrown { additions, .. } => additions,
        other => panic!("expected the plan to be outgrown, got {other:?}"),
    }
}

fn accept(head: &str, reason: &str) -> Command {
    Command::AcceptChanges {
        incident: "INC-1".into(),
        service: SERVICE.into(),
        branch: "main".into(),
        head: head.into(),
        by: "alice".into(),
        reason: reason.into(),
    }
}

fn ship_detail(driver: &Driver) -> String {
    driver
        .journal()
        .entries()
        .iter()
        .filter_map(|e| match &e.event.kind {
            EventKind::EffectRecorded {
                key,
                outcome: EffectOutcome::Succeeded { detail },
                ..
            } if key.as_str().contains("ship") => Some(detail.clone()),
            _ => None,
        })
        .next_back()
        .expect("the ship step's outcome")
}

#[test]
fn shipped_as_planned_a_live_change_pushed_while_the_plan_ran_stops_for_a_person() {
    let a = revert_chosen_then(pr4_live);
    let (driver, report) = a.drive();
    let added = outgrown(&report);
    assert_eq!(
        added.planned.as_ref().map(knowngood::CommitId::as_str),
        Some("998b")
    );
    let changes: Vec<(&str, bool)> = added
        .changes
        .iter()
        .map(|c| (c.change.as_str(), c.dark))
        .collect();
    // The revert the plan made is its own work; PR-4 is not.
    assert_eq!(changes, [("PR-4", false)]);
    assert!(added.unattributed.is_empty());
    assert!(added.needs_person());
    let said = report.to_string();
    assert!(
        said.contains("`PR-4`") && said.contains("live in `prod`"),
        "{said}"
    );
    assert!(said.contains("AcceptChanges"), "{said}");
    // Nothing was built, nothing deployed, and the revert is on main.
    assert_eq!(a.builds(), 0);
    assert!(a.deployer.all_executions().is_empty());
    assert!(driver.state().change(&"revert-PR-2".into()).is_some());
    // A restarted driver (another process) stops on the same difference.
    let (_, again) = a.drive();
    assert_eq!(outgrown(&again), added);
    assert_eq!(a.builds(), 0);
}

#[test]
fn shipped_as_planned_accepted_changes_ship_and_the_journal_says_who_looked() {
    let a = revert_chosen_then(pr4_live);
    let (driver, report) = a.drive();
    let head = outgrown(&report).head.clone();
    assert_ne!(head.as_str(), "c4", "the revert landed on top of PR-4");
    a.execute(&accept(head.as_str(), "PR-4 only renames a log field"))
        .unwrap();
    drop(driver);
    let (driver, report) = a.drive();
    assert!(matches!(report, DriveReport::Done { .. }), "{report:?}");
    let state = driver.state();
    let running = state
        .current_release(&"prod".into(), &SERVICE.into())
        .unwrap();
    assert_eq!(
        state.artifact(&running.artifact).unwrap().source_commit,
        head
    );
    let accepted = driver
        .journal()
        .entries()
        .iter()
        .find(|e| matches!(e.event.kind, EventKind::ChangesAccepted { .. }))
        .expect("the acceptance is journaled");
    assert!(accepted.event.kind.is_audited());
    let said = accepted.event.kind.to_string();
    assert!(
        said.contains("alice") && said.contains("renames a log field"),
        "{said}"
    );
    // Accepted: nothing is said as added any more.
    assert!(!ship_detail(&driver).contains("also carries"));
}

#[test]
fn shipped_as_planned_a_change_kept_dark_goes_on_and_is_said() {
    let a = revert_chosen_then(|w| {
        w.clock += 1;
        w.merge_change("PR-4", "c4", Some("998b"), |c| c.behind_flag("new-search"));
        vec!["c4"]
    });
    let (driver, report) = a.drive();
    assert!(matches!(report, DriveReport::Done { .. }), "{report:?}");
    let detail = ship_detail(&driver);
    assert!(
        detail.contains("also carries `PR-4`") && detail.contains("dark in `prod`"),
        "{detail}"
    );
}

#[test]
fn shipped_as_planned_nothing_pushed_says_nothing() {
    let a = revert_chosen_then(|_| Vec::new());
    let (driver, report) = a.drive();
    assert!(matches!(report, DriveReport::Done { .. }), "{report:?}");
    assert!(!ship_detail(&driver).contains("also carries"));
}

#[test]
fn shipped_as_planned_a_commit_nobody_recorded_a_change_for_stops() {
    let a = revert_chosen_then(|w| {
        w.clock += 1;
        w.ok(Command::RecordCommit {
            commit: knowngood::Commit::new("c5", ["998b"]),
        });
        w.ok(Command::MoveBranch {
            service: SERVICE.into(),
            branch: "main".into(),
            head: "c5".into(),
        });
        vec!["c5"]
    });
    let (_, report) = a.drive();
    let added = outgrown(&report);
    assert!(added.changes.is_empty());
    assert_eq!(added.unattributed, ["c5".into()]);
    assert!(report.to_string().contains("no recorded change holds"));
}

#[test]
fn shipped_as_planned_a_second_push_after_acceptance_stops_again_for_it_alone() {
    let a = revert_chosen_then(pr4_live);
    let (driver, report) = a.drive();
    let head = outgrown(&report).head.clone();
    drop(driver);
    a.execute(&accept(head.as_str(), "looked at PR-4")).unwrap();
    // PR-6 lands after the acceptance.
    a.execute(&Command::RecordCommit {
        commit: knowngood::Commit::new("c6", [head.clone()]),
    })
    .unwrap();
    a.execute(&Command::RecordChange {
        change: knowngood::Change::new("PR-6", "PR-6", "carol", t(500), ["c6"]),
    })
    .unwrap();
    a.execute(&Command::MoveBranch {
        service: SERVICE.into(),
        branch: "main".into(),
        head: "c6".into(),
    })
    .unwrap();
    let (_, report) = a.drive();
    let added = outgrown(&report);
    assert_eq!(added.planned, Some(head));
    let names: Vec<&str> = added.changes.iter().map(|c| c.change.as_str()).collect();
    assert_eq!(names, ["PR-6"]);
}

#[test]
fn accept_planned_branch_refuses_what_the_plan_does_not_ship_or_the_ledger_does_not_hold() {
    let mut w = common::bad_commit_in_production(Policy::forward_only());
    // Negative: before any plan, nothing can be accepted.
    let refusal = w.run(accept("998b", "looked")).unwrap_err();
    assert_eq!(refusal.rule(), "accept-planned-branch");
    w.choose(Strategy::Revert);
    pr4_live(&mut w);
    let mut ledger: Ledger = w.ledger.clone();
    let now = t(w.clock + 1);
    // A branch the plan does not ship.
    let other = Command::AcceptChanges {
        incident: "INC-1".into(),
        service: SERVICE.into(),
        branch: "release-1".into(),
        head: "c4".into(),
        by: "alice".into(),
        reason: "looked".into(),
    };
    let refusal = ledger.execute(&other, now).unwrap_err();
    assert_eq!(refusal.rule(), "accept-planned-branch");
    assert!(
        refusal.to_string().contains("no open plan that ships"),
        "{refusal}"
    );
    // A head that is not the recorded one (stale, or never seen).
    let refusal = ledger.execute(&accept("998b", "looked"), now).unwrap_err();
    assert_eq!(refusal.rule(), "accept-planned-branch");
    assert!(refusal.to_string().contains("it is `c4`"), "{refusal}");
    // No reason.
    let refusal = ledger.execute(&accept("c4", " "), now).unwrap_err();
    assert_eq!(refusal.rule(), "reason-required");
    // Positive: the recorded head, with a reason.
    let entries = ledger.execute(&accept("c4", "looked"), now).unwrap();
    assert_eq!(entries.len(), 1);
    let record = ledger.state().incident(&"INC-1".into()).unwrap();
    assert_eq!(
        record.planned_heads[0]
            .head
            .as_ref()
            .map(knowngood::CommitId::as_str),
        Some("c4")
    );
    // Accepted twice: nothing new.
    assert!(
        ledger
            .execute(&accept("c4", "again"), now)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ledger
            .state()
            .unplanned(
                &"INC-1".into(),
                &SERVICE.into(),
                &"main".into(),
                &"prod".into()
            )
            .map(|a| a.is_empty()),
        Some(true)
    );
}
