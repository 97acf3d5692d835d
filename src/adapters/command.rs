//! A [`Deployer`] and a [`HealthProbe`] that run the host's own commands
//! (its `helm`, `kubectl` or deploy scripts), from a small typed config.
//!
//! Every command gets the call's facts both as `{placeholders}` in its
//! arguments and as environment variables: `{environment}`
//! (`KNOWNGOOD_ENVIRONMENT`), `{service}` (`KNOWNGOOD_SERVICE`),
//! `{release}` (`KNOWNGOOD_RELEASE`), `{digest}` (`KNOWNGOOD_DIGEST`),
//! `{config}` (`KNOWNGOOD_CONFIG`) and `{key}` (`KNOWNGOOD_KEY`, the
//! idempotency key). A command that outlives its timeout is killed and the
//! call's outcome is unknown. Exit codes map to kinds:
//!
//! | exit code | kind |
//! |---|---|
//! | 0 | success |
//! | 69 (`EX_UNAVAILABLE`), 75 (`EX_TEMPFAIL`) | unavailable: nothing happened, retrying may help |
//! | 124 (as `timeout` exits) | unknown outcome |
//! | anything else | rejected |
//!
//! Each command runs in a process group of its own: what it starts in
//! the background is part of it (the call waits for the whole group), a
//! timeout stops the whole group, and everything it prints is read while it
//! runs (the first MiB kept), so a talkative command never stalls.
//!
//! Exactly once, and what the host must provide: before a deploy runs, its
//! key is recorded as started in the outcomes directory; when it exits 0,
//! as done. A retry under the same key (in this process or after a
//! restart) does not deploy again. A key whose deploy started and whose
//! end was not recorded (the process died, the command timed out) is
//! answered by the host's `outcome` command, given `{key}`, which prints
//! the release deployed under it or nothing ([`CommandDeployer::with_outcome`]);
//! without one, that key's outcome stays unknown and the driver stops to
//! ask a person rather than deploy twice. With an `outcome` command, a key
//! this process has no record of is asked of the host too before
//! deploying: replicas on other machines, each with its own outcomes
//! directory, find what another deployed under the key. Without one, the
//! outcomes directory must be shared by every replica that may deploy
//! under the same keys. Either way, the host's deploy command must itself
//! be idempotent per `KNOWNGOOD_KEY` (a second run under a key that
//! already deployed deploys nothing new).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::model::{Artifact, EnvironmentId, Release, ReleaseId, ServiceId};
use crate::port::{AdapterError, Deployer, DeployerCapabilities, ErrorKind, Health, HealthProbe};
use crate::recovery::IdempotencyKey;

/// One command: a program and its arguments (with `{placeholders}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommandSpec {
    /// The program.
    pub program: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// How long it may run, in seconds (default 600).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_timeout() -> u64 {
    600
}

impl CommandSpec {
    /// `program` with `args`.
    pub fn new<S: Into<String>>(
        program: impl Into<String>,
        args: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            timeout_seconds: default_timeout(),
        }
    }

    /// The same with another timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout_seconds = timeout.as_secs();
        self
    }
}

/// The facts a command is run with.
struct Facts<'a>(Vec<(&'static str, &'a str)>);

impl Facts<'_> {
    fn fill(&self, arg: &str) -> String {
        self.0.iter().fold(arg.to_owned(), |arg, (name, value)| {
            arg.replace(&format!("{{{name}}}"), value)
        })
    }
}

/// What a finished command said.
struct Ran {
    stdout: String,
    stderr: String,
}

/// At most this much of what a command prints is kept (all of it is read,
/// so a talkative command never blocks on a full pipe).
const KEPT_OUTPUT: usize = 1 << 20;

/// Reads all of `pipe` on a thread of its own, keeping the first
/// [`KEPT_OUTPUT`] bytes, and hands them over when the pipe closes.
fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let Some(mut pipe) = pipe else {
            let _ = send.send(kept);
            return;
        };
        let mut buf = [0_u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = KEPT_OUTPUT.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        let _ = send.send(kept);
    });
    receive
}

fn run(spec: &CommandSpec, facts: &Facts<'_>) -> Result<Ran, AdapterError> {
    crate::trace::debug!(program = %spec.program, facts = ?facts.0, "running the host's command");
    let mut command = Command::new(&spec.program);
    command
        .args(spec.args.iter().map(|a| facts.fill(a)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A group of its own: what it starts in the background is part of it,
    // waited for, and stopped with it.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    for (name, value) in &facts.0 {
        command.env(format!("KNOWNGOOD_{}", name.to_uppercase()), value);
    }
    let child = command.spawn().map_err(|e| {
        AdapterError::new(
            ErrorKind::Unavailable,
            format!("cannot run `{}`: {e}", spec.program),
        )
        .with_source(e)
    })?;
    wait(child, spec)
}

/// Whether any process of `child`'s group still runs (the child itself
/// already reaped).
#[cfg(unix)]
fn group_alive(child: &Child) -> bool {
    Command::new("kill")
        .args(["-0", "--", &format!("-{}", child.id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(not(unix))]
fn group_alive(_: &Child) -> bool {
    false
}

/// Stops `child` and everything it started.
fn stop(child: &mut Child) {
    #[cfg(unix)]
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

fn wait(mut child: Child, spec: &CommandSpec) -> Result<Ran, AdapterError> {
    let deadline = Instant::now()
        .checked_add(Duration::from_secs(spec.timeout_seconds))
        .unwrap_or_else(Instant::now);
    let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let timed_out = |child: &mut Child| {
        stop(child);
        AdapterError::new(
            ErrorKind::UnknownOutcome,
            format!(
                "`{}` (or what it started) ran longer than {} s and was stopped with all it started: it may or may not have acted",
                spec.program, spec.timeout_seconds
            ),
        )
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => return Err(timed_out(&mut child)),
            // On the blocking pool (see `off_executor`), never the
            // caller's executor.
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                stop(&mut child);
                return Err(AdapterError::from(e));
            }
        }
    };
    // What it left running in the background is part of the command.
    while group_alive(&child) {
        if Instant::now() >= deadline {
            return Err(timed_out(&mut child));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // A process that left the group may still hold a pipe: what it
    // printed is not waited for past the deadline.
    let text = |pipe: std::sync::mpsc::Receiver<Vec<u8>>| {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100));
        String::from_utf8_lossy(&pipe.recv_timeout(left).unwrap_or_default())
            .trim()
            .to_owned()
    };
    let ran = Ran {
        stdout: text(stdout),
        stderr: text(stderr),
    };
    match status.code() {
        Some(0) => Ok(ran),
        code => {
            let kind = match code {
                Some(69 | 75) => ErrorKind::Unavailable,
                Some(124) => ErrorKind::UnknownOutcome,
                _ => ErrorKind::Rejected,
            };
            let said = if ran.stderr.is_empty() {
                &ran.stdout
            } else {
                &ran.stderr
            };
            Err(AdapterError::new(
                kind,
                format!(
                    "`{}` exited with {}: {said}",
                    spec.program,
                    code.map_or_else(|| "a signal".to_owned(), |c| c.to_string())
                ),
            ))
        }
    }
}

/// A deployer that runs the host's commands.
///
/// ```
/// use knowngood::adapters::{CommandDeployer, CommandSpec};
/// let deployer = CommandDeployer::new(
///     CommandSpec::new("helm", ["upgrade", "--install", "{service}", "charts/{service}", "--set", "image.digest={digest}"]),
///     CommandSpec::new("sh", ["-c", "helm get values {service} -o json | jq -r .release"]),
///     std::env::temp_dir().join("knowngood-deploys"),
/// );
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommandDeployer {
    /// Deploys a release (all traffic on it when it exits 0).
    pub deploy: CommandSpec,
    /// Prints the release serving (nothing when none).
    pub status: CommandSpec,
    /// Stops a rollout in flight, if the host can.
    #[serde(default)]
    pub abort: Option<CommandSpec>,
    /// Where the outcome of every key is recorded.
    pub outcomes: PathBuf,
    /// Asks the host what a deploy under `{key}` did: prints the release it
    /// deployed, or nothing when it deployed nothing (it never acts). Asked
    /// when a deploy under the key started and its end was not recorded
    /// (the process died, or the command outlived its timeout); without
    /// it, such a key's outcome is unknown until someone finds out.
    #[serde(default)]
    pub outcome: Option<CommandSpec>,
}

/// What is recorded under a key: the release, and whether the deploy
/// ended (`false`: it started, its end is not known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    key: String,
    release: ReleaseId,
    done: bool,
}

impl CommandDeployer {
    /// Deploys with `deploy`, reads what serves with `status`, records
    /// outcomes under `outcomes` (a directory).
    pub fn new(deploy: CommandSpec, status: CommandSpec, outcomes: impl Into<PathBuf>) -> Self {
        Self {
            deploy,
            status,
            abort: None,
            outcomes: outcomes.into(),
            outcome: None,
        }
    }

    /// Asks the host with `outcome` what a deploy under a key did, when
    /// its end was not recorded ([`CommandDeployer::outcome`]).
    #[must_use]
    pub fn with_outcome(mut self, outcome: CommandSpec) -> Self {
        self.outcome = Some(outcome);
        self
    }

    /// Aborts rollouts in flight with `abort`.
    #[must_use]
    pub fn with_abort(mut self, abort: CommandSpec) -> Self {
        self.abort = Some(abort);
        self
    }

    fn record_path(&self, key: &IdempotencyKey) -> PathBuf {
        self.outcomes
            .join(format!("{:016x}.json", super::key_digest(key)))
    }

    fn recorded(&self, key: &IdempotencyKey) -> Result<Option<Record>, AdapterError> {
        let path = self.record_path(key);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let record = serde_json::from_slice::<Record>(&bytes)
                    .or_else(|_| {
                        // Written before records said whether they ended.
                        serde_json::from_slice::<(String, ReleaseId)>(&bytes).map(
                            |(key, release)| Record {
                                key,
                                release,
                                done: true,
                            },
                        )
                    })
                    .map_err(|e| {
                        AdapterError::new(ErrorKind::Rejected, format!("{}: {e}", path.display()))
                    })?;
                Ok((record.key == key.as_str()).then_some(record))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AdapterError::from(e)),
        }
    }

    fn record(
        &self,
        key: &IdempotencyKey,
        release: &ReleaseId,
        done: bool,
    ) -> Result<(), AdapterError> {
        std::fs::create_dir_all(&self.outcomes)?;
        let path = self.record_path(key);
        let temp = path.with_extension(format!("{}.tmp", std::process::id()));
        let record = Record {
            key: key.as_str().to_owned(),
            release: release.clone(),
            done,
        };
        let bytes = serde_json::to_vec(&record)
            .map_err(|e| AdapterError::new(ErrorKind::Rejected, e.to_string()))?;
        std::fs::write(&temp, bytes)?;
        std::fs::File::open(&temp)?.sync_all()?;
        std::fs::rename(&temp, &path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    fn forget(&self, key: &IdempotencyKey) -> Result<(), AdapterError> {
        match std::fs::remove_file(self.record_path(key)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(AdapterError::from(e)),
        }
    }

    /// What a deploy under `key` did, by the record or, for one whose end
    /// was not recorded, by asking the host.
    fn settled(&self, key: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError> {
        let Some(record) = self.recorded(key)? else {
            // Nothing recorded here: with an `outcome` command the host is
            // asked anyway, since a replica on another machine may have
            // deployed under the key (its records are not here).
            return match &self.outcome {
                Some(ask) => self.ask_host(ask, key, None),
                None => Ok(None),
            };
        };
        if record.done {
            return Ok(Some(record.release));
        }
        let Some(ask) = &self.outcome else {
            return Err(AdapterError::new(
                ErrorKind::UnknownOutcome,
                format!(
                    "a deploy of `{}` under key `{key}` started and its end was not recorded (the process died or the command outlived its timeout): give the deployer an `outcome` command that asks the host, or find out by hand",
                    record.release
                ),
            ));
        };
        self.ask_host(ask, key, Some(&record.release))
    }

    /// Asks the host's `outcome` command what a deploy under `key` did
    /// (`release`: what this process recorded it started, if anything),
    /// and records the answer.
    fn ask_host(
        &self,
        ask: &CommandSpec,
        key: &IdempotencyKey,
        release: Option<&ReleaseId>,
    ) -> Result<Option<ReleaseId>, AdapterError> {
        let facts = Facts(vec![
            ("release", release.map_or("", ReleaseId::as_str)),
            ("key", key.as_str()),
        ]);
        let said = run(ask, &facts)?;
        if said.stdout.is_empty() {
            // The host says nothing was deployed under the key.
            if release.is_some() {
                self.forget(key)?;
            }
            return Ok(None);
        }
        let release = ReleaseId::new(said.stdout);
        self.record(key, &release, true)?;
        Ok(Some(release))
    }
}

fn outcomes_dir_ok(dir: &Path) -> bool {
    !dir.as_os_str().is_empty()
}

impl CommandDeployer {
    fn deploy_now(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        release: &Release,
        _artifact: &Artifact,
    ) -> Result<(), AdapterError> {
        if !outcomes_dir_ok(&self.outcomes) {
            return Err(AdapterError::new(
                ErrorKind::Rejected,
                "no outcomes directory configured",
            ));
        }
        if self.settled(key)?.is_some() {
            return Ok(());
        }
        let facts = Facts(vec![
            ("environment", environment.as_str()),
            ("service", release.service.as_str()),
            ("release", release.id.as_str()),
            ("digest", release.artifact.as_str()),
            ("config", release.config.as_str()),
            ("key", key.as_str()),
        ]);
        // The intent first: whoever asks about the key later knows it
        // started, even if this process dies before it ends.
        self.record(key, &release.id, false)?;
        match run(&self.deploy, &facts) {
            Ok(_) => self.record(key, &release.id, true),
            Err(e) if e.kind() == ErrorKind::UnknownOutcome => Err(e),
            Err(e) => {
                // It said, by its exit code, that it did not deploy.
                self.forget(key)?;
                Err(e)
            }
        }
    }

    fn abort_now(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<(), AdapterError> {
        let Some(abort) = &self.abort else {
            return Err(AdapterError::new(
                ErrorKind::Rejected,
                "this deployer cannot abort",
            ));
        };
        let facts = Facts(vec![
            ("environment", environment.as_str()),
            ("service", service.as_str()),
            ("key", key.as_str()),
        ]);
        run(abort, &facts).map(drop)
    }

    fn status_now(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<Option<ReleaseId>, AdapterError> {
        let facts = Facts(vec![
            ("environment", environment.as_str()),
            ("service", service.as_str()),
        ]);
        let ran = run(&self.status, &facts)?;
        Ok((!ran.stdout.is_empty()).then(|| ReleaseId::new(ran.stdout)))
    }

    fn outcome_now(&self, key: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError> {
        self.settled(key)
    }
}

#[async_trait]
impl Deployer for CommandDeployer {
    fn capabilities(&self) -> DeployerCapabilities {
        DeployerCapabilities::all().with_abort(self.abort.is_some())
    }

    fn longest_call(&self) -> Option<Duration> {
        // A deploy may run its own command, then the host's `outcome`.
        let deploy = self
            .deploy
            .timeout_seconds
            .saturating_add(self.outcome.as_ref().map_or(0, |o| o.timeout_seconds));
        let abort = self.abort.as_ref().map_or(0, |a| a.timeout_seconds);
        Some(Duration::from_secs(deploy.max(abort)))
    }

    async fn deploy(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        release: &Release,
        _artifact: &Artifact,
    ) -> Result<(), AdapterError> {
        let this = self.clone();
        let key = key.clone();
        let environment = environment.clone();
        let release = release.clone();
        let artifact = _artifact.clone();
        super::off_executor(move || this.deploy_now(&key, &environment, &release, &artifact)).await
    }

    async fn abort(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<(), AdapterError> {
        let this = self.clone();
        let key = key.clone();
        let environment = environment.clone();
        let service = service.clone();
        super::off_executor(move || this.abort_now(&key, &environment, &service)).await
    }

    async fn status(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<Option<ReleaseId>, AdapterError> {
        let this = self.clone();
        let environment = environment.clone();
        let service = service.clone();
        super::off_executor(move || this.status_now(&environment, &service)).await
    }

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError> {
        let this = self.clone();
        let key = key.clone();
        super::off_executor(move || this.outcome_now(&key)).await
    }
}

/// A health probe that runs the host's check: exit 0 is healthy, another
/// exit code unhealthy, and what the command printed is the detail.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommandHealthProbe {
    /// The check.
    pub check: CommandSpec,
}

impl CommandHealthProbe {
    /// Checks health with `check`.
    pub fn new(check: CommandSpec) -> Self {
        Self { check }
    }
}

impl CommandHealthProbe {
    fn verify_now(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        release: &ReleaseId,
    ) -> Result<Health, AdapterError> {
        let facts = Facts(vec![
            ("environment", environment.as_str()),
            ("service", service.as_str()),
            ("release", release.as_str()),
        ]);
        match run(&self.check, &facts) {
            Ok(ran) => Ok(Health::new(true, nonempty(ran.stdout, "the check passed"))),
            Err(e) if e.kind() == ErrorKind::Rejected => {
                Ok(Health::new(false, e.message().to_owned()))
            }
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl HealthProbe for CommandHealthProbe {
    async fn verify(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        release: &ReleaseId,
    ) -> Result<Health, AdapterError> {
        let this = self.clone();
        let environment = environment.clone();
        let service = service.clone();
        let release = release.clone();
        super::off_executor(move || this.verify_now(&environment, &service, &release)).await
    }
}

fn nonempty(text: String, otherwise: &str) -> String {
    if text.is_empty() {
        otherwise.to_owned()
    } else {
        text
    }
}
