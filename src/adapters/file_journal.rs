//! A durable [`JournalStore`] in one JSON Lines file, in the library's own
//! format (what [`Journal::write_jsonl`](crate::Journal::write_jsonl)
//! writes and [`Journal::from_jsonl`](crate::Journal::from_jsonl) reads).
//!
//! - Every append takes an exclusive lock on the file (so two processes
//!   never interleave), checks the stored length against the writer's
//!   expected one and that the first new entry links onto the last stored
//!   one, writes the lines and `fsync`s before it answers.
//! - Entries another process appended are picked up on the next read.
//! - A torn last line (a crash in the middle of a write: no newline, not a
//!   whole entry) is cut off when the store opens, and said so
//!   ([`FileJournalStore::repaired`]). A complete line that does not read
//!   is never dropped: opening fails and names it.
//! - Snapshots ([`JournalStore::save_snapshot`]) are kept beside the file,
//!   in `<file>.snapshots/`, one JSON file per snapshot, written whole and
//!   renamed into place; the newest three are kept unless
//!   [`FileJournalStore::keep_snapshots`] says otherwise. The store reads
//!   and checks the whole file when it first reads (and keeps its entries
//!   in memory, reading only what was appended afterwards): a snapshot
//!   saves the replay, not that read.

use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::journal::{Chain, EntryHash, JournalEntry, MAX_LINE_BYTES, StoredSnapshot};
use crate::port::{AdapterError, ErrorKind, JournalStore};

/// A journal store in one JSON Lines file.
///
/// ```
/// use knowngood::adapters::FileJournalStore;
/// use knowngood::port::JournalStore;
/// use knowngood::memory::block_on;
/// let dir = std::env::temp_dir().join(format!("kg-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let store = FileJournalStore::open(dir.join("journal.jsonl"), knowngood::Chain::named("doc")).unwrap();
/// assert!(block_on(store.read_from(1)).unwrap().is_empty());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct FileJournalStore {
    path: PathBuf,
    chain: Chain,
    /// The file, opened for reading and appending (the lock is taken on
    /// it for each append), and what was read of it so far.
    file: Mutex<(File, Stored)>,
    repaired: Option<u64>,
    keep_snapshots: usize,
}

/// What is stored: the entries, where the last complete line ends, how
/// many lines that is, and the last entry's line (with where it starts),
/// so that a later read can check the file still ends that way and read
/// only what was appended since.
#[derive(Debug, Default)]
struct Stored {
    entries: Vec<JournalEntry>,
    end: u64,
    lines: usize,
    last: Option<(u64, Vec<u8>)>,
    torn: bool,
}

impl FileJournalStore {
    /// Opens (or creates) the journal file at `path`, whose entries are
    /// linked by `chain`. A torn last line is cut off; a complete line
    /// that does not read fails the open, naming it.
    pub fn open(path: impl AsRef<Path>, chain: Chain) -> Result<Self, AdapterError> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| at(&path, e))?;
        file.lock().map_err(|e| at(&path, e))?;
        let stored = read_on(&file, &chain, &path, Stored::default());
        let repaired = match &stored {
            Ok(s) if s.torn => {
                let len = file.metadata().map_or(s.end, |m| m.len());
                file.set_len(s.end)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| at(&path, e))?;
                Some(len.saturating_sub(s.end))
            }
            _ => None,
        };
        let _ = file.unlock();
        let mut stored = stored?;
        stored.torn = false;
        Ok(Self {
            path,
            chain,
            file: Mutex::new((file, stored)),
            repaired,
            keep_snapshots: 3,
        })
    }

    /// How many bytes of a torn last line were cut off when the store
    /// opened, if any.
    pub fn repaired(&self) -> Option<u64> {
        self.repaired
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the newest `n` snapshots (at least 1; 3 unless set), letting
    /// go of older ones as new ones are saved.
    #[must_use]
    pub fn keep_snapshots(mut self, n: usize) -> Self {
        self.keep_snapshots = n.max(1);
        self
    }

    /// The directory snapshots are kept in: the journal file's path with
    /// `.snapshots` appended, one file per snapshot named after its
    /// position.
    pub fn snapshot_dir(&self) -> PathBuf {
        let mut dir = self.path.clone().into_os_string();
        dir.push(".snapshots");
        PathBuf::from(dir)
    }

    /// The positions of the snapshots kept, oldest first.
    fn snapshot_positions(&self) -> Result<Vec<u64>, AdapterError> {
        let dir = self.snapshot_dir();
        let listing = match std::fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(at(&dir, e)),
        };
        let mut positions = Vec::new();
        for item in listing {
            let item = item.map_err(|e| at(&dir, e))?;
            if let Some(position) = item
                .file_name()
                .to_str()
                .and_then(|name| name.strip_suffix(".json"))
                .and_then(|stem| stem.parse::<u64>().ok())
            {
                positions.push(position);
            }
        }
        positions.sort_unstable();
        Ok(positions)
    }

    /// Brings `cache` up to date with the file: when the file still ends
    /// with the last line read (another process can only append), only
    /// the lines after it are read and checked; otherwise (the file was
    /// cut or replaced) the whole file is read again.
    fn refresh(&self, file: &File, cache: &mut Stored) -> Result<(), AdapterError> {
        let len = file.metadata().map_err(|e| at(&self.path, e))?.len();
        let intact = len >= cache.end
            && match &cache.last {
                None => cache.end == 0,
                Some((start, bytes)) => {
                    let mut found = vec![0; bytes.len()];
                    let mut reader: &File = file;
                    reader
                        .seek(SeekFrom::Start(*start))
                        .and_then(|_| reader.read_exact(&mut found))
                        .is_ok()
                        && found == *bytes
                }
            };
        let base = if intact {
            std::mem::take(cache)
        } else {
            Stored::default()
        };
        *cache = read_on(file, &self.chain, &self.path, base)?;
        Ok(())
    }
}

/// An I/O error as an adapter error that names the file.
fn at(path: &Path, e: std::io::Error) -> AdapterError {
    let message = format!("{}: {e}", path.display());
    let kind = AdapterError::from(e).kind();
    AdapterError::new(kind, message)
}

/// Reads the complete lines of `file` after those `stored` holds,
/// checking each follows on.
fn read_on(
    file: &File,
    chain: &Chain,
    path: &Path,
    stored: Stored,
) -> Result<Stored, AdapterError> {
    let Stored {
        mut entries,
        mut end,
        lines: mut number,
        mut last,
        ..
    } = stored;
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(end)).map_err(|e| at(path, e))?;
    let mut line = Vec::new();
    let cap = u64::try_from(MAX_LINE_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    loop {
        line.clear();
        let read = reader
            .by_ref()
            .take(cap)
            .read_until(b'\n', &mut line)
            .map_err(|e| at(path, e))?;
        if read == 0 {
            return Ok(Stored {
                entries,
                end,
                lines: number,
                last,
                torn: false,
            });
        }
        number = number.saturating_add(1);
        if line.len() > MAX_LINE_BYTES {
            return Err(corrupt(
                path,
                number,
                &format!("is longer than {MAX_LINE_BYTES} bytes"),
            ));
        }
        if line.last() != Some(&b'\n') {
            // A write cut short: no newline. Torn unless it is, by chance,
            // a whole entry (then the newline alone was lost).
            let whole = std::str::from_utf8(&line).ok().and_then(|text| {
                let previous = entries.last().map_or_else(|| chain.genesis(), |e| e.hash);
                JournalEntry::from_line(text, &previous, chain).ok()
            });
            if whole.is_none() {
                return Ok(Stored {
                    entries,
                    end,
                    lines: number.saturating_sub(1),
                    last,
                    torn: true,
                });
            }
        }
        let text = std::str::from_utf8(&line).map_err(|_| corrupt(path, number, "is not UTF-8"))?;
        if text.trim().is_empty() {
            end = end.saturating_add(read as u64);
            continue;
        }
        let previous: EntryHash = entries.last().map_or_else(|| chain.genesis(), |e| e.hash);
        let entry = JournalEntry::from_line(text, &previous, chain)
            .map_err(|problem| corrupt(path, number, &problem.to_string()))?;
        let expected = (entries.len() as u64).saturating_add(1);
        if entry.position != expected {
            return Err(corrupt(
                path,
                number,
                &format!(
                    "has position {} where {expected} was expected",
                    entry.position
                ),
            ));
        }
        entries.push(entry);
        last = Some((end, line.clone()));
        end = end.saturating_add(read as u64);
    }
}

fn corrupt(path: &Path, line: usize, problem: &str) -> AdapterError {
    AdapterError::new(
        ErrorKind::Rejected,
        format!(
            "{}: journal line {line} {problem}; nothing was dropped: repair or restore the file",
            path.display()
        ),
    )
}

#[async_trait]
impl JournalStore for FileJournalStore {
    async fn append(
        &self,
        expected_len: u64,
        entries: &[JournalEntry],
    ) -> Result<(), AdapterError> {
        let mut guard = self.file.lock().map_err(|_| {
            AdapterError::new(ErrorKind::Unavailable, "the file's lock was poisoned")
        })?;
        let (file, cache) = &mut *guard;
        file.lock().map_err(|e| at(&self.path, e))?;
        let result = (|| {
            self.refresh(file, cache)?;
            let len = cache.entries.len() as u64;
            if len != expected_len {
                return Err(AdapterError::new(
                    ErrorKind::Conflict,
                    format!(
                        "{}: the journal holds {len} entries, not {expected_len}",
                        self.path.display()
                    ),
                ));
            }
            // The new entries must continue the stored chain.
            let previous = cache
                .entries
                .last()
                .map_or_else(|| self.chain.genesis(), |e| e.hash);
            let mut text = String::new();
            for line in super::continuing_lines(entries, previous, &self.chain)? {
                text.push_str(&line);
                text.push('\n');
            }
            if cache.torn {
                file.set_len(cache.end)?;
                cache.torn = false;
            }
            let mut writer: &File = file;
            // A last entry whose newline alone was lost (a crash right
            // before it) gets it back before anything follows it.
            if cache
                .last
                .as_ref()
                .is_some_and(|(_, line)| line.last() != Some(&b'\n'))
            {
                text.insert(0, '\n');
            }
            writer.seek(SeekFrom::End(0))?;
            writer.write_all(text.as_bytes())?;
            file.sync_data()?;
            // Read back what was written (only that).
            self.refresh(file, cache)
        })();
        let _ = file.unlock();
        result
    }

    async fn read_from(&self, position: u64) -> Result<Vec<JournalEntry>, AdapterError> {
        let mut guard = self.file.lock().map_err(|_| {
            AdapterError::new(ErrorKind::Unavailable, "the file's lock was poisoned")
        })?;
        let (file, cache) = &mut *guard;
        self.refresh(file, cache)?;
        let start = usize::try_from(position.saturating_sub(1)).unwrap_or(usize::MAX);
        Ok(cache
            .entries
            .get(start..)
            .map(<[JournalEntry]>::to_vec)
            .unwrap_or_default())
    }

    async fn read_page(
        &self,
        position: u64,
        max: usize,
    ) -> Result<Vec<JournalEntry>, AdapterError> {
        let mut guard = self.file.lock().map_err(|_| {
            AdapterError::new(ErrorKind::Unavailable, "the file's lock was poisoned")
        })?;
        let (file, cache) = &mut *guard;
        self.refresh(file, cache)?;
        let start = usize::try_from(position.saturating_sub(1)).unwrap_or(usize::MAX);
        Ok(cache
            .entries
            .iter()
            .skip(start)
            .take(max)
            .cloned()
            .collect())
    }

    async fn save_snapshot(&self, snapshot: &StoredSnapshot) -> Result<(), AdapterError> {
        let dir = self.snapshot_dir();
        std::fs::create_dir_all(&dir).map_err(|e| at(&dir, e))?;
        let path = dir.join(format!("{:020}.json", snapshot.position));
        let partial = dir.join(format!("{:020}.json.partial", snapshot.position));
        let text = serde_json::to_vec(snapshot)
            .map_err(|e| AdapterError::new(ErrorKind::Rejected, e.to_string()))?;
        // Written whole, synced, then renamed into place: a crash leaves
        // the old snapshots and at most a partial file no reader looks at.
        (|| {
            let mut file = File::create(&partial)?;
            file.write_all(&text)?;
            file.sync_all()?;
            std::fs::rename(&partial, &path)?;
            File::open(&dir)?.sync_all()
        })()
        .map_err(|e| at(&path, e))?;
        let mut kept = self.snapshot_positions()?;
        while kept.len() > self.keep_snapshots.max(1) {
            let oldest = kept.remove(0);
            let old = dir.join(format!("{oldest:020}.json"));
            std::fs::remove_file(&old).map_err(|e| at(&old, e))?;
        }
        Ok(())
    }

    async fn read_snapshot(
        &self,
        before: Option<u64>,
    ) -> Result<Option<StoredSnapshot>, AdapterError> {
        let Some(position) = self
            .snapshot_positions()?
            .into_iter()
            .rev()
            .find(|p| before.is_none_or(|b| *p < b))
        else {
            return Ok(None);
        };
        let path = self.snapshot_dir().join(format!("{position:020}.json"));
        let text = std::fs::read(&path).map_err(|e| at(&path, e))?;
        // One that does not read is handed over as such, for the reader
        // to pass over and name.
        Ok(Some(serde_json::from_slice(&text).unwrap_or_else(|e| {
            StoredSnapshot::new(
                position,
                crate::journal::EntryHash::default(),
                crate::journal::EntryHash::default(),
                format!("unreadable snapshot file {}: {e}", path.display()),
            )
        })))
    }

    fn chain(&self) -> Chain {
        self.chain.clone()
    }
}
