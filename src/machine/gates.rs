//! Gates: the rules that decide whether a deployment, rollback or flag
//! change may happen *now*, and by whom — delivery gates (stop the line),
//! freezes, approvals, trusted builders and poisoned changes — plus the
//! commands that manage them.

use super::event::RecoveryPermit;
use crate::model::Slot;
use chrono::{DateTime, Utc};

use super::rejection::{GateHold, Rejection};
use crate::model::{
    Actor, ChangeId, EnvironmentId, FlagKey, FlagState, Freeze, FreezeEffect, FreezeId,
    GatedAction, PlanId, Policy, Release,
};

use super::DeploymentStatus;
use super::command::{Clearance, Verdict};
use super::effect::IdempotencyKey;
use super::event::{EventKind, GateCause, Subject};
use super::state::{Deployment, DeploymentOrigin, State};

/// Refuses an empty reason.
pub(crate) fn require_reason(text: &str, what: &str) -> Result<(), Rejection> {
    if text.trim().is_empty() {
        return Err(Rejection::ReasonRequired {
            what: what.to_owned(),
        });
    }
    Ok(())
}

pub(crate) fn is_production(state: &State, env: &EnvironmentId) -> bool {
    state
        .pipeline
        .as_ref()
        .and_then(|p| p.environment(env))
        .is_some_and(crate::model::Environment::is_production)
}

/// A closed gate lets through only the steps of its active plan.
pub(crate) fn check_gate(
    state: &State,
    env: &EnvironmentId,
    step: RecoveryPermit,
) -> Result<(), Rejection> {
    match state.environments.get(env).and_then(|e| e.gate.as_ref()) {
        Some(gate) if !gate.permits(&step) => Err(Rejection::GateClosed {
            environment: env.clone(),
            reason: gate.reason.clone(),
            closed_by: gate.by.clone(),
            plan: gate.plan.as_ref().map(|p| p.plan.clone()),
            step,
        }),
        _ => Ok(()),
    }
}

/// Stop the line: the event closing a production gate that is still open.
pub(crate) fn auto_close(
    state: &State,
    env: &EnvironmentId,
    by: &Actor,
    reason: String,
    cause: GateCause,
) -> Option<EventKind> {
    let open = state
        .environments
        .get(env)
        .is_some_and(|e| e.gate.is_none());
    (open && is_production(state, env)).then(|| EventKind::GateClosed {
        environment: env.clone(),
        by: by.clone(),
        reason,
        cause,
    })
}

/// Freezes: any active deny rule covering the action closes it; if allow
/// windows exist for it, it is closed outside all of them. Deny beats
/// allow. A holder of a freeze-override role may pass with a reason, which
/// yields the audit event returned.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_freezes(
    state: &State,
    action: GatedAction,
    env: &EnvironmentId,
    now: DateTime<Utc>,
    by: &Actor,
    clearance: &Clearance,
    subject: Subject,
) -> Result<Option<EventKind>, Rejection> {
    let covering = || state.freezes.values().filter(|f| f.covers(action, env));
    let denying: Vec<FreezeId> = covering()
        .filter(|f| f.effect == FreezeEffect::Deny && f.is_active_at(now))
        .map(|f| f.id.clone())
        .collect();
    let mut allows = covering()
        .filter(|f| f.effect == FreezeEffect::Allow)
        .peekable();
    let outside_allow_windows = allows.peek().is_some() && !allows.any(|f| f.is_active_at(now));
    if denying.is_empty() && !outside_allow_windows {
        return Ok(None);
    }
    let Some(reason) = &clearance.freeze_override else {
        return Err(Rejection::Frozen {
            action,
            environment: env.clone(),
            freezes: denying,
            outside_allow_windows,
        });
    };
    require_reason(reason, "a freeze override")?;
    check_override_role(&state.policy, by)?;
    Ok(Some(EventKind::FreezeOverridden {
        subject,
        action,
        freezes: denying,
        by: by.clone(),
        reason: reason.clone(),
    }))
}

fn check_override_role(policy: &Policy, by: &Actor) -> Result<(), Rejection> {
    if policy.may_override_freeze(by) {
        Ok(())
    } else {
        Err(Rejection::OverrideNotPermitted {
            actor: by.clone(),
            roles: policy.freeze_override_roles.iter().cloned().collect(),
        })
    }
}

/// What a release must be to enter `env`: it may not bring back a change
/// main has reverted (every environment), and production accepts only
/// artifacts from trusted builders and releases free of poisoned changes.
pub(crate) fn check_release_entry(
    state: &State,
    env: &EnvironmentId,
    release: &Release,
) -> Result<(), Rejection> {
    if let Some((change, revert)) = state
        .reverted_on_main(release, env)
        .filter(|_| !mirrors_production(state, env, release))
    {
        return Err(Rejection::RevertedOnMain {
            environment: env.clone(),
            release: release.id.clone(),
            change,
            revert,
        });
    }
    if !is_production(state, env) {
        return Ok(());
    }
    let artifact = state.artifact_of(release)?;
    if !state.policy.trusts(artifact.builder.as_ref()) {
        return Err(Rejection::UntrustedArtifact {
            digest: artifact.digest.clone(),
            builder: artifact.builder.clone(),
            trusted: state.policy.trusted_builders.iter().cloned().collect(),
        });
    }
    if let Some(change) = state.unneutralised_poison(release, env)?.into_iter().next() {
        return Err(Rejection::PoisonedRelease {
            environment: env.clone(),
            release: release.id.clone(),
            change,
        });
    }
    Ok(())
}

/// Whether deploying `release` into `env` makes a hotfix-lane environment
/// mirror production: a production environment the hotfix lane through
/// `env` leads to runs exactly `release` now.
fn mirrors_production(state: &State, env: &EnvironmentId, release: &Release) -> bool {
    let Some(pipeline) = state.pipeline.as_ref() else {
        return false;
    };
    pipeline.production().any(|prod| {
        prod.id != *env
            && pipeline
                .lane_path(&prod.id, crate::model::Lane::Hotfix)
                .contains(env)
            && state
                .current_release(&prod.id, &release.service)
                .is_some_and(|r| r.id == release.id)
    })
}

/// A deployment (not a rollback) into an environment whose policy asks for
/// approvals starts only once enough distinct role holders other than the
/// requester approved it, or glass was broken.
pub(crate) fn check_approvals(state: &State, slot: &Slot, d: &Deployment) -> Result<(), Rejection> {
    if !matches!(d.origin(), DeploymentOrigin::Deploy) || d.break_glass().is_some() {
        return Ok(());
    }
    let Some(rule) = state.policy.approvals.get(&slot.environment) else {
        return Ok(());
    };
    let valid = d
        .approvals()
        .iter()
        .filter(|a| **a != d.requested_by && state.policy.holds(a, &rule.role))
        .count();
    let have = u32::try_from(valid).unwrap_or(u32::MAX);
    if have < rule.approvers {
        return Err(Rejection::ApprovalsMissing {
            slot: slot.clone(),
            have,
            need: rule.approvers,
            role: rule.role.clone(),
        });
    }
    Ok(())
}

pub(crate) fn approve(state: &State, slot: &Slot, by: &Actor) -> Result<Vec<EventKind>, Rejection> {
    let d = state.deployment(slot)?;
    if d.status != DeploymentStatus::Requested {
        return Err(Rejection::NotAwaitingApproval {
            slot: slot.clone(),
            status: d.status,
        });
    }
    if *by == d.requested_by {
        return Err(Rejection::SelfApproval {
            slot: slot.clone(),
            actor: by.clone(),
        });
    }
    if let Some(rule) = state.policy.approvals.get(&slot.environment)
        && !state.policy.holds(by, &rule.role)
    {
        return Err(Rejection::NotInRole {
            actor: by.clone(),
            role: rule.role.clone(),
            environment: slot.environment.clone(),
        });
    }
    if d.approvals().contains(by) {
        return Ok(vec![]);
    }
    Ok(vec![EventKind::DeploymentApproved {
        slot: slot.clone(),
        by: by.clone(),
    }])
}

pub(crate) fn adopt_policy(
    state: &State,
    policy: &Policy,
    by: &Actor,
) -> Result<Vec<EventKind>, Rejection> {
    if state.policy == *policy {
        return Ok(vec![]);
    }
    if let Some((field, value)) = policy.absurd_duration() {
        return Err(Rejection::AbsurdPolicyValue {
            field,
            value,
            max: crate::model::MAX_POLICY_SECONDS,
        });
    }
    for (env, rule) in &policy.approvals {
        let members = policy
            .roles
            .get(&rule.role)
            .map_or(0, std::collections::BTreeSet::len);
        if members < rule.approvers as usize {
            return Err(Rejection::UnsatisfiableApprovals {
                environment: env.clone(),
                role: rule.role.clone(),
                need: rule.approvers,
                members,
            });
        }
    }
    Ok(vec![EventKind::PolicyAdopted {
        policy: policy.clone(),
        by: by.clone(),
    }])
}

pub(crate) fn poison_change(
    state: &State,
    change: &ChangeId,
    by: &Actor,
    reason: &str,
) -> Result<Vec<EventKind>, Rejection> {
    state.known_change(change)?;
    require_reason(reason, "poisoning a change")?;
    if state.poisoned.contains_key(change) {
        return Ok(vec![]);
    }
    Ok(vec![EventKind::ChangePoisoned {
        change: change.clone(),
        by: by.clone(),
        reason: reason.to_owned(),
    }])
}

pub(crate) fn declare_fix(
    state: &State,
    change: &ChangeId,
    fix: &ChangeId,
    by: &Actor,
) -> Result<Vec<EventKind>, Rejection> {
    state.known_change(change)?;
    state.known_change(fix)?;
    if change == fix {
        return Err(Rejection::SelfFix {
            change: change.clone(),
        });
    }
    if state.remedies(change).any(|(r, _)| r == fix) {
        return Ok(vec![]);
    }
    Ok(vec![EventKind::FixDeclared {
        change: change.clone(),
        fix: fix.clone(),
        by: by.clone(),
    }])
}

pub(crate) fn set_flag(
    state: &State,
    (env, flag, flag_state): (&EnvironmentId, &FlagKey, &FlagState),
    by: &Actor,
    clearance: &Clearance,
    now: DateTime<Utc>,
) -> Result<Vec<EventKind>, Rejection> {
    let env_state = state.known_environment(env)?;
    if clearance.break_glass.is_some() {
        return Err(Rejection::BreakGlassNotApplicable {
            command: "set_flag".to_owned(),
        });
    }
    let problem = match flag_state {
        FlagState::Percentage { percent } if *percent > 100 => {
            Some(format!("{percent}% is more than 100%"))
        }
        FlagState::Segments { segments } if segments.is_empty() => {
            Some("a segment list must name at least one segment (use `off`)".to_owned())
        }
        _ => None,
    };
    if let Some(problem) = problem {
        return Err(Rejection::InvalidFlagState {
            flag: flag.clone(),
            problem,
        });
    }
    if env_state.flag(flag) == flag_state {
        return Ok(vec![]);
    }
    let subject = Subject::Flag {
        environment: env.clone(),
        flag: flag.clone(),
    };
    let audit = check_freezes(
        state,
        GatedAction::FlagChange,
        env,
        now,
        by,
        clearance,
        subject,
    )?;
    Ok(std::iter::once(EventKind::FlagSet {
        environment: env.clone(),
        flag: flag.clone(),
        state: flag_state.clone(),
        by: by.clone(),
    })
    .chain(audit)
    .collect())
}

pub(crate) fn close_gate(
    state: &State,
    env: &EnvironmentId,
    by: &Actor,
    reason: &str,
) -> Result<Vec<EventKind>, Rejection> {
    let env_state = state.known_environment(env)?;
    require_reason(reason, "closing a delivery gate")?;
    if env_state.gate.is_some() {
        return Ok(vec![]);
    }
    Ok(vec![EventKind::GateClosed {
        environment: env.clone(),
        by: by.clone(),
        reason: reason.to_owned(),
        cause: GateCause::Manual,
    }])
}

pub(crate) fn authorize_recovery(
    state: &State,
    env: &EnvironmentId,
    plan: &PlanId,
    permits: &[RecoveryPermit],
    by: &Actor,
) -> Result<Vec<EventKind>, Rejection> {
    let env_state = state.known_environment(env)?;
    let Some(gate) = &env_state.gate else {
        return Err(Rejection::GateOpen {
            environment: env.clone(),
        });
    };
    if permits.is_empty() {
        return Err(Rejection::EmptyRecoveryPlan { plan: plan.clone() });
    }
    if gate
        .plan
        .as_ref()
        .is_some_and(|p| p.plan == *plan && p.permits == permits)
    {
        return Ok(vec![]);
    }
    Ok(vec![EventKind::RecoveryAuthorized {
        environment: env.clone(),
        plan: plan.clone(),
        permits: permits.to_vec(),
        by: by.clone(),
    }])
}

/// `RecordFlagVerdict`: the verdict is on the flag's state there now; a
/// healthy one needs its evidence (rule `verdict-needs-evidence`); a key
/// a measurement of the flag already has changes nothing.
pub(crate) fn record_flag_verdict(
    state: &State,
    (env, flag): (&EnvironmentId, &FlagKey),
    (verdict, evidence): (&Verdict, Option<&String>),
    by: &Actor,
    key: &IdempotencyKey,
) -> Result<Vec<EventKind>, Rejection> {
    let env_state = state.known_environment(env)?;
    if env_state
        .flag_record(flag)
        .is_some_and(|r| r.verdict(key).is_some())
    {
        return Ok(vec![]);
    }
    if *verdict == Verdict::Healthy && evidence.is_none_or(|e| e.trim().is_empty()) {
        return Err(Rejection::UnmeasuredVerdict {
            what: format!("flag `{flag}` in `{env}`"),
        });
    }
    Ok(vec![EventKind::FlagVerified {
        environment: env.clone(),
        flag: flag.clone(),
        state: env_state.flag(flag).clone(),
        healthy: *verdict == Verdict::Healthy,
        detail: match verdict {
            Verdict::Healthy => evidence.cloned().unwrap_or_default(),
            Verdict::Unhealthy { reason } => reason.clone(),
        },
        by: by.clone(),
        key: key.clone(),
    }])
}

pub(crate) fn reopen_gate(
    state: &State,
    env: &EnvironmentId,
    by: &Actor,
    reason: &str,
) -> Result<Vec<EventKind>, Rejection> {
    let env_state = state.known_environment(env)?;
    require_reason(reason, "reopening a delivery gate")?;
    if env_state.gate.is_none() {
        return Ok(vec![]);
    }
    if let Some(hold) = gate_hold(state, env) {
        return Err(Rejection::GateMustStayClosed {
            environment: env.clone(),
            hold,
        });
    }
    Ok(vec![EventKind::GateReopened {
        environment: env.clone(),
        by: by.clone(),
        reason: reason.to_owned(),
    }])
}

/// The first reason the gate of `env` must stay closed: a service there
/// runs a rollback (drift), something not verified known good, a poisoned
/// change, or commits main does not hold (a hotfix not merged back).
pub(crate) fn gate_hold(state: &State, env: &EnvironmentId) -> Option<GateHold> {
    let env_state = state.environments.get(env)?;
    for (service, history) in env_state.services() {
        let Some(current) = history.current() else {
            continue;
        };
        if current.status != DeploymentStatus::KnownGood {
            return Some(GateHold::NotKnownGood {
                service: service.clone(),
                revision: current.revision,
                status: current.status,
            });
        }
        if current.rolled_back_from().is_some() {
            return Some(GateHold::Drift {
                service: service.clone(),
                revision: current.revision,
            });
        }
        let Some(release) = state.releases.get(&current.release) else {
            continue;
        };
        match state.unneutralised_poison(release, env) {
            Ok(poison) => {
                if let Some(change) = poison.into_iter().next() {
                    return Some(GateHold::PoisonRunning {
                        service: service.clone(),
                        release: release.id.clone(),
                        change,
                    });
                }
            }
            Err(Rejection::UnknownSourceCommit { release, commit }) => {
                return Some(GateHold::UnknownContents {
                    service: service.clone(),
                    release,
                    commit,
                });
            }
            Err(_) => {}
        }
        if let Some(drift) = state.drift(env, service)
            && let Some(first) = drift.ahead_commits.first()
        {
            return Some(GateHold::Unmerged {
                service: service.clone(),
                release: release.id.clone(),
                commits: drift.ahead_commits.len(),
                first: first.clone(),
            });
        }
    }
    None
}

pub(crate) fn declare_freeze(state: &State, freeze: &Freeze) -> Result<Vec<EventKind>, Rejection> {
    if let Some(known) = state.freezes.get(&freeze.id) {
        return if known == freeze {
            Ok(vec![])
        } else {
            Err(Rejection::ConflictingFreeze {
                freeze: freeze.id.clone(),
            })
        };
    }
    let invalid = |problem: &str| Rejection::InvalidFreeze {
        freeze: freeze.id.clone(),
        problem: problem.to_owned(),
    };
    if freeze.actions.is_empty() {
        return Err(invalid(
            "it covers no action: name deliver, rollback, hotfix or flag-change",
        ));
    }
    if freeze.ends.is_some_and(|end| end <= freeze.starts) {
        return Err(invalid("its window ends before it starts"));
    }
    if let Some(unknown) = freeze
        .environments
        .iter()
        .find(|e| !state.environments.contains_key(*e))
    {
        return Err(Rejection::UnknownEnvironment {
            environment: unknown.clone(),
        });
    }
    require_reason(&freeze.reason, "declaring a freeze")?;
    Ok(vec![EventKind::FreezeDeclared {
        freeze: freeze.clone(),
    }])
}

pub(crate) fn lift_freeze(
    state: &State,
    freeze: &FreezeId,
    by: &Actor,
    reason: &str,
) -> Result<Vec<EventKind>, Rejection> {
    let known = state
        .freezes
        .get(freeze)
        .ok_or_else(|| Rejection::UnknownFreeze {
            freeze: freeze.clone(),
        })?;
    require_reason(reason, "lifting a freeze")?;
    if known.declared_by != *by {
        check_override_role(&state.policy, by)?;
    }
    Ok(vec![EventKind::FreezeLifted {
        freeze: freeze.clone(),
        by: by.clone(),
        reason: reason.to_owned(),
    }])
}

/// Rule **strategy-forbidden**, for direct commands too: a rollback, or an
/// abort that returns production to the release before, is refused when
/// the policy's `allowed_strategies` leaves the strategy out, as choosing
/// it would be. (The policy's other rules keep their own paths: a
/// forward-only rollback needs broken glass, `forward-only`.)
pub(crate) fn policy_allows(
    state: &State,
    strategy: crate::model::Strategy,
) -> Result<(), Rejection> {
    if state.policy().allowed_strategies.contains(&strategy) {
        Ok(())
    } else {
        Err(Rejection::StrategyForbidden {
            strategy,
            why: format!("the policy does not allow {strategy}"),
        })
    }
}
