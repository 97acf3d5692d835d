//! Leases: one replica at a time acts on an incident.

use super::error::AdapterError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What [`Leases::acquire`] answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LeaseAnswer {
    /// The caller holds the lease for the time asked, from when it asked.
    /// The token changes whenever the lease changes hands (or lapsed
    /// before its holder renewed it): a holder that sees a new token must
    /// read the journal again before it acts.
    Granted {
        /// The lease's token.
        token: u64,
    },
    /// Another holder holds it.
    Held {
        /// Who.
        holder: String,
        /// For how much longer at most, unless it renews.
        remaining: std::time::Duration,
    },
}

/// Leases between replicas: one holder at a time holds the lease on a
/// scope, until it lets go or the lease expires. The driver takes the
/// lease on `incident/<id>` before it drives an incident, renews it before
/// every step once half of it is gone, stops with
/// [`DriveError::LeaseLost`](crate::DriveError::LeaseLost) when it cannot,
/// and lets go when it stops. It counts the lease's time from *before* it
/// asked, on its own clock, and stops acting a tenth of the lease early,
/// so that it stops before another replica can start. The expiry itself is
/// kept by the lease store (a database computes it on its own clock).
/// Idempotency keys still guard every port call: even if two replicas act
/// at once, each effect happens once.
#[async_trait]
pub trait Leases: Send + Sync + fmt::Debug + 'static {
    /// Takes the lease on `scope` for `holder` for `ttl` if it is free,
    /// expired or already held by `holder` (renewing it), or says who
    /// holds it.
    async fn acquire(
        &self,
        scope: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<LeaseAnswer, AdapterError>;
    /// Lets go of the lease on `scope` if `holder` still holds it with
    /// `token`.
    async fn release(&self, scope: &str, holder: &str, token: u64) -> Result<(), AdapterError>;
}

/// A lease as its holder believes it holds it: handed with a journal
/// append ([`JournalStore::append_fenced`](crate::port::JournalStore::append_fenced))
/// so that a store that keeps the leases refuses a holder whose lease
/// expired or passed to another replica (a process paused past its lease,
/// then woken).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Fence {
    /// The lease's scope (`incident/<id>`, `ship/<environment>/<service>`).
    pub scope: String,
    /// Who holds it.
    pub holder: String,
    /// The token it was granted under.
    pub token: u64,
}

impl Fence {
    /// `holder`'s lease on `scope` under `token`.
    pub fn new(scope: impl Into<String>, holder: impl Into<String>, token: u64) -> Self {
        Self {
            scope: scope.into(),
            holder: holder.into(),
            token,
        }
    }
}
