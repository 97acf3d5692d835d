//! Judging evidence: one analysis of 10 metrics × 60 measurements, and one
//! Mann–Whitney comparison of 2 × 1,000 samples, beside the floor: sorting
//! the same samples (which the comparison must do anyway).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use knowngood::analysis::{
    Analysis, Comparison, Condition, Measurement, MetricCheck, Worse, compare, judge,
};

/// A deterministic, noisy series around `base`.
fn series(n: u32, base: f64, seed: u32) -> Vec<f64> {
    (0..n)
        .map(|i| base + f64::from((i.wrapping_mul(7919).wrapping_add(seed)) % 101) / 100.0)
        .collect()
}

fn evidence(c: &mut Criterion) {
    let mut group = c.benchmark_group("analysis");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let metrics: Vec<MetricCheck> = (0..10)
        .map(|m| {
            MetricCheck::new(format!("m{m}"), "q")
                .success(Condition::AtMost(10.0))
                .failure(Condition::Above(20.0))
                .count(60)
                .failure_limit(Some(3))
        })
        .collect();
    let analysis = Analysis::new(metrics).unwrap();
    let measured: BTreeMap<String, Vec<Measurement>> = (0..10_u32)
        .map(|m| {
            let values = series(60, 5.0, m)
                .into_iter()
                .zip(0_i64..)
                .map(|(v, i)| Measurement::value(start + chrono::Duration::seconds(i * 10), v))
                .collect();
            (format!("m{m}"), values)
        })
        .collect();
    group.bench_function("judge_10_metrics_x_60", |b| {
        b.iter(|| black_box(judge(&analysis, &measured)));
    });
    let baseline = series(1_000, 100.0, 1);
    let canary = series(1_000, 101.0, 2);
    let comparison = Comparison::new("p99", Worse::Higher, 0.05);
    group.bench_function("mann_whitney_2_x_1000", |b| {
        b.iter(|| black_box(compare(&comparison, &baseline, &canary).unwrap()));
    });
    group.bench_function("floor_sort_2_x_1000", |b| {
        b.iter(|| {
            let (mut x, mut y) = (baseline.clone(), canary.clone());
            x.sort_by(f64::total_cmp);
            y.sort_by(f64::total_cmp);
            black_box((x, y))
        });
    });
    group.finish();
}

criterion_group!(benches, evidence);
criterion_main!(benches);
