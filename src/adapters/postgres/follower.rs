//! Followers, told of new entries by `LISTEN`/`NOTIFY`.

use crate::port::{AdapterError, ErrorKind};
use tokio::sync::watch;
use tokio_postgres::Client;

/// Told the journal's length each time an append commits
/// ([`PostgresJournalStore::follow`](crate::adapters::PostgresJournalStore::follow)).
#[derive(Debug)]
pub struct Follower {
    pub(super) _client: Client,
    pub(super) receiver: watch::Receiver<u64>,
}

impl Follower {
    /// Waits until an append makes the journal longer than last seen, and
    /// returns its length; [`ErrorKind::Unavailable`] when the follower's
    /// connection closed (follow again, then read from your position).
    pub async fn changed(&mut self) -> Result<u64, AdapterError> {
        self.receiver.changed().await.map_err(|_| {
            AdapterError::new(
                ErrorKind::Unavailable,
                "postgres: the follower's connection closed: follow again, then read from your position",
            )
        })?;
        Ok(*self.receiver.borrow_and_update())
    }

    /// The longest length announced so far (0 before any).
    pub fn latest(&self) -> u64 {
        *self.receiver.borrow()
    }
}
