//! History steps the driver carries out, under the drill's faults: a
//! gradual rollout, held and measured stage by stage and judged against
//! what the scenario says the flagged code does; a migration run through
//! the migrator, a data migration batch by batch.

use super::Sim;
use crate::driver::FlagRollout;
use crate::memory::block_on;
use crate::model::{EnvironmentId, FlagKey, ServiceId};
use crate::port::Clock as _;
use crate::rollout::GradualRollout;

/// A `roll-out-flag` history step, as the scenario gives it.
pub(super) struct FlagRolloutStep<'a> {
    pub(super) environment: &'a EnvironmentId,
    pub(super) flag: &'a FlagKey,
    pub(super) steps: &'a [u8],
    pub(super) hold_minutes: u32,
    pub(super) breaks_at: Option<u8>,
    pub(super) service: &'a ServiceId,
}

impl Sim<'_> {
    /// Drives the rollout to its end, waiting out each stage's hold and
    /// restarting after journal failures; fails the drill unless it halts
    /// where the flagged code breaks (put back to the stage before) or,
    /// when nothing breaks, reaches on.
    pub(super) fn roll_out_flag(&mut self, step: &FlagRolloutStep<'_>) -> Result<(), String> {
        let rollout = GradualRollout::new(
            step.environment.clone(),
            step.service.clone(),
            step.flag.clone(),
            step.steps.iter().copied(),
        )
        .map_err(|e| format!("the scenario's rollout of `{}`: {e}", step.flag))?
        .holding(std::time::Duration::from_secs(
            u64::from(step.hold_minutes).saturating_mul(60),
        ));
        if let Some(breaks_at) = step.breaks_at {
            let flags = self
                .world
                .ports
                .flags
                .clone()
                .ok_or("the scenario rolls out a flag, and the host has no flag store")?;
            *self
                .chaos
                .exposure
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(crate::drill::faults::Exposure {
                    environment: step.environment.clone(),
                    flag: step.flag.clone(),
                    breaks_at,
                    flags,
                });
        }
        let key = crate::recovery::IdempotencyKey::new(format!(
            "rollout/{}/{}",
            step.environment, step.flag
        ));
        for _ in 0..80 {
            let outcome = block_on(self.driver.roll_out_flag(&rollout, &key));
            self.drain_faults();
            match outcome {
                Ok(FlagRollout::Holding { percent, until }) => {
                    self.log.push(format!(
                        "driver: flag `{}` at {percent}%, held until {until}",
                        step.flag
                    ));
                    let wait = until.signed_duration_since(self.clock.now());
                    self.clock.advance(wait.max(chrono::Duration::zero()));
                }
                Ok(end) => {
                    self.log.push(format!("driver: {end}"));
                    return Self::judge_rollout(&rollout, step.breaks_at, &end);
                }
                Err(e) => {
                    if !self.weathered(&e)? {
                        return Err(format!("rolling out `{}`: {e}", step.flag));
                    }
                }
            }
        }
        Err(format!("the rollout of `{}` did not finish", step.flag))
    }

    /// Whether the rollout ended as the flagged code says it must.
    fn judge_rollout(
        rollout: &GradualRollout,
        breaks_at: Option<u8>,
        end: &FlagRollout,
    ) -> Result<(), String> {
        let percentages = rollout.percentages();
        let breaking = breaks_at.and_then(|b| percentages.iter().position(|p| *p >= b));
        match (breaking, end) {
            (None, FlagRollout::Done { .. }) => Ok(()),
            (
                Some(stage),
                FlagRollout::Halted {
                    percent,
                    back_to,
                    now,
                    ..
                },
            ) if percentages.get(stage) == Some(percent)
                && *back_to == rollout.on_failure(stage)
                && now == back_to =>
            {
                Ok(())
            }
            (None, other) => Err(format!(
                "the rollout of `{}` should have reached on: {other}",
                rollout.flag
            )),
            (Some(stage), other) => Err(format!(
                "the rollout of `{}` should have halted at {}% and gone back to {}: {other}",
                rollout.flag,
                percentages.get(stage).copied().unwrap_or(100),
                rollout.on_failure(stage)
            )),
        }
    }
}

impl Sim<'_> {
    /// A `migrate` history step with `batch`: the driver runs it through
    /// the host's migrator, batch by batch, restarted after every journal
    /// failure the faults inject, until it is recorded.
    pub(super) fn drive_migration(
        &mut self,
        (environment, service): (&EnvironmentId, &ServiceId),
        migration: &crate::model::Migration,
        batch: u64,
    ) -> Result<(), String> {
        let key =
            crate::recovery::IdempotencyKey::new(format!("schema/{environment}/{}", migration.id));
        let pace = crate::driver::MigrationPace::new(batch, std::time::Duration::ZERO);
        for _ in 0..200 {
            let outcome =
                block_on(
                    self.driver
                        .migrate((environment, service), migration, &key, pace),
                );
            self.drain_faults();
            match outcome {
                Ok(done @ crate::driver::Migrated::Done { .. }) => {
                    self.log.push(format!("driver: {done}"));
                    return Ok(());
                }
                Ok(pacing) => {
                    self.log.push(format!("driver: {pacing}"));
                    self.now_minutes(1);
                }
                Err(e) => {
                    let moved = self
                        .driver
                        .state()
                        .environment(environment)
                        .and_then(|e| e.schema(service))
                        .and_then(|s| s.moving.get(&migration.id))
                        .map_or(0, |p| p.moved);
                    if !self.weathered(&e)? {
                        return Err(format!("migrating `{}`: {e}", migration.id));
                    }
                    self.log.push(format!("{moved} rows recorded so far"));
                }
            }
        }
        Err(format!("the migration `{}` did not finish", migration.id))
    }
}
