//! The incident response rules: declaring an incident, choosing a
//! strategy, mitigating, resolving, the retro and the follow-ups (how
//! their events change the state is `incident_apply`).

use super::event::RecoveryPermit;
use crate::model::Slot;
use chrono::{DateTime, Utc};

use super::rejection::Rejection;
use crate::machine::effect::{EffectAction, FollowUpKind};
use crate::model::{
    Actor, EnvironmentId, IncidentId, IncidentPhase, ServiceId, Severity, SuspectedCause,
};

use super::command::Command;
use super::event::{EventKind, GateCause};
use super::gates;
use super::incident::IncidentRecord;
use super::lifecycle::DeploymentStatus;
use super::state::State;

pub(super) fn known<'s>(
    state: &'s State,
    id: &IncidentId,
) -> Result<&'s IncidentRecord, Rejection> {
    state
        .incidents
        .get(id)
        .ok_or_else(|| Rejection::UnknownIncident {
            incident: id.clone(),
        })
}

fn expect_phase(
    incident: &IncidentRecord,
    allowed: &[IncidentPhase],
    step: &str,
) -> Result<(), Rejection> {
    if allowed.contains(&incident.phase) {
        Ok(())
    } else {
        Err(Rejection::IllegalIncidentStep {
            incident: incident.id.clone(),
            phase: incident.phase,
            step: step.to_owned(),
        })
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn declare(
    state: &State,
    incident: &IncidentId,
    (environment, service): (&EnvironmentId, &ServiceId),
    severity: Severity,
    cause: &SuspectedCause,
    summary: &str,
    by: &Actor,
    (impact_began, now): (Option<DateTime<Utc>>, DateTime<Utc>),
) -> Result<Vec<EventKind>, Rejection> {
    if let Some(began) = impact_began
        && began > now
    {
        return Err(Rejection::ImpactAfterDeclaration {
            incident: incident.clone(),
            began,
            declared: now,
        });
    }
    if state.incidents.contains_key(incident) {
        return Err(Rejection::DuplicateIncident {
            incident: incident.clone(),
        });
    }
    state.known_environment(environment)?;
    if !state.services.contains_key(service) {
        return Err(Rejection::UnknownService {
            service: service.clone(),
        });
    }
    gates::require_reason(summary, "declaring an incident")?;
    match cause {
        SuspectedCause::Change { change } => {
            state.known_change(change)?;
        }
        SuspectedCause::Deployment { slot } => {
            state.deployment(slot)?;
        }
        SuspectedCause::External { description } => {
            gates::require_reason(description, "an external cause")?;
        }
    }
    let mut kinds = vec![EventKind::IncidentDeclared {
        incident: incident.clone(),
        environment: environment.clone(),
        service: service.clone(),
        severity,
        cause: cause.clone(),
        summary: summary.to_owned(),
        by: by.clone(),
        impact_began,
    }];
    if let SuspectedCause::Change { change } = cause
        && !state.is_poisoned(change)
    {
        kinds.push(EventKind::ChangePoisoned {
            change: change.clone(),
            by: by.clone(),
            reason: format!("suspected cause of incident {incident}"),
        });
    }
    kinds.extend(gates::auto_close(
        state,
        environment,
        by,
        format!("incident {incident}: {summary}"),
        GateCause::Incident {
            incident: incident.clone(),
        },
    ));
    Ok(kinds)
}

/// The events of choosing a strategy, before its steps are rehearsed (see
/// [`rehearse`](super::rehearse)): the incident must be open, the policy
/// must allow the strategy, and each step needs a key of its own.
pub(super) fn choose(state: &State, command: &Command) -> Result<Vec<EventKind>, Rejection> {
    let Command::ChooseStrategy {
        incident: id,
        strategy,
        steps,
        follow_ups,
        considered,
        explanation,
        by,
        clearance,
    } = command
    else {
        return Ok(vec![]);
    };
    let strategy = *strategy;
    let incident = known(state, id)?;
    expect_phase(
        incident,
        &[
            IncidentPhase::Detected,
            IncidentPhase::Mitigating,
            IncidentPhase::Mitigated,
        ],
        "choose a strategy",
    )?;
    if let Some(why) = state.policy.forbids(strategy) {
        return Err(Rejection::StrategyForbidden { strategy, why });
    }
    // Rule **resolve-after-mitigation**: once mitigated, only a plan that
    // fixes main and ships it.
    if incident.phase == IncidentPhase::Mitigated && !resolves(strategy) {
        return Err(Rejection::AlreadyMitigated {
            incident: id.clone(),
            strategy,
        });
    }
    let mut keys = std::collections::BTreeSet::new();
    if let Some(twice) = steps.iter().find(|s| !keys.insert(&s.key)) {
        return Err(Rejection::DuplicateStepKey {
            incident: id.clone(),
            key: twice.key.clone(),
        });
    }
    // Ports remember keys forever: a key used by an earlier plan would make
    // the driver find that plan's outcome and skip the action.
    if let Some(used) = steps.iter().find(|s| state.step_keys.contains(&s.key)) {
        return Err(Rejection::StepKeyReused {
            incident: id.clone(),
            key: used.key.clone(),
        });
    }
    let mut kinds = vec![EventKind::StrategyChosen {
        incident: id.clone(),
        strategy,
        considered: considered.clone(),
        explanation: explanation.clone(),
        follow_ups: follow_ups.clone(),
        steps: steps.clone(),
        by: by.clone(),
        clearance: clearance.clone(),
    }];
    // A rollout the earlier attempt requested and never started (it waited
    // for approvals, say) is withdrawn: it must not block the new plan.
    kinds.extend(withdrawn_requests(state, incident, by));
    let mut permits: Vec<RecoveryPermit> = Vec::new();
    for step in steps {
        let permit = match &step.action {
            EffectAction::Rollback { service, .. } => RecoveryPermit::Rollback {
                service: service.clone(),
            },
            EffectAction::Ship { service, .. } => RecoveryPermit::Forward {
                service: service.clone(),
            },
            _ => continue,
        };
        if !permits.contains(&permit) {
            permits.push(permit);
        }
    }
    // Fixing main after a rollback ships through the same gate (still
    // subject to the poison, upstream and trust rules).
    let deploys = !permits.is_empty();
    for follow_up in follow_ups.iter().filter(|_| deploys) {
        if let FollowUpKind::FixMain { service } = follow_up {
            let permit = RecoveryPermit::Forward {
                service: service.clone(),
            };
            if !permits.contains(&permit) {
                permits.push(permit);
            }
        }
    }
    let gate_closed = state
        .environments
        .get(&incident.environment)
        .is_some_and(|e| e.gate.is_some());
    if gate_closed && !permits.is_empty() {
        kinds.push(EventKind::RecoveryAuthorized {
            environment: incident.environment.clone(),
            plan: crate::model::PlanId::new(format!("{id}/{strategy}")),
            permits,
            by: by.clone(),
        });
    }
    kinds.extend(through_own_rollbacks(state, incident, strategy, steps, by));
    Ok(kinds)
}

/// Production elsewhere this incident rolled back: the gate its own
/// rollback closed there lets the plan's steps for that environment
/// through (promoting the fix, rolling back again), and nothing else. A
/// gate closed there for any other reason holds the plan there.
fn through_own_rollbacks(
    state: &State,
    incident: &IncidentRecord,
    strategy: crate::model::Strategy,
    steps: &[super::effect::Effect],
    by: &Actor,
) -> Vec<EventKind> {
    let mut kinds = Vec::new();
    for env in &incident.covered {
        let closed_by_rollback = state.environments.get(env).is_some_and(|e| {
            matches!(
                e.gate.as_ref().map(|g| &g.cause),
                Some(GateCause::Rollback { slot }) if slot.environment == *env && slot.service == incident.service
            )
        });
        if !closed_by_rollback {
            continue;
        }
        let mut permits: Vec<RecoveryPermit> = Vec::new();
        for step in steps.iter().filter(|s| s.action.environment() == Some(env)) {
            let permit = match &step.action {
                EffectAction::Rollback { service, .. } => RecoveryPermit::Rollback {
                    service: service.clone(),
                },
                EffectAction::Promote { service, .. } => RecoveryPermit::Forward {
                    service: service.clone(),
                },
                _ => continue,
            };
            if !permits.contains(&permit) {
                permits.push(permit);
            }
        }
        if !permits.is_empty() {
            kinds.push(EventKind::RecoveryAuthorized {
                environment: env.clone(),
                plan: crate::model::PlanId::new(format!("{}/{strategy}", incident.id)),
                permits,
                by: by.clone(),
            });
        }
    }
    kinds
}

/// Whether `strategy` fixes main and ships the fix, so that it resolves an
/// incident already mitigated (after a rollback or a flag turned off).
pub(crate) fn resolves(strategy: crate::model::Strategy) -> bool {
    use crate::model::Strategy as S;
    matches!(strategy, S::Revert | S::FixForward | S::Hotfix)
}

/// Why a known-good state is not restored yet, if it is not.
pub(crate) fn not_restored(state: &State, incident: &IncidentRecord) -> Option<String> {
    let (env, service) = (&incident.environment, &incident.service);
    // A runbook that only relieves the symptoms restores nothing, however
    // healthy the service measures meanwhile.
    if let Some(relief) = incident
        .steps
        .iter()
        .find_map(|s| match &s.action {
            EffectAction::RunRunbook { runbook, .. } => state.runbook(runbook),
            _ => None,
        })
        .filter(|r| !r.restores)
    {
        return Some(format!(
            "the plan ran runbook `{}`, which only relieves the symptoms: choose a plan that restores a known-good state",
            relief.id
        ));
    }
    let Some(history) = state.history(env, service) else {
        return Some(format!("nothing of `{service}` runs in `{env}`"));
    };
    if let Some(busy) = history.in_flight() {
        return Some(format!("{} is still {}", busy.revision, busy.status));
    }
    let Some(current) = history.current() else {
        return Some(format!("no rollout of `{service}` completed in `{env}`"));
    };
    if let SuspectedCause::Deployment { slot } = &incident.cause
        && slot.environment == *env
        && slot.service == *service
        && current.revision == slot.revision
    {
        return Some(format!("the suspected {} still serves", slot.revision));
    }
    let release = state.releases.get(&current.release)?;
    let mut flagged_off = false;
    if let SuspectedCause::Change { change } = &incident.cause {
        match state.unneutralised_poison(release, env) {
            Ok(poison) if poison.contains(change) => {
                return Some(format!("`{}` still carries `{change}`", release.id));
            }
            Ok(_) => {}
            Err(rejection) => return Some(rejection.to_string()),
        }
        flagged_off = state
            .changes
            .get(change)
            .is_some_and(|c| state.flags_neutralise(c, env));
    }
    if current.status != DeploymentStatus::KnownGood && !flagged_off {
        return Some(format!(
            "{} of `{service}` is {}, not verified known good",
            current.revision, current.status
        ));
    }
    // Evidence before victory: a healthy measurement taken since the
    // plan began, either a verification of what serves now or the plan's
    // own Verify step (the one that measures a revision known good
    // before, such as the one a flag went off on).
    let verified_since = incident
        .mitigating_at
        .is_some_and(|began| current.verified_at.is_some_and(|at| at >= began));
    let verify = incident
        .steps
        .iter()
        .rev()
        .find(|s| matches!(s.action, EffectAction::Verify { .. }));
    let step_measured = verify.is_some_and(|v| {
        incident.effects.get(&v.key) == Some(&crate::machine::effect::EffectStatus::Succeeded)
    });
    if !verified_since && !step_measured {
        return Some(match verify {
            Some(v) => format!(
                "nothing has measured `{service}` healthy in `{env}` since the plan began: drive step `{}` (it measures), or record its measurement",
                v.key
            ),
            None => format!(
                "nothing has measured `{service}` healthy in `{env}` since the plan began: verify what serves there"
            ),
        });
    }
    None
}

/// `PlanResolution` (rule `resolution-up-front`).
pub(super) fn plan_resolution(
    state: &State,
    id: &IncidentId,
    strategy: crate::model::Strategy,
    by: &Actor,
) -> Result<Vec<EventKind>, Rejection> {
    let incident = known(state, id)?;
    expect_phase(
        incident,
        &[IncidentPhase::Detected, IncidentPhase::Mitigating],
        "choose its resolution up front (once mitigated, choose it now)",
    )?;
    if !resolves(strategy) {
        return Err(Rejection::NotAResolution {
            incident: id.clone(),
            strategy,
        });
    }
    if let Some(why) = state.policy.forbids(strategy) {
        return Err(Rejection::StrategyForbidden { strategy, why });
    }
    if incident.resolve_with == Some(strategy) {
        return Ok(vec![]);
    }
    Ok(vec![EventKind::ResolutionPlanned {
        incident: id.clone(),
        strategy,
        by: by.clone(),
    }])
}

pub(super) fn mitigate(
    state: &State,
    id: &IncidentId,
    by: &Actor,
) -> Result<Vec<EventKind>, Rejection> {
    let incident = known(state, id)?;
    expect_phase(
        incident,
        &[IncidentPhase::Mitigating],
        "be marked mitigated",
    )?;
    if let Some(why) = not_restored(state, incident) {
        return Err(Rejection::NotYetMitigated {
            incident: id.clone(),
            why,
        });
    }
    let mut kinds = vec![EventKind::IncidentMitigated {
        incident: id.clone(),
        by: by.clone(),
    }];
    kinds.extend(reopen_if_clear(state, &incident.environment, id, by));
    Ok(kinds)
}

/// Reopens the gate of `env` when it is closed and nothing holds it.
fn reopen_if_clear(
    state: &State,
    env: &EnvironmentId,
    id: &IncidentId,
    by: &Actor,
) -> Option<EventKind> {
    let closed = state.environments.get(env)?.gate.is_some();
    (closed && gates::gate_hold(state, env).is_none()).then(|| EventKind::GateReopened {
        environment: env.clone(),
        by: by.clone(),
        reason: format!("incident {id}: known good, no drift, no poisoned change running"),
    })
}

pub(super) fn resolve(
    state: &State,
    id: &IncidentId,
    by: &Actor,
) -> Result<Vec<EventKind>, Rejection> {
    let incident = known(state, id)?;
    expect_phase(incident, &[IncidentPhase::Mitigated], "be resolved")?;
    if let Some(hold) = gates::gate_hold(state, &incident.environment) {
        return Err(Rejection::NotYetResolved {
            incident: id.clone(),
            why: hold.to_string(),
        });
    }
    let mut kinds = vec![EventKind::IncidentResolved {
        incident: id.clone(),
        by: by.clone(),
    }];
    kinds.extend(reopen_if_clear(state, &incident.environment, id, by));
    // Production elsewhere the incident's plans acted in, clear now.
    for env in &incident.covered {
        kinds.extend(reopen_if_clear(state, env, id, by));
    }
    Ok(kinds)
}

pub(super) fn retro(
    state: &State,
    id: &IncidentId,
    summary: &str,
    by: &Actor,
) -> Result<Vec<EventKind>, Rejection> {
    let incident = known(state, id)?;
    expect_phase(incident, &[IncidentPhase::Resolved], "record its retro")?;
    gates::require_reason(summary, "a retro")?;
    Ok(vec![EventKind::RetroRecorded {
        incident: id.clone(),
        summary: summary.to_owned(),
        by: by.clone(),
    }])
}

/// The rollouts the incident's current plan requested and never started,
/// withdrawn (aborted) for `by` because another plan is being chosen.
fn withdrawn_requests(state: &State, incident: &IncidentRecord, by: &Actor) -> Vec<EventKind> {
    let mut kinds = Vec::new();
    if incident.steps.is_empty() {
        return kinds;
    }
    for (environment, env) in state.environments.iter() {
        for (service, history) in env.services() {
            let Some(latest) = history.latest() else {
                continue;
            };
            let opened_by_plan = latest.effect.as_ref().is_some_and(|effect| {
                incident
                    .steps
                    .iter()
                    .any(|s| super::steps::opened_for(&s.key, effect))
            });
            if latest.status == DeploymentStatus::Requested && opened_by_plan {
                kinds.push(EventKind::RolloutAborted {
                    slot: Slot::new(environment.clone(), service.clone(), latest.revision),
                    stable: history.current().map(|d| d.revision),
                    by: by.clone(),
                    reason: format!(
                        "withdrawn: incident {} chose a new plan (attempt {})",
                        incident.id,
                        incident.attempts.saturating_add(1)
                    ),
                });
            }
        }
    }
    kinds
}

pub(super) fn record_effect(
    state: &State,
    id: &IncidentId,
    key: &crate::machine::effect::IdempotencyKey,
    outcome: &crate::machine::effect::EffectOutcome,
    by: Option<&Actor>,
) -> Result<Vec<EventKind>, Rejection> {
    use crate::machine::effect::EffectStatus;
    let incident = known(state, id)?;
    let Some(status) = incident.effects.get(key) else {
        return Err(Rejection::UnknownEffect {
            incident: id.clone(),
            key: key.clone(),
        });
    };
    // Done is done: a repeated or late outcome changes nothing.
    if *status == EffectStatus::Succeeded {
        return Ok(vec![]);
    }
    Ok(vec![EventKind::EffectRecorded {
        incident: id.clone(),
        key: key.clone(),
        outcome: outcome.clone(),
        by: by.cloned(),
    }])
}
