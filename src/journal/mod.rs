//! The journal: an append-only log of events, split into streams, from
//! which the state is rebuilt.
//!
//! Every entry has a global `position` (1, 2, 3 … across the journal) and
//! a `version` within its stream (1, 2, 3 … per stream). Writers append to
//! one stream at a time with the version they last saw
//! ([`ExpectedVersion`]): a stale writer gets [`JournalError::Conflict`],
//! never a silent overwrite.
//!
//! On disk the journal is JSON Lines, one entry per line, each carrying the
//! format version `v` (see [`Journal::write_jsonl`] and
//! [`Journal::from_jsonl`]).

mod chain;
mod jsonl;
mod snapshot;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Rejection;
use crate::machine::{Event, State};

pub use chain::{Chain, ChainHead, EntryHash, TamperEvidence};
pub use jsonl::{CorruptJournal, FORMAT_VERSION, LineProblem, MAX_LINE_BYTES};
pub use snapshot::{SNAPSHOT_FORMAT, Snapshot, SnapshotProblem, StoredSnapshot};

pub use crate::machine::StreamId;

/// What a writer believes a stream's version to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ExpectedVersion {
    /// Append whatever the version (use only where no one else writes).
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must hold exactly this many entries.
    Exactly(u64),
}

impl ExpectedVersion {
    fn admits(self, actual: u64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => actual == 0,
            Self::Exactly(v) => v == actual,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any version"),
            Self::NoStream => f.write_str("no stream"),
            Self::Exactly(v) => write!(f, "version {v}"),
        }
    }
}

/// One event as recorded. Serde gives its fields as they are (a store may
/// keep them in columns); [`JournalEntry::to_line`] and
/// [`JournalEntry::from_line`] give the one-line JSON Lines form with its
/// hash, checked. Entries read back either way are checked again by
/// [`Journal::read_entries`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JournalEntry {
    /// Its place in the whole journal, from 1.
    pub position: u64,
    /// The stream it belongs to.
    pub stream: StreamId,
    /// Its place in that stream, from 1.
    pub version: u64,
    /// The event.
    pub event: Event,
    /// The entry's link in the hash chain.
    pub hash: EntryHash,
}

/// Why an append was refused. The journal is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// Someone else appended to the stream since the writer last read it.
    #[error(
        "stream `{stream}` is at version {actual} but the writer expected {expected}: read the stream again, decide again, then append"
    )]
    Conflict {
        /// The stream.
        stream: StreamId,
        /// What the writer expected.
        expected: ExpectedVersion,
        /// The stream's actual version.
        actual: u64,
    },
    /// An event belongs to another stream than the one appended to.
    #[error(
        "a `{event}` event belongs to stream `{belongs_to}`, not `{stream}`: append it to its own stream"
    )]
    WrongStream {
        /// The stream appended to.
        stream: StreamId,
        /// The stream the event belongs to.
        belongs_to: StreamId,
        /// The event's type tag.
        event: String,
    },
}

/// A journal entry that does not fold into the state built from the entries
/// before it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("journal entry {position} does not follow from the entries before it: {rejection}")]
pub struct ReplayError {
    /// The entry's position.
    pub position: u64,
    /// What is wrong with it.
    pub rejection: Rejection,
}

/// The append-only event log.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use knowngood::{Event, EventKind, ExpectedVersion, Journal, Service, StreamId};
/// let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let event = Event::new(at, EventKind::ServiceRegistered { service: Service::new("payments") });
/// let mut journal = Journal::new();
/// journal.append(&StreamId::catalog(), ExpectedVersion::NoStream, vec![event.clone()]).unwrap();
/// // A second writer that still believes the stream is empty is refused.
/// assert!(journal.append(&StreamId::catalog(), ExpectedVersion::NoStream, vec![event]).is_err());
/// assert_eq!(journal.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journal {
    entries: Vec<JournalEntry>,
    streams: BTreeMap<StreamId, u64>,
    chain: Chain,
    /// Where the held entries start: `None` for a journal held from its
    /// first entry, else the head of what came before (a snapshot's, or
    /// what [`Journal::forget_held`] let go).
    start: Option<ChainHead>,
}

impl Journal {
    /// An empty journal on the unnamed, unkeyed [`Chain`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty journal whose entries are linked by `chain`. Read it back
    /// with the same chain ([`Journal::read_jsonl`],
    /// [`Journal::read_entries`]).
    pub fn with_chain(chain: Chain) -> Self {
        Self {
            chain,
            ..Self::default()
        }
    }

    /// How the journal links its entries.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Every entry held in memory, oldest first: the whole journal, unless
    /// it was started from a snapshot ([`Journal::after`]) or let go of
    /// what it held ([`Journal::forget_held`]), in which case the entries
    /// after [`Journal::held_from`].
    pub fn entries(&self) -> &[JournalEntry] {
        &self.entries
    }

    /// The entries held from `position` on (positions start at 1; entries
    /// before [`Journal::held_from`] are not held and not returned).
    pub fn read_from(&self, position: u64) -> &[JournalEntry] {
        let start = usize::try_from(position.saturating_sub(self.held_from().saturating_add(1)))
            .unwrap_or(usize::MAX);
        self.entries.get(start..).unwrap_or(&[])
    }

    /// How many entries the journal has, held in memory or not: the
    /// position of its last entry.
    pub fn len(&self) -> usize {
        usize::try_from(self.held_from())
            .unwrap_or(usize::MAX)
            .saturating_add(self.entries.len())
    }

    /// Whether the journal has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many entries come before the first one held in memory: 0 for a
    /// journal held whole.
    pub fn held_from(&self) -> u64 {
        self.start.map_or(0, |head| head.len)
    }

    /// An empty journal that goes on from `head` (the journal's length and
    /// last hash, as a [`Snapshot`] records them), with its streams at
    /// `streams`: entries up to the head are not held, only checked
    /// against (the next entry must link onto the head's hash).
    pub fn after(head: ChainHead, streams: BTreeMap<StreamId, u64>, chain: Chain) -> Journal {
        Journal {
            entries: Vec::new(),
            streams,
            chain,
            start: (head.len > 0).then_some(head),
        }
    }

    /// Lets go of every entry held in memory, keeping the length, the last
    /// hash and the stream versions, so the journal goes on exactly as
    /// before: for a host that starts from snapshots and does not want the
    /// history in memory. What was let go stays in the store.
    pub fn forget_held(&mut self) {
        if self.entries.is_empty() {
            return;
        }
        self.start = Some(self.head());
        self.entries = Vec::new();
    }

    /// The stream versions: how many entries each stream has.
    pub fn streams(&self) -> &BTreeMap<StreamId, u64> {
        &self.streams
    }

    /// How many entries a stream holds (0 if it does not exist).
    pub fn stream_version(&self, stream: &StreamId) -> u64 {
        self.streams.get(stream).copied().unwrap_or(0)
    }

    /// The position the next entry will get.
    pub fn next_position(&self) -> u64 {
        (self.len() as u64).saturating_add(1)
    }

    /// Appends `events` to `stream` if its version is what the writer
    /// expects and every event belongs to it; otherwise appends nothing.
    /// Returns the new entries.
    pub fn append(
        &mut self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<Event>,
    ) -> Result<&[JournalEntry], JournalError> {
        let actual = self.stream_version(stream);
        if !expected.admits(actual) {
            return Err(JournalError::Conflict {
                stream: stream.clone(),
                expected,
                actual,
            });
        }
        if let Some((belongs_to, event)) = events
            .iter()
            .map(|e| (e.stream(), e))
            .find(|(s, _)| s != stream)
        {
            return Err(JournalError::WrongStream {
                stream: stream.clone(),
                belongs_to,
                event: event.kind.type_name().to_owned(),
            });
        }
        Ok(self.record(events))
    }

    /// Appends events decided against the state this journal folds into:
    /// each goes to its own stream at that stream's next version.
    pub(crate) fn record(&mut self, events: Vec<Event>) -> &[JournalEntry] {
        let first = self.entries.len();
        for event in events {
            let stream = event.stream();
            let version = self.streams.entry(stream.clone()).or_insert(0);
            *version = version.saturating_add(1);
            let version = *version;
            let position = self.next_position();
            let hash = self.chain.link(
                &self.head().hash,
                &jsonl::canonical_bytes(position, &stream, version, &event),
            );
            self.entries.push(JournalEntry {
                position,
                stream,
                version,
                event,
                hash,
            });
        }
        &self.entries[first..]
    }

    /// How many entries the journal holds and the hash of the last one.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            len: self.len() as u64,
            hash: self.entries.last().map_or_else(
                || {
                    self.start
                        .map_or_else(|| self.chain.genesis(), |head| head.hash)
                },
                |e| e.hash,
            ),
        }
    }

    /// Recomputes the hash chain and names the first entry whose hash does
    /// not follow from the entries before it.
    pub fn verify_chain(&self) -> Result<(), TamperEvidence> {
        self.verify_links_from(0)
    }

    /// [`Journal::verify_chain`] for the held entries from index `start`
    /// on (0-based among [`Journal::entries`]), trusting the link before
    /// them.
    pub fn verify_links_from(&self, start: usize) -> Result<(), TamperEvidence> {
        let mut previous = self.hash_after(
            usize::try_from(self.held_from())
                .unwrap_or(usize::MAX)
                .saturating_add(start),
        );
        for e in self.entries.iter().skip(start) {
            let expected = self.chain.link(
                &previous,
                &jsonl::canonical_bytes(e.position, &e.stream, e.version, &e.event),
            );
            if e.hash != expected {
                return Err(TamperEvidence::BrokenLink {
                    position: e.position,
                });
            }
            previous = e.hash;
        }
        Ok(())
    }

    /// Checks the journal against a head recorded elsewhere: it must hold
    /// at least that many entries, and the entry at the head's position
    /// must carry the head's hash. Together with an intact chain this
    /// proves nothing recorded up to the head was cut, edited or replaced.
    pub fn verify_head(&self, recorded: &ChainHead) -> Result<(), TamperEvidence> {
        let len = self.len() as u64;
        if len < recorded.len {
            return Err(TamperEvidence::Truncated {
                len,
                expected: recorded.len,
            });
        }
        let at = usize::try_from(recorded.len).unwrap_or(usize::MAX);
        if self.hash_after(at) != recorded.hash {
            return Err(TamperEvidence::HeadMismatch {
                position: recorded.len,
            });
        }
        Ok(())
    }

    /// The hash of the entry at `len` (the chain's genesis for 0, and
    /// for a `len` past the end or before the held entries other than the
    /// start's own).
    fn hash_after(&self, len: usize) -> EntryHash {
        let held_from = usize::try_from(self.held_from()).unwrap_or(usize::MAX);
        match (self.start, len.checked_sub(held_from)) {
            (Some(head), Some(0)) => head.hash,
            (_, Some(held)) => held
                .checked_sub(1)
                .and_then(|i| self.entries.get(i))
                .map_or_else(|| self.chain.genesis(), |e| e.hash),
            (_, None) => self.chain.genesis(),
        }
    }

    /// A journal on the unnamed chain from entries read out of a store,
    /// checked like a file (see [`Journal::read_entries`]).
    pub fn from_entries(
        entries: impl IntoIterator<Item = JournalEntry>,
    ) -> Result<Journal, CorruptJournal> {
        Journal::new().read_entries(entries)
    }

    /// Takes entries read out of a store after this journal's own, checked
    /// like a file: positions, stream versions and the hash chain (this
    /// journal's [`Chain`]) must follow on. The error names the first
    /// entry that does not (its 1-based place among `entries`), with
    /// everything before it.
    ///
    /// ```
    /// use knowngood::{Chain, Journal, LineProblem};
    /// # use knowngood::{Command, Ledger, Service};
    /// # use chrono::{TimeZone, Utc};
    /// # let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let mut ledger = Ledger::from_journal(Journal::with_chain(Chain::named("payments-prod"))).unwrap();
    /// ledger.execute(&Command::RegisterService { service: Service::new("payments") }, now).unwrap();
    /// let stored = ledger.journal().entries().to_vec();
    ///
    /// let read = Journal::with_chain(Chain::named("payments-prod")).read_entries(stored.clone());
    /// assert_eq!(read.unwrap(), *ledger.journal());
    /// // The same entries read as another journal are refused at the first.
    /// let err = Journal::with_chain(Chain::named("payments-staging")).read_entries(stored).unwrap_err();
    /// assert_eq!(err.line, 1);
    /// assert!(matches!(err.problem, LineProblem::ForeignStart { .. }));
    /// ```
    pub fn read_entries(
        mut self,
        entries: impl IntoIterator<Item = JournalEntry>,
    ) -> Result<Journal, CorruptJournal> {
        for (index, entry) in entries.into_iter().enumerate() {
            if let Err(problem) = self.push_checked(entry, None) {
                return Err(CorruptJournal {
                    line: index.saturating_add(1),
                    problem,
                    intact: Box::new(self),
                });
            }
        }
        Ok(self)
    }

    /// The first `len` entries (a journal held whole; of one that starts
    /// after a snapshot, the held entries up to position `len`).
    #[must_use]
    pub fn truncated(&self, len: usize) -> Journal {
        let mut journal = self.clone();
        journal.truncate(len);
        journal
    }

    /// Drops every held entry after position `len`, in place (what a store
    /// did not take): O(dropped entries).
    pub(crate) fn truncate(&mut self, len: usize) {
        while self.len() > len {
            let Some(entry) = self.entries.pop() else {
                break;
            };
            if entry.version > 1 {
                self.streams
                    .insert(entry.stream, entry.version.saturating_sub(1));
            } else {
                self.streams.remove(&entry.stream);
            }
        }
    }

    /// Rebuilds the state by folding every entry, oldest first. A journal
    /// that does not hold its first entries (started after a snapshot)
    /// cannot be replayed: start it from its snapshot
    /// ([`Ledger::from_snapshot`](crate::Ledger::from_snapshot)).
    pub fn replay(&self) -> Result<State, ReplayError> {
        if let Some(head) = self.start {
            return Err(ReplayError {
                position: head.len,
                rejection: Rejection::JournalNotHeldWhole {
                    held_from: head.len,
                },
            });
        }
        let mut state = State::new();
        for entry in &self.entries {
            state.apply(&entry.event).map_err(|rejection| ReplayError {
                position: entry.position,
                rejection,
            })?;
        }
        Ok(state)
    }
}
