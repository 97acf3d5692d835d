//! An incident from declaration to retro: `declare`, `suspects`, `plan`,
//! `choose`, `drive`, `resolve`, `retro`.

use std::fmt::Write as _;
use std::time::Duration;

use clap::Args;
use knowngood::chrono::{DateTime, Utc};
use knowngood::retro::Retro;
use knowngood::suspects::suspects as rank_suspects;
use knowngood::{
    Command, DriveReport, IncidentId, IncidentPhase, PlanRequest, RecoveryPlan, Severity, Slot,
    Startup, Strategy, SuspectedCause,
};
use serde::Serialize;

use crate::fail::{Exit, Failure};
use crate::open::Session;
use crate::out::{Out, table};

/// `declare`.
#[derive(Debug, Args)]
pub struct DeclareArgs {
    /// The incident's name, e.g. INC-7.
    incident: String,
    /// Where it is seen.
    #[arg(long = "env")]
    environment: String,
    /// The service affected (needed when several are configured).
    #[arg(long)]
    service: Option<String>,
    /// How bad: sev1, sev2, sev3.
    #[arg(long, default_value = "sev2", value_parser = severity)]
    severity: Severity,
    /// What is seen.
    #[arg(long)]
    summary: String,
    /// The change suspected (default: the deployment serving now).
    #[arg(long, conflicts_with = "external")]
    change: Option<String>,
    /// Something outside the pipeline, in words.
    #[arg(long)]
    external: Option<String>,
    /// When the impact began (RFC 3339), if known.
    #[arg(long)]
    impact_began: Option<DateTime<Utc>>,
}

/// `suspects`.
#[derive(Debug, Args)]
pub struct SuspectsArgs {
    /// Where the trouble is seen.
    #[arg(long = "env")]
    environment: String,
    /// When it began (RFC 3339; default now).
    #[arg(long)]
    at: Option<DateTime<Utc>>,
    /// How far back to look, in minutes.
    #[arg(long, default_value_t = 24 * 60)]
    minutes: u32,
}

/// `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The incident.
    incident: String,
    #[command(flatten)]
    request: RequestArgs,
}

/// What a plan is asked for.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Roll back to this revision instead of the newest known-good one.
    #[arg(long, conflicts_with = "return_to_set")]
    rollback_to: Option<u32>,
    /// Return to this last-known-good set (see `status --json`).
    #[arg(long)]
    return_to_set: Option<u32>,
}

/// `choose`.
#[derive(Debug, Args)]
pub struct ChooseArgs {
    /// The incident.
    incident: String,
    /// The option: flag-off, rollback, revert, hotfix, fix-forward, ...
    #[arg(value_parser = strategy)]
    strategy: Strategy,
    /// Also choose, up front, the option that fixes main once mitigated.
    #[arg(long, value_parser = strategy)]
    then: Option<Strategy>,
    #[command(flatten)]
    request: RequestArgs,
}

/// `drive`.
#[derive(Debug, Args)]
pub struct DriveArgs {
    /// The incident.
    incident: String,
    /// Exit (code 3) instead of waiting for approvals.
    #[arg(long)]
    no_wait: bool,
    /// How often to look for approvals while waiting, in seconds.
    #[arg(long, default_value_t = 5)]
    poll_seconds: u64,
}

/// `resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The incident.
    incident: String,
}

/// `retro`.
#[derive(Debug, Args)]
pub struct RetroArgs {
    /// The incident.
    incident: String,
    /// Record the retro as held, with this summary or link.
    #[arg(long)]
    record: Option<String>,
}

fn severity(text: &str) -> Result<Severity, String> {
    match text.to_ascii_lowercase().as_str() {
        "sev1" => Ok(Severity::Sev1),
        "sev2" => Ok(Severity::Sev2),
        "sev3" => Ok(Severity::Sev3),
        _ => Err(format!(
            "`{text}` is not a severity: use sev1, sev2 or sev3"
        )),
    }
}

fn strategy(text: &str) -> Result<Strategy, String> {
    text.parse::<Strategy>().map_err(|e| e.to_string())
}

/// `declare`.
pub async fn declare(s: &Session, a: &DeclareArgs) -> Result<Exit, Failure> {
    let service = s.config.service(a.service.as_deref())?;
    let mut driver = s.driver().await?;
    let cause = match (&a.change, &a.external) {
        (Some(change), _) => SuspectedCause::Change {
            change: change.as_str().into(),
        },
        (None, Some(description)) => SuspectedCause::External {
            description: description.clone(),
        },
        (None, None) => {
            let current = driver
                .state()
                .history(&a.environment.as_str().into(), &service.name.as_str().into())
                .and_then(|h| h.current())
                .ok_or_else(|| {
                    Failure::bad_input(format!(
                        "nothing of `{}` serves in `{}` to suspect: name the cause with --change or --external",
                        service.name, a.environment
                    ))
                })?;
            SuspectedCause::Deployment {
                slot: Slot::new(
                    a.environment.as_str(),
                    service.name.as_str(),
                    current.revision,
                ),
            }
        }
    };
    driver
        .execute(&Command::DeclareIncident {
            incident: a.incident.as_str().into(),
            environment: a.environment.as_str().into(),
            service: service.name.as_str().into(),
            severity: a.severity,
            cause: cause.clone(),
            summary: a.summary.clone(),
            by: s.actor()?,
            impact_began: a.impact_began,
        })
        .await?;
    let record = driver
        .state()
        .incident(&a.incident.as_str().into())
        .cloned();
    s.out.emit(&record, || {
        format!(
            "{} declared in {} ({}), suspected: {cause}\nnext: `knowngood plan {}`",
            a.incident, a.environment, a.severity, a.incident
        )
    })?;
    Ok(Exit::Done)
}

/// `suspects`.
pub async fn suspects(s: &Session, a: &SuspectsArgs) -> Result<Exit, Failure> {
    let ledger = s.ledger(Startup::Replay).await?;
    let at =
        a.at.unwrap_or_else(|| knowngood::Clock::now(&knowngood::SystemClock));
    let found = rank_suspects(
        ledger.journal(),
        ledger.state(),
        &a.environment.as_str().into(),
        at,
        knowngood::chrono::Duration::minutes(i64::from(a.minutes)),
    );
    s.out.emit(&found, || {
        if found.is_empty() {
            return format!(
                "Nothing changed in {} in the {} minutes before {}.",
                a.environment,
                a.minutes,
                crate::out::when(at)
            );
        }
        let mut text = format!("Suspects in {}, most likely first:\n", a.environment);
        for (rank, suspect) in found.iter().enumerate() {
            let _ = writeln!(text, "  {}. {suspect}", rank + 1);
        }
        text
    })?;
    Ok(Exit::Done)
}

fn request(s: &Session, r: &RequestArgs) -> Result<PlanRequest, Failure> {
    let mut request = PlanRequest::by(s.actor()?);
    if let Some(revision) = r.rollback_to {
        request = request.rollback_to(knowngood::Revision(revision));
    }
    if let Some(set) = r.return_to_set {
        request = request.return_to_set(set);
    }
    Ok(request)
}

/// The plan for `incident` as the driver's state has it now.
fn make_plan(
    driver: &knowngood::Driver,
    incident: &IncidentId,
    request: &PlanRequest,
) -> Result<RecoveryPlan, Failure> {
    Ok(knowngood::plan_for(
        driver.state(),
        incident,
        driver.ports().clock.now(),
        &driver.ports().capabilities(),
        request,
    )?)
}

/// `plan`: the ranked options. Planning needs the ports' capabilities, so
/// it opens the driver; it records nothing of its own.
pub async fn plan(s: &Session, a: &PlanArgs) -> Result<Exit, Failure> {
    let driver = s.driver().await?;
    let plan = make_plan(
        &driver,
        &a.incident.as_str().into(),
        &request(s, &a.request)?,
    )?;
    s.out.emit(&plan, || plan_text(&plan, s.out))?;
    Ok(Exit::Done)
}

/// The plan as a table, its risks, and why the first wins.
pub fn plan_text(plan: &RecoveryPlan, out: Out) -> String {
    let mut rows = vec![vec![
        "#".to_owned(),
        "option".to_owned(),
        "verdict".to_owned(),
        "estimate".to_owned(),
        "cost to the team".to_owned(),
    ]];
    for (rank, o) in plan.options.iter().enumerate() {
        let verdict = if !o.applicable {
            "not applicable".to_owned()
        } else if o.likely_to_help {
            "applicable".to_owned()
        } else {
            "applicable, will not help".to_owned()
        };
        let estimate = if o.applicable {
            format!(
                "~{} ({})",
                knowngood::recovery::human(o.estimate.seconds),
                o.estimate.basis
            )
        } else {
            "-".to_owned()
        };
        let cost = format!(
            "{} merge(s), {} freeze(s), {} follow-up(s)",
            o.cost.merges,
            o.cost.freezes,
            o.cost.follow_ups.len()
        );
        rows.push(vec![
            (rank + 1).to_string(),
            o.name(),
            verdict,
            estimate,
            cost,
        ]);
    }
    let mut text = format!("Recovery options for {}, best first:\n\n", plan.incident);
    for line in table(&rows).lines() {
        let _ = writeln!(text, "  {line}");
    }
    text.push('\n');
    for o in &plan.options {
        if o.applicable {
            let _ = writeln!(text, "{} {}", out.bold(&o.name()), o.impact.summary);
            for risk in &o.risks {
                let _ = writeln!(text, "  risk: {risk}");
            }
        } else {
            let _ = writeln!(
                text,
                "{} not applicable: {}",
                out.bold(&o.name()),
                o.why_not()
            );
        }
    }
    let _ = writeln!(text, "\nWhy: {}", plan.explanation);
    if let Some(best) = plan.best() {
        let _ = writeln!(
            text,
            "next: `knowngood choose {} {}`",
            plan.incident, best.strategy
        );
    }
    text
}

/// `choose`.
pub async fn choose(s: &Session, a: &ChooseArgs) -> Result<Exit, Failure> {
    let mut driver = s.driver().await?;
    let incident: IncidentId = a.incident.as_str().into();
    let plan = make_plan(&driver, &incident, &request(s, &a.request)?)?;
    let by = s.actor()?;
    let command = plan.choose(a.strategy, by.clone())?;
    driver.execute(&command).await?;
    if let Some(then) = a.then {
        driver
            .execute(&Command::PlanResolution {
                incident: incident.clone(),
                strategy: then,
                by: s.actor()?,
            })
            .await?;
    }
    let record = driver.state().incident(&incident).cloned();
    let steps = record.as_ref().map_or(0, |r| r.steps.len());
    s.out.emit(&record, || {
        format!(
            "{by} chose {} for {incident} ({steps} step(s)){}\nnext: `knowngood drive {incident}`",
            a.strategy,
            a.then
                .map_or_else(String::new, |t| format!(", then {t} once mitigated"))
        )
    })?;
    Ok(Exit::Done)
}

/// What `drive` answers in JSON.
#[derive(Serialize)]
struct Driven {
    /// `done`, `waiting` or `paused`.
    outcome: &'static str,
    /// The incident's phase after it.
    phase: Option<IncidentPhase>,
    /// What happened or what it waits for, in words.
    detail: String,
}

/// `drive`: carries out the chosen plan; waits for approvals (unless
/// `--no-wait`), marks the incident mitigated when the core accepts it on
/// the plan's measurements.
pub async fn drive(s: &Session, a: &DriveArgs) -> Result<Exit, Failure> {
    let mut driver = s.driver().await?;
    let incident: IncidentId = a.incident.as_str().into();
    if driver.state().incident(&incident).is_none() {
        return Err(Failure::from(knowngood::Rejection::UnknownIncident {
            incident,
        }));
    }
    let mut said_waiting = String::new();
    let report = loop {
        let report = driver.drive(&incident).await?;
        match &report {
            DriveReport::AwaitingApprovals { .. } if !a.no_wait => {
                let why = report.instruction();
                if why != said_waiting {
                    s.progress(format_args!(
                        "waiting: {why} (Ctrl-C to stop; `drive` again goes on)"
                    ));
                    said_waiting = why;
                }
                tokio::time::sleep(Duration::from_secs(a.poll_seconds.max(1))).await;
                driver.refresh().await?;
            }
            _ => break report,
        }
    };
    let phase = |d: &knowngood::Driver| d.state().incident(&incident).map(|i| i.phase);
    let (exit, outcome, mut detail) = match &report {
        DriveReport::Done { steps } => (
            Exit::Done,
            "done",
            format!("{incident}: all {} step(s) done", steps.len()),
        ),
        DriveReport::AwaitingMitigation { steps, then } => (
            Exit::Done,
            "done",
            format!(
                "{incident}: {} step(s) done; {then} follows once mitigated",
                steps.len()
            ),
        ),
        other => (
            Exit::Waiting,
            if matches!(other, DriveReport::Paused { .. }) {
                "paused"
            } else {
                "waiting"
            },
            format!("{incident}: waiting: {}", other.instruction()),
        ),
    };
    if exit == Exit::Done && phase(&driver) == Some(IncidentPhase::Mitigating) {
        match driver
            .execute(&Command::MarkMitigated {
                incident: incident.clone(),
                by: s.actor()?,
            })
            .await
        {
            Ok(_) => detail.push_str("\nmitigated: a known-good state is measured and recorded"),
            Err(knowngood::DriveError::Refused(r)) => {
                let _ = write!(detail, "\nnot mitigated yet: {r}");
            }
            Err(e) => return Err(e.into()),
        }
        // A resolution chosen up front follows under the same incident.
        if matches!(report, DriveReport::AwaitingMitigation { .. }) {
            let more = driver.drive(&incident).await?;
            let _ = write!(detail, "\nthen: {}", summary(&more));
        }
    }
    if let Some(w) = driver.state().way_back(&incident) {
        let _ = write!(detail, "\n{}", crate::status::next_line(&w));
    }
    let answer = Driven {
        outcome,
        phase: phase(&driver),
        detail,
    };
    s.out.emit(&answer, || answer.detail.clone())?;
    Ok(exit)
}

fn summary(report: &DriveReport) -> String {
    match report {
        DriveReport::Done { steps } => format!("all {} step(s) done", steps.len()),
        other => format!("waiting: {}", other.instruction()),
    }
}

/// `resolve`: closes the follow-ups the history proves done, resolves,
/// then closes what resolving made provable (the gate's).
pub async fn resolve(s: &Session, a: &ResolveArgs) -> Result<Exit, Failure> {
    let mut driver = s.driver().await?;
    let incident: IncidentId = a.incident.as_str().into();
    let mut closed = Vec::new();
    close_follow_ups(s, &mut driver, &incident, &mut closed, false).await?;
    if let Err(e) = driver
        .execute(&Command::ResolveIncident {
            incident: incident.clone(),
            by: s.actor()?,
        })
        .await
    {
        let mut failure = Failure::from(e);
        if let Some(w) = driver.state().way_back(&incident) {
            let _ = write!(failure.message, "\n{}", crate::status::next_line(&w));
        }
        return Err(failure);
    }
    close_follow_ups(s, &mut driver, &incident, &mut closed, true).await?;
    let way_back = driver.state().way_back(&incident);
    s.out.emit(&way_back, || {
        let mut text = format!("{incident} resolved\n");
        for c in &closed {
            let _ = writeln!(text, "  follow-up done: {c}");
        }
        if let Some(w) = &way_back {
            for f in &w.follow_ups {
                let _ = writeln!(text, "  follow-up open: {}", f.what);
            }
            let _ = writeln!(text, "{}", crate::status::next_line(w));
        }
        text
    })?;
    Ok(Exit::Done)
}

/// Closes each open follow-up the history proves done (the gate's only
/// after resolving; the retro's never: `retro --record` does).
async fn close_follow_ups(
    s: &Session,
    driver: &mut knowngood::Driver,
    incident: &IncidentId,
    closed: &mut Vec<String>,
    resolved: bool,
) -> Result<(), Failure> {
    let open: Vec<(String, String)> = driver
        .state()
        .way_back(incident)
        .map(|w| {
            w.follow_ups
                .into_iter()
                .filter(|f| f.lacking.is_none())
                .filter(|f| f.id != "retro")
                .filter(|f| resolved || !f.id.starts_with("lift-gate"))
                .map(|f| (f.id, f.what))
                .collect()
        })
        .unwrap_or_default();
    for (id, what) in open {
        driver
            .execute(&Command::CloseFollowUp {
                incident: incident.clone(),
                follow_up: id,
                by: s.actor()?,
            })
            .await?;
        closed.push(what);
    }
    Ok(())
}

/// `retro`: the Markdown retro from the whole journal; `--record` records
/// it as held.
pub async fn retro(s: &Session, a: &RetroArgs) -> Result<Exit, Failure> {
    let incident: IncidentId = a.incident.as_str().into();
    if let Some(summary) = &a.record {
        let mut driver = s.driver().await?;
        let by = s.actor()?;
        driver
            .execute(&Command::RecordRetro {
                incident: incident.clone(),
                summary: summary.clone(),
                by: by.clone(),
            })
            .await?;
        // The retro recorded is what its follow-up asks for.
        let open = driver.state().way_back(&incident).is_some_and(|w| {
            w.follow_ups
                .iter()
                .any(|f| f.id == "retro" && f.lacking.is_none())
        });
        if open {
            driver
                .execute(&Command::CloseFollowUp {
                    incident: incident.clone(),
                    follow_up: "retro".to_owned(),
                    by,
                })
                .await?;
        }
    }
    let ledger = s.ledger(Startup::Replay).await?;
    let retro = Retro::from_journal(ledger.journal(), &incident)
        .map_err(|e| Failure::bad_input(e.to_string()))?;
    s.out.emit(&retro, || retro.to_markdown())?;
    Ok(Exit::Done)
}
