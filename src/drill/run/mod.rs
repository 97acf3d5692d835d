//! Running a scenario: one drill on one thread, against a virtual clock.

use crate::drill::faults::{
    AppendFault, Chaos, FaultyBuilder, FaultyDeployer, FaultyFlags, FaultyHealth, FaultyJournal,
    FaultyMigrator, FaultyRunbooks, FaultyVcs,
};
use crate::drill::report::{DrillReport, Fallback, RestoreTime};
use crate::drill::scenario::Scenario;
use crate::drill::world::DrillWorld;
use crate::driver::{DriveError, Driver};
use crate::journal::Journal;
use crate::machine::Command;
use crate::memory::{ManualClock, block_on};
use crate::model::IncidentId;
use crate::port::Clock as _;
use crate::port::Ports;
use crate::recovery::{RecoveryPlan, plan_for};
use chrono::{Duration, TimeZone, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;

mod checks;
mod driven;
mod history;
mod incident;
mod response;

struct Sim<'s> {
    scenario: &'s Scenario,
    clock: Arc<ManualClock>,
    ports: Ports,
    world: DrillWorld,
    chaos: Arc<Chaos>,
    driver: Driver,
    log: Vec<String>,
    failures: Vec<String>,
    /// The invariants, checked incrementally as the journal grows.
    invariants: super::Invariants,
    /// Whether the history before the incident has been played.
    history_done: bool,
    /// The analysis health is measured by, when the scenario scripts
    /// metrics.
    measured: Option<Arc<crate::adapters::AnalysisProbe>>,
    /// Who plans and chooses (the scenario's `request.by`, else `oncall`).
    chooser: crate::model::Actor,
}

/// The health probe a scenario's metrics make: an analysis judged on
/// series scripted per release and metric, in every environment.
fn measured_health(
    scenario: &Scenario,
    clock: Arc<ManualClock>,
) -> Result<Option<Arc<crate::adapters::AnalysisProbe>>, String> {
    use crate::drill::scenario::HistoryStep;
    let Some(spec) = &scenario.metrics else {
        return Ok(None);
    };
    let analysis = crate::analysis::Analysis::new(spec.analysis.clone())
        .map_err(|e| format!("the scenario's metrics: {e}"))?;
    let services: BTreeMap<&crate::model::ReleaseId, &crate::model::ServiceId> = scenario
        .history
        .iter()
        .filter_map(|step| match step {
            HistoryStep::Build {
                release, service, ..
            } => Some((release, service.as_ref().unwrap_or(&scenario.service))),
            _ => None,
        })
        .collect();
    let metrics = Arc::new(crate::memory::InMemoryMetrics::default());
    for environment in &scenario.pipeline.environments {
        let there = spec.in_environment.get(&environment.id);
        let releases = spec
            .series
            .keys()
            .chain(there.into_iter().flat_map(BTreeMap::keys));
        for release in releases.collect::<std::collections::BTreeSet<_>>() {
            let service = services.get(release).copied().unwrap_or(&scenario.service);
            let general = spec.series.get(release).into_iter().flatten();
            let local = there.and_then(|t| t.get(release)).into_iter().flatten();
            // The environment's own series come last, and so win.
            for (name, series) in general.chain(local) {
                let Some(check) = analysis.metric(name) else {
                    return Err(format!(
                        "the scenario's metrics: `{release}` has a series for `{name}`, which the analysis does not measure"
                    ));
                };
                metrics.script(
                    crate::port::fill_query(
                        &check.query,
                        environment.id.as_str(),
                        service.as_str(),
                        release.as_str(),
                    ),
                    series.clone(),
                );
            }
        }
    }
    for by_metric in spec.in_environment.values().flat_map(BTreeMap::values) {
        for name in by_metric.keys() {
            if analysis
                .metric(name)
                .is_some_and(|c| !c.query.contains("{environment}"))
            {
                return Err(format!(
                    "the scenario's metrics: `{name}` has series per environment, and its query does not name `{{environment}}`: add it, or every environment reads one series"
                ));
            }
        }
    }
    if let Some(unknown) = spec
        .in_environment
        .keys()
        .find(|e| !scenario.pipeline.environments.iter().any(|p| p.id == **e))
    {
        return Err(format!(
            "the scenario's metrics: series for environment `{unknown}`, which the pipeline does not have"
        ));
    }
    let probe = crate::adapters::AnalysisProbe::new(metrics, analysis, clock)
        .comparing(spec.compare.clone())
        .map_err(|e| format!("the scenario's metrics: {e}"))?;
    Ok(Some(Arc::new(probe)))
}

/// Runs `scenario` on the in-memory adapters with faults drawn from `seed`.
pub fn run(scenario: &Scenario, seed: u64) -> DrillReport {
    run_on(scenario, seed, DrillWorld::in_memory())
}

/// Runs `scenario` on the host's systems (`world`) with faults drawn from
/// `seed`.
pub fn run_on(scenario: &Scenario, seed: u64, world: DrillWorld) -> DrillReport {
    let clock = Arc::new(ManualClock::ticking(
        Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
            .single()
            .unwrap_or_default(),
        Duration::seconds(i64::from(scenario.faults.clock_tick_seconds)),
    ));
    let chaos = Arc::new(Chaos::new(
        seed,
        &scenario.faults,
        clock.clone(),
        world.push.clone(),
    ));
    let host = &world.ports;
    let (measured, measured_error) = match measured_health(scenario, clock.clone()) {
        Ok(m) => (m, None),
        Err(e) => (None, Some(e)),
    };
    let health: Arc<dyn crate::port::HealthProbe> = match &measured {
        Some(probe) => probe.clone(),
        None => host.health.clone(),
    };
    let ports = Ports::new(
        Arc::new(FaultyVcs {
            inner: host.vcs.clone(),
            chaos: chaos.clone(),
        }),
        Arc::new(FaultyDeployer {
            inner: host.deployer.clone(),
            chaos: chaos.clone(),
        }),
        host.flags.clone().map(|flags| {
            Arc::new(FaultyFlags {
                inner: flags,
                chaos: chaos.clone(),
            }) as Arc<dyn crate::port::FlagStore>
        }),
        Arc::new(FaultyHealth {
            inner: health,
            chaos: chaos.clone(),
        }),
        Arc::new(FaultyBuilder {
            inner: host.builder.clone(),
            chaos: chaos.clone(),
        }),
        Arc::new(FaultyJournal {
            inner: host.journal.clone(),
            chaos: chaos.clone(),
        }),
        clock.clone(),
    );
    let ports = match host.migrator.clone() {
        Some(inner) => ports.with_migrator(Arc::new(FaultyMigrator {
            inner,
            chaos: chaos.clone(),
        })),
        None => ports,
    };
    let ports = match host.runbooks.clone() {
        Some(inner) => ports.with_runbooks(Arc::new(FaultyRunbooks {
            inner,
            chaos: chaos.clone(),
        })),
        None => ports,
    };
    let mut report = DrillReport {
        scenario: scenario.name.clone(),
        seed,
        plan: None,
        chosen: Vec::new(),
        fallbacks: Vec::new(),
        faults: BTreeMap::new(),
        log: Vec::new(),
        minutes_to_mitigate: None,
        restore: None,
        failures: Vec::new(),
        journal: Journal::new(),
        retro: None,
    };
    if let Some(e) = measured_error {
        report.failures.push(e);
        return report;
    }
    let driver = match block_on(Driver::start(ports.clone(), "knowngood-driver")) {
        Ok(d) => d,
        Err(e) => {
            report
                .failures
                .push(format!("the driver could not start: {e}"));
            return report;
        }
    };
    if !driver.journal().is_empty() {
        report.failures.push(
            "the journal store is not empty: a drill builds its world from the scenario".to_owned(),
        );
        return report;
    }
    let mut sim = Sim {
        scenario,
        clock,
        ports,
        world,
        chaos,
        driver,
        log: Vec::new(),
        failures: Vec::new(),
        invariants: super::Invariants::new(),
        history_done: false,
        measured,
        chooser: "oncall".into(),
    };
    sim.play(&mut report);
    if sim.clock.overflowed() {
        sim.failures.push(
            "the virtual clock ran past the last time it can represent: the drill's times are meaningless (shorten the scenario's waits)".to_owned(),
        );
    }
    report.log = std::mem::take(&mut sim.log);
    report.failures.append(&mut sim.failures);
    report.journal = sim.driver.journal().clone();
    report.faults = sim
        .chaos
        .counts()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    report
}

/// Why a drive stopped short.
struct Stop {
    why: String,
    /// Whether choosing another strategy is a sensible reaction (a step
    /// failed), as opposed to a broken invariant.
    fallback: bool,
}

impl Stop {
    fn step(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            fallback: true,
        }
    }

    fn broken(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            fallback: false,
        }
    }
}

impl From<String> for Stop {
    fn from(why: String) -> Self {
        Self::broken(why)
    }
}

impl Sim<'_> {
    fn now_minutes(&self, minutes: i64) {
        self.clock.advance(Duration::minutes(minutes));
    }

    /// Weathers what a replaying host waits out: a failed journal write
    /// (restart, or the same driver goes on) and a port whose outcome is
    /// unresolved (a minute later, again). `Ok(false)` for anything else.
    fn weathered(&mut self, error: &DriveError) -> Result<bool, String> {
        match error {
            DriveError::Journal(e) => {
                self.log.push(format!("driver stopped ({e})"));
                self.after_failed_append()?;
                Ok(true)
            }
            DriveError::Unresolved { key, error, .. } => {
                self.log
                    .push(format!("driver: `{key}` unresolved ({error}); retrying"));
                self.now_minutes(1);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Runs a command for the host (person or CI); a crash of the driver's
    /// journal write is retried after a restart, a failed append by the
    /// same driver, as a real host would.
    fn host(&mut self, command: &Command) -> Result<Vec<crate::journal::JournalEntry>, String> {
        for _ in 0..20 {
            match block_on(self.driver.execute(command)) {
                Ok(entries) => return Ok(entries),
                Err(DriveError::Journal(_)) => self.after_failed_append()?,
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("the journal store kept failing".to_owned())
    }

    /// After a failed append: a crashed process restarts (from the store
    /// alone, once the clock has jumped when the scenario asks); a store
    /// that was briefly down is simply tried again by the same driver.
    fn after_failed_append(&mut self) -> Result<(), String> {
        match self.chaos.last_append() {
            Some(AppendFault::Failure) => {
                self.log
                    .push("journal append failed; the same driver goes on".to_owned());
                Ok(())
            }
            _ => self.restart(),
        }
    }

    fn restart(&mut self) -> Result<(), String> {
        if self.scenario.faults.clock_jumps {
            let jump = match self.chaos.below(3) {
                0 => Duration::seconds(
                    i64::try_from(self.chaos.below(59))
                        .unwrap_or(0)
                        .saturating_add(1),
                ),
                1 => Duration::hours(
                    i64::try_from(self.chaos.below(11))
                        .unwrap_or(0)
                        .saturating_add(1),
                ),
                _ => Duration::days(
                    i64::try_from(self.chaos.below(3))
                        .unwrap_or(0)
                        .saturating_add(1),
                ),
            };
            self.clock.advance(jump);
            self.chaos.note(
                "clock jump before a resume",
                format!(
                    "clock: {} s pass before the new process resumes",
                    jump.num_seconds()
                ),
            );
        }
        // Most restarts catch up from where the process left (incremental,
        // like a process resuming from a snapshot); during the incident one
        // in eight rebuilds from the whole store, as a process that lost
        // everything would (not during the history, whose length would then
        // make the drill quadratic).
        if self.history_done && self.chaos.below(8) == 0 {
            self.driver = block_on(Driver::resume(self.ports.clone(), "knowngood-driver"))
                .map_err(|e| format!("resume failed: {e}"))?;
        } else {
            block_on(self.driver.refresh()).map_err(|e| format!("resume failed: {e}"))?;
        }
        Ok(())
    }

    fn play(&mut self, report: &mut DrillReport) {
        if let Err(e) = self.build_world() {
            self.failures.push(e);
            return;
        }
        let spec = &self.scenario.incident;
        let incident = if spec.automatic {
            match self.detected() {
                Ok(id) => id,
                Err(e) => {
                    self.failures.push(e);
                    return;
                }
            }
        } else {
            match self.declare() {
                Ok(id) => id,
                Err(e) => {
                    self.failures.push(e);
                    return;
                }
            }
        };
        self.check_invariants("after the declaration");
        let Some(first) = self.plan(&incident) else {
            return;
        };
        self.check_plan(&first);
        report.plan = Some(first.clone());
        let mut choice = self
            .scenario
            .expect
            .choose
            .or_else(|| first.best().map(|o| o.strategy));
        let mut mitigated = false;
        for _attempt in 0..4 {
            let Some(strategy) = choice else {
                self.failures
                    .push("no applicable strategy to choose".to_owned());
                break;
            };
            report.chosen.push(strategy);
            self.now_minutes(1);
            let Some(current) = self.plan(&incident) else {
                break;
            };
            let chosen = match current.choose(strategy, self.chooser.clone()) {
                Ok(command) => command,
                Err(e) => {
                    self.failures
                        .push(format!("choosing {strategy} was refused: {e}"));
                    break;
                }
            };
            if let Err(e) = self.host(&chosen) {
                self.failures
                    .push(format!("choosing {strategy} was refused: {e}"));
                break;
            }
            self.log.push(format!("chose {strategy}"));
            if let (true, Some(then)) = (
                self.scenario.expect.resolve_up_front,
                self.scenario.expect.resolve_with,
            ) {
                match self.host(&Command::PlanResolution {
                    incident: incident.clone(),
                    strategy: then,
                    by: self.chooser.clone(),
                }) {
                    Ok(_) => self.log.push(format!("chose {then} up front to resolve")),
                    Err(e) => self
                        .failures
                        .push(format!("choosing {then} up front was refused: {e}")),
                }
            }
            let estimated = current.option(strategy).map(|o| o.estimate.seconds);
            self.start_work();
            if self.scenario.faults.reckless_deploy {
                // Now that a plan may ship through the gate, someone tries
                // to deploy the newest release by hand.
                self.reckless_deploy();
            }
            match self.drive(&incident) {
                Ok(()) => {
                    // The plan's work ends here; what the mitigation sets
                    // off (keeping the hotfix lane) is not the plan's.
                    let simulated = self.chaos.stop_work();
                    mitigated = self.mitigate(&incident);
                    if let (true, Some(estimated), Some(simulated)) =
                        (mitigated, estimated, simulated)
                    {
                        report.restore = Some(RestoreTime {
                            strategy,
                            estimated,
                            simulated,
                        });
                    }
                    break;
                }
                Err(stop) if !stop.fallback => {
                    self.failures.push(stop.why);
                    break;
                }
                Err(stop) => {
                    self.check_invariants("after a failed strategy");
                    choice = self.plan(&incident).and_then(|p| {
                        p.options
                            .iter()
                            .find(|o| o.applicable && !report.chosen.contains(&o.strategy))
                            .map(|o| o.strategy)
                    });
                    let fallback = Fallback {
                        failed: strategy,
                        why: stop.why,
                        next: choice,
                    };
                    self.log.push(fallback.to_string());
                    if !self.scenario.expect.fallback_allowed {
                        self.failures.push(format!(
                            "{fallback}, and the scenario does not allow fallbacks (set `fallback_allowed` if a team would accept it)"
                        ));
                    }
                    report.fallbacks.push(fallback);
                }
            }
        }
        if mitigated && let Some(strategy) = self.scenario.expect.resolve_with {
            self.resolve(&incident, strategy);
        }
        self.check_invariants("at the end");
        self.check_outcome(report, &incident, mitigated);
    }

    /// Charges the work of the plan just chosen at the durations the
    /// planner models, from now on.
    fn start_work(&self) {
        let state = self.driver.state();
        let stages = state
            .pipeline()
            .map(|p| {
                p.environments()
                    .map(|e| (e.id.clone(), crate::recovery::stage_seconds(state, &e.id).0))
                    .collect()
            })
            .unwrap_or_default();
        let policy = state.policy();
        self.chaos.start_work(crate::drill::faults::WorkClock::new(
            stages,
            policy.flag_seconds,
            policy.revert_seconds,
            policy.migrate_seconds,
        ));
    }

    /// The plan the person on call chooses from, rehearsed as them.
    fn plan(&mut self, incident: &IncidentId) -> Option<RecoveryPlan> {
        let caps = self.ports.capabilities();
        let mut request = self.scenario.request.clone();
        let chooser = request.by.get_or_insert_with(|| "oncall".into()).clone();
        self.chooser = chooser;
        match plan_for(
            self.driver.state(),
            incident,
            self.clock.now(),
            &caps,
            &request,
        ) {
            Ok(p) => Some(p),
            Err(e) => {
                self.failures.push(format!("planning failed: {e}"));
                None
            }
        }
    }
}
