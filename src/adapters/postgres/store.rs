//! The journal store: appends checked in one transaction, pages, snapshots.

use super::PostgresJournalStore;
use super::connection::{closed, failed, failed_at, to_i64, to_u64};
use super::schema::CHANNEL;
use crate::journal::{Chain, EntryHash, JournalEntry, StoredSnapshot};
use crate::port::{AdapterError, ErrorKind, Fence, JournalStore};
use async_trait::async_trait;
use tokio_postgres::types::Type;

/// How many rows one query reads at most.
const READ_PAGE: usize = 1_000;

impl PostgresJournalStore {
    /// An append in one transaction, refused unless `fence` (if any) is
    /// still the lease its holder has.
    async fn append_checked(
        &self,
        expected_len: u64,
        entries: &[JournalEntry],
        fence: Option<&Fence>,
    ) -> Result<(), AdapterError> {
        let mut guard = self.ready().await?;
        let client = guard.as_mut().ok_or_else(closed)?;
        // Whether the failure, if any, came while committing: then the
        // commit may have happened and only its reply been lost.
        let committing = std::sync::atomic::AtomicBool::new(false);
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
            if let Some(fence) = fence {
                // The lease row is locked for the transaction: it cannot
                // pass to another holder before this commits.
                let held = tx
                    .query_opt(
                        "SELECT 1 FROM knowngood_leases
                         WHERE journal = $1 AND scope = $2 AND holder = $3 AND token = $4
                           AND expires_at > clock_timestamp()
                         FOR SHARE",
                        &[&self.journal, &fence.scope, &fence.holder, &to_i64(fence.token)],
                    )
                    .await?;
                if held.is_none() {
                    return Ok(Err(AdapterError::new(
                        ErrorKind::Rejected,
                        format!(
                            "postgres: the lease on `{}` is no longer `{}`'s under token {} (it expired or passed to another replica): nothing was written; that replica acts now",
                            fence.scope, fence.holder, fence.token
                        ),
                    )));
                }
            }
            if len != expected_len {
                return Ok(Err(AdapterError::new(
                    ErrorKind::Conflict,
                    format!(
                        "postgres: journal `{}` holds {len} entries, not {expected_len}",
                        self.journal
                    ),
                )));
            }
            let lines = match crate::adapters::continuing_lines(entries, previous, &self.chain) {
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
            committing.store(true, std::sync::atomic::Ordering::Relaxed);
            tx.commit().await?;
            Ok::<_, tokio_postgres::Error>(Ok(()))
        }
        .await;
        match result {
            Ok(answer) => answer,
            Err(e) => {
                let mut error = failed_at(
                    &mut guard,
                    &e,
                    committing.load(std::sync::atomic::Ordering::Relaxed),
                );
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
}

#[async_trait]
impl JournalStore for PostgresJournalStore {
    async fn append(
        &self,
        expected_len: u64,
        entries: &[JournalEntry],
    ) -> Result<(), AdapterError> {
        self.append_checked(expected_len, entries, None).await
    }

    async fn append_fenced(
        &self,
        expected_len: u64,
        entries: &[JournalEntry],
        fence: &Fence,
    ) -> Result<(), AdapterError> {
        self.append_checked(expected_len, entries, Some(fence))
            .await
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
            // The body's column is text on schema 1 and bytes on schema 2:
            // the statement says which, even if another replica migrated
            // the database since this one checked it.
            let insert = tx
                .prepare(
                    "INSERT INTO knowngood_snapshots (journal, position, hash, seal, body)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (journal, position) DO UPDATE
                     SET hash = EXCLUDED.hash, seal = EXCLUDED.seal, body = EXCLUDED.body",
                )
                .await?;
            let position = to_i64(snapshot.position);
            let (hash, seal) = (snapshot.hash.to_string(), snapshot.seal.to_string());
            if insert.params().get(4) == Some(&Type::BYTEA) {
                let packed = super::body::pack(&snapshot.body);
                let packed: &[u8] = &packed;
                tx.execute(&insert, &[&self.journal, &position, &hash, &seal, &packed])
                    .await?;
            } else {
                tx.execute(
                    &insert,
                    &[&self.journal, &position, &hash, &seal, &snapshot.body],
                )
                .await?;
            }
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
        let Some(r) = row else {
            return Ok(None);
        };
        // Bytes on schema 2 (compressed, or a schema-1 body converted as
        // it was), text on schema 1. A body that does not decode is handed
        // on empty: its seal fails and the start passes it over.
        let body = if r.columns().get(3).map(tokio_postgres::Column::type_) == Some(&Type::BYTEA) {
            r.try_get::<_, &[u8]>(3)
                .map(|bytes| super::body::unpack(bytes).unwrap_or_default())
        } else {
            r.try_get::<_, String>(3)
        };
        let body = body.map_err(|e| {
            AdapterError::new(
                ErrorKind::Rejected,
                format!(
                    "postgres: knowngood_snapshots.body is neither the text of schema 1 nor the bytes of schema 2 ({e}): the table is not one this adapter's migrations made"
                ),
            )
        })?;
        Ok(Some(crate::adapters::stored_snapshot(
            to_u64(r.get(0)),
            r.get::<_, &str>(1),
            r.get::<_, &str>(2),
            body,
        )))
    }

    fn chain(&self) -> Chain {
        self.chain.clone()
    }
}
