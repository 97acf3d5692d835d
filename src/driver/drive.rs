//! The drive loop: the chosen plan's steps, in order, from wherever the
//! journal says they stand, each one performed and its outcome recorded.

use super::Driver;
use super::calls::{Call, Produced};
use super::error::{DriveError, StepFailure};
use super::report::DriveReport;
use crate::error::Rejection;
use crate::machine::{Command, DeploymentStatus, LifecycleStep, Rework, Slot};
use crate::model::IncidentId;
use crate::port::{AdapterError, LeaseAnswer};
use crate::recovery::{Effect, EffectAction, EffectOutcome, EffectStatus, IdempotencyKey};

impl Driver {
    /// Carries out the steps of the strategy chosen for `incident`, in
    /// order, from wherever the journal says they stand.
    ///
    /// With [`Leases`](crate::Leases) among the ports, the driver first
    /// takes the lease on the incident ([`DriveError::LeaseHeld`] when
    /// another replica holds it: nothing is done), reads what the store
    /// holds when the lease changed hands, renews it before every step
    /// ([`DriveError::LeaseLost`] when it cannot: it stops before acting),
    /// and lets go of it when it stops, however it stops.
    pub async fn drive(&mut self, incident: &IncidentId) -> Result<DriveReport, DriveError> {
        if self.ports.leases.is_none() {
            return self.drive_plan(incident).await;
        }
        let scope = format!("incident/{incident}");
        match self.hold_lease(&scope).await? {
            LeaseAnswer::Granted { .. } => {}
            LeaseAnswer::Held { holder, remaining } => {
                return Err(DriveError::LeaseHeld {
                    incident: incident.clone(),
                    holder,
                    remaining,
                });
            }
        }
        let result = self.drive_plan(incident).await;
        self.release_lease().await;
        result
    }

    /// Drives the plan as the person who chose it (see `acting_for`);
    /// then, when a resolution was chosen up front and the incident is
    /// mitigated, plans and chooses it as that person and drives it too.
    async fn drive_plan(&mut self, incident: &IncidentId) -> Result<DriveReport, DriveError> {
        loop {
            self.acting_for = self.state().incident(incident).map(|r| {
                (
                    r.chosen_by.clone().unwrap_or_else(|| self.actor.clone()),
                    r.clearance.clone(),
                )
            });
            let result = self.drive_steps(incident).await;
            let next = match &result {
                Ok(DriveReport::Done { steps }) => self.resolution_due(incident, steps),
                _ => None,
            };
            match next {
                Some(Ok(())) => {
                    if let Err(e) = self.choose_resolution(incident).await {
                        self.acting_for = None;
                        return Err(e);
                    }
                }
                Some(Err(waiting)) => {
                    self.acting_for = None;
                    return Ok(waiting);
                }
                None => {
                    self.acting_for = None;
                    return result;
                }
            }
        }
    }

    /// After a plan's steps are done: `Some(Ok)` when a resolution chosen
    /// up front is due now (the incident is mitigated), `Some(Err)` with
    /// what to do when it waits for the mitigation, `None` otherwise.
    fn resolution_due(
        &self,
        incident: &IncidentId,
        steps: &[IdempotencyKey],
    ) -> Option<Result<(), DriveReport>> {
        let record = self.state().incident(incident)?;
        let then = record.resolve_with?;
        if record.phase == crate::model::IncidentPhase::Mitigated {
            return Some(Ok(()));
        }
        Some(Err(DriveReport::AwaitingMitigation {
            steps: steps.to_vec(),
            then,
        }))
    }

    /// Plans the resolution chosen up front as the current plan's chooser
    /// with their clearance, and chooses it: the core judges the choice.
    async fn choose_resolution(&mut self, incident: &IncidentId) -> Result<(), DriveError> {
        let Some(record) = self.state().incident(incident) else {
            return Err(DriveError::Refused(Rejection::UnknownIncident {
                incident: incident.clone(),
            }));
        };
        let Some(then) = record.resolve_with else {
            return Ok(());
        };
        let by = record
            .chosen_by
            .clone()
            .unwrap_or_else(|| self.actor.clone());
        let request =
            crate::recovery::PlanRequest::by(by.clone()).clearance(record.clearance.clone());
        let plan = crate::recovery::plan_for(
            self.state(),
            incident,
            self.now(),
            &self.ports.capabilities(),
            &request,
        )?;
        let command = plan.choose(then, by)?;
        crate::trace::info!(incident = %incident, strategy = %then, "choosing the resolution chosen up front");
        self.execute(&command).await?;
        Ok(())
    }

    async fn drive_steps(&mut self, incident: &IncidentId) -> Result<DriveReport, DriveError> {
        let record = self
            .state()
            .incident(incident)
            .ok_or_else(|| Rejection::UnknownIncident {
                incident: incident.clone(),
            })?;
        if record.steps.is_empty() {
            return Err(DriveError::NothingChosen(incident.clone()));
        }
        let steps = record.steps.clone();
        crate::trace::info!(
            incident = %incident,
            strategy = ?record.strategy,
            steps = steps.len(),
            "driving the chosen plan"
        );
        for step in &steps {
            self.keep_lease(Some(incident), &step.key).await?;
            let status = self.status(incident, &step.key);
            match status {
                EffectStatus::Succeeded => continue,
                EffectStatus::Failed => {
                    return Err(DriveError::StepFailed {
                        key: step.key.clone(),
                        failure: StepFailure::FailedEarlier,
                    });
                }
                _ => {}
            }
            let can_go_down = self
                .ports
                .migrator
                .as_ref()
                .is_some_and(|m| m.capabilities().down);
            if let Some(instruction) = host_step(&step.action, can_go_down) {
                crate::trace::info!(key = %step.key, instruction = %instruction, "step paused for a person");
                return Ok(DriveReport::Paused {
                    key: step.key.clone(),
                    instruction,
                });
            }
            if matches!(status, EffectStatus::Pending | EffectStatus::NotHappened) {
                self.record(Some(incident), &step.key, EffectOutcome::Started)
                    .await?;
            }
            crate::trace::info!(key = %step.key, action = %step.action, "step started");
            match self.perform(incident, step).await {
                Ok(Ok(detail)) => {
                    crate::trace::info!(key = %step.key, detail = %detail, "step done");
                    self.record(
                        Some(incident),
                        &step.key,
                        EffectOutcome::Succeeded { detail },
                    )
                    .await?;
                }
                Ok(Err(waiting)) => {
                    crate::trace::info!(key = %step.key, waiting = %waiting, "step waiting");
                    return Ok(waiting);
                }
                Err(DriveError::StepFailed { key, failure }) => {
                    crate::trace::warning!(key = %key, failure = %failure, "step failed");
                    // Never hidden: the failure is journaled before the
                    // driver stops.
                    self.record(
                        Some(incident),
                        &step.key,
                        EffectOutcome::Failed {
                            error: failure.to_string(),
                        },
                    )
                    .await?;
                    return Err(DriveError::StepFailed { key, failure });
                }
                Err(other) => return Err(other),
            }
        }
        Ok(DriveReport::Done {
            steps: steps.into_iter().map(|s| s.key).collect(),
        })
    }

    pub(super) fn status(&self, incident: &IncidentId, key: &IdempotencyKey) -> EffectStatus {
        self.state()
            .incident(incident)
            .and_then(|i| i.effects.get(key).copied())
            .unwrap_or(EffectStatus::Pending)
    }

    pub(super) async fn record(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
        outcome: EffectOutcome,
    ) -> Result<(), DriveError> {
        // Upkeep outside an incident leaves no effect outcomes: its
        // progress is the commands it executes.
        let Some(incident) = incident else {
            return Ok(());
        };
        self.execute(&Command::RecordEffect {
            incident: incident.clone(),
            key: key.clone(),
            outcome,
            by: Some(self.actor.clone()),
        })
        .await
        .map(drop)
    }

    /// A step that cannot go on because the ledger (or a port's answer)
    /// lacks what it needs.
    pub(super) fn fail<T>(key: &IdempotencyKey, why: impl Into<String>) -> Result<T, DriveError> {
        Err(DriveError::StepFailed {
            key: key.clone(),
            failure: StepFailure::Precondition(why.into()),
        })
    }

    pub(super) fn unhealthy<T>(key: &IdempotencyKey, why: String) -> Result<T, DriveError> {
        Err(DriveError::StepFailed {
            key: key.clone(),
            failure: StepFailure::Unhealthy(why),
        })
    }

    /// A port's error on a read the step needs: worth another drive when
    /// the port may come back, the step's failure otherwise.
    pub(super) fn port_read<T>(
        key: &IdempotencyKey,
        port: &'static str,
        error: AdapterError,
    ) -> Result<T, DriveError> {
        if error.needs_reconciling() {
            Err(DriveError::Unresolved {
                key: key.clone(),
                port,
                error,
            })
        } else {
            Err(DriveError::StepFailed {
                key: key.clone(),
                failure: StepFailure::Port { port, error },
            })
        }
    }

    /// Runs one step; `Ok(Err(report))` means it must wait (for a person,
    /// work in flight or approvals) and says for what.
    pub(super) async fn perform(
        &mut self,
        incident: &IncidentId,
        step: &Effect,
    ) -> Result<Result<String, DriveReport>, DriveError> {
        let key = &step.key;
        let wait = || {
            Err(DriveReport::Paused {
                key: key.clone(),
                instruction: step.action.to_string(),
            })
        };
        match &step.action {
            EffectAction::SetFlag {
                environment,
                flag,
                state,
            } => {
                let revision = self
                    .set_flag(Some(incident), key, (environment, flag, state))
                    .await?;
                Ok(Ok(format!(
                    "flag `{flag}` is {state} in `{environment}` (revision {revision})"
                )))
            }
            EffectAction::Rollback {
                environment,
                service,
                to,
                ..
            } => {
                let command = Command::rollback_to(
                    environment.clone(),
                    service.clone(),
                    *to,
                    self.acting(),
                    format!("incident {incident}"),
                );
                match self
                    .roll_out(Some(incident), key, key.clone(), command)
                    .await?
                {
                    Ok(slot) => Ok(Ok(format!("{slot} rolled out"))),
                    Err(waiting) => Ok(Err(waiting)),
                }
            }
            EffectAction::Abort {
                environment,
                service,
                revision,
            } => {
                let slot = Slot::new(environment.clone(), service.clone(), *revision);
                // Only a revision the lifecycle still lets abort is stopped:
                // after a crash the abort may be recorded already.
                if self
                    .deployment_status(&slot)
                    .is_some_and(|status| status.after(LifecycleStep::Abort).is_some())
                {
                    let abort = Command::AbortRollout {
                        slot: slot.clone(),
                        by: self.acting(),
                        reason: format!("incident {incident}"),
                    };
                    // What serves once it is aborted, as the core says.
                    let expected = crate::machine::rehearse(self.state(), &abort, self.now())
                        .ok()
                        .and_then(|after| {
                            after
                                .state
                                .history(environment, service)
                                .and_then(|h| h.current())
                                .map(|d| d.release.clone())
                        });
                    let call = Call::Abort(environment.clone(), service.clone());
                    self.call(Some(incident), key, key.clone(), call).await?;
                    // Reconciled with what the deployer really serves before
                    // the ledger says the old revision serves again, as a
                    // deploy is: an abort that did nothing leaves the bad
                    // build serving.
                    if let Some(expected) = expected {
                        let found = match self.ports.deployer.status(environment, service).await {
                            Ok(found) => found,
                            Err(e) => return Self::port_read(key, "deployer", e),
                        };
                        if found.as_ref() != Some(&expected) {
                            return Err(DriveError::Diverged {
                                key: key.clone(),
                                environment: environment.clone(),
                                service: service.clone(),
                                expected,
                                found,
                            });
                        }
                    }
                    self.execute(&abort).await?;
                }
                Ok(Ok(format!("{slot} aborted")))
            }
            EffectAction::Verify {
                environment,
                service,
            } => self
                .verify(Some(incident), key, environment, service)
                .await
                .map(Ok),
            EffectAction::RevertChange {
                service,
                change,
                onto,
            }
            | EffectAction::ReapplyChange {
                service,
                change,
                onto,
            } => {
                let original = self.known_change(key, change)?;
                let moved = self.branch_move(key, service, onto)?;
                let commits = original.commits.clone();
                let (rework, call) = if matches!(step.action, EffectAction::RevertChange { .. }) {
                    (Rework::Revert, Call::Revert(moved, commits))
                } else {
                    (Rework::Reapply, Call::Pick(moved, commits))
                };
                let landed = self.commit_call(Some(incident), key, call).await?;
                let commit = landed.commit.clone();
                let new = rework.change(
                    &original,
                    commit.clone(),
                    self.acting(),
                    self.ports.clock.now(),
                );
                self.land(key, service, onto, &landed, Some(new)).await?;
                if rework == Rework::Reapply {
                    // Its follow-up closes on the history, not on the
                    // step's word: the core checks the change is on main.
                    self.complete_follow_up_where(incident, |kind| {
                        matches!(kind, crate::machine::FollowUpKind::ReapplyChange { change: c } if c == change)
                    })
                    .await?;
                }
                Ok(Ok(format!(
                    "`{change}` {} as `{commit}` on `{onto}`",
                    rework.done()
                )))
            }
            EffectAction::CutBranch {
                service,
                branch,
                at,
            } => self
                .cut_branch(Some(incident), key, (service, branch, at))
                .await
                .map(Ok),
            EffectAction::Mirror {
                environment,
                service,
                release,
            } => {
                self.mirror(Some(incident), key, (environment, service, release))
                    .await
            }
            EffectAction::MergeBack {
                service,
                from,
                onto,
            } => {
                let Some(head) = self.state().branch(service, from).cloned() else {
                    return Self::fail(key, format!("the head of `{from}` is not recorded"));
                };
                let moved = self.branch_move(key, service, onto)?;
                let landed = self
                    .commit_call(Some(incident), key, Call::Merge(moved, head))
                    .await?;
                self.land(key, service, onto, &landed, None).await?;
                self.complete_merge_back(incident, key, service, from, onto)
                    .await?;
                Ok(Ok(format!(
                    "`{from}` merged back into `{onto}` as `{}`",
                    landed.commit
                )))
            }
            EffectAction::Tag {
                service,
                branch,
                tag,
            } => {
                let Some(head) = self.state().branch(service, branch).cloned() else {
                    return Self::fail(key, format!("the head of `{branch}` is not recorded"));
                };
                let call = Call::Tag(service.clone(), head.clone(), tag.clone());
                self.commit_call(Some(incident), key, call).await?;
                Ok(Ok(format!("`{head}` tagged `{tag}`")))
            }
            EffectAction::Ship {
                service,
                branch,
                lane,
                environment,
                fast_track,
            } => {
                self.ship_branch(
                    incident,
                    key,
                    (service, branch),
                    (*lane, *fast_track),
                    environment,
                )
                .await
            }
            EffectAction::Promote {
                service,
                from,
                lane,
                environment,
                fast_track,
            } => {
                self.promote(
                    incident,
                    key,
                    (service, from),
                    (*lane, *fast_track),
                    environment,
                )
                .await
            }
            EffectAction::WaitFor { environment, .. } => {
                let passed = self
                    .state()
                    .incident(incident)
                    .and_then(|i| self.state().history(environment, &i.service))
                    .and_then(|h| h.latest())
                    .is_some_and(|d| {
                        matches!(
                            d.status,
                            DeploymentStatus::KnownGood | DeploymentStatus::Superseded
                        )
                    });
                Ok(if passed {
                    Ok(format!("the work in `{environment}` passed"))
                } else {
                    wait()
                })
            }
            // With a migrator that goes down, the driver runs it; `drive`
            // pauses for a person before it otherwise.
            EffectAction::MigrateDown {
                environment,
                service,
                to,
            } => {
                let down =
                    self.state()
                        .down_migration(environment, service, *to, format!("down-{key}"));
                let done = self
                    .migrate_down(incident, key, (environment, service), &down)
                    .await?;
                Ok(Ok(done))
            }
            EffectAction::RunRunbook {
                runbook,
                environment,
                service,
            } => {
                let Some(definition) = self.state().runbook(runbook).cloned() else {
                    return Self::fail(key, format!("runbook `{runbook}` is not registered"));
                };
                let call =
                    Call::Runbook(Box::new(definition), environment.clone(), service.clone());
                match self.call(Some(incident), key, key.clone(), call).await? {
                    Produced::Ran(detail) => Ok(Ok(detail)),
                    _ => Self::fail(key, "the runbooks port answered with something else"),
                }
            }
            // Only a person can take this; `drive` pauses before it.
            EffectAction::LandFix { .. } => Ok(wait()),
        }
    }
}

/// The instruction for a step only a person can take, if it is one (a
/// down-migration is not, with a migrator that `can_go_down`).
pub(super) fn host_step(action: &EffectAction, can_go_down: bool) -> Option<String> {
    match action {
        EffectAction::LandFix { onto, .. } => Some(format!(
            "land the fix on `{onto}` (record its commit and change, declare it a fix of the suspected change with DeclareFix, and move the branch), then confirm this step"
        )),
        EffectAction::MigrateDown {
            environment,
            service,
            to,
        } if !can_go_down => Some(format!(
            "migrate `{service}`'s schema in `{environment}` down to {to}, record it with ApplyMigration, then confirm this step"
        )),
        _ => None,
    }
}
