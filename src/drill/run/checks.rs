//! What a drill checks: the plan offered, the outcome against the
//! expectation, the invariants throughout.

use super::Sim;
use crate::drill::report::DrillReport;
use crate::memory::block_on;
use crate::model::IncidentId;
use crate::recovery::{EffectStatus, RecoveryPlan};
use crate::retro::Retro;

impl Sim<'_> {
    pub(super) fn check_plan(&mut self, first: &RecoveryPlan) {
        let expect = &self.scenario.expect;
        if let Some(top) = expect.top {
            let got = first.best().map(|o| o.strategy);
            if got != Some(top) {
                self.failures.push(format!(
                    "expected top option {top}, got {}",
                    got.map_or_else(|| "none".to_owned(), |s| s.to_string())
                ));
            }
        }
        for s in &expect.inapplicable {
            if first.option(*s).is_some_and(|o| o.applicable) {
                self.failures.push(format!(
                    "expected {s} to be inapplicable, but it is applicable"
                ));
            }
        }
        for s in &expect.applicable {
            if let Some(o) = first.option(*s).filter(|o| !o.applicable) {
                self.failures.push(format!(
                    "expected {s} to be applicable, but: {}",
                    o.why_not()
                ));
            }
        }
    }

    pub(super) fn check_outcome(
        &mut self,
        report: &mut DrillReport,
        incident: &IncidentId,
        mitigated: bool,
    ) {
        let expect = &self.scenario.expect;
        let state = self.driver.state();
        let record = state.incident(incident).cloned();
        report.minutes_to_mitigate = record
            .as_ref()
            .and_then(crate::machine::IncidentRecord::time_to_mitigate)
            .map(|d| d.num_minutes());
        if expect.mitigated.unwrap_or(true) != mitigated {
            self.failures.push(format!(
                "expected mitigated = {}, got {mitigated}",
                expect.mitigated.unwrap_or(true)
            ));
        }
        // Evidence before victory: what serves at the end, measured.
        if mitigated && let Some(probe) = self.measured.clone() {
            let (env, service) = (&self.scenario.incident.environment, &self.scenario.service);
            let serving = self
                .driver
                .state()
                .current_release(env, service)
                .map(|r| r.id.clone());
            if let Some(release) = serving {
                let verdict = block_on(probe.judge(env, service, &release));
                if !verdict.is_healthy() {
                    self.failures.push(format!(
                        "mitigated while `{release}` measures {verdict} in `{env}`"
                    ));
                }
            }
        }
        let state = self.driver.state();
        let lane_due =
            state.hotfix_lane_upkeep(&self.scenario.incident.environment, &self.scenario.service);
        if mitigated && !lane_due.is_empty() {
            let due: Vec<String> = lane_due.iter().map(ToString::to_string).collect();
            self.failures.push(format!(
                "the hotfix lane does not follow production at the end: {}",
                due.join("; ")
            ));
        }
        if let Some(restore) = report.restore
            && !restore.held()
        {
            self.failures.push(format!(
                "the estimate did not hold: {restore} (tolerance {})",
                crate::recovery::human(restore.tolerance())
            ));
        }
        if let (Some(max), Some(got)) = (expect.max_minutes_to_mitigate, report.minutes_to_mitigate)
            && got > i64::try_from(max).unwrap_or(i64::MAX)
        {
            self.failures.push(format!(
                "expected mitigation within {max} min, took {got} min"
            ));
        }
        let env = &self.scenario.incident.environment;
        let serving = state
            .current_release(env, &self.scenario.service)
            .map(|r| r.id.clone());
        if let Some(want) = &expect.serving
            && serving.as_ref() != Some(want)
        {
            self.failures.push(format!(
                "expected `{want}` serving in `{env}`, got {serving:?}"
            ));
        }
        if let Some(branch) = &expect.serving_head_of {
            let head = state.branch(&self.scenario.service, branch).cloned();
            let running = state
                .current_release(env, &self.scenario.service)
                .and_then(|r| state.artifact(&r.artifact))
                .map(|a| a.source_commit.clone());
            if head.is_none() || head != running {
                self.failures.push(format!(
                    "expected `{env}` to run the head of `{branch}` ({head:?}), it runs {running:?}"
                ));
            }
        }
        if let Some(want) = expect.remediations {
            let acted = self
                .driver
                .journal()
                .entries()
                .iter()
                .filter(|e| matches!(e.event.kind, crate::EventKind::RemediationDecided { .. }))
                .count();
            if u32::try_from(acted).ok() != Some(want) {
                self.failures.push(format!(
                    "expected the remediation policies to act {want} time(s) by themselves, they acted {acted} time(s)"
                ));
            }
        }
        for other in &expect.also_restored {
            let there = state
                .history(other, &self.scenario.service)
                .and_then(crate::machine::RolloutHistory::current);
            let restored = there.is_some_and(|d| {
                Some(&d.release) == serving.as_ref()
                    && d.status == crate::machine::DeploymentStatus::KnownGood
            });
            if !restored {
                self.failures.push(format!(
                    "expected `{other}` to serve `{env}`'s release ({serving:?}) verified known good, it serves {:?}",
                    there.map(|d| (d.release.clone(), d.status))
                ));
            }
        }
        report.retro = Retro::from_journal(self.driver.journal(), incident).ok();
    }

    /// The invariants every drill checks.
    pub(super) fn check_invariants(&mut self, when: &str) {
        self.check_invariants_with(when, true);
    }

    /// The invariants, except comparing the whole replayed state with the
    /// live one (a full check follows at the end of the history).
    pub(super) fn check_invariants_incrementally(&mut self, when: &str) {
        self.check_invariants_with(when, false);
    }

    pub(super) fn check_invariants_with(&mut self, when: &str, whole: bool) {
        let journal = self.driver.journal();
        let live = self.driver.state();
        let mut found: Vec<String> = Vec::new();
        let fail = |found: &mut Vec<String>, what: String| {
            found.push(format!("invariant broken {when}: {what}"));
        };
        found.extend(
            if whole {
                self.invariants.check(journal, live)
            } else {
                self.invariants.check_incremental(journal, live)
            }
            .into_iter()
            .map(|what| format!("invariant broken {when}: {what}")),
        );
        // 6. No port acted twice under one key.
        let executions = self.world.executions.as_ref().map(|count| count());
        for (key, n) in executions.into_iter().flatten() {
            if n > 1 {
                fail(
                    &mut found,
                    format!("the deployer acted {n} times under `{key}`"),
                );
            }
        }
        // A start from a snapshot taken halfway, plus the entries after
        // it, gives the live state (once, at the end: it serialises the
        // state).
        if when == "at the end" {
            match crate::drill::invariants::snapshot_start_differs(journal, live) {
                Some(problem) => fail(&mut found, problem),
                None if journal.held_from() == 0 => {
                    let half = journal.len().checked_div(2).unwrap_or(0);
                    self.log.push(format!(
                        "snapshot check: a start from the snapshot at entry {half} plus the {} entries after it gives the live state",
                        journal.len().saturating_sub(half)
                    ));
                }
                None => {}
            }
        }
        // 7. No step is left with an unknown outcome once a drive ended.
        for incident in live.incidents() {
            for (key, status) in &incident.effects {
                if *status == EffectStatus::Unknown && when == "at the end" {
                    fail(&mut found, format!("step `{key}` was never reconciled"));
                }
            }
        }
        self.failures.append(&mut found);
    }
}
