//! Adapters to real systems. The core never reads a clock or does I/O;
//! these do, on the host's behalf. Each sits behind a cargo feature of its
//! name, and each module's page says what it writes, what it reads and the
//! conventions it follows:
//!
//! | feature | module | port |
//! | --- | --- | --- |
//! | (always) | `analysis_probe`: an [`Analysis`](crate::analysis::Analysis) judged on a [`Metrics`](crate::port::Metrics) source, looking back | [`HealthProbe`](crate::port::HealthProbe) |
//! | `command` | `command`: placeholders, environment variables, exit codes, timeouts | [`Deployer`](crate::port::Deployer), [`HealthProbe`](crate::port::HealthProbe) |
//! | `file-journal` | `file_journal`: the file, its lock, torn tails, snapshots beside it | [`JournalStore`](crate::port::JournalStore) |
//! | `flagd` | `flagd`: flagd flag files, where the revision lives | [`FlagStore`](crate::port::FlagStore) |
//! | `git` | `git`: the git command line, the revert trailer, key refs | [`Vcs`](crate::port::Vcs) |
//! | `sqlite` | `sqlite`: the schema, appends in one transaction | [`JournalStore`](crate::port::JournalStore) |
//! | `postgres` | `postgres`: migrations, appends, leases, followers | [`JournalStore`](crate::port::JournalStore), [`Leases`](crate::port::Leases) |
//! | `prometheus` | `prometheus`: the HTTP query API, one number per measurement, errors by kind | [`Metrics`](crate::port::Metrics) |

/// `JournalStore` for a blocking store (`Clone`, with `append_now`,
/// `read_page_now`, `save_snapshot_now`, `read_snapshot_now` and a `chain`
/// field): every call runs on the blocking pool ([`off_executor`]).
#[cfg(any(feature = "file-journal", feature = "sqlite"))]
macro_rules! journal_store_off_executor {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::port::JournalStore for $store {
            async fn append(
                &self,
                expected_len: u64,
                entries: &[$crate::journal::JournalEntry],
            ) -> Result<(), $crate::port::AdapterError> {
                let this = self.clone();
                let entries = entries.to_vec();
                $crate::adapters::off_executor(move || this.append_now(expected_len, &entries))
                    .await
            }

            async fn read_from(
                &self,
                position: u64,
            ) -> Result<Vec<$crate::journal::JournalEntry>, $crate::port::AdapterError> {
                self.read_page(position, usize::MAX).await
            }

            async fn read_page(
                &self,
                position: u64,
                max: usize,
            ) -> Result<Vec<$crate::journal::JournalEntry>, $crate::port::AdapterError> {
                let this = self.clone();
                $crate::adapters::off_executor(move || this.read_page_now(position, max)).await
            }

            async fn save_snapshot(
                &self,
                snapshot: &$crate::journal::StoredSnapshot,
            ) -> Result<(), $crate::port::AdapterError> {
                let this = self.clone();
                let snapshot = snapshot.clone();
                $crate::adapters::off_executor(move || this.save_snapshot_now(&snapshot)).await
            }

            async fn read_snapshot(
                &self,
                before: Option<u64>,
            ) -> Result<Option<$crate::journal::StoredSnapshot>, $crate::port::AdapterError> {
                let this = self.clone();
                $crate::adapters::off_executor(move || this.read_snapshot_now(before)).await
            }

            fn chain(&self) -> $crate::journal::Chain {
                self.chain.clone()
            }
        }
    };
}

pub mod analysis_probe;
#[cfg(feature = "command")]
pub mod command;
#[cfg(feature = "file-journal")]
pub mod file_journal;
#[cfg(feature = "flagd")]
pub mod flagd;
#[cfg(feature = "git")]
pub mod git;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "prometheus")]
pub mod prometheus;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use analysis_probe::{AnalysisProbe, BaselineVerdict};
#[cfg(feature = "command")]
pub use command::{
    CommandBuilder, CommandDeployer, CommandHealthProbe, CommandRunbooks, CommandSpec,
};
#[cfg(feature = "file-journal")]
pub use file_journal::FileJournalStore;
#[cfg(feature = "flagd")]
pub use flagd::FlagdFileStore;
#[cfg(feature = "git")]
pub use git::GitVcs;
#[cfg(feature = "postgres")]
pub use postgres::{Follower, PostgresJournalStore, PostgresLeases};
#[cfg(feature = "prometheus")]
pub use prometheus::PrometheusMetrics;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteJournalStore;

/// The real clock; it lives in [`crate::port`] beside the [`Clock`](crate::port::Clock)
/// port and is named here too, where it always was.
pub use crate::port::SystemClock;

/// Runs `work` (file or process I/O, waits) on the `blocking` thread
/// pool, so that an adapter never blocks the caller's executor: an async
/// host's other tasks (lease renewals, a database connection, a ticker)
/// go on meanwhile. The pool needs no runtime of the host's.
#[cfg(any(
    feature = "git",
    feature = "command",
    feature = "flagd",
    feature = "file-journal",
    feature = "sqlite",
    feature = "prometheus"
))]
async fn off_executor<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    blocking::unblock(work).await
}

/// Refuses a symlink where one of knowngood's own files goes (a lock, a
/// sidecar, a key record): someone planted it, to have knowngood write,
/// or believe, another file.
#[cfg(any(feature = "command", feature = "flagd"))]
fn not_a_link(path: &std::path::Path) -> Result<(), crate::port::AdapterError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(crate::port::AdapterError::new(
            crate::port::ErrorKind::Rejected,
            format!(
                "{} is a symlink: knowngood's own files are never links, so it reads and writes nothing through it; remove it",
                path.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// Creates `path` afresh for a temporary or partial file, never through
/// whatever is there: a file or a symlink someone planted at the name is
/// removed (the link, not what it points to), and the new file is created
/// exclusively, so a link planted again in between makes it fail rather
/// than write through.
#[cfg(any(feature = "command", feature = "flagd", feature = "file-journal"))]
fn create_fresh(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// A stable 64-bit digest of an idempotency key (FNV-1a), for adapters
/// that name a file or a ref after a key whose text may not fit there.
#[cfg(any(feature = "git", feature = "command"))]
fn key_digest(key: &crate::recovery::IdempotencyKey) -> u64 {
    key.as_str()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| {
            (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// The canonical lines of `entries`, each checked to continue the stored
/// journal whose last hash is `previous` on `chain`: what a durable store
/// writes for an append.
#[cfg(any(feature = "file-journal", feature = "sqlite", feature = "postgres"))]
fn continuing_lines(
    entries: &[crate::journal::JournalEntry],
    mut previous: crate::journal::EntryHash,
    chain: &crate::journal::Chain,
) -> Result<Vec<String>, crate::port::AdapterError> {
    entries
        .iter()
        .map(|entry| {
            let line = entry.to_line();
            crate::journal::JournalEntry::from_line(&line, &previous, chain).map_err(
                |problem| {
                    crate::port::AdapterError::new(
                        crate::port::ErrorKind::Rejected,
                        format!(
                            "entry {} does not continue the stored journal: it {problem}",
                            entry.position
                        ),
                    )
                },
            )?;
            previous = entry.hash;
            Ok(line)
        })
        .collect()
}

/// A snapshot from the columns a database keeps it in; a hash that does
/// not parse becomes one that cannot match, so the reader passes the
/// snapshot over and says so.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn stored_snapshot(
    position: u64,
    hash: &str,
    seal: &str,
    body: String,
) -> crate::journal::StoredSnapshot {
    let parse = |text: &str| crate::journal::EntryHash::parse_hex(text).unwrap_or_default();
    crate::journal::StoredSnapshot::new(position, parse(hash), parse(seal), body)
}
