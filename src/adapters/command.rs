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
//! A deployment that succeeded is recorded under its key in the outcomes
//! directory before the call answers, so a retry under the same key (in
//! this process or after a restart) does not deploy twice.

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

fn run(spec: &CommandSpec, facts: &Facts<'_>) -> Result<Ran, AdapterError> {
    crate::trace::debug!(program = %spec.program, facts = ?facts.0, "running the host's command");
    let mut command = Command::new(&spec.program);
    command
        .args(spec.args.iter().map(|a| facts.fill(a)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
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

fn wait(mut child: Child, spec: &CommandSpec) -> Result<Ran, AdapterError> {
    let deadline = Instant::now()
        .checked_add(Duration::from_secs(spec.timeout_seconds))
        .unwrap_or_else(Instant::now);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(AdapterError::new(
                    ErrorKind::UnknownOutcome,
                    format!(
                        "`{}` ran longer than {} s and was stopped: it may or may not have acted",
                        spec.program, spec.timeout_seconds
                    ),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(AdapterError::from(e)),
        }
    }
    let output = child.wait_with_output().map_err(AdapterError::from)?;
    let ran = Ran {
        stdout: String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    };
    match output.status.code() {
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
        }
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

    fn recorded(&self, key: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError> {
        let path = self.record_path(key);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let (stored, release): (String, ReleaseId) = serde_json::from_slice(&bytes)
                    .map_err(|e| {
                        AdapterError::new(ErrorKind::Rejected, format!("{}: {e}", path.display()))
                    })?;
                Ok((stored == key.as_str()).then_some(release))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AdapterError::from(e)),
        }
    }

    fn record(&self, key: &IdempotencyKey, release: &ReleaseId) -> Result<(), AdapterError> {
        std::fs::create_dir_all(&self.outcomes)?;
        let path = self.record_path(key);
        let temp = path.with_extension("tmp");
        let bytes = serde_json::to_vec(&(key.as_str(), release))
            .map_err(|e| AdapterError::new(ErrorKind::Rejected, e.to_string()))?;
        std::fs::write(&temp, bytes)?;
        std::fs::File::open(&temp)?.sync_all()?;
        std::fs::rename(&temp, &path)?;
        Ok(())
    }
}

fn outcomes_dir_ok(dir: &Path) -> bool {
    !dir.as_os_str().is_empty()
}

#[async_trait]
impl Deployer for CommandDeployer {
    fn capabilities(&self) -> DeployerCapabilities {
        DeployerCapabilities::all().with_abort(self.abort.is_some())
    }

    async fn deploy(
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
        if self.recorded(key)?.is_some() {
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
        run(&self.deploy, &facts)?;
        self.record(key, &release.id)
    }

    async fn abort(
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

    async fn status(
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

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError> {
        self.recorded(key)
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

#[async_trait]
impl HealthProbe for CommandHealthProbe {
    async fn verify(
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

fn nonempty(text: String, otherwise: &str) -> String {
    if text.is_empty() {
        otherwise.to_owned()
    } else {
        text
    }
}
