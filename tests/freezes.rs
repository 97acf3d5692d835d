//! Freezes scoped by action and environment, with windows; deny beats
//! allow; overrides need a role and a reason and are audited.

mod common;

use common::{World, t};
use knowngood::{Clearance, Command, EventKind, FlagState, Freeze, GatedAction, Policy, Rejection};

/// Builds 1 and 2 verified in prod, build 3 ready for prod; a hotfix build
/// 7 exists.
fn world() -> World {
    let mut w = World::new();
    let one = w.ready_for_prod(1);
    w.deploy("prod", &one, true);
    let two = w.ready_for_prod(2);
    w.deploy("prod", &two, true);
    w.ready_for_prod(3);
    w.build(7);
    let mut policy = Policy::hotfix_lane("Hotfix-{build}");
    policy
        .roles
        .insert("release-managers".into(), ["alice".into()].into());
    policy
        .freeze_override_roles
        .insert("release-managers".into());
    w.ok(Command::AdoptPolicy {
        policy,
        by: "alice".into(),
    });
    w
}

fn freeze(w: &mut World, id: &str, actions: &[GatedAction], minutes: i64) -> Freeze {
    let f = Freeze::deny(id, actions.iter().copied(), t(0), "carol", "holidays")
        .until(t(w.clock + minutes))
        .in_environment("prod");
    w.ok(Command::DeclareFreeze { freeze: f.clone() });
    f
}

fn deliver(w: &mut World, n: u64) -> Result<Vec<knowngood::JournalEntry>, Rejection> {
    w.run(Command::deploy("prod", common::release_id(n), "bob"))
}

#[test]
fn holiday_freeze_on_deliveries_still_lets_a_rollback_and_a_hotfix_through() {
    let mut w = world();
    freeze(&mut w, "holidays", &[GatedAction::Deliver], 1_000);
    let refusal = deliver(&mut w, 3).unwrap_err();
    assert_eq!(
        refusal,
        Rejection::Frozen {
            action: GatedAction::Deliver,
            environment: "prod".into(),
            freezes: vec!["holidays".into()],
            outside_allow_windows: false
        }
    );
    assert!(
        refusal.to_string().contains("override with a reason"),
        "{refusal}"
    );
    // Other environments are not frozen.
    assert!(
        w.run(Command::deploy("dev", common::release_id(7), "bob"))
            .is_ok()
    );
    // A hotfix along the hotfix lane goes through.
    let hot = common::release_id(7);
    w.deploy("hotfix-dev", &hot, true);
    let slot = common::slot_of(&w.ok(Command::deploy("prod", hot, "bob"))[0]);
    w.start(&slot);
    w.complete(&slot);
    w.verify(&slot, true);
    // So does a rollback.
    assert!(w.rollback("prod", None).is_ok());
}

#[test]
fn freeze_on_rollback_blocks_it() {
    let mut w = world();
    freeze(&mut w, "no-rollbacks", &[GatedAction::Rollback], 1_000);
    assert_eq!(w.rollback("prod", None).unwrap_err().rule(), "frozen");
    // Deliveries stay open.
    assert!(deliver(&mut w, 3).is_ok());
}

#[test]
fn freeze_window_ends_and_deliveries_reopen() {
    let mut w = world();
    freeze(&mut w, "short", &[GatedAction::Deliver], 3);
    assert_eq!(deliver(&mut w, 3).unwrap_err().rule(), "frozen");
    w.clock += 5;
    assert!(deliver(&mut w, 3).is_ok());
}

#[test]
fn freeze_override_without_the_role_is_refused_and_with_it_is_audited() {
    let mut w = world();
    freeze(&mut w, "holidays", &[GatedAction::Deliver], 1_000);
    let by_bob = Command::deploy("prod", common::release_id(3), "bob")
        .with_clearance(Clearance::override_freeze("sev2 fix"));
    let refusal = w.run(by_bob).unwrap_err();
    assert_eq!(
        refusal,
        Rejection::OverrideNotPermitted {
            actor: "bob".into(),
            roles: vec!["release-managers".into()]
        }
    );
    let no_reason = Command::deploy("prod", common::release_id(3), "alice")
        .with_clearance(Clearance::override_freeze(""));
    assert_eq!(w.run(no_reason).unwrap_err().rule(), "reason-required");
    let by_alice = Command::deploy("prod", common::release_id(3), "alice")
        .with_clearance(Clearance::override_freeze("sev2 fix"));
    let entries = w.ok(by_alice);
    assert_eq!(
        common::type_names(&entries),
        ["deployment_requested", "freeze_overridden"]
    );
    let EventKind::FreezeOverridden {
        by,
        reason,
        freezes,
        action,
        ..
    } = &entries[1].event.kind
    else {
        panic!()
    };
    assert_eq!(
        (by.as_str(), reason.as_str(), action),
        ("alice", "sev2 fix", &GatedAction::Deliver)
    );
    assert_eq!(freezes, &vec![knowngood::FreezeId::new("holidays")]);
    assert!(entries[1].event.kind.is_audited() && entries[1].event.kind.is_exception());
    // The override is recorded in the same stream as the deployment.
    assert_eq!(entries[0].stream, entries[1].stream);
}

#[test]
fn freeze_deny_beats_allow_and_allow_windows_close_everything_outside_them() {
    let mut w = world();
    // Deliveries to prod are allowed only inside this window.
    let window = Freeze::deny(
        "business-hours",
        [GatedAction::Deliver],
        t(w.clock + 10),
        "carol",
        "deploy window",
    )
    .until(t(w.clock + 20))
    .in_environment("prod")
    .allowing();
    w.ok(Command::DeclareFreeze { freeze: window });
    let refusal = deliver(&mut w, 3).unwrap_err();
    assert_eq!(
        refusal,
        Rejection::Frozen {
            action: GatedAction::Deliver,
            environment: "prod".into(),
            freezes: vec![],
            outside_allow_windows: true
        }
    );
    w.clock += 10;
    assert!(deliver(&mut w, 3).is_ok(), "inside the allow window");
    // A deny inside the allow window still wins.
    let mut w = world();
    let window = Freeze::deny(
        "business-hours",
        [GatedAction::Deliver],
        t(0),
        "carol",
        "deploy window",
    )
    .allowing();
    w.ok(Command::DeclareFreeze { freeze: window });
    freeze(&mut w, "incident", &[GatedAction::Deliver], 1_000);
    assert_eq!(deliver(&mut w, 3).unwrap_err().rule(), "frozen");
}

#[test]
fn freeze_on_flag_changes_blocks_set_flag() {
    let mut w = world();
    freeze(&mut w, "flags", &[GatedAction::FlagChange], 1_000);
    let set = Command::SetFlag {
        environment: "prod".into(),
        flag: "new-checkout".into(),
        state: FlagState::On,
        by: "bob".into(),
        clearance: Clearance::none(),
    };
    assert_eq!(w.run(set.clone()).unwrap_err().rule(), "frozen");
    let by_alice = Command::SetFlag {
        environment: "prod".into(),
        flag: "new-checkout".into(),
        state: FlagState::On,
        by: "alice".into(),
        clearance: Clearance::override_freeze("kill switch"),
    };
    let entries = w.ok(by_alice);
    assert_eq!(
        common::type_names(&entries),
        ["flag_set", "freeze_overridden"]
    );
}

#[test]
fn lifting_a_freeze_takes_its_declarer_or_an_override_role() {
    let mut w = world();
    freeze(&mut w, "holidays", &[GatedAction::Deliver], 1_000);
    let lift = |by: &str| Command::LiftFreeze {
        freeze: "holidays".into(),
        by: by.into(),
        reason: "fix ready".into(),
    };
    assert_eq!(
        w.run(lift("bob")).unwrap_err().rule(),
        "override-not-permitted"
    );
    assert_eq!(w.ok(lift("carol")).len(), 1, "the declarer");
    assert!(deliver(&mut w, 3).is_ok());
    assert_eq!(w.run(lift("carol")).unwrap_err().rule(), "unknown-freeze");
    freeze(&mut w, "again", &[GatedAction::Deliver], 1_000);
    assert!(
        w.run(Command::LiftFreeze {
            freeze: "again".into(),
            by: "alice".into(),
            reason: "rm".into()
        })
        .is_ok()
    );
}

#[test]
fn invalid_freezes_are_refused() {
    let mut w = world();
    let none = Freeze::deny("empty", [], t(0), "carol", "x");
    assert_eq!(
        w.run(Command::DeclareFreeze { freeze: none })
            .unwrap_err()
            .rule(),
        "invalid-freeze"
    );
    let backwards =
        Freeze::deny("backwards", [GatedAction::Deliver], t(10), "carol", "x").until(t(5));
    assert!(
        w.run(Command::DeclareFreeze { freeze: backwards })
            .unwrap_err()
            .to_string()
            .contains("ends before it starts")
    );
    let nowhere =
        Freeze::deny("nowhere", [GatedAction::Deliver], t(0), "carol", "x").in_environment("mars");
    assert_eq!(
        w.run(Command::DeclareFreeze { freeze: nowhere })
            .unwrap_err()
            .rule(),
        "unknown-environment"
    );
    let f = Freeze::deny("h", [GatedAction::Deliver], t(0), "carol", "x");
    w.ok(Command::DeclareFreeze { freeze: f.clone() });
    assert!(
        w.ok(Command::DeclareFreeze { freeze: f.clone() })
            .is_empty()
    );
    assert_eq!(
        w.run(Command::DeclareFreeze {
            freeze: f.allowing()
        })
        .unwrap_err()
        .rule(),
        "conflicting-freeze"
    );
}
