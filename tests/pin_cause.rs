//! Pinning a cause: an incident suspected on a deployment is pinned to the
//! change that deployment brought (rule `pin-cause`); the change is
//! poisoned and the planner can offer what undoes a change.

mod common;

use common::World;
use knowngood::{Command, EventKind, Policy, Strategy, SuspectedCause};

/// PR-1 (a1) as build 1 verified in prod; PR-2 (b2) as build 2 verified
/// in prod; INC-1 suspects the deployment of build 2.
fn suspected_deployment() -> World {
    let mut w = World::new();
    w.adopt(common::timed_policy(Policy::default()));
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    w.merge("PR-2", "b2", Some("a1"));
    let two = w.build_at(2, "b2");
    w.through_qa(&two);
    let slot = w.deploy("prod", &two, true);
    w.declare(SuspectedCause::Deployment { slot });
    w
}

fn pin(change: &str) -> Command {
    Command::PinCause {
        incident: "INC-1".into(),
        change: change.into(),
        by: "alice".into(),
    }
}

#[test]
fn pin_cause_the_change_a_suspected_deployment_brought() {
    let mut w = suspected_deployment();
    // Before: no revert, and the planner names what the deployment brought.
    let revert = w.plan().option(Strategy::Revert).cloned().unwrap();
    assert!(!revert.applicable);
    assert!(
        revert.why_not().contains("brought `PR-2` alone"),
        "{}",
        revert.why_not()
    );
    let slot = match &w.ledger.state().incident(&"INC-1".into()).unwrap().cause {
        SuspectedCause::Deployment { slot } => slot.clone(),
        other => panic!("{other}"),
    };
    assert_eq!(w.ledger.state().changes_brought(&slot), ["PR-2".into()]);
    let entries = w.ok(pin("PR-2"));
    assert_eq!(
        common::type_names(&entries),
        ["cause_pinned", "change_poisoned"]
    );
    assert!(entries[0].event.kind.is_audited());
    let state = w.ledger.state();
    assert_eq!(
        state.incident(&"INC-1".into()).unwrap().cause,
        SuspectedCause::Change {
            change: "PR-2".into()
        }
    );
    assert!(state.is_poisoned(&"PR-2".into()));
    // After: what undoes a change is on the table.
    w.clock += 1;
    let revert = w.plan().option(Strategy::Revert).cloned().unwrap();
    assert!(revert.applicable, "{}", revert.why_not());
    // Pinned again to the same change: nothing new.
    assert!(w.ok(pin("PR-2")).is_empty());
}

#[test]
fn pin_cause_refused_for_a_change_the_deployment_did_not_bring_or_a_cause_not_a_deployment() {
    let mut w = suspected_deployment();
    let refusal = w.run(pin("PR-1")).unwrap_err();
    assert_eq!(refusal.rule(), "pin-cause");
    assert!(
        refusal
            .to_string()
            .contains("did not bring it (it brought `PR-2`)"),
        "{refusal}"
    );
    assert_eq!(w.run(pin("PR-9")).unwrap_err().rule(), "unknown-change");
    // An external cause is not a deployment.
    let mut w = World::new();
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    w.declare(common::external());
    let refusal = w.run(pin("PR-1")).unwrap_err();
    assert_eq!(refusal.rule(), "pin-cause");
    assert!(
        refusal.to_string().contains("not a deployment"),
        "{refusal}"
    );
    // Nothing was recorded by the refusals.
    assert!(
        !w.ledger
            .journal()
            .entries()
            .iter()
            .any(|e| matches!(e.event.kind, EventKind::CausePinned { .. }))
    );
}
