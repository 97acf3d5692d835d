//! What ships is what was planned: the branch heads a plan was chosen on,
//! and what a branch it ships carries now that nobody saw when it was
//! chosen (someone pushed while the plan ran).
//!
//! The plan's own work is not an addition: the revert or re-apply a step
//! made, a fix declared for the suspected change, and whatever stood on a
//! branch when a person confirmed landing the fix there (they own what
//! they landed). Everything else reachable from the head and not from the
//! planned head is: each recorded change, dark or live where the plan
//! ships, and each commit no recorded change holds (merges aside).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::effect::{EffectAction, EffectOutcome, IdempotencyKey};
use super::event::EventKind;
use super::gates::require_reason;
use super::incident::{IncidentRecord, PlannedHead};
use super::rejection::Rejection;
use super::state::State;
use super::steps::Rework;
use crate::model::{
    Actor, BranchName, ChangeId, CommitId, EnvironmentId, IncidentId, IncidentPhase, ServiceId,
    SuspectedCause,
};

/// One change a shipped branch carries that its plan did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Addition {
    /// The change.
    pub change: ChangeId,
    /// Its title.
    pub title: String,
    /// Its flags keep its code from running where the plan ships
    /// ([`State::flags_neutralise`]).
    pub dark: bool,
    /// It is poisoned (the core refuses it into production unless
    /// neutralised or remedied).
    pub poisoned: bool,
}

/// What a branch a plan ships carries beyond what was planned: see
/// [`State::unplanned`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Additions {
    /// Whose repository.
    pub service: ServiceId,
    /// The branch.
    pub branch: BranchName,
    /// Where the plan ships it.
    pub environment: EnvironmentId,
    /// The head the plan was chosen on (or last accepted at).
    pub planned: Option<CommitId>,
    /// The head now.
    pub head: CommitId,
    /// The changes added, in the commits' order.
    pub changes: Vec<Addition>,
    /// Commits added that no recorded change holds (merges aside): what
    /// they do is unknown.
    pub unattributed: Vec<CommitId>,
}

impl Additions {
    /// Nothing was added.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.unattributed.is_empty()
    }

    /// A person must look before it ships: something added runs where the
    /// plan ships (a live change, or a commit nobody recorded a change
    /// for). Changes kept dark by their flags go on, said in the step's
    /// outcome.
    pub fn needs_person(&self) -> bool {
        !self.unattributed.is_empty() || self.changes.iter().any(|c| !c.dark)
    }
}

impl fmt::Display for Additions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = self
            .planned
            .as_ref()
            .map_or_else(|| "nothing".to_owned(), |c| format!("`{c}`"));
        write!(
            f,
            "`{}` of `{}` moved from {from} to `{}` after the plan was chosen",
            self.branch, self.service, self.head
        )?;
        if self.is_empty() {
            return f.write_str(", adding nothing but the plan's own work");
        }
        let mut parts: Vec<String> = self
            .changes
            .iter()
            .map(|c| {
                format!(
                    "`{}` \"{}\" ({}{})",
                    c.change,
                    c.title,
                    if c.dark {
                        format!("dark in `{}`", self.environment)
                    } else {
                        format!("live in `{}`", self.environment)
                    },
                    if c.poisoned { ", poisoned" } else { "" }
                )
            })
            .collect();
        if !self.unattributed.is_empty() {
            let commits: Vec<String> = self.unattributed.iter().map(|c| format!("`{c}`")).collect();
            parts.push(format!(
                "{} commit{} no recorded change holds ({})",
                commits.len(),
                if commits.len() == 1 { "" } else { "s" },
                commits.join(", ")
            ));
        }
        write!(f, "; it also carries {}", parts.join(", "))
    }
}

/// The heads of the branches `steps` ship, as `state` records them now.
pub(super) fn planned_heads(state: &State, steps: &[super::effect::Effect]) -> Vec<PlannedHead> {
    let mut heads: Vec<PlannedHead> = Vec::new();
    for step in steps {
        if let EffectAction::Ship {
            service, branch, ..
        } = &step.action
            && !heads
                .iter()
                .any(|h| h.service == *service && h.branch == *branch)
        {
            heads.push(PlannedHead {
                service: service.clone(),
                branch: branch.clone(),
                head: state.branch(service, branch).cloned(),
            });
        }
    }
    heads
}

/// The branch a person confirmed landing the fix on, when `outcome` of
/// step `key` is that confirmation.
pub(super) fn landed_by_person<'r>(
    record: &'r IncidentRecord,
    key: &IdempotencyKey,
    outcome: &EffectOutcome,
) -> Option<(&'r ServiceId, &'r BranchName)> {
    if !matches!(outcome, EffectOutcome::Succeeded { .. }) {
        return None;
    }
    record.steps.iter().find_map(|s| match &s.action {
        EffectAction::LandFix { service, onto } if s.key == *key => Some((service, onto)),
        _ => None,
    })
}

/// Moves the planned head of `service`'s `branch` in `record` to `head`.
pub(super) fn accept(
    record: &mut IncidentRecord,
    service: &ServiceId,
    branch: &BranchName,
    head: Option<CommitId>,
) {
    if let Some(planned) = record
        .planned_heads
        .iter_mut()
        .find(|h| h.service == *service && h.branch == *branch)
    {
        planned.head = head;
    }
}

/// `AcceptChanges`: a person takes what `branch` carries at `head` into
/// the incident's plan (rule `accept-planned-branch`): the plan must ship
/// that branch, `head` must be its recorded head, and a reason is needed.
pub(super) fn accept_changes(
    state: &State,
    id: &IncidentId,
    (service, branch, head): (&ServiceId, &BranchName, &CommitId),
    by: &Actor,
    reason: &str,
) -> Result<Vec<EventKind>, Rejection> {
    let incident = state
        .incident(id)
        .ok_or_else(|| Rejection::UnknownIncident {
            incident: id.clone(),
        })?;
    require_reason(reason, "accepting what a planned branch carries")?;
    let open = matches!(
        incident.phase,
        IncidentPhase::Mitigating | IncidentPhase::Mitigated
    );
    let Some(planned) = incident
        .planned_heads
        .iter()
        .find(|h| h.service == *service && h.branch == *branch)
        .filter(|_| open)
    else {
        return Err(Rejection::NotAPlannedBranch {
            incident: id.clone(),
            service: service.clone(),
            branch: branch.clone(),
        });
    };
    let recorded = state.branch(service, branch);
    if recorded != Some(head) {
        return Err(Rejection::NotTheRecordedHead {
            service: service.clone(),
            branch: branch.clone(),
            head: head.clone(),
            recorded: recorded.cloned(),
        });
    }
    if planned.head.as_ref() == Some(head) {
        return Ok(vec![]);
    }
    Ok(vec![EventKind::ChangesAccepted {
        incident: id.clone(),
        service: service.clone(),
        branch: branch.clone(),
        head: head.clone(),
        by: by.clone(),
        reason: reason.to_owned(),
    }])
}

impl State {
    /// What `service`'s `branch` carries now that incident `incident`'s
    /// plan did not, judged where the plan ships it (`environment`):
    /// `None` when the plan ships no such branch or its head is not
    /// recorded. The driver asks before it builds a ship step; a person
    /// takes the additions into the plan with
    /// [`Command::AcceptChanges`](crate::Command::AcceptChanges).
    ///
    /// The base is the head the plan was chosen on (or last accepted at),
    /// or, for a branch the plan cuts, where it cuts it. The plan's own
    /// work is not counted: the changes its revert and re-apply steps
    /// record, and a revert or fix declared for the suspected change.
    pub fn unplanned(
        &self,
        incident: &IncidentId,
        service: &ServiceId,
        branch: &BranchName,
        environment: &EnvironmentId,
    ) -> Option<Additions> {
        let head = self.branch(service, branch)?;
        self.unplanned_at(incident, (service, branch), head, environment)
    }

    /// [`State::unplanned`] for the branch at `head`.
    pub(crate) fn unplanned_at(
        &self,
        incident: &IncidentId,
        (service, branch): (&ServiceId, &BranchName),
        head: &CommitId,
        environment: &EnvironmentId,
    ) -> Option<Additions> {
        let record = self.incident(incident)?;
        let planned = record
            .planned_heads
            .iter()
            .find(|h| h.service == *service && h.branch == *branch)?;
        let base = planned.head.clone().or_else(|| {
            record.steps.iter().find_map(|s| match &s.action {
                EffectAction::CutBranch {
                    service: s2,
                    branch: b,
                    at,
                } if s2 == service && b == branch => Some(at.clone()),
                _ => None,
            })
        });
        let own = own_changes(self, record);
        let commits = self.commits_between(base.as_ref(), head);
        let mut changes: Vec<Addition> = Vec::new();
        let mut unattributed = Vec::new();
        for commit in commits {
            let Some(found) = self.commits.get(commit) else {
                continue;
            };
            match &found.change {
                Some(change) if own.contains(change) => {}
                Some(change) if changes.iter().any(|a| a.change == *change) => {}
                Some(change) => {
                    let (title, dark) = self.change(change).map_or_else(
                        || (String::new(), false),
                        |c| (c.title.clone(), self.flags_neutralise(c, environment)),
                    );
                    changes.push(Addition {
                        change: change.clone(),
                        title,
                        dark,
                        poisoned: self.is_poisoned(change),
                    });
                }
                None if found.commit.parents.len() > 1 => {}
                None => unattributed.push(commit.clone()),
            }
        }
        Some(Additions {
            service: service.clone(),
            branch: branch.clone(),
            environment: environment.clone(),
            planned: planned.head.clone(),
            head: head.clone(),
            changes,
            unattributed,
        })
    }
}

/// The changes the plan's own steps record, and the remedies declared for
/// the suspected change.
fn own_changes(state: &State, record: &IncidentRecord) -> Vec<ChangeId> {
    let mut own: Vec<ChangeId> = record
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            EffectAction::RevertChange { change, .. } => Some(Rework::Revert.id(change)),
            EffectAction::ReapplyChange { change, .. } => Some(Rework::Reapply.id(change)),
            _ => None,
        })
        .collect();
    if let SuspectedCause::Change { change } = &record.cause {
        own.extend(state.remedies(change).map(|(r, _)| r.clone()));
    }
    own
}
