//! The flagd file store on real files: the conformance suite, every state
//! written in flagd's own format and read back, other flags and fields
//! left alone, and a retoggle driven end to end.
#![cfg(feature = "flagd")]

use knowngood::adapters::FlagdFileStore;
use knowngood::memory::block_on;
use knowngood::port::FlagStore;
use knowngood::{ErrorKind, FlagState, IdempotencyKey};
use serde_json::{Value, json};

#[path = "common/tmp.rs"]
mod tmp;

/// This test's directory.
fn dir(name: &str) -> tmp::TempDir {
    tmp::TempDir::new(&format!("flagd-{name}"))
}

#[cfg(feature = "testkit")]
#[test]
fn flagd_passes_the_conformance_suite() {
    let dir = dir("conformance");
    let store = FlagdFileStore::new().environment("conformance-env", dir.path().join("flags.json"));
    block_on(knowngood::testkit::conformance::flag_store(&store)).unwrap();
}

#[test]
fn flagd_writes_every_state_in_flagds_format_and_leaves_the_rest_alone() {
    let dir = dir("format");
    let file = dir.path().join("prod.flags.json");
    // A file the team already has, with a flag knowngood does not manage.
    let theirs = json!({
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "flags": {
            "banner-color": {
                "state": "ENABLED",
                "variants": { "red": "red", "blue": "blue" },
                "defaultVariant": "red"
            }
        }
    });
    std::fs::write(&file, serde_json::to_vec_pretty(&theirs).unwrap()).unwrap();
    let store = FlagdFileStore::new().environment("prod", &file);
    let env = "prod".into();
    let flag = "new-checkout".into();
    assert_eq!(
        block_on(store.get(&env, &flag)).unwrap(),
        (FlagState::Off, 0)
    );
    let states = [
        FlagState::On,
        FlagState::Percentage { percent: 25 },
        FlagState::Segments {
            segments: ["beta".to_owned(), "staff".to_owned()].into(),
        },
        FlagState::Percentage { percent: 0 },
        FlagState::Off,
    ];
    for (i, state) in states.iter().enumerate() {
        let key: IdempotencyKey = format!("k{i}").into();
        let revision = block_on(store.set(&key, &env, &flag, state, i as u64)).unwrap();
        assert_eq!(revision, i as u64 + 1);
        assert_eq!(
            block_on(store.get(&env, &flag)).unwrap(),
            (state.clone(), revision)
        );
    }
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(doc["$schema"], theirs["$schema"]);
    assert_eq!(
        doc["flags"]["banner-color"],
        theirs["flags"]["banner-color"]
    );
    let ours = &doc["flags"]["new-checkout"];
    assert_eq!(ours["variants"], json!({ "on": true, "off": false }));
    assert_eq!(ours["defaultVariant"], "off");
    // A flag knowngood cannot read is refused, not guessed.
    let err = block_on(store.get(&env, &"banner-color".into())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    // A stale revision is a conflict and writes nothing.
    let before = std::fs::read(&file).unwrap();
    let stale = block_on(store.set(&"late".into(), &env, &flag, &FlagState::On, 1)).unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Conflict);
    assert_eq!(std::fs::read(&file).unwrap(), before);
    // Keys survive a restart.
    let restarted = FlagdFileStore::new().environment("prod", &file);
    assert_eq!(block_on(restarted.outcome(&"k1".into())).unwrap(), Some(2));
}

#[test]
fn flagd_a_percentage_is_a_fractional_split_flagd_understands() {
    let dir = dir("fractional");
    let file = dir.path().join("prod.flags.json");
    let store = FlagdFileStore::new().environment("prod", &file);
    block_on(store.set(
        &"k".into(),
        &"prod".into(),
        &"new-checkout".into(),
        &FlagState::Percentage { percent: 10 },
        0,
    ))
    .unwrap();
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        doc["flags"]["new-checkout"]["targeting"],
        json!({ "fractional": [["on", 10], ["off", 90]] })
    );
}

#[test]
fn flagd_writers_take_turns_no_update_is_lost_between_two_stores() {
    // Two stores on one file, as two processes would have: each with its
    // own handle, neither sharing the other's in-process lock.
    let dir = dir("two-writers");
    let file = dir.path().join("prod.flags.json");
    let (a, b) = (
        FlagdFileStore::new().environment("prod", &file),
        FlagdFileStore::new().environment("prod", &file),
    );
    let writes = 60_u64;
    let write = |store: &FlagdFileStore, flag: &str| {
        for n in 0..writes {
            let state = if n % 2 == 0 {
                FlagState::On
            } else {
                FlagState::Off
            };
            let key = IdempotencyKey::new(format!("{flag}/{n}"));
            let revision =
                block_on(store.set(&key, &"prod".into(), &flag.into(), &state, n)).unwrap();
            assert_eq!(revision, n + 1, "{flag}");
        }
    };
    std::thread::scope(|scope| {
        scope.spawn(|| write(&a, "left"));
        scope.spawn(|| write(&b, "right"));
    });
    // Positive: every write of each is there, and every key answers.
    for flag in ["left", "right"] {
        let (_, revision) = block_on(a.get(&"prod".into(), &flag.into())).unwrap();
        assert_eq!(
            revision, writes,
            "{flag}: no write was rolled back by the other's"
        );
        for n in 0..writes {
            let key = IdempotencyKey::new(format!("{flag}/{n}"));
            assert_eq!(block_on(b.outcome(&key)).unwrap(), Some(n + 1), "{key}");
        }
    }
    // Negative: a stale expected revision is still a conflict.
    let stale = block_on(a.set(
        &"late".into(),
        &"prod".into(),
        &"left".into(),
        &FlagState::On,
        3,
    ))
    .unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Conflict);
}

#[test]
fn flagd_a_crash_between_the_flag_and_the_sidecar_loses_no_outcome() {
    let dir = dir("crash-sidecar");
    let file = dir.path().join("prod.flags.json");
    let store = FlagdFileStore::new().environment("prod", &file);
    let (env, flag) = ("prod".into(), "new-checkout".into());
    let key = IdempotencyKey::new("INC-1/attempt-1/retoggle/0-flag");
    let revision = block_on(store.set(&key, &env, &flag, &FlagState::Off, 0)).unwrap();
    // The process died after replacing the flag file, before the sidecar.
    let mut sidecar = file.clone().into_os_string();
    sidecar.push(".knowngood-keys.json");
    std::fs::remove_file(&sidecar).unwrap();
    // Positive: a new store finds the outcome and the retry acts not again.
    let restarted = FlagdFileStore::new().environment("prod", &file);
    assert_eq!(block_on(restarted.outcome(&key)).unwrap(), Some(revision));
    let again = block_on(restarted.set(&key, &env, &flag, &FlagState::Off, 0)).unwrap();
    assert_eq!(again, revision);
    assert_eq!(
        block_on(restarted.get(&env, &flag)).unwrap(),
        (FlagState::Off, revision)
    );
    // Negative: another key was never written.
    assert_eq!(block_on(restarted.outcome(&"other".into())).unwrap(), None);
}

/// A flagd file holding `flags` (an object or anything else), and a store
/// on it.
fn file_with(dir: &tmp::TempDir, flags: &Value) -> (std::path::PathBuf, FlagdFileStore) {
    let file = dir.path().join("prod.flags.json");
    std::fs::write(
        &file,
        serde_json::to_vec_pretty(&json!({ "flags": flags.clone() })).unwrap(),
    )
    .unwrap();
    let store = FlagdFileStore::new().environment("prod", &file);
    (file, store)
}

fn boolean(default: &str, targeting: Option<Value>) -> Value {
    let mut flag = json!({
        "state": "ENABLED",
        "variants": { "on": true, "off": false },
        "defaultVariant": default,
    });
    if let Some(t) = targeting {
        flag["targeting"] = t;
    }
    flag
}

#[test]
fn flagd_read_exactly_or_refuse_real_world_shapes_are_never_guessed() {
    let dir = dir("exactly");
    // Each: a definition as real flag files hold them, and why flagd does
    // not serve one of knowngood's states for every user.
    let refused: Vec<(&str, Value)> = vec![
        (
            "disabled",
            json!({ "state": "DISABLED", "variants": { "on": true, "off": false }, "defaultVariant": "off" }),
        ),
        (
            "string-variants",
            json!({ "state": "ENABLED", "variants": { "on": "yes", "off": "no" }, "defaultVariant": "on" }),
        ),
        (
            "inverted-variants",
            json!({ "state": "ENABLED", "variants": { "on": false, "off": true }, "defaultVariant": "on" }),
        ),
        (
            "no-default",
            json!({ "state": "ENABLED", "variants": { "on": true, "off": false } }),
        ),
        (
            "null-default",
            json!({ "state": "ENABLED", "variants": { "on": true, "off": false }, "defaultVariant": null }),
        ),
        (
            "integer-flag",
            json!({ "state": "ENABLED", "variants": { "one": 1, "two": 2 }, "defaultVariant": "one" }),
        ),
        (
            "weights-not-percent",
            boolean(
                "off",
                Some(json!({ "fractional": [["on", 1], ["off", 1]] })),
            ),
        ),
        (
            "weights-missing",
            boolean("off", Some(json!({ "fractional": [["on"], ["off"]] }))),
        ),
        (
            "custom-bucketing",
            boolean(
                "off",
                Some(json!({ "fractional": [{ "var": "email" }, ["on", 50], ["off", 50]] })),
            ),
        ),
        (
            "email-list",
            boolean(
                "off",
                Some(
                    json!({ "if": [{ "in": [{ "var": "email" }, ["a@example.com"]] }, "on", "off"] }),
                ),
            ),
        ),
        (
            "inverted-branches",
            boolean(
                "off",
                Some(json!({ "if": [{ "in": [{ "var": "segment" }, ["beta"]] }, "off", "on"] })),
            ),
        ),
        (
            "chained-if",
            boolean(
                "off",
                Some(
                    json!({ "if": [{ "in": [{ "var": "segment" }, ["beta"]] }, "on", { "in": [{ "var": "segment" }, ["staff"]] }, "on", "off"] }),
                ),
            ),
        ),
        (
            "targeting-default-on",
            boolean(
                "on",
                Some(json!({ "fractional": [["on", 20], ["off", 80]] })),
            ),
        ),
        (
            "evaluator-ref",
            boolean("off", Some(json!({ "$ref": "emailWithFaas" }))),
        ),
        (
            "unknown-field",
            json!({ "state": "ENABLED", "variants": { "on": true, "off": false }, "defaultVariant": "on", "source": "x" }),
        ),
    ];
    let mut flags = serde_json::Map::new();
    for (name, definition) in &refused {
        flags.insert((*name).to_owned(), definition.clone());
    }
    let (file, store) = file_with(&dir, &Value::Object(flags));
    let before = std::fs::read(&file).unwrap();
    let env = "prod".into();
    for (name, _) in &refused {
        let err = block_on(store.get(&env, &(*name).into())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Rejected, "{name}: {err}");
        assert!(
            err.to_string().contains(&format!("flag `{name}`"))
                && err.to_string().contains("prod.flags.json"),
            "names the file and the flag: {err}"
        );
        // And nothing is written over what could not be read (a person's
        // DISABLED kill switch stays disabled).
        let err = block_on(store.set(
            &format!("w-{name}").into(),
            &env,
            &(*name).into(),
            &FlagState::On,
            0,
        ))
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Rejected, "{name}: {err}");
    }
    assert_eq!(std::fs::read(&file).unwrap(), before, "nothing was written");
    // Positive: every shape knowngood writes, written by hand, reads
    // exactly.
    let read: Vec<(Value, FlagState)> = vec![
        (boolean("on", None), FlagState::On),
        (boolean("off", Some(json!({}))), FlagState::Off),
        (
            boolean(
                "off",
                Some(json!({ "fractional": [["off", 75], ["on", 25]] })),
            ),
            FlagState::Percentage { percent: 25 },
        ),
        (
            boolean(
                "off",
                Some(json!({ "if": [{ "in": [{ "var": "segment" }, ["beta"]] }, "on", "off"] })),
            ),
            FlagState::Segments {
                segments: ["beta".to_owned()].into(),
            },
        ),
    ];
    for (definition, state) in read {
        let (_, store) = file_with(&dir, &json!({ "f": definition }));
        assert_eq!(block_on(store.get(&env, &"f".into())).unwrap().0, state);
    }
}

#[test]
fn flagd_read_exactly_the_array_form_and_key_0_are_refused_not_read_as_off() {
    let dir = dir("array-form");
    let (_, store) = file_with(&dir, &json!([boolean("on", None)]));
    for key in ["0", "new-checkout"] {
        let err = block_on(store.get(&"prod".into(), &key.into())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
    }
}

#[test]
fn flagd_a_foreign_edit_since_knowngood_read_is_a_conflict() {
    let dir = dir("foreign-edit");
    let file = dir.path().join("prod.flags.json");
    let store = FlagdFileStore::new().environment("prod", &file);
    let (env, flag) = ("prod".into(), "new-checkout".into());
    let r1 = block_on(store.set(&"k1".into(), &env, &flag, &FlagState::On, 0)).unwrap();
    // Someone turns it off by hand, leaving knowngood's metadata as it was.
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    doc["flags"]["new-checkout"]["defaultVariant"] = json!("off");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    // Negative: a write still expecting revision r1 is a conflict.
    let err = block_on(store.set(&"k2".into(), &env, &flag, &FlagState::On, r1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    // Positive: read again, the edit shows (off, a newer revision) and a
    // write at that revision goes through.
    let (state, r2) = block_on(store.get(&env, &flag)).unwrap();
    assert_eq!(state, FlagState::Off);
    assert!(r2 > r1);
    let r3 = block_on(store.set(&"k3".into(), &env, &flag, &FlagState::On, r2)).unwrap();
    assert!(r3 > r2);
}

#[cfg(unix)]
#[test]
fn flagd_a_symlinked_file_is_written_through_the_link_flagd_reads() {
    // The ConfigMap layout: `prod.flags.json -> ..data/prod.flags.json`.
    let dir = dir("symlinked");
    let data = dir.path().join("..data");
    std::fs::create_dir_all(&data).unwrap();
    let real = data.join("prod.flags.json");
    std::fs::write(&real, r#"{"flags": {}}"#).unwrap();
    let link = dir.path().join("prod.flags.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let store = FlagdFileStore::new().environment("prod", &link);
    block_on(store.set(
        &"k".into(),
        &"prod".into(),
        &"new-checkout".into(),
        &FlagState::On,
        0,
    ))
    .unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&real).unwrap()).unwrap();
    assert_eq!(doc["flags"]["new-checkout"]["defaultVariant"], "on");
}

#[test]
fn flagd_a_write_changes_only_the_flags_own_lines() {
    let dir = dir("own-lines");
    let file = dir.path().join("prod.flags.json");
    let text = r#"{
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "zeta-banner": {
      "state": "ENABLED",
      "variants": { "red": "red", "blue": "blue" },
      "defaultVariant": "red"
    },
    "new-checkout": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
    "alpha": {"state": "DISABLED", "variants": {"a": 1}, "defaultVariant": "a"}
  },
  "metadata": {"team": "payments"}
}
"#;
    std::fs::write(&file, text).unwrap();
    let store = FlagdFileStore::new().environment("prod", &file);
    let env = "prod".into();
    let (state, revision) = block_on(store.get(&env, &"new-checkout".into())).unwrap();
    assert_eq!(state, FlagState::On);
    block_on(store.set(
        &"k1".into(),
        &env,
        &"new-checkout".into(),
        &FlagState::Off,
        revision,
    ))
    .unwrap();
    let after = std::fs::read_to_string(&file).unwrap();
    // Everything before the flag's value and after it is as it was: key
    // order, spacing, the other flags, the file's own metadata.
    let (prefix, rest) = text.split_once(r#""new-checkout": "#).unwrap();
    let suffix = &rest[rest.find(",\n    \"alpha\"").unwrap()..];
    assert!(
        after.starts_with(&format!("{prefix}\"new-checkout\": ")),
        "{after}"
    );
    assert!(after.ends_with(suffix), "{after}");
    assert_eq!(
        block_on(store.get(&env, &"new-checkout".into())).unwrap().0,
        FlagState::Off
    );
    // A new flag is added after the last one, the rest untouched.
    block_on(store.set(&"k2".into(), &env, &"dark-mode".into(), &FlagState::On, 0)).unwrap();
    let added = std::fs::read_to_string(&file).unwrap();
    let alpha_line =
        r#"    "alpha": {"state": "DISABLED", "variants": {"a": 1}, "defaultVariant": "a"}"#;
    let (before_alpha, _) = after.split_once(alpha_line).unwrap();
    assert!(
        added.starts_with(&format!(
            "{before_alpha}{alpha_line},\n    \"dark-mode\": {{"
        )),
        "{added}"
    );
    assert!(
        added.ends_with("  },\n  \"metadata\": {\"team\": \"payments\"}\n}\n"),
        "{added}"
    );
    assert_eq!(
        block_on(store.get(&env, &"dark-mode".into())).unwrap().0,
        FlagState::On
    );
}

/// Edits the flag's definition in `file` by hand, as a person would.
#[cfg(feature = "testkit")]
fn by_hand(
    file: &std::path::Path,
    change: impl Fn(&mut Value) + Sync,
) -> impl Fn(&knowngood::EnvironmentId, &knowngood::FlagKey) -> Result<(), String> + Sync {
    move |_env, flag| {
        let mut doc: Value =
            serde_json::from_slice(&std::fs::read(file).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        change(&mut doc["flags"][flag.as_str()]);
        std::fs::write(file, serde_json::to_vec_pretty(&doc).unwrap()).map_err(|e| e.to_string())
    }
}

#[cfg(feature = "testkit")]
#[test]
fn flagd_outsiders_a_hand_edit_between_read_and_write_is_never_written_over() {
    let dir = dir("outsiders-edit");
    let file = dir.path().join("flags.json");
    let store = FlagdFileStore::new().environment("conformance-env", &file);
    // Someone moves the rollout by hand: still readable, a conflict.
    let rollout = by_hand(&file, |flag| {
        flag["defaultVariant"] = json!("off");
        flag["targeting"] = json!({ "fractional": [["on", 5], ["off", 95]] });
    });
    block_on(knowngood::testkit::conformance::flag_store_foreign_edit(
        &store, &rollout,
    ))
    .unwrap();
    // Someone pulls the kill switch: disabled, refused from then on.
    let kill = by_hand(&file, |flag| flag["state"] = json!("DISABLED"));
    block_on(knowngood::testkit::conformance::flag_store_foreign_edit(
        &store, &kill,
    ))
    .unwrap();
}

#[cfg(all(unix, feature = "testkit"))]
#[test]
fn flagd_outsiders_no_symlink_planted_beside_the_flag_file_is_followed() {
    let dir = dir("outsiders-symlinks");
    let file = dir.path().join("flags.json");
    std::fs::write(&file, r#"{ "flags": {} }"#).unwrap();
    let store = FlagdFileStore::new().environment("prod", &file);
    let (env, flag) = ("prod".into(), "new-checkout".into());
    block_on(knowngood::testkit::conformance::planted_symlinks(
        "flagd",
        dir.path(),
        |n| {
            let store = store.clone();
            let (env, flag) = (&env, &flag);
            async move {
                let (_, at) = store.get(env, flag).await.unwrap_or((FlagState::Off, 0));
                let key = IdempotencyKey::new(format!("planted/{n}"));
                let _ = store.set(&key, env, flag, &FlagState::On, at).await;
            }
        },
    ))
    .unwrap();
}
