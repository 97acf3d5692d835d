//! What a drill reports: the verdict, the fallbacks, the time to restore
//! against the estimate, the journal.

use crate::journal::Journal;
use crate::model::Strategy;
use crate::recovery::RecoveryPlan;
use crate::retro::Retro;
use std::collections::BTreeMap;

/// A strategy that failed during a drill, and what was chosen next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fallback {
    /// The strategy that failed.
    pub failed: Strategy,
    /// Why it failed.
    pub why: String,
    /// What was chosen next, if anything was left.
    pub next: Option<Strategy>,
}

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed ({})", self.failed, self.why)?;
        match self.next {
            Some(next) => write!(f, "; fell back to {next}"),
            None => f.write_str("; nothing left to fall back to"),
        }
    }
}

/// What one drill did and found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DrillReport {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The first plan for the incident.
    pub plan: Option<RecoveryPlan>,
    /// The strategies chosen, in order (more than one when a step failed).
    pub chosen: Vec<Strategy>,
    /// Every strategy that failed and what came next. Never silent: unless
    /// the scenario allows fallbacks, each one is also a failure.
    pub fallbacks: Vec<Fallback>,
    /// The faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
    /// What happened, line by line (driver steps, faults, person steps).
    pub log: Vec<String>,
    /// Minutes from detection to mitigation, if mitigated.
    pub minutes_to_mitigate: Option<i64>,
    /// The time to restore the chosen option's estimate promised, and the
    /// time its work took on the drill's clock (each stage deployed to,
    /// flag switched, revert made, fix landed and wait, at the durations
    /// the planner models; faults and retries aside), once mitigated.
    pub restore: Option<RestoreTime>,
    /// Broken invariants and unmet expectations; empty when the drill passed.
    pub failures: Vec<String>,
    /// The journal at the end.
    pub journal: Journal,
    /// The retro, when the incident got that far.
    pub retro: Option<Retro>,
}

/// Estimated against simulated time to restore, for the option that
/// restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestoreTime {
    /// The option that restored.
    pub strategy: Strategy,
    /// What its estimate said, in seconds.
    pub estimated: u64,
    /// What its work took in the drill, in seconds.
    pub simulated: u64,
}

impl RestoreTime {
    /// What `strategy`'s estimate said and what its work took, in seconds.
    pub fn new(strategy: Strategy, estimated: u64, simulated: u64) -> Self {
        Self {
            strategy,
            estimated,
            simulated,
        }
    }

    /// The most the two may differ by before the drill fails: a tenth of
    /// the estimate, and never less than [`RestoreTime::MIN_TOLERANCE`].
    pub fn tolerance(&self) -> u64 {
        (self.estimated / 10).max(Self::MIN_TOLERANCE)
    }

    /// The smallest tolerance, in seconds.
    pub const MIN_TOLERANCE: u64 = 120;

    /// Whether the estimate held within the tolerance.
    pub fn held(&self) -> bool {
        self.estimated.abs_diff(self.simulated) <= self.tolerance()
    }
}

impl std::fmt::Display for RestoreTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: estimated {}, simulated {}",
            self.strategy,
            crate::recovery::human(self.estimated),
            crate::recovery::human(self.simulated)
        )
    }
}

impl DrillReport {
    /// Whether every invariant held and every expectation was met.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The verdict in one line: PASS or FAIL, with the fallbacks taken.
    pub fn verdict(&self) -> String {
        std::iter::once(if self.passed() { "PASS" } else { "FAIL" }.to_owned())
            .chain(self.fallbacks.iter().map(ToString::to_string))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The journal as JSON Lines (for determinism checks and archives).
    pub fn journal_jsonl(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing to a vector cannot fail.
        let _ = self.journal.write_jsonl(&mut out);
        out
    }
}
