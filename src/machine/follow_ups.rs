//! Follow-ups: the obligations a plan leaves, addressed by place or by
//! stable id, and closed only on what the recorded history shows where it
//! can show it.

use super::effect::FollowUpKind;
use super::event::EventKind;
use super::gates;
use super::incident::IncidentRecord;
use super::rejection::Rejection;
use super::response::known;
use super::state::State;
use crate::model::{Actor, BranchName, IncidentId, SuspectedCause};

/// What the recorded history lacks for a follow-up to count as done, for
/// the follow-ups the history can prove: a hotfix branch is merged back
/// when its head is reachable from main; a gate is lifted when it is open;
/// main is fixed, when the cause is
/// a change, once a revert of it or a fix declared for it is on main and
/// in the release serving where the incident is.
pub(crate) fn not_done(
    state: &State,
    incident: &IncidentRecord,
    kind: &FollowUpKind,
) -> Option<String> {
    match kind {
        FollowUpKind::ReapplyChange { change } => {
            let main = BranchName::main();
            if state.change(change).is_none() {
                return Some(format!("`{change}` is not recorded"));
            }
            let Some(head) = state.branch(&incident.service, &main) else {
                return Some(format!("the head of `{main}` is not recorded"));
            };
            // The change again on main: re-applied as the driver records it
            // (`reapply-<change>`), or a revert of its revert.
            let reverts_of_change: Vec<&crate::model::ChangeId> = state
                .remedies(change)
                .filter(|(_, kind)| *kind == super::state::RemedyKind::Revert)
                .map(|(r, _)| r)
                .collect();
            let again = state.changes().any(|c| {
                let reapplies = c.id == super::steps::Rework::Reapply.id(change)
                    || c.reverts
                        .as_ref()
                        .is_some_and(|r| reverts_of_change.contains(&r));
                reapplies
                    && !c.commits.is_empty()
                    && c.commits.iter().all(|k| state.is_ancestor(k, head))
            });
            (!again).then(|| format!("`{change}` is not on `{main}` again yet"))
        }
        FollowUpKind::LiftGate { environment } => state
            .environments
            .get(environment)
            .and_then(|e| e.gate.as_ref())
            .map(|_| {
                let hold = gates::gate_hold(state, environment).map_or_else(
                    || "nothing holds it now: resolve the incident, or reopen it".to_owned(),
                    |h| format!("it is held: {h}"),
                );
                format!("the gate of `{environment}` is still closed; {hold}")
            }),
        FollowUpKind::FixMain { service } => {
            let SuspectedCause::Change { change } = &incident.cause else {
                return None;
            };
            let main = BranchName::main();
            let Some(head) = state.branch(service, &main) else {
                return Some(format!("the head of `{main}` is not recorded"));
            };
            let serving = state
                .current_release(&incident.environment, service)
                .and_then(|r| state.artifact(&r.artifact))
                .map(|a| a.source_commit.clone());
            let remedies: Vec<&crate::model::Change> = state
                .remedies(change)
                .filter_map(|(fix, _)| state.change(fix))
                .collect();
            if remedies.is_empty() {
                return Some(format!(
                    "no revert of `{change}` and no fix declared for it is recorded"
                ));
            }
            let contains = |c: &crate::model::Change, tip: &crate::model::CommitId| {
                !c.commits.is_empty() && c.commits.iter().all(|k| state.is_ancestor(k, tip))
            };
            if !remedies.iter().any(|r| contains(r, head)) {
                return Some(format!("no revert or fix of `{change}` is on `{main}` yet"));
            }
            let shipped = serving.as_ref().is_some_and(|tip| {
                remedies
                    .iter()
                    .any(|r| contains(r, head) && contains(r, tip))
            });
            (!shipped).then(|| {
                format!(
                    "the fix of `{change}` is on `{main}` but not in what serves `{service}` in `{}`: ship it",
                    incident.environment
                )
            })
        }
        FollowUpKind::MergeHotfixBack { service, branch } => {
            let Some(hotfix) = state.branch(service, branch) else {
                return Some(format!("the head of `{branch}` is not recorded"));
            };
            let main = BranchName::main();
            let Some(head) = state.branch(service, &main) else {
                return Some(format!("the head of `{main}` is not recorded"));
            };
            (!state.is_ancestor(hotfix, head)).then(|| {
                format!("`{branch}` (at `{hotfix}`) is not reachable from `{main}` (at `{head}`)")
            })
        }
        _ => None,
    }
}

/// [`complete_follow_up`] by the follow-up's stable id.
pub(super) fn close_follow_up(
    state: &State,
    id: &IncidentId,
    follow_up: &str,
    by: &Actor,
) -> Result<Vec<EventKind>, Rejection> {
    let incident = known(state, id)?;
    let Some(index) = incident
        .follow_ups
        .iter()
        .position(|f| f.kind.id() == follow_up)
    else {
        return Err(Rejection::UnknownFollowUpId {
            incident: id.clone(),
            follow_up: follow_up.to_owned(),
            known: incident.follow_ups.iter().map(|f| f.kind.id()).collect(),
        });
    };
    complete_follow_up(state, id, u32::try_from(index).unwrap_or(u32::MAX), by)
}

pub(super) fn complete_follow_up(
    state: &State,
    id: &IncidentId,
    follow_up: u32,
    by: &Actor,
) -> Result<Vec<EventKind>, Rejection> {
    let incident = known(state, id)?;
    let index = usize::try_from(follow_up).unwrap_or(usize::MAX);
    let Some(item) = incident.follow_ups.get(index) else {
        return Err(Rejection::UnknownFollowUp {
            incident: id.clone(),
            follow_up,
        });
    };
    if item.done_at.is_some() {
        return Ok(vec![]);
    }
    if let Some(why) = not_done(state, incident, &item.kind) {
        return Err(Rejection::FollowUpNotDone {
            incident: id.clone(),
            follow_up,
            why,
        });
    }
    Ok(vec![EventKind::FollowUpCompleted {
        incident: id.clone(),
        follow_up,
        by: by.clone(),
    }])
}
