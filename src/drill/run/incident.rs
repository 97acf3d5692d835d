//! The incident itself: declared by a person or detected by the driver,
//! and, once mitigated, the way back to normal.

use super::Sim;
use crate::machine::Command;
use crate::model::IncidentId;

impl Sim<'_> {
    /// A person declares the scenario's incident.
    pub(super) fn declare(&mut self) -> Result<IncidentId, String> {
        let spec = &self.scenario.incident;
        let incident = spec.id.clone();
        let declare = Command::DeclareIncident {
            incident: incident.clone(),
            environment: spec.environment.clone(),
            service: self.scenario.service.clone(),
            severity: spec.severity,
            cause: spec.cause.clone(),
            summary: spec.summary.clone(),
            by: "oncall".into(),
            impact_began: None,
        };
        self.now_minutes(2);
        self.host(&declare)
            .map_err(|e| format!("declaring the incident was refused: {e}"))?;
        self.log.push(format!("incident `{incident}` declared"));
        Ok(incident)
    }

    /// The incident the driver declared itself, which must name the
    /// scenario's cause and say since when.
    pub(super) fn detected(&mut self) -> Result<IncidentId, String> {
        let spec = &self.scenario.incident;
        let state = self.driver.state();
        let Some(record) = state.incidents().find(|i| {
            i.environment == spec.environment
                && i.service == self.scenario.service
                && i.phase == crate::model::IncidentPhase::Detected
        }) else {
            return Err(format!(
                "no incident was detected in `{}`: the driver did not declare one (is the policy's auto_declare set, and does a `deliver` step measure unhealthy there?)",
                spec.environment
            ));
        };
        if record.cause != spec.cause {
            return Err(format!(
                "the driver declared `{}` suspecting {:?}; the scenario expects {:?}",
                record.id, record.cause, spec.cause
            ));
        }
        if record.impact_began.is_none() {
            return Err(format!(
                "the driver declared `{}` without saying since when the impact began",
                record.id
            ));
        }
        self.log.push(format!(
            "incident `{}` detected by the driver: {}",
            record.id, record.summary
        ));
        Ok(record.id.clone())
    }

    /// The way back to normal: the resolving plan chosen and driven under
    /// the same incident, the follow-ups it proves closed, the incident
    /// resolved.
    pub(super) fn resolve(&mut self, incident: &IncidentId, strategy: crate::model::Strategy) {
        self.now_minutes(5);
        if self.scenario.expect.resolve_up_front {
            // Chosen up front: the driver plans and chooses it itself.
            self.log.push(format!(
                "driving again: the {strategy} chosen up front follows"
            ));
        } else {
            let Some(plan) = self.plan(incident) else {
                return;
            };
            let chosen = match plan.choose(strategy, self.chooser.clone()) {
                Ok(command) => command,
                Err(e) => {
                    self.failures
                        .push(format!("resolving with {strategy} was refused: {e}"));
                    return;
                }
            };
            if let Err(e) = self.host(&chosen) {
                self.failures
                    .push(format!("resolving with {strategy} was refused: {e}"));
                return;
            }
            self.log.push(format!("chose {strategy} to resolve"));
        }
        if let Err(stop) = self.drive(incident) {
            self.failures.push(format!(
                "the resolving {strategy} did not finish: {}",
                stop.why
            ));
            return;
        }
        // Main fixed first, then resolved (which reopens the gate), then
        // the gate's follow-up: each closed only on what the history shows.
        self.close_follow_ups(incident, strategy, |k| {
            !matches!(
                k,
                crate::machine::FollowUpKind::LiftGate { .. }
                    | crate::machine::FollowUpKind::HoldRetro
            )
        });
        self.now_minutes(1);
        if let Err(e) = self.host(&Command::ResolveIncident {
            incident: incident.clone(),
            by: self.chooser.clone(),
        }) {
            self.failures
                .push(format!("not resolved after {strategy}: {e}"));
            return;
        }
        self.log.push("resolved".to_owned());
        self.close_follow_ups(incident, strategy, |k| {
            *k != crate::machine::FollowUpKind::HoldRetro
        });
    }

    /// Closes every open follow-up `which` picks; one the core refuses
    /// (its work is not in the history) fails the drill.
    fn close_follow_ups(
        &mut self,
        incident: &IncidentId,
        strategy: crate::model::Strategy,
        which: impl Fn(&crate::machine::FollowUpKind) -> bool,
    ) {
        let open: Vec<(String, String)> = self
            .driver
            .state()
            .incident(incident)
            .map(|r| {
                r.follow_ups
                    .iter()
                    .filter(|f| f.done_at.is_none() && which(&f.kind))
                    .map(|f| (f.kind.id(), f.kind.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        for (id, what) in open {
            match self.host(&Command::CloseFollowUp {
                incident: incident.clone(),
                follow_up: id,
                by: self.chooser.clone(),
            }) {
                Ok(_) => self.log.push(format!("follow-up done: {what}")),
                Err(e) => self.failures.push(format!(
                    "follow-up `{what}` is not done after {strategy}: {e}"
                )),
            }
        }
    }
}
