//! A version control system in memory: branches, commits, reverts,
//! cherry-picks, merges and tags.

use super::{Ledgered, lock};
use crate::model::{BranchName, CommitId, ServiceId};
use crate::port::{AdapterError, ErrorKind, Landed, Vcs, VcsCapabilities};
use crate::recovery::IdempotencyKey;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct Repo {
    parents: BTreeMap<CommitId, Vec<CommitId>>,
    /// Each commit's author, time and message.
    details: BTreeMap<CommitId, (String, DateTime<Utc>, String)>,
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
    /// Its message is its id; its author `dev`; its time the epoch (see
    /// [`InMemoryVcs::commit_with`]).
    pub fn commit(&self, service: &ServiceId, branch: &BranchName, commit: &CommitId) {
        self.commit_with(
            service,
            branch,
            commit,
            ("dev", DateTime::UNIX_EPOCH),
            commit.as_str(),
        );
    }

    /// Records a commit on `branch` by `author` at a time, with `message`
    /// (moving the branch to it), as a developer merging would.
    pub fn commit_with(
        &self,
        service: &ServiceId,
        branch: &BranchName,
        commit: &CommitId,
        (author, at): (&str, DateTime<Utc>),
        message: &str,
    ) {
        let mut inner = lock(&self.inner);
        let repo = inner.repos.entry(service.clone()).or_default();
        let parents = repo.branches.get(branch).cloned().into_iter().collect();
        repo.parents.insert(commit.clone(), parents);
        repo.details
            .insert(commit.clone(), (author.to_owned(), at, message.to_owned()));
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
        commits.iter().try_for_each(plain_commit)?;
        plain_ref(onto.as_str())?;
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
        // Messages as git writes them, so that a sync reads them alike.
        let said: Vec<String> = commits
            .iter()
            .rev()
            .map(|c| match made {
                Made::Revert => format!("This reverts commit {c}."),
                Made::Pick => format!("(cherry picked from commit {c})"),
                Made::Merge => format!("Merge commit '{c}'"),
            })
            .collect();
        let message = match made {
            Made::Revert => format!(
                "Revert {} commit(s)\n\n{}\n",
                commits.len(),
                said.join("\n")
            ),
            Made::Pick | Made::Merge => format!("{}\n", said.join("\n")),
        };
        repo.details.insert(
            id.clone(),
            ("knowngood".to_owned(), DateTime::UNIX_EPOCH, message),
        );
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
        plain_ref(branch.as_str())?;
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

    async fn describe(
        &self,
        service: &ServiceId,
        commit: &CommitId,
    ) -> Result<crate::port::CommitDetails, AdapterError> {
        let inner = lock(&self.inner);
        let repo = inner.repos.get(service);
        let parents = repo.and_then(|r| r.parents.get(commit)).ok_or_else(|| {
            AdapterError::new(
                ErrorKind::NotFound,
                format!("no commit `{commit}` in `{service}`"),
            )
        })?;
        let (author, at, message) = repo
            .and_then(|r| r.details.get(commit))
            .cloned()
            .unwrap_or_else(|| ("dev".to_owned(), DateTime::UNIX_EPOCH, commit.to_string()));
        Ok(crate::port::CommitDetails::new(
            commit.clone(),
            parents.clone(),
            author,
            at,
            message,
        ))
    }

    async fn commits_between(
        &self,
        service: &ServiceId,
        from: &CommitId,
        to: &CommitId,
    ) -> Result<Vec<CommitId>, AdapterError> {
        plain_commit(from)?;
        plain_commit(to)?;
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
        plain_ref(branch.as_str())?;
        plain_commit(at)?;
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
        plain_ref(tag)?;
        plain_commit(commit)?;
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

/// A commit id as a VCS names commits: a name (no option, no revision
/// expression, one line), not `HEAD`.
fn plain_commit(commit: &CommitId) -> Result<(), AdapterError> {
    crate::model::check_name(commit.as_str())
        .and_then(|()| {
            (commit.as_str() != "HEAD")
                .then_some(())
                .ok_or_else(|| "names what is checked out".to_owned())
        })
        .map_err(|problem| {
            AdapterError::new(
                ErrorKind::Rejected,
                format!("{:?} is not a commit id ({problem})", commit.as_str()),
            )
        })
}

/// A branch or tag name as one exact ref ([`check_ref_name`](crate::check_ref_name)).
fn plain_ref(name: &str) -> Result<(), AdapterError> {
    crate::model::check_ref_name(name).map_err(|problem| {
        AdapterError::new(
            ErrorKind::Rejected,
            format!("{name:?} is not a branch or tag name ({problem})"),
        )
    })
}
