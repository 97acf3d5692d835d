//! Version control: commits, branches, reverts, merges and tags.

use super::error::AdapterError;
use crate::model::{BranchName, CommitId, ServiceId};
use crate::recovery::IdempotencyKey;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

capabilities!(VcsCapabilities {
    revert / with_revert,
    branches / with_branches,
});

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

/// One commit as the repository holds it, what [`Vcs::describe`]
/// answers: enough for the driver to record what landed on a branch
/// ([`Driver::sync`](crate::Driver::sync)).
///
/// ```
/// use chrono::DateTime;
/// use knowngood::port::CommitDetails;
/// let revert = CommitDetails::new(
///     "9f3c2a1",
///     ["77ab001".into()],
///     "Alice <alice@example.com>",
///     DateTime::UNIX_EPOCH,
///     "Revert \"Add one-click checkout\"\n\nThis reverts commit 5d41402abc4b.\n\nChange-Id: PR-43\n",
/// );
/// assert_eq!(revert.subject(), "Revert \"Add one-click checkout\"");
/// assert_eq!(revert.reverted(), vec!["5d41402abc4b".into()]);
/// assert_eq!(revert.trailer("Change-Id"), Some("PR-43"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommitDetails {
    /// The commit.
    pub id: CommitId,
    /// Its parents, first parent first.
    pub parents: Vec<CommitId>,
    /// Its author, as the repository names them (`Name <email>` in git).
    pub author: String,
    /// When it was committed.
    pub at: chrono::DateTime<chrono::Utc>,
    /// Its whole message.
    pub message: String,
}

impl CommitDetails {
    /// A commit.
    pub fn new(
        id: impl Into<CommitId>,
        parents: impl IntoIterator<Item = CommitId>,
        author: impl Into<String>,
        at: chrono::DateTime<chrono::Utc>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            parents: parents.into_iter().collect(),
            author: author.into(),
            at,
            message: message.into(),
        }
    }

    /// The message's first line.
    pub fn subject(&self) -> &str {
        self.message.lines().next().unwrap_or_default().trim()
    }

    /// The commits it says it reverts, by git's own convention: each line
    /// `This reverts commit <id>.` (one per commit for a range), in order.
    pub fn reverted(&self) -> Vec<CommitId> {
        self.message
            .lines()
            .filter_map(|line| {
                let id = line
                    .trim()
                    .strip_prefix("This reverts commit ")?
                    .trim_end_matches(['.', ',']);
                (!id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| CommitId::new(id))
            })
            .collect()
    }

    /// The value of the trailer `name` (`Name: value` on a line of its
    /// own in the message's last paragraph), if the message has it.
    pub fn trailer(&self, name: &str) -> Option<&str> {
        self.trailers(name).into_iter().next()
    }

    /// Every value of the trailer `name`, in order.
    pub fn trailers(&self, name: &str) -> Vec<&str> {
        let last = self
            .message
            .trim_end()
            .rsplit("\n\n")
            .next()
            .unwrap_or_default();
        last.lines()
            .filter_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim().eq_ignore_ascii_case(name) && !value.trim().is_empty())
                    .then(|| value.trim())
            })
            .collect()
    }
}

/// Version control.
///
/// # Contract
///
/// - Calls that move a branch ([`revert`](Vcs::revert),
///   [`cherry_pick`](Vcs::cherry_pick)) are a compare-and-swap: they act
///   only if the branch's head is still `expected_head`, and answer
///   [`ErrorKind::Conflict`](crate::port::ErrorKind::Conflict) otherwise without acting. A change that does
///   not apply cleanly is a [`ErrorKind::Conflict`](crate::port::ErrorKind::Conflict) too; the driver tells
///   the two apart by reading [`head`](Vcs::head) again.
/// - They answer with what really happened ([`Landed`]): the new commit and
///   its parents. The driver records that, never what it assumed.
/// - Every acting call carries an idempotency key. A key seen before
///   answers the first result and does nothing, even if the branch moved
///   since; [`outcome`](Vcs::outcome) reports it after a crash.
/// - The conformance suite (`testkit::conformance::vcs`, feature
///   `testkit`) checks all of this against a repository that already has
///   history.
#[async_trait]
pub trait Vcs: Send + Sync + fmt::Debug + 'static {
    /// What this VCS can do.
    fn capabilities(&self) -> VcsCapabilities;
    /// The head of a branch ([`ErrorKind::NotFound`](crate::port::ErrorKind::NotFound) for a branch that does
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
    /// moved, is a [`ErrorKind::Conflict`](crate::port::ErrorKind::Conflict) and changes nothing.
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
    /// [`ErrorKind::Conflict`](crate::port::ErrorKind::Conflict) (it is never moved); an unknown `at` is
    /// [`ErrorKind::NotFound`](crate::port::ErrorKind::NotFound). Answers the commit the branch names.
    async fn create_branch(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        branch: &BranchName,
        at: &CommitId,
    ) -> Result<CommitId, AdapterError>;
    /// Tag `commit`. The tag may be lightweight or annotated, as long as it
    /// resolves to `commit`. A tag that already resolves to `commit` is
    /// success; one that names another commit is a [`ErrorKind::Conflict`](crate::port::ErrorKind::Conflict)
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
    /// One commit's parents, author, time and message
    /// ([`ErrorKind::NotFound`](crate::port::ErrorKind::NotFound) for a
    /// commit the repository does not hold). The driver reads it to record
    /// what landed on a branch ([`Driver::sync`](crate::Driver::sync)).
    ///
    /// The default answers [`ErrorKind::Rejected`](crate::port::ErrorKind::Rejected):
    /// a VCS that cannot describe commits cannot be synced from.
    async fn describe(
        &self,
        service: &ServiceId,
        commit: &CommitId,
    ) -> Result<CommitDetails, AdapterError> {
        let _ = service;
        Err(AdapterError::new(
            super::ErrorKind::Rejected,
            format!(
                "this VCS adapter cannot describe commits (`{commit}`): implement `Vcs::describe` to sync from it, or record commits and changes with `Command::RecordCommit` and `Command::RecordChange`"
            ),
        ))
    }
}
