//! Command throughput on the release lifecycle: decide + apply + journal,
//! through the `Ledger`, for one full deploy (request, start, complete,
//! verify) on a history that already holds many revisions.

use std::hint::black_box;

use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use knowngood::{
    Artifact, Command, Digest, EnvironmentRole, Ledger, PipelineSpec, Release, ReleaseId, Revision,
    Service, Slot, Verdict,
};

fn ledger_with_history(revisions: u32) -> Ledger {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut ledger = Ledger::new();
    let pipeline = PipelineSpec::new()
        .environment("prod", EnvironmentRole::Production)
        .build()
        .unwrap();
    let run = |ledger: &mut Ledger, c: Command| {
        ledger.execute(&c, t0).unwrap();
    };
    run(&mut ledger, Command::DefinePipeline { pipeline });
    run(
        &mut ledger,
        Command::RegisterService {
            service: Service::new("svc"),
        },
    );
    for n in 0..2u64 {
        let digest = Digest::parse(&format!("sha256:{n:016x}")).unwrap();
        run(
            &mut ledger,
            Command::RegisterArtifact {
                artifact: Artifact::new(
                    "svc",
                    digest.clone(),
                    semver::Version::new(1, n, 0),
                    n,
                    "c",
                ),
            },
        );
        run(
            &mut ledger,
            Command::RegisterRelease {
                release: Release::new(format!("r{n}"), "svc", digest, "cfg"),
            },
        );
    }
    for r in 1..=revisions {
        deploy(&mut ledger, r, t0 + Duration::seconds(i64::from(r)));
    }
    ledger
}

fn deploy(ledger: &mut Ledger, revision: u32, at: chrono::DateTime<Utc>) {
    let slot = Slot::new("prod", "svc", Revision(revision));
    let release = ReleaseId::new(format!("r{}", revision % 2));
    for command in [
        Command::RequestDeployment {
            environment: "prod".into(),
            release,
            by: "bot".into(),
            clearance: knowngood::Clearance::none(),
            effect: None,
        },
        Command::StartRollout { slot: slot.clone() },
        Command::CompleteRollout { slot: slot.clone() },
        Command::RecordVerification {
            slot,
            verdict: Verdict::Healthy,
            by: "health-probe".into(),
            evidence: None,
        },
    ] {
        ledger.execute(&command, at).unwrap();
    }
}

fn lifecycle(c: &mut Criterion) {
    let mut group = c.benchmark_group("lifecycle");
    // Four commands per deploy.
    group.throughput(Throughput::Elements(4));
    for history in [100u32, 10_000] {
        let base = ledger_with_history(history);
        let at = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        group.bench_function(format!("deploy_after_{history}_revisions"), |b| {
            // One copy of the history per sample, grown by every deploy in
            // it: a clone has no spare capacity, and paying for its first
            // reallocation in every iteration would measure the clone.
            b.iter_custom(|iters| {
                let mut ledger = base.clone();
                let start = std::time::Instant::now();
                for i in 0..iters {
                    let revision = history + 1 + u32::try_from(i).unwrap_or(u32::MAX);
                    deploy(&mut ledger, revision, at);
                }
                let took = start.elapsed();
                black_box(ledger);
                took
            });
        });
    }
    group.finish();
}

criterion_group!(benches, lifecycle);
criterion_main!(benches);
