//! Fast-track: an explicit, authorised, recorded command that lets a
//! release skip the test stages of its lane; refused when the policy does
//! not allow it; used by the driver when the chosen plan says so.

mod common;

use common::{SERVICE, World, release_id};
use knowngood::drill::{Scenario, run};
use knowngood::{Command, EventKind, Lane, Ledger, Policy, Strategy};

/// Build 1 verified in dev, not in QA.
fn in_dev(policy: Policy) -> World {
    let mut w = World::new();
    w.adopt(policy);
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.deploy("dev", &one, true);
    w
}

fn fast_track(by: &str, reason: &str) -> Command {
    Command::FastTrack {
        release: release_id(1),
        target: "prod".into(),
        lane: Lane::Main,
        by: by.into(),
        reason: reason.into(),
    }
}

fn deploy_prod(w: &mut World) -> Result<(), knowngood::Rejection> {
    w.run(Command::deploy("prod", release_id(1), "deploy-bot"))
        .map(drop)
}

#[test]
fn fast_track_skips_the_test_stage_only_once_recorded() {
    let mut w = in_dev(Policy::default());
    assert_eq!(
        deploy_prod(&mut w).unwrap_err().rule(),
        "not-verified-upstream"
    );
    let entries = w.ok(fast_track("alice", "checkout down, fix verified in dev"));
    let EventKind::FastTrackAuthorized {
        skipped, by, role, ..
    } = &entries[0].event.kind
    else {
        panic!("{entries:?}");
    };
    assert_eq!(skipped, &vec!["qa".into()]);
    assert_eq!((by.as_str(), role), ("alice", &None));
    assert!(entries[0].event.kind.is_audited() && entries[0].event.kind.is_exception());
    assert!(deploy_prod(&mut w).is_ok());
    // Asked again, it records nothing new.
    assert!(w.ok(fast_track("alice", "again")).is_empty());
}

#[test]
fn fast_track_refused_when_the_policy_does_not_allow_it() {
    let mut policy = Policy::default();
    policy.fast_track_allowed = false;
    let mut w = in_dev(policy);
    let refused = w.run(fast_track("alice", "hurry")).unwrap_err();
    assert_eq!(refused.rule(), "fast-track-not-permitted");
    assert!(
        refused.to_string().contains("does not allow fast-tracks"),
        "{refused}"
    );
    assert_eq!(
        deploy_prod(&mut w).unwrap_err().rule(),
        "not-verified-upstream"
    );
}

#[test]
fn fast_track_needs_a_role_the_policy_names_and_records_it() {
    let mut policy = Policy::default();
    policy
        .roles
        .insert("release-managers".into(), ["rita".into()].into());
    policy.fast_track_roles.insert("release-managers".into());
    let mut w = in_dev(policy);
    let refused = w.run(fast_track("alice", "hurry")).unwrap_err();
    assert_eq!(refused.rule(), "fast-track-not-permitted");
    assert!(
        refused.to_string().contains("`release-managers`"),
        "{refused}"
    );
    let entries = w.ok(fast_track("rita", "hurry"));
    assert!(matches!(
        &entries[0].event.kind,
        EventKind::FastTrackAuthorized { role: Some(r), .. } if r.as_str() == "release-managers"
    ));
}

#[test]
fn fast_track_needs_a_reason() {
    let mut w = in_dev(Policy::default());
    assert_eq!(
        w.run(fast_track("alice", "  ")).unwrap_err().rule(),
        "reason-required"
    );
}

#[test]
fn fast_track_the_driver_skips_qa_when_the_chosen_plan_fast_tracks() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/scenarios/bob-in-qa-wait.toml");
    let mut scenario = Scenario::load(&path).unwrap();
    scenario.policy.fast_track_allowed = true;
    scenario.expect.top = None;
    scenario.expect.inapplicable.clear();
    scenario.expect.choose = Some(Strategy::RevertInFlightThenFix);
    // Bob's change is re-applied on main after the fix ships.
    scenario.expect.serving_head_of = None;
    let report = run(&scenario, 3);
    assert!(report.passed(), "{:?}", report.failures);
    let entries = report.journal.entries();
    let granted = entries
        .iter()
        .find_map(|e| match &e.event.kind {
            EventKind::FastTrackAuthorized {
                release, skipped, ..
            } => Some((release.clone(), skipped.clone())),
            _ => None,
        })
        .expect("the plan's fast-track is recorded");
    assert_eq!(granted.1, vec!["qa".into()]);
    // The fast-tracked release never went to QA, and reached production.
    let state = Ledger::from_journal(report.journal.clone())
        .unwrap()
        .state()
        .clone();
    let qa = state.history(&"qa".into(), &SERVICE.into()).unwrap();
    assert!(qa.deployments().all(|d| d.release != granted.0));
    let prod = state.history(&"prod".into(), &SERVICE.into()).unwrap();
    assert!(prod.deployments().any(|d| d.release == granted.0));
}

/// The shipped scenario where Bob's change waits in QA, with fast-tracks
/// allowed to holders of `release-managers` only, whose members are
/// `members`; the person on call chooses the fast-tracked fix.
fn one_actor(members: &[&str]) -> Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/scenarios/bob-in-qa-wait.toml");
    let mut scenario = Scenario::load(&path).unwrap();
    scenario.policy.fast_track_allowed = true;
    scenario.policy.roles.insert(
        "release-managers".into(),
        members.iter().map(|m| (*m).into()).collect(),
    );
    scenario
        .policy
        .fast_track_roles
        .insert("release-managers".into());
    scenario.expect.top = None;
    scenario.expect.inapplicable.clear();
    scenario.expect.choose = Some(Strategy::RevertInFlightThenFix);
    scenario.expect.serving_head_of = None;
    scenario
}

#[test]
fn one_actor_per_plan_the_fast_track_is_authorised_by_the_person_who_chose_the_plan() {
    // The person on call holds the role: the plan is offered, accepted and
    // driven to the end, and the journal says who authorised the
    // fast-track (not the driver, which holds no role).
    let report = run(&one_actor(&["oncall"]), 3);
    assert!(report.passed(), "{:?}", report.failures);
    let by = report
        .journal
        .entries()
        .iter()
        .find_map(|e| match &e.event.kind {
            EventKind::FastTrackAuthorized { by, role, .. } => Some((by.clone(), role.clone())),
            _ => None,
        })
        .expect("the plan's fast-track is recorded");
    assert_eq!(by.0.as_str(), "oncall");
    assert_eq!(
        by.1.as_ref().map(knowngood::Role::as_str),
        Some("release-managers")
    );
    // Negative: someone else holds the role; the planner, judging the
    // person on call, does not offer the fast-tracked plan at all.
    let plan = run(&one_actor(&["rita"]), 3).plan.unwrap();
    let option = plan.option(Strategy::RevertInFlightThenFix).unwrap();
    assert!(!option.applicable);
    assert!(
        option.why_not().contains("release-managers"),
        "{}",
        option.why_not()
    );
}

#[test]
fn follow_up_reapply_change_closes_when_the_change_is_on_main_again() {
    let report = run(&one_actor(&["oncall"]), 3);
    assert!(report.passed(), "{:?}", report.failures);
    let entries = report.journal.entries();
    let state = report.journal.replay().unwrap();
    let incident = state.incident(&"INC-1".into()).unwrap();
    let index = incident
        .follow_ups
        .iter()
        .position(|f| {
            matches!(
                f.kind,
                knowngood::recovery::FollowUpKind::ReapplyChange { .. }
            )
        })
        .expect("the plan re-applies the change in flight");
    // The driver closed it once the re-applied change was on main.
    assert!(incident.follow_ups[index].done_at.is_some());
    // Negative: before the re-apply, closing it is refused.
    let chosen = entries
        .iter()
        .position(|e| matches!(e.event.kind, EventKind::StrategyChosen { .. }))
        .unwrap();
    let mut ledger = Ledger::from_journal(report.journal.truncated(chosen + 1)).unwrap();
    let refused = ledger
        .execute(
            &Command::CompleteFollowUp {
                incident: "INC-1".into(),
                follow_up: u32::try_from(index).unwrap(),
                by: "oncall".into(),
            },
            entries[chosen].event.at,
        )
        .unwrap_err();
    assert_eq!(refused.rule(), "follow-up-not-done");
    assert!(
        refused.to_string().contains("is not on `main` again yet"),
        "{refused}"
    );
}
