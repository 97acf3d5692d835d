//! Migrations: a schema change run through the migrator and recorded; a
//! data migration moved in paced batches, each recorded, resumable from
//! the last recorded cursor.

use super::Driver;
use super::calls::{Call, Produced};
use super::error::DriveError;
use super::report::Migrated;
use crate::machine::Command;
use crate::model::{EnvironmentId, Migration, MigrationPhase, ServiceId};
use crate::recovery::IdempotencyKey;

/// How a data migration moves: rows per batch, and the pause between
/// batches (the rate limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationPace {
    /// Rows (or items) per batch.
    pub batch: u64,
    /// Seconds between one batch and the next (0: none).
    pub pause_seconds: u64,
}

impl MigrationPace {
    /// Batches of `batch` rows, `pause` apart.
    pub fn new(batch: u64, pause: std::time::Duration) -> Self {
        Self {
            batch,
            pause_seconds: pause.as_secs(),
        }
    }
}

impl Default for MigrationPace {
    /// Batches of 1,000, no pause.
    fn default() -> Self {
        Self {
            batch: 1000,
            pause_seconds: 0,
        }
    }
}

impl Driver {
    /// Runs `migration` on `service`'s database in `environment` through
    /// the host's [`Migrator`](crate::port::Migrator) and records it, with
    /// every rule the core applies to it (in sequence, data moved and the
    /// old shape removed only once the serving release is verified, a
    /// contract refused while a release in the rollback window needs the
    /// old schema, going down only across reversible migrations): a
    /// refusal comes before anything runs.
    ///
    /// An expand, a contract or a down-migration (`to` below `from`) runs
    /// whole. A data migration (phase `migrate`) moves in batches of
    /// `pace.batch`, each recorded in the journal
    /// ([`Command::RecordMigrationProgress`]) with the migrator's cursor;
    /// with a pause in `pace`, the call answers [`Migrated::Pacing`] after
    /// each batch and is made again later. When the last batch is done,
    /// the migration is recorded ([`Command::ApplyMigration`]).
    ///
    /// `key` names this run: call again under the same key to go on,
    /// after a pause, a crash or in another replica; it starts from the
    /// last recorded batch, and no batch or migration runs twice. Once
    /// the migration is recorded, the call answers [`Migrated::Done`]
    /// again and runs nothing. With [`Leases`](crate::Leases), one replica
    /// at a time ships, rolls out or migrates in an environment and
    /// service.
    pub async fn migrate(
        &mut self,
        (environment, service): (&EnvironmentId, &ServiceId),
        migration: &Migration,
        key: &IdempotencyKey,
        pace: MigrationPace,
    ) -> Result<Migrated, DriveError> {
        if self.ports.migrator.is_none() {
            return Self::fail(key, "the host has no migrator (Ports::with_migrator)");
        }
        self.take_ship_lease(environment, service).await?;
        let result = self
            .migrate_held((environment, service), migration, key, pace)
            .await;
        self.let_go_of_ship_lease().await;
        result
    }

    async fn migrate_held(
        &mut self,
        (environment, service): (&EnvironmentId, &ServiceId),
        migration: &Migration,
        key: &IdempotencyKey,
        pace: MigrationPace,
    ) -> Result<Migrated, DriveError> {
        let applied = Command::ApplyMigration {
            environment: environment.clone(),
            service: service.clone(),
            migration: migration.clone(),
            by: self.acting(),
        };
        let schema = self
            .state()
            .environment(environment)
            .and_then(|e| e.schema(service))
            .cloned()
            .unwrap_or_default();
        // Applied, and not undone by a down-migration since: done.
        let last = schema
            .applied
            .iter()
            .rposition(|a| a.migration == *migration);
        let undone = |at: usize| {
            schema
                .applied
                .iter()
                .skip(at.saturating_add(1))
                .any(|a| a.migration.to < a.migration.from)
        };
        if let Some(done) = last
            .filter(|at| !undone(*at))
            .and_then(|at| schema.applied.get(at))
        {
            return Ok(Migrated::Done {
                migration: migration.id.clone(),
                version: schema.version,
                moved: done.moved.unwrap_or(0),
            });
        }
        // The core judges before anything runs.
        crate::machine::decide(self.state(), &applied, self.now())?;
        if migration.phase != MigrationPhase::Migrate || migration.to < migration.from {
            let call = Call::Migrate(
                environment.clone(),
                service.clone(),
                Box::new(migration.clone()),
            );
            self.call(None, key, key.clone(), call).await?;
            self.execute(&applied).await?;
            return Ok(Migrated::Done {
                migration: migration.id.clone(),
                version: migration.to,
                moved: 0,
            });
        }
        loop {
            let progress = self
                .state()
                .environment(environment)
                .and_then(|e| e.schema(service))
                .and_then(|s| s.moving.get(&migration.id))
                .cloned();
            let (cursor, moved, batches) = progress.as_ref().map_or((None, 0, 0), |p| {
                (Some(p.cursor.clone()), p.moved, p.batches)
            });
            // The last batch completed it before a stop: record it.
            if progress.as_ref().is_some_and(|p| p.done) {
                self.execute(&applied).await?;
                return Ok(Migrated::Done {
                    migration: migration.id.clone(),
                    version: migration.to,
                    moved,
                });
            }
            if let Some(p) = &progress
                && pace.pause_seconds > 0
            {
                let pause = chrono::Duration::seconds(
                    i64::try_from(pace.pause_seconds).unwrap_or(i64::MAX),
                );
                if let Some(until) = p.at.checked_add_signed(pause)
                    && self.ports.clock.now() < until
                {
                    return Ok(Migrated::Pacing {
                        migration: migration.id.clone(),
                        moved,
                        until,
                    });
                }
            }
            let batch_key =
                IdempotencyKey::new(format!("{key}/batch-{}", batches.saturating_add(1)));
            let call = Call::Batch(
                environment.clone(),
                service.clone(),
                Box::new(migration.clone()),
                cursor,
                pace.batch,
            );
            let Produced::Moved(batch) = self.call(None, key, batch_key.clone(), call).await?
            else {
                return Self::fail(
                    key,
                    "the migrator answered with something other than a batch",
                );
            };
            self.execute(&Command::RecordMigrationProgress {
                environment: environment.clone(),
                service: service.clone(),
                migration: migration.clone(),
                cursor: batch.cursor.clone(),
                moved: batch.moved,
                done: batch.done,
                by: self.acting(),
                key: batch_key,
            })
            .await?;
            if batch.done {
                self.execute(&applied).await?;
                return Ok(Migrated::Done {
                    migration: migration.id.clone(),
                    version: migration.to,
                    moved: moved.saturating_add(batch.moved),
                });
            }
        }
    }

    /// A plan's down-migration step, run through the migrator under the
    /// step's key and recorded (once: recorded before a crash, it is not
    /// run again).
    pub(super) async fn migrate_down(
        &mut self,
        incident: &crate::model::IncidentId,
        key: &IdempotencyKey,
        (environment, service): (&EnvironmentId, &ServiceId),
        down: &Migration,
    ) -> Result<String, DriveError> {
        let version = self
            .state()
            .environment(environment)
            .and_then(|e| e.schema(service))
            .map(|s| s.version);
        if version == Some(down.to) {
            return Ok(format!(
                "`{service}`'s schema in `{environment}` is at {} already",
                down.to
            ));
        }
        let applied = Command::ApplyMigration {
            environment: environment.clone(),
            service: service.clone(),
            migration: down.clone(),
            by: self.acting(),
        };
        if let Err(refusal) = crate::machine::decide(self.state(), &applied, self.now()) {
            return Self::fail(
                key,
                format!("the core refuses the down-migration: {refusal}"),
            );
        }
        let call = Call::Migrate(environment.clone(), service.clone(), Box::new(down.clone()));
        self.call(Some(incident), key, key.clone(), call).await?;
        self.execute(&applied).await?;
        Ok(format!(
            "`{service}`'s schema in `{environment}` migrated down from {} to {}",
            down.from, down.to
        ))
    }
}
