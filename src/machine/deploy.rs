//! The deployment rules: requests, the upstream checks, rollouts step by
//! step, rollbacks and their targets, fast-track, and the clearance a
//! forward-only recovery needs.

use super::event::RecoveryPermit;
use crate::model::Slot;
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::rejection::{Rejection, TargetProblem, UpstreamGap};
use crate::model::{
    Actor, EnvironmentId, EnvironmentRole, GatedAction, Lane, Release, ReleaseId, Revision,
    ServiceId,
};

use super::command::Clearance;
use super::event::{EventKind, GateCause, Subject};
use super::lifecycle::{DeploymentStatus, LifecycleStep};
use super::state::{Deployment, RolloutHistory, State};
use super::{fit, gates};
use crate::machine::effect::IdempotencyKey;

/// The history of `service` in `env` (`None` if it has none yet), after
/// checking that a pipeline exists and names the environment.
fn deployable_history<'s>(
    state: &'s State,
    env: &EnvironmentId,
    service: &ServiceId,
) -> Result<Option<&'s RolloutHistory>, Rejection> {
    if state.pipeline.is_none() {
        return Err(Rejection::NoPipeline);
    }
    Ok(state.known_environment(env)?.history(service))
}

fn in_flight(env: &EnvironmentId, service: &ServiceId, busy: &Deployment) -> Rejection {
    Rejection::RolloutInFlight {
        slot: Slot::new(env.clone(), service.clone(), busy.revision),
        status: busy.status,
    }
}

/// Promotion: the artifact must be verified in every upstream environment
/// of at least one lane into `env`; returns that lane (main first), or
/// `None` for an environment with no upstream, which accepts any artifact.
/// A fast-track: the policy must allow it for `by`, with a reason; it
/// skips the test stages of the lane into `target` (nothing, when the
/// release was fast-tracked past them already or none lie on the way).
pub(super) fn fast_track(
    state: &State,
    (release, target, lane): (&ReleaseId, &EnvironmentId, Lane),
    by: &Actor,
    reason: &str,
) -> Result<Vec<EventKind>, Rejection> {
    let policy = &state.policy;
    if !policy.may_fast_track(by) {
        return Err(Rejection::FastTrackNotPermitted {
            actor: by.clone(),
            allowed: policy.fast_track_allowed,
            roles: policy.fast_track_roles.iter().cloned().collect(),
        });
    }
    gates::require_reason(reason, "a fast-track")?;
    let release = state
        .release(release)
        .ok_or_else(|| Rejection::UnknownRelease {
            release: release.clone(),
        })?;
    let pipeline = state.pipeline.as_ref().ok_or(Rejection::NoPipeline)?;
    if !pipeline.contains(target) {
        return Err(Rejection::UnknownEnvironment {
            environment: target.clone(),
        });
    }
    let done: BTreeSet<&EnvironmentId> = state.fast_tracked(&release.artifact).collect();
    let skipped: Vec<EnvironmentId> = pipeline
        .fast_track_skips(target, lane)
        .into_iter()
        .filter(|env| !done.contains(env))
        .collect();
    if skipped.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![EventKind::FastTrackAuthorized {
        release: release.id.clone(),
        digest: release.artifact.clone(),
        target: target.clone(),
        lane,
        skipped,
        by: by.clone(),
        reason: reason.to_owned(),
        role: policy.fast_track_role(by).cloned(),
    }])
}

pub(super) fn check_upstream(
    state: &State,
    env: &EnvironmentId,
    release: &Release,
) -> Result<Option<Lane>, Rejection> {
    let Some(pipeline) = state.pipeline.as_ref() else {
        return Err(Rejection::NoPipeline);
    };
    let lanes = pipeline.lanes_into(env);
    let mut gaps = Vec::with_capacity(lanes.len());
    let skipped: BTreeSet<&EnvironmentId> = state.fast_tracked(&release.artifact).collect();
    for lane in lanes {
        // A stage the artifact was fast-tracked past stands for its own
        // upstream stages.
        let mut required: Vec<&EnvironmentId> = Vec::new();
        let mut seen: BTreeSet<&EnvironmentId> = BTreeSet::new();
        let mut todo = pipeline.predecessors(env, lane);
        while let Some(up) = todo.pop() {
            if !seen.insert(up) {
                continue;
            }
            if skipped.contains(up) {
                todo.extend(pipeline.predecessors(up, lane));
            } else {
                required.push(up);
            }
        }
        required.sort();
        let missing: Vec<EnvironmentId> = required
            .into_iter()
            .filter(|up| {
                !state
                    .environments
                    .get(*up)
                    .is_some_and(|e| e.has_verified(&release.artifact))
            })
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(Some(lane));
        }
        gaps.push(UpstreamGap { lane, missing });
    }
    if gaps.is_empty() {
        return Ok(None);
    }
    Err(Rejection::NotVerifiedUpstream {
        environment: env.clone(),
        digest: release.artifact.clone(),
        gaps,
    })
}

/// Rule **bake-time**: a release enters `env` along `lane` only once it has
/// served verified in each stage before it there for that stage's bake
/// time (the policy's `bake_seconds`), counting every stretch it served
/// verified (from its verification to its end, or now). A step of an
/// incident's recovery plan is not held by it, nor is a stage the release
/// was fast-tracked past.
fn check_bake(
    state: &State,
    (env, release): (&EnvironmentId, &Release),
    lane: Option<Lane>,
    effect: Option<&IdempotencyKey>,
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    let bakes = &state.policy.bake_seconds;
    let (Some(lane), Some(pipeline)) = (lane, state.pipeline.as_ref()) else {
        return Ok(());
    };
    if bakes.is_empty() || effect.is_some_and(|k| is_plan_step(state, k)) {
        return Ok(());
    }
    let skipped: BTreeSet<&EnvironmentId> = state.fast_tracked(&release.artifact).collect();
    for up in pipeline.predecessors(env, lane) {
        let Some(&bake) = bakes.get(up).filter(|b| **b > 0) else {
            continue;
        };
        if skipped.contains(up) {
            continue;
        }
        let served = served_verified(state, up, release, now);
        let bake_for = i64::try_from(bake)
            .ok()
            .and_then(chrono::Duration::try_seconds)
            .unwrap_or(chrono::Duration::MAX);
        if served < bake_for {
            return Err(Rejection::StillBaking {
                release: release.id.clone(),
                environment: up.clone(),
                target: env.clone(),
                served: u64::try_from(served.num_seconds()).unwrap_or(0),
                bake,
                ready_at: bake_for
                    .checked_sub(&served)
                    .and_then(|left| now.checked_add_signed(left))
                    .unwrap_or(now),
            });
        }
    }
    Ok(())
}

/// Whether `effect`, the key a deployment is requested under, is a step
/// of an incident's recovery plan (the step's own key, or one stage of a
/// ship or a promote, `<step>@<environment>`).
fn is_plan_step(state: &super::State, effect: &IdempotencyKey) -> bool {
    let step = effect
        .as_str()
        .rsplit_once('@')
        .map_or(effect.as_str(), |(step, _)| step);
    state.step_keys.contains(effect) || state.step_keys.contains(&IdempotencyKey::new(step))
}

/// The longest stretch `release`'s artifact served verified in `env`:
/// from a deployment's verification to its end (or `now`, while it
/// serves).
fn served_verified(
    state: &State,
    env: &EnvironmentId,
    release: &Release,
    now: DateTime<Utc>,
) -> chrono::Duration {
    let Some(history) = state.history(env, &release.service) else {
        return chrono::Duration::zero();
    };
    history
        .deployments()
        .filter(|d| {
            state
                .release(&d.release)
                .is_some_and(|r| r.artifact == release.artifact)
        })
        .filter_map(|d| {
            let verified = d.verified_at?;
            let until = match d.status {
                DeploymentStatus::KnownGood => now,
                DeploymentStatus::Superseded => d.ended_at?,
                _ => return None,
            };
            Some(until.signed_duration_since(verified))
        })
        .max()
        .unwrap_or_else(chrono::Duration::zero)
}

/// The deployment in `slot` after checking that `step` applies to it.
pub(super) fn step<'s>(
    state: &'s State,
    slot: &Slot,
    step: LifecycleStep,
) -> Result<&'s Deployment, Rejection> {
    let d = state.deployment(slot)?;
    match d.status.after(step) {
        Some(_) => Ok(d),
        None => Err(Rejection::IllegalTransition {
            slot: slot.clone(),
            status: d.status,
            step,
        }),
    }
}

pub(super) fn complete_rollout(state: &State, slot: &Slot) -> Result<Vec<EventKind>, Rejection> {
    let d = step(state, slot, LifecycleStep::CompleteRollout)?;
    let mut kinds = vec![EventKind::RolloutCompleted { slot: slot.clone() }];
    let previous = state
        .history(&slot.environment, &slot.service)
        .and_then(RolloutHistory::current)
        .filter(|p| p.revision != slot.revision);
    if let Some(prev) = previous {
        let prev_slot = Slot::new(
            slot.environment.clone(),
            slot.service.clone(),
            prev.revision,
        );
        if d.rolled_back_from() == Some(prev.revision)
            && prev.status.after(LifecycleStep::RollBack).is_some()
        {
            kinds.push(EventKind::RevisionRolledBack {
                slot: prev_slot,
                by_revision: slot.revision,
            });
        } else if prev
            .status
            .after(LifecycleStep::Supersede)
            .is_some_and(|next| next != prev.status)
        {
            kinds.push(EventKind::RevisionSuperseded {
                slot: prev_slot,
                by_revision: slot.revision,
            });
        }
    }
    Ok(kinds)
}

pub(super) fn explicit_target<'h>(
    history: &'h RolloutHistory,
    current: &Deployment,
    target: Slot,
) -> Result<&'h Deployment, Rejection> {
    let Some(d) = history.get(target.revision) else {
        return Err(Rejection::UnknownRevision { slot: target });
    };
    let problem = if d.revision == current.revision {
        TargetProblem::IsCurrent
    } else if d.release == current.release {
        TargetProblem::SameRelease(d.release.clone())
    } else if d.completed_at.is_none() {
        TargetProblem::NeverServed(d.status)
    } else {
        return Ok(d);
    };
    Err(Rejection::UnusableRollbackTarget { target, problem })
}

/// Whether a rollback may return to `target` without an override: it was
/// verified known good and not found bad since.
pub(super) fn is_known_good_target(target: &Deployment) -> bool {
    target.was_verified()
        && !matches!(
            target.status,
            super::lifecycle::DeploymentStatus::Failed
                | super::lifecycle::DeploymentStatus::RolledBack
        )
}

/// Rule **rollback-target-known-good**: a named target must have been
/// verified known good and not found bad since (failed, rolled back),
/// unless the clearance says why it is wanted all the same (returned, to
/// be journaled with the rollback). An override a verified target does
/// not need is refused.
fn known_good_target(
    target: &Deployment,
    slot: Slot,
    clearance: &Clearance,
) -> Result<Option<String>, Rejection> {
    let why = if is_known_good_target(target) {
        None
    } else if !target.was_verified() {
        Some(format!(
            "it was never verified known good (it is {})",
            target.status
        ))
    } else {
        Some(format!(
            "it was verified once, then found bad: it is {}",
            target.status
        ))
    };
    match (why, &clearance.unverified_target) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(Rejection::NeedlessTargetOverride { target: slot }),
        (Some(why), None) => Err(Rejection::RollbackTargetNotKnownGood { target: slot, why }),
        (Some(_), Some(reason)) => {
            gates::require_reason(reason, "rolling back to an unverified target")?;
            Ok(Some(reason.clone()))
        }
    }
}

pub(super) fn request_deployment(
    state: &State,
    (environment, release): (&EnvironmentId, &ReleaseId),
    (by, effect): (&Actor, &Option<IdempotencyKey>),
    clearance: &Clearance,
    now: DateTime<Utc>,
) -> Result<Vec<EventKind>, Rejection> {
    let release = state
        .release(release)
        .ok_or_else(|| Rejection::UnknownRelease {
            release: release.clone(),
        })?;
    let history = deployable_history(state, environment, &release.service)?;
    if let Some(busy) = history.and_then(RolloutHistory::in_flight) {
        return Err(in_flight(environment, &release.service, busy));
    }
    let lane = check_upstream(state, environment, release)?;
    check_bake(state, (environment, release), lane, effect.as_ref(), now)?;
    gates::check_release_entry(state, environment, release)?;
    fit::check_release_fits(state, environment, release)?;
    let forward = RecoveryPermit::Forward {
        service: release.service.clone(),
    };
    let named = RecoveryPermit::Deploy {
        release: release.id.clone(),
    };
    if gates::check_gate(state, environment, forward).is_err() {
        gates::check_gate(state, environment, named)?;
    }
    if let Some(justification) = &clearance.break_glass {
        gates::require_reason(justification, "breaking glass")?;
    }
    let hotfix_env = state
        .pipeline
        .as_ref()
        .and_then(|p| p.environment(environment))
        .is_some_and(|e| e.role == EnvironmentRole::HotfixDevelopment);
    let along_hotfix = hotfix_env || lane == Some(Lane::Hotfix);
    if along_hotfix && state.policy.hotfix_lane.is_none() {
        return Err(Rejection::HotfixLaneDisabled {
            environment: environment.clone(),
            release: release.id.clone(),
        });
    }
    let action = if along_hotfix {
        GatedAction::Hotfix
    } else {
        GatedAction::Deliver
    };
    let revision = history.map_or(Revision(1), RolloutHistory::next_revision);
    let slot = Slot::new(environment.clone(), release.service.clone(), revision);
    let subject = Subject::Deployment { slot: slot.clone() };
    let audit = gates::check_freezes(state, action, environment, now, by, clearance, subject)?;
    let mut kinds = vec![EventKind::DeploymentRequested {
        slot: slot.clone(),
        release: release.id.clone(),
        by: by.clone(),
        effect: effect.clone(),
    }];
    if let Some(justification) = &clearance.break_glass {
        kinds.push(EventKind::BreakGlassUsed {
            slot,
            by: by.clone(),
            justification: justification.clone(),
        });
    }
    kinds.extend(audit);
    Ok(kinds)
}

pub(super) fn rollback(
    state: &State,
    (environment, service, to_revision): (&EnvironmentId, &ServiceId, Option<Revision>),
    (by, reason, clearance): (&Actor, &str, &Clearance),
    effect: Option<&IdempotencyKey>,
    now: DateTime<Utc>,
) -> Result<Vec<EventKind>, Rejection> {
    let nothing = || Rejection::NothingToRollBack {
        environment: environment.clone(),
        service: service.clone(),
    };
    let history = deployable_history(state, environment, service)?.ok_or_else(nothing)?;
    let current = history.current().ok_or_else(nothing)?;
    if let Some(busy) = history.in_flight() {
        return Err(in_flight(environment, service, busy));
    }
    gates::require_reason(reason, "a rollback")?;
    gates::policy_allows(state, crate::model::Strategy::Rollback)?;
    let break_glass = forward_only_clearance(state, (environment, service), by, clearance)?;
    let mut unverified = None;
    let target = match to_revision {
        Some(r) => {
            let slot = Slot::new(environment.clone(), service.clone(), r);
            let target = explicit_target(history, current, slot.clone())?;
            unverified = known_good_target(target, slot, clearance)?;
            let release =
                state
                    .release(&target.release)
                    .ok_or_else(|| Rejection::UnknownRelease {
                        release: target.release.clone(),
                    })?;
            gates::check_release_entry(state, environment, release)?;
            fit::check_release_fits(state, environment, release)?;
            target
        }
        None => {
            if clearance.unverified_target.is_some() {
                return Err(Rejection::BreakGlassNotApplicable {
                    command: "a rollback to the target the core chooses (always verified known good): an unverified-target override".to_owned(),
                });
            }
            // The same rule the planner uses: the newest revision before
            // this one that still qualifies (see `State::rollback_target`);
            // whether it fits now (a down-migration first, other services)
            // is then checked and reported as such.
            let chosen = state
                .rollback_target(environment, service, current.revision)
                .map_err(|skipped| Rejection::NoKnownGoodTarget {
                    environment: environment.clone(),
                    service: service.clone(),
                    current: current.revision,
                    why: state.no_rollback_target_reason(
                        environment,
                        service,
                        current.revision,
                        &skipped,
                    ),
                    skipped,
                })?;
            let target =
                history
                    .get(chosen.revision)
                    .ok_or_else(|| Rejection::UnknownRevision {
                        slot: Slot::new(environment.clone(), service.clone(), chosen.revision),
                    })?;
            if let Some(release) = state.releases.get(&target.release) {
                fit::check_release_fits(state, environment, release)?;
            }
            target
        }
    };
    gates::check_gate(
        state,
        environment,
        RecoveryPermit::Rollback {
            service: service.clone(),
        },
    )?;
    let slot = Slot::new(
        environment.clone(),
        service.clone(),
        history.next_revision(),
    );
    let subject = Subject::Deployment { slot: slot.clone() };
    let audit = gates::check_freezes(
        state,
        GatedAction::Rollback,
        environment,
        now,
        by,
        clearance,
        subject,
    )?;
    let close = gates::auto_close(
        state,
        environment,
        by,
        format!(
            "rollback of `{service}` from {}: {reason}",
            current.revision
        ),
        GateCause::Rollback { slot: slot.clone() },
    );
    let glass = break_glass.map(|justification| EventKind::BreakGlassUsed {
        slot: slot.clone(),
        by: by.clone(),
        justification,
    });
    Ok(std::iter::once(EventKind::RollbackRequested {
        slot,
        release: target.release.clone(),
        target: target.revision,
        rolled_back_from: current.revision,
        by: by.clone(),
        reason: reason.to_owned(),
        effect: effect.cloned(),
        unverified_target: unverified,
    })
    .chain(glass)
    .chain(audit)
    .chain(close)
    .collect())
}

/// Under a forward-only policy a rollback needs broken glass: a
/// justification from a member of a break-glass role (returned, to be
/// audited). Elsewhere a rollback takes no broken glass.
fn forward_only_clearance(
    state: &State,
    (environment, service): (&EnvironmentId, &ServiceId),
    by: &Actor,
    clearance: &Clearance,
) -> Result<Option<String>, Rejection> {
    if !state.policy.forward_only {
        if clearance.break_glass.is_some() {
            return Err(Rejection::BreakGlassNotApplicable {
                command: "rollback".to_owned(),
            });
        }
        return Ok(None);
    }
    let refused = || Rejection::ForwardOnly {
        environment: environment.clone(),
        service: service.clone(),
        actor: by.clone(),
        roles: state.policy.break_glass_roles.iter().cloned().collect(),
    };
    let Some(justification) = &clearance.break_glass else {
        return Err(refused());
    };
    if !state.policy.may_break_glass(by) {
        return Err(refused());
    }
    gates::require_reason(justification, "breaking glass")?;
    Ok(Some(justification.clone()))
}
