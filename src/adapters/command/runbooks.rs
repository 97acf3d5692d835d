//! The host's runbooks as commands: one command per runbook (or one for
//! all, told which by `{runbook}`), each run recorded under its key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::process::{CommandSpec, Facts, run};
use super::records::KeyedRecords;
use crate::model::{EnvironmentId, Runbook, RunbookId, ServiceId};
use crate::port::{AdapterError, ErrorKind, Runbooks};
use crate::recovery::IdempotencyKey;

/// Runbooks run by the host's commands. Each command gets `{runbook}`
/// (`KNOWNGOOD_RUNBOOK`), `{environment}`, `{service}` and `{key}` as the
/// other command adapters do; what it prints is the step's account in the
/// journal. A run is recorded under its key in the outcomes directory
/// before it starts and when it ends, so a retry never runs it twice; a
/// run whose end was not recorded (the process died, the command timed
/// out) is answered by the host's `outcome` command (given `{key}`, it
/// prints what the run did, or nothing when it did not run), or stays
/// unknown until a person finds out.
///
/// ```
/// use knowngood::adapters::{CommandRunbooks, CommandSpec};
/// let runbooks = CommandRunbooks::new(std::env::temp_dir().join("knowngood-runbooks"))
///     .with("failover-provider-b", CommandSpec::new("ops/failover.sh", ["{environment}"]))
///     .otherwise(CommandSpec::new("ops/runbook.sh", ["{runbook}", "{environment}"]));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommandRunbooks {
    /// The command for each runbook, by name.
    #[serde(default)]
    pub commands: BTreeMap<RunbookId, CommandSpec>,
    /// The command for a runbook without its own.
    #[serde(default)]
    pub fallback: Option<CommandSpec>,
    /// Where the outcome of every key is recorded.
    pub outcomes: PathBuf,
    /// Asks the host what a run under `{key}` did (see above).
    #[serde(default)]
    pub outcome: Option<CommandSpec>,
}

impl CommandRunbooks {
    /// No runbook yet, outcomes recorded under `outcomes` (a directory
    /// every replica that runs runbooks under the same keys shares).
    pub fn new(outcomes: impl Into<PathBuf>) -> Self {
        Self {
            commands: BTreeMap::new(),
            fallback: None,
            outcomes: outcomes.into(),
            outcome: None,
        }
    }

    /// Runs `runbook` with `command`.
    #[must_use]
    pub fn with(mut self, runbook: impl Into<RunbookId>, command: CommandSpec) -> Self {
        self.commands.insert(runbook.into(), command);
        self
    }

    /// Runs every runbook without a command of its own with `command`.
    #[must_use]
    pub fn otherwise(mut self, command: CommandSpec) -> Self {
        self.fallback = Some(command);
        self
    }

    /// Asks the host with `outcome` what a run under a key did, when its
    /// end was not recorded.
    #[must_use]
    pub fn with_outcome(mut self, outcome: CommandSpec) -> Self {
        self.outcome = Some(outcome);
        self
    }

    fn records(&self) -> KeyedRecords<'_> {
        KeyedRecords {
            dir: &self.outcomes,
        }
    }

    /// What a run under `key` did, by the record or by asking the host.
    fn settled(&self, key: &IdempotencyKey) -> Result<Option<String>, AdapterError> {
        let record = self.records().recorded(key)?;
        match (record, &self.outcome) {
            (Some(record), _) if record.done => Ok(Some(record.what)),
            (Some(record), None) => Err(AdapterError::new(
                ErrorKind::UnknownOutcome,
                format!(
                    "runbook `{}` under key `{key}` started and its end was not recorded (the process died or the command outlived its timeout): give the runbooks an `outcome` command that asks the host, or find out by hand",
                    record.what
                ),
            )),
            (None, None) => Ok(None),
            (_, Some(ask)) => {
                let said = run(ask, &Facts(vec![("key", key.as_str())]))?;
                if said.stdout.is_empty() {
                    self.records().forget(key)?;
                    return Ok(None);
                }
                self.records().record(key, &said.stdout, true)?;
                Ok(Some(said.stdout))
            }
        }
    }

    fn run_now(
        &self,
        key: &IdempotencyKey,
        runbook: &Runbook,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<String, AdapterError> {
        if let Some(done) = self.settled(key)? {
            return Ok(done);
        }
        let Some(command) = self.commands.get(&runbook.id).or(self.fallback.as_ref()) else {
            return Err(AdapterError::new(
                ErrorKind::Rejected,
                format!(
                    "no command runs runbook `{}`: give it one (`with`) or a command for every runbook (`otherwise`)",
                    runbook.id
                ),
            ));
        };
        let facts = Facts(vec![
            ("runbook", runbook.id.as_str()),
            ("environment", environment.as_str()),
            ("service", service.as_str()),
            ("key", key.as_str()),
        ]);
        let id = runbook.id.clone();
        let account = move |printed: &str| {
            if printed.is_empty() {
                format!("ran `{id}`")
            } else {
                printed.to_owned()
            }
        };
        self.records()
            .once(key, (runbook.id.as_str(), &account), command, &facts)
    }
}

#[async_trait]
impl Runbooks for CommandRunbooks {
    async fn run(
        &self,
        key: &IdempotencyKey,
        runbook: &Runbook,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<String, AdapterError> {
        let (this, key, runbook) = (self.clone(), key.clone(), runbook.clone());
        let (environment, service) = (environment.clone(), service.clone());
        super::super::off_executor(move || this.run_now(&key, &runbook, &environment, &service))
            .await
    }

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<String>, AdapterError> {
        let (this, key) = (self.clone(), key.clone());
        super::super::off_executor(move || this.settled(&key)).await
    }
}
