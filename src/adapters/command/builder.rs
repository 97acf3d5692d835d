//! The host's build command as the [`Builder`]: it builds a commit and
//! prints the build's manifest, recorded under the build's key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::process::{CommandSpec, Facts, run};
use super::records::KeyedRecords;
use crate::model::{Artifact, CommitId, Digest, SchemaRange, ServiceId};
use crate::port::{AdapterError, BuildManifest, Builder, BuilderCapabilities, ErrorKind};
use crate::recovery::IdempotencyKey;

/// A builder that runs the host's build command.
///
/// The command gets `{service}` (`KNOWNGOOD_SERVICE`), `{commit}`
/// (`KNOWNGOOD_COMMIT`) and `{key}` (`KNOWNGOOD_KEY`), builds that commit
/// (or finds the build CI already made of it) and prints, as the **last
/// line** of its standard output, the build's manifest as one JSON object
/// (what it prints before is its log, ignored):
///
/// ```json
/// {"digest": "sha256:9f86d081884c7d65", "version": "1.5.1", "build": 1234,
///  "config": "cfg-17", "service": "payments", "commit": "c0ffee1", "builder": "ci.example.com",
///  "release": "payments@1.5.1", "schema": {"min": 3, "max": 4},
///  "requires": {"ledger": ">=3.0"}}
/// ```
///
/// `digest`, `version` (semver), `build` (a number) and `config` (the
/// configuration revision the release deploys with) are required.
/// `service` and `commit`, when given, must be the ones asked (an
/// `outcome` command's answer about a key this process never asked under
/// must give both); `builder` names who built it (for the policy's
/// trusted builders); `release` names the
/// release (`service@version+build` otherwise); `schema` is the range of
/// schema versions it runs on; `requires` what it needs of other services.
/// Any other field is refused, so a misspelt one is never ignored. Build
/// numbers come from the host's CI, not from this process, so replicas
/// agree on them.
///
/// Exactly once: a build is recorded as started under its key in the
/// outcomes directory before the command runs, and with its manifest when
/// it exits 0; asking again under the key answers that manifest without
/// building. A build whose end was not recorded (the process died, the
/// command timed out) is answered by the host's `outcome` command, given
/// `{key}`, which prints the manifest of the build made under it, or
/// nothing when none was; with one, a key this process has no record of
/// is asked of the host too (a replica on another machine may have built
/// under it). Without one, such a key's outcome stays unknown and the
/// driver stops rather than build twice.
///
/// ```
/// use knowngood::adapters::{CommandBuilder, CommandSpec};
/// let builder = CommandBuilder::new(
///     CommandSpec::new("ci/build.sh", ["{service}", "{commit}"]),
///     std::env::temp_dir().join("knowngood-builds"),
/// )
/// .with_outcome(CommandSpec::new("ci/build-for-key.sh", ["{key}"]));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommandBuilder {
    /// Builds `{commit}` of `{service}` and prints its manifest last.
    pub build: CommandSpec,
    /// Where the outcome of every key is recorded.
    pub outcomes: PathBuf,
    /// Prints the manifest of the build made under `{key}`, or nothing.
    #[serde(default)]
    pub outcome: Option<CommandSpec>,
    /// Whether the command builds any commit on demand (default yes); a
    /// host whose CI only builds what it queued says no, and the planner
    /// then offers no plan that builds.
    #[serde(default = "yes")]
    pub on_demand: bool,
}

fn yes() -> bool {
    true
}

/// The manifest as the build command prints it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Printed {
    digest: String,
    version: String,
    build: u64,
    config: String,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    commit: Option<String>,
    #[serde(default)]
    builder: Option<String>,
    #[serde(default)]
    release: Option<String>,
    #[serde(default)]
    schema: Option<SchemaRange>,
    #[serde(default)]
    requires: BTreeMap<String, String>,
}

impl CommandBuilder {
    /// Builds with `build`, recording outcomes under `outcomes` (a
    /// directory).
    pub fn new(build: CommandSpec, outcomes: impl Into<PathBuf>) -> Self {
        Self {
            build,
            outcomes: outcomes.into(),
            outcome: None,
            on_demand: true,
        }
    }

    /// Asks the host with `outcome` what a build under a key made.
    #[must_use]
    pub fn with_outcome(mut self, outcome: CommandSpec) -> Self {
        self.outcome = Some(outcome);
        self
    }

    /// Says the command builds only what CI queued, not any commit.
    #[must_use]
    pub fn only_queued(mut self) -> Self {
        self.on_demand = false;
        self
    }

    fn records(&self) -> KeyedRecords<'_> {
        KeyedRecords {
            dir: &self.outcomes,
        }
    }

    /// What a build under `key` made, by the record or by asking the host;
    /// `None` when nothing was built under it.
    fn settled(
        &self,
        key: &IdempotencyKey,
        asked: Option<(&ServiceId, &CommitId)>,
    ) -> Result<Option<BuildManifest>, AdapterError> {
        let record = self.records().recorded(key)?;
        match (record, &self.outcome) {
            (Some(record), _) if record.done => {
                let (service, commit, line) = split_record(&record.what)?;
                parse_manifest(line, &service, &commit).map(Some)
            }
            (Some(record), None) => Err(AdapterError::new(
                ErrorKind::UnknownOutcome,
                format!(
                    "a build of {} under key `{key}` started and its end was not recorded (the process died or the command outlived its timeout): give the builder an `outcome` command that asks the host, or find out by hand",
                    record.what
                ),
            )),
            (None, None) => Ok(None),
            (record, Some(ask)) => {
                let said = run(ask, &Facts(vec![("key", key.as_str())]))?;
                let Some(line) = last_line(&said.stdout) else {
                    self.records().forget(key)?;
                    return Ok(None);
                };
                // What was asked, when this process recorded it or asks
                // now; otherwise the manifest must say it.
                let (service, commit) = match (&record, asked) {
                    (Some(r), _) => {
                        let (service, commit) = intent(&r.what)?;
                        (Some(service), Some(commit))
                    }
                    (None, Some((service, commit))) => {
                        (Some(service.clone()), Some(commit.clone()))
                    }
                    (None, None) => (None, None),
                };
                let manifest = parse_answer(line, service.as_ref(), commit.as_ref())?;
                let (service, commit) = (
                    manifest.artifact.service.clone(),
                    manifest.artifact.source_commit.clone(),
                );
                self.records()
                    .record(key, &format!("`{commit}` of `{service}`\n{line}"), true)?;
                Ok(Some(manifest))
            }
        }
    }

    fn build_now(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &CommitId,
    ) -> Result<BuildManifest, AdapterError> {
        if let Some(done) = self.settled(key, Some((service, commit)))? {
            return same_build(done, service, commit, key);
        }
        let facts = Facts(vec![
            ("service", service.as_str()),
            ("commit", commit.as_str()),
            ("key", key.as_str()),
        ]);
        let intent = format!("`{commit}` of `{service}`");
        // The manifest is checked before the end is recorded: a build that
        // prints no usable manifest is recorded as not done (and fails).
        let checked = std::cell::RefCell::new(None);
        let done = |printed: &str| {
            let parsed = last_line(printed)
                .ok_or_else(|| {
                    AdapterError::new(
                        ErrorKind::Rejected,
                        format!("the build command printed no manifest for {intent}: its last line must be the build's manifest, one JSON object"),
                    )
                })
                .and_then(|line| {
                    parse_manifest(line, service, commit).map(|m| (line.to_owned(), m))
                });
            let what = match &parsed {
                Ok((line, _)) => format!("{intent}\n{line}"),
                Err(_) => intent.clone(),
            };
            *checked.borrow_mut() = Some(parsed);
            what
        };
        self.records()
            .once(key, (&intent, &done), &self.build, &facts)?;
        match checked.into_inner() {
            Some(Ok((_, manifest))) => Ok(manifest),
            Some(Err(e)) => {
                // Built, but nothing usable said what: not a build to keep.
                self.records().forget(key)?;
                Err(e)
            }
            None => Err(AdapterError::new(
                ErrorKind::Rejected,
                "the build command's output was not read",
            )),
        }
    }
}

/// The last non-empty line of what a command printed.
fn last_line(printed: &str) -> Option<&str> {
    printed.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// What a record says was asked: "`commit` of `service`".
fn intent(what: &str) -> Result<(ServiceId, CommitId), AdapterError> {
    let first = what.lines().next().unwrap_or_default();
    let bad = || {
        AdapterError::new(
            ErrorKind::Rejected,
            format!("the build record `{first}` does not say what was built"),
        )
    };
    let (commit, service) = first.split_once(" of ").ok_or_else(bad)?;
    let unquote = |s: &str| {
        s.strip_prefix('`')
            .and_then(|s| s.strip_suffix('`'))
            .map(str::to_owned)
    };
    let commit = unquote(commit).ok_or_else(bad)?;
    let service = unquote(service).ok_or_else(bad)?;
    let commit = named(&commit, crate::model::check_name).map_err(|_| bad())?;
    let service = named(&service, crate::model::check_name).map_err(|_| bad())?;
    Ok((service.into(), commit.into()))
}

/// A finished record: what was asked, and the manifest line.
fn split_record(what: &str) -> Result<(ServiceId, CommitId, &str), AdapterError> {
    let (service, commit) = intent(what)?;
    let line = what.lines().nth(1).ok_or_else(|| {
        AdapterError::new(
            ErrorKind::Rejected,
            format!("the build record for `{commit}` of `{service}` holds no manifest"),
        )
    })?;
    Ok((service, commit, line))
}

/// A build recorded under `key` must be of what is asked now.
fn same_build(
    done: BuildManifest,
    service: &ServiceId,
    commit: &CommitId,
    key: &IdempotencyKey,
) -> Result<BuildManifest, AdapterError> {
    if done.artifact.service == *service && done.artifact.source_commit == *commit {
        Ok(done)
    } else {
        Err(AdapterError::new(
            ErrorKind::Rejected,
            format!(
                "key `{key}` built `{}` of `{}` already, not `{commit}` of `{service}`: use a key per build",
                done.artifact.source_commit, done.artifact.service
            ),
        ))
    }
}

/// `name`, when `check` accepts it (what the check says otherwise).
fn named(name: &str, check: fn(&str) -> Result<(), String>) -> Result<&str, String> {
    check(name)
        .map(|()| name)
        .map_err(|why| format!("{name:?}: {why}"))
}

fn manifest_error(what: impl std::fmt::Display) -> AdapterError {
    AdapterError::new(ErrorKind::Rejected, format!("the build's manifest: {what}"))
}

/// Reads the manifest the build of `commit` of `service` printed.
fn parse_manifest(
    line: &str,
    service: &ServiceId,
    commit: &CommitId,
) -> Result<BuildManifest, AdapterError> {
    parse_answer(line, Some(service), Some(commit))
}

/// Reads a manifest; the service and commit asked, when known, must be
/// the manifest's (a manifest for an unknown request must say both).
fn parse_answer(
    line: &str,
    service: Option<&ServiceId>,
    commit: Option<&CommitId>,
) -> Result<BuildManifest, AdapterError> {
    let printed: Printed = serde_json::from_str(line).map_err(manifest_error)?;
    let commit = match (printed.commit.as_deref(), commit) {
        (Some(said), Some(asked)) if said != asked.as_str() => {
            return Err(manifest_error(format!(
                "it says commit `{said}`, the build was of `{asked}`"
            )));
        }
        (_, Some(asked)) => asked.clone(),
        (Some(said), None) => named(said, crate::model::check_name)
            .map_err(manifest_error)?
            .into(),
        (None, None) => {
            return Err(manifest_error(
                "it does not say its `commit`, and nothing recorded says what was asked",
            ));
        }
    };
    let service = match (service, printed.service.as_deref()) {
        (Some(asked), Some(said)) if said != asked.as_str() => {
            return Err(manifest_error(format!(
                "it says service `{said}`, the build was of `{asked}`"
            )));
        }
        (Some(asked), _) => asked.clone(),
        (None, Some(said)) => named(said, crate::model::check_name)
            .map_err(manifest_error)?
            .into(),
        (None, None) => {
            return Err(manifest_error(
                "it does not say its `service`, and nothing recorded says which service was built",
            ));
        }
    };
    let digest = Digest::parse(&printed.digest).map_err(manifest_error)?;
    let version = semver::Version::parse(&printed.version)
        .map_err(|e| manifest_error(format!("`version` {:?}: {e}", printed.version)))?;
    let mut artifact = Artifact::new(service, digest, version, printed.build, commit);
    if let Some(builder) = printed.builder {
        let builder = named(&builder, crate::model::check_name).map_err(manifest_error)?;
        artifact = artifact.built_by(builder);
    }
    let config =
        named(&printed.config, crate::model::check_release_name).map_err(manifest_error)?;
    let mut manifest = BuildManifest::new(artifact, config);
    if let Some(release) = printed.release {
        let release = named(&release, crate::model::check_release_name).map_err(manifest_error)?;
        manifest = manifest.named(release);
    }
    if let Some(schema) = printed.schema {
        manifest = manifest.on_schema(schema);
    }
    for (other, requirement) in printed.requires {
        let other: ServiceId = named(&other, crate::model::check_name)
            .map_err(manifest_error)?
            .into();
        let requirement = semver::VersionReq::parse(&requirement)
            .map_err(|e| manifest_error(format!("`requires.{other}` {requirement:?}: {e}")))?;
        manifest = manifest.requiring(other, requirement);
    }
    Ok(manifest)
}

#[async_trait]
impl Builder for CommandBuilder {
    fn capabilities(&self) -> BuilderCapabilities {
        BuilderCapabilities {
            on_demand: self.on_demand,
        }
    }

    async fn build(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &CommitId,
    ) -> Result<BuildManifest, AdapterError> {
        let (this, key, service, commit) =
            (self.clone(), key.clone(), service.clone(), commit.clone());
        super::super::off_executor(move || this.build_now(&key, &service, &commit)).await
    }

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<BuildManifest>, AdapterError> {
        let (this, key) = (self.clone(), key.clone());
        super::super::off_executor(move || this.settled(&key, None)).await
    }
}
