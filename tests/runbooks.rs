//! Host runbooks as options: registered in the journal, offered where
//! their scope says they apply (rule `runbook-applies`, the core's, met in
//! the planner's dry run), ranked beside the built-in strategies (one that
//! only relieves ranks after those that restore, and never mitigates),
//! run by the driver through the host's port once per key, their undo a
//! follow-up.

mod common;

use std::sync::Arc;

use common::misbehaving::FailingJournal;
use common::{SERVICE, World, t};
use knowngood::driver::{DriveError, DriveReport, Driver};
use knowngood::memory::{InMemoryJournalStore, InMemoryRunbooks, ManualClock, block_on};
use knowngood::port::{JournalStore, Ports};
use knowngood::{
    Capabilities, CauseKind, Command, IncidentPhase, Policy, Runbook, RunbookId, Strategy,
};

fn failover() -> Runbook {
    Runbook::new(
        "failover-provider-b",
        "Route payments to provider B",
        true,
        120,
    )
    .for_causes([CauseKind::External])
    .undone_by("route payments back to provider A once it is healthy")
}

fn scale_up() -> Runbook {
    Runbook::new("scale-up", "Double the checkout workers", false, 60)
}

/// Build 1 verified in prod; the runbooks registered; then INC-1 with
/// `cause`.
fn world(cause: knowngood::SuspectedCause, runbooks: &[Runbook]) -> World {
    let mut w = World::new();
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    for runbook in runbooks {
        w.ok(Command::RegisterRunbook {
            runbook: runbook.clone(),
        });
    }
    w.declare(cause);
    w
}

/// A choice of a runbook with `steps`, made past the planner.
fn forced_choice(steps: &[knowngood::recovery::Effect]) -> Command {
    Command::ChooseStrategy {
        incident: "INC-1".into(),
        strategy: Strategy::Runbook,
        steps: steps.to_vec(),
        follow_ups: Vec::new(),
        considered: Vec::new(),
        explanation: String::new(),
        by: "alice".into(),
        clearance: knowngood::Clearance::none(),
    }
}

fn id(name: &str) -> RunbookId {
    RunbookId::new(name)
}

struct Host {
    runbooks: Arc<InMemoryRunbooks>,
    store: Arc<InMemoryJournalStore>,
    clock: Arc<ManualClock>,
}

impl Host {
    fn of(w: &World) -> Self {
        Self {
            runbooks: Arc::new(InMemoryRunbooks::default()),
            store: w.stored(),
            clock: Arc::new(ManualClock::at(t(w.clock + 1))),
        }
    }

    fn ports_on(&self, journal: Arc<dyn JournalStore>) -> Ports {
        common::in_memory_ports(journal, self.clock.clone()).with_runbooks(self.runbooks.clone())
    }

    fn drive_on(
        &self,
        journal: Arc<dyn JournalStore>,
    ) -> Result<(Driver, DriveReport), DriveError> {
        block_on(async {
            let mut driver = Driver::resume(self.ports_on(journal), "knowngood-driver").await?;
            let report = driver.drive(&"INC-1".into()).await?;
            Ok((driver, report))
        })
    }
}

#[test]
fn runbook_applies_an_external_outage_offers_the_failover_first() {
    let w = world(common::external(), &[failover(), scale_up()]);
    let plan = w.plan();
    let best = plan.best().unwrap();
    assert_eq!(best.strategy, Strategy::Runbook);
    assert_eq!(best.runbook, Some(id("failover-provider-b")));
    assert_eq!(best.estimate.seconds, 120);
    assert!(
        plan.explanation
            .starts_with("Runbook `failover-provider-b` restores"),
        "{}",
        plan.explanation
    );
    // Its undo is a follow-up, named.
    assert!(
        best.cost
            .follow_ups
            .iter()
            .any(|f| f.id() == "undo-runbook/failover-provider-b")
    );
    // Scaling up only relieves: ranked after every option that restores.
    let relief = plan.runbook(&id("scale-up")).unwrap();
    assert!(relief.applicable && !relief.likely_to_help);
    assert!(relief.risks.iter().any(|r| r.contains("only relieves")));
    let position =
        |o: &knowngood::RecoveryOption| plan.options.iter().position(|p| p == o).unwrap();
    assert!(
        plan.options
            .iter()
            .filter(|o| o.applicable && o.likely_to_help)
            .all(|o| position(o) < position(relief))
    );
}

#[test]
fn runbook_applies_is_the_cores_rule_a_runbook_out_of_scope_is_refused() {
    // A regression in a change: the failover (for external causes) does
    // not apply, and the planner says so by the core's rule.
    let mut w = world(common::change_cause("PR-1"), &[failover()]);
    let plan = w.plan();
    let option = plan.runbook(&id("failover-provider-b")).unwrap();
    assert!(!option.applicable);
    assert_eq!(option.blocked_by(), Some("runbook-applies"));
    assert!(
        option.why_not().contains("does not help with a change"),
        "{}",
        option.why_not()
    );
    // Forced past the planner, the core refuses it on the same rule.
    let forced = forced_choice(&option.steps);
    let refusal = w.run(forced).unwrap_err();
    assert_eq!(refusal.rule(), "runbook-applies");
    // Scoped to another environment: not in prod.
    let elsewhere =
        Runbook::new("purge-cache", "Purge the CDN cache", true, 30).in_environments(["staging"]);
    let mut w = world(common::external(), &[elsewhere]);
    let option = w.plan().runbook(&id("purge-cache")).cloned().unwrap();
    assert_eq!(option.blocked_by(), Some("runbook-applies"));
    assert!(option.why_not().contains("does not apply in `prod`"));
    // And for another service.
    let theirs =
        Runbook::new("restart-ledger", "Restart the ledger", true, 30).for_services(["ledger"]);
    w.ok(Command::RegisterRunbook { runbook: theirs });
    let option = w.plan().runbook(&id("restart-ledger")).cloned().unwrap();
    assert_eq!(option.blocked_by(), Some("runbook-applies"));
}

#[test]
fn runbook_without_a_runbooks_port_is_not_offered() {
    let w = world(common::external(), &[failover()]);
    let mut caps = Capabilities::all();
    caps.runbooks = false;
    let plan = knowngood::plan(w.ledger.state(), &"INC-1".into(), t(w.clock), &caps).unwrap();
    let option = plan.runbook(&id("failover-provider-b")).unwrap();
    assert_eq!(option.blocked_by(), Some("runbooks-available"));
}

#[test]
fn runbook_forbidden_by_the_policy_is_refused_on_the_policy_rule() {
    let mut w = World::new();
    let mut policy = Policy::default();
    policy.allowed_strategies = [Strategy::Rollback].into();
    w.adopt(policy);
    let mut w = {
        w.merge("PR-1", "a1", None);
        let one = w.build_at(1, "a1");
        w.through_qa(&one);
        w.deploy("prod", &one, true);
        w.ok(Command::RegisterRunbook {
            runbook: failover(),
        });
        w.declare(common::external());
        w
    };
    let option = w
        .plan()
        .runbook(&id("failover-provider-b"))
        .cloned()
        .unwrap();
    assert_eq!(option.blocked_by(), Some("strategy-forbidden"));
    let forced = forced_choice(&option.steps);
    assert_eq!(w.run(forced).unwrap_err().rule(), "strategy-forbidden");
}

#[test]
fn runbook_driven_once_measured_then_mitigated_with_its_undo_left_open() {
    let mut w = world(common::external(), &[failover()]);
    let command = w
        .plan()
        .choose_runbook(&id("failover-provider-b"), "alice")
        .unwrap();
    w.ok(command);
    let host = Host::of(&w);
    let (mut driver, report) = host.drive_on(host.store.clone()).unwrap();
    assert!(matches!(report, DriveReport::Done { .. }), "{report}");
    assert_eq!(
        host.runbooks.runs(),
        [(id("failover-provider-b"), "prod".into(), SERVICE.into())]
    );
    let record = driver.state().incident(&"INC-1".into()).unwrap().clone();
    assert_eq!(record.strategy, Some(Strategy::Runbook));
    block_on(driver.execute(&Command::MarkMitigated {
        incident: "INC-1".into(),
        by: "alice".into(),
    }))
    .unwrap();
    let record = driver.state().incident(&"INC-1".into()).unwrap();
    assert_eq!(record.phase, IncidentPhase::Mitigated);
    let undo = record
        .follow_up("undo-runbook/failover-provider-b")
        .unwrap();
    assert!(undo.done_at.is_none());
    // Closed on the person's word (the history cannot show a failback).
    block_on(driver.execute(&Command::CloseFollowUp {
        incident: "INC-1".into(),
        follow_up: "undo-runbook/failover-provider-b".into(),
        by: "alice".into(),
    }))
    .unwrap();
}

#[test]
fn runbook_that_only_relieves_never_mitigates() {
    let mut w = world(common::external(), &[scale_up()]);
    let command = w.plan().choose_runbook(&id("scale-up"), "alice").unwrap();
    w.ok(command);
    let host = Host::of(&w);
    let (mut driver, report) = host.drive_on(host.store.clone()).unwrap();
    assert!(matches!(report, DriveReport::Done { .. }), "{report}");
    let refusal = block_on(driver.execute(&Command::MarkMitigated {
        incident: "INC-1".into(),
        by: "alice".into(),
    }))
    .unwrap_err();
    let DriveError::Refused(refusal) = refusal else {
        panic!("{refusal}")
    };
    assert_eq!(refusal.rule(), "not-yet-mitigated");
    assert!(refusal.to_string().contains("only relieves"), "{refusal}");
}

#[test]
fn runbook_driven_crash_after_each_journal_write_runs_it_once() {
    let chosen = || {
        let mut w = world(common::external(), &[failover()]);
        let command = w
            .plan()
            .choose_runbook(&id("failover-provider-b"), "alice")
            .unwrap();
        w.ok(command);
        w
    };
    let reference = Host::of(&chosen());
    let (uninterrupted, _) = reference.drive_on(reference.store.clone()).unwrap();
    let mut crash_points = 0;
    for crash_at in 0.. {
        let host = Host::of(&chosen());
        match host.drive_on(FailingJournal::at(&host.store, crash_at)) {
            Err(DriveError::Journal(_)) => crash_points += 1,
            Ok(_) => break,
            Err(other) => panic!("crash point {crash_at}: {other}"),
        }
        let (resumed, report) = host.drive_on(host.store.clone()).unwrap();
        assert!(matches!(report, DriveReport::Done { .. }));
        assert_eq!(
            resumed.state(),
            uninterrupted.state(),
            "crash point {crash_at}"
        );
        assert_eq!(host.runbooks.runs().len(), 1, "crash point {crash_at}");
    }
    assert!(crash_points >= 4, "{crash_points}");
}

#[test]
fn runbook_registration_is_journaled_once_and_needs_a_title() {
    let mut w = World::new();
    assert_eq!(
        w.ok(Command::RegisterRunbook {
            runbook: failover()
        })
        .len(),
        1
    );
    assert!(
        w.ok(Command::RegisterRunbook {
            runbook: failover()
        })
        .is_empty()
    );
    // A new definition counts.
    let faster = Runbook::new("failover-provider-b", "Route payments to B", true, 60);
    assert_eq!(w.ok(Command::RegisterRunbook { runbook: faster }).len(), 1);
    assert_eq!(
        w.ledger
            .state()
            .runbook(&id("failover-provider-b"))
            .unwrap()
            .estimate_seconds,
        60
    );
    let untitled = Runbook::new("nameless", " ", true, 60);
    let refusal = w
        .run(Command::RegisterRunbook { runbook: untitled })
        .unwrap_err();
    assert_eq!(refusal.rule(), "reason-required");
}
