//! Properties of the planner over random histories: it never ranks an
//! inapplicable option first, and never proposes a rollback target that is
//! poisoned or cannot run on the current schema.

mod common;

use common::{SERVICE, World, release_id};
use knowngood::recovery::EffectAction;
use knowngood::{
    Command, Migration, MigrationPhase, Release, Revision, SchemaRange, Slot, Verdict,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Merge a change, build it with a schema range, take it to prod.
    Ship { schema: (u32, u32), healthy: bool },
    /// Migrate prod's schema one step up (expand or contract).
    Migrate { contract: bool },
    /// Poison one of the changes merged so far.
    Poison(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => ((0u32..4, 0u32..3), any::<bool>()).prop_map(|((min, span), healthy)| Op::Ship { schema: (min, min + span), healthy }),
        1 => any::<bool>().prop_map(|contract| Op::Migrate { contract }),
        1 => (0usize..10).prop_map(Op::Poison),
    ]
}

fn run_all(w: &mut World, commands: Vec<Command>) {
    for c in commands {
        let _ = w.run(c);
    }
}

fn roll(w: &mut World, env: &str, n: u64, healthy: bool) {
    let Ok(entries) = w.run(Command::deploy(env, release_id(n), "bot")) else {
        return;
    };
    let slot = common::slot_of(&entries[0]);
    let verdict = if healthy {
        Verdict::Healthy
    } else {
        Verdict::Unhealthy {
            reason: "5xx".into(),
        }
    };
    run_all(
        w,
        vec![
            Command::StartRollout { slot: slot.clone() },
            Command::CompleteRollout { slot: slot.clone() },
            Command::RecordVerification {
                slot,
                verdict,
                by: "probe".into(),
                evidence: None,
            },
        ],
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn planner_never_ranks_an_inapplicable_option_first_nor_proposes_an_unsafe_rollback_target(
        ops in proptest::collection::vec(op(), 1..25),
        cause in 0u8..3,
    ) {
        let mut w = World::new();
        let _ = w.run(Command::ApplyMigration {
            environment: "prod".into(), service: SERVICE.into(),
            migration: Migration::new("base", MigrationPhase::Expand, 0, 1), by: "dba".into(),
        });
        let mut changes: Vec<String> = Vec::new();
        let mut version = 1u32;
        for (i, op) in ops.iter().enumerate() {
            let n = u64::try_from(i).unwrap() + 1;
            match op {
                Op::Ship { schema, healthy } => {
                    let commit = format!("c{n}");
                    let parent = changes.last().map(|_| format!("c{}", n - 1));
                    let _ = w.run(Command::RecordCommit { commit: knowngood::Commit::new(commit.as_str(), parent.as_deref()) });
                    let pr = format!("PR-{n}");
                    let _ = w.run(Command::RecordChange { change: knowngood::Change::new(pr.as_str(), "t", "bob", common::t(0), [commit.as_str()]) });
                    changes.push(pr);
                    let _ = w.run(Command::RegisterArtifact {
                        artifact: knowngood::Artifact::new(SERVICE, common::digest(n), semver::Version::new(1, n, 0), n, commit.as_str()),
                    });
                    let _ = w.run(Command::RegisterRelease {
                        release: Release::new(release_id(n), SERVICE, common::digest(n), "cfg").on_schema(SchemaRange::new(schema.0, schema.1)),
                    });
                    roll(&mut w, "dev", n, true);
                    roll(&mut w, "qa", n, true);
                    roll(&mut w, "prod", n, *healthy);
                    w.authorize_everything_quietly("prod");
                }
                Op::Migrate { contract } => {
                    let phase = if *contract { MigrationPhase::Contract } else { MigrationPhase::Expand };
                    if w.run(Command::ApplyMigration {
                        environment: "prod".into(), service: SERVICE.into(),
                        migration: Migration::new(format!("m{i}").as_str(), phase, version, version + 1), by: "dba".into(),
                    }).is_ok() {
                        version += 1;
                    }
                }
                Op::Poison(k) => {
                    if let Some(pr) = changes.get(*k) {
                        let _ = w.run(Command::PoisonChange { change: pr.as_str().into(), by: "alice".into(), reason: "bad".into() });
                    }
                }
            }
        }
        let latest = w.ledger.state().history(&"prod".into(), &SERVICE.into()).map(|h| h.deployments().len());
        let Some(latest) = latest.filter(|l| *l > 0) else { return Ok(()) };
        let cause = match (cause, changes.last()) {
            (0, Some(pr)) => common::change_cause(pr),
            (1, _) => knowngood::SuspectedCause::Deployment { slot: Slot::new("prod", SERVICE, Revision(u32::try_from(latest).unwrap())) },
            _ => common::external(),
        };
        if w.run(Command::DeclareIncident {
            incident: "INC-1".into(), environment: "prod".into(), service: SERVICE.into(),
            severity: knowngood::Severity::Sev1, cause, summary: "x".into(), by: "alice".into(),
            impact_began: None,
        }).is_err() {
            return Ok(());
        }
        let plan = w.plan();
        let any_applicable = plan.options.iter().any(|o| o.applicable);
        prop_assert_eq!(plan.options[0].applicable, any_applicable, "{}", plan.explanation);
        prop_assert_eq!(plan.options.len(), knowngood::Strategy::ALL.len());

        let state = w.ledger.state();
        let schema = state.environment(&"prod".into()).unwrap().schema(&SERVICE.into()).map(|s| s.version);
        let rollback = plan.option(knowngood::Strategy::Rollback).unwrap();
        if rollback.applicable {
            let migrates_down = rollback.steps.iter().any(|s| matches!(s.action, EffectAction::MigrateDown { .. }));
            for step in &rollback.steps {
                if let EffectAction::Rollback { release, .. } = &step.action {
                    let release = state.release(release).unwrap();
                    let poison = state.unneutralised_poison(release, &"prod".into()).unwrap();
                    prop_assert!(poison.is_empty(), "target {} carries {:?}", release.id, poison);
                    if let (Some(range), Some(v)) = (release.schema, schema) {
                        prop_assert!(range.contains(v) || migrates_down, "target {} on {} at schema {}", release.id, range, v);
                    }
                }
            }
        }
    }
}
