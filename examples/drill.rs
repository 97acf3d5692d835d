//! The drill runner: rehearses an incident and checks the verdict.
//!
//! ```text
//! cargo run --example drill                                  # the built-in scenario
//! cargo run --example drill -- examples/scenarios/hotfix-lane.toml
//! cargo run --example drill -- examples/scenarios/hotfix-lane.toml --seed 17
//! cargo run --example drill -- examples/scenarios --explore 200   # every file, 200 seeds
//! ```
//!
//! It prints the ranked plan, the steps carried out (with the faults met),
//! the timeline as text and as Mermaid, and the verdict; it exits non-zero
//! when an expectation or an invariant fails, printing the one-line
//! command that replays the failing seed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use knowngood::drill::{BUILT_IN, DrillReport, Scenario, explore, run};
use knowngood::picture::{plan_mermaid, timeline_mermaid};
use knowngood::recovery::human;

struct Args {
    path: Option<PathBuf>,
    seed: u64,
    explore: Option<u64>,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        path: None,
        seed: 0,
        explore: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seed" => {
                out.seed = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--seed takes a number")?;
            }
            "--explore" => {
                out.explore = Some(
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .ok_or("--explore takes a number")?,
                );
            }
            "--help" | "-h" => {
                return Err(
                    "usage: drill [SCENARIO_FILE_OR_DIR] [--seed N] [--explore N]".to_owned(),
                );
            }
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => out.path = Some(PathBuf::from(other)),
        }
    }
    Ok(out)
}

fn load(path: Option<&Path>) -> Result<Vec<(String, Scenario)>, String> {
    let Some(path) = path else {
        return Ok(vec![(
            "built-in".to_owned(),
            Scenario::from_json(BUILT_IN, "built-in").map_err(|e| e.to_string())?,
        )]);
    };
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
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
        .map(|f| {
            Scenario::load(&f)
                .map(|s| (f.display().to_string(), s))
                .map_err(|e| e.to_string())
        })
        .collect()
}

fn print_report(file: &str, report: &DrillReport) {
    println!(
        "knowngood drill: {} (seed {})\n",
        report.scenario, report.seed
    );
    if let Some(plan) = &report.plan {
        println!("Recovery options, best first:");
        for (rank, o) in plan.options.iter().enumerate() {
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
            println!("  {}. {:<34} {verdict}", rank + 1, o.name());
        }
        println!("\n{}\n", plan.explanation);
        print_dry_run(report, plan);
    }
    println!("What happened:");
    for line in &report.log {
        println!("  {line}");
    }
    if let Some(retro) = &report.retro {
        println!("\nTimeline:");
        for e in &retro.timeline {
            println!("  {} {}", e.at.format("%H:%M"), e.what);
        }
        println!("\nTimeline as Mermaid:\n{}", timeline_mermaid(retro));
    }
    if let Some(plan) = &report.plan {
        println!("Plan as Mermaid:\n{}", plan_mermaid(plan));
    }
    match report.minutes_to_mitigate {
        Some(m) => println!("Mitigated after {m} min."),
        None => println!("Not mitigated."),
    }
    // What the plan promised against what its work took in the drill.
    if let Some(restore) = &report.restore {
        println!("Time to restore, {restore}.");
    }
    if !report.faults.is_empty() {
        println!("Faults injected: {}.", faults_line(&report.faults));
    }
    // The verdict names every fallback: a plan that failed never hides.
    println!("{}", report.verdict());
    if !report.passed() {
        for f in &report.failures {
            println!("  - {f}");
        }
        println!(
            "replay: cargo run --example drill -- {file} --seed {}",
            report.seed
        );
    }
}

/// Faults by kind, in one line.
fn faults_line(faults: &std::collections::BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = faults
        .iter()
        .map(|(kind, n)| format!("{kind} ×{n}"))
        .collect();
    parts.join(", ")
}

/// What the journal would say if the chosen option were carried out: the
/// planner's dry run, re-run here on the state at the moment of choosing.
fn print_dry_run(report: &DrillReport, plan: &knowngood::RecoveryPlan) {
    let Some(strategy) = report.chosen.first() else {
        return;
    };
    let entries = report.journal.entries();
    let Some(at) = entries
        .iter()
        .position(|e| matches!(e.event.kind, knowngood::EventKind::StrategyChosen { .. }))
    else {
        return;
    };
    let Ok(before) = knowngood::Ledger::from_journal(report.journal.truncated(at)) else {
        return;
    };
    let Ok(choice) = plan.choose(*strategy, "oncall") else {
        return;
    };
    match knowngood::machine::rehearse(before.state(), &choice, entries[at].event.at) {
        Ok(what_if) => {
            let kinds: Vec<&str> = what_if
                .events
                .iter()
                .map(|e| e.kind.type_name())
                .filter(|k| *k != "effect_recorded")
                .collect();
            println!(
                "Dry run of {strategy} (the core judged every step; {} events): {}\n",
                what_if.events.len(),
                kinds.join(", ")
            );
        }
        Err(refusal) => println!("Dry run of {strategy}: refused: {refusal}\n"),
    }
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let scenarios = match load(args.path.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(count) = args.explore {
        let only: Vec<Scenario> = scenarios.iter().map(|(_, s)| s.clone()).collect();
        let found = explore(&only, args.seed, count);
        println!(
            "explored {} seeded drills (each run twice) over {} scenario(s)",
            found.drills,
            only.len()
        );
        println!("faults injected: {}", faults_line(&found.faults));
        println!("fallbacks taken: {}", found.fallbacks);
        for seed in &found.nondeterministic {
            println!("NONDETERMINISTIC: seed {seed}");
        }
        for (seed, failure) in &found.failing {
            let file = &scenarios[usize::try_from(seed % only.len() as u64).unwrap_or(0)].0;
            println!(
                "FAIL seed {seed}: {failure}\n  replay: cargo run --example drill -- {file} --seed {seed}"
            );
        }
        if found.failing.is_empty() && found.nondeterministic.is_empty() {
            println!("PASS");
            return ExitCode::SUCCESS;
        }
        return ExitCode::FAILURE;
    }
    let mut ok = true;
    for (file, scenario) in &scenarios {
        let report = run(scenario, args.seed);
        print_report(file, &report);
        ok &= report.passed();
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
