//! The incident lifecycle: detected → mitigating → mitigated → resolved →
//! reviewed; illegal steps are typed rejections that change nothing; times
//! come from the journal; follow-ups are tracked until done.

mod common;

use common::{SERVICE, World, change_cause, t};
use knowngood::recovery::FollowUpKind;
use knowngood::retro::Retro;
use knowngood::{Command, IncidentPhase, Policy, Rejection, Strategy};

fn mitigate() -> Command {
    Command::MarkMitigated {
        incident: "INC-1".into(),
        by: "alice".into(),
    }
}
fn resolve() -> Command {
    Command::ResolveIncident {
        incident: "INC-1".into(),
        by: "alice".into(),
    }
}
fn retro() -> Command {
    Command::RecordRetro {
        incident: "INC-1".into(),
        summary: "alerting on checkout errors".into(),
        by: "alice".into(),
    }
}
/// A choice with no steps: only the incident's phase and the policy judge it.
fn choose(strategy: Strategy) -> Command {
    common::bare_choice(strategy)
}

/// Build 1 good in prod, build 2 (PR-2) in prod, incident naming PR-2.
fn incident() -> World {
    common::bad_commit_in_production(Policy::default())
}

fn phase(w: &World) -> IncidentPhase {
    w.ledger.state().incident(&"INC-1".into()).unwrap().phase
}

/// Walks the incident through a rollback and a revert to `upto`.
fn walk_to(upto: IncidentPhase) -> World {
    let mut w = incident();
    if upto == IncidentPhase::Detected {
        return w;
    }
    w.choose(Strategy::Rollback);
    if upto == IncidentPhase::Mitigating {
        return w;
    }
    let back = common::slot_of(&w.rollback("prod", None).unwrap()[0]);
    w.start(&back);
    w.complete(&back);
    w.verify(&back, true);
    w.ok(mitigate());
    if upto == IncidentPhase::Mitigated {
        return w;
    }
    w.merge_change("PR-3", "dd3a", Some("998b"), |c| c.reverting("PR-2"));
    let fixed = w.build_at(3, "dd3a");
    w.through_qa(&fixed);
    w.deploy("prod", &fixed, true);
    w.ok(resolve());
    if upto == IncidentPhase::Resolved {
        return w;
    }
    w.ok(retro());
    w
}

type Step = (&'static str, fn() -> Command, &'static [IncidentPhase]);

#[test]
fn incident_every_phase_and_step_pair_gives_the_documented_outcome() {
    use IncidentPhase as P;
    let phases = [
        P::Detected,
        P::Mitigating,
        P::Mitigated,
        P::Resolved,
        P::Reviewed,
    ];
    let steps: [Step; 5] = [
        (
            "choose",
            || choose(Strategy::Rollback),
            &[P::Detected, P::Mitigating],
        ),
        // A plan that fixes main may also resolve a mitigated incident.
        (
            "choose-resolving",
            || choose(Strategy::Revert),
            &[P::Detected, P::Mitigating, P::Mitigated],
        ),
        ("mitigate", mitigate, &[P::Mitigating]),
        ("resolve", resolve, &[P::Mitigated]),
        ("retro", retro, &[P::Resolved]),
    ];
    for phase_now in phases {
        for (name, command, legal_from) in &steps {
            let mut w = walk_to(phase_now);
            assert_eq!(phase(&w), phase_now);
            let before = w.ledger.clone();
            let outcome = w.run(command());
            if legal_from.contains(&phase_now) {
                // Legal by phase; it may still wait for the world (mitigate
                // before the rollback ran), which is a different rejection.
                if let Err(r) = &outcome {
                    assert_ne!(
                        r.rule(),
                        "illegal-incident-step",
                        "{phase_now} × {name}: {r}"
                    );
                }
            } else if phase_now == P::Mitigated && *name == "choose" {
                // Mitigated: a plan that would only mitigate again is
                // refused by its own rule.
                let refusal = outcome.unwrap_err();
                assert_eq!(refusal.rule(), "resolve-after-mitigation", "{refusal}");
                assert_eq!(w.ledger, before);
            } else {
                let refusal = outcome.unwrap_err();
                assert!(
                    matches!(&refusal, Rejection::IllegalIncidentStep { phase, .. } if *phase == phase_now),
                    "{phase_now} × {name}: {refusal}"
                );
                assert_eq!(w.ledger, before, "{phase_now} × {name} changed something");
            }
        }
    }
}

#[test]
fn incident_records_times_and_computes_time_to_mitigate_and_resolve_from_the_journal() {
    let w = walk_to(IncidentPhase::Reviewed);
    let record = w.ledger.state().incident(&"INC-1".into()).unwrap();
    assert_eq!(record.phase, IncidentPhase::Reviewed);
    let (detected, mitigated, resolved) = (
        record.detected_at,
        record.mitigated_at.unwrap(),
        record.resolved_at.unwrap(),
    );
    assert!(detected < mitigated && mitigated < resolved);
    assert_eq!(record.time_to_mitigate().unwrap(), mitigated - detected);
    assert_eq!(record.time_to_resolve().unwrap(), resolved - detected);
    // The retro gives the same figures from the journal alone.
    let retro = Retro::from_journal(w.ledger.journal(), &"INC-1".into()).unwrap();
    assert_eq!(
        retro.time_to_mitigate,
        Some((mitigated - detected).num_seconds())
    );
    assert_eq!(
        retro.time_to_resolve,
        Some((resolved - detected).num_seconds())
    );
}

#[test]
fn incident_declaration_stops_the_line_and_poisons_the_suspected_change() {
    let w = incident();
    assert!(w.ledger.state().is_poisoned(&"PR-2".into()));
    let gate = w.gate("prod").unwrap();
    assert!(matches!(gate.cause, knowngood::GateCause::Incident { .. }));
    let mut w = incident();
    let again = w.run(Command::DeclareIncident {
        incident: "INC-1".into(),
        environment: "prod".into(),
        service: SERVICE.into(),
        severity: knowngood::Severity::Sev2,
        cause: common::external(),
        summary: "again".into(),
        by: "bob".into(),
        impact_began: None,
    });
    assert_eq!(again.unwrap_err().rule(), "duplicate-incident");
    assert_eq!(
        w.run(Command::DeclareIncident {
            incident: "INC-2".into(),
            environment: "prod".into(),
            service: SERVICE.into(),
            severity: knowngood::Severity::Sev2,
            cause: change_cause("PR-99"),
            summary: "x".into(),
            by: "bob".into(),
            impact_began: None,
        })
        .unwrap_err()
        .rule(),
        "unknown-change"
    );
}

#[test]
fn incident_choosing_an_inapplicable_strategy_is_refused_with_its_reasons() {
    let mut w = incident();
    let refusal = w.plan().choose(Strategy::Retoggle, "alice").unwrap_err();
    assert_eq!(refusal.own_rule(), "strategy-not-applicable");
    assert_eq!(refusal.rule(), "change-fully-behind-flags");
    assert!(
        refusal
            .to_string()
            .contains("`PR-2` is not behind any flag"),
        "{refusal}"
    );
    let revert = w.plan().choose(Strategy::Revert, "alice").unwrap();
    assert!(w.run(revert).is_ok());
}

#[test]
fn incident_mitigation_waits_for_a_known_good_state() {
    let mut w = walk_to(IncidentPhase::Mitigating);
    let refusal = w.run(mitigate()).unwrap_err();
    assert_eq!(refusal.rule(), "not-yet-mitigated");
    assert!(
        refusal.to_string().contains("still carries `PR-2`"),
        "{refusal}"
    );
}

#[test]
fn incident_follow_ups_are_tracked_until_done() {
    let mut w = walk_to(IncidentPhase::Mitigated);
    let open = |w: &World| -> Vec<FollowUpKind> {
        w.ledger
            .state()
            .incident(&"INC-1".into())
            .unwrap()
            .open_follow_ups()
            .map(|f| f.kind.clone())
            .collect()
    };
    assert_eq!(
        open(&w),
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
    // Resolving reopens the gate, which meets the lift-gate follow-up.
    w.merge_change("PR-3", "dd3a", Some("998b"), |c| c.reverting("PR-2"));
    let fixed = w.build_at(3, "dd3a");
    w.through_qa(&fixed);
    w.deploy("prod", &fixed, true);
    let entries = w.ok(resolve());
    assert_eq!(
        common::type_names(&entries),
        ["incident_resolved", "gate_reopened"]
    );
    assert_eq!(
        open(&w),
        vec![
            FollowUpKind::FixMain {
                service: SERVICE.into()
            },
            FollowUpKind::HoldRetro
        ]
    );
    w.ok(Command::CompleteFollowUp {
        incident: "INC-1".into(),
        follow_up: 0,
        by: "bob".into(),
    });
    assert!(
        w.ok(Command::CompleteFollowUp {
            incident: "INC-1".into(),
            follow_up: 0,
            by: "bob".into()
        })
        .is_empty()
    );
    assert_eq!(
        w.run(Command::CompleteFollowUp {
            incident: "INC-1".into(),
            follow_up: 7,
            by: "bob".into()
        })
        .unwrap_err()
        .rule(),
        "unknown-follow-up"
    );
    w.ok(retro());
    assert!(open(&w).is_empty());
}

#[test]
fn retro_record_holds_timeline_options_choice_metrics_and_open_follow_ups() {
    let mut w = walk_to(IncidentPhase::Mitigated);
    w.clock += 0;
    let retro = Retro::from_journal(w.ledger.journal(), &"INC-1".into()).unwrap();
    assert_eq!(retro.incident.strategy, Some(Strategy::Rollback));
    assert_eq!(retro.incident.considered.len(), Strategy::ALL.len());
    assert!(
        retro
            .timeline
            .first()
            .unwrap()
            .what
            .contains("declared SEV1 incident `INC-1`")
    );
    assert!(
        retro
            .timeline
            .iter()
            .any(|e| e.what.contains("chose rollback"))
    );
    assert!(
        retro
            .timeline
            .iter()
            .any(|e| e.what.contains("rolled back from revision 2 to revision 1"))
    );
    assert!(retro.time_to_resolve.is_none());
    assert_eq!(retro.open_follow_ups.len(), 3);
    let md = retro.to_markdown();
    assert!(md.starts_with("# Retro: INC-1 (SEV1) in `prod`"), "{md}");
    assert!(md.contains("| rollback | yes | 10 min |"), "{md}");
    assert!(md.contains("Chosen: **rollback**."), "{md}");
    assert!(md.contains("- time to resolve: not yet"), "{md}");
    assert!(Retro::from_journal(w.ledger.journal(), &"INC-9".into()).is_err());
    let _ = t(0);
}
