//! Everyday delivery: `Driver::deliver` takes a build along its lane to
//! every production environment, each stage verified and held for its
//! bake time (rule `bake-time`), the later wave after the first, the
//! hotfix lane kept; resumable under one key, never deploying a stage
//! twice, and saying what it waits for.

use std::sync::Arc;

use crate::common::misbehaving::FailingJournal;
use crate::common::{SERVICE, World, t};
use knowngood::driver::{Delivered, DeliveryWait, DriveError, Driver};
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe,
    InMemoryJournalStore, InMemoryVcs, ManualClock, block_on,
};
use knowngood::port::{Health, JournalStore, Ports};
use knowngood::{Command, EnvironmentRole, Lane, PipelineSpec, Policy, ReleaseId, Strategy};

/// dev → qa → prod-eu → prod-us (prod-us is the later wave), with a
/// hotfix lane into prod-eu; qa bakes an hour and prod-eu half an hour.
fn world(policy: impl FnOnce(&mut Policy)) -> World {
    let mut w = World::new();
    let pipeline = PipelineSpec::new()
        .environment("dev", EnvironmentRole::Development)
        .environment("qa", EnvironmentRole::Test)
        .environment("prod-eu", EnvironmentRole::Production)
        .environment("prod-us", EnvironmentRole::Production)
        .environment("hotfix-dev", EnvironmentRole::HotfixDevelopment)
        .promote("dev", "qa")
        .promote("qa", "prod-eu")
        .promote("prod-eu", "prod-us")
        .hotfix_promote("hotfix-dev", "prod-eu")
        .build()
        .unwrap();
    w.ok(Command::DefinePipeline { pipeline });
    let mut p = crate::common::timed_policy(Policy::default());
    p.bake_seconds.insert("qa".into(), 3600);
    p.bake_seconds.insert("prod-eu".into(), 1800);
    policy(&mut p);
    w.adopt(p);
    w.merge("PR-1", "c0001", None);
    w.build(1);
    w
}

struct Host {
    store: Arc<InMemoryJournalStore>,
    clock: Arc<ManualClock>,
    deployer: Arc<InMemoryDeployer>,
    health: Arc<InMemoryHealthProbe>,
    vcs: Arc<InMemoryVcs>,
}

impl Host {
    fn on(w: &World) -> Self {
        let host = Self {
            store: Arc::new(InMemoryJournalStore::default()),
            clock: Arc::new(ManualClock::at(t(w.clock + 1))),
            deployer: Arc::new(InMemoryDeployer::default()),
            health: Arc::new(InMemoryHealthProbe::default()),
            vcs: Arc::new(InMemoryVcs::default()),
        };
        host.vcs
            .commit(&SERVICE.into(), &"main".into(), &"c0001".into());
        block_on(host.store.append(0, w.ledger.journal().entries())).unwrap();
        host
    }

    fn ports(&self, journal: Arc<dyn JournalStore>) -> Ports {
        Ports::new(
            self.vcs.clone(),
            self.deployer.clone(),
            Some(Arc::new(InMemoryFlagStore::default())),
            self.health.clone(),
            Arc::new(InMemoryBuilder::new(50, 1, 0)),
            journal,
            self.clock.clone(),
        )
    }

    fn deliver_on(
        &self,
        journal: Arc<dyn JournalStore>,
    ) -> Result<(Delivered, Driver), DriveError> {
        block_on(async {
            let mut driver = Driver::resume(self.ports(journal), "deploy-bot").await?;
            let delivered = driver
                .deliver(&release(), Lane::Main, &"ci-run-77".into())
                .await?;
            Ok((delivered, driver))
        })
    }

    fn deliver(&self) -> (Delivered, Driver) {
        self.deliver_on(self.store.clone()).unwrap()
    }

    fn minutes(&self, n: i64) {
        self.clock.advance(chrono::Duration::minutes(n));
    }
}

fn release() -> ReleaseId {
    crate::common::release_id(1)
}

fn envs(verified: &[knowngood::Slot]) -> Vec<String> {
    verified.iter().map(|s| s.environment.to_string()).collect()
}

#[test]
fn deliver_holds_each_stage_for_its_bake_time_and_the_later_wave_after_the_first() {
    let w = world(|_| {});
    let host = Host::on(&w);
    let (first, _) = host.deliver();
    let Delivered::Waiting {
        verified,
        waiting:
            DeliveryWait::Baking {
                environment,
                target,
                ready_at,
            },
    } = &first
    else {
        panic!("{first}")
    };
    assert_eq!(envs(verified), ["dev", "qa"]);
    assert_eq!((environment.as_str(), target.as_str()), ("qa", "prod-eu"));
    assert!(first.to_string().contains("baking in `qa`"), "{first}");
    // Not yet: ten minutes short.
    host.minutes(50);
    let (early, _) = host.deliver();
    assert!(matches!(early, Delivered::Waiting { .. }), "{early}");
    // Baked: on to prod-eu, which then bakes before prod-us.
    host.clock.advance(*ready_at - host.clock_now());
    let (second, _) = host.deliver();
    let Delivered::Waiting {
        verified,
        waiting:
            DeliveryWait::Baking {
                environment,
                target,
                ..
            },
    } = &second
    else {
        panic!("{second}")
    };
    assert_eq!(envs(verified), ["dev", "qa", "prod-eu"]);
    assert_eq!(
        (environment.as_str(), target.as_str()),
        ("prod-eu", "prod-us")
    );
    host.minutes(31);
    let (done, driver) = host.deliver();
    let Delivered::Done { verified, .. } = &done else {
        panic!("{done}")
    };
    assert_eq!(envs(verified), ["dev", "qa", "prod-eu", "prod-us"]);
    for env in ["prod-eu", "prod-us"] {
        assert_eq!(
            driver
                .state()
                .current_release(&env.into(), &SERVICE.into())
                .map(|r| r.id.clone()),
            Some(release())
        );
    }
    // Every stage deployed once, however often it was asked.
    let deploys = host.deployer.all_executions();
    assert_eq!(deploys.len(), 4, "{deploys:?}");
    assert!(deploys.values().all(|n| *n == 1), "{deploys:?}");
    // Asked again: nothing more.
    let (again, _) = host.deliver();
    assert!(matches!(again, Delivered::Done { .. }), "{again}");
    assert_eq!(host.deployer.all_executions().len(), 4);
}

impl Host {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use knowngood::port::Clock;
        self.clock.now()
    }
}

#[test]
fn bake_time_a_release_enters_the_next_stage_only_once_baked() {
    let mut w = world(|_| {});
    let one = release();
    w.deploy("dev", &one, true);
    w.deploy("qa", &one, true);
    // Negative: ten minutes after qa verified it.
    w.clock += 8;
    let refused = w
        .run(Command::deploy("prod-eu", one.clone(), "deploy-bot"))
        .unwrap_err();
    assert_eq!(refused.rule(), "bake-time", "{refused}");
    assert!(
        refused.to_string().contains("bake time of 1 h"),
        "{refused}"
    );
    // Positive: an hour after.
    w.clock += 60;
    w.deploy("prod-eu", &one, true);
    // No bake time in the policy: no wait.
    let mut w = world(|p| p.bake_seconds.clear());
    w.deploy("dev", &one, true);
    w.deploy("qa", &one, true);
    w.deploy("prod-eu", &one, true);
}

#[test]
fn bake_time_never_holds_a_step_of_a_recovery_plan() {
    let mut w = crate::common::bad_commit_in_production(Policy::forward_only());
    let mut policy = w.ledger.state().policy().clone();
    policy.bake_seconds.insert("qa".into(), 3600);
    w.adopt(policy);
    let plan = w.plan();
    let revert = plan.option(Strategy::Revert).unwrap();
    assert!(revert.applicable, "{}", revert.why_not());
    w.choose(Strategy::Revert);
    // The same release outside a plan is held: the rule is on.
    w.merge("PR-3", "c3", Some("998b"));
    let three = w.build_at(3, "c3");
    w.through_qa(&three);
    let refused = w
        .run(Command::deploy("prod", three, "deploy-bot"))
        .unwrap_err();
    assert_eq!(refused.rule(), "bake-time", "{refused}");
}

#[test]
fn deliver_a_crash_at_any_journal_write_resumes_and_deploys_each_stage_once() {
    let w = world(|p| p.bake_seconds.clear());
    let reference = Host::on(&w);
    let (end, _) = reference.deliver();
    assert!(matches!(end, Delivered::Done { .. }), "{end}");
    let mut crash_points = 0;
    for crash_at in 0.. {
        let host = Host::on(&w);
        match host.deliver_on(FailingJournal::at(&host.store, crash_at)) {
            Err(DriveError::Journal(_)) => crash_points += 1,
            Ok(_) => break,
            Err(other) => panic!("crash point {crash_at}: {other}"),
        }
        host.minutes(3);
        let (again, _) = host.deliver();
        assert!(
            matches!(again, Delivered::Done { .. }),
            "crash point {crash_at}: {again}"
        );
        for (key, n) in host.deployer.all_executions() {
            assert_eq!(n, 1, "crash point {crash_at}: {key} deployed twice");
        }
        assert_eq!(host.deployer.all_executions().len(), 4);
    }
    assert!(crash_points >= 16, "{crash_points}");
}

#[test]
fn deliver_a_stage_measured_unhealthy_stops_the_delivery_there() {
    let w = world(|p| p.bake_seconds.clear());
    let host = Host::on(&w);
    host.health.set(
        &"prod-eu".into(),
        &release(),
        Health::new(false, "error rate 9%"),
    );
    let failed = host.deliver_on(host.store.clone()).unwrap_err();
    assert!(matches!(failed, DriveError::StepFailed { .. }), "{failed}");
    let (stopped, driver) = host.deliver();
    let Delivered::Stopped { verified, slot, .. } = &stopped else {
        panic!("{stopped}")
    };
    assert_eq!(envs(verified), ["dev", "qa"]);
    assert_eq!(slot.environment.as_str(), "prod-eu");
    assert!(
        driver
            .state()
            .history(&"prod-us".into(), &SERVICE.into())
            .is_none()
    );
}

#[test]
fn deliver_waits_for_approvals_and_goes_on_once_they_are_recorded() {
    let w = world(|p| {
        p.bake_seconds.clear();
        p.roles
            .insert("approvers".into(), ["ann".into(), "ben".into()].into());
        p.approvals.insert(
            "prod-us".into(),
            knowngood::ApprovalRule::new(1, "approvers"),
        );
    });
    let host = Host::on(&w);
    let (waiting, _) = host.deliver();
    let Delivered::Waiting {
        verified,
        waiting: DeliveryWait::Approvals(report),
    } = &waiting
    else {
        panic!("{waiting}")
    };
    assert_eq!(envs(verified), ["dev", "qa", "prod-eu"]);
    let knowngood::DriveReport::AwaitingApprovals { slot, .. } = report else {
        panic!("{report}")
    };
    block_on(async {
        let mut driver = Driver::resume(host.ports(host.store.clone()), "ann")
            .await
            .unwrap();
        driver
            .execute(&Command::Approve {
                slot: slot.clone(),
                by: "ann".into(),
            })
            .await
            .unwrap();
    });
    let (done, _) = host.deliver();
    assert!(matches!(done, Delivered::Done { .. }), "{done}");
}

#[test]
fn deliver_keeps_the_hotfix_lane_after_each_production_deployment() {
    let w = world(|p| {
        p.bake_seconds.clear();
        p.hotfix_lane = Some(knowngood::HotfixLanePolicy::new("hotfix/{version}"));
    });
    let host = Host::on(&w);
    let (done, driver) = host.deliver();
    let Delivered::Done { lane_kept, .. } = &done else {
        panic!("{done}")
    };
    assert!(!lane_kept.is_empty(), "{done:?}");
    assert_eq!(
        driver
            .state()
            .current_release(&"hotfix-dev".into(), &SERVICE.into())
            .map(|r| r.id.clone()),
        Some(release())
    );
}
