//! The dry run ("what if"), the rollback target rule shared by the core
//! and the planner, abort as an option, and unreleased work on main for
//! every option that ships main's head. Each rule: a positive and a
//! negative case.

mod common;

use common::{SERVICE, World, bad_commit_in_production, change_cause, release_id};
use knowngood::machine::rehearse;
use knowngood::recovery::EffectAction;
use knowngood::{Command, Policy, Revision, Slot, Strategy as S, SuspectedCause};

/// The event types the dry run of `strategy`, chosen from a fresh plan,
/// would record.
fn rehearsed(w: &World, strategy: S) -> Vec<&'static str> {
    let plan = w.plan();
    let choice = plan.choose(strategy, "alice").unwrap();
    rehearse(w.ledger.state(), &choice, common::t(w.clock + 1))
        .unwrap()
        .events
        .iter()
        .map(|e| e.kind.type_name())
        .collect()
}

#[test]
fn dry_run_shows_the_journal_a_plan_would_write_without_touching_the_state() {
    let mut w = bad_commit_in_production(Policy::default());
    let plan = w.plan();
    let choice = plan.choose(S::Rollback, "alice").unwrap();
    let before = w.ledger.clone();
    let what_if = rehearse(w.ledger.state(), &choice, common::t(w.clock + 1)).unwrap();
    assert_eq!(w.ledger, before, "the real state is untouched");
    let names: Vec<&str> = what_if.events.iter().map(|e| e.kind.type_name()).collect();
    assert_eq!(names[0], "strategy_chosen");
    assert!(names.contains(&"rollback_requested"), "{names:?}");
    assert!(names.contains(&"deployment_verified"), "{names:?}");
    // At the end build 1 serves again, verified.
    let serving = what_if
        .state
        .current_release(&"prod".into(), &SERVICE.into())
        .unwrap();
    assert_eq!(serving.id, release_id(1));
    // What the rehearsal said is what happens: the same commands pass.
    w.ok(choice);
}

#[test]
fn dry_run_refuses_a_plan_whose_step_the_core_refuses() {
    // A freeze on rollbacks: the rollback step would be refused.
    let mut w = bad_commit_in_production(Policy::default());
    w.ok(Command::DeclareFreeze {
        freeze: knowngood::Freeze::deny(
            "change-freeze",
            [knowngood::GatedAction::Rollback],
            common::t(0),
            "lead",
            "quarter end",
        ),
    });
    let plan = w.plan();
    let rollback = plan.option(S::Rollback).unwrap();
    assert!(!rollback.applicable);
    assert_eq!(rollback.blocked_by(), Some("frozen"));
    assert!(
        rollback.why_not().contains("would be refused"),
        "{}",
        rollback.why_not()
    );
    assert_eq!(
        plan.choose(S::Rollback, "alice").unwrap_err().rule(),
        "frozen"
    );
}

/// Builds 1..=4 verified in prod; build 3 is the suspect (build 4 was made
/// on top of it and carries it too).
fn suspect_before_current() -> World {
    let mut w = World::new();
    for n in 1..=4 {
        let r = w.ready_for_prod(n);
        w.deploy("prod", &r, true);
    }
    w.declare(SuspectedCause::Deployment {
        slot: Slot::new("prod", SERVICE, Revision(3)),
    });
    w
}

#[test]
fn rollback_target_rule_is_the_newest_qualifying_revision_before_the_suspect() {
    let w = suspect_before_current();
    let plan = w.plan();
    let rollback = plan.option(S::Rollback).unwrap();
    assert!(rollback.applicable, "{}", rollback.why_not());
    assert!(rollback.steps.iter().any(|s| matches!(
        &s.action,
        EffectAction::Rollback {
            to: Revision(2),
            ..
        }
    )));
    // Negative: without an incident the core's own default is the newest
    // qualifying revision before what serves, revision 3.
    let state = w.ledger.state();
    let target = state
        .rollback_target(&"prod".into(), &SERVICE.into(), Revision(4))
        .unwrap();
    assert_eq!(target.revision, Revision(3));
    let target = state
        .rollback_target(&"prod".into(), &SERVICE.into(), Revision(3))
        .unwrap();
    assert_eq!(target.revision, Revision(2));
}

/// Build `n`'s artifact expires from the registry.
fn expire(w: &mut World, n: u64) {
    let digest = w
        .ledger
        .state()
        .release(&release_id(n))
        .unwrap()
        .artifact
        .clone();
    w.ok(Command::ExpireArtifact {
        digest,
        by: "registry".into(),
    });
}

#[test]
fn rollback_target_rule_skips_candidates_that_no_longer_qualify_and_names_them() {
    let mut w = suspect_before_current();
    expire(&mut w, 2);
    let state = w.ledger.state();
    let target = state
        .rollback_target(&"prod".into(), &SERVICE.into(), Revision(3))
        .unwrap();
    assert_eq!(target.revision, Revision(1));
    assert_eq!(target.skipped.len(), 1);
    assert_eq!(target.skipped[0].revision, Revision(2));
    assert!(
        target.skipped[0].why.contains("expired"),
        "{:?}",
        target.skipped
    );
    let plan = w.plan();
    let rollback = plan.option(S::Rollback).unwrap();
    assert!(
        rollback
            .risks
            .iter()
            .any(|r| r.contains("skips revision 2")),
        "{:?}",
        rollback.risks
    );
    // Negative: nothing before revision 1 at all.
    let none = state
        .rollback_target(&"prod".into(), &SERVICE.into(), Revision(1))
        .unwrap_err();
    assert!(none.is_empty());
}

#[test]
fn rollback_target_rule_refusal_names_the_skipped_candidates() {
    let mut w = World::new();
    for n in 1..=2 {
        let r = w.ready_for_prod(n);
        w.deploy("prod", &r, true);
    }
    expire(&mut w, 1);
    let refusal = w.rollback("prod", None).unwrap_err();
    assert_eq!(refusal.rule(), "no-known-good-target");
    assert!(
        refusal.to_string().contains("skipped revision 1"),
        "{refusal}"
    );
}

#[test]
fn abort_is_offered_while_the_suspect_rolls_out_and_never_confused_with_a_rollback() {
    let mut w = common::suspect_rolling_out();
    let plan = w.plan();
    assert_eq!(
        plan.best().unwrap().strategy,
        S::Abort,
        "{}",
        plan.explanation
    );
    let abort = plan.option(S::Abort).unwrap();
    assert!(matches!(
        &abort.steps[0].action,
        EffectAction::Abort {
            revision: Revision(3),
            ..
        }
    ));
    // Rolling back an older healthy revision instead is refused by the core.
    let rollback = plan.option(S::Rollback).unwrap();
    assert!(!rollback.applicable);
    assert_eq!(rollback.blocked_by(), Some("rollout-in-flight"));
    // Carried out, the rollout is aborted (not rolled back).
    let names = rehearsed(&w, S::Abort);
    assert!(names.contains(&"rollout_aborted"), "{names:?}");
    assert!(!names.contains(&"rollback_requested"), "{names:?}");
    w.choose(S::Abort);
}

#[test]
fn abort_is_not_applicable_once_the_rollout_completed() {
    let w = bad_commit_in_production(Policy::default());
    let abort = w.plan().option(S::Abort).unwrap().clone();
    assert!(!abort.applicable);
    assert_eq!(abort.blocked_by(), Some("suspect-in-flight"));
}

#[test]
fn main_deploy_ready_every_option_shipping_mains_head_needs_it() {
    // PR-3 sits on main, unreleased, beyond the bad PR-2.
    let mut w = bad_commit_in_production(Policy::default());
    w.merge("PR-3", "c3", Some("998b"));
    w.ok(Command::MoveBranch {
        service: SERVICE.into(),
        branch: "main".into(),
        head: "c3".into(),
    });
    let plan = w.plan();
    for s in [S::Revert, S::FixForward] {
        let option = plan.option(s).unwrap();
        assert_eq!(option.blocked_by(), Some("main-deploy-ready"), "{s}");
        assert!(
            option.why_not().contains("`PR-3`"),
            "{s}: {}",
            option.why_not()
        );
    }
    // Negative: with nothing unreleased on main beyond the cause, both pass
    // that check.
    let clean = bad_commit_in_production(Policy::default()).plan();
    for s in [S::Revert, S::FixForward] {
        let option = clean.option(s).unwrap();
        assert!(
            option.checks.iter().any(|c| c.name == "main-deploy-ready"
                && c.outcome == knowngood::recovery::CheckOutcome::Passed),
            "{s}"
        );
    }
}

#[test]
fn abort_while_verifying_reinstates_the_known_good_revision_it_replaced() {
    // Build 1 known good in prod; build 2 (PR-2) rolled out, not verified.
    let mut w = World::new();
    let one = w.change_ready_for_prod(("PR-1", "a1", None), 1, |c| c);
    w.deploy("prod", &one, true);
    let two = w.change_ready_for_prod(("PR-2", "b2", Some("a1")), 2, |c| c);
    w.roll_out("prod", &two);
    w.declare(change_cause("PR-2"));
    let plan = w.plan();
    let abort = plan.option(S::Abort).unwrap();
    assert!(abort.applicable, "{}", abort.why_not());
    w.choose(S::Abort);
    w.ok(Command::AbortRollout {
        slot: Slot::new("prod", SERVICE, Revision(2)),
        by: "alice".into(),
        reason: "incident INC-1".into(),
    });
    let history = w
        .ledger
        .state()
        .history(&"prod".into(), &SERVICE.into())
        .unwrap();
    let current = history.current().unwrap();
    assert_eq!(
        current.revision,
        Revision(1),
        "what served before serves again"
    );
    assert_eq!(current.status, knowngood::DeploymentStatus::KnownGood);
    assert!(current.ended_at.is_none());
    assert_eq!(
        history.get(Revision(2)).unwrap().status,
        knowngood::DeploymentStatus::Aborted
    );
    assert_eq!(history.len(), 2, "no new revision: abort is not a rollback");
    // Build 1 was known good before; nothing measured it since the abort:
    // not yet mitigated (evidence before victory).
    let mitigate = || Command::MarkMitigated {
        incident: "INC-1".into(),
        by: "alice".into(),
    };
    let refused = w.run(mitigate()).unwrap_err();
    assert_eq!(refused.rule(), "not-yet-mitigated");
    assert!(
        refused
            .to_string()
            .contains("nothing has measured `payments` healthy"),
        "{refused}"
    );
    // Measured healthy by the plan's Verify step: mitigated.
    w.measured_healthy();
    w.ok(mitigate());
}

#[test]
fn abort_while_verifying_is_refused_when_nothing_verified_served_before() {
    let mut w = World::new();
    let one = w.ready_for_prod(1);
    let slot = w.roll_out("prod", &one);
    let before = w.ledger.clone();
    let refusal = w
        .run(Command::AbortRollout {
            slot,
            by: "alice".into(),
            reason: "stop".into(),
        })
        .unwrap_err();
    assert_eq!(refusal.rule(), "nothing-to-return-to");
    assert_eq!(w.ledger, before);
}

/// A flagged change whose verification failed in prod, its flag on, the
/// incident naming it.
fn flagged_in_prod_failed() -> World {
    let mut w = World::new();
    let one = w.change_ready_for_prod(("PR-1", "a1", None), 1, |c| c);
    w.deploy("prod", &one, true);
    let two = w.change_ready_for_prod(("PR-2", "f2", Some("a1")), 2, |c| {
        c.behind_flag("new-checkout")
    });
    w.ok(Command::SetFlag {
        environment: "prod".into(),
        flag: "new-checkout".into(),
        state: knowngood::FlagState::On,
        by: "bob".into(),
        clearance: knowngood::Clearance::none(),
    });
    w.deploy("prod", &two, false);
    w.declare(change_cause("PR-2"));
    w
}

#[test]
fn retoggle_after_a_failed_verification_checks_health_and_leaves_the_revision_failed() {
    let mut w = flagged_in_prod_failed();
    let plan = w.plan();
    let retoggle = plan.option(S::Retoggle).unwrap();
    assert!(retoggle.applicable, "{}", retoggle.why_not());
    // The flag goes off; the failed revision is not verified after the fact.
    let names = rehearsed(&w, S::Retoggle);
    assert!(names.contains(&"flag_set"), "{names:?}");
    assert!(!names.contains(&"deployment_verified"), "{names:?}");
    w.choose(S::Retoggle);
    // Negative: with the flag already off, retoggle does not help.
    let mut off = flagged_in_prod_failed();
    off.ok(Command::SetFlag {
        environment: "prod".into(),
        flag: "new-checkout".into(),
        state: knowngood::FlagState::Off,
        by: "bob".into(),
        clearance: knowngood::Clearance::none(),
    });
    assert_eq!(
        off.plan().option(S::Retoggle).unwrap().blocked_by(),
        Some("flags-on")
    );
}

/// The release a dry run of `strategy` registers for its stand-in build.
fn stand_in_release(w: &World, strategy: S) -> knowngood::ReleaseId {
    let plan = w.plan();
    let choice = plan
        .choose(strategy, "alice")
        .unwrap_or_else(|e| panic!("{strategy} is not applicable: {e}"));
    rehearse(w.ledger.state(), &choice, common::t(w.clock + 1))
        .unwrap()
        .events
        .iter()
        .find_map(|e| match &e.kind {
            knowngood::EventKind::ReleaseRegistered { release } => Some(release.id.clone()),
            _ => None,
        })
        .expect("the revert builds")
}

#[test]
fn dry_run_stand_in_build_never_takes_the_name_of_a_registered_release() {
    let mut w = bad_commit_in_production(Policy::default());
    // Without a clash, the stand-in takes the next name after what serves.
    let next = stand_in_release(&w, S::Revert);
    // A build CI made under that very name (numbered after the one that
    // broke, say): the revert stays applicable and its stand-in takes
    // another name, never refused as a clash with a release it is not.
    w.ok(Command::RegisterArtifact {
        artifact: knowngood::Artifact::new(
            SERVICE,
            common::digest(99),
            semver::Version::new(9, 9, 9),
            99,
            "c0099",
        ),
    });
    w.ok(Command::RegisterRelease {
        release: knowngood::Release::new(next.clone(), SERVICE, common::digest(99), "cfg-99"),
    });
    let other = stand_in_release(&w, S::Revert);
    assert_ne!(other, next);
    assert!(
        w.ledger.state().release(&other).is_none(),
        "{other} is free"
    );
}
