//! A host brings its own deployer: a few dozen lines implementing the
//! `Deployer` port, here a stand-in for a real system that records what it
//! was asked (a real one would call its deployment API, passing the
//! idempotency key along). The driver then rolls production back through
//! it.
//!
//! Run it with `cargo run --example custom_deployer`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use knowngood::driver::Driver;
use knowngood::memory::{
    InMemoryBuilder, InMemoryHealthProbe, InMemoryJournalStore, InMemoryVcs, ManualClock, block_on,
};
use knowngood::port::{AdapterError, Deployer, DeployerCapabilities, ErrorKind, Ports};
use knowngood::recovery::IdempotencyKey;
use knowngood::{
    Artifact, Command, Digest, EnvironmentId, EnvironmentRole, PipelineSpec, Release, ReleaseId,
    ServiceId, Severity, Strategy, SuspectedCause, Verdict,
};

/// The host's deployer: what runs where, and what each key did.
#[derive(Debug, Default)]
struct MyDeployer {
    running: Mutex<BTreeMap<(EnvironmentId, ServiceId), ReleaseId>>,
    by_key: Mutex<BTreeMap<IdempotencyKey, ReleaseId>>,
}

#[async_trait]
impl Deployer for MyDeployer {
    fn capabilities(&self) -> DeployerCapabilities {
        DeployerCapabilities::all()
    }

    async fn deploy(
        &self,
        key: &IdempotencyKey,
        env: &EnvironmentId,
        release: &Release,
        _: &Artifact,
    ) -> Result<(), AdapterError> {
        let mut by_key = self
            .by_key
            .lock()
            .map_err(|_| AdapterError::new(ErrorKind::Unavailable, "lock poisoned"))?;
        if by_key.contains_key(key) {
            return Ok(()); // seen this key: do not deploy twice
        }
        println!(
            "  my-deployer: rolling {} out to {env} (key {key})",
            release.id
        );
        if let Ok(mut running) = self.running.lock() {
            running.insert((env.clone(), release.service.clone()), release.id.clone());
        }
        by_key.insert(key.clone(), release.id.clone());
        Ok(())
    }

    async fn abort(
        &self,
        _: &IdempotencyKey,
        env: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<(), AdapterError> {
        println!("  my-deployer: aborting {service} in {env}");
        Ok(())
    }

    async fn status(
        &self,
        env: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<Option<ReleaseId>, AdapterError> {
        Ok(self
            .running
            .lock()
            .ok()
            .and_then(|r| r.get(&(env.clone(), service.clone())).cloned()))
    }

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<ReleaseId>, AdapterError> {
        Ok(self.by_key.lock().ok().and_then(|k| k.get(key).cloned()))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = Arc::new(ManualClock::at(
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(),
    ));
    // This host has no flag store: retoggling is never offered.
    let ports = Ports::builder()
        .vcs(Arc::new(InMemoryVcs::default()))
        .deployer(Arc::new(MyDeployer::default()))
        .health(Arc::new(InMemoryHealthProbe::default()))
        .builder(Arc::new(InMemoryBuilder::new(1, 1, 0)))
        .journal(Arc::new(InMemoryJournalStore::default()))
        .clock(clock)
        .build()?;
    // A first run: later runs resume from the store (`Driver::resume`).
    let mut driver = block_on(Driver::start(ports, "my-bot"))?;
    let capabilities = driver.ports().capabilities();
    let pipeline = PipelineSpec::new()
        .environment("prod", EnvironmentRole::Production)
        .build()?;
    let mut run = |c: Command| block_on(driver.execute(&c));
    run(Command::DefinePipeline { pipeline })?;
    run(Command::RegisterService {
        service: knowngood::Service::new("payments"),
    })?;
    for n in 1..=2u64 {
        let digest = Digest::parse(&format!("sha256:{n:016x}"))?;
        run(Command::RegisterArtifact {
            artifact: Artifact::new(
                "payments",
                digest.clone(),
                semver::Version::new(1, n, 0),
                n,
                format!("c{n}"),
            ),
        })?;
        run(Command::RegisterRelease {
            release: Release::new(format!("payments@1.{n}.0"), "payments", digest, "cfg"),
        })?;
        let entries = run(Command::deploy("prod", format!("payments@1.{n}.0"), "ci"))?;
        let knowngood::EventKind::DeploymentRequested { slot, .. } = &entries[0].event.kind else {
            return Err("expected a deployment".into());
        };
        run(Command::StartRollout { slot: slot.clone() })?;
        run(Command::CompleteRollout { slot: slot.clone() })?;
        run(Command::RecordVerification {
            slot: slot.clone(),
            verdict: Verdict::Healthy,
            by: "probe".into(),
            evidence: None,
        })?;
    }
    run(Command::DeclareIncident {
        incident: "INC-9".into(),
        environment: "prod".into(),
        service: "payments".into(),
        severity: Severity::Sev2,
        cause: SuspectedCause::Deployment {
            slot: knowngood::Slot::new("prod", "payments", knowngood::Revision(2)),
        },
        summary: "latency doubled".into(),
        by: "oncall".into(),
        impact_began: None,
    })?;
    let plan = knowngood::plan(
        driver.state(),
        &"INC-9".into(),
        driver.ports().clock.now(),
        &capabilities,
    )?;
    let choice = plan.choose(Strategy::Rollback, "oncall")?;
    block_on(driver.execute(&choice))?;
    println!("driving INC-9 through my deployer:");
    let report = block_on(driver.drive(&"INC-9".into()))?;
    println!("{report:?}");
    let serving = driver
        .state()
        .current_release(&"prod".into(), &"payments".into())
        .map(|r| r.id.clone());
    println!("prod now serves {serving:?}");
    Ok(())
}
