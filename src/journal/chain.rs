//! The hash chain that makes the journal tamper-evident.
//!
//! Every entry carries `hash = SHA-256(previous hash ‖ entry bytes)`, where
//! the entry bytes are its canonical JSON line without the `hash` field
//! (see the [`jsonl`](super::Journal::write_jsonl) format) and the first
//! entry's previous hash is the chain's *genesis*. Editing, removing,
//! inserting or reordering an entry breaks the chain at that entry.
//! Cutting entries off the end leaves a valid, shorter chain: keep the
//! [`ChainHead`] somewhere else (a tag, a database row, a ticket) and check
//! it with [`Journal::verify_head`](super::Journal::verify_head).
//!
//! A [`Chain`] says how one journal links its entries:
//!
//! - **unnamed** (the default): the genesis is 32 zero bytes, so the first
//!   line of any unnamed journal starts every unnamed journal, and a first
//!   line copied from another journal is only caught at line 2;
//! - **named** ([`Chain::named`]): the genesis is bound to the journal's
//!   name, so a first line from any other journal is refused at line 1;
//! - **keyed** ([`Chain::keyed`]): every link is an HMAC-SHA-256 under a
//!   key only the host holds, so whoever rewrites the file without the key
//!   cannot produce a chain that verifies.
//!
//! For other implementations: a named or keyed chain's genesis is the
//! SHA-256 (keyed: HMAC-SHA-256) of the bytes `knowngood journal genesis`,
//! a zero byte, and the name in UTF-8 (empty when unnamed); a keyed link
//! is HMAC-SHA-256 under the key of the previous hash's 32 bytes followed
//! by the entry bytes.
//!
//! An unkeyed chain needs no secret: whoever can rewrite the whole file can
//! rewrite the chain too, and an anchored head (or a key) is what detects
//! that.

use std::fmt;
use std::sync::Arc;

use hmac::{KeyInit as _, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

/// Domain separation for a named or keyed chain's genesis.
const GENESIS_LABEL: &[u8] = b"knowngood journal genesis\0";

/// A SHA-256 hash in the chain, shown as 64 lowercase hex digits.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EntryHash([u8; 32]);

impl EntryHash {
    /// The genesis of the unnamed, unkeyed chain: 32 zero bytes.
    pub const GENESIS: EntryHash = EntryHash([0; 32]);

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

/// How a journal links its entries: which journal they belong to and,
/// optionally, the key that makes the chain tamper-evident without an
/// external anchor. Readers must be given the chain the writer used.
///
/// ```
/// use knowngood::{Chain, Journal};
/// let chain = Chain::named("payments-prod").keyed(b"a secret from the vault");
/// let journal = Journal::with_chain(chain.clone());
/// assert_eq!(journal.head().hash, chain.genesis());
/// assert_ne!(chain.genesis(), Chain::default().genesis());
/// // The key never shows in logs.
/// assert!(!format!("{chain:?}").contains("secret"));
/// ```
#[derive(Clone, Default)]
pub struct Chain {
    name: Option<Arc<str>>,
    key: Option<Arc<Keyed>>,
}

struct Keyed {
    key: Vec<u8>,
    mac: HmacSha256,
}

impl Chain {
    /// The unnamed, unkeyed chain: genesis is [`EntryHash::GENESIS`]. The
    /// chain of [`Journal::new`](super::Journal::new).
    pub fn unnamed() -> Self {
        Self::default()
    }

    /// A chain whose genesis is bound to `name` (for example the
    /// deployment the journal records, `payments-prod`): a first entry
    /// taken from any other journal does not link.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: Some(Arc::from(name.into())),
            key: None,
        }
    }

    /// The same chain, linked with HMAC-SHA-256 under `key`. Keep the key
    /// out of the journal's store (a secret manager); a reader without it
    /// cannot verify the journal, and a writer without it cannot forge
    /// one.
    #[must_use]
    pub fn keyed(self, key: impl AsRef<[u8]>) -> Self {
        let key = key.as_ref().to_vec();
        // HMAC takes keys of any length, so this cannot fail.
        let key = HmacSha256::new_from_slice(&key)
            .ok()
            .map(|mac| Arc::new(Keyed { key, mac }));
        Self { key, ..self }
    }

    /// The journal's name, if the chain is named.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether the links are keyed.
    pub fn is_keyed(&self) -> bool {
        self.key.is_some()
    }

    /// The link before the first entry.
    pub fn genesis(&self) -> EntryHash {
        if self.name.is_none() && self.key.is_none() {
            return EntryHash::GENESIS;
        }
        let name = self.name.as_deref().unwrap_or_default();
        self.digest(&[GENESIS_LABEL, name.as_bytes()])
    }

    /// The hash of an entry whose canonical bytes are `bytes`, following
    /// `previous`.
    pub fn link(&self, previous: &EntryHash, bytes: &[u8]) -> EntryHash {
        self.digest(&[&previous.0, bytes])
    }

    fn digest(&self, parts: &[&[u8]]) -> EntryHash {
        match &self.key {
            None => {
                let mut hasher = Sha256::new();
                for part in parts {
                    hasher.update(part);
                }
                EntryHash(hasher.finalize().into())
            }
            Some(keyed) => {
                let mut mac = keyed.mac.clone();
                for part in parts {
                    mac.update(part);
                }
                EntryHash(mac.finalize().into_bytes().into())
            }
        }
    }
}

impl PartialEq for Chain {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.key.as_ref().map(|k| &k.key) == other.key.as_ref().map(|k| &k.key)
    }
}

impl Eq for Chain {}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl fmt::Display for Chain {
    /// ``unnamed`` or ``named `payments-prod` ``, with ``, keyed`` when
    /// keyed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            None => f.write_str("unnamed")?,
            Some(name) => write!(f, "named `{name}`")?,
        }
        if self.key.is_some() {
            f.write_str(", keyed")?;
        }
        Ok(())
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
    /// Hash of the last entry (the chain's [genesis](Chain::genesis) when
    /// empty).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_keyed_links_are_hmac_sha256_rfc_4231_case_6() {
        let data = b"Test Using Larger Than Block-Size Key - Hash Key First";
        let (first, rest) = data.split_at(32);
        let previous = EntryHash(first.try_into().unwrap());
        let chain = Chain::unnamed().keyed([0xaa_u8; 131]);
        assert_eq!(
            chain.link(&previous, rest).to_string(),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        // Unkeyed, the same link is plain SHA-256 of the same bytes.
        assert_eq!(
            Chain::unnamed().link(&previous, rest),
            EntryHash(Sha256::digest(data).into())
        );
    }

    #[test]
    fn chain_genesis_is_zero_only_for_the_unnamed_unkeyed_chain() {
        assert_eq!(Chain::unnamed().genesis(), EntryHash::GENESIS);
        let named = Chain::named("payments-prod");
        assert_ne!(named.genesis(), EntryHash::GENESIS);
        assert_ne!(named.genesis(), Chain::named("payments-staging").genesis());
        assert_ne!(named.genesis(), named.clone().keyed(b"k").genesis());
        assert_ne!(Chain::unnamed().keyed(b"k").genesis(), EntryHash::GENESIS);
        assert_eq!(named, Chain::named("payments-prod"));
        assert_ne!(named.clone().keyed(b"a"), named.keyed(b"b"));
    }
}
