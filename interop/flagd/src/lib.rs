//! knowngood's flagd adapter judged by the `OpenFeature` project's own
//! flagd provider (its file mode, the evaluation engine flagd's in-process
//! providers use) and by flagd's published flag-definition schema.
//!
//! The tests in `tests/` need both from the `open-feature-flagd` package:
//! it ships the provider, the flagd test bed's flag files (real-world
//! definitions, read here in place) and the JSON schema. This crate finds
//! that package with `cargo metadata`, so nothing of theirs is copied into
//! knowngood.
//!
//! What a flag state means is what users get: [`audience`] asks the
//! provider for every member of a population (no targeting key, 10,000
//! targeting keys, members and non-members of segments) and
//! [`disagreement`] says where that differs from what knowngood read or
//! wrote.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use knowngood::FlagState;
use open_feature::EvaluationContext;
use open_feature::provider::FeatureProvider;
use open_feature_flagd::{FlagdOptions, FlagdProvider, ResolverType};
use serde_json::Value;

/// The `open-feature-flagd` package's directory (its sources as cargo
/// fetched them).
///
/// # Panics
///
/// When `cargo metadata` cannot run or does not list the package: the
/// tests cannot judge anything without it, and say so.
pub fn provider_package() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let out = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(&manifest)
            .output()
            .expect("cargo metadata runs");
        assert!(
            out.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let metadata: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata is JSON");
        let manifest_path = metadata["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "open-feature-flagd")
            .and_then(|p| p["manifest_path"].as_str())
            .expect("cargo metadata lists open-feature-flagd");
        Path::new(manifest_path)
            .parent()
            .expect("a manifest is in a directory")
            .to_path_buf()
    })
}

/// The real-world flag files shipped with the provider, by group: the
/// flagd test bed's (`flagd-testbed/flags`, `flagd-testbed/evaluator/flags`),
/// the schema's examples and valid test files, and the provider's example.
///
/// # Panics
///
/// When one of those directories is missing from the package.
pub fn real_world_files() -> Vec<(&'static str, PathBuf)> {
    let root = provider_package();
    let mut files = Vec::new();
    for (group, dir) in [
        ("flagd test bed", "flagd-testbed/flags"),
        (
            "flagd test bed (evaluator)",
            "flagd-testbed/evaluator/flags",
        ),
        ("schema examples", "schemas/json/examples"),
        ("schema tests (valid)", "schemas/json/test/flags/positive"),
        ("schema tests (invalid)", "schemas/json/test/flags/negative"),
        ("provider example", "examples/flags"),
    ] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("{}: {e}", root.join(dir).display()))
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        found.sort();
        files.extend(found.into_iter().map(|p| (group, p)));
    }
    files
}

/// flagd's published flag-definition schema (`schemas/json/flags.json`,
/// with the `targeting.json` it refers to), as a validator.
///
/// # Panics
///
/// When the schema files are missing or do not compile.
pub fn schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let dir = provider_package().join("schemas/json");
        let read = |name: &str| -> Value {
            let path = dir.join(name);
            serde_json::from_slice(
                &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        jsonschema::options()
            .with_retriever(Local(read("targeting.json")))
            .build(&read("flags.json"))
            .expect("flagd's schema compiles")
    })
}

/// Answers the one reference `flags.json` makes, offline.
struct Local(Value);

impl jsonschema::Retrieve for Local {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        if uri.as_str().ends_with("/targeting.json") {
            Ok(self.0.clone())
        } else {
            Err(format!("no network here for `{uri}`").into())
        }
    }
}

/// The schema's complaints about `document`, one line each (none: valid).
pub fn schema_errors(document: &Value) -> Vec<String> {
    schema()
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Who asks for a flag: the populations a flag state's meaning is checked
/// over.
#[derive(Debug, Clone)]
pub struct Population {
    /// Targeting keys with no attribute (bucketed by flagd's fractional).
    pub keys: usize,
    /// Segment values whose members are asked, beside a non-member and
    /// users without the attribute.
    pub segments: BTreeSet<String>,
}

/// What the provider served each kind of user, for one flag.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    /// A user with no targeting key and no attribute.
    pub anonymous: Served,
    /// Users with targeting keys and no attribute: how many got `true`,
    /// `false`, or an error.
    pub keyed_true: usize,
    /// As `keyed_true`, for `false`.
    pub keyed_false: usize,
    /// Errors among the keyed users (each gets the application's default).
    pub keyed_errors: usize,
    /// Members of each listed segment (the attribute `segment`).
    pub members: Vec<(String, Served)>,
    /// A user whose `segment` is in no list, and one whose `email` is set.
    pub outsiders: Vec<(String, Served)>,
}

/// One answer: a value, or the provider's error (the application then
/// gets its own code default, which nobody but it knows).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Served {
    /// Not asked.
    #[default]
    NotAsked,
    /// The flag's value.
    Value(bool),
    /// An error: the application's code default.
    CodeDefault(String),
}

/// A provider reading `file` in flagd's file mode.
///
/// # Panics
///
/// When the provider cannot load the file.
pub async fn provider(file: &Path) -> FlagdProvider {
    FlagdProvider::new(FlagdOptions {
        resolver_type: ResolverType::File,
        source_configuration: Some(file.display().to_string()),
        cache_settings: None,
        ..FlagdOptions::default()
    })
    .await
    .unwrap_or_else(|e| panic!("the flagd provider cannot load {}: {e:?}", file.display()))
}

async fn ask(provider: &FlagdProvider, flag: &str, context: &EvaluationContext) -> Served {
    match provider.resolve_bool_value(flag, context).await {
        Ok(details) => Served::Value(details.value),
        Err(e) => Served::CodeDefault(format!("{:?}: {}", e.code, e.message.unwrap_or_default())),
    }
}

/// What the provider serves `flag` from `file` to `population`.
pub async fn audience(file: &Path, flag: &str, population: &Population) -> Audience {
    let provider = provider(file).await;
    let mut seen = Audience {
        anonymous: ask(&provider, flag, &EvaluationContext::default()).await,
        ..Audience::default()
    };
    for i in 0..population.keys {
        let context = EvaluationContext::default().with_targeting_key(format!("user-{i}"));
        match ask(&provider, flag, &context).await {
            Served::Value(true) => seen.keyed_true += 1,
            Served::Value(false) => seen.keyed_false += 1,
            _ => seen.keyed_errors += 1,
        }
    }
    for segment in &population.segments {
        let context = EvaluationContext::default()
            .with_targeting_key(format!("member-of-{segment}"))
            .with_custom_field("segment", segment.as_str());
        seen.members
            .push((segment.clone(), ask(&provider, flag, &context).await));
    }
    let outsider = EvaluationContext::default()
        .with_targeting_key("outsider")
        .with_custom_field("segment", "in-no-list-knowngood-wrote");
    let by_email = EvaluationContext::default()
        .with_targeting_key("by-email")
        .with_custom_field("email", "someone@example.com");
    seen.outsiders.push((
        "segment in no list".to_owned(),
        ask(&provider, flag, &outsider).await,
    ));
    seen.outsiders.push((
        "an email, no segment".to_owned(),
        ask(&provider, flag, &by_email).await,
    ));
    seen
}

/// Percentage points a fractional split may miss its share by over the
/// population's keys (10,000 keys: a share's standard deviation is at
/// most half a point; flagd's hash is fixed, so the figure never moves).
pub const SHARE_TOLERANCE: f64 = 2.0;

/// Where what the provider served differs from what `state` means for
/// every user (none: it agrees), one line each.
pub fn disagreement(state: &FlagState, seen: &Audience) -> Vec<String> {
    let mut wrong = Vec::new();
    let expect = |wrong: &mut Vec<String>, who: &str, served: &Served, want: bool| {
        if *served != Served::Value(want) {
            wrong.push(format!("{who}: served {served:?}, {state} means {want}"));
        }
    };
    let keyed = seen.keyed_true + seen.keyed_false + seen.keyed_errors;
    let (anonymous, everyone) = match state {
        FlagState::On => (true, Some(true)),
        FlagState::Percentage { percent } if *percent == 100 => (false, Some(true)),
        FlagState::Percentage { percent } if *percent == 0 => (false, Some(false)),
        FlagState::Percentage { .. } => (false, None),
        _ => (false, Some(false)),
    };
    expect(
        &mut wrong,
        "a user without a targeting key",
        &seen.anonymous,
        anonymous,
    );
    if seen.keyed_errors > 0 {
        wrong.push(format!(
            "{} of {keyed} keyed users got the application's code default",
            seen.keyed_errors
        ));
    }
    match (state, everyone) {
        (_, Some(true)) if seen.keyed_false > 0 => wrong.push(format!(
            "{} of {keyed} keyed users got false; {state} means true",
            seen.keyed_false
        )),
        (_, Some(false)) if seen.keyed_true > 0 => wrong.push(format!(
            "{} of {keyed} keyed users got true; {state} means false",
            seen.keyed_true
        )),
        (FlagState::Percentage { percent }, None) => {
            let share = share(seen);
            if (share - f64::from(*percent)).abs() > SHARE_TOLERANCE {
                wrong.push(format!(
                    "{share:.1} % of {keyed} keyed users got true; {state} means {percent} %"
                ));
            }
        }
        _ => {}
    }
    let members: Option<&BTreeSet<String>> = match state {
        FlagState::Segments { segments } => Some(segments),
        _ => None,
    };
    for (segment, served) in &seen.members {
        let want = match (members, everyone) {
            (Some(list), _) => list.contains(segment),
            (None, Some(all)) => all,
            // A percentage buckets members by their key like anyone.
            (None, None) => continue,
        };
        expect(
            &mut wrong,
            &format!("a member of `{segment}`"),
            served,
            want,
        );
    }
    for (who, served) in &seen.outsiders {
        match everyone {
            Some(all) => expect(&mut wrong, who, served, all),
            None if matches!(served, Served::CodeDefault(_)) => {
                wrong.push(format!("{who}: served {served:?}"));
            }
            None => {}
        }
    }
    wrong
}

/// The share of keyed users served `true`, in percent.
pub fn share(seen: &Audience) -> f64 {
    let keyed = seen.keyed_true + seen.keyed_false + seen.keyed_errors;
    if keyed == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let share = seen.keyed_true as f64 * 100.0 / keyed as f64;
    share
}
