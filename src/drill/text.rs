//! A drill told in plain text, the same for every runner (the `drill`
//! example, the `knowngood drill` command): the ranked plan, the dry run of
//! the chosen option, what happened, the timeline, the verdict and the
//! command that replays a failing seed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::explore::Exploration;
use super::report::DrillReport;
use super::scenario::{Scenario, ScenarioError};
use crate::picture::{plan_mermaid, timeline_mermaid};
use crate::recovery::{RecoveryPlan, human};

/// The scenarios at `path`, each with the name it is replayed by: the
/// built-in scenario when `path` is `None`, every `.json` and `.toml` file
/// of a directory (sorted by name), or one file.
///
/// # Errors
///
/// The first file that cannot be read or used, or a directory that
/// cannot be listed ([`ScenarioError::Io`]).
pub fn load_scenarios(path: Option<&Path>) -> Result<Vec<(String, Scenario)>, ScenarioError> {
    let Some(path) = path else {
        return Ok(vec![(
            "built-in".to_owned(),
            Scenario::from_json(super::BUILT_IN, "built-in")?,
        )]);
    };
    let files: Vec<PathBuf> = if path.is_dir() {
        let listed = std::fs::read_dir(path).map_err(|source| ScenarioError::Io {
            file: path.display().to_string(),
            source,
        })?;
        let mut files: Vec<PathBuf> = listed
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("json" | "toml")
                )
            })
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    files
        .into_iter()
        .map(|f| Scenario::load(&f).map(|s| (f.display().to_string(), s)))
        .collect()
}

/// Faults by kind, in one line (`flaky deploy ×2, slow health ×1`).
pub fn faults_line(faults: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = faults
        .iter()
        .map(|(kind, n)| format!("{kind} ×{n}"))
        .collect();
    parts.join(", ")
}

impl DrillReport {
    /// The drill in plain text. `replay` is the command that runs a
    /// scenario file (for example `knowngood drill`): a failing drill ends
    /// with the line that replays its seed, `<replay> <file> --seed <n>`.
    pub fn to_text(&self, file: &str, replay: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "knowngood drill: {} (seed {})\n",
            self.scenario, self.seed
        );
        if let Some(plan) = &self.plan {
            out.push_str("Recovery options, best first:\n");
            for (rank, o) in (1_u32..).zip(&plan.options) {
                let verdict = if o.applicable {
                    format!(
                        "~{}{}",
                        human(o.estimate.seconds),
                        if o.likely_to_help {
                            ""
                        } else {
                            " (probably will not help)"
                        }
                    )
                } else {
                    format!("not applicable: {}", o.why_not())
                };
                let _ = writeln!(out, "  {rank}. {:<34} {verdict}", o.name());
            }
            let _ = writeln!(out, "\n{}\n", plan.explanation);
            out.push_str(&self.dry_run(plan));
        }
        out.push_str("What happened:\n");
        for line in &self.log {
            let _ = writeln!(out, "  {line}");
        }
        if let Some(retro) = &self.retro {
            out.push_str("\nTimeline:\n");
            for e in &retro.timeline {
                let _ = writeln!(out, "  {} {}", e.at.format("%H:%M"), e.what);
            }
            let _ = writeln!(out, "\nTimeline as Mermaid:\n{}", timeline_mermaid(retro));
        }
        if let Some(plan) = &self.plan {
            let _ = writeln!(out, "Plan as Mermaid:\n{}", plan_mermaid(plan));
        }
        match self.minutes_to_mitigate {
            Some(m) => {
                let _ = writeln!(out, "Mitigated after {m} min.");
            }
            None => out.push_str("Not mitigated.\n"),
        }
        // What the plan promised against what its work took in the drill.
        if let Some(restore) = &self.restore {
            let _ = writeln!(out, "Time to restore, {restore}.");
        }
        if !self.faults.is_empty() {
            let _ = writeln!(out, "Faults injected: {}.", faults_line(&self.faults));
        }
        // The verdict names every fallback: a plan that failed never hides.
        let _ = writeln!(out, "{}", self.verdict());
        if !self.passed() {
            for f in &self.failures {
                let _ = writeln!(out, "  - {f}");
            }
            let _ = writeln!(out, "replay: {replay} {file} --seed {}", self.seed);
        }
        out
    }

    /// What the journal would say if the chosen option were carried out:
    /// the planner's dry run, re-run on the state at the moment of
    /// choosing.
    fn dry_run(&self, plan: &RecoveryPlan) -> String {
        let Some(strategy) = self.chosen.first() else {
            return String::new();
        };
        let entries = self.journal.entries();
        let Some(at) = entries
            .iter()
            .position(|e| matches!(e.event.kind, crate::EventKind::StrategyChosen { .. }))
        else {
            return String::new();
        };
        let Ok(before) = crate::Ledger::from_journal(self.journal.truncated(at)) else {
            return String::new();
        };
        let Ok(choice) = plan.choose(*strategy, "oncall") else {
            return String::new();
        };
        match crate::machine::rehearse(before.state(), &choice, entries[at].event.at) {
            Ok(what_if) => {
                let kinds: Vec<&str> = what_if
                    .events
                    .iter()
                    .map(|e| e.kind.type_name())
                    .filter(|k| *k != "effect_recorded")
                    .collect();
                format!(
                    "Dry run of {strategy} (the core judged every step; {} events): {}\n\n",
                    what_if.events.len(),
                    kinds.join(", ")
                )
            }
            Err(refusal) => format!("Dry run of {strategy}: refused: {refusal}\n\n"),
        }
    }
}

impl Exploration {
    /// The exploration in plain text: how many drills, the faults and
    /// fallbacks met, each nondeterministic seed and each failure with the
    /// line that replays it (`files` are the explored scenarios' names, in
    /// the order explored), and `PASS` when nothing failed.
    pub fn to_text(&self, scenarios: usize, files: &[String], replay: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "explored {} seeded drills (each run twice) over {scenarios} scenario(s)",
            self.drills
        );
        let _ = writeln!(out, "faults injected: {}", faults_line(&self.faults));
        let _ = writeln!(out, "fallbacks taken: {}", self.fallbacks);
        for seed in &self.nondeterministic {
            let _ = writeln!(out, "NONDETERMINISTIC: seed {seed}");
        }
        for (seed, failure) in &self.failing {
            let file = u64::try_from(files.len())
                .ok()
                .filter(|n| *n > 0)
                .and_then(|n| seed.checked_rem(n))
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| files.get(i))
                .map_or("", String::as_str);
            let _ = writeln!(
                out,
                "FAIL seed {seed}: {failure}\n  replay: {replay} {file} --seed {seed}"
            );
        }
        if self.passed() {
            out.push_str("PASS\n");
        }
        out
    }

    /// Whether every drill passed and each ran the same twice.
    pub fn passed(&self) -> bool {
        self.failing.is_empty() && self.nondeterministic.is_empty()
    }
}
