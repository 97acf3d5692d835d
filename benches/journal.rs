//! Replay rate, and loading a journal from JSON Lines (parse, check, hash
//! and replay) against the floor: a bare typed `serde_json` parse of the
//! same bytes into the same event type. Hash-chain verification of a
//! loaded journal is measured on its own.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use knowngood::{Event, Journal, Ledger, State};

#[path = "support/history.rs"]
mod history;

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct BareLine {
    v: u32,
    position: u64,
    stream: String,
    version: u64,
    event: Event,
    hash: String,
}

fn journal(c: &mut Criterion) {
    let ledger = history::history(10_000, 10, 20);
    let journal = ledger.journal().clone();
    let events = journal.len() as u64;
    let mut bytes = Vec::new();
    journal.write_jsonl(&mut bytes).unwrap();
    let text = String::from_utf8(bytes).unwrap();

    let mut group = c.benchmark_group("journal");
    group
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(events));
    group.bench_function("replay_in_memory", |b| {
        b.iter(|| {
            let mut state = State::new();
            for entry in journal.entries() {
                state.apply(&entry.event).unwrap();
            }
            black_box(state)
        });
    });
    group.bench_function("bare_typed_parse", |b| {
        b.iter(|| {
            let lines: Vec<BareLine> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            black_box(lines)
        });
    });
    group.bench_function("load_parse_check_replay", |b| {
        b.iter(|| {
            let journal = Journal::from_jsonl_str(&text).unwrap();
            black_box(Ledger::from_journal(journal).unwrap())
        });
    });
    group.bench_function("verify_hash_chain", |b| {
        b.iter(|| journal.verify_chain().is_ok());
    });
    group.finish();
}

criterion_group!(benches, journal);
criterion_main!(benches);
