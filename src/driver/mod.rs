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
//!   [`AdapterError`](crate::port::AdapterError) and its kind. A rollout the
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

use crate::journal::{Journal, JournalEntry};
use crate::ledger::Ledger;
use crate::machine::{Command, State};
use crate::model::{Actor, IncidentId};
use crate::port::{ErrorKind, Ports};
use crate::recovery::{EffectOutcome, IdempotencyKey};
use crate::startup::{PAGE, StartReport, Startup, fold_error, open_ledger};
use lease::HeldLease;
use snapshots::SnapshotSchedule;

mod branches;
mod calls;
mod deliver;
mod detect;
mod drive;
mod error;
mod flags;
mod hotfix_lane;
mod lease;
mod migrate;
mod promote;
mod remediate;
mod report;
mod ship;
mod snapshots;
mod sync;

pub use error::{DriveError, StepFailure};
pub use migrate::MigrationPace;
pub use report::{Delivered, DeliveryWait, DriveReport, FlagRollout, Migrated, Shipped};
pub use sync::Synced;

/// Carries recovery plans out through the host's ports.
#[derive(Debug)]
pub struct Driver {
    ports: Ports,
    ledger: Ledger,
    actor: Actor,
    started: StartReport,
    lease: Option<HeldLease>,
    snapshots: Option<SnapshotSchedule>,
    /// How many times another writer appended first and a command was
    /// decided again on what it appended.
    decided_again: u64,
    /// How far behind the journal the clock may be and still act.
    clock_skew: chrono::Duration,
    /// What [`Driver::ship`] ships to while it holds the lease on it.
    shipping: Option<(crate::model::EnvironmentId, crate::model::ServiceId)>,
    /// While a plan is driven: who chose it and the clearance they
    /// brought. Its steps' commands are issued as them, each with the part
    /// of the clearance it needs, exactly as the core rehearsed the plan.
    acting_for: Option<(Actor, crate::machine::Clearance)>,
}

impl Driver {
    /// Who the driver's commands are issued as: the chooser of the plan
    /// being driven, or the driver's own actor.
    pub(super) fn acting(&self) -> Actor {
        self.acting_for
            .as_ref()
            .map_or_else(|| self.actor.clone(), |(by, _)| by.clone())
    }
}

/// The clock skew a driver tolerates unless told otherwise.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// How many times the driver decides a command again after another writer
/// appended first, before it gives up with the store's conflict.
const RACES: u32 = 5;

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
            decided_again: 0,
            clock_skew: CLOCK_SKEW,
            shipping: None,
            acting_for: None,
        })
    }

    /// A driver over the journal the store holds (after a restart, in
    /// another process, or after a crash), acting as `actor`: it reads the
    /// whole store a page at a time, checks it (positions, stream
    /// versions, the hash chain) and replays it. An empty store is refused
    /// ([`DriveError::NothingToResume`]): a first run is [`Driver::start`],
    /// and an empty store where a journal was expected is a misspelt
    /// journal name or lost data, never a history to begin again. To start
    /// from a snapshot, see [`Driver::resume_with`].
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
        if ledger.journal().is_empty() {
            // A journal's name misspelt, a store that lost its data, a
            // first run: none of them is a resume.
            return Err(DriveError::NothingToResume);
        }
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
            decided_again: 0,
            clock_skew: CLOCK_SKEW,
            shipping: None,
            acting_for: None,
        })
    }

    /// How this driver started: from which snapshot, passing over which
    /// (and why), folding in how many entries.
    pub fn started(&self) -> &StartReport {
        &self.started
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
                    // What belongs to this replica, not to the store, stays:
                    // the lease it holds, its snapshot schedule, its count.
                    let lease = self.lease.take();
                    let snapshots = self.snapshots.take();
                    let (decided_again, clock_skew) = (self.decided_again, self.clock_skew);
                    let shipping = self.shipping.take();
                    *self = rebuilt;
                    self.shipping = shipping;
                    self.lease = lease;
                    self.snapshots = snapshots;
                    self.decided_again = decided_again;
                    self.clock_skew = clock_skew;
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
    ///
    /// When another writer (a replica, another process) appended first,
    /// the store answers a conflict: the driver reads what it missed,
    /// decides the command again on that (it may now be refused, or cause
    /// other events) and appends again, a few times at most, and counts it
    /// ([`Driver::decided_again`], and a `tracing` event). Any other failure
    /// of the store, or a conflict that persists, stops it with
    /// [`DriveError::Journal`].
    pub async fn execute(&mut self, command: &Command) -> Result<Vec<JournalEntry>, DriveError> {
        let mut races = 0;
        loop {
            let before = self.ledger.journal().len();
            // Cheap (copy-on-write), and it saves replaying the whole
            // journal when the store does not take the entries.
            let saved = self.ledger.snapshot();
            let now = self.now();
            // A plan's step is judged as the core rehearsed it: with the
            // part of the chooser's clearance it needs.
            let fitted;
            let command = match &self.acting_for {
                Some((_, clearance)) => {
                    fitted = command
                        .clone()
                        .with_clearance(crate::machine::fitted_clearance(
                            self.ledger.state(),
                            command,
                            clearance,
                        ));
                    &fitted
                }
                None => command,
            };
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
            // Holding a lease, the append carries it: a store that keeps
            // the leases refuses it once another replica took over.
            let appended = match self.fence() {
                Some(fence) => {
                    self.ports
                        .journal
                        .append_fenced(before as u64, &entries, &fence)
                        .await
                }
                None => self.ports.journal.append(before as u64, &entries).await,
            };
            match appended {
                Ok(()) => {
                    self.snapshot_if_due().await;
                    return Ok(entries);
                }
                Err(e) => {
                    // The store is the truth: forget what it did not take.
                    self.ledger.rewind(before, saved);
                    if e.kind() != ErrorKind::Conflict || races >= RACES {
                        return Err(DriveError::Journal(e));
                    }
                    races = races.saturating_add(1);
                    self.decided_again = self.decided_again.saturating_add(1);
                    crate::trace::info!(
                        command = command.name(),
                        race = races,
                        "another writer appended first: reading what it appended and deciding again"
                    );
                    self.refresh().await?;
                }
            }
        }
    }

    /// How many times, over this driver's life, another writer appended
    /// first and a command was decided again on what it appended
    /// ([`Driver::execute`]).
    pub fn decided_again(&self) -> u64 {
        self.decided_again
    }

    /// The time to stamp a command with: the clock's, or the journal's
    /// last event's when the clock is behind it by no more than the skew
    /// tolerated ([`Driver::tolerate_clock_skew`], five minutes unless
    /// set): a replica whose clock is a little late, or was stepped back,
    /// takes over without being refused for time going backwards, and the
    /// journal keeps its order. A clock further behind is the core's to
    /// refuse (`clock-went-backwards`): fix the clock.
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let clock = self.ports.clock.now();
        match self.ledger.state().last_event_at() {
            Some(last)
                if last > clock
                    && clock
                        .checked_add_signed(self.clock_skew)
                        .is_some_and(|c| c >= last) =>
            {
                crate::trace::warning!(
                    clock = %clock,
                    last = %last,
                    "the clock is behind the journal: commands are stamped with its last event's time"
                );
                last
            }
            _ => clock,
        }
    }

    /// How far behind the journal's last event this driver's clock may be
    /// and still act, stamping its commands with that event's time: five
    /// minutes unless set; zero refuses any clock behind the journal.
    #[must_use]
    pub fn tolerate_clock_skew(mut self, skew: std::time::Duration) -> Self {
        self.clock_skew = chrono::Duration::from_std(skew).unwrap_or(chrono::Duration::MAX);
        self
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
}
