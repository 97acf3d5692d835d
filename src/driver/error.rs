//! Why the driver stopped: [`DriveError`] and [`StepFailure`].

use crate::error::Rejection;
use crate::journal::{CorruptJournal, ReplayError};
use crate::model::{BranchName, CommitId, EnvironmentId, IncidentId, ReleaseId, ServiceId};
use crate::port::AdapterError;
use crate::recovery::IdempotencyKey;
use crate::startup::StartError;

/// Why the driver stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriveError {
    /// [`Driver::sync`](crate::driver::Driver::sync) could not record what
    /// landed on a branch; what it recorded before stays (a sync again
    /// goes on from there).
    #[error("syncing `{branch}` of `{service}` from the VCS: {why}")]
    Sync {
        /// The service.
        service: ServiceId,
        /// The branch.
        branch: BranchName,
        /// Why, and what to do.
        why: String,
        /// The VCS's error, when it failed.
        #[source]
        error: Option<AdapterError>,
    },
    /// The journal store failed; what it holds is the truth.
    #[error("the journal store failed: {0}; resume the driver once it is back")]
    Journal(AdapterError),
    /// The stored journal does not read back.
    #[error("the stored journal is damaged: {0}")]
    Corrupt(Box<CorruptJournal>),
    /// [`Driver::start`](crate::driver::Driver::start) found a journal already in the store.
    #[error(
        "the journal store already holds {entries} entries: this is not a first run, so use Driver::resume"
    )]
    AlreadyStarted {
        /// The entries found.
        entries: u64,
    },
    /// [`Driver::resume`](crate::driver::Driver::resume) found no journal in the store.
    #[error(
        "the journal store holds no entries, so there is nothing to resume: check the journal's name and the store's address, or use Driver::start for a first run"
    )]
    NothingToResume,
    /// The stored journal does not replay.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The core refused a command.
    #[error(transparent)]
    Refused(#[from] Rejection),
    /// Another replica holds the lease on the incident: nothing was done.
    #[error(
        "incident `{incident}` is being driven by `{holder}` (its lease runs {}s more at most): nothing was done; drive again once it lets go or its lease expires",
        remaining.as_secs()
    )]
    LeaseHeld {
        /// The incident.
        incident: IncidentId,
        /// Who holds the lease.
        holder: String,
        /// How much longer it runs at most, unless renewed.
        remaining: std::time::Duration,
    },
    /// This driver's lease on the incident could not be renewed before the
    /// next step (another replica took it, or it lapsed): it stopped before
    /// acting again.
    #[error(
        "the lease on incident `{incident}` was lost before step `{key}`{}: this driver stopped before acting; refresh and drive again",
        holder.as_ref().map(|h| format!(" (now held by `{h}`)")).unwrap_or_default()
    )]
    LeaseLost {
        /// The incident.
        incident: IncidentId,
        /// The step it stopped before.
        key: IdempotencyKey,
        /// Who holds it now, if someone does.
        holder: Option<String>,
    },
    /// Another replica is shipping to the same environment and service
    /// ([`Driver::ship`](crate::driver::Driver::ship) holds a lease on
    /// them): nothing was done.
    #[error(
        "`{service}` in `{environment}` is being shipped by `{holder}` (its lease runs {}s more at most): nothing was done; ship again once it is done",
        remaining.as_secs()
    )]
    ShipInProgress {
        /// Where.
        environment: EnvironmentId,
        /// Which service.
        service: ServiceId,
        /// Who holds the lease.
        holder: String,
        /// How much longer it runs at most, unless renewed.
        remaining: std::time::Duration,
    },
    /// The lease on a shipment was lost before step `key` (another replica
    /// took it, or it lapsed): this driver stopped before acting again.
    #[error(
        "the lease on shipping `{service}` to `{environment}` was lost before `{key}`{}: this driver stopped before acting; ship again under the same key",
        holder.as_ref().map(|h| format!(" (now held by `{h}`)")).unwrap_or_default()
    )]
    ShipLeaseLost {
        /// Where.
        environment: EnvironmentId,
        /// Which service.
        service: ServiceId,
        /// The call it stopped before.
        key: IdempotencyKey,
        /// Who holds it now, if someone does.
        holder: Option<String>,
    },
    /// The lease store failed: nothing more was done.
    #[error("the lease store failed: {0}; nothing more was done, drive again once it is back")]
    Lease(AdapterError),
    /// A step failed (recorded in the journal); choose another strategy or
    /// fix the cause, then choose again.
    #[error("step `{key}` failed: {failure}")]
    StepFailed {
        /// The step.
        key: IdempotencyKey,
        /// Why, with the port's own error where a port failed.
        failure: StepFailure,
    },
    /// A port still cannot say whether a step happened.
    #[error(
        "step `{key}`: the {port} cannot say yet whether it happened ({error}); drive again later"
    )]
    Unresolved {
        /// The step.
        key: IdempotencyKey,
        /// Which port.
        port: &'static str,
        /// What it said last.
        error: AdapterError,
    },
    /// A branch the step moves is not where the ledger says: someone pushed
    /// commits the ledger never saw. Nothing was done; the step is still
    /// pending.
    #[error(
        "step `{key}`: branch `{branch}` of `{service}` is at `{found}`, but the ledger has it at `{expected}`{}; record the commits pushed since (RecordCommit, RecordChange) and move the branch (MoveBranch), then drive again",
        unknown_list(unknown)
    )]
    BranchMoved {
        /// The step.
        key: IdempotencyKey,
        /// Whose repository.
        service: ServiceId,
        /// The branch.
        branch: BranchName,
        /// Where the ledger has it.
        expected: CommitId,
        /// Where the VCS has it.
        found: CommitId,
        /// The commits on the branch the ledger does not know, oldest first.
        unknown: Vec<CommitId>,
    },
    /// The deployer serves something other than what the driver just rolled
    /// out: someone or something else deployed. The rollout stays open.
    #[error(
        "step `{key}`: `{expected}` should serve, but the deployer reports {} serving `{service}` in `{environment}`; find out who deployed what, then drive again",
        found.as_ref().map_or_else(|| "nothing".to_owned(), |r| format!("`{r}`"))
    )]
    Diverged {
        /// The step.
        key: IdempotencyKey,
        /// Where.
        environment: EnvironmentId,
        /// Which service.
        service: ServiceId,
        /// What should serve: what the driver rolled out, or what an
        /// abort returns to.
        expected: ReleaseId,
        /// What the deployer reports.
        found: Option<ReleaseId>,
    },
    /// The incident has no chosen strategy to carry out.
    #[error("incident `{0}` has no chosen strategy: choose one first")]
    NothingChosen(IncidentId),
}

fn unknown_list(unknown: &[CommitId]) -> String {
    if unknown.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = unknown.iter().map(|c| format!("`{c}`")).collect();
        format!(" (unknown to the ledger: {})", names.join(", "))
    }
}

impl DriveError {
    /// The port's error behind this stop, if a port failed: its
    /// [`ErrorKind`](crate::port::ErrorKind) tells a host how to react
    /// (a [`Conflict`](crate::port::ErrorKind::Conflict) revert needs a
    /// person) without matching text.
    pub fn adapter_error(&self) -> Option<&AdapterError> {
        match self {
            Self::Journal(e) | Self::Lease(e) | Self::Unresolved { error: e, .. } => Some(e),
            Self::StepFailed {
                failure: StepFailure::Port { error, .. },
                ..
            } => Some(error),
            _ => None,
        }
    }
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepFailure {
    /// A port refused or failed; its error keeps its kind and source.
    #[error("the {port} failed: {error}")]
    Port {
        /// Which port.
        port: &'static str,
        /// Its error.
        #[source]
        error: AdapterError,
    },
    /// The health probe found the service unhealthy (or could not check).
    #[error("{0}")]
    Unhealthy(String),
    /// The ledger lacks what the step needs, or a port answered with
    /// something the step cannot use.
    #[error("{0}")]
    Precondition(String),
    /// The step failed in an earlier drive.
    #[error("it failed earlier; choose a strategy again")]
    FailedEarlier,
}

impl From<StartError> for DriveError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Journal(e) => DriveError::Journal(e),
            StartError::Corrupt(e) => DriveError::Corrupt(e),
            StartError::Replay(e) => DriveError::Replay(e),
        }
    }
}
