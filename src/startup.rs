//! Starting a ledger from a journal store: the whole journal, or the newest
//! snapshot that checks out plus the entries after it.
//!
//! A snapshot is a short cut, never the truth: one whose seal, format or
//! place in the journal does not check out is passed over (and named in the
//! [`StartReport`], and as a `tracing` warning with the feature on), and an
//! older one is tried, down to replaying the journal from its first entry.

use serde::{Deserialize, Serialize};

use crate::journal::{
    CorruptJournal, Journal, JournalEntry, ReplayError, Snapshot, SnapshotProblem,
};
use crate::ledger::{CatchUpError, Ledger};
use crate::port::{AdapterError, JournalStore};

/// How many entries a start reads from the store at a time.
pub const PAGE: usize = 10_000;

/// Why a ledger could not be started from a store. The driver reports
/// each as the [`DriveError`](crate::DriveError) of the same name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The journal store failed; what it holds is the truth.
    #[error("the journal store failed: {0}; start again once it is back")]
    Journal(AdapterError),
    /// The stored journal does not read back.
    #[error("the stored journal is damaged: {0}")]
    Corrupt(Box<CorruptJournal>),
    /// The stored journal does not replay.
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// Where a ledger starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Startup {
    /// Read and replay the whole journal, and hold every entry in memory
    /// (what [`Journal::entries`] gives, for [`suspects`](crate::suspects)
    /// and [`metrics`](crate::metrics) over the whole history).
    #[default]
    Replay,
    /// Start from the newest snapshot that checks out plus the entries
    /// after it, and hold in memory only the entries appended since the
    /// start (the driver lets go of them again at each snapshot it
    /// writes). Without a usable snapshot, the journal is replayed from its
    /// first entry, a page at a time, still without holding it.
    Snapshot,
}

/// How a start went: what it started from, which snapshots it passed over
/// and why, and how many entries it folded in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StartReport {
    /// How the ledger was started.
    pub startup: Startup,
    /// The position of the snapshot it started from, if any.
    pub snapshot: Option<u64>,
    /// The snapshots passed over, newest first, each with why.
    pub ignored: Vec<SnapshotProblem>,
    /// How many entries were folded in (after the snapshot, if any).
    pub replayed: u64,
}

/// Starts a ledger from `store`, as `startup` says, reading at most
/// [`PAGE`] entries at a time; every entry read is checked (positions,
/// stream versions, the store's hash chain) and folded in.
///
/// ```
/// # use chrono::{TimeZone, Utc};
/// use knowngood::memory::{InMemoryJournalStore, block_on};
/// use knowngood::{JournalStore, Ledger, Snapshot, Startup, Command, Service, open_ledger};
/// # let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let store = InMemoryJournalStore::default();
/// let mut ledger = Ledger::new();
/// for name in ["payments", "ledger", "search"] {
///     let entries = ledger.execute(&Command::RegisterService { service: Service::new(name) }, now).unwrap().to_vec();
///     block_on(store.append(entries[0].position - 1, &entries)).unwrap();
///     if name == "ledger" {
///         block_on(store.save_snapshot(&Snapshot::of(&ledger).seal(&store.chain()))).unwrap();
///     }
/// }
/// let (started, report) = block_on(open_ledger(&store, Startup::Snapshot)).unwrap();
/// assert_eq!(report.snapshot, Some(2));
/// assert_eq!(report.replayed, 1);
/// assert_eq!(started.state(), ledger.state());
/// assert!(started.journal().entries().is_empty()); // nothing held
/// ```
pub async fn open_ledger(
    store: &dyn JournalStore,
    startup: Startup,
) -> Result<(Ledger, StartReport), StartError> {
    let chain = store.chain();
    let mut report = StartReport {
        startup,
        ..StartReport::default()
    };
    let mut ledger = match startup {
        Startup::Replay => {
            let mut journal = Journal::with_chain(chain);
            let mut position = 1_u64;
            loop {
                let page = read_page(store, position).await?;
                let read = page.len();
                journal = journal
                    .read_entries(page)
                    .map_err(|e| StartError::Corrupt(Box::new(renumbered(e, position))))?;
                report.replayed = report.replayed.saturating_add(read as u64);
                position = position.saturating_add(read as u64);
                if read < PAGE {
                    break;
                }
            }
            Ledger::from_journal(journal)?
        }
        Startup::Snapshot => {
            // A snapshot is a short cut, never the truth: one whose tail
            // does not fold into it is passed over for an older one, down
            // to the journal's first entry.
            let mut before = None;
            loop {
                let snapshot = newest_snapshot(store, &mut report, before).await?;
                let from = snapshot.as_ref().map(|s| s.head.len);
                let mut ledger = match snapshot {
                    Some(snapshot) => Ledger::from_snapshot(snapshot, store.chain()),
                    None => Ledger::from_journal(Journal::with_chain(store.chain()))?,
                };
                match fold_tail(store, &mut ledger).await? {
                    Ok(replayed) => {
                        report.replayed = replayed;
                        break ledger;
                    }
                    Err(e) => {
                        let Some(position) = from else {
                            return Err(e);
                        };
                        let problem = SnapshotProblem::DoesNotFold {
                            position,
                            detail: e.to_string(),
                        };
                        crate::trace::warning!(
                            position,
                            problem = %problem,
                            "snapshot passed over"
                        );
                        report.ignored.push(problem);
                        report.snapshot = None;
                        before = Some(position);
                    }
                }
            }
        }
    };
    if startup == Startup::Snapshot {
        ledger.forget_held();
    }
    Ok((ledger, report))
}

/// Folds the entries the store holds after `ledger`'s into it, a page at
/// a time, holding none: how many, or (inside) why one did not fold. The
/// outer error is the store's own.
async fn fold_tail(
    store: &dyn JournalStore,
    ledger: &mut Ledger,
) -> Result<Result<u64, StartError>, StartError> {
    let mut replayed = 0_u64;
    loop {
        let position = ledger.journal().next_position();
        let page = read_page(store, position).await?;
        let read = page.len();
        if let Err(e) = ledger.fold_in(page) {
            return Ok(Err(fold_error(e, ledger)));
        }
        ledger.forget_held();
        replayed = replayed.saturating_add(read as u64);
        if read < PAGE {
            return Ok(Ok(replayed));
        }
    }
}

async fn read_page(
    store: &dyn JournalStore,
    position: u64,
) -> Result<Vec<JournalEntry>, StartError> {
    store
        .read_page(position, PAGE)
        .await
        .map_err(StartError::Journal)
}

/// A page's corruption, named by the entry's place in the whole journal.
fn renumbered(mut corrupt: CorruptJournal, first: u64) -> CorruptJournal {
    corrupt.line = corrupt
        .line
        .saturating_add(usize::try_from(first).unwrap_or(usize::MAX))
        .saturating_sub(1);
    corrupt
}

/// An entry that does not fold in, as a start (or a driver catching up)
/// reports it.
pub(crate) fn fold_error(e: CatchUpError, ledger: &Ledger) -> StartError {
    match e {
        CatchUpError::Replay(e) => StartError::Replay(e),
        CatchUpError::Corrupt { position, problem } => {
            StartError::Corrupt(Box::new(CorruptJournal {
                line: usize::try_from(position).unwrap_or(usize::MAX),
                problem,
                intact: Box::new(ledger.journal().clone()),
            }))
        }
    }
}

/// The newest snapshot in `store` below `before` (if given) that checks
/// out, noting each one passed over in `report`.
async fn newest_snapshot(
    store: &dyn JournalStore,
    report: &mut StartReport,
    mut before: Option<u64>,
) -> Result<Option<Snapshot>, StartError> {
    let chain = store.chain();
    while let Some(stored) = store
        .read_snapshot(before)
        .await
        .map_err(StartError::Journal)?
    {
        // A store that hands back one at or past the bound would loop.
        if before.is_some_and(|bound| stored.position >= bound) {
            break;
        }
        before = Some(stored.position);
        // Where it says it was taken first (cheap), then its seal and body.
        let checked = match in_journal(store, stored.position, stored.hash).await? {
            Ok(()) => open_at_once(&stored, &chain),
            Err(problem) => Err(problem),
        };
        match checked {
            Ok(snapshot) => {
                report.snapshot = Some(snapshot.head.len);
                return Ok(Some(snapshot));
            }
            Err(problem) => {
                crate::trace::warning!(
                    position = problem.position(),
                    problem = %problem,
                    "snapshot passed over"
                );
                report.ignored.push(problem);
            }
        }
    }
    Ok(None)
}

/// [`StoredSnapshot::open`], with the seal hashed on a second thread while
/// this one reads the body: what was read is used only once the seal
/// holds (a start spends its time in those two, and the body is tens of
/// megabytes in a long history).
fn open_at_once(
    stored: &crate::journal::StoredSnapshot,
    chain: &crate::journal::Chain,
) -> Result<Snapshot, SnapshotProblem> {
    let (sealed, read) = std::thread::scope(|scope| {
        let sealing = scope.spawn(|| stored.seal_holds(chain));
        let read = read_split(stored, scope);
        // A hashing thread that could not finish proves nothing.
        (sealing.join().unwrap_or(false), read)
    });
    if !sealed {
        return Err(SnapshotProblem::BadSeal {
            position: stored.position,
        });
    }
    read
}

/// The body read in two halves at once: the environments (their rollout
/// histories are most of a long-lived state) on a thread of their own,
/// everything else on this one. A body that does not split as this format
/// writes it is read whole by [`StoredSnapshot::read_unsealed`], which
/// says what is wrong with it: the split is only ever a faster way to the
/// same snapshot.
fn read_split<'scope, 'env>(
    stored: &'env crate::journal::StoredSnapshot,
    scope: &'scope std::thread::Scope<'scope, 'env>,
) -> Result<Snapshot, SnapshotProblem> {
    use serde_json::value::RawValue;
    use std::borrow::Cow;
    use std::collections::BTreeMap;

    #[derive(Deserialize)]
    struct Parts<'a> {
        format: u32,
        head: crate::journal::ChainHead,
        streams: BTreeMap<crate::journal::StreamId, u64>,
        #[serde(borrow)]
        state: BTreeMap<Cow<'a, str>, &'a RawValue>,
    }
    type Environments = BTreeMap<crate::model::EnvironmentId, crate::machine::EnvironmentState>;

    let parts = match serde_json::from_str::<Parts<'env>>(&stored.body) {
        Ok(parts) if parts.format == crate::journal::SNAPSHOT_FORMAT => parts,
        _ => return stored.read_unsealed(),
    };
    let mut fields = parts.state;
    let Some(environments) = fields.remove("environments") else {
        return stored.read_unsealed();
    };
    let reading = scope.spawn(move || serde_json::from_str::<Environments>(environments.get()));
    // The other fields straight from where they lie in the body.
    let state = crate::machine::State::deserialize(serde::de::value::MapDeserializer::<
        _,
        serde_json::Error,
    >::new(fields.into_iter()));
    match (state, reading.join()) {
        (Ok(mut state), Ok(Ok(environments))) => {
            state.environments = std::sync::Arc::new(environments);
            stored.accept(Snapshot {
                format: parts.format,
                head: parts.head,
                streams: parts.streams,
                state,
            })
        }
        _ => stored.read_unsealed(),
    }
}

/// Whether the journal holds an entry with `hash` at `position`.
async fn in_journal(
    store: &dyn JournalStore,
    position: u64,
    hash: crate::journal::EntryHash,
) -> Result<Result<(), SnapshotProblem>, StartError> {
    if position == 0 {
        return Ok(if hash == store.chain().genesis() {
            Ok(())
        } else {
            Err(SnapshotProblem::NotInJournal {
                position,
                found: "starts on another genesis".to_owned(),
            })
        });
    }
    let found = store
        .read_page(position, 1)
        .await
        .map_err(StartError::Journal)?;
    let found = match found.first() {
        Some(entry) if entry.position == position && entry.hash == hash => {
            return Ok(Ok(()));
        }
        Some(entry) if entry.position == position => {
            format!("holds an entry with hash {} there", entry.hash)
        }
        Some(entry) => format!("answered with entry {} for it", entry.position),
        None => "is shorter".to_owned(),
    };
    Ok(Err(SnapshotProblem::NotInJournal { position, found }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Chain, StoredSnapshot};

    fn split(stored: &StoredSnapshot) -> Result<Snapshot, SnapshotProblem> {
        std::thread::scope(|scope| read_split(stored, scope))
    }

    /// The split read is only a faster way to the one-pass read: the same
    /// snapshot for every body this format writes, the same problem named
    /// for every other.
    #[test]
    fn a_snapshot_read_in_two_halves_is_the_snapshot_read_whole() {
        use crate::machine::Command;
        use crate::model::{Artifact, Digest, EnvironmentRole, PipelineSpec, Release, Service};
        let at = chrono::DateTime::UNIX_EPOCH;
        let mut ledger = Ledger::new();
        let pipeline = PipelineSpec::new()
            .environment("qa", EnvironmentRole::Test)
            .environment("prod", EnvironmentRole::Production)
            .promote("qa", "prod")
            .build()
            .unwrap();
        let mut commands = vec![
            Command::DefinePipeline { pipeline },
            Command::RegisterService {
                service: Service::new("payments"),
            },
        ];
        for n in 1..=3_u64 {
            let digest = Digest::parse(&format!("sha256:{n:016x}")).unwrap();
            commands.push(Command::RegisterArtifact {
                artifact: Artifact::new(
                    "payments",
                    digest.clone(),
                    semver::Version::new(1, n, 0),
                    n,
                    format!("c{n}"),
                ),
            });
            commands.push(Command::RegisterRelease {
                release: Release::new(format!("payments@1.{n}.0"), "payments", digest, "cfg"),
            });
            commands.push(Command::deploy("qa", format!("payments@1.{n}.0"), "ci"));
            let slot = crate::model::Slot::new(
                "qa",
                "payments",
                crate::model::Revision(u32::try_from(n).unwrap()),
            );
            commands.push(Command::StartRollout { slot: slot.clone() });
            commands.push(Command::CompleteRollout { slot: slot.clone() });
            commands.push(Command::RecordVerification {
                slot,
                verdict: crate::machine::Verdict::Unhealthy {
                    reason: "errors \"up\" ↑".to_owned(),
                },
                by: "probe".into(),
                evidence: None,
            });
        }
        let mut cuts = Vec::new();
        for command in &commands {
            ledger.execute(command, at).unwrap();
            cuts.push(ledger.clone());
        }
        let journal = ledger.journal().clone();
        for cut in [&cuts[0], &cuts[4], &ledger] {
            let stored = Snapshot::of(cut).seal(&Chain::unnamed());
            let whole = stored.read_unsealed().unwrap();
            assert_eq!(split(&stored).unwrap(), whole);
            assert_eq!(whole.state, *cut.state());
        }
        assert!(
            ledger
                .state()
                .history(&"qa".into(), &"payments".into())
                .is_some_and(|h| h.len() == 3),
            "the snapshot holds a history"
        );
        let ledger = Ledger::from_journal(journal.clone()).unwrap();
        let good = Snapshot::of(&ledger).seal(&Chain::unnamed());
        let edited = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut body: serde_json::Value = serde_json::from_str(&good.body).unwrap();
            edit(&mut body);
            StoredSnapshot::new(good.position, good.hash, good.seal, body.to_string())
        };
        for bad in [
            edited(&|b| b["format"] = 1.into()),
            edited(&|b| b["format"] = 9.into()),
            edited(&|b| b["head"]["len"] = 3.into()),
            edited(&|b| b["state"]["environments"] = 7.into()),
            edited(&|b| b["state"]["releases"] = "x".into()),
            edited(&|b| b["state"]["surprise"] = true.into()),
            StoredSnapshot::new(good.position, good.hash, good.seal, "{".to_owned()),
        ] {
            assert_eq!(
                split(&bad),
                bad.read_unsealed(),
                "{}",
                &bad.body[..80.min(bad.body.len())]
            );
        }
    }
}
