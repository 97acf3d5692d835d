//! Every (deployment status × command) pair: legal pairs give the documented
//! events, illegal ones a typed rejection and an unchanged state and journal.

mod common;

use common::{SERVICE, World};
use knowngood::{
    Command, DeploymentStatus, EventKind, LifecycleStep, Rejection, Revision, Slot, Verdict,
};

/// A world whose `prod` history has revision 1 known good (build 1) and a
/// revision of build 2 in `status`; returns the slot of that revision.
fn world_with(status: DeploymentStatus) -> (World, Slot) {
    let mut w = World::new();
    let first = w.ready_for_prod(1);
    w.deploy("prod", &first, true);
    let second = w.ready_for_prod(2);
    let slot = match status {
        DeploymentStatus::Requested => w.request("prod", &second),
        DeploymentStatus::RollingOut => {
            let s = w.request("prod", &second);
            w.start(&s);
            s
        }
        DeploymentStatus::Verifying => w.roll_out("prod", &second),
        DeploymentStatus::KnownGood => w.deploy("prod", &second, true),
        DeploymentStatus::Failed => w.deploy("prod", &second, false),
        DeploymentStatus::Aborted => {
            let s = w.request("prod", &second);
            w.ok(Command::AbortRollout {
                slot: s.clone(),
                by: "alice".into(),
                reason: "wrong release".into(),
            });
            s
        }
        DeploymentStatus::Superseded => {
            let s = w.deploy("prod", &second, true);
            let third = w.ready_for_prod(3);
            w.deploy("prod", &third, true);
            s
        }
        DeploymentStatus::RolledBack => {
            let s = w.deploy("prod", &second, true);
            let back = common::slot_of(&w.rollback("prod", None).unwrap()[0]);
            w.start(&back);
            w.complete(&back);
            s
        }
        other => panic!("no fixture for {other}"),
    };
    let status_now = w
        .ledger
        .state()
        .history(&"prod".into(), &SERVICE.into())
        .unwrap();
    assert_eq!(
        status_now.get(slot.revision).unwrap().status,
        status,
        "fixture"
    );
    (w, slot)
}

fn commands(slot: &Slot) -> Vec<(LifecycleStep, Command)> {
    vec![
        (
            LifecycleStep::StartRollout,
            Command::StartRollout { slot: slot.clone() },
        ),
        (
            LifecycleStep::CompleteRollout,
            Command::CompleteRollout { slot: slot.clone() },
        ),
        (
            LifecycleStep::FailRollout,
            Command::FailRollout {
                slot: slot.clone(),
                reason: "pods crash-looping".into(),
                by: "deployer".into(),
            },
        ),
        (
            LifecycleStep::PassVerification,
            Command::RecordVerification {
                slot: slot.clone(),
                verdict: Verdict::Healthy,
                by: "health-probe".into(),
                evidence: None,
            },
        ),
        (
            LifecycleStep::FailVerification,
            Command::RecordVerification {
                slot: slot.clone(),
                verdict: Verdict::Unhealthy {
                    reason: "p99 latency 4s".into(),
                },
                by: "health-probe".into(),
                evidence: None,
            },
        ),
        (
            LifecycleStep::Abort,
            Command::AbortRollout {
                slot: slot.clone(),
                by: "alice".into(),
                reason: "stop".into(),
            },
        ),
    ]
}

/// The documented outcome of each pair: the event types, or `None` for a
/// rejection.
fn expected(status: DeploymentStatus, step: LifecycleStep) -> Option<Vec<&'static str>> {
    use DeploymentStatus as S;
    use LifecycleStep as L;
    Some(match (status, step) {
        (S::Requested, L::StartRollout) => vec!["rollout_started"],
        // Verifying: revision 1 (known good, superseded) is reinstated.
        (S::Requested | S::RollingOut | S::Verifying, L::Abort) => vec!["rollout_aborted"],
        // Revision 1 was known good, so completing revision 2 supersedes it.
        (S::RollingOut, L::CompleteRollout) => vec!["rollout_completed", "revision_superseded"],
        // A failure in production stops the line.
        (S::RollingOut, L::FailRollout) => vec!["rollout_failed", "gate_closed"],
        (S::Verifying, L::PassVerification) => vec!["deployment_verified"],
        (S::Verifying, L::FailVerification) => vec!["verification_failed", "gate_closed"],
        _ => return None,
    })
}

fn next_status(status: DeploymentStatus, step: LifecycleStep) -> DeploymentStatus {
    status.after(step).unwrap()
}

#[test]
fn every_status_and_command_pair_gives_the_documented_outcome() {
    let mut checked = 0;
    for status in DeploymentStatus::ALL {
        let (_, slot) = world_with(status);
        for (step, command) in commands(&slot) {
            let (mut w, _) = world_with(status);
            let before = w.ledger.clone();
            let outcome = w.run(command.clone());
            match (expected(status, step), outcome) {
                (Some(types), Ok(entries)) => {
                    assert_eq!(common::type_names(&entries), types, "{status} × {step}");
                    let history = w
                        .ledger
                        .state()
                        .history(&"prod".into(), &SERVICE.into())
                        .unwrap();
                    assert_eq!(
                        history.get(slot.revision).unwrap().status,
                        next_status(status, step),
                        "{status} × {step}"
                    );
                }
                (None, Err(rejection)) => {
                    assert_eq!(
                        rejection,
                        Rejection::IllegalTransition {
                            slot: slot.clone(),
                            status,
                            step
                        },
                        "{status} × {step}"
                    );
                    assert_eq!(w.ledger, before, "{status} × {step} changed something");
                }
                (want, got) => panic!("{status} × {step}: expected {want:?}, got {got:?}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 8 * 6);
}

#[test]
fn every_status_answers_rollback_as_documented() {
    use DeploymentStatus as S;
    for status in DeploymentStatus::ALL {
        let (mut w, slot) = world_with(status);
        let before = w.ledger.clone();
        let outcome = w.rollback("prod", None);
        match status {
            S::Requested | S::RollingOut => {
                assert_eq!(
                    outcome.unwrap_err(),
                    Rejection::RolloutInFlight { slot, status },
                    "{status}"
                );
                assert_eq!(w.ledger, before);
            }
            // What serves is revision 2 (or, once superseded, revision 3),
            // and revision 1 (build 1) is the last known good before it.
            S::Verifying | S::KnownGood | S::Failed | S::Superseded => {
                let entries = outcome.unwrap();
                let EventKind::RollbackRequested {
                    target, release, ..
                } = &entries[0].event.kind
                else {
                    panic!("{status}: {entries:?}")
                };
                assert_eq!(
                    *release,
                    common::release_id(if status == S::Superseded { 2 } else { 1 }),
                    "{status}"
                );
                assert!(target.get() <= 2, "{status}");
            }
            // Aborted: revision 1 still serves and nothing before it was
            // known good. Rolled back: the rollback revision 3 serves build 1,
            // revision 2 was rolled back and revision 1 carries the same
            // release, so nothing is left.
            S::Aborted | S::RolledBack => {
                assert_eq!(
                    outcome.unwrap_err().rule(),
                    "no-known-good-target",
                    "{status}"
                );
            }
            other => panic!("untested status {other}"),
        }
    }
}

#[test]
fn transition_function_matches_the_documented_table() {
    use DeploymentStatus as S;
    use LifecycleStep as L;
    let legal: Vec<(S, L, S)> = vec![
        (S::Requested, L::StartRollout, S::RollingOut),
        (S::Requested, L::Abort, S::Aborted),
        (S::RollingOut, L::CompleteRollout, S::Verifying),
        (S::RollingOut, L::FailRollout, S::Failed),
        (S::RollingOut, L::Abort, S::Aborted),
        (S::Verifying, L::PassVerification, S::KnownGood),
        (S::Verifying, L::FailVerification, S::Failed),
        (S::Verifying, L::Abort, S::Aborted),
        (S::Verifying, L::Supersede, S::Superseded),
        (S::Verifying, L::RollBack, S::RolledBack),
        (S::KnownGood, L::Supersede, S::Superseded),
        (S::KnownGood, L::RollBack, S::RolledBack),
        (S::Failed, L::Supersede, S::Failed),
        (S::Failed, L::RollBack, S::RolledBack),
        (S::Superseded, L::Reinstate, S::KnownGood),
    ];
    for status in S::ALL {
        for step in L::ALL {
            let want = legal
                .iter()
                .find(|(s, l, _)| *s == status && *l == step)
                .map(|(_, _, n)| *n);
            assert_eq!(status.after(step), want, "{status} × {step}");
        }
    }
    assert!(S::Aborted.is_final() && S::RolledBack.is_final());
    // A superseded revision serves again when what replaced it is aborted
    // before it was verified.
    assert!(!S::Superseded.is_final());
    assert!(!S::Failed.is_final() && !S::KnownGood.is_final());
}

#[test]
fn abort_and_rollback_are_distinct_commands_with_distinct_events() {
    // Abort: in flight, the stable revision keeps serving, no new revision.
    let (mut w, slot) = world_with(DeploymentStatus::RollingOut);
    let entries = w.ok(Command::AbortRollout {
        slot: slot.clone(),
        by: "alice".into(),
        reason: "canary errors".into(),
    });
    let EventKind::RolloutAborted { stable, .. } = &entries[0].event.kind else {
        panic!("{entries:?}")
    };
    assert_eq!(*stable, Some(Revision(1)));
    let history = w
        .ledger
        .state()
        .history(&"prod".into(), &SERVICE.into())
        .unwrap();
    assert_eq!(history.current().unwrap().revision, Revision(1));
    assert_eq!(history.deployments().len(), 2);

    // Abort after the rollout completed is refused with a hint to roll back.
    let (mut w, slot) = world_with(DeploymentStatus::KnownGood);
    let refusal = w
        .run(Command::AbortRollout {
            slot,
            by: "alice".into(),
            reason: "too late".into(),
        })
        .unwrap_err();
    assert!(
        refusal.to_string().contains("roll back instead"),
        "{refusal}"
    );
    // Rollback: a new revision.
    let entries = w.rollback("prod", None).unwrap();
    // A production rollback closes the gate too.
    assert_eq!(
        common::type_names(&entries),
        ["rollback_requested", "gate_closed"]
    );
    assert_eq!(common::slot_of(&entries[0]).revision, Revision(3));
}
