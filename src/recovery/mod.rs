//! The recovery planner: every way back to a known-good state, checked,
//! estimated, costed, ranked and explained.
//!
//! [`plan`] is a pure function of the state, the incident, the time and
//! what the host's ports can do. It lists every [`Strategy`] — applicable or
//! not, with every precondition by name — then ranks them: applicable
//! before inapplicable, likely to help before unlikely, fastest restore
//! first, ties broken by least team disruption (merges, freezes,
//! follow-ups), then least customer impact, then the order strategies are
//! listed in. The same inputs always give the same plan.

mod assess;
mod option;

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Rejection;
use crate::machine::{Clearance, State};
use crate::model::{Actor, IncidentId, Revision, Strategy};

pub use crate::machine::HotfixBase;
pub use crate::machine::effect::{
    ConsideredOption, Effect, EffectAction, EffectOutcome, EffectStatus, FollowUpKind,
    IdempotencyKey, human,
};
pub use option::{
    Check, CheckOutcome, CustomerImpact, Estimate, EstimateBasis, RecoveryOption, TeamCost,
};

/// What the host's ports can do. The planner offers only options whose
/// steps the ports can carry out, and says so when it cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
#[allow(clippy::struct_excessive_bools)]
pub struct Capabilities {
    /// A flag store can switch flags.
    pub flags: bool,
    /// The deployer can deploy an earlier revision.
    pub rollback: bool,
    /// The deployer can stop a rollout in flight.
    pub abort: bool,
    /// The VCS can create revert commits.
    pub revert: bool,
    /// The VCS can create branches and cherry-pick.
    pub branches: bool,
    /// The host runs its runbooks ([`Runbooks`](crate::port::Runbooks)).
    pub runbooks: bool,
    /// The builder builds any commit on demand
    /// ([`BuilderCapabilities::on_demand`](crate::port::BuilderCapabilities)):
    /// without it, no plan that builds (revert, hotfix, fix forward, wait,
    /// revert-in-flight-then-fix) is offered.
    pub build: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self::all()
    }
}

impl Capabilities {
    /// Every capability.
    pub fn all() -> Self {
        Self {
            flags: true,
            rollback: true,
            abort: true,
            revert: true,
            branches: true,
            runbooks: true,
            build: true,
        }
    }
}

/// How long a release takes to pass one stage (`env`), as estimates model
/// it: the mean observed in the journal once the policy's
/// `observations_needed` verified deployments exist there, the policy's
/// `stage_seconds` (or `default_stage_seconds`) before that.
pub fn stage_seconds(state: &State, env: &crate::model::EnvironmentId) -> (u64, EstimateBasis) {
    let policy = state.policy();
    if let Some(seconds) = state
        .environment(env)
        .map(crate::machine::EnvironmentState::observed)
        .filter(|o| o.samples >= policy.observations_needed.max(1))
        .and_then(|o| o.mean_seconds())
    {
        return (seconds, EstimateBasis::Observed);
    }
    let seconds = policy
        .stage_seconds
        .get(env)
        .copied()
        .unwrap_or(policy.default_stage_seconds);
    (seconds, EstimateBasis::Policy)
}

/// The hotfix base of `service` for production environment `env`
/// ([`State::hotfix_base`]).
pub fn hotfix_base(
    state: &State,
    env: &crate::model::EnvironmentId,
    service: &crate::model::ServiceId,
) -> Option<HotfixBase> {
    state.hotfix_base(env, service)
}

/// Who asks for a plan and with what authority, and what they name: every
/// option is rehearsed as exactly this actor with exactly this clearance,
/// and [`RecoveryPlan::choose`] carries the clearance on to the core and
/// the driver, so what the planner offers is what the core accepts all the
/// way through.
///
/// ```
/// use knowngood::recovery::PlanRequest;
/// use knowngood::{Clearance, Revision};
/// let request = PlanRequest::by("alice")
///     .rollback_to(Revision(20))
///     .clearance(Clearance::unverified_target("r20 ran the canary for an hour without errors"));
/// assert_eq!(request.rollback_to, Some(Revision(20)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PlanRequest {
    /// Who will choose (`None`: the incident's declarer).
    pub by: Option<Actor>,
    /// The authority they bring: a freeze override, break-glass, a
    /// rollback target never verified known good. Each step uses only the
    /// part it needs, audited there.
    pub clearance: Clearance,
    /// Roll back to this revision rather than the one the core chooses
    /// (the newest verified known-good one that still qualifies).
    pub rollback_to: Option<Revision>,
    /// Return the incident's environment to its last-known-good set with
    /// this number ([`State::known_good_sets`](crate::State::known_good_sets))
    /// instead: the rollback option then rolls back every service that
    /// serves something else, down-migrates where the set ran an older
    /// schema, and sets the flags back, each judged by the core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to_set: Option<u32>,
}

impl PlanRequest {
    /// A plan for `by` to choose from.
    pub fn by(by: impl Into<Actor>) -> Self {
        Self {
            by: Some(by.into()),
            ..Self::default()
        }
    }

    /// … bringing `clearance`.
    #[must_use]
    pub fn clearance(mut self, clearance: Clearance) -> Self {
        self.clearance = clearance;
        self
    }

    /// … returning the environment to its known-good set `number` (see
    /// [`PlanRequest::return_to_set`]).
    #[must_use]
    pub fn return_to_set(mut self, number: u32) -> Self {
        self.return_to_set = Some(number);
        self
    }

    /// … rolling back to `revision` (see [`PlanRequest::rollback_to`]).
    #[must_use]
    pub fn rollback_to(mut self, revision: Revision) -> Self {
        self.rollback_to = Some(revision);
        self
    }
}

/// Every option for one incident, ranked, with the reason the first wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[must_use]
#[non_exhaustive]
pub struct RecoveryPlan {
    /// The incident.
    pub incident: IncidentId,
    /// Every strategy, best first.
    pub options: Vec<RecoveryOption>,
    /// Why the first beats the others, in plain words.
    pub explanation: String,
    /// What was asked: who the options were rehearsed as, with what
    /// clearance, naming what.
    #[serde(default)]
    pub request: PlanRequest,
}

impl RecoveryPlan {
    /// The best option, if any is applicable.
    pub fn best(&self) -> Option<&RecoveryOption> {
        self.options.first().filter(|o| o.applicable)
    }

    /// What the plan says about one strategy (for
    /// [`Strategy::Runbook`], the best-ranked runbook).
    pub fn option(&self, strategy: Strategy) -> Option<&RecoveryOption> {
        self.options.iter().find(|o| o.strategy == strategy)
    }

    /// What the plan says about running the host's runbook `id`.
    pub fn runbook(&self, id: &crate::model::RunbookId) -> Option<&RecoveryOption> {
        self.options.iter().find(|o| o.runbook.as_ref() == Some(id))
    }

    /// [`RecoveryPlan::choose`] for the host's runbook `id`.
    pub fn choose_runbook(
        &self,
        id: &crate::model::RunbookId,
        by: impl Into<crate::model::Actor>,
    ) -> Result<crate::machine::Command, Rejection> {
        self.choose_option(Strategy::Runbook, self.runbook(id), by.into())
    }

    /// The command that adopts `strategy`, chosen by `by`: its steps, its
    /// follow-ups, and what was on the table for the retro. Refused, with
    /// the name of the first failing precondition as its rule, when the
    /// option is not applicable. The core judges the command again when it
    /// is executed (it rehearses every step), so a plan that went stale
    /// between planning and choosing is refused then, never half carried
    /// out.
    ///
    /// ```
    /// # use knowngood::{Command, Strategy};
    /// # fn pick(plan: &knowngood::RecoveryPlan) -> Result<Command, knowngood::Rejection> {
    /// let command = plan.choose(Strategy::Rollback, "alice")?;
    /// # Ok(command) }
    /// ```
    pub fn choose(
        &self,
        strategy: Strategy,
        by: impl Into<crate::model::Actor>,
    ) -> Result<crate::machine::Command, Rejection> {
        self.choose_option(strategy, self.option(strategy), by.into())
    }

    fn choose_option(
        &self,
        strategy: Strategy,
        option: Option<&RecoveryOption>,
        by: crate::model::Actor,
    ) -> Result<crate::machine::Command, Rejection> {
        let Some(option) = option else {
            return Err(Rejection::StrategyNotApplicable {
                incident: self.incident.clone(),
                strategy,
                check: "considered".to_owned(),
                why: "the planner did not consider it".to_owned(),
            });
        };
        if let Some(check) = option.blocked_by() {
            return Err(Rejection::StrategyNotApplicable {
                incident: self.incident.clone(),
                strategy,
                check: check.to_owned(),
                why: option.why_not(),
            });
        }
        Ok(crate::machine::Command::ChooseStrategy {
            incident: self.incident.clone(),
            strategy,
            steps: option.steps.clone(),
            follow_ups: option.cost.follow_ups.clone(),
            considered: self.options.iter().map(ConsideredOption::from).collect(),
            explanation: self.explanation.clone(),
            by,
            clearance: self.request.clearance.clone(),
        })
    }
}

/// Plans the recovery from `incident` at time `now`.
///
/// ```
/// # use knowngood::recovery::{plan, Capabilities};
/// # use knowngood::{Ledger, State};
/// let state = State::new();
/// let now = chrono::DateTime::UNIX_EPOCH;
/// // An unknown incident is a typed error, never a panic.
/// assert!(plan(&state, &"INC-1".into(), now, &Capabilities::all()).is_err());
/// ```
pub fn plan(
    state: &State,
    incident: &IncidentId,
    now: DateTime<Utc>,
    capabilities: &Capabilities,
) -> Result<RecoveryPlan, Rejection> {
    plan_for(state, incident, now, capabilities, &PlanRequest::default())
}

/// Plans the recovery from `incident` at time `now` for what `request`
/// asks: the options rehearsed as its actor with its clearance, a
/// rollback to the revision it names.
///
/// # Errors
///
/// [`Rejection::UnknownIncident`] when no such incident was declared.
pub fn plan_for(
    state: &State,
    incident: &IncidentId,
    now: DateTime<Utc>,
    capabilities: &Capabilities,
    request: &PlanRequest,
) -> Result<RecoveryPlan, Rejection> {
    let record = state
        .incident(incident)
        .ok_or_else(|| Rejection::UnknownIncident {
            incident: incident.clone(),
        })?;
    let context = assess::Context::new(state, record, now, capabilities, request);
    let mut options: Vec<RecoveryOption> = Strategy::ALL
        .iter()
        .map(|&s| context.assess(s))
        .chain(state.runbooks().map(|r| context.assess_runbook(r)))
        .collect();
    options.sort_by_key(rank_key);
    let explanation = explain(&options);
    Ok(RecoveryPlan {
        incident: incident.clone(),
        options,
        explanation,
        request: request.clone(),
    })
}

/// Applicable options first, those likely to help first among them, then
/// fastest, least disruptive, least withdrawn; options that are not
/// applicable follow in the strategies' own order.
fn rank_key(o: &RecoveryOption) -> (bool, bool, u64, u32, u32, usize) {
    let weighed = o.applicable;
    (
        !o.applicable,
        !o.likely_to_help,
        if weighed { o.estimate.seconds } else { 0 },
        if weighed { o.cost.disruption() } else { 0 },
        if weighed {
            o.impact.changes_withdrawn
        } else {
            0
        },
        Strategy::ALL
            .iter()
            .position(|s| *s == o.strategy)
            .unwrap_or(usize::MAX),
    )
}

fn explain(options: &[RecoveryOption]) -> String {
    let Some(best) = options.first().filter(|o| o.applicable) else {
        let mut text = "No option is applicable: ".to_owned();
        let reasons: Vec<String> = options
            .iter()
            .map(|o| format!("{} ({})", o.name(), o.why_not()))
            .collect();
        text.push_str(&reasons.join("; "));
        return text;
    };
    let mut text = format!(
        "{} restores a known-good state in about {} ({}), with {} merge{}{}.",
        capitalise(&best.name()),
        human(best.estimate.seconds),
        best.estimate.basis,
        best.cost.merges,
        if best.cost.merges == 1 { "" } else { "s" },
        follow_up_text(&best.cost),
    );
    if !best.likely_to_help {
        text.push_str(" It may not help, but nothing better applies.");
    }
    for other in options.iter().skip(1) {
        let _ = write!(text, " {}: ", capitalise(&other.name()));
        if !other.applicable {
            let _ = write!(text, "not applicable, {}.", other.why_not());
        } else if !other.likely_to_help && best.likely_to_help {
            let _ = write!(
                text,
                "probably would not help ({}).",
                other.risks.join("; ")
            );
        } else if other.estimate.seconds > best.estimate.seconds {
            let _ = write!(text, "slower, about {}.", human(other.estimate.seconds));
        } else if other.cost.disruption() > best.cost.disruption() {
            let _ = write!(
                text,
                "as fast but costs the team more ({} merge{}{}).",
                other.cost.merges,
                if other.cost.merges == 1 { "" } else { "s" },
                follow_up_text(&other.cost)
            );
        } else {
            let _ = write!(text, "as fast, but withdraws more from customers.");
        }
    }
    text
}

fn follow_up_text(cost: &TeamCost) -> String {
    let tracked: Vec<String> = cost
        .follow_ups
        .iter()
        .filter(|f| **f != FollowUpKind::HoldRetro)
        .map(ToString::to_string)
        .collect();
    if tracked.is_empty() {
        String::new()
    } else {
        format!(" and leaves: {}", tracked.join(", "))
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().collect::<String>() + chars.as_str()
    })
}
