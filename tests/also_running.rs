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
    // Every option says it covers `prod` only.
    let plan = w.plan();
    for option in &plan.options {
        assert!(
            option
                .risks
                .iter()
                .any(|r| r.contains("`prod-us` runs the cause too")
                    && r.contains("covers `prod` only")),
            "{}: {:?}",
            option.name(),
            option.risks
        );
    }
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
