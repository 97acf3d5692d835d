//! Approvals per environment: distinct approvers from a role, never the
//! requester; break-glass with a written justification, always audited.

mod common;

use common::{SERVICE, World, release_id};
use knowngood::{ApprovalRule, Clearance, Command, EventKind, Policy, Rejection, Revision, Slot};

fn world() -> World {
    let mut w = World::new();
    let mut policy = Policy::default();
    policy.roles.insert(
        "release-managers".into(),
        ["carol".into(), "dave".into(), "erin".into()].into(),
    );
    policy
        .approvals
        .insert("prod".into(), ApprovalRule::new(2, "release-managers"));
    w.ok(Command::AdoptPolicy {
        policy,
        by: "alice".into(),
    });
    w.ready_for_prod(1);
    w
}

fn approve(
    w: &mut World,
    slot: &Slot,
    by: &str,
) -> Result<Vec<knowngood::JournalEntry>, Rejection> {
    w.run(Command::Approve {
        slot: slot.clone(),
        by: by.into(),
    })
}

fn start(w: &mut World, slot: &Slot) -> Result<Vec<knowngood::JournalEntry>, Rejection> {
    w.run(Command::StartRollout { slot: slot.clone() })
}

#[test]
fn approvals_two_distinct_approvers_from_the_role_let_the_rollout_start() {
    let mut w = world();
    let slot = common::slot_of(&w.ok(Command::deploy("prod", release_id(1), "carol"))[0]);
    assert_eq!(
        start(&mut w, &slot).unwrap_err(),
        Rejection::ApprovalsMissing {
            slot: slot.clone(),
            have: 0,
            need: 2,
            role: "release-managers".into()
        }
    );
    approve(&mut w, &slot, "dave").unwrap();
    assert!(
        approve(&mut w, &slot, "dave").unwrap().is_empty(),
        "the same approver twice counts once"
    );
    let refusal = start(&mut w, &slot).unwrap_err();
    assert!(
        refusal.to_string().contains("has 1 of the 2 approvals"),
        "{refusal}"
    );
    approve(&mut w, &slot, "erin").unwrap();
    assert!(start(&mut w, &slot).is_ok());
    let d = w.prod_history().get(Revision(1)).unwrap();
    assert_eq!(*d.approvals(), ["dave".into(), "erin".into()].into());
    // Once started, there is nothing left to approve.
    assert_eq!(
        approve(&mut w, &slot, "carol").unwrap_err().rule(),
        "not-awaiting-approval"
    );
}

#[test]
fn approvals_the_requester_cannot_approve_their_own_deployment() {
    let mut w = world();
    let slot = common::slot_of(&w.ok(Command::deploy("prod", release_id(1), "carol"))[0]);
    let before = w.ledger.clone();
    assert_eq!(
        approve(&mut w, &slot, "carol").unwrap_err(),
        Rejection::SelfApproval {
            slot: slot.clone(),
            actor: "carol".into()
        }
    );
    assert_eq!(w.ledger, before);
    // Someone outside the role cannot approve either.
    assert_eq!(
        approve(&mut w, &slot, "mallory").unwrap_err(),
        Rejection::NotInRole {
            actor: "mallory".into(),
            role: "release-managers".into(),
            environment: "prod".into()
        }
    );
}

#[test]
fn approvals_are_not_needed_where_the_policy_asks_for_none_nor_for_rollbacks() {
    let mut w = world();
    let two = w.build(2);
    let slot = w.request("dev", &two);
    assert!(start(&mut w, &slot).is_ok());
    w.complete(&slot);
    // Rollbacks restore what already served: no approvals.
    let slot = common::slot_of(&w.ok(Command::deploy("prod", release_id(1), "carol"))[0]);
    approve(&mut w, &slot, "dave").unwrap();
    approve(&mut w, &slot, "erin").unwrap();
    w.start(&slot);
    w.complete(&slot);
    w.verify(&slot, true);
    let three = w.ready_for_prod(3);
    let slot = common::slot_of(&w.ok(Command::deploy("prod", three, "carol"))[0]);
    approve(&mut w, &slot, "dave").unwrap();
    approve(&mut w, &slot, "erin").unwrap();
    w.start(&slot);
    w.complete(&slot);
    w.verify(&slot, true);
    let back = common::slot_of(&w.rollback("prod", None).unwrap()[0]);
    assert!(start(&mut w, &back).is_ok());
}

#[test]
fn break_glass_skips_approvals_with_a_journaled_justification() {
    let mut w = world();
    let cmd = Command::deploy("prod", release_id(1), "carol").with_clearance(
        Clearance::break_glass("SEV1: checkout down, approvers unreachable"),
    );
    let entries = w.ok(cmd);
    assert_eq!(
        common::type_names(&entries),
        ["deployment_requested", "break_glass_used"]
    );
    let EventKind::BreakGlassUsed {
        by, justification, ..
    } = &entries[1].event.kind
    else {
        panic!()
    };
    assert_eq!(
        (by.as_str(), justification.as_str()),
        ("carol", "SEV1: checkout down, approvers unreachable")
    );
    assert!(entries[1].event.kind.is_audited() && entries[1].event.kind.is_exception());
    let slot = common::slot_of(&entries[0]);
    assert!(start(&mut w, &slot).is_ok());
    let d = w.prod_history().get(Revision(1)).unwrap();
    assert_eq!(
        d.break_glass(),
        Some("SEV1: checkout down, approvers unreachable")
    );
    // The exception survives the journal round trip and shows in the audit.
    let mut out = Vec::new();
    w.ledger.journal().write_jsonl(&mut out).unwrap();
    let read = knowngood::Journal::from_jsonl(out.as_slice()).unwrap();
    assert_eq!(
        read.entries()
            .iter()
            .filter(|e| e.event.kind.is_exception())
            .count(),
        1
    );
}

#[test]
fn break_glass_needs_a_justification_and_only_applies_to_deployments() {
    let mut w = world();
    let cmd = Command::deploy("prod", release_id(1), "carol")
        .with_clearance(Clearance::break_glass("  "));
    assert_eq!(w.run(cmd).unwrap_err().rule(), "reason-required");
    let rollback = Command::rollback("prod", SERVICE, "carol", "bad")
        .with_clearance(Clearance::break_glass("x"));
    // Nothing runs in prod yet, so the rollback is refused for that first.
    assert_eq!(w.run(rollback).unwrap_err().rule(), "nothing-to-roll-back");
    let one = release_id(1);
    let slot = common::slot_of(
        &w.ok(Command::deploy("prod", one, "carol").with_clearance(Clearance::break_glass("sev1")))
            [0],
    );
    w.start(&slot);
    w.complete(&slot);
    w.verify(&slot, true);
    let two = w.ready_for_prod(2);
    let slot = common::slot_of(
        &w.ok(Command::deploy("prod", two, "carol").with_clearance(Clearance::break_glass("sev1")))
            [0],
    );
    w.start(&slot);
    w.complete(&slot);
    w.verify(&slot, true);
    let rollback = Command::rollback("prod", SERVICE, "carol", "bad")
        .with_clearance(Clearance::break_glass("x"));
    assert_eq!(
        w.run(rollback).unwrap_err().rule(),
        "break-glass-not-applicable"
    );
}

#[test]
fn approvals_policy_that_can_never_be_satisfied_is_refused() {
    let mut w = World::new();
    let mut policy = Policy::default();
    policy.roles.insert("sre".into(), ["carol".into()].into());
    policy
        .approvals
        .insert("prod".into(), ApprovalRule::new(2, "sre"));
    let refusal = w
        .run(Command::AdoptPolicy {
            policy,
            by: "alice".into(),
        })
        .unwrap_err();
    assert_eq!(
        refusal,
        Rejection::UnsatisfiableApprovals {
            environment: "prod".into(),
            role: "sre".into(),
            need: 2,
            members: 1
        }
    );
}
