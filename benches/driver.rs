//! What a journal store that does not take an append costs the driver: it
//! forgets the entries and goes on, in time independent of the journal's
//! length (it keeps a copy-on-write snapshot of the state instead of
//! replaying the journal). Also the cost of one accepted command through
//! the driver, for comparison.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use knowngood::driver::Driver;
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe,
    InMemoryJournalStore, InMemoryVcs, ManualClock, block_on,
};
use knowngood::port::{AdapterError, ErrorKind, JournalStore, Ports};
use knowngood::{Command, JournalEntry, Service};

#[path = "support/history.rs"]
mod history;

/// A store holding a journal that refuses every append (briefly down).
#[derive(Debug)]
struct Down(InMemoryJournalStore);

#[async_trait]
impl JournalStore for Down {
    async fn append(&self, _: u64, _: &[JournalEntry]) -> Result<(), AdapterError> {
        Err(AdapterError::new(ErrorKind::Unavailable, "store down"))
    }
    async fn read_from(&self, position: u64) -> Result<Vec<JournalEntry>, AdapterError> {
        self.0.read_from(position).await
    }
}

fn driver_over(store: Arc<dyn JournalStore>) -> Driver {
    let ports = Ports::new(
        Arc::new(InMemoryVcs::default()),
        Arc::new(InMemoryDeployer::default()),
        Some(Arc::new(InMemoryFlagStore::default())),
        Arc::new(InMemoryHealthProbe::default()),
        Arc::new(InMemoryBuilder::new(1, 1, 0)),
        store,
        Arc::new(ManualClock::at(history::t0() + chrono::Duration::days(400))),
    );
    block_on(Driver::resume(ports, "bench")).unwrap()
}

fn driver(c: &mut Criterion) {
    let mut group = c.benchmark_group("driver");
    group
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    let command = Command::RegisterService {
        service: Service::new("search"),
    };
    for revisions in [100_u32, 10_000] {
        let ledger = history::history(revisions, 10, 20);
        let entries = ledger.journal().entries().to_vec();
        let len = entries.len();
        let full = InMemoryJournalStore::default();
        block_on(full.append(0, &entries)).unwrap();
        let mut failing = driver_over(Arc::new(Down(full)));
        group.bench_with_input(BenchmarkId::new("failed_append", len), &len, |b, _| {
            b.iter(|| black_box(block_on(failing.execute(&command)).unwrap_err()));
        });
        group.bench_with_input(BenchmarkId::new("accepted_command", len), &len, |b, _| {
            // The driver is built and dropped outside the measurement.
            b.iter_batched_ref(
                || {
                    let store = InMemoryJournalStore::default();
                    block_on(store.append(0, &entries)).unwrap();
                    driver_over(Arc::new(store))
                },
                |d| black_box(block_on(d.execute(&command)).unwrap().len()),
                criterion::BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, driver);
criterion_main!(benches);
