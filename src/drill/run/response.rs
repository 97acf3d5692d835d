//! The response to the incident: the plan driven, approvals given, pushes
//! recorded, what a person does, the incident mitigated.

use super::{Sim, Stop};
use crate::driver::{DriveError, DriveReport};
use crate::machine::{Command, DeploymentStatus, Slot, Verdict};
use crate::memory::block_on;
use crate::model::{Change, Commit, IncidentId};
use crate::port::Clock as _;
use crate::recovery::EffectAction;
use chrono::Duration;
use std::collections::BTreeMap;

impl Sim<'_> {
    /// Drives the chosen plan to the end, restarting after crashes,
    /// waiting out unavailability and playing the person where needed
    /// (steps only a person takes, approvals, recording a push).
    pub(super) fn drive(&mut self, incident: &IncidentId) -> Result<(), Stop> {
        let mut polls: BTreeMap<Slot, (u64, u64)> = BTreeMap::new();
        for _ in 0..80 {
            self.now_minutes(1);
            let outcome = block_on(self.driver.drive(incident));
            self.drain_faults();
            match outcome {
                Ok(DriveReport::Done { steps } | DriveReport::AwaitingMitigation { steps, .. }) => {
                    self.log.push(format!("driver: {} steps done", steps.len()));
                    self.check_invariants("after the drive");
                    return Ok(());
                }
                Ok(DriveReport::Outgrown { additions, .. }) => {
                    // What ships is what was planned: the person on call
                    // looks at what was pushed and lets it ship.
                    self.log.push(format!("driver: {additions}"));
                    self.now_minutes(2);
                    self.log.push(format!(
                        "person: accepts `{}` at `{}` into the plan",
                        additions.branch, additions.head
                    ));
                    self.host(&Command::AcceptChanges {
                        incident: incident.clone(),
                        service: additions.service.clone(),
                        branch: additions.branch.clone(),
                        head: additions.head.clone(),
                        by: self.chooser.clone(),
                        reason: "looked at what was pushed while the plan ran".to_owned(),
                    })?;
                }
                Ok(DriveReport::Paused { key, instruction }) => {
                    self.log.push(format!("person: {instruction}"));
                    self.person(incident, &key)?;
                }
                Ok(report @ DriveReport::AwaitingApprovals { .. }) => {
                    let DriveReport::AwaitingApprovals { slot, .. } = &report else {
                        continue;
                    };
                    self.log.push(format!("driver: {report}"));
                    let (seen, wanted) = polls.entry(slot.clone()).or_insert_with(|| {
                        let wanted = if self.scenario.faults.late_approvals {
                            self.chaos.below(4).saturating_add(1)
                        } else {
                            0
                        };
                        (0, wanted)
                    });
                    if *seen < *wanted {
                        // The approvers are busy: hours pass, and now and
                        // then another process polls.
                        *seen = seen.saturating_add(1);
                        let hours = i64::try_from(self.chaos.below(12))
                            .unwrap_or(0)
                            .saturating_add(1);
                        self.clock.advance(Duration::hours(hours));
                        self.chaos.note(
                            "late approval",
                            format!("approvals: still none for {slot} after {hours} more hours"),
                        );
                        if *seen % 2 == 0 {
                            self.restart()?;
                        }
                        continue;
                    }
                    self.approve(&report)?;
                }
                Err(DriveError::Journal(e)) => {
                    self.log.push(format!("driver stopped ({e})"));
                    self.after_failed_append()?;
                    self.check_invariants("after a failed journal write");
                }
                Err(DriveError::Unresolved { key, error, .. }) => {
                    self.log
                        .push(format!("driver: `{key}` unresolved ({error}); retrying"));
                }
                Err(e @ DriveError::BranchMoved { .. }) => {
                    self.log.push(format!("driver: {e}"));
                    self.record_pushes()?;
                }
                Err(e @ DriveError::StepFailed { .. }) => return Err(Stop::step(e.to_string())),
                Err(DriveError::Refused(refusal)) => {
                    return Err(Stop::broken(format!(
                        "invariant broken: the core refused a step of a plan the planner offered: {refusal}"
                    )));
                }
                Err(e) => return Err(Stop::broken(format!("the driver stopped: {e}"))),
            }
        }
        Err(Stop::broken("the drive did not finish"))
    }

    /// The faults injected since last asked, into the log.
    pub(super) fn drain_faults(&mut self) {
        for fault in std::mem::take(
            &mut *self
                .chaos
                .log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ) {
            self.log.push(format!("fault: {fault}"));
        }
    }

    /// The approvers the policy names approve the waiting revision.
    pub(super) fn approve(&mut self, report: &DriveReport) -> Result<(), String> {
        let DriveReport::AwaitingApprovals {
            slot, need, role, ..
        } = report
        else {
            return Ok(());
        };
        self.now_minutes(10);
        let approvers = self.driver.state().pending_approvers(slot);
        if approvers.is_empty() {
            return Err(format!(
                "{slot} waits for {need} approvals from `{role}`, and no member of the role can give them"
            ));
        }
        for by in approvers {
            self.log.push(format!("person: `{by}` approves {slot}"));
            self.host(&Command::Approve {
                slot: slot.clone(),
                by,
            })?;
        }
        Ok(())
    }

    /// The person who pushed records the push in the ledger: the commit,
    /// then the branch move.
    pub(super) fn record_pushes(&mut self) -> Result<(), String> {
        let pushes = self.chaos.take_pushes();
        if pushes.is_empty() {
            return Err("a branch moved, and nobody in the drill pushed to it".to_owned());
        }
        for push in pushes {
            self.log.push(format!(
                "person: records the push of `{}` to `{}`",
                push.commit, push.branch
            ));
            self.host(&Command::RecordCommit {
                commit: Commit::new(push.commit.clone(), [push.parent]),
            })?;
            self.host(&Command::MoveBranch {
                service: push.service,
                branch: push.branch,
                head: push.commit,
            })?;
        }
        Ok(())
    }

    /// Plays the person for a paused step, then confirms it.
    pub(super) fn person(
        &mut self,
        incident: &IncidentId,
        key: &crate::recovery::IdempotencyKey,
    ) -> Result<(), String> {
        let step = self
            .driver
            .state()
            .incident(incident)
            .and_then(|i| i.steps.iter().find(|s| &s.key == key).cloned())
            .ok_or("the paused step is not in the plan")?;
        match &step.action {
            EffectAction::LandFix { service, onto } => {
                let commit =
                    crate::model::CommitId::new(format!("fix{:04}", self.driver.journal().len()));
                let parent = self.driver.state().branch(service, onto).cloned();
                let fix = self.driver.state().policy().fix_seconds;
                self.chaos
                    .charge(key, crate::drill::faults::Work::Seconds(fix));
                self.host(&Command::RecordCommit {
                    commit: Commit::new(commit.clone(), parent),
                })?;
                (self.world.push)(service, onto, &commit);
                let change = Change::new(
                    format!("fix-{key}"),
                    "the fix",
                    "dev",
                    self.clock.now(),
                    [commit.clone()],
                );
                let change_id = change.id.clone();
                self.host(&Command::RecordChange { change })?;
                self.host(&Command::MoveBranch {
                    service: service.clone(),
                    branch: onto.clone(),
                    head: commit,
                })?;
                if let Some(crate::model::SuspectedCause::Change { change: cause }) = self
                    .driver
                    .state()
                    .incident(incident)
                    .map(|i| i.cause.clone())
                {
                    self.host(&Command::DeclareFix {
                        change: cause,
                        fix: change_id,
                        by: "dev".into(),
                    })?;
                }
            }
            EffectAction::MigrateDown {
                environment,
                service,
                to,
            } => {
                let migrate = self.driver.state().policy().migrate_seconds;
                self.chaos
                    .charge(key, crate::drill::faults::Work::Seconds(migrate));
                let down = self.driver.state().down_migration(
                    environment,
                    service,
                    *to,
                    format!("down-{key}"),
                );
                self.host(&Command::ApplyMigration {
                    environment: environment.clone(),
                    service: service.clone(),
                    migration: down,
                    by: "dba".into(),
                })?;
            }
            EffectAction::WaitFor {
                environment,
                seconds,
            } => {
                self.chaos
                    .charge(key, crate::drill::faults::Work::Seconds(*seconds));
                let service = self.scenario.service.clone();
                let verifying = self
                    .driver
                    .state()
                    .history(environment, &service)
                    .and_then(|h| h.latest())
                    .filter(|d| d.status == DeploymentStatus::Verifying)
                    .map(|d| Slot::new(environment.clone(), service.clone(), d.revision));
                if let Some(slot) = verifying {
                    self.host(&Command::RecordVerification {
                        slot,
                        verdict: Verdict::Healthy,
                        by: "qa".into(),
                        evidence: None,
                    })?;
                }
                return Ok(());
            }
            other => return Err(format!("paused on a step the drill cannot play: {other}")),
        }
        for _ in 0..20 {
            match block_on(self.driver.confirm(incident, key, "done by a person")) {
                Ok(()) => return Ok(()),
                Err(DriveError::Journal(_)) => self.after_failed_append()?,
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("could not record the person's step".to_owned())
    }

    pub(super) fn mitigate(&mut self, incident: &IncidentId) -> bool {
        self.now_minutes(1);
        match self.host(&Command::MarkMitigated {
            incident: incident.clone(),
            by: "oncall".into(),
        }) {
            Ok(_) => {
                self.log.push("mitigated".to_owned());
                if let Err(e) = self.keep_hotfix_lane() {
                    self.failures.push(e);
                }
                true
            }
            Err(e) => {
                self.failures
                    .push(format!("not mitigated after the plan ran: {e}"));
                false
            }
        }
    }
}
