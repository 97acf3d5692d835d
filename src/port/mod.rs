//! Ports: the small async traits through which the driver acts on the
//! host's world — version control, deployer, flag store, health probe,
//! builder, and the durable journal — plus the clock the driver reads.
//!
//! Every mutating call carries the effect's [`IdempotencyKey`]: a port
//! that sees a key again returns the first result without acting twice,
//! and can be asked what happened under a key (`outcome`). That is what
//! lets the driver retry after a timeout and resume after a crash.
//!
//! Each port reports its capabilities; the planner only offers options
//! whose steps the ports can carry out ([`Ports::capabilities`]).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::journal::{JournalEntry, StoredSnapshot};
use crate::model::{
    Artifact, BranchName, CommitId, EnvironmentId, FlagKey, FlagState, Release, ReleaseId,
    ServiceId,
};
use crate::recovery::{Capabilities, IdempotencyKey};

/// What kind of failure a port reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The thing named does not exist.
    NotFound,
    /// The world changed under the caller (a stale revision, a merge
    /// conflict): read again before retrying.
    Conflict,
    /// The system refused the request; retrying will not help.
    Rejected,
    /// The system could not be reached; retrying may help, nothing happened.
    Unavailable,
    /// The request may or may not have taken effect (a timeout): ask the
    /// port what happened under the key before doing anything else.
    UnknownOutcome,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotFound => "not found",
            Self::Conflict => "conflict",
            Self::Rejected => "rejected",
            Self::Unavailable => "unavailable",
            Self::UnknownOutcome => "unknown outcome",
        })
    }
}

/// A port's failure: a semantic kind, a message, and the adapter's own
/// error as the source.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct AdapterError {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl From<std::io::Error> for AdapterError {
    /// An I/O error with the kind a caller can act on: a missing file is
    /// [`ErrorKind::NotFound`], a refused or broken connection
    /// [`ErrorKind::Unavailable`], a timeout [`ErrorKind::UnknownOutcome`]
    /// (the request may have taken effect), a denied permission or invalid
    /// input [`ErrorKind::Rejected`], anything else
    /// [`ErrorKind::Unavailable`]. The I/O error is kept as the source.
    ///
    /// ```
    /// use knowngood::port::{AdapterError, ErrorKind};
    /// let e: AdapterError = std::io::Error::from(std::io::ErrorKind::TimedOut).into();
    /// assert_eq!(e.kind(), ErrorKind::UnknownOutcome);
    /// ```
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match e.kind() {
            Io::NotFound => ErrorKind::NotFound,
            Io::TimedOut | Io::WouldBlock | Io::Interrupted => ErrorKind::UnknownOutcome,
            Io::PermissionDenied | Io::InvalidInput | Io::InvalidData | Io::Unsupported => {
                ErrorKind::Rejected
            }
            Io::AlreadyExists => ErrorKind::Conflict,
            _ => ErrorKind::Unavailable,
        };
        AdapterError::new(kind, e.to_string()).with_source(e)
    }
}

impl AdapterError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the adapter's own error.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the outcome is unknown or nothing happened and a retry may
    /// help: the cases the driver reconciles by asking the port.
    pub fn needs_reconciling(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::UnknownOutcome | ErrorKind::Unavailable
        )
    }
}

/// `none()`, `all()` and one `with_<field>(bool)` per field for a
/// capabilities struct, so that an adapter outside the crate can say
/// exactly what it can do.
macro_rules! capabilities {
    ($name:ident { $($field:ident / $with:ident),+ $(,)? }) => {
        impl $name {
            /// Nothing: every capability off.
            pub fn none() -> Self {
                Self { $($field: false),+ }
            }

            /// Everything.
            pub fn all() -> Self {
                Self { $($field: true),+ }
            }

            $(
                #[doc = concat!("The same with `", stringify!($field), "` set to `able`.")]
                #[must_use]
                pub fn $with(mut self, able: bool) -> Self {
                    self.$field = able;
                    self
                }
            )+
        }
    };
}

capabilities!(VcsCapabilities {
    revert / with_revert,
    branches / with_branches,
});
capabilities!(DeployerCapabilities {
    redeploy_earlier / with_redeploy_earlier,
    abort / with_abort,
});
capabilities!(FlagStoreCapabilities { gradual / with_gradual });
capabilities!(BuilderCapabilities { on_demand / with_on_demand });

/// What version control can do.
///
/// ```
/// use knowngood::port::VcsCapabilities;
/// // A VCS that can revert but not branch.
/// let caps = VcsCapabilities::none().with_revert(true);
/// assert!(caps.revert && !caps.branches);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VcsCapabilities {
    /// Create revert commits.
    pub revert: bool,
    /// Create branches and cherry-pick.
    pub branches: bool,
}

/// What a VCS call did: the commit it produced and that commit's parents,
/// as the repository really holds them. The driver records exactly this in
/// the ledger, never what it expected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Landed {
    /// The new commit (for a branch or a tag: the commit it names).
    pub commit: CommitId,
    /// The new commit's parents (empty for a branch or a tag: no commit
    /// was made).
    pub parents: Vec<CommitId>,
}

impl Landed {
    /// A commit made on top of `parents`.
    pub fn new(commit: impl Into<CommitId>, parents: impl IntoIterator<Item = CommitId>) -> Self {
        Self {
            commit: commit.into(),
            parents: parents.into_iter().collect(),
        }
    }

    /// A ref (branch or tag) pointed at `commit`; nothing new was made.
    pub fn named(commit: impl Into<CommitId>) -> Self {
        Self::new(commit, [])
    }
}

/// Version control.
///
/// # Contract
///
/// - Calls that move a branch ([`revert`](Vcs::revert),
///   [`cherry_pick`](Vcs::cherry_pick)) are a compare-and-swap: they act
///   only if the branch's head is still `expected_head`, and answer
///   [`ErrorKind::Conflict`] otherwise without acting. A change that does
///   not apply cleanly is a [`ErrorKind::Conflict`] too; the driver tells
///   the two apart by reading [`head`](Vcs::head) again.
/// - They answer with what really happened ([`Landed`]): the new commit and
///   its parents. The driver records that, never what it assumed.
/// - Every acting call carries an idempotency key. A key seen before
///   answers the first result and does nothing, even if the branch moved
///   since; [`outcome`](Vcs::outcome) reports it after a crash.
/// - The conformance suite ([`testkit::conformance::vcs`]) checks all of
///   this against a repository that already has history.
///
/// [`testkit::conformance::vcs`]: crate::testkit::conformance::vcs
#[async_trait]
pub trait Vcs: Send + Sync + fmt::Debug + 'static {
    /// What this VCS can do.
    fn capabilities(&self) -> VcsCapabilities;
    /// The head of a branch ([`ErrorKind::NotFound`] for a branch that does
    /// not exist). The driver reads it before every branch-moving call, to
    /// stop with a typed conflict when someone pushed commits the ledger
    /// does not know.
    async fn head(
        &self,
        service: &ServiceId,
        branch: &BranchName,
    ) -> Result<CommitId, AdapterError>;
    /// The commits reachable from `to` but not from `from`, oldest first
    /// (parents before children), `to` included unless it is reachable from
    /// `from`. The driver uses it to name the commits a branch gained
    /// behind the ledger's back.
    async fn commits_between(
        &self,
        service: &ServiceId,
        from: &CommitId,
        to: &CommitId,
    ) -> Result<Vec<CommitId>, AdapterError>;
    /// If `onto`'s head is `expected_head`, create one commit on it that
    /// undoes `commits` (given oldest first; undone newest first) and move
    /// `onto` there. A revert that does not apply cleanly, or a head that
    /// moved, is a [`ErrorKind::Conflict`] and changes nothing.
    async fn revert(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commits: &[CommitId],
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError>;
    /// If `onto`'s head is `expected_head`, apply `commits` (oldest first)
    /// on top of it as one new commit and move `onto` there; conflicts as
    /// for [`revert`](Vcs::revert).
    async fn cherry_pick(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commits: &[CommitId],
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError>;
    /// If `onto`'s head is `expected_head`, merge `from` into it as one
    /// merge commit whose parents are `expected_head` then `from` (never a
    /// fast-forward or a squash, so `from` stays reachable from `onto`) and
    /// move `onto` there; conflicts as for [`revert`](Vcs::revert). The
    /// driver merges a hotfix branch back into main with it.
    async fn merge(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        from: &CommitId,
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError>;
    /// Create `branch` at `at`. A branch that already exists at `at` is
    /// success (nothing changes); one that exists elsewhere is a
    /// [`ErrorKind::Conflict`] (it is never moved); an unknown `at` is
    /// [`ErrorKind::NotFound`]. Answers the commit the branch names.
    async fn create_branch(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        branch: &BranchName,
        at: &CommitId,
    ) -> Result<CommitId, AdapterError>;
    /// Tag `commit`. The tag may be lightweight or annotated, as long as it
    /// resolves to `commit`. A tag that already resolves to `commit` is
    /// success; one that names another commit is a [`ErrorKind::Conflict`]
    /// (tags are never moved). Answers the commit tagged.
    async fn tag(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &CommitId,
        tag: &str,
    ) -> Result<CommitId, AdapterError>;
    /// What a call under `key` produced, if it happened: for a revert, a
    /// pick or a merge the new commit and its parents; for a branch or a tag the
    /// commit named, without parents.
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<Landed>, AdapterError>;
}

/// What the deployer can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeployerCapabilities {
    /// Deploy a release that ran before (roll back).
    pub redeploy_earlier: bool,
    /// Abort a rollout in flight.
    pub abort: bool,
}

/// The deployer: moves releases into environments.
///
/// # Contract
///
/// - [`deploy`](Deployer::deploy) returns once all traffic is on the
///   release; afterwards [`status`](Deployer::status) names it. The driver
///   checks that after every deploy and stops with
///   [`DriveError::Diverged`](crate::driver::DriveError::Diverged) when
///   the deployer serves something else.
/// - [`abort`](Deployer::abort) stops a rollout in flight and returns
///   traffic to what served before it; aborting where nothing is in flight
///   is success.
/// - A key seen before answers the first result without acting;
///   [`outcome`](Deployer::outcome) reports it after a crash.
#[async_trait]
pub trait Deployer: Send + Sync + fmt::Debug + 'static {
    /// What this deployer can do.
    fn capabilities(&self) -> DeployerCapabilities;
    /// Roll `release` out to `environment`, returning once all traffic is
    /// on it.
    async fn deploy(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        release: &Release,
        artifact: &Artifact,
    ) -> Result<(), AdapterError>;
    /// Stop the rollout of `service` in flight in `environment`.
    async fn abort(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<(), AdapterError>;
    /// The release serving `service` in `environment`, if any, as the
    /// deployer sees it (not as the ledger believes).
    async fn status(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<Option<ReleaseId>, AdapterError>;
    /// The release a deploy under `key` rolled out, if it happened.
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError>;
}

/// What the flag store can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FlagStoreCapabilities {
    /// Percentages and segments, not only on and off.
    pub gradual: bool,
}

/// The feature-flag store.
#[async_trait]
pub trait FlagStore: Send + Sync + fmt::Debug + 'static {
    /// What this store can do.
    fn capabilities(&self) -> FlagStoreCapabilities;
    /// A flag's state and revision (revision 0: never set).
    async fn get(
        &self,
        environment: &EnvironmentId,
        flag: &FlagKey,
    ) -> Result<(FlagState, u64), AdapterError>;
    /// Set a flag if its revision is still `expected_revision`
    /// ([`ErrorKind::Conflict`] otherwise); returns the new revision.
    async fn set(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        flag: &FlagKey,
        state: &FlagState,
        expected_revision: u64,
    ) -> Result<u64, AdapterError>;
    /// The revision a set under `key` produced, if it happened.
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<u64>, AdapterError>;
}

/// What a health check saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Health {
    /// Whether the service is healthy.
    pub healthy: bool,
    /// What was measured.
    pub detail: String,
}

impl Health {
    /// A verdict.
    pub fn new(healthy: bool, detail: impl Into<String>) -> Self {
        Self {
            healthy,
            detail: detail.into(),
        }
    }
}

/// The health probe.
#[async_trait]
pub trait HealthProbe: Send + Sync + fmt::Debug + 'static {
    /// Check `service` (running `release`) in `environment`.
    async fn verify(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        release: &ReleaseId,
    ) -> Result<Health, AdapterError>;
}

/// What the builder can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BuilderCapabilities {
    /// Build any commit on demand.
    pub on_demand: bool,
}

/// The CI builder: turns a commit into an artifact, once.
#[async_trait]
pub trait Builder: Send + Sync + fmt::Debug + 'static {
    /// What this builder can do.
    fn capabilities(&self) -> BuilderCapabilities;
    /// Build `commit` of `service`.
    async fn build(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &CommitId,
    ) -> Result<Artifact, AdapterError>;
    /// The artifact a build under `key` produced, if it happened.
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<Artifact>, AdapterError>;
}

/// The durable journal.
#[async_trait]
pub trait JournalStore: Send + Sync + fmt::Debug + 'static {
    /// Append entries if the store holds exactly `expected_len` entries
    /// ([`ErrorKind::Conflict`] otherwise: another writer got there first).
    async fn append(&self, expected_len: u64, entries: &[JournalEntry])
    -> Result<(), AdapterError>;
    /// The entries from `position` on (positions start at 1).
    async fn read_from(&self, position: u64) -> Result<Vec<JournalEntry>, AdapterError>;
    /// At most `max` entries from `position` on: how the driver reads a
    /// long journal, one bounded page at a time. The default reads from
    /// `position` and keeps the first `max`; a store that can bound the
    /// read itself (a database's `LIMIT`) should.
    async fn read_page(
        &self,
        position: u64,
        max: usize,
    ) -> Result<Vec<JournalEntry>, AdapterError> {
        let mut entries = self.read_from(position).await?;
        entries.truncate(max);
        Ok(entries)
    }
    /// Keeps a snapshot of the state at a journal position (see
    /// [`Snapshot`](crate::Snapshot)), as it is: the reader checks it. A
    /// store may let go of older snapshots. The default keeps none and
    /// says so ([`ErrorKind::Rejected`]).
    async fn save_snapshot(&self, snapshot: &StoredSnapshot) -> Result<(), AdapterError> {
        Err(AdapterError::new(
            ErrorKind::Rejected,
            format!(
                "this journal store keeps no snapshots (the one at position {} was not kept): start from the journal, or use a store that keeps them",
                snapshot.position
            ),
        ))
    }
    /// The newest snapshot kept that was taken at a position below
    /// `before` (the newest of all for `None`): the driver asks again with
    /// an older bound when one does not check out. The default keeps none.
    async fn read_snapshot(
        &self,
        before: Option<u64>,
    ) -> Result<Option<StoredSnapshot>, AdapterError> {
        let _ = before;
        Ok(None)
    }
    /// How the stored entries are linked: the driver reads the store with
    /// this chain and links what it appends with it. The unnamed chain
    /// unless the store was set up with another (a named chain makes the
    /// first entry checkable, a keyed one makes the journal tamper-evident
    /// without an external anchor; see [`Chain`](crate::Chain)).
    fn chain(&self) -> crate::journal::Chain {
        crate::journal::Chain::unnamed()
    }
}

/// What [`Leases::acquire`] answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LeaseAnswer {
    /// The caller holds the lease for the time asked, from when it asked.
    /// The token changes whenever the lease changes hands (or lapsed
    /// before its holder renewed it): a holder that sees a new token must
    /// read the journal again before it acts.
    Granted {
        /// The lease's token.
        token: u64,
    },
    /// Another holder holds it.
    Held {
        /// Who.
        holder: String,
        /// For how much longer at most, unless it renews.
        remaining: std::time::Duration,
    },
}

/// Leases between replicas: one holder at a time holds the lease on a
/// scope, until it lets go or the lease expires. The driver takes the
/// lease on `incident/<id>` before it drives an incident, renews it before
/// every step once half of it is gone, stops with
/// [`DriveError::LeaseLost`](crate::DriveError::LeaseLost) when it cannot,
/// and lets go when it stops. It counts the lease's time from *before* it
/// asked, on its own clock, and stops acting a tenth of the lease early,
/// so that it stops before another replica can start. The expiry itself is
/// kept by the lease store (a database computes it on its own clock).
/// Idempotency keys still guard every port call: even if two replicas act
/// at once, each effect happens once.
#[async_trait]
pub trait Leases: Send + Sync + fmt::Debug + 'static {
    /// Takes the lease on `scope` for `holder` for `ttl` if it is free,
    /// expired or already held by `holder` (renewing it), or says who
    /// holds it.
    async fn acquire(
        &self,
        scope: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<LeaseAnswer, AdapterError>;
    /// Lets go of the lease on `scope` if `holder` still holds it with
    /// `token`.
    async fn release(&self, scope: &str, holder: &str, token: u64) -> Result<(), AdapterError>;
}

/// Where the driver gets the time from (the core never reads a clock).
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The host's ports, as the driver uses them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Ports {
    /// Version control.
    pub vcs: Arc<dyn Vcs>,
    /// The deployer.
    pub deployer: Arc<dyn Deployer>,
    /// The flag store, if the host has one (without it, retoggling is not
    /// offered).
    pub flags: Option<Arc<dyn FlagStore>>,
    /// The health probe.
    pub health: Arc<dyn HealthProbe>,
    /// The builder.
    pub builder: Arc<dyn Builder>,
    /// The durable journal.
    pub journal: Arc<dyn JournalStore>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Leases between replicas, if several drive the same journal (see
    /// [`Leases`]); none for a single driver.
    pub leases: Option<Arc<dyn Leases>>,
    /// How long a lease the driver takes lasts (30 s unless set).
    pub lease_ttl: std::time::Duration,
}

/// How long a lease lasts unless set: 30 seconds.
pub const DEFAULT_LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// A port [`PortsBuilder::build`] needs and was not given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the ports lack a {0}: give one with `PortsBuilder::{0}` before `build`")]
pub struct MissingPort(pub &'static str);

/// Builds [`Ports`] with named setters: the VCS, the deployer, the health
/// probe, the builder and the journal store are needed; the flag store is
/// optional (without one, retoggling is not offered) and the clock is
/// [`SystemClock`](crate::SystemClock) unless set.
///
/// ```
/// use std::sync::Arc;
/// use knowngood::memory::*;
/// use knowngood::Ports;
/// let ports = Ports::builder()
///     .vcs(Arc::new(InMemoryVcs::default()))
///     .deployer(Arc::new(InMemoryDeployer::default()))
///     .health(Arc::new(InMemoryHealthProbe::default()))
///     .builder(Arc::new(InMemoryBuilder::new(1, 1, 0)))
///     .journal(Arc::new(InMemoryJournalStore::default()))
///     .build()
///     .unwrap();
/// assert!(!ports.capabilities().flags);
/// let missing = Ports::builder().build().unwrap_err();
/// assert_eq!(missing.to_string(), "the ports lack a vcs: give one with `PortsBuilder::vcs` before `build`");
/// ```
#[derive(Debug, Default, Clone)]
#[must_use]
pub struct PortsBuilder {
    vcs: Option<Arc<dyn Vcs>>,
    deployer: Option<Arc<dyn Deployer>>,
    flags: Option<Arc<dyn FlagStore>>,
    health: Option<Arc<dyn HealthProbe>>,
    builder: Option<Arc<dyn Builder>>,
    journal: Option<Arc<dyn JournalStore>>,
    clock: Option<Arc<dyn Clock>>,
    leases: Option<(Arc<dyn Leases>, std::time::Duration)>,
}

impl PortsBuilder {
    /// Leases between replicas, each taken for `ttl`: another replica
    /// takes over from a holder that died within `ttl` (see [`Leases`]).
    pub fn leases(mut self, leases: Arc<dyn Leases>, ttl: std::time::Duration) -> Self {
        self.leases = Some((leases, ttl));
        self
    }

    /// Version control.
    pub fn vcs(mut self, vcs: Arc<dyn Vcs>) -> Self {
        self.vcs = Some(vcs);
        self
    }

    /// The deployer.
    pub fn deployer(mut self, deployer: Arc<dyn Deployer>) -> Self {
        self.deployer = Some(deployer);
        self
    }

    /// The flag store.
    pub fn flags(mut self, flags: Arc<dyn FlagStore>) -> Self {
        self.flags = Some(flags);
        self
    }

    /// The health probe.
    pub fn health(mut self, health: Arc<dyn HealthProbe>) -> Self {
        self.health = Some(health);
        self
    }

    /// The CI builder.
    pub fn builder(mut self, builder: Arc<dyn Builder>) -> Self {
        self.builder = Some(builder);
        self
    }

    /// The durable journal store.
    pub fn journal(mut self, journal: Arc<dyn JournalStore>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// The clock (default: [`SystemClock`](crate::SystemClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The ports, or the first one missing.
    pub fn build(self) -> Result<Ports, MissingPort> {
        Ok(Ports {
            vcs: self.vcs.ok_or(MissingPort("vcs"))?,
            deployer: self.deployer.ok_or(MissingPort("deployer"))?,
            flags: self.flags,
            health: self.health.ok_or(MissingPort("health"))?,
            builder: self.builder.ok_or(MissingPort("builder"))?,
            journal: self.journal.ok_or(MissingPort("journal"))?,
            clock: self
                .clock
                .unwrap_or_else(|| Arc::new(crate::adapters::SystemClock)),
            lease_ttl: self.leases.as_ref().map_or(DEFAULT_LEASE_TTL, |l| l.1),
            leases: self.leases.map(|l| l.0),
        })
    }
}

impl Ports {
    /// Ports by name ([`PortsBuilder`]).
    pub fn builder() -> PortsBuilder {
        PortsBuilder::default()
    }

    /// Bundles the ports, all of them by position (see [`Ports::builder`]
    /// for named setters).
    pub fn new(
        vcs: Arc<dyn Vcs>,
        deployer: Arc<dyn Deployer>,
        flags: Option<Arc<dyn FlagStore>>,
        health: Arc<dyn HealthProbe>,
        builder: Arc<dyn Builder>,
        journal: Arc<dyn JournalStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            vcs,
            deployer,
            flags,
            health,
            builder,
            journal,
            clock,
            leases: None,
            lease_ttl: DEFAULT_LEASE_TTL,
        }
    }

    /// What the ports together can do, for the planner.
    pub fn capabilities(&self) -> Capabilities {
        let vcs = self.vcs.capabilities();
        Capabilities {
            flags: self.flags.is_some(),
            rollback: self.deployer.capabilities().redeploy_earlier,
            abort: self.deployer.capabilities().abort,
            revert: vcs.revert,
            branches: vcs.branches,
        }
    }
}
