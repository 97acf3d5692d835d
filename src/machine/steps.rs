//! What a plan's steps make, named alike by the dry run and the driver:
//! the change a revert or a re-apply records, the release a build
//! registers, the keys of a ship's stages, the fast-track a ship asks for,
//! the release a promote deploys and the stages it deploys it to.

use chrono::{DateTime, Utc};

use crate::model::{
    Actor, Artifact, Change, ChangeId, CommitId, EnvironmentId, IncidentId, ReleaseId,
};

use super::command::Command;
use super::effect::IdempotencyKey;

/// Undoing a change or doing it again: the two ways a plan reworks a
/// change already merged, each recorded as a new change of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rework {
    /// A commit that undoes the change.
    Revert,
    /// The change's commits picked again after a revert.
    Reapply,
}

impl Rework {
    /// The change recorded for the commit `made` that reworks `original`.
    pub(crate) fn change(
        self,
        original: &Change,
        made: CommitId,
        by: Actor,
        at: DateTime<Utc>,
    ) -> Change {
        let title = match self {
            Self::Revert => "Revert",
            Self::Reapply => "Re-apply",
        };
        let change = Change::new(
            self.id(&original.id),
            format!("{title} \"{}\"", original.title),
            by,
            at,
            [made],
        );
        match self {
            Self::Revert => change.reverting(original.id.clone()),
            Self::Reapply => change,
        }
    }

    /// The id of the change recorded for reworking `original`:
    /// `revert-<id>`, `reapply-<id>`.
    pub(crate) fn id(self, original: &ChangeId) -> ChangeId {
        let prefix = match self {
            Self::Revert => "revert",
            Self::Reapply => "reapply",
        };
        ChangeId::new(format!("{prefix}-{original}"))
    }

    /// What happened, in words: `reverted`, `re-applied`.
    pub(crate) fn done(self) -> &'static str {
        match self {
            Self::Revert => "reverted",
            Self::Reapply => "re-applied",
        }
    }
}

/// The release the driver registers for an artifact it built.
pub(crate) fn built_release_id(artifact: &Artifact) -> ReleaseId {
    ReleaseId::new(format!(
        "{}@{}+{}",
        artifact.service, artifact.version, artifact.build
    ))
}

/// The key of the rollout into `env` that a ship step makes.
pub(crate) fn ship_key(key: &IdempotencyKey, env: &EnvironmentId) -> IdempotencyKey {
    IdempotencyKey::new(format!("{key}@{env}"))
}

/// What a promote step of incident `incident`'s plan deploys (rule
/// **promote-what-shipped**): the release serving `service` in `from`,
/// which a step of the plan must have rolled out there and verified.
/// Nothing is built again: the release verified where the plan shipped is
/// the one promoted.
pub(crate) fn promoted_release(
    state: &super::State,
    incident: &IncidentId,
    (service, from): (&crate::model::ServiceId, &EnvironmentId),
) -> Result<ReleaseId, super::rejection::Rejection> {
    let nothing = || super::rejection::Rejection::NothingShippedToPromote {
        incident: incident.clone(),
        environment: from.clone(),
        service: service.clone(),
    };
    let record = state.incident(incident).ok_or_else(nothing)?;
    let current = state
        .history(from, service)
        .and_then(super::RolloutHistory::current)
        .ok_or_else(nothing)?;
    let shipped = current.status == super::DeploymentStatus::KnownGood
        && current.effect.as_ref().is_some_and(|effect| {
            record.steps.iter().any(|s| {
                matches!(s.action, super::EffectAction::Ship { .. }) && opened_for(&s.key, effect)
            })
        });
    if shipped {
        Ok(current.release.clone())
    } else {
        Err(nothing())
    }
}

/// The stages a promote step `key` deploys `release` to along `lane` into
/// `target`: those of the ship path that do not serve it verified already,
/// and every one a rollout under the step's key opened (so that a resumed
/// step finishes what it started), upstream first.
pub(crate) fn promote_stages(
    state: &super::State,
    key: &IdempotencyKey,
    (service, release): (&crate::model::ServiceId, &ReleaseId),
    (lane, target, fast_track): (crate::model::Lane, &EnvironmentId, bool),
) -> Vec<EnvironmentId> {
    let Some(pipeline) = state.pipeline() else {
        return Vec::new();
    };
    pipeline
        .ship_path(target, lane, fast_track)
        .into_iter()
        .filter(|env| {
            let Some(history) = state.history(env, service) else {
                return true;
            };
            history.by_effect(&ship_key(key, env)).is_some()
                || !history.current().is_some_and(|d| {
                    d.release == *release && d.status == super::DeploymentStatus::KnownGood
                })
        })
        .collect()
}

/// Whether a rollout opened for `effect` belongs to the step `step` (the
/// step itself, or one stage of a ship).
pub(crate) fn opened_for(step: &IdempotencyKey, effect: &IdempotencyKey) -> bool {
    effect == step
        || effect
            .as_str()
            .strip_prefix(step.as_str())
            .is_some_and(|rest| rest.starts_with('@'))
}

/// The fast-track a plan's shipping step asks for: the fix goes past the
/// lane's test stages, on the plan's say-so, recorded as such.
pub(crate) fn fast_track_command(
    release: &ReleaseId,
    target: &EnvironmentId,
    lane: crate::model::Lane,
    by: &Actor,
    incident: &IncidentId,
) -> Command {
    Command::FastTrack {
        release: release.clone(),
        target: target.clone(),
        lane,
        by: by.clone(),
        reason: format!("incident {incident}: the chosen plan fast-tracks its fix"),
    }
}

/// The part of a plan's `clearance` that `command`, one of its steps,
/// needs, named alike by the dry run and the driver: a freeze override
/// always (it is used only where a freeze covers the step); break-glass
/// on a deployment into an environment that needs approvals, and on a
/// rollback under a forward-only policy; an unverified-target override on
/// a rollback whose named target is not verified known good. Nothing on a
/// command that takes no clearance. So a plan's exceptions are used, and
/// audited, exactly where they apply.
pub(crate) fn fitted_clearance(
    state: &super::State,
    command: &Command,
    plan: &super::Clearance,
) -> super::Clearance {
    let mut fitted = super::Clearance {
        freeze_override: plan.freeze_override.clone(),
        ..super::Clearance::default()
    };
    match command {
        Command::RequestDeployment { environment, .. } => {
            if state.policy().approvals.contains_key(environment) {
                fitted.break_glass.clone_from(&plan.break_glass);
            }
        }
        Command::Rollback {
            environment,
            service,
            to_revision,
            ..
        } => {
            if state.policy().forward_only {
                fitted.break_glass.clone_from(&plan.break_glass);
            }
            let verified = to_revision
                .and_then(|r| state.history(environment, service)?.get(r))
                .is_none_or(super::deploy::is_known_good_target);
            if !verified {
                fitted.unverified_target.clone_from(&plan.unverified_target);
            }
        }
        Command::SetFlag { .. } => {}
        _ => return super::Clearance::none(),
    }
    fitted
}
