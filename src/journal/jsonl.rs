//! The journal on disk: JSON Lines, one entry per line.
//!
//! ```text
//! {"v":1,"position":1,"stream":"pipeline","version":1,"event":{"at":"…","kind":{"type":"pipeline_defined",…}},"hash":"…"}
//! ```
//!
//! `v` is the format version; `hash` links the line into the hash chain
//! (see [`Chain`](super::Chain)) and is always the last field: it covers the line's
//! bytes before it. Reading stops at the first line that is not a valid
//! next entry (malformed, not canonical, out of sequence, or with a broken
//! hash link) and reports that line's number; the entries before it are
//! handed back intact.
//!
//! # The canonical form
//!
//! A line is valid only when it is spelled exactly as knowngood writes it,
//! because the hash covers those bytes and every reader (a file, a store's
//! entries, [`Journal::verify_chain`]) must agree on them: fields in the
//! order above and, inside the event, in the order the types declare them;
//! no whitespace between tokens; times in UTC ending in `Z` with only the
//! fractional digits needed; strings with JSON's minimal escaping (only
//! `"`, `\` and control characters escaped, non-ASCII written as UTF-8).
//! A line in any other spelling (keys reordered, spaces, `+00:00` for `Z`)
//! is refused as [`LineProblem::NotCanonical`] with the first byte that
//! differs, rather than loaded under a hash that no other reader would
//! compute. To import events written by another tool, decode them and
//! [`append`](Journal::append) them to a journal, which writes them in
//! canonical form with a fresh chain.

use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

use super::{EntryHash, Journal, JournalEntry, StreamId};
use crate::machine::Event;

/// The journal format version written in every line's `v` field.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct LineOut<'a> {
    v: u32,
    position: u64,
    stream: &'a StreamId,
    version: u64,
    event: &'a Event,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineIn {
    v: u32,
    position: u64,
    stream: StreamId,
    version: u64,
    event: Event,
}

#[derive(Deserialize)]
struct FormatOnly {
    v: u32,
}

/// What is wrong with one line of a journal file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineProblem {
    /// The line could not be read at all.
    #[error("could not be read: {0}")]
    Unreadable(String),
    /// The line is not a journal entry.
    #[error("is not a journal entry: {0}")]
    Malformed(String),
    /// The line was written by a newer format.
    #[error(
        "uses journal format {found}, but this version of knowngood reads format {}: upgrade knowngood",
        FORMAT_VERSION
    )]
    UnsupportedFormat {
        /// The format found.
        found: u32,
    },
    /// The entry's position is not the next one.
    #[error(
        "has position {found} where {expected} was expected: an entry was removed, inserted or moved"
    )]
    OutOfSequence {
        /// The position expected.
        expected: u64,
        /// The position found.
        found: u64,
    },
    /// The entry's stream version is not the stream's next one.
    #[error(
        "has version {found} in stream `{stream}` where {expected} was expected: an entry was removed, inserted or moved"
    )]
    StreamOutOfSequence {
        /// The stream.
        stream: StreamId,
        /// The version expected.
        expected: u64,
        /// The version found.
        found: u64,
    },
    /// The line is longer than the reader's limit.
    #[error(
        "is longer than {limit} bytes, the most a journal line may hold: it was not written by knowngood (or raise the limit with Journal::from_jsonl_limited)"
    )]
    TooLong {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The line has no `hash` field at its end.
    #[error("has no `hash` field at its end: it was not written by knowngood, or was cut short")]
    MissingHash,
    /// The line's hash does not follow from the entries before it.
    #[error(
        "(entry {position}) was altered, or an entry before it was rewritten: its hash does not follow from the entries before it"
    )]
    BrokenLink {
        /// The entry's position.
        position: u64,
    },
    /// The first entry does not start the reader's chain: it comes from
    /// another journal, was altered, or the reader was given the wrong
    /// chain name or key.
    #[error(
        "(entry 1) does not start this journal (chain {chain}): it comes from another journal or was altered, or the reader was given another chain name or key than the writer"
    )]
    ForeignStart {
        /// The reader's chain, as [`Chain`](super::Chain)'s `Display` shows it (never
        /// the key).
        chain: String,
    },
    /// The line is a valid entry but not spelled the way knowngood writes
    /// it, so its hash would not be the one every reader computes.
    #[error(
        "is not in the canonical form at byte {offset}: found `{found}` where knowngood writes `{expected}` (fields in order, no spaces, UTC times ending in `Z`)"
    )]
    NotCanonical {
        /// The 0-based byte offset of the first difference in the line.
        offset: usize,
        /// A few characters of the line from there.
        found: String,
        /// A few characters of the canonical spelling from there.
        expected: String,
    },
    /// The entry's event belongs to another stream.
    #[error("holds an event of stream `{belongs_to}` but says stream `{stream}`")]
    WrongStream {
        /// The stream the line names.
        stream: StreamId,
        /// The stream the event belongs to.
        belongs_to: StreamId,
    },
}

/// The longest journal line [`Journal::from_jsonl`] reads, in bytes (the
/// newline excluded): 1 MiB. The largest event the crate writes (a chosen
/// plan with its options and steps) is a few tens of kilobytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// A journal file with a bad line. Nothing before that line is lost: the
/// entries read so far are in `intact`.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("journal line {line} {problem} (the {} entries before it are intact)", .intact.len())]
pub struct CorruptJournal {
    /// The 1-based number of the bad line.
    pub line: usize,
    /// What is wrong with it.
    pub problem: LineProblem,
    /// The entries before it.
    pub intact: Box<Journal>,
}

impl std::fmt::Debug for CorruptJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorruptJournal")
            .field("line", &self.line)
            .field("problem", &self.problem)
            .field("intact_entries", &self.intact.len())
            .finish()
    }
}

/// One line decoded: the entry, and the canonical bytes its hash covers.
/// Checks the format version and the canonical form, not the chain.
fn decode(line: &str) -> Result<(JournalEntry, Vec<u8>), LineProblem> {
    let line = line.trim_end();
    let Some((body, hash)) = split_hash(line) else {
        return Err(match serde_json::from_str::<FormatOnly>(line) {
            Ok(FormatOnly { v }) if v != FORMAT_VERSION => {
                LineProblem::UnsupportedFormat { found: v }
            }
            Ok(_) => LineProblem::MissingHash,
            Err(e) => malformed(&e),
        });
    };
    let parsed: LineIn =
        serde_json::from_slice(&body).map_err(|e| {
            match serde_json::from_slice::<FormatOnly>(&body) {
                Ok(FormatOnly { v }) if v != FORMAT_VERSION => {
                    LineProblem::UnsupportedFormat { found: v }
                }
                _ => malformed(&e),
            }
        })?;
    if parsed.v != FORMAT_VERSION {
        return Err(LineProblem::UnsupportedFormat { found: parsed.v });
    }
    let canonical = canonical_bytes(
        parsed.position,
        &parsed.stream,
        parsed.version,
        &parsed.event,
    );
    if canonical != body {
        return Err(not_canonical(&body, &canonical));
    }
    Ok((
        JournalEntry {
            position: parsed.position,
            stream: parsed.stream,
            version: parsed.version,
            event: parsed.event,
            hash,
        },
        canonical,
    ))
}

impl JournalEntry {
    /// The entry as its JSON Lines line, without the newline: the one
    /// canonical spelling, `hash` last (what [`Journal::write_jsonl`]
    /// writes, one entry at a time, for a store that keeps lines).
    pub fn to_line(&self) -> String {
        let mut line = Vec::with_capacity(512);
        // Writing to a vector cannot fail, and the entry's types always
        // serialise (string keys, no floats).
        let _ = serde_json::to_writer(&mut line, &line_out(self));
        line.pop(); // the closing brace
        let _ = write!(line, ",\"hash\":\"{}\"}}", self.hash);
        String::from_utf8(line).unwrap_or_default()
    }

    /// Decodes one line written by [`JournalEntry::to_line`] and checks it:
    /// the format version, the canonical form, and that its hash follows
    /// from `previous` on `chain` (for the first entry, `previous` is
    /// [`chain.genesis()`](super::Chain::genesis)). Positions and stream
    /// versions are the store's to check (it appends at an expected
    /// length); [`Journal::read_entries`] checks them all.
    ///
    /// ```
    /// use knowngood::{Chain, Command, JournalEntry, Ledger, Service};
    /// # use chrono::{TimeZone, Utc};
    /// # let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let mut ledger = Ledger::new();
    /// ledger.execute(&Command::RegisterService { service: Service::new("payments") }, now).unwrap();
    /// let entry = &ledger.journal().entries()[0];
    /// let line = entry.to_line();
    /// let chain = Chain::unnamed();
    /// assert_eq!(&JournalEntry::from_line(&line, &chain.genesis(), &chain).unwrap(), entry);
    /// // Against another predecessor it does not link.
    /// assert!(JournalEntry::from_line(&line, &entry.hash, &chain).is_err());
    /// ```
    pub fn from_line(
        line: &str,
        previous: &EntryHash,
        chain: &super::Chain,
    ) -> Result<JournalEntry, LineProblem> {
        let (entry, body) = decode(line)?;
        if chain.link(previous, &body) != entry.hash {
            return Err(if *previous == chain.genesis() {
                LineProblem::ForeignStart {
                    chain: chain.to_string(),
                }
            } else {
                LineProblem::BrokenLink {
                    position: entry.position,
                }
            });
        }
        Ok(entry)
    }
}

impl Journal {
    /// Writes every entry held as one JSON line. A journal that does not
    /// hold its first entries ([`Journal::held_from`] above 0) writes the
    /// entries it holds only, which continue the store's file rather than
    /// start one.
    pub fn write_jsonl<W: Write>(&self, mut out: W) -> io::Result<()> {
        for entry in &self.entries {
            let mut line = entry.to_line();
            line.push('\n');
            out.write_all(line.as_bytes())?;
        }
        Ok(())
    }

    /// Reads a journal written by [`Journal::write_jsonl`]. Blank lines are
    /// skipped. Positions and stream versions must follow on from each
    /// other; the first line that is not a valid next entry is reported by
    /// number, with the entries before it. A line longer than
    /// [`MAX_LINE_BYTES`] is refused before it is buffered whole (see
    /// [`Journal::from_jsonl_limited`] to choose another limit).
    ///
    /// The journal is read on the unnamed chain; a journal written on a
    /// named or keyed [`Chain`](super::Chain) is read with [`Journal::read_jsonl`].
    pub fn from_jsonl<R: BufRead>(input: R) -> Result<Journal, CorruptJournal> {
        Journal::new().read_jsonl(input)
    }

    /// [`Journal::from_jsonl`] with at most `max_line_bytes` bytes per line
    /// (the newline excluded): a longer line is refused as
    /// [`LineProblem::TooLong`] after reading at most one byte past the
    /// limit, so a hostile file cannot make the reader hold it whole.
    pub fn from_jsonl_limited<R: BufRead>(
        input: R,
        max_line_bytes: usize,
    ) -> Result<Journal, CorruptJournal> {
        Journal::new().read_jsonl_limited(input, max_line_bytes)
    }

    /// Reads JSON Lines entries that follow on from this journal's own,
    /// linked by this journal's [`Chain`](super::Chain): start from
    /// [`Journal::with_chain`] to read a journal written on a named or
    /// keyed chain. Checked like [`Journal::from_jsonl`]; line numbers
    /// count from the start of `input`.
    ///
    /// ```
    /// use knowngood::{Chain, Journal, LineProblem};
    /// # use knowngood::{Command, Ledger, Service};
    /// # use chrono::{TimeZone, Utc};
    /// # let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let chain = Chain::named("payments-prod").keyed(b"from the vault");
    /// let mut ledger = Ledger::from_journal(Journal::with_chain(chain.clone())).unwrap();
    /// ledger.execute(&Command::RegisterService { service: Service::new("payments") }, now).unwrap();
    /// let mut file = Vec::new();
    /// ledger.journal().write_jsonl(&mut file).unwrap();
    ///
    /// let read = Journal::with_chain(chain).read_jsonl(file.as_slice()).unwrap();
    /// assert_eq!(read, *ledger.journal());
    /// // Without the key the first line does not link.
    /// let err = Journal::with_chain(Chain::named("payments-prod")).read_jsonl(file.as_slice());
    /// assert!(matches!(err.unwrap_err().problem, LineProblem::ForeignStart { .. }));
    /// ```
    pub fn read_jsonl<R: BufRead>(self, input: R) -> Result<Journal, CorruptJournal> {
        self.read_jsonl_limited(input, MAX_LINE_BYTES)
    }

    /// [`Journal::read_jsonl`] with at most `max_line_bytes` bytes per
    /// line, as in [`Journal::from_jsonl_limited`].
    pub fn read_jsonl_limited<R: BufRead>(
        self,
        mut input: R,
        max_line_bytes: usize,
    ) -> Result<Journal, CorruptJournal> {
        let mut journal = self;
        let mut buf = Vec::new();
        let cap = u64::try_from(max_line_bytes)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        for index in 0_usize.. {
            let fail = |journal: Journal, problem| CorruptJournal {
                line: index.saturating_add(1),
                problem,
                intact: Box::new(journal),
            };
            buf.clear();
            let read = std::io::Read::take(&mut input, cap).read_until(b'\n', &mut buf);
            match read {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(fail(journal, LineProblem::Unreadable(e.to_string()))),
            }
            let ended = buf.last() == Some(&b'\n');
            if ended {
                buf.pop();
            }
            if buf.len() > max_line_bytes {
                return Err(fail(
                    journal,
                    LineProblem::TooLong {
                        limit: max_line_bytes,
                    },
                ));
            }
            let Ok(line) = std::str::from_utf8(&buf) else {
                return Err(fail(
                    journal,
                    LineProblem::Unreadable("the line is not UTF-8".to_owned()),
                ));
            };
            if line.trim().is_empty() {
                continue;
            }
            if let Err(problem) = journal.push_line(line) {
                return Err(fail(journal, problem));
            }
        }
        Ok(journal)
    }

    /// [`Journal::from_jsonl`] over text in memory.
    pub fn from_jsonl_str(text: &str) -> Result<Journal, CorruptJournal> {
        Self::from_jsonl(text.as_bytes())
    }

    fn push_line(&mut self, line: &str) -> Result<(), LineProblem> {
        let (entry, body) = decode(line)?;
        self.push_checked(entry, Some(&body))
    }

    /// Appends an entry read from elsewhere after checking that it follows
    /// on: position, stream version, stream, and hash link (over `body`,
    /// the entry's canonical bytes, when the caller has them).
    pub(crate) fn push_checked(
        &mut self,
        entry: JournalEntry,
        body: Option<&[u8]>,
    ) -> Result<(), LineProblem> {
        let expected = self.next_position();
        if entry.position != expected {
            return Err(LineProblem::OutOfSequence {
                expected,
                found: entry.position,
            });
        }
        let belongs_to = entry.event.stream();
        if belongs_to != entry.stream {
            return Err(LineProblem::WrongStream {
                stream: entry.stream,
                belongs_to,
            });
        }
        let expected = self.stream_version(&entry.stream).saturating_add(1);
        if entry.version != expected {
            return Err(LineProblem::StreamOutOfSequence {
                stream: entry.stream,
                expected,
                found: entry.version,
            });
        }
        let previous = self.head().hash;
        let link = match body {
            Some(body) => self.chain.link(&previous, body),
            None => self.chain.link(
                &previous,
                &canonical_bytes(entry.position, &entry.stream, entry.version, &entry.event),
            ),
        };
        if entry.hash != link {
            return Err(if self.is_empty() {
                LineProblem::ForeignStart {
                    chain: self.chain.to_string(),
                }
            } else {
                LineProblem::BrokenLink {
                    position: entry.position,
                }
            });
        }
        self.streams.insert(entry.stream.clone(), expected);
        self.entries.push(entry);
        Ok(())
    }
}

/// A JSON error as a line's problem. `serde_json` counts lines within the
/// text it was given, which is always line 1 here: only the column is
/// kept, so the message names one line number, the file's.
fn malformed(e: &serde_json::Error) -> LineProblem {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    LineProblem::Malformed(match text.strip_suffix(&suffix) {
        Some(message) if e.column() > 0 => format!("{message} at column {}", e.column()),
        Some(message) => message.to_owned(),
        None => text,
    })
}

/// How far into the line a [`LineProblem::NotCanonical`] shows.
const EXCERPT_BYTES: usize = 24;

fn not_canonical(line: &[u8], canonical: &[u8]) -> LineProblem {
    let offset = line
        .iter()
        .zip(canonical)
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| line.len().min(canonical.len()));
    let excerpt = |bytes: &[u8]| {
        let end = offset.saturating_add(EXCERPT_BYTES).min(bytes.len());
        let text = String::from_utf8_lossy(bytes.get(offset..end).unwrap_or_default());
        if text.is_empty() {
            "the end of the line".to_owned()
        } else {
            text.into_owned()
        }
    };
    LineProblem::NotCanonical {
        offset,
        found: excerpt(line),
        expected: excerpt(canonical),
    }
}

/// Splits `{…,"hash":"<hex>"}` into the canonical bytes `{…}` and the hash.
fn split_hash(line: &str) -> Option<(Vec<u8>, EntryHash)> {
    const KEY: &str = ",\"hash\":\"";
    let rest = line.strip_suffix("\"}")?;
    let at = rest.rfind(KEY)?;
    let hash = EntryHash::parse_hex(rest.get(at.saturating_add(KEY.len())..)?)?;
    let mut body = Vec::with_capacity(at.saturating_add(1));
    body.extend_from_slice(&rest.as_bytes()[..at]);
    body.push(b'}');
    Some((body, hash))
}

/// The bytes an entry's hash covers: its JSON line without the hash.
pub(super) fn canonical_bytes(
    position: u64,
    stream: &StreamId,
    version: u64,
    event: &Event,
) -> Vec<u8> {
    // Serializing these types cannot fail: every map key is a string and
    // there are no floats. Should it ever, the empty vector still yields a
    // deterministic (if weaker) link rather than a panic.
    serde_json::to_vec(&LineOut {
        v: FORMAT_VERSION,
        position,
        stream,
        version,
        event,
    })
    .unwrap_or_default()
}

fn line_out(entry: &JournalEntry) -> LineOut<'_> {
    LineOut {
        v: FORMAT_VERSION,
        position: entry.position,
        stream: &entry.stream,
        version: entry.version,
        event: &entry.event,
    }
}
