//! The world before the incident: the scenario's history played through
//! the driver and the core.

use super::Sim;
use crate::drill::scenario::HistoryStep;
use crate::driver::{DriveError, DriveReport, Shipped};
use crate::machine::{Command, DeploymentStatus, EventKind, Slot, Verdict};
use crate::memory::block_on;
use crate::model::{Artifact, BranchName, Change, Commit, Digest, Release, Service};
use crate::port::Clock as _;

impl Sim<'_> {
    pub(super) fn build_world(&mut self) -> Result<(), String> {
        let s = self.scenario;
        let pipeline = s
            .pipeline
            .clone()
            .build()
            .map_err(|e| format!("pipeline: {e}"))?;
        self.host(&Command::DefinePipeline { pipeline })?;
        self.host(&Command::AdoptPolicy {
            policy: s.policy.clone(),
            by: "team".into(),
        })?;
        for service in std::iter::once(&s.service).chain(&s.other_services) {
            self.host(&Command::RegisterService {
                service: Service::new(service.clone()),
            })?;
        }
        for runbook in &s.runbooks {
            self.host(&Command::RegisterRunbook {
                runbook: runbook.clone(),
            })?;
        }
        for (i, step) in s.history.iter().enumerate() {
            self.now_minutes(1);
            self.history(step)
                .map_err(|e| format!("history step {}: {e}", i.saturating_add(1)))?;
            self.check_invariants_incrementally(&format!(
                "after history step {}",
                i.saturating_add(1)
            ));
        }
        self.check_invariants("after the history");
        self.history_done = true;
        self.keep_hotfix_lane()?;
        Ok(())
    }

    /// The driver keeps the hotfix lane into the incident's environment
    /// following what the scenario's service runs there (a no-op unless
    /// the policy uses a hotfix lane), riding out the faults as a host
    /// would.
    pub(super) fn keep_hotfix_lane(&mut self) -> Result<(), String> {
        let env = self.scenario.incident.environment.clone();
        let service = self.scenario.service.clone();
        for _ in 0..20 {
            match block_on(self.driver.keep_hotfix_lane(&env, &service)) {
                Ok(DriveReport::Done { steps }) => {
                    if !steps.is_empty() {
                        self.log.push(format!(
                            "driver: the hotfix lane follows `{env}` ({} actions)",
                            steps.len()
                        ));
                    }
                    self.check_invariants("after keeping the hotfix lane");
                    return Ok(());
                }
                Ok(report @ DriveReport::AwaitingApprovals { .. }) => self.approve(&report)?,
                Ok(other) => return Err(format!("keeping the hotfix lane: {other}")),
                Err(DriveError::Journal(_)) => self.after_failed_append()?,
                Err(DriveError::Unresolved { .. }) => self.now_minutes(1),
                Err(DriveError::BranchMoved { .. }) => self.record_pushes()?,
                Err(e) => return Err(format!("keeping the hotfix lane: {e}")),
            }
        }
        Err("keeping the hotfix lane did not finish".to_owned())
    }

    /// The driver ships `release` to `env` under one key, riding out the
    /// faults as a host would: whether it was verified healthy there.
    fn deliver(
        &mut self,
        env: &crate::model::EnvironmentId,
        release: &crate::model::ReleaseId,
        attempt: Option<&str>,
    ) -> Result<bool, String> {
        let key = crate::recovery::IdempotencyKey::new(match attempt {
            Some(attempt) => format!("deliver/{release}/{env}/{attempt}"),
            None => format!("deliver/{release}/{env}"),
        });
        for _ in 0..40 {
            let outcome = block_on(self.driver.ship(env, release, &key));
            self.drain_faults();
            match outcome {
                Ok(Shipped::Verified { slot }) => {
                    self.log
                        .push(format!("driver: {slot} shipped and verified"));
                    return Ok(true);
                }
                Ok(Shipped::Replayed { slot, status, .. }) => {
                    self.log
                        .push(format!("driver: {slot} shipped before, {status}"));
                    return Ok(status == DeploymentStatus::KnownGood);
                }
                Ok(Shipped::Waiting(report)) => {
                    self.log.push(format!("driver: {report}"));
                    self.approve(&report)?;
                }
                Err(e @ DriveError::StepFailed { .. }) => {
                    self.log.push(format!("driver: {e}"));
                    return Ok(false);
                }
                Err(e @ DriveError::BranchMoved { .. }) => {
                    self.log.push(format!("driver: {e}"));
                    self.record_pushes()?;
                }
                Err(e) => {
                    if !self.weathered(&e)? {
                        return Err(format!("shipping `{release}` to `{env}`: {e}"));
                    }
                }
            }
        }
        Err(format!("shipping `{release}` to `{env}` did not finish"))
    }

    pub(super) fn history(&mut self, step: &HistoryStep) -> Result<(), String> {
        let main = BranchName::main();
        match step {
            HistoryStep::Merge {
                change,
                commit,
                flags,
                unflagged,
                reverts,
                depends_on,
                service,
            } => {
                let service = service
                    .clone()
                    .unwrap_or_else(|| self.scenario.service.clone());
                let parent = self.driver.state().branch(&service, &main).cloned();
                self.host(&Command::RecordCommit {
                    commit: Commit::new(commit.clone(), parent),
                })?;
                (self.world.push)(&service, &main, commit);
                let mut c = Change::new(
                    change.clone(),
                    change.as_str(),
                    "dev",
                    self.clock.now(),
                    [commit.clone()],
                );
                c.flags.clone_from(flags);
                c.unflagged.clone_from(unflagged);
                c.depends_on.clone_from(depends_on);
                c.reverts.clone_from(reverts);
                self.host(&Command::RecordChange { change: c })?;
                self.host(&Command::MoveBranch {
                    service,
                    branch: main,
                    head: commit.clone(),
                })?;
            }
            HistoryStep::Build {
                release,
                version,
                build,
                commit,
                schema,
                requires,
                service,
            } => {
                let service = service
                    .clone()
                    .unwrap_or_else(|| self.scenario.service.clone());
                let digest =
                    Digest::parse(&format!("sha256:{:016x}{build:08x}", fnv(release.as_str())))
                        .map_err(|e| e.to_string())?;
                let artifact = Artifact::new(
                    service.clone(),
                    digest.clone(),
                    version.clone(),
                    *build,
                    commit.clone(),
                );
                self.host(&Command::RegisterArtifact { artifact })?;
                let mut r = Release::new(release.clone(), service, digest, format!("cfg-{build}"));
                r.schema = *schema;
                r.requires.clone_from(requires);
                self.host(&Command::RegisterRelease { release: r })?;
            }
            HistoryStep::Ship {
                release,
                through,
                healthy,
            } => {
                for (i, env) in through.iter().enumerate() {
                    let ok = *healthy || i.saturating_add(1) < through.len();
                    let slot = self.request(release, env)?;
                    self.host(&Command::StartRollout { slot: slot.clone() })?;
                    self.now_minutes(3);
                    self.host(&Command::CompleteRollout { slot: slot.clone() })?;
                    self.now_minutes(5);
                    let verdict = if ok {
                        Verdict::Healthy
                    } else {
                        Verdict::Unhealthy {
                            reason: "error rate 12%".into(),
                        }
                    };
                    self.host(&Command::RecordVerification {
                        slot,
                        verdict,
                        by: "probe".into(),
                        evidence: None,
                    })?;
                }
            }
            HistoryStep::Deliver {
                release,
                through,
                attempt,
            } => {
                for env in through {
                    self.now_minutes(1);
                    if !self.deliver(env, release, attempt.as_deref())? {
                        break;
                    }
                }
            }
            HistoryStep::RollOut {
                release,
                environment,
            } => {
                let slot = self.request(release, environment)?;
                self.host(&Command::StartRollout { slot: slot.clone() })?;
                self.host(&Command::CompleteRollout { slot })?;
            }
            HistoryStep::Start {
                release,
                environment,
            } => {
                let slot = self.request(release, environment)?;
                self.host(&Command::StartRollout { slot })?;
            }
            HistoryStep::RollOutFlag {
                environment,
                flag,
                steps,
                hold_minutes,
                breaks_at,
                service,
            } => {
                let service = service.as_ref().unwrap_or(&self.scenario.service);
                self.roll_out_flag(&super::driven::FlagRolloutStep {
                    environment,
                    flag,
                    steps,
                    hold_minutes: *hold_minutes,
                    breaks_at: *breaks_at,
                    service,
                })?;
            }
            HistoryStep::SetFlag {
                environment,
                flag,
                state,
            } => {
                let flags = self
                    .world
                    .ports
                    .flags
                    .clone()
                    .ok_or("the scenario sets a flag, and the host has no flag store")?;
                let (_, revision) =
                    block_on(flags.get(environment, flag)).map_err(|e| e.to_string())?;
                let key = crate::recovery::IdempotencyKey::new(format!(
                    "history/{environment}/{flag}/{}",
                    self.clock.now().timestamp()
                ));
                block_on(flags.set(&key, environment, flag, state, revision))
                    .map_err(|e| e.to_string())?;
                self.host(&Command::SetFlag {
                    environment: environment.clone(),
                    flag: flag.clone(),
                    state: state.clone(),
                    by: "dev".into(),
                    clearance: crate::machine::Clearance::none(),
                })?;
            }
            HistoryStep::Migrate {
                environment,
                migration,
                service,
                batch: Some(batch),
            } => {
                let service = service
                    .clone()
                    .unwrap_or_else(|| self.scenario.service.clone());
                self.drive_migration((environment, &service), migration, *batch)?;
            }
            HistoryStep::Migrate {
                environment,
                migration,
                service,
                batch: None,
            } => {
                let service = service
                    .clone()
                    .unwrap_or_else(|| self.scenario.service.clone());
                self.host(&Command::ApplyMigration {
                    environment: environment.clone(),
                    service,
                    migration: migration.clone(),
                    by: "dba".into(),
                })?;
            }
            HistoryStep::Expire { release } => {
                let digest = self
                    .driver
                    .state()
                    .release(release)
                    .map(|r| r.artifact.clone())
                    .ok_or_else(|| format!("release `{release}` is not built"))?;
                self.host(&Command::ExpireArtifact {
                    digest,
                    by: "registry".into(),
                })?;
            }
            HistoryStep::Wait { minutes } => self.now_minutes(i64::from(*minutes)),
            HistoryStep::Command { command } => {
                self.host(command)?;
            }
        }
        Ok(())
    }

    pub(super) fn request(
        &mut self,
        release: &crate::model::ReleaseId,
        env: &crate::model::EnvironmentId,
    ) -> Result<Slot, String> {
        let entries = self.host(&Command::deploy(env.clone(), release.clone(), "ci"))?;
        let slot = match entries.first().map(|e| &e.event.kind) {
            Some(EventKind::DeploymentRequested { slot, .. }) => slot.clone(),
            _ => return Err("no deployment was opened".to_owned()),
        };
        // The policy's approvers approve (the history is what happened).
        for approver in self.driver.state().pending_approvers(&slot) {
            self.host(&Command::Approve {
                slot: slot.clone(),
                by: approver,
            })?;
        }
        Ok(slot)
    }

    /// Someone deploys the newest release straight to the incident's
    /// environment while the recovery plan holds the gate. If it carries
    /// the cause, the rules must refuse it.
    pub(super) fn reckless_deploy(&mut self) {
        let env = self.scenario.incident.environment.clone();
        let newest = self
            .driver
            .state()
            .releases
            .values()
            .filter(|r| r.service == self.scenario.service)
            .max_by_key(|r| {
                self.driver
                    .state()
                    .artifact(&r.artifact)
                    .map_or(0, |a| a.build)
            })
            .map(|r| r.id.clone());
        let Some(release) = newest else { return };
        match self.host(&Command::deploy(env.clone(), release.clone(), "eve")) {
            Ok(_) => self.log.push(format!(
                "eve deployed `{release}` to `{env}` during the incident"
            )),
            Err(e) => self
                .log
                .push(format!("eve's deploy of `{release}` was refused: {e}")),
        }
        self.check_invariants("after a reckless deploy");
    }
}

pub(super) fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
