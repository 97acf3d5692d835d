//! What the journal tells and what needs no journal: `init`, `metrics`,
//! `graph`, `journal verify`, `drill`.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use knowngood::chrono::Duration;
use knowngood::drill::{Scenario, explore, load_scenarios, run};
use knowngood::metrics::{MetricsQuery, delivery_metrics};
use knowngood::picture::{pipeline_dot, pipeline_mermaid, plan_mermaid, timeline_mermaid};
use knowngood::retro::Retro;
use knowngood::{IncidentId, Startup};
use serde::Serialize;

use crate::config::STARTING_POINT;
use crate::fail::{Exit, Failure};
use crate::open::Session;
use crate::out::Out;

/// `metrics`.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// The environment (default: the pipeline's first production one).
    #[arg(long = "env")]
    environment: Option<String>,
    /// Only this service.
    #[arg(long)]
    service: Option<String>,
    /// The window: this many days back from now.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// A trend in periods of this many days.
    #[arg(long)]
    per_days: Option<u32>,
}

/// What `graph` draws.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphOf {
    /// The pipeline (DOT or Mermaid).
    Pipeline,
    /// An incident's recovery plan (Mermaid).
    Plan,
    /// An incident's timeline (Mermaid).
    Timeline,
}

/// The graph's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// Mermaid.
    Mermaid,
}

/// `graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// What to draw.
    of: GraphOf,
    /// The incident (for `plan` and `timeline`).
    incident: Option<String>,
    /// The language.
    #[arg(long, value_enum, default_value = "mermaid")]
    format: GraphFormat,
}

/// `drill`.
#[derive(Debug, Args)]
pub struct DrillArgs {
    /// A scenario file (JSON or TOML) or a directory of them (default: the
    /// built-in scenario).
    path: Option<PathBuf>,
    /// The seed of the faults.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run this many seeds from `--seed` (each twice) and report failures.
    #[arg(long)]
    explore: Option<u64>,
}

/// `init`: writes the commented starting point, never over a file without
/// `--force`.
pub fn init(path: &Path, force: bool, out: Out) -> Result<Exit, Failure> {
    if path.exists() && !force {
        return Err(Failure::bad_input(format!(
            "{} exists already: edit it, or pass --force to overwrite it",
            path.display()
        )));
    }
    std::fs::write(path, STARTING_POINT).map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("{} cannot be written: {e}", path.display()),
        )
    })?;
    out.emit(&serde_json::json!({ "written": path }), || {
        format!(
            "wrote {}: set the journal, the pipeline, the services and the deploy, health and build commands, then run `knowngood sync` and `knowngood status`",
            path.display()
        )
    })?;
    Ok(Exit::Done)
}

/// `metrics`.
pub async fn metrics(s: &Session, a: &MetricsArgs) -> Result<Exit, Failure> {
    let ledger = s.ledger(Startup::Snapshot).await?;
    let state = ledger.state();
    let environment = match &a.environment {
        Some(e) => e.clone(),
        None => state
            .pipeline()
            .and_then(|p| p.production().next())
            .map(|e| e.id.to_string())
            .ok_or_else(|| {
                Failure::bad_input(
                    "the journal holds no production environment: name one with --env".to_owned(),
                )
            })?,
    };
    let to = knowngood::Clock::now(&knowngood::SystemClock);
    let mut query = MetricsQuery::new(
        environment.as_str(),
        to - Duration::days(i64::from(a.days)),
        to,
    );
    if let Some(service) = &a.service {
        query = query.service(service.as_str());
    }
    if let Some(days) = a.per_days {
        query = query.per(Duration::days(i64::from(days.max(1))));
    }
    let measured = delivery_metrics(state, &query);
    s.out.emit(&measured, || measured.to_markdown())?;
    Ok(Exit::Done)
}

#[derive(Serialize)]
struct Graph {
    format: &'static str,
    graph: String,
}

/// `graph`.
pub async fn graph(s: &Session, a: &GraphArgs) -> Result<Exit, Failure> {
    let incident = || -> Result<IncidentId, Failure> {
        a.incident.as_deref().map(Into::into).ok_or_else(|| {
            Failure::bad_input("name the incident: `knowngood graph plan INC-1`".to_owned())
        })
    };
    let mermaid_only = |what: &str| {
        if a.format == GraphFormat::Dot {
            Err(Failure::bad_input(format!(
                "the {what} is drawn in Mermaid only: pass --format mermaid"
            )))
        } else {
            Ok(())
        }
    };
    let graph = match a.of {
        GraphOf::Pipeline => {
            let ledger = s.ledger(Startup::Snapshot).await?;
            let pipeline = match ledger.state().pipeline() {
                Some(p) => p.clone(),
                None => s
                    .config
                    .pipeline
                    .clone()
                    .build()
                    .map_err(|e| Failure::bad_input(format!("`pipeline`: {e}")))?,
            };
            match a.format {
                GraphFormat::Dot => pipeline_dot(&pipeline),
                GraphFormat::Mermaid => pipeline_mermaid(&pipeline),
            }
        }
        GraphOf::Plan => {
            mermaid_only("plan")?;
            let driver = s.driver().await?;
            let plan = knowngood::plan_for(
                driver.state(),
                &incident()?,
                driver.ports().clock.now(),
                &driver.ports().capabilities(),
                &knowngood::PlanRequest::by(s.actor()?),
            )?;
            plan_mermaid(&plan)
        }
        GraphOf::Timeline => {
            mermaid_only("timeline")?;
            let ledger = s.ledger(Startup::Replay).await?;
            let retro = Retro::from_journal(ledger.journal(), &incident()?)
                .map_err(|e| Failure::bad_input(e.to_string()))?;
            timeline_mermaid(&retro)
        }
    };
    let answer = Graph {
        format: match a.format {
            GraphFormat::Dot => "dot",
            GraphFormat::Mermaid => "mermaid",
        },
        graph,
    };
    s.out.emit(&answer, || answer.graph.clone())?;
    Ok(Exit::Done)
}

#[derive(Serialize)]
struct Verified {
    entries: u64,
    head: String,
    chain: Option<String>,
    keyed: bool,
}

/// `journal verify`: every entry from the first, never a snapshot.
pub async fn verify(s: &Session) -> Result<Exit, Failure> {
    let ledger = s.ledger(Startup::Replay).await?;
    let journal = ledger.journal();
    let head = journal.head();
    let verified = Verified {
        entries: journal.len() as u64,
        head: head.hash.to_string(),
        chain: journal.chain().name().map(str::to_owned),
        keyed: journal.chain().is_keyed(),
    };
    s.out.emit(&verified, || {
        format!(
            "{} entries verify: the chain{} links each to the one before (head {}), each is in canonical form, and the state rebuilds from them",
            verified.entries,
            verified
                .chain
                .as_deref()
                .map_or_else(String::new, |c| format!(" `{c}`{}", if verified.keyed { ", keyed," } else { "" })),
            verified.head
        )
    })?;
    Ok(Exit::Done)
}

/// `journal migrate`.
pub async fn migrate(s: &Session) -> Result<Exit, Failure> {
    let version = s.migrate().await?;
    s.out.emit(
        &serde_json::json!({ "schema": version }),
        || match version {
            Some(v) => format!("the journal's tables are at schema version {v}"),
            None => "nothing to migrate: a file or SQLite journal keeps its own format".to_owned(),
        },
    )?;
    Ok(Exit::Done)
}

/// `drill`: the crate's drill runner.
pub fn drill(a: &DrillArgs, out: Out) -> Result<Exit, Failure> {
    const REPLAY: &str = "knowngood drill";
    let scenarios =
        load_scenarios(a.path.as_deref()).map_err(|e| Failure::bad_input(e.to_string()))?;
    if let Some(count) = a.explore {
        let only: Vec<Scenario> = scenarios.iter().map(|(_, s)| s.clone()).collect();
        let files: Vec<String> = scenarios.iter().map(|(f, _)| f.clone()).collect();
        let found = explore(&only, a.seed, count);
        out.emit(
            &serde_json::json!({
                "drills": found.drills,
                "failing": found.failing,
                "nondeterministic": found.nondeterministic,
                "faults": found.faults,
                "fallbacks": found.fallbacks,
                "passed": found.passed(),
            }),
            || found.to_text(only.len(), &files, REPLAY),
        )?;
        return Ok(if found.passed() {
            Exit::Done
        } else {
            Exit::Failed
        });
    }
    let mut passed = true;
    let mut reports = Vec::new();
    for (file, scenario) in &scenarios {
        let report = run(scenario, a.seed);
        passed &= report.passed();
        reports.push((file.clone(), report));
    }
    let summary: Vec<serde_json::Value> = reports
        .iter()
        .map(|(file, r)| {
            serde_json::json!({
                "file": file,
                "scenario": r.scenario,
                "seed": r.seed,
                "passed": r.passed(),
                "verdict": r.verdict(),
                "failures": r.failures,
                "minutes_to_mitigate": r.minutes_to_mitigate,
            })
        })
        .collect();
    out.emit(&summary, || {
        reports
            .iter()
            .map(|(file, r)| r.to_text(file, REPLAY))
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    Ok(if passed { Exit::Done } else { Exit::Failed })
}
