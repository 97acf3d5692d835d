//! The way back to normal, as it stands: what still holds the gate, each
//! follow-up open and what it lacks, and the next thing to do.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::follow_ups::not_done;
use super::gates::gate_hold;
use super::rejection::GateHold;
use super::response::{not_restored, resolves};
use super::state::State;
use crate::model::{IncidentId, IncidentPhase};

/// One follow-up not done yet, and what the history lacks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OpenFollowUp {
    /// Its stable id (`fix-main/payments`, `lift-gate/prod`, …).
    pub id: String,
    /// What must be done, in words.
    pub what: String,
    /// What the recorded history lacks for it to count as done; `None`
    /// when it can be closed now
    /// ([`Command::CloseFollowUp`](crate::Command::CloseFollowUp)).
    pub lacking: Option<String>,
}

/// The next thing to do for an incident, as a program reads it
/// ([`WayBack::step`]; [`WayBack::next`] says it in words).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum NextStep {
    /// Plan the recovery and choose an option.
    Plan,
    /// Drive the chosen plan to the end (or choose again).
    Drive,
    /// Mark the incident mitigated.
    MarkMitigated,
    /// Close this follow-up ([`Command::CloseFollowUp`](crate::Command::CloseFollowUp)).
    CloseFollowUp {
        /// Its id.
        id: String,
    },
    /// Choose the plan that fixes main and ships it, and drive it.
    ChooseResolution,
    /// Drive the resolving plan to the end.
    DriveResolution,
    /// Resolve the incident.
    Resolve,
    /// Hold the retro and record it.
    HoldRetro,
    /// Nothing: the incident is reviewed.
    Nothing,
}

/// Where an incident stands on its way back to normal: see
/// [`State::way_back`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WayBack {
    /// The incident.
    pub incident: IncidentId,
    /// Its phase.
    pub phase: IncidentPhase,
    /// Whether the gate of its environment is closed.
    pub gate_closed: bool,
    /// What holds that gate closed, if anything (a rollback's drift, a
    /// revision not verified, a poisoned change running, a hotfix not
    /// merged back).
    pub gate_held: Option<GateHold>,
    /// The other environments the incident's plans acted in
    /// ([`IncidentRecord::covered`](crate::IncidentRecord::covered)) that
    /// are not back to normal: each with its gate's state and what holds
    /// it, in words (a rollback there drifts from main until the fix is
    /// promoted there too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elsewhere: Vec<(crate::model::EnvironmentId, String)>,
    /// Why a known-good state does not count as restored yet, while the
    /// incident is not mitigated.
    pub not_restored: Option<String>,
    /// The follow-ups not done, in order.
    pub follow_ups: Vec<OpenFollowUp>,
    /// The next thing to do, in words.
    pub next: String,
    /// The next thing to do, for a program: which command or call.
    pub step: NextStep,
}

impl fmt::Display for WayBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is {}", self.incident, self.phase)?;
        match (&self.gate_held, self.gate_closed) {
            (Some(hold), _) => write!(f, "; the gate is held: {hold}")?,
            (None, true) => f.write_str("; the gate is closed, and nothing holds it")?,
            (None, false) => f.write_str("; the gate is open")?,
        }
        for (env, how) in &self.elsewhere {
            write!(f, "; in `{env}` {how}")?;
        }
        for open in &self.follow_ups {
            match &open.lacking {
                Some(lacking) => write!(f, "; `{}` open: {lacking}", open.id)?,
                None => write!(f, "; `{}` can be closed", open.id)?,
            }
        }
        write!(f, ". Next: {}", self.next)
    }
}

impl State {
    /// Where incident `id` stands on its way back to normal: the gate and
    /// what holds it, each open follow-up and what the history lacks for
    /// it, and the next thing to do (drive the plan, mark it mitigated,
    /// choose the plan that fixes main, close a follow-up, resolve,
    /// record the retro). `None` for an unknown incident.
    pub fn way_back(&self, id: &IncidentId) -> Option<WayBack> {
        let incident = self.incident(id)?;
        let env = &incident.environment;
        let gate_closed = self
            .environment(env)
            .is_some_and(|e| e.closed_gate().is_some());
        let gate_held = gate_hold(self, env);
        let restored = matches!(
            incident.phase,
            IncidentPhase::Mitigated | IncidentPhase::Resolved | IncidentPhase::Reviewed
        );
        let not_restored = if restored {
            None
        } else {
            not_restored(self, incident)
        };
        let elsewhere = incident
            .covered
            .iter()
            .filter_map(|other| {
                let closed = self
                    .environment(other)
                    .is_some_and(|e| e.closed_gate().is_some());
                let how = match (gate_hold(self, other), closed) {
                    (Some(hold), true) => format!("the gate is held: {hold}"),
                    (Some(hold), false) => format!("the gate is open, but {hold}"),
                    (None, true) => "the gate is closed, and nothing holds it".to_owned(),
                    (None, false) => return None,
                };
                Some((other.clone(), how))
            })
            .collect();
        let follow_ups: Vec<OpenFollowUp> = incident
            .open_follow_ups()
            .map(|f| OpenFollowUp {
                id: f.kind.id(),
                what: f.kind.to_string(),
                lacking: not_done(self, incident, &f.kind),
            })
            .collect();
        let closable = follow_ups
            .iter()
            .find(|f| f.lacking.is_none() && f.id != "retro" && !f.id.starts_with("lift-gate/"));
        let resolved_by_plan = incident.strategy.is_some_and(resolves);
        let close = |id: &str| {
            (
                NextStep::CloseFollowUp { id: id.to_owned() },
                format!("close `{id}` with CloseFollowUp"),
            )
        };
        let (step, next) = match incident.phase {
            IncidentPhase::Detected => (
                NextStep::Plan,
                "plan the recovery and choose an option".to_owned(),
            ),
            IncidentPhase::Mitigating => match &not_restored {
                Some(why) => (
                    NextStep::Drive,
                    format!("drive the chosen plan to the end ({why}), or choose again"),
                ),
                None => (
                    NextStep::MarkMitigated,
                    "mark the incident mitigated".to_owned(),
                ),
            },
            IncidentPhase::Mitigated => match (closable, &gate_held) {
                (Some(open), _) => close(&open.id),
                (None, Some(hold)) if !resolved_by_plan => (
                    NextStep::ChooseResolution,
                    format!(
                        "choose the plan that fixes main and ships it (revert, fix forward, hotfix) and drive it: {hold}"
                    ),
                ),
                (None, Some(hold)) => (
                    NextStep::DriveResolution,
                    format!("drive the resolving plan to the end: {hold}"),
                ),
                (None, None) => (
                    NextStep::Resolve,
                    "resolve the incident (the gate reopens with it)".to_owned(),
                ),
            },
            IncidentPhase::Resolved => match closable {
                Some(open) => close(&open.id),
                None => (
                    NextStep::HoldRetro,
                    "hold the retro and record it".to_owned(),
                ),
            },
            _ => (
                NextStep::Nothing,
                "nothing: the incident is reviewed".to_owned(),
            ),
        };
        Some(WayBack {
            incident: id.clone(),
            phase: incident.phase,
            gate_closed,
            gate_held,
            elsewhere,
            not_restored,
            follow_ups,
            next,
            step,
        })
    }
}
