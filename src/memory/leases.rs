//! Leases in memory, timed by a clock.

use super::lock;
use crate::port::{AdapterError, Clock, LeaseAnswer, Leases};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Leases in memory, timed by a [`Clock`] (a [`ManualClock`](crate::memory::ManualClock) in tests and
/// drills): for replicas that share one process.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use knowngood::memory::{InMemoryLeases, ManualClock, block_on};
/// use knowngood::{LeaseAnswer, Leases};
/// # use chrono::{TimeZone, Utc};
/// let clock = Arc::new(ManualClock::at(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
/// let leases = InMemoryLeases::new(clock.clone());
/// let ttl = Duration::from_secs(30);
/// assert_eq!(block_on(leases.acquire("incident/INC-1", "a", ttl)).unwrap(), LeaseAnswer::Granted { token: 1 });
/// assert!(matches!(block_on(leases.acquire("incident/INC-1", "b", ttl)).unwrap(), LeaseAnswer::Held { .. }));
/// clock.advance(chrono::Duration::seconds(31));
/// // Expired: another holder takes it, under a new token.
/// assert_eq!(block_on(leases.acquire("incident/INC-1", "b", ttl)).unwrap(), LeaseAnswer::Granted { token: 2 });
/// ```
#[derive(Debug)]
pub struct InMemoryLeases {
    clock: Arc<dyn Clock>,
    /// Per scope: the holder, the token and when it expires.
    held: Mutex<BTreeMap<String, HeldBy>>,
}

type HeldBy = (String, u64, DateTime<Utc>);

impl InMemoryLeases {
    /// Leases timed by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            held: Mutex::default(),
        }
    }
}

#[async_trait]
impl Leases for InMemoryLeases {
    async fn acquire(
        &self,
        scope: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<LeaseAnswer, AdapterError> {
        let now = self.clock.now();
        let expires = now
            .checked_add_signed(Duration::from_std(ttl).unwrap_or(Duration::MAX))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut held = lock(&self.held);
        let token = match held.get(scope) {
            Some((who, _, until)) if who != holder && *until > now => {
                return Ok(LeaseAnswer::Held {
                    holder: who.clone(),
                    remaining: until
                        .signed_duration_since(now)
                        .to_std()
                        .unwrap_or_default(),
                });
            }
            Some((who, token, until)) if who == holder && *until > now => *token,
            Some((_, token, _)) => token.saturating_add(1),
            None => 1,
        };
        held.insert(scope.to_owned(), (holder.to_owned(), token, expires));
        Ok(LeaseAnswer::Granted { token })
    }

    async fn release(&self, scope: &str, holder: &str, token: u64) -> Result<(), AdapterError> {
        // Expired in place, not forgotten: tokens never repeat.
        let now = self.clock.now();
        if let Some((who, t, until)) = lock(&self.held).get_mut(scope)
            && who == holder
            && *t == token
        {
            *until = now;
        }
        Ok(())
    }
}
