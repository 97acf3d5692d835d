//! The durable journal store.

use super::error::{AdapterError, ErrorKind};
use crate::journal::{JournalEntry, StoredSnapshot};
use async_trait::async_trait;
use std::fmt;

/// The durable journal.
#[async_trait]
pub trait JournalStore: Send + Sync + fmt::Debug + 'static {
    /// Append entries if the store holds exactly `expected_len` entries
    /// ([`ErrorKind::Conflict`] otherwise: another writer got there first).
    async fn append(&self, expected_len: u64, entries: &[JournalEntry])
    -> Result<(), AdapterError>;
    /// Appends as [`JournalStore::append`] does, only while `fence` is
    /// still the lease its holder has: a store that keeps the leases
    /// (`PostgreSQL`) refuses a holder whose lease expired or passed to
    /// another replica ([`ErrorKind::Rejected`], nothing written). The
    /// default cannot check, and appends.
    async fn append_fenced(
        &self,
        expected_len: u64,
        entries: &[JournalEntry],
        fence: &super::leases::Fence,
    ) -> Result<(), AdapterError> {
        let _ = fence;
        self.append(expected_len, entries).await
    }
    /// The entries from `position` on (positions start at 1).
    async fn read_from(&self, position: u64) -> Result<Vec<JournalEntry>, AdapterError>;
    /// At most `max` entries from `position` on: how the driver reads a
    /// long journal, one bounded page at a time. The default reads from
    /// `position` and keeps the first `max`; a store that can bound the
    /// read itself (a database's `LIMIT`) should.
    async fn read_page(
        &self,
        position: u64,
        max: usize,
    ) -> Result<Vec<JournalEntry>, AdapterError> {
        let mut entries = self.read_from(position).await?;
        entries.truncate(max);
        Ok(entries)
    }
    /// Keeps a snapshot of the state at a journal position (see
    /// [`Snapshot`](crate::Snapshot)), as it is: the reader checks it. A
    /// store may let go of older snapshots. The default keeps none and
    /// says so ([`ErrorKind::Rejected`]).
    async fn save_snapshot(&self, snapshot: &StoredSnapshot) -> Result<(), AdapterError> {
        Err(AdapterError::new(
            ErrorKind::Rejected,
            format!(
                "this journal store keeps no snapshots (the one at position {} was not kept): start from the journal, or use a store that keeps them",
                snapshot.position
            ),
        ))
    }
    /// The newest snapshot kept that was taken at a position below
    /// `before` (the newest of all for `None`): the driver asks again with
    /// an older bound when one does not check out. The default keeps none.
    async fn read_snapshot(
        &self,
        before: Option<u64>,
    ) -> Result<Option<StoredSnapshot>, AdapterError> {
        let _ = before;
        Ok(None)
    }
    /// How the stored entries are linked: the driver reads the store with
    /// this chain and links what it appends with it. The unnamed chain
    /// unless the store was set up with another (a named chain makes the
    /// first entry checkable, a keyed one makes the journal tamper-evident
    /// without an external anchor; see [`Chain`](crate::Chain)).
    fn chain(&self) -> crate::journal::Chain {
        crate::journal::Chain::unnamed()
    }
}
