//! Suspects: what changed in an environment shortly before an incident
//! began, ranked, each with its time offset, why it is a suspect and the
//! [`SuspectedCause`] to declare if it is the one. A pure function of the
//! journal (and the state it folds into, for what releases contain).
//!
//! ```
//! # use knowngood::{Command, Ledger};
//! use chrono::Duration;
//! use knowngood::suspects::suspects;
//! # let ledger = Ledger::new();
//! # let now = chrono::DateTime::UNIX_EPOCH;
//! let found = suspects(ledger.journal(), ledger.state(), &"prod".into(), now, Duration::hours(2));
//! for s in &found {
//!     println!("{} before: {}", s.before_start, s.why);
//! }
//! ```

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::journal::Journal;
use crate::machine::{EventKind, Slot, State, Subject};
use crate::model::{
    ChangeId, EnvironmentId, FlagKey, FlagState, GatedAction, MigrationId, MigrationPhase,
    ReleaseId, ServiceId, SuspectedCause,
};
use crate::recovery::human;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "suspect", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SuspectKind {
    /// A release started serving (a rollout completed).
    Deployment {
        /// The revision.
        slot: Slot,
        /// The release now serving.
        release: ReleaseId,
        /// The release it replaced, if any.
        replaced: Option<ReleaseId>,
        /// The changes the new release brings that the old one lacked.
        changes: Vec<ChangeId>,
    },
    /// Only the configuration changed: the same artifact with another
    /// configuration revision.
    ConfigRevision {
        /// The revision.
        slot: Slot,
        /// The release now serving.
        release: ReleaseId,
        /// The release it replaced.
        replaced: ReleaseId,
    },
    /// A feature flag was set.
    FlagChange {
        /// The flag.
        flag: FlagKey,
        /// Its new state.
        state: FlagState,
        /// The recorded changes behind it.
        changes: Vec<ChangeId>,
    },
    /// A schema migration ran.
    Migration {
        /// Whose database.
        service: ServiceId,
        /// The migration.
        migration: MigrationId,
        /// Its phase.
        phase: MigrationPhase,
        /// Whether it can be undone.
        reversible: bool,
    },
    /// A freeze was overridden to let something through.
    FreezeOverride {
        /// The action let through.
        action: GatedAction,
        /// Who overrode it.
        by: crate::model::Actor,
        /// Why.
        reason: String,
    },
}

/// One thing that changed before an incident began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Suspect {
    /// The journal position of the change.
    pub position: u64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// How long before the incident began, in seconds.
    pub before_start: u64,
    /// What changed.
    pub kind: SuspectKind,
    /// Why it is a suspect, in words.
    pub why: String,
    /// The cause to declare if it is the one.
    pub cause: SuspectedCause,
}

impl fmt::Display for Suspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} before: {}", human(self.before_start), self.why)
    }
}

/// What changed in `environment` within `window` before `started_at`,
/// most recent first (a change closer to the start explains it better);
/// changes at the same moment keep the journal's order. Deployments
/// (including rollbacks), configuration-only changes, flag changes,
/// migrations and freeze overrides count; `state` is the state `journal`
/// folds into, for what releases contain and which changes sit behind a
/// flag.
pub fn suspects(
    journal: &Journal,
    state: &State,
    environment: &EnvironmentId,
    started_at: DateTime<Utc>,
    window: Duration,
) -> Vec<Suspect> {
    let from = started_at.checked_sub_signed(window).unwrap_or(started_at);
    let mut found: Vec<Suspect> = journal
        .entries()
        .iter()
        .filter(|e| e.event.at >= from && e.event.at <= started_at)
        .filter_map(|e| {
            let (kind, why, cause) = describe(state, environment, &e.event.kind)?;
            let before_start =
                u64::try_from(started_at.signed_duration_since(e.event.at).num_seconds())
                    .unwrap_or(0);
            Some(Suspect {
                position: e.position,
                at: e.event.at,
                before_start,
                kind,
                why,
                cause,
            })
        })
        .collect();
    found.sort_by(|a, b| b.at.cmp(&a.at).then(a.position.cmp(&b.position)));
    found
}

fn describe(
    state: &State,
    environment: &EnvironmentId,
    kind: &EventKind,
) -> Option<(SuspectKind, String, SuspectedCause)> {
    match kind {
        EventKind::RolloutCompleted { slot } if slot.environment == *environment => {
            deployment(state, slot)
        }
        EventKind::FlagSet {
            environment: env,
            flag,
            state: flag_state,
            by,
        } if env == environment => {
            let changes: Vec<ChangeId> = state
                .changes()
                .filter(|c| c.flags.contains(flag))
                .map(|c| c.id.clone())
                .collect();
            let behind = if changes.is_empty() {
                "no recorded change sits behind it".to_owned()
            } else {
                format!("behind it: {}", list(&changes))
            };
            let why =
                format!("{by} set flag `{flag}` to {flag_state} in `{environment}`; {behind}");
            let cause = match changes.as_slice() {
                [one] => SuspectedCause::Change {
                    change: one.clone(),
                },
                _ => SuspectedCause::External {
                    description: format!("flag `{flag}` set to {flag_state} in `{environment}`"),
                },
            };
            Some((
                SuspectKind::FlagChange {
                    flag: flag.clone(),
                    state: flag_state.clone(),
                    changes,
                },
                why,
                cause,
            ))
        }
        EventKind::MigrationApplied {
            environment: env,
            service,
            migration,
            by,
        } if env == environment => {
            let undo = if migration.reversible {
                "reversible"
            } else {
                "cannot be undone"
            };
            let why = format!(
                "{by} applied migration `{}` ({}, schema {} → {}, {undo}) to `{service}` in `{environment}`",
                migration.id, migration.phase, migration.from, migration.to
            );
            Some((
                SuspectKind::Migration {
                    service: service.clone(),
                    migration: migration.id.clone(),
                    phase: migration.phase,
                    reversible: migration.reversible,
                },
                why,
                SuspectedCause::External {
                    description: format!(
                        "migration `{}` of `{service}` in `{environment}`",
                        migration.id
                    ),
                },
            ))
        }
        EventKind::FreezeOverridden {
            subject,
            action,
            by,
            reason,
            ..
        } => {
            let (env, what, cause) = match subject {
                Subject::Deployment { slot } => (
                    &slot.environment,
                    format!("the deployment of {slot}"),
                    SuspectedCause::Deployment { slot: slot.clone() },
                ),
                Subject::Flag {
                    environment: env,
                    flag,
                } => (
                    env,
                    format!("a change of flag `{flag}`"),
                    SuspectedCause::External {
                        description: format!("flag `{flag}` changed during a freeze"),
                    },
                ),
            };
            (env == environment).then(|| {
                (
                    SuspectKind::FreezeOverride {
                        action: *action,
                        by: by.clone(),
                        reason: reason.clone(),
                    },
                    format!("{by} overrode a {action} freeze to let {what} through: {reason}"),
                    cause,
                )
            })
        }
        _ => None,
    }
}

/// A completed rollout: a new release, or the same artifact with another
/// configuration.
fn deployment(state: &State, slot: &Slot) -> Option<(SuspectKind, String, SuspectedCause)> {
    let history = state.history(&slot.environment, &slot.service)?;
    let release = state.release(&history.get(slot.revision)?.release)?;
    let replaced = slot
        .revision
        .0
        .checked_sub(1)
        .and_then(|r| history.get(crate::model::Revision(r)))
        .and_then(|d| state.release(&d.release));
    let cause = SuspectedCause::Deployment { slot: slot.clone() };
    if let Some(old) = replaced
        && old.artifact == release.artifact
    {
        if old.config == release.config {
            return None;
        }
        let why = format!(
            "`{}` replaced `{}` in `{}`: same build, configuration {} instead of {}",
            release.id, old.id, slot.environment, release.config, old.config
        );
        return Some((
            SuspectKind::ConfigRevision {
                slot: slot.clone(),
                release: release.id.clone(),
                replaced: old.id.clone(),
            },
            why,
            cause,
        ));
    }
    let changes = match (replaced, state.artifact(&release.artifact)) {
        (old, Some(new)) => {
            let from = old
                .and_then(|o| state.artifact(&o.artifact))
                .map(|a| &a.source_commit);
            state.changes_of(state.commits_between(from, &new.source_commit).into_iter())
        }
        (_, None) => Vec::new(),
    };
    let brings = if changes.is_empty() {
        "no recorded change".to_owned()
    } else {
        list(&changes)
    };
    let why = match replaced {
        Some(old) => format!(
            "`{}` started serving in `{}` in place of `{}`, bringing {brings}",
            release.id, slot.environment, old.id
        ),
        None => format!(
            "`{}` started serving in `{}`, bringing {brings}",
            release.id, slot.environment
        ),
    };
    Some((
        SuspectKind::Deployment {
            slot: slot.clone(),
            release: release.id.clone(),
            replaced: replaced.map(|r| r.id.clone()),
            changes,
        },
        why,
        cause,
    ))
}

fn list(changes: &[ChangeId]) -> String {
    changes
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
