//! The driver: carries the chosen strategy's steps out through the host's
//! ports, feeding every outcome back into the core and the durable journal.
//!
//! # Contract
//!
//! - Every command the driver issues is decided by the core, stored in the
//!   [`JournalStore`](crate::port::JournalStore) and only then considered
//!   done. If storing fails ([`DriveError::Journal`]), the driver forgets
//!   what the store did not take: drive again with the same driver, or
//!   [`Driver::resume`] a new one from the store alone, at any later time.
//! - Every port call carries an idempotency key derived from the step's key,
//!   and every attempt of a plan has keys of its own (the planner numbers
//!   attempts; the core refuses a key an earlier plan used). Before acting
//!   for a step it had started earlier, the driver asks the port what
//!   happened under the key and acts only if nothing did. A timeout
//!   ([`ErrorKind::UnknownOutcome`]) is reconciled the same way, never by
//!   guessing. So after a crash at any point, resuming runs no step twice
//!   and skips none, however far the clock moved meanwhile: what the driver
//!   records for an effect is identified by what the effect made, and
//!   recording it again is a no-op.
//! - The driver records what the ports report, never what it assumed. A
//!   branch is moved only from the head the ledger knows (a compare-and-swap
//!   through [`Vcs`](crate::port::Vcs)); a branch someone pushed to stops
//!   the plan with [`DriveError::BranchMoved`], naming the commits to
//!   record. After every deploy the deployer's status must name the release
//!   rolled out, or the drive stops with [`DriveError::Diverged`].
//! - A step that fails is journaled as failed before the driver stops with
//!   [`DriveError::StepFailed`], which keeps the port's
//!   [`AdapterError`] and its kind. A rollout the
//!   deployer refused is closed so that it blocks nothing.
//! - A rollout that needs approvals pauses the drive
//!   ([`DriveReport::AwaitingApprovals`]) with the revision requested; once
//!   the approvals are recorded, drive again. Choosing another plan
//!   meanwhile withdraws that request.
//! - Steps only a person can take (landing a fix, a down migration) pause
//!   the driver with an instruction; [`Driver::confirm`] records them done.
//! - The driver only awaits: it brings no async runtime of its own.
//!
//! [`ErrorKind::UnknownOutcome`]: crate::port::ErrorKind::UnknownOutcome

use crate::error::Rejection;
use crate::journal::{CorruptJournal, Journal, JournalEntry, ReplayError, Snapshot};
use crate::ledger::Ledger;
use crate::machine::{
    Command, Deployment, DeploymentStatus, EventKind, LifecycleStep, Rework, Slot, State, Verdict,
};
use crate::model::{
    Actor, Artifact, BranchName, Change, CommitId, EnvironmentId, FlagKey, FlagState, IncidentId,
    Lane, Release, ReleaseId, ServiceId,
};
use crate::port::{AdapterError, ErrorKind, Landed, LeaseAnswer, Ports};
use crate::recovery::{Effect, EffectAction, EffectOutcome, EffectStatus, IdempotencyKey};
use crate::startup::{PAGE, StartReport, Startup, fold_error, open_ledger};
use chrono::{DateTime, Duration, Utc};

/// Why the driver stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriveError {
    /// The journal store failed; what it holds is the truth.
    #[error("the journal store failed: {0}; resume the driver once it is back")]
    Journal(AdapterError),
    /// The stored journal does not read back.
    #[error("the stored journal is damaged: {0}")]
    Corrupt(Box<CorruptJournal>),
    /// [`Driver::start`] found a journal already in the store.
    #[error(
        "the journal store already holds {entries} entries: this is not a first run, so use Driver::resume"
    )]
    AlreadyStarted {
        /// The entries found.
        entries: u64,
    },
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
        "step `{key}`: after rolling out `{expected}` the deployer reports {} serving `{service}` in `{environment}`; find out who deployed what, then drive again",
        found.as_ref().map_or_else(|| "nothing".to_owned(), |r| format!("`{r}`"))
    )]
    Diverged {
        /// The step.
        key: IdempotencyKey,
        /// Where.
        environment: EnvironmentId,
        /// Which service.
        service: ServiceId,
        /// What the driver rolled out.
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
    /// [`ErrorKind`] tells a host how to react
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

/// How far a drive got.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriveReport {
    /// Every step is done.
    Done {
        /// The steps, in order.
        steps: Vec<IdempotencyKey>,
    },
    /// A rollout waits for approvals the policy asks for: record them
    /// (`Command::Approve`), then drive again. The revision stays requested
    /// meanwhile; nothing else is done.
    AwaitingApprovals {
        /// The step.
        key: IdempotencyKey,
        /// The revision waiting.
        slot: Slot,
        /// Valid approvals so far.
        have: u32,
        /// Approvals needed.
        need: u32,
        /// The role approvers must hold.
        role: crate::model::Role,
    },
    /// A step needs a person; confirm it, then drive again.
    Paused {
        /// The step.
        key: IdempotencyKey,
        /// What to do.
        instruction: String,
    },
}

impl DriveReport {
    /// What has to happen before driving again, in words.
    pub fn instruction(&self) -> String {
        match self {
            Self::Done { steps } => format!("nothing: all {} steps are done", steps.len()),
            Self::AwaitingApprovals {
                slot,
                have,
                need,
                role,
                ..
            } => {
                let missing = need.saturating_sub(*have);
                format!(
                    "{slot} needs {missing} more approval{} from role `{role}` ({have} of {need}): record them with Approve, then drive again",
                    if missing == 1 { "" } else { "s" }
                )
            }
            Self::Paused { instruction, .. } => instruction.clone(),
        }
    }
}

impl std::fmt::Display for DriveReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.instruction())
    }
}

/// What [`Driver::ship`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Shipped {
    /// The release serves there and was verified known good.
    Verified {
        /// Its revision.
        slot: Slot,
    },
    /// The rollout waits for approvals ([`DriveReport::AwaitingApprovals`]
    /// says whose): record them, then ship again with the same key.
    Waiting(DriveReport),
}

/// A branch a call moves: which, and where the ledger has its head.
#[derive(Clone)]
struct BranchMove {
    service: ServiceId,
    branch: BranchName,
    expected: CommitId,
}

/// One port call, so that acting and asking share one reconciliation.
enum Call {
    Revert(BranchMove, Vec<CommitId>),
    Branch(ServiceId, BranchName, CommitId),
    Tag(ServiceId, CommitId, String),
    Pick(BranchMove, Vec<CommitId>),
    Merge(BranchMove, CommitId),
    Deploy(EnvironmentId, Box<Release>, Box<Artifact>),
    Abort(EnvironmentId, ServiceId),
    Flag(EnvironmentId, FlagKey, FlagState, u64),
    Build(ServiceId, CommitId),
}

enum Produced {
    Commit(Landed),
    Deployed,
    Revision(u64),
    Built(Box<Artifact>),
}

impl Call {
    fn port(&self) -> &'static str {
        match self {
            Self::Revert(..)
            | Self::Branch(..)
            | Self::Tag(..)
            | Self::Pick(..)
            | Self::Merge(..) => "VCS",
            Self::Deploy(..) | Self::Abort(..) => "deployer",
            Self::Flag(..) => "flag store",
            Self::Build(..) => "builder",
        }
    }

    /// The branch the call moves, if it moves one.
    fn moves(&self) -> Option<&BranchMove> {
        match self {
            Self::Revert(moved, _) | Self::Pick(moved, _) | Self::Merge(moved, _) => Some(moved),
            _ => None,
        }
    }
}

/// Carries recovery plans out through the host's ports.
#[derive(Debug)]
pub struct Driver {
    ports: Ports,
    ledger: Ledger,
    actor: Actor,
    started: StartReport,
    lease: Option<HeldLease>,
    snapshots: Option<SnapshotSchedule>,
}

/// When the driver writes snapshots by itself ([`Driver::snapshot_every`]).
#[derive(Debug)]
struct SnapshotSchedule {
    every: u64,
    /// The journal length at the last snapshot written or started from.
    last: u64,
    /// Why the last one due was not written, until one is.
    failed: Option<AdapterError>,
}

/// A lease this driver holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeldLease {
    scope: String,
    token: u64,
    /// When this driver stops counting on it: the time it asked, plus the
    /// lease's length, less a tenth.
    good_until: DateTime<Utc>,
}

impl Driver {
    /// A driver on a first run, acting as `actor`: the journal store must
    /// be empty ([`DriveError::AlreadyStarted`] otherwise, so a host that
    /// lost track of its store never starts a second history beside it).
    /// Every later run is a [`Driver::resume`].
    pub async fn start(ports: Ports, actor: impl Into<Actor>) -> Result<Driver, DriveError> {
        let stored = ports
            .journal
            .read_page(1, 1)
            .await
            .map_err(DriveError::Journal)?;
        if !stored.is_empty() {
            let entries = ports
                .journal
                .read_from(1)
                .await
                .map_err(DriveError::Journal)?
                .len() as u64;
            return Err(DriveError::AlreadyStarted { entries });
        }
        Ok(Driver {
            ledger: Ledger::from_journal(Journal::with_chain(ports.journal.chain()))?,
            ports,
            actor: actor.into(),
            started: StartReport::default(),
            lease: None,
            snapshots: None,
        })
    }

    /// A driver over the journal the store holds (after a restart, in
    /// another process, or after a crash), acting as `actor`: it reads the
    /// whole store a page at a time, checks it (positions, stream
    /// versions, the hash chain) and replays it. An empty store gives an
    /// empty driver, as [`Driver::start`] does. To start from a snapshot,
    /// see [`Driver::resume_with`].
    pub async fn resume(ports: Ports, actor: impl Into<Actor>) -> Result<Driver, DriveError> {
        Self::resume_with(ports, actor, Startup::Replay).await
    }

    /// [`Driver::resume`], starting as `startup` says: with
    /// [`Startup::Snapshot`], from the newest snapshot in the store that
    /// checks out plus the entries after it, holding only the entries
    /// appended since in memory. [`Driver::started`] tells how it went.
    pub async fn resume_with(
        ports: Ports,
        actor: impl Into<Actor>,
        startup: Startup,
    ) -> Result<Driver, DriveError> {
        let (ledger, started) = open_ledger(ports.journal.as_ref(), startup).await?;
        crate::trace::info!(
            snapshot = started.snapshot,
            replayed = started.replayed,
            ignored = started.ignored.len(),
            "driver started"
        );
        Ok(Driver {
            ports,
            ledger,
            actor: actor.into(),
            started,
            lease: None,
            snapshots: None,
        })
    }

    /// How this driver started: from which snapshot, passing over which
    /// (and why), folding in how many entries.
    pub fn started(&self) -> &StartReport {
        &self.started
    }

    /// Has the driver write a snapshot by itself whenever `entries` entries
    /// were added to the journal since the last one (its own or another
    /// replica's, counted from where it started); 0 turns it off. A
    /// snapshot that cannot be written does not fail the command that made
    /// it due: the driver tries again after the next command, and says why
    /// until one is written ([`Driver::snapshot_failure`], and a `tracing`
    /// warning).
    #[must_use]
    pub fn snapshot_every(mut self, entries: u64) -> Self {
        self.snapshots = (entries > 0).then(|| SnapshotSchedule {
            every: entries,
            last: self.started.snapshot.unwrap_or(0),
            failed: None,
        });
        self
    }

    /// Why the last snapshot due ([`Driver::snapshot_every`]) was not
    /// written, until one is.
    pub fn snapshot_failure(&self) -> Option<&AdapterError> {
        self.snapshots.as_ref().and_then(|s| s.failed.as_ref())
    }

    /// Writes a snapshot when one is due.
    async fn snapshot_if_due(&mut self) {
        let len = self.ledger.journal().len() as u64;
        let Some(schedule) = &self.snapshots else {
            return;
        };
        if len.saturating_sub(schedule.last) < schedule.every {
            return;
        }
        let result = self.write_snapshot().await;
        if let Some(schedule) = &mut self.snapshots {
            match result {
                Ok(position) => {
                    schedule.last = position;
                    schedule.failed = None;
                }
                Err(e) => {
                    crate::trace::warning!(error = %e, "snapshot due but not written");
                    schedule.failed = Some(match e {
                        DriveError::Journal(e) => e,
                        other => AdapterError::new(ErrorKind::Rejected, other.to_string()),
                    });
                }
            }
        }
    }

    /// Writes a snapshot of the state as the driver holds it (in step with
    /// the store as of its last append or [`Driver::refresh`]) to the
    /// store, and returns its position. A driver started from a snapshot
    /// then lets go of the entries it held. The store must keep snapshots
    /// ([`JournalStore::save_snapshot`](crate::JournalStore::save_snapshot)).
    pub async fn write_snapshot(&mut self) -> Result<u64, DriveError> {
        let snapshot = Snapshot::of(&self.ledger);
        let position = snapshot.head.len;
        self.ports
            .journal
            .save_snapshot(&snapshot.seal(&self.ports.journal.chain()))
            .await
            .map_err(DriveError::Journal)?;
        if self.started.startup == Startup::Snapshot {
            self.ledger.forget_held();
        }
        Ok(position)
    }

    /// Brings the driver up to date with the store, reading only the
    /// entries stored after its own (another process may have appended)
    /// and checking that they follow on; returns how many it took. When the
    /// store no longer ends the way the driver remembers (entries lost or
    /// replaced), the driver rebuilds itself from the store, as
    /// [`Driver::resume_with`] does with the way this driver started. A
    /// restarted process that kept its memory (or a snapshot) pays for the
    /// new entries only.
    pub async fn refresh(&mut self) -> Result<usize, DriveError> {
        let head = self.ledger.journal().head();
        let mut taken = 0_usize;
        let mut position = head.len.max(1);
        loop {
            let read = self
                .ports
                .journal
                .read_page(position, PAGE)
                .await
                .map_err(DriveError::Journal)?;
            let got = read.len();
            let mut tail = read.into_iter();
            if position == head.len {
                // The first entry read must be the driver's own last one.
                let continues = tail
                    .next()
                    .is_some_and(|last| last.position == head.len && last.hash == head.hash);
                if !continues {
                    let startup = self.started.startup;
                    let rebuilt =
                        Self::resume_with(self.ports.clone(), self.actor.clone(), startup).await?;
                    let taken = usize::try_from(rebuilt.started.replayed).unwrap_or(usize::MAX);
                    // The lease held is this replica's, whatever the store.
                    let lease = self.lease.take();
                    *self = rebuilt;
                    self.lease = lease;
                    return Ok(taken);
                }
            }
            let caught = self
                .ledger
                .catch_up(tail)
                .map_err(|e| fold_error(e, &self.ledger))?;
            taken = taken.saturating_add(caught);
            if got < PAGE {
                return Ok(taken);
            }
            position = self.ledger.journal().next_position();
        }
    }

    /// The state as the journal tells it.
    pub fn state(&self) -> &State {
        self.ledger.state()
    }

    /// The journal as stored.
    pub fn journal(&self) -> &Journal {
        self.ledger.journal()
    }

    /// The ports.
    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    /// Decides `command` now, stores its events, then applies them.
    pub async fn execute(&mut self, command: &Command) -> Result<Vec<JournalEntry>, DriveError> {
        let before = self.ledger.journal().len();
        // Cheap (copy-on-write), and it saves replaying the whole journal
        // when the store does not take the entries.
        let saved = self.ledger.snapshot();
        let now = self.ports.clock.now();
        let entries = match self.ledger.execute(command, now) {
            Ok(entries) => entries.to_vec(),
            Err(refusal) => {
                crate::trace::debug!(
                    command = command.name(),
                    rule = refusal.rule(),
                    "command refused"
                );
                return Err(refusal.into());
            }
        };
        if entries.is_empty() {
            return Ok(entries);
        }
        if let Err(e) = self.ports.journal.append(before as u64, &entries).await {
            // The store is the truth: forget what it did not take.
            self.ledger.rewind(before, saved);
            return Err(DriveError::Journal(e));
        }
        self.snapshot_if_due().await;
        Ok(entries)
    }

    /// Records a step only a person could take (landing a fix, a down
    /// migration) as done.
    pub async fn confirm(
        &mut self,
        incident: &IncidentId,
        key: &IdempotencyKey,
        detail: impl Into<String>,
    ) -> Result<(), DriveError> {
        self.record(
            Some(incident),
            key,
            EffectOutcome::Succeeded {
                detail: detail.into(),
            },
        )
        .await
    }

    /// Carries out the steps of the strategy chosen for `incident`, in
    /// order, from wherever the journal says they stand.
    ///
    /// With [`Leases`](crate::Leases) among the ports, the driver first
    /// takes the lease on the incident ([`DriveError::LeaseHeld`] when
    /// another replica holds it: nothing is done), reads what the store
    /// holds when the lease changed hands, renews it before every step
    /// ([`DriveError::LeaseLost`] when it cannot: it stops before acting),
    /// and lets go of it when it stops, however it stops.
    pub async fn drive(&mut self, incident: &IncidentId) -> Result<DriveReport, DriveError> {
        if self.ports.leases.is_none() {
            return self.drive_plan(incident).await;
        }
        let scope = format!("incident/{incident}");
        match self.hold_lease(&scope).await? {
            LeaseAnswer::Granted { .. } => {}
            LeaseAnswer::Held { holder, remaining } => {
                return Err(DriveError::LeaseHeld {
                    incident: incident.clone(),
                    holder,
                    remaining,
                });
            }
        }
        let result = self.drive_plan(incident).await;
        self.release_lease().await;
        result
    }

    /// Takes or renews the lease on `scope` when less than half of it is
    /// left, reading the store again when it changed hands.
    async fn hold_lease(&mut self, scope: &str) -> Result<LeaseAnswer, DriveError> {
        let Some(leases) = self.ports.leases.clone() else {
            return Ok(LeaseAnswer::Granted { token: 0 });
        };
        let ttl = self.ports.lease_ttl;
        let asked_at = self.ports.clock.now();
        let span = |d: std::time::Duration| Duration::from_std(d).unwrap_or(Duration::MAX);
        if let Some(held) = &self.lease
            && held.scope == scope
            && asked_at.checked_add_signed(span(ttl.checked_div(2).unwrap_or_default()))
                < Some(held.good_until)
        {
            return Ok(LeaseAnswer::Granted { token: held.token });
        }
        let answer = leases
            .acquire(scope, self.actor.as_str(), ttl)
            .await
            .map_err(DriveError::Lease)?;
        match &answer {
            LeaseAnswer::Granted { token } => {
                let known = self
                    .lease
                    .as_ref()
                    .is_some_and(|held| held.scope == scope && held.token == *token);
                self.lease = Some(HeldLease {
                    scope: scope.to_owned(),
                    token: *token,
                    good_until: asked_at
                        .checked_add_signed(span(
                            ttl.saturating_sub(ttl.checked_div(10).unwrap_or_default()),
                        ))
                        .unwrap_or(asked_at),
                });
                if !known {
                    crate::trace::info!(scope, token, "lease taken");
                    // Another replica may have acted since this driver
                    // last read the store.
                    self.refresh().await?;
                }
            }
            LeaseAnswer::Held { holder, .. } => {
                crate::trace::info!(scope, holder = %holder, "lease held by another replica");
                self.lease = None;
            }
        }
        Ok(answer)
    }

    /// Before a step or a port call on `incident`'s behalf: renews the
    /// lease when half of it is gone, and stops the driver when another
    /// replica holds it now.
    async fn keep_lease(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
    ) -> Result<(), DriveError> {
        let (Some(_), Some(incident)) = (&self.ports.leases, incident) else {
            return Ok(());
        };
        let scope = format!("incident/{incident}");
        match self.hold_lease(&scope).await? {
            LeaseAnswer::Granted { .. } => Ok(()),
            LeaseAnswer::Held { holder, .. } => Err(DriveError::LeaseLost {
                incident: incident.clone(),
                key: key.clone(),
                holder: Some(holder),
            }),
        }
    }

    /// Lets go of the lease held, if any; a failure to let go only means
    /// the lease runs out on its own, and is traced.
    async fn release_lease(&mut self) {
        let (Some(leases), Some(held)) = (self.ports.leases.clone(), self.lease.take()) else {
            return;
        };
        if let Err(e) = leases
            .release(&held.scope, self.actor.as_str(), held.token)
            .await
        {
            crate::trace::warning!(scope = %held.scope, error = %e, "lease not let go: it will run out");
            let _ = e;
        }
    }

    async fn drive_plan(&mut self, incident: &IncidentId) -> Result<DriveReport, DriveError> {
        let record = self
            .state()
            .incident(incident)
            .ok_or_else(|| Rejection::UnknownIncident {
                incident: incident.clone(),
            })?;
        if record.steps.is_empty() {
            return Err(DriveError::NothingChosen(incident.clone()));
        }
        let steps = record.steps.clone();
        crate::trace::info!(
            incident = %incident,
            strategy = ?record.strategy,
            steps = steps.len(),
            "driving the chosen plan"
        );
        for step in &steps {
            self.keep_lease(Some(incident), &step.key).await?;
            let status = self.status(incident, &step.key);
            match status {
                EffectStatus::Succeeded => continue,
                EffectStatus::Failed => {
                    return Err(DriveError::StepFailed {
                        key: step.key.clone(),
                        failure: StepFailure::FailedEarlier,
                    });
                }
                _ => {}
            }
            if let Some(instruction) = host_step(&step.action) {
                crate::trace::info!(key = %step.key, instruction = %instruction, "step paused for a person");
                return Ok(DriveReport::Paused {
                    key: step.key.clone(),
                    instruction,
                });
            }
            if matches!(status, EffectStatus::Pending | EffectStatus::NotHappened) {
                self.record(Some(incident), &step.key, EffectOutcome::Started)
                    .await?;
            }
            crate::trace::info!(key = %step.key, action = %step.action, "step started");
            match self.perform(incident, step).await {
                Ok(Ok(detail)) => {
                    crate::trace::info!(key = %step.key, detail = %detail, "step done");
                    self.record(
                        Some(incident),
                        &step.key,
                        EffectOutcome::Succeeded { detail },
                    )
                    .await?;
                }
                Ok(Err(waiting)) => {
                    crate::trace::info!(key = %step.key, waiting = %waiting, "step waiting");
                    return Ok(waiting);
                }
                Err(DriveError::StepFailed { key, failure }) => {
                    crate::trace::warning!(key = %key, failure = %failure, "step failed");
                    // Never hidden: the failure is journaled before the
                    // driver stops.
                    self.record(
                        Some(incident),
                        &step.key,
                        EffectOutcome::Failed {
                            error: failure.to_string(),
                        },
                    )
                    .await?;
                    return Err(DriveError::StepFailed { key, failure });
                }
                Err(other) => return Err(other),
            }
        }
        Ok(DriveReport::Done {
            steps: steps.into_iter().map(|s| s.key).collect(),
        })
    }

    fn status(&self, incident: &IncidentId, key: &IdempotencyKey) -> EffectStatus {
        self.state()
            .incident(incident)
            .and_then(|i| i.effects.get(key).copied())
            .unwrap_or(EffectStatus::Pending)
    }

    async fn record(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
        outcome: EffectOutcome,
    ) -> Result<(), DriveError> {
        // Upkeep outside an incident leaves no effect outcomes: its
        // progress is the commands it executes.
        let Some(incident) = incident else {
            return Ok(());
        };
        self.execute(&Command::RecordEffect {
            incident: incident.clone(),
            key: key.clone(),
            outcome,
            by: Some(self.actor.clone()),
        })
        .await
        .map(drop)
    }

    /// A step that cannot go on because the ledger (or a port's answer)
    /// lacks what it needs.
    fn fail<T>(key: &IdempotencyKey, why: impl Into<String>) -> Result<T, DriveError> {
        Err(DriveError::StepFailed {
            key: key.clone(),
            failure: StepFailure::Precondition(why.into()),
        })
    }

    fn unhealthy<T>(key: &IdempotencyKey, why: String) -> Result<T, DriveError> {
        Err(DriveError::StepFailed {
            key: key.clone(),
            failure: StepFailure::Unhealthy(why),
        })
    }

    /// A port's error on a read the step needs: worth another drive when
    /// the port may come back, the step's failure otherwise.
    fn port_read<T>(
        key: &IdempotencyKey,
        port: &'static str,
        error: AdapterError,
    ) -> Result<T, DriveError> {
        if error.needs_reconciling() {
            Err(DriveError::Unresolved {
                key: key.clone(),
                port,
                error,
            })
        } else {
            Err(DriveError::StepFailed {
                key: key.clone(),
                failure: StepFailure::Port { port, error },
            })
        }
    }

    /// Runs one step; `Ok(Err(report))` means it must wait (for a person,
    /// work in flight or approvals) and says for what.
    async fn perform(
        &mut self,
        incident: &IncidentId,
        step: &Effect,
    ) -> Result<Result<String, DriveReport>, DriveError> {
        let key = &step.key;
        let wait = || {
            Err(DriveReport::Paused {
                key: key.clone(),
                instruction: step.action.to_string(),
            })
        };
        match &step.action {
            EffectAction::SetFlag {
                environment,
                flag,
                state,
            } => {
                let Some(flags) = self.ports.flags.clone() else {
                    return Self::fail(key, "the host has no flag store");
                };
                let (current, revision) = match flags.get(environment, flag).await {
                    Ok(read) => read,
                    Err(e) => return Self::port_read(key, "flag store", e),
                };
                let mut revision = revision;
                if current != *state {
                    let call =
                        Call::Flag(environment.clone(), flag.clone(), state.clone(), revision);
                    if let Produced::Revision(r) =
                        self.call(Some(incident), key, key.clone(), call).await?
                    {
                        revision = r;
                    }
                }
                self.execute(&Command::SetFlag {
                    environment: environment.clone(),
                    flag: flag.clone(),
                    state: state.clone(),
                    by: self.actor.clone(),
                    clearance: crate::machine::Clearance::none(),
                })
                .await?;
                Ok(Ok(format!(
                    "flag `{flag}` is {state} in `{environment}` (revision {revision})"
                )))
            }
            EffectAction::Rollback {
                environment,
                service,
                to,
                ..
            } => {
                let command = Command::rollback_to(
                    environment.clone(),
                    service.clone(),
                    *to,
                    self.actor.clone(),
                    format!("incident {incident}"),
                );
                match self
                    .roll_out(Some(incident), key, key.clone(), command)
                    .await?
                {
                    Ok(slot) => Ok(Ok(format!("{slot} rolled out"))),
                    Err(waiting) => Ok(Err(waiting)),
                }
            }
            EffectAction::Abort {
                environment,
                service,
                revision,
            } => {
                let slot = Slot::new(environment.clone(), service.clone(), *revision);
                // Only a revision the lifecycle still lets abort is stopped:
                // after a crash the abort may be recorded already.
                if self
                    .deployment_status(&slot)
                    .is_some_and(|status| status.after(LifecycleStep::Abort).is_some())
                {
                    let call = Call::Abort(environment.clone(), service.clone());
                    self.call(Some(incident), key, key.clone(), call).await?;
                    self.execute(&Command::AbortRollout {
                        slot: slot.clone(),
                        by: self.actor.clone(),
                        reason: format!("incident {incident}"),
                    })
                    .await?;
                }
                Ok(Ok(format!("{slot} aborted")))
            }
            EffectAction::Verify {
                environment,
                service,
            } => self
                .verify(Some(incident), key, environment, service)
                .await
                .map(Ok),
            EffectAction::RevertChange {
                service,
                change,
                onto,
            }
            | EffectAction::ReapplyChange {
                service,
                change,
                onto,
            } => {
                let original = self.known_change(key, change)?;
                let moved = self.branch_move(key, service, onto)?;
                let commits = original.commits.clone();
                let (rework, call) = if matches!(step.action, EffectAction::RevertChange { .. }) {
                    (Rework::Revert, Call::Revert(moved, commits))
                } else {
                    (Rework::Reapply, Call::Pick(moved, commits))
                };
                let landed = self.commit_call(Some(incident), key, call).await?;
                let commit = landed.commit.clone();
                let new = rework.change(
                    &original,
                    commit.clone(),
                    self.actor.clone(),
                    self.ports.clock.now(),
                );
                self.land(key, service, onto, &landed, Some(new)).await?;
                Ok(Ok(format!(
                    "`{change}` {} as `{commit}` on `{onto}`",
                    rework.done()
                )))
            }
            EffectAction::CutBranch {
                service,
                branch,
                at,
            } => self
                .cut_branch(Some(incident), key, (service, branch, at))
                .await
                .map(Ok),
            EffectAction::Mirror {
                environment,
                service,
                release,
            } => {
                self.mirror(Some(incident), key, (environment, service, release))
                    .await
            }
            EffectAction::MergeBack {
                service,
                from,
                onto,
            } => {
                let Some(head) = self.state().branch(service, from).cloned() else {
                    return Self::fail(key, format!("the head of `{from}` is not recorded"));
                };
                let moved = self.branch_move(key, service, onto)?;
                let landed = self
                    .commit_call(Some(incident), key, Call::Merge(moved, head))
                    .await?;
                self.land(key, service, onto, &landed, None).await?;
                self.complete_merge_back(incident, key, service, from, onto)
                    .await?;
                Ok(Ok(format!(
                    "`{from}` merged back into `{onto}` as `{}`",
                    landed.commit
                )))
            }
            EffectAction::Tag {
                service,
                branch,
                tag,
            } => {
                let Some(head) = self.state().branch(service, branch).cloned() else {
                    return Self::fail(key, format!("the head of `{branch}` is not recorded"));
                };
                let call = Call::Tag(service.clone(), head.clone(), tag.clone());
                self.commit_call(Some(incident), key, call).await?;
                Ok(Ok(format!("`{head}` tagged `{tag}`")))
            }
            EffectAction::Ship {
                service,
                branch,
                lane,
                environment,
                fast_track,
            } => {
                self.ship_branch(
                    incident,
                    key,
                    (service, branch),
                    (*lane, *fast_track),
                    environment,
                )
                .await
            }
            EffectAction::WaitFor { environment, .. } => {
                let passed = self
                    .state()
                    .incident(incident)
                    .and_then(|i| self.state().history(environment, &i.service))
                    .and_then(|h| h.latest())
                    .is_some_and(|d| {
                        matches!(
                            d.status,
                            DeploymentStatus::KnownGood | DeploymentStatus::Superseded
                        )
                    });
                Ok(if passed {
                    Ok(format!("the work in `{environment}` passed"))
                } else {
                    wait()
                })
            }
            // Only a person can take these; `drive` pauses before them.
            EffectAction::MigrateDown { .. } | EffectAction::LandFix { .. } => Ok(wait()),
        }
    }

    fn known_change(
        &self,
        key: &IdempotencyKey,
        change: &crate::model::ChangeId,
    ) -> Result<Change, DriveError> {
        match self.state().change(change) {
            Some(c) => Ok(c.clone()),
            None => Self::fail(key, format!("change `{change}` is not recorded")),
        }
    }

    /// The branch `onto` as the ledger has it, for a call that moves it.
    fn branch_move(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        onto: &BranchName,
    ) -> Result<BranchMove, DriveError> {
        match self.state().branch(service, onto) {
            Some(head) => Ok(BranchMove {
                service: service.clone(),
                branch: onto.clone(),
                expected: head.clone(),
            }),
            None => Self::fail(key, format!("the head of `{onto}` is not recorded")),
        }
    }

    /// Cuts `branch` at `at` through the VCS and records it.
    async fn cut_branch(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
        (service, branch, at): (&ServiceId, &BranchName, &CommitId),
    ) -> Result<String, DriveError> {
        let call = Call::Branch(service.clone(), branch.clone(), at.clone());
        let named = self.commit_call(incident, key, call).await?;
        if named.commit != *at {
            return Self::fail(
                key,
                format!(
                    "the VCS cut `{branch}` at `{}`, not at `{at}`",
                    named.commit
                ),
            );
        }
        self.execute(&Command::MoveBranch {
            service: service.clone(),
            branch: branch.clone(),
            head: at.clone(),
        })
        .await?;
        Ok(format!("`{branch}` cut at `{at}`"))
    }

    /// Deploys and verifies `release` in `environment` (a hotfix-lane
    /// environment mirroring production).
    async fn mirror(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
        (environment, service, release): (&EnvironmentId, &ServiceId, &ReleaseId),
    ) -> Result<Result<String, DriveReport>, DriveError> {
        let command = Command::deploy(environment.clone(), release.clone(), self.actor.clone());
        if let Err(waiting) = self.roll_out(incident, key, key.clone(), command).await? {
            return Ok(Err(waiting));
        }
        let verified = self.verify(incident, key, environment, service).await?;
        Ok(Ok(format!(
            "`{environment}` mirrors production with `{release}` ({verified})"
        )))
    }

    /// The everyday path: deploys `release` to `environment` and verifies
    /// it there (request, start, roll out through the deployer, complete,
    /// check health, record the verdict), with every rule the core applies
    /// to a deployment (upstream verification, gates, freezes, approvals,
    /// poisoned changes). `key` names this shipment: use one per intent
    /// (a CI job's id, say); shipping again under the same key, after a
    /// crash or a wait for approvals, picks up where it stopped and never
    /// deploys twice. An unhealthy verdict is recorded and stops with
    /// [`DriveError::StepFailed`].
    pub async fn ship(
        &mut self,
        environment: &EnvironmentId,
        release: &ReleaseId,
        key: &IdempotencyKey,
    ) -> Result<Shipped, DriveError> {
        let Some(service) = self.state().release(release).map(|r| r.service.clone()) else {
            return Err(DriveError::Refused(Rejection::UnknownRelease {
                release: release.clone(),
            }));
        };
        let command = Command::deploy(environment.clone(), release.clone(), self.actor.clone());
        let slot = match self.roll_out(None, key, key.clone(), command).await? {
            Ok(slot) => slot,
            Err(waiting) => return Ok(Shipped::Waiting(waiting)),
        };
        self.verify(None, key, environment, &service).await?;
        Ok(Shipped::Verified { slot })
    }

    /// Keeps the hotfix lane into `environment` following what `service`
    /// runs there ([`State::hotfix_lane_upkeep`](crate::State::hotfix_lane_upkeep)):
    /// cuts the hotfix branch for that build and deploys the release to
    /// the other environments of the hotfix lane, so that
    /// hotfix-development mirrors production. Call it after every
    /// production deployment. Each action has an idempotency key of its
    /// own (`lane/{environment}/{service}/{release}/{verb}`), so a repeat or
    /// a resume after a crash acts at most once; the journal holds what was
    /// done (the branch move, the deployment), so a resumed driver computes
    /// only what is left. Answers [`DriveReport::Done`] with the keys acted
    /// on (none when the lane already follows), or
    /// [`DriveReport::AwaitingApprovals`] when a mirror deployment needs
    /// them.
    pub async fn keep_hotfix_lane(
        &mut self,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<DriveReport, DriveError> {
        let mut done = Vec::new();
        let due = self.state().hotfix_lane_upkeep(environment, service);
        let Some(release) = self
            .state()
            .hotfix_base(environment, service)
            .map(|b| b.release)
            .filter(|_| !due.is_empty())
        else {
            return Ok(DriveReport::Done { steps: done });
        };
        for action in due {
            let key = match &action {
                EffectAction::CutBranch {
                    service,
                    branch,
                    at,
                } => {
                    let key = IdempotencyKey::new(format!(
                        "lane/{environment}/{service}/{release}/cut-{branch}"
                    ));
                    self.cut_branch(None, &key, (service, branch, at)).await?;
                    key
                }
                EffectAction::Mirror {
                    environment: mirror,
                    service,
                    release: mirrored,
                } => {
                    let key = IdempotencyKey::new(format!(
                        "lane/{environment}/{service}/{release}/mirror-{mirror}"
                    ));
                    if let Err(waiting) =
                        self.mirror(None, &key, (mirror, service, mirrored)).await?
                    {
                        return Ok(waiting);
                    }
                    key
                }
                other => {
                    return Self::fail(
                        &IdempotencyKey::new(format!("lane/{environment}/{service}/{release}")),
                        format!("the lane's upkeep asked for something it cannot do: {other}"),
                    );
                }
            };
            done.push(key);
        }
        Ok(DriveReport::Done { steps: done })
    }

    /// Marks the incident's follow-up to merge `from` back into `onto` done,
    /// once the VCS shows `from`'s head reachable from `onto`'s (asked
    /// through the port, not taken from the step's word); the core checks
    /// the same against the recorded history.
    async fn complete_merge_back(
        &mut self,
        incident: &IncidentId,
        key: &IdempotencyKey,
        service: &ServiceId,
        from: &BranchName,
        onto: &BranchName,
    ) -> Result<(), DriveError> {
        let Some(index) = self.state().incident(incident).and_then(|i| {
            i.follow_ups.iter().position(|f| {
                f.done_at.is_none()
                    && matches!(&f.kind, crate::machine::FollowUpKind::MergeHotfixBack { service: s, branch } if s == service && branch == from)
            })
        }) else {
            return Ok(());
        };
        let (Some(hotfix), Some(head)) = (
            self.state().branch(service, from).cloned(),
            self.state().branch(service, onto).cloned(),
        ) else {
            return Ok(());
        };
        let vcs = &self.ports.vcs;
        let missing = match vcs.commits_between(service, &head, &hotfix).await {
            Ok(missing) => missing,
            Err(e) => return Self::port_read(key, "VCS", e),
        };
        if !missing.is_empty() {
            return Self::fail(
                key,
                format!(
                    "the VCS does not show `{from}` (at `{hotfix}`) reachable from `{onto}` (at `{head}`) after the merge"
                ),
            );
        }
        self.execute(&Command::CompleteFollowUp {
            incident: incident.clone(),
            follow_up: u32::try_from(index).unwrap_or(u32::MAX),
            by: self.actor.clone(),
        })
        .await?;
        Ok(())
    }

    /// Stops with [`DriveError::BranchMoved`] when the VCS has `moved`'s
    /// branch somewhere other than the ledger (someone pushed), naming the
    /// commits the ledger does not know.
    async fn check_branch(
        &self,
        key: &IdempotencyKey,
        moved: &BranchMove,
    ) -> Result<(), DriveError> {
        let vcs = &self.ports.vcs;
        let found = match vcs.head(&moved.service, &moved.branch).await {
            Ok(head) => head,
            Err(e) => return Self::port_read(key, "VCS", e),
        };
        if found == moved.expected {
            return Ok(());
        }
        Err(self.branch_moved(key, moved, found).await)
    }

    async fn branch_moved(
        &self,
        key: &IdempotencyKey,
        moved: &BranchMove,
        found: CommitId,
    ) -> DriveError {
        let between = self
            .ports
            .vcs
            .commits_between(&moved.service, &moved.expected, &found)
            .await
            .unwrap_or_else(|_| vec![found.clone()]);
        DriveError::BranchMoved {
            key: key.clone(),
            service: moved.service.clone(),
            branch: moved.branch.clone(),
            expected: moved.expected.clone(),
            found,
            unknown: between
                .into_iter()
                .filter(|c| self.state().commit(c).is_none())
                .collect(),
        }
    }

    /// Records the commit the VCS made on `onto` with the parents the VCS
    /// reports (and the change it forms, unless recorded already), then
    /// moves the branch there. Safe to repeat, at any later time.
    async fn land(
        &mut self,
        key: &IdempotencyKey,
        service: &ServiceId,
        onto: &BranchName,
        landed: &Landed,
        change: Option<Change>,
    ) -> Result<(), DriveError> {
        let commit = &landed.commit;
        if self.state().commit(commit).is_none() {
            // The VCS says where the commit really sits; a parent the ledger
            // never saw means someone pushed behind its back.
            if let Some(stranger) = landed
                .parents
                .iter()
                .find(|p| self.state().commit(p).is_none())
            {
                let moved = self.branch_move(key, service, onto)?;
                return Err(self.branch_moved(key, &moved, stranger.clone()).await);
            }
            if landed.parents.is_empty() {
                return Self::fail(
                    key,
                    format!("the VCS reports no parent for the new commit `{commit}`"),
                );
            }
            self.execute(&Command::RecordCommit {
                commit: crate::model::Commit::new(commit.clone(), landed.parents.clone()),
            })
            .await?;
        }
        // Recorded before a crash: the same change again is a no-op, even
        // though the clock has moved since.
        if let Some(change) = change.filter(|c| {
            self.state()
                .change(&c.id)
                .is_none_or(|known| known.commits != c.commits)
        }) {
            self.execute(&Command::RecordChange { change }).await?;
        }
        self.execute(&Command::MoveBranch {
            service: service.clone(),
            branch: onto.clone(),
            head: commit.clone(),
        })
        .await?;
        Ok(())
    }

    async fn commit_call(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
        call: Call,
    ) -> Result<Landed, DriveError> {
        match self.call(incident, key, key.clone(), call).await? {
            Produced::Commit(landed) => Ok(landed),
            _ => Self::fail(key, "the VCS answered with something other than a commit"),
        }
    }

    /// Requests (once), starts, rolls out through the deployer and
    /// completes one revision. Safe to repeat after a crash at any point.
    async fn roll_out(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
        sub_key: IdempotencyKey,
        command: Command,
    ) -> Result<Result<Slot, DriveReport>, DriveError> {
        let (environment, service) = match &command {
            Command::Rollback {
                environment,
                service,
                ..
            } => (environment.clone(), service.clone()),
            Command::RequestDeployment {
                environment,
                release,
                ..
            } => {
                let Some(service) = self.state().release(release).map(|r| r.service.clone()) else {
                    return Self::fail(key, format!("release `{release}` is not registered"));
                };
                (environment.clone(), service)
            }
            _ => return Self::fail(key, "not a deployment"),
        };
        let existing = self
            .state()
            .history(&environment, &service)
            .and_then(|h| h.by_effect(&sub_key))
            .map(|d| d.revision);
        let revision = match existing {
            Some(r) => r,
            None => {
                let entries = self.execute(&command.for_effect(sub_key.clone())).await?;
                match entries.first().map(|e| &e.event.kind) {
                    Some(
                        EventKind::DeploymentRequested { slot, .. }
                        | EventKind::RollbackRequested { slot, .. },
                    ) => slot.revision,
                    _ => return Self::fail(key, "the core did not open a revision"),
                }
            }
        };
        let slot = Slot::new(environment.clone(), service.clone(), revision);
        if self.deployment_status(&slot) == Some(DeploymentStatus::Requested) {
            let start = Command::StartRollout { slot: slot.clone() };
            // Approvals come from people: wait for them, never fail on them.
            if let Err(crate::error::Rejection::ApprovalsMissing {
                have, need, role, ..
            }) = crate::machine::decide(self.state(), &start, self.ports.clock.now())
            {
                return Ok(Err(DriveReport::AwaitingApprovals {
                    key: key.clone(),
                    slot,
                    have,
                    need,
                    role,
                }));
            }
            self.execute(&start).await?;
        }
        if self.deployment_status(&slot) == Some(DeploymentStatus::RollingOut) {
            let (release, artifact) = self.release_of(key, &slot)?;
            let expected = release.id.clone();
            let call = Call::Deploy(environment.clone(), Box::new(release), Box::new(artifact));
            match self.call(incident, key, sub_key, call).await {
                Ok(_) => {}
                Err(DriveError::StepFailed { key, failure }) => {
                    // The deployer refused: nothing rolled out. Close the
                    // revision so that it does not block the next plan.
                    self.execute(&Command::AbortRollout {
                        slot: slot.clone(),
                        by: self.actor.clone(),
                        reason: format!("the deployer refused it: {failure}"),
                    })
                    .await?;
                    return Err(DriveError::StepFailed { key, failure });
                }
                Err(other) => return Err(other),
            }
            // Reconcile with what the deployer really serves before the
            // ledger says the rollout completed.
            let found = match self.ports.deployer.status(&environment, &service).await {
                Ok(found) => found,
                Err(e) => return Self::port_read(key, "deployer", e),
            };
            if found.as_ref() != Some(&expected) {
                return Err(DriveError::Diverged {
                    key: key.clone(),
                    environment,
                    service,
                    expected,
                    found,
                });
            }
            self.execute(&Command::CompleteRollout { slot: slot.clone() })
                .await?;
        }
        Ok(Ok(slot))
    }

    fn deployment_status(&self, slot: &Slot) -> Option<DeploymentStatus> {
        Some(
            self.state()
                .history(&slot.environment, &slot.service)?
                .get(slot.revision)?
                .status,
        )
    }

    fn release_of(
        &self,
        key: &IdempotencyKey,
        slot: &Slot,
    ) -> Result<(Release, Artifact), DriveError> {
        let found = self
            .state()
            .history(&slot.environment, &slot.service)
            .and_then(|h| h.get(slot.revision))
            .and_then(|d| self.state().release(&d.release))
            .and_then(|r| Some((r.clone(), self.state().artifact(&r.artifact)?.clone())));
        match found {
            Some(pair) => Ok(pair),
            None => Self::fail(key, format!("the release of {slot} is not registered")),
        }
    }

    /// Checks health of what serves `service` in `environment` and records
    /// the verdict on a revision still verifying.
    async fn verify(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<String, DriveError> {
        let Some(current) = self
            .state()
            .history(environment, service)
            .and_then(|h| h.current())
            .cloned()
        else {
            return Self::fail(
                key,
                format!("nothing of `{service}` serves in `{environment}`"),
            );
        };
        let slot = Slot::new(environment.clone(), service.clone(), current.revision);
        let record = match current.status {
            DeploymentStatus::KnownGood => return Ok(format!("{slot} is known good")),
            DeploymentStatus::Verifying => true,
            // A revision this plan rolled out and found unhealthy (before a
            // crash, say) stays a failed step.
            DeploymentStatus::Failed if self.rolled_out_by_plan(incident, &current) => {
                return Self::unhealthy(key, format!("{slot} failed its verification"));
            }
            // A failed revision stays failed; after a change around it (a
            // flag turned off) only the service's health is checked.
            DeploymentStatus::Failed => false,
            other => return Self::fail(key, format!("{slot} is {other}")),
        };
        let health = match self
            .ports
            .health
            .verify(environment, service, &current.release)
            .await
        {
            Ok(h) => h,
            Err(e) => return Self::port_read(key, "health probe", e),
        };
        if !record {
            return if health.healthy {
                Ok(format!(
                    "`{service}` is healthy in `{environment}` ({}); {slot} stays failed",
                    health.detail
                ))
            } else {
                Self::unhealthy(
                    key,
                    format!(
                        "`{service}` is still unhealthy in `{environment}`: {}",
                        health.detail
                    ),
                )
            };
        }
        let verdict = if health.healthy {
            Verdict::Healthy
        } else {
            Verdict::Unhealthy {
                reason: health.detail.clone(),
            }
        };
        self.execute(&Command::RecordVerification {
            slot: slot.clone(),
            verdict,
            by: self.actor.clone(),
        })
        .await?;
        if health.healthy {
            Ok(format!("{slot} verified: {}", health.detail))
        } else {
            Self::unhealthy(key, format!("{slot} is unhealthy: {}", health.detail))
        }
    }

    /// Whether a step of the incident's current plan opened `deployment`.
    fn rolled_out_by_plan(&self, incident: Option<&IncidentId>, deployment: &Deployment) -> bool {
        let (Some(effect), Some(record)) = (
            &deployment.effect,
            incident.and_then(|i| self.state().incident(i)),
        ) else {
            return false;
        };
        record
            .steps
            .iter()
            .any(|s| crate::machine::opened_for(&s.key, effect))
    }

    /// Builds the head of `branch` and promotes it along `lane` to
    /// `target`, verifying at every stage.
    async fn ship_branch(
        &mut self,
        incident: &IncidentId,
        key: &IdempotencyKey,
        (service, branch): (&ServiceId, &BranchName),
        (lane, fast_track): (Lane, bool),
        target: &EnvironmentId,
    ) -> Result<Result<String, DriveReport>, DriveError> {
        let Some(head) = self.state().branch(service, branch).cloned() else {
            return Self::fail(key, format!("the head of `{branch}` is not recorded"));
        };
        let build_key = IdempotencyKey::new(format!("{key}#build"));
        let Produced::Built(artifact) = self
            .call(
                Some(incident),
                key,
                build_key,
                Call::Build(service.clone(), head.clone()),
            )
            .await?
        else {
            return Self::fail(
                key,
                "the builder answered with something other than an artifact",
            );
        };
        let release_id = crate::machine::built_release_id(&artifact);
        self.execute(&Command::RegisterArtifact {
            artifact: (*artifact).clone(),
        })
        .await?;
        self.execute(&Command::RegisterRelease {
            release: Release::new(
                release_id.clone(),
                service.clone(),
                artifact.digest.clone(),
                "unchanged",
            ),
        })
        .await?;
        if fast_track {
            let by = self.actor.clone();
            self.execute(&crate::machine::fast_track_command(
                &release_id,
                target,
                lane,
                &by,
                incident,
            ))
            .await?;
        }
        let path = self
            .state()
            .pipeline()
            .map(|p| p.ship_path(target, lane, fast_track))
            .unwrap_or_default();
        for env in path {
            let sub_key = crate::machine::ship_key(key, &env);
            let command = Command::deploy(env.clone(), release_id.clone(), self.actor.clone());
            if let Err(waiting) = self.roll_out(Some(incident), key, sub_key, command).await? {
                return Ok(Err(waiting));
            }
            self.verify(Some(incident), key, &env, service).await?;
        }
        let skipped = self
            .state()
            .pipeline()
            .map(|p| p.fast_track_skips(target, lane))
            .filter(|_| fast_track)
            .unwrap_or_default();
        Ok(Ok(if skipped.is_empty() {
            format!("`{release_id}` built from `{head}` and verified up to `{target}`")
        } else {
            let skipped: Vec<String> = skipped.iter().map(|e| format!("`{e}`")).collect();
            format!(
                "`{release_id}` built from `{head}`, fast-tracked past {} and verified up to `{target}`",
                skipped.join(", ")
            )
        }))
    }

    /// One port call under `call_key`, reconciled: if the step was started
    /// before, or the call's outcome is unknown, the port is asked what
    /// happened under the key before anything is done (again).
    async fn call(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
        call_key: IdempotencyKey,
        call: Call,
    ) -> Result<Produced, DriveError> {
        // Ask first: after a crash the call may have happened already.
        if let Some(done) = self.ask(key, &call_key, &call).await? {
            return Ok(done);
        }
        // A branch is moved only from where the ledger has it.
        if let Some(moved) = call.moves() {
            self.check_branch(key, moved).await?;
        }
        let mut last = None;
        for _ in 0..2 {
            self.keep_lease(incident, key).await?;
            match self.act(&call_key, &call).await {
                Ok(done) => return Ok(done),
                Err(e) if e.needs_reconciling() => {
                    self.record(
                        incident,
                        key,
                        EffectOutcome::Unknown {
                            error: e.to_string(),
                        },
                    )
                    .await?;
                    let happened = self.ask(key, &call_key, &call).await?;
                    self.record(
                        incident,
                        key,
                        EffectOutcome::Reconciled {
                            happened: happened.is_some(),
                        },
                    )
                    .await?;
                    if let Some(done) = happened {
                        return Ok(done);
                    }
                    last = Some(e);
                }
                Err(error) => {
                    // A conflict on a branch move is either a push that
                    // raced the call (not a failure of the step: nothing
                    // happened) or a change that does not apply.
                    if error.kind() == ErrorKind::Conflict
                        && let Some(moved) = call.moves()
                    {
                        self.check_branch(key, moved).await?;
                    }
                    return Err(DriveError::StepFailed {
                        key: key.clone(),
                        failure: StepFailure::Port {
                            port: call.port(),
                            error,
                        },
                    });
                }
            }
        }
        Err(DriveError::Unresolved {
            key: key.clone(),
            port: call.port(),
            error: last.unwrap_or_else(|| {
                AdapterError::new(ErrorKind::Unavailable, "it stayed unavailable")
            }),
        })
    }

    /// One port call, in a `port_call` span (port, key) when tracing, with
    /// its outcome as an event in the span.
    async fn act(&self, key: &IdempotencyKey, call: &Call) -> Result<Produced, AdapterError> {
        #[cfg(feature = "tracing")]
        {
            use tracing::Instrument as _;
            let span = tracing::info_span!(target: "knowngood", "port_call", port = call.port(), key = %key);
            let result = self.act_untraced(key, call).instrument(span.clone()).await;
            span.in_scope(|| match &result {
                Ok(_) => tracing::info!(target: "knowngood", "port call done"),
                Err(e) => tracing::warn!(target: "knowngood", kind = %e.kind(), error = %e, "port call failed"),
            });
            result
        }
        #[cfg(not(feature = "tracing"))]
        self.act_untraced(key, call).await
    }

    async fn act_untraced(
        &self,
        key: &IdempotencyKey,
        call: &Call,
    ) -> Result<Produced, AdapterError> {
        let p = &self.ports;
        Ok(match call {
            Call::Revert(m, commits) => Produced::Commit(
                p.vcs
                    .revert(key, &m.service, commits, &m.branch, &m.expected)
                    .await?,
            ),
            Call::Branch(service, branch, at) => Produced::Commit(Landed::named(
                p.vcs.create_branch(key, service, branch, at).await?,
            )),
            Call::Tag(service, commit, tag) => {
                Produced::Commit(Landed::named(p.vcs.tag(key, service, commit, tag).await?))
            }
            Call::Pick(m, commits) => Produced::Commit(
                p.vcs
                    .cherry_pick(key, &m.service, commits, &m.branch, &m.expected)
                    .await?,
            ),
            Call::Merge(m, from) => Produced::Commit(
                p.vcs
                    .merge(key, &m.service, from, &m.branch, &m.expected)
                    .await?,
            ),
            Call::Deploy(env, release, artifact) => {
                p.deployer.deploy(key, env, release, artifact).await?;
                Produced::Deployed
            }
            Call::Abort(env, service) => {
                p.deployer.abort(key, env, service).await?;
                Produced::Deployed
            }
            Call::Flag(env, flag, state, expected) => {
                let flags = p.flags.clone().ok_or_else(|| {
                    AdapterError::new(
                        crate::port::ErrorKind::Rejected,
                        "the host has no flag store",
                    )
                })?;
                Produced::Revision(flags.set(key, env, flag, state, *expected).await?)
            }
            Call::Build(service, commit) => {
                Produced::Built(Box::new(p.builder.build(key, service, commit).await?))
            }
        })
    }

    async fn ask(
        &self,
        key: &IdempotencyKey,
        call_key: &IdempotencyKey,
        call: &Call,
    ) -> Result<Option<Produced>, DriveError> {
        let p = &self.ports;
        let asked = match call {
            Call::Revert(..)
            | Call::Branch(..)
            | Call::Tag(..)
            | Call::Pick(..)
            | Call::Merge(..) => p
                .vcs
                .outcome(call_key)
                .await
                .map(|o| o.map(Produced::Commit)),
            Call::Deploy(..) | Call::Abort(..) => p
                .deployer
                .outcome(call_key)
                .await
                .map(|o| o.map(|_| Produced::Deployed)),
            Call::Flag(..) => match p.flags.clone() {
                Some(flags) => flags
                    .outcome(call_key)
                    .await
                    .map(|o| o.map(Produced::Revision)),
                None => Ok(None),
            },
            Call::Build(..) => p
                .builder
                .outcome(call_key)
                .await
                .map(|o| o.map(|a| Produced::Built(Box::new(a)))),
        };
        asked.map_err(|error| DriveError::Unresolved {
            key: key.clone(),
            port: call.port(),
            error,
        })
    }
}

/// The instruction for a step only a person can take, if it is one.
fn host_step(action: &EffectAction) -> Option<String> {
    match action {
        EffectAction::LandFix { onto, .. } => Some(format!(
            "land the fix on `{onto}` (record its commit and change, declare it a fix of the suspected change with DeclareFix, and move the branch), then confirm this step"
        )),
        EffectAction::MigrateDown {
            environment,
            service,
            to,
        } => Some(format!(
            "migrate `{service}`'s schema in `{environment}` down to {to}, record it with ApplyMigration, then confirm this step"
        )),
        _ => None,
    }
}
