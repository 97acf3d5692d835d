//! Rollout histories: every deployment of one service in one environment,
//! revision by revision, with where it came from and where it stands.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Actor, ReleaseId, Revision};

use super::lifecycle::DeploymentStatus;

/// How a revision came to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DeploymentOrigin {
    /// A deployment or promotion of a release.
    Deploy,
    /// A rollback: an older release deployed again.
    Rollback {
        /// The revision whose release it restores.
        target: Revision,
        /// The revision it rolled back from.
        rolled_back_from: Revision,
        /// Why.
        reason: String,
    },
}

/// One revision in a service's rollout history in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Deployment {
    /// Its number.
    pub revision: Revision,
    /// The release deployed.
    pub release: ReleaseId,
    /// Where it stands.
    pub status: DeploymentStatus,
    /// Deployment or rollback.
    pub origin: DeploymentOrigin,
    /// Who asked for it.
    pub requested_by: Actor,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// When its rollout completed, if it did.
    pub completed_at: Option<DateTime<Utc>>,
    /// When it was verified healthy, if it was.
    pub verified_at: Option<DateTime<Utc>>,
    /// What was measured when it was verified, if the verdict came with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// When it reached a final status or failed.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it failed or was aborted, if it was.
    pub problem: Option<String>,
    /// Who approved it.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub approvals: BTreeSet<Actor>,
    /// The justification, if its approvals were skipped by breaking glass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<String>,
    /// The driver effect it carries out, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<crate::machine::effect::IdempotencyKey>,
}

impl Deployment {
    /// Whether it was ever verified healthy here.
    pub fn was_verified(&self) -> bool {
        self.verified_at.is_some()
    }

    /// The revision it rolled back from, if it is a rollback.
    pub fn rolled_back_from(&self) -> Option<Revision> {
        match &self.origin {
            DeploymentOrigin::Rollback {
                rolled_back_from, ..
            } => Some(*rolled_back_from),
            DeploymentOrigin::Deploy => None,
        }
    }
}

/// One service's rollout history in one environment.
///
/// Stored, its deployments are packed (`machine/packed.rs`): one row of
/// small numbers each, the names they use in tables beside them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutHistory {
    pub(super) deployments: super::cow::CowVec<Deployment>,
    pub(super) current: Option<Revision>,
}

impl RolloutHistory {
    /// Every revision, oldest first (revision *n* at index *n − 1*).
    pub fn deployments(
        &self,
    ) -> impl DoubleEndedIterator<Item = &Deployment> + ExactSizeIterator + Clone {
        self.deployments.iter()
    }

    /// How many revisions there are.
    pub fn len(&self) -> usize {
        self.deployments.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.deployments.len() == 0
    }

    /// The revision with this number.
    pub fn get(&self, revision: Revision) -> Option<&Deployment> {
        let index = usize::try_from(revision.0).ok()?.checked_sub(1)?;
        self.deployments.get(index)
    }

    pub(super) fn get_mut(&mut self, revision: Revision) -> Option<&mut Deployment> {
        let index = usize::try_from(revision.0).ok()?.checked_sub(1)?;
        self.deployments.get_mut(index)
    }

    /// The newest revision.
    pub fn latest(&self) -> Option<&Deployment> {
        self.deployments.last()
    }

    /// The revision serving now: the last one whose rollout completed.
    pub fn current(&self) -> Option<&Deployment> {
        self.current.and_then(|r| self.get(r))
    }

    /// The revision that carries out a driver effect.
    pub fn by_effect(&self, key: &crate::machine::effect::IdempotencyKey) -> Option<&Deployment> {
        self.deployments
            .iter()
            .rev()
            .find(|d| d.effect.as_ref() == Some(key))
    }

    /// The known-good revision that `revision` replaced, if it can serve
    /// again when `revision` is aborted before it was verified: the newest
    /// earlier revision that served, was verified, and was only superseded.
    pub fn reinstatable_before(&self, revision: Revision) -> Option<&Deployment> {
        let before = usize::try_from(revision.0).ok()?.checked_sub(1)?;
        self.deployments
            .iter()
            .take(before)
            .rev()
            .find(|d| d.completed_at.is_some())
            .filter(|d| d.status == DeploymentStatus::Superseded && d.was_verified())
    }

    /// The newest revision if it is still requested or rolling out.
    pub fn in_flight(&self) -> Option<&Deployment> {
        self.latest().filter(|d| d.status.is_in_flight())
    }

    /// The number the next revision will get.
    pub fn next_revision(&self) -> Revision {
        Revision(u32::try_from(self.deployments.len()).map_or(u32::MAX, |n| n.saturating_add(1)))
    }

    /// Rollback candidates, newest first: revisions before the current one
    /// that were verified known good, were not themselves rolled back, and
    /// run a different release than the current one.
    pub fn rollback_candidates(&self) -> impl Iterator<Item = &Deployment> {
        let current = self.current();
        let before = current.map_or(0, |c| {
            usize::try_from(c.revision.0)
                .unwrap_or(usize::MAX)
                .saturating_sub(1)
                .min(self.deployments.len())
        });
        self.deployments.iter().take(before).rev().filter(move |d| {
            d.was_verified()
                && d.status != DeploymentStatus::RolledBack
                && current.is_some_and(|c| d.release != c.release)
        })
    }
}
