//! Schema migrations: expand → migrate → contract, contract refused while a
//! release inside the rollback window needs the old schema, irreversible
//! steps cannot be undone, releases must run on the schema they meet.

mod common;

use common::{SERVICE, World};
use knowngood::migration::{SchemaChangePlan, unsafe_rollback_targets};
use knowngood::{Command, Migration, MigrationPhase as P, Policy, SchemaRange};

fn register(w: &mut World, n: u64, range: SchemaRange) -> knowngood::ReleaseId {
    w.register_on_schema(n, range)
}

fn migrate(
    w: &mut World,
    env: &str,
    m: &Migration,
) -> Result<Vec<knowngood::JournalEntry>, knowngood::Rejection> {
    w.run(Command::ApplyMigration {
        environment: env.into(),
        service: SERVICE.into(),
        migration: m.clone(),
        by: "dba".into(),
    })
}

/// Schema 4 in prod with build 1 (4..=4) serving, then the three-step plan
/// carried out with builds 2 (4..=5) and 3 (5..=6).
fn world(window: u32) -> (World, SchemaChangePlan) {
    let mut w = World::new();
    let mut policy = Policy::default();
    policy.rollback_window = window;
    w.adopt(policy);
    migrate(&mut w, "prod", &Migration::new("baseline", P::Expand, 3, 4)).unwrap();
    let one = register(&mut w, 1, SchemaRange::new(4, 4));
    for env in ["dev", "qa"] {
        w.deploy(env, &one, true);
    }
    w.deploy("prod", &one, true);
    (
        w,
        SchemaChangePlan::new(SERVICE, "split-address", 4).unwrap(),
    )
}

#[test]
fn migration_three_step_plan_runs_in_order_with_compatible_releases() {
    let (mut w, plan) = world(0);
    let [expand, data, contract] = [&plan.steps[0], &plan.steps[1], &plan.steps[2]];
    assert_eq!(
        (
            expand.migration.from,
            expand.migration.to,
            expand.migration.reversible
        ),
        (4, 5, true)
    );
    assert_eq!((data.migration.from, data.migration.to), (5, 5));
    assert_eq!(
        (
            contract.migration.from,
            contract.migration.to,
            contract.migration.reversible
        ),
        (5, 6, false)
    );
    // Expanding while build 1 (4..=4) serves is refused: it cannot run on 5.
    assert_eq!(
        migrate(&mut w, "prod", &expand.migration)
            .unwrap_err()
            .rule(),
        "schema-incompatible"
    );
    let two = register(&mut w, 2, expand.release_schema);
    w.through_qa(&two);
    w.deploy("prod", &two, true);
    migrate(&mut w, "prod", &expand.migration).unwrap();
    migrate(&mut w, "prod", &data.migration).unwrap();
    let three = register(&mut w, 3, contract.release_schema);
    w.through_qa(&three);
    w.deploy("prod", &three, true);
    migrate(&mut w, "prod", &contract.migration).unwrap();
    let schema = w
        .ledger
        .state()
        .environment(&"prod".into())
        .unwrap()
        .schema(&SERVICE.into())
        .unwrap()
        .clone();
    assert_eq!(schema.version, 6);
    assert_eq!(schema.applied.len(), 4);
}

#[test]
fn migration_before_verification_data_and_contract_wait_for_the_release_that_needs_them() {
    let (mut w, plan) = world(0);
    let [expand, data, contract] = [&plan.steps[0], &plan.steps[1], &plan.steps[2]];
    let two = register(&mut w, 2, expand.release_schema);
    w.through_qa(&two);
    // Build 2 rolls out in prod and is still verifying.
    let slot = w.request("prod", &two);
    w.start(&slot);
    w.complete(&slot);
    // Expanding comes before the release that needs it: allowed.
    migrate(&mut w, "prod", &expand.migration).unwrap();
    // Moving the data is not, until build 2 is verified there.
    let refused = migrate(&mut w, "prod", &data.migration).unwrap_err();
    assert_eq!(refused.rule(), "migration-before-verification", "{refused}");
    assert!(refused.to_string().contains("verifying"), "{refused}");
    w.verify(&slot, true);
    migrate(&mut w, "prod", &data.migration).unwrap();
    // Build 3 (which needs the contract) fails its verification: the old
    // shape stays.
    let three = register(&mut w, 3, contract.release_schema);
    w.through_qa(&three);
    w.deploy("prod", &three, false);
    let refused = migrate(&mut w, "prod", &contract.migration).unwrap_err();
    assert_eq!(refused.rule(), "migration-before-verification", "{refused}");
    assert!(refused.to_string().contains("failed"), "{refused}");
    // Build 4, verified: now the contract goes ahead.
    let four = register(&mut w, 4, contract.release_schema);
    w.through_qa(&four);
    w.deploy("prod", &four, true);
    migrate(&mut w, "prod", &contract.migration).unwrap();
}

#[test]
fn migration_contract_refused_while_a_release_in_the_rollback_window_needs_the_old_schema() {
    let (mut w, plan) = world(2);
    let two = register(&mut w, 2, plan.steps[0].release_schema);
    w.through_qa(&two);
    w.deploy("prod", &two, true);
    migrate(&mut w, "prod", &plan.steps[0].migration).unwrap();
    migrate(&mut w, "prod", &plan.steps[1].migration).unwrap();
    let three = register(&mut w, 3, plan.steps[2].release_schema);
    w.through_qa(&three);
    w.deploy("prod", &three, true);
    // Build 2 (4..=5) is the newest rollback target: contracting to 6 strands it.
    assert_eq!(
        unsafe_rollback_targets(w.ledger.state(), &"prod".into(), &SERVICE.into(), 6).len(),
        2
    );
    let before = w.ledger.clone();
    let refusal = migrate(&mut w, "prod", &plan.steps[2].migration).unwrap_err();
    assert_eq!(refusal.rule(), "contract-inside-rollback-window");
    assert!(
        refusal
            .to_string()
            .contains("`payments@1.2.0` (schema 4..=5)"),
        "{refusal}"
    );
    assert_eq!(w.ledger, before);
    // Once two newer releases on the new schema shipped, the window is clear.
    for n in [4, 5] {
        let r = register(&mut w, n, SchemaRange::new(5, 6));
        w.through_qa(&r);
        w.deploy("prod", &r, true);
    }
    assert!(
        unsafe_rollback_targets(w.ledger.state(), &"prod".into(), &SERVICE.into(), 6).is_empty()
    );
    assert!(migrate(&mut w, "prod", &plan.steps[2].migration).is_ok());
}

#[test]
fn migration_out_of_sequence_and_irreversible_undo_are_refused() {
    let (mut w, plan) = world(0);
    assert_eq!(
        migrate(&mut w, "prod", &Migration::new("skip", P::Expand, 7, 8))
            .unwrap_err()
            .rule(),
        "migration-out-of-sequence"
    );
    let two = register(&mut w, 2, SchemaRange::new(4, 6));
    w.through_qa(&two);
    w.deploy("prod", &two, true);
    migrate(&mut w, "prod", &plan.steps[0].migration).unwrap();
    // Undoing the expand is fine (reversible) ...
    assert!(
        migrate(
            &mut w,
            "prod",
            &Migration::new("undo-expand", P::Expand, 5, 4)
        )
        .is_ok()
    );
    migrate(&mut w, "prod", &plan.steps[0].migration).unwrap();
    migrate(&mut w, "prod", &plan.steps[2].migration).unwrap();
    // ... undoing the contract is not.
    let refusal = migrate(
        &mut w,
        "prod",
        &Migration::new("undo-contract", P::Expand, 6, 5),
    )
    .unwrap_err();
    assert_eq!(refusal.rule(), "irreversible-migration");
    assert!(
        refusal.to_string().contains("split-address-contract"),
        "{refusal}"
    );
}

#[test]
fn release_refused_where_it_cannot_run_on_the_schema() {
    let (mut w, _) = world(0);
    let future = register(&mut w, 2, SchemaRange::new(6, 7));
    w.deploy("dev", &future, true); // dev has no schema recorded: no constraint
    w.deploy("qa", &future, true);
    let refusal = w.run(Command::deploy("prod", future, "bob")).unwrap_err();
    assert_eq!(refusal.rule(), "schema-incompatible");
    assert!(
        refusal
            .to_string()
            .contains("runs on schema 6..=7 but `prod` is at schema 4"),
        "{refusal}"
    );
}

#[test]
fn expired_artifacts_cannot_be_deployed_or_rolled_back_to() {
    let mut w = World::new();
    let one = w.ready_for_prod(1);
    w.deploy("prod", &one, true);
    let two = w.ready_for_prod(2);
    w.deploy("prod", &two, true);
    w.ok(Command::ExpireArtifact {
        digest: common::digest(1),
        by: "registry-gc".into(),
    });
    assert_eq!(
        w.rollback("prod", None).unwrap_err().rule(),
        "no-known-good-target"
    );
    assert_eq!(
        w.rollback("prod", Some(1)).unwrap_err().rule(),
        "artifact-expired"
    );
}
