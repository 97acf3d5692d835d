//! Leases in the `knowngood_leases` table, timed by the database's clock.

use super::connection::{closed, failed, live, to_i64, to_u64};
use crate::port::{AdapterError, LeaseAnswer, Leases};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_postgres::Client;

/// [`Leases`] in the `knowngood_leases` table
/// ([`PostgresJournalStore::leases`](crate::adapters::PostgresJournalStore::leases)).
#[derive(Debug, Clone)]
pub struct PostgresLeases {
    pub(super) url: String,
    pub(super) journal: String,
    pub(super) client: Arc<Mutex<Option<Client>>>,
}

#[async_trait]
impl Leases for PostgresLeases {
    async fn acquire(
        &self,
        scope: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<LeaseAnswer, AdapterError> {
        let mut guard = live(&self.client, &self.url).await?;
        let client = guard.as_ref().ok_or_else(closed)?;
        let millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        // Taken when free or expired, renewed when the holder asks again
        // in time; the token changes whenever the holder does, or when the
        // holder's own lease had lapsed.
        let result = async {
            let granted = client
                .query_opt(
                    "INSERT INTO knowngood_leases AS l (journal, scope, holder, token, expires_at)
                     VALUES ($1, $2, $3, 1, clock_timestamp() + $4::bigint::float8 * interval '1 millisecond')
                     ON CONFLICT (journal, scope) DO UPDATE SET
                         holder = EXCLUDED.holder,
                         token = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > clock_timestamp()
                                      THEN l.token ELSE l.token + 1 END,
                         expires_at = EXCLUDED.expires_at
                     WHERE l.holder = EXCLUDED.holder OR l.expires_at <= clock_timestamp()
                     RETURNING token",
                    &[&self.journal, &scope, &holder, &millis],
                )
                .await?;
            if let Some(row) = granted {
                return Ok(LeaseAnswer::Granted {
                    token: to_u64(row.get(0)),
                });
            }
            let held = client
                .query_opt(
                    "SELECT holder, GREATEST(0, (EXTRACT(EPOCH FROM (expires_at - clock_timestamp())) * 1000))::bigint
                     FROM knowngood_leases WHERE journal = $1 AND scope = $2",
                    &[&self.journal, &scope],
                )
                .await?;
            Ok::<_, tokio_postgres::Error>(match held {
                Some(row) => LeaseAnswer::Held {
                    holder: row.get(0),
                    remaining: Duration::from_millis(to_u64(row.get(1))),
                },
                // Gone between the two statements (only a person deletes
                // lease rows): free, so ask again at once.
                None => LeaseAnswer::Held {
                    holder: "nobody (the lease row was deleted)".to_owned(),
                    remaining: Duration::ZERO,
                },
            })
        }
        .await;
        result.map_err(|e| failed(&mut guard, &e))
    }

    async fn release(&self, scope: &str, holder: &str, token: u64) -> Result<(), AdapterError> {
        let mut guard = live(&self.client, &self.url).await?;
        let client = guard.as_ref().ok_or_else(closed)?;
        let result = client
            .execute(
                // Expired in place, not deleted: tokens never repeat.
                "UPDATE knowngood_leases SET expires_at = clock_timestamp()
                 WHERE journal = $1 AND scope = $2 AND holder = $3 AND token = $4",
                &[&self.journal, &scope, &holder, &to_i64(token)],
            )
            .await;
        result.map(drop).map_err(|e| failed(&mut guard, &e))
    }
}
