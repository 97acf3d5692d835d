//! Each reason names exactly the facts that apply.

mod common;

use common::{World, digest};
use knowngood::{Command, Journal, Strategy};

fn rollback_reason(w: &World) -> String {
    w.plan().option(Strategy::Rollback).unwrap().why_not()
}

#[test]
fn wording_rollback_with_a_single_revision_says_there_is_nothing_earlier() {
    let mut w = World::new();
    let one = w.ready_for_prod(1);
    w.deploy("prod", &one, true);
    w.declare(common::external());
    let why = rollback_reason(&w);
    assert!(why.contains("is the first revision"), "{why}");
    for absent in ["qualif", "poison", "trusted", "expired", "skipped"] {
        assert!(!why.contains(absent), "`{absent}` does not apply: {why}");
    }
    // The core says the same when asked to roll back.
    let refused = w
        .run(Command::Rollback {
            environment: "prod".into(),
            service: common::SERVICE.into(),
            to_revision: None,
            by: "alice".into(),
            reason: "bad".into(),
            clearance: knowngood::Clearance::none(),
            effect: None,
        })
        .unwrap_err();
    assert!(
        refused.to_string().contains("is the first revision"),
        "{refused}"
    );
}

#[test]
fn wording_an_expired_rollback_target_is_named_by_release_and_artifact() {
    let mut w = World::new();
    let one = w.ready_for_prod(1);
    w.deploy("prod", &one, true);
    let two = w.ready_for_prod(2);
    w.deploy("prod", &two, true);
    w.ok(Command::ExpireArtifact {
        digest: digest(1),
        by: "registry".into(),
    });
    w.declare(common::external());
    let why = rollback_reason(&w);
    assert!(
        why.contains(&format!(
            "the artifact of `{one}` (`{}`) was expired",
            digest(1)
        )),
        "{why}"
    );
    assert!(why.contains("qualifies now"), "{why}");
    assert!(!why.contains("first revision"), "{why}");
}

#[test]
fn wording_an_unknown_change_asks_to_record_it_not_what_it_depends_on() {
    let mut w = World::new();
    let refused = w
        .run(Command::PoisonChange {
            change: "PR-9".into(),
            by: "alice".into(),
            reason: "breaks checkout".into(),
        })
        .unwrap_err();
    assert_eq!(refused.rule(), "unknown-change");
    assert!(refused.to_string().contains("record it"), "{refused}");
    assert!(!refused.to_string().contains("depends on"), "{refused}");
}

#[test]
fn wording_a_malformed_journal_line_names_one_line_number() {
    let mut w = World::new();
    w.ready_for_prod(1);
    let mut out = Vec::new();
    w.ledger.journal().write_jsonl(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[6] = lines[6].replacen("\"position\":7", "\"position\":\"seven\"", 1);
    let err = Journal::from_jsonl_str(&lines.join("\n")).unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("journal line 7 "), "{message}");
    assert!(message.contains("at column "), "{message}");
    assert!(!message.contains("line 1 "), "{message}");
    assert_eq!(message.matches("line").count(), 1, "{message}");
}
