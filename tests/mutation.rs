//! Seeded mutation testing of every parser a host feeds with files: journal
//! lines (JSON Lines), scenario files (JSON and TOML) and policies (JSON).
//! Valid inputs are mutated byte by byte, line by line and structurally;
//! every parse must return (a value or a typed error), never panic, and a
//! journal that loads must replay and write back to what it read.
//!
//! `KG_MUTATIONS=N` sets the mutations per parser (default 1500);
//! `KG_MUTATION_SECONDS=S` runs seeds from 0 on for `S` seconds per parser
//! instead (a fixed time budget, as `.ci/run` does; see `fuzz/README.md`
//! for longer runs); `KG_SEED=S` replays one seed. Every failure names
//! its seed.

mod common;

use knowngood::drill::{BUILT_IN, Scenario, SimRng};
use knowngood::{Journal, Ledger, Policy};

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The seeds to run: one (`KG_SEED`), as many as fit in a time budget
/// (`KG_MUTATION_SECONDS`), or a count (`KG_MUTATIONS`, default 1500).
fn seeds() -> Box<dyn Iterator<Item = u64>> {
    if let Some(seed) = env_number("KG_SEED") {
        return Box::new(std::iter::once(seed));
    }
    if let Some(seconds) = env_number("KG_MUTATION_SECONDS") {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        return Box::new((0..).take_while(move |_| std::time::Instant::now() < deadline));
    }
    Box::new(0..env_number("KG_MUTATIONS").unwrap_or(1500))
}

const INTERESTING: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"\n",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"0",
    b"-1",
    b"18446744073709551615",
    b"1e999",
    b"null",
    b"true",
    b"\"\xe2\x80\xa8\"",
    b"\xff",
    b"+00:00",
    b"9999-12-31T23:59:59Z",
];

/// One seeded mutation of `input`: 1 to 4 edits, each a byte flip, an
/// insertion of an interesting token, a deletion, a duplication, a swap of
/// two lines or a truncation.
fn mutate(input: &[u8], seed: u64) -> Vec<u8> {
    let mut rng = SimRng::new(seed);
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = out.len() as u64;
        let at = usize::try_from(rng.below(len.max(1))).unwrap_or(0);
        match rng.below(7) {
            0 if !out.is_empty() => {
                out[at] ^= 1 << rng.below(8);
            }
            1 => {
                let token =
                    INTERESTING[usize::try_from(rng.below(INTERESTING.len() as u64)).unwrap_or(0)];
                out.splice(at..at, token.iter().copied());
            }
            2 if !out.is_empty() => {
                let end = (at + 1 + usize::try_from(rng.below(16)).unwrap_or(0)).min(out.len());
                out.drain(at..end);
            }
            3 if !out.is_empty() => {
                let end = (at + 1 + usize::try_from(rng.below(64)).unwrap_or(0)).min(out.len());
                let copy: Vec<u8> = out[at..end].to_vec();
                out.splice(end..end, copy);
            }
            4 => {
                let mut lines: Vec<Vec<u8>> =
                    out.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
                if lines.len() >= 2 {
                    let n = lines.len() as u64;
                    let a = usize::try_from(rng.below(n)).unwrap_or(0);
                    let b = usize::try_from(rng.below(n)).unwrap_or(0);
                    lines.swap(a, b);
                }
                out = lines.join(&b'\n');
            }
            5 => out.truncate(at),
            _ => {
                let digit = b'0' + u8::try_from(rng.below(10)).unwrap_or(0);
                out.insert(at, digit);
            }
        }
    }
    out
}

fn journal_bytes() -> Vec<u8> {
    let mut w = common::bad_commit_in_production(Policy::default());
    w.choose(knowngood::Strategy::Rollback);
    let mut bytes = Vec::new();
    w.ledger.journal().write_jsonl(&mut bytes).unwrap();
    bytes
}

#[test]
fn mutation_journal_lines_never_panic_and_what_loads_replays_or_says_where() {
    let valid = journal_bytes();
    let (mut count, mut loaded) = (0, 0);
    for seed in seeds() {
        count += 1;
        let bytes = mutate(&valid, seed);
        match Journal::from_jsonl(bytes.as_slice()) {
            Ok(journal) => {
                loaded += 1;
                // Every reader agrees on what loaded: the chain verifies
                // and a store handing the same entries back reads them.
                assert!(journal.verify_chain().is_ok(), "seed {seed}");
                assert_eq!(
                    Journal::from_entries(journal.entries().to_vec()).as_ref(),
                    Ok(&journal),
                    "seed {seed}"
                );
                // A journal that loads either replays or names the entry.
                if let Err(e) = Ledger::from_journal(journal.clone()) {
                    assert!(e.position >= 1, "seed {seed}: {e}");
                }
                let mut again = Vec::new();
                journal.write_jsonl(&mut again).unwrap();
                let reread = Journal::from_jsonl(again.as_slice())
                    .unwrap_or_else(|e| panic!("seed {seed}: written back, it does not load: {e}"));
                assert_eq!(reread, journal, "seed {seed}");
            }
            Err(e) => {
                assert!(e.line >= 1, "seed {seed}: {e}");
                assert!(!e.to_string().is_empty());
            }
        }
    }
    // Some mutations keep the journal valid (blank lines, trailing cuts).
    eprintln!("journal: {count} mutations, {loaded} still loaded");
}

#[test]
fn mutation_scenario_files_in_json_and_toml_never_panic() {
    let json = BUILT_IN.as_bytes().to_vec();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    let toml = std::fs::read(dir.join("forward-only-revert-real-world.toml")).unwrap();
    let mut count = 0;
    for seed in seeds() {
        count += 1;
        let text = String::from_utf8_lossy(&mutate(&json, seed)).into_owned();
        if let Err(e) = Scenario::from_json(&text, "mutated.json") {
            assert!(
                e.to_string().starts_with("mutated.json"),
                "seed {seed}: {e}"
            );
        }
        let text = String::from_utf8_lossy(&mutate(&toml, seed)).into_owned();
        if let Err(e) = Scenario::from_toml(&text, "mutated.toml") {
            assert!(
                e.to_string().starts_with("mutated.toml"),
                "seed {seed}: {e}"
            );
        }
    }
    eprintln!("scenario files: {count} mutations each in JSON and TOML");
}

#[test]
fn mutation_policies_never_panic_and_absurd_ones_are_refused_with_the_field() {
    let mut policy = Policy::forward_only();
    policy.stage_seconds.insert("qa".into(), 3600);
    let valid = serde_json::to_vec(&policy).unwrap();
    let mut count = 0;
    for seed in seeds() {
        count += 1;
        let Ok(policy) = serde_json::from_slice::<Policy>(&mutate(&valid, seed)) else {
            continue;
        };
        // Whatever parses is either adopted or refused with a reason.
        let mut w = common::World::new();
        if let Err(refusal) = w.run(knowngood::Command::AdoptPolicy {
            policy,
            by: "lead".into(),
        }) {
            assert!(!refusal.rule().is_empty(), "seed {seed}");
        } else {
            assert_eq!(
                w.ledger.state().policy().absurd_duration(),
                None,
                "seed {seed}: an absurd policy was adopted"
            );
        }
    }
    eprintln!("policies: {count} mutations");
}
