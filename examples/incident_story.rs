//! An incident told step by step on the in-memory core and ports.
//!
//! A `payments` service flows through dev → qa → prod. Two releases reach
//! production and are verified. The third, carrying change PR-998, fails
//! its production health check: the line stops (the production gate
//! closes). An incident is declared naming PR-998 (which poisons it); the
//! planner ranks every way back and explains its choice; the chosen
//! rollback goes through the closed gate and restores the last release
//! verified known good. The drift from main is reported; redeploying the
//! poisoned release, reopening the gate early and a build that skipped QA
//! are all refused with their reasons. A revert of PR-998 is merged,
//! built, promoted and verified; the incident is resolved (the gate
//! reopens) and reviewed. Finally the journal is written as JSON Lines,
//! verified, read back and replayed, and the retro, the plan as Mermaid
//! and the audit trail are printed.
//!
//! Run it with `cargo run --example incident_story`.

use std::error::Error;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use knowngood::driver::{DriveReport, Driver};
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe,
    InMemoryJournalStore, InMemoryVcs, ManualClock, block_on,
};
use knowngood::port::{Clock, Ports};
use knowngood::recovery::EffectOutcome;
use knowngood::retro::Retro;
use knowngood::{
    Artifact, Change, Command, Commit, Digest, EnvironmentRole, EventKind, Journal, JournalEntry,
    Ledger, PipelineSpec, Release, ReleaseId, RolloutHistory, Service, Severity, Slot,
    SuspectedCause, Verdict, picture, recovery,
};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The drill: a driver over in-memory ports, and a clock that moves a few
/// minutes per step.
struct Drill {
    driver: Driver,
    clock: Arc<ManualClock>,
}

impl Drill {
    fn run(&mut self, minutes: i64, command: &Command) -> Result<Vec<JournalEntry>> {
        self.clock.advance(Duration::minutes(minutes));
        Ok(block_on(self.driver.execute(command))?)
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn say(&self, text: &str) {
        println!("{}  {text}", self.now().format("%H:%M"));
    }

    /// Merges a change of one commit on main.
    fn merge(
        &mut self,
        pr: &str,
        title: &str,
        commit: &str,
        parent: Option<&str>,
    ) -> Result<Change> {
        self.run(
            0,
            &Command::RecordCommit {
                commit: Commit::new(commit, parent),
            },
        )?;
        let change = Change::new(pr, title, "bob", self.now(), [commit]);
        Ok(change)
    }

    fn record(&mut self, change: Change) -> Result<()> {
        let head = change.commits[0].clone();
        self.run(0, &Command::RecordChange { change })?;
        self.run(
            0,
            &Command::MoveBranch {
                service: "payments".into(),
                branch: "main".into(),
                head,
            },
        )?;
        Ok(())
    }

    fn build(&mut self, version: &str, build: u64, commit: &str) -> Result<ReleaseId> {
        let digest = Digest::parse(&format!("sha256:{:016x}", build * 0x9e37_79b9))?;
        let artifact = Artifact::new(
            "payments",
            digest.clone(),
            semver::Version::parse(version)?,
            build,
            commit,
        );
        self.run(0, &Command::RegisterArtifact { artifact })?;
        let id = ReleaseId::new(format!("payments@{version}"));
        self.run(
            0,
            &Command::RegisterRelease {
                release: Release::new(id.clone(), "payments", digest, format!("cfg-{build}")),
            },
        )?;
        self.say(&format!("built {id} (build {build}, commit {commit})"));
        Ok(id)
    }

    /// Requests, rolls out, completes and verifies one release in one environment.
    fn deploy(&mut self, env: &str, release: &ReleaseId, verdict: Verdict) -> Result<Slot> {
        let entries = self.run(1, &Command::deploy(env, release.clone(), "deploy-bot"))?;
        let slot = requested_slot(&entries)?;
        self.roll(&slot, verdict)?;
        Ok(slot)
    }

    fn roll(&mut self, slot: &Slot, verdict: Verdict) -> Result<()> {
        self.run(1, &Command::StartRollout { slot: slot.clone() })?;
        self.run(4, &Command::CompleteRollout { slot: slot.clone() })?;
        let outcome = match &verdict {
            Verdict::Unhealthy { reason } => format!("FAILED verification: {reason}"),
            _ => "known good".to_owned(),
        };
        let entries = self.run(
            5,
            &Command::RecordVerification {
                slot: slot.clone(),
                verdict,
                by: "health-probe".into(),
                evidence: None,
            },
        )?;
        let release = self
            .driver
            .state()
            .history(&slot.environment, &slot.service)
            .and_then(|h| h.get(slot.revision))
            .map_or_else(String::new, |d| d.release.to_string());
        self.say(&format!(
            "{:<5} {release:<15} {}: {outcome}",
            slot.environment.as_str(),
            slot.revision
        ));
        for e in &entries {
            if let EventKind::GateClosed {
                environment,
                reason,
                ..
            } = &e.event.kind
            {
                self.say(&format!(
                    "STOP THE LINE: the delivery gate of {environment} is closed ({reason})"
                ));
            }
        }
        Ok(())
    }

    fn refused(&mut self, what: &str, command: &Command) -> Result<()> {
        match self.run(1, command) {
            Err(refusal) => {
                self.say(&format!("refused, {what}: {refusal}"));
                Ok(())
            }
            Ok(_) => Err(format!("{what} should have been refused").into()),
        }
    }
}

fn requested_slot(entries: &[JournalEntry]) -> Result<Slot> {
    match entries.first().map(|e| &e.event.kind) {
        Some(
            EventKind::DeploymentRequested { slot, .. } | EventKind::RollbackRequested { slot, .. },
        ) => Ok(slot.clone()),
        other => Err(format!("expected a deployment request, got {other:?}").into()),
    }
}

fn print_history(env: &str, history: &RolloutHistory) {
    println!("\nRollout history of payments in {env}:");
    println!(
        "  {:<4} {:<16} {:<12} {:<24} problem",
        "rev", "release", "status", "origin"
    );
    for d in history.deployments() {
        let origin = match d.rolled_back_from() {
            Some(from) => format!("rollback from {}", from.get()),
            None => "deploy".to_owned(),
        };
        let serving = if history.current().map(|c| c.revision) == Some(d.revision) {
            " ◀ serving"
        } else {
            ""
        };
        println!(
            "  {:<4} {:<16} {:<12} {:<24} {}{serving}",
            d.revision.get(),
            d.release.as_str(),
            d.status.to_string(),
            origin,
            d.problem().unwrap_or("-"),
        );
    }
    println!();
}

fn main() -> Result<()> {
    let clock = Arc::new(ManualClock::at(
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(),
    ));
    let ports = Ports::builder()
        .vcs(Arc::new(InMemoryVcs::default()))
        .deployer(Arc::new(InMemoryDeployer::default()))
        .flags(Arc::new(InMemoryFlagStore::default()))
        .health(Arc::new(InMemoryHealthProbe::default()))
        .builder(Arc::new(InMemoryBuilder::new(100, 1, 6)))
        .journal(Arc::new(InMemoryJournalStore::default()))
        .clock(clock.clone())
        .build()?;
    let mut drill = Drill {
        driver: block_on(Driver::start(ports, "knowngood-driver"))?,
        clock,
    };

    let pipeline = PipelineSpec::new()
        .environment("dev", EnvironmentRole::Development)
        .environment("qa", EnvironmentRole::Test)
        .environment("prod", EnvironmentRole::Production)
        .promote("dev", "qa")
        .promote("qa", "prod")
        .build()?;
    println!("knowngood drill: payments on dev → qa → prod\n");
    drill.run(0, &Command::DefinePipeline { pipeline })?;
    drill.run(
        0,
        &Command::RegisterService {
            service: Service::new("payments"),
        },
    )?;

    let mut parent = None;
    for (pr, title, version, build, commit, prod_ok) in [
        ("PR-41", "Ledger client", "1.4.0", 41, "a1b2c3d", true),
        ("PR-42", "Retry refunds", "1.4.1", 42, "c0ffee1", true),
        ("PR-998", "New checkout flow", "1.5.0", 43, "998b1f0", false),
    ] {
        let change = drill.merge(pr, title, commit, parent)?;
        drill.record(change)?;
        parent = Some(commit);
        let release = drill.build(version, build, commit)?;
        drill.deploy("dev", &release, Verdict::Healthy)?;
        drill.deploy("qa", &release, Verdict::Healthy)?;
        let verdict = if prod_ok {
            Verdict::Healthy
        } else {
            Verdict::Unhealthy {
                reason: "checkout error rate 12%".into(),
            }
        };
        drill.deploy("prod", &release, verdict)?;
    }

    // The incident: declaring it poisons the suspected change.
    drill.run(
        1,
        &Command::DeclareIncident {
            incident: "INC-7".into(),
            environment: "prod".into(),
            service: "payments".into(),
            severity: Severity::Sev1,
            cause: SuspectedCause::Change {
                change: "PR-998".into(),
            },
            summary: "checkout error rate 12%".into(),
            by: "alice".into(),
            impact_began: None,
        },
    )?;
    drill.say("alice declares SEV1 incident INC-7, suspecting PR-998 (now poisoned)");

    // Every way back, ranked and explained.
    let capabilities = drill.driver.ports().capabilities();
    let plan = knowngood::plan(
        drill.driver.state(),
        &"INC-7".into(),
        drill.now(),
        &capabilities,
    )?;
    println!(
        "
Recovery options for INC-7, best first:"
    );
    for (rank, option) in plan.options.iter().enumerate() {
        let verdict = if option.applicable {
            format!("~{}", recovery::human(option.estimate.seconds))
        } else {
            format!("not applicable: {}", option.why_not())
        };
        println!("  {}. {:<26} {verdict}", rank + 1, option.name());
    }
    println!(
        "
{}
",
        plan.explanation
    );
    let best = plan.best().ok_or("no applicable option")?.strategy;
    drill.run(1, &plan.choose(best, "alice")?)?;
    drill.say(&format!(
        "alice chooses {best}: its steps may pass the closed gate"
    ));

    // The driver carries the chosen steps out through the ports.
    drill.clock.advance(Duration::minutes(1));
    let report = block_on(drill.driver.drive(&"INC-7".into()))?;
    let DriveReport::Done { steps } = report else {
        return Err(format!("the drive stopped: {report:?}").into());
    };
    for key in &steps {
        let done = drill
            .driver
            .journal()
            .entries()
            .iter()
            .rev()
            .find_map(|e| match &e.event.kind {
                EventKind::EffectRecorded {
                    key: k,
                    outcome: EffectOutcome::Succeeded { detail },
                    ..
                } if k == key => Some(detail.clone()),
                _ => None,
            })
            .unwrap_or_default();
        drill.say(&format!("driver: {key}: {done}"));
    }
    drill.run(
        1,
        &Command::MarkMitigated {
            incident: "INC-7".into(),
            by: "alice".into(),
        },
    )?;
    drill.say("known good restored: INC-7 mitigated (the gate stays closed: drift)");

    let state = drill.driver.state();
    print_history(
        "prod",
        state
            .history(&"prod".into(), &"payments".into())
            .ok_or("prod has no history")?,
    );
    if let Some(drift) = state.drift(&"prod".into(), &"payments".into()) {
        let commits: Vec<_> = drift
            .missing_commits
            .iter()
            .map(ToString::to_string)
            .collect();
        let changes: Vec<_> = drift
            .missing_changes
            .iter()
            .map(ToString::to_string)
            .collect();
        drill.say(&format!(
            "drift: prod runs {} and lacks {} from main ({})",
            drift.running,
            commits.join(", "),
            changes.join(", ")
        ));
    }
    drill.refused(
        "redeploying the poisoned release",
        &Command::deploy("prod", "payments@1.5.0", "eve"),
    )?;
    drill.refused(
        "reopening the gate",
        &Command::ReopenGate {
            environment: "prod".into(),
            by: "eve".into(),
            reason: "looks fine".into(),
        },
    )?;

    // The fix: revert PR-998 on main and send it through the pipeline.
    let revert = drill
        .merge(
            "PR-1001",
            "Revert \"New checkout flow\"",
            "dd3a0e2",
            Some("998b1f0"),
        )?
        .reverting("PR-998");
    drill.record(revert)?;
    let fixed = drill.build("1.5.1", 44, "dd3a0e2")?;
    drill.deploy("dev", &fixed, Verdict::Healthy)?;
    drill.refused(
        "the fix before QA verified it",
        &Command::deploy("prod", fixed.clone(), "eve"),
    )?;
    drill.deploy("qa", &fixed, Verdict::Healthy)?;
    drill.deploy("prod", &fixed, Verdict::Healthy)?;
    let clear = drill
        .driver
        .state()
        .drift(&"prod".into(), &"payments".into())
        .is_some_and(|d| d.is_clear());
    drill.say(&format!("drift clear: {clear}"));
    drill.run(
        1,
        &Command::ResolveIncident {
            incident: "INC-7".into(),
            by: "alice".into(),
        },
    )?;
    drill.say("INC-7 resolved: the fix is in production and the gate reopens");
    drill.run(
        5,
        &Command::CompleteFollowUp {
            incident: "INC-7".into(),
            follow_up: 0,
            by: "bob".into(),
        },
    )?;
    drill.say("bob closes the follow-up: main is fixed and shipped");
    drill.run(
        30,
        &Command::RecordRetro {
            incident: "INC-7".into(),
            summary: "canary checkout checks before 100%".into(),
            by: "alice".into(),
        },
    )?;
    print_history(
        "prod",
        drill
            .driver
            .state()
            .history(&"prod".into(), &"payments".into())
            .ok_or("prod has no history")?,
    );

    // The journal is the truth: write it, verify it, read it back, replay it.
    let mut jsonl = Vec::new();
    drill.driver.journal().write_jsonl(&mut jsonl)?;
    let read = Journal::from_jsonl(jsonl.as_slice())?;
    let head = read.head();
    let replayed = Ledger::from_journal(read)?;
    if replayed.state() != drill.driver.state() {
        return Err("replay did not rebuild the same state".into());
    }
    println!(
        "Journal: {} events, {} bytes of JSON Lines, hash chain intact (head {}); replay rebuilds the same state.",
        drill.driver.journal().len(),
        jsonl.len(),
        &head.hash.to_string()[..16],
    );
    let retro = Retro::from_journal(drill.driver.journal(), &"INC-7".into())?;
    println!("\n{}", retro.to_markdown());
    println!("The plan as Mermaid:\n{}", picture::plan_mermaid(&plan));
    println!("\nAudit trail:");
    for entry in drill
        .driver
        .journal()
        .entries()
        .iter()
        .filter(|e| e.event.kind.is_audited())
    {
        println!(
            "  #{:<3} {} {}",
            entry.position,
            entry.event.at.format("%H:%M"),
            entry.event.kind
        );
    }
    Ok(())
}
