//! Dry runs ("what if"): the events a command — or a whole recovery plan —
//! would record, and the state it would leave, without touching the real
//! state.
//!
//! A plan's steps are turned into the commands the driver sends for them
//! and each command is judged by [`decide`](super::decide) on the state as
//! it would be once the steps before it succeeded. The hypothetical state
//! is a copy-on-write view of the real one (see [`State`]'s cloning
//! notes): it costs what the plan changes, not what the history holds.
//!
//! Where a step needs something only a port or a person can supply (the
//! commit a revert makes, the artifact a build produces, the approvals a
//! rollout waits for), the rehearsal assumes the step succeeds and uses a
//! stand-in named after the step's key (`what-if..<key>`, a name as commit ids are); approvals come
//! from the policy's role members.

use crate::model::Slot;
use chrono::{DateTime, Utc};

use super::rejection::Rejection;
use crate::model::{
    Actor, Artifact, BranchName, Change, Commit, CommitId, Digest, EnvironmentId, IncidentId,
    Release, Revision, ServiceId, Strategy, SuspectedCause,
};

use super::command::{Clearance, Command, Verdict};
use super::effect::{Effect, EffectAction, EffectOutcome, IdempotencyKey};
use super::event::{Event, EventKind};
use super::lifecycle::DeploymentStatus;
use super::state::State;
use super::steps::{
    Rework, built_release_id, fast_track_command, fitted_clearance, promote_stages,
    promoted_release, ship_key,
};
use super::{response, rules};

/// What a command or a plan would do: the events it would record and the
/// state at the end. The real state is untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rehearsal {
    /// The events, in the order the journal would record them.
    pub events: Vec<Event>,
    /// The state once they are applied.
    pub state: State,
}

/// Rehearses `command` at `now` on a copy-on-write view of `state`.
///
/// For [`Command::ChooseStrategy`] the rehearsal goes on through every
/// step of the chosen plan, each turned into the commands the driver
/// would send, assuming every step succeeds; the first refusal stops it
/// with [`Rejection::PlanStepRefused`], whose [`Rejection::rule`] is the
/// rule of the refused step. Any other command is decided and applied.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use knowngood::machine::rehearse;
/// use knowngood::{Command, EnvironmentRole, PipelineSpec, State};
/// let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let pipeline = PipelineSpec::new().environment("prod", EnvironmentRole::Production).build()?;
/// let state = State::new();
/// let what_if = rehearse(&state, &Command::DefinePipeline { pipeline }, now)?;
/// assert_eq!(what_if.events.len(), 1);
/// assert!(what_if.state.pipeline().is_some());
/// assert!(state.pipeline().is_none()); // the real state is untouched
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn rehearse(
    state: &State,
    command: &Command,
    now: DateTime<Utc>,
) -> Result<Rehearsal, Rejection> {
    let run = if matches!(
        command,
        Command::ChooseStrategy { .. } | Command::Remediate { .. }
    ) {
        rehearse_choice(state, command, now)?.1
    } else {
        let mut run = Run::new(state, now);
        let events = rules::judge(&run.state, command, now)?;
        run.apply(events)?;
        run
    };
    Ok(Rehearsal {
        events: run.events,
        state: run.state,
    })
}

/// The events of a [`Command::ChooseStrategy`], once the rehearsal of its
/// steps shows that the core accepts every one of them.
pub(super) fn choose_checked(
    state: &State,
    command: &Command,
    now: DateTime<Utc>,
) -> Result<Vec<EventKind>, Rejection> {
    Ok(rehearse_choice(state, command, now)?.0)
}

/// Decides the choice, then rehearses every step on top of it.
fn rehearse_choice(
    state: &State,
    command: &Command,
    now: DateTime<Utc>,
) -> Result<(Vec<EventKind>, Run), Rejection> {
    // A remediation is the policy's decision, then the choice it makes.
    let (mut kinds, choice) = match command {
        Command::Remediate { .. } => {
            let (decided, choose) = super::remediation::decision(state, command, now)?;
            (vec![decided], choose)
        }
        _ => (Vec::new(), command.clone()),
    };
    let command = &choice;
    kinds.extend(response::choose(state, command)?);
    let mut run = Run::new(state, now);
    run.record(kinds.clone())?;
    if let Command::ChooseStrategy {
        incident,
        strategy,
        steps,
        by,
        clearance,
        ..
    } = command
    {
        run.clearance.clone_from(clearance);
        run.steps(incident, *strategy, steps, by)?;
    }
    Ok((kinds, run))
}

struct Run {
    state: State,
    events: Vec<Event>,
    now: DateTime<Utc>,
    /// The plan's clearance, fitted to each command it sends.
    clearance: Clearance,
}

impl Run {
    fn new(state: &State, now: DateTime<Utc>) -> Self {
        Self {
            state: state.clone(),
            events: Vec::new(),
            now,
            clearance: Clearance::none(),
        }
    }

    fn apply(&mut self, events: Vec<Event>) -> Result<Vec<Event>, Rejection> {
        for event in &events {
            self.state.apply(event)?;
        }
        self.events.extend(events.iter().cloned());
        Ok(events)
    }

    fn record(&mut self, kinds: Vec<EventKind>) -> Result<(), Rejection> {
        let now = self.now;
        self.apply(kinds.into_iter().map(|k| Event::new(now, k)).collect())
            .map(drop)
    }

    fn submit(&mut self, command: &Command) -> Result<Vec<Event>, Rejection> {
        let fitted = fitted_clearance(&self.state, command, &self.clearance);
        let command = command.clone().with_clearance(fitted);
        let events = rules::judge(&self.state, &command, self.now)?;
        self.apply(events)
    }

    fn steps(
        &mut self,
        incident: &IncidentId,
        strategy: Strategy,
        steps: &[Effect],
        by: &Actor,
    ) -> Result<(), Rejection> {
        for step in steps {
            let refused = |refusal: Rejection| Rejection::PlanStepRefused {
                incident: incident.clone(),
                strategy,
                key: step.key.clone(),
                action: step.action.to_string(),
                refusal: Box::new(refusal),
            };
            self.effect(incident, &step.key, EffectOutcome::Started)
                .map_err(refused)?;
            self.step(incident, step, by).map_err(refused)?;
            let done = EffectOutcome::Succeeded {
                detail: "rehearsed".to_owned(),
            };
            self.effect(incident, &step.key, done).map_err(refused)?;
        }
        Ok(())
    }

    fn effect(
        &mut self,
        incident: &IncidentId,
        key: &IdempotencyKey,
        outcome: EffectOutcome,
    ) -> Result<(), Rejection> {
        self.submit(&Command::RecordEffect {
            incident: incident.clone(),
            key: key.clone(),
            outcome,
            by: None,
        })
        .map(drop)
    }

    fn head(&self, service: &ServiceId, branch: &BranchName) -> Result<CommitId, Rejection> {
        self.state
            .branch(service, branch)
            .cloned()
            .ok_or_else(|| Rejection::UnknownBranch {
                service: service.clone(),
                branch: branch.clone(),
            })
    }

    /// Records a commit made on `onto` (and the change it forms), then
    /// moves the branch: what the driver records after a VCS call.
    /// Records `commit` on top of `onto`'s head (and `merged`, for a merge
    /// commit), with its change, and moves `onto` there.
    fn land(
        &mut self,
        service: &ServiceId,
        onto: &BranchName,
        commit: &CommitId,
        (change, merged): (Option<Change>, Option<CommitId>),
    ) -> Result<(), Rejection> {
        let parent = self.head(service, onto)?;
        self.submit(&Command::RecordCommit {
            commit: Commit::new(commit.clone(), std::iter::once(parent).chain(merged)),
        })?;
        if let Some(change) = change {
            self.submit(&Command::RecordChange { change })?;
        }
        self.submit(&Command::MoveBranch {
            service: service.clone(),
            branch: onto.clone(),
            head: commit.clone(),
        })
        .map(drop)
    }

    fn step(&mut self, incident: &IncidentId, step: &Effect, by: &Actor) -> Result<(), Rejection> {
        let key = &step.key;
        // A commit id as real ones are named (no `/`): the step's key with
        // its separators spelled `..`.
        let stand_in = CommitId::new(format!("what-if..{}", key.as_str().replace('/', "..")));
        match &step.action {
            EffectAction::SetFlag {
                environment,
                flag,
                state,
            } => {
                self.submit(&Command::SetFlag {
                    environment: environment.clone(),
                    flag: flag.clone(),
                    state: state.clone(),
                    by: by.clone(),
                    clearance: Clearance::none(),
                })?;
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
                    by.clone(),
                    format!("incident {incident}"),
                )
                .for_effect(key.clone());
                let slot = self.opened(&command)?;
                self.roll_out(&slot)?;
            }
            EffectAction::Abort {
                environment,
                service,
                revision,
            } => {
                self.submit(&Command::AbortRollout {
                    slot: Slot::new(environment.clone(), service.clone(), *revision),
                    by: by.clone(),
                    reason: format!("incident {incident}"),
                })?;
            }
            EffectAction::MigrateDown {
                environment,
                service,
                to,
            } => {
                let down =
                    self.state
                        .down_migration(environment, service, *to, format!("what-if/{key}"));
                self.submit(&Command::ApplyMigration {
                    environment: environment.clone(),
                    service: service.clone(),
                    migration: down,
                    by: by.clone(),
                })?;
            }
            EffectAction::Verify {
                environment,
                service,
            } => self.verify(environment, service, by)?,
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
                let original = self.state.known_change(change)?.clone();
                let rework = if matches!(step.action, EffectAction::RevertChange { .. }) {
                    Rework::Revert
                } else {
                    Rework::Reapply
                };
                let new = rework.change(&original, stand_in.clone(), by.clone(), self.now);
                self.land(service, onto, &stand_in, (Some(new), None))?;
            }
            EffectAction::CutBranch {
                service,
                branch,
                at,
            } => {
                self.submit(&Command::MoveBranch {
                    service: service.clone(),
                    branch: branch.clone(),
                    head: at.clone(),
                })?;
            }
            EffectAction::LandFix { service, onto } => {
                let fix = Change::new(
                    format!("what-if/fix-{incident}"),
                    format!("Fix for incident {incident}"),
                    by.clone(),
                    self.now,
                    [stand_in.clone()],
                );
                let fix_id = fix.id.clone();
                self.land(service, onto, &stand_in, (Some(fix), None))?;
                let cause = self.state.incident(incident).map(|i| i.cause.clone());
                if let Some(SuspectedCause::Change { change }) = cause {
                    self.submit(&Command::DeclareFix {
                        change,
                        fix: fix_id,
                        by: by.clone(),
                    })?;
                }
            }
            EffectAction::MergeBack {
                service,
                from,
                onto,
            } => {
                let merged = self.head(service, from)?;
                self.land(service, onto, &stand_in, (None, Some(merged)))?;
            }
            EffectAction::Tag {
                service, branch, ..
            } => {
                self.head(service, branch)?;
            }
            EffectAction::Ship {
                service,
                branch,
                lane,
                environment,
                fast_track,
            } => {
                let head = self.head(service, branch)?;
                let artifact = self.stand_in_build(key, service, environment, head);
                let release = built_release_id(&artifact);
                let digest = artifact.digest.clone();
                self.submit(&Command::RegisterArtifact { artifact })?;
                self.submit(&Command::RegisterRelease {
                    release: Release::new(release.clone(), service.clone(), digest, "what-if"),
                })?;
                if *fast_track {
                    self.submit(&fast_track_command(
                        &release,
                        environment,
                        *lane,
                        by,
                        incident,
                    ))?;
                }
                let path = self
                    .state
                    .pipeline()
                    .map(|p| p.ship_path(environment, *lane, *fast_track))
                    .unwrap_or_default();
                for env in path {
                    self.deploy_and_verify((&env, service, &release), ship_key(key, &env), by)?;
                }
            }
            EffectAction::Promote {
                service,
                from,
                lane,
                environment,
                fast_track,
            } => {
                let release = promoted_release(&self.state, incident, (service, from))?;
                if *fast_track {
                    self.submit(&fast_track_command(
                        &release,
                        environment,
                        *lane,
                        by,
                        incident,
                    ))?;
                }
                let stages = promote_stages(
                    &self.state,
                    key,
                    (service, &release),
                    (*lane, environment, *fast_track),
                );
                for env in stages {
                    self.deploy_and_verify((&env, service, &release), ship_key(key, &env), by)?;
                }
            }
            EffectAction::Mirror {
                environment,
                service,
                release,
            } => {
                self.deploy_and_verify((environment, service, release), key.clone(), by)?;
            }
            EffectAction::RunRunbook { runbook, .. } => {
                // The host runs it; the core judges only that it applies.
                let record =
                    self.state
                        .incident(incident)
                        .ok_or_else(|| Rejection::UnknownIncident {
                            incident: incident.clone(),
                        })?;
                super::runbooks::runbook_for(&self.state, record, runbook)?;
            }
            EffectAction::WaitFor { environment, .. } => {
                // The work in flight there passes: it rolls out and verifies.
                let service = self
                    .state
                    .incident(incident)
                    .map(|i| i.service.clone())
                    .ok_or_else(|| Rejection::UnknownIncident {
                        incident: incident.clone(),
                    })?;
                let latest = self
                    .state
                    .history(environment, &service)
                    .and_then(|h| h.latest())
                    .filter(|d| {
                        matches!(
                            d.status,
                            DeploymentStatus::Requested
                                | DeploymentStatus::RollingOut
                                | DeploymentStatus::Verifying
                        )
                    })
                    .map(|d| d.revision);
                if let Some(revision) = latest {
                    let slot = Slot::new(environment.clone(), service.clone(), revision);
                    self.approve(&slot)?;
                    self.roll_out(&slot)?;
                    self.verify(environment, &service, by)?;
                }
            }
        }
        Ok(())
    }

    /// Deploys `release` to `env` under `effect` and verifies it: the
    /// request, the approvals, the rollout and the verdict, as the driver
    /// makes them for one stage.
    fn deploy_and_verify(
        &mut self,
        (env, service, release): (&EnvironmentId, &ServiceId, &crate::model::ReleaseId),
        effect: IdempotencyKey,
        by: &Actor,
    ) -> Result<(), Rejection> {
        let command = Command::deploy(env.clone(), release.clone(), by.clone()).for_effect(effect);
        let slot = self.opened(&command)?;
        self.approve(&slot)?;
        self.roll_out(&slot)?;
        self.verify(env, service, by)
    }

    /// Decides a deployment or rollback request and returns the slot it
    /// opened. `decide` always opens one when it accepts such a request;
    /// were it ever not to, the request is reported as finding no pipeline
    /// to deploy along rather than guessed at.
    fn opened(&mut self, command: &Command) -> Result<Slot, Rejection> {
        let events = self.submit(command)?;
        events
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::DeploymentRequested { slot, .. }
                | EventKind::RollbackRequested { slot, .. } => Some(slot.clone()),
                _ => None,
            })
            .ok_or(Rejection::NoPipeline)
    }

    /// Starts and completes the rollout of `slot` where it still needs it.
    fn roll_out(&mut self, slot: &Slot) -> Result<(), Rejection> {
        if self.status(slot) == Some(DeploymentStatus::Requested) {
            self.submit(&Command::StartRollout { slot: slot.clone() })?;
        }
        if self.status(slot) == Some(DeploymentStatus::RollingOut) {
            self.submit(&Command::CompleteRollout { slot: slot.clone() })?;
        }
        Ok(())
    }

    /// The approvals the policy asks for, from its role members other than
    /// the requester, assuming they approve.
    fn approve(&mut self, slot: &Slot) -> Result<(), Rejection> {
        for approver in self.state.pending_approvers(slot) {
            self.submit(&Command::Approve {
                slot: slot.clone(),
                by: approver,
            })?;
        }
        Ok(())
    }

    fn status(&self, slot: &Slot) -> Option<DeploymentStatus> {
        self.state.deployment(slot).ok().map(|d| d.status)
    }

    /// Records a healthy verdict on what serves `service` in `env`, unless
    /// it is known good already (or failed: the driver then checks health
    /// only); the core judges whether it can be.
    fn verify(
        &mut self,
        env: &EnvironmentId,
        service: &ServiceId,
        by: &Actor,
    ) -> Result<(), Rejection> {
        let current = self
            .state
            .history(env, service)
            .and_then(super::RolloutHistory::current)
            .map(|d| (d.revision, d.status));
        let revision = match current {
            // Known good already; or failed and staying so, where only the
            // service's health is checked (assumed good in a rehearsal).
            Some((_, DeploymentStatus::KnownGood | DeploymentStatus::Failed)) => return Ok(()),
            Some((revision, _)) => revision,
            None => Revision(0),
        };
        self.submit(&Command::RecordVerification {
            slot: Slot::new(env.clone(), service.clone(), revision),
            verdict: Verdict::Healthy,
            by: by.clone(),
            evidence: None,
        })
        .map(drop)
    }

    /// The artifact a build of `head` would produce: the next build after
    /// what serves in `env`, from a builder the policy trusts.
    fn stand_in_build(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        env: &EnvironmentId,
        head: CommitId,
    ) -> Artifact {
        let serving = self
            .state
            .current_release(env, service)
            .and_then(|r| self.state.artifact(&r.artifact));
        let (mut version, mut build) = serving.map_or_else(
            || (semver::Version::new(0, 0, 1), 1),
            |a| {
                let mut v = a.version.clone();
                v.patch = v.patch.saturating_add(1);
                v.pre = semver::Prerelease::EMPTY;
                (v, a.build.saturating_add(1))
            },
        );
        // Never the name of a release registered already (a broken build
        // after the one serving, say): the stand-in stands for a new one.
        let name = |v: &semver::Version, b: u64| {
            crate::model::ReleaseId::new(format!("{service}@{v}+{b}"))
        };
        while self.state.release(&name(&version, build)).is_some() {
            version.patch = version.patch.saturating_add(1);
            build = build.saturating_add(1);
        }
        let digest = Digest::sha256_of(format!("what-if/{key}").as_bytes());
        let mut artifact = Artifact::new(service.clone(), digest, version, build, head);
        if let Some(trusted) = self.state.policy().trusted_builders.iter().next() {
            artifact = artifact.built_by(trusted.clone());
        }
        artifact
    }
}
