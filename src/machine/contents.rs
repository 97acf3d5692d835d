//! What a release contains: commit ancestry, poisoned changes and their
//! remedies, and drift between production and the head of main.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::Rejection;
use crate::model::{
    BranchName, Change, ChangeId, CommitId, EnvironmentId, Release, ReleaseId, Revision, ServiceId,
};

use super::state::{DeploymentOrigin, State};

/// What production (or any environment) lacks relative to the head of
/// main, for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Drift {
    /// Where.
    pub environment: EnvironmentId,
    /// Which service.
    pub service: ServiceId,
    /// The release serving there.
    pub running: ReleaseId,
    /// The commit it was built from.
    pub running_commit: CommitId,
    /// If what serves is a rollback, the revision it rolled back from.
    pub rolled_back_from: Option<Revision>,
    /// The head of the service's `main` branch, if known.
    pub head: Option<CommitId>,
    /// Commits on main that the running release does not contain, oldest
    /// first.
    pub missing_commits: Vec<CommitId>,
    /// The changes those commits belong to, in the same order.
    pub missing_changes: Vec<ChangeId>,
}

impl Drift {
    /// Whether the environment runs a forward release containing all of main.
    pub fn is_clear(&self) -> bool {
        self.rolled_back_from.is_none() && self.missing_commits.is_empty()
    }
}

impl State {
    /// Every recorded commit reachable from `head`, `head` included.
    pub fn ancestors(&self, head: &CommitId) -> BTreeSet<CommitId> {
        self.ancestor_set(head).into_iter().cloned().collect()
    }

    /// [`State::ancestors`], borrowed from the state.
    pub(crate) fn ancestor_set<'s>(&'s self, head: &CommitId) -> BTreeSet<&'s CommitId> {
        self.ancestors_outside(head, &BTreeSet::new())
    }

    /// The recorded commits reachable from `head` that are not in
    /// `exclude`, without walking past `exclude`.
    pub(crate) fn ancestors_outside<'s>(
        &'s self,
        head: &CommitId,
        exclude: &BTreeSet<&CommitId>,
    ) -> BTreeSet<&'s CommitId> {
        let mut seen = BTreeSet::new();
        let Some((head, _)) = self.commits.get_key_value(head) else {
            return seen;
        };
        let mut stack = vec![head];
        while let Some(id) = stack.pop() {
            if exclude.contains(id) {
                continue;
            }
            let Some(record) = self.commits.get(id) else {
                continue;
            };
            if seen.insert(id) {
                stack.extend(record.commit.parents.iter());
            }
        }
        seen
    }

    /// The commits a release was built from and all their ancestors, or
    /// the rejection naming an unrecorded source commit.
    fn release_contents(&self, release: &Release) -> Result<BTreeSet<&CommitId>, Rejection> {
        let artifact = self.artifact_of(release)?;
        if !self.commits.contains_key(&artifact.source_commit) {
            return Err(Rejection::UnknownSourceCommit {
                release: release.id.clone(),
                commit: artifact.source_commit.clone(),
            });
        }
        Ok(self.ancestor_set(&artifact.source_commit))
    }

    /// The poisoned changes `release` would bring into `env` without a
    /// remedy: it contains one of the change's commits, and neither a
    /// revert nor a declared fix of it (every commit of the remedy), and
    /// the change is not fully behind flags that are off in `env`.
    ///
    /// A release whose source commit is not recorded cannot be proved
    /// clean while any change is poisoned, and is refused for that.
    pub fn unneutralised_poison(
        &self,
        release: &Release,
        env: &EnvironmentId,
    ) -> Result<Vec<ChangeId>, Rejection> {
        if self.poisoned.is_empty() {
            return Ok(Vec::new());
        }
        let contents = self.release_contents(release)?;
        let contains_any = |c: &Change| c.commits.iter().any(|id| contents.contains(id));
        let contains_all = |c: &Change| c.commits.iter().all(|id| contents.contains(id));
        let flags_off = |c: &Change| {
            !c.flags.is_empty()
                && self
                    .environments
                    .get(env)
                    .is_some_and(|e| c.flags.iter().all(|f| !e.flag(f).reaches_users()))
        };
        Ok(self
            .poisoned
            .keys()
            .filter_map(|id| self.changes.get(id))
            .filter(|change| contains_any(change))
            .filter(|change| {
                let remedied = self
                    .remedies(&change.id)
                    .filter_map(|(r, _)| self.changes.get(r))
                    .any(contains_all);
                !remedied && !flags_off(change)
            })
            .map(|change| change.id.clone())
            .collect())
    }

    /// What `env` lacks relative to the head of `service`'s main branch,
    /// or `None` when nothing of the service serves there.
    pub fn drift(&self, env: &EnvironmentId, service: &ServiceId) -> Option<Drift> {
        let current = self.history(env, service)?.current()?;
        let release = self.releases.get(&current.release)?;
        let running_commit = self.artifacts.get(&release.artifact)?.source_commit.clone();
        let head = self.branch(service, &BranchName::main()).cloned();
        let (missing_commits, missing_changes) = match &head {
            Some(head) => {
                let have = self.ancestor_set(&running_commit);
                let commits = self.oldest_first(head, &have);
                let mut changes: Vec<ChangeId> = Vec::new();
                for c in &commits {
                    if let Some(change) = self.commits.get(c).and_then(|r| r.change.as_ref())
                        && !changes.contains(change)
                    {
                        changes.push(change.clone());
                    }
                }
                (commits, changes)
            }
            None => (Vec::new(), Vec::new()),
        };
        let rolled_back_from = match &current.origin {
            DeploymentOrigin::Rollback {
                rolled_back_from, ..
            } => Some(*rolled_back_from),
            DeploymentOrigin::Deploy => None,
        };
        Some(Drift {
            environment: env.clone(),
            service: service.clone(),
            running: release.id.clone(),
            running_commit,
            rolled_back_from,
            head,
            missing_commits,
            missing_changes,
        })
    }

    /// The ancestors of `head` not in `exclude`, parents before children.
    fn oldest_first(&self, head: &CommitId, exclude: &BTreeSet<&CommitId>) -> Vec<CommitId> {
        let mut order = Vec::new();
        let mut done: BTreeSet<&CommitId> = BTreeSet::new();
        // (commit, whether its parents were already pushed)
        let mut stack: Vec<(&CommitId, bool)> = vec![(head, false)];
        while let Some((id, expanded)) = stack.pop() {
            if exclude.contains(id) || done.contains(id) {
                continue;
            }
            let Some(record) = self.commits.get(id) else {
                continue;
            };
            if expanded {
                done.insert(id);
                order.push(id.clone());
            } else {
                stack.push((id, true));
                for parent in record.commit.parents.iter().rev() {
                    stack.push((parent, false));
                }
            }
        }
        order
    }
}
