//! Services, artifacts and releases: what gets built and what gets deployed.

use std::collections::BTreeMap;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

use super::ids::{BuilderId, CommitId, ConfigRevision, Digest, ReleaseId, ServiceId};
use super::schema::SchemaRange;

/// A deployable application with its own releases.
///
/// An environment runs at most one release of each service at a time.
///
/// ```
/// use knowngood::Service;
/// let payments = Service::new("payments");
/// assert_eq!(payments.id.as_str(), "payments");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Service {
    /// The service's name.
    pub id: ServiceId,
}

impl Service {
    /// A service with this name.
    pub fn new(id: impl Into<ServiceId>) -> Self {
        Self { id: id.into() }
    }
}

/// An immutable build output: built once, promoted as-is through every
/// environment, never rebuilt per stage.
///
/// Its identity is its [`Digest`]: two artifacts with the same version but
/// different digests are different artifacts, and promotion follows the
/// digest, not the version.
///
/// ```
/// use knowngood::{Artifact, Digest};
/// let a = Artifact::new(
///     "payments",
///     Digest::parse("sha256:0000aaaa").unwrap(),
///     semver::Version::new(1, 4, 2),
///     43,
///     "998b1f0",
/// );
/// assert_eq!(a.build, 43);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Artifact {
    /// The service this artifact is a build of.
    pub service: ServiceId,
    /// The content hash.
    pub digest: Digest,
    /// The semantic version stamped on the build.
    pub version: Version,
    /// The CI build number.
    pub build: u64,
    /// The commit the artifact was built from.
    pub source_commit: CommitId,
    /// The build system that produced it, as its provenance states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<BuilderId>,
}

impl Artifact {
    /// Describes one build.
    pub fn new(
        service: impl Into<ServiceId>,
        digest: Digest,
        version: Version,
        build: u64,
        source_commit: impl Into<CommitId>,
    ) -> Self {
        Self {
            service: service.into(),
            digest,
            version,
            build,
            source_commit: source_commit.into(),
            builder: None,
        }
    }

    /// Records the build system that produced the artifact.
    #[must_use]
    pub fn built_by(mut self, builder: impl Into<BuilderId>) -> Self {
        self.builder = Some(builder.into());
        self
    }
}

/// What gets deployed: an artifact plus a configuration revision.
///
/// A rollback restores both; a code revert restores neither the old
/// configuration nor the old schema. A release may require versions of other
/// services (`ledger >= 3.0`).
///
/// ```
/// use knowngood::{Digest, Release};
/// let r = Release::new("payments@2.1", "payments", Digest::parse("sha256:0000aaaa").unwrap(), "cfg-7")
///     .requiring("ledger", semver::VersionReq::parse(">=3.0").unwrap());
/// assert_eq!(r.requires.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Release {
    /// The host's name for this release.
    pub id: ReleaseId,
    /// The service released.
    pub service: ServiceId,
    /// The artifact deployed, by digest.
    pub artifact: Digest,
    /// The configuration revision deployed with it.
    pub config: ConfigRevision,
    /// Versions of other services this release needs to find running beside it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requires: BTreeMap<ServiceId, VersionReq>,
    /// The schema versions of its service's database it runs on (`None`:
    /// it has no database, or the team does not track schemas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaRange>,
}

impl Release {
    /// A release of `artifact` with configuration `config`, requiring nothing.
    pub fn new(
        id: impl Into<ReleaseId>,
        service: impl Into<ServiceId>,
        artifact: Digest,
        config: impl Into<ConfigRevision>,
    ) -> Self {
        Self {
            id: id.into(),
            service: service.into(),
            artifact,
            config: config.into(),
            requires: BTreeMap::new(),
            schema: None,
        }
    }

    /// Declares the schema versions the release runs on.
    #[must_use]
    pub fn on_schema(mut self, range: SchemaRange) -> Self {
        self.schema = Some(range);
        self
    }

    /// Adds a requirement on another service's version.
    #[must_use]
    pub fn requiring(mut self, service: impl Into<ServiceId>, requirement: VersionReq) -> Self {
        self.requires.insert(service.into(), requirement);
        self
    }
}
