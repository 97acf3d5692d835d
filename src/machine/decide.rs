//! `decide`: check a command against the state and say what happened.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::error::{Rejection, TargetProblem, UpstreamGap};
use crate::model::{
    Actor, Change, Commit, EnvironmentId, EnvironmentRole, GatedAction, Lane, Pipeline, Release,
    ReleaseId, Revision, ServiceId,
};

use super::command::{Clearance, Command, RecoveryPermit, Verdict};
use super::event::{Event, EventKind, GateCause, Slot, Subject};
use super::lifecycle::{DeploymentStatus, LifecycleStep};
use super::state::{Deployment, RolloutHistory, State};
use super::{fit, gates, incident, rehearse};
use crate::machine::effect::IdempotencyKey;

/// Checks `command` against `state` and returns the events it causes, each
/// stamped with `now`, or the rejection that refuses it.
///
/// Pure: it reads no clock, makes no id and changes nothing; the same state,
/// command and time always give the same answer. Re-registering something
/// already registered with identical details yields no events.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use knowngood::{decide, Command, EnvironmentRole, PipelineSpec, State};
/// let pipeline = PipelineSpec::new()
///     .environment("prod", EnvironmentRole::Production)
///     .build()
///     .unwrap();
/// let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let events = decide(&State::new(), &Command::DefinePipeline { pipeline }, now).unwrap();
/// assert_eq!(events.len(), 1);
/// ```
pub fn decide(
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
        Command::RecordVerification { slot, verdict, by } => match verdict {
            Verdict::Healthy => {
                step(state, slot, LifecycleStep::PassVerification)?;
                vec![EventKind::DeploymentVerified { slot: slot.clone() }]
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
        Command::DeclareIncident {
            incident,
            environment,
            service,
            severity,
            cause,
            summary,
            by,
        } => incident::declare(
            state,
            incident,
            (environment, service),
            *severity,
            cause,
            summary,
            by,
        )?,
        Command::ChooseStrategy { .. } => rehearse::choose_checked(state, command, now)?,
        Command::MarkMitigated { incident, by } => incident::mitigate(state, incident, by)?,
        Command::ResolveIncident { incident, by } => incident::resolve(state, incident, by)?,
        Command::RecordRetro {
            incident,
            summary,
            by,
        } => incident::retro(state, incident, summary, by)?,
        Command::CompleteFollowUp {
            incident,
            follow_up,
            by,
        } => incident::complete_follow_up(state, incident, *follow_up, by)?,
        Command::RecordEffect {
            incident,
            key,
            outcome,
            by,
        } => incident::record_effect(state, incident, key, outcome, by.as_ref())?,
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

/// The history of `service` in `env` (`None` if it has none yet), after
/// checking that a pipeline exists and names the environment.
fn deployable_history<'s>(
    state: &'s State,
    env: &EnvironmentId,
    service: &ServiceId,
) -> Result<Option<&'s RolloutHistory>, Rejection> {
    if state.pipeline.is_none() {
        return Err(Rejection::NoPipeline);
    }
    Ok(state.known_environment(env)?.history(service))
}

fn in_flight(env: &EnvironmentId, service: &ServiceId, busy: &Deployment) -> Rejection {
    Rejection::RolloutInFlight {
        slot: Slot::new(env.clone(), service.clone(), busy.revision),
        status: busy.status,
    }
}

/// Promotion: the artifact must be verified in every upstream environment
/// of at least one lane into `env`; returns that lane (main first), or
/// `None` for an environment with no upstream, which accepts any artifact.
/// A fast-track: the policy must allow it for `by`, with a reason; it
/// skips the test stages of the lane into `target` (nothing, when the
/// release was fast-tracked past them already or none lie on the way).
fn fast_track(
    state: &State,
    (release, target, lane): (&ReleaseId, &EnvironmentId, Lane),
    by: &Actor,
    reason: &str,
) -> Result<Vec<EventKind>, Rejection> {
    let policy = &state.policy;
    if !policy.may_fast_track(by) {
        return Err(Rejection::FastTrackNotPermitted {
            actor: by.clone(),
            allowed: policy.fast_track_allowed,
            roles: policy.fast_track_roles.iter().cloned().collect(),
        });
    }
    gates::require_reason(reason, "a fast-track")?;
    let release = state
        .release(release)
        .ok_or_else(|| Rejection::UnknownRelease {
            release: release.clone(),
        })?;
    let pipeline = state.pipeline.as_ref().ok_or(Rejection::NoPipeline)?;
    if !pipeline.contains(target) {
        return Err(Rejection::UnknownEnvironment {
            environment: target.clone(),
        });
    }
    let done: BTreeSet<&EnvironmentId> = state.fast_tracked(&release.artifact).collect();
    let skipped: Vec<EnvironmentId> = pipeline
        .fast_track_skips(target, lane)
        .into_iter()
        .filter(|env| !done.contains(env))
        .collect();
    if skipped.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![EventKind::FastTrackAuthorized {
        release: release.id.clone(),
        digest: release.artifact.clone(),
        target: target.clone(),
        lane,
        skipped,
        by: by.clone(),
        reason: reason.to_owned(),
        role: policy.fast_track_role(by).cloned(),
    }])
}

pub(super) fn check_upstream(
    state: &State,
    env: &EnvironmentId,
    release: &Release,
) -> Result<Option<Lane>, Rejection> {
    let Some(pipeline) = state.pipeline.as_ref() else {
        return Err(Rejection::NoPipeline);
    };
    let lanes = pipeline.lanes_into(env);
    let mut gaps = Vec::with_capacity(lanes.len());
    let skipped: BTreeSet<&EnvironmentId> = state.fast_tracked(&release.artifact).collect();
    for lane in lanes {
        // A stage the artifact was fast-tracked past stands for its own
        // upstream stages.
        let mut required: Vec<&EnvironmentId> = Vec::new();
        let mut seen: BTreeSet<&EnvironmentId> = BTreeSet::new();
        let mut todo = pipeline.predecessors(env, lane);
        while let Some(up) = todo.pop() {
            if !seen.insert(up) {
                continue;
            }
            if skipped.contains(up) {
                todo.extend(pipeline.predecessors(up, lane));
            } else {
                required.push(up);
            }
        }
        required.sort();
        let missing: Vec<EnvironmentId> = required
            .into_iter()
            .filter(|up| {
                !state
                    .environments
                    .get(*up)
                    .is_some_and(|e| e.has_verified(&release.artifact))
            })
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(Some(lane));
        }
        gaps.push(UpstreamGap { lane, missing });
    }
    if gaps.is_empty() {
        return Ok(None);
    }
    Err(Rejection::NotVerifiedUpstream {
        environment: env.clone(),
        digest: release.artifact.clone(),
        gaps,
    })
}

/// The deployment in `slot` after checking that `step` applies to it.
pub(super) fn step<'s>(
    state: &'s State,
    slot: &Slot,
    step: LifecycleStep,
) -> Result<&'s Deployment, Rejection> {
    let d = state.deployment(slot)?;
    match d.status.after(step) {
        Some(_) => Ok(d),
        None => Err(Rejection::IllegalTransition {
            slot: slot.clone(),
            status: d.status,
            step,
        }),
    }
}

fn complete_rollout(state: &State, slot: &Slot) -> Result<Vec<EventKind>, Rejection> {
    let d = step(state, slot, LifecycleStep::CompleteRollout)?;
    let mut kinds = vec![EventKind::RolloutCompleted { slot: slot.clone() }];
    let previous = state
        .history(&slot.environment, &slot.service)
        .and_then(RolloutHistory::current)
        .filter(|p| p.revision != slot.revision);
    if let Some(prev) = previous {
        let prev_slot = Slot::new(
            slot.environment.clone(),
            slot.service.clone(),
            prev.revision,
        );
        if d.rolled_back_from() == Some(prev.revision)
            && prev.status.after(LifecycleStep::RollBack).is_some()
        {
            kinds.push(EventKind::RevisionRolledBack {
                slot: prev_slot,
                by_revision: slot.revision,
            });
        } else if prev
            .status
            .after(LifecycleStep::Supersede)
            .is_some_and(|next| next != prev.status)
        {
            kinds.push(EventKind::RevisionSuperseded {
                slot: prev_slot,
                by_revision: slot.revision,
            });
        }
    }
    Ok(kinds)
}

fn explicit_target<'h>(
    history: &'h RolloutHistory,
    current: &Deployment,
    target: Slot,
) -> Result<&'h Deployment, Rejection> {
    let Some(d) = history.get(target.revision) else {
        return Err(Rejection::UnknownRevision { slot: target });
    };
    let problem = if d.revision == current.revision {
        TargetProblem::IsCurrent
    } else if d.release == current.release {
        TargetProblem::SameRelease(d.release.clone())
    } else if d.completed_at.is_none() {
        TargetProblem::NeverServed(d.status)
    } else {
        return Ok(d);
    };
    Err(Rejection::UnusableRollbackTarget { target, problem })
}

fn request_deployment(
    state: &State,
    (environment, release): (&EnvironmentId, &ReleaseId),
    (by, effect): (&Actor, &Option<IdempotencyKey>),
    clearance: &Clearance,
    now: DateTime<Utc>,
) -> Result<Vec<EventKind>, Rejection> {
    let release = state
        .release(release)
        .ok_or_else(|| Rejection::UnknownRelease {
            release: release.clone(),
        })?;
    let history = deployable_history(state, environment, &release.service)?;
    if let Some(busy) = history.and_then(RolloutHistory::in_flight) {
        return Err(in_flight(environment, &release.service, busy));
    }
    let lane = check_upstream(state, environment, release)?;
    gates::check_release_entry(state, environment, release)?;
    fit::check_release_fits(state, environment, release)?;
    let forward = RecoveryPermit::Forward {
        service: release.service.clone(),
    };
    let named = RecoveryPermit::Deploy {
        release: release.id.clone(),
    };
    if gates::check_gate(state, environment, forward).is_err() {
        gates::check_gate(state, environment, named)?;
    }
    if let Some(justification) = &clearance.break_glass {
        gates::require_reason(justification, "breaking glass")?;
    }
    let hotfix_env = state
        .pipeline
        .as_ref()
        .and_then(|p| p.environment(environment))
        .is_some_and(|e| e.role == EnvironmentRole::HotfixDevelopment);
    let along_hotfix = hotfix_env || lane == Some(Lane::Hotfix);
    if along_hotfix && state.policy.hotfix_lane.is_none() {
        return Err(Rejection::HotfixLaneDisabled {
            environment: environment.clone(),
            release: release.id.clone(),
        });
    }
    let action = if along_hotfix {
        GatedAction::Hotfix
    } else {
        GatedAction::Deliver
    };
    let revision = history.map_or(Revision(1), RolloutHistory::next_revision);
    let slot = Slot::new(environment.clone(), release.service.clone(), revision);
    let subject = Subject::Deployment { slot: slot.clone() };
    let audit = gates::check_freezes(state, action, environment, now, by, clearance, subject)?;
    let mut kinds = vec![EventKind::DeploymentRequested {
        slot: slot.clone(),
        release: release.id.clone(),
        by: by.clone(),
        effect: effect.clone(),
    }];
    if let Some(justification) = &clearance.break_glass {
        kinds.push(EventKind::BreakGlassUsed {
            slot,
            by: by.clone(),
            justification: justification.clone(),
        });
    }
    kinds.extend(audit);
    Ok(kinds)
}

fn rollback(
    state: &State,
    (environment, service, to_revision): (&EnvironmentId, &ServiceId, Option<Revision>),
    (by, reason, clearance): (&Actor, &str, &Clearance),
    effect: Option<&IdempotencyKey>,
    now: DateTime<Utc>,
) -> Result<Vec<EventKind>, Rejection> {
    let nothing = || Rejection::NothingToRollBack {
        environment: environment.clone(),
        service: service.clone(),
    };
    let history = deployable_history(state, environment, service)?.ok_or_else(nothing)?;
    let current = history.current().ok_or_else(nothing)?;
    if let Some(busy) = history.in_flight() {
        return Err(in_flight(environment, service, busy));
    }
    gates::require_reason(reason, "a rollback")?;
    let break_glass = forward_only_clearance(state, (environment, service), by, clearance)?;
    let target = match to_revision {
        Some(r) => {
            let target = explicit_target(
                history,
                current,
                Slot::new(environment.clone(), service.clone(), r),
            )?;
            let release =
                state
                    .release(&target.release)
                    .ok_or_else(|| Rejection::UnknownRelease {
                        release: target.release.clone(),
                    })?;
            gates::check_release_entry(state, environment, release)?;
            fit::check_release_fits(state, environment, release)?;
            target
        }
        None => {
            // The same rule the planner uses: the newest revision before
            // this one that still qualifies (see `State::rollback_target`);
            // whether it fits now (a down-migration first, other services)
            // is then checked and reported as such.
            let chosen = state
                .rollback_target(environment, service, current.revision)
                .map_err(|skipped| Rejection::NoKnownGoodTarget {
                    environment: environment.clone(),
                    service: service.clone(),
                    current: current.revision,
                    why: state.no_rollback_target_reason(
                        environment,
                        service,
                        current.revision,
                        &skipped,
                    ),
                    skipped,
                })?;
            let target =
                history
                    .get(chosen.revision)
                    .ok_or_else(|| Rejection::UnknownRevision {
                        slot: Slot::new(environment.clone(), service.clone(), chosen.revision),
                    })?;
            if let Some(release) = state.releases.get(&target.release) {
                fit::check_release_fits(state, environment, release)?;
            }
            target
        }
    };
    gates::check_gate(
        state,
        environment,
        RecoveryPermit::Rollback {
            service: service.clone(),
        },
    )?;
    let slot = Slot::new(
        environment.clone(),
        service.clone(),
        history.next_revision(),
    );
    let subject = Subject::Deployment { slot: slot.clone() };
    let audit = gates::check_freezes(
        state,
        GatedAction::Rollback,
        environment,
        now,
        by,
        clearance,
        subject,
    )?;
    let close = gates::auto_close(
        state,
        environment,
        by,
        format!(
            "rollback of `{service}` from {}: {reason}",
            current.revision
        ),
        GateCause::Rollback { slot: slot.clone() },
    );
    let glass = break_glass.map(|justification| EventKind::BreakGlassUsed {
        slot: slot.clone(),
        by: by.clone(),
        justification,
    });
    Ok(std::iter::once(EventKind::RollbackRequested {
        slot,
        release: target.release.clone(),
        target: target.revision,
        rolled_back_from: current.revision,
        by: by.clone(),
        reason: reason.to_owned(),
        effect: effect.cloned(),
    })
    .chain(glass)
    .chain(audit)
    .chain(close)
    .collect())
}

/// Under a forward-only policy a rollback needs broken glass: a
/// justification from a member of a break-glass role (returned, to be
/// audited). Elsewhere a rollback takes no broken glass.
fn forward_only_clearance(
    state: &State,
    (environment, service): (&EnvironmentId, &ServiceId),
    by: &Actor,
    clearance: &Clearance,
) -> Result<Option<String>, Rejection> {
    if !state.policy.forward_only {
        if clearance.break_glass.is_some() {
            return Err(Rejection::BreakGlassNotApplicable {
                command: "rollback".to_owned(),
            });
        }
        return Ok(None);
    }
    let refused = || Rejection::ForwardOnly {
        environment: environment.clone(),
        service: service.clone(),
        actor: by.clone(),
        roles: state.policy.break_glass_roles.iter().cloned().collect(),
    };
    let Some(justification) = &clearance.break_glass else {
        return Err(refused());
    };
    if !state.policy.may_break_glass(by) {
        return Err(refused());
    }
    gates::require_reason(justification, "breaking glass")?;
    Ok(Some(justification.clone()))
}
