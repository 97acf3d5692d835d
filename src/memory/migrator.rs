//! A migrator in memory: each database's schema version, and a data
//! migration's rows moved in batches.

use super::{Ledgered, lock};
use crate::model::{EnvironmentId, Migration, MigrationId, ServiceId};
use crate::port::{
    AdapterError, Batch, ErrorKind, MigrationOutcome, Migrator, MigratorCapabilities,
};
use crate::recovery::IdempotencyKey;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct MigratorInner {
    /// Each database's schema version (absent: not yet migrated, taken
    /// as whatever the first migration starts from).
    versions: BTreeMap<(EnvironmentId, ServiceId), u32>,
    /// Rows each data migration has to move, by its name.
    rows: BTreeMap<MigrationId, u64>,
    /// Rows moved so far, per database and data migration.
    moved: BTreeMap<(EnvironmentId, ServiceId, MigrationId), u64>,
    calls: Ledgered<MigrationOutcome>,
}

/// A migrator in memory, counting what it ran under each key. A data
/// migration moves the rows [`InMemoryMigrator::rows`] gives it (1,000
/// unless set); its cursor is the number of rows moved so far.
#[derive(Debug, Default)]
pub struct InMemoryMigrator {
    inner: Mutex<MigratorInner>,
}

impl InMemoryMigrator {
    /// The same migrator, the data migration `migration` moving `rows`.
    #[must_use]
    pub fn rows(self, migration: impl Into<MigrationId>, rows: u64) -> Self {
        lock(&self.inner).rows.insert(migration.into(), rows);
        self
    }

    /// The schema version of `service`'s database in `environment`.
    pub fn version(&self, environment: &EnvironmentId, service: &ServiceId) -> Option<u32> {
        lock(&self.inner)
            .versions
            .get(&(environment.clone(), service.clone()))
            .copied()
    }

    /// Rows the data migration `migration` moved there so far.
    pub fn moved(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        migration: &MigrationId,
    ) -> u64 {
        lock(&self.inner)
            .moved
            .get(&(environment.clone(), service.clone(), migration.clone()))
            .copied()
            .unwrap_or(0)
    }

    /// How often it really ran something under `key`.
    pub fn executions(&self, key: &IdempotencyKey) -> usize {
        lock(&self.inner).calls.executions(key)
    }

    /// Every key it ran something under, with counts.
    pub fn all_executions(&self) -> BTreeMap<IdempotencyKey, usize> {
        lock(&self.inner).calls.acted.clone()
    }
}

#[async_trait]
impl Migrator for InMemoryMigrator {
    fn capabilities(&self) -> MigratorCapabilities {
        MigratorCapabilities::all()
    }

    async fn apply(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
        migration: &Migration,
    ) -> Result<(), AdapterError> {
        let mut inner = lock(&self.inner);
        if inner.calls.seen(key).is_some() {
            return Ok(());
        }
        let database = (environment.clone(), service.clone());
        let version = inner.versions.get(&database).copied();
        if version.is_some_and(|v| v != migration.from) {
            return Err(AdapterError::new(
                ErrorKind::Conflict,
                format!(
                    "`{service}`'s schema in `{environment}` is at version {}, not {}: `{}` does not apply",
                    version.unwrap_or_default(),
                    migration.from,
                    migration.id
                ),
            ));
        }
        inner.versions.insert(database, migration.to);
        inner.calls.note(key, MigrationOutcome::Applied);
        Ok(())
    }

    async fn migrate_batch(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
        migration: &Migration,
        (cursor, limit): (Option<&str>, u64),
    ) -> Result<Batch, AdapterError> {
        let mut inner = lock(&self.inner);
        if let Some(MigrationOutcome::Batch(done)) = inner.calls.seen(key) {
            return Ok(done);
        }
        let start = match cursor {
            None => 0,
            Some(c) => c.parse::<u64>().map_err(|_| {
                AdapterError::new(
                    ErrorKind::Rejected,
                    format!("`{c}` is not a cursor this migrator gave"),
                )
            })?,
        };
        let total = inner.rows.get(&migration.id).copied().unwrap_or(1000);
        let slot = (environment.clone(), service.clone(), migration.id.clone());
        let moved_before = inner.moved.get(&slot).copied().unwrap_or(0);
        if start != moved_before {
            return Err(AdapterError::new(
                ErrorKind::Conflict,
                format!(
                    "`{}` moved {moved_before} rows in `{environment}`, and the batch starts after {start}",
                    migration.id
                ),
            ));
        }
        let end = start.saturating_add(limit).min(total);
        inner.moved.insert(slot, end);
        let batch = Batch::new(end.to_string(), end.saturating_sub(start), end >= total);
        inner
            .calls
            .note(key, MigrationOutcome::Batch(batch.clone()));
        Ok(batch)
    }

    async fn outcome(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<MigrationOutcome>, AdapterError> {
        Ok(lock(&self.inner).calls.seen(key))
    }
}
