//! A durable [`JournalStore`](crate::port::JournalStore) in one JSON Lines file, in the library's own
//! format (what [`Journal::write_jsonl`](crate::Journal::write_jsonl)
//! writes and [`Journal::from_jsonl`](crate::Journal::from_jsonl) reads).
//!
//! - Every append takes an exclusive lock on the file (so two processes
//!   never interleave), checks the stored length against the writer's
//!   expected one and that the first new entry links onto the last stored
//!   one, writes the lines and `fsync`s before it answers.
//! - A batch (the entries of one append) is all or nothing, on read and
//!   after a crash: an append of more than one entry first writes them
//!   all to `<file>.batch` (a JSON header line
//!   `{"batch":1,"after":N,"hash":"<hex>","lines":k}`, then the lines),
//!   synced and renamed into place, and removes it once the journal holds
//!   them. Whoever next takes the lock and finds a batch file completes the
//!   batch from it. An append that fails midway (a full disk) cuts the
//!   journal back to where it was and says nothing was written.
//! - Reads take the file's shared lock, so they never see a batch half
//!   written; entries another process appended are picked up on the next
//!   read.
//! - A torn last line (a crash in the middle of a write: no newline, not a
//!   whole entry) is cut off when the store opens, and said so
//!   ([`FileJournalStore::repaired`]). A complete line that does not read
//!   is never dropped: opening fails and names it.
//! - Snapshots ([`JournalStore::save_snapshot`](crate::port::JournalStore::save_snapshot)) are kept beside the file,
//!   in `<file>.snapshots/`, one file per snapshot (a JSON header line:
//!   position, hash, seal; then the body as it is), written whole and
//!   renamed into place; the newest three are kept unless
//!   [`FileJournalStore::keep_snapshots`] says otherwise.
//! - [`FileJournalStore::open`] reads and checks the whole file (and keeps
//!   its entries in memory, reading only what was appended afterwards);
//!   [`FileJournalStore::open_lazily`] reads its end only, for a host that
//!   starts from a snapshot, and finds earlier lines from the end of the
//!   file when it is asked for them.

use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::journal::{Chain, EntryHash, JournalEntry, StoredSnapshot};
use crate::port::{AdapterError, ErrorKind};

mod batch;
mod lines;

use lines::{at, last_line_position, read_on, tail_from};

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
#[derive(Debug, Clone)]
pub struct FileJournalStore {
    path: PathBuf,
    chain: Chain,
    /// The file, opened for reading and appending (the lock is taken on
    /// it for each append), and what was read of it so far; shared by the
    /// store's clones, which the blocking pool works on.
    file: Arc<Mutex<(File, Stored)>>,
    repaired: Option<u64>,
    keep_snapshots: usize,
}

/// What is stored: the entries, where the last complete line ends, how
/// many lines that is, and the last entry's line (with where it starts),
/// so that a later read can check the file still ends that way and read
/// only what was appended since.
#[derive(Debug, Default)]
struct Stored {
    /// The entries before the held ones (a store opened lazily holds the
    /// tail only), and the hash of the last of them.
    base: Option<(u64, EntryHash)>,
    entries: Vec<JournalEntry>,
    end: u64,
    lines: usize,
    last: Option<(u64, Vec<u8>)>,
    torn: bool,
}

impl Stored {
    /// How many entries come before the held ones.
    fn held_from(&self) -> u64 {
        self.base.map_or(0, |(len, _)| len)
    }

    /// How many entries the file holds.
    fn len(&self) -> u64 {
        self.held_from().saturating_add(self.entries.len() as u64)
    }

    /// The last entry's hash (the chain's genesis for none).
    fn last_hash(&self, chain: &Chain) -> EntryHash {
        self.entries.last().map_or_else(
            || self.base.map_or_else(|| chain.genesis(), |(_, hash)| hash),
            |e| e.hash,
        )
    }

    /// Whether the held entries reach back to `position`.
    fn holds(&self, position: u64) -> bool {
        position > self.held_from()
    }

    /// At most `max` held entries from `position` on.
    fn page(&self, position: u64, max: usize) -> Vec<JournalEntry> {
        let start = usize::try_from(
            position
                .max(1)
                .saturating_sub(self.held_from())
                .saturating_sub(1),
        )
        .unwrap_or(usize::MAX);
        self.entries.iter().skip(start).take(max).cloned().collect()
    }
}

impl FileJournalStore {
    /// Opens (or creates) the journal file at `path`, whose entries are
    /// linked by `chain`, reading and checking every line. A torn last line
    /// is cut off; a complete line that does not read fails the open,
    /// naming it.
    pub fn open(path: impl AsRef<Path>, chain: Chain) -> Result<Self, AdapterError> {
        Self::open_with(path.as_ref(), chain, false)
    }

    /// Opens (or creates) the journal file at `path` reading only its last
    /// lines: for a host that starts from a snapshot, so that a long file
    /// is not read whole. A torn last line is cut off as by
    /// [`FileJournalStore::open`], and the last complete line must link
    /// onto the one before it; the lines before are read and checked only
    /// when something asks for them (a read from an earlier position finds
    /// its line from the end of the file, a read from the start reads the
    /// whole file, as `open` does).
    pub fn open_lazily(path: impl AsRef<Path>, chain: Chain) -> Result<Self, AdapterError> {
        Self::open_with(path.as_ref(), chain, true)
    }

    fn open_with(path: &Path, chain: Chain, lazily: bool) -> Result<Self, AdapterError> {
        let path = path.to_path_buf();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| at(&path, e))?;
        file.lock().map_err(|e| at(&path, e))?;
        if let Err(e) = batch::settle(&path, &file) {
            let _ = file.unlock();
            return Err(e);
        }
        let stored = if lazily {
            last_line_position(&file)
                .map_err(|e| at(&path, e))
                .and_then(|last| tail_from(&file, &chain, &path, last.unwrap_or(0)))
        } else {
            read_on(&file, &chain, &path, Stored::default())
        };
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
            file: Arc::new(Mutex::new((file, stored))),
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

    /// An append, under the file's exclusive lock.
    fn append_locked(
        &self,
        file: &File,
        cache: &mut Stored,
        expected_len: u64,
        entries: &[JournalEntry],
    ) -> Result<(), AdapterError> {
        batch::settle(&self.path, file)?;
        self.refresh(file, cache)?;
        let len = cache.len();
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
        let previous = cache.last_hash(&self.chain);
        let mut text = String::new();
        for line in super::continuing_lines(entries, previous, &self.chain)? {
            text.push_str(&line);
            text.push('\n');
        }
        let mut writer: &File = file;
        if cache.torn {
            file.set_len(cache.end).map_err(|e| at(&self.path, e))?;
            cache.torn = false;
        }
        // A last entry whose newline alone was lost (a crash right before
        // it) gets it back before anything follows it.
        if cache
            .last
            .as_ref()
            .is_some_and(|(_, line)| line.last() != Some(&b'\n'))
        {
            writer
                .seek(SeekFrom::End(0))
                .and_then(|_| writer.write_all(b"\n"))
                .and_then(|()| file.sync_data())
                .map_err(|e| at(&self.path, e))?;
            self.refresh(file, cache)?;
        }
        let before = file.metadata().map_err(|e| at(&self.path, e))?.len();
        let several = entries.len() > 1;
        if several {
            batch::write_intent(&self.path, len, previous, entries.len(), &text)?;
        }
        let written = writer
            .seek(SeekFrom::End(0))
            .and_then(|_| writer.write_all(text.as_bytes()))
            .and_then(|()| file.sync_data());
        if let Err(e) = written {
            // Nothing of it stays: the journal is cut back to where it
            // was (a full disk frees what it needs for that).
            let undone = file
                .set_len(before)
                .and_then(|()| file.sync_data())
                .map_err(|e| at(&self.path, e))
                .and_then(|()| {
                    if several {
                        batch::remove(&self.path)
                    } else {
                        Ok(())
                    }
                });
            let error = at(&self.path, e);
            return Err(match undone {
                Ok(()) => AdapterError::new(
                    error.kind(),
                    format!("{}; nothing of the append was kept", error.message()),
                ),
                Err(left) => AdapterError::new(
                    ErrorKind::UnknownOutcome,
                    format!(
                        "{}; the append could not be undone ({left}): the next open completes it from the batch file",
                        error.message()
                    ),
                ),
            });
        }
        if several {
            // The batch is whole in the journal; a batch file that stays
            // is found whole and removed by whoever takes the lock next.
            let _ = batch::remove(&self.path);
        }
        // Read back what was written (only that).
        self.refresh(file, cache)
    }

    /// Brings `cache` up to date with the file: when the file still ends
    /// with the last line read (another process can only append), only
    /// the lines after it are read and checked; otherwise (the file was
    /// cut or replaced) the whole file is read again.
    fn refresh(&self, file: &File, cache: &mut Stored) -> Result<(), AdapterError> {
        let len = file.metadata().map_err(|e| at(&self.path, e))?.len();
        let intact = len >= cache.end
            && match &cache.last {
                None => cache.end == 0 && cache.base.is_none(),
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

impl FileJournalStore {
    fn append_now(&self, expected_len: u64, entries: &[JournalEntry]) -> Result<(), AdapterError> {
        let mut guard = self.file.lock().map_err(|_| {
            AdapterError::new(ErrorKind::Unavailable, "the file's lock was poisoned")
        })?;
        let (file, cache) = &mut *guard;
        file.lock().map_err(|e| at(&self.path, e))?;
        let result = self.append_locked(file, cache, expected_len, entries);
        let _ = file.unlock();
        result
    }

    fn read_page_now(&self, position: u64, max: usize) -> Result<Vec<JournalEntry>, AdapterError> {
        let mut guard = self.file.lock().map_err(|_| {
            AdapterError::new(ErrorKind::Unavailable, "the file's lock was poisoned")
        })?;
        let (file, cache) = &mut *guard;
        // Shared, so no writer is midway; a batch a dead writer left is
        // settled under the exclusive lock first.
        if batch::path_of(&self.path).exists() {
            file.lock().map_err(|e| at(&self.path, e))?;
            let settled = batch::settle(&self.path, file);
            let _ = file.unlock();
            settled?;
        }
        file.lock_shared().map_err(|e| at(&self.path, e))?;
        let result = (|| {
            self.refresh(file, cache)?;
            if !cache.holds(position.max(1)) {
                // Opened lazily, asked for more than it read: read on from
                // the line before `position` (found from the end of the
                // file).
                *cache = tail_from(file, &self.chain, &self.path, position.max(1))?;
            }
            Ok(cache.page(position, max))
        })();
        let _ = file.unlock();
        result
    }

    fn save_snapshot_now(&self, snapshot: &StoredSnapshot) -> Result<(), AdapterError> {
        let dir = self.snapshot_dir();
        std::fs::create_dir_all(&dir).map_err(|e| at(&dir, e))?;
        let path = dir.join(format!("{:020}.json", snapshot.position));
        let partial = dir.join(format!("{:020}.json.partial", snapshot.position));
        // A header line (where, the hash, the seal), then the body as it
        // is: no escaping on the way in, no unescaping on the way out.
        let header = serde_json::json!({
            "position": snapshot.position,
            "hash": snapshot.hash.to_string(),
            "seal": snapshot.seal.to_string(),
        });
        let mut text = header.to_string().into_bytes();
        text.push(b'\n');
        text.extend_from_slice(snapshot.body.as_bytes());
        // Written whole, synced, then renamed into place: a crash leaves
        // the old snapshots and at most a partial file no reader looks at.
        (|| {
            let mut file = super::create_fresh(&partial)?;
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

    fn read_snapshot_now(
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
        let mut reader = std::io::BufReader::new(File::open(&path).map_err(|e| at(&path, e))?);
        // The header line first, and no more of it than a header holds.
        let mut header = Vec::new();
        (&mut reader)
            .take(SNAPSHOT_HEADER_MAX)
            .read_until(b'\n', &mut header)
            .map_err(|e| at(&path, e))?;
        // One that does not read is handed over as such (hashes that
        // cannot match), for the reader to pass over and name.
        let header: serde_json::Value =
            serde_json::from_slice(header.trim_ascii_end()).unwrap_or_default();
        let hash = |field: &str| {
            header
                .get(field)
                .and_then(serde_json::Value::as_str)
                .and_then(EntryHash::parse_hex)
                .unwrap_or_default()
        };
        let (hash, seal) = (hash("hash"), hash("seal"));
        // Its body is read only when this journal holds its hash at its
        // position: one that does not belong here is handed over without
        // it (the reader passes it over for that), however large it is.
        let belongs = position == 0
            || self
                .read_page_now(position, 1)?
                .first()
                .is_some_and(|e| e.position == position && e.hash == hash);
        let mut body = String::new();
        if belongs {
            reader.read_to_string(&mut body).map_err(|e| at(&path, e))?;
        }
        Ok(Some(StoredSnapshot::new(position, hash, seal, body)))
    }
}

/// A snapshot file's header line is a few hundred bytes; a first line
/// longer than this is not a header.
const SNAPSHOT_HEADER_MAX: u64 = 4096;

journal_store_off_executor!(FileJournalStore);
