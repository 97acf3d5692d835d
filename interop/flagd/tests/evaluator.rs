//! What knowngood's flagd adapter reads and writes, judged by the
//! `OpenFeature` project's own flagd provider over many users, and every
//! file it writes by flagd's published schema.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use knowngood::adapters::FlagdFileStore;
use knowngood::port::FlagStore;
use knowngood::{FlagState, IdempotencyKey};
use knowngood_interop_flagd::{
    Population, audience, disagreement, provider_package, real_world_files, schema_errors, share,
};
use serde_json::{Value, json};

/// A directory of this test's own, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kg-interop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn population(state: &FlagState) -> Population {
    let segments = match state {
        FlagState::Segments { segments } if !segments.is_empty() => segments.clone(),
        _ => ["beta".to_owned()].into(),
    };
    Population {
        keys: 10_000,
        segments,
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn flagds_schema_judges_it_refuses_a_broken_definition_and_takes_its_own_examples() {
    // The validator can fail: these break the schema's rules.
    for broken in [
        json!({ "flags": { "f": { "state": "ON", "variants": { "on": true } } } }),
        json!({ "flags": { "f": { "state": "ENABLED", "variants": {} } } }),
        json!({ "flags": { "f": { "state": "ENABLED", "variants": { "on": true, "off": "no" }, "defaultVariant": "on" } } }),
        json!({ "flags": { "f": { "state": "ENABLED", "variants": { "on": true }, "defaultVariant": 7 } } }),
        json!({ "flags": { "f": { "state": "ENABLED", "variants": { "on": true }, "defaultVariant": "on",
            "targeting": { "fractional": "half" } } } }),
    ] {
        assert!(
            !schema_errors(&broken).is_empty(),
            "the schema took {broken}"
        );
    }
    // The schema's own test files: every invalid one refused, the plain
    // valid ones taken.
    let tests = provider_package().join("schemas/json/test/flags");
    for entry in std::fs::read_dir(tests.join("negative")).unwrap() {
        let path = entry.unwrap().path();
        assert!(
            !schema_errors(&read_json(&path)).is_empty(),
            "{}",
            path.display()
        );
    }
    for valid in [
        "positive/example-simple.flagd.json",
        "positive/with-valid-targeting.json",
        "positive/with-metadata.json",
    ] {
        let errors = schema_errors(&read_json(&tests.join(valid)));
        assert!(errors.is_empty(), "{valid}: {errors:?}");
    }
}

/// Every state knowngood writes, one after another into a real team's
/// file (the flagd test bed's, other flags beside it): flagd's schema
/// takes the whole file, the provider serves each user what the state
/// means, and the adapter reads back what it wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_knowngood_writes_is_what_flagd_serves_and_valid_by_flagds_schema() {
    let dir = scratch("written");
    let file = dir.join("prod.flags.json");
    // The test bed's disabled flags of every type: valid by the schema
    // and loaded whole by the provider.
    std::fs::copy(
        provider_package().join("flagd-testbed/flags/disabled-flags.json"),
        &file,
    )
    .unwrap();
    let before = read_json(&file);
    assert!(schema_errors(&before).is_empty());
    let store = FlagdFileStore::new().environment("prod", &file);
    let (env, flag) = ("prod".into(), "new-checkout".into());
    let segments = |names: &[&str]| FlagState::Segments {
        segments: names.iter().map(|s| (*s).to_owned()).collect(),
    };
    let states = [
        FlagState::On,
        FlagState::Percentage { percent: 25 },
        FlagState::Percentage { percent: 1 },
        FlagState::Percentage { percent: 50 },
        FlagState::Percentage { percent: 99 },
        FlagState::Percentage { percent: 100 },
        FlagState::Percentage { percent: 0 },
        segments(&["beta", "staff"]),
        segments(&[]),
        FlagState::Off,
    ];
    let mut report = Vec::new();
    for (i, state) in states.iter().enumerate() {
        let (_, revision) = store.get(&env, &flag).await.unwrap();
        let key = IdempotencyKey::new(format!("INC-1/attempt-1/retoggle/{i}-flag"));
        store.set(&key, &env, &flag, state, revision).await.unwrap();
        let written = read_json(&file);
        let errors = schema_errors(&written);
        assert!(errors.is_empty(), "after writing {state}: {errors:?}");
        let seen = audience(&file, "new-checkout", &population(state)).await;
        let wrong = disagreement(state, &seen);
        assert!(wrong.is_empty(), "{state} as flagd serves it: {wrong:#?}");
        assert_eq!(store.get(&env, &flag).await.unwrap().0, *state);
        report.push(format!("{state}: {:.1} % of 10,000 keys", share(&seen)));
    }
    // The test bed's own flags and fields are as they were.
    let mut after = read_json(&file);
    after["flags"]
        .as_object_mut()
        .unwrap()
        .remove("new-checkout");
    assert_eq!(after, before);
    eprintln!("written and served: {report:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The flags of one file, by key: the object form's entries, or the array
/// form's `key`s.
fn flags_in(document: &Value) -> Vec<(String, Value)> {
    match document.get("flags") {
        Some(Value::Object(flags)) => flags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(Value::Array(flags)) => flags
            .iter()
            .map(|f| {
                let key = f.get("key").and_then(Value::as_str).unwrap_or("0");
                (key.to_owned(), f.clone())
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The defects the issue saw, each a flag definition that must be refused
/// or read as exactly what flagd serves.
fn hostile_cases() -> Vec<(&'static str, Value)> {
    let flag = |fields: Value| json!({ "flags": { "f": fields } });
    let on_off = json!({ "on": true, "off": false });
    vec![
        (
            "disabled",
            flag(json!({ "state": "DISABLED", "variants": on_off, "defaultVariant": "off" })),
        ),
        (
            "string variants",
            flag(
                json!({ "state": "ENABLED", "variants": { "on": "yes", "off": "no" }, "defaultVariant": "on" }),
            ),
        ),
        (
            "inverted variants",
            flag(
                json!({ "state": "ENABLED", "variants": { "on": false, "off": true }, "defaultVariant": "on" }),
            ),
        ),
        (
            "no default variant",
            flag(json!({ "state": "ENABLED", "variants": on_off })),
        ),
        (
            "null default variant",
            flag(json!({ "state": "ENABLED", "variants": on_off, "defaultVariant": null })),
        ),
        (
            "weights 1:1",
            flag(
                json!({ "state": "ENABLED", "variants": on_off, "defaultVariant": "off",
            "targeting": { "fractional": [["on", 1], ["off", 1]] } }),
            ),
        ),
        (
            "weights left out",
            flag(
                json!({ "state": "ENABLED", "variants": on_off, "defaultVariant": "off",
            "targeting": { "fractional": [["on"], ["off"]] } }),
            ),
        ),
        (
            "custom bucketing key",
            flag(
                json!({ "state": "ENABLED", "variants": on_off, "defaultVariant": "off",
            "targeting": { "fractional": [{ "var": "email" }, ["on", 50], ["off", 50]] } }),
            ),
        ),
        (
            "an email list",
            flag(
                json!({ "state": "ENABLED", "variants": on_off, "defaultVariant": "off",
            "targeting": { "if": [{ "in": [{ "var": "email" }, ["a@example.com"]] }, "on", "off"] } }),
            ),
        ),
        (
            "inverted branches",
            flag(
                json!({ "state": "ENABLED", "variants": on_off, "defaultVariant": "off",
            "targeting": { "if": [{ "in": [{ "var": "segment" }, ["beta"]] }, "off", "on"] } }),
            ),
        ),
        (
            "chained if",
            flag(
                json!({ "state": "ENABLED", "variants": on_off, "defaultVariant": "off",
            "targeting": { "if": [{ "in": [{ "var": "segment" }, ["beta"]] }, "on",
                { "in": [{ "var": "segment" }, ["staff"]] }, "on", "off"] } }),
            ),
        ),
        (
            "targeting with `on` by default",
            flag(
                json!({ "state": "ENABLED", "variants": on_off, "defaultVariant": "on",
            "targeting": { "fractional": [["on", 50], ["off", 50]] } }),
            ),
        ),
        (
            "integer flag",
            flag(
                json!({ "state": "ENABLED", "variants": { "on": 1, "off": 0 }, "defaultVariant": "on" }),
            ),
        ),
        (
            "a `$ref`",
            json!({ "$evaluators": { "beta": { "in": [{ "var": "segment" }, ["beta"]] } },
            "flags": { "f": { "state": "ENABLED", "variants": on_off, "defaultVariant": "off",
                "targeting": { "if": [{ "$ref": "beta" }, "on", "off"] } } } }),
        ),
        (
            "array form",
            json!({ "flags": [{ "key": "f", "state": "ENABLED", "variants": on_off, "defaultVariant": "on" }] }),
        ),
        ("flags an empty array", json!({ "flags": [] })),
        (
            "plain on",
            flag(json!({ "state": "ENABLED", "variants": on_off, "defaultVariant": "on" })),
        ),
        (
            "plain 30 %",
            flag(
                json!({ "state": "ENABLED", "variants": on_off, "defaultVariant": "off",
            "targeting": { "fractional": [["on", 30], ["off", 70]] } }),
            ),
        ),
        (
            "plain segments",
            flag(
                json!({ "state": "ENABLED", "variants": on_off, "defaultVariant": "off",
            "targeting": { "if": [{ "in": [{ "var": "segment" }, ["beta", "staff"]] }, "on", "off"] } }),
            ),
        ),
    ]
}

/// How the adapter fared on one group of files.
#[derive(Default)]
struct Tally {
    read: usize,
    refused: usize,
    guessed: Vec<String>,
}

/// Each real-world flag (the flagd test bed's files and the schema's, as
/// the provider package ships them) and each defect the issue saw: the
/// adapter reads it only as exactly what the `OpenFeature` provider serves
/// every user, or refuses it. None may be guessed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_world_flags_are_read_exactly_or_refused_never_guessed() {
    let dir = scratch("real-world");
    let mut groups: Vec<(String, Vec<(String, Value)>)> = Vec::new();
    for (group, path) in real_world_files() {
        let Ok(document) = serde_json::from_slice::<Value>(&std::fs::read(&path).unwrap()) else {
            continue;
        };
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        groups.push((format!("{group}: {name}"), vec![(name, document)]));
    }
    let hostile = hostile_cases()
        .into_iter()
        .map(|(name, doc)| (name.to_owned(), doc))
        .collect();
    groups.push(("the issue's defects".to_owned(), hostile));
    let mut by_group: Vec<(String, Tally)> = Vec::new();
    let mut flags_seen = 0_usize;
    for (group, documents) in groups {
        let tally = by_group
            .iter()
            .position(|(g, _)| *g == group_of(&group))
            .unwrap_or_else(|| {
                by_group.push((group_of(&group), Tally::default()));
                by_group.len() - 1
            });
        for (name, document) in documents {
            let file = dir.join(format!("{flags_seen}.flags.json"));
            std::fs::write(&file, serde_json::to_vec_pretty(&document).unwrap()).unwrap();
            let store = FlagdFileStore::new().environment("e", &file);
            for (key, definition) in flags_in(&document) {
                flags_seen += 1;
                let tally = &mut by_group[tally].1;
                match store.get(&"e".into(), &key.as_str().into()).await {
                    Err(_) => tally.refused += 1,
                    Ok((state, _)) => {
                        tally.read += 1;
                        // The flag alone (with the file's shared rules):
                        // its meaning does not depend on the other flags.
                        let alone = dir.join(format!("{flags_seen}-alone.flags.json"));
                        let mut single = json!({ "flags": { key.clone(): definition } });
                        if let Some(shared) = document.get("$evaluators") {
                            single["$evaluators"] = shared.clone();
                        }
                        std::fs::write(&alone, serde_json::to_vec(&single).unwrap()).unwrap();
                        let seen = audience(&alone, &key, &population(&state)).await;
                        let wrong = disagreement(&state, &seen);
                        if !wrong.is_empty() {
                            tally
                                .guessed
                                .push(format!("{name} `{key}` read as {state}: {wrong:?}"));
                        }
                    }
                }
            }
        }
    }
    let (mut read, mut refused, mut guessed) = (0, 0, Vec::new());
    eprintln!("flag definitions: read exactly / refused / guessed");
    for (group, tally) in &by_group {
        eprintln!(
            "  {group}: {} / {} / {}",
            tally.read,
            tally.refused,
            tally.guessed.len()
        );
        read += tally.read;
        refused += tally.refused;
        guessed.extend(tally.guessed.iter().cloned());
    }
    eprintln!("  all: {read} / {refused} / {}", guessed.len());
    assert!(guessed.is_empty(), "guessed: {guessed:#?}");
    // The judge is not idle: flags it can read are read, and served as read.
    assert!(read >= 5, "only {read} read");
    assert!(refused >= 100, "only {refused} refused");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A group's name without the file's.
fn group_of(label: &str) -> String {
    label.split(": ").next().unwrap_or(label).to_owned()
}

/// What the issue names, each its own test: these must never be read as a
/// state flagd does not serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_flag_is_refused_flagd_serves_the_code_default() {
    let dir = scratch("disabled");
    let file = dir.join("f.flags.json");
    let cases: BTreeSet<&str> = ["disabled", "no default variant", "null default variant"].into();
    for (name, document) in hostile_cases() {
        if !cases.contains(name) {
            continue;
        }
        std::fs::write(&file, serde_json::to_vec(&document).unwrap()).unwrap();
        let store = FlagdFileStore::new().environment("e", &file);
        let read = store.get(&"e".into(), &"f".into()).await;
        assert!(read.is_err(), "{name}: read as {read:?}");
    }
    // And the provider agrees there is nothing to read: the application's
    // code default answers.
    let (_, disabled) = hostile_cases().swap_remove(0);
    std::fs::write(&file, serde_json::to_vec(&disabled).unwrap()).unwrap();
    let seen = audience(
        &file,
        "f",
        &Population {
            keys: 10,
            segments: BTreeSet::new(),
        },
    )
    .await;
    assert!(
        matches!(
            seen.anonymous,
            knowngood_interop_flagd::Served::CodeDefault(_)
        ),
        "{seen:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The judge catches the guesses the issue saw: each defect's flag, judged
/// as what the old adapter read it as, disagrees with what flagd serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_judge_catches_each_guess_the_issue_saw() {
    let dir = scratch("judge");
    let file = dir.join("f.flags.json");
    let beta = || FlagState::Segments {
        segments: ["beta".to_owned()].into(),
    };
    let guesses = [
        ("disabled", FlagState::Off),
        ("string variants", FlagState::On),
        ("inverted variants", FlagState::On),
        ("weights 1:1", FlagState::Percentage { percent: 1 }),
        ("weights left out", FlagState::Percentage { percent: 0 }),
        (
            "custom bucketing key",
            FlagState::Percentage { percent: 50 },
        ),
        ("an email list", beta()),
        ("inverted branches", beta()),
        (
            "targeting with `on` by default",
            FlagState::Percentage { percent: 50 },
        ),
        ("integer flag", FlagState::On),
    ];
    let cases = hostile_cases();
    for (name, guess) in guesses {
        let (_, document) = cases.iter().find(|(n, _)| *n == name).unwrap();
        std::fs::write(&file, serde_json::to_vec(document).unwrap()).unwrap();
        let seen = audience(&file, "f", &population(&guess)).await;
        assert!(
            !disagreement(&guess, &seen).is_empty(),
            "{name} read as {guess} went unnoticed: {seen:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
