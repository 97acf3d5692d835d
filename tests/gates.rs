//! Delivery gates (stop the line), recovery plans, reopening, and trusted
//! artifacts for production.

mod common;

use common::{SERVICE, World, release_id};
use knowngood::{Command, GateCause, GateHold, Policy, RecoveryPermit, Rejection, Revision, Slot};

fn reopen(w: &mut World) -> Result<(), Rejection> {
    w.run(Command::ReopenGate {
        environment: "prod".into(),
        by: "alice".into(),
        reason: "recovered".into(),
    })
    .map(drop)
}

fn authorize(w: &mut World, permits: Vec<RecoveryPermit>) {
    w.ok(Command::AuthorizeRecovery {
        environment: "prod".into(),
        plan: "INC-1".into(),
        permits,
        by: "alice".into(),
    });
}

/// Build 1 good in prod, build 2 rolled out in prod and failing verification
/// (without the fixtures' blanket plan).
fn failed_in_prod() -> World {
    let mut w = World::new();
    let one = w.ready_for_prod(1);
    w.deploy("prod", &one, true);
    let two = w.ready_for_prod(2);
    let slot = w.roll_out("prod", &two);
    w.verify(&slot, false);
    w
}

#[test]
fn stop_the_line_a_failed_production_rollout_closes_the_gate_with_reason_and_author() {
    let w = failed_in_prod();
    let gate = w.gate("prod").expect("closed");
    assert_eq!(gate.by, "health-probe".into());
    assert!(gate.reason.contains("error rate 12%"), "{}", gate.reason);
    assert_eq!(
        gate.cause,
        GateCause::FailedDeployment {
            slot: Slot::new("prod", SERVICE, Revision(2))
        }
    );
    // A failed rollout (not only a failed verification) closes it too.
    let mut w = World::new();
    let one = w.ready_for_prod(1);
    let slot = w.request("prod", &one);
    w.start(&slot);
    w.ok(Command::FailRollout {
        slot,
        reason: "image pull backoff".into(),
        by: "deployer".into(),
    });
    assert!(w.gate("prod").is_some());
}

#[test]
fn stop_the_line_does_not_close_gates_outside_production() {
    let mut w = World::new();
    let one = w.build(1);
    w.deploy("dev", &one, false);
    assert!(w.gate("dev").is_none());
    assert!(w.gate("prod").is_none());
}

#[test]
fn closed_gate_admits_only_the_steps_of_the_active_recovery_plan() {
    let mut w = failed_in_prod();
    let three = w.ready_for_prod(3);
    // No plan yet: neither a rollback nor a deploy.
    let refusal = w.rollback("prod", None).unwrap_err();
    assert_eq!(refusal.rule(), "gate-closed");
    assert!(
        refusal
            .to_string()
            .contains("no recovery plan is authorized to roll back `payments`"),
        "{refusal}"
    );
    assert_eq!(
        w.run(Command::deploy("prod", three.clone(), "bot"))
            .unwrap_err()
            .rule(),
        "gate-closed"
    );
    // A plan that permits the rollback only.
    authorize(
        &mut w,
        vec![RecoveryPermit::Rollback {
            service: SERVICE.into(),
        }],
    );
    let refusal = w
        .run(Command::deploy("prod", three.clone(), "bot"))
        .unwrap_err();
    assert_eq!(
        refusal,
        Rejection::GateClosed {
            environment: "prod".into(),
            reason: w.gate("prod").unwrap().reason.clone(),
            closed_by: "health-probe".into(),
            plan: Some("INC-1".into()),
            step: RecoveryPermit::Deploy {
                release: three.clone()
            },
        }
    );
    assert!(w.rollback("prod", None).is_ok());
    // Other environments are not affected.
    let four = w.build(4);
    assert!(w.run(Command::deploy("dev", four, "bot")).is_ok());
}

#[test]
fn recovery_plans_need_a_closed_gate_and_at_least_one_step() {
    let mut w = World::new();
    let open = w
        .run(Command::AuthorizeRecovery {
            environment: "prod".into(),
            plan: "P".into(),
            permits: vec![RecoveryPermit::Rollback {
                service: SERVICE.into(),
            }],
            by: "alice".into(),
        })
        .unwrap_err();
    assert_eq!(
        open,
        Rejection::GateOpen {
            environment: "prod".into()
        }
    );
    w.ok(Command::CloseGate {
        environment: "prod".into(),
        by: "alice".into(),
        reason: "incident INC-1".into(),
    });
    let empty = w
        .run(Command::AuthorizeRecovery {
            environment: "prod".into(),
            plan: "P".into(),
            permits: vec![],
            by: "alice".into(),
        })
        .unwrap_err();
    assert_eq!(empty.rule(), "empty-recovery-plan");
}

#[test]
fn manual_stop_the_line_needs_a_reason_and_is_recorded() {
    let mut w = World::new();
    assert_eq!(
        w.run(Command::CloseGate {
            environment: "prod".into(),
            by: "alice".into(),
            reason: String::new()
        })
        .unwrap_err()
        .rule(),
        "reason-required"
    );
    w.ok(Command::CloseGate {
        environment: "prod".into(),
        by: "alice".into(),
        reason: "customer reports".into(),
    });
    let gate = w.gate("prod").unwrap();
    assert_eq!(
        (gate.by.as_str(), gate.cause.clone()),
        ("alice", GateCause::Manual)
    );
    // Closing again changes nothing; reopening an environment with nothing
    // running is allowed.
    assert!(
        w.ok(Command::CloseGate {
            environment: "prod".into(),
            by: "bob".into(),
            reason: "again".into()
        })
        .is_empty()
    );
    assert_eq!(w.gate("prod").unwrap().by.as_str(), "alice");
    assert!(reopen(&mut w).is_ok());
    assert!(w.gate("prod").is_none());
}

#[test]
fn gate_reopens_only_once_production_is_known_good_without_drift() {
    let mut w = failed_in_prod();
    // Still serving the failed revision.
    assert_eq!(
        reopen(&mut w).unwrap_err(),
        Rejection::GateMustStayClosed {
            environment: "prod".into(),
            hold: GateHold::NotKnownGood {
                service: SERVICE.into(),
                revision: Revision(2),
                status: knowngood::DeploymentStatus::Failed
            }
        }
    );
    authorize(
        &mut w,
        vec![
            RecoveryPermit::Rollback {
                service: SERVICE.into(),
            },
            RecoveryPermit::Deploy {
                release: release_id(3),
            },
        ],
    );
    let back = common::slot_of(&w.rollback("prod", None).unwrap()[0]);
    w.start(&back);
    w.complete(&back);
    w.verify(&back, true);
    // Known good again, but it is a rollback: drift.
    let hold = reopen(&mut w).unwrap_err();
    assert_eq!(
        hold.to_string(),
        "the delivery gate of `prod` must stay closed: `payments` runs rollback revision 3 (drift from main): ship a fixed release first"
    );
    // A fixed release through the pipeline and the plan.
    let three = w.ready_for_prod(3);
    w.deploy("prod", &three, true);
    assert!(reopen(&mut w).is_ok());
    // With the gate open, the line is back to normal.
    let four = w.ready_for_prod(4);
    assert!(w.run(Command::deploy("prod", four, "bot")).is_ok());
}

#[test]
fn a_production_rollback_on_an_open_gate_closes_it() {
    let mut w = World::new();
    let one = w.ready_for_prod(1);
    w.deploy("prod", &one, true);
    let two = w.ready_for_prod(2);
    w.deploy("prod", &two, true);
    w.rollback("prod", None).unwrap();
    let gate = w.gate("prod").unwrap();
    assert_eq!(gate.by.as_str(), "alice");
    assert!(matches!(gate.cause, GateCause::Rollback { .. }));
}

#[test]
fn trusted_artifacts_production_refuses_builds_from_untrusted_builders() {
    let mut w = World::new();
    let mut policy = Policy::default();
    policy.trusted_builders.insert("ci-main".into());
    w.ok(Command::AdoptPolicy {
        policy,
        by: "alice".into(),
    });
    w.merge("PR-1", "a1", None);
    let laptop = w.build_with(1, "a1", Some("bobs-laptop"));
    w.through_qa(&laptop); // other environments accept it
    let refusal = w.run(Command::deploy("prod", laptop, "bot")).unwrap_err();
    assert_eq!(
        refusal,
        Rejection::UntrustedArtifact {
            digest: common::digest(1),
            builder: Some("bobs-laptop".into()),
            trusted: vec!["ci-main".into()]
        }
    );
    assert!(
        refusal.to_string().contains("built by `bobs-laptop`"),
        "{refusal}"
    );
    let anonymous = w.build_with(2, "a1", None);
    w.through_qa(&anonymous);
    assert_eq!(
        w.run(Command::deploy("prod", anonymous, "bot"))
            .unwrap_err()
            .rule(),
        "untrusted-artifact"
    );
    let trusted = w.build_with(3, "a1", Some("ci-main"));
    w.through_qa(&trusted);
    assert!(w.run(Command::deploy("prod", trusted, "bot")).is_ok());
}

#[test]
fn trusted_artifacts_production_refuses_a_digest_not_verified_upstream() {
    let mut w = World::new();
    let mut policy = Policy::default();
    policy.trusted_builders.insert("ci-main".into());
    w.ok(Command::AdoptPolicy {
        policy,
        by: "alice".into(),
    });
    let built = w.build_with(1, "a1", Some("ci-main"));
    w.deploy("dev", &built, true);
    assert_eq!(
        w.run(Command::deploy("prod", built, "bot"))
            .unwrap_err()
            .rule(),
        "not-verified-upstream"
    );
}
