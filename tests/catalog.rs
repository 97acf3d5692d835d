//! Registering services, artifacts, releases, commits and changes: identical
//! re-registration is a no-op, conflicting details are refused.

mod common;

use common::{SERVICE, World, digest, t};
use knowngood::{
    Artifact, Change, Command, Commit, Digest, EnvironmentRole, Pipeline, PipelineSpec, Rejection,
    Release, Service,
};

fn artifact(n: u64) -> Artifact {
    Artifact::new(
        SERVICE,
        digest(n),
        semver::Version::new(1, n, 0),
        n,
        "c0001",
    )
}

#[test]
fn registering_the_same_thing_twice_is_a_no_op_and_conflicts_are_refused() {
    let mut w = World::new();
    assert!(
        w.ok(Command::RegisterService {
            service: Service::new(SERVICE)
        })
        .is_empty()
    );
    w.ok(Command::RegisterArtifact {
        artifact: artifact(1),
    });
    assert!(
        w.ok(Command::RegisterArtifact {
            artifact: artifact(1)
        })
        .is_empty()
    );
    let mut other = artifact(1);
    other.build = 99;
    assert_eq!(
        w.run(Command::RegisterArtifact { artifact: other })
            .unwrap_err(),
        Rejection::ConflictingArtifact { digest: digest(1) }
    );

    let release = Release::new("r1", SERVICE, digest(1), "cfg-1");
    w.ok(Command::RegisterRelease {
        release: release.clone(),
    });
    assert!(w.ok(Command::RegisterRelease { release }).is_empty());
    let changed = Release::new("r1", SERVICE, digest(1), "cfg-2");
    assert_eq!(
        w.run(Command::RegisterRelease { release: changed })
            .unwrap_err()
            .rule(),
        "conflicting-release"
    );
}

#[test]
fn artifacts_need_a_registered_service_and_releases_a_build_of_their_own_service() {
    let mut w = World::new();
    let stray = Artifact::new(
        "ledger",
        digest(5),
        semver::Version::new(3, 0, 0),
        5,
        "c0005",
    );
    assert_eq!(
        w.run(Command::RegisterArtifact {
            artifact: stray.clone()
        })
        .unwrap_err(),
        Rejection::UnknownService {
            service: "ledger".into()
        }
    );
    w.ok(Command::RegisterService {
        service: Service::new("ledger"),
    });
    w.ok(Command::RegisterArtifact { artifact: stray });
    let mismatched = Release::new("payments@x", SERVICE, digest(5), "cfg");
    let refusal = w
        .run(Command::RegisterRelease {
            release: mismatched,
        })
        .unwrap_err();
    assert_eq!(refusal.rule(), "artifact-of-other-service");
    assert!(
        refusal.to_string().contains("build of `ledger`"),
        "{refusal}"
    );
    let unknown = Release::new(
        "payments@y",
        SERVICE,
        Digest::parse("sha256:0123456789").unwrap(),
        "cfg",
    );
    assert_eq!(
        w.run(Command::RegisterRelease { release: unknown })
            .unwrap_err()
            .rule(),
        "unknown-artifact"
    );
}

#[test]
fn commits_form_a_dag_recorded_parents_first() {
    let mut w = World::new();
    assert_eq!(
        w.run(Command::RecordCommit {
            commit: Commit::new("b", ["a"])
        })
        .unwrap_err(),
        Rejection::UnknownCommit { commit: "a".into() }
    );
    w.ok(Command::RecordCommit {
        commit: Commit::root("a"),
    });
    w.ok(Command::RecordCommit {
        commit: Commit::new("b", ["a"]),
    });
    assert!(
        w.ok(Command::RecordCommit {
            commit: Commit::new("b", ["a"])
        })
        .is_empty()
    );
    w.ok(Command::RecordCommit {
        commit: Commit::root("z"),
    });
    assert_eq!(
        w.run(Command::RecordCommit {
            commit: Commit::new("b", ["z"])
        })
        .unwrap_err()
        .rule(),
        "conflicting-commit"
    );
}

#[test]
fn a_commit_belongs_to_at_most_one_change() {
    let mut w = World::new();
    w.ok(Command::RecordCommit {
        commit: Commit::root("a"),
    });
    w.ok(Command::RecordCommit {
        commit: Commit::new("b", ["a"]),
    });
    let first = Change::new("PR-1", "Add ledger client", "bob", t(0), ["a"]);
    w.ok(Command::RecordChange {
        change: first.clone(),
    });
    assert_eq!(
        w.ledger.state().commit(&"a".into()).unwrap().change,
        Some("PR-1".into())
    );
    assert!(w.ok(Command::RecordChange { change: first }).is_empty());
    let second = Change::new("PR-2", "Also claims a", "carol", t(1), ["b", "a"]);
    assert_eq!(
        w.run(Command::RecordChange { change: second }).unwrap_err(),
        Rejection::CommitInOtherChange {
            commit: "a".into(),
            owner: "PR-1".into(),
            change: "PR-2".into()
        }
    );
    let missing = Change::new("PR-3", "Unknown commit", "carol", t(1), ["q"]);
    assert_eq!(
        w.run(Command::RecordChange { change: missing })
            .unwrap_err()
            .rule(),
        "unknown-commit"
    );
    let dangling =
        Change::new("PR-4", "Builds on nothing", "carol", t(1), ["b"]).depending_on("PR-9");
    assert_eq!(
        w.run(Command::RecordChange { change: dangling })
            .unwrap_err(),
        Rejection::UnknownChange {
            change: "PR-9".into()
        }
    );
    let flagged = Change::new("PR-5", "New checkout", "bob", t(2), ["b"])
        .behind_flag("new-checkout")
        .depending_on("PR-1");
    w.ok(Command::RecordChange { change: flagged });
    assert_eq!(
        w.ledger.state().change(&"PR-5".into()).unwrap().flags,
        vec!["new-checkout".into()]
    );
}

#[test]
fn redefining_the_pipeline_keeps_environments_with_history() {
    let mut w = World::new();
    let a = w.build(1);
    w.deploy("dev", &a, true);
    let without_dev: Pipeline = PipelineSpec::new()
        .environment("qa", EnvironmentRole::Test)
        .environment("prod", EnvironmentRole::Production)
        .promote("qa", "prod")
        .build()
        .unwrap();
    let before = w.ledger.clone();
    let refusal = w
        .run(Command::DefinePipeline {
            pipeline: without_dev,
        })
        .unwrap_err();
    assert_eq!(
        refusal,
        Rejection::PipelineDropsEnvironment {
            environment: "dev".into()
        }
    );
    assert_eq!(w.ledger, before);
    // Adding an environment is fine, and the same pipeline again is a no-op.
    let wider = common::pipeline_spec()
        .environment("staging", EnvironmentRole::Staging)
        .build()
        .unwrap();
    assert_eq!(
        w.ok(Command::DefinePipeline {
            pipeline: wider.clone()
        })
        .len(),
        1
    );
    assert!(w.ok(Command::DefinePipeline { pipeline: wider }).is_empty());
    assert!(w.ledger.state().environment(&"staging".into()).is_some());
    // Dropping an environment without history is fine too.
    let narrower = common::pipeline_spec().build().unwrap();
    w.ok(Command::DefinePipeline { pipeline: narrower });
    assert!(w.ledger.state().environment(&"staging".into()).is_none());
}

#[test]
fn digests_are_checked_for_form() {
    for bad in [
        "",
        "sha256",
        "sha256:",
        "sha256:abc",
        "SHA256:0123456789",
        "sha256:0123456789XYZ",
    ] {
        let err = Digest::parse(bad).unwrap_err();
        assert!(
            err.to_string().contains("<algorithm>:<hex>"),
            "{bad}: {err}"
        );
    }
    assert!(serde_json::from_str::<Digest>("\"nonsense\"").is_err());
    assert_eq!(
        Digest::parse("blake3:00ff00ff").unwrap().algorithm(),
        "blake3"
    );
}
