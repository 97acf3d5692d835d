//! The command builder with real scripts in a temporary directory: the
//! manifest read from the last line the build prints, a build once per key
//! (after a restart, and across replicas by asking the host), a manifest
//! that says anything wrong refused with what is wrong, a timeout never
//! built again blind, and a revert driven end to end through it.
#![cfg(feature = "command")]

use std::path::Path;
use std::time::Duration;

use knowngood::adapters::{CommandBuilder, CommandSpec};
use knowngood::memory::block_on;
use knowngood::port::Builder;
use knowngood::{ErrorKind, IdempotencyKey, SchemaRange};

#[path = "common/tmp.rs"]
mod tmp;

struct Dir(tmp::TempDir);

impl Dir {
    fn new(name: &str) -> Self {
        let dir = tmp::TempDir::new(&format!("builder-{name}"));
        std::fs::create_dir_all(dir.path().join("state/by-key")).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn state(&self) -> String {
        self.path().join("state").to_string_lossy().into_owned()
    }

    fn script(&self, name: &str, body: &str) -> String {
        let path = self.path().join(name);
        std::fs::write(&path, format!("set -eu\n{body}\n")).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn builds(&self) -> usize {
        std::fs::read_to_string(self.path().join("state/builds.log"))
            .map_or(0, |t| t.lines().count())
    }

    /// A build script that logs, counts its builds, keeps the manifest by
    /// key for the host's `outcome` command, and prints it last;
    /// `manifest` is the JSON's body after the digest (`$n` is the build
    /// number).
    fn builder(&self, manifest: &str, outcomes: &str) -> CommandBuilder {
        let state = self.state();
        let build = self.script(
            "build.sh",
            &format!(
                r#"echo "$KNOWNGOOD_KEY" >> "{state}/builds.log"
n=$(wc -l < "{state}/builds.log" | tr -d ' ')
echo "compiling $KNOWNGOOD_SERVICE at $KNOWNGOOD_COMMIT"
echo "tests passed"
line="{{\"digest\":\"sha256:00ab$(printf %08x "$n")\",{manifest}}}"
k=$(printf %s "$KNOWNGOOD_KEY" | md5sum | cut -c1-16)
printf '%s\n' "$line" > "{state}/by-key/$k"
printf '%s\n' "$line""#
            ),
        );
        CommandBuilder::new(
            CommandSpec::new("sh", [build.as_str(), "{service}", "{commit}"]),
            self.path().join(outcomes),
        )
    }

    /// The host's `outcome` command: the manifest kept under `{key}`.
    fn asking(&self, builder: CommandBuilder) -> CommandBuilder {
        let state = self.state();
        let outcome = self.script(
            "outcome.sh",
            &format!(
                r#"k=$(printf %s "$1" | md5sum | cut -c1-16)
if [ -f "{state}/by-key/$k" ]; then cat "{state}/by-key/$k"; fi"#
            ),
        );
        builder.with_outcome(CommandSpec::new("sh", [outcome.as_str(), "{key}"]))
    }
}

const GOOD: &str = r#"\"version\":\"1.9.$n\",\"build\":$n,\"config\":\"cfg-$KNOWNGOOD_COMMIT\",\"service\":\"$KNOWNGOOD_SERVICE\",\"commit\":\"$KNOWNGOOD_COMMIT\",\"builder\":\"ci.example.com\",\"schema\":{\"min\":1,\"max\":2},\"requires\":{\"ledger\":\">=3.0\"}"#;

fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::new(k)
}

#[test]
fn command_builder_reads_the_manifest_and_builds_once_per_key_even_after_a_restart() {
    let dir = Dir::new("once");
    let builder = dir.builder(GOOD, "outcomes");
    let k = key("INC-1/attempt-1/revert/3-ship#build");
    let built = block_on(builder.build(&k, &"payments".into(), &"c0ffee1".into())).unwrap();
    assert_eq!(built.artifact.source_commit.as_str(), "c0ffee1");
    assert_eq!(built.artifact.version.to_string(), "1.9.1");
    assert_eq!(built.artifact.build, 1);
    assert_eq!(
        built.artifact.builder.as_ref().map(ToString::to_string),
        Some("ci.example.com".to_owned())
    );
    let release = built.release();
    assert_eq!(release.id.as_str(), "payments@1.9.1+1");
    assert_eq!(release.config.as_str(), "cfg-c0ffee1");
    assert_eq!(release.schema, Some(SchemaRange::new(1, 2)));
    assert_eq!(release.requires.len(), 1);
    // Again, and after a restart (a new builder on the same directory):
    // the same manifest, not built again.
    let again = block_on(builder.build(&k, &"payments".into(), &"c0ffee1".into())).unwrap();
    assert_eq!(again, built);
    let restarted = dir.builder(GOOD, "outcomes");
    let after = block_on(restarted.build(&k, &"payments".into(), &"c0ffee1".into())).unwrap();
    assert_eq!(after, built);
    assert_eq!(block_on(restarted.outcome(&k)).unwrap(), Some(built));
    assert_eq!(dir.builds(), 1);
    // The same key for another commit is refused, not answered wrongly.
    let other = block_on(restarted.build(&k, &"payments".into(), &"d00d".into())).unwrap_err();
    assert!(other.to_string().contains("use a key per build"), "{other}");
    assert_eq!(block_on(restarted.outcome(&key("never"))).unwrap(), None);
    assert!(builder.capabilities().on_demand);
    assert!(!builder.clone().only_queued().capabilities().on_demand);
}

#[test]
fn command_builder_a_bad_manifest_is_refused_saying_what_is_wrong() {
    let cases: &[(&str, &str)] = &[
        (
            r#"\"version\":\"1.9.$n\",\"build\":$n,\"config\":\"c\",\"shema\":{\"min\":1,\"max\":2}"#,
            "shema",
        ),
        (
            r#"\"version\":\"one\",\"build\":$n,\"config\":\"c\""#,
            "`version` \"one\"",
        ),
        (
            r#"\"version\":\"1.9.$n\",\"build\":$n,\"config\":\"c\",\"commit\":\"a1\""#,
            "it says commit `a1`, the build was of `c0ffee1`",
        ),
        (
            r#"\"version\":\"1.9.$n\",\"build\":$n,\"config\":\"c; rm -rf /\""#,
            "`;`",
        ),
        (
            r#"\"version\":\"1.9.$n\",\"build\":$n,\"config\":\"c\",\"requires\":{\"ledger\":\"soon\"}"#,
            "`requires.ledger`",
        ),
        (r#"\"version\":\"1.9.$n\""#, "missing field `build`"),
    ];
    for (i, (manifest, said)) in cases.iter().enumerate() {
        let dir = Dir::new(&format!("bad-{i}"));
        let builder = dir.builder(manifest, "outcomes");
        let k = key("k");
        let err = block_on(builder.build(&k, &"payments".into(), &"c0ffee1".into())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
        assert!(err.to_string().contains("the build's manifest"), "{err}");
        assert!(err.to_string().contains(said), "case {i}: {err}");
        // Nothing usable was built: the key is free again.
        assert_eq!(block_on(builder.outcome(&k)).unwrap(), None);
    }
    // A build that prints nothing.
    let dir = Dir::new("silent");
    let silent = dir.script("silent.sh", "true");
    let builder = CommandBuilder::new(
        CommandSpec::new("sh", [silent.as_str()]),
        dir.path().join("outcomes"),
    );
    let err = block_on(builder.build(&key("k"), &"payments".into(), &"c1".into())).unwrap_err();
    assert!(err.to_string().contains("printed no manifest"), "{err}");
}

#[test]
fn command_builder_a_build_whose_end_was_not_recorded_is_never_run_again_blind() {
    let dir = Dir::new("timeout");
    let state = dir.state();
    let slow = dir.script(
        "slow.sh",
        &format!("echo \"$KNOWNGOOD_KEY\" >> \"{state}/builds.log\"\nsleep 30"),
    );
    let builder = CommandBuilder::new(
        CommandSpec::new("sh", [slow.as_str()]).timeout(Duration::from_secs(1)),
        dir.path().join("outcomes"),
    );
    let k = key("k");
    let err = block_on(builder.build(&k, &"payments".into(), &"c1".into())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownOutcome, "{err}");
    // Asked again: still unknown, and not built again.
    let again = block_on(builder.build(&k, &"payments".into(), &"c1".into())).unwrap_err();
    assert_eq!(again.kind(), ErrorKind::UnknownOutcome, "{again}");
    assert!(again.to_string().contains("`outcome` command"), "{again}");
    assert_eq!(dir.builds(), 1);
    // With the host's answer: it built nothing under the key, so the
    // build runs (once).
    let builder = dir.asking(dir.builder(GOOD, "outcomes"));
    let built = block_on(builder.build(&k, &"payments".into(), &"c1".into())).unwrap();
    assert_eq!(built.artifact.source_commit.as_str(), "c1");
    assert_eq!(dir.builds(), 2);
}

#[test]
fn command_builder_replicas_on_two_machines_one_key_one_build_by_asking_the_host() {
    let dir = Dir::new("replicas");
    let one = dir.asking(dir.builder(GOOD, "outcomes-one"));
    let two = dir.asking(dir.builder(GOOD, "outcomes-two"));
    let k = key("INC-1/attempt-1/revert/3-ship#build");
    let built = block_on(one.build(&k, &"payments".into(), &"c0ffee1".into())).unwrap();
    // The other replica has no record of the key here: it asks the host.
    assert_eq!(block_on(two.outcome(&k)).unwrap(), Some(built.clone()));
    let answered = block_on(two.build(&k, &"payments".into(), &"c0ffee1".into())).unwrap();
    assert_eq!(answered, built);
    assert_eq!(dir.builds(), 1);
}

#[cfg(feature = "testkit")]
#[test]
fn command_builder_passes_the_conformance_suite() {
    let dir = Dir::new("conformance");
    let builder = dir.builder(GOOD, "outcomes");
    block_on(knowngood::testkit::conformance::builder(
        &builder,
        &"payments".into(),
        &"c0ffee1".into(),
    ))
    .unwrap();
}

/// A revert driven end to end through the command builder: the release
/// registered is the one the build script described.
#[test]
fn command_builder_drives_a_revert_and_the_release_is_the_manifests() {
    #[path = "common/mod.rs"]
    mod common;
    use knowngood::driver::{DriveReport, Driver};
    use knowngood::memory::{
        InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe, InMemoryJournalStore,
        InMemoryVcs, ManualClock,
    };
    use knowngood::port::{JournalStore, Ports};
    use std::sync::Arc;

    let dir = Dir::new("drive");
    let mut w = common::bad_commit_in_production(knowngood::Policy::forward_only());
    w.choose(knowngood::Strategy::Revert);
    let vcs = Arc::new(InMemoryVcs::default());
    for c in ["a1", "998b"] {
        vcs.commit(&common::SERVICE.into(), &"main".into(), &c.into());
    }
    let store = Arc::new(InMemoryJournalStore::default());
    block_on(store.append(0, w.ledger.journal().entries())).unwrap();
    let manifest = r#"\"version\":\"1.9.$n\",\"build\":$n,\"config\":\"cfg-$KNOWNGOOD_COMMIT\",\"release\":\"payments@1.9.$n\""#;
    let ports = Ports::new(
        vcs,
        Arc::new(InMemoryDeployer::default()),
        Some(Arc::new(InMemoryFlagStore::default())),
        Arc::new(InMemoryHealthProbe::default()),
        Arc::new(dir.builder(manifest, "outcomes")),
        store,
        Arc::new(ManualClock::at(common::t(w.clock + 1))),
    );
    let (report, state) = block_on(async {
        let mut driver = Driver::resume(ports, "knowngood-driver").await.unwrap();
        let report = driver.drive(&"INC-1".into()).await.unwrap();
        (report, driver.state().clone())
    });
    assert!(matches!(report, DriveReport::Done { .. }), "{report}");
    let serving = state
        .current_release(&"prod".into(), &common::SERVICE.into())
        .unwrap();
    assert_eq!(serving.id.as_str(), "payments@1.9.1");
    assert!(
        serving.config.as_str().starts_with("cfg-"),
        "{}",
        serving.config
    );
    assert_eq!(dir.builds(), 1);
}
