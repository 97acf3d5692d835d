//! A [`JournalStore`](crate::port::JournalStore) on `PostgreSQL`, with [`Leases`](crate::port::Leases) so that one replica
//! at a time acts on an incident, and a [`Follower`] told of new entries
//! by `LISTEN`/`NOTIFY`.
//!
//! It uses `tokio-postgres`: the host must run a tokio runtime (the store
//! spawns each connection's task on it). The core needs no runtime.
//!
//! # Schema
//!
//! [`PostgresJournalStore::migrate`] applies the adapter's migrations
//! ([`MIGRATIONS`]) in order, each once, in one transaction under an
//! advisory lock so that
//! replicas starting together do not collide; the version reached is kept
//! in `knowngood_schema`. The store never changes the schema on its own:
//! until it is migrated, every call says to migrate. Version 1:
//!
//! ```sql
//! CREATE TABLE knowngood_journal (
//!     journal  text   NOT NULL,                   -- the journal's name: one table holds many
//!     position bigint NOT NULL CHECK (position > 0),
//!     line     text   NOT NULL,                   -- the entry, canonical, with its hash
//!     hash     text   NOT NULL,                   -- the entry's hash, for the next link
//!     PRIMARY KEY (journal, position)             -- two writers cannot take one position
//! );
//! -- UPDATE and DELETE on knowngood_journal raise an error (a trigger).
//! CREATE TABLE knowngood_snapshots (
//!     journal text, position bigint, hash text, seal text, body text,
//!     PRIMARY KEY (journal, position)
//! );
//! CREATE TABLE knowngood_leases (
//!     journal text, scope text, holder text, token bigint, expires_at timestamptz,
//!     PRIMARY KEY (journal, scope)
//! );
//! ```
//!
//! Version 2 keeps snapshot bodies as `bytea`, compressed by the adapter
//! (`\0lz4`, the length in four bytes little-endian, one LZ4 block), and
//! stored by `PostgreSQL` as they are (`STORAGE EXTERNAL`): a 14 MB body
//! arrives in about 11 ms instead of 42 ms. Bodies already there are
//! converted as they are and still read. The adapter works on a database
//! of version 1 too ([`OLDEST_SCHEMA_VERSION`]), keeping bodies as text
//! there: upgrade the replicas one at a time, then migrate.
//!
//! # Appends
//!
//! Each append is one transaction: it reads the last stored position and
//! hash, refuses a writer whose expected length differs
//! ([`ErrorKind::Conflict`]), checks that the new entries link onto the
//! stored hash, inserts them (a writer that raced past the check hits the
//! primary key and gets [`ErrorKind::Conflict`] too, with nothing written)
//! and notifies `knowngood_journal` with `<length> <journal>`, delivered
//! on commit.
//!
//! # Leases
//!
//! A lease row per scope (the driver uses `incident/<id>`), with an expiry
//! the database computes on its own clock, so replicas' clocks never meet.
//! A holder renews it; another holder gets it only after it expired. See
//! [`Leases`](crate::port::Leases) for how the driver uses it.

use crate::journal::{Chain, EntryHash};
use crate::port::{AdapterError, ErrorKind};
use connection::{closed, connect, db_error, failed, live, newer, to_i64};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Mutex, watch};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

mod body;
mod connection;
mod follower;
mod leases;
mod schema;
mod store;

pub use follower::Follower;
pub use leases::PostgresLeases;
pub use schema::{CHANNEL, MIGRATIONS, OLDEST_SCHEMA_VERSION, SCHEMA_VERSION};

/// A journal store in a `PostgreSQL` database.
///
/// ```no_run
/// # async fn run() -> Result<(), knowngood::AdapterError> {
/// use knowngood::adapters::PostgresJournalStore;
/// use knowngood::Chain;
/// let store = PostgresJournalStore::connect(
///     "host=127.0.0.1 user=postgres dbname=test",
///     "payments-prod",
///     Chain::named("payments-prod"),
/// )
/// .await?;
/// store.migrate().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PostgresJournalStore {
    url: String,
    journal: String,
    chain: Chain,
    keep_snapshots: usize,
    client: Mutex<Option<Client>>,
    migrated: AtomicBool,
}

impl PostgresJournalStore {
    /// Connects to the database at `url` (a `tokio-postgres` connection
    /// string: `host=… user=… dbname=…` or `postgresql://…`), for the
    /// journal named `journal` (one table holds many journals), whose
    /// entries are linked by `chain`. Must be called inside a tokio
    /// runtime. A lost connection is made again on the next call.
    pub async fn connect(
        url: impl Into<String>,
        journal: impl Into<String>,
        chain: Chain,
    ) -> Result<Self, AdapterError> {
        let url = url.into();
        let client = connect(&url, None).await?;
        Ok(Self {
            url,
            journal: journal.into(),
            chain,
            keep_snapshots: 3,
            client: Mutex::new(Some(client)),
            migrated: AtomicBool::new(false),
        })
    }

    /// Keeps the newest `n` snapshots of the journal (at least 1; 3 unless
    /// set), letting go of older ones as new ones are saved.
    #[must_use]
    pub fn keep_snapshots(mut self, n: usize) -> Self {
        self.keep_snapshots = n.max(1);
        self
    }

    /// The journal's name.
    pub fn journal(&self) -> &str {
        &self.journal
    }

    /// Applies the migrations the database lacks ([`MIGRATIONS`]) in one
    /// transaction under an advisory lock, and returns the schema version
    /// reached. A database of a newer schema is refused.
    pub async fn migrate(&self) -> Result<i32, AdapterError> {
        let mut guard = self.client().await?;
        let client = guard.as_mut().ok_or_else(closed)?;
        let result = async {
            // One transaction under one advisory lock: replicas migrating
            // together wait for each other, and a failed migration leaves
            // the schema as it was.
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock(7314159265)", &[])
                .await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS knowngood_schema (version integer NOT NULL)",
            )
            .await?;
            let mut reached: i32 = tx
                .query_one(
                    "SELECT COALESCE(MAX(version), 0) FROM knowngood_schema",
                    &[],
                )
                .await?
                .get(0);
            for (version, sql) in MIGRATIONS {
                if reached >= *version {
                    continue;
                }
                tx.batch_execute(sql).await?;
                tx.execute(
                    "INSERT INTO knowngood_schema (version) VALUES ($1)",
                    &[version],
                )
                .await?;
                reached = *version;
            }
            tx.commit().await?;
            Ok::<i32, tokio_postgres::Error>(reached)
        }
        .await;
        let reached = result.map_err(|e| failed(&mut guard, &e))?;
        if reached > SCHEMA_VERSION {
            return Err(newer(reached));
        }
        self.migrated.store(true, Ordering::Relaxed);
        Ok(reached)
    }

    /// The connection, made again if it was lost, with the schema checked
    /// once.
    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, AdapterError> {
        live(&self.client, &self.url).await
    }

    /// [`client`](Self::client) for a call that needs the schema.
    async fn ready(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, AdapterError> {
        let mut guard = self.client().await?;
        if !self.migrated.load(Ordering::Relaxed) {
            let client = guard.as_ref().ok_or_else(closed)?;
            let version = client
                .query_opt(
                    "SELECT MAX(version) FROM knowngood_schema WHERE to_regclass('knowngood_schema') IS NOT NULL",
                    &[],
                )
                .await;
            let version: Option<i32> = match version {
                Ok(row) => row.and_then(|r| r.get(0)),
                Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => None,
                Err(e) => return Err(failed(&mut guard, &e)),
            };
            match version {
                Some(v) if (OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&v) => {
                    self.migrated.store(true, Ordering::Relaxed);
                }
                Some(v) if v > SCHEMA_VERSION => return Err(newer(v)),
                found => {
                    return Err(AdapterError::new(
                        ErrorKind::Rejected,
                        format!(
                            "postgres: the database has knowngood schema version {}, this knowngood needs {OLDEST_SCHEMA_VERSION} to {SCHEMA_VERSION}: call PostgresJournalStore::migrate (or apply adapters::postgres::MIGRATIONS with your own tool)",
                            found.unwrap_or(0)
                        ),
                    ));
                }
            }
        }
        Ok(guard)
    }

    /// The hash of the entry at `position` (the genesis for 0).
    async fn hash_at(
        &self,
        client: &impl tokio_postgres::GenericClient,
        position: u64,
    ) -> Result<EntryHash, tokio_postgres::Error> {
        if position == 0 {
            return Ok(self.chain.genesis());
        }
        let row = client
            .query_opt(
                "SELECT hash FROM knowngood_journal WHERE journal = $1 AND position = $2",
                &[&self.journal, &to_i64(position)],
            )
            .await?;
        Ok(row
            .and_then(|r| EntryHash::parse_hex(r.get::<_, &str>(0)))
            .unwrap_or_default())
    }

    /// A follower of this journal: told the journal's length each time an
    /// append commits, on its own connection. Follow first, then read what
    /// you have not seen: a notification sent before the follower listened
    /// is not repeated.
    pub async fn follow(&self) -> Result<Follower, AdapterError> {
        let (sender, receiver) = watch::channel(0);
        let client = connect(&self.url, Some((self.journal.clone(), sender))).await?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(|e| db_error(&e))?;
        Ok(Follower {
            _client: client,
            receiver,
        })
    }

    /// Leases for this journal's replicas, on their own connection.
    pub async fn leases(&self) -> Result<PostgresLeases, AdapterError> {
        Ok(PostgresLeases {
            url: self.url.clone(),
            journal: self.journal.clone(),
            client: Arc::new(Mutex::new(Some(connect(&self.url, None).await?))),
        })
    }
}
