//! The flag store.

use super::error::AdapterError;
use crate::model::{EnvironmentId, FlagKey, FlagState};
use crate::recovery::IdempotencyKey;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

capabilities!(FlagStoreCapabilities { gradual / with_gradual });

/// What the flag store can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FlagStoreCapabilities {
    /// Percentages and segments, not only on and off.
    pub gradual: bool,
}

/// The feature-flag store.
#[async_trait]
pub trait FlagStore: Send + Sync + fmt::Debug + 'static {
    /// What this store can do.
    fn capabilities(&self) -> FlagStoreCapabilities;
    /// A flag's state and revision. Revision 0 means the store holds no
    /// definition of the flag: the state it then reads is the store's
    /// default ([`FlagState::Off`] by convention), not a fact about what
    /// users get (flagd serves an absent flag as the application's own
    /// code default), so the driver writes a flag at revision 0 even when
    /// it reads as the state wanted.
    async fn get(
        &self,
        environment: &EnvironmentId,
        flag: &FlagKey,
    ) -> Result<(FlagState, u64), AdapterError>;
    /// Set a flag if its revision is still `expected_revision`
    /// ([`ErrorKind::Conflict`](crate::port::ErrorKind::Conflict) otherwise); returns the new revision.
    async fn set(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        flag: &FlagKey,
        state: &FlagState,
        expected_revision: u64,
    ) -> Result<u64, AdapterError>;
    /// The revision a set under `key` produced, if it happened.
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<u64>, AdapterError>;
}
