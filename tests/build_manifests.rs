//! Build manifests: the builder says what it built — the artifact and the
//! release it makes (configuration, schema versions, requirements) — and
//! the driver registers exactly that, so the core's schema and requirement
//! rules judge what was really built; a builder that cannot build on
//! demand gets no plan that builds.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::{SERVICE, World, t};
use knowngood::driver::{DriveError, DriveReport, Driver};
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe,
    InMemoryJournalStore, InMemoryVcs, ManualClock, block_on,
};
use knowngood::port::{
    AdapterError, BuildManifest, Builder, BuilderCapabilities, JournalStore, Ports,
};
use knowngood::recovery::IdempotencyKey;
use knowngood::{
    Capabilities, Command, CommitId, EventKind, Migration, MigrationPhase, Policy, SchemaRange,
    ServiceId, Strategy,
};

/// A builder whose manifests say `shape` of every release it builds.
#[derive(Debug)]
struct Describing {
    inner: InMemoryBuilder,
    shape: fn(BuildManifest) -> BuildManifest,
}

#[async_trait]
impl Builder for Describing {
    fn capabilities(&self) -> BuilderCapabilities {
        self.inner.capabilities()
    }
    async fn build(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &CommitId,
    ) -> Result<BuildManifest, AdapterError> {
        Ok((self.shape)(self.inner.build(key, service, commit).await?))
    }
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<BuildManifest>, AdapterError> {
        Ok(self.inner.outcome(key).await?.map(self.shape))
    }
}

/// PR-2 broke prod under a forward-only policy, prod's schema is at
/// version 1, and the revert is chosen.
fn revert_chosen() -> World {
    let mut w = common::bad_commit_in_production(Policy::forward_only());
    w.ok(Command::ApplyMigration {
        environment: "prod".into(),
        service: SERVICE.into(),
        migration: Migration::new("m1", MigrationPhase::Expand, 0, 1),
        by: "alice".into(),
    });
    w.choose(Strategy::Revert);
    w
}

fn drive(w: &World, builder: Arc<dyn Builder>) -> (Result<DriveReport, DriveError>, Driver) {
    let vcs = Arc::new(InMemoryVcs::default());
    for c in ["a1", "998b"] {
        vcs.commit(&SERVICE.into(), &"main".into(), &c.into());
    }
    let store = Arc::new(InMemoryJournalStore::default());
    block_on(store.append(0, w.ledger.journal().entries())).unwrap();
    let ports = Ports::new(
        vcs,
        Arc::new(InMemoryDeployer::default()),
        Some(Arc::new(InMemoryFlagStore::default())),
        Arc::new(InMemoryHealthProbe::default()),
        builder,
        store,
        Arc::new(ManualClock::at(t(w.clock + 1))),
    );
    block_on(async {
        let mut driver = Driver::resume(ports, "knowngood-driver").await.unwrap();
        let report = driver.drive(&"INC-1".into()).await;
        (report, driver)
    })
}

fn registered(driver: &Driver) -> Vec<knowngood::Release> {
    driver
        .journal()
        .entries()
        .iter()
        .filter_map(|e| match &e.event.kind {
            EventKind::ReleaseRegistered { release } if release.id.as_str().contains('+') => {
                Some(release.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn build_manifest_the_release_registered_is_the_one_the_build_describes() {
    let w = revert_chosen();
    let builder = Arc::new(Describing {
        inner: InMemoryBuilder::new(3, 1, 9),
        shape: |m| {
            m.on_schema(SchemaRange::new(1, 2))
                .requiring("ledger", semver::VersionReq::parse(">=0.1").unwrap())
                .named("payments@1.9.3-revert")
        },
    });
    let (report, driver) = drive(&w, builder);
    // The requirement on `ledger`, which serves nowhere, stops it at the
    // first stage: judged on what was built, not passed vacuously.
    let err = report.unwrap_err();
    assert!(err.to_string().contains("ledger"), "{err}");
    let releases = registered(&driver);
    assert_eq!(releases.len(), 0, "{releases:?}");
    let named: Vec<knowngood::Release> = driver
        .journal()
        .entries()
        .iter()
        .filter_map(|e| match &e.event.kind {
            EventKind::ReleaseRegistered { release }
                if release.id.as_str() == "payments@1.9.3-revert" =>
            {
                Some(release.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(named.len(), 1);
    let release = &named[0];
    assert_eq!(release.schema, Some(SchemaRange::new(1, 2)));
    assert_eq!(release.requires.len(), 1);
    assert!(
        release.config.as_str().starts_with("cfg-"),
        "{}",
        release.config
    );
}

#[test]
fn build_manifest_a_schema_range_that_does_not_fit_production_is_refused_there() {
    // Negative: the build runs on schema 2..3, production is at 1.
    let w = revert_chosen();
    let builder = Arc::new(Describing {
        inner: InMemoryBuilder::new(3, 1, 9),
        shape: |m| m.on_schema(SchemaRange::new(2, 3)),
    });
    let (report, _) = drive(&w, builder);
    let err = report.unwrap_err();
    assert!(
        matches!(&err, DriveError::Refused(r) if r.rule() == "schema-incompatible"),
        "{err:?}"
    );
    // Positive: on 1..2 it ships and verifies.
    let builder = Arc::new(Describing {
        inner: InMemoryBuilder::new(3, 1, 9),
        shape: |m| m.on_schema(SchemaRange::new(1, 2)),
    });
    let (report, driver) = drive(&w, builder);
    assert!(matches!(report, Ok(DriveReport::Done { .. })), "{report:?}");
    let releases = registered(&driver);
    assert_eq!(releases.len(), 1);
    assert_eq!(
        driver
            .state()
            .current_release(&"prod".into(), &SERVICE.into())
            .map(|r| r.id.clone()),
        Some(releases[0].id.clone())
    );
}

#[test]
fn build_manifest_of_another_commit_is_never_recorded() {
    let w = revert_chosen();
    let builder = Arc::new(Describing {
        inner: InMemoryBuilder::new(3, 1, 9),
        shape: |mut m| {
            m.artifact.source_commit = "a1".into();
            m
        },
    });
    let (report, driver) = drive(&w, builder);
    let err = report.unwrap_err();
    assert!(
        err.to_string().contains("answered a build of `a1`"),
        "{err}"
    );
    assert!(registered(&driver).is_empty());
    assert!(!driver.journal().entries().iter().any(|e| matches!(
        &e.event.kind,
        EventKind::ArtifactRegistered { artifact } if artifact.build >= 3
    )));
}

#[test]
fn builder_on_demand_plans_that_build_need_a_builder_that_builds_any_commit() {
    let w = common::bad_commit_in_production(Policy::default());
    let plan_with = |caps: &Capabilities| {
        knowngood::plan(w.ledger.state(), &"INC-1".into(), t(w.clock), caps).unwrap()
    };
    // Positive: a builder that builds on demand gets the revert.
    let plan = plan_with(&Capabilities::all());
    assert!(plan.option(Strategy::Revert).unwrap().applicable);
    // Negative: one that only builds what CI queued does not; the
    // rollback, which builds nothing, stays.
    let mut caps = Capabilities::all();
    caps.build = false;
    let plan = plan_with(&caps);
    for strategy in [Strategy::Revert, Strategy::FixForward, Strategy::Hotfix] {
        let option = plan.option(strategy).unwrap();
        assert!(!option.applicable, "{strategy}");
        assert!(
            option.checks.iter().any(|c| c.name == "builder-on-demand"
                && c.outcome == knowngood::recovery::CheckOutcome::Failed),
            "{strategy}: {:?}",
            option.checks
        );
    }
    let rollback = plan.option(Strategy::Rollback).unwrap();
    assert!(rollback.applicable, "{}", rollback.why_not());
    // The ports say it: the in-memory builder builds on demand.
    let ports = common::in_memory_ports(
        Arc::new(InMemoryJournalStore::default()),
        Arc::new(ManualClock::at(t(0))),
    );
    assert!(ports.capabilities().build);
}
