//! In-memory reference adapters for every port, a manual clock, and a
//! minimal executor — for examples, tests and drills. They keep their
//! state behind a mutex, honour idempotency keys (a repeated key returns
//! the first result without acting again) and count how often they really
//! acted under each key, so tests can prove that nothing ran twice.
//!
//! ```
//! use knowngood::memory::{block_on, InMemoryFlagStore};
//! use knowngood::port::FlagStore;
//! use knowngood::recovery::IdempotencyKey;
//! use knowngood::FlagState;
//! let flags = InMemoryFlagStore::default();
//! let key = IdempotencyKey::new("k1");
//! let rev = block_on(flags.set(&key, &"prod".into(), &"f".into(), &FlagState::On, 0)).unwrap();
//! // The same key again: same answer, no second write.
//! assert_eq!(block_on(flags.set(&key, &"prod".into(), &"f".into(), &FlagState::On, 0)).unwrap(), rev);
//! assert_eq!(flags.executions(&key), 1);
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::journal::{Chain, JournalEntry, StoredSnapshot};
use crate::model::{
    Artifact, BranchName, CommitId, Digest, EnvironmentId, FlagKey, FlagState, Release, ReleaseId,
    ServiceId,
};
use crate::port::{
    AdapterError, Builder, BuilderCapabilities, Clock, Deployer, DeployerCapabilities, ErrorKind,
    FlagStore, FlagStoreCapabilities, Health, HealthProbe, JournalStore, Landed, LeaseAnswer,
    Leases, Vcs, VcsCapabilities,
};
use crate::recovery::IdempotencyKey;

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on the current thread: the smallest
/// executor there is, enough for the in-memory ports (and any port whose
/// futures wake their waker).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another test thread must not hide this adapter's state.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Results by key and how often each key really acted.
#[derive(Debug)]
struct Ledgered<T> {
    results: BTreeMap<IdempotencyKey, T>,
    acted: BTreeMap<IdempotencyKey, usize>,
}

impl<T> Default for Ledgered<T> {
    fn default() -> Self {
        Self {
            results: BTreeMap::new(),
            acted: BTreeMap::new(),
        }
    }
}

impl<T: Clone> Ledgered<T> {
    fn seen(&self, key: &IdempotencyKey) -> Option<T> {
        self.results.get(key).cloned()
    }

    fn note(&mut self, key: &IdempotencyKey, result: T) -> T {
        let count = self.acted.entry(key.clone()).or_default();
        *count = count.saturating_add(1);
        self.results.insert(key.clone(), result.clone());
        result
    }

    fn executions(&self, key: &IdempotencyKey) -> usize {
        self.acted.get(key).copied().unwrap_or(0)
    }
}

/// A clock that moves only when told, or by a fixed tick every time it is
/// read (time passes between every command, deterministically).
///
/// The clock never wraps: past the last time `chrono` can represent it
/// stays there, and [`ManualClock::overflowed`] says so (a drill whose
/// clock overflowed fails).
#[derive(Debug)]
pub struct ManualClock {
    seconds: AtomicI64,
    tick: i64,
    overflowed: std::sync::atomic::AtomicBool,
}

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn at(at: DateTime<Utc>) -> Self {
        Self::ticking(at, Duration::zero())
    }

    /// A clock at `at` that moves forward by `tick` every time it is read.
    ///
    /// ```
    /// use chrono::{Duration, TimeZone, Utc};
    /// use knowngood::memory::ManualClock;
    /// use knowngood::port::Clock;
    /// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let clock = ManualClock::ticking(t0, Duration::seconds(5));
    /// assert_eq!(clock.now(), t0);
    /// assert_eq!(clock.now(), t0 + Duration::seconds(5));
    /// ```
    pub fn ticking(at: DateTime<Utc>, tick: Duration) -> Self {
        Self {
            seconds: AtomicI64::new(at.timestamp()),
            tick: tick.num_seconds().max(0),
            overflowed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Moves the clock forward (never backward: a negative `by` is
    /// ignored).
    pub fn advance(&self, by: Duration) {
        self.forward(by.num_seconds());
    }

    /// Whether the clock was asked to go past the last time `chrono` can
    /// represent (it stays there).
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::SeqCst)
    }

    /// Moves forward by `seconds`, saturating; returns the time before.
    fn forward(&self, seconds: i64) -> i64 {
        let step = seconds.max(0);
        let mut before = self.seconds.load(Ordering::SeqCst);
        loop {
            let after = before.saturating_add(step);
            match self
                .seconds
                .compare_exchange(before, after, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return before,
                Err(actual) => before = actual,
            }
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let at = self.forward(self.tick);
        DateTime::from_timestamp(at, 0).unwrap_or_else(|| {
            self.overflowed.store(true, Ordering::SeqCst);
            DateTime::<Utc>::MAX_UTC
        })
    }
}

#[derive(Debug, Default)]
struct Repo {
    parents: BTreeMap<CommitId, Vec<CommitId>>,
    branches: BTreeMap<BranchName, CommitId>,
    tags: BTreeMap<String, CommitId>,
}

#[derive(Debug, Default)]
struct VcsInner {
    repos: BTreeMap<ServiceId, Repo>,
    calls: Ledgered<Landed>,
    conflicts: Vec<CommitId>,
    made: u64,
}

/// Version control in memory: one repository per service.
#[derive(Debug, Default)]
pub struct InMemoryVcs {
    inner: Mutex<VcsInner>,
}

impl InMemoryVcs {
    /// Records a commit on `branch` of `service`'s repository (moving the
    /// branch to it), as a developer merging would.
    pub fn commit(&self, service: &ServiceId, branch: &BranchName, commit: &CommitId) {
        let mut inner = lock(&self.inner);
        let repo = inner.repos.entry(service.clone()).or_default();
        let parents = repo.branches.get(branch).cloned().into_iter().collect();
        repo.parents.insert(commit.clone(), parents);
        repo.branches.insert(branch.clone(), commit.clone());
    }

    /// Makes any revert touching `commit` a conflict.
    pub fn conflict_on(&self, commit: &CommitId) {
        lock(&self.inner).conflicts.push(commit.clone());
    }

    /// How often the VCS really acted under `key`.
    pub fn executions(&self, key: &IdempotencyKey) -> usize {
        lock(&self.inner).calls.executions(key)
    }

    /// Every key it acted under, with counts.
    pub fn all_executions(&self) -> BTreeMap<IdempotencyKey, usize> {
        lock(&self.inner).calls.acted.clone()
    }

    /// The commit a tag points at.
    pub fn tagged(&self, service: &ServiceId, tag: &str) -> Option<CommitId> {
        lock(&self.inner).repos.get(service)?.tags.get(tag).cloned()
    }

    /// One new commit on `onto` made from `commits` (a revert, a pick or a
    /// merge), once per key, only if `onto` is still at `expected`; a
    /// commit marked as conflicting refuses to apply. A merge's second
    /// parent is the commit merged.
    fn new_commit_once(
        &self,
        key: &IdempotencyKey,
        (service, commits): (&ServiceId, &[CommitId]),
        (onto, expected): (&BranchName, &CommitId),
        made: Made,
    ) -> Result<Landed, AdapterError> {
        let mut inner = lock(&self.inner);
        if let Some(done) = inner.calls.seen(key) {
            return Ok(done);
        }
        let head = inner
            .repos
            .get(service)
            .and_then(|r| r.branches.get(onto))
            .cloned()
            .ok_or_else(|| {
                AdapterError::new(
                    ErrorKind::NotFound,
                    format!("no branch `{onto}` in `{service}`"),
                )
            })?;
        if head != *expected {
            return Err(AdapterError::new(
                ErrorKind::Conflict,
                format!("`{onto}` is at `{head}`, not at `{expected}` as expected"),
            ));
        }
        if let Some(c) = commits.iter().find(|c| inner.conflicts.contains(c)) {
            let what = match made {
                Made::Revert => "reverting ",
                Made::Pick => "",
                Made::Merge => "merging ",
            };
            return Err(AdapterError::new(
                ErrorKind::Conflict,
                format!("{what}`{c}` does not apply cleanly"),
            ));
        }
        let label = match made {
            Made::Revert => "rv",
            Made::Pick => "cp",
            Made::Merge => "mg",
        };
        inner.made = inner.made.saturating_add(1);
        let id = CommitId::new(format!("{label}{:04}", inner.made));
        let mut parents = vec![head];
        if made == Made::Merge {
            parents.extend(commits.iter().cloned());
        }
        let repo = inner.repos.entry(service.clone()).or_default();
        repo.parents.insert(id.clone(), parents.clone());
        repo.branches.insert(onto.clone(), id.clone());
        Ok(inner.calls.note(key, Landed::new(id, parents)))
    }
}

/// What kind of commit [`InMemoryVcs`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Made {
    Revert,
    Pick,
    Merge,
}

#[async_trait]
impl Vcs for InMemoryVcs {
    fn capabilities(&self) -> VcsCapabilities {
        VcsCapabilities::all()
    }

    async fn head(
        &self,
        service: &ServiceId,
        branch: &BranchName,
    ) -> Result<CommitId, AdapterError> {
        lock(&self.inner)
            .repos
            .get(service)
            .and_then(|r| r.branches.get(branch).cloned())
            .ok_or_else(|| {
                AdapterError::new(
                    ErrorKind::NotFound,
                    format!("no branch `{branch}` in `{service}`"),
                )
            })
    }

    async fn commits_between(
        &self,
        service: &ServiceId,
        from: &CommitId,
        to: &CommitId,
    ) -> Result<Vec<CommitId>, AdapterError> {
        let inner = lock(&self.inner);
        let Some(repo) = inner.repos.get(service) else {
            return Err(AdapterError::new(
                ErrorKind::NotFound,
                format!("no repository for `{service}`"),
            ));
        };
        for c in [from, to] {
            if !repo.parents.contains_key(c) {
                return Err(AdapterError::new(
                    ErrorKind::NotFound,
                    format!("no commit `{c}` in `{service}`"),
                ));
            }
        }
        let reachable = |start: &CommitId| {
            let mut seen = std::collections::BTreeSet::new();
            let mut stack = vec![start.clone()];
            while let Some(c) = stack.pop() {
                if seen.insert(c.clone()) {
                    stack.extend(repo.parents.get(&c).cloned().unwrap_or_default());
                }
            }
            seen
        };
        let have = reachable(from);
        // Oldest first: walk parents before children from `to`.
        let mut order = Vec::new();
        let mut done = std::collections::BTreeSet::new();
        let mut stack = vec![(to.clone(), false)];
        while let Some((c, expanded)) = stack.pop() {
            if have.contains(&c) || done.contains(&c) {
                continue;
            }
            if expanded {
                done.insert(c.clone());
                order.push(c);
            } else {
                stack.push((c.clone(), true));
                for p in repo.parents.get(&c).into_iter().flatten().rev() {
                    stack.push((p.clone(), false));
                }
            }
        }
        Ok(order)
    }

    async fn revert(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commits: &[CommitId],
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError> {
        self.new_commit_once(key, (service, commits), (onto, expected_head), Made::Revert)
    }

    async fn create_branch(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        branch: &BranchName,
        at: &CommitId,
    ) -> Result<CommitId, AdapterError> {
        let mut inner = lock(&self.inner);
        if let Some(done) = inner.calls.seen(key) {
            return Ok(done.commit);
        }
        let repo = inner.repos.entry(service.clone()).or_default();
        if !repo.parents.contains_key(at) {
            return Err(AdapterError::new(
                ErrorKind::NotFound,
                format!("no commit `{at}` in `{service}`"),
            ));
        }
        match repo.branches.get(branch) {
            Some(existing) if existing != at => {
                return Err(AdapterError::new(
                    ErrorKind::Conflict,
                    format!("branch `{branch}` already exists at `{existing}`"),
                ));
            }
            _ => {}
        }
        repo.branches.insert(branch.clone(), at.clone());
        Ok(inner.calls.note(key, Landed::named(at.clone())).commit)
    }

    async fn tag(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &CommitId,
        tag: &str,
    ) -> Result<CommitId, AdapterError> {
        let mut inner = lock(&self.inner);
        if let Some(done) = inner.calls.seen(key) {
            return Ok(done.commit);
        }
        let repo = inner.repos.entry(service.clone()).or_default();
        if repo.tags.get(tag).is_some_and(|c| c != commit) {
            return Err(AdapterError::new(
                ErrorKind::Conflict,
                format!("tag `{tag}` already names another commit"),
            ));
        }
        repo.tags.insert(tag.to_owned(), commit.clone());
        Ok(inner.calls.note(key, Landed::named(commit.clone())).commit)
    }

    async fn cherry_pick(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commits: &[CommitId],
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError> {
        self.new_commit_once(key, (service, commits), (onto, expected_head), Made::Pick)
    }

    async fn merge(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        from: &CommitId,
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError> {
        let known = lock(&self.inner)
            .repos
            .get(service)
            .is_some_and(|r| r.parents.contains_key(from));
        if !known {
            return Err(AdapterError::new(
                ErrorKind::NotFound,
                format!("no commit `{from}` in `{service}` to merge"),
            ));
        }
        self.new_commit_once(
            key,
            (service, std::slice::from_ref(from)),
            (onto, expected_head),
            Made::Merge,
        )
    }

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<Landed>, AdapterError> {
        Ok(lock(&self.inner).calls.seen(key))
    }
}

#[derive(Debug, Default)]
struct DeployerInner {
    running: BTreeMap<(EnvironmentId, ServiceId), ReleaseId>,
    history: BTreeMap<(EnvironmentId, ServiceId), Vec<ReleaseId>>,
    calls: Ledgered<ReleaseId>,
}

/// A deployer in memory: a rollout completes at once.
#[derive(Debug, Default)]
pub struct InMemoryDeployer {
    inner: Mutex<DeployerInner>,
}

impl InMemoryDeployer {
    /// How often the deployer really acted under `key`.
    pub fn executions(&self, key: &IdempotencyKey) -> usize {
        lock(&self.inner).calls.executions(key)
    }

    /// Every key it acted under, with counts.
    pub fn all_executions(&self) -> BTreeMap<IdempotencyKey, usize> {
        lock(&self.inner).calls.acted.clone()
    }
}

#[async_trait]
impl Deployer for InMemoryDeployer {
    fn capabilities(&self) -> DeployerCapabilities {
        DeployerCapabilities::all()
    }

    async fn deploy(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        release: &Release,
        _artifact: &Artifact,
    ) -> Result<(), AdapterError> {
        let mut inner = lock(&self.inner);
        if inner.calls.seen(key).is_some() {
            return Ok(());
        }
        let at = (environment.clone(), release.service.clone());
        inner.running.insert(at.clone(), release.id.clone());
        inner
            .history
            .entry(at)
            .or_default()
            .push(release.id.clone());
        inner.calls.note(key, release.id.clone());
        Ok(())
    }

    async fn abort(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<(), AdapterError> {
        let mut inner = lock(&self.inner);
        if inner.calls.seen(key).is_some() {
            return Ok(());
        }
        // A rollout here completes at once, so stopping it means returning
        // traffic to the release before it.
        let at = (environment.clone(), service.clone());
        let before = inner.history.get(&at).and_then(|h| {
            let n = h.len();
            n.checked_sub(2).and_then(|i| h.get(i)).cloned()
        });
        if let Some(before) = before {
            inner.running.insert(at.clone(), before.clone());
            inner.history.entry(at).or_default().push(before);
        }
        inner
            .calls
            .note(key, ReleaseId::new(format!("aborted:{service}")));
        Ok(())
    }

    async fn status(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<Option<ReleaseId>, AdapterError> {
        Ok(lock(&self.inner)
            .running
            .get(&(environment.clone(), service.clone()))
            .cloned())
    }

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError> {
        Ok(lock(&self.inner).calls.seen(key))
    }
}

#[derive(Debug, Default)]
struct FlagsInner {
    flags: BTreeMap<(EnvironmentId, FlagKey), (FlagState, u64)>,
    calls: Ledgered<u64>,
}

/// A flag store in memory, with revisions.
#[derive(Debug, Default)]
pub struct InMemoryFlagStore {
    inner: Mutex<FlagsInner>,
}

impl InMemoryFlagStore {
    /// How often the store really wrote under `key`.
    pub fn executions(&self, key: &IdempotencyKey) -> usize {
        lock(&self.inner).calls.executions(key)
    }

    /// Every key it acted under, with counts.
    pub fn all_executions(&self) -> BTreeMap<IdempotencyKey, usize> {
        lock(&self.inner).calls.acted.clone()
    }
}

#[async_trait]
impl FlagStore for InMemoryFlagStore {
    fn capabilities(&self) -> FlagStoreCapabilities {
        FlagStoreCapabilities { gradual: true }
    }

    async fn get(
        &self,
        environment: &EnvironmentId,
        flag: &FlagKey,
    ) -> Result<(FlagState, u64), AdapterError> {
        Ok(lock(&self.inner)
            .flags
            .get(&(environment.clone(), flag.clone()))
            .cloned()
            .unwrap_or((FlagState::Off, 0)))
    }

    async fn set(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        flag: &FlagKey,
        state: &FlagState,
        expected_revision: u64,
    ) -> Result<u64, AdapterError> {
        let mut inner = lock(&self.inner);
        if let Some(done) = inner.calls.seen(key) {
            return Ok(done);
        }
        let slot = (environment.clone(), flag.clone());
        let current = inner.flags.get(&slot).map_or(0, |(_, r)| *r);
        if current != expected_revision {
            return Err(AdapterError::new(
                ErrorKind::Conflict,
                format!("flag `{flag}` is at revision {current}, not {expected_revision}"),
            ));
        }
        inner
            .flags
            .insert(slot, (state.clone(), current.saturating_add(1)));
        Ok(inner.calls.note(key, current.saturating_add(1)))
    }

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<u64>, AdapterError> {
        Ok(lock(&self.inner).calls.seen(key))
    }
}

/// A health probe in memory: healthy unless told otherwise per release.
#[derive(Debug, Default)]
pub struct InMemoryHealthProbe {
    verdicts: Mutex<BTreeMap<(EnvironmentId, ReleaseId), Health>>,
}

impl InMemoryHealthProbe {
    /// What the probe will say about `release` in `environment`.
    pub fn set(&self, environment: &EnvironmentId, release: &ReleaseId, health: Health) {
        lock(&self.verdicts).insert((environment.clone(), release.clone()), health);
    }
}

#[async_trait]
impl HealthProbe for InMemoryHealthProbe {
    async fn verify(
        &self,
        environment: &EnvironmentId,
        _service: &ServiceId,
        release: &ReleaseId,
    ) -> Result<Health, AdapterError> {
        Ok(lock(&self.verdicts)
            .get(&(environment.clone(), release.clone()))
            .cloned()
            .unwrap_or_else(|| Health::new(true, "error rate 0.1%, p99 180 ms")))
    }
}

#[derive(Debug, Default)]
struct BuilderInner {
    calls: Ledgered<Artifact>,
    builds: u64,
}

/// A builder in memory: build numbers count up from `first_build`, the
/// version's patch number follows the build number, the digest is derived
/// from service and commit.
#[derive(Debug, Default)]
pub struct InMemoryBuilder {
    inner: Mutex<BuilderInner>,
    first_build: u64,
    version: (u64, u64),
}

impl InMemoryBuilder {
    /// Builds numbered from `first_build`, versioned `major.minor.<build>`.
    pub fn new(first_build: u64, major: u64, minor: u64) -> Self {
        Self {
            inner: Mutex::default(),
            first_build,
            version: (major, minor),
        }
    }

    /// How often the builder really built under `key`.
    pub fn executions(&self, key: &IdempotencyKey) -> usize {
        lock(&self.inner).calls.executions(key)
    }

    /// Every key it acted under, with counts.
    pub fn all_executions(&self) -> BTreeMap<IdempotencyKey, usize> {
        lock(&self.inner).calls.acted.clone()
    }
}

#[async_trait]
impl Builder for InMemoryBuilder {
    fn capabilities(&self) -> BuilderCapabilities {
        BuilderCapabilities { on_demand: true }
    }

    async fn build(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &CommitId,
    ) -> Result<Artifact, AdapterError> {
        let mut inner = lock(&self.inner);
        if let Some(done) = inner.calls.seen(key) {
            return Ok(done);
        }
        let build = self.first_build + inner.builds;
        inner.builds = inner.builds.saturating_add(1);
        let hash = format!("{service}/{commit}")
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
        let digest = Digest::parse(&format!("sha256:{hash:016x}{build:08x}"))
            .map_err(|e| AdapterError::new(ErrorKind::Rejected, e.to_string()))?;
        let artifact = Artifact::new(
            service.clone(),
            digest,
            semver::Version::new(self.version.0, self.version.1, build),
            build,
            commit.clone(),
        )
        .built_by("in-memory-ci");
        Ok(inner.calls.note(key, artifact))
    }

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<Artifact>, AdapterError> {
        Ok(lock(&self.inner).calls.seen(key))
    }
}

/// Leases in memory, timed by a [`Clock`] (a [`ManualClock`] in tests and
/// drills): for replicas that share one process.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use knowngood::memory::{InMemoryLeases, ManualClock, block_on};
/// use knowngood::{LeaseAnswer, Leases};
/// # use chrono::{TimeZone, Utc};
/// let clock = Arc::new(ManualClock::at(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
/// let leases = InMemoryLeases::new(clock.clone());
/// let ttl = Duration::from_secs(30);
/// assert_eq!(block_on(leases.acquire("incident/INC-1", "a", ttl)).unwrap(), LeaseAnswer::Granted { token: 1 });
/// assert!(matches!(block_on(leases.acquire("incident/INC-1", "b", ttl)).unwrap(), LeaseAnswer::Held { .. }));
/// clock.advance(chrono::Duration::seconds(31));
/// // Expired: another holder takes it, under a new token.
/// assert_eq!(block_on(leases.acquire("incident/INC-1", "b", ttl)).unwrap(), LeaseAnswer::Granted { token: 2 });
/// ```
#[derive(Debug)]
pub struct InMemoryLeases {
    clock: Arc<dyn Clock>,
    /// Per scope: the holder, the token and when it expires.
    held: Mutex<BTreeMap<String, HeldBy>>,
}

type HeldBy = (String, u64, DateTime<Utc>);

impl InMemoryLeases {
    /// Leases timed by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            held: Mutex::default(),
        }
    }
}

#[async_trait]
impl Leases for InMemoryLeases {
    async fn acquire(
        &self,
        scope: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<LeaseAnswer, AdapterError> {
        let now = self.clock.now();
        let expires = now
            .checked_add_signed(Duration::from_std(ttl).unwrap_or(Duration::MAX))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut held = lock(&self.held);
        let token = match held.get(scope) {
            Some((who, _, until)) if who != holder && *until > now => {
                return Ok(LeaseAnswer::Held {
                    holder: who.clone(),
                    remaining: until
                        .signed_duration_since(now)
                        .to_std()
                        .unwrap_or_default(),
                });
            }
            Some((who, token, until)) if who == holder && *until > now => *token,
            Some((_, token, _)) => token.saturating_add(1),
            None => 1,
        };
        held.insert(scope.to_owned(), (holder.to_owned(), token, expires));
        Ok(LeaseAnswer::Granted { token })
    }

    async fn release(&self, scope: &str, holder: &str, token: u64) -> Result<(), AdapterError> {
        // Expired in place, not forgotten: tokens never repeat.
        let now = self.clock.now();
        if let Some((who, t, until)) = lock(&self.held).get_mut(scope)
            && who == holder
            && *t == token
        {
            *until = now;
        }
        Ok(())
    }
}

/// A journal store in memory.
#[derive(Debug, Default)]
pub struct InMemoryJournalStore {
    entries: Mutex<Vec<JournalEntry>>,
    snapshots: Mutex<BTreeMap<u64, StoredSnapshot>>,
    chain: Chain,
}

impl InMemoryJournalStore {
    /// An empty store whose entries are linked by `chain`.
    pub fn with_chain(chain: Chain) -> Self {
        Self {
            chain,
            ..Self::default()
        }
    }

    /// Every snapshot kept, oldest first (it keeps them all).
    pub fn snapshots(&self) -> Vec<StoredSnapshot> {
        lock(&self.snapshots).values().cloned().collect()
    }

    /// Every stored entry.
    pub fn entries(&self) -> Vec<JournalEntry> {
        lock(&self.entries).clone()
    }
}

#[async_trait]
impl JournalStore for InMemoryJournalStore {
    async fn append(
        &self,
        expected_len: u64,
        entries: &[JournalEntry],
    ) -> Result<(), AdapterError> {
        let mut stored = lock(&self.entries);
        if stored.len() as u64 != expected_len {
            return Err(AdapterError::new(
                ErrorKind::Conflict,
                format!(
                    "the journal holds {} entries, not {expected_len}",
                    stored.len()
                ),
            ));
        }
        stored.extend_from_slice(entries);
        Ok(())
    }

    async fn read_from(&self, position: u64) -> Result<Vec<JournalEntry>, AdapterError> {
        let start = usize::try_from(position.saturating_sub(1)).unwrap_or(usize::MAX);
        Ok(lock(&self.entries)
            .get(start..)
            .map(<[JournalEntry]>::to_vec)
            .unwrap_or_default())
    }

    async fn read_page(
        &self,
        position: u64,
        max: usize,
    ) -> Result<Vec<JournalEntry>, AdapterError> {
        let start = usize::try_from(position.saturating_sub(1)).unwrap_or(usize::MAX);
        Ok(lock(&self.entries)
            .iter()
            .skip(start)
            .take(max)
            .cloned()
            .collect())
    }

    async fn save_snapshot(&self, snapshot: &StoredSnapshot) -> Result<(), AdapterError> {
        lock(&self.snapshots).insert(snapshot.position, snapshot.clone());
        Ok(())
    }

    async fn read_snapshot(
        &self,
        before: Option<u64>,
    ) -> Result<Option<StoredSnapshot>, AdapterError> {
        Ok(lock(&self.snapshots)
            .range(..before.unwrap_or(u64::MAX))
            .next_back()
            .map(|(_, snapshot)| snapshot.clone()))
    }

    fn chain(&self) -> Chain {
        self.chain.clone()
    }
}

/// The in-memory flag store's old name.
#[deprecated(
    since = "0.1.0",
    note = "renamed to `InMemoryFlagStore`, after its trait"
)]
pub type InMemoryFlags = InMemoryFlagStore;

/// The in-memory health probe's old name.
#[deprecated(
    since = "0.1.0",
    note = "renamed to `InMemoryHealthProbe`, after its trait"
)]
pub type InMemoryHealth = InMemoryHealthProbe;

/// The in-memory journal store's old name.
#[deprecated(
    since = "0.1.0",
    note = "renamed to `InMemoryJournalStore`, after its trait"
)]
pub type InMemoryJournal = InMemoryJournalStore;
