//! The strategies that switch a flag or move code forward: retoggle,
//! revert, hotfix, fix forward, wait, and revert-in-flight-then-fix.

use crate::model::{BranchName, Change, FlagKey, FlagState, Lane, SuspectedCause};

use super::InFlight;
use super::{Context, Draft};
use crate::machine::{EffectAction, FollowUpKind};
use crate::recovery::human;
use crate::recovery::option::{Check, CustomerImpact};

impl Context<'_> {
    fn vcs_can_revert(&self, d: &mut Draft) {
        d.capability(
            "vcs-can-revert",
            self.caps.revert,
            "the VCS can create revert commits",
            "the host's VCS cannot create revert commits",
        );
    }

    pub(super) fn retoggle(&self, d: &mut Draft) {
        d.capability(
            "flag-store-available",
            self.caps.flags,
            "the flag store can switch flags",
            "the host has no flag store",
        );
        if self.cause_is_change(d) {
            let change = self.cause.cloned();
            if let Some(change) = change {
                let covered = change.wholly_behind_flags();
                d.check(
                    "change-fully-behind-flags",
                    covered,
                    match (&change.unflagged, change.flags.is_empty()) {
                        (_, true) => format!("`{}` is not behind any flag", change.id),
                        (Some(part), false) => format!(
                            "`{}` is only partly behind {}: no flag covers {part}",
                            change.id,
                            flag_list(&change)
                        ),
                        (None, false) => {
                            format!("`{}` sits behind {}", change.id, flag_list(&change))
                        }
                    },
                );
                if let (Some(part), false) = (&change.unflagged, change.flags.is_empty()) {
                    d.risks.push(format!(
                        "turning {} off mitigates only the flagged part of `{}`: {part} keeps running",
                        flag_list(&change),
                        change.id
                    ));
                }
                if covered {
                    let env_state = self.state.environment(self.env());
                    let running: Vec<&FlagKey> = change
                        .flags
                        .iter()
                        .filter(|f| env_state.is_some_and(|e| !e.flag(f).is_off()))
                        .collect();
                    let dark: Vec<String> = running
                        .iter()
                        .filter(|f| env_state.is_some_and(|e| e.flag(f).is_dark()))
                        .map(|f| format!("`{f}`"))
                        .collect();
                    let neutralised = self.state.flags_neutralise(&change, self.env());
                    d.check(
                        "flags-on",
                        !neutralised,
                        if neutralised && dark.is_empty() {
                            format!("{} already off in `{}`", flag_list(&change), self.env())
                        } else if neutralised {
                            format!(
                                "{} at 0 % in `{}`, which the policy counts as off",
                                dark.join(", "),
                                self.env()
                            )
                        } else if dark.is_empty() {
                            format!("{} reach users in `{}`", flag_list(&change), self.env())
                        } else {
                            format!(
                                "{} still run the code in `{}` (at 0 %, a dark launch is not off)",
                                dark.join(", "),
                                self.env()
                            )
                        },
                    );
                    for flag in running {
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
                    // Production elsewhere running it: off there too.
                    for (other, _) in &self.also_running {
                        let Some(there) = self.state.environment(other) else {
                            continue;
                        };
                        for flag in change.flags.iter().filter(|f| !there.flag(f).is_off()) {
                            d.steps.push(EffectAction::SetFlag {
                                environment: other.clone(),
                                flag: flag.clone(),
                                state: FlagState::Off,
                            });
                        }
                        d.steps.push(EffectAction::Verify {
                            environment: other.clone(),
                            service: self.service().clone(),
                        });
                    }
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
        d.cost.follow_ups.push(FollowUpKind::FixMain {
            service: self.service().clone(),
        });
        d.risks
            .push("the flagged feature stays off until a fix lands".to_owned());
    }

    pub(super) fn revert(&self, d: &mut Draft) {
        self.vcs_can_revert(d);
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
        self.main_head_ready(d);
        self.main_lane(d);
        self.ship(d, BranchName::main(), Lane::Main, false);
        self.approvals(d);
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
        d.capability(
            "builder-on-demand",
            self.caps.build,
            "the builder builds any commit on demand",
            "the host's builder cannot build a commit on demand",
        );
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
        self.promote_elsewhere(d, lane, fast_track);
    }

    /// Production elsewhere running the cause (or, once mitigated,
    /// restored by the incident's plan) gets the same build, promoted
    /// along the same lane after the incident's environment verified it
    /// (never built again); one the lane does not reach is said in the
    /// risks, and one where the core refuses the step (a gate closed there
    /// by anything but this incident's own rollback, a freeze) is left out
    /// by the rehearsal, said too.
    fn promote_elsewhere(&self, d: &mut Draft, lane: Lane, fast_track: bool) {
        for other in self.elsewhere() {
            let promoted = d.steps.iter().any(
                |s| matches!(s, EffectAction::Promote { environment, .. } if environment == other),
            );
            if promoted {
                continue;
            }
            let reached = self
                .state
                .pipeline()
                .is_some_and(|p| !p.predecessors(other, lane).is_empty());
            if !reached {
                d.left_out.push((
                    other.clone(),
                    format!("no {lane} lane leads there to promote this plan's build"),
                ));
                continue;
            }
            d.steps.push(EffectAction::Promote {
                service: self.service().clone(),
                from: self.env().clone(),
                lane,
                environment: other.clone(),
                fast_track,
            });
            d.steps.push(EffectAction::Verify {
                environment: other.clone(),
                service: self.service().clone(),
            });
        }
    }

    fn fix_impact(d: &mut Draft) {
        d.impact = CustomerImpact {
            changes_withdrawn: 0,
            summary: "users see the failure until the fix ships".to_owned(),
        };
    }

    pub(super) fn hotfix(&self, d: &mut Draft) {
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
        d.capability(
            "vcs-can-branch",
            self.caps.branches,
            "the VCS can cut branches and cherry-pick",
            "the host's VCS cannot cut branches",
        );
        let base = crate::recovery::hotfix_base(self.state, self.env(), self.service());
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
        self.approvals(d);
        d.cost.merges = 2;
        d.risks
            .push("two merges (branch and main): more room for mistakes".to_owned());
        Self::fix_impact(d);
    }

    pub(super) fn fix_forward(&self, d: &mut Draft) {
        self.main_head_ready(d);
        self.main_lane(d);
        d.steps.push(EffectAction::LandFix {
            service: self.service().clone(),
            onto: BranchName::main(),
        });
        self.ship(d, BranchName::main(), Lane::Main, false);
        self.approvals(d);
        d.cost.merges = 1;
        Self::fix_impact(d);
    }

    /// Shipping main's head carries whatever else main holds: every option
    /// that does so (fix forward, revert) needs main deploy-ready.
    fn main_head_ready(&self, d: &mut Draft) {
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
    }

    fn in_flight_checks(&self, d: &mut Draft) -> Option<&InFlight> {
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

    pub(super) fn wait(&self, d: &mut Draft) {
        if self.policy.main_always_deployable {
            d.check(
                "main-not-always-deployable",
                false,
                "main is always deploy-ready, so nothing in flight blocks the fix: fix forward instead",
            );
        }
        if let Some(f) = self.in_flight_checks(d) {
            d.steps.push(EffectAction::WaitFor {
                environment: f.environment.clone(),
                seconds: f.remaining,
            });
            d.steps.push(EffectAction::LandFix {
                service: self.service().clone(),
                onto: BranchName::main(),
            });
            self.ship(d, BranchName::main(), Lane::Main, false);
        }
        self.approvals(d);
        d.cost.merges = 1;
        d.impact = CustomerImpact {
            changes_withdrawn: 0,
            summary: "users see the failure until the batch with the fix ships".to_owned(),
        };
    }

    pub(super) fn revert_in_flight(&self, d: &mut Draft) {
        self.vcs_can_revert(d);
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
        self.approvals(d);
        d.cost.merges = 3;
        d.risks
            .push("the in-flight work must be re-applied and tested again".to_owned());
        d.impact = CustomerImpact {
            changes_withdrawn: 0,
            summary: "users see the failure until the fast-tracked fix ships; the in-flight work ships later".to_owned(),
        };
    }
}

impl Context<'_> {
    /// Abort: stop the suspected rollout while it is still in progress and
    /// return to what served before it.
    pub(super) fn abort(&self, d: &mut Draft) {
        d.capability(
            "deployer-can-abort",
            self.caps.abort,
            "the deployer can stop a rollout in flight",
            "the host's deployer cannot stop a rollout in flight",
        );
        // The newest rollout, while the lifecycle still lets it be aborted
        // (in flight, or rolled out and not verified yet).
        let busy = self
            .state
            .history(self.env(), self.service())
            .and_then(crate::machine::RolloutHistory::latest)
            .filter(|d| {
                d.status
                    .after(crate::machine::LifecycleStep::Abort)
                    .is_some()
            });
        match busy {
            None => d.check(
                "suspect-in-flight",
                false,
                format!(
                    "no rollout of `{}` in `{}` is in progress or awaiting verification: abort applies only before a rollout is verified (roll back after)",
                    self.service(),
                    self.env()
                ),
            ),
            Some(busy) => {
                let suspect = match &self.incident.cause {
                    SuspectedCause::Deployment { slot } => slot.revision == busy.revision,
                    SuspectedCause::Change { change } => self
                        .state
                        .release(&busy.release)
                        .is_some_and(|r| self.release_contains(r, change)),
                    SuspectedCause::External { .. } => true,
                };
                d.check(
                    "suspect-in-flight",
                    suspect,
                    if suspect {
                        format!("{} (`{}`) is still {}", busy.revision, busy.release, busy.status)
                    } else {
                        format!(
                            "{} (`{}`) is in progress but is not the suspect",
                            busy.revision, busy.release
                        )
                    },
                );
                self.unlikely_if_external(d, "aborting the rollout");
                d.steps.push(EffectAction::Abort {
                    environment: self.env().clone(),
                    service: self.service().clone(),
                    revision: busy.revision,
                });
                d.steps.push(EffectAction::Verify {
                    environment: self.env().clone(),
                    service: self.service().clone(),
                });
            }
        }
        d.cost.follow_ups.push(FollowUpKind::FixMain {
            service: self.service().clone(),
        });
        d.impact = CustomerImpact {
            changes_withdrawn: 0,
            summary: "users keep what served before; the new release never reaches all of them"
                .to_owned(),
        };
    }

    fn release_contains(
        &self,
        release: &crate::model::Release,
        change: &crate::model::ChangeId,
    ) -> bool {
        let Some(artifact) = self.state.artifact(&release.artifact) else {
            return false;
        };
        let Some(record) = self.state.change(change) else {
            return false;
        };
        record
            .commits
            .iter()
            .any(|c| self.state.is_ancestor(c, &artifact.source_commit))
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
