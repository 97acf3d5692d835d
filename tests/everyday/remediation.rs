//! Automatic remediation: when a production deployment fails its
//! verification and the environment's remediation policy allows it, the
//! driver declares the incident, chooses the best-ranked option the
//! policy allows (rule `remediation-allowed`), within its loop guard
//! (rule `remediation-limit`), drives it, and marks the incident
//! mitigated on its measurements; otherwise it hands over, saying why.
//! Everything is journaled as the policy's decision, with the evidence.

use std::sync::Arc;

use crate::common::{SERVICE, World, t};
use knowngood::driver::{DriveError, Driver};
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe,
    InMemoryJournalStore, InMemoryVcs, ManualClock, block_on,
};
use knowngood::port::{Health, JournalStore, Ports};
use knowngood::{
    Command, EventKind, IncidentPhase, Policy, RemediationPolicy, Slot, Strategy, SuspectedCause,
};

fn remediating(policy: impl FnOnce(&mut RemediationPolicy)) -> Policy {
    let mut p = Policy::default();
    let mut r = RemediationPolicy::default();
    policy(&mut r);
    p.remediation.insert("prod".into(), r);
    p
}

/// Builds 1 and 2 verified in prod, build 3 through qa, under `policy`.
fn world(policy: Policy) -> World {
    let mut w = World::new();
    w.adopt(crate::common::timed_policy(policy));
    for n in 1..=2 {
        let r = w.ready_for_prod(n);
        w.deploy("prod", &r, true);
    }
    w.ready_for_prod(3);
    w
}

/// Declares `id` on the deployment in prod at `revision`.
fn declare_on(w: &mut World, id: &str, revision: u32) {
    w.ok(Command::DeclareIncident {
        incident: id.into(),
        environment: "prod".into(),
        service: SERVICE.into(),
        severity: knowngood::Severity::Sev2,
        cause: SuspectedCause::Deployment {
            slot: Slot::new("prod", SERVICE, knowngood::Revision(revision)),
        },
        summary: "verification failed".into(),
        by: "knowngood-driver".into(),
        impact_began: None,
    });
}

fn remediate(w: &World, id: &str, strategy: Strategy) -> Command {
    let plan = knowngood::plan(
        w.ledger.state(),
        &id.into(),
        t(w.clock),
        &knowngood::Capabilities::all(),
    )
    .unwrap();
    let option = plan.option(strategy).unwrap();
    assert!(option.applicable, "{}", option.why_not());
    Command::Remediate {
        incident: id.into(),
        strategy,
        steps: option.steps.clone(),
        follow_ups: option.cost.follow_ups.clone(),
        explanation: "test".into(),
        evidence: "error rate 12%".into(),
        by: "knowngood-driver".into(),
    }
}

#[test]
fn remediation_allowed_only_where_the_policy_remediates_and_only_what_it_allows() {
    // Negative: no remediation policy for prod.
    let mut w = world(Policy::default());
    declare_on(&mut w, "INC-1", 2);
    let refused = w
        .run(remediate(&w, "INC-1", Strategy::Rollback))
        .unwrap_err();
    assert_eq!(refused.rule(), "remediation-allowed", "{refused}");
    // Negative: a strategy the policy does not allow.
    let mut w = world(remediating(|r| r.strategies = [Strategy::Abort].into()));
    declare_on(&mut w, "INC-1", 2);
    let refused = w
        .run(remediate(&w, "INC-1", Strategy::Rollback))
        .unwrap_err();
    assert_eq!(refused.rule(), "remediation-allowed", "{refused}");
    assert!(refused.to_string().contains("it allows abort"), "{refused}");
    // Positive: recorded as the policy's decision, then the choice.
    let mut w = world(remediating(|_| {}));
    declare_on(&mut w, "INC-1", 2);
    let entries = w.ok(remediate(&w, "INC-1", Strategy::Rollback));
    let names = crate::common::type_names(&entries);
    assert_eq!(names[0], "remediation_decided", "{names:?}");
    assert!(names.contains(&"strategy_chosen"), "{names:?}");
    let EventKind::RemediationDecided {
        release,
        nth,
        in_window,
        ..
    } = &entries[0].event.kind
    else {
        unreachable!()
    };
    assert_eq!(*release, crate::common::release_id(2));
    assert_eq!((*nth, *in_window), (1, 1));
    assert!(entries[0].event.kind.is_audited());
}

#[test]
fn remediation_limit_once_per_release_and_so_many_per_window() {
    // Per release: a second incident on the same release is handed over.
    let mut w = world(remediating(|r| r.per_window = 10));
    declare_on(&mut w, "INC-1", 2);
    w.ok(remediate(&w, "INC-1", Strategy::Rollback));
    declare_on(&mut w, "INC-2", 2);
    let refused = w
        .run(remediate(&w, "INC-2", Strategy::Rollback))
        .unwrap_err();
    assert_eq!(refused.rule(), "remediation-limit", "{refused}");
    assert!(refused.to_string().contains("1 time already"), "{refused}");
    // Per window: a second remediation within the hour is handed over;
    // after the window it is not.
    let mut w = world(remediating(|r| {
        r.per_release = 5;
        r.per_window = 1;
    }));
    declare_on(&mut w, "INC-1", 2);
    w.ok(remediate(&w, "INC-1", Strategy::Rollback));
    declare_on(&mut w, "INC-2", 2);
    let refused = w
        .run(remediate(&w, "INC-2", Strategy::Rollback))
        .unwrap_err();
    assert_eq!(refused.rule(), "remediation-limit", "{refused}");
    assert!(refused.to_string().contains("in the last 1 h"), "{refused}");
    w.clock += 61;
    let entries = w.ok(remediate(&w, "INC-2", Strategy::Rollback));
    assert!(matches!(
        entries[0].event.kind,
        EventKind::RemediationDecided {
            nth: 2,
            in_window: 1,
            ..
        }
    ));
}

struct Host {
    store: Arc<InMemoryJournalStore>,
    health: Arc<InMemoryHealthProbe>,
    clock: Arc<ManualClock>,
}

impl Host {
    fn on(w: &World) -> Self {
        let host = Self {
            store: Arc::new(InMemoryJournalStore::default()),
            health: Arc::new(InMemoryHealthProbe::default()),
            clock: Arc::new(ManualClock::at(t(w.clock + 1))),
        };
        block_on(host.store.append(0, w.ledger.journal().entries())).unwrap();
        host
    }

    fn ship(&self, release: u64, key: &str) -> (Result<knowngood::Shipped, DriveError>, Driver) {
        let ports = Ports::new(
            Arc::new(InMemoryVcs::default()),
            Arc::new(InMemoryDeployer::default()),
            Some(Arc::new(InMemoryFlagStore::default())),
            self.health.clone(),
            Arc::new(InMemoryBuilder::new(50, 1, 0)),
            self.store.clone(),
            self.clock.clone(),
        );
        block_on(async {
            let mut driver = Driver::resume(ports, "knowngood-driver").await.unwrap();
            let shipped = driver
                .ship(
                    &"prod".into(),
                    &crate::common::release_id(release),
                    &key.into(),
                )
                .await;
            (shipped, driver)
        })
    }
}

#[test]
fn remediation_a_failed_verification_is_rolled_back_by_the_policy_and_mitigated_on_measurement() {
    let w = world(remediating(|_| {}));
    let host = Host::on(&w);
    host.health.set(
        &"prod".into(),
        &crate::common::release_id(3),
        Health::new(false, "error rate 12%"),
    );
    let (shipped, driver) = host.ship(3, "ci-3");
    let failed = shipped.unwrap_err();
    let said = failed.to_string();
    assert!(said.contains("error rate 12%"), "{said}");
    assert!(
        said.contains("chose rollback by itself") && said.contains("mitigated"),
        "{said}"
    );
    let state = driver.state();
    let incident = state.incident(&"auto-prod-payments-r3".into()).unwrap();
    assert_eq!(incident.phase, IncidentPhase::Mitigated);
    assert_eq!(incident.strategy, Some(Strategy::Rollback));
    assert_eq!(
        state
            .current_release(&"prod".into(), &SERVICE.into())
            .map(|r| r.id.clone()),
        Some(crate::common::release_id(2))
    );
    // The retro tells it as the policy's decision, with the evidence.
    let retro = knowngood::retro::Retro::from_journal(driver.journal(), &incident.id).unwrap();
    let told = retro.to_markdown();
    assert!(told.contains("for the remediation policy of"), "{told}");
    assert!(told.contains("error rate 12%"), "{told}");
}

#[test]
fn remediation_hands_over_when_no_option_it_allows_applies() {
    // Only a retoggle is allowed, and nothing is behind a flag.
    let w = world(remediating(|r| r.strategies = [Strategy::Retoggle].into()));
    let host = Host::on(&w);
    host.health.set(
        &"prod".into(),
        &crate::common::release_id(3),
        Health::new(false, "error rate 12%"),
    );
    let (shipped, driver) = host.ship(3, "ci-3");
    let said = shipped.unwrap_err().to_string();
    assert!(said.contains("no option it may take by itself"), "{said}");
    let incident = driver
        .state()
        .incident(&"auto-prod-payments-r3".into())
        .unwrap();
    assert_eq!(incident.phase, IncidentPhase::Detected);
    assert!(
        !driver
            .journal()
            .entries()
            .iter()
            .any(|e| matches!(e.event.kind, EventKind::RemediationDecided { .. }))
    );
}

#[test]
fn remediation_a_freeze_holds_it_unless_the_policy_acts_during_freezes_with_the_role() {
    let freeze = |w: &mut World| {
        w.ok(Command::DeclareFreeze {
            freeze: knowngood::Freeze::deny(
                "launch",
                [knowngood::GatedAction::Rollback],
                t(0),
                "carol",
                "the launch",
            )
            .in_environment("prod"),
        });
    };
    let failing = |w: &World| {
        let host = Host::on(w);
        host.health.set(
            &"prod".into(),
            &crate::common::release_id(3),
            Health::new(false, "error rate 12%"),
        );
        let (shipped, driver) = host.ship(3, "ci-3");
        let phase = driver
            .state()
            .incident(&"auto-prod-payments-r3".into())
            .unwrap()
            .phase;
        (shipped.unwrap_err().to_string(), phase, driver)
    };
    // Negative: frozen, it hands over.
    let mut w = world(remediating(|_| {}));
    freeze(&mut w);
    let (said, phase, _) = failing(&w);
    assert!(said.contains("no option it may take by itself"), "{said}");
    assert_eq!(phase, IncidentPhase::Detected);
    // Negative: allowed during freezes, but the driver holds no override
    // role: still handed over.
    let mut w = world(remediating(|r| r.during_freeze = true));
    freeze(&mut w);
    let (said, phase, _) = failing(&w);
    assert_eq!(phase, IncidentPhase::Detected, "{said}");
    // Positive: allowed, and the driver holds the role: remediated, the
    // override audited.
    let mut policy = remediating(|r| r.during_freeze = true);
    policy.roles.insert(
        "release-managers".into(),
        ["knowngood-driver".into()].into(),
    );
    policy
        .freeze_override_roles
        .insert("release-managers".into());
    let mut w = world(policy);
    freeze(&mut w);
    let (said, phase, driver) = failing(&w);
    assert_eq!(phase, IncidentPhase::Mitigated, "{said}");
    assert!(
        driver
            .journal()
            .entries()
            .iter()
            .any(|e| matches!(e.event.kind, EventKind::FreezeOverridden { .. }))
    );
}
