//! The migrator: runs a service's schema migrations in an environment —
//! a schema change (expand, contract, or a down-migration), or one batch
//! of a data migration — each under an idempotency key.

use super::error::AdapterError;
use crate::model::{EnvironmentId, Migration, ServiceId};
use crate::recovery::IdempotencyKey;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a migrator can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MigratorCapabilities {
    /// It can run down-migrations (undo reversible migrations), so the
    /// driver carries out a plan's down-migration step itself instead of
    /// pausing for a person.
    pub down: bool,
}

capabilities!(MigratorCapabilities { down / with_down });

/// One batch of a data migration, as the migrator reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Batch {
    /// Where the next batch starts: opaque to the library, handed back
    /// with the next call (the last key moved, a page token).
    pub cursor: String,
    /// Rows (or items) this batch moved.
    pub moved: u64,
    /// Whether the data migration is complete.
    pub done: bool,
}

impl Batch {
    /// A batch that moved `moved` rows and stopped at `cursor`.
    pub fn new(cursor: impl Into<String>, moved: u64, done: bool) -> Self {
        Self {
            cursor: cursor.into(),
            moved,
            done,
        }
    }
}

/// What a migrator did under a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MigrationOutcome {
    /// A schema migration ran.
    Applied,
    /// A batch of data moved.
    Batch(Batch),
}

/// Runs schema migrations. Every call carries a key: a migrator that sees
/// a key again answers the first result without running anything twice,
/// and says what happened under a key (`outcome`), so the driver can
/// retry after a timeout and resume after a crash.
///
/// A data migration (phase `migrate`) moves in batches: each call moves at
/// most `limit` rows after `cursor` and says where it stopped; the driver
/// records every batch in the journal, so that after a crash, in any
/// process, it goes on from the last recorded cursor.
#[async_trait]
pub trait Migrator: Send + Sync + fmt::Debug + 'static {
    /// What it can do.
    fn capabilities(&self) -> MigratorCapabilities;

    /// Runs `migration` (expand, contract, or a down-migration: `to`
    /// below `from`) on `service`'s database in `environment`.
    async fn apply(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
        migration: &Migration,
    ) -> Result<(), AdapterError>;

    /// Moves one batch of the data migration `migration`: at most `limit`
    /// rows after `cursor` (none: from the start).
    async fn migrate_batch(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
        migration: &Migration,
        (cursor, limit): (Option<&str>, u64),
    ) -> Result<Batch, AdapterError>;

    /// What happened under `key`, if anything.
    async fn outcome(&self, key: &IdempotencyKey)
    -> Result<Option<MigrationOutcome>, AdapterError>;
}
