//! Assessing each strategy against the state: preconditions, steps,
//! estimates, costs and customer impact. The shared context lives here;
//! `rollback` and `forward` hold the strategies.

mod estimate;
mod forward;
mod rollback;
mod runbook;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::machine::{
    Command, Effect, EffectAction, FollowUpKind, IdempotencyKey, IncidentRecord, State,
};
use crate::model::{
    Change, ChangeId, CommitId, EnvironmentId, Lane, Policy, Release, ServiceId, Strategy,
    SuspectedCause,
};

use super::Capabilities;
use super::option::{
    Check, CheckOutcome, CustomerImpact, Estimate, EstimateBasis, RecoveryOption, TeamCost,
};

/// Work already on its way to the incident's environment.
struct InFlight {
    environment: EnvironmentId,
    remaining: u64,
    changes: Vec<ChangeId>,
}

pub(super) struct Context<'a> {
    state: &'a State,
    incident: &'a IncidentRecord,
    now: DateTime<Utc>,
    caps: &'a Capabilities,
    policy: &'a Policy,
    current_release: Option<&'a Release>,
    cause: Option<&'a Change>,
    external: bool,
    unreleased: Option<Vec<ChangeId>>,
    in_flight: Option<InFlight>,
    /// Who the options are rehearsed as.
    by: crate::model::Actor,
    /// What was asked.
    request: &'a super::PlanRequest,
    /// Other production environments running the cause.
    also_running: Vec<(EnvironmentId, crate::model::ReleaseId)>,
    /// Other production environments the incident's plan restored too,
    /// once mitigated: a resolving plan ships its fix there as well.
    restored_elsewhere: Vec<(EnvironmentId, crate::model::ReleaseId)>,
}

/// What one strategy's assessment builds up.
struct Draft {
    checks: Vec<Check>,
    risks: Vec<String>,
    steps: Vec<EffectAction>,
    estimate: Estimate,
    cost: TeamCost,
    impact: CustomerImpact,
    likely_to_help: bool,
    /// Production elsewhere running the cause that the plan leaves out,
    /// and why.
    left_out: Vec<(EnvironmentId, String)>,
}

impl Draft {
    fn new() -> Self {
        Self {
            checks: Vec::new(),
            risks: Vec::new(),
            steps: Vec::new(),
            estimate: Estimate {
                seconds: 0,
                basis: EstimateBasis::Policy,
            },
            cost: TeamCost {
                merges: 0,
                freezes: 0,
                follow_ups: Vec::new(),
            },
            impact: CustomerImpact {
                changes_withdrawn: 0,
                summary: String::new(),
            },
            likely_to_help: true,
            left_out: Vec::new(),
        }
    }

    /// A check that one of the host's ports can do what the option needs.
    fn capability(&mut self, name: &'static str, able: bool, yes: &str, no: &str) {
        self.check(name, able, if able { yes } else { no });
    }

    fn check(&mut self, name: &'static str, passed: bool, detail: impl Into<String>) {
        self.checks.push(Check::new(name, passed, detail));
    }
}

impl<'a> Context<'a> {
    pub(super) fn new(
        state: &'a State,
        incident: &'a IncidentRecord,
        now: DateTime<Utc>,
        caps: &'a Capabilities,
        request: &'a super::PlanRequest,
    ) -> Self {
        let (env, service) = (&incident.environment, &incident.service);
        let current = state.history(env, service).and_then(|h| h.current());
        let current_release = current.and_then(|d| state.release(&d.release));
        let cause = match &incident.cause {
            SuspectedCause::Change { change } => state.change(change),
            _ => None,
        };
        let unreleased = state.drift(env, service).and_then(|d| {
            d.head.as_ref()?;
            Some(
                d.missing_changes
                    .into_iter()
                    .filter(|c| cause.is_none_or(|cause| cause.id != *c))
                    .filter(|c| {
                        state
                            .change(c)
                            .and_then(|ch| ch.reverts.as_ref())
                            .is_none_or(|r| cause.is_none_or(|cause| cause.id != *r))
                    })
                    .collect(),
            )
        });
        let mut context = Self {
            state,
            incident,
            now,
            caps,
            policy: state.policy(),
            current_release,
            cause,
            external: matches!(incident.cause, SuspectedCause::External { .. }),
            unreleased,
            in_flight: None,
            by: request
                .by
                .clone()
                .unwrap_or_else(|| incident.declared_by.clone()),
            request,
            also_running: state.also_running_cause(&incident.id),
            restored_elsewhere: state.restored_elsewhere(&incident.id),
        };
        context.in_flight = context.find_in_flight();
        context
    }

    fn env(&self) -> &'a EnvironmentId {
        &self.incident.environment
    }

    fn service(&self) -> &'a ServiceId {
        &self.incident.service
    }

    pub(super) fn assess(&self, strategy: Strategy) -> RecoveryOption {
        self.assess_as(strategy, None)
    }

    /// The option of running the host's runbook `runbook`.
    pub(super) fn assess_runbook(&self, runbook: &crate::model::Runbook) -> RecoveryOption {
        self.assess_as(Strategy::Runbook, Some(runbook))
    }

    fn assess_as(
        &self,
        strategy: Strategy,
        runbook: Option<&crate::model::Runbook>,
    ) -> RecoveryOption {
        let mut d = Draft::new();
        // The policy's own rule (the core refuses the choice on the same
        // rule, `strategy-forbidden`).
        match self.policy.forbids(strategy) {
            Some(why) => d.check("strategy-forbidden", false, why),
            None => d.check(
                "policy-allows",
                true,
                format!("the policy allows {strategy}"),
            ),
        }
        // The core's rule `resolve-after-mitigation`: once mitigated, only a
        // plan that fixes main and ships it.
        if self.incident.phase == crate::model::IncidentPhase::Mitigated {
            if crate::machine::resolves(strategy) {
                d.check(
                    "resolves",
                    true,
                    "the incident is mitigated; this plan fixes main and ships it, so it resolves it",
                );
            } else {
                d.check(
                    "resolve-after-mitigation",
                    false,
                    "the incident is mitigated already: only a plan that fixes main and ships it resolves it",
                );
            }
        }
        match strategy {
            Strategy::Retoggle => self.retoggle(&mut d),
            Strategy::Rollback => self.rollback(&mut d),
            Strategy::Revert => self.revert(&mut d),
            Strategy::Hotfix => self.hotfix(&mut d),
            Strategy::FixForward => self.fix_forward(&mut d),
            Strategy::Wait => self.wait(&mut d),
            Strategy::RevertInFlightThenFix => self.revert_in_flight(&mut d),
            Strategy::Abort => self.abort(&mut d),
            Strategy::Runbook => self.runbook(&mut d, runbook),
        }
        d.cost.follow_ups.push(FollowUpKind::HoldRetro);
        let label =
            runbook.map_or_else(|| strategy.to_string(), |r| format!("{strategy}-{}", r.id));
        // The core is the only judge: when the planner's own checks pass,
        // the steps are rehearsed through `decide` on a hypothetical state.
        // A step for production elsewhere that the core refuses there (a
        // freeze, approvals, a gate) leaves that environment out of the
        // plan, said in the risks, rather than the whole option.
        let steps = loop {
            let steps: Vec<Effect> = d
                .steps
                .iter()
                .enumerate()
                .map(|(i, action)| Effect::new(self.key(&label, i, action), action.clone()))
                .collect();
            if d.checks.iter().any(|c| c.outcome == CheckOutcome::Failed) {
                break steps;
            }
            let command = Command::ChooseStrategy {
                incident: self.incident.id.clone(),
                strategy,
                steps: steps.clone(),
                follow_ups: d.cost.follow_ups.clone(),
                considered: Vec::new(),
                explanation: String::new(),
                by: self.by.clone(),
                clearance: self.request.clearance.clone(),
            };
            match crate::machine::rehearse(self.state, &command, self.now) {
                Ok(_) => {
                    d.check(
                        "core-accepts",
                        true,
                        "every step passes the core's rules in a dry run",
                    );
                    break steps;
                }
                Err(refusal) => {
                    if let Some((env, why)) = self.elsewhere_refused(&steps, &refusal) {
                        d.steps.retain(|a| a.environment() != Some(&env));
                        d.left_out
                            .push((env, format!("the core refuses it there: {why}")));
                        continue;
                    }
                    d.checks.push(Check::refused(&refusal));
                    break steps;
                }
            }
        };
        // Never hidden: production elsewhere running the cause too (or
        // restored by the incident's plan, once mitigated), and whether
        // this plan covers it (it verifies there), or why not.
        let here = self.env();
        let kinds = [
            (
                &self.also_running,
                "runs the cause too (`{release}`)",
                "restores it as well",
                format!("covers `{here}` only"),
                "declare an incident there and plan it too",
            ),
            (
                &self.restored_elsewhere,
                "was restored by this incident's plan too (it serves `{release}`)",
                "ships the fix there as well",
                format!("ships the fix to `{here}` only"),
                "ship it there too",
            ),
        ];
        for (list, what, covered_words, only, next) in kinds {
            for (env, release) in list {
                let what = what.replace("{release}", release.as_str());
                let covered = d.steps.iter().any(
                    |s| matches!(s, EffectAction::Verify { environment, .. } if environment == env),
                );
                let why = d
                    .left_out
                    .iter()
                    .find(|(e, _)| e == env)
                    .map(|(_, why)| format!(" ({why})"));
                d.risks.push(if covered {
                    format!("`{env}` {what}: this plan {covered_words}, after `{here}`")
                } else {
                    format!(
                        "`{env}` {what}: this plan {only}{}; {next}",
                        why.unwrap_or_default()
                    )
                });
            }
        }
        d.estimate = self.estimate_steps(&d.steps);
        let applicable = !d.checks.iter().any(|c| c.outcome == CheckOutcome::Failed);
        RecoveryOption {
            strategy,
            runbook: runbook.map(|r| r.id.clone()),
            applicable,
            likely_to_help: d.likely_to_help,
            checks: d.checks,
            risks: d.risks,
            steps,
            estimate: d.estimate,
            cost: d.cost,
            impact: d.impact,
        }
    }

    /// The other production environment whose step the core refused, and
    /// the core's reason, when `refusal` is a refusal of such a step of
    /// `steps`.
    fn elsewhere_refused(
        &self,
        steps: &[Effect],
        refusal: &crate::error::Rejection,
    ) -> Option<(EnvironmentId, String)> {
        let crate::error::Rejection::PlanStepRefused {
            key, refusal: why, ..
        } = refusal
        else {
            return None;
        };
        let step = steps.iter().find(|s| s.key == *key)?;
        let env = step.action.environment()?;
        self.elsewhere()
            .any(|other| other == env && other != self.env())
            .then(|| (env.clone(), why.to_string()))
    }

    /// Production elsewhere a plan may cover: running the cause, or
    /// restored by the incident's plan and waiting for its fix.
    fn elsewhere(&self) -> impl Iterator<Item = &EnvironmentId> {
        self.also_running
            .iter()
            .chain(&self.restored_elsewhere)
            .map(|(env, _)| env)
    }

    fn key(&self, strategy: &str, index: usize, action: &EffectAction) -> IdempotencyKey {
        let verb = match action {
            EffectAction::SetFlag { .. } => "set-flag",
            EffectAction::Rollback { .. } => "rollback",
            EffectAction::MigrateDown { .. } => "migrate-down",
            EffectAction::Verify { .. } => "verify",
            EffectAction::RevertChange { .. } => "revert",
            EffectAction::ReapplyChange { .. } => "reapply",
            EffectAction::CutBranch { .. } => "cut-branch",
            EffectAction::LandFix { .. } => "land-fix",
            EffectAction::MergeBack { .. } => "merge-back",
            EffectAction::Tag { .. } => "tag",
            EffectAction::Ship { .. } => "ship",
            EffectAction::Promote { .. } => "promote",
            EffectAction::WaitFor { .. } => "wait",
            EffectAction::Abort { .. } => "abort",
            EffectAction::Mirror { .. } => "mirror",
            EffectAction::RunRunbook { .. } => "run-runbook",
        };
        // Every attempt gets keys of its own: ports remember keys forever.
        IdempotencyKey::new(format!(
            "{}/attempt-{}/{strategy}/{}-{verb}",
            self.incident.id,
            self.incident.attempts.saturating_add(1),
            index.saturating_add(1)
        ))
    }

    // ----- shared checks -------------------------------------------------

    fn cause_is_change(&self, d: &mut Draft) -> bool {
        match (&self.incident.cause, self.cause) {
            (_, Some(change)) => {
                d.check(
                    "cause-is-a-change",
                    true,
                    format!("the suspected cause is `{}`", change.id),
                );
                true
            }
            (SuspectedCause::External { .. }, None) => {
                d.check(
                    "cause-is-a-change",
                    false,
                    "the cause is external, not a change",
                );
                false
            }
            (SuspectedCause::Deployment { slot }, None) => {
                let brought: Vec<String> = self
                    .state
                    .changes_brought(slot)
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect();
                let hint = match brought.as_slice() {
                    [] => String::new(),
                    [one] => format!(
                        " (the deployment brought {one} alone: pin it with PinCause if it is the cause)"
                    ),
                    many => format!(
                        " (the deployment brought {}: pin the one at fault with PinCause)",
                        many.join(", ")
                    ),
                };
                d.check(
                    "cause-is-a-change",
                    false,
                    format!("the cause is not pinned to a recorded change{hint}"),
                );
                false
            }
            _ => {
                d.check(
                    "cause-is-a-change",
                    false,
                    "the cause is not pinned to a recorded change",
                );
                false
            }
        }
    }

    fn approvals(&self, d: &mut Draft) {
        if let Some(rule) = self.policy.approvals.get(self.env()) {
            d.risks.push(format!(
                "waits for {} approvals from `{}`",
                rule.approvers, rule.role
            ));
        }
    }

    fn unlikely_if_external(&self, d: &mut Draft, what: &str) {
        if self.external {
            d.likely_to_help = false;
            d.risks.push(format!(
                "the cause is external: {what} will probably not help"
            ));
        }
    }

    // ----- what is on its way --------------------------------------------

    fn find_in_flight(&self) -> Option<InFlight> {
        let pipeline = self.state.pipeline()?;
        let current = self
            .current_release
            .and_then(|r| self.state.artifact(&r.artifact));
        let mut seen = BTreeSet::new();
        let mut frontier = vec![self.env().clone()];
        let mut best: Option<(u64, InFlight)> = None;
        while let Some(env) = frontier.pop() {
            for up in pipeline.predecessors(&env, Lane::Main) {
                if !seen.insert(up.clone()) {
                    continue;
                }
                frontier.push(up.clone());
                let Some(d) = self
                    .state
                    .history(up, self.service())
                    .and_then(|h| h.latest())
                else {
                    continue;
                };
                let Some(release) = self.state.release(&d.release) else {
                    continue;
                };
                let Some(artifact) = self.state.artifact(&release.artifact) else {
                    continue;
                };
                let newer = current.is_none_or(|c| artifact.build > c.build);
                let live = d.status.is_in_flight()
                    || matches!(
                        d.status,
                        crate::machine::DeploymentStatus::Verifying
                            | crate::machine::DeploymentStatus::KnownGood
                    );
                if !newer || !live {
                    continue;
                }
                let (stage, _) = self.stage(up);
                let elapsed =
                    u64::try_from(self.now.signed_duration_since(d.requested_at).num_seconds())
                        .unwrap_or(0);
                let remaining = if d.status == crate::machine::DeploymentStatus::KnownGood {
                    0
                } else {
                    stage.saturating_sub(elapsed)
                };
                let changes = self.changes_between(self.current_release, release);
                let distance = self.lane_time(up, Lane::Main);
                if best.as_ref().is_none_or(|(t, _)| distance > *t) {
                    best = Some((
                        distance,
                        InFlight {
                            environment: up.clone(),
                            remaining,
                            changes,
                        },
                    ));
                }
            }
        }
        best.map(|(_, f)| f)
    }

    /// Changes in `to` that `from` lacks, oldest first (empty when commits
    /// are not recorded).
    fn changes_between(&self, from: Option<&Release>, to: &Release) -> Vec<ChangeId> {
        let commit = |r: &Release| -> Option<&CommitId> {
            Some(&self.state.artifact(&r.artifact)?.source_commit)
        };
        let Some(to_commit) = commit(to) else {
            return Vec::new();
        };
        let from = from.and_then(commit);
        self.state
            .changes_of(self.state.commits_between(from, to_commit).into_iter())
    }
}
