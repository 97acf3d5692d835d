//! Shared fixtures: a dev → qa → prod pipeline with a hotfix lane, one
//! service, and helpers that walk releases through the lifecycle.
#![allow(dead_code)]

pub mod git;
pub mod misbehaving;
#[cfg(feature = "postgres")]
pub mod pg;

use chrono::{DateTime, Duration, TimeZone, Utc};
use knowngood::{
    Artifact, Command, Digest, EnvironmentRole, JournalEntry, Ledger, PipelineSpec, Rejection,
    Release, ReleaseId, Revision, Service, Slot, Verdict,
};

pub const SERVICE: &str = "payments";

pub fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

pub fn pipeline_spec() -> PipelineSpec {
    PipelineSpec::new()
        .environment("dev", EnvironmentRole::Development)
        .environment("qa", EnvironmentRole::Test)
        .environment("prod", EnvironmentRole::Production)
        .environment("hotfix-dev", EnvironmentRole::HotfixDevelopment)
        .promote("dev", "qa")
        .promote("qa", "prod")
        .hotfix_promote("hotfix-dev", "prod")
}

/// The digest of build `n` (a different build always has a different digest).
pub fn digest(n: u64) -> Digest {
    Digest::parse(&format!("sha256:{n:016x}")).unwrap()
}

pub fn release_id(n: u64) -> ReleaseId {
    ReleaseId::new(format!("{SERVICE}@1.{n}.0"))
}

/// A ledger clock that moves one minute per command.
pub struct World {
    pub ledger: Ledger,
    pub clock: i64,
}

impl World {
    /// An in-memory journal store holding this world's journal, for a
    /// driver to resume from.
    pub fn stored(&self) -> std::sync::Arc<knowngood::memory::InMemoryJournalStore> {
        let store = std::sync::Arc::new(knowngood::memory::InMemoryJournalStore::default());
        knowngood::memory::block_on(knowngood::port::JournalStore::append(
            &*store,
            0,
            self.ledger.journal().entries(),
        ))
        .unwrap();
        store
    }

    /// Production revisions 1 and 2 verified; 3 failed its verification;
    /// 4 served and was replaced before anyone verified it; 5 verified; 6
    /// serves now, failed.
    pub fn named_targets() -> Self {
        let mut w = Self::new();
        for n in 1..=2 {
            let release = w.ready_for_prod(n);
            w.deploy("prod", &release, true);
        }
        let three = w.ready_for_prod(3);
        w.deploy("prod", &three, false);
        let four = w.ready_for_prod(4);
        w.roll_out("prod", &four);
        let five = w.ready_for_prod(5);
        w.deploy("prod", &five, true);
        let six = w.ready_for_prod(6);
        w.deploy("prod", &six, false);
        w
    }

    pub fn new() -> Self {
        let mut w = Self {
            ledger: Ledger::new(),
            clock: 0,
        };
        w.ok(Command::DefinePipeline {
            pipeline: pipeline_spec().build().unwrap(),
        });
        w.ok(Command::RegisterService {
            service: Service::new(SERVICE),
        });
        w
    }

    #[allow(clippy::needless_pass_by_value)] // call sites read better passing commands by value
    pub fn run(&mut self, command: Command) -> Result<Vec<JournalEntry>, Rejection> {
        self.clock += 1;
        self.ledger
            .execute(&command, t(self.clock))
            .map(<[JournalEntry]>::to_vec)
    }

    pub fn ok(&mut self, command: Command) -> Vec<JournalEntry> {
        let name = command.name();
        self.run(command)
            .unwrap_or_else(|r| panic!("{name} was refused: {r}"))
    }

    /// Registers build `n` and its release.
    pub fn build(&mut self, n: u64) -> ReleaseId {
        self.ok(Command::RegisterArtifact {
            artifact: Artifact::new(
                SERVICE,
                digest(n),
                semver::Version::new(1, n, 0),
                n,
                format!("c{n:04}"),
            ),
        });
        self.ok(Command::RegisterRelease {
            release: Release::new(release_id(n), SERVICE, digest(n), format!("cfg-{n}")),
        });
        release_id(n)
    }

    pub fn request(&mut self, env: &str, release: &ReleaseId) -> Slot {
        let entries = self.ok(Command::RequestDeployment {
            environment: env.into(),
            release: release.clone(),
            by: "deploy-bot".into(),
            clearance: knowngood::Clearance::none(),
            effect: None,
        });
        slot_of(&entries[0])
    }

    pub fn start(&mut self, slot: &Slot) {
        self.ok(Command::StartRollout { slot: slot.clone() });
    }

    pub fn complete(&mut self, slot: &Slot) {
        self.ok(Command::CompleteRollout { slot: slot.clone() });
    }

    pub fn verify(&mut self, slot: &Slot, healthy: bool) {
        let verdict = if healthy {
            Verdict::Healthy
        } else {
            Verdict::Unhealthy {
                reason: "error rate 12%".into(),
            }
        };
        self.ok(Command::RecordVerification {
            slot: slot.clone(),
            verdict,
            by: "health-probe".into(),
            evidence: None,
        });
    }

    /// Requested, rolled out and completed, but not yet verified.
    pub fn roll_out(&mut self, env: &str, release: &ReleaseId) -> Slot {
        let slot = self.request(env, release);
        self.start(&slot);
        self.complete(&slot);
        slot
    }

    /// Rolled out and verified (healthy or not). A failure in prod stops
    /// the line; these lifecycle fixtures then authorize a blanket recovery
    /// plan so that later steps may go through (gates are tested on their
    /// own in `tests/gates.rs`).
    pub fn deploy(&mut self, env: &str, release: &ReleaseId, healthy: bool) -> Slot {
        let slot = self.roll_out(env, release);
        self.verify(&slot, healthy);
        if !healthy && env == "prod" {
            self.authorize_everything(env);
        }
        slot
    }

    /// Authorizes a recovery plan behind the closed gate of `env` that may
    /// roll back and deploy any of builds 1 to 40.
    pub fn authorize_everything(&mut self, env: &str) {
        let permits = std::iter::once(knowngood::RecoveryPermit::Rollback {
            service: SERVICE.into(),
        })
        .chain((1..=40).map(|n| knowngood::RecoveryPermit::Deploy {
            release: release_id(n),
        }))
        .collect();
        self.ok(Command::AuthorizeRecovery {
            environment: env.into(),
            plan: "test-recovery".into(),
            permits,
            by: "incident-commander".into(),
        });
    }

    /// Deploys and verifies build `n` through dev and qa, ready for prod.
    pub fn ready_for_prod(&mut self, n: u64) -> ReleaseId {
        let release = self.build(n);
        self.deploy("dev", &release, true);
        self.deploy("qa", &release, true);
        release
    }

    pub fn rollback(&mut self, env: &str, to: Option<u32>) -> Result<Vec<JournalEntry>, Rejection> {
        self.run(Command::Rollback {
            environment: env.into(),
            service: SERVICE.into(),
            to_revision: to.map(Revision),
            by: "alice".into(),
            reason: "error rate up".into(),
            clearance: knowngood::Clearance::none(),
            effect: None,
        })
    }
}

pub fn slot_of(entry: &JournalEntry) -> Slot {
    match &entry.event.kind {
        knowngood::EventKind::DeploymentRequested { slot, .. }
        | knowngood::EventKind::RollbackRequested { slot, .. } => slot.clone(),
        other => panic!("not a request: {other:?}"),
    }
}

/// In-memory ports around a real journal store, on a manual clock at
/// [`t`]`(0)`: for the durable stores' tests.
pub fn ports_on(journal: std::sync::Arc<dyn knowngood::JournalStore>) -> knowngood::Ports {
    use knowngood::memory::{
        InMemoryBuilder, InMemoryDeployer, InMemoryHealthProbe, InMemoryVcs, ManualClock,
    };
    use std::sync::Arc;
    knowngood::Ports::builder()
        .vcs(Arc::new(InMemoryVcs::default()))
        .deployer(Arc::new(InMemoryDeployer::default()))
        .health(Arc::new(InMemoryHealthProbe::default()))
        .builder(Arc::new(InMemoryBuilder::new(1, 1, 0)))
        .journal(journal)
        .clock(Arc::new(ManualClock::at(t(0))))
        .build()
        .unwrap()
}

/// Ports on the in-memory adapters (a flag store, no migrator, no
/// runbooks), on `journal` and `clock`.
pub fn in_memory_ports(
    journal: std::sync::Arc<dyn knowngood::JournalStore>,
    clock: std::sync::Arc<knowngood::memory::ManualClock>,
) -> knowngood::Ports {
    use std::sync::Arc;
    knowngood::Ports::new(
        Arc::new(knowngood::memory::InMemoryVcs::default()),
        Arc::new(knowngood::memory::InMemoryDeployer::default()),
        Some(Arc::new(knowngood::memory::InMemoryFlagStore::default())),
        Arc::new(knowngood::memory::InMemoryHealthProbe::default()),
        Arc::new(knowngood::memory::InMemoryBuilder::new(3, 1, 0)),
        journal,
        clock,
    )
}

/// Registers service `name` through the driver.
pub fn register_service(
    driver: &mut knowngood::Driver,
    name: &str,
) -> Result<(), knowngood::DriveError> {
    knowngood::memory::block_on(driver.execute(&Command::RegisterService {
        service: knowngood::Service::new(name),
    }))
    .map(drop)
}

/// How often a replica driven by [`drive_as_replica`] was told another held
/// the lease.
pub static HELD_BACK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Drives `INC-1` to its end as a replica would (on a tokio runtime):
/// waits while another replica holds the lease, reads the store again
/// after losing a race or the lease.
pub async fn drive_as_replica(mut driver: knowngood::Driver, name: &str) -> knowngood::Driver {
    use knowngood::{DriveError, DriveReport};
    use std::time::Duration;
    let incident = "INC-1".into();
    for _ in 0..2_000 {
        match driver.drive(&incident).await {
            Ok(DriveReport::Done { .. }) => return driver,
            Ok(other) => panic!("{name}: unexpected pause: {other:?}"),
            Err(DriveError::LeaseHeld { remaining, .. }) => {
                HELD_BACK.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(
                    remaining.clamp(Duration::from_millis(20), Duration::from_millis(200)),
                )
                .await;
            }
            Err(DriveError::LeaseLost { .. }) => {}
            Err(DriveError::Journal(e)) if e.kind() == knowngood::ErrorKind::Conflict => {}
            Err(e) => panic!("{name}: {e}"),
        }
        driver.refresh().await.unwrap();
    }
    panic!("{name}: did not finish")
}

/// Each entry's event as JSON with who performed it (any of `performers`)
/// and every time left out: what two runs of one plan by different
/// replicas, on real clocks, share.
pub fn performed_apart(entries: &[JournalEntry], performers: &[&str]) -> Vec<serde_json::Value> {
    fn blank(value: &mut serde_json::Value, performers: &[&str]) {
        match value {
            serde_json::Value::String(text) => {
                if performers.contains(&text.as_str()) {
                    "<performer>".clone_into(text);
                } else if chrono::DateTime::parse_from_rfc3339(text).is_ok() {
                    "<time>".clone_into(text);
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| blank(v, performers)),
            serde_json::Value::Object(fields) => {
                fields.values_mut().for_each(|v| blank(v, performers));
            }
            _ => {}
        }
    }
    entries
        .iter()
        .map(|e| {
            let mut kind = serde_json::to_value(&e.event.kind).unwrap();
            blank(&mut kind, performers);
            kind
        })
        .collect()
}

pub fn type_names(entries: &[JournalEntry]) -> Vec<&'static str> {
    entries.iter().map(|e| e.event.kind.type_name()).collect()
}

impl World {
    /// Registers build `n` (version 1.n.0) and its release, which runs on
    /// the schema versions `range`.
    pub fn register_on_schema(&mut self, n: u64, range: knowngood::SchemaRange) -> ReleaseId {
        self.ok(Command::RegisterArtifact {
            artifact: Artifact::new(SERVICE, digest(n), semver::Version::new(1, n, 0), n, "c"),
        });
        self.ok(Command::RegisterRelease {
            release: Release::new(release_id(n), SERVICE, digest(n), "cfg").on_schema(range),
        });
        release_id(n)
    }

    /// Records commit `commit` on top of `parent` as change `pr` (by bob)
    /// and moves main to it.
    pub fn merge(&mut self, pr: &str, commit: &str, parent: Option<&str>) {
        self.merge_change(pr, commit, parent, |c| c);
    }

    /// Like [`World::merge`], shaping the change first (flags, reverts).
    pub fn merge_change(
        &mut self,
        pr: &str,
        commit: &str,
        parent: Option<&str>,
        shape: impl FnOnce(knowngood::Change) -> knowngood::Change,
    ) {
        self.ok(Command::RecordCommit {
            commit: knowngood::Commit::new(commit, parent),
        });
        let change = shape(knowngood::Change::new(
            pr,
            pr,
            "bob",
            t(self.clock),
            [commit],
        ));
        self.ok(Command::RecordChange { change });
        self.ok(Command::MoveBranch {
            service: SERVICE.into(),
            branch: "main".into(),
            head: commit.into(),
        });
    }

    /// Registers build `n` built from `commit`, and its release.
    pub fn build_at(&mut self, n: u64, commit: &str) -> ReleaseId {
        self.build_with(n, commit, None)
    }

    pub fn build_with(&mut self, n: u64, commit: &str, builder: Option<&str>) -> ReleaseId {
        let mut artifact =
            Artifact::new(SERVICE, digest(n), semver::Version::new(1, n, 0), n, commit);
        if let Some(b) = builder {
            artifact = artifact.built_by(b);
        }
        self.ok(Command::RegisterArtifact { artifact });
        self.ok(Command::RegisterRelease {
            release: Release::new(release_id(n), SERVICE, digest(n), format!("cfg-{n}")),
        });
        release_id(n)
    }

    /// Merges change `pr` as `commit` on `parent`, builds it as build `n`
    /// and takes it through dev and qa: ready for production.
    pub fn change_ready_for_prod(
        &mut self,
        (pr, commit, parent): (&str, &str, Option<&str>),
        n: u64,
        shape: impl FnOnce(knowngood::Change) -> knowngood::Change,
    ) -> ReleaseId {
        self.merge_change(pr, commit, parent, shape);
        let release = self.build_at(n, commit);
        self.through_qa(&release);
        release
    }

    /// Merges change `pr` as `commit` on `parent`, builds it as build `n`
    /// and ships it through dev and qa into prod, verified healthy.
    #[allow(dead_code)] // not every test crate ships whole changes
    pub fn ship_change(
        &mut self,
        (pr, commit, parent): (&str, &str, Option<&str>),
        n: u64,
    ) -> ReleaseId {
        let release = self.change_ready_for_prod((pr, commit, parent), n, |c| c);
        self.deploy("prod", &release, true);
        release
    }

    /// Deploys and verifies a registered release through dev and qa.
    pub fn through_qa(&mut self, release: &ReleaseId) {
        self.deploy("dev", release, true);
        self.deploy("qa", release, true);
    }

    pub fn gate(&self, env: &str) -> Option<&knowngood::ClosedGate> {
        self.ledger
            .state()
            .environment(&env.into())
            .unwrap()
            .closed_gate()
    }

    pub fn prod_history_of(&self, env: &str) -> &knowngood::RolloutHistory {
        self.ledger
            .state()
            .history(&env.into(), &SERVICE.into())
            .unwrap()
    }

    pub fn prod_history(&self) -> &knowngood::RolloutHistory {
        self.ledger
            .state()
            .history(&"prod".into(), &SERVICE.into())
            .unwrap()
    }
}

/// Stage durations used by the planner scenarios (seconds).
pub fn timed_policy(mut policy: knowngood::Policy) -> knowngood::Policy {
    for (env, secs) in [
        ("dev", 600),
        ("qa", 3600),
        ("prod", 600),
        ("hotfix-dev", 600),
    ] {
        policy.stage_seconds.insert(env.into(), secs);
    }
    policy.fix_seconds = 1800;
    policy.revert_seconds = 300;
    policy
}

impl World {
    pub fn adopt(&mut self, policy: knowngood::Policy) {
        self.ok(Command::AdoptPolicy {
            policy,
            by: "alice".into(),
        });
    }

    /// The host records that the plan's last Verify step of `INC-1`
    /// measured the service healthy (what the driver does when it drives
    /// the plan).
    pub fn measured_healthy(&mut self) {
        let incident: knowngood::IncidentId = "INC-1".into();
        let step = self
            .ledger
            .state()
            .incident(&incident)
            .unwrap()
            .steps
            .iter()
            .rev()
            .find(|s| matches!(s.action, knowngood::recovery::EffectAction::Verify { .. }))
            .expect("the plan has a Verify step")
            .key
            .clone();
        self.ok(Command::RecordEffect {
            incident,
            key: step,
            outcome: knowngood::recovery::EffectOutcome::Succeeded {
                detail: "measured healthy: error rate 0.1 %".into(),
            },
            by: Some("bot".into()),
        });
    }

    pub fn declare(&mut self, cause: knowngood::SuspectedCause) {
        self.ok(Command::DeclareIncident {
            incident: "INC-1".into(),
            environment: "prod".into(),
            service: SERVICE.into(),
            severity: knowngood::Severity::Sev1,
            cause,
            summary: "checkout failing".into(),
            by: "alice".into(),
            impact_began: None,
        });
    }

    pub fn plan(&self) -> knowngood::RecoveryPlan {
        knowngood::plan(
            self.ledger.state(),
            &"INC-1".into(),
            t(self.clock),
            &knowngood::Capabilities::all(),
        )
        .unwrap()
    }

    /// Plans now and chooses `strategy` from the plan, as a host would.
    pub fn choose(&mut self, strategy: knowngood::Strategy) -> Vec<JournalEntry> {
        let command = self.plan().choose(strategy, "alice").unwrap();
        self.ok(command)
    }
}

/// A choice of `strategy` for INC-1 with no steps, made past the planner:
/// only the incident's phase and the policy judge it.
pub fn bare_choice(strategy: knowngood::Strategy) -> Command {
    Command::ChooseStrategy {
        incident: "INC-1".into(),
        strategy,
        steps: Vec::new(),
        follow_ups: Vec::new(),
        considered: Vec::new(),
        explanation: String::new(),
        by: "alice".into(),
        clearance: knowngood::Clearance::none(),
    }
}

pub fn external() -> knowngood::SuspectedCause {
    knowngood::SuspectedCause::External {
        description: "payment provider changed its API".into(),
    }
}

pub fn change_cause(change: &str) -> knowngood::SuspectedCause {
    knowngood::SuspectedCause::Change {
        change: change.into(),
    }
}

/// The applicability of every strategy, in `Strategy::ALL` order.
pub fn applicability(plan: &knowngood::RecoveryPlan) -> Vec<(knowngood::Strategy, bool)> {
    knowngood::Strategy::ALL
        .iter()
        .map(|s| (*s, plan.option(*s).unwrap().applicable))
        .collect()
}

impl World {
    /// Like [`World::authorize_everything`], but only when the gate of `env`
    /// is closed (for random histories).
    pub fn authorize_everything_quietly(&mut self, env: &str) {
        if self.gate(env).is_some() {
            let permits = std::iter::once(knowngood::RecoveryPermit::Rollback {
                service: SERVICE.into(),
            })
            .chain(std::iter::once(knowngood::RecoveryPermit::Forward {
                service: SERVICE.into(),
            }))
            .collect();
            let _ = self.run(Command::AuthorizeRecovery {
                environment: env.into(),
                plan: "test-recovery".into(),
                permits,
                by: "incident-commander".into(),
            });
        }
    }
}

/// Build 1 (a1, PR-1) verified in prod; build 2 carries PR-2 (998b) and is
/// verified in prod too; then incident `INC-1` names PR-2.
pub fn bad_commit_in_production(policy: knowngood::Policy) -> World {
    let mut w = World::new();
    w.adopt(timed_policy(policy));
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    w.merge("PR-2", "998b", Some("a1"));
    let two = w.build_at(2, "998b");
    w.through_qa(&two);
    w.deploy("prod", &two, true);
    w.declare(change_cause("PR-2"));
    w
}

/// Build 1 (a1) verified in prod; PR-2 (f2), behind flag `new-checkout`,
/// ships as build 2 and the flag is turned on in prod; then `INC-1` names
/// PR-2.
pub fn flagged_change_in_production() -> World {
    let mut w = World::new();
    w.adopt(timed_policy(knowngood::Policy::default()));
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    w.merge_change("PR-2", "f2", Some("a1"), |c| c.behind_flag("new-checkout"));
    let two = w.build_at(2, "f2");
    w.through_qa(&two);
    w.deploy("prod", &two, true);
    w.ok(Command::SetFlag {
        environment: "prod".into(),
        flag: "new-checkout".into(),
        state: knowngood::FlagState::On,
        by: "bob".into(),
        clearance: knowngood::Clearance::none(),
    });
    w.declare(change_cause("PR-2"));
    w
}

/// Builds 1 and 2 served in prod; build 3 (PR-3) is still rolling out
/// there when the incident names it.
pub fn suspect_rolling_out() -> World {
    let mut w = World::new();
    let one = w.change_ready_for_prod(("PR-1", "a1", None), 1, |c| c);
    w.deploy("prod", &one, true);
    let two = w.change_ready_for_prod(("PR-2", "b2", Some("a1")), 2, |c| c);
    w.deploy("prod", &two, true);
    let three = w.change_ready_for_prod(("PR-3", "c3", Some("b2")), 3, |c| c);
    let slot = w.request("prod", &three);
    w.start(&slot);
    w.declare(change_cause("PR-3"));
    w
}
