//! Production elsewhere running the incident's cause: named by the core
//! (`State::also_running_cause`) and never hidden by the planner, which
//! says in every option that it covers the incident's environment only.

mod common;

use common::World;
use knowngood::{Command, EnvironmentRole, Policy, SuspectedCause};

/// `prod` and `prod-us`, both fed from qa. PR-1 (a1) as build 1 verified
/// in both; PR-2 (b2) as build 2 verified in both, or in `prod` only.
fn two_regions(both: bool) -> World {
    let mut w = World::new();
    let pipeline = common::pipeline_spec()
        .environment("prod-us", EnvironmentRole::Production)
        .promote("qa", "prod-us")
        .build()
        .unwrap();
    w.ok(Command::DefinePipeline { pipeline });
    w.adopt(common::timed_policy(Policy::default()));
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    w.deploy("prod-us", &one, true);
    w.merge("PR-2", "b2", Some("a1"));
    let two = w.build_at(2, "b2");
    w.through_qa(&two);
    w.deploy("prod", &two, true);
    if both {
        w.deploy("prod-us", &two, true);
    }
    w
}

#[test]
fn also_running_cause_names_every_other_production_target_that_runs_it() {
    let mut w = two_regions(true);
    w.declare(common::change_cause("PR-2"));
    let also = w.ledger.state().also_running_cause(&"INC-1".into());
    assert_eq!(also, [("prod-us".into(), common::release_id(2))]);
    // Every option says whether it covers `prod-us`: the rollback rolls
    // it back too, to its own target, after `prod`; the others do not.
    let plan = w.plan();
    for option in &plan.options {
        let said = |what: &str| {
            option
                .risks
                .iter()
                .any(|r| r.contains("`prod-us` runs the cause too") && r.contains(what))
        };
        if option.strategy == knowngood::Strategy::Rollback {
            assert!(said("restores it as well"), "{:?}", option.risks);
        } else {
            assert!(
                said("covers `prod` only"),
                "{}: {:?}",
                option.name(),
                option.risks
            );
        }
    }
    let rollback = plan.option(knowngood::Strategy::Rollback).unwrap();
    assert!(rollback.applicable, "{}", rollback.why_not());
    let rolled: Vec<String> = rollback
        .steps
        .iter()
        .filter(|s| matches!(s.action, knowngood::recovery::EffectAction::Rollback { .. }))
        .map(|s| s.action.to_string())
        .collect();
    assert_eq!(rolled.len(), 2, "{rolled:?}");
    assert!(rolled[1].contains("`prod-us`"), "{rolled:?}");
    // The estimate runs until both are verified.
    let one_region = {
        let mut w = two_regions(false);
        w.declare(common::change_cause("PR-2"));
        w.plan()
            .option(knowngood::Strategy::Rollback)
            .unwrap()
            .estimate
            .seconds
    };
    assert!(rollback.estimate.seconds > one_region);
}

#[test]
fn also_running_cause_none_where_the_cause_never_arrived_or_is_external() {
    let mut w = two_regions(false);
    w.declare(common::change_cause("PR-2"));
    assert!(
        w.ledger
            .state()
            .also_running_cause(&"INC-1".into())
            .is_empty()
    );
    assert!(
        w.plan()
            .options
            .iter()
            .all(|o| o.risks.iter().all(|r| !r.contains("runs the cause too")))
    );
    // An external cause is not a release anyone runs.
    let mut w = two_regions(true);
    w.declare(SuspectedCause::External {
        description: "the card network is down".into(),
    });
    assert!(
        w.ledger
            .state()
            .also_running_cause(&"INC-1".into())
            .is_empty()
    );
    // A deployment cause: the same release elsewhere.
    let mut w = two_regions(true);
    let slot = w.prod_history().current().map(|d| d.revision).unwrap();
    w.declare(SuspectedCause::Deployment {
        slot: knowngood::Slot::new("prod", common::SERVICE, slot),
    });
    assert_eq!(
        w.ledger.state().also_running_cause(&"INC-1".into()),
        [("prod-us".into(), common::release_id(2))]
    );
}

#[test]
fn also_running_cause_the_rollback_is_driven_in_every_region_that_runs_it() {
    let mut w = two_regions(true);
    w.declare(common::change_cause("PR-2"));
    w.choose(knowngood::Strategy::Rollback);
    let store = w.stored();
    let clock = std::sync::Arc::new(knowngood::memory::ManualClock::at(common::t(w.clock + 1)));
    let (state, report) = knowngood::memory::block_on(async {
        let mut driver =
            knowngood::Driver::resume(common::in_memory_ports(store, clock), "knowngood-driver")
                .await
                .unwrap();
        let report = driver.drive(&"INC-1".into()).await.unwrap();
        driver
            .execute(&Command::MarkMitigated {
                incident: "INC-1".into(),
                by: "alice".into(),
            })
            .await
            .unwrap();
        (driver.state().clone(), report)
    });
    assert!(
        matches!(report, knowngood::DriveReport::Done { .. }),
        "{report}"
    );
    for env in ["prod", "prod-us"] {
        assert_eq!(
            state
                .current_release(&env.into(), &common::SERVICE.into())
                .map(|r| r.id.clone()),
            Some(common::release_id(1)),
            "{env}"
        );
    }
    assert!(state.also_running_cause(&"INC-1".into()).is_empty());
}
