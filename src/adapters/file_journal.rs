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

use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::journal::{Chain, EntryHash, JournalEntry, MAX_LINE_BYTES};
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

    fn chain(&self) -> Chain {
        self.chain.clone()
    }
}
