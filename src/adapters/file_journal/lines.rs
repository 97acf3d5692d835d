//! Reading the file's lines: what was appended since, the end of a long
//! file, one line found from the end, and errors that name the file.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _, Seek as _, SeekFrom};
use std::path::Path;

use super::Stored;
use crate::journal::{Chain, EntryHash, JournalEntry, MAX_LINE_BYTES};
use crate::port::{AdapterError, ErrorKind};

/// An I/O error as an adapter error that names the file.
pub(super) fn at(path: &Path, e: std::io::Error) -> AdapterError {
    let message = format!("{}: {e}", path.display());
    let kind = AdapterError::from(e).kind();
    AdapterError::new(kind, message)
}

/// Reads the complete lines of `file` after those `stored` holds,
/// checking each follows on.
pub(super) fn read_on(
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
pub(super) fn tail_from(
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
pub(super) fn line_position(line: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"position\":";
    let head = &line[..line.len().min(48)];
    let at = head.windows(KEY.len()).position(|w| w == KEY)?;
    let digits = &head[at.saturating_add(KEY.len())..];
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(digits.get(..len)?).ok()?.parse().ok()
}

/// The hash a canonical line ends with (`…,"hash":"<64 hex>"}`).
pub(super) fn line_hash(line: &[u8]) -> Option<EntryHash> {
    let text = std::str::from_utf8(line).ok()?;
    let text = text.trim_end_matches('\n').strip_suffix("\"}")?;
    EntryHash::parse_hex(text.get(text.len().checked_sub(64)?..)?)
}

/// The complete lines of `file`, last first, each with where it starts,
/// read backwards in chunks (the bytes after the last newline, a torn or
/// unfinished line, are left out). Stops when `keep_going` says so.
pub(super) fn lines_backwards(
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
pub(super) fn find_line(file: &File, position: u64) -> std::io::Result<Option<(u64, Vec<u8>)>> {
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
pub(super) fn last_line_position(file: &File) -> std::io::Result<Option<u64>> {
    let mut found = None;
    lines_backwards(file, |_, line| {
        found = line_position(line);
        found.is_none()
    })?;
    Ok(found)
}

pub(super) fn corrupt(path: &Path, line: usize, problem: &str) -> AdapterError {
    AdapterError::new(
        ErrorKind::Rejected,
        format!(
            "{}: journal line {line} {problem}; nothing was dropped: repair or restore the file",
            path.display()
        ),
    )
}
