//! A flag store in memory, with a revision per flag.

use super::{Ledgered, lock};
use crate::model::{EnvironmentId, FlagKey, FlagState};
use crate::port::{AdapterError, ErrorKind, FlagStore, FlagStoreCapabilities};
use crate::recovery::IdempotencyKey;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct FlagsInner {
    flags: BTreeMap<(EnvironmentId, FlagKey), (FlagState, u64)>,
    calls: Ledgered<u64>,
}

/// A flag store in memory, with revisions.
#[derive(Debug, Default)]
pub struct InMemoryFlagStore {
    inner: Mutex<FlagsInner>,
}

impl InMemoryFlagStore {
    /// How often the store really wrote under `key`.
    pub fn executions(&self, key: &IdempotencyKey) -> usize {
        lock(&self.inner).calls.executions(key)
    }

    /// Every key it acted under, with counts.
    pub fn all_executions(&self) -> BTreeMap<IdempotencyKey, usize> {
        lock(&self.inner).calls.acted.clone()
    }
}

#[async_trait]
impl FlagStore for InMemoryFlagStore {
    fn capabilities(&self) -> FlagStoreCapabilities {
        FlagStoreCapabilities { gradual: true }
    }

    async fn get(
        &self,
        environment: &EnvironmentId,
        flag: &FlagKey,
    ) -> Result<(FlagState, u64), AdapterError> {
        Ok(lock(&self.inner)
            .flags
            .get(&(environment.clone(), flag.clone()))
            .cloned()
            .unwrap_or((FlagState::Off, 0)))
    }

    async fn set(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        flag: &FlagKey,
        state: &FlagState,
        expected_revision: u64,
    ) -> Result<u64, AdapterError> {
        let mut inner = lock(&self.inner);
        if let Some(done) = inner.calls.seen(key) {
            return Ok(done);
        }
        let slot = (environment.clone(), flag.clone());
        let current = inner.flags.get(&slot).map_or(0, |(_, r)| *r);
        if current != expected_revision {
            return Err(AdapterError::new(
                ErrorKind::Conflict,
                format!("flag `{flag}` is at revision {current}, not {expected_revision}"),
            ));
        }
        inner
            .flags
            .insert(slot, (state.clone(), current.saturating_add(1)));
        Ok(inner.calls.note(key, current.saturating_add(1)))
    }

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<u64>, AdapterError> {
        Ok(lock(&self.inner).calls.seen(key))
    }
}
