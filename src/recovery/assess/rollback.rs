//! Rollback: back to the newest revision before the suspect that still
//! qualifies (the core's own rule, [`State::rollback_target`]), with a
//! down-migration first when one is needed and the services that depend on
//! it rolled back before it.
//!
//! [`State::rollback_target`]: crate::machine::State::rollback_target

use crate::machine::{EffectAction, FollowUpKind, RollbackTarget, SetDifference};
use crate::model::{Revision, SuspectedCause};

use super::{Context, Draft};
use crate::recovery::option::CustomerImpact;

impl Context<'_> {
    pub(super) fn rollback(&self, d: &mut Draft) {
        d.capability(
            "deployer-can-roll-back",
            self.caps.rollback,
            "the deployer can deploy an earlier revision",
            "the host's deployer cannot deploy an earlier revision",
        );
        self.unlikely_if_external(d, "rolling the code back");
        if let Some(number) = self.request.return_to_set {
            self.return_to_set(d, number);
            self.rollback_costs(d);
            return;
        }
        let target = match self.request.rollback_to {
            Some(revision) => self.named_target(revision),
            None => self.rollback_target().map(|t| {
                let why = format!(
                    "{} (`{}`) was verified known good and still qualifies",
                    t.revision, t.release
                );
                (t, why)
            }),
        };
        match target {
            Err(why) => d.check("known-good-target", false, why),
            Ok((target, why)) => {
                d.check("known-good-target", true, why);
                self.rollback_steps(d, &target);
                self.rollback_elsewhere(d);
            }
        }
        self.rollback_costs(d);
    }

    /// What a rollback leaves: the freeze on main's drift, fixing main,
    /// and the gate.
    fn rollback_costs(&self, d: &mut Draft) {
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

    /// Return the incident's environment to its known-good set `number`:
    /// every service serving something else rolls back to the set's
    /// revision (a down-migration first where the set ran an older schema;
    /// services whose releases require others first), then every flag
    /// goes back to the set's state, each verified; the core judges each
    /// step (a contract migration or an expired artifact in the way is
    /// its refusal).
    fn return_to_set(&self, d: &mut Draft, number: u32) {
        let env = self.env();
        let Some(set) = self.state.known_good_set(env, number) else {
            let kept: Vec<String> = self
                .state
                .known_good_sets(env)
                .iter()
                .map(|s| s.number.to_string())
                .collect();
            d.check(
                "known-good-set",
                false,
                format!(
                    "`{env}` keeps no known-good set {number} (it keeps {})",
                    if kept.is_empty() {
                        "none".to_owned()
                    } else {
                        kept.join(", ")
                    }
                ),
            );
            return;
        };
        let differences = self
            .state
            .differences_from_set(env, number)
            .unwrap_or_default();
        if differences.is_empty() {
            d.check(
                "known-good-set",
                false,
                format!("`{env}` runs known-good set {number} already"),
            );
            return;
        }
        d.check(
            "known-good-set",
            true,
            format!(
                "set {number} of `{env}`, verified healthy as a whole at {}: {}",
                set.at,
                differences
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
        // Services whose current release requires another that rolls back
        // go first (as in a joint rollback).
        let mut services: Vec<(
            &crate::model::ServiceId,
            &(crate::model::ReleaseId, Revision),
        )> = set
            .services
            .iter()
            .filter(|(service, (release, _))| {
                self.state
                    .history(env, service)
                    .and_then(|h| h.current())
                    .is_none_or(|d| d.release != *release)
            })
            .collect();
        let requires_others = |service: &crate::model::ServiceId| {
            self.state.current_release(env, service).map_or(0, |r| {
                r.requires
                    .keys()
                    .filter(|other| set.services.contains_key(*other))
                    .count()
            })
        };
        services.sort_by_key(|(service, _)| std::cmp::Reverse(requires_others(service)));
        let mut verify = Vec::new();
        for (service, (release, revision)) in services {
            let now = self
                .state
                .environment(env)
                .and_then(|e| e.schemas.get(service))
                .map(|s| s.version);
            if let (Some(then), Some(now)) = (set.schemas.get(service), now)
                && *then < now
            {
                d.steps.push(EffectAction::MigrateDown {
                    environment: env.clone(),
                    service: service.clone(),
                    to: *then,
                });
            }
            d.steps.push(EffectAction::Rollback {
                environment: env.clone(),
                service: service.clone(),
                to: *revision,
                release: release.clone(),
            });
            verify.push(EffectAction::Verify {
                environment: env.clone(),
                service: service.clone(),
            });
        }
        for difference in &differences {
            match difference {
                SetDifference::Flag { flag, then, .. } => d.steps.push(EffectAction::SetFlag {
                    environment: env.clone(),
                    flag: flag.clone(),
                    state: then.clone(),
                }),
                SetDifference::Service {
                    service,
                    then: None,
                    ..
                } => d.risks.push(format!(
                    "`{service}` did not run in `{env}` in set {number}: it stays as it is"
                )),
                _ => {}
            }
        }
        if verify.is_empty() {
            verify.push(EffectAction::Verify {
                environment: env.clone(),
                service: self.service().clone(),
            });
        }
        d.steps.extend(verify);
        d.impact = CustomerImpact {
            changes_withdrawn: 0,
            summary: format!("`{env}` runs what it ran at {} until main is fixed", set.at),
        };
    }

    /// Production elsewhere running the cause rolls back too, each to its
    /// own target (the core's rule there), after the incident's
    /// environment; one without a target is said in the risks.
    fn rollback_elsewhere(&self, d: &mut Draft) {
        let service = self.service();
        for (other, _) in &self.also_running {
            let Some(current) = self.state.history(other, service).and_then(|h| h.current()) else {
                continue;
            };
            match self.state.rollback_target(other, service, current.revision) {
                Ok(target) => {
                    if let Some(to) = target.down_to {
                        d.steps.push(EffectAction::MigrateDown {
                            environment: other.clone(),
                            service: service.clone(),
                            to,
                        });
                    }
                    d.steps.push(EffectAction::Rollback {
                        environment: other.clone(),
                        service: service.clone(),
                        to: target.revision,
                        release: target.release.clone(),
                    });
                    d.steps.push(EffectAction::Verify {
                        environment: other.clone(),
                        service: service.clone(),
                    });
                }
                Err(skipped) => d.left_out.push((
                    other.clone(),
                    format!(
                        "it has nothing to roll back to: {}",
                        self.state.no_rollback_target_reason(
                            other,
                            service,
                            current.revision,
                            &skipped
                        )
                    ),
                )),
            }
        }
    }

    /// The revision the suspect replaced, or what serves now.
    fn suspect_revision(&self) -> Option<Revision> {
        let current = self.state.history(self.env(), self.service())?.current()?;
        let suspect = match &self.incident.cause {
            SuspectedCause::Deployment { slot }
                if slot.environment == *self.env() && slot.service == *self.service() =>
            {
                slot.revision
            }
            _ => current.revision,
        };
        Some(suspect.min(current.revision))
    }

    fn rollback_target(&self) -> Result<RollbackTarget, String> {
        let (env, service) = (self.env(), self.service());
        let before = self
            .suspect_revision()
            .ok_or_else(|| format!("no rollout of `{service}` completed in `{env}`"))?;
        self.state
            .rollback_target(env, service, before)
            .map_err(|skipped| {
                self.state
                    .no_rollback_target_reason(env, service, before, &skipped)
            })
    }

    /// The revision the request names, when it qualifies (verified known
    /// good, or not with the override that says why), and why it does.
    fn named_target(&self, revision: Revision) -> Result<(RollbackTarget, String), String> {
        let (env, service) = (self.env(), self.service());
        let (target, known_good) = self
            .state
            .named_rollback_target(env, service, revision)
            .map_err(|why| format!("{revision} cannot be rolled back to: {why}"))?;
        let release = target.release.clone();
        if known_good {
            return Ok((
                target,
                format!(
                    "{revision} (`{release}`), as named, was verified known good and still qualifies"
                ),
            ));
        }
        match &self.request.clearance.unverified_target {
            Some(reason) => Ok((
                target,
                format!(
                    "{revision} (`{release}`), as named, was never verified known good; {} says: {reason}",
                    self.by
                ),
            )),
            None => Err(format!(
                "{revision} (`{release}`) is not verified known good: name it with `Clearance::unverified_target` and a reason, or let the core choose"
            )),
        }
    }

    fn rollback_steps(&self, d: &mut Draft, target: &RollbackTarget) {
        let (env, service) = (self.env(), self.service());
        for s in &target.skipped {
            d.risks
                .push(format!("skips {} (`{}`): {}", s.revision, s.release, s.why));
        }
        if let Some(to) = target.down_to {
            d.risks.push(format!(
                "needs a down migration to schema {to} before the rollback"
            ));
            d.steps.push(EffectAction::MigrateDown {
                environment: env.clone(),
                service: service.clone(),
                to,
            });
        }
        let after = self.joint_rollbacks(d, target);
        d.steps.push(EffectAction::Rollback {
            environment: env.clone(),
            service: service.clone(),
            to: target.revision,
            release: target.release.clone(),
        });
        d.steps.push(EffectAction::Verify {
            environment: env.clone(),
            service: service.clone(),
        });
        d.steps.extend(after);
        let restored = self.state.release(&target.release);
        let withdrawn = match (self.current_release, restored) {
            (Some(cur), Some(old)) => self.changes_between(Some(old), cur).len(),
            _ => 0,
        };
        d.impact = CustomerImpact {
            changes_withdrawn: u32::try_from(withdrawn).unwrap_or(u32::MAX),
            summary: format!(
                "users lose what shipped after `{}` ({} change{}) until main is fixed",
                target.release,
                withdrawn,
                if withdrawn == 1 { "" } else { "s" }
            ),
        };
    }

    /// Services whose running release requires more of this service than
    /// the target provides roll back first, each to its own target by the
    /// same rule, when that target accepts the version; otherwise the core
    /// refuses the rollback (`breaks-dependant`) in the dry run. Returns
    /// their verifications, to run after the main rollback.
    fn joint_rollbacks(&self, d: &mut Draft, target: &RollbackTarget) -> Vec<EffectAction> {
        let env = self.env();
        let mut after = Vec::new();
        let Some(version) = self
            .state
            .release(&target.release)
            .and_then(|r| self.state.artifact(&r.artifact))
            .map(|a| a.version.clone())
        else {
            return after;
        };
        let Some(env_state) = self.state.environment(env) else {
            return after;
        };
        for (dependant, history) in env_state.services() {
            if dependant == self.service() {
                continue;
            }
            let Some(current) = history.current() else {
                continue;
            };
            let Some(req) = self
                .state
                .release(&current.release)
                .and_then(|r| r.requires.get(self.service()))
            else {
                continue;
            };
            if req.matches(&version) {
                continue;
            }
            let Ok(earlier) = self.state.rollback_target(env, dependant, current.revision) else {
                continue;
            };
            let accepts = self.state.release(&earlier.release).is_some_and(|r| {
                r.requires
                    .get(self.service())
                    .is_none_or(|q| q.matches(&version))
            });
            if !accepts {
                continue;
            }
            d.risks.push(format!(
                "a joint rollback: `{dependant}` runs `{}`, which requires `{}` {req}, so it rolls back first to {} (`{}`)",
                current.release,
                self.service(),
                earlier.revision,
                earlier.release
            ));
            d.steps.push(EffectAction::Rollback {
                environment: env.clone(),
                service: dependant.clone(),
                to: earlier.revision,
                release: earlier.release.clone(),
            });
            after.push(EffectAction::Verify {
                environment: env.clone(),
                service: dependant.clone(),
            });
        }
        after
    }
}
