//! Pinning an incident's cause: a deployment suspected, then the change
//! it brought found (rule `pin-cause`).

use super::event::EventKind;
use super::rejection::Rejection;
use super::response::known;
use super::state::State;
use crate::model::{Actor, ChangeId, IncidentId, IncidentPhase, Slot, SuspectedCause};

impl State {
    /// The other production environments where incident `id`'s service
    /// runs its cause too, with the release serving there: for a change,
    /// a release that carries it without a remedy and with its flags not
    /// neutralising it there; for a deployment, the same release. Empty
    /// for an external cause (or an unknown incident). A plan covers the
    /// incident's own environment; these need an incident (or a plan) of
    /// their own, and the planner says so in each option's risks.
    pub fn also_running_cause(
        &self,
        id: &IncidentId,
    ) -> Vec<(crate::model::EnvironmentId, crate::model::ReleaseId)> {
        let Some(incident) = self.incident(id) else {
            return Vec::new();
        };
        let Some(pipeline) = self.pipeline() else {
            return Vec::new();
        };
        pipeline
            .environments()
            .filter(|e| e.is_production() && e.id != incident.environment)
            .filter_map(|e| {
                let release = self.current_release(&e.id, &incident.service)?;
                let runs = match &incident.cause {
                    SuspectedCause::Change { change } => self
                        .unneutralised_poison(release, &e.id)
                        .is_ok_and(|poison| poison.contains(change)),
                    SuspectedCause::Deployment { slot } => self
                        .history(&slot.environment, &slot.service)
                        .and_then(|h| h.get(slot.revision))
                        .is_some_and(|d| d.release == release.id),
                    SuspectedCause::External { .. } => false,
                };
                runs.then(|| (e.id.clone(), release.id.clone()))
            })
            .collect()
    }

    /// The other environments incident `id`'s plans acted in
    /// ([`IncidentRecord::covered`](crate::IncidentRecord::covered)) that
    /// are not back to normal yet, with the release serving there, while
    /// the incident is mitigated: the gate is closed (a rollback there
    /// closed it) or something holds it (the rollback's drift from main).
    /// A plan that resolves the incident ships its fix there as well, so
    /// that no region is left behind. Empty before mitigation, once
    /// resolved, or for an unknown incident.
    pub fn restored_elsewhere(
        &self,
        id: &IncidentId,
    ) -> Vec<(crate::model::EnvironmentId, crate::model::ReleaseId)> {
        let Some(incident) = self
            .incident(id)
            .filter(|i| i.phase == IncidentPhase::Mitigated)
        else {
            return Vec::new();
        };
        incident
            .covered
            .iter()
            .filter(|env| {
                self.environment(env)
                    .is_some_and(|e| e.closed_gate().is_some())
                    || super::gates::gate_hold(self, env).is_some()
            })
            .filter_map(|env| {
                let release = self.current_release(env, &incident.service)?;
                Some((env.clone(), release.id.clone()))
            })
            .collect()
    }

    /// The changes the deployment in `slot` brought: in its release and
    /// not in the release it replaced there (what to pin an incident
    /// suspected on that deployment to, [`Command::PinCause`](crate::Command::PinCause)).
    pub fn changes_brought(&self, slot: &Slot) -> Vec<ChangeId> {
        brought_by(self, slot)
    }
}

fn brought_by(state: &State, slot: &Slot) -> Vec<ChangeId> {
    let Some(history) = state.history(&slot.environment, &slot.service) else {
        return Vec::new();
    };
    let Some(deployment) = history.get(slot.revision) else {
        return Vec::new();
    };
    let source = |release: &crate::model::ReleaseId| {
        state
            .release(release)
            .and_then(|r| state.artifact(&r.artifact))
            .map(|a| a.source_commit.clone())
    };
    let Some(to) = source(&deployment.release) else {
        return Vec::new();
    };
    let before = history
        .reinstatable_before(slot.revision)
        .or_else(|| {
            slot.revision
                .0
                .checked_sub(1)
                .and_then(|r| history.get(crate::model::Revision(r)))
        })
        .and_then(|d| source(&d.release));
    state.changes_of(state.commits_between(before.as_ref(), &to).into_iter())
}

/// `PinCause` (rule `pin-cause`): an open incident suspected on a
/// deployment, and a change that deployment brought.
pub(super) fn pin_cause(
    state: &State,
    id: &IncidentId,
    change: &ChangeId,
    by: &Actor,
) -> Result<Vec<EventKind>, Rejection> {
    let incident = known(state, id)?;
    let refused = |why: String| Rejection::CauseNotPinned {
        incident: id.clone(),
        change: change.clone(),
        why,
    };
    if matches!(
        incident.phase,
        IncidentPhase::Resolved | IncidentPhase::Reviewed
    ) {
        return Err(refused(format!("the incident is {}", incident.phase)));
    }
    state.known_change(change)?;
    let slot = match &incident.cause {
        SuspectedCause::Deployment { slot } => slot,
        SuspectedCause::Change { change: pinned } if pinned == change => return Ok(vec![]),
        other => {
            return Err(refused(format!(
                "its suspected cause is {other}, not a deployment"
            )));
        }
    };
    let brought = brought_by(state, slot);
    if !brought.contains(change) {
        let named: Vec<String> = brought.iter().map(|c| format!("`{c}`")).collect();
        return Err(refused(format!(
            "the deployment of {slot} did not bring it (it brought {})",
            if named.is_empty() {
                "no recorded change".to_owned()
            } else {
                named.join(", ")
            }
        )));
    }
    let mut kinds = vec![EventKind::CausePinned {
        incident: id.clone(),
        change: change.clone(),
        by: by.clone(),
    }];
    if !state.is_poisoned(change) {
        kinds.push(EventKind::ChangePoisoned {
            change: change.clone(),
            by: by.clone(),
            reason: format!("suspected cause of incident {id}"),
        });
    }
    Ok(kinds)
}
