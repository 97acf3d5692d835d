//! Rollback to a named revision, planned and driven: the planner offers
//! it only when the revision is verified known good or the request says
//! why not (rule `rollback-target-known-good`), the plan carries who chose
//! it and with what clearance, and the driver carries it out as them.

mod common;

use std::sync::Arc;

use common::{SERVICE, World};
use knowngood::memory::{ManualClock, block_on};
use knowngood::recovery::CheckOutcome;
use knowngood::{
    Clearance, DriveReport, Driver, EventKind, PlanRequest, RecoveryPlan, Revision, Strategy,
};

/// [`World::named_targets`], with an incident on revision 6.
fn world() -> World {
    let mut w = World::named_targets();
    w.declare(knowngood::SuspectedCause::Deployment {
        slot: knowngood::Slot::new("prod", SERVICE, Revision(6)),
    });
    w
}

fn plan(w: &World, request: &PlanRequest) -> RecoveryPlan {
    knowngood::plan_for(
        w.ledger.state(),
        &"INC-1".into(),
        common::t(w.clock),
        &knowngood::Capabilities::all(),
        request,
    )
    .unwrap()
}

fn rollback_to(plan: &RecoveryPlan) -> Option<Revision> {
    plan.option(Strategy::Rollback)?
        .steps
        .iter()
        .find_map(|s| match &s.action {
            knowngood::recovery::EffectAction::Rollback { to, .. } => Some(*to),
            _ => None,
        })
}

/// Drives the incident's chosen plan on in-memory ports to its end.
fn drive(w: &World) -> (Driver, DriveReport) {
    let store = w.stored();
    let mut ports = common::ports_on(store);
    ports.clock = Arc::new(ManualClock::at(common::t(w.clock + 1)));
    let mut driver = block_on(Driver::resume(ports, "knowngood-driver")).unwrap();
    let report = block_on(driver.drive(&"INC-1".into())).unwrap();
    (driver, report)
}

fn rollback_requested(driver: &Driver) -> EventKind {
    driver
        .journal()
        .entries()
        .iter()
        .rev()
        .find(|e| matches!(e.event.kind, EventKind::RollbackRequested { .. }))
        .unwrap()
        .event
        .kind
        .clone()
}

#[test]
fn rollback_target_known_good_the_planner_offers_a_named_verified_revision() {
    let w = world();
    // Left to the core, the newest verified revision before 6: 5.
    assert_eq!(
        rollback_to(&plan(&w, &PlanRequest::default())),
        Some(Revision(5))
    );
    // Named, 2 is verified: offered, as named.
    let named = plan(&w, &PlanRequest::by("alice").rollback_to(Revision(2)));
    let option = named.option(Strategy::Rollback).unwrap();
    assert!(option.applicable, "{}", option.why_not());
    assert_eq!(rollback_to(&named), Some(Revision(2)));
    let check = option
        .checks
        .iter()
        .find(|c| c.name == "known-good-target")
        .unwrap();
    assert!(
        check.detail.contains("as named, was verified known good"),
        "{}",
        check.detail
    );
}

#[test]
fn rollback_target_known_good_an_unverified_named_revision_needs_a_reason_in_the_plan() {
    let w = world();
    for (revision, says) in [
        (3, "is not verified known good"),
        (4, "is not verified known good"),
    ] {
        let named = plan(
            &w,
            &PlanRequest::by("alice").rollback_to(Revision(revision)),
        );
        let option = named.option(Strategy::Rollback).unwrap();
        assert!(!option.applicable);
        let check = option
            .checks
            .iter()
            .find(|c| c.name == "known-good-target")
            .unwrap();
        assert_eq!(check.outcome, CheckOutcome::Failed);
        assert!(check.detail.contains(says), "{}", check.detail);
        assert!(
            check.detail.contains("Clearance::unverified_target"),
            "{}",
            check.detail
        );
        assert_eq!(
            named
                .choose(Strategy::Rollback, "alice")
                .unwrap_err()
                .rule(),
            "known-good-target"
        );
    }
    // A revision that cannot serve at all says why.
    let current = plan(&w, &PlanRequest::by("alice").rollback_to(Revision(6)));
    let option = current.option(Strategy::Rollback).unwrap();
    assert!(!option.applicable);
    assert!(
        option.why_not().contains("serving now"),
        "{}",
        option.why_not()
    );
}

#[test]
fn rollback_target_known_good_an_override_is_planned_chosen_and_driven_as_the_chooser() {
    let mut w = world();
    let request =
        PlanRequest::by("alice")
            .rollback_to(Revision(4))
            .clearance(Clearance::unverified_target(
                "4 ran the canary for an hour without errors",
            ));
    let named = plan(&w, &request);
    let option = named.option(Strategy::Rollback).unwrap();
    assert!(option.applicable, "{}", option.why_not());
    let choice = named.choose(Strategy::Rollback, "alice").unwrap();
    let knowngood::Command::ChooseStrategy { clearance, .. } = &choice else {
        panic!("{choice:?}")
    };
    assert_eq!(
        clearance.unverified_target.as_deref(),
        Some("4 ran the canary for an hour without errors")
    );
    w.ok(choice);
    let record = w.ledger.state().incident(&"INC-1".into()).unwrap();
    assert_eq!(
        record.chosen_by.as_ref().map(knowngood::Actor::as_str),
        Some("alice")
    );
    let (driver, report) = drive(&w);
    assert!(matches!(report, DriveReport::Done { .. }), "{report}");
    // The rollback was asked for as alice, with her reason, audited.
    let EventKind::RollbackRequested {
        by,
        target,
        unverified_target,
        ..
    } = rollback_requested(&driver)
    else {
        unreachable!()
    };
    assert_eq!((by.as_str(), target), ("alice", Revision(4)));
    assert_eq!(
        unverified_target.as_deref(),
        Some("4 ran the canary for an hour without errors")
    );
    // The driver still records that it carried the step out.
    let performed = driver.journal().entries().iter().any(|e| {
        matches!(&e.event.kind, EventKind::EffectRecorded { by: Some(by), .. } if by.as_str() == "knowngood-driver")
    });
    assert!(performed);
}

#[test]
fn plans_carry_only_the_clearance_a_step_needs() {
    // Negative: a verified named target with an unverified-target
    // clearance in the plan is driven without it (nothing to override).
    let mut w = world();
    let request = PlanRequest::by("alice")
        .rollback_to(Revision(2))
        .clearance(Clearance::unverified_target("not needed"));
    let named = plan(&w, &request);
    let option = named.option(Strategy::Rollback).unwrap();
    assert!(option.applicable, "{}", option.why_not());
    w.ok(named.choose(Strategy::Rollback, "alice").unwrap());
    let (driver, report) = drive(&w);
    assert!(matches!(report, DriveReport::Done { .. }), "{report}");
    let EventKind::RollbackRequested {
        unverified_target,
        target,
        ..
    } = rollback_requested(&driver)
    else {
        unreachable!()
    };
    assert_eq!(target, Revision(2));
    assert_eq!(unverified_target, None);
}
