//! How an incident's events change the state: the record declared, each
//! plan chosen (its steps, its actor, the heads it ships), mitigated,
//! resolved, reviewed, its effects and follow-ups.

use chrono::{DateTime, Utc};

use super::effect::FollowUpKind;
use super::event::EventKind;
use super::incident::{FollowUp, IncidentRecord};
use super::rejection::Rejection;
use super::state::State;
use crate::model::{EnvironmentId, IncidentId, IncidentPhase, SuspectedCause};

impl State {
    pub(super) fn apply_incident(
        &mut self,
        kind: &EventKind,
        at: DateTime<Utc>,
    ) -> Result<(), Rejection> {
        if let EventKind::IncidentDeclared {
            incident,
            environment,
            service,
            severity,
            cause,
            summary,
            by,
            impact_began,
        } = kind
        {
            // A second declaration would silently replace the first
            // incident's record and steps (a re-chained journal).
            if self.incidents.contains_key(incident) {
                return Err(Rejection::DuplicateIncident {
                    incident: incident.clone(),
                });
            }
            self.incidents.insert(
                incident.clone(),
                IncidentRecord {
                    id: incident.clone(),
                    environment: environment.clone(),
                    service: service.clone(),
                    severity: *severity,
                    cause: cause.clone(),
                    summary: summary.clone(),
                    declared_by: by.clone(),
                    phase: IncidentPhase::Detected,
                    detected_at: at,
                    impact_began: *impact_began,
                    mitigating_at: None,
                    mitigated_at: None,
                    resolved_at: None,
                    reviewed_at: None,
                    strategy: None,
                    considered: Vec::new(),
                    explanation: None,
                    follow_ups: Vec::new(),
                    attempts: 0,
                    steps: Vec::new(),
                    chosen_by: None,
                    clearance: crate::Clearance::none(),
                    covered: std::collections::BTreeSet::new(),
                    effects: std::collections::BTreeMap::new(),
                    retro: None,
                    planned_heads: Vec::new(),
                    resolve_with: None,
                },
            );
            return Ok(());
        }
        let (EventKind::StrategyChosen { incident: id, .. }
        | EventKind::ChangesAccepted { incident: id, .. }
        | EventKind::CausePinned { incident: id, .. }
        | EventKind::ResolutionPlanned { incident: id, .. }
        | EventKind::IncidentMitigated { incident: id, .. }
        | EventKind::IncidentResolved { incident: id, .. }
        | EventKind::RetroRecorded { incident: id, .. }
        | EventKind::FollowUpCompleted { incident: id, .. }
        | EventKind::EffectRecorded { incident: id, .. }) = kind
        else {
            return Ok(());
        };
        // The heads of the branches a new plan ships, read before the
        // record is written.
        let heads = match kind {
            EventKind::StrategyChosen { steps, .. } => super::planned::planned_heads(self, steps),
            _ => Vec::new(),
        };
        let branches = &self.branches;
        let record = self
            .incidents
            .get_mut(id)
            .ok_or_else(|| Rejection::UnknownIncident {
                incident: id.clone(),
            })?;
        match kind {
            EventKind::StrategyChosen {
                strategy,
                considered,
                explanation,
                follow_ups,
                steps,
                by,
                clearance,
                ..
            } => {
                record.steps.clone_from(steps);
                let own = record.environment.clone();
                record.covered.extend(
                    steps
                        .iter()
                        .filter_map(|s| s.action.environment())
                        .filter(|e| **e != own)
                        .cloned(),
                );
                record.planned_heads = heads;
                record.chosen_by = Some(by.clone());
                record.clearance.clone_from(clearance);
                record.attempts = record.attempts.saturating_add(1);
                for step in steps {
                    self.step_keys.insert(step.key.clone());
                }
                record.effects = steps
                    .iter()
                    .map(|e| (e.key.clone(), crate::machine::effect::EffectStatus::Pending))
                    .collect();
                record.strategy = Some(*strategy);
                record.considered.clone_from(considered);
                record.explanation = Some(explanation.clone());
                if record.phase == IncidentPhase::Mitigated {
                    // The resolving plan is chosen: what was chosen up
                    // front is done with.
                    record.resolve_with = None;
                    // A plan that resolves a mitigated incident: it stays
                    // mitigated, and the obligations already open (or
                    // done) stay as they are; new ones are added.
                    for kind in follow_ups {
                        if !record.follow_ups.iter().any(|f| f.kind == *kind) {
                            record.follow_ups.push(FollowUp {
                                kind: kind.clone(),
                                done_at: None,
                            });
                        }
                    }
                } else {
                    record.phase = IncidentPhase::Mitigating;
                    record.mitigating_at = Some(at);
                    record.follow_ups = follow_ups
                        .iter()
                        .map(|kind| FollowUp {
                            kind: kind.clone(),
                            done_at: None,
                        })
                        .collect();
                }
            }
            EventKind::IncidentMitigated { .. } => {
                record.phase = IncidentPhase::Mitigated;
                record.mitigated_at = Some(at);
            }
            EventKind::IncidentResolved { .. } => {
                record.phase = IncidentPhase::Resolved;
                record.resolved_at = Some(at);
            }
            EventKind::RetroRecorded { summary, .. } => {
                record.phase = IncidentPhase::Reviewed;
                record.reviewed_at = Some(at);
                record.retro = Some(summary.clone());
                for f in &mut record.follow_ups {
                    if f.kind == FollowUpKind::HoldRetro {
                        f.done_at.get_or_insert(at);
                    }
                }
            }
            EventKind::EffectRecorded { key, outcome, .. } => {
                let Some(status) = record.effects.get_mut(key) else {
                    return Err(Rejection::UnknownEffect {
                        incident: id.clone(),
                        key: key.clone(),
                    });
                };
                *status = status.after(outcome);
                // A person confirmed landing the fix: what the branch
                // holds now is theirs, part of the plan.
                if let Some((service, branch)) =
                    super::planned::landed_by_person(record, key, outcome)
                {
                    let (service, branch) = (service.clone(), branch.clone());
                    let head = branches.get(&service).and_then(|b| b.get(&branch)).cloned();
                    super::planned::accept(record, &service, &branch, head);
                }
            }
            EventKind::ChangesAccepted {
                service,
                branch,
                head,
                ..
            } => super::planned::accept(record, service, branch, Some(head.clone())),
            EventKind::ResolutionPlanned { strategy, .. } => {
                record.resolve_with = Some(*strategy);
            }
            EventKind::CausePinned { change, .. } => {
                record.cause = SuspectedCause::Change {
                    change: change.clone(),
                };
            }
            EventKind::FollowUpCompleted { follow_up, .. } => {
                let index = usize::try_from(*follow_up).unwrap_or(usize::MAX);
                let Some(item) = record.follow_ups.get_mut(index) else {
                    return Err(Rejection::UnknownFollowUp {
                        incident: id.clone(),
                        follow_up: *follow_up,
                    });
                };
                item.done_at.get_or_insert(at);
            }
            _ => {}
        }
        Ok(())
    }

    /// A reopened gate meets every open `LiftGate` follow-up there.
    pub(super) fn lift_gate_follow_ups(&mut self, env: &EnvironmentId, at: DateTime<Utc>) {
        let lifts = |r: &IncidentRecord| {
            r.follow_ups.iter().any(|f| {
                f.done_at.is_none()
                    && matches!(&f.kind, FollowUpKind::LiftGate { environment } if environment == env)
            })
        };
        // Only the incidents with such a follow-up are written (and copied,
        // in a hypothetical state).
        let due: Vec<IncidentId> = self
            .incidents
            .iter()
            .filter(|(_, r)| lifts(r))
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            if let Some(record) = self.incidents.get_mut(&id) {
                for f in &mut record.follow_ups {
                    if matches!(&f.kind, FollowUpKind::LiftGate { environment } if environment == env)
                    {
                        f.done_at.get_or_insert(at);
                    }
                }
            }
        }
    }
}
