//! One command's own rules: every command checked against the state, and
//! the events it causes. A [`Command::ChooseStrategy`] is checked here for
//! the choice itself; [`decide`](super::decide) then rehearses its steps.

use chrono::{DateTime, Utc};

use super::rejection::Rejection;
use crate::model::{Change, Commit, Pipeline, Release};

use super::command::{Command, Verdict};
use super::deploy::{complete_rollout, fast_track, request_deployment, rollback, step};
use super::event::{Event, EventKind, GateCause};
use super::lifecycle::{DeploymentStatus, LifecycleStep};
use super::state::{RolloutHistory, State};
use super::{cause, fit, follow_ups, gates, planned, response, runbooks};

/// Checks `command` against `state` by its own rules and returns the events
/// it causes, stamped with `now`: what [`decide`](super::decide) answers for
/// every command but a choice of strategy, whose steps it also rehearses.
pub(super) fn judge(
    state: &State,
    command: &Command,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, Rejection> {
    state.check_time(now)?;
    let kinds = match command {
        Command::DefinePipeline { pipeline } => define_pipeline(state, pipeline)?,
        Command::RegisterService { service } => {
            if state.services.contains_key(&service.id) {
                vec![]
            } else {
                vec![EventKind::ServiceRegistered {
                    service: service.clone(),
                }]
            }
        }
        Command::RecordCommit { commit } => record_commit(state, commit)?,
        Command::RecordChange { change } => record_change(state, change)?,
        Command::RegisterArtifact { artifact } => {
            if !state.services.contains_key(&artifact.service) {
                return Err(Rejection::UnknownService {
                    service: artifact.service.clone(),
                });
            }
            match state.artifacts.get(&artifact.digest) {
                Some(known) if known == artifact => vec![],
                Some(_) => {
                    return Err(Rejection::ConflictingArtifact {
                        digest: artifact.digest.clone(),
                    });
                }
                None => vec![EventKind::ArtifactRegistered {
                    artifact: artifact.clone(),
                }],
            }
        }
        Command::RegisterRelease { release } => register_release(state, release)?,
        Command::RequestDeployment {
            environment,
            release,
            by,
            clearance,
            effect,
        } => request_deployment(state, (environment, release), (by, effect), clearance, now)?,
        Command::StartRollout { slot } => {
            let d = step(state, slot, LifecycleStep::StartRollout)?;
            gates::check_approvals(state, slot, d)?;
            vec![EventKind::RolloutStarted { slot: slot.clone() }]
        }
        Command::CompleteRollout { slot } => complete_rollout(state, slot)?,
        Command::FailRollout { slot, reason, by } => {
            step(state, slot, LifecycleStep::FailRollout)?;
            let close = gates::auto_close(
                state,
                &slot.environment,
                by,
                format!("rollout of {slot} failed: {reason}"),
                GateCause::FailedDeployment { slot: slot.clone() },
            );
            std::iter::once(EventKind::RolloutFailed {
                slot: slot.clone(),
                reason: reason.clone(),
            })
            .chain(close)
            .collect()
        }
        Command::RecordVerification {
            slot,
            verdict,
            by,
            evidence,
        } => match verdict {
            Verdict::Healthy => {
                step(state, slot, LifecycleStep::PassVerification)?;
                vec![EventKind::DeploymentVerified {
                    slot: slot.clone(),
                    evidence: evidence.clone(),
                }]
            }
            Verdict::Unhealthy { reason } => {
                step(state, slot, LifecycleStep::FailVerification)?;
                let close = gates::auto_close(
                    state,
                    &slot.environment,
                    by,
                    format!("verification of {slot} failed: {reason}"),
                    GateCause::FailedDeployment { slot: slot.clone() },
                );
                std::iter::once(EventKind::VerificationFailed {
                    slot: slot.clone(),
                    reason: reason.clone(),
                })
                .chain(close)
                .collect()
            }
        },
        Command::AbortRollout { slot, by, reason } => {
            let d = step(state, slot, LifecycleStep::Abort)?;
            gates::require_reason(reason, "aborting a rollout")?;
            let history = state.history(&slot.environment, &slot.service);
            let stable = if d.status == DeploymentStatus::Verifying {
                // It serves: aborting returns production to an older
                // release, the recovery the policy must allow.
                gates::policy_allows(state, crate::model::Strategy::Abort)?;
                // It serves: return to the known-good revision it replaced.
                let before = history
                    .and_then(|h| h.reinstatable_before(slot.revision))
                    .map(|p| p.revision);
                if before.is_none() {
                    return Err(Rejection::NothingToReturnTo { slot: slot.clone() });
                }
                before
            } else {
                history
                    .and_then(RolloutHistory::current)
                    .map(|d| d.revision)
            };
            vec![EventKind::RolloutAborted {
                slot: slot.clone(),
                stable,
                by: by.clone(),
                reason: reason.clone(),
            }]
        }
        Command::Rollback {
            environment,
            service,
            to_revision,
            by,
            reason,
            clearance,
            effect,
        } => rollback(
            state,
            (environment, service, *to_revision),
            (by, reason, clearance),
            effect.as_ref(),
            now,
        )?,
        Command::Approve { slot, by } => gates::approve(state, slot, by)?,
        Command::AdoptPolicy { policy, by } => gates::adopt_policy(state, policy, by)?,
        Command::MoveBranch {
            service,
            branch,
            head,
        } => {
            if !state.services.contains_key(service) {
                return Err(Rejection::UnknownService {
                    service: service.clone(),
                });
            }
            if !state.commits.contains_key(head) {
                return Err(Rejection::UnknownCommit {
                    commit: head.clone(),
                });
            }
            if state.branch(service, branch) == Some(head) {
                vec![]
            } else {
                vec![EventKind::BranchMoved {
                    service: service.clone(),
                    branch: branch.clone(),
                    head: head.clone(),
                }]
            }
        }
        Command::PoisonChange { change, by, reason } => {
            gates::poison_change(state, change, by, reason)?
        }
        Command::DeclareFix { change, fix, by } => gates::declare_fix(state, change, fix, by)?,
        Command::SetFlag {
            environment,
            flag,
            state: flag_state,
            by,
            clearance,
        } => gates::set_flag(state, (environment, flag, flag_state), by, clearance, now)?,
        Command::CloseGate {
            environment,
            by,
            reason,
        } => gates::close_gate(state, environment, by, reason)?,
        Command::RecordFlagVerdict {
            environment,
            flag,
            verdict,
            evidence,
            by,
            key,
        } => gates::record_flag_verdict(
            state,
            (environment, flag),
            (verdict, evidence.as_ref()),
            by,
            key,
        )?,
        Command::FastTrack {
            release,
            target,
            lane,
            by,
            reason,
        } => fast_track(state, (release, target, *lane), by, reason)?,
        Command::AuthorizeRecovery {
            environment,
            plan,
            permits,
            by,
        } => gates::authorize_recovery(state, environment, plan, permits, by)?,
        Command::ReopenGate {
            environment,
            by,
            reason,
        } => gates::reopen_gate(state, environment, by, reason)?,
        Command::DeclareFreeze { freeze } => gates::declare_freeze(state, freeze)?,
        Command::LiftFreeze { freeze, by, reason } => {
            gates::lift_freeze(state, freeze, by, reason)?
        }
        Command::ExpireArtifact { digest, by } => fit::expire_artifact(state, digest, by)?,
        Command::ApplyMigration {
            environment,
            service,
            migration,
            by,
        } => fit::apply_migration(state, (environment, service), migration, by)?,
        Command::RegisterRunbook { runbook } => runbooks::register_runbook(state, runbook)?,
        Command::RecordMigrationProgress {
            environment,
            service,
            migration,
            cursor,
            moved,
            done,
            by,
            key,
        } => fit::record_migration_progress(
            state,
            (environment, service),
            migration,
            (cursor, *moved, *done),
            by,
            key,
        )?,
        Command::DeclareIncident {
            incident,
            environment,
            service,
            severity,
            cause,
            summary,
            by,
            impact_began,
        } => response::declare(
            state,
            incident,
            (environment, service),
            *severity,
            cause,
            summary,
            by,
            (*impact_began, now),
        )?,
        Command::ChooseStrategy { .. } => response::choose(state, command)?,
        Command::Remediate { .. } => {
            let (decided, choose) = super::remediation::decision(state, command, now)?;
            std::iter::once(decided)
                .chain(response::choose(state, &choose)?)
                .collect()
        }
        Command::AcceptChanges {
            incident,
            service,
            branch,
            head,
            by,
            reason,
        } => planned::accept_changes(state, incident, (service, branch, head), by, reason)?,
        Command::PlanResolution {
            incident,
            strategy,
            by,
        } => response::plan_resolution(state, incident, *strategy, by)?,
        Command::PinCause {
            incident,
            change,
            by,
        } => cause::pin_cause(state, incident, change, by)?,
        Command::MarkMitigated { incident, by } => response::mitigate(state, incident, by)?,
        Command::ResolveIncident { incident, by } => response::resolve(state, incident, by)?,
        Command::RecordRetro {
            incident,
            summary,
            by,
        } => response::retro(state, incident, summary, by)?,
        Command::CompleteFollowUp {
            incident,
            follow_up,
            by,
        } => follow_ups::complete_follow_up(state, incident, *follow_up, by)?,
        Command::CloseFollowUp {
            incident,
            follow_up,
            by,
        } => follow_ups::close_follow_up(state, incident, follow_up, by)?,
        Command::RecordEffect {
            incident,
            key,
            outcome,
            by,
        } => response::record_effect(state, incident, key, outcome, by.as_ref())?,
    };
    kinds.iter().try_for_each(super::apply::check_names)?;
    Ok(kinds.into_iter().map(|k| Event::new(now, k)).collect())
}

fn define_pipeline(state: &State, pipeline: &Pipeline) -> Result<Vec<EventKind>, Rejection> {
    if state.pipeline.as_ref() == Some(pipeline) {
        return Ok(vec![]);
    }
    if let Some(dropped) = state
        .environments
        .keys()
        .find(|env| !pipeline.contains(env) && state.environment_has_history(env))
    {
        return Err(Rejection::PipelineDropsEnvironment {
            environment: dropped.clone(),
        });
    }
    Ok(vec![EventKind::PipelineDefined {
        pipeline: pipeline.clone(),
    }])
}

fn record_commit(state: &State, commit: &Commit) -> Result<Vec<EventKind>, Rejection> {
    if let Some(known) = state.commits.get(&commit.id) {
        return if known.commit == *commit {
            Ok(vec![])
        } else {
            Err(Rejection::ConflictingCommit {
                commit: commit.id.clone(),
            })
        };
    }
    if let Some(parent) = commit
        .parents
        .iter()
        .find(|p| !state.commits.contains_key(*p))
    {
        return Err(Rejection::UnknownCommit {
            commit: parent.clone(),
        });
    }
    Ok(vec![EventKind::CommitRecorded {
        commit: commit.clone(),
    }])
}

fn record_change(state: &State, change: &Change) -> Result<Vec<EventKind>, Rejection> {
    if let Some(known) = state.changes.get(&change.id) {
        return if known == change {
            Ok(vec![])
        } else {
            Err(Rejection::ConflictingChange {
                change: change.id.clone(),
            })
        };
    }
    for commit in &change.commits {
        let record = state
            .commits
            .get(commit)
            .ok_or_else(|| Rejection::UnknownCommit {
                commit: commit.clone(),
            })?;
        if let Some(owner) = &record.change {
            return Err(Rejection::CommitInOtherChange {
                commit: commit.clone(),
                owner: owner.clone(),
                change: change.id.clone(),
            });
        }
    }
    if let Some(dep) = change
        .depends_on
        .iter()
        .chain(change.reverts.as_ref())
        .find(|d| !state.changes.contains_key(*d))
    {
        return Err(Rejection::UnknownChange {
            change: dep.clone(),
        });
    }
    Ok(vec![EventKind::ChangeRecorded {
        change: change.clone(),
    }])
}

fn register_release(state: &State, release: &Release) -> Result<Vec<EventKind>, Rejection> {
    if let Some(known) = state.releases.get(&release.id) {
        return if known == release {
            Ok(vec![])
        } else {
            Err(Rejection::ConflictingRelease {
                release: release.id.clone(),
            })
        };
    }
    let artifact = state.artifact_of(release)?;
    if artifact.service != release.service {
        return Err(Rejection::ArtifactOfOtherService {
            release: release.id.clone(),
            service: release.service.clone(),
            digest: artifact.digest.clone(),
            artifact_service: artifact.service.clone(),
        });
    }
    Ok(vec![EventKind::ReleaseRegistered {
        release: release.clone(),
    }])
}
