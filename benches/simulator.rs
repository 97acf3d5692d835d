//! Simulator steps (journal entries produced) per second on one core, on
//! the built-in scenario with its faults.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use knowngood::drill::{BUILT_IN, Scenario, run};

fn simulator(c: &mut Criterion) {
    let scenario = Scenario::from_json(BUILT_IN, "built-in").unwrap();
    let steps = run(&scenario, 1).journal.len() as u64;
    let mut group = c.benchmark_group("simulator");
    group
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(steps));
    group.bench_function("built_in_drill", |b| {
        b.iter(|| black_box(run(&scenario, 1)));
    });
    group.finish();
}

criterion_group!(benches, simulator);
criterion_main!(benches);
