//! Flags: a flag set through the flag store and recorded, and a gradual
//! rollout driven stage by stage, each stage held, measured and its
//! verdict journaled, a failed stage put back to the last good one.

use super::Driver;
use super::calls::{Call, Produced};
use super::error::DriveError;
use super::report::FlagRollout;
use crate::machine::{Command, Verdict};
use crate::model::{EnvironmentId, FlagKey, FlagState, IncidentId};
use crate::recovery::IdempotencyKey;
use crate::rollout::GradualRollout;

impl Driver {
    /// Sets `flag` to `state` in `environment` through the flag store
    /// (under `key`, from the revision it reads, and even when it reads
    /// the same state from a store that holds no definition yet), then
    /// records it. Answers the store's revision.
    pub(super) async fn set_flag(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
        (environment, flag, state): (&EnvironmentId, &FlagKey, &FlagState),
    ) -> Result<u64, DriveError> {
        let Some(flags) = self.ports.flags.clone() else {
            return Self::fail(key, "the host has no flag store");
        };
        let (current, mut revision) = match flags.get(environment, flag).await {
            Ok(read) => read,
            Err(e) => return Self::port_read(key, "flag store", e),
        };
        // Revision 0: the store holds no definition, so what it reads is
        // its default, not what users get (flagd serves an absent flag as
        // the application's code default). The state is written then,
        // even when it reads the same.
        if current != *state || revision == 0 {
            let call = Call::Flag(environment.clone(), flag.clone(), state.clone(), revision);
            if let Produced::Revision(r) = self.call(incident, key, key.clone(), call).await? {
                revision = r;
            }
        }
        self.execute(&Command::SetFlag {
            environment: environment.clone(),
            flag: flag.clone(),
            state: state.clone(),
            by: self.acting(),
            clearance: crate::machine::Clearance::none(),
        })
        .await?;
        Ok(revision)
    }

    /// Drives a gradual rollout of a flag: a dark launch, then each
    /// percentage up to on, every stage set through the flag store, held
    /// for [`GradualRollout::hold_seconds`], measured by the health probe
    /// (what serves `rollout.service` there), and its verdict journaled
    /// ([`Command::RecordFlagVerdict`]). A stage measured unhealthy puts
    /// the flag back to the last good stage
    /// ([`GradualRollout::on_failure`]: the stage before it, off for the
    /// dark launch) and stops with [`FlagRollout::Halted`].
    ///
    /// `key` names this rollout: call again under the same key to go on
    /// (after [`FlagRollout::Holding`], a crash or a restart, in any
    /// process); the journal says which stages are done, nothing is set
    /// or measured twice, and once it ended, the call says again how. A
    /// flag someone changed by hand between stages (a kill switch pulled)
    /// is never written over: [`FlagRollout::Interrupted`]. With
    /// [`Leases`](crate::Leases), one replica at a time rolls out to an
    /// environment and service, as for [`Driver::ship`].
    ///
    /// A rollout through percentages needs a flag store that serves them
    /// ([`FlagStoreCapabilities::gradual`](crate::port::FlagStoreCapabilities));
    /// otherwise nothing is done and the error says so.
    pub async fn roll_out_flag(
        &mut self,
        rollout: &GradualRollout,
        key: &IdempotencyKey,
    ) -> Result<FlagRollout, DriveError> {
        let gradual = match &self.ports.flags {
            None => return Self::fail(key, "the host has no flag store"),
            Some(flags) => flags.capabilities().gradual,
        };
        if !gradual {
            return Self::fail(
                key,
                "the flag store cannot serve percentages (FlagStoreCapabilities::gradual is false): roll the flag out with a store that can, or set it on",
            );
        }
        self.take_ship_lease(&rollout.environment, &rollout.service)
            .await?;
        let result = self.roll_out_held(rollout, key).await;
        self.let_go_of_ship_lease().await;
        result
    }

    async fn roll_out_held(
        &mut self,
        rollout: &GradualRollout,
        key: &IdempotencyKey,
    ) -> Result<FlagRollout, DriveError> {
        let (environment, flag) = (&rollout.environment, &rollout.flag);
        let prefix = key.as_str();
        let stages = rollout.percentages();
        // Where the journal says this rollout stands: the furthest stage
        // it measured.
        let record = self
            .state()
            .environment(environment)
            .and_then(|e| e.flag_record(flag))
            .cloned()
            .unwrap_or_default();
        let last = (0..stages.len())
            .rev()
            .find_map(|i| Some((i, record.verdict(&rollout.verify_key(prefix, i))?.clone())));
        let start = match last {
            Some((stage, verdict)) if !verdict.healthy => {
                return self.put_back(rollout, key, stage, &verdict).await;
            }
            Some((stage, _)) => stage.saturating_add(1),
            None => 0,
        };
        for stage in start..stages.len() {
            let percent = stages.get(stage).copied().unwrap_or(100);
            let target = rollout.stage_state(stage);
            let set_key = rollout.set_key(prefix, stage);
            // A flag changed by hand since the stage before is a person's
            // decision: never written over.
            if stage > 0 {
                let before = rollout.stage_state(stage.saturating_sub(1));
                // What this rollout last left: the stage before, or this
                // stage when it was set before a stop.
                let expected = self
                    .state()
                    .environment(environment)
                    .map(|e| e.flag(flag).clone())
                    .filter(|recorded| *recorded == target)
                    .unwrap_or(before.clone());
                let found = self.flag_now(&set_key, environment, flag).await?;
                if found != before && found != target {
                    return Ok(FlagRollout::Interrupted {
                        percent,
                        expected,
                        found,
                    });
                }
            }
            self.set_flag(None, &set_key, (environment, flag, &target))
                .await?;
            // Held: what is measured must be the stage, not the one before.
            let since = self
                .state()
                .environment(environment)
                .and_then(|e| e.flag_record(flag))
                .and_then(|r| r.since);
            let hold =
                chrono::Duration::seconds(i64::try_from(rollout.hold_seconds).unwrap_or(i64::MAX));
            if let Some(until) = since.and_then(|s| s.checked_add_signed(hold))
                && self.ports.clock.now() < until
            {
                return Ok(FlagRollout::Holding { percent, until });
            }
            let verify_key = rollout.verify_key(prefix, stage);
            let health = self.measure_flag(&verify_key, rollout).await?;
            let verdict = if health.healthy {
                Verdict::Healthy
            } else {
                Verdict::Unhealthy {
                    reason: health.detail.clone(),
                }
            };
            self.execute(&Command::RecordFlagVerdict {
                environment: environment.clone(),
                flag: flag.clone(),
                verdict,
                evidence: health.healthy.then(|| health.detail.clone()),
                by: self.actor.clone(),
                key: verify_key,
            })
            .await?;
            if !health.healthy {
                let measured = self
                    .state()
                    .environment(environment)
                    .and_then(|e| e.flag_record(flag))
                    .and_then(|r| r.verdict(&rollout.verify_key(prefix, stage)))
                    .cloned();
                if let Some(measured) = measured {
                    return self.put_back(rollout, key, stage, &measured).await;
                }
            }
        }
        Ok(FlagRollout::Done {
            environment: environment.clone(),
            flag: flag.clone(),
            stages,
        })
    }

    /// The flag's state in the store now.
    async fn flag_now(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        flag: &FlagKey,
    ) -> Result<FlagState, DriveError> {
        let Some(flags) = &self.ports.flags else {
            return Self::fail(key, "the host has no flag store");
        };
        match flags.get(environment, flag).await {
            Ok((state, _)) => Ok(state),
            Err(e) => Self::port_read(key, "flag store", e),
        }
    }

    /// Measures what serves the rollout's service where it rolls out.
    async fn measure_flag(
        &self,
        key: &IdempotencyKey,
        rollout: &GradualRollout,
    ) -> Result<crate::port::Health, DriveError> {
        let (environment, service) = (&rollout.environment, &rollout.service);
        let Some(release) = self
            .state()
            .current_release(environment, service)
            .map(|r| r.id.clone())
        else {
            return Self::fail(
                key,
                format!("nothing of `{service}` serves in `{environment}` to measure"),
            );
        };
        match self
            .ports
            .health
            .verify(environment, service, &release)
            .await
        {
            Ok(health) => Ok(health),
            Err(e) => Self::port_read(key, "health probe", e),
        }
    }

    /// Stage `stage` measured unhealthy (`verdict`): the flag goes back
    /// to the last good stage, once, under its own key, and the rollout
    /// halts. A flag set again since the verdict (the put-back before a
    /// crash, or a person) is left as it is.
    async fn put_back(
        &mut self,
        rollout: &GradualRollout,
        key: &IdempotencyKey,
        stage: usize,
        verdict: &crate::machine::FlagVerdict,
    ) -> Result<FlagRollout, DriveError> {
        let back_to = rollout.on_failure(stage);
        let back_key = rollout.back_key(key.as_str(), stage);
        let (environment, flag) = (&rollout.environment, &rollout.flag);
        let set_since = self
            .state()
            .environment(environment)
            .and_then(|e| e.flag_record(flag))
            .and_then(|r| r.since)
            .is_some_and(|since| since > verdict.at);
        if !set_since {
            self.set_flag(None, &back_key, (environment, flag, &back_to))
                .await?;
        }
        let now = self
            .state()
            .environment(environment)
            .map_or(FlagState::Off, |e| e.flag(flag).clone());
        Ok(FlagRollout::Halted {
            percent: rollout.percentages().get(stage).copied().unwrap_or(100),
            why: verdict.detail.clone(),
            back_to,
            now,
        })
    }
}
