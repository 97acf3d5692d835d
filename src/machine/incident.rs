//! The incident lifecycle: detected → mitigating → mitigated → resolved →
//! reviewed, each step timestamped and checked against the state.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::machine::effect::{ConsideredOption, FollowUpKind};
use crate::model::{
    Actor, BranchName, CommitId, EnvironmentId, IncidentId, IncidentPhase, ServiceId, Severity,
    Strategy, SuspectedCause,
};

/// An obligation an incident left, and when it was met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FollowUp {
    /// What must be done.
    pub kind: FollowUpKind,
    /// When it was done.
    pub done_at: Option<DateTime<Utc>>,
}

/// A branch a plan ships, and the head it was planned on (or last
/// accepted at).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlannedHead {
    /// Whose repository.
    pub service: ServiceId,
    /// The branch a ship step builds.
    pub branch: BranchName,
    /// Its head when the plan was chosen, or when a person last accepted
    /// what it carries; `None` when it did not exist yet (a hotfix branch
    /// the plan cuts).
    pub head: Option<CommitId>,
}

/// An incident as the journal tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IncidentRecord {
    /// Its name.
    pub id: IncidentId,
    /// Where.
    pub environment: EnvironmentId,
    /// The service affected.
    pub service: ServiceId,
    /// How bad.
    pub severity: Severity,
    /// What is suspected.
    pub cause: SuspectedCause,
    /// What was seen.
    pub summary: String,
    /// Who declared it.
    pub declared_by: Actor,
    /// Where it stands.
    pub phase: IncidentPhase,
    /// When it was declared.
    pub detected_at: DateTime<Utc>,
    /// When the impact began, if the declaration said (time to detect
    /// runs from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact_began: Option<DateTime<Utc>>,
    /// When a strategy was (last) chosen.
    pub mitigating_at: Option<DateTime<Utc>>,
    /// When a known-good state was restored.
    pub mitigated_at: Option<DateTime<Utc>>,
    /// When the permanent fix was in.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When the retro was recorded.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// The strategy chosen.
    pub strategy: Option<Strategy>,
    /// What was on the table.
    pub considered: Vec<ConsideredOption>,
    /// Why the chosen strategy won.
    pub explanation: Option<String>,
    /// Obligations left, in order.
    pub follow_ups: Vec<FollowUp>,
    /// How many times a strategy was chosen (the current plan is attempt
    /// number `attempts`); every attempt's steps have keys of their own.
    pub attempts: u32,
    /// The chosen strategy's steps, in order.
    pub steps: Vec<crate::machine::effect::Effect>,
    /// Who chose the current plan: its steps are judged as them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_by: Option<Actor>,
    /// The authority the chooser brought to the current plan's steps.
    #[serde(default, skip_serializing_if = "crate::Clearance::is_none")]
    pub clearance: crate::Clearance,
    /// The branches the current plan ships, and the heads it was planned
    /// on: what ships beyond them is
    /// [unplanned](crate::State::unplanned).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub planned_heads: Vec<PlannedHead>,
    /// The plan chosen up front to resolve the incident once it is
    /// mitigated ([`Command::PlanResolution`](crate::Command::PlanResolution)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_with: Option<Strategy>,
    /// The other environments this incident's plans acted in (production
    /// elsewhere running the cause, rolled back or promoted to), over every
    /// attempt: where its way back to normal goes too
    /// ([`State::restored_elsewhere`](crate::State::restored_elsewhere)).
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub covered: std::collections::BTreeSet<EnvironmentId>,
    /// Where each step stands, by key.
    pub effects: std::collections::BTreeMap<
        crate::machine::effect::IdempotencyKey,
        crate::machine::effect::EffectStatus,
    >,
    /// The retro's summary.
    pub retro: Option<String>,
}

impl IncidentRecord {
    /// From detection to a restored known-good state.
    pub fn time_to_mitigate(&self) -> Option<Duration> {
        Some(self.mitigated_at?.signed_duration_since(self.detected_at))
    }

    /// From detection to the permanent fix.
    pub fn time_to_resolve(&self) -> Option<Duration> {
        Some(self.resolved_at?.signed_duration_since(self.detected_at))
    }

    /// The follow-up with this stable id
    /// ([`FollowUpKind::id`](crate::machine::FollowUpKind::id)).
    pub fn follow_up(&self, id: &str) -> Option<&FollowUp> {
        self.follow_ups.iter().find(|f| f.kind.id() == id)
    }

    /// Follow-ups not done yet.
    pub fn open_follow_ups(&self) -> impl Iterator<Item = &FollowUp> {
        self.follow_ups.iter().filter(|f| f.done_at.is_none())
    }
}
