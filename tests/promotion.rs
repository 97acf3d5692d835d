//! Promotion follows the digest: entering an environment requires the same
//! artifact deployed and verified in every predecessor on one lane.

mod common;

use common::{SERVICE, World, digest};
use knowngood::{Artifact, Command, Digest, Lane, Rejection, Release, UpstreamGap};

fn request(w: &mut World, env: &str, release: &str) -> Result<(), Rejection> {
    w.run(Command::RequestDeployment {
        environment: env.into(),
        release: release.into(),
        by: "deploy-bot".into(),
        clearance: knowngood::Clearance::none(),
        effect: None,
    })
    .map(drop)
}

#[test]
fn promotion_requires_upstream_verification() {
    let mut w = World::new();
    let release = w.build(1);

    // Not yet verified in qa: refused, naming both lanes into prod.
    let before = w.ledger.clone();
    let refusal = request(&mut w, "prod", release.as_str()).unwrap_err();
    assert_eq!(
        refusal,
        Rejection::NotVerifiedUpstream {
            environment: "prod".into(),
            digest: digest(1),
            gaps: vec![
                UpstreamGap {
                    lane: Lane::Main,
                    missing: vec!["qa".into()]
                },
                UpstreamGap {
                    lane: Lane::Hotfix,
                    missing: vec!["hotfix-dev".into()]
                },
            ],
        }
    );
    let text = refusal.to_string();
    assert!(
        text.contains("`qa`") && text.contains("deploy and verify it upstream first"),
        "{text}"
    );
    assert_eq!(w.ledger, before);

    // Deployed to qa but verification failed: still refused.
    w.deploy("dev", &release, true);
    w.deploy("qa", &release, false);
    assert_eq!(
        request(&mut w, "prod", release.as_str())
            .unwrap_err()
            .rule(),
        "not-verified-upstream"
    );

    // Completed but not yet verified: still refused.
    let release2 = w.build(2);
    w.deploy("dev", &release2, true);
    w.roll_out("qa", &release2);
    assert_eq!(
        request(&mut w, "prod", release2.as_str())
            .unwrap_err()
            .rule(),
        "not-verified-upstream"
    );
}

#[test]
fn promotion_accepted_after_upstream_verification() {
    let mut w = World::new();
    let release = w.ready_for_prod(1);
    assert!(request(&mut w, "prod", release.as_str()).is_ok());
}

#[test]
fn promotion_refused_for_another_digest_under_the_same_version() {
    let mut w = World::new();
    let verified = w.ready_for_prod(1);
    assert!(request(&mut w, "prod", verified.as_str()).is_ok());

    // A rebuild stamped with the same version and build number but a
    // different digest is a different artifact.
    let rebuilt = Digest::parse("sha256:ffffffffffffffff").unwrap();
    w.ok(Command::RegisterArtifact {
        artifact: Artifact::new(
            SERVICE,
            rebuilt.clone(),
            semver::Version::new(1, 1, 0),
            1,
            "c0001",
        ),
    });
    w.ok(Command::RegisterRelease {
        release: Release::new("payments@1.1.0-rebuilt", SERVICE, rebuilt.clone(), "cfg-1"),
    });
    match request(&mut w, "qa", "payments@1.1.0-rebuilt").unwrap_err() {
        Rejection::NotVerifiedUpstream { digest, gaps, .. } => {
            assert_eq!(digest, rebuilt);
            assert_eq!(gaps[0].missing, vec![knowngood::EnvironmentId::new("dev")]);
        }
        other => panic!("{other}"),
    }
}

#[test]
fn promotion_along_the_hotfix_lane_needs_only_the_hotfix_predecessor() {
    let mut w = World::new();
    w.adopt(knowngood::Policy::hotfix_lane("Hotfix-{build}"));
    let hotfix = w.build(7);
    // The root of a lane accepts any artifact.
    w.deploy("hotfix-dev", &hotfix, true);
    assert!(request(&mut w, "prod", hotfix.as_str()).is_ok());
}

#[test]
fn promotion_into_a_root_environment_needs_nothing_upstream() {
    let mut w = World::new();
    let release = w.build(1);
    assert!(request(&mut w, "dev", release.as_str()).is_ok());
}

#[test]
fn a_new_rollout_waits_for_the_one_in_flight() {
    let mut w = World::new();
    let a = w.build(1);
    let b = w.build(2);
    let slot = w.request("dev", &a);
    let refusal = request(&mut w, "dev", b.as_str()).unwrap_err();
    assert_eq!(
        refusal,
        Rejection::RolloutInFlight {
            slot: slot.clone(),
            status: knowngood::DeploymentStatus::Requested
        }
    );
    w.start(&slot);
    assert_eq!(
        request(&mut w, "dev", b.as_str()).unwrap_err().rule(),
        "rollout-in-flight"
    );
    w.complete(&slot);
    // Verifying no longer blocks: the next rollout supersedes the unverified one.
    assert!(request(&mut w, "dev", b.as_str()).is_ok());
}

#[test]
fn deployments_name_known_environments_and_releases() {
    let mut w = World::new();
    let a = w.build(1);
    assert_eq!(
        request(&mut w, "staging", a.as_str()).unwrap_err(),
        Rejection::UnknownEnvironment {
            environment: "staging".into()
        }
    );
    assert_eq!(
        request(&mut w, "dev", "payments@9").unwrap_err().rule(),
        "unknown-release"
    );
    let mut bare = knowngood::Ledger::new();
    bare.execute(
        &Command::RegisterService {
            service: knowngood::Service::new(SERVICE),
        },
        common::t(0),
    )
    .unwrap();
    let refusal = bare
        .execute(
            &Command::Rollback {
                environment: "prod".into(),
                service: SERVICE.into(),
                to_revision: None,
                by: "alice".into(),
                reason: "x".into(),
                clearance: knowngood::Clearance::none(),
                effect: None,
            },
            common::t(1),
        )
        .unwrap_err();
    assert_eq!(refusal, Rejection::NoPipeline);
}
