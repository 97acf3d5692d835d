//! Assessing each strategy against the state: preconditions, steps,
//! estimates, costs and customer impact.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::machine::gates;
use crate::machine::{Clearance, IncidentRecord, Slot, State, Subject};
use crate::model::{
    BranchName, Change, ChangeId, CommitId, EnvironmentId, EnvironmentRole, FlagState, GatedAction,
    Lane, Policy, Release, Revision, ServiceId, Strategy, SuspectedCause,
};

use super::effect::{Effect, EffectAction, IdempotencyKey};
use super::option::{
    Check, CheckOutcome, CustomerImpact, Estimate, EstimateBasis, FollowUpKind, RecoveryOption,
    TeamCost,
};
use super::{Capabilities, human};

/// Work already on its way to the incident's environment.
struct InFlight {
    environment: EnvironmentId,
    remaining: u64,
    changes: Vec<ChangeId>,
}

/// A rollback target and the steps around it.
struct RollbackRoute {
    target: Revision,
    release: Release,
    checks: Vec<Check>,
    risks: Vec<String>,
    /// Steps before the main rollback (dependants first, down migrations).
    before: Vec<EffectAction>,
    /// Verifications after it.
    after: Vec<EffectAction>,
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
        }
    }

    fn check(&mut self, name: &str, passed: bool, detail: impl Into<String>) {
        self.checks.push(Check::new(name, passed, detail));
    }
}

impl<'a> Context<'a> {
    pub(super) fn new(
        state: &'a State,
        incident: &'a IncidentRecord,
        now: DateTime<Utc>,
        caps: &'a Capabilities,
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
        let mut d = Draft::new();
        if self.policy.allows(strategy) {
            d.check(
                "policy-allows",
                true,
                format!("the policy allows {strategy}"),
            );
        } else {
            d.check(
                "policy-allows",
                false,
                policy_refusal(self.policy, strategy),
            );
        }
        match strategy {
            Strategy::Retoggle => self.retoggle(&mut d),
            Strategy::Rollback => self.rollback(&mut d),
            Strategy::Revert => self.revert(&mut d),
            Strategy::Hotfix => self.hotfix(&mut d),
            Strategy::FixForward => self.fix_forward(&mut d),
            Strategy::Wait => self.wait(&mut d),
            Strategy::RevertInFlightThenFix => self.revert_in_flight(&mut d),
        }
        d.cost.follow_ups.push(FollowUpKind::HoldRetro);
        let applicable = !d.checks.iter().any(|c| c.outcome == CheckOutcome::Failed);
        let steps = d
            .steps
            .into_iter()
            .enumerate()
            .map(|(i, action)| Effect::new(self.key(strategy, i, &action), action))
            .collect();
        RecoveryOption {
            strategy,
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

    fn key(&self, strategy: Strategy, index: usize, action: &EffectAction) -> IdempotencyKey {
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
            EffectAction::WaitFor { .. } => "wait",
        };
        IdempotencyKey::new(format!(
            "{}/{strategy}/{}-{verb}",
            self.incident.id,
            index + 1
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

    fn not_frozen(&self, d: &mut Draft, action: GatedAction) {
        let subject = Subject::Deployment {
            slot: Slot::new(self.env().clone(), self.service().clone(), Revision(0)),
        };
        let verdict = gates::check_freezes(
            self.state,
            action,
            self.env(),
            self.now,
            &self.incident.declared_by,
            &Clearance::none(),
            subject,
        );
        let name = format!("{}-not-frozen", action.to_string().replace(' ', "-"));
        match verdict {
            Ok(_) => d.check(
                &name,
                true,
                format!("no freeze closes {action} in `{}`", self.env()),
            ),
            Err(refusal) => d.check(&name, false, refusal.to_string()),
        }
    }

    fn approvals(&self, d: &mut Draft) {
        if let Some(rule) = self.policy.approvals.get(self.env()) {
            d.check(
                "approvals",
                true,
                format!(
                    "the new release needs {} approvals from `{}` before its rollout starts (or broken glass)",
                    rule.approvers, rule.role
                ),
            );
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

    // ----- estimates -----------------------------------------------------

    fn stage(&self, env: &EnvironmentId) -> (u64, EstimateBasis) {
        if let Some(seconds) = self
            .state
            .environment(env)
            .map(crate::machine::EnvironmentState::observed)
            .filter(|o| o.samples >= self.policy.observations_needed.max(1))
            .and_then(|o| o.mean_seconds())
        {
            return (seconds, EstimateBasis::Observed);
        }
        let seconds = self
            .policy
            .stage_seconds
            .get(env)
            .copied()
            .unwrap_or(self.policy.default_stage_seconds);
        (seconds, EstimateBasis::Policy)
    }

    /// Time for a new artifact to reach `env` along `lane`: its own stage
    /// after the slowest path through its predecessors.
    fn lane_time(&self, env: &EnvironmentId, lane: Lane, fast_track: bool) -> (u64, EstimateBasis) {
        self.lane_time_bounded(env, lane, fast_track, 64)
    }

    fn lane_time_bounded(
        &self,
        env: &EnvironmentId,
        lane: Lane,
        fast_track: bool,
        depth: u32,
    ) -> (u64, EstimateBasis) {
        let skip = fast_track
            && self
                .state
                .pipeline()
                .and_then(|p| p.environment(env))
                .is_some_and(|e| e.role == EnvironmentRole::Test);
        let (own, mut basis) = if skip {
            (0, EstimateBasis::Policy)
        } else {
            self.stage(env)
        };
        let mut slowest = 0;
        if depth > 0
            && let Some(pipeline) = self.state.pipeline()
        {
            for pred in pipeline.predecessors(env, lane) {
                let (t, b) = self.lane_time_bounded(pred, lane, fast_track, depth - 1);
                slowest = slowest.max(t);
                basis = basis.merge(b);
            }
        }
        (own + slowest, basis)
    }

    fn estimate(&self, d: &mut Draft, fixed: u64, lane: Option<(Lane, bool)>) {
        let (pipeline, basis) = match lane {
            Some((lane, fast_track)) => self.lane_time(self.env(), lane, fast_track),
            None => (0, EstimateBasis::Policy),
        };
        d.estimate = Estimate {
            seconds: fixed + pipeline,
            basis,
        };
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
                let elapsed = u64::try_from((self.now - d.requested_at).num_seconds()).unwrap_or(0);
                let remaining = if d.status == crate::machine::DeploymentStatus::KnownGood {
                    0
                } else {
                    stage.saturating_sub(elapsed)
                };
                let changes = self.changes_between(self.current_release, release);
                let (distance, _) = self.lane_time(up, Lane::Main, false);
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
        let commit = |r: &Release| -> Option<CommitId> {
            Some(self.state.artifact(&r.artifact)?.source_commit.clone())
        };
        let Some(to_commit) = commit(to) else {
            return Vec::new();
        };
        let have = from
            .and_then(commit)
            .map(|c| self.state.ancestors(&c))
            .unwrap_or_default();
        let mut changes: Vec<ChangeId> = Vec::new();
        let mut commits: Vec<CommitId> = self
            .state
            .ancestors(&to_commit)
            .into_iter()
            .filter(|c| !have.contains(c))
            .collect();
        commits.sort();
        for c in commits {
            if let Some(change) = self.state.commit(&c).and_then(|r| r.change.clone())
                && !changes.contains(&change)
            {
                changes.push(change);
            }
        }
        changes
    }

    // ----- the strategies ------------------------------------------------

    fn retoggle(&self, d: &mut Draft) {
        d.check(
            "flag-store-available",
            self.caps.flags,
            if self.caps.flags {
                "the flag store can switch flags"
            } else {
                "the host has no flag store"
            },
        );
        if self.cause_is_change(d) {
            let change = self.cause.cloned();
            if let Some(change) = change {
                let covered = !change.flags.is_empty();
                d.check(
                    "change-fully-behind-flags",
                    covered,
                    if covered {
                        format!("`{}` sits behind {}", change.id, flag_list(&change))
                    } else {
                        format!("`{}` is not behind any flag", change.id)
                    },
                );
                if covered {
                    let env_state = self.state.environment(self.env());
                    let off: Vec<String> = change
                        .flags
                        .iter()
                        .filter(|f| env_state.is_none_or(|e| !e.flag(f).reaches_users()))
                        .map(ToString::to_string)
                        .collect();
                    d.check(
                        "flags-on",
                        off.is_empty(),
                        if off.is_empty() {
                            format!("{} reach users in `{}`", flag_list(&change), self.env())
                        } else {
                            format!("already off in `{}`: {}", self.env(), off.join(", "))
                        },
                    );
                    for flag in &change.flags {
                        d.steps.push(EffectAction::SetFlag {
                            environment: self.env().clone(),
                            flag: flag.clone(),
                            state: FlagState::Off,
                        });
                    }
                    d.steps.push(EffectAction::Verify {
                        environment: self.env().clone(),
                        service: self.service().clone(),
                    });
                }
                d.impact = CustomerImpact {
                    changes_withdrawn: 1,
                    summary: format!(
                        "users behind {} lose the feature until it is fixed",
                        flag_list(&change)
                    ),
                };
            }
        }
        self.not_frozen(d, GatedAction::FlagChange);
        self.estimate(d, self.policy.flag_seconds, None);
        d.cost.follow_ups.push(FollowUpKind::FixMain {
            service: self.service().clone(),
        });
        d.risks
            .push("the flagged feature stays off until a fix lands".to_owned());
    }

    fn rollback(&self, d: &mut Draft) {
        d.check(
            "deployer-can-roll-back",
            self.caps.rollback,
            if self.caps.rollback {
                "the deployer can deploy an earlier revision"
            } else {
                "the host's deployer cannot deploy an earlier revision"
            },
        );
        self.unlikely_if_external(d, "rolling the code back");
        match self.rollback_route() {
            Err(why) => d.check("known-good-target", false, why),
            Ok(route) => {
                d.check(
                    "known-good-target",
                    true,
                    format!(
                        "{} (`{}`) was verified known good",
                        route.target, route.release.id
                    ),
                );
                d.checks.extend(route.checks);
                d.risks.extend(route.risks);
                d.steps.extend(route.before);
                d.steps.push(EffectAction::Rollback {
                    environment: self.env().clone(),
                    service: self.service().clone(),
                    to: route.target,
                    release: route.release.id.clone(),
                });
                d.steps.push(EffectAction::Verify {
                    environment: self.env().clone(),
                    service: self.service().clone(),
                });
                d.steps.extend(route.after);
                let withdrawn = self.current_release.map_or(0, |cur| {
                    self.changes_between(Some(&route.release), cur).len()
                });
                d.impact = CustomerImpact {
                    changes_withdrawn: u32::try_from(withdrawn).unwrap_or(u32::MAX),
                    summary: format!(
                        "users lose what shipped after `{}` ({} change{}) until main is fixed",
                        route.release.id,
                        withdrawn,
                        if withdrawn == 1 { "" } else { "s" }
                    ),
                };
            }
        }
        self.not_frozen(d, GatedAction::Rollback);
        let (stage, basis) = self.stage(self.env());
        d.estimate = Estimate {
            seconds: stage,
            basis,
        };
        d.cost.freezes = 1;
        d.cost.follow_ups.push(FollowUpKind::FixMain {
            service: self.service().clone(),
        });
        d.cost.follow_ups.push(FollowUpKind::LiftGate {
            environment: self.env().clone(),
        });
        d.risks.push(
            "production drifts from main; the gate stays closed until a fixed release ships"
                .to_owned(),
        );
    }

    fn rollback_route(&self) -> Result<RollbackRoute, String> {
        let (env, service) = (self.env(), self.service());
        let history = self
            .state
            .history(env, service)
            .ok_or_else(|| format!("`{service}` never ran in `{env}`"))?;
        let current = history
            .current()
            .ok_or_else(|| format!("no rollout of `{service}` completed in `{env}`"))?;
        let target = history
            .rollback_candidates()
            .find(|d| {
                self.state
                    .release(&d.release)
                    .is_some_and(|r| gates::check_production_release(self.state, env, r).is_ok())
            })
            .ok_or_else(|| {
                format!(
                    "no revision before {} was verified known good without a poisoned change or an untrusted artifact",
                    current.revision
                )
            })?;
        let release = self
            .state
            .release(&target.release)
            .ok_or_else(|| format!("release `{}` is not registered", target.release))?
            .clone();
        let mut route = RollbackRoute {
            target: target.revision,
            release,
            checks: Vec::new(),
            risks: Vec::new(),
            before: Vec::new(),
            after: Vec::new(),
        };
        let expired = self.state.is_expired(&route.release.artifact);
        route.checks.push(Check::new(
            "artifact-available",
            !expired,
            if expired {
                format!(
                    "artifact `{}` was expired from the registry",
                    route.release.artifact
                )
            } else {
                format!(
                    "artifact `{}` is still in the registry",
                    route.release.artifact
                )
            },
        ));
        self.schema_route(&mut route);
        self.requirement_route(&mut route);
        Ok(route)
    }

    fn schema_route(&self, route: &mut RollbackRoute) {
        let (env, service) = (self.env(), self.service());
        let schema = self.state.environment(env).and_then(|e| e.schema(service));
        let (Some(range), Some(schema)) = (route.release.schema, schema) else {
            route.checks.push(Check::new(
                "schema-compatible",
                true,
                "no schema constraint recorded for the target",
            ));
            return;
        };
        if range.contains(schema.version) {
            route.checks.push(Check::new(
                "schema-compatible",
                true,
                format!("`{}` runs on schema {}", route.release.id, schema.version),
            ));
            return;
        }
        if schema.version < range.min {
            route.checks.push(Check::new(
                "schema-compatible",
                false,
                format!(
                    "`{}` needs schema {range}, newer than {}",
                    route.release.id, schema.version
                ),
            ));
            return;
        }
        let irreversible = schema.applied.iter().rev().find(|a| {
            a.migration.to > range.max
                && a.migration.to > a.migration.from
                && !a.migration.reversible
        });
        match irreversible {
            Some(a) => route.checks.push(Check::new(
                "schema-compatible",
                false,
                format!(
                    "`{}` runs on {range} but the schema is at {}: it predates {} migration `{}` ({} → {}), which cannot be undone",
                    route.release.id, schema.version, a.migration.phase, a.migration.id, a.migration.from, a.migration.to
                ),
            )),
            None => {
                route.checks.push(Check::new(
                    "schema-compatible",
                    true,
                    format!("the schema can go back down to {} first: every migration since is reversible", range.max),
                ));
                route.risks.push(format!(
                    "needs a down migration to schema {} before the rollback",
                    range.max
                ));
                route.before.push(EffectAction::MigrateDown {
                    environment: env.clone(),
                    service: service.clone(),
                    to: range.max,
                });
            }
        }
    }

    fn requirement_route(&self, route: &mut RollbackRoute) {
        let env = self.env();
        let version = self
            .state
            .artifact(&route.release.artifact)
            .map(|a| a.version.clone());
        let mut unmet = Vec::new();
        for (other, req) in &route.release.requires {
            let running = crate::machine::running_version(self.state, env, other);
            if !running.as_ref().is_some_and(|v| req.matches(v)) {
                unmet.push(format!("`{}` needs `{other}` {req}", route.release.id));
            }
        }
        route.checks.push(Check::new(
            "requirements-hold",
            unmet.is_empty(),
            if unmet.is_empty() {
                "what the target requires of other services is running".to_owned()
            } else {
                unmet.join("; ")
            },
        ));
        let Some(version) = version else { return };
        let Some(env_state) = self.state.environment(env) else {
            return;
        };
        let mut blocked = Vec::new();
        let mut joint = Vec::new();
        for (dependant, history) in env_state.services() {
            if dependant == self.service() {
                continue;
            }
            let Some(running) = history
                .current()
                .and_then(|d| self.state.release(&d.release))
            else {
                continue;
            };
            let Some(req) = running.requires.get(self.service()) else {
                continue;
            };
            if req.matches(&version) {
                continue;
            }
            let earlier = history.rollback_candidates().find(|d| {
                self.state.release(&d.release).is_some_and(|r| {
                    r.requires
                        .get(self.service())
                        .is_none_or(|q| q.matches(&version))
                        && gates::check_production_release(self.state, env, r).is_ok()
                })
            });
            match earlier {
                Some(d) => joint.push((dependant.clone(), running.id.clone(), req.clone(), d.revision, d.release.clone())),
                None => blocked.push(format!(
                    "`{dependant}` runs `{}`, which requires `{}` {req}, and has no earlier known-good release that accepts {version}",
                    running.id,
                    self.service()
                )),
            }
        }
        if !blocked.is_empty() {
            route.checks.push(Check::new(
                "dependants-satisfied",
                false,
                blocked.join("; "),
            ));
            return;
        }
        if joint.is_empty() {
            route.checks.push(Check::new(
                "dependants-satisfied",
                true,
                "no other service requires more than the target provides",
            ));
            return;
        }
        let why: Vec<String> = joint
            .iter()
            .map(|(dep, running, req, rev, rel)| {
                format!(
                    "`{dep}` runs `{running}`, which requires `{}` {req}, so `{dep}` rolls back first to {rev} (`{rel}`)",
                    self.service()
                )
            })
            .collect();
        route.checks.push(Check::new(
            "dependants-satisfied",
            true,
            format!("ordered joint rollback: {}", why.join("; ")),
        ));
        route
            .risks
            .push("a joint rollback moves more than one service".to_owned());
        for (dep, _, _, rev, rel) in joint {
            route.before.push(EffectAction::Rollback {
                environment: env.clone(),
                service: dep.clone(),
                to: rev,
                release: rel,
            });
            route.after.push(EffectAction::Verify {
                environment: env.clone(),
                service: dep,
            });
        }
    }

    fn revert(&self, d: &mut Draft) {
        d.check(
            "vcs-can-revert",
            self.caps.revert,
            if self.caps.revert {
                "the VCS can create revert commits"
            } else {
                "the host's VCS cannot create revert commits"
            },
        );
        self.unlikely_if_external(d, "reverting a change");
        if self.cause_is_change(d)
            && let Some(change) = self.cause
        {
            let dependants: Vec<String> = self
                .state
                .changes_depending_on(&change.id)
                .map(|c| format!("`{c}`"))
                .collect();
            d.check(
                "no-later-change-depends-on-it",
                dependants.is_empty(),
                if dependants.is_empty() {
                    format!("no later change depends on `{}`", change.id)
                } else {
                    format!(
                        "{} depend{} on `{}`",
                        dependants.join(", "),
                        if dependants.len() == 1 { "s" } else { "" },
                        change.id
                    )
                },
            );
            d.checks.push(Check::unknown(
                "revert-applies-cleanly",
                "the VCS tells when the revert is made",
            ));
            d.steps.push(EffectAction::RevertChange {
                service: self.service().clone(),
                change: change.id.clone(),
                onto: BranchName::main(),
            });
            d.steps.push(EffectAction::Tag {
                service: self.service().clone(),
                branch: BranchName::main(),
                tag: format!("revert-{}", change.id),
            });
            d.impact = CustomerImpact {
                changes_withdrawn: 1,
                summary: format!(
                    "`{}` is withdrawn; users see the failure until the revert ships",
                    change.id
                ),
            };
        }
        self.main_lane(d);
        self.ship(d, BranchName::main(), Lane::Main, false);
        self.not_frozen(d, GatedAction::Deliver);
        self.approvals(d);
        self.estimate(d, self.policy.revert_seconds, Some((Lane::Main, false)));
        d.cost.merges = 1;
        d.risks.push(
            "does not restore the old configuration and cannot undo a migration that already ran"
                .to_owned(),
        );
    }

    fn main_lane(&self, d: &mut Draft) {
        let has = self.state.pipeline().is_some_and(|p| {
            !p.predecessors(self.env(), Lane::Main).is_empty()
                || p.lanes_into(self.env()).is_empty()
        });
        d.check(
            "main-lane",
            has,
            if has {
                format!("the main lane reaches `{}`", self.env())
            } else {
                format!("no main lane leads into `{}`", self.env())
            },
        );
    }

    fn ship(&self, d: &mut Draft, branch: BranchName, lane: Lane, fast_track: bool) {
        d.steps.push(EffectAction::Ship {
            service: self.service().clone(),
            branch,
            lane,
            environment: self.env().clone(),
            fast_track,
        });
        d.steps.push(EffectAction::Verify {
            environment: self.env().clone(),
            service: self.service().clone(),
        });
    }

    fn fix_impact(d: &mut Draft) {
        d.impact = CustomerImpact {
            changes_withdrawn: 0,
            summary: "users see the failure until the fix ships".to_owned(),
        };
    }

    fn hotfix(&self, d: &mut Draft) {
        let lane = self
            .state
            .pipeline()
            .is_some_and(|p| !p.predecessors(self.env(), Lane::Hotfix).is_empty());
        d.check(
            "hotfix-lane",
            lane,
            if lane {
                format!("a hotfix lane leads into `{}`", self.env())
            } else {
                format!("the pipeline has no hotfix lane into `{}`", self.env())
            },
        );
        d.check(
            "vcs-can-branch",
            self.caps.branches,
            if self.caps.branches {
                "the VCS can cut branches and cherry-pick"
            } else {
                "the host's VCS cannot cut branches"
            },
        );
        let base = super::hotfix_base(self.state, self.env(), self.service());
        d.check(
            "production-commit-known",
            base.is_some(),
            base.as_ref().map_or_else(
                || {
                    format!(
                        "nothing of `{}` serves in `{}` to branch from",
                        self.service(),
                        self.env()
                    )
                },
                |b| format!("production runs `{}` from `{}`", b.release, b.commit),
            ),
        );
        if let Some(base) = base {
            d.steps.push(EffectAction::CutBranch {
                service: self.service().clone(),
                branch: base.branch.clone(),
                at: base.commit,
            });
            d.steps.push(EffectAction::LandFix {
                service: self.service().clone(),
                onto: base.branch.clone(),
            });
            self.ship(d, base.branch.clone(), Lane::Hotfix, false);
            d.steps.push(EffectAction::MergeBack {
                service: self.service().clone(),
                from: base.branch.clone(),
                onto: BranchName::main(),
            });
            d.cost.follow_ups.push(FollowUpKind::MergeHotfixBack {
                service: self.service().clone(),
                branch: base.branch,
            });
        }
        self.not_frozen(d, GatedAction::Hotfix);
        self.approvals(d);
        self.estimate(d, self.policy.fix_seconds, Some((Lane::Hotfix, false)));
        d.cost.merges = 2;
        d.risks
            .push("two merges (branch and main): more room for mistakes".to_owned());
        Self::fix_impact(d);
    }

    fn fix_forward(&self, d: &mut Draft) {
        if self.policy.main_always_deployable {
            d.check(
                "main-deploy-ready",
                true,
                "the policy says main is always deploy-ready (every check runs before the merge)",
            );
        } else {
            match &self.unreleased {
                None => d.check(
                    "main-deploy-ready",
                    false,
                    "main's head is not recorded, so unreleased work on it cannot be ruled out",
                ),
                Some(unreleased) if unreleased.is_empty() => d.check(
                    "main-deploy-ready",
                    true,
                    format!("main holds nothing unreleased beyond `{}`", self.env()),
                ),
                Some(unreleased) => d.check(
                    "main-deploy-ready",
                    false,
                    format!(
                        "main holds unreleased work ({}) that is not known to be deploy-ready",
                        unreleased
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            }
        }
        self.main_lane(d);
        d.steps.push(EffectAction::LandFix {
            service: self.service().clone(),
            onto: BranchName::main(),
        });
        self.ship(d, BranchName::main(), Lane::Main, false);
        self.not_frozen(d, GatedAction::Deliver);
        self.approvals(d);
        self.estimate(d, self.policy.fix_seconds, Some((Lane::Main, false)));
        d.cost.merges = 1;
        Self::fix_impact(d);
    }

    fn in_flight_checks(&self, d: &mut Draft) -> Option<&InFlight> {
        if self.policy.main_always_deployable {
            d.check(
                "main-not-always-deployable",
                false,
                "main is always deploy-ready, so nothing in flight blocks the fix: fix forward instead",
            );
        }
        match &self.in_flight {
            Some(f) => {
                d.check(
                    "work-in-flight",
                    true,
                    format!(
                        "work is on its way in `{}` ({}), about {} left there",
                        f.environment,
                        if f.changes.is_empty() {
                            "a newer build".to_owned()
                        } else {
                            f.changes
                                .iter()
                                .map(|c| format!("`{c}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        },
                        human(f.remaining)
                    ),
                );
                Some(f)
            }
            None => {
                d.check(
                    "work-in-flight",
                    false,
                    "nothing is in flight upstream to wait for",
                );
                None
            }
        }
    }

    fn wait(&self, d: &mut Draft) {
        if let Some(f) = self.in_flight_checks(d) {
            let (total, basis) = self.lane_time(self.env(), Lane::Main, false);
            let (upto, _) = self.lane_time(&f.environment, Lane::Main, false);
            d.steps.push(EffectAction::WaitFor {
                environment: f.environment.clone(),
                seconds: f.remaining,
            });
            d.steps.push(EffectAction::LandFix {
                service: self.service().clone(),
                onto: BranchName::main(),
            });
            self.ship(d, BranchName::main(), Lane::Main, false);
            d.estimate = Estimate {
                seconds: self.policy.fix_seconds.max(f.remaining) + total.saturating_sub(upto),
                basis,
            };
        } else {
            self.estimate(d, self.policy.fix_seconds, Some((Lane::Main, false)));
        }
        self.not_frozen(d, GatedAction::Deliver);
        self.approvals(d);
        d.cost.merges = 1;
        d.impact = CustomerImpact {
            changes_withdrawn: 0,
            summary: "users see the failure until the batch with the fix ships".to_owned(),
        };
    }

    fn revert_in_flight(&self, d: &mut Draft) {
        d.check(
            "vcs-can-revert",
            self.caps.revert,
            if self.caps.revert {
                "the VCS can create revert commits"
            } else {
                "the host's VCS cannot create revert commits"
            },
        );
        let changes = self
            .in_flight_checks(d)
            .map(|f| f.changes.clone())
            .unwrap_or_default();
        for change in &changes {
            d.steps.push(EffectAction::RevertChange {
                service: self.service().clone(),
                change: change.clone(),
                onto: BranchName::main(),
            });
        }
        d.steps.push(EffectAction::LandFix {
            service: self.service().clone(),
            onto: BranchName::main(),
        });
        self.ship(d, BranchName::main(), Lane::Main, true);
        for change in &changes {
            d.steps.push(EffectAction::ReapplyChange {
                service: self.service().clone(),
                change: change.clone(),
                onto: BranchName::main(),
            });
            d.cost.follow_ups.push(FollowUpKind::ReapplyChange {
                change: change.clone(),
            });
        }
        self.not_frozen(d, GatedAction::Deliver);
        self.approvals(d);
        self.estimate(
            d,
            self.policy.revert_seconds + self.policy.fix_seconds,
            Some((Lane::Main, true)),
        );
        d.cost.merges = 3;
        d.risks
            .push("the in-flight work must be re-applied and tested again".to_owned());
        d.impact = CustomerImpact {
            changes_withdrawn: 0,
            summary: "users see the failure until the fast-tracked fix ships; the in-flight work ships later".to_owned(),
        };
    }
}

fn flag_list(change: &Change) -> String {
    change
        .flags
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn policy_refusal(policy: &Policy, strategy: Strategy) -> String {
    if strategy == Strategy::Rollback && policy.forward_only {
        "the policy is forward-only: no rollbacks".to_owned()
    } else if strategy == Strategy::Hotfix && policy.hotfix_lane.is_none() {
        "the policy does not use a hotfix lane".to_owned()
    } else {
        format!("the policy does not allow {strategy}")
    }
}
