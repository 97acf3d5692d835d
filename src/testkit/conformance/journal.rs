//! The journal store's contract, snapshots included.

use super::{ConformanceFailure, ensure, fail};
use crate::journal::{Journal, JournalEntry, Snapshot};
use crate::ledger::Ledger;
use crate::machine::Command;
use crate::model::{Service, ServiceId};
use crate::port::{ErrorKind, JournalStore};
use chrono::DateTime;

/// Checks a [`JournalStore`], empty or holding a journal: appends only at
/// the expected length, reads back exactly what was appended, from any
/// position. The entries appended continue the stored journal (positions
/// and hash chain), so the store stays a valid journal.
pub async fn journal_store(port: &dyn JournalStore) -> Result<(), ConformanceFailure> {
    const P: &str = "journal store";
    let stored = match port.read_from(1).await {
        Ok(entries) => entries,
        Err(e) => return fail(P, "read", e.to_string()),
    };
    let len = stored.len() as u64;
    let journal = match Journal::with_chain(port.chain()).read_entries(stored) {
        Ok(j) => j,
        Err(e) => return fail(P, "reads-back-a-journal", e.to_string()),
    };
    let entries = match continue_journal(journal) {
        Ok(entries) => entries,
        Err(e) => return fail(P, "reads-back-a-journal", e),
    };
    if let Err(e) = port.append(len, &entries[..2]).await {
        return fail(P, "append", e.to_string());
    }
    let stale = port.append(len, &entries[2..]).await;
    ensure(
        P,
        "stale-append-is-a-conflict",
        matches!(&stale, Err(e) if e.kind() == ErrorKind::Conflict),
        || format!("{stale:?}"),
    )?;
    if let Err(e) = port.append(len.saturating_add(2), &entries[2..]).await {
        return fail(P, "append", e.to_string());
    }
    let all = port.read_from(len.saturating_add(1)).await;
    ensure(
        P,
        "reads-back-what-was-appended",
        matches!(&all, Ok(e) if *e == entries),
        || "the entries differ".to_owned(),
    )?;
    let tail = port.read_from(len.saturating_add(2)).await;
    ensure(
        P,
        "reads-from-a-position",
        matches!(&tail, Ok(e) if e.as_slice() == &entries[1..]),
        || "reading from a position did not start at that entry".to_owned(),
    )?;
    let past = port.read_from(len.saturating_add(4)).await;
    ensure(
        P,
        "reads-past-the-end-as-empty",
        matches!(&past, Ok(e) if e.is_empty()),
        || format!("{past:?}"),
    )?;
    let page = port.read_page(len.saturating_add(1), 2).await;
    ensure(
        P,
        "reads-a-bounded-page",
        matches!(&page, Ok(e) if e.as_slice() == &entries[..2]),
        || format!("reading at most 2 entries gave {page:?}"),
    )?;
    snapshots(port).await
}

/// A store that keeps snapshots hands back the newest below a bound.
async fn snapshots(port: &dyn JournalStore) -> Result<(), ConformanceFailure> {
    const P: &str = "journal store";
    let Ok(stored) = port.read_from(1).await else {
        return fail(P, "read", "the store stopped reading".to_owned());
    };
    let journal = match Journal::with_chain(port.chain()).read_entries(stored) {
        Ok(j) => j,
        Err(e) => return fail(P, "reads-back-a-journal", e.to_string()),
    };
    let len = journal.len() as u64;
    let ledger = match Ledger::from_journal(journal.truncated(journal.len().saturating_sub(1))) {
        Ok(ledger) => ledger,
        Err(e) => return fail(P, "reads-back-a-journal", e.to_string()),
    };
    let older = Snapshot::of(&ledger).seal(&port.chain());
    let Ok(whole) = Ledger::from_journal(journal) else {
        return fail(P, "reads-back-a-journal", "it does not replay".to_owned());
    };
    let newer = Snapshot::of(&whole).seal(&port.chain());
    match port.save_snapshot(&older).await {
        // A store may keep no snapshots, and must say so this way.
        Err(e) if e.kind() == ErrorKind::Rejected => return Ok(()),
        Err(e) => return fail(P, "save-snapshot", e.to_string()),
        Ok(()) => {}
    }
    if let Err(e) = port.save_snapshot(&newer).await {
        return fail(P, "save-snapshot", e.to_string());
    }
    let newest = port.read_snapshot(None).await;
    ensure(
        P,
        "reads-back-the-newest-snapshot",
        matches!(&newest, Ok(Some(s)) if *s == newer),
        || {
            format!(
                "the newest snapshot read back is {:?}",
                newest.map(|s| s.map(|s| s.position))
            )
        },
    )?;
    let below = port.read_snapshot(Some(len)).await;
    ensure(
        P,
        "reads-the-newest-snapshot-below-a-bound",
        matches!(&below, Ok(Some(s)) if *s == older),
        || {
            format!(
                "below position {len} it read {:?}",
                below.map(|s| s.map(|s| s.position))
            )
        },
    )
}

/// Three new entries continuing `journal`: services no journal registered.
fn continue_journal(journal: Journal) -> Result<Vec<JournalEntry>, String> {
    let before = journal.len();
    let at = journal
        .entries()
        .last()
        .map_or(DateTime::UNIX_EPOCH, |e| e.event.at);
    let mut ledger = Ledger::from_journal(journal).map_err(|e| e.to_string())?;
    let mut n = 0_u32;
    while ledger.journal().len() < before.saturating_add(3) {
        n = n.saturating_add(1);
        let name = format!("conformance-service-{n}");
        if ledger
            .state()
            .service(&ServiceId::new(name.clone()))
            .is_some()
        {
            continue;
        }
        ledger
            .execute(
                &Command::RegisterService {
                    service: Service::new(name),
                },
                at,
            )
            .map_err(|e| e.to_string())?;
    }
    Ok(ledger.journal().entries()[before..].to_vec())
}
