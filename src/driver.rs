//! The driver: carries the chosen strategy's steps out through the host's
//! ports, feeding every outcome back into the core and the durable journal.
//!
//! # Contract
//!
//! - Every command the driver issues is decided by the core, stored in the
//!   [`JournalStore`](crate::port::JournalStore) and only then considered
//!   done. If storing fails, the driver stops: drop it and
//!   [`Driver::resume`] later.
//! - Every port call carries an idempotency key derived from the step's key.
//!   Before acting for a step it had started earlier (after a crash), the
//!   driver asks the port what happened under the key and acts only if
//!   nothing did. A timeout ([`ErrorKind::UnknownOutcome`]) is reconciled
//!   the same way, never by guessing. So after a crash at any point,
//!   resuming runs no step twice and skips none.
//! - Steps only a person can take (landing a fix, a down migration) pause
//!   the driver with an instruction; [`Driver::confirm`] records them done.
//! - The driver only awaits: it brings no async runtime of its own.
//!
//! [`ErrorKind::UnknownOutcome`]: crate::port::ErrorKind::UnknownOutcome

use crate::error::Rejection;
use crate::journal::{CorruptJournal, Journal, JournalEntry, ReplayError};
use crate::ledger::Ledger;
use crate::machine::{
    Command, DeploymentStatus, EventKind, LifecycleStep, Rework, Slot, State, Verdict,
};
use crate::model::{
    Actor, Artifact, BranchName, Change, CommitId, EnvironmentId, FlagKey, FlagState, IncidentId,
    Lane, Release, ServiceId,
};
use crate::port::{AdapterError, Ports};
use crate::recovery::{Effect, EffectAction, EffectOutcome, EffectStatus, IdempotencyKey};

/// Why the driver stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriveError {
    /// The journal store failed; what it holds is the truth.
    #[error("the journal store failed: {0}; resume the driver once it is back")]
    Journal(AdapterError),
    /// The stored journal does not read back.
    #[error("the stored journal is damaged: {0}")]
    Corrupt(Box<CorruptJournal>),
    /// The stored journal does not replay.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The core refused a command.
    #[error(transparent)]
    Refused(#[from] Rejection),
    /// A step failed; choose another strategy or fix the cause, then drive
    /// again.
    #[error("step `{key}` failed: {error}")]
    StepFailed {
        /// The step.
        key: IdempotencyKey,
        /// Why.
        error: String,
    },
    /// A port still cannot say whether a step happened.
    #[error("step `{key}`: the {port} cannot say yet whether it happened ({error}); resume later")]
    Unresolved {
        /// The step.
        key: IdempotencyKey,
        /// Which port.
        port: &'static str,
        /// What it said.
        error: String,
    },
    /// The incident has no chosen strategy to carry out.
    #[error("incident `{0}` has no chosen strategy: choose one first")]
    NothingChosen(IncidentId),
}

/// How far a drive got.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriveReport {
    /// Every step is done.
    Done {
        /// The steps, in order.
        steps: Vec<IdempotencyKey>,
    },
    /// A rollout waits for approvals the policy asks for: record them
    /// (`Command::Approve`), then drive again. The revision stays requested
    /// meanwhile; nothing else is done.
    AwaitingApprovals {
        /// The step.
        key: IdempotencyKey,
        /// The revision waiting.
        slot: Slot,
        /// Valid approvals so far.
        have: u32,
        /// Approvals needed.
        need: u32,
        /// The role approvers must hold.
        role: crate::model::Role,
    },
    /// A step needs a person; confirm it, then drive again.
    Paused {
        /// The step.
        key: IdempotencyKey,
        /// What to do.
        instruction: String,
    },
}

/// One port call, so that acting and asking share one reconciliation.
enum Call {
    Revert(ServiceId, Vec<CommitId>, BranchName),
    Branch(ServiceId, BranchName, CommitId),
    Tag(ServiceId, CommitId, String),
    Pick(ServiceId, Vec<CommitId>, BranchName),
    Deploy(EnvironmentId, Box<Release>, Box<Artifact>),
    Abort(EnvironmentId, ServiceId),
    Flag(EnvironmentId, FlagKey, FlagState, u64),
    Build(ServiceId, CommitId),
}

enum Produced {
    Commit(CommitId),
    Deployed,
    Revision(u64),
    Built(Box<Artifact>),
}

impl Call {
    fn port(&self) -> &'static str {
        match self {
            Self::Revert(..) | Self::Branch(..) | Self::Tag(..) | Self::Pick(..) => "VCS",
            Self::Deploy(..) | Self::Abort(..) => "deployer",
            Self::Flag(..) => "flag store",
            Self::Build(..) => "builder",
        }
    }
}

/// Carries recovery plans out through the host's ports.
#[derive(Debug)]
pub struct Driver {
    ports: Ports,
    ledger: Ledger,
    actor: Actor,
}

impl Driver {
    /// A driver over the journal the store holds, acting as `actor`.
    pub async fn resume(ports: Ports, actor: impl Into<Actor>) -> Result<Driver, DriveError> {
        let entries = ports
            .journal
            .read_from(1)
            .await
            .map_err(DriveError::Journal)?;
        let journal =
            Journal::from_entries(entries).map_err(|e| DriveError::Corrupt(Box::new(e)))?;
        Ok(Driver {
            ledger: Ledger::from_journal(journal)?,
            ports,
            actor: actor.into(),
        })
    }

    /// The state as the journal tells it.
    pub fn state(&self) -> &State {
        self.ledger.state()
    }

    /// The journal as stored.
    pub fn journal(&self) -> &Journal {
        self.ledger.journal()
    }

    /// The ports.
    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    /// Decides `command` now, stores its events, then applies them.
    pub async fn execute(&mut self, command: &Command) -> Result<Vec<JournalEntry>, DriveError> {
        let before = self.ledger.journal().len();
        let now = self.ports.clock.now();
        let entries = self.ledger.execute(command, now)?.to_vec();
        if entries.is_empty() {
            return Ok(entries);
        }
        if let Err(e) = self.ports.journal.append(before as u64, &entries).await {
            // The store is the truth: forget what it did not take.
            let kept = self.ledger.journal().truncated(before);
            self.ledger = Ledger::from_journal(kept)?;
            return Err(DriveError::Journal(e));
        }
        Ok(entries)
    }

    /// Records a step only a person could take (landing a fix, a down
    /// migration) as done.
    pub async fn confirm(
        &mut self,
        incident: &IncidentId,
        key: &IdempotencyKey,
        detail: impl Into<String>,
    ) -> Result<(), DriveError> {
        self.record(
            incident,
            key,
            EffectOutcome::Succeeded {
                detail: detail.into(),
            },
        )
        .await
    }

    /// Carries out the steps of the strategy chosen for `incident`, in
    /// order, from wherever the journal says they stand.
    pub async fn drive(&mut self, incident: &IncidentId) -> Result<DriveReport, DriveError> {
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
        for step in &steps {
            let status = self.status(incident, &step.key);
            match status {
                EffectStatus::Succeeded => continue,
                EffectStatus::Failed => {
                    return Err(DriveError::StepFailed {
                        key: step.key.clone(),
                        error: "it failed earlier; choose a strategy again".to_owned(),
                    });
                }
                _ => {}
            }
            if let Some(instruction) = host_step(&step.action) {
                return Ok(DriveReport::Paused {
                    key: step.key.clone(),
                    instruction,
                });
            }
            if matches!(status, EffectStatus::Pending | EffectStatus::NotHappened) {
                self.record(incident, &step.key, EffectOutcome::Started)
                    .await?;
            }
            match self.perform(incident, step).await? {
                Ok(detail) => {
                    self.record(incident, &step.key, EffectOutcome::Succeeded { detail })
                        .await?;
                }
                Err(waiting) => return Ok(waiting),
            }
        }
        Ok(DriveReport::Done {
            steps: steps.into_iter().map(|s| s.key).collect(),
        })
    }

    fn status(&self, incident: &IncidentId, key: &IdempotencyKey) -> EffectStatus {
        self.state()
            .incident(incident)
            .and_then(|i| i.effects.get(key).copied())
            .unwrap_or(EffectStatus::Pending)
    }

    async fn record(
        &mut self,
        incident: &IncidentId,
        key: &IdempotencyKey,
        outcome: EffectOutcome,
    ) -> Result<(), DriveError> {
        self.execute(&Command::RecordEffect {
            incident: incident.clone(),
            key: key.clone(),
            outcome,
        })
        .await
        .map(drop)
    }

    fn fail<T>(key: &IdempotencyKey, error: impl Into<String>) -> Result<T, DriveError> {
        Err(DriveError::StepFailed {
            key: key.clone(),
            error: error.into(),
        })
    }

    /// Runs one step; `Ok(Err(report))` means it must wait (for a person,
    /// work in flight or approvals) and says for what.
    async fn perform(
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
                let Some(flags) = self.ports.flags.clone() else {
                    return Self::fail(key, "the host has no flag store");
                };
                let (current, revision) = match flags.get(environment, flag).await {
                    Ok(read) => read,
                    Err(e) => return Self::fail(key, e.to_string()),
                };
                let mut revision = revision;
                if current != *state {
                    let call =
                        Call::Flag(environment.clone(), flag.clone(), state.clone(), revision);
                    if let Produced::Revision(r) =
                        self.call(incident, key, key.clone(), call).await?
                    {
                        revision = r;
                    }
                }
                self.execute(&Command::SetFlag {
                    environment: environment.clone(),
                    flag: flag.clone(),
                    state: state.clone(),
                    by: self.actor.clone(),
                    clearance: crate::machine::Clearance::none(),
                })
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
                    self.actor.clone(),
                    format!("incident {incident}"),
                );
                match self.roll_out(incident, key, key.clone(), command).await? {
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
                    let call = Call::Abort(environment.clone(), service.clone());
                    self.call(incident, key, key.clone(), call).await?;
                    self.execute(&Command::AbortRollout {
                        slot: slot.clone(),
                        by: self.actor.clone(),
                        reason: format!("incident {incident}"),
                    })
                    .await?;
                }
                Ok(Ok(format!("{slot} aborted")))
            }
            EffectAction::Verify {
                environment,
                service,
            } => self.verify(key, environment, service).await.map(Ok),
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
                let (commits, service_id) = (original.commits.clone(), service.clone());
                let (rework, call) = if matches!(step.action, EffectAction::RevertChange { .. }) {
                    (
                        Rework::Revert,
                        Call::Revert(service_id, commits, onto.clone()),
                    )
                } else {
                    (
                        Rework::Reapply,
                        Call::Pick(service_id, commits, onto.clone()),
                    )
                };
                let commit = self.commit_call(incident, key, call).await?;
                let new = rework.change(
                    &original,
                    commit.clone(),
                    self.actor.clone(),
                    self.ports.clock.now(),
                );
                self.land(key, service, onto, &commit, Some(new)).await?;
                Ok(Ok(format!(
                    "`{change}` {} as `{commit}` on `{onto}`",
                    rework.done()
                )))
            }
            EffectAction::CutBranch {
                service,
                branch,
                at,
            } => {
                let call = Call::Branch(service.clone(), branch.clone(), at.clone());
                self.commit_call(incident, key, call).await?;
                self.execute(&Command::MoveBranch {
                    service: service.clone(),
                    branch: branch.clone(),
                    head: at.clone(),
                })
                .await?;
                Ok(Ok(format!("`{branch}` cut at `{at}`")))
            }
            EffectAction::MergeBack {
                service,
                from,
                onto,
            } => {
                let Some(head) = self.state().branch(service, from).cloned() else {
                    return Self::fail(key, format!("the head of `{from}` is not recorded"));
                };
                let call = Call::Pick(service.clone(), vec![head], onto.clone());
                let commit = self.commit_call(incident, key, call).await?;
                self.land(key, service, onto, &commit, None).await?;
                Ok(Ok(format!(
                    "`{from}` merged back into `{onto}` as `{commit}`"
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
                self.commit_call(incident, key, call).await?;
                Ok(Ok(format!("`{head}` tagged `{tag}`")))
            }
            EffectAction::Ship {
                service,
                branch,
                lane,
                environment,
                ..
            } => {
                self.ship(incident, key, (service, branch), *lane, environment)
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
            // Only a person can take these; `drive` pauses before them.
            EffectAction::MigrateDown { .. } | EffectAction::LandFix { .. } => Ok(wait()),
        }
    }

    fn known_change(
        &self,
        key: &IdempotencyKey,
        change: &crate::model::ChangeId,
    ) -> Result<Change, DriveError> {
        match self.state().change(change) {
            Some(c) => Ok(c.clone()),
            None => Self::fail(key, format!("change `{change}` is not recorded")),
        }
    }

    /// Records a commit the VCS made on `onto` (and the change it forms),
    /// then moves the branch there. Safe to repeat.
    async fn land(
        &mut self,
        key: &IdempotencyKey,
        service: &ServiceId,
        onto: &BranchName,
        commit: &CommitId,
        change: Option<Change>,
    ) -> Result<(), DriveError> {
        if self.state().commit(commit).is_none() {
            let Some(parent) = self.state().branch(service, onto).cloned() else {
                return Self::fail(key, format!("the head of `{onto}` is not recorded"));
            };
            self.execute(&Command::RecordCommit {
                commit: crate::model::Commit::new(commit.clone(), [parent]),
            })
            .await?;
        }
        if let Some(change) = change {
            self.execute(&Command::RecordChange { change }).await?;
        }
        self.execute(&Command::MoveBranch {
            service: service.clone(),
            branch: onto.clone(),
            head: commit.clone(),
        })
        .await?;
        Ok(())
    }

    async fn commit_call(
        &mut self,
        incident: &IncidentId,
        key: &IdempotencyKey,
        call: Call,
    ) -> Result<CommitId, DriveError> {
        match self.call(incident, key, key.clone(), call).await? {
            Produced::Commit(commit) => Ok(commit),
            _ => Self::fail(key, "the VCS answered with something other than a commit"),
        }
    }

    /// Requests (once), starts, rolls out through the deployer and
    /// completes one revision. Safe to repeat after a crash at any point.
    async fn roll_out(
        &mut self,
        incident: &IncidentId,
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
            let call = Call::Deploy(environment.clone(), Box::new(release), Box::new(artifact));
            self.call(incident, key, sub_key, call).await?;
            self.execute(&Command::CompleteRollout { slot: slot.clone() })
                .await?;
        }
        Ok(Ok(slot))
    }

    fn deployment_status(&self, slot: &Slot) -> Option<DeploymentStatus> {
        Some(
            self.state()
                .history(&slot.environment, &slot.service)?
                .get(slot.revision)?
                .status,
        )
    }

    fn release_of(
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
    async fn verify(
        &mut self,
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
        let record = match current.status {
            DeploymentStatus::KnownGood => return Ok(format!("{slot} is known good")),
            DeploymentStatus::Verifying => true,
            // A failed revision stays failed; after a change around it (a
            // flag turned off) only the service's health is checked.
            DeploymentStatus::Failed => false,
            other => return Self::fail(key, format!("{slot} is {other}")),
        };
        let health = match self
            .ports
            .health
            .verify(environment, service, &current.release)
            .await
        {
            Ok(h) => h,
            Err(e) => return Self::fail(key, format!("the health probe failed: {e}")),
        };
        if !record {
            return if health.healthy {
                Ok(format!(
                    "`{service}` is healthy in `{environment}` ({}); {slot} stays failed",
                    health.detail
                ))
            } else {
                Self::fail(
                    key,
                    format!(
                        "`{service}` is still unhealthy in `{environment}`: {}",
                        health.detail
                    ),
                )
            };
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
        })
        .await?;
        if health.healthy {
            Ok(format!("{slot} verified: {}", health.detail))
        } else {
            Self::fail(key, format!("{slot} is unhealthy: {}", health.detail))
        }
    }

    /// Builds the head of `branch` and promotes it along `lane` to
    /// `target`, verifying at every stage.
    async fn ship(
        &mut self,
        incident: &IncidentId,
        key: &IdempotencyKey,
        (service, branch): (&ServiceId, &BranchName),
        lane: Lane,
        target: &EnvironmentId,
    ) -> Result<Result<String, DriveReport>, DriveError> {
        let Some(head) = self.state().branch(service, branch).cloned() else {
            return Self::fail(key, format!("the head of `{branch}` is not recorded"));
        };
        let build_key = IdempotencyKey::new(format!("{key}#build"));
        let Produced::Built(artifact) = self
            .call(
                incident,
                key,
                build_key,
                Call::Build(service.clone(), head.clone()),
            )
            .await?
        else {
            return Self::fail(
                key,
                "the builder answered with something other than an artifact",
            );
        };
        let release_id = crate::machine::built_release_id(&artifact);
        self.execute(&Command::RegisterArtifact {
            artifact: (*artifact).clone(),
        })
        .await?;
        self.execute(&Command::RegisterRelease {
            release: Release::new(
                release_id.clone(),
                service.clone(),
                artifact.digest.clone(),
                "unchanged",
            ),
        })
        .await?;
        let path = self
            .state()
            .pipeline()
            .map(|p| p.lane_path(target, lane))
            .unwrap_or_default();
        for env in path {
            let sub_key = crate::machine::ship_key(key, &env);
            let command = Command::deploy(env.clone(), release_id.clone(), self.actor.clone());
            if let Err(waiting) = self.roll_out(incident, key, sub_key, command).await? {
                return Ok(Err(waiting));
            }
            self.verify(key, &env, service).await?;
        }
        Ok(Ok(format!(
            "`{release_id}` built from `{head}` and verified up to `{target}`"
        )))
    }

    /// One port call under `call_key`, reconciled: if the step was started
    /// before, or the call's outcome is unknown, the port is asked what
    /// happened under the key before anything is done (again).
    async fn call(
        &mut self,
        incident: &IncidentId,
        key: &IdempotencyKey,
        call_key: IdempotencyKey,
        call: Call,
    ) -> Result<Produced, DriveError> {
        // Ask first: after a crash the call may have happened already.
        if let Some(done) = self.ask(key, &call_key, &call).await? {
            return Ok(done);
        }
        for _ in 0..2 {
            match self.act(&call_key, &call).await {
                Ok(done) => return Ok(done),
                Err(e) if e.needs_reconciling() => {
                    self.record(
                        incident,
                        key,
                        EffectOutcome::Unknown {
                            error: e.to_string(),
                        },
                    )
                    .await?;
                    let happened = self.ask(key, &call_key, &call).await?;
                    self.record(
                        incident,
                        key,
                        EffectOutcome::Reconciled {
                            happened: happened.is_some(),
                        },
                    )
                    .await?;
                    if let Some(done) = happened {
                        return Ok(done);
                    }
                }
                Err(e) => {
                    self.record(
                        incident,
                        key,
                        EffectOutcome::Failed {
                            error: e.to_string(),
                        },
                    )
                    .await?;
                    return Self::fail(key, e.to_string());
                }
            }
        }
        Err(DriveError::Unresolved {
            key: key.clone(),
            port: call.port(),
            error: "it stayed unavailable".to_owned(),
        })
    }

    async fn act(&self, key: &IdempotencyKey, call: &Call) -> Result<Produced, AdapterError> {
        let p = &self.ports;
        Ok(match call {
            Call::Revert(service, commits, onto) => {
                Produced::Commit(p.vcs.revert(key, service, commits, onto).await?)
            }
            Call::Branch(service, branch, at) => {
                Produced::Commit(p.vcs.create_branch(key, service, branch, at).await?)
            }
            Call::Tag(service, commit, tag) => {
                Produced::Commit(p.vcs.tag(key, service, commit, tag).await?)
            }
            Call::Pick(service, commits, onto) => {
                Produced::Commit(p.vcs.cherry_pick(key, service, commits, onto).await?)
            }
            Call::Deploy(env, release, artifact) => {
                p.deployer.deploy(key, env, release, artifact).await?;
                Produced::Deployed
            }
            Call::Abort(env, service) => {
                p.deployer.abort(key, env, service).await?;
                Produced::Deployed
            }
            Call::Flag(env, flag, state, expected) => {
                let flags = p.flags.clone().ok_or_else(|| {
                    AdapterError::new(
                        crate::port::ErrorKind::Rejected,
                        "the host has no flag store",
                    )
                })?;
                Produced::Revision(flags.set(key, env, flag, state, *expected).await?)
            }
            Call::Build(service, commit) => {
                Produced::Built(Box::new(p.builder.build(key, service, commit).await?))
            }
        })
    }

    async fn ask(
        &self,
        key: &IdempotencyKey,
        call_key: &IdempotencyKey,
        call: &Call,
    ) -> Result<Option<Produced>, DriveError> {
        let p = &self.ports;
        let asked = match call {
            Call::Revert(..) | Call::Branch(..) | Call::Tag(..) | Call::Pick(..) => p
                .vcs
                .outcome(call_key)
                .await
                .map(|o| o.map(Produced::Commit)),
            Call::Deploy(..) | Call::Abort(..) => p
                .deployer
                .outcome(call_key)
                .await
                .map(|o| o.map(|_| Produced::Deployed)),
            Call::Flag(..) => match p.flags.clone() {
                Some(flags) => flags
                    .outcome(call_key)
                    .await
                    .map(|o| o.map(Produced::Revision)),
                None => Ok(None),
            },
            Call::Build(..) => p
                .builder
                .outcome(call_key)
                .await
                .map(|o| o.map(|a| Produced::Built(Box::new(a)))),
        };
        asked.map_err(|e| DriveError::Unresolved {
            key: key.clone(),
            port: call.port(),
            error: e.to_string(),
        })
    }
}

/// The instruction for a step only a person can take, if it is one.
fn host_step(action: &EffectAction) -> Option<String> {
    match action {
        EffectAction::LandFix { onto, .. } => Some(format!(
            "land the fix on `{onto}` (record its commit and change, declare it a fix of the suspected change with DeclareFix, and move the branch), then confirm this step"
        )),
        EffectAction::MigrateDown {
            environment,
            service,
            to,
        } => Some(format!(
            "migrate `{service}`'s schema in `{environment}` down to {to}, record it with ApplyMigration, then confirm this step"
        )),
        _ => None,
    }
}
