//! Simulator steps (journal entries produced) per second on one core, on
//! the built-in scenario with its faults.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use knowngood::drill::{BUILT_IN, HistoryStep, Scenario, run};

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

/// The built-in drill after a long history: `steps` merges before it (three
/// journal entries each), with crash faults at 5 % of journal writes. A
/// restarted driver catches up from where it was instead of replaying the
/// whole journal, so the time grows with the history, not with its square.
fn simulator_long_history(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulator_history");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1));
    for steps in [500_usize, 5_000] {
        let mut scenario = Scenario::from_json(BUILT_IN, "built-in").unwrap();
        let filler = (0..steps).map(|i| {
            serde_json::from_value::<HistoryStep>(serde_json::json!({
                "step": "merge",
                "change": format!("OLD-{i}"),
                "commit": format!("old{i:05}"),
            }))
            .unwrap()
        });
        scenario.history.splice(0..0, filler);
        let report = run(&scenario, 1);
        assert!(report.passed(), "{:?}", report.failures);
        let entries = report.journal.len() as u64;
        group.throughput(Throughput::Elements(entries));
        group.bench_function(criterion::BenchmarkId::new("merges", steps), |b| {
            b.iter(|| black_box(run(&scenario, 1)));
        });
    }
    group.finish();
}

criterion_group!(benches, simulator, simulator_long_history);
criterion_main!(benches);
