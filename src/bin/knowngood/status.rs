//! `knowngood status`: where every environment stands.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use knowngood::chrono::{DateTime, Utc};
use knowngood::{
    ClosedGate, DeploymentStatus, Drift, EnvironmentId, EnvironmentRole, FlagState, Freeze,
    IncidentPhase, NextStep, ReleaseId, Revision, ServiceId, State, WayBack,
};
use serde::Serialize;

use crate::fail::Failure;
use crate::out::{Out, when};

/// What `status` reports.
#[derive(Debug, Serialize)]
pub struct Status {
    /// The journal's length.
    pub entries: u64,
    /// Each environment, in the pipeline's order.
    pub environments: Vec<EnvironmentView>,
    /// Incidents not resolved, and resolved ones with follow-ups open.
    pub incidents: Vec<WayBack>,
}

/// One environment.
#[derive(Debug, Serialize)]
pub struct EnvironmentView {
    /// Its name.
    pub id: EnvironmentId,
    /// What it is for.
    pub role: EnvironmentRole,
    /// What serves each service there.
    pub services: Vec<ServiceView>,
    /// The delivery gate, if closed.
    pub gate: Option<ClosedGate>,
    /// Freezes covering it now.
    pub freezes: Vec<Freeze>,
    /// Its flags.
    pub flags: BTreeMap<String, FlagState>,
}

/// What serves one service in one environment.
#[derive(Debug, Serialize)]
pub struct ServiceView {
    /// The service.
    pub service: ServiceId,
    /// The release serving.
    pub release: ReleaseId,
    /// Its revision there.
    pub revision: Revision,
    /// Its status.
    pub status: DeploymentStatus,
    /// Since when it serves.
    pub since: DateTime<Utc>,
    /// When it was verified, if it was.
    pub verified_at: Option<DateTime<Utc>>,
    /// The measurement that verified it.
    pub evidence: Option<String>,
    /// How it differs from main (production and test environments).
    pub drift: Option<Drift>,
    /// A newer revision requested and awaiting approval, with who may
    /// still approve it.
    pub awaiting_approval: Option<(Revision, ReleaseId, Vec<knowngood::Actor>)>,
}

/// Gathers the status from `state` at `now`, for `only` one environment
/// when given.
pub fn gather(
    state: &State,
    entries: u64,
    now: DateTime<Utc>,
    only: Option<&str>,
) -> Result<Status, Failure> {
    let Some(pipeline) = state.pipeline() else {
        return Ok(Status {
            entries,
            environments: Vec::new(),
            incidents: Vec::new(),
        });
    };
    if let Some(env) = only
        && !pipeline.contains(&env.into())
    {
        return Err(Failure::bad_input(format!(
            "no environment `{env}` in the pipeline"
        )));
    }
    let mut environments = Vec::new();
    for env in pipeline.environments() {
        if only.is_some_and(|o| o != env.id.as_str()) {
            continue;
        }
        let here = state.environment(&env.id);
        let mut services = Vec::new();
        for (service, history) in here
            .into_iter()
            .flat_map(knowngood::EnvironmentState::services)
        {
            let Some(current) = history.current() else {
                continue;
            };
            services.push(ServiceView {
                service: service.clone(),
                release: current.release.clone(),
                revision: current.revision,
                status: current.status,
                since: current.completed_at.unwrap_or(current.requested_at),
                verified_at: current.verified_at,
                evidence: current.evidence.clone(),
                drift: state.drift(&env.id, service),
                awaiting_approval: history
                    .latest()
                    .filter(|d| d.status == DeploymentStatus::Requested)
                    .map(|d| {
                        let slot =
                            knowngood::Slot::new(env.id.clone(), service.clone(), d.revision);
                        (
                            d.revision,
                            d.release.clone(),
                            state.pending_approvers(&slot),
                        )
                    }),
            });
        }
        environments.push(EnvironmentView {
            id: env.id.clone(),
            role: env.role,
            services,
            gate: here.and_then(|h| h.closed_gate().cloned()),
            freezes: state
                .freezes()
                .filter(|f| {
                    f.is_active_at(now)
                        && (f.environments.is_empty() || f.environments.contains(&env.id))
                })
                .cloned()
                .collect(),
            flags: here
                .map(|h| h.flags().map(|(k, v)| (k.to_string(), v.clone())).collect())
                .unwrap_or_default(),
        });
    }
    let incidents = state
        .incidents()
        .filter(|i| {
            !matches!(i.phase, IncidentPhase::Resolved | IncidentPhase::Reviewed)
                || i.open_follow_ups().next().is_some()
        })
        .filter(|i| only.is_none_or(|o| o == i.environment.as_str()))
        .filter_map(|i| state.way_back(&i.id))
        .collect();
    Ok(Status {
        entries,
        environments,
        incidents,
    })
}

/// The status for people.
pub fn text(status: &Status, out: Out) -> String {
    let mut s = String::new();
    if status.environments.is_empty() {
        return format!(
            "The journal ({} entries) holds no pipeline yet: run `knowngood sync` to record the configured one and what landed on main.\n",
            status.entries
        );
    }
    for env in &status.environments {
        let _ = writeln!(s, "{} ({})", out.bold(env.id.as_str()), env.role);
        if env.services.is_empty() {
            let _ = writeln!(s, "  nothing deployed");
        }
        for v in &env.services {
            let state = match v.status {
                DeploymentStatus::KnownGood => out.green("verified"),
                DeploymentStatus::Failed | DeploymentStatus::Aborted => {
                    out.red(&v.status.to_string())
                }
                other => out.yellow(&other.to_string()),
            };
            let _ = writeln!(
                s,
                "  {}  {} ({}) {state} since {}",
                v.service,
                v.release,
                v.revision,
                when(v.since)
            );
            if let Some(evidence) = &v.evidence {
                let _ = writeln!(s, "    measured: {evidence}");
            }
            if let Some((revision, release, who)) = &v.awaiting_approval {
                let who: Vec<String> = who.iter().map(ToString::to_string).collect();
                let _ = writeln!(
                    s,
                    "    {} {release} ({revision}){}",
                    out.yellow("awaiting approval:"),
                    if who.is_empty() {
                        String::new()
                    } else {
                        format!(", may approve: {}", who.join(", "))
                    }
                );
            }
            if let Some(drift) = v.drift.as_ref().filter(|d| !d.is_clear()) {
                let _ = writeln!(s, "    {}", drift_line(drift));
            }
        }
        match &env.gate {
            Some(gate) => {
                let _ = writeln!(
                    s,
                    "  gate {} since {} by {}: {}",
                    out.red("closed"),
                    when(gate.since),
                    gate.by,
                    gate.reason
                );
            }
            None => {
                let _ = writeln!(s, "  gate open");
            }
        }
        for f in &env.freezes {
            let until = f.ends.map_or_else(
                || "until lifted".to_owned(),
                |e| format!("until {}", when(e)),
            );
            let actions: Vec<String> = f.actions.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                s,
                "  {} `{}` of {} {until}, by {}: {}",
                out.yellow("frozen"),
                f.id,
                actions.join(", "),
                f.declared_by,
                f.reason
            );
        }
        if !env.flags.is_empty() {
            let flags: Vec<String> = env.flags.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(s, "  flags: {}", flags.join(", "));
        }
    }
    if status.incidents.is_empty() {
        let _ = writeln!(s, "\nNo open incident.");
    }
    for w in &status.incidents {
        let _ = writeln!(
            s,
            "\n{} {}",
            out.bold(&format!("Incident {}", w.incident)),
            w.phase
        );
        if let Some(why) = &w.not_restored {
            let _ = writeln!(s, "  not restored: {why}");
        }
        if let Some(hold) = &w.gate_held {
            let _ = writeln!(s, "  gate held: {hold}");
        }
        for (env, why) in &w.elsewhere {
            let _ = writeln!(s, "  also in {env}: {why}");
        }
        for f in &w.follow_ups {
            let lacking = f
                .lacking
                .as_deref()
                .map_or_else(|| "can be closed now".to_owned(), |l| format!("lacks: {l}"));
            let _ = writeln!(s, "  follow-up {}: {} ({lacking})", f.id, f.what);
        }
        let _ = writeln!(s, "  {}", next_line(w));
    }
    s
}

/// The next thing to do for an incident: the command that does it, and
/// the library's words for it.
pub fn next_line(w: &WayBack) -> String {
    let i = &w.incident;
    let command = match &w.step {
        NextStep::Plan | NextStep::ChooseResolution => {
            format!("`knowngood plan {i}`, then `knowngood choose {i} <option>`")
        }
        NextStep::Drive | NextStep::MarkMitigated | NextStep::DriveResolution => {
            format!("`knowngood drive {i}`")
        }
        NextStep::CloseFollowUp { .. } | NextStep::Resolve => format!("`knowngood resolve {i}`"),
        NextStep::HoldRetro => format!("`knowngood retro {i} --record <summary or link>`"),
        _ => return format!("next: {}", w.next),
    };
    format!("next: {command}: {}", w.next)
}

/// How an environment differs from main, in one line.
fn drift_line(d: &Drift) -> String {
    let mut parts = Vec::new();
    if let Some(from) = d.rolled_back_from {
        parts.push(format!("rolled back from {from}"));
    }
    if !d.missing_changes.is_empty() {
        let names: Vec<String> = d.missing_changes.iter().map(|c| format!("`{c}`")).collect();
        parts.push(format!(
            "{} commit(s) of main not running ({})",
            d.missing_commits.len(),
            names.join(", ")
        ));
    }
    if !d.ahead_changes.is_empty() {
        let names: Vec<String> = d.ahead_changes.iter().map(|c| format!("`{c}`")).collect();
        parts.push(format!(
            "{} commit(s) running that main lacks ({})",
            d.ahead_commits.len(),
            names.join(", ")
        ));
    }
    format!("drift: {}", parts.join("; "))
}
