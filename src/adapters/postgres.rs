//! A [`JournalStore`] on `PostgreSQL`, with [`Leases`] so that one replica
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
//! [`Leases`] for how the driver uses it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Mutex, watch};
use tokio_postgres::error::SqlState;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::journal::{Chain, EntryHash, JournalEntry, StoredSnapshot};
use crate::port::{AdapterError, ErrorKind, JournalStore, LeaseAnswer, Leases};

/// The adapter's migrations, oldest first: `(version, SQL)`. Applied by
/// [`PostgresJournalStore::migrate`]; published so that a team that
/// manages its schema with its own tool can apply them there.
pub const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE TABLE knowngood_journal (
         journal  text   NOT NULL,
         position bigint NOT NULL CHECK (position > 0),
         line     text   NOT NULL,
         hash     text   NOT NULL,
         PRIMARY KEY (journal, position)
     );
     CREATE FUNCTION knowngood_journal_append_only() RETURNS trigger
         LANGUAGE plpgsql AS $$
         BEGIN
             RAISE EXCEPTION 'knowngood_journal is append-only: % refused', TG_OP;
         END $$;
     CREATE TRIGGER knowngood_journal_append_only
         BEFORE UPDATE OR DELETE ON knowngood_journal
         FOR EACH ROW EXECUTE FUNCTION knowngood_journal_append_only();
     CREATE TABLE knowngood_snapshots (
         journal  text   NOT NULL,
         position bigint NOT NULL,
         hash     text   NOT NULL,
         seal     text   NOT NULL,
         body     text   NOT NULL,
         PRIMARY KEY (journal, position)
     );
     CREATE TABLE knowngood_leases (
         journal    text        NOT NULL,
         scope      text        NOT NULL,
         holder     text        NOT NULL,
         token      bigint      NOT NULL,
         expires_at timestamptz NOT NULL,
         PRIMARY KEY (journal, scope)
     );",
)];

/// The schema version this adapter needs.
pub const SCHEMA_VERSION: i32 = 1;

/// The channel appends notify on.
pub const CHANNEL: &str = "knowngood_journal";

/// How many rows one query reads at most.
const READ_PAGE: usize = 1_000;

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

/// A database error as an adapter error.
fn db_error(e: &tokio_postgres::Error) -> AdapterError {
    let kind = match e.code() {
        Some(code)
            if *code == SqlState::UNIQUE_VIOLATION
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            ErrorKind::Conflict
        }
        Some(code) if *code == SqlState::UNDEFINED_TABLE => ErrorKind::Rejected,
        Some(_) => ErrorKind::Rejected,
        None if e.is_closed() => ErrorKind::Unavailable,
        // No SQL state: the connection, not the statement, failed.
        None => ErrorKind::Unavailable,
    };
    let detail = e
        .as_db_error()
        .map_or_else(|| e.to_string(), |db| db.message().to_owned());
    AdapterError::new(kind, format!("postgres: {detail}"))
}

/// Connects to `url` and spawns the connection's task, which hands every
/// notification on `CHANNEL` to `notify`.
async fn connect(
    url: &str,
    notify: Option<(String, watch::Sender<u64>)>,
) -> Result<Client, AdapterError> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| db_error(&e))?;
    tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    let Some((journal, sender)) = &notify else {
                        continue;
                    };
                    let Some((len, name)) = n.payload().split_once(' ') else {
                        continue;
                    };
                    if name == journal
                        && let Ok(len) = len.parse::<u64>()
                    {
                        sender.send_if_modified(|latest| {
                            let newer = len > *latest;
                            if newer {
                                *latest = len;
                            }
                            newer
                        });
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            }
        }
    });
    Ok(client)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
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
                Some(v) if v == SCHEMA_VERSION => self.migrated.store(true, Ordering::Relaxed),
                Some(v) if v > SCHEMA_VERSION => return Err(newer(v)),
                found => {
                    return Err(AdapterError::new(
                        ErrorKind::Rejected,
                        format!(
                            "postgres: the database has knowngood schema version {}, this knowngood needs {SCHEMA_VERSION}: call PostgresJournalStore::migrate (or apply adapters::postgres::MIGRATIONS with your own tool)",
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

/// A statement's failure; a closed connection is dropped so that the
/// next call makes a new one.
fn failed(guard: &mut Option<Client>, e: &tokio_postgres::Error) -> AdapterError {
    if guard.as_ref().is_some_and(Client::is_closed) {
        *guard = None;
    }
    db_error(e)
}

/// The connection in `slot`, made again (to `url`) if it was lost.
async fn live<'a>(
    slot: &'a Mutex<Option<Client>>,
    url: &str,
) -> Result<tokio::sync::MutexGuard<'a, Option<Client>>, AdapterError> {
    let mut guard = slot.lock().await;
    if guard.as_ref().is_none_or(Client::is_closed) {
        *guard = Some(connect(url, None).await?);
    }
    Ok(guard)
}

fn closed() -> AdapterError {
    AdapterError::new(ErrorKind::Unavailable, "postgres: the connection is closed")
}

fn newer(version: i32) -> AdapterError {
    AdapterError::new(
        ErrorKind::Rejected,
        format!(
            "postgres: the database has knowngood schema version {version}, newer than this knowngood's {SCHEMA_VERSION}: upgrade knowngood"
        ),
    )
}

#[async_trait]
impl JournalStore for PostgresJournalStore {
    async fn append(
        &self,
        expected_len: u64,
        entries: &[JournalEntry],
    ) -> Result<(), AdapterError> {
        let mut guard = self.ready().await?;
        let client = guard.as_mut().ok_or_else(closed)?;
        let result = async {
            let tx = client.transaction().await?;
            let last = tx
                .query_opt(
                    "SELECT position, hash FROM knowngood_journal WHERE journal = $1 ORDER BY position DESC LIMIT 1",
                    &[&self.journal],
                )
                .await?;
            let (len, previous) = match &last {
                Some(row) => (
                    to_u64(row.get(0)),
                    EntryHash::parse_hex(row.get::<_, &str>(1)).unwrap_or_default(),
                ),
                None => (0, self.chain.genesis()),
            };
            if len != expected_len {
                return Ok(Err(AdapterError::new(
                    ErrorKind::Conflict,
                    format!(
                        "postgres: journal `{}` holds {len} entries, not {expected_len}",
                        self.journal
                    ),
                )));
            }
            let lines = match super::continuing_lines(entries, previous, &self.chain) {
                Ok(lines) => lines,
                Err(e) => return Ok(Err(e)),
            };
            let positions: Vec<i64> = entries.iter().map(|e| to_i64(e.position)).collect();
            let hashes: Vec<String> = entries.iter().map(|e| e.hash.to_string()).collect();
            tx.execute(
                "INSERT INTO knowngood_journal (journal, position, line, hash)
                 SELECT $1, p, l, h FROM unnest($2::bigint[], $3::text[], $4::text[]) AS t(p, l, h)",
                &[&self.journal, &positions, &lines, &hashes],
            )
            .await?;
            let new_len = expected_len.saturating_add(entries.len() as u64);
            tx.execute(
                "SELECT pg_notify($1, $2)",
                &[&CHANNEL, &format!("{new_len} {}", self.journal)],
            )
            .await?;
            tx.commit().await?;
            Ok::<_, tokio_postgres::Error>(Ok(()))
        }
        .await;
        match result {
            Ok(answer) => answer,
            Err(e) => {
                let mut error = failed(&mut guard, &e);
                if error.kind() == ErrorKind::Conflict {
                    error = AdapterError::new(
                        ErrorKind::Conflict,
                        format!(
                            "postgres: another writer appended to journal `{}` at position {} first",
                            self.journal,
                            expected_len.saturating_add(1)
                        ),
                    );
                }
                Err(error)
            }
        }
    }

    async fn read_from(&self, position: u64) -> Result<Vec<JournalEntry>, AdapterError> {
        self.read_page(position, usize::MAX).await
    }

    async fn read_page(
        &self,
        position: u64,
        max: usize,
    ) -> Result<Vec<JournalEntry>, AdapterError> {
        let mut guard = self.ready().await?;
        let client = guard.as_mut().ok_or_else(closed)?;
        let start = position.max(1);
        let mut out = Vec::new();
        let result = async {
            let mut previous = self.hash_at(&*client, start.saturating_sub(1)).await?;
            let mut next = start;
            // One bounded query at a time, never an unbounded result set.
            while out.len() < max {
                let limit = max.saturating_sub(out.len()).min(READ_PAGE);
                let rows = client
                    .query(
                        "SELECT position, line FROM knowngood_journal
                         WHERE journal = $1 AND position >= $2 ORDER BY position LIMIT $3",
                        &[&self.journal, &to_i64(next), &to_i64(limit as u64)],
                    )
                    .await?;
                let got = rows.len();
                for row in rows {
                    let at: i64 = row.get(0);
                    let line: &str = row.get(1);
                    let entry = match JournalEntry::from_line(line, &previous, &self.chain) {
                        Ok(entry) => entry,
                        Err(problem) => {
                            return Ok(Err(AdapterError::new(
                                ErrorKind::Rejected,
                                format!(
                                    "postgres: journal `{}` entry {at} {problem}",
                                    self.journal
                                ),
                            )));
                        }
                    };
                    previous = entry.hash;
                    next = entry.position.saturating_add(1);
                    out.push(entry);
                }
                if got < limit {
                    break;
                }
            }
            Ok::<_, tokio_postgres::Error>(Ok(()))
        }
        .await;
        match result {
            Ok(Ok(())) => Ok(out),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(failed(&mut guard, &e)),
        }
    }

    async fn save_snapshot(&self, snapshot: &StoredSnapshot) -> Result<(), AdapterError> {
        let mut guard = self.ready().await?;
        let client = guard.as_mut().ok_or_else(closed)?;
        let result = async {
            let tx = client.transaction().await?;
            tx.execute(
                "INSERT INTO knowngood_snapshots (journal, position, hash, seal, body)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (journal, position) DO UPDATE
                 SET hash = EXCLUDED.hash, seal = EXCLUDED.seal, body = EXCLUDED.body",
                &[
                    &self.journal,
                    &to_i64(snapshot.position),
                    &snapshot.hash.to_string(),
                    &snapshot.seal.to_string(),
                    &snapshot.body,
                ],
            )
            .await?;
            tx.execute(
                "DELETE FROM knowngood_snapshots WHERE journal = $1 AND position NOT IN
                     (SELECT position FROM knowngood_snapshots WHERE journal = $1
                      ORDER BY position DESC LIMIT $2)",
                &[&self.journal, &to_i64(self.keep_snapshots as u64)],
            )
            .await?;
            tx.commit().await
        }
        .await;
        result.map_err(|e| failed(&mut guard, &e))
    }

    async fn read_snapshot(
        &self,
        before: Option<u64>,
    ) -> Result<Option<StoredSnapshot>, AdapterError> {
        let mut guard = self.ready().await?;
        let client = guard.as_mut().ok_or_else(closed)?;
        let row = client
            .query_opt(
                "SELECT position, hash, seal, body FROM knowngood_snapshots
                 WHERE journal = $1 AND position < $2 ORDER BY position DESC LIMIT 1",
                &[&self.journal, &before.map_or(i64::MAX, to_i64)],
            )
            .await;
        let row = row.map_err(|e| failed(&mut guard, &e))?;
        Ok(row.map(|r| {
            super::stored_snapshot(
                to_u64(r.get(0)),
                r.get::<_, &str>(1),
                r.get::<_, &str>(2),
                r.get(3),
            )
        }))
    }

    fn chain(&self) -> Chain {
        self.chain.clone()
    }
}

/// Told the journal's length each time an append commits
/// ([`PostgresJournalStore::follow`]).
#[derive(Debug)]
pub struct Follower {
    _client: Client,
    receiver: watch::Receiver<u64>,
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

/// [`Leases`] in the `knowngood_leases` table
/// ([`PostgresJournalStore::leases`]).
#[derive(Debug, Clone)]
pub struct PostgresLeases {
    url: String,
    journal: String,
    client: Arc<Mutex<Option<Client>>>,
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
