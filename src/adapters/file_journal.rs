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
    let base = stored.base;
    let Stored {
        mut entries,
        mut end,
        lines: mut number,
        mut last,
        ..
    } = stored;
    let held_from = base.map_or(0, |(len, _)| len);
    let previous_of = |entries: &[JournalEntry]| -> EntryHash {
        entries.last().map_or_else(
            || base.map_or_else(|| chain.genesis(), |(_, hash)| hash),
            |e| e.hash,
        )
    };
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
                base,
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
            let whole = std::str::from_utf8(&line)
                .ok()
                .and_then(|text| JournalEntry::from_line(text, &previous_of(&entries), chain).ok());
            if whole.is_none() {
                return Ok(Stored {
                    base,
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
        let entry = JournalEntry::from_line(text, &previous_of(&entries), chain)
            .map_err(|problem| corrupt(path, number, &problem.to_string()))?;
        let expected = held_from
            .saturating_add(entries.len() as u64)
            .saturating_add(1);
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

/// What the file holds from `position` on, read and checked from the line
/// before it (found from the end of the file, its hash taken as written);
/// the whole file for position 1, or when that line is not found.
fn tail_from(
    file: &File,
    chain: &Chain,
    path: &Path,
    position: u64,
) -> Result<Stored, AdapterError> {
    let Some(before) = position.checked_sub(1).filter(|p| *p > 0) else {
        return read_on(file, chain, path, Stored::default());
    };
    let Some((start, line)) = find_line(file, before).map_err(|e| at(path, e))? else {
        return read_on(file, chain, path, Stored::default());
    };
    let Some(hash) = line_hash(&line) else {
        return Err(corrupt(
            path,
            usize::try_from(before).unwrap_or(usize::MAX),
            "does not end with its hash",
        ));
    };
    let stored = Stored {
        base: Some((before, hash)),
        entries: Vec::new(),
        end: start.saturating_add(line.len() as u64),
        lines: usize::try_from(before).unwrap_or(usize::MAX),
        last: Some((start, line)),
        torn: false,
    };
    read_on(file, chain, path, stored)
}

/// The position a canonical line declares (`{"v":1,"position":N,…`).
fn line_position(line: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"position\":";
    let head = &line[..line.len().min(48)];
    let at = head.windows(KEY.len()).position(|w| w == KEY)?;
    let digits = &head[at.saturating_add(KEY.len())..];
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(digits.get(..len)?).ok()?.parse().ok()
}

/// The hash a canonical line ends with (`…,"hash":"<64 hex>"}`).
fn line_hash(line: &[u8]) -> Option<EntryHash> {
    let text = std::str::from_utf8(line).ok()?;
    let text = text.trim_end_matches('\n').strip_suffix("\"}")?;
    EntryHash::parse_hex(text.get(text.len().checked_sub(64)?..)?)
}

/// The complete lines of `file`, last first, each with where it starts,
/// read backwards in chunks (the bytes after the last newline, a torn or
/// unfinished line, are left out). Stops when `keep_going` says so.
fn lines_backwards(
    file: &File,
    mut keep_going: impl FnMut(u64, &[u8]) -> bool,
) -> std::io::Result<()> {
    const CHUNK: u64 = 1 << 18;
    let mut reader: &File = file;
    let mut pos = file.metadata()?.len();
    // The bytes from the chunk read last up to the next newline.
    let mut carry: Vec<u8> = Vec::new();
    let mut first = true;
    while pos > 0 {
        let from = pos.saturating_sub(CHUNK);
        let mut chunk = vec![0; usize::try_from(pos.saturating_sub(from)).unwrap_or(0)];
        reader.seek(SeekFrom::Start(from))?;
        reader.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&carry);
        // Newline-terminated lines in `chunk`, from its end.
        let mut line_end = chunk.len();
        if first {
            // Leave out what follows the last newline (a chunk without one
            // is all unfinished line).
            match chunk.iter().rposition(|b| *b == b'\n') {
                Some(i) => {
                    line_end = i.saturating_add(1);
                    first = false;
                }
                None => {
                    pos = from;
                    continue;
                }
            }
        }
        let mut cut = line_end;
        while let Some(nl) = chunk[..cut.saturating_sub(1)]
            .iter()
            .rposition(|b| *b == b'\n')
        {
            let start = nl.saturating_add(1);
            if start < line_end
                && !keep_going(from.saturating_add(start as u64), &chunk[start..line_end])
            {
                return Ok(());
            }
            line_end = start;
            cut = start;
        }
        carry = chunk[..line_end].to_vec();
        pos = from;
    }
    if !carry.is_empty() {
        keep_going(0, &carry);
    }
    Ok(())
}

/// The line holding entry `position`, with where it starts, found from
/// the end of the file.
fn find_line(file: &File, position: u64) -> std::io::Result<Option<(u64, Vec<u8>)>> {
    let mut found = None;
    lines_backwards(file, |start, line| match line_position(line) {
        Some(p) if p == position => {
            found = Some((start, line.to_vec()));
            false
        }
        Some(p) if p < position => false,
        _ => true,
    })?;
    Ok(found)
}

/// The position of the file's last complete entry, if any.
fn last_line_position(file: &File) -> std::io::Result<Option<u64>> {
    let mut found = None;
    lines_backwards(file, |_, line| {
        found = line_position(line);
        found.is_none()
    })?;
    Ok(found)
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
        self.read_page(position, usize::MAX).await
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
        if !cache.holds(position.max(1)) {
            // Opened lazily, asked for more than it read: read on from the
            // line before `position` (found from the end of the file).
            *cache = tail_from(file, &self.chain, &self.path, position.max(1))?;
        }
        Ok(cache.page(position, max))
    }

    async fn save_snapshot(&self, snapshot: &StoredSnapshot) -> Result<(), AdapterError> {
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
        let text = std::fs::read_to_string(&path).map_err(|e| at(&path, e))?;
        // One that does not read is handed over as such (hashes that
        // cannot match), for the reader to pass over and name.
        let (header, body) = text.split_once('\n').unwrap_or((&text, ""));
        let header: serde_json::Value = serde_json::from_str(header).unwrap_or_default();
        let hash = |field: &str| {
            header
                .get(field)
                .and_then(serde_json::Value::as_str)
                .and_then(EntryHash::parse_hex)
                .unwrap_or_default()
        };
        Ok(Some(StoredSnapshot::new(
            position,
            hash("hash"),
            hash("seal"),
            body.to_owned(),
        )))
    }

    fn chain(&self) -> Chain {
        self.chain.clone()
    }
}
