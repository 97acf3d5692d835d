//! Everyday delivery: `sync`, `build`, `ship`, `promote`, and the guard
//! rails `flag`, `freeze`, `unfreeze`, `approve`.

use std::fmt::Write as _;

use clap::Args;
use knowngood::chrono::{DateTime, Duration, Utc};
use knowngood::machine::DeploymentStatus;
use knowngood::{
    Clearance, Command, Delivered, DeliveryWait, FlagState, Freeze, GatedAction, IdempotencyKey,
    Lane, Shipped, Slot, Synced,
};
use serde::Serialize;

use crate::fail::{Exit, Failure};
use crate::open::Session;

/// `build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The service (needed when several are configured).
    #[arg(long)]
    service: Option<String>,
    /// The commit (default: the branch's head as the journal has it; run
    /// `sync` first).
    #[arg(long)]
    commit: Option<String>,
    /// The idempotency key (default `build/<service>/<commit>`).
    #[arg(long)]
    key: Option<String>,
}

/// `ship`.
#[derive(Debug, Args)]
pub struct ShipArgs {
    /// The release.
    release: String,
    /// The environment.
    environment: String,
    /// The idempotency key (default `ship/<release>/<environment>`).
    #[arg(long)]
    key: Option<String>,
}

/// `promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The release.
    release: String,
    /// The lane: `main` or `hotfix`.
    #[arg(long, default_value = "main", value_parser = lane)]
    lane: Lane,
    /// The idempotency key (default `promote/<release>/<lane>`).
    #[arg(long)]
    key: Option<String>,
    /// Wait for bake time and approvals instead of exiting 3, saying what
    /// it waits for.
    #[arg(long)]
    wait: bool,
    /// How often to look for approvals while waiting, in seconds.
    #[arg(long, default_value_t = 5)]
    poll_seconds: u64,
}

/// `flag`.
#[derive(Debug, Args)]
pub struct FlagArgs {
    /// The environment.
    environment: String,
    /// The flag.
    flag: String,
    /// `on`, `off`, or a percentage of users (`25%`).
    #[arg(value_parser = flag_state)]
    state: FlagState,
    /// The idempotency key of the write (default
    /// `flag/<environment>/<flag>/<state>/<journal length>`).
    #[arg(long)]
    key: Option<String>,
}

/// `freeze`.
#[derive(Debug, Args)]
pub struct FreezeArgs {
    /// The freeze's name.
    id: String,
    /// Why.
    #[arg(long)]
    reason: String,
    /// Only in this environment (repeat for several; default all).
    #[arg(long = "env")]
    environments: Vec<String>,
    /// The actions frozen: deliver, rollback, hotfix, flag-change (repeat;
    /// default deliver).
    #[arg(long = "action", value_parser = gated_action)]
    actions: Vec<GatedAction>,
    /// For this many minutes (default: until lifted).
    #[arg(long, conflicts_with = "until")]
    minutes: Option<u32>,
    /// Until this time (RFC 3339, e.g. 2026-12-24T18:00:00Z).
    #[arg(long)]
    until: Option<DateTime<Utc>>,
}

/// `unfreeze`.
#[derive(Debug, Args)]
pub struct UnfreezeArgs {
    /// The freeze's name.
    id: String,
    /// Why it is lifted early.
    #[arg(long)]
    reason: String,
}

/// `approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The environment.
    environment: String,
    /// The service (needed when several are configured).
    #[arg(long)]
    service: Option<String>,
    /// The revision (default: the newest one awaiting approval).
    #[arg(long)]
    revision: Option<u32>,
}

fn lane(text: &str) -> Result<Lane, String> {
    match text {
        "main" => Ok(Lane::Main),
        "hotfix" => Ok(Lane::Hotfix),
        other => Err(format!("`{other}` is not a lane: use `main` or `hotfix`")),
    }
}

fn flag_state(text: &str) -> Result<FlagState, String> {
    match text {
        "on" => Ok(FlagState::On),
        "off" => Ok(FlagState::Off),
        other => other
            .strip_suffix('%')
            .and_then(|p| p.parse::<u8>().ok())
            .filter(|p| *p <= 100)
            .map(|percent| FlagState::Percentage { percent })
            .ok_or_else(|| {
                format!(
                    "`{other}` is not a flag state: use `on`, `off` or a percentage such as `25%`"
                )
            }),
    }
}

fn gated_action(text: &str) -> Result<GatedAction, String> {
    match text {
        "deliver" => Ok(GatedAction::Deliver),
        "rollback" => Ok(GatedAction::Rollback),
        "hotfix" => Ok(GatedAction::Hotfix),
        "flag-change" => Ok(GatedAction::FlagChange),
        other => Err(format!(
            "`{other}` is not an action: use deliver, rollback, hotfix or flag-change"
        )),
    }
}

/// `sync`: each configured service's branch, followed from its head the
/// first time.
pub async fn sync(s: &Session, only: Option<&str>) -> Result<Exit, Failure> {
    let mut driver = s.driver().await?;
    let services: Vec<_> = match only {
        Some(name) => vec![s.config.service(Some(name))?],
        None => s.config.services.iter().collect(),
    };
    let mut done: Vec<Synced> = Vec::new();
    for service in services {
        s.progress(format_args!(
            "reading `{}` of `{}`",
            service.branch, service.name
        ));
        done.push(
            driver
                .follow(
                    &service.name.as_str().into(),
                    &service.branch.as_str().into(),
                )
                .await?,
        );
    }
    s.out.emit(&done, || {
        let mut text = String::new();
        for d in &done {
            let changes: Vec<String> = d.changes.iter().map(|c| format!("`{c}`")).collect();
            let _ = writeln!(
                text,
                "{} {}: at {}{}",
                d.service,
                d.branch,
                short(d.to.as_str()),
                if d.commits.is_empty() {
                    " (nothing new)".to_owned()
                } else {
                    format!(
                        ", {} commit(s) recorded, change(s) {}",
                        d.commits.len(),
                        changes.join(", ")
                    )
                }
            );
            for (revert, undone) in &d.reverts {
                let _ = writeln!(text, "  `{revert}` reverts `{undone}`");
            }
            for note in &d.notes {
                let _ = writeln!(text, "  note: {note}");
            }
        }
        text
    })?;
    Ok(Exit::Done)
}

/// A commit id shortened for people.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[derive(Serialize)]
struct Built {
    service: String,
    commit: String,
    key: String,
    release: String,
}

/// `build`.
pub async fn build(s: &Session, a: &BuildArgs) -> Result<Exit, Failure> {
    let service = s.config.service(a.service.as_deref())?;
    let mut driver = s.driver().await?;
    let commit = match &a.commit {
        Some(c) => c.clone(),
        None => driver
            .state()
            .branch(&service.name.as_str().into(), &service.branch.as_str().into())
            .map(ToString::to_string)
            .ok_or_else(|| {
                Failure::bad_input(format!(
                    "the journal holds no head of `{}` for `{}`: run `knowngood sync` first, or pass --commit",
                    service.branch, service.name
                ))
            })?,
    };
    let key = a
        .key
        .clone()
        .unwrap_or_else(|| format!("build/{}/{}", service.name, short(&commit)));
    s.progress(format_args!(
        "building {} of `{}` under `{key}`",
        short(&commit),
        service.name
    ));
    let release = driver
        .build(
            &service.name.as_str().into(),
            &commit.as_str().into(),
            &IdempotencyKey::new(key.as_str()),
        )
        .await?;
    let built = Built {
        service: service.name.clone(),
        commit: commit.clone(),
        key,
        release: release.to_string(),
    };
    s.out.emit(&built, || {
        format!("built {} from {}", built.release, short(&built.commit))
    })?;
    Ok(Exit::Done)
}

/// What `ship` and `promote` answer in JSON.
#[derive(Serialize)]
struct Answer {
    /// `verified`, `waiting`, `stopped` or `replayed`.
    outcome: &'static str,
    /// The revisions verified.
    verified: Vec<Slot>,
    /// What it waits for, or why it stopped, in words.
    detail: String,
}

/// `ship`: one environment.
pub async fn ship(s: &Session, a: &ShipArgs) -> Result<Exit, Failure> {
    let mut driver = s.driver().await?;
    let key = a
        .key
        .clone()
        .unwrap_or_else(|| format!("ship/{}/{}", a.release, a.environment));
    let shipped = driver
        .ship(
            &a.environment.as_str().into(),
            &a.release.as_str().into(),
            &IdempotencyKey::new(key.as_str()),
        )
        .await?;
    let (exit, answer) = match shipped {
        Shipped::Verified { slot } => (
            Exit::Done,
            Answer {
                outcome: "verified",
                detail: format!("{slot} deployed and verified"),
                verified: vec![slot],
            },
        ),
        Shipped::Waiting(report) => (
            Exit::Waiting,
            Answer {
                outcome: "waiting",
                detail: format!("waiting: {}", report.instruction()),
                verified: Vec::new(),
            },
        ),
        Shipped::Replayed {
            slot,
            status,
            serving,
        } => {
            let detail = format!(
                "shipped before under `{key}`: {slot} is {status}{}",
                serving.map_or_else(String::new, |now| format!("; {now} serves now"))
            );
            let good = status == DeploymentStatus::KnownGood;
            (
                if good { Exit::Done } else { Exit::Failed },
                Answer {
                    outcome: "replayed",
                    verified: if good { vec![slot] } else { Vec::new() },
                    detail,
                },
            )
        }
        other => (
            Exit::Failed,
            Answer {
                outcome: "other",
                detail: format!("{other:?}"),
                verified: Vec::new(),
            },
        ),
    };
    s.out.emit(&answer, || answer.detail.clone())?;
    Ok(exit)
}

/// `promote`: along the lane to every production environment.
pub async fn promote(s: &Session, a: &PromoteArgs) -> Result<Exit, Failure> {
    let mut driver = s.driver().await?;
    let key = a
        .key
        .clone()
        .unwrap_or_else(|| format!("promote/{}/{}", a.release, a.lane));
    let mut said = String::new();
    let delivered = loop {
        let delivered = driver
            .deliver(
                &a.release.as_str().into(),
                a.lane,
                &IdempotencyKey::new(key.as_str()),
            )
            .await?;
        let Delivered::Waiting { waiting, .. } = &delivered else {
            break delivered;
        };
        if !a.wait {
            break delivered;
        }
        let (why, pause) = match waiting {
            DeliveryWait::Baking {
                environment,
                ready_at,
                ..
            } => {
                let left = (*ready_at - driver.ports().clock.now())
                    .to_std()
                    .unwrap_or_default();
                (
                    format!(
                        "`{}` bakes in `{environment}` until {}",
                        a.release,
                        crate::out::when(*ready_at)
                    ),
                    left.max(std::time::Duration::from_millis(100)),
                )
            }
            DeliveryWait::Approvals(report) => (
                report.instruction(),
                std::time::Duration::from_secs(a.poll_seconds.max(1)),
            ),
            _ => break delivered,
        };
        if why != said {
            s.progress(format_args!(
                "waiting: {why} (Ctrl-C to stop; `promote` again goes on)"
            ));
            said = why;
        }
        tokio::time::sleep(pause).await;
        driver.refresh().await?;
    };
    let detail = delivered.to_string();
    let (exit, answer) = match delivered {
        Delivered::Done { verified, .. } => (
            Exit::Done,
            Answer {
                outcome: "verified",
                verified,
                detail,
            },
        ),
        Delivered::Waiting { verified, waiting } => {
            let detail = match &waiting {
                DeliveryWait::Approvals(report) => {
                    format!("{detail}\nwaiting: {}", report.instruction())
                }
                DeliveryWait::Baking { ready_at, .. } => format!(
                    "{detail}\nrun `knowngood promote {} --key {key}` again after {} (or with --wait)",
                    a.release,
                    crate::out::when(*ready_at)
                ),
                _ => detail,
            };
            (
                Exit::Waiting,
                Answer {
                    outcome: "waiting",
                    verified,
                    detail,
                },
            )
        }
        Delivered::Stopped { verified, .. } => (
            Exit::Failed,
            Answer {
                outcome: "stopped",
                verified,
                detail,
            },
        ),
        _ => (
            Exit::Failed,
            Answer {
                outcome: "other",
                verified: Vec::new(),
                detail,
            },
        ),
    };
    s.out.emit(&answer, || answer.detail.clone())?;
    Ok(exit)
}

#[derive(Serialize)]
struct Flagged {
    environment: String,
    flag: String,
    state: FlagState,
    revision: u64,
}

/// `flag`: judged by the core first, then written to the flag store under
/// its key, then recorded.
pub async fn flag(s: &Session, a: &FlagArgs) -> Result<Exit, Failure> {
    let mut driver = s.driver().await?;
    let Some(flags) = driver.ports().flags.clone() else {
        return Err(Failure::bad_input(
            "no flag store is configured: add a flagd file for the environment under `[flags]`"
                .to_owned(),
        ));
    };
    let command = Command::SetFlag {
        environment: a.environment.as_str().into(),
        flag: a.flag.as_str().into(),
        state: a.state.clone(),
        by: s.actor()?,
        clearance: Clearance::none(),
    };
    // The core judges before anything changes in the store.
    knowngood::decide(driver.state(), &command, driver.ports().clock.now())?;
    let key = a.key.clone().unwrap_or_else(|| {
        format!(
            "flag/{}/{}/{}/{}",
            a.environment,
            a.flag,
            a.state,
            driver.journal().len()
        )
    });
    let env = a.environment.as_str().into();
    let flag = a.flag.as_str().into();
    let (_, revision) = flags.get(&env, &flag).await?;
    let written = flags
        .set(
            &IdempotencyKey::new(key.as_str()),
            &env,
            &flag,
            &a.state,
            revision,
        )
        .await?;
    driver.execute(&command).await?;
    let done = Flagged {
        environment: a.environment.clone(),
        flag: a.flag.clone(),
        state: a.state.clone(),
        revision: written,
    };
    s.out.emit(&done, || {
        format!(
            "{} is {} in {} (flag store revision {})",
            done.flag, done.state, done.environment, done.revision
        )
    })?;
    Ok(Exit::Done)
}

/// `freeze`.
pub async fn freeze(s: &Session, a: &FreezeArgs) -> Result<Exit, Failure> {
    let mut driver = s.driver().await?;
    let now = driver.ports().clock.now();
    let actions = if a.actions.is_empty() {
        vec![GatedAction::Deliver]
    } else {
        a.actions.clone()
    };
    let mut freeze = Freeze::deny(a.id.as_str(), actions, now, s.actor()?, a.reason.as_str());
    for env in &a.environments {
        freeze = freeze.in_environment(env.as_str());
    }
    let ends = match (a.minutes, a.until) {
        (Some(m), _) => Some(now + Duration::minutes(i64::from(m))),
        (None, until) => until,
    };
    if let Some(ends) = ends {
        freeze = freeze.until(ends);
    }
    driver
        .execute(&Command::DeclareFreeze {
            freeze: freeze.clone(),
        })
        .await?;
    s.out.emit(&freeze, || {
        format!(
            "freeze `{}` declared {}",
            freeze.id,
            freeze.ends.map_or_else(
                || "until lifted".to_owned(),
                |e| format!("until {}", crate::out::when(e))
            )
        )
    })?;
    Ok(Exit::Done)
}

/// `unfreeze`.
pub async fn unfreeze(s: &Session, a: &UnfreezeArgs) -> Result<Exit, Failure> {
    let mut driver = s.driver().await?;
    driver
        .execute(&Command::LiftFreeze {
            freeze: a.id.as_str().into(),
            by: s.actor()?,
            reason: a.reason.clone(),
        })
        .await?;
    s.out.emit(&serde_json::json!({ "lifted": a.id }), || {
        format!("freeze `{}` lifted", a.id)
    })?;
    Ok(Exit::Done)
}

/// `approve`.
pub async fn approve(s: &Session, a: &ApproveArgs) -> Result<Exit, Failure> {
    let service = s.config.service(a.service.as_deref())?;
    let mut driver = s.driver().await?;
    let env = a.environment.as_str().into();
    let service_id = service.name.as_str().into();
    let revision = match a.revision {
        Some(r) => knowngood::Revision(r),
        None => driver
            .state()
            .history(&env, &service_id)
            .and_then(|h| {
                h.deployments()
                    .rev()
                    .find(|d| d.status == DeploymentStatus::Requested)
                    .map(|d| d.revision)
            })
            .ok_or_else(|| {
                Failure::bad_input(format!(
                    "nothing of `{}` awaits approval in `{}`",
                    service.name, a.environment
                ))
            })?,
    };
    let slot = Slot::new(a.environment.as_str(), service.name.as_str(), revision);
    let by = s.actor()?;
    driver
        .execute(&Command::Approve {
            slot: slot.clone(),
            by: by.clone(),
        })
        .await?;
    let left = driver.state().pending_approvers(&slot);
    s.out.emit(&slot, || {
        if left.is_empty() {
            format!("{slot} approved by {by}")
        } else {
            let names: Vec<String> = left.iter().map(ToString::to_string).collect();
            format!(
                "{slot} approved by {by}; may still approve: {}",
                names.join(", ")
            )
        }
    })?;
    Ok(Exit::Done)
}
