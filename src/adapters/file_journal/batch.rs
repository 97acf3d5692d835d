//! A batch is all or nothing. Before an append of more than one entry
//! touches the journal file, it writes the whole batch to `<file>.batch`
//! (a JSON header line `{"batch":1,"after":N,"hash":"<hex>","lines":k}`,
//! then the `k` lines exactly as they will be appended), syncs it and
//! renames it into place; then it appends to the journal, syncs, and
//! removes the batch file. Whoever next holds the file's exclusive lock
//! and finds a batch file (a writer died mid-append) settles it: the part
//! of the batch already in the journal is completed from the batch file,
//! or the whole batch is written when none of it got there. Readers take
//! the shared lock, so they never see a batch half written.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use super::lines::{at, find_line, line_hash};
use crate::journal::EntryHash;
use crate::port::{AdapterError, ErrorKind};

/// The batch file beside the journal at `path`.
pub(super) fn path_of(journal: &Path) -> PathBuf {
    let mut path = journal.to_path_buf().into_os_string();
    path.push(".batch");
    PathBuf::from(path)
}

fn partial_of(journal: &Path) -> PathBuf {
    let mut path = journal.to_path_buf().into_os_string();
    path.push(".batch.partial");
    PathBuf::from(path)
}

/// Writes `text` (the batch's lines, each ending in a newline) to the
/// batch file, to follow entry `after` whose hash is `hash`: written whole,
/// synced, renamed into place, the directory synced.
pub(super) fn write_intent(
    journal: &Path,
    after: u64,
    hash: EntryHash,
    lines: usize,
    text: &str,
) -> Result<(), AdapterError> {
    let header = serde_json::json!({
        "batch": 1,
        "after": after,
        "hash": hash.to_string(),
        "lines": lines,
    });
    let partial = partial_of(journal);
    let path = path_of(journal);
    (|| {
        let mut file = super::super::create_fresh(&partial)?;
        file.write_all(header.to_string().as_bytes())?;
        file.write_all(b"\n")?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&partial, &path)?;
        sync_dir(journal)
    })()
    .map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        at(&path, e)
    })
}

/// Removes the batch file once its batch is whole in the journal.
pub(super) fn remove(journal: &Path) -> Result<(), AdapterError> {
    let path = path_of(journal);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(at(&path, e)),
    }
}

fn sync_dir(journal: &Path) -> std::io::Result<()> {
    let dir = match journal.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// A batch read back from its file.
struct Intent {
    after: u64,
    hash: EntryHash,
    text: Vec<u8>,
}

/// The batch file's batch, if there is one that reads whole.
fn read_intent(journal: &Path) -> Result<Option<Intent>, AdapterError> {
    let path = path_of(journal);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(at(&path, e)),
    };
    let refuse = |why: &str| {
        AdapterError::new(
            ErrorKind::Rejected,
            format!(
                "{}: {why}; the journal was left as it is: check it, then remove the batch file",
                path.display()
            ),
        )
    };
    let Some(newline) = bytes.iter().position(|b| *b == b'\n') else {
        return Err(refuse("the batch file has no header line"));
    };
    let header: serde_json::Value = serde_json::from_slice(&bytes[..newline])
        .map_err(|e| refuse(&format!("the batch file's header does not read ({e})")))?;
    let field = |name: &str| header.get(name).and_then(serde_json::Value::as_u64);
    let (Some(1), Some(after), Some(lines), Some(hash)) = (
        field("batch"),
        field("after"),
        field("lines"),
        header
            .get("hash")
            .and_then(serde_json::Value::as_str)
            .and_then(EntryHash::parse_hex),
    ) else {
        return Err(refuse(
            "the batch file's header is not one this knowngood wrote",
        ));
    };
    let text = bytes[newline.saturating_add(1)..].to_vec();
    let counted = text.split(|b| *b == b'\n').count().saturating_sub(1) as u64;
    if counted != lines || text.last() != Some(&b'\n') {
        return Err(refuse(&format!(
            "the batch file holds {counted} whole lines, its header says {lines}"
        )));
    }
    Ok(Some(Intent { after, hash, text }))
}

/// Settles a batch a writer left behind (the caller holds the journal
/// file's exclusive lock): completes it in the journal and removes the
/// batch file. Answers whether there was one to settle.
pub(super) fn settle(journal: &Path, file: &File) -> Result<bool, AdapterError> {
    // A batch file still being written when its writer died never
    // reached the journal.
    let _ = std::fs::remove_file(partial_of(journal));
    let Some(intent) = read_intent(journal)? else {
        return Ok(false);
    };
    let path = path_of(journal);
    let refuse = |why: String| {
        AdapterError::new(
            ErrorKind::Rejected,
            format!(
                "{}: {why}; the journal was left as it is: check it, then remove {}",
                journal.display(),
                path.display()
            ),
        )
    };
    // Where the entry before the batch ends (before its newline, if any).
    let end = if intent.after == 0 {
        0
    } else {
        match find_line(file, intent.after).map_err(|e| at(journal, e))? {
            Some((start, line))
                if line_hash(line.strip_suffix(b"\n").unwrap_or(&line)) == Some(intent.hash) =>
            {
                let newline = u64::from(line.last() == Some(&b'\n'));
                start
                    .saturating_add(line.len() as u64)
                    .saturating_sub(newline)
            }
            _ => {
                return Err(refuse(format!(
                    "the batch left behind follows entry {} with hash {}, which the journal does not hold",
                    intent.after, intent.hash
                )));
            }
        }
    };
    let mut rest = Vec::new();
    let mut reader: &File = file;
    reader
        .seek(SeekFrom::Start(end))
        .and_then(|_| reader.read_to_end(&mut rest))
        .map_err(|e| at(journal, e))?;
    // What follows that entry once the batch is whole: its newline (unless
    // it is the first entry), then the batch's lines.
    let mut whole = Vec::with_capacity(intent.text.len().saturating_add(1));
    if intent.after > 0 {
        whole.push(b'\n');
    }
    whole.extend_from_slice(&intent.text);
    if rest == whole {
        remove(journal)?;
        return Ok(true);
    }
    if !whole.starts_with(&rest) {
        return Err(refuse(format!(
            "after entry {} the journal holds {} bytes that are not the batch left behind",
            intent.after,
            rest.len()
        )));
    }
    let mut writer: &File = file;
    file.set_len(end)
        .and_then(|()| writer.seek(SeekFrom::End(0)).map(drop))
        .and_then(|()| writer.write_all(&whole))
        .and_then(|()| file.sync_data())
        .map_err(|e| at(journal, e))?;
    remove(journal)?;
    Ok(true)
}
