//! Production elsewhere running the incident's cause: named by the core
//! (`State::also_running_cause`) and never hidden by the planner, which
//! says in every option that it covers the incident's environment only.

mod common;

use common::World;
use std::sync::Arc;

use common::{SERVICE, t};
use knowngood::driver::{DriveError, DriveReport, Driver};
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe,
    InMemoryJournalStore, InMemoryVcs, ManualClock, block_on,
};
use knowngood::port::{JournalStore, Ports};
use knowngood::recovery::{EffectAction, EffectOutcome};
use knowngood::{
    Clearance, Command, EnvironmentRole, EventKind, Freeze, GatedAction, Policy, Strategy,
    SuspectedCause,
};

/// `prod` and `prod-us`, both fed from qa. PR-1 (a1) as build 1 verified
/// in both; PR-2 (b2) as build 2 verified in both, or in `prod` only.
fn two_regions(both: bool) -> World {
    regions(both, Policy::default(), false)
}

/// [`two_regions`] under `policy`, with a hotfix lane into `prod-us` too
/// when `hotfix_lane_to_both`.
fn regions(both: bool, policy: Policy, hotfix_lane_to_both: bool) -> World {
    let mut w = World::new();
    let mut spec = common::pipeline_spec()
        .environment("prod-us", EnvironmentRole::Production)
        .promote("qa", "prod-us");
    if hotfix_lane_to_both {
        spec = spec.hotfix_promote("hotfix-dev", "prod-us");
    }
    let pipeline = spec.build().unwrap();
    w.ok(Command::DefinePipeline { pipeline });
    w.adopt(common::timed_policy(policy));
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
        // A rollback rolls it back too; the plans that ship a build promote
        // it there too (the hotfix lane does not lead there).
        if matches!(
            option.strategy,
            Strategy::Rollback
                | Strategy::Revert
                | Strategy::FixForward
                | Strategy::RevertInFlightThenFix
        ) {
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
    let rollback = plan.option(Strategy::Rollback).unwrap();
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
            .option(Strategy::Rollback)
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
    w.choose(Strategy::Rollback);
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

/// The host's in-memory adapters, around a journal holding `w`'s history,
/// with main at `a1` then `b2` in the VCS.
struct Host {
    vcs: Arc<InMemoryVcs>,
    builder: Arc<InMemoryBuilder>,
    deployer: Arc<InMemoryDeployer>,
    store: Arc<InMemoryJournalStore>,
    clock: Arc<ManualClock>,
}

impl Host {
    fn on(w: &World) -> Self {
        let host = Self {
            vcs: Arc::new(InMemoryVcs::default()),
            builder: Arc::new(InMemoryBuilder::new(3, 1, 9)),
            deployer: Arc::new(InMemoryDeployer::default()),
            store: Arc::new(InMemoryJournalStore::default()),
            clock: Arc::new(ManualClock::at(t(w.clock + 1))),
        };
        for c in ["a1", "b2"] {
            host.vcs.commit(&SERVICE.into(), &"main".into(), &c.into());
        }
        block_on(host.store.append(0, w.ledger.journal().entries())).unwrap();
        host
    }

    fn ports(&self, journal: Arc<dyn JournalStore>) -> Ports {
        Ports::new(
            self.vcs.clone(),
            self.deployer.clone(),
            Some(Arc::new(InMemoryFlagStore::default())),
            Arc::new(InMemoryHealthProbe::default()),
            self.builder.clone(),
            journal,
            self.clock.clone(),
        )
    }

    fn drive_on(
        &self,
        journal: Arc<dyn JournalStore>,
    ) -> Result<(Driver, DriveReport), DriveError> {
        block_on(async {
            let mut driver = Driver::resume(self.ports(journal), "knowngood-driver").await?;
            let report = driver.drive(&"INC-1".into()).await?;
            Ok((driver, report))
        })
    }

    fn drive(&self) -> (Driver, DriveReport) {
        self.drive_on(self.store.clone()).unwrap()
    }

    fn builds(&self) -> usize {
        self.builder.all_executions().values().sum()
    }
}

fn serving(driver: &Driver, env: &str) -> Option<knowngood::ReleaseId> {
    driver
        .state()
        .current_release(&env.into(), &SERVICE.into())
        .map(|r| r.id.clone())
}

fn step_detail(driver: &Driver, verb: &str) -> String {
    let record = driver.state().incident(&"INC-1".into()).unwrap();
    let key = record
        .steps
        .iter()
        .find(|s| s.key.as_str().ends_with(verb))
        .map(|s| s.key.clone())
        .unwrap();
    driver
        .journal()
        .entries()
        .iter()
        .rev()
        .find_map(|e| match &e.event.kind {
            EventKind::EffectRecorded {
                key: k,
                outcome: EffectOutcome::Succeeded { detail },
                ..
            } if *k == key => Some(detail.clone()),
            _ => None,
        })
        .unwrap()
}

#[test]
fn also_running_cause_the_revert_is_built_once_and_promoted_to_every_region() {
    let mut w = two_regions(true);
    w.declare(common::change_cause("PR-2"));
    let plan = w.plan();
    let revert = plan.option(Strategy::Revert).unwrap();
    assert!(revert.applicable, "{}", revert.why_not());
    let promote = revert
        .steps
        .iter()
        .position(|s| matches!(&s.action, EffectAction::Promote { environment, from, .. } if *environment == "prod-us".into() && *from == "prod".into()))
        .expect("a promote into prod-us");
    // After the incident's environment is verified, before anything else.
    assert!(
        matches!(&revert.steps[promote - 1].action, EffectAction::Verify { environment, .. } if *environment == "prod".into())
    );
    assert!(
        matches!(&revert.steps[promote + 1].action, EffectAction::Verify { environment, .. } if *environment == "prod-us".into())
    );
    // The estimate runs until prod-us is verified: its stage more.
    let one_region = {
        let mut w = two_regions(false);
        w.declare(common::change_cause("PR-2"));
        w.plan().option(Strategy::Revert).unwrap().estimate.seconds
    };
    assert!(
        revert.estimate.seconds > one_region,
        "{}",
        revert.estimate.seconds
    );
    w.choose(Strategy::Revert);
    let host = Host::on(&w);
    let (driver, report) = host.drive();
    assert!(matches!(report, DriveReport::Done { .. }), "{report}");
    // One build, the same release verified in both regions.
    assert_eq!(host.builds(), 1);
    let shipped = serving(&driver, "prod").unwrap();
    assert_eq!(serving(&driver, "prod-us"), Some(shipped.clone()));
    let us = driver
        .state()
        .history(&"prod-us".into(), &SERVICE.into())
        .and_then(|h| h.current())
        .unwrap();
    assert_eq!(us.status, knowngood::DeploymentStatus::KnownGood);
    // Each stage deployed once: dev, qa and prod by the ship, prod-us by
    // the promote (qa is not deployed again).
    let deploys = host.deployer.all_executions();
    assert_eq!(deploys.len(), 4, "{deploys:?}");
    assert!(deploys.values().all(|n| *n == 1), "{deploys:?}");
    let detail = step_detail(&driver, "promote");
    assert!(detail.contains("promoted to `prod-us`"), "{detail}");
    assert!(detail.contains("not built again"), "{detail}");
    assert!(
        driver
            .state()
            .also_running_cause(&"INC-1".into())
            .is_empty()
    );
}

#[test]
fn also_running_cause_a_crash_at_any_journal_write_promotes_once() {
    let mut w = two_regions(true);
    w.declare(common::change_cause("PR-2"));
    w.choose(Strategy::Revert);
    let reference = Host::on(&w);
    let (uninterrupted, _) = reference.drive();
    let end = serving(&uninterrupted, "prod-us");
    let mut crash_points = 0;
    for crash_at in 0.. {
        let host = Host::on(&w);
        let crashing = common::misbehaving::FailingJournal::at(&host.store, crash_at);
        match host.drive_on(crashing) {
            Err(DriveError::Journal(_)) => crash_points += 1,
            Ok(_) => break,
            Err(other) => panic!("crash point {crash_at}: {other}"),
        }
        host.clock.advance(chrono::Duration::minutes(3));
        let (resumed, report) = host.drive();
        assert!(
            matches!(report, DriveReport::Done { .. }),
            "crash point {crash_at}: {report}"
        );
        assert_eq!(serving(&resumed, "prod-us"), end, "crash point {crash_at}");
        assert_eq!(serving(&resumed, "prod"), end, "crash point {crash_at}");
        assert_eq!(host.builds(), 1, "crash point {crash_at}");
        for (key, n) in host.deployer.all_executions() {
            assert_eq!(n, 1, "crash point {crash_at}: {key} deployed twice");
        }
    }
    assert!(crash_points > 20, "{crash_points}");
}

#[test]
fn also_running_cause_a_hotfix_is_promoted_along_the_hotfix_lane_where_it_leads() {
    for both in [true, false] {
        let mut w = regions(true, Policy::hotfix_lane("hotfix/{version}"), both);
        w.declare(common::change_cause("PR-2"));
        let hotfix = w.plan();
        let hotfix = hotfix.option(Strategy::Hotfix).unwrap();
        let promoted = hotfix.steps.iter().any(|s| {
            matches!(&s.action, EffectAction::Promote { environment, lane, .. } if *environment == "prod-us".into() && *lane == knowngood::Lane::Hotfix)
        });
        assert_eq!(promoted, both, "{:?}", hotfix.steps);
        let said = |what: &str| {
            hotfix
                .risks
                .iter()
                .any(|r| r.contains("`prod-us` runs the cause too") && r.contains(what))
        };
        if both {
            assert!(said("restores it as well"), "{:?}", hotfix.risks);
        } else {
            assert!(said("no hotfix lane leads there"), "{:?}", hotfix.risks);
        }
    }
}

#[test]
fn also_running_cause_a_region_the_core_refuses_is_left_out_and_said() {
    // A freeze on delivery in prod-us: the revert still restores prod,
    // and prod-us is left out with the core's reason.
    let mut w = two_regions(true);
    w.declare(common::change_cause("PR-2"));
    let freeze = Freeze::deny(
        "us-freeze",
        [GatedAction::Deliver],
        t(0),
        "carol",
        "a launch",
    )
    .in_environment("prod-us");
    w.ok(Command::DeclareFreeze { freeze });
    let plan = w.plan();
    let revert = plan.option(Strategy::Revert).unwrap();
    assert!(revert.applicable, "{}", revert.why_not());
    assert!(
        revert
            .steps
            .iter()
            .all(|s| !s.action.to_string().contains("prod-us")),
        "{:?}",
        revert.steps
    );
    assert!(
        revert
            .risks
            .iter()
            .any(|r| r.contains("covers `prod` only") && r.contains("us-freeze")),
        "{:?}",
        revert.risks
    );
    // A gate closed there (its own stop-the-line): left to its incident.
    let mut w = two_regions(true);
    w.declare(common::change_cause("PR-2"));
    w.ok(Command::CloseGate {
        environment: "prod-us".into(),
        by: "carol".into(),
        reason: "investigating".into(),
    });
    let plan = w.plan();
    for strategy in [Strategy::Revert, Strategy::Rollback] {
        let option = plan.option(strategy).unwrap();
        assert!(option.applicable, "{strategy}: {}", option.why_not());
        assert!(
            option
                .risks
                .iter()
                .any(|r| r.contains("covers `prod` only (the core refuses it there: the delivery gate of `prod-us` is closed")),
            "{strategy}: {:?}",
            option.risks
        );
    }
}

#[test]
fn promote_what_shipped_a_promote_needs_the_plan_to_have_shipped_where_it_promotes_from() {
    let mut w = two_regions(true);
    w.declare(common::change_cause("PR-2"));
    let revert = w.plan().option(Strategy::Revert).unwrap().clone();
    let choose = |steps: Vec<knowngood::recovery::Effect>| Command::ChooseStrategy {
        incident: "INC-1".into(),
        strategy: Strategy::Revert,
        steps,
        follow_ups: revert.cost.follow_ups.clone(),
        considered: Vec::new(),
        explanation: "test".into(),
        by: "alice".into(),
        clearance: Clearance::none(),
    };
    // Negative: promoting before anything shipped to prod.
    let promote = revert
        .steps
        .iter()
        .find(|s| matches!(s.action, EffectAction::Promote { .. }))
        .unwrap()
        .clone();
    let refused = w.run(choose(vec![promote])).unwrap_err();
    assert_eq!(refused.rule(), "promote-what-shipped", "{refused}");
    assert!(
        refused
            .to_string()
            .contains("after the ship step into `prod`"),
        "{refused}"
    );
    // Positive: the planner's order, the ship first.
    w.ok(choose(revert.steps.clone()));
}

/// The rollback restores both regions; the resolving revert, chosen up
/// front, ships to `prod-eu` and is promoted to `prod-us` too, so that no
/// region stays on the old release once the incident resolves.
#[cfg(feature = "toml")]
#[test]
fn restored_elsewhere_the_resolving_fix_reaches_every_region_the_rollback_restored() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/scenarios/two-regions-revert.toml");
    let mut scenario = knowngood::drill::Scenario::load(&path).unwrap();
    scenario.policy.forward_only = false;
    scenario.expect.top = Some(Strategy::Rollback);
    scenario.expect.inapplicable = vec![Strategy::Retoggle, Strategy::Hotfix];
    scenario.expect.resolve_with = Some(Strategy::Revert);
    scenario.expect.resolve_up_front = true;
    for seed in [1, 7, 11] {
        let report = knowngood::drill::run(&scenario, seed);
        assert!(report.passed(), "seed {seed}: {:?}", report.failures);
        let state = report.journal.replay().unwrap();
        let incident = state.incident(&"INC-1".into()).unwrap();
        assert_eq!(incident.phase, knowngood::IncidentPhase::Resolved);
        assert_eq!(incident.strategy, Some(Strategy::Revert));
        assert!(
            incident
                .steps
                .iter()
                .any(|s| matches!(&s.action, EffectAction::Promote { environment, .. } if *environment == "prod-us".into())),
            "seed {seed}: {:?}",
            incident.steps
        );
        // Both gates open again: prod-us's, closed by the rollback there,
        // reopened with the incident's resolution.
        for env in ["prod-eu", "prod-us"] {
            assert!(
                state
                    .environment(&env.into())
                    .unwrap()
                    .closed_gate()
                    .is_none(),
                "seed {seed}: {env}"
            );
        }
        assert_eq!(
            incident
                .covered
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["prod-us"]
        );
        assert!(state.restored_elsewhere(&"INC-1".into()).is_empty());
    }
}

#[test]
fn restored_elsewhere_names_the_regions_a_mitigating_plan_restored_only_once_mitigated() {
    let mut w = two_regions(true);
    w.declare(common::change_cause("PR-2"));
    w.choose(Strategy::Rollback);
    // Not yet mitigated: nothing to name.
    assert!(
        w.ledger
            .state()
            .restored_elsewhere(&"INC-1".into())
            .is_empty()
    );
    let host = Host::on(&w);
    let (mut driver, report) = host.drive();
    assert!(matches!(report, DriveReport::Done { .. }), "{report}");
    block_on(driver.execute(&Command::MarkMitigated {
        incident: "INC-1".into(),
        by: "alice".into(),
    }))
    .unwrap();
    assert_eq!(
        driver.state().restored_elsewhere(&"INC-1".into()),
        [("prod-us".into(), common::release_id(1))]
    );
    // The way back says what holds prod-us.
    let way_back = driver.state().way_back(&"INC-1".into()).unwrap();
    assert_eq!(way_back.elsewhere.len(), 1, "{way_back}");
    assert!(
        way_back
            .to_string()
            .contains("in `prod-us` the gate is held"),
        "{way_back}"
    );
    // The resolving revert ships the fix there too, and says so.
    let plan = knowngood::plan(
        driver.state(),
        &"INC-1".into(),
        t(w.clock + 60),
        &knowngood::Capabilities::all(),
    )
    .unwrap();
    let revert = plan.option(Strategy::Revert).unwrap();
    assert!(revert.applicable, "{}", revert.why_not());
    assert!(
        revert.risks.iter().any(|r| r
            .contains("`prod-us` was restored by this incident's plan too")
            && r.contains("ships the fix there as well")),
        "{:?}",
        revert.risks
    );
}
