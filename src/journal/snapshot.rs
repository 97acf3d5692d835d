//! Snapshots: the state at a journal position, so that a long history
//! starts from the snapshot plus the entries after it instead of replaying
//! everything.
//!
//! A snapshot is never trusted on its own word. It records the journal's
//! head where it was taken (the position and the hash of the entry there);
//! a reader uses it only when the journal holds an entry at that position
//! with that hash, and when its seal (the journal's [`Chain`] link of the
//! head hash and the snapshot's bytes, bound to the chain's name) holds. A
//! keyed chain makes the seal a MAC, so a snapshot cannot be forged without
//! the key either.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Chain, ChainHead, EntryHash, Journal, StreamId};
use crate::machine::State;

/// The snapshot format this version writes and reads.
pub const SNAPSHOT_FORMAT: u32 = 2;

/// The state folded from a journal's first `head.len` entries, with what a
/// journal needs to go on from there (its head and its stream versions).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use knowngood::{Chain, Command, Ledger, Service, Snapshot};
/// let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let mut ledger = Ledger::new();
/// ledger.execute(&Command::RegisterService { service: Service::new("payments") }, now).unwrap();
///
/// let stored = Snapshot::of(&ledger).seal(&Chain::unnamed());
/// assert_eq!(stored.position, 1);
/// let opened = stored.open(&Chain::unnamed()).unwrap();
/// let started = Ledger::from_snapshot(opened, Chain::unnamed());
/// assert_eq!(started.state(), ledger.state());
/// assert_eq!(started.journal().head(), ledger.journal().head());
/// // Opened with another chain, the seal does not hold.
/// assert!(stored.open(&Chain::named("elsewhere")).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Snapshot {
    /// The snapshot format ([`SNAPSHOT_FORMAT`]).
    pub format: u32,
    /// The journal's length and last hash when it was taken.
    pub head: ChainHead,
    /// How many entries each stream had.
    pub streams: BTreeMap<StreamId, u64>,
    /// The state those entries fold into.
    pub state: State,
}

impl Snapshot {
    /// The snapshot of `state`, which must be what `journal` folds into.
    pub(crate) fn new(journal: &Journal, state: State) -> Snapshot {
        Snapshot {
            format: SNAPSHOT_FORMAT,
            head: journal.head(),
            streams: journal.streams().clone(),
            state,
        }
    }

    /// The form a store keeps: the snapshot's JSON, sealed onto the head's
    /// hash with `chain` (the journal's own chain).
    pub fn seal(&self, chain: &Chain) -> StoredSnapshot {
        // A snapshot holds plain data with string keys: it serialises.
        let body = serde_json::to_string(self).unwrap_or_default();
        StoredSnapshot {
            position: self.head.len,
            hash: self.head.hash,
            seal: seal(chain, &self.head.hash, &body),
            body,
        }
    }
}

/// A snapshot as a journal store keeps it: where it was taken, the hash of
/// the journal's entry there, a seal over the body, and the body (the
/// snapshot's JSON). Stores keep these four as they are and hand them back;
/// [`StoredSnapshot::open`] checks them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredSnapshot {
    /// The journal position the snapshot was taken at (its length then).
    pub position: u64,
    /// The hash of the journal's entry at that position.
    pub hash: EntryHash,
    /// The journal chain's link of its genesis, `hash` and the body's
    /// bytes.
    pub seal: EntryHash,
    /// The snapshot, as JSON.
    pub body: String,
}

impl StoredSnapshot {
    /// A stored snapshot from its four parts, as a store read them.
    pub fn new(position: u64, hash: EntryHash, seal: EntryHash, body: String) -> StoredSnapshot {
        StoredSnapshot {
            position,
            hash,
            seal,
            body,
        }
    }

    /// Checks the seal with `chain`, reads the body and checks that it was
    /// taken where the store says. Whether the journal really holds that
    /// hash at that position is for the reader of the journal to check
    /// (see [`SnapshotProblem::NotInJournal`]).
    pub fn open(&self, chain: &Chain) -> Result<Snapshot, SnapshotProblem> {
        if !self.seal_holds(chain) {
            return Err(SnapshotProblem::BadSeal {
                position: self.position,
            });
        }
        self.read_unsealed()
    }

    /// Whether the seal holds with `chain` (the body hashed once).
    pub fn seal_holds(&self, chain: &Chain) -> bool {
        seal(chain, &self.hash, &self.body) == self.seal
    }

    /// The body read and checked to be taken where the store says, the
    /// seal not checked: only for a reader that checks
    /// [`StoredSnapshot::seal_holds`] before it uses what this answers (a
    /// start does both at once, on two threads).
    pub(crate) fn read_unsealed(&self) -> Result<Snapshot, SnapshotProblem> {
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        // One parse on the way that matters; a body that does not read is
        // asked only for its format, to say which problem it has.
        let snapshot = match serde_json::from_str::<Snapshot>(&self.body) {
            Ok(snapshot) if snapshot.format == SNAPSHOT_FORMAT => snapshot,
            Ok(snapshot) => {
                return Err(SnapshotProblem::UnknownFormat {
                    position: self.position,
                    format: snapshot.format,
                });
            }
            Err(e) => {
                return Err(match serde_json::from_str::<Format>(&self.body) {
                    Ok(found) if found.format != SNAPSHOT_FORMAT => {
                        SnapshotProblem::UnknownFormat {
                            position: self.position,
                            format: found.format,
                        }
                    }
                    _ => SnapshotProblem::Unreadable {
                        position: self.position,
                        detail: e.to_string(),
                    },
                });
            }
        };
        self.accept(snapshot)
    }

    /// `snapshot`, read from this body, if it is in this format and was
    /// taken where the store says.
    pub(crate) fn accept(&self, snapshot: Snapshot) -> Result<Snapshot, SnapshotProblem> {
        if snapshot.format != SNAPSHOT_FORMAT {
            return Err(SnapshotProblem::UnknownFormat {
                position: self.position,
                format: snapshot.format,
            });
        }
        if snapshot.head != ChainHead::new(self.position, self.hash) {
            return Err(SnapshotProblem::Misfiled {
                position: self.position,
                inside: snapshot.head.len,
            });
        }
        Ok(snapshot)
    }
}

/// The seal of `body` taken where the journal's hash is `hash`: the
/// chain's link of its genesis and the hash, then of that and the body, so
/// that it holds on one journal's chain only (its name and its key).
fn seal(chain: &Chain, hash: &EntryHash, body: &str) -> EntryHash {
    let bound = chain.link(&chain.genesis(), hash.to_string().as_bytes());
    chain.link(&bound, body.as_bytes())
}

/// Why a stored snapshot was not used. The reader goes on with an older
/// snapshot, or replays the journal from its start: a snapshot is a short
/// cut, never the truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SnapshotProblem {
    /// The seal does not match the hash and the body: the snapshot was
    /// altered, or it belongs to a journal on another chain.
    #[error(
        "the snapshot at position {position} does not match its seal: it was altered or belongs to another journal (another chain name or key)"
    )]
    BadSeal {
        /// Where the store says it was taken.
        position: u64,
    },
    /// The body does not read as a snapshot.
    #[error("the snapshot at position {position} does not read: {detail}")]
    Unreadable {
        /// Where the store says it was taken.
        position: u64,
        /// The reader's complaint.
        detail: String,
    },
    /// The body is in a format this version does not know.
    #[error(
        "the snapshot at position {position} is in format {format}, this knowngood reads format {SNAPSHOT_FORMAT}: upgrade knowngood, or let it replay the journal"
    )]
    UnknownFormat {
        /// Where the store says it was taken.
        position: u64,
        /// The body's format.
        format: u32,
    },
    /// The body says it was taken at another head than the store filed it
    /// under.
    #[error(
        "the snapshot filed at position {position} says it was taken at position {inside} (or at another hash)"
    )]
    Misfiled {
        /// Where the store says it was taken.
        position: u64,
        /// Where its body says.
        inside: u64,
    },
    /// The journal has no entry with the snapshot's hash at its position:
    /// the journal is shorter, or was rewritten after the snapshot.
    #[error(
        "the snapshot at position {position} does not match the journal, which {found}: it was taken of another journal, or the journal changed since"
    )]
    NotInJournal {
        /// Where the snapshot was taken.
        position: u64,
        /// What the journal holds there.
        found: String,
    },
    /// The entries after the snapshot do not fold into its state: the
    /// state it holds is not what its part of the journal folds into.
    #[error(
        "the entries after the snapshot at position {position} do not fold into its state ({detail}): it does not match its journal"
    )]
    DoesNotFold {
        /// Where the snapshot was taken.
        position: u64,
        /// Why the first entry that did not fold was refused.
        detail: String,
    },
}

impl SnapshotProblem {
    /// The position of the snapshot the problem is with.
    pub fn position(&self) -> u64 {
        match self {
            Self::BadSeal { position }
            | Self::Unreadable { position, .. }
            | Self::UnknownFormat { position, .. }
            | Self::Misfiled { position, .. }
            | Self::NotInJournal { position, .. }
            | Self::DoesNotFold { position, .. } => *position,
        }
    }
}
