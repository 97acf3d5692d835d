//! Suspects: what changed in the incident's environment shortly before it
//! began, most recent first, each with why and the cause to declare.

mod common;

use chrono::Duration;
use common::{SERVICE, World, digest, t};
use knowngood::suspects::{SuspectKind, suspects};
use knowngood::{
    Command, FlagState, Migration, MigrationPhase, Release, Revision, Slot, SuspectedCause,
};

/// Build 1 in prod; PR-2 (behind flag `new-checkout`) ships as build 2;
/// the flag is turned on; a migration runs. The world's clock advances
/// one minute per command.
fn changed_world() -> World {
    let mut w = World::new();
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    w.merge_change("PR-2", "b2", Some("a1"), |c| c.behind_flag("new-checkout"));
    let two = w.build_at(2, "b2");
    w.through_qa(&two);
    w.deploy("prod", &two, true);
    w.ok(Command::SetFlag {
        environment: "prod".into(),
        flag: "new-checkout".into(),
        state: FlagState::On,
        by: "bob".into(),
        clearance: knowngood::Clearance::none(),
    });
    w.ok(Command::ApplyMigration {
        environment: "prod".into(),
        service: SERVICE.into(),
        migration: Migration::new("m7", MigrationPhase::Contract, 0, 1),
        by: "dba".into(),
    });
    w
}

#[test]
fn suspects_what_changed_before_the_start_most_recent_first_with_causes() {
    let w = changed_world();
    let start = t(w.clock + 5);
    let found = suspects(
        w.ledger.journal(),
        w.ledger.state(),
        &"prod".into(),
        start,
        Duration::hours(1),
    );
    let kinds: Vec<&str> = found
        .iter()
        .map(|s| match &s.kind {
            SuspectKind::Deployment { .. } => "deployment",
            SuspectKind::FlagChange { .. } => "flag",
            SuspectKind::Migration { .. } => "migration",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["migration", "flag", "deployment", "deployment"],
        "{found:#?}"
    );
    assert!(
        found
            .windows(2)
            .all(|p| p[0].before_start <= p[1].before_start)
    );
    assert_eq!(found[0].before_start, 5 * 60);
    assert!(
        found[0].why.contains("cannot be undone"),
        "{}",
        found[0].why
    );
    // The flag names the change behind it, which is the cause to declare.
    assert_eq!(
        found[1].cause,
        SuspectedCause::Change {
            change: "PR-2".into()
        }
    );
    // Build 2 brings PR-2 in place of build 1.
    let SuspectKind::Deployment {
        release,
        replaced,
        changes,
        slot,
    } = &found[2].kind
    else {
        panic!("{found:#?}");
    };
    assert_eq!(release, &common::release_id(2));
    assert_eq!(replaced.as_ref(), Some(&common::release_id(1)));
    assert_eq!(changes, &vec!["PR-2".into()]);
    assert_eq!(
        found[2].cause,
        SuspectedCause::Deployment { slot: slot.clone() }
    );
    assert!(found[2].why.contains("bringing `PR-2`"), "{}", found[2].why);
}

#[test]
fn suspects_outside_the_window_or_elsewhere_are_not_suspects() {
    let w = changed_world();
    let start = t(w.clock + 5);
    // A window of 4 minutes holds nothing (the last change was 5 min ago).
    assert!(
        suspects(
            w.ledger.journal(),
            w.ledger.state(),
            &"prod".into(),
            start,
            Duration::minutes(4)
        )
        .is_empty()
    );
    // QA saw deployments only.
    let qa = suspects(
        w.ledger.journal(),
        w.ledger.state(),
        &"qa".into(),
        start,
        Duration::hours(1),
    );
    assert!(!qa.is_empty());
    assert!(
        qa.iter()
            .all(|s| matches!(s.kind, SuspectKind::Deployment { ref slot, .. } if slot.environment.as_str() == "qa"))
    );
    // Nothing after the start is a suspect.
    let before = suspects(
        w.ledger.journal(),
        w.ledger.state(),
        &"prod".into(),
        t(0),
        Duration::hours(1),
    );
    assert!(before.is_empty(), "{before:#?}");
}

#[test]
fn suspects_a_configuration_only_change_is_named_as_such() {
    let mut w = World::new();
    let one = w.ready_for_prod(1);
    w.deploy("prod", &one, true);
    // The same build with another configuration revision.
    w.ok(Command::RegisterRelease {
        release: Release::new("payments@1.1.0+cfg-9", SERVICE, digest(1), "cfg-9"),
    });
    w.deploy("prod", &"payments@1.1.0+cfg-9".into(), true);
    let found = suspects(
        w.ledger.journal(),
        w.ledger.state(),
        &"prod".into(),
        t(w.clock + 1),
        Duration::minutes(10),
    );
    let SuspectKind::ConfigRevision { replaced, slot, .. } = &found[0].kind else {
        panic!("{found:#?}");
    };
    assert_eq!(replaced, &common::release_id(1));
    assert_eq!(slot, &Slot::new("prod", SERVICE, Revision(2)));
    assert!(
        found[0]
            .why
            .contains("same build, configuration cfg-9 instead of cfg-1")
    );
}
