//! The command deployer: deploys, aborts and status by the host's
//! commands, each deploy's intent and end recorded under its key, and the
//! host asked what ran under a key it has no finished record of.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::process::{CommandSpec, Facts, run};
use super::records::KeyedRecords;
use crate::model::{Artifact, EnvironmentId, Release, ReleaseId, ServiceId};
use crate::port::{AdapterError, Deployer, DeployerCapabilities, ErrorKind, Fence};
use crate::recovery::IdempotencyKey;

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

    fn records(&self) -> KeyedRecords<'_> {
        KeyedRecords {
            dir: &self.outcomes,
        }
    }

    /// What a deploy under `key` did, by the record or, for one whose end
    /// was not recorded, by asking the host.
    fn settled(&self, key: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError> {
        let Some(record) = self.records().recorded(key)? else {
            // Nothing recorded here: with an `outcome` command the host is
            // asked anyway, since a replica on another machine may have
            // deployed under the key (its records are not here).
            return match &self.outcome {
                Some(ask) => self.ask_host(ask, key, None),
                None => Ok(None),
            };
        };
        if record.done {
            return Ok(Some(ReleaseId::new(record.what)));
        }
        let Some(ask) = &self.outcome else {
            return Err(AdapterError::new(
                ErrorKind::UnknownOutcome,
                format!(
                    "a deploy of `{}` under key `{key}` started and its end was not recorded (the process died or the command outlived its timeout): give the deployer an `outcome` command that asks the host, or find out by hand",
                    record.what
                ),
            ));
        };
        self.ask_host(ask, key, Some(&ReleaseId::new(record.what)))
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
                self.records().forget(key)?;
            }
            return Ok(None);
        }
        let release = ReleaseId::new(said.stdout);
        self.records().record(key, release.as_str(), true)?;
        Ok(Some(release))
    }
}

impl CommandDeployer {
    fn deploy_now(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        release: &Release,
        fence: Option<&Fence>,
    ) -> Result<(), AdapterError> {
        if self.done_under(key)? {
            return Ok(());
        }
        let token = fence.map(|f| f.token.to_string());
        let mut facts = Facts(vec![
            ("environment", environment.as_str()),
            ("service", release.service.as_str()),
            ("release", release.id.as_str()),
            ("digest", release.artifact.as_str()),
            ("config", release.config.as_str()),
            ("key", key.as_str()),
        ]);
        facts.fenced(fence, token.as_deref());
        self.once(key, &release.id, &self.deploy, &facts)
    }

    /// Whether what `key` names was done already (an outcomes directory is
    /// needed to know).
    fn done_under(&self, key: &IdempotencyKey) -> Result<bool, AdapterError> {
        Ok(self.settled(key)?.is_some())
    }

    /// Runs `spec` once under `key`, recording `what` it makes.
    fn once(
        &self,
        key: &IdempotencyKey,
        what: &ReleaseId,
        spec: &CommandSpec,
        facts: &Facts<'_>,
    ) -> Result<(), AdapterError> {
        let made = |_: &str| what.as_str().to_owned();
        self.records()
            .once(key, (what.as_str(), &made), spec, facts)
            .map(drop)
    }

    fn abort_now(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
        fence: Option<&Fence>,
    ) -> Result<(), AdapterError> {
        let Some(abort) = &self.abort else {
            return Err(AdapterError::new(
                ErrorKind::Rejected,
                "this deployer cannot abort",
            ));
        };
        // Keyed like a deploy: a retry never aborts twice (with
        // `kubectl rollout undo`, twice flips back to the bad revision).
        if self.done_under(key)? {
            return Ok(());
        }
        let token = fence.map(|f| f.token.to_string());
        let mut facts = Facts(vec![
            ("environment", environment.as_str()),
            ("service", service.as_str()),
            ("key", key.as_str()),
        ]);
        facts.fenced(fence, token.as_deref());
        self.once(
            key,
            &ReleaseId::new(format!("abort-of-{service}")),
            abort,
            &facts,
        )
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
        let (this, key) = (self.clone(), key.clone());
        let (environment, release) = (environment.clone(), release.clone());
        super::super::off_executor(move || this.deploy_now(&key, &environment, &release, None))
            .await
    }

    async fn deploy_fenced(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        release: &Release,
        _artifact: &Artifact,
        fence: &Fence,
    ) -> Result<(), AdapterError> {
        let (this, key, fence) = (self.clone(), key.clone(), fence.clone());
        let (environment, release) = (environment.clone(), release.clone());
        super::super::off_executor(move || {
            this.deploy_now(&key, &environment, &release, Some(&fence))
        })
        .await
    }

    async fn abort(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<(), AdapterError> {
        let (this, key) = (self.clone(), key.clone());
        let (environment, service) = (environment.clone(), service.clone());
        super::super::off_executor(move || this.abort_now(&key, &environment, &service, None)).await
    }

    async fn abort_fenced(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
        fence: &Fence,
    ) -> Result<(), AdapterError> {
        let (this, key, fence) = (self.clone(), key.clone(), fence.clone());
        let (environment, service) = (environment.clone(), service.clone());
        super::super::off_executor(move || {
            this.abort_now(&key, &environment, &service, Some(&fence))
        })
        .await
    }

    async fn status(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<Option<ReleaseId>, AdapterError> {
        let this = self.clone();
        let environment = environment.clone();
        let service = service.clone();
        super::super::off_executor(move || this.status_now(&environment, &service)).await
    }

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError> {
        let this = self.clone();
        let key = key.clone();
        super::super::off_executor(move || this.outcome_now(&key)).await
    }
}
