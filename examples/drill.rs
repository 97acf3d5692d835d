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

use std::path::PathBuf;
use std::process::ExitCode;

use knowngood::drill::{Scenario, explore, load_scenarios, run};

/// How a failing seed is replayed.
const REPLAY: &str = "cargo run --example drill --";

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

fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let scenarios = match load_scenarios(args.path.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(count) = args.explore {
        let only: Vec<Scenario> = scenarios.iter().map(|(_, s)| s.clone()).collect();
        let found = explore(&only, args.seed, count);
        let files: Vec<String> = scenarios.iter().map(|(f, _)| f.clone()).collect();
        print!("{}", found.to_text(only.len(), &files, REPLAY));
        return if found.passed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let mut ok = true;
    for (file, scenario) in &scenarios {
        let report = run(scenario, args.seed);
        print!("{}", report.to_text(file, REPLAY));
        ok &= report.passed();
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
