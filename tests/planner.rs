//! The reference scenarios of the specification (§6), each asserting the
//! top option, the applicability of every other option with its reason,
//! and the follow-ups. The explanations are snapshotted for review.

mod common;

use common::{
    SERVICE, World, applicability, bad_commit_in_production, external, release_id, timed_policy,
};
use knowngood::recovery::{EffectAction, EstimateBasis, FollowUpKind};
use knowngood::{Command, FlagState, Policy, RecoveryPlan, Revision, Strategy as S};

fn top(plan: &RecoveryPlan) -> S {
    plan.best().expect("an applicable option").strategy
}

fn why_not(plan: &RecoveryPlan, s: S) -> String {
    plan.option(s).unwrap().why_not()
}

/// Bob's feature (PR-2) is merged and sitting in QA; production (build 1)
/// breaks for an external reason and Alice has the fix. `qa_left` is the
/// QA time Bob's build still needs, in minutes.
fn bob_and_alice(policy: Policy, qa_left: i64) -> World {
    let mut w = World::new();
    w.adopt(timed_policy(policy));
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    w.merge("PR-2", "b2", Some("a1")); // Bob's feature
    let bobs = w.build_at(2, "b2");
    w.deploy("dev", &bobs, true);
    let in_qa = w.roll_out("qa", &bobs); // verifying: QA takes an hour
    let requested = w
        .prod_history_of("qa")
        .get(in_qa.revision)
        .unwrap()
        .requested_at;
    w.declare(external());
    // Move the clock so that `qa_left` minutes of QA remain.
    w.clock = (requested - common::t(0)).num_minutes() + 60 - qa_left;
    w
}

#[test]
fn scenario_bob_in_qa_alice_has_the_fix_plain_policy_lists_hotfix_revert_bob_and_wait_with_costs() {
    // Waiting means Bob's build passes QA, then Alice's fix ships through
    // the whole pipeline (dev, QA, prod) after it: the estimate is what the
    // driver does, so with a hotfix lane waiting never wins.
    let w = bob_and_alice(Policy::hotfix_lane("Hotfix-{build}"), 10);
    let plan = w.plan();
    assert_eq!(top(&plan), S::Hotfix, "{}", plan.explanation);
    assert_eq!(
        plan.option(S::Wait).unwrap().estimate.seconds,
        600 + 1800 + 600 + 3600 + 600,
        "QA time left, the fix, then dev, QA and prod"
    );
    assert_eq!(
        applicability(&plan),
        vec![
            (S::Retoggle, false),
            (S::Rollback, false),
            (S::Revert, false),
            (S::Hotfix, true),
            (S::FixForward, false),
            (S::Wait, true),
            (S::RevertInFlightThenFix, true),
            (S::Abort, false),
        ]
    );
    assert_eq!(
        why_not(&plan, S::Retoggle),
        "the cause is external, not a change"
    );
    assert!(
        why_not(&plan, S::Rollback).contains("revision 1 is the first revision"),
        "{}",
        why_not(&plan, S::Rollback)
    );
    assert!(why_not(&plan, S::FixForward).contains("main holds unreleased work (`PR-2`)"));
    let hotfix = plan.option(S::Hotfix).unwrap();
    assert_eq!(hotfix.estimate.seconds, 1800 + 600 + 600);
    assert_eq!(hotfix.estimate.basis, EstimateBasis::Policy);
    assert_eq!(hotfix.cost.merges, 2);
    assert!(
        hotfix
            .cost
            .follow_ups
            .contains(&FollowUpKind::MergeHotfixBack {
                service: SERVICE.into(),
                branch: "Hotfix-1".into()
            })
    );
    let revert_bob = plan.option(S::RevertInFlightThenFix).unwrap();
    assert_eq!(revert_bob.cost.merges, 3);
    assert_eq!(
        revert_bob.estimate.seconds,
        300 + 1800 + 600 + 600,
        "QA is fast-tracked"
    );
    assert!(
        revert_bob
            .cost
            .follow_ups
            .contains(&FollowUpKind::ReapplyChange {
                change: "PR-2".into()
            })
    );
    insta::assert_snapshot!("bob_alice_little_qa_left", plan.explanation);

    // Most of QA still ahead: waiting takes that much longer.
    let w = bob_and_alice(Policy::hotfix_lane("Hotfix-{build}"), 50);
    let plan = w.plan();
    assert_eq!(top(&plan), S::Hotfix, "{}", plan.explanation);
    assert_eq!(
        plan.option(S::Wait).unwrap().estimate.seconds,
        3000 + 1800 + 600 + 3600 + 600
    );
    insta::assert_snapshot!("bob_alice_most_qa_left", plan.explanation);
}

#[test]
fn scenario_bob_in_qa_without_a_hotfix_lane_or_fast_track_waiting_wins() {
    let mut policy = Policy::default();
    policy.fast_track_allowed = false;
    let w = bob_and_alice(policy, 10);
    let plan = w.plan();
    assert_eq!(top(&plan), S::Wait, "{}", plan.explanation);
    // Reverting Bob's change only pays off when the fix may skip QA: the
    // core refuses the fast-track the plan needs, and the planner says so.
    assert!(
        why_not(&plan, S::RevertInFlightThenFix).contains("the policy does not allow fast-tracks"),
        "{}",
        why_not(&plan, S::RevertInFlightThenFix)
    );
}

#[test]
fn scenario_bob_in_qa_under_continuous_deployment_fix_forward_wins() {
    let w = bob_and_alice(Policy::continuous_deployment(), 10);
    let plan = w.plan();
    assert_eq!(top(&plan), S::FixForward, "{}", plan.explanation);
    assert!(why_not(&plan, S::Wait).contains("main is always deploy-ready"));
    assert!(why_not(&plan, S::RevertInFlightThenFix).contains("main is always deploy-ready"));
    assert_eq!(
        why_not(&plan, S::Hotfix),
        "the policy does not use a hotfix lane"
    );
    assert_eq!(plan.option(S::FixForward).unwrap().cost.merges, 1);
    insta::assert_snapshot!("bob_alice_continuous_deployment", plan.explanation);
}

#[test]
fn scenario_forward_only_revert_commit_tagged_and_pushed_through_the_pipeline() {
    let w = bad_commit_in_production(Policy::forward_only());
    let plan = w.plan();
    assert_eq!(top(&plan), S::Revert, "{}", plan.explanation);
    assert_eq!(
        why_not(&plan, S::Rollback),
        "the policy is forward-only: no rollbacks"
    );
    let revert = plan.option(S::Revert).unwrap();
    let actions: Vec<String> = revert.steps.iter().map(|s| s.action.to_string()).collect();
    assert_eq!(
        actions,
        [
            "revert `PR-2` on `main`",
            "tag the head of `main` as `revert-PR-2`",
            "build `main` and promote it along the main lane to `prod`",
            "verify `payments` in `prod`",
        ]
    );
    assert_eq!(
        revert.steps[0].key.as_str(),
        "INC-1/attempt-1/revert/1-revert"
    );
    assert_eq!(revert.estimate.seconds, 300 + 600 + 3600 + 600);
    // The incident closed the gate and poisoned PR-2.
    assert!(w.gate("prod").is_some());
    assert!(w.ledger.state().is_poisoned(&"PR-2".into()));
    insta::assert_snapshot!("forward_only", plan.explanation);
}

#[test]
fn scenario_rollback_allowed_rollback_wins_gate_stays_closed_and_drift_is_reported() {
    let mut w = bad_commit_in_production(Policy::default());
    let plan = w.plan();
    assert_eq!(top(&plan), S::Rollback, "{}", plan.explanation);
    let rollback = plan.option(S::Rollback).unwrap();
    assert_eq!(rollback.estimate.seconds, 600);
    assert_eq!(
        rollback.cost.follow_ups,
        vec![
            FollowUpKind::FixMain {
                service: SERVICE.into()
            },
            FollowUpKind::LiftGate {
                environment: "prod".into()
            },
            FollowUpKind::HoldRetro
        ]
    );
    insta::assert_snapshot!("rollback_allowed", plan.explanation);
    // Choosing it authorizes the rollback through the closed gate.
    let entries = w.choose(S::Rollback);
    assert_eq!(
        common::type_names(&entries),
        ["strategy_chosen", "recovery_authorized"]
    );
    let back = common::slot_of(&w.rollback("prod", None).unwrap()[0]);
    w.start(&back);
    w.complete(&back);
    w.verify(&back, true);
    w.ok(Command::MarkMitigated {
        incident: "INC-1".into(),
        by: "alice".into(),
    });
    // Drift keeps the gate closed; head is refused until the revert lands.
    assert!(w.gate("prod").is_some());
    let drift = w
        .ledger
        .state()
        .drift(&"prod".into(), &SERVICE.into())
        .unwrap();
    assert_eq!(drift.missing_changes, vec!["PR-2".into()]);
    let resolve = w
        .run(Command::ResolveIncident {
            incident: "INC-1".into(),
            by: "alice".into(),
        })
        .unwrap_err();
    assert!(resolve.to_string().contains("drift from main"), "{resolve}");
    let head = w.build_at(3, "998b");
    w.through_qa(&head);
    assert_eq!(
        w.run(Command::deploy("prod", head, "bob"))
            .unwrap_err()
            .rule(),
        "poisoned-release"
    );
}

#[test]
fn scenario_hotfix_branch_named_from_production_build_43_and_repointed_by_each_deployment() {
    let mut w = World::new();
    w.adopt(timed_policy(Policy::hotfix_lane("Hotfix-{build}")));
    w.merge("PR-1", "a1", None);
    let live = w.build_at(43, "a1");
    w.through_qa(&live);
    w.deploy("prod", &live, true);
    let base = knowngood::hotfix_base(w.ledger.state(), &"prod".into(), &SERVICE.into()).unwrap();
    assert_eq!(
        (base.branch.as_str(), base.commit.as_str()),
        ("Hotfix-43", "a1")
    );
    // hotfix-development mirrors production: the hotfix lane starts there.
    w.deploy("hotfix-dev", &live, true);
    // A new production deployment re-points the hotfix lane.
    w.merge("PR-2", "b2", Some("a1"));
    let next = w.build_at(44, "b2");
    w.through_qa(&next);
    w.deploy("prod", &next, true);
    let base = knowngood::hotfix_base(w.ledger.state(), &"prod".into(), &SERVICE.into()).unwrap();
    assert_eq!(
        (base.branch.as_str(), base.commit.as_str()),
        ("Hotfix-44", "b2")
    );
    w.declare(external());
    let plan = w.plan();
    let hotfix = plan.option(S::Hotfix).unwrap();
    assert!(hotfix.applicable, "{}", hotfix.why_not());
    assert_eq!(
        hotfix.steps[0].action,
        EffectAction::CutBranch {
            service: SERVICE.into(),
            branch: "Hotfix-44".into(),
            at: "b2".into()
        }
    );
    assert_eq!(
        hotfix.cost.follow_ups[0],
        FollowUpKind::MergeHotfixBack {
            service: SERVICE.into(),
            branch: "Hotfix-44".into()
        }
    );
}

#[test]
fn scenario_rollout_history_21_to_24_with_24_bad_undoes_to_revision_23() {
    let mut w = World::new();
    for n in 1..=24 {
        let release = w.ready_for_prod(n);
        w.deploy("prod", &release, true);
    }
    w.declare(knowngood::SuspectedCause::Deployment {
        slot: knowngood::Slot::new("prod", SERVICE, Revision(24)),
    });
    let plan = w.plan();
    assert_eq!(top(&plan), S::Rollback, "{}", plan.explanation);
    let rollback = plan.option(S::Rollback).unwrap();
    assert_eq!(
        rollback.steps[0].action,
        EffectAction::Rollback {
            environment: "prod".into(),
            service: SERVICE.into(),
            to: Revision(23),
            release: release_id(23)
        }
    );
    assert!(
        why_not(&plan, S::Revert).starts_with("the cause is not pinned to a recorded change"),
        "{}",
        why_not(&plan, S::Revert)
    );
}

#[test]
fn scenario_flagged_feature_breaks_retoggle_wins_no_gate_no_code_change() {
    let mut w = common::flagged_change_in_production();
    let plan = w.plan();
    assert_eq!(top(&plan), S::Retoggle, "{}", plan.explanation);
    let retoggle = plan.option(S::Retoggle).unwrap();
    assert_eq!((retoggle.cost.merges, retoggle.cost.freezes), (0, 0));
    assert_eq!(retoggle.estimate.seconds, 60);
    assert_eq!(
        retoggle.steps[0].action,
        EffectAction::SetFlag {
            environment: "prod".into(),
            flag: "new-checkout".into(),
            state: FlagState::Off
        }
    );
    insta::assert_snapshot!("flagged_feature", plan.explanation);
    // Choosing it needs nothing through the gate; switching the flag off
    // mitigates and reopens the gate: no code changed.
    assert_eq!(
        common::type_names(&w.choose(S::Retoggle)),
        ["strategy_chosen"]
    );
    w.ok(Command::SetFlag {
        environment: "prod".into(),
        flag: "new-checkout".into(),
        state: FlagState::Off,
        by: "alice".into(),
        clearance: knowngood::Clearance::none(),
    });
    // The flag is off, but nothing has measured the service since.
    let refused = w
        .run(Command::MarkMitigated {
            incident: "INC-1".into(),
            by: "alice".into(),
        })
        .unwrap_err();
    assert_eq!(refused.rule(), "not-yet-mitigated", "{refused}");
    w.measured_healthy();
    let entries = w.ok(Command::MarkMitigated {
        incident: "INC-1".into(),
        by: "alice".into(),
    });
    assert_eq!(
        common::type_names(&entries),
        ["incident_mitigated", "gate_reopened"]
    );
    assert!(w.gate("prod").is_none());
    assert_eq!(
        w.prod_history().deployments().len(),
        2,
        "no deployment was made"
    );
}

#[test]
fn scenario_rollback_target_predates_a_contract_migration_refused_with_reason() {
    use knowngood::{Migration, MigrationPhase as P, Release, SchemaRange};
    let mut w = World::new();
    let mut policy = timed_policy(Policy::hotfix_lane("Hotfix-{build}"));
    policy.rollback_window = 0; // the team accepted losing the old schema
    w.adopt(policy);
    w.merge("PR-1", "a1", None);
    let register = |w: &mut World, n: u64, commit: &str, range: SchemaRange| {
        w.ok(Command::RegisterArtifact {
            artifact: knowngood::Artifact::new(
                SERVICE,
                common::digest(n),
                semver::Version::new(1, n, 0),
                n,
                commit,
            ),
        });
        w.ok(Command::RegisterRelease {
            release: Release::new(release_id(n), SERVICE, common::digest(n), "cfg")
                .on_schema(range),
        });
        release_id(n)
    };
    let migrate = |w: &mut World, id: &str, phase, from, to| {
        for env in ["dev", "qa", "prod"] {
            w.ok(Command::ApplyMigration {
                environment: env.into(),
                service: SERVICE.into(),
                migration: Migration::new(id, phase, from, to),
                by: "dba".into(),
            });
        }
    };
    migrate(&mut w, "0001-base", P::Expand, 0, 1);
    let one = register(&mut w, 1, "a1", SchemaRange::new(1, 2));
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    migrate(&mut w, "0002-add-address", P::Expand, 1, 2);
    w.merge("PR-2", "b2", Some("a1"));
    let two = register(&mut w, 2, "b2", SchemaRange::new(2, 3));
    w.through_qa(&two);
    w.deploy("prod", &two, true);
    migrate(&mut w, "0003-drop-old-address", P::Contract, 2, 3);
    w.declare(knowngood::SuspectedCause::Deployment {
        slot: knowngood::Slot::new("prod", SERVICE, Revision(2)),
    });
    let plan = w.plan();
    let why = why_not(&plan, S::Rollback);
    assert!(
        why.contains(
            "predates contract migration `0003-drop-old-address` (2 → 3), which cannot be undone"
        ),
        "{why}"
    );
    assert!(
        matches!(top(&plan), S::Hotfix | S::Revert),
        "{}",
        plan.explanation
    );
    assert_eq!(top(&plan), S::Hotfix);
    insta::assert_snapshot!("contract_migration", plan.explanation);
    // The decide path refuses the rollback too.
    let refusal = w.rollback("prod", Some(1)).unwrap_err();
    assert_eq!(refusal.rule(), "schema-incompatible", "{refusal}");
}

#[test]
fn scenario_external_cause_rollback_marked_as_probably_not_helping() {
    let w = {
        let mut w = World::new();
        w.adopt(timed_policy(Policy::default()));
        w.merge("PR-1", "a1", None);
        let one = w.build_at(1, "a1");
        w.through_qa(&one);
        w.deploy("prod", &one, true);
        w.merge("PR-2", "b2", Some("a1"));
        let two = w.build_at(2, "b2");
        w.through_qa(&two);
        w.deploy("prod", &two, true);
        w.declare(external());
        w
    };
    let plan = w.plan();
    let rollback = plan.option(S::Rollback).unwrap();
    assert!(rollback.applicable);
    assert!(!rollback.likely_to_help);
    assert!(rollback.risks.iter().any(|r| {
        r.contains("the cause is external: rolling the code back will probably not help")
    }));
    // It is faster than fixing forward, but ranked after it.
    assert_eq!(top(&plan), S::FixForward, "{}", plan.explanation);
    assert!(
        plan.explanation
            .contains("Rollback: probably would not help"),
        "{}",
        plan.explanation
    );
    insta::assert_snapshot!("external_cause", plan.explanation);
}

#[test]
fn scenario_two_services_ledger_rollback_alone_refused_ordered_joint_rollback_offered() {
    let mut w = World::new();
    w.adopt(timed_policy(Policy::default()));
    w.ok(Command::RegisterService {
        service: knowngood::Service::new("ledger"),
    });
    let build = |w: &mut World, service: &str, n: u64, version: &str, requires: Option<&str>| {
        let digest = knowngood::Digest::parse(&format!("sha256:{n:016x}")).unwrap();
        w.ok(Command::RegisterArtifact {
            artifact: knowngood::Artifact::new(
                service,
                digest.clone(),
                semver::Version::parse(version).unwrap(),
                n,
                "c",
            ),
        });
        let mut release =
            knowngood::Release::new(format!("{service}@{version}"), service, digest, "cfg");
        if let Some(req) = requires {
            release = release.requiring("ledger", semver::VersionReq::parse(req).unwrap());
        }
        w.ok(Command::RegisterRelease {
            release: release.clone(),
        });
        for env in ["dev", "qa", "prod"] {
            w.deploy(env, &release.id, true);
        }
    };
    build(&mut w, "ledger", 100, "2.9.0", None);
    build(&mut w, SERVICE, 200, "2.0.0", Some(">=2.0"));
    build(&mut w, "ledger", 101, "3.0.0", None);
    build(&mut w, SERVICE, 201, "2.1.0", Some(">=3.0"));
    // Rolling ledger back alone is refused while payments 2.1 runs.
    let alone = w
        .run(Command::rollback(
            "prod",
            "ledger",
            "alice",
            "ledger 3.0 corrupts balances",
        ))
        .unwrap_err();
    assert_eq!(alone.rule(), "breaks-dependant", "{alone}");
    assert!(
        alone
            .to_string()
            .contains("`payments` (release `payments@2.1.0`) in `prod` requires `ledger` >=3.0"),
        "{alone}"
    );
    // The planner offers the ordered joint rollback and says why.
    w.ok(Command::DeclareIncident {
        incident: "INC-1".into(),
        environment: "prod".into(),
        service: "ledger".into(),
        severity: knowngood::Severity::Sev1,
        cause: knowngood::SuspectedCause::Deployment {
            slot: knowngood::Slot::new("prod", "ledger", Revision(2)),
        },
        summary: "balances wrong".into(),
        by: "alice".into(),
        impact_began: None,
    });
    let plan = w.plan();
    let rollback = plan.option(S::Rollback).unwrap();
    assert!(rollback.applicable, "{}", rollback.why_not());
    let order: Vec<String> = rollback
        .steps
        .iter()
        .map(|s| s.action.to_string())
        .collect();
    assert_eq!(
        order,
        [
            "roll `payments` in `prod` back to revision 1 (`payments@2.0.0`)",
            "roll `ledger` in `prod` back to revision 1 (`ledger@2.9.0`)",
            "verify `ledger` in `prod`",
            "verify `payments` in `prod`",
        ]
    );
    let joint = rollback
        .risks
        .iter()
        .find(|r| r.contains("a joint rollback"))
        .unwrap();
    assert!(
        joint.contains("`payments` runs `payments@2.1.0`, which requires `ledger` >=3.0, so it rolls back first"),
        "{joint}"
    );
    assert_eq!(top(&plan), S::Rollback);
    // Carried out in that order, each step is accepted.
    let entries = w.choose(S::Rollback);
    assert_eq!(
        common::type_names(&entries),
        ["strategy_chosen", "recovery_authorized"]
    );
    let payments_back = common::slot_of(
        &w.run(Command::rollback(
            "prod",
            SERVICE,
            "alice",
            "make way for ledger",
        ))
        .unwrap()[0],
    );
    w.start(&payments_back);
    w.complete(&payments_back);
    w.verify(&payments_back, true);
    assert!(
        w.run(Command::rollback(
            "prod",
            "ledger",
            "alice",
            "ledger 3.0 corrupts balances"
        ))
        .is_ok()
    );
}

#[test]
fn planner_estimates_switch_to_observed_durations_once_the_journal_has_enough() {
    let mut w = World::new();
    let mut policy = timed_policy(Policy::default());
    policy.observations_needed = 3;
    w.adopt(policy);
    for n in 1..=3 {
        let r = w.ready_for_prod(n);
        w.deploy("prod", &r, true);
    }
    w.declare(knowngood::SuspectedCause::Deployment {
        slot: knowngood::Slot::new("prod", SERVICE, Revision(3)),
    });
    let rollback = w.plan().option(S::Rollback).unwrap().clone();
    // Each World deployment takes 3 minutes from request to verification.
    assert_eq!(rollback.estimate.basis, EstimateBasis::Observed);
    assert_eq!(rollback.estimate.seconds, 180);
}

#[test]
fn planner_is_deterministic() {
    let w = bob_and_alice(Policy::hotfix_lane("Hotfix-{build}"), 30);
    assert_eq!(w.plan(), w.plan());
    let rebuilt = knowngood::Ledger::from_journal(w.ledger.journal().clone()).unwrap();
    let again = knowngood::plan(
        rebuilt.state(),
        &"INC-1".into(),
        common::t(w.clock),
        &knowngood::Capabilities::all(),
    )
    .unwrap();
    assert_eq!(again, w.plan());
}
