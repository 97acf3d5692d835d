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

/// Planning when the forward options are rehearsed too (continuous
/// deployment: fixing forward records a commit, a change, an artifact and
/// a release and ships them through every stage), as the catalogue of
/// commits, changes, artifacts and releases grows (production runs main's
/// head, so the ancestry walks stay short and the figure shows what the
/// catalogue's size costs the dry run).
fn planner_catalogue(c: &mut Criterion) {
    let mut group = c.benchmark_group("planner_catalogue");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for releases in [100u64, 10_000] {
        let revisions = u32::try_from(releases).unwrap();
        let mut ledger = history::history(revisions, 10, releases);
        let at = history::t0() + chrono::Duration::days(30);
        ledger
            .execute(
                &knowngood::Command::AdoptPolicy {
                    policy: knowngood::Policy::continuous_deployment(),
                    by: "lead".into(),
                },
                at,
            )
            .unwrap();
        let now = at + chrono::Duration::minutes(1);
        let id = "INC-1".into();
        let first = plan(ledger.state(), &id, now, &Capabilities::all()).unwrap();
        assert!(
            first
                .option(knowngood::Strategy::FixForward)
                .is_some_and(|o| o.applicable),
            "fix forward must be rehearsed in this bench"
        );
        group.bench_function(BenchmarkId::new("releases", releases), |b| {
            b.iter(|| black_box(plan(ledger.state(), &id, now, &Capabilities::all()).unwrap()));
        });
    }
    group.finish();
}

/// Planning over a wide, deep pipeline: layers of two environments fully
/// connected to the next, so the paths double with every layer. Lane times
/// are one pass over the DAG, so the time grows with the edges (linear in
/// the layers), not with the paths.
fn planner_pipeline(c: &mut Criterion) {
    let mut group = c.benchmark_group("planner_pipeline");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for layers in [5u32, 20, 40] {
        let ledger = history::layered(layers);
        let now = history::t0() + chrono::Duration::minutes(5);
        let id = "INC-1".into();
        group.bench_function(BenchmarkId::new("layers", layers), |b| {
            b.iter(|| black_box(plan(ledger.state(), &id, now, &Capabilities::all()).unwrap()));
        });
    }
    group.finish();
}

criterion_group!(benches, planner, planner_catalogue, planner_pipeline);
criterion_main!(benches);
