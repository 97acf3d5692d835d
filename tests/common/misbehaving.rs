//! In-memory ports that misbehave the way real systems do, once or always:
//! one wrapper per port, the misbehaviour chosen by a mode.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use knowngood::memory::{InMemoryDeployer, InMemoryJournalStore, InMemoryVcs};
use knowngood::port::{
    AdapterError, Deployer, DeployerCapabilities, ErrorKind, JournalStore, Landed, Vcs,
    VcsCapabilities,
};
use knowngood::recovery::IdempotencyKey;
use knowngood::{
    Artifact, BranchName, CommitId, EnvironmentId, JournalEntry, Release, ReleaseId, ServiceId,
};

/// How a [`MisbehavingDeployer`] misbehaves.
#[derive(Debug, Clone)]
pub enum DeployerFault {
    /// The first deploy times out, after acting or before.
    TimeOutFirst { acted: bool },
    /// The first deploy is refused.
    RefuseFirst,
    /// Status always names this release (someone else deployed it).
    ReportServing(ReleaseId),
    /// Deploys, raises the flag, then never answers: a process that dies
    /// right after acting, before it could record it.
    DiesAfterDeploying(Arc<AtomicBool>),
    /// Something happens before each deploy (the clock moves, another
    /// replica takes a lease).
    BeforeEach(Hook),
    /// Every abort answers Ok and stops nothing.
    AbortDoesNothing,
}

/// What happens before each deploy ([`DeployerFault::BeforeEach`]).
#[derive(Clone)]
pub struct Hook(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

/// An in-memory deployer with a [`DeployerFault`].
#[derive(Debug)]
pub struct MisbehavingDeployer {
    pub inner: Arc<InMemoryDeployer>,
    fault: DeployerFault,
    fired: Mutex<bool>,
}

impl MisbehavingDeployer {
    pub fn new(inner: &Arc<InMemoryDeployer>, fault: DeployerFault) -> Arc<Self> {
        Arc::new(Self {
            inner: inner.clone(),
            fault,
            fired: Mutex::new(false),
        })
    }

    fn first(&self) -> bool {
        !std::mem::replace(&mut *self.fired.lock().unwrap(), true)
    }
}

#[async_trait]
impl Deployer for MisbehavingDeployer {
    fn capabilities(&self) -> DeployerCapabilities {
        self.inner.capabilities()
    }
    async fn deploy(
        &self,
        key: &IdempotencyKey,
        env: &EnvironmentId,
        release: &Release,
        artifact: &Artifact,
    ) -> Result<(), AdapterError> {
        match &self.fault {
            DeployerFault::TimeOutFirst { acted } if self.first() => {
                if *acted {
                    self.inner.deploy(key, env, release, artifact).await?;
                }
                Err(AdapterError::new(
                    ErrorKind::UnknownOutcome,
                    "timed out after 30 s",
                ))
            }
            DeployerFault::RefuseFirst if self.first() => Err(AdapterError::new(
                ErrorKind::Rejected,
                "cluster prod-eu is cordoned",
            )),
            DeployerFault::DiesAfterDeploying(acted) => {
                self.inner.deploy(key, env, release, artifact).await?;
                acted.store(true, Ordering::SeqCst);
                std::future::pending().await
            }
            DeployerFault::BeforeEach(Hook(hook)) => {
                hook();
                self.inner.deploy(key, env, release, artifact).await
            }
            _ => self.inner.deploy(key, env, release, artifact).await,
        }
    }
    async fn deploy_fenced(
        &self,
        key: &IdempotencyKey,
        env: &EnvironmentId,
        release: &Release,
        artifact: &Artifact,
        fence: &knowngood::Fence,
    ) -> Result<(), AdapterError> {
        match &self.fault {
            DeployerFault::BeforeEach(Hook(hook)) => {
                hook();
                self.inner
                    .deploy_fenced(key, env, release, artifact, fence)
                    .await
            }
            _ => self.deploy(key, env, release, artifact).await,
        }
    }
    async fn abort(
        &self,
        key: &IdempotencyKey,
        env: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<(), AdapterError> {
        if matches!(self.fault, DeployerFault::AbortDoesNothing) {
            return Ok(());
        }
        self.inner.abort(key, env, service).await
    }
    async fn status(
        &self,
        env: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<Option<ReleaseId>, AdapterError> {
        match &self.fault {
            DeployerFault::ReportServing(other) => Ok(Some(other.clone())),
            _ => self.inner.status(env, service).await,
        }
    }
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError> {
        self.inner.outcome(key).await
    }
}

/// How a [`MisbehavingVcs`] misbehaves.
#[derive(Debug, Clone)]
pub enum VcsFault {
    /// Reverts land wherever the branch is, ignoring the expected head.
    IgnoreExpectedHead,
    /// Someone pushes this commit to the branch just before the first
    /// revert reaches the repository.
    PushBeforeFirstRevert(CommitId),
    /// Merges squash: one new commit with the target as its only parent,
    /// so the merged branch is not reachable afterwards.
    SquashMerges,
    /// Describes commits, leaving their parents out.
    DescribesWithoutParents,
    /// Does not describe commits at all (the port's default).
    CannotDescribe,
}

/// An in-memory VCS with a [`VcsFault`].
#[derive(Debug)]
pub struct MisbehavingVcs {
    pub inner: Arc<InMemoryVcs>,
    fault: VcsFault,
    fired: Mutex<bool>,
}

impl MisbehavingVcs {
    pub fn new(inner: &Arc<InMemoryVcs>, fault: VcsFault) -> Arc<Self> {
        Arc::new(Self {
            inner: inner.clone(),
            fault,
            fired: Mutex::new(false),
        })
    }
}

#[async_trait]
impl Vcs for MisbehavingVcs {
    fn capabilities(&self) -> VcsCapabilities {
        self.inner.capabilities()
    }
    async fn head(&self, s: &ServiceId, b: &BranchName) -> Result<CommitId, AdapterError> {
        self.inner.head(s, b).await
    }
    async fn commits_between(
        &self,
        s: &ServiceId,
        from: &CommitId,
        to: &CommitId,
    ) -> Result<Vec<CommitId>, AdapterError> {
        self.inner.commits_between(s, from, to).await
    }
    async fn revert(
        &self,
        key: &IdempotencyKey,
        s: &ServiceId,
        commits: &[CommitId],
        onto: &BranchName,
        expected: &CommitId,
    ) -> Result<Landed, AdapterError> {
        match &self.fault {
            VcsFault::IgnoreExpectedHead => {
                let head = self.inner.head(s, onto).await?;
                return self.inner.revert(key, s, commits, onto, &head).await;
            }
            VcsFault::PushBeforeFirstRevert(pushed) => {
                if !std::mem::replace(&mut *self.fired.lock().unwrap(), true) {
                    self.inner.commit(s, onto, pushed);
                }
            }
            VcsFault::SquashMerges
            | VcsFault::DescribesWithoutParents
            | VcsFault::CannotDescribe => {}
        }
        self.inner.revert(key, s, commits, onto, expected).await
    }
    async fn cherry_pick(
        &self,
        key: &IdempotencyKey,
        s: &ServiceId,
        commits: &[CommitId],
        onto: &BranchName,
        expected: &CommitId,
    ) -> Result<Landed, AdapterError> {
        self.inner
            .cherry_pick(key, s, commits, onto, expected)
            .await
    }
    async fn merge(
        &self,
        key: &IdempotencyKey,
        s: &ServiceId,
        from: &CommitId,
        onto: &BranchName,
        expected: &CommitId,
    ) -> Result<Landed, AdapterError> {
        if matches!(self.fault, VcsFault::SquashMerges) {
            let from = std::slice::from_ref(from);
            return self.inner.cherry_pick(key, s, from, onto, expected).await;
        }
        self.inner.merge(key, s, from, onto, expected).await
    }
    async fn create_branch(
        &self,
        key: &IdempotencyKey,
        s: &ServiceId,
        b: &BranchName,
        at: &CommitId,
    ) -> Result<CommitId, AdapterError> {
        self.inner.create_branch(key, s, b, at).await
    }
    async fn tag(
        &self,
        key: &IdempotencyKey,
        s: &ServiceId,
        c: &CommitId,
        tag: &str,
    ) -> Result<CommitId, AdapterError> {
        self.inner.tag(key, s, c, tag).await
    }
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<Landed>, AdapterError> {
        self.inner.outcome(key).await
    }
    async fn describe(
        &self,
        s: &ServiceId,
        commit: &CommitId,
    ) -> Result<knowngood::port::CommitDetails, AdapterError> {
        match self.fault {
            VcsFault::CannotDescribe => Err(AdapterError::new(
                knowngood::ErrorKind::Rejected,
                "this VCS cannot describe commits",
            )),
            VcsFault::DescribesWithoutParents => {
                let mut d = self.inner.describe(s, commit).await?;
                d.parents.clear();
                Ok(d)
            }
            _ => self.inner.describe(s, commit).await,
        }
    }
}

/// What makes a [`FailingJournal`] fail.
#[derive(Debug)]
enum Trigger {
    /// The append after this many more succeed.
    After(AtomicUsize),
    /// The first append for which this says yes, given what is stored and
    /// what is being appended.
    When(fn(&[JournalEntry], &[JournalEntry]) -> bool, Mutex<bool>),
}

/// A journal store that fails one append, storing nothing: the process
/// died there, or the store was briefly down.
#[derive(Debug)]
pub struct FailingJournal {
    inner: Arc<InMemoryJournalStore>,
    trigger: Trigger,
}

impl FailingJournal {
    /// Fails the `n`-th append from now (0: the next one).
    pub fn at(inner: &Arc<InMemoryJournalStore>, n: usize) -> Arc<Self> {
        Arc::new(Self {
            inner: inner.clone(),
            trigger: Trigger::After(AtomicUsize::new(n)),
        })
    }

    /// Fails the first append `when` says yes to.
    pub fn when(
        inner: &Arc<InMemoryJournalStore>,
        when: fn(&[JournalEntry], &[JournalEntry]) -> bool,
    ) -> Arc<Self> {
        Arc::new(Self {
            inner: inner.clone(),
            trigger: Trigger::When(when, Mutex::new(true)),
        })
    }

    fn fires(&self, entries: &[JournalEntry]) -> bool {
        match &self.trigger {
            Trigger::After(left) => left.fetch_sub(1, Ordering::SeqCst) == 0,
            Trigger::When(when, armed) => {
                when(&self.inner.entries(), entries)
                    && std::mem::replace(&mut *armed.lock().unwrap(), false)
            }
        }
    }
}

#[async_trait]
impl JournalStore for FailingJournal {
    async fn append(&self, expected: u64, entries: &[JournalEntry]) -> Result<(), AdapterError> {
        if self.fires(entries) {
            return Err(AdapterError::new(
                ErrorKind::Unavailable,
                "the process died",
            ));
        }
        self.inner.append(expected, entries).await
    }
    async fn read_from(&self, position: u64) -> Result<Vec<JournalEntry>, AdapterError> {
        self.inner.read_from(position).await
    }
}
