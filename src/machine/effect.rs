//! Effects: the steps a recovery plan runs, as data for the driver, with
//! the vocabulary the journal records about a chosen plan (its follow-ups
//! and the options it was chosen from). It lives in the state machine's
//! floor because the machine records it; the planner builds it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{
    BranchName, ChangeId, CommitId, EnvironmentId, FlagKey, FlagState, Lane, ReleaseId, Revision,
    ServiceId, Strategy,
};

/// The key that makes an effect safe to retry: a port that sees the same
/// key twice returns the first result without acting again. Keys are
/// derived from the incident, the strategy and the step's place, so the
/// same plan always has the same keys.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// A key from its text.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for IdempotencyKey {
    fn from(key: &str) -> Self {
        Self::new(key)
    }
}

impl From<String> for IdempotencyKey {
    fn from(key: String) -> Self {
        Self(key)
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({:?})", self.0)
    }
}

/// What one step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum EffectAction {
    /// Set a feature flag.
    SetFlag {
        /// Where.
        environment: EnvironmentId,
        /// Which flag.
        flag: FlagKey,
        /// Its new state.
        state: FlagState,
    },
    /// Roll a service back to an earlier revision's release.
    Rollback {
        /// Where.
        environment: EnvironmentId,
        /// Which service.
        service: ServiceId,
        /// The revision whose release to restore.
        to: Revision,
        /// That revision's release.
        release: ReleaseId,
    },
    /// Stop a rollout that is still in progress (or not yet verified) and
    /// return to what served before it. Not a rollback.
    Abort {
        /// Where.
        environment: EnvironmentId,
        /// Which service.
        service: ServiceId,
        /// The revision stopped.
        revision: Revision,
    },
    /// Deploy and verify the release production runs in an environment of
    /// the hotfix lane, so that it mirrors production
    /// ([`State::hotfix_lane_upkeep`](crate::State::hotfix_lane_upkeep)).
    Mirror {
        /// Where (a hotfix-lane environment).
        environment: EnvironmentId,
        /// Which service.
        service: ServiceId,
        /// The release production runs.
        release: ReleaseId,
    },
    /// Undo schema migrations down to `to` (only reversible ones).
    MigrateDown {
        /// Where.
        environment: EnvironmentId,
        /// Whose database.
        service: ServiceId,
        /// The schema version to return to.
        to: u32,
    },
    /// Check an environment's health after a change.
    Verify {
        /// Where.
        environment: EnvironmentId,
        /// Which service.
        service: ServiceId,
    },
    /// Create a commit that undoes a change, on a branch.
    RevertChange {
        /// Whose repository.
        service: ServiceId,
        /// The change to undo.
        change: ChangeId,
        /// The branch the revert lands on.
        onto: BranchName,
    },
    /// Re-apply a change that was reverted to make way for a fix.
    ReapplyChange {
        /// Whose repository.
        service: ServiceId,
        /// The change.
        change: ChangeId,
        /// The branch it lands on.
        onto: BranchName,
    },
    /// Create a branch at a commit.
    CutBranch {
        /// Whose repository.
        service: ServiceId,
        /// The new branch.
        branch: BranchName,
        /// Where it starts.
        at: CommitId,
    },
    /// Land the fix for the incident on a branch.
    LandFix {
        /// Whose repository.
        service: ServiceId,
        /// The branch.
        onto: BranchName,
    },
    /// Bring a hotfix branch's commits back to main.
    MergeBack {
        /// Whose repository.
        service: ServiceId,
        /// The hotfix branch.
        from: BranchName,
        /// Usually `main`.
        onto: BranchName,
    },
    /// Tag the head of a branch.
    Tag {
        /// Whose repository.
        service: ServiceId,
        /// The branch whose head is tagged.
        branch: BranchName,
        /// The tag.
        tag: String,
    },
    /// Build the head of a branch and promote the artifact along a lane
    /// into `environment`, verifying at every stage.
    Ship {
        /// Which service.
        service: ServiceId,
        /// The branch built.
        branch: BranchName,
        /// The lane followed.
        lane: Lane,
        /// The destination.
        environment: EnvironmentId,
        /// Skip test-only stages (a recorded, authorised fast-track).
        fast_track: bool,
    },
    /// Deploy the release this plan verified in `from` to `environment`
    /// too, along `lane`, without building again: every stage on the
    /// lane's path that does not serve it verified yet is deployed and
    /// verified (what a plan does for production elsewhere running the
    /// cause, after shipping to the incident's environment).
    Promote {
        /// Which service.
        service: ServiceId,
        /// Where this plan shipped and verified the release.
        from: EnvironmentId,
        /// The lane followed.
        lane: Lane,
        /// The destination.
        environment: EnvironmentId,
        /// Skip test-only stages, as the shipment did.
        fast_track: bool,
    },
    /// Run one of the host's runbooks.
    RunRunbook {
        /// The runbook.
        runbook: crate::model::RunbookId,
        /// Where.
        environment: EnvironmentId,
        /// For which service.
        service: ServiceId,
    },
    /// Wait for work already in an environment to pass it.
    WaitFor {
        /// Where the work is.
        environment: EnvironmentId,
        /// About how long, in seconds.
        seconds: u64,
    },
}

impl EffectAction {
    /// The environment the step acts in, when it acts in one (not the
    /// steps that work on a repository).
    pub fn environment(&self) -> Option<&EnvironmentId> {
        match self {
            Self::SetFlag { environment, .. }
            | Self::Rollback { environment, .. }
            | Self::Abort { environment, .. }
            | Self::Mirror { environment, .. }
            | Self::MigrateDown { environment, .. }
            | Self::Verify { environment, .. }
            | Self::Ship { environment, .. }
            | Self::Promote { environment, .. }
            | Self::RunRunbook { environment, .. }
            | Self::WaitFor { environment, .. } => Some(environment),
            Self::RevertChange { .. }
            | Self::ReapplyChange { .. }
            | Self::CutBranch { .. }
            | Self::LandFix { .. }
            | Self::MergeBack { .. }
            | Self::Tag { .. } => None,
        }
    }
}

impl fmt::Display for EffectAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SetFlag {
                environment,
                flag,
                state,
            } => {
                write!(f, "set flag `{flag}` to {state} in `{environment}`")
            }
            Self::Rollback {
                environment,
                service,
                to,
                release,
            } => {
                write!(
                    f,
                    "roll `{service}` in `{environment}` back to {to} (`{release}`)"
                )
            }
            Self::Abort {
                environment,
                service,
                revision,
            } => write!(f, "abort {revision} of `{service}` in `{environment}`"),
            Self::Mirror {
                environment,
                service,
                release,
            } => write!(
                f,
                "deploy `{release}` to `{environment}` so that it mirrors production (`{service}`)"
            ),
            Self::MigrateDown {
                environment,
                service,
                to,
            } => {
                write!(
                    f,
                    "migrate `{service}` in `{environment}` down to schema {to}"
                )
            }
            Self::Verify {
                environment,
                service,
            } => {
                write!(f, "verify `{service}` in `{environment}`")
            }
            Self::RevertChange { change, onto, .. } => write!(f, "revert `{change}` on `{onto}`"),
            Self::ReapplyChange { change, onto, .. } => {
                write!(f, "re-apply `{change}` on `{onto}`")
            }
            Self::CutBranch { branch, at, .. } => write!(f, "cut branch `{branch}` at `{at}`"),
            Self::LandFix { onto, .. } => write!(f, "land the fix on `{onto}`"),
            Self::MergeBack { from, onto, .. } => write!(f, "merge `{from}` back into `{onto}`"),
            Self::Tag { branch, tag, .. } => write!(f, "tag the head of `{branch}` as `{tag}`"),
            Self::Ship {
                branch,
                lane,
                environment,
                fast_track,
                ..
            } => write!(
                f,
                "build `{branch}` and promote it along the {lane} lane to `{environment}`{}",
                if *fast_track { " (fast-tracked)" } else { "" }
            ),
            Self::Promote {
                from,
                lane,
                environment,
                fast_track,
                ..
            } => write!(
                f,
                "promote the release shipped to `{from}` along the {lane} lane to `{environment}`{}, without building again",
                if *fast_track { " (fast-tracked)" } else { "" }
            ),
            Self::RunRunbook {
                runbook,
                environment,
                service,
            } => write!(
                f,
                "run the host's runbook `{runbook}` for `{service}` in `{environment}`"
            ),
            Self::WaitFor {
                environment,
                seconds,
            } => {
                write!(
                    f,
                    "wait about {} for the work in `{environment}`",
                    human(*seconds)
                )
            }
        }
    }
}

/// One step of a plan, with the key that makes it safe to retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[must_use]
#[non_exhaustive]
pub struct Effect {
    /// Its idempotency key.
    pub key: IdempotencyKey,
    /// What it does.
    pub action: EffectAction,
}

impl Effect {
    /// An effect with its key.
    pub fn new(key: IdempotencyKey, action: EffectAction) -> Self {
        Self { key, action }
    }
}

/// What became of one effect, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum EffectOutcome {
    /// The driver is about to act.
    Started,
    /// It happened; `detail` says what it produced.
    Succeeded {
        /// What it produced (a commit, a revision …).
        detail: String,
    },
    /// It failed and did not happen.
    Failed {
        /// Why.
        error: String,
    },
    /// The port could not say whether it happened (a timeout).
    Unknown {
        /// What the port said.
        error: String,
    },
    /// The port was asked what happened under the key.
    Reconciled {
        /// Whether it had happened.
        happened: bool,
    },
}

/// Where one effect stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum EffectStatus {
    /// Not started yet.
    Pending,
    /// Started; its outcome is not recorded.
    Started,
    /// Its outcome is unknown and must be reconciled.
    Unknown,
    /// Reconciled: it had not happened, so it may run again.
    NotHappened,
    /// Done.
    Succeeded,
    /// Failed.
    Failed,
}

impl EffectStatus {
    /// The status after `outcome`.
    #[must_use]
    pub fn after(self, outcome: &EffectOutcome) -> EffectStatus {
        match outcome {
            // A call found to have happened is as good as one started now:
            // the driver goes on from there.
            EffectOutcome::Started | EffectOutcome::Reconciled { happened: true } => Self::Started,
            EffectOutcome::Succeeded { .. } => Self::Succeeded,
            EffectOutcome::Failed { .. } => Self::Failed,
            EffectOutcome::Unknown { .. } => Self::Unknown,
            EffectOutcome::Reconciled { happened: false } => Self::NotHappened,
        }
    }
}

/// An obligation an option leaves behind, tracked until done.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "follow_up", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FollowUpKind {
    /// Bring the hotfix branch's fix to main too.
    MergeHotfixBack {
        /// Whose repository.
        service: ServiceId,
        /// The hotfix branch.
        branch: BranchName,
    },
    /// Re-apply a change reverted to make way for the fix.
    ReapplyChange {
        /// The change.
        change: ChangeId,
    },
    /// Fix main and ship the fix (after a rollback or retoggle).
    FixMain {
        /// Whose repository.
        service: ServiceId,
    },
    /// Reopen the delivery gate.
    LiftGate {
        /// Where.
        environment: EnvironmentId,
    },
    /// Hold the blameless retro.
    HoldRetro,
    /// Undo what a runbook did (fail back, scale down), as the runbook
    /// says. Closed on a person's word: the history cannot show it.
    UndoRunbook {
        /// The runbook.
        runbook: crate::model::RunbookId,
        /// What to do.
        what: String,
    },
}

impl FollowUpKind {
    /// Its stable id within an incident, named after what it is (not
    /// where it sits in the list): `fix-main/<service>`,
    /// `lift-gate/<environment>`, `reapply/<change>`,
    /// `merge-back/<service>/<branch>`, `undo-runbook/<runbook>`, `retro`.
    /// Address it with
    /// [`Command::CloseFollowUp`](crate::Command::CloseFollowUp).
    ///
    /// ```
    /// use knowngood::recovery::FollowUpKind;
    /// let fix = FollowUpKind::FixMain { service: "payments".into() };
    /// assert_eq!(fix.id(), "fix-main/payments");
    /// ```
    pub fn id(&self) -> String {
        match self {
            Self::MergeHotfixBack { service, branch } => format!("merge-back/{service}/{branch}"),
            Self::ReapplyChange { change } => format!("reapply/{change}"),
            Self::FixMain { service } => format!("fix-main/{service}"),
            Self::LiftGate { environment } => format!("lift-gate/{environment}"),
            Self::HoldRetro => "retro".to_owned(),
            Self::UndoRunbook { runbook, .. } => format!("undo-runbook/{runbook}"),
        }
    }
}

impl fmt::Display for FollowUpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MergeHotfixBack { branch, .. } => write!(f, "merge `{branch}` back to main"),
            Self::ReapplyChange { change } => write!(f, "re-apply `{change}`"),
            Self::FixMain { service } => write!(f, "fix `{service}` on main and ship it"),
            Self::LiftGate { environment } => write!(f, "reopen the gate of `{environment}`"),
            Self::HoldRetro => f.write_str("hold the retro"),
            Self::UndoRunbook { runbook, what } => write!(f, "undo runbook `{runbook}`: {what}"),
        }
    }
}

/// What was on the table when a strategy was chosen, kept in the journal
/// for the retro.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConsideredOption {
    /// The strategy.
    pub strategy: Strategy,
    /// For a host runbook, which one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<crate::model::RunbookId>,
    /// Whether it was applicable.
    pub applicable: bool,
    /// Estimated seconds to restore.
    pub estimate_seconds: u64,
    /// Why not, when it was not applicable.
    pub why_not: String,
}

/// Seconds as a person would say them: `45s`, `12 min`, `2 h 5 min`.
///
/// ```
/// assert_eq!(knowngood::recovery::human(750), "13 min");
/// ```
pub fn human(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{} min", s.div_ceil(60)),
        s => {
            let minutes = (s % 3600).div_ceil(60);
            if minutes == 0 {
                format!("{} h", s / 3600)
            } else {
                format!("{} h {minutes} min", s / 3600)
            }
        }
    }
}
