//! The core enforces the policy even when no planner was asked (rule:
//! "whatever a policy forbids, the core refuses"). Each rule: a positive
//! and a negative case.

mod common;

use common::{SERVICE, World, bad_commit_in_production, release_id};
use knowngood::{Clearance, Command, Policy, Strategy};

fn rollback_with(
    w: &mut World,
    by: &str,
    clearance: Clearance,
) -> Result<(), knowngood::Rejection> {
    w.run(Command::Rollback {
        environment: "prod".into(),
        service: SERVICE.into(),
        to_revision: None,
        by: by.into(),
        reason: "incident INC-1".into(),
        clearance,
        effect: None,
    })
    .map(drop)
}

fn forward_only_with_breakers() -> Policy {
    let mut policy = Policy::forward_only();
    policy
        .roles
        .insert("incident-commanders".into(), ["carol".into()].into());
    policy
        .break_glass_roles
        .insert("incident-commanders".into());
    policy
}

#[test]
fn forward_only_a_direct_rollback_is_refused_by_the_core() {
    let mut w = bad_commit_in_production(forward_only_with_breakers());
    let before = w.ledger.clone();
    let refusal = rollback_with(&mut w, "alice", Clearance::none()).unwrap_err();
    assert_eq!(refusal.rule(), "forward-only");
    assert!(
        refusal.to_string().contains("`incident-commanders`"),
        "{refusal}"
    );
    assert_eq!(w.ledger, before, "a refusal records nothing");
    // Breaking glass without the role is refused too.
    let refusal = rollback_with(&mut w, "alice", Clearance::break_glass("site down")).unwrap_err();
    assert_eq!(refusal.rule(), "forward-only");
}

#[test]
fn forward_only_a_rollback_with_broken_glass_from_a_permitted_role_is_audited() {
    let mut w = bad_commit_in_production(forward_only_with_breakers());
    // The incident closed the gate: the rollback must be the authorized plan.
    w.ok(Command::AuthorizeRecovery {
        environment: "prod".into(),
        plan: "INC-1/break-glass".into(),
        permits: vec![knowngood::RecoveryPermit::Rollback {
            service: SERVICE.into(),
        }],
        by: "carol".into(),
    });
    let refusal = rollback_with(&mut w, "carol", Clearance::break_glass(" ")).unwrap_err();
    assert_eq!(refusal.rule(), "reason-required");
    rollback_with(
        &mut w,
        "carol",
        Clearance::break_glass("checkout down for everyone"),
    )
    .unwrap();
    let glass = w.ledger.journal().entries().iter().any(|e| {
        matches!(&e.event.kind, knowngood::EventKind::BreakGlassUsed { justification, by, .. }
            if justification == "checkout down for everyone" && by.as_str() == "carol")
    });
    assert!(glass, "the broken glass is in the journal");
}

#[test]
fn forward_only_choosing_rollback_is_refused_by_the_core_with_the_planner_rule() {
    let mut w = bad_commit_in_production(Policy::forward_only());
    let plan = w.plan();
    let refusal = plan.choose(Strategy::Rollback, "alice").unwrap_err();
    assert_eq!(refusal.rule(), "strategy-forbidden");
    // Forced past the planner, the core refuses on the same rule.
    let forced = common::bare_choice(Strategy::Rollback);
    assert_eq!(w.run(forced).unwrap_err().rule(), "strategy-forbidden");
    // Negative: the same choice under a policy that allows rollbacks.
    let mut allowed = bad_commit_in_production(Policy::default());
    allowed.choose(Strategy::Rollback);
}

#[test]
fn hotfix_lane_disabled_deployments_along_it_are_refused() {
    let mut w = World::new();
    let hotfix = w.build(7);
    let refusal = w
        .run(Command::deploy("hotfix-dev", hotfix.clone(), "bob"))
        .unwrap_err();
    assert_eq!(refusal.rule(), "hotfix-lane-disabled");
    // Negative: with a hotfix lane in the policy, the same deployment goes.
    let mut w = World::new();
    w.adopt(Policy::hotfix_lane("Hotfix-{build}"));
    let hotfix = w.build(7);
    assert!(w.run(Command::deploy("hotfix-dev", hotfix, "bob")).is_ok());
}

#[test]
fn continuous_deployment_rules_out_the_fast_tracked_revert_in_flight() {
    let cd = Policy::continuous_deployment();
    assert_eq!(
        cd.forbids(Strategy::RevertInFlightThenFix).as_deref(),
        Some(
            "main is always deploy-ready under this policy: nothing in flight blocks a fix, so fix forward instead"
        )
    );
    assert!(cd.forbids(Strategy::FixForward).is_none());
    // No hotfix lane under continuous deployment either.
    assert!(cd.forbids(Strategy::Hotfix).is_some());
    let mut w = bad_commit_in_production(cd);
    let forced = common::bare_choice(Strategy::RevertInFlightThenFix);
    assert_eq!(w.run(forced).unwrap_err().rule(), "strategy-forbidden");
    // Negative: without the preset the core lets the choice through.
    let mut plain = bad_commit_in_production(Policy::default());
    let forced = common::bare_choice(Strategy::RevertInFlightThenFix);
    assert!(plain.run(forced).is_ok());
    let _ = release_id(1);
}

fn allowing(strategies: &[Strategy]) -> Policy {
    let mut policy = Policy::default();
    policy.allowed_strategies = strategies.iter().copied().collect();
    policy
}

#[test]
fn strategy_forbidden_binds_a_direct_rollback_too() {
    let mut w = bad_commit_in_production(allowing(&[Strategy::Revert, Strategy::FixForward]));
    let before = w.ledger.clone();
    let refusal = rollback_with(&mut w, "alice", Clearance::none()).unwrap_err();
    assert_eq!(refusal.rule(), "strategy-forbidden");
    assert!(
        refusal
            .to_string()
            .contains("the policy does not allow rollback"),
        "{refusal}"
    );
    assert_eq!(w.ledger, before);
    // Negative: allowed, the same rollback goes (as the authorised plan
    // through the gate the incident closed).
    let mut w = bad_commit_in_production(allowing(&[Strategy::Rollback]));
    w.ok(Command::AuthorizeRecovery {
        environment: "prod".into(),
        plan: "INC-1/rollback".into(),
        permits: vec![knowngood::RecoveryPermit::Rollback {
            service: SERVICE.into(),
        }],
        by: "alice".into(),
    });
    rollback_with(&mut w, "alice", Clearance::none()).unwrap();
}

#[test]
fn strategy_forbidden_binds_an_abort_that_returns_to_the_release_before() {
    let abort_serving = |policy: Policy| {
        let mut w = World::new();
        w.adopt(policy);
        let one = w.ready_for_prod(1);
        w.deploy("prod", &one, true);
        let two = w.ready_for_prod(2);
        let serving = w.roll_out("prod", &two); // serves, not yet verified
        w.run(Command::AbortRollout {
            slot: serving,
            by: "alice".into(),
            reason: "error rate climbing".into(),
        })
        .map(drop)
    };
    let refusal = abort_serving(allowing(&[Strategy::Rollback])).unwrap_err();
    assert_eq!(refusal.rule(), "strategy-forbidden");
    // Negative: allowed, it goes.
    abort_serving(allowing(&[Strategy::Abort])).unwrap();
    // Stopping a rollout before it serves withdraws it and returns
    // production to nothing older: not the strategy, always allowed.
    let mut w = World::new();
    w.adopt(allowing(&[Strategy::Rollback]));
    let one = w.ready_for_prod(1);
    w.deploy("prod", &one, true);
    let two = w.ready_for_prod(2);
    let requested = w.request("prod", &two);
    w.ok(Command::AbortRollout {
        slot: requested,
        by: "alice".into(),
        reason: "wrong config".into(),
    });
}
