//! Detection without a person: a deployment measured unhealthy outside
//! any incident becomes one when the policy says so (its `auto_declare`,
//! or a remediation policy where it failed), and a crash between the
//! verdict and the declaration never loses it.

use super::Driver;
use super::error::DriveError;
use super::report::Shipped;
use crate::machine::{Command, Deployment, DeploymentStatus, Slot};
use crate::model::IncidentId;

impl Driver {
    /// Detection without a person: a production deployment measured
    /// unhealthy, outside any incident, becomes one when the policy says
    /// so (`auto_declare`), unless one is open there already. The failed
    /// verification is its evidence, the deployment its suspected cause,
    /// the suspects of the last day its summary's end, and the impact
    /// began when the deployment began to serve.
    pub(super) async fn detect(
        &mut self,
        slot: &Slot,
        deployment: &Deployment,
        evidence: &str,
    ) -> Result<Option<IncidentId>, DriveError> {
        let state = self.state();
        // Declared when the policy says so, or where it remediates.
        let remediates = state.policy().remediation.contains_key(&slot.environment);
        let Some(severity) = state
            .policy()
            .auto_declare
            .or_else(|| remediates.then_some(crate::model::Severity::Sev2))
        else {
            return Ok(None);
        };
        let production = state
            .pipeline()
            .and_then(|p| p.environment(&slot.environment))
            .is_some_and(crate::model::Environment::is_production);
        let open = state.incidents().any(|i| {
            i.environment == slot.environment
                && i.service == slot.service
                && matches!(
                    i.phase,
                    crate::model::IncidentPhase::Detected | crate::model::IncidentPhase::Mitigating
                )
        });
        let id = detected_id(slot);
        if !(production || remediates) || open || state.incident(&id).is_some() {
            return Ok(None);
        }
        let now = self.now();
        let suspects = crate::suspects::suspects(
            self.journal(),
            self.state(),
            &slot.environment,
            now,
            chrono::Duration::hours(24),
        );
        let named: Vec<String> = suspects.iter().take(3).map(ToString::to_string).collect();
        self.execute(&Command::DeclareIncident {
            incident: id.clone(),
            environment: slot.environment.clone(),
            service: slot.service.clone(),
            severity,
            cause: crate::model::SuspectedCause::Deployment { slot: slot.clone() },
            summary: format!(
                "verification of {slot} failed: {evidence}; suspects: {}",
                if named.is_empty() {
                    "none in the last day".to_owned()
                } else {
                    named.join("; ")
                }
            ),
            by: self.actor.clone(),
            impact_began: deployment.completed_at,
        })
        .await?;
        Ok(Some(id))
    }

    /// A shipment that ended failed, replayed: a crash between its verdict
    /// and the incident the policy declares for it must not lose the
    /// detection, so it is made now, while what failed still serves (a
    /// no-op when the incident exists or the policy does not declare).
    pub(super) async fn detect_missed(&mut self, replayed: Shipped) -> Result<Shipped, DriveError> {
        if let Shipped::Replayed {
            slot,
            status: DeploymentStatus::Failed,
            serving: Some(serving),
        } = &replayed
            && serving == slot
            && let Some(deployment) = self
                .state()
                .history(&slot.environment, &slot.service)
                .and_then(|h| h.get(slot.revision))
                .cloned()
        {
            let evidence = deployment.problem().unwrap_or_default().to_owned();
            self.detect(slot, &deployment, &evidence).await?;
        }
        Ok(replayed)
    }
}

/// The incident the driver declares for a failed verification in `slot`.
pub(super) fn detected_id(slot: &Slot) -> IncidentId {
    IncidentId::new(format!(
        "auto-{}-{}-r{}",
        slot.environment, slot.service, slot.revision.0
    ))
}
