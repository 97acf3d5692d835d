//! The file journal store against a real file: the conformance suite, a
//! restart from the file alone, two processes on one file, and a torn last
//! line repaired while a damaged complete line is never dropped.
#![cfg(feature = "file-journal")]

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use knowngood::adapters::FileJournalStore;
use knowngood::memory::block_on;
use knowngood::port::JournalStore;
use knowngood::{Chain, Command, Driver, ErrorKind, Journal, Ports, Service};

#[path = "common/tmp.rs"]
mod tmp;

struct Dir(tmp::TempDir);

impl Dir {
    fn new(name: &str) -> Self {
        Self(tmp::TempDir::new(&format!("file-journal-{name}")))
    }

    fn file(&self) -> PathBuf {
        self.0.path().join("journal.jsonl")
    }
}

fn chain() -> Chain {
    Chain::named("payments-prod")
}

fn ports(store: Arc<FileJournalStore>) -> Ports {
    common::ports_on(store)
}

fn register(driver: &mut Driver, name: &str) {
    common::register_service(driver, name).unwrap();
}

#[cfg(feature = "testkit")]
#[test]
fn file_journal_passes_the_conformance_suite_empty_and_holding_a_journal() {
    let dir = Dir::new("conformance");
    let store = FileJournalStore::open(dir.file(), chain()).unwrap();
    block_on(knowngood::testkit::conformance::journal_store(&store)).unwrap();
    // Again on the file it left, from a new store.
    let again = FileJournalStore::open(dir.file(), chain()).unwrap();
    block_on(knowngood::testkit::conformance::journal_store(&again)).unwrap();
    // And opened lazily, empty and holding a journal.
    let lazy = FileJournalStore::open_lazily(dir.file(), chain()).unwrap();
    block_on(knowngood::testkit::conformance::journal_store(&lazy)).unwrap();
    let other = Dir::new("conformance-lazy");
    let empty = FileJournalStore::open_lazily(other.file(), chain()).unwrap();
    block_on(knowngood::testkit::conformance::journal_store(&empty)).unwrap();
}

#[test]
fn file_journal_a_restart_reads_the_file_alone_and_the_library_reads_it_too() {
    let dir = Dir::new("restart");
    let store = Arc::new(FileJournalStore::open(dir.file(), chain()).unwrap());
    let mut driver = block_on(Driver::start(ports(store), "bot")).unwrap();
    register(&mut driver, "payments");
    register(&mut driver, "search");
    let live = driver.state().clone();
    drop(driver);
    let store = Arc::new(FileJournalStore::open(dir.file(), chain()).unwrap());
    assert_eq!(store.repaired(), None);
    let resumed = block_on(Driver::resume(ports(store), "bot")).unwrap();
    assert_eq!(resumed.state(), &live);
    let text = std::fs::read(dir.file()).unwrap();
    let read = Journal::with_chain(chain())
        .read_jsonl(text.as_slice())
        .unwrap();
    assert_eq!(read.len(), 2);
}

#[test]
fn file_journal_two_processes_one_file_a_stale_writer_gets_a_conflict() {
    let dir = Dir::new("two");
    let a = Arc::new(FileJournalStore::open(dir.file(), chain()).unwrap());
    let b = Arc::new(FileJournalStore::open(dir.file(), chain()).unwrap());
    let mut first = block_on(Driver::start(ports(a), "a")).unwrap();
    // Both start on the empty store, as two first runs racing would.
    let mut second = block_on(Driver::start(ports(b.clone()), "b")).unwrap();
    register(&mut first, "payments");
    // The second process still believes the journal is empty: the store
    // refuses an append that expects it so.
    let stale = block_on(b.append(0, first.journal().entries())).unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Conflict, "{stale}");
    // Its driver reads the other's entry, decides again and goes on.
    register(&mut second, "search");
    assert_eq!(second.decided_again(), 1);
    assert_eq!(block_on(b.read_from(1)).unwrap().len(), 2);
}

#[test]
fn file_journal_a_torn_last_line_is_repaired_and_said_so() {
    let dir = Dir::new("torn");
    let store = Arc::new(FileJournalStore::open(dir.file(), chain()).unwrap());
    let mut driver = block_on(Driver::start(ports(store), "bot")).unwrap();
    register(&mut driver, "payments");
    register(&mut driver, "search");
    drop(driver);
    // A crash in the middle of writing a third line.
    let whole = std::fs::read(dir.file()).unwrap();
    let mut torn = whole.clone();
    torn.extend_from_slice(b"{\"v\":1,\"position\":3,\"stre");
    std::fs::write(dir.file(), &torn).unwrap();
    let store = FileJournalStore::open(dir.file(), chain()).unwrap();
    assert_eq!(store.repaired(), Some((torn.len() - whole.len()) as u64));
    assert_eq!(block_on(store.read_from(1)).unwrap().len(), 2);
    assert_eq!(std::fs::read(dir.file()).unwrap(), whole);
}

#[test]
fn file_journal_a_damaged_complete_line_is_never_dropped() {
    let dir = Dir::new("damaged");
    let store = Arc::new(FileJournalStore::open(dir.file(), chain()).unwrap());
    let mut driver = block_on(Driver::start(ports(store), "bot")).unwrap();
    register(&mut driver, "payments");
    register(&mut driver, "search");
    drop(driver);
    let text = std::fs::read_to_string(dir.file()).unwrap();
    let damaged = text.replacen("search", "seArch", 1);
    std::fs::write(dir.file(), &damaged).unwrap();
    let err = FileJournalStore::open(dir.file(), chain()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert!(err.message().contains("journal line 2"), "{err}");
    assert!(err.message().contains("nothing was dropped"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.file()).unwrap(), damaged);
    // Read with another chain's name, the first line does not start it.
    std::fs::write(dir.file(), &text).unwrap();
    let err = FileJournalStore::open(dir.file(), Chain::named("staging")).unwrap_err();
    assert!(err.message().contains("journal line 1"), "{err}");
}

#[test]
fn file_journal_reads_only_what_was_appended_and_notices_a_replaced_file() {
    let dir = Dir::new("incremental");
    let a = Arc::new(FileJournalStore::open(dir.file(), chain()).unwrap());
    let b = Arc::new(FileJournalStore::open(dir.file(), chain()).unwrap());
    let mut first = block_on(Driver::start(ports(a.clone()), "a")).unwrap();
    for n in 0..20 {
        register(&mut first, &format!("svc-{n}"));
        // The other store sees every entry as it is appended.
        assert_eq!(block_on(b.read_from(1)).unwrap().len(), n + 1);
    }
    // A last entry whose newline was lost: the next append puts it back.
    let mut text = std::fs::read(dir.file()).unwrap();
    assert_eq!(text.pop(), Some(b'\n'));
    std::fs::write(dir.file(), &text).unwrap();
    let c = Arc::new(FileJournalStore::open(dir.file(), chain()).unwrap());
    assert_eq!(c.repaired(), None);
    let mut resumed = block_on(Driver::resume(ports(c.clone()), "c")).unwrap();
    register(&mut resumed, "after-the-lost-newline");
    let read = Journal::with_chain(chain())
        .read_jsonl(std::fs::read(dir.file()).unwrap().as_slice())
        .unwrap();
    assert_eq!(read.len(), 21);
    // The file replaced behind the stores' backs (a shorter journal): a
    // store notices and reads it whole again.
    let shorter: Vec<u8> = std::fs::read(dir.file())
        .unwrap()
        .split_inclusive(|b| *b == b'\n')
        .take(5)
        .flatten()
        .copied()
        .collect();
    std::fs::write(dir.file(), &shorter).unwrap();
    assert_eq!(block_on(a.read_from(1)).unwrap().len(), 5);
}

#[test]
fn file_journal_snapshots_survive_a_restart_are_pruned_and_start_a_driver() {
    let dir = Dir::new("snapshots");
    let store = Arc::new(
        FileJournalStore::open(dir.file(), chain())
            .unwrap()
            .keep_snapshots(2),
    );
    let mut driver = block_on(Driver::start(ports(store.clone()), "a")).unwrap();
    for (n, name) in ["payments", "ledger", "search", "billing"]
        .into_iter()
        .enumerate()
    {
        register(&mut driver, name);
        if n < 3 {
            block_on(driver.write_snapshot()).unwrap();
        }
    }
    // Three written, the newest two kept.
    let kept: Vec<_> = std::fs::read_dir(store.snapshot_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    drop(driver);
    // A new process, from the files alone.
    let again = Arc::new(FileJournalStore::open(dir.file(), chain()).unwrap());
    let resumed = block_on(Driver::resume_with(
        ports(again),
        "b",
        knowngood::Startup::Snapshot,
    ))
    .unwrap();
    assert_eq!(resumed.started().snapshot, Some(3));
    assert_eq!(resumed.started().replayed, 1);
    assert!(resumed.state().service(&"billing".into()).is_some());
    // A snapshot file cut short is passed over, the older one used.
    let newest = store.snapshot_dir().join(format!("{:020}.json", 3));
    let text = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &text[..text.len() / 2]).unwrap();
    let again = Arc::new(FileJournalStore::open(dir.file(), chain()).unwrap());
    let resumed = block_on(Driver::resume_with(
        ports(again),
        "c",
        knowngood::Startup::Snapshot,
    ))
    .unwrap();
    assert_eq!(resumed.started().snapshot, Some(2));
    assert_eq!(resumed.started().ignored.len(), 1);
    assert_eq!(resumed.started().replayed, 2);
}

/// A file of `n` entries, written by a store opened the usual way; the
/// entries as read back whole.
fn long_file(dir: &Dir, n: usize) -> Vec<knowngood::JournalEntry> {
    let store = FileJournalStore::open(dir.file(), chain()).unwrap();
    let mut ledger = knowngood::Ledger::from_journal(Journal::with_chain(chain())).unwrap();
    for i in 0..n {
        ledger
            .execute(
                &Command::RegisterService {
                    service: Service::new(format!("service-with-a-longer-name-{i:05}")),
                },
                common::t(0),
            )
            .unwrap();
    }
    block_on(store.append(0, ledger.journal().entries())).unwrap();
    block_on(store.read_from(1)).unwrap()
}

#[test]
fn file_journal_opened_lazily_reads_from_the_end_what_it_is_asked_for() {
    let dir = Dir::new("lazy");
    // About 1.3 MB: the backward reads cross several chunks.
    let all = long_file(&dir, 4_000);
    let lazy = FileJournalStore::open_lazily(dir.file(), chain()).unwrap();
    assert_eq!(lazy.repaired(), None);
    for position in [4_000_u64, 3_999, 3_001, 2_048, 777, 2, 1] {
        let start = usize::try_from(position).unwrap() - 1;
        assert_eq!(
            block_on(lazy.read_page(position, 5)).unwrap(),
            all[start..(start + 5).min(all.len())],
            "from {position}"
        );
    }
    // Appends go on from the last entry, and a reopened store agrees.
    let fresh = FileJournalStore::open_lazily(dir.file(), chain()).unwrap();
    let mut ledger = knowngood::Ledger::from_journal(
        Journal::with_chain(chain())
            .read_entries(all.clone())
            .unwrap(),
    )
    .unwrap();
    let next = ledger
        .execute(
            &Command::RegisterService {
                service: Service::new("one-more"),
            },
            common::t(0),
        )
        .unwrap()
        .to_vec();
    let stale = block_on(fresh.append(3_999, &next)).unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Conflict);
    block_on(fresh.append(4_000, &next)).unwrap();
    let whole = FileJournalStore::open(dir.file(), chain()).unwrap();
    assert_eq!(block_on(whole.read_from(4_001)).unwrap(), next);
    assert_eq!(block_on(whole.read_from(1)).unwrap().len(), 4_001);
}

#[test]
fn file_journal_opened_lazily_repairs_a_torn_tail_and_finds_damage_when_it_reads_it() {
    let dir = Dir::new("lazy-torn");
    let all = long_file(&dir, 1_500);
    let whole = std::fs::read(dir.file()).unwrap();
    // Torn: a crash in the middle of writing the next line.
    let mut torn = whole.clone();
    torn.extend_from_slice(b"{\"v\":1,\"position\":1501,\"stre");
    std::fs::write(dir.file(), &torn).unwrap();
    let lazy = FileJournalStore::open_lazily(dir.file(), chain()).unwrap();
    assert_eq!(lazy.repaired(), Some((torn.len() - whole.len()) as u64));
    assert_eq!(std::fs::read(dir.file()).unwrap(), whole);
    assert_eq!(block_on(lazy.read_page(1_500, 10)).unwrap(), all[1_499..]);
    // Damage far from the end is not read at a lazy open (an ordinary
    // open refuses it), but a read that covers it names it.
    let text = String::from_utf8(whole).unwrap();
    let damaged = text.replacen("name-00010", "name-0001O", 1);
    std::fs::write(dir.file(), &damaged).unwrap();
    assert!(FileJournalStore::open(dir.file(), chain()).is_err());
    let lazy = FileJournalStore::open_lazily(dir.file(), chain()).unwrap();
    assert_eq!(block_on(lazy.read_page(1_400, 200)).unwrap(), all[1_399..]);
    let err = block_on(lazy.read_from(1)).unwrap_err();
    assert!(err.message().contains("journal line 11"), "{err}");
    // A snapshot start on the lazy store reads only the tail.
    let store = Arc::new(FileJournalStore::open_lazily(dir.file(), chain()).unwrap());
    let prefix = knowngood::Ledger::from_journal(
        Journal::with_chain(chain())
            .read_entries(all[..1_450].to_vec())
            .unwrap(),
    )
    .unwrap();
    block_on(store.save_snapshot(&knowngood::Snapshot::of(&prefix).seal(&chain()))).unwrap();
    let driver = block_on(Driver::resume_with(
        ports(store),
        "b",
        knowngood::Startup::Snapshot,
    ))
    .unwrap();
    assert_eq!(driver.started().snapshot, Some(1_450));
    assert_eq!(driver.started().replayed, 50);
    let full =
        knowngood::Ledger::from_journal(Journal::with_chain(chain()).read_entries(all).unwrap())
            .unwrap();
    assert_eq!(driver.state(), full.state());
}

/// Three entries from a ledger on the test chain: one service, then a
/// batch of two (the entries of one append).
fn one_then_a_batch_of_two() -> (Vec<knowngood::JournalEntry>, Vec<knowngood::JournalEntry>) {
    let mut ledger = knowngood::Ledger::from_journal(Journal::with_chain(chain())).unwrap();
    for name in ["payments", "search", "ledger"] {
        ledger
            .execute(
                &Command::RegisterService {
                    service: Service::new(name),
                },
                common::t(0),
            )
            .unwrap();
    }
    let all = ledger.journal().entries().to_vec();
    (all[..1].to_vec(), all[1..].to_vec())
}

/// What a writer that died midway leaves: the batch file, written whole
/// (as the module documents it), and the journal holding the first
/// `bytes` bytes of the batch's lines.
fn died_midway(
    dir: &Dir,
    first: &[knowngood::JournalEntry],
    batch: &[knowngood::JournalEntry],
    bytes: usize,
) {
    let text: String = batch.iter().map(|e| e.to_line() + "\n").collect();
    let header = serde_json::json!({
        "batch": 1,
        "after": first.len(),
        "hash": first.last().unwrap().hash.to_string(),
        "lines": batch.len(),
    });
    let mut batch_file = dir.file().into_os_string();
    batch_file.push(".batch");
    std::fs::write(&batch_file, format!("{header}\n{text}")).unwrap();
    let mut journal = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.file())
        .unwrap();
    std::io::Write::write_all(&mut journal, &text.as_bytes()[..bytes]).unwrap();
}

#[test]
fn file_journal_batch_all_or_nothing_a_batch_cut_by_a_dead_writer_is_completed() {
    let (first, batch) = one_then_a_batch_of_two();
    let line = batch[0].to_line().len() + 1;
    // Cut after its first line, in the middle of its second, and before
    // any of it reached the journal.
    for (name, bytes) in [
        ("after-one-line", line),
        ("mid-line", line + 10),
        ("none", 0),
    ] {
        let dir = Dir::new(&format!("batch-{name}"));
        let store = FileJournalStore::open(dir.file(), chain()).unwrap();
        block_on(store.append(0, &first)).unwrap();
        // A reader opened before the writer died.
        let reader = FileJournalStore::open(dir.file(), chain()).unwrap();
        died_midway(&dir, &first, &batch, bytes);
        // The reader sees the whole batch, never half of it.
        let read = block_on(reader.read_from(1)).unwrap();
        assert_eq!(
            read.len(),
            3,
            "{name}: all or nothing, and the batch file says all"
        );
        assert_eq!(read[1..], batch[..], "{name}");
        // So does a fresh open, and the batch file is gone.
        let reopened = FileJournalStore::open(dir.file(), chain()).unwrap();
        assert_eq!(block_on(reopened.read_from(1)).unwrap().len(), 3, "{name}");
        let mut batch_file = dir.file().into_os_string();
        batch_file.push(".batch");
        assert!(!std::path::Path::new(&batch_file).exists(), "{name}");
        // And the library reads the file as one journal.
        let text = std::fs::read(dir.file()).unwrap();
        let journal = Journal::with_chain(chain())
            .read_jsonl(text.as_slice())
            .unwrap();
        assert_eq!(journal.len(), 3, "{name}");
    }
}

#[test]
fn file_journal_batch_all_or_nothing_a_batch_file_that_does_not_follow_the_journal_is_refused() {
    let (first, batch) = one_then_a_batch_of_two();
    let dir = Dir::new("batch-foreign");
    let store = FileJournalStore::open(dir.file(), chain()).unwrap();
    block_on(store.append(0, &first)).unwrap();
    // A batch file claiming to follow an entry the journal does not hold.
    died_midway(&dir, &first, &batch, 0);
    let mut batch_file = dir.file().into_os_string();
    batch_file.push(".batch");
    let text = std::fs::read_to_string(&batch_file).unwrap();
    std::fs::write(&batch_file, text.replacen("\"after\":1", "\"after\":7", 1)).unwrap();
    let before = std::fs::read(dir.file()).unwrap();
    let error = FileJournalStore::open(dir.file(), chain()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Rejected, "{error}");
    assert!(error.to_string().contains("does not hold"), "{error}");
    // Nothing recorded was touched.
    assert_eq!(std::fs::read(dir.file()).unwrap(), before);
}

#[test]
fn file_journal_batch_all_or_nothing_a_reader_never_sees_half_a_batch() {
    let dir = Dir::new("batch-readers");
    let writer = FileJournalStore::open(dir.file(), chain()).unwrap();
    let reader = FileJournalStore::open(dir.file(), chain()).unwrap();
    let mut ledger = knowngood::Ledger::from_journal(Journal::with_chain(chain())).unwrap();
    let mut batches = Vec::new();
    for i in 0..150 {
        let before = ledger.journal().len();
        for part in ["a", "b"] {
            ledger
                .execute(
                    &Command::RegisterService {
                        service: Service::new(format!("svc-{i}-{part}")),
                    },
                    common::t(0),
                )
                .unwrap();
        }
        batches.push((before as u64, ledger.journal().entries()[before..].to_vec()));
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for (len, batch) in &batches {
                block_on(writer.append(*len, batch)).unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut reads = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) || reads == 0 {
            let len = block_on(reader.read_from(1)).unwrap().len();
            assert_eq!(len % 2, 0, "a reader saw half a batch: {len} entries");
            reads += 1;
        }
    });
    assert_eq!(block_on(reader.read_from(1)).unwrap().len(), 300);
}

#[test]
fn file_journal_a_snapshot_not_in_the_journal_is_not_read_whole() {
    use std::io::Write as _;
    let dir = Dir::new("snapshot-not-read");
    let store = Arc::new(FileJournalStore::open(dir.file(), chain()).unwrap());
    let mut driver = block_on(Driver::start(ports(store.clone()), "a")).unwrap();
    register(&mut driver, "payments");
    block_on(driver.write_snapshot()).unwrap();
    register(&mut driver, "ledger");
    drop(driver);
    // Positive: a snapshot this journal holds is read with its body.
    let good = block_on(store.read_snapshot(None)).unwrap().unwrap();
    assert_eq!(good.position, 1);
    assert!(!good.body.is_empty());
    // A 64 MiB snapshot file at position 2 whose header names a hash the
    // journal does not hold there (copied from elsewhere, or forged).
    let bogus = store.snapshot_dir().join(format!("{:020}.json", 2));
    let mut file = std::fs::File::create(&bogus).unwrap();
    writeln!(
        file,
        "{{\"position\":2,\"hash\":\"{}\",\"seal\":\"{}\"}}",
        "ab".repeat(32),
        "cd".repeat(32)
    )
    .unwrap();
    let block = vec![b'x'; 1 << 20];
    for _ in 0..64 {
        file.write_all(&block).unwrap();
    }
    drop(file);
    // It is handed over without its body: never read, however large.
    let handed = block_on(store.read_snapshot(None)).unwrap().unwrap();
    assert_eq!(handed.position, 2);
    assert!(handed.body.is_empty(), "{} bytes read", handed.body.len());
    // And a start passes it over for the journal not holding it, and
    // starts from the good one.
    let resumed = block_on(Driver::resume_with(
        ports(Arc::new(
            FileJournalStore::open(dir.file(), chain()).unwrap(),
        )),
        "b",
        knowngood::Startup::Snapshot,
    ))
    .unwrap();
    assert_eq!(resumed.started().snapshot, Some(1));
    assert!(
        matches!(
            resumed.started().ignored.as_slice(),
            [knowngood::SnapshotProblem::NotInJournal { position: 2, .. }]
        ),
        "{:?}",
        resumed.started().ignored
    );
    // A first line longer than any header is no header: not read either.
    let mut file = std::fs::File::create(&bogus).unwrap();
    for _ in 0..8 {
        file.write_all(&block).unwrap();
    }
    drop(file);
    let handed = block_on(store.read_snapshot(None)).unwrap().unwrap();
    assert!(handed.body.is_empty());
}

#[cfg(unix)]
#[test]
fn file_journal_planted_symlinks_are_never_written_through() {
    let dir = Dir::new("symlinks");
    let victim = dir.0.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let store = Arc::new(FileJournalStore::open(dir.file(), chain()).unwrap());
    let mut driver = block_on(Driver::start(ports(store.clone()), "a")).unwrap();
    register(&mut driver, "payments");
    // Links planted where a snapshot's partial file and a batch's partial
    // file go.
    std::fs::create_dir_all(store.snapshot_dir()).unwrap();
    let snapshot_partial = store.snapshot_dir().join(format!("{:020}.json.partial", 1));
    std::os::unix::fs::symlink(&victim, &snapshot_partial).unwrap();
    block_on(driver.write_snapshot()).unwrap();
    drop(driver);
    // A batch of two goes through the batch file.
    let other = Dir::new("symlinks-batch");
    let mut batch_partial = other.file().into_os_string();
    batch_partial.push(".batch.partial");
    std::os::unix::fs::symlink(&victim, &batch_partial).unwrap();
    let batched = FileJournalStore::open(other.file(), chain()).unwrap();
    let (one, two) = one_then_a_batch_of_two();
    block_on(batched.append(0, &one)).unwrap();
    block_on(batched.append(1, &two)).unwrap();
    // Positive: both were written, as files of their own.
    assert!(block_on(store.read_snapshot(None)).unwrap().is_some());
    assert_eq!(block_on(batched.read_from(1)).unwrap().len(), 3);
    // Negative: the victim is untouched.
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}
