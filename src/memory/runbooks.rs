//! Runbooks in memory: each run recorded under its key.

use super::{Ledgered, lock};
use crate::model::{EnvironmentId, Runbook, RunbookId, ServiceId};
use crate::port::{AdapterError, ErrorKind, Runbooks};
use crate::recovery::IdempotencyKey;
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

#[derive(Debug, Default)]
struct RunbooksInner {
    /// Runbooks that fail when run (a failover target that is down).
    failing: BTreeSet<RunbookId>,
    runs: Vec<(RunbookId, EnvironmentId, ServiceId)>,
    calls: Ledgered<String>,
}

/// Runbooks in memory: every run is recorded (`runs`), once per key.
#[derive(Debug, Default)]
pub struct InMemoryRunbooks {
    inner: Mutex<RunbooksInner>,
}

impl InMemoryRunbooks {
    /// The same runbooks, `runbook` failing when run.
    #[must_use]
    pub fn failing(self, runbook: impl Into<RunbookId>) -> Self {
        lock(&self.inner).failing.insert(runbook.into());
        self
    }

    /// Every run, in order.
    pub fn runs(&self) -> Vec<(RunbookId, EnvironmentId, ServiceId)> {
        lock(&self.inner).runs.clone()
    }

    /// Every key it ran something under, with counts.
    pub fn all_executions(&self) -> BTreeMap<IdempotencyKey, usize> {
        lock(&self.inner).calls.acted.clone()
    }
}

#[async_trait]
impl Runbooks for InMemoryRunbooks {
    async fn run(
        &self,
        key: &IdempotencyKey,
        runbook: &Runbook,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<String, AdapterError> {
        let mut inner = lock(&self.inner);
        if let Some(done) = inner.calls.seen(key) {
            return Ok(done);
        }
        if inner.failing.contains(&runbook.id) {
            return Err(AdapterError::new(
                ErrorKind::Rejected,
                format!("runbook `{}` failed", runbook.id),
            ));
        }
        inner
            .runs
            .push((runbook.id.clone(), environment.clone(), service.clone()));
        let done = format!(
            "ran `{}` ({}) for `{service}` in `{environment}`",
            runbook.id, runbook.title
        );
        Ok(inner.calls.note(key, done))
    }

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<String>, AdapterError> {
        Ok(lock(&self.inner).calls.seen(key))
    }
}
