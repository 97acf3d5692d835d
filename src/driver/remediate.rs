//! Automatic remediation: when a production deployment fails its
//! verification and the environment's remediation policy allows it, the
//! driver chooses the best-ranked option the policy allows, within its
//! limits, drives it and marks the incident mitigated on its measurements;
//! otherwise it hands over, saying why.

use super::Driver;
use super::error::{DriveError, StepFailure};
use super::report::DriveReport;
use crate::machine::{Command, Slot};
use crate::model::{IncidentId, IncidentPhase};

impl Driver {
    /// After a shipment under `key` failed its verification in `slot`:
    /// when the policy declared an incident for it and remediates there,
    /// remediate, and say what happened in the failure's account.
    pub(super) async fn remediate_failure(
        &mut self,
        slot: &Slot,
        failed: DriveError,
    ) -> Result<DriveError, DriveError> {
        let DriveError::StepFailed {
            key,
            failure: StepFailure::Unhealthy(why),
        } = failed
        else {
            return Ok(failed);
        };
        let said = self.remediate_slot(slot, &why).await?;
        Ok(DriveError::StepFailed {
            key,
            failure: StepFailure::Unhealthy(match said {
                Some(said) => format!("{why}; {said}"),
                None => why,
            }),
        })
    }

    /// The remediation policy's turn on the incident declared for a failed
    /// verification in `slot`, if it has one: started, or carried on after
    /// a crash interrupted it (a shipment replayed under its key comes
    /// here too). `None` when there is nothing for it to do.
    pub(super) async fn remediate_slot(
        &mut self,
        slot: &Slot,
        evidence: &str,
    ) -> Result<Option<String>, DriveError> {
        let id = super::detect::detected_id(slot);
        let state = self.state();
        let Some(incident) = state.incident(&id) else {
            return Ok(None);
        };
        if !state
            .policy()
            .remediation
            .contains_key(&incident.environment)
        {
            return Ok(None);
        }
        let open = matches!(
            incident.phase,
            IncidentPhase::Detected | IncidentPhase::Mitigating
        );
        if open && state.remediated_by_policy(&id) {
            // Chosen by the policy before a crash: carried on.
            let strategy = incident
                .strategy
                .unwrap_or(crate::model::Strategy::Rollback);
            return self.carry_out(&id, strategy).await.map(Some);
        }
        if incident.phase != IncidentPhase::Detected {
            return Ok(None);
        }
        self.remediate(&id, evidence).await.map(Some)
    }

    /// The remediation policy's turn on incident `id`: what it did, or why
    /// it handed over, in words.
    async fn remediate(&mut self, id: &IncidentId, evidence: &str) -> Result<String, DriveError> {
        let now = self.now();
        let state = self.state();
        let Some(incident) = state.incident(id) else {
            return Ok(format!("incident `{id}` is not recorded"));
        };
        let env = incident.environment.clone();
        let Some(policy) = state.policy().remediation.get(&env).cloned() else {
            return Ok(format!("`{env}` has no remediation policy"));
        };
        let request = crate::recovery::PlanRequest::by(self.actor.clone())
            .clearance(crate::machine::remediation_clearance(&env, &policy));
        let plan =
            match crate::recovery::plan_for(state, id, now, &self.ports.capabilities(), &request) {
                Ok(plan) => plan,
                Err(e) => return Ok(format!("the remediation policy could not plan: {e}")),
            };
        let Some(option) = plan.options.iter().find(|o| {
            o.applicable && o.runbook.is_none() && policy.strategies.contains(&o.strategy)
        }) else {
            let top = plan
                .options
                .first()
                .map_or_else(|| "none".to_owned(), crate::recovery::RecoveryOption::name);
            return Ok(format!(
                "the remediation policy of `{env}` has no option it may take by itself (the planner ranks {top} first): a person chooses from the ranked plan"
            ));
        };
        let strategy = option.strategy;
        let command = Command::Remediate {
            incident: id.clone(),
            strategy,
            steps: option.steps.clone(),
            follow_ups: option.cost.follow_ups.clone(),
            explanation: format!(
                "chosen by the remediation policy of `{env}`: the best-ranked option it allows; {}",
                plan.explanation
            ),
            evidence: evidence.to_owned(),
            by: self.actor.clone(),
        };
        // The loop guard and the rest of the core's rules: refused, it
        // hands over.
        if let Err(refusal) = crate::machine::decide(self.state(), &command, now) {
            crate::trace::warning!(incident = %id, refusal = %refusal, "remediation handed over");
            return Ok(refusal.to_string());
        }
        self.execute(&command).await?;
        self.carry_out(id, strategy).await
    }

    /// Drives the plan the policy chose for incident `id` and marks the
    /// incident mitigated when the core accepts it (on the plan's
    /// measurements).
    async fn carry_out(
        &mut self,
        id: &IncidentId,
        strategy: crate::model::Strategy,
    ) -> Result<String, DriveError> {
        let env = self.state().incident(id).map_or_else(
            || crate::model::EnvironmentId::new("-"),
            |i| i.environment.clone(),
        );
        let report = match self.drive(id).await {
            Ok(report) => report,
            Err(DriveError::StepFailed { key, failure }) => {
                return Ok(format!(
                    "the remediation policy chose {strategy} for incident `{id}` and its step `{key}` failed ({failure}): a person takes over"
                ));
            }
            Err(other) => return Err(other),
        };
        if !matches!(report, DriveReport::Done { .. }) {
            return Ok(format!(
                "the remediation policy chose {strategy} for incident `{id}`, which waits: {report}"
            ));
        }
        let mitigate = Command::MarkMitigated {
            incident: id.clone(),
            by: self.actor.clone(),
        };
        match crate::machine::decide(self.state(), &mitigate, self.now()) {
            Ok(_) => {
                self.execute(&mitigate).await?;
                Ok(format!(
                    "the remediation policy of `{env}` chose {strategy} by itself and incident `{id}` is mitigated on its measurements"
                ))
            }
            Err(refusal) => Ok(format!(
                "the remediation policy chose {strategy} for incident `{id}` and drove it, but it is not mitigated: {refusal}"
            )),
        }
    }
}
