//! What one append costs on the durable stores that write files: one entry
//! (a single line, atomic by itself) and a batch of two (written to the
//! batch file first, so that a crash never leaves half of it), on the file
//! journal and on `SQLite`. Both `fsync` before they answer, so the figures
//! are the machine's disk as much as the library.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use knowngood::adapters::{FileJournalStore, SqliteJournalStore};
use knowngood::memory::block_on;
use knowngood::port::JournalStore;
use knowngood::{Chain, Command, JournalEntry, Ledger, Service};

/// A ledger on `chain` that hands out the next `n` entries each time.
struct Source {
    ledger: Ledger,
    n: u64,
}

impl Source {
    fn next(&mut self, count: usize) -> Vec<JournalEntry> {
        let now = chrono::DateTime::UNIX_EPOCH;
        let before = self.ledger.journal().len();
        for _ in 0..count {
            self.n += 1;
            self.ledger
                .execute(
                    &Command::RegisterService {
                        service: Service::new(format!("svc-{}", self.n)),
                    },
                    now,
                )
                .expect("registers");
        }
        self.ledger.journal().read_from(before as u64 + 1).to_vec()
    }
}

fn appends(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("kg-bench-stores-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let mut group = c.benchmark_group("store_append");
    group.sample_size(30);
    for (name, count) in [("one_entry", 1_usize), ("batch_of_two", 2)] {
        let chain = Chain::named("bench");
        let file = dir.join(format!("{name}.jsonl"));
        let store = FileJournalStore::open(&file, chain.clone()).expect("opens");
        let mut source = Source {
            ledger: Ledger::from_journal(knowngood::Journal::with_chain(chain.clone()))
                .expect("empty"),
            n: 0,
        };
        group.bench_function(format!("file/{name}"), |b| {
            b.iter(|| {
                let entries = source.next(count);
                let len = entries[0].position - 1;
                block_on(store.append(black_box(len), &entries)).expect("appends");
            });
        });
        let db = dir.join(format!("{name}.sqlite"));
        let store = SqliteJournalStore::open(&db, chain.clone()).expect("opens");
        let mut source = Source {
            ledger: Ledger::from_journal(knowngood::Journal::with_chain(chain)).expect("empty"),
            n: 0,
        };
        group.bench_function(format!("sqlite/{name}"), |b| {
            b.iter(|| {
                let entries = source.next(count);
                let len = entries[0].position - 1;
                block_on(store.append(black_box(len), &entries)).expect("appends");
            });
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, appends);
criterion_main!(benches);
