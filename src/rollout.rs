//! Gradual rollout plans: a dark launch, then percentage steps, each held
//! until verified; a failed step falls back to the last good percentage.
//! [`Driver::roll_out_flag`](crate::driver::Driver::roll_out_flag) carries
//! one out, journaling each stage's verdict.
//!
//! ```
//! use knowngood::rollout::GradualRollout;
//! use knowngood::FlagState;
//! let plan = GradualRollout::new("prod", "payments", "new-checkout", [5, 25, 100]).unwrap();
//! assert_eq!(plan.percentages(), vec![0, 5, 25, 100]);
//! // The 25% step fails: back to 5%.
//! assert_eq!(plan.on_failure(2), FlagState::Percentage { percent: 5 });
//! ```

use serde::{Deserialize, Serialize};

use crate::model::{EnvironmentId, FlagKey, FlagState, ServiceId};
use crate::recovery::{Effect, EffectAction, IdempotencyKey};

/// Why percentages do not make a rollout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RolloutPlanError {
    /// The steps must rise strictly from above 0 to exactly 100.
    #[error("rollout steps {steps:?} must rise strictly from above 0% and end at 100%")]
    BadSteps {
        /// The steps given.
        steps: Vec<u8>,
    },
}

/// A gradual rollout of a flagged feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[must_use]
#[non_exhaustive]
pub struct GradualRollout {
    /// Where.
    pub environment: EnvironmentId,
    /// The service whose health is verified at each step.
    pub service: ServiceId,
    /// The flag.
    pub flag: FlagKey,
    /// The percentages after the dark launch, rising to 100.
    pub steps: Vec<u8>,
    /// How long each stage is held before it is measured, in seconds: at
    /// least the window the health probe looks back over, so that what it
    /// measures is the stage, not the one before (0: measured at once).
    #[serde(default)]
    pub hold_seconds: u64,
}

impl GradualRollout {
    /// A rollout through `steps` (e.g. `[1, 5, 25, 50, 100]`) after a dark
    /// launch at 0 %.
    pub fn new(
        environment: impl Into<EnvironmentId>,
        service: impl Into<ServiceId>,
        flag: impl Into<FlagKey>,
        steps: impl IntoIterator<Item = u8>,
    ) -> Result<Self, RolloutPlanError> {
        let steps: Vec<u8> = steps.into_iter().collect();
        let rising = steps.windows(2).all(|w| w[0] < w[1]);
        if steps.is_empty() || !rising || steps[0] == 0 || steps.last() != Some(&100) {
            return Err(RolloutPlanError::BadSteps { steps });
        }
        Ok(Self {
            environment: environment.into(),
            service: service.into(),
            flag: flag.into(),
            steps,
            hold_seconds: 0,
        })
    }

    /// The same rollout, each stage held `hold` before it is measured.
    pub fn holding(mut self, hold: std::time::Duration) -> Self {
        self.hold_seconds = hold.as_secs();
        self
    }

    /// The key of setting stage `stage` (0 = dark launch) in the rollout
    /// keyed `key_prefix`.
    pub fn set_key(&self, key_prefix: &str, stage: usize) -> IdempotencyKey {
        let percent = self.percentages().get(stage).copied().unwrap_or(100);
        IdempotencyKey::new(format!("{key_prefix}/{stage}-set-{percent}"))
    }

    /// The key of measuring stage `stage`.
    pub fn verify_key(&self, key_prefix: &str, stage: usize) -> IdempotencyKey {
        let percent = self.percentages().get(stage).copied().unwrap_or(100);
        IdempotencyKey::new(format!("{key_prefix}/{stage}-verify-{percent}"))
    }

    /// The key of putting the flag back after stage `stage` failed.
    pub fn back_key(&self, key_prefix: &str, stage: usize) -> IdempotencyKey {
        IdempotencyKey::new(format!("{key_prefix}/{stage}-back"))
    }

    /// The flag's state at stage `stage` (100 % is on).
    pub fn stage_state(&self, stage: usize) -> FlagState {
        Self::state(self.percentages().get(stage).copied().unwrap_or(100))
    }

    /// Every stage's percentage, the dark launch (0) first.
    pub fn percentages(&self) -> Vec<u8> {
        std::iter::once(0)
            .chain(self.steps.iter().copied())
            .collect()
    }

    fn state(percent: u8) -> FlagState {
        if percent == 100 {
            FlagState::On
        } else {
            FlagState::Percentage { percent }
        }
    }

    /// The effects: for each stage, set the flag, then verify (the driver
    /// holds each stage until its verification passes). Keys start with
    /// `key_prefix`.
    pub fn effects(&self, key_prefix: &str) -> Vec<Effect> {
        let mut effects = Vec::new();
        for (i, percent) in self.percentages().into_iter().enumerate() {
            effects.push(Effect::new(
                self.set_key(key_prefix, i),
                EffectAction::SetFlag {
                    environment: self.environment.clone(),
                    flag: self.flag.clone(),
                    state: Self::state(percent),
                },
            ));
            effects.push(Effect::new(
                self.verify_key(key_prefix, i),
                EffectAction::Verify {
                    environment: self.environment.clone(),
                    service: self.service.clone(),
                },
            ));
        }
        effects
    }

    /// The flag state to return to when stage `stage` (0 = dark launch)
    /// fails verification: the last good percentage, or off when the dark
    /// launch itself fails.
    pub fn on_failure(&self, stage: usize) -> FlagState {
        match stage.checked_sub(1) {
            None => FlagState::Off,
            Some(previous) => Self::state(self.percentages().get(previous).copied().unwrap_or(0)),
        }
    }
}
