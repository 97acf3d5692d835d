//! The rollback target rule, one function for the core and the planner.
//!
//! The default target is the newest revision *before the suspected one*
//! that was verified known good and still qualifies now: its artifact is
//! available, it runs on the current schema (or reaches it by a
//! reversible down-migration), what it requires of other services is
//! running, and it carries no poisoned change and no untrusted artifact.
//! Candidates that fail are skipped and named with the reason.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::model::{EnvironmentId, Release, ReleaseId, Revision, ServiceId};

use super::rejection::SkippedCandidate;
use super::state::{Deployment, State};
use super::{fit, gates};

/// The revision the rule picks, with what it takes to get there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RollbackTarget {
    /// The revision whose release is restored.
    pub revision: Revision,
    /// Its release.
    pub release: ReleaseId,
    /// The schema version to migrate down to first, when the release runs
    /// on an older schema that reversible migrations can return to.
    pub down_to: Option<u32>,
    /// Newer candidates passed over, newest first.
    pub skipped: Vec<SkippedCandidate>,
}

/// At most this many skipped candidates are named (the count of the rest
/// is in the last entry's reason).
const NAMED: usize = 8;

impl State {
    /// The default rollback target of `service` in `env`: the newest
    /// revision before `before` (the suspected revision, or the current one)
    /// that qualifies now. `Err` lists the candidates that did not.
    ///
    /// The core's rollback command without a target revision uses this
    /// rule with `before` = the current revision; the planner uses it with
    /// the incident's suspected revision.
    pub fn rollback_target(
        &self,
        env: &EnvironmentId,
        service: &ServiceId,
        before: Revision,
    ) -> Result<RollbackTarget, Vec<SkippedCandidate>> {
        let mut skipped = Vec::new();
        let mut unnamed = 0usize;
        let Some(history) = self.history(env, service) else {
            return Err(skipped);
        };
        for candidate in history
            .rollback_candidates()
            .filter(|d| d.revision < before)
        {
            match self.qualifies(env, candidate) {
                Ok(down_to) => {
                    note_unnamed(&mut skipped, unnamed);
                    return Ok(RollbackTarget {
                        revision: candidate.revision,
                        release: candidate.release.clone(),
                        down_to,
                        skipped,
                    });
                }
                Err(why) if skipped.len() < NAMED => skipped.push(SkippedCandidate {
                    revision: candidate.revision,
                    release: candidate.release.clone(),
                    why,
                }),
                Err(_) => unnamed = unnamed.saturating_add(1),
            }
        }
        note_unnamed(&mut skipped, unnamed);
        Err(skipped)
    }

    /// `revision` as a rollback target named by a person: it must have
    /// served, with another release than what serves now, and meet what
    /// the core's own choice meets (registered, not expired, allowed in,
    /// on a schema it runs on or can migrate down to, its requirements
    /// running). `Ok((target, true))` when it is a verified known-good
    /// state; `Ok((target, false))` when it is not (never verified,
    /// failed, rolled back), so that rolling back to it needs
    /// [`Clearance::unverified_target`](crate::Clearance) (rule
    /// `rollback-target-known-good`). `Err` says why it cannot be used.
    pub fn named_rollback_target(
        &self,
        env: &EnvironmentId,
        service: &ServiceId,
        revision: Revision,
    ) -> Result<(RollbackTarget, bool), String> {
        let history = self
            .history(env, service)
            .ok_or_else(|| format!("`{service}` never ran in `{env}`"))?;
        let current = history
            .current()
            .ok_or_else(|| format!("no rollout of `{service}` completed in `{env}`"))?;
        let target = super::deploy::explicit_target(
            history,
            current,
            crate::model::Slot::new(env.clone(), service.clone(), revision),
        )
        .map_err(|r| r.to_string())?;
        let down_to = self.qualifies(env, target)?;
        Ok((
            RollbackTarget {
                revision: target.revision,
                release: target.release.clone(),
                down_to,
                skipped: Vec::new(),
            },
            super::deploy::is_known_good_target(target),
        ))
    }

    /// Why [`State::rollback_target`] found nothing, naming only the facts
    /// that apply: no earlier revision at all, none verified known good
    /// with another release, or the candidates passed over and why.
    pub fn no_rollback_target_reason(
        &self,
        env: &EnvironmentId,
        service: &ServiceId,
        before: Revision,
        skipped: &[SkippedCandidate],
    ) -> String {
        let earlier = self.history(env, service).map_or(0, |h| {
            h.deployments().filter(|d| d.revision < before).count()
        });
        if earlier == 0 {
            return format!(
                "{before} is the first revision of `{service}` in `{env}`: there is nothing earlier to return to"
            );
        }
        if skipped.is_empty() {
            return format!(
                "none of the {earlier} revision(s) of `{service}` in `{env}` before {before} was verified known good with another release"
            );
        }
        let named: Vec<String> = skipped
            .iter()
            .map(|s| format!("{} (`{}`): {}", s.revision, s.release, s.why))
            .collect();
        format!(
            "no revision of `{service}` in `{env}` before {before} qualifies now: skipped {}",
            named.join("; ")
        )
    }

    /// Whether a candidate qualifies now; `Ok(Some(v))` when it needs a
    /// down-migration to schema `v` first.
    fn qualifies(
        &self,
        env: &EnvironmentId,
        candidate: &Deployment,
    ) -> Result<Option<u32>, String> {
        let release = self
            .release(&candidate.release)
            .ok_or_else(|| format!("release `{}` is not registered", candidate.release))?;
        if self.is_expired(&release.artifact) {
            return Err(format!(
                "the artifact of `{}` (`{}`) was expired from the registry",
                release.id, release.artifact
            ));
        }
        gates::check_release_entry(self, env, release).map_err(|r| r.to_string())?;
        let down_to = self.schema_route(env, release)?;
        for (other, requirement) in &release.requires {
            let running = fit::running_version(self, env, other);
            if !running.as_ref().is_some_and(|v| requirement.matches(v)) {
                return Err(format!(
                    "`{}` needs `{other}` {requirement}, which is not running in `{env}`",
                    release.id
                ));
            }
        }
        Ok(down_to)
    }

    /// How `release` runs on the schema of `env`: as it is (`None`), after
    /// a reversible down-migration (`Some(version)`), or not at all.
    fn schema_route(&self, env: &EnvironmentId, release: &Release) -> Result<Option<u32>, String> {
        let schema = self
            .environment(env)
            .and_then(|e| e.schema(&release.service));
        let (Some(range), Some(schema)) = (release.schema, schema) else {
            return Ok(None);
        };
        if range.contains(schema.version) {
            return Ok(None);
        }
        if schema.version < range.min {
            return Err(format!(
                "`{}` needs schema {range}, newer than {}",
                release.id, schema.version
            ));
        }
        let irreversible = schema.applied.iter().rev().find(|a| {
            a.migration.to > range.max
                && a.migration.to > a.migration.from
                && !a.migration.reversible
        });
        match irreversible {
            Some(a) => Err(format!(
                "`{}` runs on {range} but the schema is at {}: it predates {} migration `{}` ({} → {}), which cannot be undone",
                release.id,
                schema.version,
                a.migration.phase,
                a.migration.id,
                a.migration.from,
                a.migration.to
            )),
            None => Ok(Some(range.max)),
        }
    }
}

fn note_unnamed(skipped: &mut [SkippedCandidate], unnamed: usize) {
    if unnamed > 0
        && let Some(last) = skipped.last_mut()
    {
        let _ = write!(
            last.why,
            " (and {unnamed} older candidates did not qualify either)"
        );
    }
}

/// Where the hotfix lane of a service starts: the build production runs,
/// and the branch the policy's template names for it. It follows every new
/// production deployment ([`State::hotfix_lane_upkeep`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct HotfixBase {
    /// The release production runs.
    pub release: crate::model::ReleaseId,
    /// The commit it was built from: where the branch is cut.
    pub commit: crate::model::CommitId,
    /// The branch name, e.g. `Hotfix-43`.
    pub branch: crate::model::BranchName,
}

impl State {
    /// The hotfix base of `service` for production environment `env`: what
    /// serves there, and the branch the policy's hotfix-lane template (or
    /// `hotfix/{version}`) names for its build.
    pub fn hotfix_base(&self, env: &EnvironmentId, service: &ServiceId) -> Option<HotfixBase> {
        let release = self.current_release(env, service)?;
        let artifact = self.artifact(&release.artifact)?;
        let template = self.policy().hotfix_lane.clone().unwrap_or_default();
        Some(HotfixBase {
            release: release.id.clone(),
            commit: artifact.source_commit.clone(),
            branch: crate::model::BranchName::new(
                template.branch_name(&artifact.version, artifact.build),
            ),
        })
    }

    /// What keeps the hotfix lane into `env` following what `service` runs
    /// there, once it is verified known good and the policy uses a hotfix
    /// lane: cutting the hotfix branch for that build (`Hotfix-44` at the
    /// commit build 44 came from) unless it exists, and deploying the same
    /// release to every other environment of the hotfix lane (the
    /// hotfix-development environment then mirrors production). Empty when
    /// the lane already follows. A branch of that name that points
    /// elsewhere is left alone (someone is working on it).
    pub fn hotfix_lane_upkeep(
        &self,
        env: &EnvironmentId,
        service: &ServiceId,
    ) -> Vec<crate::machine::EffectAction> {
        use crate::machine::EffectAction;
        let mut due = Vec::new();
        if self.policy().hotfix_lane.is_none() {
            return due;
        }
        let Some(pipeline) = self.pipeline() else {
            return due;
        };
        let lane: Vec<EnvironmentId> = pipeline
            .lane_path(env, crate::model::Lane::Hotfix)
            .into_iter()
            .filter(|e| e != env)
            .collect();
        if lane.is_empty() {
            return due;
        }
        let serving = self
            .history(env, service)
            .and_then(super::RolloutHistory::current)
            .filter(|d| d.status == super::DeploymentStatus::KnownGood);
        let (Some(_), Some(base)) = (serving, self.hotfix_base(env, service)) else {
            return due;
        };
        if self.branch(service, &base.branch).is_none() {
            due.push(EffectAction::CutBranch {
                service: service.clone(),
                branch: base.branch.clone(),
                at: base.commit.clone(),
            });
        }
        for mirror in lane {
            let runs = self
                .current_release(&mirror, service)
                .is_some_and(|r| r.id == base.release);
            if !runs {
                due.push(EffectAction::Mirror {
                    environment: mirror,
                    service: service.clone(),
                    release: base.release.clone(),
                });
            }
        }
        due
    }
}
