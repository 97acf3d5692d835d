//! `apply`: fold one event into the state.

use crate::model::Slot;
use chrono::{DateTime, Utc};

use super::rejection::Rejection;

use super::event::{Event, EventKind};
use super::lifecycle::{DeploymentStatus, LifecycleStep};
use super::state::{
    ClosedGate, CommitRecord, Deployment, DeploymentOrigin, Poisoning, RemedyKind, State,
};

impl State {
    /// Folds one event into the state.
    ///
    /// Events produced by [`decide`](super::decide) always apply. An event
    /// read from elsewhere (an edited journal) that contradicts the state
    /// is refused with the rejection [`decide`](super::decide) would have
    /// given, and the state is left exactly as it was.
    pub fn apply(&mut self, event: &Event) -> Result<(), Rejection> {
        let at = event.at;
        self.check_time(at)?;
        check_names(&event.kind)?;
        match &event.kind {
            EventKind::PipelineDefined { pipeline } => self.define_pipeline(pipeline.clone()),
            EventKind::ServiceRegistered { service } => {
                std::sync::Arc::make_mut(&mut self.services)
                    .insert(service.id.clone(), service.clone());
            }
            EventKind::CommitRecorded { commit } => {
                let generation = commit
                    .parents
                    .iter()
                    .filter_map(|p| self.commits.get(p))
                    .map(|r| r.generation)
                    .max()
                    .unwrap_or(0)
                    .saturating_add(1);
                self.commits.insert(
                    commit.id.clone(),
                    CommitRecord {
                        commit: commit.clone(),
                        change: None,
                        generation,
                    },
                );
            }
            EventKind::ChangeRecorded { change } => {
                if let Some(missing) = change
                    .commits
                    .iter()
                    .find(|c| !self.commits.contains_key(*c))
                {
                    return Err(Rejection::UnknownCommit {
                        commit: missing.clone(),
                    });
                }
                for commit in &change.commits {
                    if let Some(record) = self.commits.get_mut(commit) {
                        record.change = Some(change.id.clone());
                    }
                }
                if let Some(reverted) = &change.reverts {
                    std::sync::Arc::make_mut(&mut self.remedies)
                        .entry(reverted.clone())
                        .or_default()
                        .insert(change.id.clone(), RemedyKind::Revert);
                }
                self.changes.insert(change.id.clone(), change.clone());
            }
            EventKind::ArtifactRegistered { artifact } => {
                // Replay re-checks meaning, not only hashes: a re-chained
                // journal cannot slip in what the core would refuse.
                if !self.services.contains_key(&artifact.service) {
                    return Err(Rejection::UnknownService {
                        service: artifact.service.clone(),
                    });
                }
                self.artifacts
                    .insert(artifact.digest.clone(), artifact.clone());
            }
            EventKind::ReleaseRegistered { release } => {
                self.releases.insert(release.id.clone(), release.clone());
            }
            EventKind::DeploymentRequested {
                slot,
                release,
                by,
                effect,
            } => {
                if let Some(known) = self.releases.get(release) {
                    super::deploy::check_upstream(self, &slot.environment, known)?;
                }
                self.open_revision(slot, (release, effect), by, at, DeploymentOrigin::Deploy)?;
            }
            EventKind::RollbackRequested {
                slot,
                release,
                target,
                rolled_back_from,
                by,
                reason,
                effect,
                ..
            } => {
                let origin = DeploymentOrigin::Rollback {
                    target: *target,
                    rolled_back_from: *rolled_back_from,
                    reason: reason.clone(),
                };
                self.open_revision(slot, (release, effect), by, at, origin)?;
            }
            EventKind::RolloutStarted { slot } => {
                self.advance(slot, LifecycleStep::StartRollout, at, None)?;
            }
            EventKind::RolloutCompleted { slot } => {
                let d = self.advance(slot, LifecycleStep::CompleteRollout, at, None)?;
                d.completed_at = Some(at);
                self.set_current(slot)?;
            }
            EventKind::RolloutFailed { slot, reason }
            | EventKind::VerificationFailed { slot, reason } => {
                let step = if matches!(event.kind, EventKind::RolloutFailed { .. }) {
                    LifecycleStep::FailRollout
                } else {
                    LifecycleStep::FailVerification
                };
                self.advance(slot, step, at, Some(reason))?;
            }
            EventKind::DeploymentVerified { slot, evidence } => {
                let d = self.advance(slot, LifecycleStep::PassVerification, at, None)?;
                d.verified_at = Some(at);
                d.evidence.clone_from(evidence);
                let took = u64::try_from(at.signed_duration_since(d.requested_at).num_seconds())
                    .unwrap_or(0);
                let release = d.release.clone();
                let observed = &mut self.environment_mut(&slot.environment)?.observed;
                observed.samples = observed.samples.saturating_add(1);
                observed.total_seconds = observed.total_seconds.saturating_add(took);
                if let Some(digest) = self.releases.get(&release).map(|r| r.artifact.clone()) {
                    self.mark_verified(&slot.environment, digest);
                }
                self.record_known_good(&slot.environment, at);
            }
            EventKind::RolloutAborted {
                slot,
                stable,
                reason,
                ..
            } => {
                let serving = self
                    .history(&slot.environment, &slot.service)
                    .and_then(super::RolloutHistory::current)
                    .is_some_and(|d| d.revision == slot.revision);
                self.advance(slot, LifecycleStep::Abort, at, Some(reason))?;
                if serving && let Some(stable) = stable {
                    // What served before serves again.
                    let back = Slot::new(slot.environment.clone(), slot.service.clone(), *stable);
                    self.advance(&back, LifecycleStep::Reinstate, at, None)?;
                    self.set_current(&back)?;
                }
            }
            EventKind::RevisionSuperseded { slot, .. } => {
                self.advance(slot, LifecycleStep::Supersede, at, None)?;
            }
            EventKind::RevisionRolledBack { slot, .. } => {
                self.advance(slot, LifecycleStep::RollBack, at, None)?;
            }
            EventKind::DeploymentApproved { slot, by } => {
                self.deployment_mut(slot)?
                    .notes_mut()
                    .approvals
                    .insert(by.clone());
            }
            EventKind::BreakGlassUsed {
                slot,
                justification,
                ..
            } => {
                self.deployment_mut(slot)?.notes_mut().break_glass = Some(justification.clone());
            }
            // Audit only: the overridden action's own event changes the state.
            EventKind::FreezeOverridden { .. } => {}
            EventKind::PolicyAdopted { policy, .. } => self.policy = policy.clone(),
            EventKind::RunbookRegistered { runbook } => {
                std::sync::Arc::make_mut(&mut self.runbooks)
                    .insert(runbook.id.clone(), runbook.clone());
            }
            EventKind::BranchMoved {
                service,
                branch,
                head,
            } => {
                std::sync::Arc::make_mut(&mut self.branches)
                    .entry(service.clone())
                    .or_default()
                    .insert(branch.clone(), head.clone());
            }
            EventKind::ChangePoisoned { change, by, reason } => {
                if !self.changes.contains_key(change) {
                    return Err(Rejection::UnknownChange {
                        change: change.clone(),
                    });
                }
                std::sync::Arc::make_mut(&mut self.poisoned)
                    .entry(change.clone())
                    .or_insert(Poisoning {
                        by: by.clone(),
                        reason: reason.clone(),
                        at,
                    });
            }
            EventKind::FixDeclared { change, fix, .. } => {
                std::sync::Arc::make_mut(&mut self.remedies)
                    .entry(change.clone())
                    .or_default()
                    .insert(fix.clone(), RemedyKind::Fix);
            }
            EventKind::FlagSet {
                environment,
                flag,
                state,
                ..
            } => {
                let env = self.environment_mut(environment)?;
                std::sync::Arc::make_mut(&mut env.flags).insert(flag.clone(), state.clone());
                std::sync::Arc::make_mut(&mut env.flag_records)
                    .entry(flag.clone())
                    .or_default()
                    .since = Some(at);
            }
            EventKind::FlagVerified {
                environment,
                flag,
                state,
                healthy,
                detail,
                key,
                ..
            } => {
                let env = self.environment_mut(environment)?;
                let record = std::sync::Arc::make_mut(&mut env.flag_records)
                    .entry(flag.clone())
                    .or_default();
                if *healthy {
                    record.last_good = Some(state.clone());
                }
                record.verdicts.push(super::state::FlagVerdict {
                    state: state.clone(),
                    healthy: *healthy,
                    detail: detail.clone(),
                    at,
                    key: key.clone(),
                });
                if *healthy {
                    self.record_known_good(environment, at);
                }
            }
            EventKind::GateClosed {
                environment,
                by,
                reason,
                cause,
            } => {
                self.environment_mut(environment)?
                    .gate
                    .get_or_insert_with(|| ClosedGate {
                        by: by.clone(),
                        reason: reason.clone(),
                        cause: cause.clone(),
                        since: at,
                        plan: None,
                    });
            }
            EventKind::FastTrackAuthorized {
                digest, skipped, ..
            } => {
                std::sync::Arc::make_mut(&mut self.fast_tracked)
                    .entry(digest.clone())
                    .or_default()
                    .extend(skipped.iter().cloned());
            }
            EventKind::RecoveryAuthorized {
                environment,
                plan,
                permits,
                by,
            } => {
                let Some(gate) = self.environment_mut(environment)?.gate.as_mut() else {
                    return Err(Rejection::GateOpen {
                        environment: environment.clone(),
                    });
                };
                gate.plan = Some(super::state::ActivePlan {
                    plan: plan.clone(),
                    permits: permits.clone(),
                    by: by.clone(),
                    at,
                });
            }
            EventKind::GateReopened { environment, .. } => {
                self.environment_mut(environment)?.gate = None;
                self.lift_gate_follow_ups(environment, at);
            }
            EventKind::FreezeDeclared { freeze } => {
                std::sync::Arc::make_mut(&mut self.freezes)
                    .insert(freeze.id.clone(), freeze.clone());
            }
            EventKind::FreezeLifted { freeze, .. } => {
                if std::sync::Arc::make_mut(&mut self.freezes)
                    .remove(freeze)
                    .is_none()
                {
                    return Err(Rejection::UnknownFreeze {
                        freeze: freeze.clone(),
                    });
                }
            }
            EventKind::ArtifactExpired { digest, .. } => {
                self.expired.insert(digest.clone());
            }
            EventKind::MigrationApplied {
                environment,
                service,
                migration,
                ..
            } => {
                let schema = self
                    .environment_mut(environment)?
                    .schemas
                    .entry(service.clone())
                    .or_default();
                schema.version = migration.to;
                let moved = schema.moving.remove(&migration.id).map(|p| p.moved);
                schema.applied.push(super::state::AppliedMigration {
                    migration: migration.clone(),
                    at,
                    moved,
                });
            }
            EventKind::MigrationProgressed {
                environment,
                service,
                migration,
                cursor,
                moved,
                done,
                key,
                ..
            } => {
                let schema = self
                    .environment_mut(environment)?
                    .schemas
                    .entry(service.clone())
                    .or_default();
                let progress = schema.moving.entry(migration.clone()).or_insert_with(|| {
                    super::state::DataProgress {
                        cursor: String::new(),
                        moved: 0,
                        batches: 0,
                        done: false,
                        last_key: key.clone(),
                        at,
                    }
                });
                progress.cursor.clone_from(cursor);
                progress.moved = progress.moved.saturating_add(*moved);
                progress.batches = progress.batches.saturating_add(1);
                progress.last_key = key.clone();
                progress.at = at;
                progress.done = *done;
            }
            EventKind::RemediationDecided {
                incident,
                environment,
                release,
                ..
            } => {
                std::sync::Arc::make_mut(&mut self.remediated).push(super::kept::Remediated {
                    incident: incident.clone(),
                    environment: environment.clone(),
                    release: release.clone(),
                    at,
                });
            }
            EventKind::IncidentDeclared { .. }
            | EventKind::StrategyChosen { .. }
            | EventKind::ChangesAccepted { .. }
            | EventKind::CausePinned { .. }
            | EventKind::ResolutionPlanned { .. }
            | EventKind::IncidentMitigated { .. }
            | EventKind::IncidentResolved { .. }
            | EventKind::RetroRecorded { .. }
            | EventKind::FollowUpCompleted { .. }
            | EventKind::EffectRecorded { .. } => self.apply_incident(&event.kind, at)?,
        }
        self.last_at = Some(at);
        Ok(())
    }

    /// Time only moves forward: nothing happens before the last event.
    /// (See also [`check_names`], the other check every event passes.)
    pub(super) fn check_time(&self, at: DateTime<Utc>) -> Result<(), Rejection> {
        match self.last_at {
            Some(last) if at < last => Err(Rejection::ClockWentBackwards { at, last }),
            _ => Ok(()),
        }
    }

    fn open_revision(
        &mut self,
        slot: &Slot,
        (release, effect): (
            &crate::model::ReleaseId,
            &Option<crate::machine::effect::IdempotencyKey>,
        ),
        by: &crate::model::Actor,
        at: DateTime<Utc>,
        origin: DeploymentOrigin,
    ) -> Result<(), Rejection> {
        if !self.releases.contains_key(release) {
            return Err(Rejection::UnknownRelease {
                release: release.clone(),
            });
        }
        let expected = self
            .known_environment(&slot.environment)?
            .history(&slot.service)
            .map_or(
                crate::model::Revision(1),
                super::state::RolloutHistory::next_revision,
            );
        if slot.revision != expected {
            return Err(Rejection::RevisionOutOfSequence {
                slot: slot.clone(),
                expected,
            });
        }
        self.push_deployment(
            &slot.environment,
            &slot.service,
            Deployment::requested(
                slot.revision,
                release.clone(),
                origin,
                by.clone(),
                at,
                effect.clone(),
            ),
        )
    }

    /// Moves the deployment in `slot` one step, or refuses without change.
    fn advance(
        &mut self,
        slot: &Slot,
        step: LifecycleStep,
        at: DateTime<Utc>,
        problem: Option<&String>,
    ) -> Result<&mut Deployment, Rejection> {
        let d = self.deployment_mut(slot)?;
        let Some(next) = d.status.after(step) else {
            return Err(Rejection::IllegalTransition {
                slot: slot.clone(),
                status: d.status,
                step,
            });
        };
        d.status = next;
        if let Some(problem) = problem {
            d.notes_mut().problem = Some(problem.clone());
        }
        if step == LifecycleStep::Reinstate {
            // It serves again.
            d.ended_at = None;
        } else if next.is_final()
            || matches!(
                next,
                DeploymentStatus::Failed | DeploymentStatus::Superseded
            )
        {
            d.ended_at.get_or_insert(at);
        }
        Ok(d)
    }
}

/// Every name an event introduces into stream names (a service, the
/// pipeline's environments, an incident, a flag) must pass
/// [`check_name`](crate::model::check_name): checked by `decide` on what it
/// produces and by `apply` on what it folds, so a hostile name is refused
/// from a command and from a journal alike.
pub(super) fn check_names(kind: &EventKind) -> Result<(), Rejection> {
    let check = |what: &str, name: &str| {
        crate::model::check_name(name).map_err(|problem| Rejection::InvalidName {
            what: what.to_owned(),
            name: name.to_owned(),
            problem,
        })
    };
    match kind {
        EventKind::ServiceRegistered { service } => check("service", service.id.as_str()),
        EventKind::PipelineDefined { pipeline } => pipeline
            .environments()
            .try_for_each(|env| check("environment", env.id.as_str())),
        EventKind::IncidentDeclared { incident, .. } => check("incident", incident.as_str()),
        EventKind::RunbookRegistered { runbook } => check("runbook", runbook.id.as_str()),
        EventKind::FlagSet { flag, .. } | EventKind::FlagVerified { flag, .. } => {
            check("flag", flag.as_str())
        }
        // A commit id reaches version control: nothing in one may read as
        // an option, a revision expression or a second line.
        EventKind::CommitRecorded { commit } => std::iter::once(&commit.id)
            .chain(&commit.parents)
            .try_for_each(|id| check("commit", id.as_str())),
        EventKind::ReleaseRegistered { release } => {
            let check_release = |what: &str, name: &str| {
                crate::model::check_release_name(name).map_err(|problem| Rejection::InvalidName {
                    what: what.to_owned(),
                    name: name.to_owned(),
                    problem,
                })
            };
            check_release("release", release.id.as_str())?;
            check_release("config revision", release.config.as_str())
        }
        _ => Ok(()),
    }
}
