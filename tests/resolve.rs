//! The way back to normal under one incident: once mitigated, only a plan
//! that fixes main and ships it may be chosen (rule
//! `resolve-after-mitigation`); it is planned, driven and recorded under
//! the same incident; main's fix closes its follow-up only when the
//! history shows it on main and serving.
#![cfg(feature = "toml")]

mod common;

use std::path::Path;

use knowngood::drill::{DrillReport, Scenario, run};
use knowngood::{Command, EventKind, IncidentPhase, Journal, Ledger, Strategy};

fn scenario() -> Scenario {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios/rollback-then-revert.toml");
    Scenario::load(&path).unwrap()
}

/// The ledger as it stood just before the entry `at`.
fn ledger_before(journal: &Journal, at: usize) -> Ledger {
    Ledger::from_journal(journal.truncated(at)).unwrap()
}

fn position(report: &DrillReport, what: impl Fn(&EventKind) -> bool) -> usize {
    report
        .journal
        .entries()
        .iter()
        .position(|e| what(&e.event.kind))
        .unwrap()
}

#[test]
fn resolve_after_mitigation_the_resolving_revert_is_driven_under_the_same_incident() {
    let report = run(&scenario(), 7);
    assert!(report.passed(), "{:?}", report.failures);
    let state = report.journal.replay().unwrap();
    let incident = state.incident(&"INC-1".into()).unwrap();
    assert_eq!(incident.phase, IncidentPhase::Resolved);
    assert_eq!(incident.attempts, 2);
    assert_eq!(incident.strategy, Some(Strategy::Revert));
    // Mitigated once, by the rollback, and that time is kept.
    let mitigated = incident.mitigated_at.unwrap();
    let revert_chosen = report.journal.entries()[position(&report, |k| {
        matches!(
            k,
            EventKind::StrategyChosen {
                strategy: Strategy::Revert,
                ..
            }
        )
    })]
    .event
    .at;
    assert!(mitigated < revert_chosen);
    assert!(incident.mitigating_at.unwrap() < mitigated);
    // Every follow-up but the retro is done, on what the history shows.
    let open: Vec<String> = incident
        .open_follow_ups()
        .map(|f| f.kind.to_string())
        .collect();
    assert_eq!(open, ["hold the retro"]);
    // The gate is open again, and production runs main's head.
    assert!(
        state
            .environment(&"prod".into())
            .unwrap()
            .closed_gate()
            .is_none()
    );
}

#[test]
fn resolve_after_mitigation_a_plan_that_only_mitigates_again_is_refused() {
    let report = run(&scenario(), 7);
    // The ledger just after the rollback mitigated the incident.
    let at = position(&report, |k| {
        matches!(k, EventKind::IncidentMitigated { .. })
    }) + 1;
    let mut ledger = ledger_before(&report.journal, at);
    let now = report.journal.entries()[at].event.at;
    let plan = knowngood::plan_for(
        ledger.state(),
        &"INC-1".into(),
        now,
        &knowngood::Capabilities::all(),
        &knowngood::PlanRequest::by("oncall"),
    )
    .unwrap();
    let rollback = plan.option(Strategy::Rollback).unwrap();
    assert!(!rollback.applicable);
    assert_eq!(rollback.blocked_by(), Some("resolve-after-mitigation"));
    // Forced past the planner, the core refuses on the same rule.
    let forced = Command::ChooseStrategy {
        incident: "INC-1".into(),
        strategy: Strategy::Rollback,
        steps: rollback.steps.clone(),
        follow_ups: Vec::new(),
        considered: Vec::new(),
        explanation: String::new(),
        by: "oncall".into(),
        clearance: knowngood::Clearance::none(),
    };
    let refusal = ledger.execute(&forced, now).unwrap_err();
    assert_eq!(refusal.rule(), "resolve-after-mitigation");
    assert!(
        refusal
            .to_string()
            .contains("choose a plan that fixes main"),
        "{refusal}"
    );
    // Negative: the revert resolves, and is offered.
    let revert = plan.option(Strategy::Revert).unwrap();
    assert!(revert.applicable, "{}", revert.why_not());
}

#[test]
fn follow_up_fix_main_closes_only_with_the_fix_on_main_and_serving() {
    let report = run(&scenario(), 7);
    let fix_main = |ledger: &mut Ledger, now| {
        ledger
            .execute(
                &Command::CompleteFollowUp {
                    incident: "INC-1".into(),
                    follow_up: 0,
                    by: "oncall".into(),
                },
                now,
            )
            .map(<[knowngood::JournalEntry]>::len)
    };
    let at = |what: &dyn Fn(&EventKind) -> bool| {
        let i = position(&report, what) + 1;
        (
            ledger_before(&report.journal, i),
            report.journal.entries()[i].event.at,
        )
    };
    // Mitigated by the rollback: nothing on main yet.
    let (mut ledger, now) = at(&|k| matches!(k, EventKind::IncidentMitigated { .. }));
    let refused = fix_main(&mut ledger, now).unwrap_err();
    assert_eq!(refused.rule(), "follow-up-not-done", "{refused}");
    assert!(
        refused.to_string().contains("no revert of `PR-998`"),
        "{refused}"
    );
    // Reverted on main, not yet shipped: still not done.
    let (mut ledger, now) = at(&|k| {
        matches!(k, EventKind::EffectRecorded { key, outcome: knowngood::recovery::EffectOutcome::Succeeded { .. }, .. }
            if key.as_str().ends_with("1-revert"))
    });
    let refused = fix_main(&mut ledger, now).unwrap_err();
    assert!(
        refused.to_string().contains("not in what serves"),
        "{refused}"
    );
    // Negative: once the revert serves in production, it closes.
    let done = report.journal.entries().iter().any(|e| {
        matches!(
            e.event.kind,
            EventKind::FollowUpCompleted { follow_up: 0, .. }
        )
    });
    assert!(done);
}

#[test]
fn follow_ups_are_addressed_by_stable_ids() {
    let report = run(&scenario(), 7);
    let state = report.journal.replay().unwrap();
    let incident = state.incident(&"INC-1".into()).unwrap();
    let ids: Vec<String> = incident.follow_ups.iter().map(|f| f.kind.id()).collect();
    assert_eq!(ids, ["fix-main/payments", "lift-gate/prod", "retro"]);
    assert!(
        incident
            .follow_up("fix-main/payments")
            .unwrap()
            .done_at
            .is_some()
    );
    // The drill closed them by id; an unknown id names the known ones.
    let mut ledger = Ledger::from_journal(report.journal.clone()).unwrap();
    let now = report.journal.entries().last().unwrap().event.at;
    let refused = ledger
        .execute(
            &Command::CloseFollowUp {
                incident: "INC-1".into(),
                follow_up: "fix-main/search".into(),
                by: "oncall".into(),
            },
            now,
        )
        .unwrap_err();
    assert_eq!(refused.rule(), "unknown-follow-up");
    assert!(
        refused
            .to_string()
            .contains("`fix-main/payments`, `lift-gate/prod`, `retro`"),
        "{refused}"
    );
    // Negative: a known id that is done already records nothing more.
    let again = ledger
        .execute(
            &Command::CloseFollowUp {
                incident: "INC-1".into(),
                follow_up: "fix-main/payments".into(),
                by: "oncall".into(),
            },
            now,
        )
        .unwrap();
    assert!(again.is_empty());
}

#[test]
fn way_back_says_what_holds_the_gate_what_each_follow_up_lacks_and_what_comes_next() {
    let report = run(&scenario(), 7);
    assert!(report.passed(), "{:?}", report.failures);
    let at = |what: &dyn Fn(&EventKind) -> bool| {
        let i = position(&report, what) + 1;
        ledger_before(&report.journal, i)
    };
    // Mitigated by the rollback: the drift holds the gate; fix main next.
    let ledger = at(&|k| matches!(k, EventKind::IncidentMitigated { .. }));
    let way = ledger.state().way_back(&"INC-1".into()).unwrap();
    assert_eq!(way.phase, IncidentPhase::Mitigated);
    assert!(way.gate_closed);
    assert!(
        matches!(way.gate_held, Some(knowngood::GateHold::Drift { .. })),
        "{way}"
    );
    let fix = way
        .follow_ups
        .iter()
        .find(|f| f.id == "fix-main/payments")
        .unwrap();
    assert!(
        fix.lacking.as_deref().unwrap().contains("no revert"),
        "{way}"
    );
    assert!(
        way.next.starts_with("choose the plan that fixes main"),
        "{way}"
    );
    // The revert shipped: main's fix can be closed now, and says so.
    let ledger = ledger_before(
        &report.journal,
        position(&report, |k| {
            matches!(k, EventKind::FollowUpCompleted { .. })
        }),
    );
    let way = ledger.state().way_back(&"INC-1".into()).unwrap();
    let fix = way
        .follow_ups
        .iter()
        .find(|f| f.id == "fix-main/payments")
        .unwrap();
    assert_eq!(fix.lacking, None, "{way}");
    assert_eq!(
        way.next, "close `fix-main/payments` with CloseFollowUp",
        "{way}"
    );
    assert!(way.gate_held.is_none(), "{way}");
    // At the end: resolved, the gate open, only the retro left.
    let state = report.journal.replay().unwrap();
    let way = state.way_back(&"INC-1".into()).unwrap();
    assert_eq!(way.phase, IncidentPhase::Resolved);
    assert!(!way.gate_closed);
    assert_eq!(way.next, "hold the retro and record it");
    assert!(way.to_string().contains("the gate is open"), "{way}");
    // Negative: an incident never declared has no way back.
    assert!(state.way_back(&"INC-404".into()).is_none());
}

fn up_front() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/scenarios/rollback-then-revert-up-front.toml");
    Scenario::load(&path).unwrap()
}

#[test]
fn resolution_up_front_the_revert_chosen_with_the_rollback_follows_the_mitigation() {
    for seed in 0..8 {
        let report = run(&up_front(), seed);
        assert!(report.passed(), "seed {seed}: {:?}", report.failures);
        let state = report.journal.replay().unwrap();
        let incident = state.incident(&"INC-1".into()).unwrap();
        assert_eq!(incident.phase, IncidentPhase::Resolved, "seed {seed}");
        assert_eq!(incident.strategy, Some(Strategy::Revert));
        assert_eq!(incident.resolve_with, None, "done with once chosen");
        // Chosen up front before the mitigation, by the person on call;
        // the revert chosen after it, as that person.
        let planned = position(&report, |k| {
            matches!(k, EventKind::ResolutionPlanned { .. })
        });
        let mitigated = position(&report, |k| {
            matches!(k, EventKind::IncidentMitigated { .. })
        });
        let chosen = position(&report, |k| {
            matches!(
                k,
                EventKind::StrategyChosen {
                    strategy: Strategy::Revert,
                    ..
                }
            )
        });
        assert!(planned < mitigated && mitigated < chosen, "seed {seed}");
        let EventKind::StrategyChosen { by, .. } = &report.journal.entries()[chosen].event.kind
        else {
            unreachable!()
        };
        assert_eq!(by.as_str(), "oncall");
    }
}

#[test]
fn resolution_up_front_only_a_resolving_plan_before_mitigation() {
    let report = run(&up_front(), 3);
    let declared = position(&report, |k| matches!(k, EventKind::IncidentDeclared { .. })) + 3;
    let mut ledger = ledger_before(&report.journal, declared);
    let now = report.journal.entries()[declared].event.at;
    let up_front = |strategy| Command::PlanResolution {
        incident: "INC-1".into(),
        strategy,
        by: "oncall".into(),
    };
    // A rollback resolves nothing.
    let refusal = ledger
        .execute(&up_front(Strategy::Rollback), now)
        .unwrap_err();
    assert_eq!(refusal.rule(), "resolution-up-front");
    assert!(refusal.to_string().contains("fixes main"), "{refusal}");
    // Positive: the revert, once.
    assert_eq!(
        ledger
            .execute(&up_front(Strategy::Revert), now)
            .unwrap()
            .len(),
        1
    );
    assert!(
        ledger
            .execute(&up_front(Strategy::Revert), now)
            .unwrap()
            .is_empty()
    );
    // Once mitigated, it is too late to choose up front: choose it now.
    let mitigated = position(&report, |k| {
        matches!(k, EventKind::IncidentMitigated { .. })
    }) + 1;
    let mut ledger = ledger_before(&report.journal, mitigated);
    let now = report.journal.entries()[mitigated].event.at;
    let refusal = ledger
        .execute(&up_front(Strategy::Revert), now)
        .unwrap_err();
    assert_eq!(refusal.rule(), "illegal-incident-step");
}

#[test]
fn resolution_up_front_the_driver_waits_for_the_mitigation_and_says_so() {
    let mut w = common::bad_commit_in_production(knowngood::Policy::default());
    w.choose(Strategy::Rollback);
    w.ok(Command::PlanResolution {
        incident: "INC-1".into(),
        strategy: Strategy::Revert,
        by: "alice".into(),
    });
    let store = w.stored();
    let clock = std::sync::Arc::new(knowngood::memory::ManualClock::at(common::t(w.clock + 1)));
    let report = knowngood::memory::block_on(async {
        let mut driver =
            knowngood::Driver::resume(common::in_memory_ports(store, clock), "knowngood-driver")
                .await
                .unwrap();
        driver.drive(&"INC-1".into()).await.unwrap()
    });
    let knowngood::DriveReport::AwaitingMitigation { then, steps } = &report else {
        panic!("{report:?}")
    };
    assert_eq!(*then, Strategy::Revert);
    assert!(!steps.is_empty());
    assert!(
        report.to_string().contains("mark the incident mitigated"),
        "{report}"
    );
}
