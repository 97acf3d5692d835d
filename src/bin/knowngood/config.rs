//! `knowngood.toml`: the journal, the pipeline and policy, and the
//! adapters. Paths are relative to the file's directory, where every
//! command runs; every bad value is an error naming the file, the key and
//! what is expected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use knowngood::adapters::CommandSpec;
use knowngood::analysis::Analysis;
use knowngood::{PipelineSpec, Policy};
use serde::Deserialize;

use crate::fail::Failure;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Who acts when neither `--as` nor `KNOWNGOOD_ACTOR` says.
    #[serde(default)]
    pub actor: Option<String>,
    /// Where the journal is kept.
    pub journal: JournalConfig,
    /// The environments and promotions.
    pub pipeline: PipelineSpec,
    /// The team's rules (the library's `Policy`; unset keys default).
    #[serde(default)]
    pub policy: Option<Policy>,
    /// The services and their repositories.
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    /// How commits are pushed.
    #[serde(default)]
    pub git: GitConfig,
    /// A flagd definition file per environment.
    #[serde(default)]
    pub flags: BTreeMap<String, PathBuf>,
    /// The deploy commands.
    pub deploy: DeployConfig,
    /// How health is measured.
    pub health: HealthConfig,
    /// The build command.
    pub build: BuildConfig,
    /// A Prometheus server, for `health.analysis`.
    #[serde(default)]
    pub prometheus: Option<PrometheusConfig>,
    /// Write a snapshot every this many journal entries (0: never).
    #[serde(default = "default_snapshot_every")]
    pub snapshot_every: u64,
}

fn default_snapshot_every() -> u64 {
    1000
}

/// Which store holds the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// One JSON Lines file.
    File,
    /// A `SQLite` database file.
    Sqlite,
    /// A `PostgreSQL` database.
    Postgres,
}

/// `[journal]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// `file`, `sqlite` or `postgres`.
    pub store: StoreKind,
    /// The file (`file`, `sqlite`).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The environment variable holding the connection string (`postgres`).
    #[serde(default)]
    pub url_env: Option<String>,
    /// The journal's name inside the database (`postgres`).
    #[serde(default)]
    pub name: Option<String>,
    /// The chain's name: entries of another chain are refused.
    pub chain: String,
    /// The environment variable holding the chain's key, if it is keyed.
    #[serde(default)]
    pub key_env: Option<String>,
}

/// `[[services]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The service's name.
    pub name: String,
    /// Its git repository.
    pub repository: PathBuf,
    /// The branch followed (default `main`).
    #[serde(default = "default_branch")]
    pub branch: String,
}

fn default_branch() -> String {
    "main".to_owned()
}

/// `[git]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitConfig {
    /// The remote commits are pushed to (none: commits stay local).
    #[serde(default)]
    pub remote: Option<String>,
    /// The author of the commits the driver makes.
    #[serde(default)]
    pub author_name: Option<String>,
    /// Their email.
    #[serde(default)]
    pub author_email: Option<String>,
}

/// `[deploy]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    /// Deploys a release.
    pub command: CommandSpec,
    /// Says what serves.
    pub status: CommandSpec,
    /// Says what a deploy under a key did (for replicas on other machines).
    #[serde(default)]
    pub outcome: Option<CommandSpec>,
    /// Aborts a rollout in progress.
    #[serde(default)]
    pub abort: Option<CommandSpec>,
    /// Where deploys are recorded under their keys.
    #[serde(default = "default_deploys")]
    pub outcomes: PathBuf,
}

fn default_deploys() -> PathBuf {
    PathBuf::from(".knowngood/deploys")
}

/// `[health]`: a command, or an analysis on Prometheus.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Exits 0 when healthy.
    #[serde(default)]
    pub command: Option<CommandSpec>,
    /// The metrics that judge a release (needs `[prometheus]`).
    #[serde(default)]
    pub analysis: Option<Analysis>,
}

/// `[build]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// Builds a commit and prints its manifest last.
    pub command: CommandSpec,
    /// Says what a build under a key made.
    #[serde(default)]
    pub outcome: Option<CommandSpec>,
    /// Where builds are recorded under their keys.
    #[serde(default = "default_builds")]
    pub outcomes: PathBuf,
}

fn default_builds() -> PathBuf {
    PathBuf::from(".knowngood/builds")
}

/// `[prometheus]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// The server, e.g. `http://127.0.0.1:9090`.
    pub url: String,
    /// How long one query may take.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Config, Failure> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::bad_input(format!(
                "{file}: cannot be read: {e}; run `knowngood init` to write one, or pass --config"
            ))
        })?;
        let config: Config = toml::from_str(&text).map_err(|e| {
            Failure::bad_input(format!(
                "{file}: {}",
                e.to_string().trim_end().replace('\n', "\n  ")
            ))
        })?;
        config.check(&file)?;
        Ok(config)
    }

    /// What serde cannot say: values that depend on each other.
    fn check(&self, file: &str) -> Result<(), Failure> {
        let bad = |key: &str, expected: String| {
            Err(Failure::bad_input(format!("{file}: `{key}`: {expected}")))
        };
        match self.journal.store {
            StoreKind::File | StoreKind::Sqlite if self.journal.path.is_none() => {
                return bad(
                    "journal.path",
                    "missing: a `file` or `sqlite` journal needs the file's path".to_owned(),
                );
            }
            StoreKind::Postgres if self.journal.url_env.is_none() => {
                return bad(
                    "journal.url_env",
                    "missing: a `postgres` journal needs the name of the environment variable holding its connection string".to_owned(),
                );
            }
            _ => {}
        }
        if let Err(e) = knowngood::check_name(&self.journal.chain) {
            return bad("journal.chain", e.clone());
        }
        for (i, s) in self.services.iter().enumerate() {
            if let Err(e) = knowngood::check_name(&s.name) {
                return bad(&format!("services[{i}].name"), e.clone());
            }
            if let Err(e) = knowngood::check_ref_name(&s.branch) {
                return bad(&format!("services[{i}].branch"), e.clone());
            }
        }
        if let Err(e) = self.pipeline.clone().build() {
            return bad("pipeline", e.to_string());
        }
        for env in self.flags.keys() {
            if !self
                .pipeline
                .environments
                .iter()
                .any(|e| e.id.as_str() == env)
            {
                return bad(
                    &format!("flags.{env}"),
                    "names no environment of `pipeline.environments`".to_owned(),
                );
            }
        }
        match (&self.health.command, &self.health.analysis) {
            (Some(_), Some(_)) | (None, None) => {
                return bad(
                    "health",
                    "give exactly one of `command` (exits 0 when healthy) and `analysis` (metrics on Prometheus)".to_owned(),
                );
            }
            (None, Some(analysis)) => {
                if self.prometheus.is_none() {
                    return bad(
                        "prometheus",
                        "missing: `health.analysis` measures on Prometheus; add `[prometheus]` with its `url`".to_owned(),
                    );
                }
                if let Err(e) = Analysis::new(analysis.metrics.clone()) {
                    return bad("health.analysis", e.to_string());
                }
            }
            (Some(_), None) => {}
        }
        Ok(())
    }

    /// The service named `name`, or the only one when `name` is `None`.
    pub fn service(&self, name: Option<&str>) -> Result<&ServiceConfig, Failure> {
        match name {
            Some(name) => self
                .services
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| {
                    Failure::bad_input(format!(
                        "no service `{name}` in the configuration's `[[services]]` (it has {})",
                        self.service_names()
                    ))
                }),
            None => match self.services.as_slice() {
                [only] => Ok(only),
                [] => Err(Failure::bad_input(
                    "the configuration names no service: add a `[[services]]` table".to_owned(),
                )),
                _ => Err(Failure::bad_input(format!(
                    "several services are configured ({}): name one with --service",
                    self.service_names()
                ))),
            },
        }
    }

    fn service_names(&self) -> String {
        let names: Vec<String> = self
            .services
            .iter()
            .map(|s| format!("`{}`", s.name))
            .collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    }
}

/// What `knowngood init` writes: a commented starting point.
pub const STARTING_POINT: &str = r#"# knowngood.toml: what the `knowngood` command acts on. Paths are relative
# to this file's directory, where every command (and every script below)
# runs. Documented in full in the crate's manual (chapter "The command").

# Who acts when neither --as nor KNOWNGOOD_ACTOR says (else $USER).
# actor = "oncall"

# Write a snapshot every this many journal entries (0: never); starts read
# the newest snapshot and the entries after it.
snapshot_every = 1000

[journal]
# `file` (JSON Lines), `sqlite`, or `postgres`.
store = "file"
path = "journal.jsonl"
# For postgres: the environment variable holding the connection string,
# and the journal's name inside the database.
# store = "postgres"
# url_env = "KNOWNGOOD_POSTGRES_URL"
# name = "payments"
# The chain's name: a journal of another chain is refused.
chain = "payments-prod"
# A keyed chain (HMAC): the environment variable holding the key.
# key_env = "KNOWNGOOD_JOURNAL_KEY"

[pipeline]
environments = [
  { id = "qa", role = "test" },
  { id = "prod", role = "production" },
]
promotions = [{ from = "qa", to = "prod" }]

# The team's rules; every key is optional (see the library's `Policy`).
[policy]
stage_seconds = { qa = 600, prod = 300 }
# approvals = { prod = { approvers = 1, role = "release-manager" } }
# roles = { release-manager = ["alice"] }
# bake_seconds = { qa = 600 }

[[services]]
name = "payments"
repository = "payments"   # a git repository
branch = "main"

[git]
# remote = "origin"       # pushes go there; without it they stay local
# author_name = "knowngood"
# author_email = "knowngood@example.com"

# A flagd definition file per environment.
[flags]
# prod = "flags/prod.flagd.json"

# Each command gets the facts as KNOWNGOOD_* variables and {placeholders}
# (KNOWNGOOD_RELEASE, KNOWNGOOD_ENVIRONMENT, KNOWNGOOD_KEY, ...).
[deploy]
command = { program = "sh", args = ["deploy.sh"], timeout_seconds = 600 }
status = { program = "sh", args = ["status.sh"] }
outcomes = ".knowngood/deploys"

[health]
command = { program = "sh", args = ["health.sh"], timeout_seconds = 120 }
# Or judge on Prometheus (and add [prometheus] below):
# [[health.analysis.metrics]]
# name = "errors"
# query = 'sum(rate(http_errors_total{release="{release}"}[1m]))'
# failure = { above = 0.05 }

[build]
# Builds $KNOWNGOOD_COMMIT and prints its manifest as the last line.
command = { program = "sh", args = ["build.sh"], timeout_seconds = 1800 }
outcomes = ".knowngood/builds"

# [prometheus]
# url = "http://127.0.0.1:9090"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starting_point_parses_and_checks() {
        let config: Config = toml::from_str(STARTING_POINT).expect("parses");
        config.check("knowngood.toml").expect("checks");
    }
}
