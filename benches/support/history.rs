//! Shared generator of long histories for the benches.
#![allow(
    dead_code,
    missing_docs,
    clippy::missing_panics_doc,
    clippy::needless_pass_by_value
)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use knowngood::{
    Artifact, Change, Command, Commit, Digest, EnvironmentRole, FlagState, Ledger, PipelineSpec,
    Release, ReleaseId, Revision, Service, Slot, SuspectedCause, Verdict,
};

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn ok(ledger: &mut Ledger, command: Command, at: DateTime<Utc>) {
    ledger.execute(&command, at).unwrap();
}

/// A ledger whose `prod` history for `payments` holds `revisions`
/// verified revisions (alternating between `releases` builds), with
/// `flags` flags set in prod, and a declared incident `INC-1` on the last
/// revision.
pub fn history(revisions: u32, flags: u32, releases: u64) -> Ledger {
    let mut ledger = Ledger::new();
    let pipeline = PipelineSpec::new()
        .environment("dev", EnvironmentRole::Development)
        .environment("qa", EnvironmentRole::Test)
        .environment("prod", EnvironmentRole::Production)
        .promote("dev", "qa")
        .promote("qa", "prod")
        .build()
        .unwrap();
    let at = t0();
    ok(&mut ledger, Command::DefinePipeline { pipeline }, at);
    ok(
        &mut ledger,
        Command::RegisterService {
            service: Service::new("payments"),
        },
        at,
    );
    if releases == 0 {
        return ledger;
    }
    let mut parent: Option<String> = None;
    for n in 0..releases {
        let commit = format!("c{n:06}");
        ok(
            &mut ledger,
            Command::RecordCommit {
                commit: Commit::new(commit.as_str(), parent.as_deref()),
            },
            at,
        );
        ok(
            &mut ledger,
            Command::RecordChange {
                change: Change::new(format!("PR-{n}"), "work", "dev", at, [commit.as_str()]),
            },
            at,
        );
        ok(
            &mut ledger,
            Command::MoveBranch {
                service: "payments".into(),
                branch: "main".into(),
                head: commit.as_str().into(),
            },
            at,
        );
        let digest = Digest::parse(&format!("sha256:{n:016x}")).unwrap();
        ok(
            &mut ledger,
            Command::RegisterArtifact {
                artifact: Artifact::new(
                    "payments",
                    digest.clone(),
                    semver::Version::new(1, n, 0),
                    n,
                    commit.as_str(),
                ),
            },
            at,
        );
        ok(
            &mut ledger,
            Command::RegisterRelease {
                release: Release::new(release(n), "payments", digest, "cfg"),
            },
            at,
        );
        for env in ["dev", "qa"] {
            deploy(&mut ledger, env, &release(n), at);
        }
        parent = Some(commit);
    }
    for f in 0..flags {
        ok(
            &mut ledger,
            Command::SetFlag {
                environment: "prod".into(),
                flag: format!("flag-{f}").into(),
                state: FlagState::On,
                by: "dev".into(),
                clearance: knowngood::Clearance::none(),
            },
            at,
        );
    }
    for r in 0..revisions {
        let at = t0() + Duration::seconds(i64::from(r));
        deploy(&mut ledger, "prod", &release(u64::from(r) % releases), at);
    }
    if revisions == 0 {
        return ledger;
    }
    ok(
        &mut ledger,
        Command::DeclareIncident {
            incident: "INC-1".into(),
            environment: "prod".into(),
            service: "payments".into(),
            severity: knowngood::Severity::Sev1,
            cause: SuspectedCause::Deployment {
                slot: Slot::new("prod", "payments", Revision(revisions)),
            },
            summary: "errors".into(),
            by: "oncall".into(),
            impact_began: None,
        },
        t0() + Duration::days(30),
    );
    ledger
}

pub fn release(n: u64) -> ReleaseId {
    ReleaseId::new(format!("payments@1.{n}.0"))
}

pub fn deploy(ledger: &mut Ledger, env: &str, release: &ReleaseId, at: DateTime<Utc>) {
    let entries = ledger
        .execute(&Command::deploy(env, release.clone(), "ci"), at)
        .unwrap();
    let knowngood::EventKind::DeploymentRequested { slot, .. } = &entries[0].event.kind else {
        panic!("not a deployment")
    };
    let slot = slot.clone();
    ok(ledger, Command::StartRollout { slot: slot.clone() }, at);
    ok(ledger, Command::CompleteRollout { slot: slot.clone() }, at);
    ok(
        ledger,
        Command::RecordVerification {
            slot,
            verdict: Verdict::Healthy,
            by: "probe".into(),
            evidence: None,
        },
        at,
    );
}

/// A ledger whose pipeline is `layers` layers of two test environments,
/// each fully connected to the next (2^layers paths), between `dev` and
/// `prod`, with `payments` registered and an incident `INC-1` in `prod`
/// with an external cause.
pub fn layered(layers: u32) -> Ledger {
    let mut spec = PipelineSpec::new()
        .environment("dev", EnvironmentRole::Development)
        .environment("prod", EnvironmentRole::Production);
    let name = |layer: u32, side: u32| format!("l{layer}-{side}");
    for layer in 0..layers {
        for side in 0..2 {
            spec = spec.environment(name(layer, side), EnvironmentRole::Test);
            if layer == 0 {
                spec = spec.promote("dev", name(layer, side));
            } else {
                for from in 0..2 {
                    spec = spec.promote(name(layer - 1, from), name(layer, side));
                }
            }
            if layer + 1 == layers {
                spec = spec.promote(name(layer, side), "prod");
            }
        }
    }
    let mut ledger = Ledger::new();
    let at = t0();
    ok(
        &mut ledger,
        Command::DefinePipeline {
            pipeline: spec.build().unwrap(),
        },
        at,
    );
    ok(
        &mut ledger,
        Command::RegisterService {
            service: Service::new("payments"),
        },
        at,
    );
    ok(
        &mut ledger,
        Command::DeclareIncident {
            incident: "INC-1".into(),
            environment: "prod".into(),
            service: "payments".into(),
            severity: knowngood::Severity::Sev2,
            cause: SuspectedCause::External {
                description: "upstream outage".into(),
            },
            summary: "timeouts".into(),
            by: "oncall".into(),
            impact_began: None,
        },
        at,
    );
    ledger
}
