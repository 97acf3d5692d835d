//! Automatic remediation: the environment's remediation policy choosing a
//! plan by itself for an incident it detected, within its limits (rules
//! `remediation-allowed` and `remediation-limit`), recorded as the
//! policy's decision.

use chrono::{DateTime, Utc};

use super::command::{Clearance, Command};
use super::event::EventKind;
use super::rejection::Rejection;
use super::state::State;
use crate::model::{EnvironmentId, SuspectedCause};

/// The policy's decision on a [`Command::Remediate`], and the choice it
/// makes, as a [`Command::ChooseStrategy`] judged like any other.
pub(super) fn decision(
    state: &State,
    command: &Command,
    now: DateTime<Utc>,
) -> Result<(EventKind, Command), Rejection> {
    let Command::Remediate {
        incident: id,
        strategy,
        steps,
        follow_ups,
        explanation,
        evidence,
        by,
    } = command
    else {
        return Err(Rejection::UnknownIncident {
            incident: crate::model::IncidentId::new("-"),
        });
    };
    let incident = super::response::known(state, id)?;
    let env = &incident.environment;
    // Rule **remediation-allowed**.
    let not_allowed = |why: String| Rejection::RemediationNotAllowed {
        environment: env.clone(),
        strategy: *strategy,
        why,
    };
    let Some(policy) = state.policy.remediation.get(env) else {
        return Err(not_allowed(format!(
            "the policy has no remediation for `{env}`"
        )));
    };
    if !policy.strategies.contains(strategy) {
        let allowed: Vec<String> = policy.strategies.iter().map(ToString::to_string).collect();
        return Err(not_allowed(format!(
            "it allows {}",
            if allowed.is_empty() {
                "nothing".to_owned()
            } else {
                allowed.join(", ")
            }
        )));
    }
    if incident.phase != crate::model::IncidentPhase::Detected {
        return Err(not_allowed(format!(
            "incident `{id}` is {} already: a person has it",
            incident.phase
        )));
    }
    let release = match &incident.cause {
        SuspectedCause::Deployment { slot } if slot.environment == *env => state
            .history(env, &slot.service)
            .and_then(|h| h.get(slot.revision))
            .map(|d| d.release.clone()),
        _ => None,
    };
    let Some(release) = release else {
        return Err(not_allowed(format!(
            "incident `{id}` is not suspected on a deployment in `{env}`: only a detected failure is remediated by itself"
        )));
    };
    // Rule **remediation-limit**: the loop guard.
    let window = i64::try_from(policy.window_seconds)
        .ok()
        .and_then(chrono::Duration::try_seconds)
        .unwrap_or(chrono::Duration::MAX);
    let since = now.checked_sub_signed(window);
    let here = state.remediated.iter().filter(|r| r.environment == *env);
    let nth = here.clone().filter(|r| r.release == release).count();
    let in_window = here
        .filter(|r| since.is_none_or(|since| r.at > since))
        .count();
    let (nth, in_window) = (
        u32::try_from(nth).unwrap_or(u32::MAX),
        u32::try_from(in_window).unwrap_or(u32::MAX),
    );
    let limit = |why: String| Rejection::RemediationLimit {
        environment: env.clone(),
        release: release.clone(),
        why,
    };
    if nth >= policy.per_release {
        return Err(limit(format!(
            "it remediated `{release}` there {nth} time{} already, its limit per release",
            if nth == 1 { "" } else { "s" }
        )));
    }
    if in_window >= policy.per_window {
        return Err(limit(format!(
            "it remediated {in_window} time{} there in the last {}, its limit",
            if in_window == 1 { "" } else { "s" },
            super::effect::human(policy.window_seconds)
        )));
    }
    let decided = EventKind::RemediationDecided {
        incident: id.clone(),
        environment: env.clone(),
        release,
        strategy: *strategy,
        evidence: evidence.clone(),
        nth: nth.saturating_add(1),
        in_window: in_window.saturating_add(1),
        by: by.clone(),
    };
    let choose = Command::ChooseStrategy {
        incident: id.clone(),
        strategy: *strategy,
        steps: steps.clone(),
        follow_ups: follow_ups.clone(),
        considered: Vec::new(),
        explanation: explanation.clone(),
        by: by.clone(),
        clearance: clearance(env, policy),
    };
    Ok((decided, choose))
}

impl State {
    /// Whether an environment's remediation policy chose the current plan
    /// of incident `id` by itself.
    pub fn remediated_by_policy(&self, id: &crate::model::IncidentId) -> bool {
        self.remediated.iter().any(|r| r.incident == *id)
    }
}

/// The authority a remediation policy brings to its choice: a freeze
/// override when it acts during freezes (the core still checks the
/// actor's role, and audits it), nothing otherwise.
pub(crate) fn clearance(
    env: &EnvironmentId,
    policy: &crate::model::RemediationPolicy,
) -> Clearance {
    if policy.during_freeze {
        Clearance::override_freeze(format!(
            "the remediation policy of `{env}` acts during freezes"
        ))
    } else {
        Clearance::none()
    }
}
