//! Planner latency as history grows: 100, 10 000 and 100 000 revisions of
//! production history, with 10 and 1 000 flags.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use knowngood::{Capabilities, plan};

#[path = "support/history.rs"]
mod history;

fn planner(c: &mut Criterion) {
    let mut group = c.benchmark_group("planner");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for flags in [10u32, 1_000] {
        for revisions in [100u32, 10_000, 100_000] {
            let ledger = history::history(revisions, flags, 20);
            let now = history::t0() + chrono::Duration::days(31);
            let id = "INC-1".into();
            group.bench_function(BenchmarkId::new(format!("flags_{flags}"), revisions), |b| {
                b.iter(|| black_box(plan(ledger.state(), &id, now, &Capabilities::all()).unwrap()));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, planner);
criterion_main!(benches);
