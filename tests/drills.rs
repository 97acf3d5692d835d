//! Incident drills: shipped scenarios pass, wrong expectations fail
//! readably, the same seed gives the same journal, malformed files get
//! clear errors, and exploration over many seeds finds no failure.

use std::path::{Path, PathBuf};

use knowngood::drill::{BUILT_IN, Scenario, explore, run};

mod common;

fn built_in() -> Scenario {
    Scenario::from_json(BUILT_IN, "built-in").unwrap()
}

fn shipped() -> Vec<(PathBuf, Scenario)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let s = Scenario::load(&p).unwrap_or_else(|e| panic!("{e}"));
            (p, s)
        })
        .collect()
}

fn failures_of(report: &knowngood::drill::DrillReport) -> String {
    format!(
        "{}\n--- log ---\n{}",
        report.failures.join("\n"),
        report.log.join("\n")
    )
}

#[test]
fn drill_every_shipped_scenario_passes() {
    let scenarios = shipped();
    assert!(scenarios.len() >= 6, "{} scenarios", scenarios.len());
    for (path, scenario) in &scenarios {
        for seed in 0..8 {
            let report = run(scenario, seed);
            assert!(
                report.passed(),
                "{} seed {seed}:\n{}",
                path.display(),
                failures_of(&report)
            );
        }
    }
    for seed in 0..8 {
        let report = run(&built_in(), seed);
        assert!(
            report.passed(),
            "built-in seed {seed}:\n{}",
            failures_of(&report)
        );
    }
}

#[test]
fn drill_with_a_wrong_expectation_fails_with_a_readable_difference() {
    let mut scenario = built_in();
    scenario.expect.top = Some(knowngood::Strategy::Hotfix);
    scenario.expect.serving = Some("payments@9.9.9".into());
    let report = run(&scenario, 1);
    assert!(!report.passed());
    assert!(
        report
            .failures
            .iter()
            .any(|f| f == "expected top option hotfix, got rollback"),
        "{:?}",
        report.failures
    );
    assert!(
        report.failures.iter().any(|f| f.starts_with(
            "expected `payments@9.9.9` serving in `prod`, got Some(ReleaseId(\"payments@1.4.1\"))"
        )),
        "{:?}",
        report.failures
    );
}

#[test]
fn drill_same_seed_same_journal_byte_for_byte() {
    for (_, scenario) in shipped() {
        let a = run(&scenario, 42);
        let b = run(&scenario, 42);
        assert_eq!(a.journal_jsonl(), b.journal_jsonl(), "{}", scenario.name);
        assert_eq!(a.log, b.log);
    }
}

#[test]
fn drill_malformed_scenario_files_get_clear_errors() {
    let err = Scenario::from_json("{\"format\": 1, \"name\": \"x\"}", "missing.json").unwrap_err();
    assert!(err.to_string().starts_with("missing.json: line 1"), "{err}");
    assert!(
        err.to_string().contains("missing field `pipeline`"),
        "{err}"
    );

    let wrong_type = BUILT_IN.replace("\"build\": 41", "\"build\": \"forty-one\"");
    let err = Scenario::from_json(&wrong_type, "wrong-type.json").unwrap_err();
    assert!(err.to_string().contains("wrong-type.json: line"), "{err}");
    assert!(
        err.to_string()
            .contains("invalid type: string \"forty-one\", expected u64"),
        "{err}"
    );

    let unknown_env = BUILT_IN.replace("\"through\": [\"dev\", \"qa\", \"prod\"] },\n    { \"step\": \"merge\", \"change\": \"PR-42\"", "\"through\": [\"dev\", \"staging\", \"prod\"] },\n    { \"step\": \"merge\", \"change\": \"PR-42\"");
    let err = Scenario::from_json(&unknown_env, "unknown-env.json").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown-env.json: history step 3 (field `history[2]`): unknown environment `staging`"
    );

    let cyclic = BUILT_IN.replace(
        "{ \"from\": \"qa\", \"to\": \"prod\" }",
        "{ \"from\": \"qa\", \"to\": \"prod\" }, { \"from\": \"prod\", \"to\": \"dev\" }",
    );
    let err = Scenario::from_json(&cyclic, "cyclic.json").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cyclic.json: field `pipeline`: promotion paths form a cycle"),
        "{err}"
    );

    let toml_err = Scenario::from_toml("format = 1\nname = 3\n", "bad.toml").unwrap_err();
    assert!(toml_err.to_string().starts_with("bad.toml: "), "{toml_err}");
    assert!(toml_err.to_string().contains("name"), "{toml_err}");

    let err = Scenario::load(Path::new("no/such/file.toml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no/such/file.toml: cannot be read"),
        "{err}"
    );
}

/// The number of drills to explore: `KG_DRILLS` (default 1000).
fn drills() -> u64 {
    std::env::var("KG_DRILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

#[test]
fn drill_exploration_over_many_seeds_finds_no_failure() {
    let mut scenarios: Vec<Scenario> = shipped().into_iter().map(|(_, s)| s).collect();
    scenarios.push(built_in());
    // `KG_SEED` replays one seed.
    let (first, count) = match std::env::var("KG_SEED").ok().and_then(|v| v.parse().ok()) {
        Some(seed) => (seed, 1),
        None => (0, drills()),
    };
    let found = explore(&scenarios, first, count);
    assert_eq!(found.drills, count);
    assert!(
        found.nondeterministic.is_empty(),
        "seeds with differing journals: {:?}",
        found.nondeterministic
    );
    if let Some((seed, failure)) = found.failing.iter().next() {
        panic!(
            "{} of {count} drills failed; first: seed {seed}: {failure}\nreplay: KG_SEED={seed} cargo test --all-features --test drills drill_exploration",
            found.failing.len()
        );
    }
}

/// No production path reads a test switch: to prove the drill invariants
/// catch a broken rule, the rule is broken where a broken core would break
/// it — in the journal — by writing an event past the core.
#[test]
fn drill_invariants_catch_a_poisoned_release_written_past_the_core() {
    use knowngood::drill::Invariants;
    use knowngood::{Event, EventKind, ExpectedVersion, Ledger, Revision, Slot};
    let w = common::bad_commit_in_production(knowngood::Policy::default());
    let mut journal = w.ledger.journal().clone();
    let mut invariants = Invariants::new();
    assert_eq!(
        invariants.check(&journal, w.ledger.state()),
        Vec::<String>::new(),
        "the honest journal keeps every invariant"
    );
    // Build 2 carries the poisoned PR-2; the core would refuse this request.
    let mut copy = w.ledger.clone();
    let refused = copy.execute(
        &knowngood::Command::deploy("prod", common::release_id(2), "eve"),
        common::t(500),
    );
    assert!(refused.is_err());
    let forged = Event::new(
        common::t(500),
        EventKind::DeploymentRequested {
            slot: Slot::new("prod", common::SERVICE, Revision(3)),
            release: common::release_id(2),
            by: "eve".into(),
            effect: None,
        },
    );
    let stream = forged.stream();
    let version = journal.stream_version(&stream);
    journal
        .append(&stream, ExpectedVersion::Exactly(version), vec![forged])
        .unwrap();
    let live = Ledger::from_journal(journal.clone()).unwrap();
    let broken = invariants.check(&journal, live.state());
    assert!(
        broken
            .iter()
            .any(|b| b.contains("entered `prod` carrying a poisoned change")),
        "{broken:?}"
    );
}
