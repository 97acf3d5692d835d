//! Host runbooks in the core: registered in the journal, and judged for
//! an incident (rule `runbook-applies`) by the planner's dry run and by the
//! core alike.

use super::event::EventKind;
use super::incident::IncidentRecord;
use super::rejection::Rejection;
use super::state::State;
use crate::model::{CauseKind, Runbook, RunbookId};

/// `RegisterRunbook`: a new runbook, or a new definition of one (the
/// newest counts); the same definition again changes nothing.
pub(super) fn register_runbook(
    state: &State,
    runbook: &Runbook,
) -> Result<Vec<EventKind>, Rejection> {
    if runbook.title.trim().is_empty() {
        return Err(Rejection::ReasonRequired {
            what: format!("runbook `{}`'s title", runbook.id),
        });
    }
    if state.runbooks.get(&runbook.id) == Some(runbook) {
        return Ok(vec![]);
    }
    Ok(vec![EventKind::RunbookRegistered {
        runbook: runbook.clone(),
    }])
}

/// The runbook `id`, when it applies to `incident`: registered, and the
/// incident's environment (a production one, unless the runbook names
/// its environments), service and kind of cause within its scope.
pub(super) fn runbook_for<'s>(
    state: &'s State,
    incident: &IncidentRecord,
    id: &RunbookId,
) -> Result<&'s Runbook, Rejection> {
    let refused = |why: String| Rejection::RunbookNotApplicable {
        runbook: id.clone(),
        incident: incident.id.clone(),
        why,
    };
    let Some(runbook) = state.runbooks.get(id) else {
        return Err(refused("no such runbook is registered".to_owned()));
    };
    let env = &incident.environment;
    if runbook.environments.is_empty() {
        if !super::gates::is_production(state, env) {
            return Err(refused(format!(
                "it applies to production environments, and `{env}` is not one"
            )));
        }
    } else if !runbook.environments.contains(env) {
        return Err(refused(format!("it does not apply in `{env}`")));
    }
    if !runbook.services.is_empty() && !runbook.services.contains(&incident.service) {
        return Err(refused(format!(
            "it does not apply to `{}`",
            incident.service
        )));
    }
    let kind = CauseKind::of(&incident.cause);
    if !runbook.causes.is_empty() && !runbook.causes.contains(&kind) {
        return Err(refused(format!("it does not help with {kind}")));
    }
    Ok(runbook)
}

impl State {
    /// The host runbooks registered, by name.
    pub fn runbooks(&self) -> impl Iterator<Item = &Runbook> {
        self.runbooks.values()
    }

    /// The runbook named `id`, if registered.
    pub fn runbook(&self, id: &RunbookId) -> Option<&Runbook> {
        self.runbooks.get(id)
    }
}
