//! Branches and commits: moves checked against what the VCS reports, and
//! the commits a step lands recorded with the parents the VCS gives.

use super::Driver;
use super::calls::{BranchMove, Call, Produced};
use super::error::DriveError;
use crate::machine::Command;
use crate::model::{BranchName, Change, CommitId, IncidentId, ServiceId};
use crate::port::Landed;
use crate::recovery::IdempotencyKey;

impl Driver {
    pub(super) fn known_change(
        &self,
        key: &IdempotencyKey,
        change: &crate::model::ChangeId,
    ) -> Result<Change, DriveError> {
        match self.state().change(change) {
            Some(c) => Ok(c.clone()),
            None => Self::fail(key, format!("change `{change}` is not recorded")),
        }
    }

    /// The branch `onto` as the ledger has it, for a call that moves it.
    pub(super) fn branch_move(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        onto: &BranchName,
    ) -> Result<BranchMove, DriveError> {
        match self.state().branch(service, onto) {
            Some(head) => Ok(BranchMove {
                service: service.clone(),
                branch: onto.clone(),
                expected: head.clone(),
            }),
            None => Self::fail(key, format!("the head of `{onto}` is not recorded")),
        }
    }

    /// Cuts `branch` at `at` through the VCS and records it.
    pub(super) async fn cut_branch(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
        (service, branch, at): (&ServiceId, &BranchName, &CommitId),
    ) -> Result<String, DriveError> {
        let call = Call::Branch(service.clone(), branch.clone(), at.clone());
        let named = self.commit_call(incident, key, call).await?;
        if named.commit != *at {
            return Self::fail(
                key,
                format!(
                    "the VCS cut `{branch}` at `{}`, not at `{at}`",
                    named.commit
                ),
            );
        }
        self.execute(&Command::MoveBranch {
            service: service.clone(),
            branch: branch.clone(),
            head: at.clone(),
        })
        .await?;
        Ok(format!("`{branch}` cut at `{at}`"))
    }

    /// Stops with [`DriveError::BranchMoved`] when the VCS has `moved`'s
    /// branch somewhere other than the ledger (someone pushed), naming the
    /// commits the ledger does not know.
    pub(super) async fn check_branch(
        &self,
        key: &IdempotencyKey,
        moved: &BranchMove,
    ) -> Result<(), DriveError> {
        let vcs = &self.ports.vcs;
        let found = match vcs.head(&moved.service, &moved.branch).await {
            Ok(head) => head,
            Err(e) => return Self::port_read(key, "VCS", e),
        };
        if found == moved.expected {
            return Ok(());
        }
        Err(self.branch_moved(key, moved, found).await)
    }

    pub(super) async fn branch_moved(
        &self,
        key: &IdempotencyKey,
        moved: &BranchMove,
        found: CommitId,
    ) -> DriveError {
        let between = self
            .ports
            .vcs
            .commits_between(&moved.service, &moved.expected, &found)
            .await
            .unwrap_or_else(|_| vec![found.clone()]);
        DriveError::BranchMoved {
            key: key.clone(),
            service: moved.service.clone(),
            branch: moved.branch.clone(),
            expected: moved.expected.clone(),
            found,
            unknown: between
                .into_iter()
                .filter(|c| self.state().commit(c).is_none())
                .collect(),
        }
    }

    /// Records the commit the VCS made on `onto` with the parents the VCS
    /// reports (and the change it forms, unless recorded already), then
    /// moves the branch there. Safe to repeat, at any later time.
    pub(super) async fn land(
        &mut self,
        key: &IdempotencyKey,
        service: &ServiceId,
        onto: &BranchName,
        landed: &Landed,
        change: Option<Change>,
    ) -> Result<(), DriveError> {
        let commit = &landed.commit;
        if self.state().commit(commit).is_none() {
            // The VCS says where the commit really sits; a parent the ledger
            // never saw means someone pushed behind its back.
            if let Some(stranger) = landed
                .parents
                .iter()
                .find(|p| self.state().commit(p).is_none())
            {
                let moved = self.branch_move(key, service, onto)?;
                return Err(self.branch_moved(key, &moved, stranger.clone()).await);
            }
            if landed.parents.is_empty() {
                return Self::fail(
                    key,
                    format!("the VCS reports no parent for the new commit `{commit}`"),
                );
            }
            self.execute(&Command::RecordCommit {
                commit: crate::model::Commit::new(commit.clone(), landed.parents.clone()),
            })
            .await?;
        }
        // Recorded before a crash: the same change again is a no-op, even
        // though the clock has moved since.
        if let Some(change) = change.filter(|c| {
            self.state()
                .change(&c.id)
                .is_none_or(|known| known.commits != c.commits)
        }) {
            self.execute(&Command::RecordChange { change }).await?;
        }
        self.execute(&Command::MoveBranch {
            service: service.clone(),
            branch: onto.clone(),
            head: commit.clone(),
        })
        .await?;
        Ok(())
    }

    pub(super) async fn commit_call(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
        call: Call,
    ) -> Result<Landed, DriveError> {
        match self.call(incident, key, key.clone(), call).await? {
            Produced::Commit(landed) => Ok(landed),
            _ => Self::fail(key, "the VCS answered with something other than a commit"),
        }
    }
}
