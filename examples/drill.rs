//! The main example: a small incident drill on the in-memory core.
//!
//! A `payments` service flows through dev → qa → prod. Two releases reach
//! production and are verified; the third fails its production health
//! check. A hasty build that skipped QA is refused by production, and
//! production is rolled back to the last release verified known good there. The journal
//! is then written as JSON Lines, read back, and replayed to the same
//! state.
//!
//! Run it with `cargo run --example drill`.

use std::error::Error;

use chrono::{DateTime, Duration, TimeZone, Utc};
use knowngood::{
    Artifact, Command, Digest, EnvironmentRole, Journal, Ledger, PipelineSpec, Release, ReleaseId,
    RolloutHistory, Service, Slot, Verdict,
};

/// A clock for the drill: every step takes a few minutes.
struct Drill {
    ledger: Ledger,
    now: DateTime<Utc>,
}

impl Drill {
    fn run(
        &mut self,
        minutes: i64,
        command: &Command,
    ) -> Result<Vec<knowngood::JournalEntry>, Box<dyn Error>> {
        self.now += Duration::minutes(minutes);
        let entries = self.ledger.execute(command, self.now)?.to_vec();
        Ok(entries)
    }

    fn build(
        &mut self,
        version: &str,
        build: u64,
        commit: &str,
    ) -> Result<ReleaseId, Box<dyn Error>> {
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
        let release = Release::new(id.clone(), "payments", digest, format!("cfg-{build}"));
        self.run(0, &Command::RegisterRelease { release })?;
        println!(
            "{}  built {id} (build {build}, commit {commit})",
            self.clock()
        );
        Ok(id)
    }

    /// Request, roll out, complete and verify one release in one environment.
    fn deploy(
        &mut self,
        env: &str,
        release: &ReleaseId,
        verdict: Verdict,
    ) -> Result<Slot, Box<dyn Error>> {
        let entries = self.run(
            1,
            &Command::RequestDeployment {
                environment: env.into(),
                release: release.clone(),
                by: "deploy-bot".into(),
            },
        )?;
        let slot = match &entries[0].event.kind {
            knowngood::EventKind::DeploymentRequested { slot, .. }
            | knowngood::EventKind::RollbackRequested { slot, .. } => slot.clone(),
            other => return Err(format!("unexpected event {other:?}").into()),
        };
        self.roll(&slot, verdict)?;
        Ok(slot)
    }

    fn roll(&mut self, slot: &Slot, verdict: Verdict) -> Result<(), Box<dyn Error>> {
        self.run(1, &Command::StartRollout { slot: slot.clone() })?;
        self.run(4, &Command::CompleteRollout { slot: slot.clone() })?;
        let outcome = match &verdict {
            Verdict::Healthy => "known good".to_owned(),
            Verdict::Unhealthy { reason } => format!("FAILED verification: {reason}"),
            _ => "verified".to_owned(),
        };
        self.run(
            5,
            &Command::RecordVerification {
                slot: slot.clone(),
                verdict,
            },
        )?;
        let release = self
            .ledger
            .state()
            .history(&slot.environment, &slot.service)
            .and_then(|h| h.get(slot.revision))
            .map_or_else(String::new, |d| d.release.to_string());
        println!(
            "{}  {:<5} {release:<15} {}: {outcome}",
            self.clock(),
            slot.environment.as_str(),
            slot.revision
        );
        Ok(())
    }

    fn clock(&self) -> String {
        self.now.format("%H:%M").to_string()
    }
}

fn print_history(env: &str, history: &RolloutHistory) {
    println!("\nRollout history of payments in {env}:");
    println!(
        "  {:<4} {:<16} {:<12} {:<24} problem",
        "rev", "release", "status", "origin"
    );
    for d in history.deployments() {
        let origin = match &d.origin {
            knowngood::DeploymentOrigin::Rollback {
                target,
                rolled_back_from,
                ..
            } => {
                format!(
                    "rollback from {} to {}",
                    rolled_back_from.get(),
                    target.get()
                )
            }
            _ => "deploy".to_owned(),
        };
        let current = if history.current().map(|c| c.revision) == Some(d.revision) {
            " ◀ serving"
        } else {
            ""
        };
        println!(
            "  {:<4} {:<16} {:<12} {:<24} {}{current}",
            d.revision.get(),
            d.release.as_str(),
            d.status.to_string(),
            origin,
            d.problem.as_deref().unwrap_or("-"),
        );
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut drill = Drill {
        ledger: Ledger::new(),
        now: Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(),
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

    for (version, build, commit, prod_ok) in [
        ("1.4.0", 41, "a1b2c3d", true),
        ("1.4.1", 42, "c0ffee1", true),
        ("1.5.0", 43, "998b1f0", false),
    ] {
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

    // A build that skipped QA is refused by production, with the reason.
    let hasty = drill.build("1.5.1", 44, "dd3a0e2")?;
    drill.deploy("dev", &hasty, Verdict::Healthy)?;
    let hasty_request = Command::RequestDeployment {
        environment: "prod".into(),
        release: hasty,
        by: "eve".into(),
    };
    let Err(refusal) = drill.run(1, &hasty_request) else {
        return Err("production accepted an artifact QA never verified".into());
    };
    println!("{}  refused: {refusal}", drill.clock());

    // Roll production back to the last release verified known good there.
    let entries = drill.run(
        2,
        &Command::Rollback {
            environment: "prod".into(),
            service: "payments".into(),
            to_revision: None,
            by: "alice".into(),
            reason: "1.5.0 fails checkout".into(),
        },
    )?;
    let knowngood::EventKind::RollbackRequested {
        slot,
        release,
        rolled_back_from,
        ..
    } = &entries[0].event.kind
    else {
        return Err("a rollback request was expected".into());
    };
    println!(
        "{}  alice rolls prod back from revision {} to {release} as {}",
        drill.clock(),
        rolled_back_from.get(),
        slot.revision
    );
    let slot = slot.clone();
    drill.roll(&slot, Verdict::Healthy)?;

    let state = drill.ledger.state();
    let history = state
        .history(&"prod".into(), &"payments".into())
        .ok_or("prod has no history")?;
    print_history("prod", history);

    // The journal is the truth: write it, read it back, replay it.
    let mut jsonl = Vec::new();
    drill.ledger.journal().write_jsonl(&mut jsonl)?;
    let replayed = Ledger::from_journal(Journal::from_jsonl(jsonl.as_slice())?)?;
    assert_eq!(replayed.state(), drill.ledger.state());
    println!(
        "\nJournal: {} events, {} bytes of JSON Lines; replay rebuilds the same state.",
        drill.ledger.journal().len(),
        jsonl.len()
    );
    Ok(())
}
