//! A journal store in memory, with snapshots.

use super::lock;
use crate::journal::{Chain, JournalEntry, StoredSnapshot};
use crate::port::{AdapterError, ErrorKind, JournalStore};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A journal store in memory.
#[derive(Debug, Default)]
pub struct InMemoryJournalStore {
    entries: Mutex<Vec<JournalEntry>>,
    snapshots: Mutex<BTreeMap<u64, StoredSnapshot>>,
    chain: Chain,
}

impl InMemoryJournalStore {
    /// An empty store whose entries are linked by `chain`.
    pub fn with_chain(chain: Chain) -> Self {
        Self {
            chain,
            ..Self::default()
        }
    }

    /// Every snapshot kept, oldest first (it keeps them all).
    pub fn snapshots(&self) -> Vec<StoredSnapshot> {
        lock(&self.snapshots).values().cloned().collect()
    }

    /// Every stored entry.
    pub fn entries(&self) -> Vec<JournalEntry> {
        lock(&self.entries).clone()
    }
}

#[async_trait]
impl JournalStore for InMemoryJournalStore {
    async fn append(
        &self,
        expected_len: u64,
        entries: &[JournalEntry],
    ) -> Result<(), AdapterError> {
        let mut stored = lock(&self.entries);
        if stored.len() as u64 != expected_len {
            return Err(AdapterError::new(
                ErrorKind::Conflict,
                format!(
                    "the journal holds {} entries, not {expected_len}",
                    stored.len()
                ),
            ));
        }
        stored.extend_from_slice(entries);
        Ok(())
    }

    async fn read_from(&self, position: u64) -> Result<Vec<JournalEntry>, AdapterError> {
        let start = usize::try_from(position.saturating_sub(1)).unwrap_or(usize::MAX);
        Ok(lock(&self.entries)
            .get(start..)
            .map(<[JournalEntry]>::to_vec)
            .unwrap_or_default())
    }

    async fn read_page(
        &self,
        position: u64,
        max: usize,
    ) -> Result<Vec<JournalEntry>, AdapterError> {
        let start = usize::try_from(position.saturating_sub(1)).unwrap_or(usize::MAX);
        Ok(lock(&self.entries)
            .iter()
            .skip(start)
            .take(max)
            .cloned()
            .collect())
    }

    async fn save_snapshot(&self, snapshot: &StoredSnapshot) -> Result<(), AdapterError> {
        lock(&self.snapshots).insert(snapshot.position, snapshot.clone());
        Ok(())
    }

    async fn read_snapshot(
        &self,
        before: Option<u64>,
    ) -> Result<Option<StoredSnapshot>, AdapterError> {
        Ok(lock(&self.snapshots)
            .range(..before.unwrap_or(u64::MAX))
            .next_back()
            .map(|(_, snapshot)| snapshot.clone()))
    }

    fn chain(&self) -> Chain {
        self.chain.clone()
    }
}
