//! The command deployer and health probe with real scripts in a temporary
//! directory: the conformance suites, exit codes mapped to kinds, a
//! timeout killed and reported as an unknown outcome, and a retry under
//! the same key (even after a restart) that does not deploy twice.
#![cfg(feature = "command")]

use std::path::Path;
use std::time::Duration;

use knowngood::adapters::{CommandDeployer, CommandHealthProbe, CommandSpec};
use knowngood::memory::block_on;
use knowngood::port::{Deployer, HealthProbe};
use knowngood::{Artifact, Digest, ErrorKind, IdempotencyKey, Release};

#[path = "common/tmp.rs"]
mod tmp;

struct Dir(tmp::TempDir);

impl Dir {
    fn new(name: &str) -> Self {
        let dir = tmp::TempDir::new(&format!("command-{name}"));
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn script(&self, name: &str, body: &str) -> String {
        let path = self.path().join(name);
        std::fs::write(&path, format!("set -eu\n{body}\n")).unwrap();
        path.to_string_lossy().into_owned()
    }
}

/// A deploy script that records what serves and logs every run; a status
/// script that prints it.
fn deployer(dir: &Dir) -> CommandDeployer {
    let state = dir.path().join("state").to_string_lossy().into_owned();
    let deploy = dir.script(
        "deploy.sh",
        &format!(
            "echo \"$KNOWNGOOD_RELEASE\" > \"{state}/$1-$2\"\necho \"$KNOWNGOOD_KEY {{}}\" >> \"{state}/deploys.log\""
        ),
    );
    let status = dir.script(
        "status.sh",
        &format!("f=\"{state}/$1-$2\"\nif [ -f \"$f\" ]; then cat \"$f\"; fi"),
    );
    CommandDeployer::new(
        CommandSpec::new("sh", [deploy.as_str(), "{environment}", "{service}"]),
        CommandSpec::new("sh", [status.as_str(), "{environment}", "{service}"]),
        dir.path().join("outcomes"),
    )
}

fn release() -> (Release, Artifact) {
    let digest = Digest::parse("sha256:4f2a9c1e0b7d").unwrap();
    (
        Release::new("payments@1.5.0", "payments", digest.clone(), "cfg-7"),
        Artifact::new("payments", digest, "1.5.0".parse().unwrap(), 43, "c43"),
    )
}

fn log_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("state/deploys.log")).map_or(0, |t| t.lines().count())
}

#[cfg(feature = "testkit")]
#[test]
fn command_adapters_pass_the_conformance_suites() {
    use knowngood::testkit::conformance;
    let dir = Dir::new("conformance");
    block_on(conformance::deployer(&deployer(&dir), &"prod".into())).unwrap();
    let probe = CommandHealthProbe::new(CommandSpec::new("sh", ["-c", "echo error rate 0.1%"]));
    block_on(conformance::health_probe(
        &probe,
        &"prod".into(),
        &"payments".into(),
        &"payments@1.5.0".into(),
    ))
    .unwrap();
}

#[test]
fn command_deployer_runs_once_per_key_even_after_a_restart() {
    let dir = Dir::new("once");
    let (r, a) = release();
    let key: IdempotencyKey = "INC-1/attempt-1/rollback/1-rollback".into();
    let env = "prod".into();
    block_on(deployer(&dir).deploy(&key, &env, &r, &a)).unwrap();
    assert_eq!(
        block_on(deployer(&dir).status(&env, &r.service)).unwrap(),
        Some(r.id.clone())
    );
    // A retry, from a new process, under the same key: nothing runs.
    let restarted = deployer(&dir);
    block_on(restarted.deploy(&key, &env, &r, &a)).unwrap();
    assert_eq!(log_lines(dir.path()), 1);
    assert_eq!(
        block_on(restarted.outcome(&key)).unwrap(),
        Some(r.id.clone())
    );
    assert_eq!(block_on(restarted.outcome(&"other".into())).unwrap(), None);
}

#[test]
fn command_deployer_maps_exit_codes_and_kills_what_runs_too_long() {
    let dir = Dir::new("codes");
    let (r, a) = release();
    let env = "prod".into();
    let with = |body: &str, timeout: u64| {
        let script = dir.script(&format!("d{timeout}-{}.sh", body.len()), body);
        CommandDeployer::new(
            CommandSpec::new("sh", [script.as_str()]).timeout(Duration::from_secs(timeout)),
            CommandSpec::new("true", Vec::<String>::new()),
            dir.path().join("outcomes"),
        )
    };
    for (body, kind) in [
        ("echo busy >&2; exit 75", ErrorKind::Unavailable),
        ("echo cluster down >&2; exit 69", ErrorKind::Unavailable),
        ("echo bad chart >&2; exit 3", ErrorKind::Rejected),
        ("exit 124", ErrorKind::UnknownOutcome),
    ] {
        let err =
            block_on(with(body, 30).deploy(&format!("k-{body}").as_str().into(), &env, &r, &a))
                .unwrap_err();
        assert_eq!(err.kind(), kind, "{body}: {err}");
    }
    // What it printed is in the error.
    let err = block_on(with("echo bad chart >&2; exit 3", 30).deploy(&"k".into(), &env, &r, &a))
        .unwrap_err();
    assert!(err.message().contains("bad chart"), "{err}");
    // Too long: stopped, outcome unknown, nothing recorded.
    let started = std::time::Instant::now();
    let slow = with("sleep 30", 1);
    let err = block_on(slow.deploy(&"slow".into(), &env, &r, &a)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownOutcome);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(block_on(slow.outcome(&"slow".into())).unwrap(), None);
}

#[test]
fn command_health_probe_exit_code_is_the_verdict_and_the_output_the_detail() {
    let dir = Dir::new("health");
    let healthy = CommandHealthProbe::new(CommandSpec::new(
        "sh",
        ["-c", "echo \"$KNOWNGOOD_RELEASE healthy in {environment}\""],
    ));
    let h = block_on(healthy.verify(&"prod".into(), &"payments".into(), &"payments@1.5.0".into()))
        .unwrap();
    assert!(h.healthy);
    assert_eq!(h.detail, "payments@1.5.0 healthy in prod");
    let script = dir.script("check.sh", "echo error rate 12% >&2; exit 1");
    let failing = CommandHealthProbe::new(CommandSpec::new("sh", [script.as_str()]));
    let h = block_on(failing.verify(&"prod".into(), &"payments".into(), &"payments@1.5.0".into()))
        .unwrap();
    assert!(!h.healthy);
    assert!(h.detail.contains("error rate 12%"), "{}", h.detail);
}
