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
///
/// What few deployments carry (a rollback's origin, a problem, approvals,
/// a break-glass justification) is read through [`origin`](Self::origin),
/// [`problem`](Self::problem), [`approvals`](Self::approvals) and
/// [`break_glass`](Self::break_glass), and kept apart in memory: a long
/// history holds hundreds of thousands of deployments, and most carry none
/// of it. As JSON it is one flat object, as it always was.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "Flat", into = "Flat")]
#[non_exhaustive]
pub struct Deployment {
    /// Its number.
    pub revision: Revision,
    /// The release deployed.
    pub release: ReleaseId,
    /// Where it stands.
    pub status: DeploymentStatus,
    /// Who asked for it.
    pub requested_by: Actor,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// When its rollout completed, if it did.
    pub completed_at: Option<DateTime<Utc>>,
    /// When it was verified healthy, if it was.
    pub verified_at: Option<DateTime<Utc>>,
    /// What was measured when it was verified, if the verdict came with it.
    pub evidence: Option<String>,
    /// When it reached a final status or failed.
    pub ended_at: Option<DateTime<Utc>>,
    /// The driver effect it carries out, if any.
    pub effect: Option<crate::machine::effect::IdempotencyKey>,
    /// What few deployments carry; `None` when it carries none of it.
    pub(super) notes: Option<Box<Notes>>,
}

/// What a deployment carries beyond its times: never all empty when kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Notes {
    /// A rollback's origin (`None`: a plain deploy).
    pub(crate) rollback: Option<DeploymentOrigin>,
    pub(crate) problem: Option<String>,
    pub(crate) approvals: BTreeSet<Actor>,
    pub(crate) break_glass: Option<String>,
}

static DEPLOY: DeploymentOrigin = DeploymentOrigin::Deploy;
static NO_APPROVALS: BTreeSet<Actor> = BTreeSet::new();

impl Deployment {
    /// A deployment as it is requested: no times but the request's, none
    /// of the notes.
    pub(crate) fn requested(
        revision: Revision,
        release: ReleaseId,
        origin: DeploymentOrigin,
        requested_by: Actor,
        requested_at: DateTime<Utc>,
        effect: Option<crate::machine::effect::IdempotencyKey>,
    ) -> Self {
        let mut d = Self {
            revision,
            release,
            status: DeploymentStatus::Requested,
            requested_by,
            requested_at,
            completed_at: None,
            verified_at: None,
            evidence: None,
            ended_at: None,
            effect,
            notes: None,
        };
        if origin != DeploymentOrigin::Deploy {
            d.notes_mut().rollback = Some(origin);
        }
        d
    }

    /// Deployment or rollback.
    pub fn origin(&self) -> &DeploymentOrigin {
        self.notes
            .as_ref()
            .and_then(|n| n.rollback.as_ref())
            .unwrap_or(&DEPLOY)
    }

    /// Why it failed or was aborted, if it was.
    pub fn problem(&self) -> Option<&str> {
        self.notes.as_ref().and_then(|n| n.problem.as_deref())
    }

    /// Who approved it.
    pub fn approvals(&self) -> &BTreeSet<Actor> {
        self.notes.as_ref().map_or(&NO_APPROVALS, |n| &n.approvals)
    }

    /// The justification, if its approvals were skipped by breaking glass.
    pub fn break_glass(&self) -> Option<&str> {
        self.notes.as_ref().and_then(|n| n.break_glass.as_deref())
    }

    /// Its notes, to add to (made on first use: only ever call it to add
    /// something, so that a deployment with none keeps none).
    pub(crate) fn notes_mut(&mut self) -> &mut Notes {
        self.notes.get_or_insert_with(Box::default)
    }

    /// Its notes, if it has any.
    pub(crate) fn notes(&self) -> Option<&Notes> {
        self.notes.as_deref()
    }

    /// `self` with `notes`, kept only if they hold something (a plain
    /// deploy's origin is no note).
    pub(crate) fn with_notes(mut self, mut notes: Notes) -> Self {
        if notes.rollback == Some(DeploymentOrigin::Deploy) {
            notes.rollback = None;
        }
        self.notes = (notes != Notes::default()).then(|| Box::new(notes));
        self
    }

    /// Whether it was ever verified healthy here.
    pub fn was_verified(&self) -> bool {
        self.verified_at.is_some()
    }

    /// The revision it rolled back from, if it is a rollback.
    pub fn rolled_back_from(&self) -> Option<Revision> {
        match self.origin() {
            DeploymentOrigin::Rollback {
                rolled_back_from, ..
            } => Some(*rolled_back_from),
            DeploymentOrigin::Deploy => None,
        }
    }
}

impl PartialEq for Deployment {
    fn eq(&self, other: &Self) -> bool {
        // Notes compared by what they say: none is the same as empty.
        let empty = Notes::default();
        self.revision == other.revision
            && self.release == other.release
            && self.status == other.status
            && self.requested_by == other.requested_by
            && self.requested_at == other.requested_at
            && self.completed_at == other.completed_at
            && self.verified_at == other.verified_at
            && self.evidence == other.evidence
            && self.ended_at == other.ended_at
            && self.effect == other.effect
            && self.notes.as_deref().unwrap_or(&empty) == other.notes.as_deref().unwrap_or(&empty)
    }
}

impl Eq for Deployment {}

/// A deployment as JSON: one flat object.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Deployment")]
struct Flat {
    revision: Revision,
    release: ReleaseId,
    status: DeploymentStatus,
    origin: DeploymentOrigin,
    requested_by: Actor,
    requested_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    verified_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    evidence: Option<String>,
    ended_at: Option<DateTime<Utc>>,
    problem: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    approvals: BTreeSet<Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    break_glass: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    effect: Option<crate::machine::effect::IdempotencyKey>,
}

impl From<Flat> for Deployment {
    fn from(f: Flat) -> Self {
        let notes = Notes {
            rollback: (f.origin != DeploymentOrigin::Deploy).then_some(f.origin),
            problem: f.problem,
            approvals: f.approvals,
            break_glass: f.break_glass,
        };
        Deployment {
            revision: f.revision,
            release: f.release,
            status: f.status,
            requested_by: f.requested_by,
            requested_at: f.requested_at,
            completed_at: f.completed_at,
            verified_at: f.verified_at,
            evidence: f.evidence,
            ended_at: f.ended_at,
            effect: f.effect,
            notes: None,
        }
        .with_notes(notes)
    }
}

impl From<Deployment> for Flat {
    fn from(d: Deployment) -> Self {
        let notes = d.notes.map(|n| *n).unwrap_or_default();
        Flat {
            revision: d.revision,
            release: d.release,
            status: d.status,
            origin: notes.rollback.unwrap_or(DeploymentOrigin::Deploy),
            requested_by: d.requested_by,
            requested_at: d.requested_at,
            completed_at: d.completed_at,
            verified_at: d.verified_at,
            evidence: d.evidence,
            ended_at: d.ended_at,
            problem: notes.problem,
            approvals: notes.approvals,
            break_glass: notes.break_glass,
            effect: d.effect,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
    }

    /// A deployment is one flat JSON object, as it was before its notes
    /// were kept apart; one with no notes keeps none in memory, however it
    /// was made.
    #[test]
    fn deployments_are_flat_json_and_keep_notes_only_when_they_have_some() {
        let plain = Deployment::requested(
            Revision(3),
            ReleaseId::new("payments@1.0.0"),
            DeploymentOrigin::Deploy,
            Actor::new("ci"),
            at(),
            None,
        );
        assert!(plain.notes().is_none());
        let json = serde_json::to_value(&plain).unwrap_or_default();
        assert_eq!(json["origin"], serde_json::json!({"kind": "deploy"}));
        assert_eq!(json["problem"], serde_json::Value::Null);
        assert!(json.get("approvals").is_none() && json.get("notes").is_none());
        let back: Deployment = serde_json::from_value(json).unwrap_or_else(|_| plain.clone());
        assert!(back.notes().is_none());
        assert_eq!(back, plain);

        let mut rollback = Deployment::requested(
            Revision(4),
            ReleaseId::new("payments@0.9.0"),
            DeploymentOrigin::Rollback {
                target: Revision(2),
                rolled_back_from: Revision(3),
                reason: "errors".to_owned(),
            },
            Actor::new("oncall"),
            at(),
            None,
        );
        rollback.notes_mut().approvals.insert(Actor::new("dave"));
        rollback.notes_mut().break_glass = Some("sev1".to_owned());
        assert_eq!(rollback.rolled_back_from(), Some(Revision(3)));
        assert_eq!(rollback.break_glass(), Some("sev1"));
        assert!(rollback.approvals().contains(&Actor::new("dave")));
        let json = serde_json::to_value(&rollback).unwrap_or_default();
        assert_eq!(json["origin"]["kind"], "rollback");
        assert_eq!(json["approvals"], serde_json::json!(["dave"]));
        assert_eq!(json["break_glass"], "sev1");
        let back: Deployment = serde_json::from_value(json).unwrap_or_else(|_| plain.clone());
        assert_eq!(back, rollback);
        assert_ne!(back, plain);

        // Empty notes are the same as none, and are not kept.
        let mut emptied = plain.clone();
        emptied.notes_mut();
        assert_eq!(emptied, plain);
        assert!(plain.clone().with_notes(Notes::default()).notes().is_none());
        assert!(
            plain
                .clone()
                .with_notes(Notes {
                    rollback: Some(DeploymentOrigin::Deploy),
                    ..Notes::default()
                })
                .notes()
                .is_none()
        );
    }
}
