//! Database schemas and migrations (expand → migrate → contract).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ids::MigrationId;

/// The schema versions a release can run on, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SchemaRange {
    /// The oldest schema version it runs on.
    pub min: u32,
    /// The newest schema version it runs on.
    pub max: u32,
}

impl SchemaRange {
    /// Versions `min` to `max`.
    pub fn new(min: u32, max: u32) -> Self {
        Self { min, max }
    }

    /// Whether the release runs on `version`.
    pub fn contains(&self, version: u32) -> bool {
        self.min <= version && version <= self.max
    }
}

impl fmt::Display for SchemaRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "schema {}..={}", self.min, self.max)
    }
}

/// The phase of a schema change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum MigrationPhase {
    /// Add the new shape beside the old one (reversible).
    Expand,
    /// Move the data (incremental, rate-limited, resumable).
    Migrate,
    /// Remove the old shape: irreversible, old columns and data are gone.
    Contract,
}

impl fmt::Display for MigrationPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Expand => "expand",
            Self::Migrate => "migrate",
            Self::Contract => "contract",
        })
    }
}

/// One schema migration of one service's database.
///
/// ```
/// use knowngood::{Migration, MigrationPhase};
/// let m = Migration::new("0042-drop-old-address", MigrationPhase::Contract, 6, 7);
/// assert!(!m.reversible);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Migration {
    /// Its name.
    pub id: MigrationId,
    /// Its phase.
    pub phase: MigrationPhase,
    /// The schema version it starts from.
    pub from: u32,
    /// The schema version it leaves.
    pub to: u32,
    /// Whether it can be undone without losing data (never for contract).
    pub reversible: bool,
}

impl Migration {
    /// A migration; expand and migrate steps are reversible, contract is not.
    pub fn new(id: impl Into<MigrationId>, phase: MigrationPhase, from: u32, to: u32) -> Self {
        Self {
            id: id.into(),
            phase,
            from,
            to,
            reversible: phase != MigrationPhase::Contract,
        }
    }
}
