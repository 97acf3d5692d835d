//! Schema changes in three steps — expand, migrate, contract — so that
//! every step can be rolled back until the last, and the last waits until
//! no release inside the rollback window needs the old schema.
//!
//! ```
//! use knowngood::migration::SchemaChangePlan;
//! let plan = SchemaChangePlan::new("payments", "split-address", 4)?;
//! let phases: Vec<String> = plan.steps.iter().map(|s| s.migration.phase.to_string()).collect();
//! assert_eq!(phases, ["expand", "migrate", "contract"]);
//! assert_eq!(plan.steps[2].release_schema.min, 5);
//! # Ok::<(), knowngood::migration::SchemaPlanError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::machine::State;
use crate::model::{
    EnvironmentId, Migration, MigrationPhase, ReleaseId, Revision, SchemaRange, ServiceId,
};

/// A schema change that cannot be planned: the starting version leaves no
/// room for the two versions it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "a schema change from version {from} needs versions {from} + 1 and {from} + 2, past the highest version ({}); renumber the schema first",
    u32::MAX
)]
pub struct SchemaPlanError {
    /// The starting version.
    pub from: u32,
}

/// One step of a schema change: deploy code that runs on
/// `release_schema`, verify it, then run `migration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SchemaChangeStep {
    /// What the release deployed before the migration must run on.
    pub release_schema: SchemaRange,
    /// The migration to run once that release is verified.
    pub migration: Migration,
    /// What the step is for, in words.
    pub purpose: String,
}

/// The expand → migrate → contract plan for one schema change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[must_use]
#[non_exhaustive]
pub struct SchemaChangePlan {
    /// Whose database.
    pub service: ServiceId,
    /// The three steps, in order.
    pub steps: Vec<SchemaChangeStep>,
}

impl SchemaChangePlan {
    /// The plan for changing `service`'s schema from version `from`:
    /// expand to `from + 1` (old and new shape side by side), migrate the
    /// data at `from + 1`, contract to `from + 2` (old shape removed).
    ///
    /// A `from` within two of `u32::MAX` leaves no room for the new
    /// versions: [`SchemaPlanError`].
    pub fn new(
        service: impl Into<ServiceId>,
        name: &str,
        from: u32,
    ) -> Result<Self, SchemaPlanError> {
        let (Some(expanded), Some(contracted)) = (from.checked_add(1), from.checked_add(2)) else {
            return Err(SchemaPlanError { from });
        };
        Ok(Self {
            service: service.into(),
            steps: vec![
                SchemaChangeStep {
                    release_schema: SchemaRange::new(from, expanded),
                    migration: Migration::new(format!("{name}-expand"), MigrationPhase::Expand, from, expanded),
                    purpose: "deploy code that reads and writes both shapes, then add the new shape".to_owned(),
                },
                SchemaChangeStep {
                    release_schema: SchemaRange::new(from, expanded),
                    migration: Migration::new(format!("{name}-migrate"), MigrationPhase::Migrate, expanded, expanded),
                    purpose: "once that deploy is verified, move the data incrementally, rate-limited and resumable".to_owned(),
                },
                SchemaChangeStep {
                    release_schema: SchemaRange::new(expanded, contracted),
                    migration: Migration::new(format!("{name}-contract"), MigrationPhase::Contract, expanded, contracted),
                    purpose: "deploy code that no longer needs the old shape, then remove it (irreversible)".to_owned(),
                },
            ],
        })
    }
}

/// The rollback targets of `service` in `env` that could not run on
/// schema `version`: the releases a migration to it would make unsafe, newest
/// first, among the policy's rollback window.
pub fn unsafe_rollback_targets(
    state: &State,
    env: &EnvironmentId,
    service: &ServiceId,
    version: u32,
) -> Vec<(Revision, ReleaseId)> {
    let window = usize::try_from(state.policy().rollback_window).unwrap_or(usize::MAX);
    state
        .history(env, service)
        .into_iter()
        .flat_map(|h| h.rollback_candidates().take(window))
        .filter(|d| {
            state
                .release(&d.release)
                .and_then(|r| r.schema)
                .is_some_and(|range| !range.contains(version))
        })
        .map(|d| (d.revision, d.release.clone()))
        .collect()
}
