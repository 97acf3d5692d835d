//! What landed on a branch, read from the VCS and recorded: commits,
//! changes, and reverts recognised by git's own convention.

use serde::{Deserialize, Serialize};

use super::Driver;
use super::error::DriveError;
use crate::machine::Command;
use crate::model::{BranchName, Change, ChangeId, Commit, CommitId, ServiceId};
use crate::port::{AdapterError, CommitDetails};

/// What [`Driver::sync`] recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Synced {
    /// The service.
    pub service: ServiceId,
    /// The branch.
    pub branch: BranchName,
    /// Where the ledger had it.
    pub from: CommitId,
    /// Where it is now, in the VCS and in the ledger.
    pub to: CommitId,
    /// The commits recorded, oldest first (commits the ledger held
    /// already are not repeated).
    pub commits: Vec<CommitId>,
    /// The changes recorded, in order.
    pub changes: Vec<ChangeId>,
    /// Reverts recognised: the revert's change and the change it undoes.
    pub reverts: Vec<(ChangeId, ChangeId)>,
    /// What could not be read as asked, and what was recorded instead
    /// (never silent).
    pub notes: Vec<String>,
}

impl Driver {
    /// Records what landed on `branch` of `service` since the ledger last
    /// looked: reads the branch's head from the VCS, then every commit
    /// between the head the ledger holds and it, oldest first
    /// ([`Vcs::describe`](crate::port::Vcs::describe)), and records each
    /// commit, a change per commit (a merge commit brings no change of its
    /// own), and the branch's move.
    ///
    /// - **Change ids**: the message's `Change-Id:` trailer when it has
    ///   one (commits sharing it form one change), otherwise the commit's
    ///   id. Titles are subjects, authors are authors, the merge time is
    ///   the commit's time.
    /// - **Reverts** are recognised by git's own convention (`This
    ///   reverts commit <id>.`): the change is recorded as reverting the
    ///   change that holds those commits. A message naming commits the
    ///   ledger does not hold, or commits of several changes, is recorded
    ///   as a plain change (or a revert of the first), and
    ///   [`Synced::notes`] says so.
    /// - **Flags and dependencies** come from trailers: `Flag: <key>` (one
    ///   per line, or several separated by commas) names the flags the
    ///   change sits behind, `Depends-On: <change>` an earlier change it
    ///   builds on (one the ledger holds). A value that is not a usable
    ///   name, or a dependency the ledger does not hold, is left out and
    ///   said in the notes. A change only partly behind its flags cannot
    ///   be told from a commit: record such a change by hand
    ///   ([`Command::RecordChange`], after its commit) before syncing past
    ///   it.
    /// - **The revert convention is a claim**, as it is in git: the
    ///   message says which commits are undone, and nothing compares the
    ///   diffs. Only a commit the ledger holds is taken as reverted.
    ///
    /// Safe to repeat: what is recorded already is left as it is, so a
    /// sync cut short (a crash, a journal that failed) goes on where it
    /// stopped, and a sync with nothing new records nothing.
    ///
    /// # Errors
    ///
    /// [`DriveError::Sync`] when the ledger holds no head for the branch
    /// (record its first commit yourself), the VCS fails or cannot
    /// describe commits, or a commit's parent is unknown to both; what was
    /// recorded before stays. [`DriveError::Journal`] when the store fails.
    pub async fn sync(
        &mut self,
        service: &ServiceId,
        branch: &BranchName,
    ) -> Result<Synced, DriveError> {
        let fail = |why: String, error: Option<AdapterError>| DriveError::Sync {
            service: service.clone(),
            branch: branch.clone(),
            why,
            error,
        };
        let Some(from) = self.state().branch(service, branch).cloned() else {
            return Err(fail(
                "the ledger holds no head for it: record its first commit (Command::RecordCommit, then Command::MoveBranch) and sync from there".to_owned(),
                None,
            ));
        };
        let vcs = self.ports.vcs.clone();
        let head = vcs
            .head(service, branch)
            .await
            .map_err(|e| fail("reading its head failed".to_owned(), Some(e)))?;
        let mut synced = Synced {
            service: service.clone(),
            branch: branch.clone(),
            from: from.clone(),
            to: head.clone(),
            commits: Vec::new(),
            changes: Vec::new(),
            reverts: Vec::new(),
            notes: Vec::new(),
        };
        if head == from {
            return Ok(synced);
        }
        let between = vcs
            .commits_between(service, &from, &head)
            .await
            .map_err(|e| {
                fail(
                    format!("listing the commits from `{from}` to `{head}` failed"),
                    Some(e),
                )
            })?;
        let lost = vcs
            .commits_between(service, &head, &from)
            .await
            .map_err(|e| {
                fail(
                    format!("checking that `{head}` descends from `{from}` failed"),
                    Some(e),
                )
            })?;
        if between.last() != Some(&head) || !lost.is_empty() {
            return Err(fail(
                format!(
                    "`{head}` does not descend from `{from}`, where the ledger has the branch: it was rewritten (a force-push?); record where it stands by hand (Command::MoveBranch) after checking what was lost"
                ),
                None,
            ));
        }
        // Every commit the ledger lacks, or holds without a change (a sync
        // cut short between the two).
        let mut details = Vec::with_capacity(between.len());
        for id in between
            .iter()
            .filter(|c| self.state().commit(c).is_none_or(|r| r.change.is_none()))
        {
            let d = vcs
                .describe(service, id)
                .await
                .map_err(|e| fail(format!("describing `{id}` failed"), Some(e)))?;
            details.push(d);
        }
        self.record_described(service, branch, head, &details, &mut synced)
            .await?;
        Ok(synced)
    }

    /// Starts following `branch` of `service` where the VCS has it now,
    /// when the ledger holds no head for it yet: its head commit is
    /// recorded (without its history before; [`Synced::notes`] says so),
    /// with its change read from its message as [`Driver::sync`] reads
    /// one, and the branch is moved there. When the ledger holds a head
    /// already, this is [`Driver::sync`].
    ///
    /// This is how a host adopts a repository with history: what ran
    /// before the head is not the ledger's to judge.
    ///
    /// # Errors
    ///
    /// As [`Driver::sync`].
    pub async fn follow(
        &mut self,
        service: &ServiceId,
        branch: &BranchName,
    ) -> Result<Synced, DriveError> {
        if self.state().branch(service, branch).is_some() {
            return self.sync(service, branch).await;
        }
        let fail = |why: String, error: AdapterError| DriveError::Sync {
            service: service.clone(),
            branch: branch.clone(),
            why,
            error: Some(error),
        };
        let vcs = self.ports.vcs.clone();
        let head = vcs
            .head(service, branch)
            .await
            .map_err(|e| fail("reading its head failed".to_owned(), e))?;
        let mut first = vcs
            .describe(service, &head)
            .await
            .map_err(|e| fail(format!("describing `{head}` failed"), e))?;
        let mut synced = Synced {
            service: service.clone(),
            branch: branch.clone(),
            from: head.clone(),
            to: head.clone(),
            commits: Vec::new(),
            changes: Vec::new(),
            reverts: Vec::new(),
            notes: Vec::new(),
        };
        if !std::mem::take(&mut first.parents).is_empty() {
            synced.notes.push(format!(
                "the ledger follows `{branch}` from `{head}`: the history before it is not recorded"
            ));
        }
        self.record_described(service, branch, head, &[first], &mut synced)
            .await?;
        Ok(synced)
    }

    /// Records `details` (commits the ledger lacks, parents first), a
    /// change per commit or per shared `Change-Id`, and moves the branch
    /// to `head`.
    async fn record_described(
        &mut self,
        service: &ServiceId,
        branch: &BranchName,
        head: CommitId,
        details: &[CommitDetails],
        synced: &mut Synced,
    ) -> Result<(), DriveError> {
        let fail = |why: String| DriveError::Sync {
            service: service.clone(),
            branch: branch.clone(),
            why,
            error: None,
        };
        // Commits first, parents before children.
        for d in details {
            if self.state().commit(&d.id).is_some() {
                continue;
            }
            if let Some(missing) = d
                .parents
                .iter()
                .find(|p| self.state().commit(p).is_none() && !details.iter().any(|o| o.id == **p))
            {
                return Err(fail(format!(
                    "`{}` has a parent, `{missing}`, that the ledger does not hold and the branch did not bring: record the history it comes from first",
                    d.id
                )));
            }
            self.execute(&Command::RecordCommit {
                commit: Commit::new(d.id.clone(), d.parents.clone()),
            })
            .await?;
            synced.commits.push(d.id.clone());
        }
        // Then the changes, in order: one per commit, or per shared
        // `Change-Id`.
        let mut grouped: Vec<(ChangeId, Vec<&CommitDetails>)> = Vec::new();
        for d in details.iter().filter(|d| d.parents.len() < 2) {
            let id = change_id(d, &mut synced.notes);
            match grouped.iter_mut().find(|(g, _)| *g == id) {
                Some((_, commits)) => commits.push(d),
                None => grouped.push((id, vec![d])),
            }
        }
        for (id, commits) in grouped {
            if self.state().change(&id).is_some() {
                synced.notes.push(format!(
                    "change `{id}` is recorded already with other commits: {} recorded without a change",
                    commits
                        .iter()
                        .map(|c| format!("`{}`", c.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                continue;
            }
            let Some(first) = commits.first() else {
                continue;
            };
            let mut change = Change::new(
                id.clone(),
                first.subject(),
                first.author.as_str(),
                commits.iter().map(|c| c.at).max().unwrap_or(first.at),
                commits.iter().map(|c| c.id.clone()),
            );
            change.reverts = self.reverted_change(&id, &commits, &mut synced.notes);
            change.flags = named_in(&commits, "Flag", &mut synced.notes)
                .into_iter()
                .map(crate::model::FlagKey::new)
                .collect();
            change.depends_on = named_in(&commits, "Depends-On", &mut synced.notes)
                .into_iter()
                .map(ChangeId::new)
                .filter(|dep| {
                    let recorded = self.state().change(dep).is_some() && *dep != id;
                    if !recorded {
                        synced.notes.push(format!(
                            "`{id}` depends on `{dep}`, which the ledger does not hold: left out"
                        ));
                    }
                    recorded
                })
                .collect();
            if let Some(undone) = &change.reverts {
                synced.reverts.push((id.clone(), undone.clone()));
            }
            self.execute(&Command::RecordChange { change }).await?;
            synced.changes.push(id);
        }
        self.execute(&Command::MoveBranch {
            service: service.clone(),
            branch: branch.clone(),
            head,
        })
        .await?;
        Ok(())
    }

    /// The change `commits` (forming change `id`) revert, by git's
    /// convention; notes what it cannot read.
    fn reverted_change(
        &self,
        id: &ChangeId,
        commits: &[&CommitDetails],
        notes: &mut Vec<String>,
    ) -> Option<ChangeId> {
        let named: Vec<CommitId> = commits.iter().flat_map(|c| c.reverted()).collect();
        if named.is_empty() {
            return None;
        }
        let mut owners: Vec<ChangeId> = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        for commit in &named {
            match self
                .state()
                .commit(commit)
                .and_then(|r| r.change.clone())
                .or_else(|| self.change_by_abbreviation(commit))
            {
                Some(owner) if !owners.contains(&owner) => owners.push(owner),
                Some(_) => {}
                None => unknown.push(format!("`{commit}`")),
            }
        }
        if !unknown.is_empty() {
            notes.push(format!(
                "`{id}` says it reverts {}, which no recorded change holds: recorded as {}",
                unknown.join(", "),
                if owners.is_empty() {
                    "a plain change".to_owned()
                } else {
                    format!("a revert of `{}` only", owners[0])
                }
            ));
        }
        if owners.len() > 1 {
            notes.push(format!(
                "`{id}` reverts commits of {} changes ({}): recorded as a revert of `{}`; record the others by hand",
                owners.len(),
                owners
                    .iter()
                    .map(|o| format!("`{o}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                owners[0]
            ));
        }
        owners.into_iter().next()
    }

    /// The change holding the one recorded commit whose id starts with
    /// `abbreviated` (git messages may name commits abbreviated), when
    /// exactly one does.
    fn change_by_abbreviation(&self, abbreviated: &CommitId) -> Option<ChangeId> {
        if abbreviated.as_str().len() < 7 {
            return None;
        }
        let mut holders = self
            .state()
            .changes()
            .filter(|c| {
                c.commits
                    .iter()
                    .any(|k| k.as_str().starts_with(abbreviated.as_str()))
            })
            .map(|c| c.id.clone());
        let first = holders.next()?;
        holders.next().is_none().then_some(first)
    }
}

/// The change a commit belongs to: its `Change-Id:` trailer when that is a
/// usable name, otherwise its own id.
fn change_id(d: &CommitDetails, notes: &mut Vec<String>) -> ChangeId {
    match d.trailer("Change-Id") {
        Some(id) if crate::model::check_name(id).is_ok() => ChangeId::new(id),
        Some(id) => {
            notes.push(format!(
                "`{}` names change {id:?}, which is not a usable name (letters, digits, `.`, `_`, `-`): recorded as change `{}`",
                d.id, d.id
            ));
            ChangeId::new(d.id.as_str())
        }
        None => ChangeId::new(d.id.as_str()),
    }
}

/// The usable names the trailer `trailer` gives across `commits` (comma
/// separated or one per line), each once; notes the others.
fn named_in(commits: &[&CommitDetails], trailer: &str, notes: &mut Vec<String>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for commit in commits {
        for value in commit.trailers(trailer) {
            for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if crate::model::check_name(name).is_err() {
                    notes.push(format!(
                        "`{}` names {trailer} {name:?}, which is not a usable name: left out",
                        commit.id
                    ));
                } else if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
            }
        }
    }
    names
}
