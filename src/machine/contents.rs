//! What a release contains: commit ancestry, poisoned changes and their
//! remedies, and drift between production and the head of main.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::rejection::Rejection;
use crate::model::{
    BranchName, Change, ChangeId, CommitId, EnvironmentId, Release, ReleaseId, Revision, ServiceId,
};

use super::state::{DeploymentOrigin, RemedyKind, State};

/// How production (or any environment) differs from the head of main, for
/// one service, both ways: what it lacks (main moved on, or it runs a
/// rollback) and what it runs that main does not hold (an unmerged
/// hotfix).
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
    /// Commits the running release contains that main does not (a hotfix
    /// not merged back), oldest first.
    #[serde(default)]
    pub ahead_commits: Vec<CommitId>,
    /// The changes those commits belong to, in the same order.
    #[serde(default)]
    pub ahead_changes: Vec<ChangeId>,
}

impl Drift {
    /// Whether the environment runs a forward release holding exactly
    /// main: nothing missing, nothing main lacks, no rollback.
    pub fn is_clear(&self) -> bool {
        self.rolled_back_from.is_none()
            && self.missing_commits.is_empty()
            && self.ahead_commits.is_empty()
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

    /// The commit a release was built from, or the rejection naming an
    /// unrecorded source commit.
    fn release_source(&self, release: &Release) -> Result<&CommitId, Rejection> {
        let artifact = self.artifact_of(release)?;
        match self.commits.get_key_value(&artifact.source_commit) {
            Some((id, _)) => Ok(id),
            None => Err(Rejection::UnknownSourceCommit {
                release: release.id.clone(),
                commit: artifact.source_commit.clone(),
            }),
        }
    }

    /// Whether `ancestor` is reachable from `head` (or is `head`). The walk
    /// never goes below `ancestor`'s generation, so it costs the commits
    /// between the two, not the history.
    pub fn is_ancestor(&self, ancestor: &CommitId, head: &CommitId) -> bool {
        let Some(target) = self.commits.get(ancestor) else {
            return false;
        };
        let floor = target.generation;
        let mut seen: BTreeSet<&CommitId> = BTreeSet::new();
        let Some((head, _)) = self.commits.get_key_value(head) else {
            return false;
        };
        let mut stack = vec![head];
        while let Some(id) = stack.pop() {
            if id == ancestor {
                return true;
            }
            let Some(record) = self.commits.get(id) else {
                continue;
            };
            if record.generation <= floor || !seen.insert(id) {
                continue;
            }
            stack.extend(record.commit.parents.iter());
        }
        false
    }

    /// The recorded commits reachable from `head` but not from `have`
    /// (`None`: from nothing), parents before children. Painted from both
    /// ends in generation order, it stops as soon as nothing left to visit
    /// is reachable from `head` alone: the cost is the commits in between,
    /// not the history.
    pub fn commits_between(&self, have: Option<&CommitId>, head: &CommitId) -> Vec<&CommitId> {
        const HEAD: u8 = 1;
        const HAVE: u8 = 2;
        let mut paint: std::collections::BTreeMap<&CommitId, u8> =
            std::collections::BTreeMap::new();
        let mut queue: std::collections::BinaryHeap<(u64, &CommitId)> =
            std::collections::BinaryHeap::new();
        let mut start = |id: &CommitId, colour: u8| -> Option<()> {
            let (id, record) = self.commits.get_key_value(id)?;
            let old = paint.get(id).copied().unwrap_or(0);
            paint.insert(id, old | colour);
            if old == 0 {
                queue.push((record.generation, id));
            }
            Some(())
        };
        if start(head, HEAD).is_none() {
            return Vec::new();
        }
        if let Some(have) = have {
            let _ = start(have, HAVE);
        }
        let mut only_head = usize::from(paint.values().any(|c| *c == HEAD));
        let mut found: Vec<(u64, &CommitId)> = Vec::new();
        while only_head > 0 {
            let Some((generation, id)) = queue.pop() else {
                break;
            };
            let colour = paint.get(id).copied().unwrap_or(0);
            if colour == HEAD {
                only_head = only_head.saturating_sub(1);
                found.push((generation, id));
            }
            let Some(record) = self.commits.get(id) else {
                continue;
            };
            for parent in &record.commit.parents {
                let Some((parent, parent_record)) = self.commits.get_key_value(parent) else {
                    continue;
                };
                let old = paint.get(parent).copied().unwrap_or(0);
                let new = old | colour;
                if new == old {
                    continue;
                }
                paint.insert(parent, new);
                if old == 0 {
                    queue.push((parent_record.generation, parent));
                    if new == HEAD {
                        only_head = only_head.saturating_add(1);
                    }
                } else if old == HEAD {
                    // Queued as head-only, now reachable from `have` too.
                    only_head = only_head.saturating_sub(1);
                }
            }
        }
        found.sort();
        found.into_iter().map(|(_, id)| id).collect()
    }

    /// Whether `change`'s flags keep its code from running in `env`: the
    /// change sits [wholly behind flags](Change::wholly_behind_flags) and
    /// every one of them is off there. A flag at 0 % (a dark launch) still
    /// runs the code, so it counts as off only where the policy says so
    /// ([`Policy::dark_launch_counts_as_off`](crate::Policy::dark_launch_counts_as_off)).
    pub fn flags_neutralise(&self, change: &Change, env: &EnvironmentId) -> bool {
        let dark_is_off = self.policy.dark_launch_counts_as_off;
        change.wholly_behind_flags()
            && self.environments.get(env).is_some_and(|e| {
                change.flags.iter().all(|f| {
                    let state = e.flag(f);
                    state.is_off() || (dark_is_off && state.is_dark())
                })
            })
    }

    /// The poisoned changes `release` would bring into `env` without a
    /// remedy: it contains one of the change's commits, and neither a
    /// revert nor a declared fix of it (every commit of the remedy), and
    /// its flags do not [neutralise](State::flags_neutralise) it in `env`.
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
        let source = self.release_source(release)?;
        let contains_any = |c: &Change| c.commits.iter().any(|id| self.is_ancestor(id, source));
        let contains_all = |c: &Change| c.commits.iter().all(|id| self.is_ancestor(id, source));
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
                !remedied && !self.flags_neutralise(change, env)
            })
            .map(|change| change.id.clone())
            .collect())
    }

    /// The first change main has reverted that `release` would bring back
    /// into `env`, with the revert: main's head holds every commit of a
    /// revert of the change, the release contains the change but not
    /// every commit of that revert, and what serves `release`'s service in
    /// `env` now does not contain the change (redeploying what already
    /// runs there stays allowed). A release whose source commit is not
    /// recorded cannot be judged and passes; production refuses it anyway
    /// while anything is poisoned.
    pub fn reverted_on_main(
        &self,
        release: &Release,
        env: &EnvironmentId,
    ) -> Option<(ChangeId, ChangeId)> {
        if self.remedies.is_empty() {
            return None;
        }
        let source = self.release_source(release).ok()?;
        let main = self.branch(&release.service, &BranchName::main())?;
        let running = self
            .current_release(env, &release.service)
            .and_then(|r| self.release_source(r).ok());
        let contains_any =
            |c: &Change, head: &CommitId| c.commits.iter().any(|id| self.is_ancestor(id, head));
        let contains_all =
            |c: &Change, head: &CommitId| c.commits.iter().all(|id| self.is_ancestor(id, head));
        self.remedies.iter().find_map(|(reverted, remedies)| {
            let change = self.changes.get(reverted)?;
            let reverts = || {
                remedies
                    .iter()
                    .filter(|(_, kind)| **kind == RemedyKind::Revert)
                    .filter_map(|(revert, _)| self.changes.get(revert))
            };
            // Running the change means holding it without any revert of it.
            let runs = |head: &CommitId| {
                contains_any(change, head) && !reverts().any(|revert| contains_all(revert, head))
            };
            if !contains_any(change, source) || running.is_some_and(runs) {
                return None;
            }
            reverts()
                .find(|revert| contains_all(revert, main) && !contains_all(revert, source))
                .map(|revert| (change.id.clone(), revert.id.clone()))
        })
    }

    /// What `env` lacks relative to the head of `service`'s main branch,
    /// or `None` when nothing of the service serves there.
    pub fn drift(&self, env: &EnvironmentId, service: &ServiceId) -> Option<Drift> {
        let current = self.history(env, service)?.current()?;
        let release = self.releases.get(&current.release)?;
        let running_commit = self.artifacts.get(&release.artifact)?.source_commit.clone();
        let head = self.branch(service, &BranchName::main()).cloned();
        let between = |have: &CommitId, head: &CommitId| {
            let commits = self.commits_between(Some(have), head);
            let changes = self.changes_of(commits.iter().copied());
            (commits.into_iter().cloned().collect::<Vec<_>>(), changes)
        };
        let ((missing_commits, missing_changes), (ahead_commits, ahead_changes)) = match &head {
            Some(head) => (
                between(&running_commit, head),
                between(head, &running_commit),
            ),
            None => Default::default(),
        };
        let rolled_back_from = match current.origin() {
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
            ahead_commits,
            ahead_changes,
        })
    }

    /// The changes the commits belong to, each once, in the commits' order
    /// (linear in the number of commits).
    pub(crate) fn changes_of<'c>(
        &self,
        commits: impl Iterator<Item = &'c CommitId>,
    ) -> Vec<ChangeId> {
        let mut seen: BTreeSet<&ChangeId> = BTreeSet::new();
        let mut changes = Vec::new();
        for c in commits {
            if let Some(change) = self.commits.get(c).and_then(|r| r.change.as_ref())
                && seen.insert(change)
            {
                changes.push(change.clone());
            }
        }
        changes
    }
}
