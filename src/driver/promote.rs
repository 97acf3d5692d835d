//! Promoting what a plan shipped: the release the plan verified in one
//! environment deployed on to another (production elsewhere running the
//! incident's cause), without building again.

use super::Driver;
use super::error::DriveError;
use super::report::DriveReport;
use crate::machine::Command;
use crate::model::{EnvironmentId, IncidentId, Lane, ServiceId};
use crate::recovery::IdempotencyKey;

impl Driver {
    /// Deploys the release incident `incident`'s plan shipped and verified
    /// in `from` along `lane` to `target`: each stage of the lane's path
    /// that does not serve it verified yet is rolled out under its own key
    /// and verified, so that resuming after a crash deploys nothing twice.
    /// The release is the core's answer (rule `promote-what-shipped`);
    /// nothing is built.
    pub(super) async fn promote(
        &mut self,
        incident: &IncidentId,
        key: &IdempotencyKey,
        (service, from): (&ServiceId, &EnvironmentId),
        (lane, fast_track): (Lane, bool),
        target: &EnvironmentId,
    ) -> Result<Result<String, DriveReport>, DriveError> {
        let release =
            match crate::machine::promoted_release(self.state(), incident, (service, from)) {
                Ok(release) => release,
                Err(refusal) => return Self::fail(key, refusal.to_string()),
            };
        if fast_track {
            let by = self.acting();
            self.execute(&crate::machine::fast_track_command(
                &release, target, lane, &by, incident,
            ))
            .await?;
        }
        let stages = crate::machine::promote_stages(
            self.state(),
            key,
            (service, &release),
            (lane, target, fast_track),
        );
        let mut deployed = Vec::with_capacity(stages.len());
        for env in stages {
            let sub_key = crate::machine::ship_key(key, &env);
            let command = Command::deploy(env.clone(), release.clone(), self.acting());
            if let Err(waiting) = self.roll_out(Some(incident), key, sub_key, command).await? {
                return Ok(Err(waiting));
            }
            self.verify(Some(incident), key, &env, service).await?;
            deployed.push(format!("`{env}`"));
        }
        Ok(Ok(if deployed.is_empty() {
            format!("`{release}` serves verified in `{target}` already")
        } else {
            format!(
                "`{release}`, verified in `{from}`, promoted to {} and verified there, not built again",
                deployed.join(", ")
            )
        }))
    }
}
