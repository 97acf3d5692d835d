//! The hash chain that makes the journal tamper-evident.
//!
//! Every entry carries `hash = SHA-256(previous hash ‖ entry bytes)`, where
//! the entry bytes are its JSON line without the `hash` field and the
//! first entry's previous hash is 32 zero bytes. Editing, removing,
//! inserting or reordering an entry breaks the chain at that entry.
//! Cutting entries off the end leaves a valid, shorter chain: keep the
//! [`ChainHead`] somewhere else (a tag, a database row, a ticket) and check
//! it with [`Journal::verify_head`](super::Journal::verify_head).
//!
//! The chain needs no secret, so whoever can rewrite the whole file can
//! rewrite the chain too; an anchored head is what detects that.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A SHA-256 hash in the chain, shown as 64 lowercase hex digits.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EntryHash([u8; 32]);

impl EntryHash {
    /// The hash before the first entry: 32 zero bytes.
    pub const GENESIS: EntryHash = EntryHash([0; 32]);

    /// The hash of an entry whose canonical bytes are `bytes`, following
    /// `self`.
    #[must_use]
    pub fn link(&self, bytes: &[u8]) -> EntryHash {
        let mut hasher = Sha256::new();
        hasher.update(self.0);
        hasher.update(bytes);
        EntryHash(hasher.finalize().into())
    }

    /// Parses 64 lowercase hex digits.
    pub fn parse_hex(text: &str) -> Option<EntryHash> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = hex_value(pair[0])?;
            let lo = hex_value(pair[1])?;
            out[i] = hi << 4 | lo;
        }
        Some(EntryHash(out))
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => b.checked_sub(b'0'),
        b'a'..=b'f' => b.checked_sub(b'a').map(|d| d.saturating_add(10)),
        _ => None,
    }
}

impl fmt::Display for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryHash({self})")
    }
}

impl TryFrom<String> for EntryHash {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        EntryHash::parse_hex(&value)
            .ok_or_else(|| format!("`{value}` is not 64 lowercase hex digits"))
    }
}

impl From<EntryHash> for String {
    fn from(h: EntryHash) -> Self {
        h.to_string()
    }
}

/// The last link of a journal: how many entries it holds and the hash of
/// the last one. Store it apart from the journal to detect a cut-off tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChainHead {
    /// Entries in the journal.
    pub len: u64,
    /// Hash of the last entry ([`EntryHash::GENESIS`] when empty).
    pub hash: EntryHash,
}

impl ChainHead {
    /// A head as recorded elsewhere.
    pub fn new(len: u64, hash: EntryHash) -> Self {
        Self { len, hash }
    }
}

/// Evidence that a journal is not the one that was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TamperEvidence {
    /// The entry at this position does not hash to what it carries.
    #[error(
        "journal entry {position} was altered: its hash does not follow from the entries before it"
    )]
    BrokenLink {
        /// The first bad position.
        position: u64,
    },
    /// Entries were cut off the end.
    #[error("the journal holds {len} entries but {expected} were recorded: entries {} to {expected} are missing", len.saturating_add(1))]
    Truncated {
        /// Entries present.
        len: u64,
        /// Entries recorded in the head.
        expected: u64,
    },
    /// The entry the head names hashes differently.
    #[error("journal entry {position} differs from the recorded head: the history was rewritten")]
    HeadMismatch {
        /// The head's position.
        position: u64,
    },
}
