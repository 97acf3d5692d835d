//! Everyday delivery: one call takes a build along its lane to every
//! production environment, stage by stage, each verified, baked and then
//! promoted, keeping the hotfix lane after each production deployment.

use super::Driver;
use super::error::DriveError;
use super::report::{Delivered, DeliveryWait, DriveReport, Shipped};
use crate::error::Rejection;
use crate::machine::{DeploymentStatus, Slot};
use crate::model::{CommitId, EnvironmentId, Lane, ReleaseId, ServiceId};
use crate::recovery::IdempotencyKey;

impl Driver {
    /// Builds `commit` of `service` through the builder port, once under
    /// `key`, and registers what the build's manifest says it made: the
    /// artifact and its release ([`BuildManifest::release`](crate::port::BuildManifest::release)).
    /// Answers the release's name.
    ///
    /// Call it again with the same key (after a crash, a timeout): the
    /// builder is asked what it built under the key first and nothing is
    /// built twice; a build registered already is answered as it is.
    ///
    /// # Errors
    ///
    /// [`DriveError::StepFailed`] when the builder fails or answers a build
    /// of another commit or service (nothing of it is recorded);
    /// [`DriveError::Refused`] when the core refuses the artifact or the
    /// release (an untrusted builder, a digest registered for another
    /// build); [`DriveError::Journal`] when the store fails.
    pub async fn build(
        &mut self,
        service: &ServiceId,
        commit: &CommitId,
        key: &IdempotencyKey,
    ) -> Result<ReleaseId, DriveError> {
        let build_key = IdempotencyKey::new(format!("{key}#build"));
        let super::calls::Produced::Built(manifest) = self
            .call(
                None,
                key,
                build_key,
                super::calls::Call::Build(service.clone(), commit.clone()),
            )
            .await?
        else {
            return Self::fail(
                key,
                "the builder answered with something other than a build manifest",
            );
        };
        self.register_build(key, (service, commit), &manifest).await
    }

    /// Delivers `release` along `lane` to every production environment
    /// the lane leads into ([`Pipeline::delivery_path`](crate::Pipeline::delivery_path)):
    /// each stage deployed and verified (through the health probe, the
    /// analysis when it is one) under its own key (`<key>@<environment>`,
    /// [`Driver::ship`]'s rules: leases, approvals, gates, freezes,
    /// poisoned changes), held there for the policy's bake time before the
    /// next (rule `bake-time`), production environments fed by another in
    /// the later wave; after each production deployment the hotfix lane is
    /// kept ([`Driver::keep_hotfix_lane`]). A stage the release already
    /// passed (verified there before; for production, serving verified) is
    /// not deployed again.
    ///
    /// Call it again with the same key at any time: after a crash, once
    /// approvals are recorded, once the bake time has passed; it picks up
    /// where it stopped and never deploys a stage twice. It answers what
    /// is verified and what it waits for ([`Delivered`]); a stage measured
    /// unhealthy stops it with [`DriveError::StepFailed`] (and, in
    /// production, the incident the policy's `auto_declare` declares), and
    /// later calls answer [`Delivered::Stopped`] without promoting further.
    pub async fn deliver(
        &mut self,
        release: &ReleaseId,
        lane: Lane,
        key: &IdempotencyKey,
    ) -> Result<Delivered, DriveError> {
        let Some((service, artifact)) = self
            .state()
            .release(release)
            .map(|r| (r.service.clone(), r.artifact.clone()))
        else {
            return Err(DriveError::Refused(Rejection::UnknownRelease {
                release: release.clone(),
            }));
        };
        let Some(pipeline) = self.state().pipeline().cloned() else {
            return Err(DriveError::Refused(Rejection::NoPipeline));
        };
        let mut verified: Vec<Slot> = Vec::new();
        let mut lane_kept: Vec<IdempotencyKey> = Vec::new();
        for env in pipeline.delivery_path(lane) {
            let production = pipeline
                .environment(&env)
                .is_some_and(crate::model::Environment::is_production);
            let stage_key = crate::machine::ship_key(key, &env);
            if let Some(slot) = self.passed(&env, release, &artifact, production, &stage_key) {
                verified.push(slot);
            } else {
                match self.ship(&env, release, &stage_key).await {
                    Ok(Shipped::Verified { slot }) => verified.push(slot),
                    Ok(Shipped::Replayed { slot, status, .. })
                        if status == DeploymentStatus::KnownGood
                            || status == DeploymentStatus::Superseded =>
                    {
                        verified.push(slot);
                    }
                    Ok(Shipped::Replayed { slot, status, .. }) => {
                        return Ok(Delivered::Stopped {
                            verified,
                            slot,
                            status,
                        });
                    }
                    Ok(Shipped::Waiting(waiting)) => {
                        return Ok(Delivered::Waiting {
                            verified,
                            waiting: DeliveryWait::Approvals(waiting),
                        });
                    }
                    Err(DriveError::Refused(Rejection::StillBaking {
                        environment,
                        target,
                        ready_at,
                        ..
                    })) => {
                        return Ok(Delivered::Waiting {
                            verified,
                            waiting: DeliveryWait::Baking {
                                environment,
                                target,
                                ready_at,
                            },
                        });
                    }
                    Err(other) => return Err(other),
                }
            }
            if production {
                match self.keep_hotfix_lane(&env, &service).await? {
                    DriveReport::Done { steps } => lane_kept.extend(steps),
                    waiting => {
                        return Ok(Delivered::Waiting {
                            verified,
                            waiting: DeliveryWait::Approvals(waiting),
                        });
                    }
                }
            }
        }
        Ok(Delivered::Done {
            verified,
            lane_kept,
        })
    }

    /// The revision through which `release` passed `env` already, when it
    /// did: a production environment must serve it verified; a stage before
    /// production, have verified it once. A stage this delivery opened is
    /// not passed until its own shipment says so.
    fn passed(
        &self,
        env: &EnvironmentId,
        release: &ReleaseId,
        artifact: &crate::model::Digest,
        production: bool,
        stage_key: &IdempotencyKey,
    ) -> Option<Slot> {
        let state = self.state();
        let service = &state.release(release)?.service;
        let history = state.history(env, service)?;
        if history.by_effect(stage_key).is_some() {
            return None;
        }
        let slot =
            |d: &crate::machine::Deployment| Slot::new(env.clone(), service.clone(), d.revision);
        let current = history.current()?;
        if current.release == *release && current.status == DeploymentStatus::KnownGood {
            return Some(slot(current));
        }
        if production || !state.environment(env)?.has_verified(artifact) {
            return None;
        }
        history
            .deployments()
            .rev()
            .find(|d| {
                d.was_verified()
                    && state
                        .release(&d.release)
                        .is_some_and(|r| r.artifact == *artifact)
            })
            .map(slot)
    }
}
