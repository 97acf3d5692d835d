//! Rollback: back to the last release verified known good, with its
//! schema, its requirements and the services that depend on it.

use crate::machine::gates;
use crate::model::{GatedAction, Release, Revision};

use super::{Context, Draft};
use crate::recovery::effect::EffectAction;
use crate::recovery::option::{Check, CustomerImpact, Estimate, FollowUpKind};

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

impl Context<'_> {
    pub(super) fn rollback(&self, d: &mut Draft) {
        d.capability(
            "deployer-can-roll-back",
            self.caps.rollback,
            "the deployer can deploy an earlier revision",
            "the host's deployer cannot deploy an earlier revision",
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
}
