//! Shipping: deployments requested, rolled out through the deployer,
//! checked against what it reports, and verified; a branch built and
//! promoted along its lane.

use super::Driver;
use super::calls::{Call, Produced};
use super::error::DriveError;
use super::report::{DriveReport, Shipped};
use crate::error::Rejection;
use crate::machine::{Command, Deployment, DeploymentStatus, EventKind, Slot, Verdict};
use crate::model::{
    Artifact, BranchName, CommitId, EnvironmentId, IncidentId, Lane, Release, ReleaseId, ServiceId,
};
use crate::recovery::IdempotencyKey;

impl Driver {
    /// The everyday path: deploys `release` to `environment` and verifies
    /// it there (request, start, roll out through the deployer, complete,
    /// check health, record the verdict), with every rule the core applies
    /// to a deployment (upstream verification, gates, freezes, approvals,
    /// poisoned changes). `key` names this shipment: use one per intent
    /// (a CI job's id, say); shipping again under the same key, after a
    /// crash or a wait for approvals, picks up where it stopped and never
    /// deploys twice, and once that shipment ended, answers
    /// [`Shipped::Replayed`] with how it ended and what serves now. An
    /// unhealthy verdict is recorded and stops with
    /// [`DriveError::StepFailed`].
    ///
    /// With [`Leases`](crate::Leases) among the ports, one replica at a
    /// time ships to an environment and service: the driver takes the
    /// lease on them ([`DriveError::ShipInProgress`] when another holds it:
    /// nothing is done), renews it before every port call
    /// ([`DriveError::ShipLeaseLost`] when it cannot) and lets go when it
    /// stops.
    pub async fn ship(
        &mut self,
        environment: &EnvironmentId,
        release: &ReleaseId,
        key: &IdempotencyKey,
    ) -> Result<Shipped, DriveError> {
        let Some(service) = self.state().release(release).map(|r| r.service.clone()) else {
            return Err(DriveError::Refused(Rejection::UnknownRelease {
                release: release.clone(),
            }));
        };
        let result = if let Some(replayed) = self.shipped_before(environment, &service, key) {
            self.detect_missed(replayed).await
        } else if self.ports.leases.is_none() {
            self.ship_held(environment, release, &service, key).await
        } else {
            self.take_ship_lease(environment, &service).await?;
            // Taking the lease read what another replica did meanwhile.
            let result = match self.shipped_before(environment, &service, key) {
                Some(replayed) => self.detect_missed(replayed).await,
                None => self.ship_held(environment, release, &service, key).await,
            };
            self.let_go_of_ship_lease().await;
            result
        };
        // A failed verification the policy declared an incident for: the
        // remediation policy's turn, if it has one there.
        match result {
            Err(failed @ DriveError::StepFailed { .. }) => {
                let opened = self
                    .state()
                    .history(environment, &service)
                    .and_then(|h| h.by_effect(key))
                    .map(|d| Slot::new(environment.clone(), service.clone(), d.revision));
                match opened {
                    Some(slot) => Err(self.remediate_failure(&slot, failed).await?),
                    None => Err(failed),
                }
            }
            // Replayed: a remediation a crash interrupted is carried on.
            Ok(Shipped::Replayed {
                slot,
                status,
                serving,
            }) if status != DeploymentStatus::KnownGood => {
                let evidence = self
                    .state()
                    .history(&slot.environment, &slot.service)
                    .and_then(|h| h.get(slot.revision))
                    .and_then(|d| d.problem().map(str::to_owned))
                    .unwrap_or_default();
                self.remediate_slot(&slot, &evidence).await?;
                Ok(Shipped::Replayed {
                    slot,
                    status,
                    serving,
                })
            }
            other => other,
        }
    }

    /// A shipment under `key` that already ended, as a replay.
    fn shipped_before(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        key: &IdempotencyKey,
    ) -> Option<Shipped> {
        let history = self.state().history(environment, service)?;
        let shipped = history.by_effect(key)?;
        let ended = !matches!(
            shipped.status,
            DeploymentStatus::Requested
                | DeploymentStatus::RollingOut
                | DeploymentStatus::Verifying
        );
        ended.then(|| Shipped::Replayed {
            slot: Slot::new(environment.clone(), service.clone(), shipped.revision),
            status: shipped.status,
            serving: history
                .current()
                .map(|d| Slot::new(environment.clone(), service.clone(), d.revision)),
        })
    }

    async fn ship_held(
        &mut self,
        environment: &EnvironmentId,
        release: &ReleaseId,
        service: &ServiceId,
        key: &IdempotencyKey,
    ) -> Result<Shipped, DriveError> {
        let command = Command::deploy(environment.clone(), release.clone(), self.actor.clone());
        let slot = match self.roll_out(None, key, key.clone(), command).await? {
            Ok(slot) => slot,
            Err(waiting) => return Ok(Shipped::Waiting(waiting)),
        };
        self.verify(None, key, environment, service).await?;
        Ok(Shipped::Verified { slot })
    }

    /// Requests (once), starts, rolls out through the deployer and
    /// completes one revision. Safe to repeat after a crash at any point.
    pub(super) async fn roll_out(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
        sub_key: IdempotencyKey,
        command: Command,
    ) -> Result<Result<Slot, DriveReport>, DriveError> {
        let (environment, service) = match &command {
            Command::Rollback {
                environment,
                service,
                ..
            } => (environment.clone(), service.clone()),
            Command::RequestDeployment {
                environment,
                release,
                ..
            } => {
                let Some(service) = self.state().release(release).map(|r| r.service.clone()) else {
                    return Self::fail(key, format!("release `{release}` is not registered"));
                };
                (environment.clone(), service)
            }
            _ => return Self::fail(key, "not a deployment"),
        };
        let existing = self
            .state()
            .history(&environment, &service)
            .and_then(|h| h.by_effect(&sub_key))
            .map(|d| d.revision);
        let revision = match existing {
            Some(r) => r,
            None => {
                let entries = self.execute(&command.for_effect(sub_key.clone())).await?;
                match entries.first().map(|e| &e.event.kind) {
                    Some(
                        EventKind::DeploymentRequested { slot, .. }
                        | EventKind::RollbackRequested { slot, .. },
                    ) => slot.revision,
                    _ => return Self::fail(key, "the core did not open a revision"),
                }
            }
        };
        let slot = Slot::new(environment.clone(), service.clone(), revision);
        if self.deployment_status(&slot) == Some(DeploymentStatus::Requested) {
            let start = Command::StartRollout { slot: slot.clone() };
            // Approvals come from people: wait for them, never fail on them.
            if let Err(crate::error::Rejection::ApprovalsMissing {
                have, need, role, ..
            }) = crate::machine::decide(self.state(), &start, self.ports.clock.now())
            {
                return Ok(Err(DriveReport::AwaitingApprovals {
                    key: key.clone(),
                    slot,
                    have,
                    need,
                    role,
                }));
            }
            self.execute(&start).await?;
        }
        if self.deployment_status(&slot) == Some(DeploymentStatus::RollingOut) {
            let (release, artifact) = self.release_of(key, &slot)?;
            let expected = release.id.clone();
            let call = Call::Deploy(environment.clone(), Box::new(release), Box::new(artifact));
            match self.call(incident, key, sub_key, call).await {
                Ok(_) => {}
                Err(DriveError::StepFailed { key, failure }) => {
                    // The deployer refused: nothing rolled out. Close the
                    // revision so that it does not block the next plan.
                    self.execute(&Command::AbortRollout {
                        slot: slot.clone(),
                        by: self.acting(),
                        reason: format!("the deployer refused it: {failure}"),
                    })
                    .await?;
                    return Err(DriveError::StepFailed { key, failure });
                }
                Err(other) => return Err(other),
            }
            // Reconcile with what the deployer really serves before the
            // ledger says the rollout completed.
            let found = match self.ports.deployer.status(&environment, &service).await {
                Ok(found) => found,
                Err(e) => return Self::port_read(key, "deployer", e),
            };
            if found.as_ref() != Some(&expected) {
                return Err(DriveError::Diverged {
                    key: key.clone(),
                    environment,
                    service,
                    expected,
                    found,
                });
            }
            self.execute(&Command::CompleteRollout { slot: slot.clone() })
                .await?;
        }
        Ok(Ok(slot))
    }

    pub(super) fn deployment_status(&self, slot: &Slot) -> Option<DeploymentStatus> {
        Some(
            self.state()
                .history(&slot.environment, &slot.service)?
                .get(slot.revision)?
                .status,
        )
    }

    pub(super) fn release_of(
        &self,
        key: &IdempotencyKey,
        slot: &Slot,
    ) -> Result<(Release, Artifact), DriveError> {
        let found = self
            .state()
            .history(&slot.environment, &slot.service)
            .and_then(|h| h.get(slot.revision))
            .and_then(|d| self.state().release(&d.release))
            .and_then(|r| Some((r.clone(), self.state().artifact(&r.artifact)?.clone())));
        match found {
            Some(pair) => Ok(pair),
            None => Self::fail(key, format!("the release of {slot} is not registered")),
        }
    }

    /// Checks health of what serves `service` in `environment` and records
    /// the verdict on a revision still verifying.
    pub(super) async fn verify(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<String, DriveError> {
        let Some(current) = self
            .state()
            .history(environment, service)
            .and_then(|h| h.current())
            .cloned()
        else {
            return Self::fail(
                key,
                format!("nothing of `{service}` serves in `{environment}`"),
            );
        };
        let slot = Slot::new(environment.clone(), service.clone(), current.revision);
        crate::trace::info!(port = "health probe", key = %key, slot = %slot, release = %current.release, "measuring");
        // What the measurement is for. Nothing is verified without
        // looking: a revision known good already is measured again all the
        // same, and the measurement is the step's evidence.
        let record = match current.status {
            // Verified by this plan's own step before a crash: measured
            // again, and said as the first run said it.
            DeploymentStatus::KnownGood if self.rolled_out_by_plan(incident, &current) => {
                Measuring::VerifiedBefore
            }
            DeploymentStatus::KnownGood => Measuring::KnownBefore,
            DeploymentStatus::Verifying => Measuring::Record,
            // A revision this plan rolled out and found unhealthy (before a
            // crash, say) stays a failed step.
            DeploymentStatus::Failed if self.rolled_out_by_plan(incident, &current) => {
                return Self::unhealthy(key, format!("{slot} failed its verification"));
            }
            // A failed revision stays failed; after a change around it (a
            // flag turned off) only the service's health is checked.
            DeploymentStatus::Failed => Measuring::ServiceOnly,
            other => return Self::fail(key, format!("{slot} is {other}")),
        };
        // A new revision is judged against the known-good release it
        // replaced (a canary against its baseline), when there is one.
        let baseline = if matches!(record, Measuring::Record) {
            self.state()
                .history(environment, service)
                .and_then(|h| h.reinstatable_before(current.revision))
                .map(|d| d.release.clone())
                .filter(|b| *b != current.release)
        } else {
            None
        };
        let probe = &self.ports.health;
        let answer = match &baseline {
            Some(baseline) => {
                probe
                    .verify_against(environment, service, &current.release, baseline)
                    .await
            }
            None => probe.verify(environment, service, &current.release).await,
        };
        let health = match answer {
            Ok(h) => h,
            Err(e) => return Self::port_read(key, "health probe", e),
        };
        match record {
            Measuring::KnownBefore if health.healthy => {
                return Ok(format!(
                    "{slot} is known good, measured healthy now: {}",
                    health.detail
                ));
            }
            Measuring::KnownBefore => {
                return Self::unhealthy(
                    key,
                    format!(
                        "{slot} was known good but measures unhealthy now: {}",
                        health.detail
                    ),
                );
            }
            Measuring::VerifiedBefore if health.healthy => {
                return Ok(format!("{slot} verified: {}", health.detail));
            }
            Measuring::VerifiedBefore => {
                return Self::unhealthy(key, format!("{slot} is unhealthy now: {}", health.detail));
            }
            Measuring::ServiceOnly if health.healthy => {
                return Ok(format!(
                    "`{service}` is healthy in `{environment}` ({}); {slot} stays failed",
                    health.detail
                ));
            }
            Measuring::ServiceOnly => {
                return Self::unhealthy(
                    key,
                    format!(
                        "`{service}` is still unhealthy in `{environment}`: {}",
                        health.detail
                    ),
                );
            }
            Measuring::Record => {}
        }
        let verdict = if health.healthy {
            Verdict::Healthy
        } else {
            Verdict::Unhealthy {
                reason: health.detail.clone(),
            }
        };
        self.execute(&Command::RecordVerification {
            slot: slot.clone(),
            verdict,
            by: self.actor.clone(),
            evidence: health.healthy.then(|| health.detail.clone()),
        })
        .await?;
        if health.healthy {
            return Ok(format!("{slot} verified: {}", health.detail));
        }
        let declared = match incident {
            Some(_) => None,
            None => self.detect(&slot, &current, &health.detail).await?,
        };
        Self::unhealthy(
            key,
            format!(
                "{slot} is unhealthy: {}{}",
                health.detail,
                declared
                    .map(|id| format!("; incident `{id}` declared by the policy"))
                    .unwrap_or_default()
            ),
        )
    }

    /// Whether a step of the incident's current plan opened `deployment`.
    pub(super) fn rolled_out_by_plan(
        &self,
        incident: Option<&IncidentId>,
        deployment: &Deployment,
    ) -> bool {
        let (Some(effect), Some(record)) = (
            &deployment.effect,
            incident.and_then(|i| self.state().incident(i)),
        ) else {
            return false;
        };
        record
            .steps
            .iter()
            .any(|s| crate::machine::opened_for(&s.key, effect))
    }

    /// Builds the head of `branch` and promotes it along `lane` to
    /// `target`, verifying at every stage.
    pub(super) async fn ship_branch(
        &mut self,
        incident: &IncidentId,
        key: &IdempotencyKey,
        (service, branch): (&ServiceId, &BranchName),
        (lane, fast_track): (Lane, bool),
        target: &EnvironmentId,
    ) -> Result<Result<String, DriveReport>, DriveError> {
        let Some(head) = self.state().branch(service, branch).cloned() else {
            return Self::fail(key, format!("the head of `{branch}` is not recorded"));
        };
        // What ships is what was planned: before building, the branch is
        // checked against the head the plan was chosen on. Something live
        // added since stops for a person; changes kept dark go on, said.
        let path = self
            .state()
            .pipeline()
            .map(|p| p.ship_path(target, lane, fast_track))
            .unwrap_or_default();
        let added = match self.built_by_step(key, service, &path) {
            Some(_) => None,
            None => self
                .state()
                .unplanned_at(incident, (service, branch), &head, target)
                .filter(|a| !a.is_empty()),
        };
        if let Some(additions) = added.as_ref().filter(|a| a.needs_person()) {
            crate::trace::warning!(key = %key, additions = %additions, "the plan's branch moved");
            return Ok(Err(DriveReport::Outgrown {
                key: key.clone(),
                additions: Box::new(additions.clone()),
            }));
        }
        let build_key = IdempotencyKey::new(format!("{key}#build"));
        let Produced::Built(manifest) = self
            .call(
                Some(incident),
                key,
                build_key,
                Call::Build(service.clone(), head.clone()),
            )
            .await?
        else {
            return Self::fail(
                key,
                "the builder answered with something other than a build manifest",
            );
        };
        let release_id = self
            .register_build(key, (service, &head), &manifest)
            .await?;
        if fast_track {
            let by = self.acting();
            self.execute(&crate::machine::fast_track_command(
                &release_id,
                target,
                lane,
                &by,
                incident,
            ))
            .await?;
        }
        for env in path {
            let sub_key = crate::machine::ship_key(key, &env);
            let command = Command::deploy(env.clone(), release_id.clone(), self.acting());
            if let Err(waiting) = self.roll_out(Some(incident), key, sub_key, command).await? {
                return Ok(Err(waiting));
            }
            self.verify(Some(incident), key, &env, service).await?;
        }
        let skipped = self
            .state()
            .pipeline()
            .map(|p| p.fast_track_skips(target, lane))
            .filter(|_| fast_track)
            .unwrap_or_default();
        let done = if skipped.is_empty() {
            format!("`{release_id}` built from `{head}` and verified up to `{target}`")
        } else {
            let skipped: Vec<String> = skipped.iter().map(|e| format!("`{e}`")).collect();
            format!(
                "`{release_id}` built from `{head}`, fast-tracked past {} and verified up to `{target}`",
                skipped.join(", ")
            )
        };
        Ok(Ok(match added {
            Some(additions) => format!("{done}; {additions}"),
            None => done,
        }))
    }

    /// Registers what the builder says it built for `head` of `service`:
    /// its artifact, and the release the manifest describes (configuration,
    /// schema versions, requirements), so that the core judges what was
    /// really built. A manifest for another service or another commit
    /// fails the step: nothing of it is recorded.
    pub(super) async fn register_build(
        &mut self,
        key: &IdempotencyKey,
        (service, head): (&ServiceId, &CommitId),
        manifest: &crate::port::BuildManifest,
    ) -> Result<ReleaseId, DriveError> {
        let artifact = &manifest.artifact;
        if artifact.service != *service || artifact.source_commit != *head {
            return Self::fail(
                key,
                format!(
                    "the builder was asked for `{head}` of `{service}` and answered a build of `{}` of `{}`: nothing of it is recorded",
                    artifact.source_commit, artifact.service
                ),
            );
        }
        self.execute(&Command::RegisterArtifact {
            artifact: artifact.clone(),
        })
        .await?;
        let release = manifest.release();
        let id = release.id.clone();
        self.execute(&Command::RegisterRelease { release }).await?;
        Ok(id)
    }

    /// The source commit of what step `key` built already, when a stage of
    /// it along `path` was opened (before a crash, say): that build is what
    /// ships.
    fn built_by_step(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        path: &[EnvironmentId],
    ) -> Option<CommitId> {
        let state = self.state();
        path.iter().find_map(|env| {
            state
                .history(env, service)?
                .by_effect(&crate::machine::ship_key(key, env))
                .and_then(|d| state.release(&d.release))
                .and_then(|r| state.artifact(&r.artifact))
                .map(|a| a.source_commit.clone())
        })
    }
}

/// What a Verify step measures health for.
enum Measuring {
    /// The revision was known good before this step (a flag turned off on
    /// it, an abort back to it).
    KnownBefore,
    /// This plan verified it before a crash: said as the first run said it.
    VerifiedBefore,
    /// It is verifying: the measurement is its verdict, recorded.
    Record,
    /// A failed revision stays failed; only the service's health is asked.
    ServiceOnly,
}
