//! Several replicas, one journal: start-up from a long journal (a full
//! replay against the newest snapshot plus a 1 000-entry tail) on the
//! file, `SQLite` and `PostgreSQL` stores; the memory a started ledger holds
//! per event, held whole or started from a snapshot; and `PostgreSQL` append
//! latency (p50, p99) and throughput with four writers.
//!
//! `KG_BENCH_EVENTS` sets the journal's length (about 1 000 000 unless
//! set); the `PostgreSQL` figures need `KNOWNGOOD_POSTGRES_URL` and are
//! skipped without it. Needs `--features file-journal,sqlite,postgres`.
#![allow(
    unsafe_code,
    missing_docs,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use knowngood::adapters::{FileJournalStore, PostgresJournalStore, SqliteJournalStore};
use knowngood::port::JournalStore;
use knowngood::{
    Chain, Command, EnvironmentRole, FlagState, Journal, Ledger, PipelineSpec, Snapshot, Startup,
    open_ledger,
};

#[path = "support/history.rs"]
mod history;

#[path = "support/counting.rs"]
mod counting;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

const TAIL: usize = 1_000;

/// The long history: releases built, catalogued and shipped through dev
/// and qa, and production deployments among them (about 1 M events unless
/// `KG_BENCH_EVENTS` says otherwise): a history whose state grows with
/// every deployment, the hard case for a snapshot.
fn history() -> &'static (Journal, Snapshot) {
    static HISTORY: OnceLock<(Journal, Snapshot)> = OnceLock::new();
    HISTORY.get_or_init(|| {
        let events: u64 = std::env::var("KG_BENCH_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        // 15 events per release (5 to record it, 5 per deployment to dev
        // and qa), 5 per production deployment.
        let releases = (events / 61).max(2);
        let revisions = u32::try_from(events.saturating_sub(releases * 15) / 5).unwrap_or(u32::MAX);
        let started = Instant::now();
        let ledger = history::history(revisions, 10, releases);
        let journal = ledger.into_journal();
        let prefix = Ledger::from_journal(journal.truncated(journal.len() - TAIL)).unwrap();
        let snapshot = Snapshot::of(&prefix);
        println!(
            "history: {} events, snapshot at {} ({} MB sealed), built in {:.1?}",
            journal.len(),
            snapshot.head.len,
            snapshot.seal(&Chain::unnamed()).body.len() / 1_000_000,
            started.elapsed()
        );
        (journal, snapshot)
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Appends `journal` to `store` in batches, unless it already holds it
/// (a rerun on the same database or file).
fn fill(rt: &tokio::runtime::Runtime, store: &dyn JournalStore, journal: &Journal) {
    let held = rt
        .block_on(store.read_page(journal.len() as u64, 1))
        .unwrap();
    if held.first().map(|e| e.hash) == Some(journal.head().hash) {
        return;
    }
    let mut at = 0;
    for batch in journal.entries().chunks(5_000) {
        rt.block_on(store.append(at as u64, batch)).unwrap();
        at += batch.len();
    }
}

/// Start-up from the store, both ways, and the bytes the started ledger
/// holds (the store's own caches let go first).
fn startup_of(c: &mut Criterion, name: &str, open: &dyn Fn() -> Box<dyn JournalStore>) {
    let rt = runtime();
    let (journal, _) = history();
    let mut group = c.benchmark_group(format!("startup/{name}"));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    // Tearing the ledger down is not part of starting it.
    group.bench_function("full_replay", |b| {
        b.iter_with_large_drop(|| {
            let store = open();
            rt.block_on(open_ledger(store.as_ref(), Startup::Replay))
                .unwrap()
        });
    });
    group.bench_function("snapshot_plus_tail", |b| {
        b.iter_with_large_drop(|| {
            let store = open();
            let (ledger, report) = rt
                .block_on(open_ledger(store.as_ref(), Startup::Snapshot))
                .unwrap();
            assert_eq!(report.replayed, TAIL as u64);
            ledger
        });
    });
    group.finish();
    for startup in [Startup::Replay, Startup::Snapshot] {
        let before = counting::live();
        let store = open();
        let (ledger, _) = rt.block_on(open_ledger(store.as_ref(), startup)).unwrap();
        drop(store);
        // A connection's task lets go of its buffers once it sees the
        // store gone.
        std::thread::sleep(Duration::from_millis(300));
        let held = counting::live() - before;
        println!(
            "memory/{name}/{startup:?}: {} MB held, {} bytes per event",
            held / 1_000_000,
            held / journal.len() as isize
        );
        drop(ledger);
    }
}

fn startup(c: &mut Criterion) {
    let rt = runtime();
    let (journal, snapshot) = history();
    let sealed = snapshot.seal(&Chain::unnamed());
    let dir = std::env::temp_dir().join(format!("kg-bench-replicas-{}", journal.len()));
    std::fs::create_dir_all(&dir).unwrap();

    let file = dir.join("journal.jsonl");
    {
        let store = FileJournalStore::open(&file, Chain::unnamed()).unwrap();
        fill(&rt, &store, journal);
        rt.block_on(store.save_snapshot(&sealed)).unwrap();
    }
    // Opened lazily: a start from a snapshot reads the end of the file
    // only; a full replay reads it all either way.
    startup_of(c, "file", &|| {
        Box::new(FileJournalStore::open_lazily(&file, Chain::unnamed()).unwrap())
    });

    let db = dir.join("journal.db");
    {
        let store = SqliteJournalStore::open(&db, Chain::unnamed()).unwrap();
        fill(&rt, &store, journal);
        rt.block_on(store.save_snapshot(&sealed)).unwrap();
    }
    startup_of(c, "sqlite", &|| {
        Box::new(SqliteJournalStore::open(&db, Chain::unnamed()).unwrap())
    });

    let Ok(url) = std::env::var("KNOWNGOOD_POSTGRES_URL") else {
        println!("startup/postgres: skipped, KNOWNGOOD_POSTGRES_URL is not set");
        return;
    };
    let name = format!("bench-startup-{}", journal.len());
    let connect = |rt: &tokio::runtime::Runtime| {
        rt.block_on(PostgresJournalStore::connect(&url, &name, Chain::unnamed()))
            .unwrap()
    };
    {
        let store = connect(&rt);
        rt.block_on(store.migrate()).unwrap();
        fill(&rt, &store, journal);
        rt.block_on(store.save_snapshot(&sealed)).unwrap();
    }
    let pg = runtime();
    startup_of(c, "postgres", &|| Box::new(connect(&pg)));
}

/// A pipeline of four environments and a ledger for writer `n`'s flags.
fn writers_ledger() -> Ledger {
    let mut ledger = Ledger::new();
    let pipeline = PipelineSpec::new()
        .environment("w0", EnvironmentRole::Development)
        .environment("w1", EnvironmentRole::Test)
        .environment("w2", EnvironmentRole::Test)
        .environment("w3", EnvironmentRole::Production)
        .promote("w0", "w1")
        .promote("w1", "w2")
        .promote("w2", "w3")
        .build()
        .unwrap();
    ledger
        .execute(&Command::DefinePipeline { pipeline }, history::t0())
        .unwrap();
    ledger
}

/// Writer `w`'s next command: its own flag in its own environment (its
/// own stream), toggled.
fn toggle(w: usize, n: u64) -> Command {
    Command::SetFlag {
        environment: format!("w{w}").into(),
        flag: "f".into(),
        state: if n.is_multiple_of(2) {
            FlagState::On
        } else {
            FlagState::Off
        },
        by: "bench".into(),
        clearance: knowngood::Clearance::none(),
    }
}

fn postgres_appends(c: &mut Criterion) {
    let Ok(url) = std::env::var("KNOWNGOOD_POSTGRES_URL") else {
        println!("postgres appends: skipped, KNOWNGOOD_POSTGRES_URL is not set");
        return;
    };
    let rt = runtime();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("bench-append-{stamp}");
    let store = rt
        .block_on(PostgresJournalStore::connect(&url, &name, Chain::unnamed()))
        .unwrap();
    rt.block_on(store.migrate()).unwrap();
    let mut ledger = writers_ledger();
    rt.block_on(store.append(0, ledger.journal().entries()))
        .unwrap();

    // Latency, one writer, one entry per append: every sample, for p99.
    let mut n = 0_u64;
    let mut samples = Vec::new();
    for _ in 0..3_000 {
        n += 1;
        let len = ledger.journal().len() as u64;
        let entries = ledger
            .execute(&toggle(0, n), history::t0())
            .unwrap()
            .to_vec();
        let started = Instant::now();
        rt.block_on(store.append(len, &entries)).unwrap();
        samples.push(started.elapsed());
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!(
        "postgres/append latency, one writer, loopback: p50 {:.2?}, p99 {:.2?}, max {:.2?} ({} appends)",
        at(0.50),
        at(0.99),
        at(1.0),
        samples.len()
    );
    c.bench_function("postgres/append_one_entry", |b| {
        b.iter(|| {
            n += 1;
            let len = ledger.journal().len() as u64;
            let entries = ledger
                .execute(&toggle(0, n), history::t0())
                .unwrap()
                .to_vec();
            rt.block_on(store.append(len, &entries)).unwrap();
        });
    });

    for journals in [1, 4] {
        four_writers(&rt, &url, &name, journals);
    }
}

/// Four writers, each on its own stream and connection, for five seconds,
/// on one journal (a writer that loses the race reads what it missed and
/// tries again) or on a journal each.
fn four_writers(rt: &tokio::runtime::Runtime, url: &str, name: &str, journals: usize) {
    let appended = Arc::new(AtomicU64::new(0));
    let conflicts = Arc::new(AtomicU64::new(0));
    let window = Duration::from_secs(5);
    let started = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..4 {
            let url = url.to_owned();
            let name = if journals == 1 {
                name.to_owned()
            } else {
                format!("{name}-w{w}")
            };
            let (appended, conflicts) = (appended.clone(), conflicts.clone());
            tasks.push(tokio::spawn(async move {
                let store = PostgresJournalStore::connect(&url, &name, Chain::unnamed())
                    .await
                    .unwrap();
                let mut ledger = Ledger::new();
                let stored = store.read_from(1).await.unwrap();
                if stored.is_empty() {
                    ledger = writers_ledger();
                    store.append(0, ledger.journal().entries()).await.unwrap();
                } else {
                    ledger.catch_up(stored).unwrap();
                }
                let mut n = 0_u64;
                while started.elapsed() < window {
                    n += 1;
                    let len = ledger.journal().len();
                    let saved = ledger.clone();
                    let entries = ledger
                        .execute(&toggle(w, n), history::t0())
                        .unwrap()
                        .to_vec();
                    match store.append(len as u64, &entries).await {
                        Ok(()) => {
                            appended.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            assert_eq!(e.kind(), knowngood::ErrorKind::Conflict, "{e}");
                            conflicts.fetch_add(1, Ordering::Relaxed);
                            ledger = saved;
                            let missed = store.read_from(len as u64 + 1).await.unwrap();
                            ledger.catch_up(missed).unwrap();
                        }
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let ok = appended.load(Ordering::Relaxed);
    let lost = conflicts.load(Ordering::Relaxed);
    println!(
        "postgres/4 writers on 4 streams of {journals} journal(s): {:.0} appends/s, {} conflicts ({:.0} % of attempts), {:.1} s",
        ok as f64 / secs,
        lost,
        lost as f64 * 100.0 / (ok + lost).max(1) as f64,
        secs
    );
}

criterion_group!(benches, postgres_appends, startup);
criterion_main!(benches);
