//! The ledger: the state together with the journal it is folded from.

use chrono::{DateTime, Utc};

use crate::error::Rejection;
use crate::journal::{Chain, Journal, JournalEntry, ReplayError, Snapshot};
use crate::machine::{Command, State, decide};

/// The state and its journal, kept in step: every accepted command is
/// decided, journaled and applied in one call.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use knowngood::{Command, Ledger, Service};
/// let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let mut ledger = Ledger::new();
/// ledger.execute(&Command::RegisterService { service: Service::new("payments") }, now).unwrap();
/// let rebuilt = Ledger::from_journal(ledger.journal().clone()).unwrap();
/// assert_eq!(rebuilt.state(), ledger.state());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    state: State,
    journal: Journal,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the state from a journal.
    pub fn from_journal(journal: Journal) -> Result<Self, ReplayError> {
        let state = journal.replay()?;
        Ok(Self { state, journal })
    }

    /// A ledger that starts from a snapshot, opened with the journal's
    /// `chain`: its state is the snapshot's, its journal holds no entry
    /// yet and goes on from the snapshot's head. Bring it up to date with
    /// the entries stored after the snapshot ([`Ledger::catch_up`]), which
    /// must link onto the snapshot's hash.
    pub fn from_snapshot(snapshot: Snapshot, chain: Chain) -> Self {
        Self {
            journal: Journal::after(snapshot.head, snapshot.streams, chain),
            state: snapshot.state,
        }
    }

    /// Lets go of the journal entries held in memory; the state, the
    /// length and the last hash stay (see [`Journal::forget_held`]).
    pub fn forget_held(&mut self) {
        self.journal.forget_held();
    }

    /// Decides `command` at time `now`; if accepted, journals and applies
    /// its events and returns the new entries (none when the command
    /// changes nothing, such as registering a known service again). A
    /// rejected command leaves state and journal untouched.
    pub fn execute(
        &mut self,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<&[JournalEntry], Rejection> {
        let events = decide(&self.state, command, now)?;
        // `decide` only yields events that apply; should that ever break,
        // go back to the state before the command rather than keep it half
        // applied (a copy-on-write copy, taken only when there is more
        // than one event to apply).
        let before = (events.len() > 1).then(|| self.snapshot());
        for event in &events {
            if let Err(rejection) = self.state.apply(event) {
                if let Some(before) = before {
                    self.state = before;
                }
                return Err(rejection);
            }
        }
        Ok(self.journal.record(events))
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The journal so far.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Appends entries another writer stored after this ledger's last one,
    /// checking that each follows on (position, stream version, hash link)
    /// and replaying it: the incremental counterpart of
    /// [`Ledger::from_journal`]. On a bad entry nothing from it on is taken.
    pub fn catch_up(
        &mut self,
        entries: impl IntoIterator<Item = JournalEntry>,
    ) -> Result<usize, CatchUpError> {
        let mut taken = 0_usize;
        for entry in entries {
            let position = entry.position;
            let event = entry.event.clone();
            self.state.fold();
            let before = self.state.clone();
            self.journal
                .push_checked(entry, None)
                .map_err(|problem| CatchUpError::Corrupt { position, problem })?;
            if let Err(rejection) = self.state.apply(&event) {
                let len = self.journal.len().saturating_sub(1);
                self.rewind(len, before);
                return Err(CatchUpError::Replay(ReplayError {
                    position,
                    rejection,
                }));
            }
            taken = taken.saturating_add(1);
        }
        Ok(taken)
    }

    /// [`Ledger::catch_up`] without the way back: for a ledger being
    /// started, which is thrown away whole when an entry does not take.
    pub(crate) fn fold_in(
        &mut self,
        entries: impl IntoIterator<Item = JournalEntry>,
    ) -> Result<(), CatchUpError> {
        for entry in entries {
            let position = entry.position;
            let event = entry.event.clone();
            self.journal
                .push_checked(entry, None)
                .map_err(|problem| CatchUpError::Corrupt { position, problem })?;
            self.state.apply(&event).map_err(|rejection| ReplayError {
                position,
                rejection,
            })?;
        }
        Ok(())
    }

    /// A snapshot of the state to [`rewind`](Ledger::rewind) to: a cheap
    /// copy-on-write clone, taken after folding the state's private layers
    /// so that repeated snapshots stay cheap.
    pub(crate) fn snapshot(&mut self) -> State {
        self.state.fold();
        self.state.clone()
    }

    /// Forgets every entry after the first `len` and takes `state` (the
    /// state those entries lead to, kept by the caller) as the current
    /// state: undoing an execution whose entries a store did not take,
    /// without replaying the journal.
    pub(crate) fn rewind(&mut self, len: usize, state: State) {
        self.journal.truncate(len);
        self.state = state;
    }

    /// Gives up the ledger, keeping its journal.
    pub fn into_journal(self) -> Journal {
        self.journal
    }
}

/// An entry that cannot extend a ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatchUpError {
    /// It does not follow on from the ledger's last entry.
    #[error("journal entry {position} {problem}")]
    Corrupt {
        /// The entry's position.
        position: u64,
        /// What is wrong with it.
        problem: crate::journal::LineProblem,
    },
    /// It follows on, but its event contradicts the state.
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

impl Snapshot {
    /// The snapshot of a ledger as it stands.
    pub fn of(ledger: &Ledger) -> Snapshot {
        Snapshot::new(ledger.journal(), ledger.state().clone())
    }
}
