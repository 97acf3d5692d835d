//! The simulator: one drill on one thread, against a virtual clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};

use crate::driver::{DriveError, DriveReport, Driver};
use crate::journal::Journal;
use crate::machine::{Command, DeploymentStatus, EventKind, Slot, Verdict};
use crate::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe,
    InMemoryJournalStore, InMemoryVcs, ManualClock, block_on,
};
use crate::model::{
    Artifact, BranchName, Change, Commit, CommitId, Digest, IncidentId, Release, Service,
    ServiceId, Strategy,
};
use crate::port::{Clock, Ports};
use crate::recovery::{EffectAction, EffectStatus, IdempotencyKey, RecoveryPlan, plan};
use crate::retro::Retro;

use super::faults::{
    AppendFault, Chaos, FaultyBuilder, FaultyDeployer, FaultyFlags, FaultyHealth, FaultyJournal,
    FaultyVcs, PushFn,
};
use super::scenario::{HistoryStep, Scenario};

/// A strategy that failed during a drill, and what was chosen next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fallback {
    /// The strategy that failed.
    pub failed: Strategy,
    /// Why it failed.
    pub why: String,
    /// What was chosen next, if anything was left.
    pub next: Option<Strategy>,
}

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed ({})", self.failed, self.why)?;
        match self.next {
            Some(next) => write!(f, "; fell back to {next}"),
            None => f.write_str("; nothing left to fall back to"),
        }
    }
}

/// What one drill did and found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DrillReport {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The first plan for the incident.
    pub plan: Option<RecoveryPlan>,
    /// The strategies chosen, in order (more than one when a step failed).
    pub chosen: Vec<Strategy>,
    /// Every strategy that failed and what came next. Never silent: unless
    /// the scenario allows fallbacks, each one is also a failure.
    pub fallbacks: Vec<Fallback>,
    /// The faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
    /// What happened, line by line (driver steps, faults, person steps).
    pub log: Vec<String>,
    /// Minutes from detection to mitigation, if mitigated.
    pub minutes_to_mitigate: Option<i64>,
    /// The time to restore the chosen option's estimate promised, and the
    /// time its work took on the drill's clock (each stage deployed to,
    /// flag switched, revert made, fix landed and wait, at the durations
    /// the planner models; faults and retries aside), once mitigated.
    pub restore: Option<RestoreTime>,
    /// Broken invariants and unmet expectations; empty when the drill passed.
    pub failures: Vec<String>,
    /// The journal at the end.
    pub journal: Journal,
    /// The retro, when the incident got that far.
    pub retro: Option<Retro>,
}

/// Estimated against simulated time to restore, for the option that
/// restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestoreTime {
    /// The option that restored.
    pub strategy: Strategy,
    /// What its estimate said, in seconds.
    pub estimated: u64,
    /// What its work took in the drill, in seconds.
    pub simulated: u64,
}

impl RestoreTime {
    /// What `strategy`'s estimate said and what its work took, in seconds.
    pub fn new(strategy: Strategy, estimated: u64, simulated: u64) -> Self {
        Self {
            strategy,
            estimated,
            simulated,
        }
    }

    /// The most the two may differ by before the drill fails: a tenth of
    /// the estimate, and never less than [`RestoreTime::MIN_TOLERANCE`].
    pub fn tolerance(&self) -> u64 {
        (self.estimated / 10).max(Self::MIN_TOLERANCE)
    }

    /// The smallest tolerance, in seconds.
    pub const MIN_TOLERANCE: u64 = 120;

    /// Whether the estimate held within the tolerance.
    pub fn held(&self) -> bool {
        self.estimated.abs_diff(self.simulated) <= self.tolerance()
    }
}

impl std::fmt::Display for RestoreTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: estimated {}, simulated {}",
            self.strategy,
            crate::recovery::human(self.estimated),
            crate::recovery::human(self.simulated)
        )
    }
}

impl DrillReport {
    /// Whether every invariant held and every expectation was met.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The verdict in one line: PASS or FAIL, with the fallbacks taken.
    pub fn verdict(&self) -> String {
        std::iter::once(if self.passed() { "PASS" } else { "FAIL" }.to_owned())
            .chain(self.fallbacks.iter().map(ToString::to_string))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The journal as JSON Lines (for determinism checks and archives).
    pub fn journal_jsonl(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing to a vector cannot fail.
        let _ = self.journal.write_jsonl(&mut out);
        out
    }
}

/// Counts, per idempotency key, how often the host's deployer really acted
/// (for the at-most-once invariant).
pub type ExecutionCount = dyn Fn() -> BTreeMap<IdempotencyKey, usize> + Send + Sync;

/// The host's systems a drill runs on: the ports the driver acts through
/// (the drill injects its faults around them and replaces the clock with
/// its own virtual one), and how the drill lands a commit in the
/// repository (the history's merges, the pushes it plays).
///
/// [`DrillWorld::in_memory`] is the default; a host rehearses an incident
/// against its own adapters with [`DrillWorld::on`]. The journal store
/// must start empty: the drill builds the world from the scenario.
#[derive(Clone)]
pub struct DrillWorld {
    ports: Ports,
    push: Arc<PushFn>,
    executions: Option<Arc<ExecutionCount>>,
}

impl std::fmt::Debug for DrillWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrillWorld")
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

impl DrillWorld {
    /// The built-in in-memory adapters.
    pub fn in_memory() -> Self {
        let vcs = Arc::new(InMemoryVcs::default());
        let deployer = Arc::new(InMemoryDeployer::default());
        let ports = Ports::new(
            vcs.clone(),
            deployer.clone(),
            Some(Arc::new(InMemoryFlagStore::default())),
            Arc::new(InMemoryHealthProbe::default()),
            Arc::new(InMemoryBuilder::new(1000, 9, 0)),
            Arc::new(InMemoryJournalStore::default()),
            Arc::new(ManualClock::at(chrono::DateTime::UNIX_EPOCH)),
        );
        Self::on(ports, move |service, branch, commit| {
            vcs.commit(service, branch, commit);
        })
        .counting_deployments(move || deployer.all_executions())
    }

    /// The host's `ports`, and `push`, which lands a commit on a branch of
    /// a service's repository as a developer would. The ports' clock is
    /// not used.
    pub fn on(
        ports: Ports,
        push: impl Fn(&ServiceId, &BranchName, &CommitId) + Send + Sync + 'static,
    ) -> Self {
        Self {
            ports,
            push: Arc::new(push),
            executions: None,
        }
    }

    /// Lets the drill check that the deployer acted at most once per key.
    #[must_use]
    pub fn counting_deployments(
        mut self,
        count: impl Fn() -> BTreeMap<IdempotencyKey, usize> + Send + Sync + 'static,
    ) -> Self {
        self.executions = Some(Arc::new(count));
        self
    }
}

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
            inner: host.health.clone(),
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
        let incident = self.scenario.incident.id.clone();
        let spec = &self.scenario.incident;
        let declare = Command::DeclareIncident {
            incident: incident.clone(),
            environment: spec.environment.clone(),
            service: self.scenario.service.clone(),
            severity: spec.severity,
            cause: spec.cause.clone(),
            summary: spec.summary.clone(),
            by: "oncall".into(),
        };
        self.now_minutes(2);
        if let Err(e) = self.host(&declare) {
            self.failures
                .push(format!("declaring the incident was refused: {e}"));
            return;
        }
        self.log.push(format!("incident `{incident}` declared"));
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
            let chosen = match current.choose(strategy, "oncall") {
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
        self.chaos.start_work(super::faults::WorkClock::new(
            stages,
            policy.flag_seconds,
            policy.revert_seconds,
        ));
    }

    fn plan(&mut self, incident: &IncidentId) -> Option<RecoveryPlan> {
        let caps = self.ports.capabilities();
        match plan(self.driver.state(), incident, self.clock.now(), &caps) {
            Ok(p) => Some(p),
            Err(e) => {
                self.failures.push(format!("planning failed: {e}"));
                None
            }
        }
    }

    fn build_world(&mut self) -> Result<(), String> {
        let s = self.scenario;
        let pipeline = s
            .pipeline
            .clone()
            .build()
            .map_err(|e| format!("pipeline: {e}"))?;
        self.host(&Command::DefinePipeline { pipeline })?;
        self.host(&Command::AdoptPolicy {
            policy: s.policy.clone(),
            by: "team".into(),
        })?;
        for service in std::iter::once(&s.service).chain(&s.other_services) {
            self.host(&Command::RegisterService {
                service: Service::new(service.clone()),
            })?;
        }
        for (i, step) in s.history.iter().enumerate() {
            self.now_minutes(1);
            self.history(step)
                .map_err(|e| format!("history step {}: {e}", i.saturating_add(1)))?;
            self.check_invariants_incrementally(&format!(
                "after history step {}",
                i.saturating_add(1)
            ));
        }
        self.check_invariants("after the history");
        self.history_done = true;
        self.keep_hotfix_lane()?;
        Ok(())
    }

    /// The driver keeps the hotfix lane into the incident's environment
    /// following what the scenario's service runs there (a no-op unless
    /// the policy uses a hotfix lane), riding out the faults as a host
    /// would.
    fn keep_hotfix_lane(&mut self) -> Result<(), String> {
        let env = self.scenario.incident.environment.clone();
        let service = self.scenario.service.clone();
        for _ in 0..20 {
            match block_on(self.driver.keep_hotfix_lane(&env, &service)) {
                Ok(DriveReport::Done { steps }) => {
                    if !steps.is_empty() {
                        self.log.push(format!(
                            "driver: the hotfix lane follows `{env}` ({} actions)",
                            steps.len()
                        ));
                    }
                    self.check_invariants("after keeping the hotfix lane");
                    return Ok(());
                }
                Ok(report @ DriveReport::AwaitingApprovals { .. }) => self.approve(&report)?,
                Ok(other) => return Err(format!("keeping the hotfix lane: {other}")),
                Err(DriveError::Journal(_)) => self.after_failed_append()?,
                Err(DriveError::Unresolved { .. }) => self.now_minutes(1),
                Err(DriveError::BranchMoved { .. }) => self.record_pushes()?,
                Err(e) => return Err(format!("keeping the hotfix lane: {e}")),
            }
        }
        Err("keeping the hotfix lane did not finish".to_owned())
    }

    fn history(&mut self, step: &HistoryStep) -> Result<(), String> {
        let main = BranchName::main();
        match step {
            HistoryStep::Merge {
                change,
                commit,
                flags,
                unflagged,
                reverts,
                depends_on,
                service,
            } => {
                let service = service
                    .clone()
                    .unwrap_or_else(|| self.scenario.service.clone());
                let parent = self.driver.state().branch(&service, &main).cloned();
                self.host(&Command::RecordCommit {
                    commit: Commit::new(commit.clone(), parent),
                })?;
                (self.world.push)(&service, &main, commit);
                let mut c = Change::new(
                    change.clone(),
                    change.as_str(),
                    "dev",
                    self.clock.now(),
                    [commit.clone()],
                );
                c.flags.clone_from(flags);
                c.unflagged.clone_from(unflagged);
                c.depends_on.clone_from(depends_on);
                c.reverts.clone_from(reverts);
                self.host(&Command::RecordChange { change: c })?;
                self.host(&Command::MoveBranch {
                    service,
                    branch: main,
                    head: commit.clone(),
                })?;
            }
            HistoryStep::Build {
                release,
                version,
                build,
                commit,
                schema,
                requires,
                service,
            } => {
                let service = service
                    .clone()
                    .unwrap_or_else(|| self.scenario.service.clone());
                let digest =
                    Digest::parse(&format!("sha256:{:016x}{build:08x}", fnv(release.as_str())))
                        .map_err(|e| e.to_string())?;
                let artifact = Artifact::new(
                    service.clone(),
                    digest.clone(),
                    version.clone(),
                    *build,
                    commit.clone(),
                );
                self.host(&Command::RegisterArtifact { artifact })?;
                let mut r = Release::new(release.clone(), service, digest, format!("cfg-{build}"));
                r.schema = *schema;
                r.requires.clone_from(requires);
                self.host(&Command::RegisterRelease { release: r })?;
            }
            HistoryStep::Ship {
                release,
                through,
                healthy,
            } => {
                for (i, env) in through.iter().enumerate() {
                    let ok = *healthy || i.saturating_add(1) < through.len();
                    let slot = self.request(release, env)?;
                    self.host(&Command::StartRollout { slot: slot.clone() })?;
                    self.now_minutes(3);
                    self.host(&Command::CompleteRollout { slot: slot.clone() })?;
                    self.now_minutes(5);
                    let verdict = if ok {
                        Verdict::Healthy
                    } else {
                        Verdict::Unhealthy {
                            reason: "error rate 12%".into(),
                        }
                    };
                    self.host(&Command::RecordVerification {
                        slot,
                        verdict,
                        by: "probe".into(),
                    })?;
                }
            }
            HistoryStep::RollOut {
                release,
                environment,
            } => {
                let slot = self.request(release, environment)?;
                self.host(&Command::StartRollout { slot: slot.clone() })?;
                self.host(&Command::CompleteRollout { slot })?;
            }
            HistoryStep::Start {
                release,
                environment,
            } => {
                let slot = self.request(release, environment)?;
                self.host(&Command::StartRollout { slot })?;
            }
            HistoryStep::SetFlag {
                environment,
                flag,
                state,
            } => {
                let flags = self
                    .world
                    .ports
                    .flags
                    .clone()
                    .ok_or("the scenario sets a flag, and the host has no flag store")?;
                let (_, revision) =
                    block_on(flags.get(environment, flag)).map_err(|e| e.to_string())?;
                let key = crate::recovery::IdempotencyKey::new(format!(
                    "history/{environment}/{flag}/{}",
                    self.clock.now().timestamp()
                ));
                block_on(flags.set(&key, environment, flag, state, revision))
                    .map_err(|e| e.to_string())?;
                self.host(&Command::SetFlag {
                    environment: environment.clone(),
                    flag: flag.clone(),
                    state: state.clone(),
                    by: "dev".into(),
                    clearance: crate::machine::Clearance::none(),
                })?;
            }
            HistoryStep::Migrate {
                environment,
                migration,
                service,
            } => {
                let service = service
                    .clone()
                    .unwrap_or_else(|| self.scenario.service.clone());
                self.host(&Command::ApplyMigration {
                    environment: environment.clone(),
                    service,
                    migration: migration.clone(),
                    by: "dba".into(),
                })?;
            }
            HistoryStep::Expire { release } => {
                let digest = self
                    .driver
                    .state()
                    .release(release)
                    .map(|r| r.artifact.clone())
                    .ok_or_else(|| format!("release `{release}` is not built"))?;
                self.host(&Command::ExpireArtifact {
                    digest,
                    by: "registry".into(),
                })?;
            }
            HistoryStep::Wait { minutes } => self.now_minutes(i64::from(*minutes)),
            HistoryStep::Command { command } => {
                self.host(command)?;
            }
        }
        Ok(())
    }

    fn request(
        &mut self,
        release: &crate::model::ReleaseId,
        env: &crate::model::EnvironmentId,
    ) -> Result<Slot, String> {
        let entries = self.host(&Command::deploy(env.clone(), release.clone(), "ci"))?;
        let slot = match entries.first().map(|e| &e.event.kind) {
            Some(EventKind::DeploymentRequested { slot, .. }) => slot.clone(),
            _ => return Err("no deployment was opened".to_owned()),
        };
        // The policy's approvers approve (the history is what happened).
        for approver in self.driver.state().pending_approvers(&slot) {
            self.host(&Command::Approve {
                slot: slot.clone(),
                by: approver,
            })?;
        }
        Ok(slot)
    }

    /// Someone deploys the newest release straight to the incident's
    /// environment while the recovery plan holds the gate. If it carries
    /// the cause, the rules must refuse it.
    fn reckless_deploy(&mut self) {
        let env = self.scenario.incident.environment.clone();
        let newest = self
            .driver
            .state()
            .releases
            .values()
            .filter(|r| r.service == self.scenario.service)
            .max_by_key(|r| {
                self.driver
                    .state()
                    .artifact(&r.artifact)
                    .map_or(0, |a| a.build)
            })
            .map(|r| r.id.clone());
        let Some(release) = newest else { return };
        match self.host(&Command::deploy(env.clone(), release.clone(), "eve")) {
            Ok(_) => self.log.push(format!(
                "eve deployed `{release}` to `{env}` during the incident"
            )),
            Err(e) => self
                .log
                .push(format!("eve's deploy of `{release}` was refused: {e}")),
        }
        self.check_invariants("after a reckless deploy");
    }

    /// Drives the chosen plan to the end, restarting after crashes,
    /// waiting out unavailability and playing the person where needed
    /// (steps only a person takes, approvals, recording a push).
    fn drive(&mut self, incident: &IncidentId) -> Result<(), Stop> {
        let mut polls: BTreeMap<Slot, (u64, u64)> = BTreeMap::new();
        for _ in 0..80 {
            self.now_minutes(1);
            let outcome = block_on(self.driver.drive(incident));
            for fault in std::mem::take(
                &mut *self
                    .chaos
                    .log
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            ) {
                self.log.push(format!("fault: {fault}"));
            }
            match outcome {
                Ok(DriveReport::Done { steps }) => {
                    self.log.push(format!("driver: {} steps done", steps.len()));
                    self.check_invariants("after the drive");
                    return Ok(());
                }
                Ok(DriveReport::Paused { key, instruction }) => {
                    self.log.push(format!("person: {instruction}"));
                    self.person(incident, &key)?;
                }
                Ok(report @ DriveReport::AwaitingApprovals { .. }) => {
                    let DriveReport::AwaitingApprovals { slot, .. } = &report else {
                        continue;
                    };
                    self.log.push(format!("driver: {report}"));
                    let (seen, wanted) = polls.entry(slot.clone()).or_insert_with(|| {
                        let wanted = if self.scenario.faults.late_approvals {
                            self.chaos.below(4).saturating_add(1)
                        } else {
                            0
                        };
                        (0, wanted)
                    });
                    if *seen < *wanted {
                        // The approvers are busy: hours pass, and now and
                        // then another process polls.
                        *seen = seen.saturating_add(1);
                        let hours = i64::try_from(self.chaos.below(12))
                            .unwrap_or(0)
                            .saturating_add(1);
                        self.clock.advance(Duration::hours(hours));
                        self.chaos.note(
                            "late approval",
                            format!("approvals: still none for {slot} after {hours} more hours"),
                        );
                        if *seen % 2 == 0 {
                            self.restart()?;
                        }
                        continue;
                    }
                    self.approve(&report)?;
                }
                Err(DriveError::Journal(e)) => {
                    self.log.push(format!("driver stopped ({e})"));
                    self.after_failed_append()?;
                    self.check_invariants("after a failed journal write");
                }
                Err(DriveError::Unresolved { key, error, .. }) => {
                    self.log
                        .push(format!("driver: `{key}` unresolved ({error}); retrying"));
                }
                Err(e @ DriveError::BranchMoved { .. }) => {
                    self.log.push(format!("driver: {e}"));
                    self.record_pushes()?;
                }
                Err(e @ DriveError::StepFailed { .. }) => return Err(Stop::step(e.to_string())),
                Err(DriveError::Refused(refusal)) => {
                    return Err(Stop::broken(format!(
                        "invariant broken: the core refused a step of a plan the planner offered: {refusal}"
                    )));
                }
                Err(e) => return Err(Stop::broken(format!("the driver stopped: {e}"))),
            }
        }
        Err(Stop::broken("the drive did not finish"))
    }

    /// The approvers the policy names approve the waiting revision.
    fn approve(&mut self, report: &DriveReport) -> Result<(), String> {
        let DriveReport::AwaitingApprovals {
            slot, need, role, ..
        } = report
        else {
            return Ok(());
        };
        self.now_minutes(10);
        let approvers = self.driver.state().pending_approvers(slot);
        if approvers.is_empty() {
            return Err(format!(
                "{slot} waits for {need} approvals from `{role}`, and no member of the role can give them"
            ));
        }
        for by in approvers {
            self.log.push(format!("person: `{by}` approves {slot}"));
            self.host(&Command::Approve {
                slot: slot.clone(),
                by,
            })?;
        }
        Ok(())
    }

    /// The person who pushed records the push in the ledger: the commit,
    /// then the branch move.
    fn record_pushes(&mut self) -> Result<(), String> {
        let pushes = self.chaos.take_pushes();
        if pushes.is_empty() {
            return Err("a branch moved, and nobody in the drill pushed to it".to_owned());
        }
        for push in pushes {
            self.log.push(format!(
                "person: records the push of `{}` to `{}`",
                push.commit, push.branch
            ));
            self.host(&Command::RecordCommit {
                commit: Commit::new(push.commit.clone(), [push.parent]),
            })?;
            self.host(&Command::MoveBranch {
                service: push.service,
                branch: push.branch,
                head: push.commit,
            })?;
        }
        Ok(())
    }

    /// Plays the person for a paused step, then confirms it.
    fn person(
        &mut self,
        incident: &IncidentId,
        key: &crate::recovery::IdempotencyKey,
    ) -> Result<(), String> {
        let step = self
            .driver
            .state()
            .incident(incident)
            .and_then(|i| i.steps.iter().find(|s| &s.key == key).cloned())
            .ok_or("the paused step is not in the plan")?;
        match &step.action {
            EffectAction::LandFix { service, onto } => {
                let commit =
                    crate::model::CommitId::new(format!("fix{:04}", self.driver.journal().len()));
                let parent = self.driver.state().branch(service, onto).cloned();
                let fix = self.driver.state().policy().fix_seconds;
                self.chaos.charge(key, super::faults::Work::Seconds(fix));
                self.host(&Command::RecordCommit {
                    commit: Commit::new(commit.clone(), parent),
                })?;
                (self.world.push)(service, onto, &commit);
                let change = Change::new(
                    format!("fix-{key}"),
                    "the fix",
                    "dev",
                    self.clock.now(),
                    [commit.clone()],
                );
                let change_id = change.id.clone();
                self.host(&Command::RecordChange { change })?;
                self.host(&Command::MoveBranch {
                    service: service.clone(),
                    branch: onto.clone(),
                    head: commit,
                })?;
                if let Some(crate::model::SuspectedCause::Change { change: cause }) = self
                    .driver
                    .state()
                    .incident(incident)
                    .map(|i| i.cause.clone())
                {
                    self.host(&Command::DeclareFix {
                        change: cause,
                        fix: change_id,
                        by: "dev".into(),
                    })?;
                }
            }
            EffectAction::MigrateDown {
                environment,
                service,
                to,
            } => {
                let migrate = self.driver.state().policy().migrate_seconds;
                self.chaos
                    .charge(key, super::faults::Work::Seconds(migrate));
                let down = self.driver.state().down_migration(
                    environment,
                    service,
                    *to,
                    format!("down-{key}"),
                );
                self.host(&Command::ApplyMigration {
                    environment: environment.clone(),
                    service: service.clone(),
                    migration: down,
                    by: "dba".into(),
                })?;
            }
            EffectAction::WaitFor {
                environment,
                seconds,
            } => {
                self.chaos
                    .charge(key, super::faults::Work::Seconds(*seconds));
                let service = self.scenario.service.clone();
                let verifying = self
                    .driver
                    .state()
                    .history(environment, &service)
                    .and_then(|h| h.latest())
                    .filter(|d| d.status == DeploymentStatus::Verifying)
                    .map(|d| Slot::new(environment.clone(), service.clone(), d.revision));
                if let Some(slot) = verifying {
                    self.host(&Command::RecordVerification {
                        slot,
                        verdict: Verdict::Healthy,
                        by: "qa".into(),
                    })?;
                }
                return Ok(());
            }
            other => return Err(format!("paused on a step the drill cannot play: {other}")),
        }
        for _ in 0..20 {
            match block_on(self.driver.confirm(incident, key, "done by a person")) {
                Ok(()) => return Ok(()),
                Err(DriveError::Journal(_)) => self.after_failed_append()?,
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("could not record the person's step".to_owned())
    }

    fn mitigate(&mut self, incident: &IncidentId) -> bool {
        self.now_minutes(1);
        match self.host(&Command::MarkMitigated {
            incident: incident.clone(),
            by: "oncall".into(),
        }) {
            Ok(_) => {
                self.log.push("mitigated".to_owned());
                if let Err(e) = self.keep_hotfix_lane() {
                    self.failures.push(e);
                }
                true
            }
            Err(e) => {
                self.failures
                    .push(format!("not mitigated after the plan ran: {e}"));
                false
            }
        }
    }

    fn check_plan(&mut self, first: &RecoveryPlan) {
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

    fn check_outcome(&mut self, report: &mut DrillReport, incident: &IncidentId, mitigated: bool) {
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
        report.retro = Retro::from_journal(self.driver.journal(), incident).ok();
    }

    /// The invariants every drill checks.
    fn check_invariants(&mut self, when: &str) {
        self.check_invariants_with(when, true);
    }

    /// The invariants, except comparing the whole replayed state with the
    /// live one (a full check follows at the end of the history).
    fn check_invariants_incrementally(&mut self, when: &str) {
        self.check_invariants_with(when, false);
    }

    fn check_invariants_with(&mut self, when: &str, whole: bool) {
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
            match super::invariants::snapshot_start_differs(journal, live) {
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

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The outcome of exploring many seeds.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Exploration {
    /// Drills run (each twice).
    pub drills: u64,
    /// Seeds whose drill failed, with their first failure.
    pub failing: BTreeMap<u64, String>,
    /// Seeds whose two runs differed.
    pub nondeterministic: Vec<u64>,
    /// Faults injected over all drills (first runs), by kind.
    pub faults: BTreeMap<String, u64>,
    /// Fallbacks taken over all drills (each also a failure unless its
    /// scenario allows it).
    pub fallbacks: u64,
}

/// Runs `count` seeded drills starting at `first_seed`, each twice, over
/// the given scenarios in turn (seed `s` runs `scenarios[s % len]`).
pub fn explore(scenarios: &[Scenario], first_seed: u64, count: u64) -> Exploration {
    let mut result = Exploration {
        drills: 0,
        failing: BTreeMap::new(),
        nondeterministic: Vec::new(),
        faults: BTreeMap::new(),
        fallbacks: 0,
    };
    if scenarios.is_empty() {
        return result;
    }
    for seed in first_seed..first_seed.saturating_add(count) {
        let index = seed.checked_rem(scenarios.len() as u64).unwrap_or(0);
        let scenario = &scenarios[usize::try_from(index).unwrap_or(0)];
        let a = run(scenario, seed);
        let b = run(scenario, seed);
        result.drills = result.drills.saturating_add(1);
        if a.journal_jsonl() != b.journal_jsonl() {
            result.nondeterministic.push(seed);
        }
        for (kind, n) in &a.faults {
            let count = result.faults.entry(kind.clone()).or_default();
            *count = count.saturating_add(*n);
        }
        result.fallbacks = result.fallbacks.saturating_add(a.fallbacks.len() as u64);
        if let Some(first) = a.failures.first() {
            result
                .failing
                .insert(seed, format!("{}: {first}", a.scenario));
        }
    }
    result
}
