//! Bytes the state holds per stored release, counted by a counting
//! allocator: the growth of the state between 1 000 and 11 000 releases
//! (each registered as an artifact and a release, and deployed through
//! dev, qa and prod), divided by 10 000.
#![allow(unsafe_code, clippy::cast_possible_wrap, clippy::cast_precision_loss)]

use knowngood::{Artifact, Change, Command, Commit, Digest, Ledger, Release, State};

#[path = "support/history.rs"]
mod history;

#[path = "support/counting.rs"]
mod counting;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

/// The bytes a state replayed from `ledger`'s journal holds.
fn replayed_bytes(ledger: Ledger) -> isize {
    let journal = ledger.into_journal();
    let before = counting::live();
    let state: State = journal.replay().unwrap();
    let after = counting::live();
    drop(state);
    after - before
}

/// Releases registered with their artifact, and (with `source`) the commit
/// and change they were built from.
fn catalog_with(releases: u64, source: bool) -> Ledger {
    let mut ledger = history::history(0, 0, 0);
    let at = history::t0();
    for n in 0..releases {
        let commit = format!("c{n:06}");
        let parent = n.checked_sub(1).map(|p| format!("c{p:06}"));
        let run = |l: &mut Ledger, c: Command| {
            l.execute(&c, at).unwrap();
        };
        if source {
            run(
                &mut ledger,
                Command::RecordCommit {
                    commit: Commit::new(commit.as_str(), parent.as_deref()),
                },
            );
            run(
                &mut ledger,
                Command::RecordChange {
                    change: Change::new(format!("PR-{n}"), "work", "dev", at, [commit.as_str()]),
                },
            );
        }
        let digest = Digest::parse(&format!("sha256:{n:016x}")).unwrap();
        run(
            &mut ledger,
            Command::RegisterArtifact {
                artifact: Artifact::new(
                    "payments",
                    digest.clone(),
                    semver::Version::new(1, n, 0),
                    n,
                    commit.as_str(),
                ),
            },
        );
        run(
            &mut ledger,
            Command::RegisterRelease {
                release: Release::new(history::release(n), "payments", digest, "cfg"),
            },
        );
    }
    ledger
}

fn catalog(releases: u64) -> Ledger {
    catalog_with(releases, true)
}

fn per(small: isize, large: isize, n: f64) -> f64 {
    (large - small) as f64 / n
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("footprint: bench");
        return;
    }
    let bare = per(
        replayed_bytes(catalog_with(1_000, false)),
        replayed_bytes(catalog_with(11_000, false)),
        10_000.0,
    );
    println!("footprint/bytes_per_stored_release: {bare:.0} bytes (the release and its artifact)");
    let release = per(
        replayed_bytes(catalog(1_000)),
        replayed_bytes(catalog(11_000)),
        10_000.0,
    );
    println!(
        "footprint/bytes_per_release_with_source: {release:.0} bytes (plus the commit and change it was built from)"
    );
    let deployed = |n: u64| {
        let mut ledger = catalog(n);
        for r in 0..n {
            history::deploy(&mut ledger, "dev", &history::release(r), history::t0());
        }
        ledger
    };
    let deployment = per(
        replayed_bytes(deployed(1_000)),
        replayed_bytes(deployed(11_000)),
        10_000.0,
    ) - release;
    println!(
        "footprint/bytes_per_deployment_record: {deployment:.0} bytes (one revision in a rollout history)"
    );
}
