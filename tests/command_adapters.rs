//! The command deployer, health probe and runbooks with real scripts in a temporary
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
    // Too long: stopped, outcome unknown, and unknown it stays (it started,
    // its end was not recorded) until the host is asked.
    let started = std::time::Instant::now();
    let slow = with("sleep 30", 1);
    let err = block_on(slow.deploy(&"slow".into(), &env, &r, &a)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownOutcome);
    assert!(started.elapsed() < Duration::from_secs(10));
    let unknown = block_on(slow.outcome(&"slow".into())).unwrap_err();
    assert_eq!(unknown.kind(), ErrorKind::UnknownOutcome, "{unknown}");
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

/// A deployer whose deploy script is `body` (with a timeout) and logs each
/// run's key to `state/deploys.log` first; status prints nothing.
fn scripted(dir: &Dir, name: &str, body: &str, timeout: u64) -> CommandDeployer {
    let log = dir.path().join("state/deploys.log");
    let script = dir.script(
        name,
        &format!("echo \"$KNOWNGOOD_KEY\" >> \"{}\"\n{body}", log.display()),
    );
    CommandDeployer::new(
        CommandSpec::new("sh", [script.as_str()]).timeout(Duration::from_secs(timeout)),
        CommandSpec::new("true", Vec::<String>::new()),
        dir.path().join("outcomes"),
    )
}

#[test]
fn command_deployer_background_work_is_part_of_the_deploy() {
    let dir = Dir::new("background");
    let (r, a) = release();
    let done = dir.path().join("state/done");
    let deployer = scripted(
        &dir,
        "bg.sh",
        &format!(
            "(sleep 1; echo deployed > \"{}\") &\nexit 0",
            done.display()
        ),
        20,
    );
    let key: IdempotencyKey = "bg".into();
    block_on(deployer.deploy(&key, &"prod".into(), &r, &a)).unwrap();
    // Positive: when the call answers, the backgrounded work has finished.
    assert!(
        done.exists(),
        "the deploy answered before its background work ended"
    );
    // Negative: a retry under the key runs nothing.
    block_on(deployer.deploy(&key, &"prod".into(), &r, &a)).unwrap();
    assert_eq!(log_lines(dir.path()), 1);
}

#[test]
fn command_deployer_a_timeout_stops_what_the_command_started_too() {
    let dir = Dir::new("grandchild");
    let (r, a) = release();
    let pidfile = dir.path().join("state/grandchild.pid");
    // A grandchild that holds the output pipe and outlives the script.
    let deployer = scripted(
        &dir,
        "gc.sh",
        &format!("sleep 60 &\necho $! > \"{}\"\nsleep 60", pidfile.display()),
        1,
    );
    let started = std::time::Instant::now();
    let err = block_on(deployer.deploy(&"gc".into(), &"prod".into(), &r, &a)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownOutcome, "{err}");
    // Positive: the timeout held (the grandchild did not stretch it), and
    // the grandchild is gone.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
    std::thread::sleep(Duration::from_millis(200));
    let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        status.is_empty() || status.split_whitespace().nth(2) == Some("Z"),
        "the grandchild {pid} still runs: {status}"
    );
}

#[test]
fn command_deployer_a_talkative_command_succeeds() {
    let dir = Dir::new("talkative");
    let (r, a) = release();
    // 400 KB on stdout and on stderr: far more than a pipe holds.
    let deployer = scripted(
        &dir,
        "talk.sh",
        "head -c 400000 /dev/zero | tr '\\0' x\nhead -c 400000 /dev/zero | tr '\\0' y >&2\nexit 0",
        20,
    );
    block_on(deployer.deploy(&"talk".into(), &"prod".into(), &r, &a)).unwrap();
    assert_eq!(
        block_on(deployer.outcome(&"talk".into())).unwrap(),
        Some(r.id.clone())
    );
}

#[test]
fn command_deployer_a_deploy_whose_end_was_not_recorded_is_never_run_again_blind() {
    let dir = Dir::new("intent");
    let (r, a) = release();
    let env = "prod".into();
    let key: IdempotencyKey = "INC-7/attempt-1/rollback/1-rollback".into();
    // The deploy acts, then outlives its timeout (as a killed replica's
    // would never record its end).
    let served = dir.path().join("state/served");
    let body = format!(
        "echo \"$KNOWNGOOD_RELEASE\" > \"{}\"\nsleep 30",
        served.display()
    );
    let blind = scripted(&dir, "slow.sh", &body, 1);
    let err = block_on(blind.deploy(&key, &env, &r, &a)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownOutcome);
    // Without a way to ask the host: unknown, and not run again.
    assert_eq!(
        block_on(blind.outcome(&key)).unwrap_err().kind(),
        ErrorKind::UnknownOutcome
    );
    let again = block_on(blind.deploy(&key, &env, &r, &a)).unwrap_err();
    assert_eq!(again.kind(), ErrorKind::UnknownOutcome, "{again}");
    assert_eq!(log_lines(dir.path()), 1);
    // Positive: the host's `outcome` command says what ran under the key;
    // the deploy answers done without running again.
    let asking = scripted(&dir, "slow.sh", &body, 1).with_outcome(CommandSpec::new(
        "sh",
        ["-c", &format!("cat \"{}\"", served.display())],
    ));
    assert_eq!(block_on(asking.outcome(&key)).unwrap(), Some(r.id.clone()));
    block_on(asking.deploy(&key, &env, &r, &a)).unwrap();
    assert_eq!(log_lines(dir.path()), 1);
    // Negative: when the host says nothing ran under a key, it runs.
    let other: IdempotencyKey = "INC-7/attempt-2/rollback/1-rollback".into();
    let _ = block_on(blind.deploy(&other, &env, &r, &a)).unwrap_err();
    let nothing = scripted(&dir, "quick.sh", "exit 0", 5)
        .with_outcome(CommandSpec::new("true", Vec::<String>::new()));
    assert_eq!(block_on(nothing.outcome(&other)).unwrap(), None);
    block_on(nothing.deploy(&other, &env, &r, &a)).unwrap();
    assert_eq!(log_lines(dir.path()), 3);
}

#[test]
fn command_deployer_never_blocks_the_callers_executor_a_ticker_keeps_ticking() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    let dir = Dir::new("ticker");
    let (r, a) = release();
    let deployer = scripted(&dir, "slow.sh", "sleep 2", 20);
    let ticks = Arc::new(AtomicU32::new(0));
    // One thread for everything: a deploy that blocked it would stop the
    // ticker (as it would a lease renewal or a database connection).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let counted = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        deployer
            .deploy(&"slow".into(), &"prod".into(), &r, &a)
            .await
            .unwrap();
        ticker.abort();
    });
    let ticked = ticks.load(Ordering::SeqCst);
    assert!(
        ticked >= 10,
        "the ticker ticked {ticked} times during a 2 s deploy"
    );
}

#[test]
fn command_deployer_replicas_on_two_machines_one_key_one_deploy_by_asking_the_host() {
    let dir = Dir::new("two-machines");
    let (r, a) = release();
    let env = "prod".into();
    let key: IdempotencyKey = "INC-9/attempt-1/rollback/1-rollback".into();
    // The host remembers what ran under each key (as helm's release notes
    // or a deploy log would); each replica has its own outcomes directory.
    let ran = dir.path().join("state/ran");
    let deploy_body = format!(
        "echo \"$KNOWNGOOD_KEY $KNOWNGOOD_RELEASE\" >> \"{}\"",
        ran.display()
    );
    let ask = CommandSpec::new(
        "sh",
        [
            "-c",
            &format!(
                "grep -F \"{{key}} \" \"{}\" 2>/dev/null | head -n1 | cut -d' ' -f2",
                ran.display()
            ),
        ],
    );
    let on = |machine: &str| {
        let mut d = scripted(&dir, "deploy.sh", &deploy_body, 5).with_outcome(ask.clone());
        d.outcomes = dir.path().join(machine);
        d
    };
    block_on(on("machine-a").deploy(&key, &env, &r, &a)).unwrap();
    // Positive: the replica on machine B has no record of the key, asks
    // the host, finds the deploy and does not run it again.
    let b = on("machine-b");
    assert_eq!(block_on(b.outcome(&key)).unwrap(), Some(r.id.clone()));
    block_on(b.deploy(&key, &env, &r, &a)).unwrap();
    assert_eq!(log_lines(dir.path()), 1, "one key, one deploy");
    // Negative: a key the host never saw is deployed (once).
    let other: IdempotencyKey = "INC-9/attempt-2/rollback/1-rollback".into();
    assert_eq!(block_on(b.outcome(&other)).unwrap(), None);
    block_on(b.deploy(&other, &env, &r, &a)).unwrap();
    assert_eq!(log_lines(dir.path()), 2);
    // Without an outcome command, machine B's deployer knows only its own
    // records: it would deploy again, which is why the manual asks for
    // one (or a shared outcomes directory).
    let mut blind = scripted(&dir, "deploy.sh", &deploy_body, 5);
    blind.outcomes = dir.path().join("machine-c");
    assert_eq!(block_on(blind.outcome(&key)).unwrap(), None);
}

#[test]
fn command_deployer_fence_the_lease_reaches_the_hosts_command_which_may_refuse_a_stale_one() {
    let dir = Dir::new("fence");
    let (r, a) = release();
    let env = "prod".into();
    let seen = dir.path().join("state/fences");
    // The host keeps the highest token it was handed per lease scope and
    // refuses a lower one (exit 1: it did not deploy).
    let highest = dir.path().join("state/highest");
    let body = format!(
        "echo \"${{KNOWNGOOD_FENCE:-}} ${{KNOWNGOOD_HOLDER:-}} ${{KNOWNGOOD_LEASE:-}}\" >> \"{seen}\"\n\
         h=$(cat \"{highest}\" 2>/dev/null || echo 0)\n\
         if [ -n \"${{KNOWNGOOD_FENCE:-}}\" ]; then\n\
           [ \"$KNOWNGOOD_FENCE\" -lt \"$h\" ] && {{ echo \"stale lease token $KNOWNGOOD_FENCE < $h\" >&2; exit 1; }}\n\
           echo \"$KNOWNGOOD_FENCE\" > \"{highest}\"\n\
         fi",
        seen = seen.display(),
        highest = highest.display()
    );
    let deployer = scripted(&dir, "fenced.sh", &body, 5);
    // Positive: a fenced deploy hands the token, the holder and the scope.
    let current = knowngood::Fence::new("incident/INC-3", "replica-b", 7);
    block_on(deployer.deploy_fenced(&"fresh".into(), &env, &r, &a, &current)).unwrap();
    let said = std::fs::read_to_string(&seen).unwrap();
    assert_eq!(said.lines().last(), Some("7 replica-b incident/INC-3"));
    // A stale holder's deploy is refused by the host: rejected, and not
    // recorded as done (a later holder's deploy under that key runs).
    let stale = knowngood::Fence::new("incident/INC-3", "replica-a", 6);
    let err = block_on(deployer.deploy_fenced(&"late".into(), &env, &r, &a, &stale)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert!(err.to_string().contains("stale lease token 6 < 7"), "{err}");
    assert_eq!(block_on(deployer.outcome(&"late".into())).unwrap(), None);
    // Negative: an unfenced deploy (no lease) hands none.
    block_on(deployer.deploy(&"plain".into(), &env, &r, &a)).unwrap();
    let said = std::fs::read_to_string(&seen).unwrap();
    assert_eq!(said.lines().last(), Some("  "));
}

#[test]
fn command_placeholders_are_filled_in_one_pass_a_value_is_never_expanded_again() {
    let dir = Dir::new("one-pass");
    let (r, a) = release();
    let out = dir.path().join("state/args");
    let script = dir.script(
        "args.sh",
        &format!("printf '%s|' \"$@\" > \"{}\"", out.display()),
    );
    let deployer = CommandDeployer::new(
        CommandSpec::new(
            "sh",
            [script.as_str(), "{key}", "{release}", "{nope}", "{", "{key"],
        ),
        CommandSpec::new("true", Vec::<String>::new()),
        dir.path().join("outcomes"),
    );
    // A key holding other placeholders: they reach the command as text.
    block_on(deployer.deploy(&"k-{release}-{config}".into(), &"prod".into(), &r, &a)).unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("k-{{release}}-{{config}}|{}|{{nope}}|{{|{{key|", r.id)
    );
}

#[cfg(unix)]
#[test]
fn command_deployer_a_record_planted_through_a_symlink_is_never_believed() {
    let (r, a) = release();
    let env = "prod".into();
    let key: IdempotencyKey = "INC-1/attempt-1/rollback/1-rollback".into();
    // Keys are predictable: someone learns what a done record under the
    // key looks like and where it goes.
    let learned = Dir::new("planted-record-learned");
    block_on(deployer(&learned).deploy(&key, &env, &r, &a)).unwrap();
    let record = std::fs::read_dir(learned.path().join("outcomes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let forged = learned.path().join("forged.json");
    std::fs::copy(&record, &forged).unwrap();
    // On the bot's machine, a link to that forged record where the
    // key's record goes.
    let dir = Dir::new("planted-record");
    std::fs::create_dir_all(dir.path().join("outcomes")).unwrap();
    std::os::unix::fs::symlink(
        &forged,
        dir.path()
            .join("outcomes")
            .join(record.file_name().unwrap()),
    )
    .unwrap();
    let err = block_on(deployer(&dir).deploy(&key, &env, &r, &a)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
    assert!(err.to_string().contains("symlink"), "{err}");
    // Not believed: nothing is reported deployed, and nothing ran blind.
    assert!(block_on(deployer(&dir).outcome(&key)).is_err());
    assert_eq!(log_lines(dir.path()), 0);
    // Positive: without the link the deploy runs once.
    std::fs::remove_file(
        dir.path()
            .join("outcomes")
            .join(record.file_name().unwrap()),
    )
    .unwrap();
    block_on(deployer(&dir).deploy(&key, &env, &r, &a)).unwrap();
    assert_eq!(log_lines(dir.path()), 1);
}

#[cfg(all(unix, feature = "testkit"))]
#[test]
fn command_deployer_outsiders_no_symlink_planted_among_its_records_is_followed() {
    let dir = Dir::new("planted-conformance");
    let outcomes = dir.path().join("outcomes");
    std::fs::create_dir_all(&outcomes).unwrap();
    let deployer = deployer(&dir);
    let (r, a) = release();
    let env = "prod".into();
    block_on(knowngood::testkit::conformance::planted_symlinks(
        "command deployer",
        &outcomes,
        |_| {
            // One key both times: the second call meets the link planted
            // at its own record.
            let (deployer, env, r, a) = (&deployer, &env, &r, &a);
            async move {
                let _ = deployer.deploy(&"planted".into(), env, r, a).await;
            }
        },
    ))
    .unwrap();
}

#[test]
fn command_deployer_abort_is_keyed_a_retry_never_aborts_twice() {
    let dir = Dir::new("abort-once");
    let state = dir.path().join("state");
    let undo = dir.script(
        "undo.sh",
        &format!(
            "echo \"$KNOWNGOOD_KEY\" >> \"{}/undo.log\"",
            state.display()
        ),
    );
    let deployer = with_undo(&dir, &undo);
    let key: IdempotencyKey = "INC-1/attempt-1/abort/0-abort".into();
    let (env, service) = ("prod".into(), "payments".into());
    block_on(deployer.abort(&key, &env, &service)).unwrap();
    // The reply was lost: the driver retries, in this process and after a
    // restart.
    block_on(deployer.abort(&key, &env, &service)).unwrap();
    let restarted = with_undo(&dir, &undo);
    block_on(restarted.abort(&key, &env, &service)).unwrap();
    let undone = std::fs::read_to_string(state.join("undo.log")).unwrap();
    assert_eq!(undone.lines().count(), 1, "{undone}");
    assert!(block_on(restarted.outcome(&key)).unwrap().is_some());
    // Negative: another key aborts again.
    block_on(restarted.abort(&"INC-1/attempt-2/abort/0-abort".into(), &env, &service)).unwrap();
    let undone = std::fs::read_to_string(state.join("undo.log")).unwrap();
    assert_eq!(undone.lines().count(), 2, "{undone}");
}

fn with_undo(dir: &Dir, undo: &str) -> CommandDeployer {
    deployer(dir).with_abort(CommandSpec::new("sh", [undo]))
}

/// Runbooks as scripts: `failover.sh` logs each run and prints what it
/// did; every other runbook runs `runbook.sh`, which fails for `broken`.
fn runbooks(dir: &Dir) -> knowngood::adapters::CommandRunbooks {
    let state = dir.path().join("state").to_string_lossy().into_owned();
    let failover = dir.script(
        "failover.sh",
        &format!(
            "echo \"$KNOWNGOOD_RUNBOOK $KNOWNGOOD_KEY\" >> \"{state}/runbooks.log\"\necho \"payments routed to provider B in $1\""
        ),
    );
    let other = dir.script(
        "runbook.sh",
        &format!(
            "if [ \"$1\" = broken ]; then exit 3; fi\necho \"$1 $KNOWNGOOD_KEY\" >> \"{state}/runbooks.log\""
        ),
    );
    knowngood::adapters::CommandRunbooks::new(dir.path().join("runbook-outcomes"))
        .with(
            "failover",
            CommandSpec::new("sh", [failover.as_str(), "{environment}"]),
        )
        .otherwise(CommandSpec::new("sh", [other.as_str(), "{runbook}"]))
}

fn runbook_runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("state/runbooks.log")).map_or(0, |t| t.lines().count())
}

#[test]
fn command_runbooks_run_once_per_key_even_after_a_restart_and_say_what_they_did() {
    use knowngood::port::Runbooks as _;
    let dir = Dir::new("runbooks");
    let failover = knowngood::Runbook::new("failover", "Fail over", true, 60);
    let key: IdempotencyKey = "INC-1/attempt-1/runbook-failover/1-run-runbook".into();
    let (env, service) = ("prod".into(), "payments".into());
    let said = block_on(runbooks(&dir).run(&key, &failover, &env, &service)).unwrap();
    assert_eq!(said, "payments routed to provider B in prod");
    // A retry from a new process under the same key: nothing runs, the
    // same account comes back.
    let restarted = runbooks(&dir);
    assert_eq!(
        block_on(restarted.run(&key, &failover, &env, &service)).unwrap(),
        said
    );
    assert_eq!(block_on(restarted.outcome(&key)).unwrap(), Some(said));
    assert_eq!(runbook_runs(dir.path()), 1);
    assert_eq!(block_on(restarted.outcome(&"other".into())).unwrap(), None);
    // The fallback command runs the others; one that prints nothing is
    // accounted for by name.
    let purge = knowngood::Runbook::new("purge-cache", "Purge", true, 30);
    let said = block_on(restarted.run(&"k2".into(), &purge, &env, &service)).unwrap();
    assert_eq!(said, "ran `purge-cache`");
    // A failing runbook is rejected, and nothing is kept under its key: a
    // later run may try again.
    let broken = knowngood::Runbook::new("broken", "Broken", true, 30);
    let err = block_on(restarted.run(&"k3".into(), &broken, &env, &service)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
    assert_eq!(block_on(restarted.outcome(&"k3".into())).unwrap(), None);
    // Without a command for a runbook, it says what to give it.
    let lonely = knowngood::adapters::CommandRunbooks::new(dir.path().join("lonely"));
    let err = block_on(lonely.run(&"k4".into(), &purge, &env, &service)).unwrap_err();
    assert!(
        err.to_string()
            .contains("no command runs runbook `purge-cache`"),
        "{err}"
    );
}

#[cfg(feature = "testkit")]
#[test]
fn command_runbooks_pass_the_conformance_suite() {
    let dir = Dir::new("runbooks-conformance");
    let purge = knowngood::Runbook::new("purge-cache", "Purge", true, 30);
    block_on(knowngood::testkit::conformance::runbooks(
        &runbooks(&dir),
        &purge,
    ))
    .unwrap();
}

#[test]
fn command_runbooks_a_run_whose_end_was_not_recorded_is_never_run_again_blind() {
    use knowngood::port::Runbooks as _;
    let dir = Dir::new("runbooks-intent");
    let ran = dir.path().join("state/ran");
    let slow = dir.script(
        "slow.sh",
        &format!("echo failed over > \"{}\"\nsleep 30", ran.display()),
    );
    let blind = knowngood::adapters::CommandRunbooks::new(dir.path().join("outcomes"))
        .otherwise(CommandSpec::new("sh", [slow.as_str()]).timeout(Duration::from_secs(1)));
    let failover = knowngood::Runbook::new("failover", "Fail over", true, 60);
    let key: IdempotencyKey = "INC-2/attempt-1/runbook-failover/1-run-runbook".into();
    let (env, service) = ("prod".into(), "payments".into());
    let err = block_on(blind.run(&key, &failover, &env, &service)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownOutcome);
    // Unknown, and not run again blind.
    std::fs::remove_file(&ran).unwrap();
    let again = block_on(blind.run(&key, &failover, &env, &service)).unwrap_err();
    assert_eq!(again.kind(), ErrorKind::UnknownOutcome);
    assert!(!ran.exists(), "the runbook ran a second time");
    // The host's `outcome` command settles it.
    let asking = blind.with_outcome(CommandSpec::new("sh", ["-c", "echo failed over at 09:31"]));
    assert_eq!(
        block_on(asking.run(&key, &failover, &env, &service)).unwrap(),
        "failed over at 09:31"
    );
    assert!(!ran.exists());
}
