//! Seeded faults: a small deterministic random source and wrappers around
//! the in-memory ports that fail the way real systems do.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Duration;

use crate::memory::ManualClock;
use crate::model::{BranchName, CommitId, EnvironmentId, ServiceId};
use crate::port::{AdapterError, ErrorKind};
use crate::recovery::IdempotencyKey;

mod ports;

pub(crate) use ports::{
    FaultyBuilder, FaultyDeployer, FaultyFlags, FaultyHealth, FaultyJournal, FaultyMigrator,
    FaultyRunbooks, FaultyVcs,
};

/// A deterministic random source (`SplitMix64`): the same seed gives the
/// same sequence on every machine.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        // 53 random bits as a fraction in [0, 1).
        #[allow(clippy::cast_precision_loss)]
        let x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        x < p
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64().checked_rem(n).unwrap_or(0)
    }
}

/// The fault a port call meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Nothing happened; the system was unreachable.
    Unavailable,
    /// Timed out before acting: outcome unknown, nothing happened.
    TimeoutBefore,
    /// Timed out after acting: outcome unknown, it happened.
    TimeoutAfter,
    /// The call was delivered twice.
    Duplicate,
    /// The call took minutes.
    Latency,
}

/// What happened at the last failed journal append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppendFault {
    /// The process died: the drill restarts the driver from the store.
    Crash,
    /// The store was briefly down: the same driver goes on.
    Failure,
}

/// A commit someone pushed behind the driver's back.
#[derive(Debug, Clone)]
pub(crate) struct Push {
    pub(crate) service: ServiceId,
    pub(crate) branch: BranchName,
    pub(crate) commit: CommitId,
    pub(crate) parent: CommitId,
}

/// Lands a commit on a branch of the host's repository, as a developer
/// pushing would.
pub type PushFn = dyn Fn(&ServiceId, &BranchName, &CommitId) + Send + Sync;

/// The shared source of faults for one drill.
pub(crate) struct Chaos {
    rng: Mutex<SimRng>,
    spec: super::FaultSpec,
    clock: Arc<ManualClock>,
    degraded_once: Mutex<bool>,
    /// Flagged code that fails once its flag reaches a share of users.
    pub(crate) exposure: Mutex<Option<Exposure>>,
    push: Arc<PushFn>,
    pushed: Mutex<Vec<Push>>,
    last_append: Mutex<Option<AppendFault>>,
    counts: Mutex<std::collections::BTreeMap<&'static str, u64>>,
    pub(crate) log: Mutex<Vec<String>>,
    work: Mutex<Option<WorkClock>>,
}

/// A scenario's flagged code that breaks the service where its flag
/// reaches `breaks_at` percent of users or more.
#[derive(Debug, Clone)]
pub(crate) struct Exposure {
    pub(crate) environment: EnvironmentId,
    pub(crate) flag: crate::model::FlagKey,
    pub(crate) breaks_at: u8,
    /// The host's flag store, read without faults.
    pub(crate) flags: Arc<dyn crate::port::FlagStore>,
}

/// The modelled durations of what a chosen plan carries out, charged once
/// per idempotency key while a plan is being driven: the drill's clock
/// advances by them, and their sum is the simulated time to restore.
#[derive(Debug)]
pub(crate) struct WorkClock {
    /// Each environment's stage, as the planner models it.
    pub(crate) stages: std::collections::BTreeMap<EnvironmentId, u64>,
    /// Switching a flag or traffic back (an abort).
    pub(crate) flag_seconds: u64,
    /// Making a revert.
    pub(crate) revert_seconds: u64,
    /// Running a schema migration.
    pub(crate) migrate_seconds: u64,
    /// Charged so far.
    pub(crate) seconds: u64,
    charged: std::collections::BTreeSet<IdempotencyKey>,
}

impl WorkClock {
    pub(crate) fn new(
        stages: std::collections::BTreeMap<EnvironmentId, u64>,
        flag_seconds: u64,
        revert_seconds: u64,
        migrate_seconds: u64,
    ) -> Self {
        Self {
            stages,
            flag_seconds,
            revert_seconds,
            migrate_seconds,
            seconds: 0,
            charged: std::collections::BTreeSet::new(),
        }
    }
}

/// What a port call carried out, for the work clock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Work<'a> {
    /// A deployment into this environment (a stage).
    Stage(&'a EnvironmentId),
    /// A flag switched, or traffic switched back.
    Switch,
    /// A revert made.
    Revert,
    /// A schema migration run (a down-migration, say).
    Migration,
    /// This many seconds of a person's work (a fix, waiting).
    Seconds(u64),
}

impl std::fmt::Debug for Chaos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chaos")
            .field("spec", &self.spec)
            .field("counts", &*lock(&self.counts))
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Chaos {
    pub(crate) fn new(
        seed: u64,
        spec: &super::FaultSpec,
        clock: Arc<ManualClock>,
        push: Arc<PushFn>,
    ) -> Self {
        Self {
            rng: Mutex::new(SimRng::new(seed)),
            spec: spec.clone(),
            clock,
            degraded_once: Mutex::new(false),
            exposure: Mutex::new(None),
            push,
            pushed: Mutex::new(Vec::new()),
            last_append: Mutex::new(None),
            counts: Mutex::new(std::collections::BTreeMap::new()),
            log: Mutex::new(Vec::new()),
            work: Mutex::new(None),
        }
    }

    /// Starts charging the work of a newly chosen plan (forgetting any
    /// earlier plan's).
    pub(crate) fn start_work(&self, clock: WorkClock) {
        *lock(&self.work) = Some(clock);
    }

    /// Stops charging; returns the seconds charged since `start_work`.
    pub(crate) fn stop_work(&self) -> Option<u64> {
        lock(&self.work).take().map(|w| w.seconds)
    }

    /// Charges `work` done under `key` (once per key) while a plan is
    /// driven, and moves the drill's clock on by it.
    pub(crate) fn charge(&self, key: &IdempotencyKey, work: Work<'_>) {
        let mut guard = lock(&self.work);
        let Some(clock) = guard.as_mut() else {
            return;
        };
        if !clock.charged.insert(key.clone()) {
            return;
        }
        let seconds = match work {
            Work::Stage(env) => clock.stages.get(env).copied().unwrap_or(0),
            Work::Switch => clock.flag_seconds,
            Work::Revert => clock.revert_seconds,
            Work::Migration => clock.migrate_seconds,
            Work::Seconds(s) => s,
        };
        clock.seconds = clock.seconds.saturating_add(seconds);
        drop(guard);
        self.clock.advance(Duration::seconds(
            i64::try_from(seconds).unwrap_or(i64::MAX),
        ));
    }

    /// Notes a fault of `kind` that was injected (by a port wrapper, or
    /// played by the drill itself: clock jumps, late approvals).
    pub(crate) fn note(&self, kind: &'static str, what: String) {
        let mut counts = lock(&self.counts);
        let count = counts.entry(kind).or_default();
        *count = count.saturating_add(1);
        drop(counts);
        lock(&self.log).push(what);
    }

    /// Faults injected so far, by kind.
    pub(crate) fn counts(&self) -> std::collections::BTreeMap<&'static str, u64> {
        lock(&self.counts).clone()
    }

    /// A number below `n`, from the drill's seed.
    pub(crate) fn below(&self, n: u64) -> u64 {
        lock(&self.rng).below(n)
    }

    /// Whether the last failed append was a crash or a brief failure.
    pub(crate) fn last_append(&self) -> Option<AppendFault> {
        *lock(&self.last_append)
    }

    /// The pushes made behind the driver's back, oldest first (taken).
    pub(crate) fn take_pushes(&self) -> Vec<Push> {
        std::mem::take(&mut *lock(&self.pushed))
    }

    fn draw(&self) -> Option<Fault> {
        let mut rng = lock(&self.rng);
        if !rng.chance(self.spec.rate) {
            return None;
        }
        Some(match rng.below(5) {
            0 => Fault::Unavailable,
            1 => Fault::TimeoutBefore,
            2 => Fault::TimeoutAfter,
            3 => Fault::Duplicate,
            _ => Fault::Latency,
        })
    }

    fn append_fault(&self) -> Option<AppendFault> {
        let mut rng = lock(&self.rng);
        let fault = if rng.chance(self.spec.crash_rate) {
            Some(AppendFault::Crash)
        } else if rng.chance(self.spec.append_failure_rate) {
            Some(AppendFault::Failure)
        } else {
            None
        };
        drop(rng);
        *lock(&self.last_append) = fault;
        fault
    }

    /// Whether a push may still happen in this drill (the scenario asks
    /// for one, and none happened yet).
    fn may_push(&self) -> bool {
        self.spec.concurrent_push && !lock(&self.counts).contains_key("concurrent push")
    }

    /// Once per drill (when the scenario asks), pushes a commit onto
    /// `branch` (at `head`) just before a call that moves it.
    fn maybe_push(
        &self,
        service: &ServiceId,
        branch: &BranchName,
        head: Result<CommitId, AdapterError>,
    ) {
        if !self.may_push() {
            return;
        }
        let Ok(parent) = head else { return };
        if !lock(&self.rng).chance(0.7) {
            return;
        }
        let commit = CommitId::new(format!("push{:04}", self.below(10_000)));
        (self.push)(service, branch, &commit);
        self.note(
            "concurrent push",
            format!("vcs: someone pushed `{commit}` to `{branch}`"),
        );
        lock(&self.pushed).push(Push {
            service: service.clone(),
            branch: branch.clone(),
            commit,
            parent,
        });
    }

    /// Runs `act` (once, twice, or not at all) as the drawn fault says.
    async fn run<T, F, Fut>(&self, port: &str, act: F) -> Result<T, AdapterError>
    where
        F: Fn() -> Fut + Send,
        Fut: Future<Output = Result<T, AdapterError>> + Send,
        T: Send,
    {
        match self.draw() {
            None => act().await,
            Some(Fault::Unavailable) => {
                self.note("unavailable", format!("{port}: unavailable"));
                Err(AdapterError::new(
                    ErrorKind::Unavailable,
                    "connection refused",
                ))
            }
            Some(Fault::TimeoutBefore) => {
                self.note(
                    "timeout before acting",
                    format!("{port}: timed out before acting"),
                );
                Err(AdapterError::new(ErrorKind::UnknownOutcome, "timed out"))
            }
            Some(Fault::TimeoutAfter) => {
                self.note(
                    "timeout after acting",
                    format!("{port}: timed out after acting"),
                );
                act().await?;
                Err(AdapterError::new(ErrorKind::UnknownOutcome, "timed out"))
            }
            Some(Fault::Duplicate) => {
                self.note("duplicate delivery", format!("{port}: delivered twice"));
                act().await?;
                act().await
            }
            Some(Fault::Latency) => {
                let minutes = i64::try_from(lock(&self.rng).below(5))
                    .unwrap_or(0)
                    .saturating_add(1);
                self.note("latency", format!("{port}: slow ({minutes} min)"));
                self.clock.advance(Duration::minutes(minutes));
                act().await
            }
        }
    }
}
