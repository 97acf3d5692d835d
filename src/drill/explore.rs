//! Exploration: many seeds over many scenarios.

use crate::drill::run::run;
use crate::drill::scenario::Scenario;
use std::collections::BTreeMap;

/// The outcome of exploring many seeds.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Exploration {
    /// Drills run (each twice).
    pub drills: u64,
    /// Seeds whose drill failed, with their first failure.
    pub failing: BTreeMap<u64, String>,
    /// Seeds whose two runs differed.
    pub nondeterministic: Vec<u64>,
    /// Faults injected over all drills (first runs), by kind.
    pub faults: BTreeMap<String, u64>,
    /// Fallbacks taken over all drills (each also a failure unless its
    /// scenario allows it).
    pub fallbacks: u64,
}

/// Runs `count` seeded drills starting at `first_seed`, each twice, over
/// the given scenarios in turn (seed `s` runs `scenarios[s % len]`).
pub fn explore(scenarios: &[Scenario], first_seed: u64, count: u64) -> Exploration {
    let mut result = Exploration {
        drills: 0,
        failing: BTreeMap::new(),
        nondeterministic: Vec::new(),
        faults: BTreeMap::new(),
        fallbacks: 0,
    };
    if scenarios.is_empty() {
        return result;
    }
    for seed in first_seed..first_seed.saturating_add(count) {
        let index = seed.checked_rem(scenarios.len() as u64).unwrap_or(0);
        let scenario = &scenarios[usize::try_from(index).unwrap_or(0)];
        let a = run(scenario, seed);
        let b = run(scenario, seed);
        result.drills = result.drills.saturating_add(1);
        if a.journal_jsonl() != b.journal_jsonl() {
            result.nondeterministic.push(seed);
        }
        for (kind, n) in &a.faults {
            let count = result.faults.entry(kind.clone()).or_default();
            *count = count.saturating_add(*n);
        }
        result.fallbacks = result.fallbacks.saturating_add(a.fallbacks.len() as u64);
        if let Some(first) = a.failures.first() {
            result
                .failing
                .insert(seed, format!("{}: {first}", a.scenario));
        }
    }
    result
}
