//! Snapshots the driver writes: when asked, or by itself every n entries.

use super::Driver;
use super::error::DriveError;
use crate::journal::Snapshot;
use crate::port::{AdapterError, ErrorKind};
use crate::startup::Startup;

/// When the driver writes snapshots by itself ([`Driver::snapshot_every`]).
#[derive(Debug)]
pub(super) struct SnapshotSchedule {
    every: u64,
    /// The journal length at the last snapshot written or started from.
    last: u64,
    /// Why the last one due was not written, until one is.
    failed: Option<AdapterError>,
    /// Whether the store was asked for its newest snapshot: the first time
    /// one is due, since another process (or this one before a restart)
    /// may have written one this driver never saw.
    store_asked: bool,
}

impl Driver {
    /// Has the driver write a snapshot by itself whenever `entries` entries
    /// were added to the journal since the last one (its own or another
    /// replica's or process's: the first time one is due, the driver asks
    /// the store for its newest); 0 turns it off. A
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
            store_asked: false,
        });
        self
    }

    /// Why the last snapshot due ([`Driver::snapshot_every`]) was not
    /// written, until one is.
    pub fn snapshot_failure(&self) -> Option<&AdapterError> {
        self.snapshots.as_ref().and_then(|s| s.failed.as_ref())
    }

    /// Writes a snapshot when one is due.
    pub(super) async fn snapshot_if_due(&mut self) {
        let len = self.ledger.journal().len() as u64;
        let Some(schedule) = &self.snapshots else {
            return;
        };
        if len.saturating_sub(schedule.last) < schedule.every {
            return;
        }
        if !schedule.store_asked {
            // A short-lived process must not count from zero each time.
            let newest = self.ports.journal.read_snapshot(None).await;
            let Some(schedule) = &mut self.snapshots else {
                return;
            };
            schedule.store_asked = true;
            if let Ok(Some(stored)) = newest {
                schedule.last = schedule.last.max(stored.position);
            }
            if len.saturating_sub(schedule.last) < schedule.every {
                return;
            }
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
}
