//! A [`JournalStore`](crate::port::JournalStore) on `SQLite`: one file with transactions, for hosts
//! that want the database to enforce what an event store needs.
//!
//! One table holds the journal, one row per entry, as its canonical line
//! ([`JournalEntry::to_line`]):
//!
//! ```sql
//! CREATE TABLE knowngood_journal (
//!     position INTEGER PRIMARY KEY,  -- 1, 2, 3 …: two writers cannot take the same one
//!     line     TEXT NOT NULL,        -- the entry, canonical, with its hash
//!     hash     TEXT NOT NULL         -- the entry's hash, for the next link
//! );
//! ```
//!
//! Snapshots ([`JournalStore::save_snapshot`](crate::port::JournalStore::save_snapshot)) go in a second table, the
//! newest three kept unless [`SqliteJournalStore::keep_snapshots`] says
//! otherwise:
//!
//! ```sql
//! CREATE TABLE knowngood_snapshots (
//!     position INTEGER PRIMARY KEY,  -- the journal position it was taken at
//!     hash     TEXT NOT NULL,        -- the journal's hash there
//!     seal     TEXT NOT NULL,        -- its seal on the journal's chain
//!     body     TEXT NOT NULL         -- the snapshot, JSON
//! );
//! ```
//!
//! The schema is created when the store opens, and a database of an older
//! schema is brought up to date (`PRAGMA user_version`: 1 had the journal
//! only, 2 adds the snapshots).
//! Each append is one immediate transaction that checks the stored length
//! against the writer's expected one and that the new entries link onto
//! the stored chain; a stale writer gets [`ErrorKind::Conflict`] and
//! nothing is written. Reads check every line and link again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use crate::journal::{Chain, EntryHash, JournalEntry, StoredSnapshot};
use crate::port::{AdapterError, ErrorKind};

/// The schema version this adapter writes.
const SCHEMA_VERSION: i64 = 2;

/// A journal store in a `SQLite` database file.
#[derive(Debug, Clone)]
pub struct SqliteJournalStore {
    path: PathBuf,
    chain: Chain,
    /// Shared by the store's clones, which the blocking pool works on.
    conn: Arc<Mutex<Connection>>,
    keep_snapshots: usize,
}

fn db_error(e: &rusqlite::Error) -> AdapterError {
    let kind = match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => ErrorKind::Conflict,
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            ErrorKind::Unavailable
        }
        Some(rusqlite::ErrorCode::CannotOpen) => ErrorKind::Unavailable,
        _ => ErrorKind::Rejected,
    };
    AdapterError::new(kind, format!("sqlite: {e}"))
}

impl SqliteJournalStore {
    /// Opens (or creates) the database at `path`, whose entries are linked
    /// by `chain`, and creates the schema if it is missing. A database
    /// written by a newer version of the schema is refused.
    pub fn open(path: impl AsRef<Path>, chain: Chain) -> Result<Self, AdapterError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path).map_err(|e| db_error(&e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| db_error(&e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| db_error(&e))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| db_error(&e))?;
        if version > SCHEMA_VERSION {
            return Err(AdapterError::new(
                ErrorKind::Rejected,
                format!(
                    "{}: schema version {version} is newer than this knowngood's {SCHEMA_VERSION}: upgrade knowngood",
                    path.display()
                ),
            ));
        }
        if version < SCHEMA_VERSION {
            conn.execute_batch(
                "BEGIN IMMEDIATE;
                 CREATE TABLE IF NOT EXISTS knowngood_journal (
                     position INTEGER PRIMARY KEY,
                     line     TEXT NOT NULL,
                     hash     TEXT NOT NULL
                 );
                 CREATE TABLE IF NOT EXISTS knowngood_snapshots (
                     position INTEGER PRIMARY KEY,
                     hash     TEXT NOT NULL,
                     seal     TEXT NOT NULL,
                     body     TEXT NOT NULL
                 );
                 PRAGMA user_version = 2;
                 COMMIT;",
            )
            .map_err(|e| db_error(&e))?;
        }
        Ok(Self {
            path,
            chain,
            conn: Arc::new(Mutex::new(conn)),
            keep_snapshots: 3,
        })
    }

    /// Keeps the newest `n` snapshots (at least 1; 3 unless set), letting
    /// go of older ones as new ones are saved.
    #[must_use]
    pub fn keep_snapshots(mut self, n: usize) -> Self {
        self.keep_snapshots = n.max(1);
        self
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, AdapterError> {
        self.conn.lock().map_err(|_| {
            AdapterError::new(ErrorKind::Unavailable, "the connection's lock was poisoned")
        })
    }

    /// The hash of the entry at `position` (the chain's genesis for 0).
    fn hash_at(&self, conn: &Connection, position: u64) -> Result<EntryHash, AdapterError> {
        if position == 0 {
            return Ok(self.chain.genesis());
        }
        let text: Option<String> = conn
            .query_row(
                "SELECT hash FROM knowngood_journal WHERE position = ?1",
                params![i64::try_from(position).unwrap_or(i64::MAX)],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| db_error(&e))?;
        text.and_then(|t| EntryHash::parse_hex(&t)).ok_or_else(|| {
            AdapterError::new(
                ErrorKind::Rejected,
                format!(
                    "{}: entry {position} is missing or has no valid hash",
                    self.path.display()
                ),
            )
        })
    }
}

impl SqliteJournalStore {
    fn append_now(&self, expected_len: u64, entries: &[JournalEntry]) -> Result<(), AdapterError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_error(&e))?;
        let len: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(position), 0) FROM knowngood_journal",
                [],
                |r| r.get(0),
            )
            .map_err(|e| db_error(&e))?;
        let len = u64::try_from(len).unwrap_or(0);
        if len != expected_len {
            return Err(AdapterError::new(
                ErrorKind::Conflict,
                format!(
                    "{}: the journal holds {len} entries, not {expected_len}",
                    self.path.display()
                ),
            ));
        }
        let previous = self.hash_at(&tx, len)?;
        let lines = super::continuing_lines(entries, previous, &self.chain)?;
        for (entry, line) in entries.iter().zip(lines) {
            tx.execute(
                "INSERT INTO knowngood_journal (position, line, hash) VALUES (?1, ?2, ?3)",
                params![
                    i64::try_from(entry.position).unwrap_or(i64::MAX),
                    line,
                    entry.hash.to_string()
                ],
            )
            .map_err(|e| db_error(&e))?;
        }
        tx.commit().map_err(|e| db_error(&e))
    }

    fn read_page_now(&self, position: u64, max: usize) -> Result<Vec<JournalEntry>, AdapterError> {
        let conn = self.conn()?;
        let start = position.max(1);
        let mut statement = conn
            .prepare("SELECT position, line FROM knowngood_journal WHERE position >= ?1 ORDER BY position LIMIT ?2")
            .map_err(|e| db_error(&e))?;
        let rows = statement
            .query_map(
                params![
                    i64::try_from(start).unwrap_or(i64::MAX),
                    i64::try_from(max).unwrap_or(i64::MAX)
                ],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
            )
            .map_err(|e| db_error(&e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| db_error(&e))?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // The first entry read must link onto the one before it.
        let mut previous = self.hash_at(&conn, start.saturating_sub(1))?;
        let mut out = Vec::with_capacity(rows.len());
        for (at, line) in rows {
            let entry =
                JournalEntry::from_line(&line, &previous, &self.chain).map_err(|problem| {
                    AdapterError::new(
                        ErrorKind::Rejected,
                        format!("{}: journal entry {at} {problem}", self.path.display()),
                    )
                })?;
            previous = entry.hash;
            out.push(entry);
        }
        Ok(out)
    }

    fn save_snapshot_now(&self, snapshot: &StoredSnapshot) -> Result<(), AdapterError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_error(&e))?;
        tx.execute(
            "INSERT OR REPLACE INTO knowngood_snapshots (position, hash, seal, body) VALUES (?1, ?2, ?3, ?4)",
            params![
                i64::try_from(snapshot.position).unwrap_or(i64::MAX),
                snapshot.hash.to_string(),
                snapshot.seal.to_string(),
                snapshot.body
            ],
        )
        .map_err(|e| db_error(&e))?;
        tx.execute(
            "DELETE FROM knowngood_snapshots WHERE position NOT IN
                 (SELECT position FROM knowngood_snapshots ORDER BY position DESC LIMIT ?1)",
            params![i64::try_from(self.keep_snapshots).unwrap_or(i64::MAX)],
        )
        .map_err(|e| db_error(&e))?;
        tx.commit().map_err(|e| db_error(&e))
    }

    fn read_snapshot_now(
        &self,
        before: Option<u64>,
    ) -> Result<Option<StoredSnapshot>, AdapterError> {
        let conn = self.conn()?;
        let row: Option<(i64, String, String, String)> = conn
            .query_row(
                "SELECT position, hash, seal, body FROM knowngood_snapshots
                 WHERE position < ?1 ORDER BY position DESC LIMIT 1",
                params![before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX))],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(|e| db_error(&e))?;
        Ok(row.map(|(position, hash, seal, body)| {
            super::stored_snapshot(u64::try_from(position).unwrap_or(0), &hash, &seal, body)
        }))
    }
}

journal_store_off_executor!(SqliteJournalStore);
