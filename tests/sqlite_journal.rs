//! The `SQLite` journal store on a real database file: the conformance
//! suite, a restart, two connections racing on the same expected length,
//! and a keyed chain that does not read without its key.
#![cfg(feature = "sqlite")]

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use knowngood::adapters::SqliteJournalStore;
use knowngood::memory::block_on;
use knowngood::port::JournalStore;
use knowngood::{Chain, Command, Driver, ErrorKind, Ports, Service};

#[path = "common/tmp.rs"]
mod tmp;

struct Dir(tmp::TempDir);

impl Dir {
    fn new(name: &str) -> Self {
        Self(tmp::TempDir::new(&format!("sqlite-{name}")))
    }

    fn db(&self) -> PathBuf {
        self.0.path().join("journal.db")
    }
}

fn chain() -> Chain {
    Chain::named("payments-prod").keyed(b"from the vault")
}

fn ports(store: Arc<SqliteJournalStore>) -> Ports {
    common::ports_on(store)
}

fn register(driver: &mut Driver, name: &str) -> Result<(), knowngood::DriveError> {
    common::register_service(driver, name)
}

#[cfg(feature = "testkit")]
#[test]
fn sqlite_journal_passes_the_conformance_suite_empty_and_holding_a_journal() {
    let dir = Dir::new("conformance");
    let store = SqliteJournalStore::open(dir.db(), chain()).unwrap();
    block_on(knowngood::testkit::conformance::journal_store(&store)).unwrap();
    let again = SqliteJournalStore::open(dir.db(), chain()).unwrap();
    block_on(knowngood::testkit::conformance::journal_store(&again)).unwrap();
}

#[test]
fn sqlite_journal_restart_and_two_writers_on_the_same_length() {
    let dir = Dir::new("race");
    let a = Arc::new(SqliteJournalStore::open(dir.db(), chain()).unwrap());
    let b = Arc::new(SqliteJournalStore::open(dir.db(), chain()).unwrap());
    let mut first = block_on(Driver::start(ports(a), "a")).unwrap();
    // Both start on the empty store, as two first runs racing would.
    let mut second = block_on(Driver::start(ports(b.clone()), "b")).unwrap();
    register(&mut first, "payments").unwrap();
    // Both believed the journal empty: exactly one append wins at the
    // store, and the loser's driver reads what it missed and goes on.
    let stale = block_on(b.append(0, first.journal().entries())).unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Conflict, "{stale}");
    register(&mut second, "search").unwrap();
    assert_eq!(second.decided_again(), 1);
    // A new process reads both from the database alone.
    let store = Arc::new(SqliteJournalStore::open(dir.db(), chain()).unwrap());
    let resumed = block_on(Driver::resume(ports(store), "c")).unwrap();
    assert_eq!(resumed.journal().len(), 2);
    assert_eq!(resumed.state(), second.state());
    // Without the key the first entry does not read.
    let unkeyed = SqliteJournalStore::open(dir.db(), Chain::named("payments-prod")).unwrap();
    let err = block_on(unkeyed.read_from(1)).unwrap_err();
    assert!(err.message().contains("journal entry 1"), "{err}");
}

#[test]
fn sqlite_journal_many_racing_appends_one_winner_each() {
    let dir = Dir::new("many");
    let store = SqliteJournalStore::open(dir.db(), chain()).unwrap();
    let other = SqliteJournalStore::open(dir.db(), chain()).unwrap();
    // Entries to append, made by a ledger on the same chain.
    let mut ledger =
        knowngood::Ledger::from_journal(knowngood::Journal::with_chain(chain())).unwrap();
    for n in 0..200 {
        ledger
            .execute(
                &Command::RegisterService {
                    service: Service::new(format!("svc-{n}")),
                },
                common::t(n),
            )
            .unwrap();
    }
    let entries = ledger.journal().entries();
    for (i, entry) in entries.iter().enumerate() {
        let len = i as u64;
        let one = std::slice::from_ref(entry);
        let (x, y) = if i % 2 == 0 {
            (&store, &other)
        } else {
            (&other, &store)
        };
        block_on(x.append(len, one)).unwrap();
        let lost = block_on(y.append(len, one)).unwrap_err();
        assert_eq!(lost.kind(), ErrorKind::Conflict);
    }
    assert_eq!(block_on(store.read_from(1)).unwrap(), entries);
    assert_eq!(block_on(other.read_from(150)).unwrap(), entries[149..]);
}

#[test]
fn sqlite_journal_schema_1_is_brought_up_to_date_and_snapshots_start_a_driver() {
    let dir = Dir::new("schema-1");
    {
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        conn.execute_batch(
            "CREATE TABLE knowngood_journal (position INTEGER PRIMARY KEY, line TEXT NOT NULL, hash TEXT NOT NULL);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = Arc::new(
        SqliteJournalStore::open(dir.db(), chain())
            .unwrap()
            .keep_snapshots(1),
    );
    let mut driver = block_on(Driver::start(ports(store.clone()), "a")).unwrap();
    register(&mut driver, "payments").unwrap();
    block_on(driver.write_snapshot()).unwrap();
    register(&mut driver, "ledger").unwrap();
    block_on(driver.write_snapshot()).unwrap();
    register(&mut driver, "search").unwrap();
    let version: i64 = rusqlite::Connection::open(dir.db())
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
    assert!(
        block_on(store.read_snapshot(Some(2))).unwrap().is_none(),
        "only the newest is kept"
    );
    let again = Arc::new(SqliteJournalStore::open(dir.db(), chain()).unwrap());
    let resumed = block_on(Driver::resume_with(
        ports(again),
        "b",
        knowngood::Startup::Snapshot,
    ))
    .unwrap();
    assert_eq!(resumed.started().snapshot, Some(2));
    assert_eq!(resumed.started().replayed, 1);
    assert_eq!(resumed.state(), driver.state());
}
