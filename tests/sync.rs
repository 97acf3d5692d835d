//! Sync from the VCS: what landed on a branch is read and recorded
//! (commits, changes, reverts by git's own convention), once, and what
//! cannot be read as asked is said, never guessed.

mod common;

use std::sync::Arc;

use common::{SERVICE, World};
use knowngood::memory::{InMemoryJournalStore, InMemoryVcs, ManualClock, block_on};
use knowngood::{BranchName, DriveError, Driver, Synced};

const MAIN: &str = "main";

/// The ledger knows `a1` (PR-1) on main; the repository has gone on.
fn ledger_at_a1() -> (World, Arc<InMemoryJournalStore>) {
    let mut w = World::new();
    w.merge("PR-1", "a1", None);
    let store = w.stored();
    (w, store)
}

fn repository(extra: &[(&str, &str)]) -> Arc<InMemoryVcs> {
    let vcs = Arc::new(InMemoryVcs::default());
    let at = common::t(30);
    vcs.commit_with(
        &SERVICE.into(),
        &MAIN.into(),
        &"a1".into(),
        ("Bob <bob@example.com>", at),
        "PR-1\n",
    );
    for (commit, message) in extra {
        vcs.commit_with(
            &SERVICE.into(),
            &MAIN.into(),
            &(*commit).into(),
            ("Alice <alice@example.com>", at),
            message,
        );
    }
    vcs
}

fn driver_on(store: Arc<dyn knowngood::JournalStore>, vcs: Arc<InMemoryVcs>, w: &World) -> Driver {
    let mut ports = common::ports_on(store);
    ports.vcs = vcs;
    ports.clock = Arc::new(ManualClock::at(common::t(w.clock + 1)));
    block_on(Driver::resume(ports, "knowngood-driver")).unwrap()
}

fn sync(driver: &mut Driver) -> Result<Synced, DriveError> {
    block_on(driver.sync(&SERVICE.into(), &BranchName::new(MAIN)))
}

fn landed() -> Vec<(&'static str, &'static str)> {
    vec![
        ("b2", "Add one-click checkout\n\nChange-Id: PR-2\n"),
        (
            "c3",
            "Revert \"Add one-click checkout\"\n\nThis reverts commit b2.\n\nChange-Id: PR-3\n",
        ),
        ("d4", "Tidy the cart page\n"),
    ]
}

#[test]
fn sync_records_commits_changes_and_reverts_by_git_convention_once() {
    let (w, store) = ledger_at_a1();
    let mut driver = driver_on(store, repository(&landed()), &w);
    let synced = sync(&mut driver).unwrap();
    assert_eq!(synced.from.as_str(), "a1");
    assert_eq!(synced.to.as_str(), "d4");
    let ids =
        |v: &[knowngood::CommitId]| v.iter().map(|c| c.as_str().to_owned()).collect::<Vec<_>>();
    assert_eq!(ids(&synced.commits), ["b2", "c3", "d4"]);
    let changes: Vec<&str> = synced
        .changes
        .iter()
        .map(knowngood::ChangeId::as_str)
        .collect();
    assert_eq!(changes, ["PR-2", "PR-3", "d4"]);
    assert_eq!(synced.reverts, vec![("PR-3".into(), "PR-2".into())]);
    assert!(synced.notes.is_empty(), "{:?}", synced.notes);
    let state = driver.state();
    assert_eq!(
        state
            .branch(&SERVICE.into(), &MAIN.into())
            .unwrap()
            .as_str(),
        "d4"
    );
    let revert = state.change(&"PR-3".into()).unwrap();
    assert_eq!(revert.reverts, Some("PR-2".into()));
    assert_eq!(revert.title, "Revert \"Add one-click checkout\"");
    assert_eq!(revert.author.as_str(), "Alice <alice@example.com>");
    // Nothing new: nothing recorded.
    let before = driver.journal().len();
    let again = sync(&mut driver).unwrap();
    assert!(again.commits.is_empty() && again.changes.is_empty());
    assert_eq!(driver.journal().len(), before);
}

#[test]
fn sync_cut_short_by_a_failed_write_goes_on_where_it_stopped() {
    let (w, store) = ledger_at_a1();
    let vcs = repository(&landed());
    // The store fails the write of the revert's change.
    let dies = common::misbehaving::FailingJournal::when(&store, |_, entries| {
        entries.iter().any(|e| {
            matches!(&e.event.kind, knowngood::EventKind::ChangeRecorded { change } if change.id.as_str() == "PR-3")
        })
    });
    let mut driver = driver_on(dies, vcs.clone(), &w);
    assert!(matches!(sync(&mut driver), Err(DriveError::Journal(_))));
    let mut successor = driver_on(store, vcs, &w);
    let synced = sync(&mut successor).unwrap();
    // The commits were in; the rest is recorded now, once.
    assert!(synced.commits.is_empty(), "{:?}", synced.commits);
    let changes: Vec<&str> = synced
        .changes
        .iter()
        .map(knowngood::ChangeId::as_str)
        .collect();
    assert_eq!(changes, ["PR-3", "d4"]);
    assert_eq!(
        successor.state().change(&"PR-3".into()).unwrap().reverts,
        Some("PR-2".into())
    );
}

#[test]
fn sync_says_what_it_cannot_read_and_never_guesses() {
    let (w, store) = ledger_at_a1();
    let vcs = repository(&[
        // Names a commit no recorded change holds.
        (
            "e5",
            "Revert \"something old\"\n\nThis reverts commit 0ddba11.\n",
        ),
        // A Change-Id that would read as an option.
        ("f6", "Fix totals\n\nChange-Id: --force\n"),
    ]);
    let mut driver = driver_on(store, vcs, &w);
    let synced = sync(&mut driver).unwrap();
    assert!(synced.reverts.is_empty());
    assert_eq!(driver.state().change(&"e5".into()).unwrap().reverts, None);
    assert!(
        synced
            .notes
            .iter()
            .any(|n| n
                .contains("`0ddba11`, which no recorded change holds: recorded as a plain change")),
        "{:?}",
        synced.notes
    );
    assert!(
        synced
            .notes
            .iter()
            .any(|n| n.contains("not a usable name") && n.contains("recorded as change `f6`")),
        "{:?}",
        synced.notes
    );
}

#[test]
fn sync_refuses_a_rewritten_branch_and_a_branch_the_ledger_never_held() {
    let (w, store) = ledger_at_a1();
    // The repository's main no longer descends from a1.
    let vcs = Arc::new(InMemoryVcs::default());
    vcs.commit(&SERVICE.into(), &"old".into(), &"a1".into());
    vcs.commit(&SERVICE.into(), &MAIN.into(), &"99".into());
    let mut driver = driver_on(store.clone(), vcs, &w);
    let err = sync(&mut driver).unwrap_err();
    assert!(matches!(err, DriveError::Sync { .. }), "{err}");
    assert!(
        err.to_string().contains("does not descend from `a1`"),
        "{err}"
    );
    // A branch with no head in the ledger.
    let mut driver = driver_on(store, repository(&landed()), &w);
    let err = block_on(driver.sync(&SERVICE.into(), &"release".into())).unwrap_err();
    assert!(
        err.to_string().contains("the ledger holds no head for it"),
        "{err}"
    );
}

/// A VCS that cannot describe commits (the port's default).
#[derive(Debug)]
struct Mute(Arc<InMemoryVcs>);

#[knowngood::async_trait::async_trait]
impl knowngood::port::Vcs for Mute {
    fn capabilities(&self) -> knowngood::port::VcsCapabilities {
        self.0.capabilities()
    }
    async fn head(
        &self,
        service: &knowngood::ServiceId,
        branch: &BranchName,
    ) -> Result<knowngood::CommitId, knowngood::AdapterError> {
        self.0.head(service, branch).await
    }
    async fn commits_between(
        &self,
        service: &knowngood::ServiceId,
        from: &knowngood::CommitId,
        to: &knowngood::CommitId,
    ) -> Result<Vec<knowngood::CommitId>, knowngood::AdapterError> {
        self.0.commits_between(service, from, to).await
    }
    async fn revert(
        &self,
        key: &knowngood::IdempotencyKey,
        service: &knowngood::ServiceId,
        commits: &[knowngood::CommitId],
        onto: &BranchName,
        expected: &knowngood::CommitId,
    ) -> Result<knowngood::port::Landed, knowngood::AdapterError> {
        self.0.revert(key, service, commits, onto, expected).await
    }
    async fn cherry_pick(
        &self,
        key: &knowngood::IdempotencyKey,
        service: &knowngood::ServiceId,
        commits: &[knowngood::CommitId],
        onto: &BranchName,
        expected: &knowngood::CommitId,
    ) -> Result<knowngood::port::Landed, knowngood::AdapterError> {
        self.0
            .cherry_pick(key, service, commits, onto, expected)
            .await
    }
    async fn merge(
        &self,
        key: &knowngood::IdempotencyKey,
        service: &knowngood::ServiceId,
        from: &knowngood::CommitId,
        onto: &BranchName,
        expected: &knowngood::CommitId,
    ) -> Result<knowngood::port::Landed, knowngood::AdapterError> {
        self.0.merge(key, service, from, onto, expected).await
    }
    async fn create_branch(
        &self,
        key: &knowngood::IdempotencyKey,
        service: &knowngood::ServiceId,
        branch: &BranchName,
        at: &knowngood::CommitId,
    ) -> Result<knowngood::CommitId, knowngood::AdapterError> {
        self.0.create_branch(key, service, branch, at).await
    }
    async fn tag(
        &self,
        key: &knowngood::IdempotencyKey,
        service: &knowngood::ServiceId,
        at: &knowngood::CommitId,
        name: &str,
    ) -> Result<knowngood::CommitId, knowngood::AdapterError> {
        self.0.tag(key, service, at, name).await
    }
    async fn outcome(
        &self,
        key: &knowngood::IdempotencyKey,
    ) -> Result<Option<knowngood::port::Landed>, knowngood::AdapterError> {
        self.0.outcome(key).await
    }
}

#[test]
fn sync_from_a_vcs_that_cannot_describe_commits_says_what_to_implement() {
    let (w, store) = ledger_at_a1();
    let mut ports = common::ports_on(store);
    ports.vcs = Arc::new(Mute(repository(&landed())));
    ports.clock = Arc::new(ManualClock::at(common::t(w.clock + 1)));
    let mut driver = block_on(Driver::resume(ports, "knowngood-driver")).unwrap();
    let err = sync(&mut driver).unwrap_err();
    assert!(err.to_string().contains("describing `b2` failed"), "{err}");
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(source.contains("implement `Vcs::describe`"), "{source}");
    // Nothing was recorded: the ledger still has main at a1.
    assert_eq!(
        driver
            .state()
            .branch(&SERVICE.into(), &MAIN.into())
            .unwrap()
            .as_str(),
        "a1"
    );
}

#[test]
fn sync_reads_flags_and_dependencies_from_trailers() {
    let (w, store) = ledger_at_a1();
    let vcs = repository(&[(
        "a7",
        "Add the new checkout\n\nFlag: new-checkout, fast-pay\nFlag: --all\nDepends-On: PR-1\nDepends-On: PR-9\nChange-Id: PR-7\n",
    )]);
    let mut driver = driver_on(store, vcs, &w);
    let synced = sync(&mut driver).unwrap();
    let change = driver.state().change(&"PR-7".into()).unwrap();
    let flags: Vec<&str> = change
        .flags
        .iter()
        .map(knowngood::FlagKey::as_str)
        .collect();
    assert_eq!(flags, ["new-checkout", "fast-pay"]);
    assert!(change.wholly_behind_flags());
    assert_eq!(change.depends_on, vec!["PR-1".into()]);
    for said in [
        "names Flag \"--all\", which is not a usable name: left out",
        "depends on `PR-9`, which the ledger does not hold: left out",
    ] {
        assert!(
            synced.notes.iter().any(|n| n.contains(said)),
            "{said}: {:?}",
            synced.notes
        );
    }
    // Negative: a commit without trailers has neither.
    let (w, store) = ledger_at_a1();
    let mut driver = driver_on(store, repository(&[("a8", "Plain\n")]), &w);
    sync(&mut driver).unwrap();
    let plain = driver.state().change(&"a8".into()).unwrap();
    assert!(plain.flags.is_empty() && plain.depends_on.is_empty());
}
