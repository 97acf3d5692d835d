//! The conformance suite passes on every in-memory adapter and fails on a
//! deliberately broken one, naming the broken contract.
#![cfg(feature = "testkit")]

mod common;

use async_trait::async_trait;
use common::misbehaving::{MisbehavingVcs, VcsFault};
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe,
    InMemoryJournalStore, InMemoryVcs, block_on,
};
use knowngood::port::{
    AdapterError, Deployer, DeployerCapabilities, FlagStore, FlagStoreCapabilities, JournalStore,
    Vcs,
};
use knowngood::recovery::IdempotencyKey;
use knowngood::testkit::conformance;
use knowngood::{Artifact, EnvironmentId, FlagKey, FlagState, Release, ReleaseId, ServiceId};
use std::sync::Mutex;

#[test]
fn conformance_in_memory_adapters_pass() {
    block_on(conformance::deployer(
        &InMemoryDeployer::default(),
        &"prod".into(),
    ))
    .unwrap();
    block_on(conformance::flag_store(&InMemoryFlagStore::default())).unwrap();
    block_on(conformance::journal_store(&InMemoryJournalStore::default())).unwrap();
    let migrator = knowngood::memory::InMemoryMigrator::default();
    block_on(conformance::migrator(&migrator)).unwrap();
    // Again on the same migrator: a fresh run, and it still conforms.
    block_on(conformance::migrator(&migrator)).unwrap();
    let runbooks = knowngood::memory::InMemoryRunbooks::default();
    let purge = knowngood::Runbook::new("purge-cache", "Purge the cache", true, 30);
    block_on(conformance::runbooks(&runbooks, &purge)).unwrap();
    block_on(conformance::runbooks(&runbooks, &purge)).unwrap();
    // A runbook that fails is a failed check, named.
    let failing = knowngood::memory::InMemoryRunbooks::default().failing("purge-cache");
    let failure = block_on(conformance::runbooks(&failing, &purge)).unwrap_err();
    assert_eq!(failure.check, "run", "{failure}");
    block_on(conformance::builder(
        &InMemoryBuilder::new(1, 1, 0),
        &"payments".into(),
        &"a1".into(),
    ))
    .unwrap();
    let vcs = InMemoryVcs::default();
    vcs.commit(&"payments".into(), &"main".into(), &"a1".into());
    block_on(conformance::vcs(&vcs, &"payments".into(), &"main".into())).unwrap();
    block_on(conformance::health_probe(
        &InMemoryHealthProbe::default(),
        &"prod".into(),
        &"payments".into(),
        &"payments@1.0.0".into(),
    ))
    .unwrap();
}

#[test]
fn conformance_runs_on_ports_with_history_and_runs_again() {
    // A repository with history, a journal with entries, ports used before.
    let vcs = InMemoryVcs::default();
    for c in ["a1", "a2", "a3"] {
        vcs.commit(&"payments".into(), &"main".into(), &c.into());
    }
    let store = InMemoryJournalStore::default();
    let mut ledger = knowngood::Ledger::new();
    for name in ["payments", "search"] {
        ledger
            .execute(
                &knowngood::Command::RegisterService {
                    service: knowngood::Service::new(name),
                },
                chrono::DateTime::UNIX_EPOCH,
            )
            .unwrap();
    }
    block_on(store.append(0, ledger.journal().entries())).unwrap();
    let deployer = InMemoryDeployer::default();
    let flags = InMemoryFlagStore::default();
    let builder = InMemoryBuilder::new(1, 1, 0);
    for _ in 0..2 {
        block_on(conformance::vcs(&vcs, &"payments".into(), &"main".into())).unwrap();
        block_on(conformance::journal_store(&store)).unwrap();
        block_on(conformance::deployer(&deployer, &"prod".into())).unwrap();
        block_on(conformance::flag_store(&flags)).unwrap();
        block_on(conformance::builder(
            &builder,
            &"payments".into(),
            &"a3".into(),
        ))
        .unwrap();
    }
    // The branch under test never moved, and the store is still a journal.
    assert_eq!(
        block_on(vcs.head(&"payments".into(), &"main".into())).unwrap(),
        "a3".into()
    );
    let journal = knowngood::Journal::from_entries(store.entries()).unwrap();
    assert_eq!(journal.len(), 2 + 2 * 3);
    assert!(journal.verify_chain().is_ok());
}

#[test]
fn conformance_catches_a_vcs_that_ignores_the_expected_head() {
    let inner = std::sync::Arc::new(InMemoryVcs::default());
    inner.commit(&"payments".into(), &"main".into(), &"a1".into());
    let vcs = MisbehavingVcs::new(&inner, VcsFault::IgnoreExpectedHead);
    let failure =
        block_on(conformance::vcs(&*vcs, &"payments".into(), &"main".into())).unwrap_err();
    assert_eq!(
        failure.check, "stale-expected-head-is-a-conflict",
        "{failure}"
    );
}

#[test]
fn conformance_catches_a_vcs_that_squashes_merges() {
    let inner = std::sync::Arc::new(InMemoryVcs::default());
    inner.commit(&"payments".into(), &"main".into(), &"a1".into());
    let vcs = MisbehavingVcs::new(&inner, VcsFault::SquashMerges);
    let failure =
        block_on(conformance::vcs(&*vcs, &"payments".into(), &"main".into())).unwrap_err();
    assert_eq!(failure.check, "merge-answers-both-parents", "{failure}");
}

#[test]
fn conformance_checks_describe_when_it_is_offered() {
    let inner = std::sync::Arc::new(InMemoryVcs::default());
    inner.commit(&"payments".into(), &"main".into(), &"a1".into());
    let vcs = MisbehavingVcs::new(&inner, VcsFault::DescribesWithoutParents);
    let failure =
        block_on(conformance::vcs(&*vcs, &"payments".into(), &"main".into())).unwrap_err();
    assert_eq!(
        failure.check, "describe-answers-the-real-parents",
        "{failure}"
    );
    // Negative: a VCS that does not offer it at all passes (it cannot be
    // synced from, and says so).
    let inner = std::sync::Arc::new(InMemoryVcs::default());
    inner.commit(&"payments".into(), &"main".into(), &"a1".into());
    let vcs = MisbehavingVcs::new(&inner, VcsFault::CannotDescribe);
    block_on(conformance::vcs(&*vcs, &"payments".into(), &"main".into())).unwrap();
}

/// Deploys on every call, ignoring the idempotency key.
#[derive(Debug, Default)]
struct ForgetfulDeployer {
    running: Mutex<Option<ReleaseId>>,
}

#[async_trait]
impl Deployer for ForgetfulDeployer {
    fn capabilities(&self) -> DeployerCapabilities {
        DeployerCapabilities::all()
    }
    async fn deploy(
        &self,
        _key: &IdempotencyKey,
        _env: &EnvironmentId,
        release: &Release,
        _a: &Artifact,
    ) -> Result<(), AdapterError> {
        *self.running.lock().unwrap() = Some(release.id.clone());
        Ok(())
    }
    async fn abort(
        &self,
        _key: &IdempotencyKey,
        _env: &EnvironmentId,
        _service: &ServiceId,
    ) -> Result<(), AdapterError> {
        Ok(())
    }
    async fn status(
        &self,
        _env: &EnvironmentId,
        _service: &ServiceId,
    ) -> Result<Option<ReleaseId>, AdapterError> {
        Ok(self.running.lock().unwrap().clone())
    }
    async fn outcome(&self, _key: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError> {
        Ok(self.running.lock().unwrap().clone())
    }
}

#[test]
fn conformance_fails_on_a_deliberately_broken_adapter() {
    let failure = block_on(conformance::deployer(
        &ForgetfulDeployer::default(),
        &"prod".into(),
    ))
    .unwrap_err();
    assert_eq!(failure.check, "replayed-key-does-not-act-again");
    assert!(
        failure
            .to_string()
            .starts_with("deployer breaks `replayed-key-does-not-act-again`"),
        "{failure}"
    );
}

/// Ignores the expected revision: last writer wins.
#[derive(Debug, Default)]
struct CarelessFlags {
    inner: InMemoryFlagStore,
}

#[async_trait]
impl FlagStore for CarelessFlags {
    fn capabilities(&self) -> FlagStoreCapabilities {
        self.inner.capabilities()
    }
    async fn get(
        &self,
        env: &EnvironmentId,
        flag: &FlagKey,
    ) -> Result<(FlagState, u64), AdapterError> {
        self.inner.get(env, flag).await
    }
    async fn set(
        &self,
        key: &IdempotencyKey,
        env: &EnvironmentId,
        flag: &FlagKey,
        state: &FlagState,
        _expected: u64,
    ) -> Result<u64, AdapterError> {
        let (_, current) = self.inner.get(env, flag).await?;
        self.inner.set(key, env, flag, state, current).await
    }
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<u64>, AdapterError> {
        self.inner.outcome(key).await
    }
}

#[test]
fn conformance_catches_a_flag_store_that_ignores_the_expected_revision() {
    let failure = block_on(conformance::flag_store(&CarelessFlags::default())).unwrap_err();
    assert_eq!(failure.check, "stale-revision-is-a-conflict", "{failure}");
}

#[test]
fn conformance_hostile_values_are_refused_by_the_in_memory_vcs_and_caught_when_accepted() {
    let vcs = InMemoryVcs::default();
    vcs.commit(&"payments".into(), &"main".into(), &"a1".into());
    block_on(conformance::vcs_hostile(
        &vcs,
        &"payments".into(),
        &"main".into(),
    ))
    .unwrap();
    // A VCS that creates any branch it is asked for, at any "commit", is
    // caught, naming the property.
    let lax = LaxBranches(InMemoryVcs::default(), false);
    lax.0
        .commit(&"payments".into(), &"main".into(), &"a1".into());
    let err = block_on(conformance::vcs_hostile(
        &lax,
        &"payments".into(),
        &"main".into(),
    ))
    .unwrap_err();
    assert_eq!(err.check, "hostile-id-is-refused", "{err}");
}

/// Creates every branch it is asked for, whatever its name; with `.1`,
/// also takes whatever heads the branch for a revert's result.
#[derive(Debug)]
struct LaxBranches(InMemoryVcs, bool);

#[async_trait]
impl Vcs for LaxBranches {
    fn capabilities(&self) -> knowngood::port::VcsCapabilities {
        self.0.capabilities()
    }
    async fn head(
        &self,
        service: &ServiceId,
        branch: &knowngood::BranchName,
    ) -> Result<knowngood::CommitId, AdapterError> {
        self.0.head(service, branch).await
    }
    async fn commits_between(
        &self,
        service: &ServiceId,
        from: &knowngood::CommitId,
        to: &knowngood::CommitId,
    ) -> Result<Vec<knowngood::CommitId>, AdapterError> {
        self.0.commits_between(service, from, to).await
    }
    async fn revert(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commits: &[knowngood::CommitId],
        onto: &knowngood::BranchName,
        expected: &knowngood::CommitId,
    ) -> Result<knowngood::port::Landed, AdapterError> {
        if self.1 {
            let head = self.0.head(service, onto).await?;
            return Ok(knowngood::port::Landed::new(head, []));
        }
        self.0.revert(key, service, commits, onto, expected).await
    }
    async fn cherry_pick(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commits: &[knowngood::CommitId],
        onto: &knowngood::BranchName,
        expected: &knowngood::CommitId,
    ) -> Result<knowngood::port::Landed, AdapterError> {
        self.0
            .cherry_pick(key, service, commits, onto, expected)
            .await
    }
    async fn merge(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        from: &knowngood::CommitId,
        onto: &knowngood::BranchName,
        expected: &knowngood::CommitId,
    ) -> Result<knowngood::port::Landed, AdapterError> {
        self.0.merge(key, service, from, onto, expected).await
    }
    async fn create_branch(
        &self,
        _key: &IdempotencyKey,
        _service: &ServiceId,
        _branch: &knowngood::BranchName,
        at: &knowngood::CommitId,
    ) -> Result<knowngood::CommitId, AdapterError> {
        Ok(at.clone())
    }
    async fn tag(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &knowngood::CommitId,
        tag: &str,
    ) -> Result<knowngood::CommitId, AdapterError> {
        self.0.tag(key, service, commit, tag).await
    }
    async fn outcome(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<knowngood::port::Landed>, AdapterError> {
        self.0.outcome(key).await
    }
}

/// An outsider's commit on the in-memory VCS: it cannot claim a key (the
/// in-memory VCS keeps its keys to itself), so it only moves the branch.
fn outsider_commit(
    vcs: &InMemoryVcs,
) -> impl Fn(&IdempotencyKey, &knowngood::CommitId) -> Result<knowngood::CommitId, String> + Sync + '_
{
    |_key, head| {
        let theirs = knowngood::CommitId::new(format!("{}0", head.as_str()));
        vcs.commit(&"payments".into(), &"main".into(), &theirs);
        Ok(theirs)
    }
}

#[test]
fn conformance_outsiders_the_in_memory_adapters_are_not_fooled() {
    let (s, main) = ("payments".into(), "main".into());
    let vcs = InMemoryVcs::default();
    vcs.commit(&s, &main, &"a1".into());
    block_on(conformance::vcs_after_a_failure(&vcs, &s, &main)).unwrap();
    block_on(conformance::vcs_spoofed_keys(
        &vcs,
        &s,
        &main,
        &outsider_commit(&vcs),
    ))
    .unwrap();
    // Someone else's write between knowngood's read and its write.
    let flags = InMemoryFlagStore::default();
    let edit = |env: &EnvironmentId, flag: &FlagKey| {
        let (_, at) = block_on(flags.get(env, flag)).map_err(|e| e.to_string())?;
        let theirs = IdempotencyKey::new(format!("someone-else/{flag}"));
        block_on(flags.set(
            &theirs,
            env,
            flag,
            &FlagState::Percentage { percent: 30 },
            at,
        ))
        .map(drop)
        .map_err(|e| e.to_string())
    };
    block_on(conformance::flag_store_foreign_edit(&flags, &edit)).unwrap();
    // Twice on the same store: each run has a namespace of its own.
    block_on(conformance::flag_store_foreign_edit(&flags, &edit)).unwrap();
    block_on(conformance::vcs_after_a_failure(&vcs, &s, &main)).unwrap();
}

#[test]
fn conformance_outsiders_catch_an_adapter_that_is_fooled() {
    let (s, main) = ("payments".into(), "main".into());
    // Takes whatever heads the branch for its revert.
    let gullible = LaxBranches(InMemoryVcs::default(), true);
    gullible.0.commit(&s, &main, &"a1".into());
    let err = block_on(conformance::vcs_spoofed_keys(
        &gullible,
        &s,
        &main,
        &outsider_commit(&gullible.0),
    ))
    .unwrap_err();
    assert_eq!(err.check, "spoofed-keyed-commit-is-not-adopted", "{err}");
    let err = block_on(conformance::vcs_after_a_failure(&gullible, &s, &main)).unwrap_err();
    assert_eq!(err.check, "a-failed-operation-moves-nothing", "{err}");
    // Writes at whatever revision the flag is now: an edit is lost.
    let careless = CarelessFlags::default();
    let edit = |env: &EnvironmentId, flag: &FlagKey| {
        let theirs = IdempotencyKey::new(format!("someone-else/{flag}"));
        block_on(careless.set(
            &theirs,
            env,
            flag,
            &FlagState::Percentage { percent: 30 },
            0,
        ))
        .map(drop)
        .map_err(|e| e.to_string())
    };
    let err = block_on(conformance::flag_store_foreign_edit(&careless, &edit)).unwrap_err();
    assert_eq!(err.check, "foreign-edit-is-a-conflict", "{err}");
}

#[cfg(unix)]
#[test]
fn conformance_outsiders_catch_a_writer_that_follows_a_planted_symlink() {
    let dir = std::env::temp_dir().join(format!("kg-planted-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Writes its state file in place, through whatever is at the name.
    let naive = |n: u64| {
        let state = dir.join("state.json");
        async move { std::fs::write(state, format!("{{\"n\": {n}}}")).unwrap() }
    };
    let err = block_on(conformance::planted_symlinks("naive writer", &dir, naive)).unwrap_err();
    assert_eq!(err.check, "planted-symlink-is-not-followed", "{err}");
    assert!(err.detail.contains("state.json"), "{err}");
    // One that writes nothing cannot be judged, and says so.
    let idle = |_: u64| async {};
    let err = block_on(conformance::planted_symlinks(
        "idle",
        &dir.join("none"),
        idle,
    ))
    .unwrap_err();
    assert_eq!(err.check, "planted-symlinks-need-files", "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A migrator that forgets its keys: every call moves data again.
#[derive(Debug, Default)]
struct ForgetfulMigrator {
    inner: knowngood::memory::InMemoryMigrator,
    calls: Mutex<u64>,
}

#[knowngood::async_trait::async_trait]
impl knowngood::port::Migrator for ForgetfulMigrator {
    fn capabilities(&self) -> knowngood::port::MigratorCapabilities {
        self.inner.capabilities()
    }
    async fn apply(
        &self,
        key: &IdempotencyKey,
        env: &knowngood::EnvironmentId,
        service: &knowngood::ServiceId,
        migration: &knowngood::Migration,
    ) -> Result<(), AdapterError> {
        self.inner.apply(key, env, service, migration).await
    }
    async fn migrate_batch(
        &self,
        _key: &IdempotencyKey,
        env: &knowngood::EnvironmentId,
        service: &knowngood::ServiceId,
        migration: &knowngood::Migration,
        after: (Option<&str>, u64),
    ) -> Result<knowngood::port::Batch, AdapterError> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            *calls
        };
        let key = IdempotencyKey::new(format!("forgetful-{n}"));
        self.inner
            .migrate_batch(&key, env, service, migration, after)
            .await
    }
    async fn outcome(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<knowngood::port::MigrationOutcome>, AdapterError> {
        self.inner.outcome(key).await
    }
}

#[test]
fn conformance_catches_a_migrator_that_moves_a_batch_again_under_its_key() {
    let failure = block_on(conformance::migrator(&ForgetfulMigrator::default())).unwrap_err();
    assert_eq!(
        failure.check, "replayed-batch-returns-first-result",
        "{failure}"
    );
}
