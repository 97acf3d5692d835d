//! Flags say no more than the truth: a change only partly behind a flag
//! cannot be retoggled away, and a flag at 0 % (a dark launch) still runs
//! its code, so it is not "off" unless the policy says so.

mod common;

use common::{World, change_cause, release_id};
use knowngood::{Command, FlagState, Policy, RecoveryOption, Strategy};

/// Build 1 (a1) good in prod; PR-2 (f2) behind `new-checkout`, optionally
/// with a part no flag covers, ships as build 2 to prod with the flag in
/// `flag`; then `INC-1` names PR-2.
fn flagged_in_prod(unflagged: Option<&str>, flag: FlagState, policy: Policy) -> World {
    let mut w = World::new();
    w.adopt(common::timed_policy(policy));
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    w.merge_change("PR-2", "f2", Some("a1"), |c| {
        let c = c.behind_flag("new-checkout");
        match unflagged {
            Some(part) => c.with_unflagged_part(part),
            None => c,
        }
    });
    let two = w.build_at(2, "f2");
    w.through_qa(&two);
    w.deploy("prod", &two, true);
    set_flag(&mut w, flag);
    w.declare(change_cause("PR-2"));
    w
}

/// PR-2 (f2) behind `new-checkout` (optionally with an unflagged part),
/// the flag in `flag` in prod, PR-2 poisoned without an incident; build 1
/// carries it and is verified in QA.
fn poisoned_behind_flag(unflagged: Option<&str>, flag: FlagState, policy: Policy) -> World {
    let mut w = World::new();
    w.adopt(common::timed_policy(policy));
    w.merge("PR-1", "a1", None);
    w.merge_change("PR-2", "f2", Some("a1"), |c| {
        let c = c.behind_flag("new-checkout");
        match unflagged {
            Some(part) => c.with_unflagged_part(part),
            None => c,
        }
    });
    set_flag(&mut w, flag);
    w.ok(Command::PoisonChange {
        change: "PR-2".into(),
        by: "alice".into(),
        reason: "checkout errors".into(),
    });
    let release = w.build_at(1, "f2");
    w.through_qa(&release);
    w
}

fn deploy_to_prod(w: &mut World) -> Result<(), knowngood::Rejection> {
    w.run(Command::deploy("prod", release_id(1), "deploy-bot"))
        .map(drop)
}

fn set_flag(w: &mut World, state: FlagState) {
    w.ok(Command::SetFlag {
        environment: "prod".into(),
        flag: "new-checkout".into(),
        state,
        by: "bob".into(),
        clearance: knowngood::Clearance::none(),
    });
}

fn retoggle(w: &World) -> RecoveryOption {
    w.plan().option(Strategy::Retoggle).unwrap().clone()
}

fn check<'o>(option: &'o RecoveryOption, name: &str) -> &'o knowngood::recovery::Check {
    option
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check `{name}` in {:?}", option.checks))
}

fn passed(option: &RecoveryOption, name: &str) -> bool {
    check(option, name).outcome == knowngood::recovery::CheckOutcome::Passed
}

const DARK: FlagState = FlagState::Percentage { percent: 0 };

#[test]
fn flag_coverage_a_change_wholly_behind_its_flag_is_retoggled() {
    let w = flagged_in_prod(None, FlagState::On, Policy::default());
    let option = retoggle(&w);
    assert!(option.applicable, "{:?}", option.checks);
    assert!(passed(&option, "change-fully-behind-flags"));
    assert!(!option.risks.iter().any(|r| r.contains("keeps running")));
}

#[test]
fn flag_coverage_a_change_partly_behind_its_flag_is_not_retoggled_and_the_part_is_named() {
    let w = flagged_in_prod(Some("the new tax table"), FlagState::On, Policy::default());
    let option = retoggle(&w);
    assert!(!option.applicable);
    let check = check(&option, "change-fully-behind-flags");
    assert_eq!(check.outcome, knowngood::recovery::CheckOutcome::Failed);
    assert!(
        check.detail.contains("only partly behind `new-checkout`")
            && check.detail.contains("the new tax table"),
        "{}",
        check.detail
    );
    assert!(
        option
            .risks
            .iter()
            .any(|r| r.contains("the new tax table keeps running")),
        "{:?}",
        option.risks
    );
    // Another option is ranked first.
    assert_ne!(w.plan().best().unwrap().strategy, Strategy::Retoggle);
}

#[test]
fn flag_coverage_turning_the_flag_off_neutralises_only_a_change_wholly_behind_it() {
    for (unflagged, neutralised) in [(None, true), (Some("the new tax table"), false)] {
        let mut w = poisoned_behind_flag(unflagged, FlagState::Off, Policy::default());
        let redeploy = deploy_to_prod(&mut w);
        assert_eq!(
            redeploy.is_ok(),
            neutralised,
            "unflagged part {unflagged:?}: {redeploy:?}"
        );
        if !neutralised {
            assert_eq!(redeploy.unwrap_err().rule(), "poisoned-release");
        }
    }
}

#[test]
fn dark_launch_is_not_off_a_poisoned_change_at_zero_percent_still_blocks_production() {
    let mut w = poisoned_behind_flag(None, DARK, Policy::default());
    assert_eq!(
        deploy_to_prod(&mut w).unwrap_err().rule(),
        "poisoned-release"
    );
    // Off, the code does not run: neutralised.
    set_flag(&mut w, FlagState::Off);
    assert!(deploy_to_prod(&mut w).is_ok());
}

#[test]
fn dark_launch_is_not_off_retoggle_turns_a_zero_percent_flag_off() {
    let w = flagged_in_prod(None, DARK, Policy::default());
    let option = retoggle(&w);
    assert!(option.applicable, "{:?}", option.checks);
    assert!(
        check(&option, "flags-on")
            .detail
            .contains("dark launch is not off"),
        "{}",
        check(&option, "flags-on").detail
    );
    assert_eq!(
        option.steps[0].action,
        knowngood::recovery::EffectAction::SetFlag {
            environment: "prod".into(),
            flag: "new-checkout".into(),
            state: FlagState::Off
        }
    );
}

#[test]
fn dark_launch_counts_as_off_where_the_policy_says_so() {
    let mut policy = Policy::default();
    policy.dark_launch_counts_as_off = true;
    let mut w = flagged_in_prod(None, DARK, policy.clone());
    // Neutralised at 0 %: nothing to retoggle.
    let option = retoggle(&w);
    assert!(!option.applicable);
    assert!(
        check(&option, "flags-on").detail.contains("counts as off"),
        "{}",
        check(&option, "flags-on").detail
    );
    // The policy never makes a flag that reaches users count as off.
    set_flag(&mut w, FlagState::Percentage { percent: 1 });
    assert!(retoggle(&w).applicable);
    // And production takes a release carrying the change dark-launched.
    let mut w = poisoned_behind_flag(None, DARK, policy);
    assert!(deploy_to_prod(&mut w).is_ok());
}
