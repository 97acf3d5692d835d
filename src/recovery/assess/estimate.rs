//! Estimates: how long a plan's steps take to restore a known-good state,
//! stage by stage, from the durations observed or the policy's.

use crate::machine::EffectAction;
use crate::model::{EnvironmentId, Lane};

use super::Context;
use crate::recovery::option::{Estimate, EstimateBasis};

impl Context<'_> {
    pub(super) fn stage(&self, env: &EnvironmentId) -> (u64, EstimateBasis) {
        crate::recovery::stage_seconds(self.state, env)
    }

    /// Time for a new artifact to reach `env` along `lane`: its own stage
    /// after the slowest path through its predecessors. One pass over the
    /// pipeline's DAG, each environment computed once (linear in its
    /// edges, whatever the number of paths).
    pub(super) fn lane_time(&self, env: &EnvironmentId, lane: Lane) -> u64 {
        let mut memo = std::collections::BTreeMap::new();
        self.lane_time_memo(env, lane, 64, &mut memo)
    }

    fn lane_time_memo(
        &self,
        env: &EnvironmentId,
        lane: Lane,
        depth: u32,
        memo: &mut std::collections::BTreeMap<EnvironmentId, u64>,
    ) -> u64 {
        if let Some(known) = memo.get(env) {
            return *known;
        }
        let (own, _) = self.stage(env);
        let mut slowest = 0_u64;
        if depth > 0
            && let Some(pipeline) = self.state.pipeline()
        {
            for pred in pipeline.predecessors(env, lane) {
                slowest =
                    slowest.max(self.lane_time_memo(pred, lane, depth.saturating_sub(1), memo));
            }
        }
        let time = own.saturating_add(slowest);
        memo.insert(env.clone(), time);
        time
    }

    /// Time to restore: the sum over the steps the driver will run, up to
    /// the last verification in the incident's environment (what comes
    /// after, such as merging a hotfix back or re-applying a change, does
    /// not delay the restore). Each step costs what the driver really does:
    /// a flag switch or an abort the policy's `flag_seconds`; a rollback
    /// one stage of its environment; a down-migration `migrate_seconds`; a
    /// revert `revert_seconds`; a fix `fix_seconds`; shipping, one stage per environment on the path the
    /// driver deploys to ([`Pipeline::ship_path`](crate::Pipeline::ship_path),
    /// without the stages a fast-track skips); promoting that build
    /// elsewhere, one stage per environment its path adds; waiting, the time the work
    /// in flight has left. Stages use the durations observed once the
    /// journal holds enough of them, the policy's otherwise.
    pub(super) fn estimate_steps(&self, steps: &[EffectAction]) -> Estimate {
        // Restored once the incident's environment, and production
        // elsewhere running the cause when the plan covers it, verify.
        let to_restore =
            |env: &EnvironmentId| env == self.env() || self.elsewhere().any(|other| other == env);
        let restored = steps
            .iter()
            .rposition(
                |s| matches!(s, EffectAction::Verify { environment, .. } if to_restore(environment)),
            )
            .map_or(steps.len(), |i| i.saturating_add(1));
        let mut seconds = 0_u64;
        // The basis says where stage durations came from; the policy's
        // fixed times (flag, revert, fix) are always the policy's; a
        // runbook's, its own.
        let mut basis: Option<EstimateBasis> = None;
        let mut by_runbook = false;
        let mut stage = |env: &EnvironmentId, seconds: &mut u64| {
            let (t, b) = self.stage(env);
            basis = Some(basis.map_or(b, |known| known.merge(b)));
            *seconds = seconds.saturating_add(t);
        };
        for step in steps.iter().take(restored) {
            match step {
                EffectAction::SetFlag { .. } | EffectAction::Abort { .. } => {
                    seconds = seconds.saturating_add(self.policy.flag_seconds);
                }
                EffectAction::Rollback { environment, .. } => stage(environment, &mut seconds),
                EffectAction::RevertChange { .. } => {
                    seconds = seconds.saturating_add(self.policy.revert_seconds);
                }
                EffectAction::MigrateDown { .. } => {
                    seconds = seconds.saturating_add(self.policy.migrate_seconds);
                }
                EffectAction::LandFix { .. } => {
                    seconds = seconds.saturating_add(self.policy.fix_seconds);
                }
                EffectAction::Ship {
                    lane,
                    environment,
                    fast_track,
                    ..
                } => {
                    if let Some(pipeline) = self.state.pipeline() {
                        for env in pipeline.ship_path(environment, *lane, *fast_track) {
                            stage(&env, &mut seconds);
                        }
                    }
                }
                // The stages its lane's path adds to the shipment's.
                EffectAction::Promote {
                    from,
                    lane,
                    environment,
                    fast_track,
                    ..
                } => {
                    if let Some(pipeline) = self.state.pipeline() {
                        let shipped = pipeline.ship_path(from, *lane, *fast_track);
                        for env in pipeline.ship_path(environment, *lane, *fast_track) {
                            if !shipped.contains(&env) {
                                stage(&env, &mut seconds);
                            }
                        }
                    }
                }
                EffectAction::WaitFor { seconds: left, .. } => {
                    seconds = seconds.saturating_add(*left);
                }
                EffectAction::RunRunbook { runbook, .. } => {
                    let own = self
                        .state
                        .runbook(runbook)
                        .map_or(0, |r| r.estimate_seconds);
                    seconds = seconds.saturating_add(own);
                    by_runbook = true;
                }
                _ => {}
            }
        }
        let basis = match (basis, by_runbook) {
            (Some(stages), true) => Some(stages.merge(EstimateBasis::Runbook)),
            (None, true) => Some(EstimateBasis::Runbook),
            (stages, false) => stages,
        };
        Estimate {
            seconds,
            basis: basis.unwrap_or(EstimateBasis::Policy),
        }
    }
}
