//! The migrator's contract.

use super::{ConformanceFailure, ensure, fail, fresh_run, key};
use crate::model::{EnvironmentId, Migration, MigrationPhase, ServiceId};
use crate::port::{MigrationOutcome, Migrator};

/// Checks a [`Migrator`]: a schema migration and data batches run once
/// per key (a replayed key answers the first result), outcomes say what
/// ran under a key, and a data migration moved in batches of at most the
/// limit, each from the cursor the one before gave, ends.
///
/// The suite works on service `conformance-svc-N` in environment
/// `conformance-env` (a fresh `N` per run): a migrator configured per
/// database must give it one, holding whatever rows it likes.
pub async fn migrator(port: &dyn Migrator) -> Result<(), ConformanceFailure> {
    const P: &str = "migrator";
    let run = fresh_run(P, "outcome-of-unknown-key-is-none", |n| async move {
        !matches!(
            port.outcome(&key(&format!("migrator/run-{n}/expand")))
                .await,
            Ok(None)
        )
    })
    .await?;
    let k = |name: &str| key(&format!("migrator/run-{run}/{name}"));
    let env = EnvironmentId::new("conformance-env");
    let service = ServiceId::new(format!("conformance-svc-{run}"));
    let expand = Migration::new(
        format!("conformance-{run}-expand"),
        MigrationPhase::Expand,
        0,
        1,
    );
    if let Err(e) = port.apply(&k("expand"), &env, &service, &expand).await {
        return fail(P, "apply", e.to_string());
    }
    let again = port.apply(&k("expand"), &env, &service, &expand).await;
    ensure(
        P,
        "replayed-key-returns-first-result",
        again.is_ok(),
        || format!("{again:?}"),
    )?;
    let outcome = port.outcome(&k("expand")).await;
    ensure(
        P,
        "outcome-after-apply",
        matches!(outcome, Ok(Some(MigrationOutcome::Applied))),
        || format!("{outcome:?}"),
    )?;
    let data = Migration::new(
        format!("conformance-{run}-migrate"),
        MigrationPhase::Migrate,
        1,
        1,
    );
    let mut cursor: Option<String> = None;
    for n in 1..=10_000_u32 {
        let batch_key = k(&format!("batch-{n}"));
        let batch = match port
            .migrate_batch(&batch_key, &env, &service, &data, (cursor.as_deref(), 2))
            .await
        {
            Ok(b) => b,
            Err(e) => return fail(P, "migrate-batch", format!("batch {n}: {e}")),
        };
        ensure(P, "batch-within-limit", batch.moved <= 2, || {
            format!("batch {n} moved {} rows with a limit of 2", batch.moved)
        })?;
        let replayed = port
            .migrate_batch(&batch_key, &env, &service, &data, (cursor.as_deref(), 2))
            .await;
        ensure(
            P,
            "replayed-batch-returns-first-result",
            replayed.as_ref().is_ok_and(|r| *r == batch),
            || format!("batch {n}: {batch:?}, then {replayed:?}"),
        )?;
        let outcome = port.outcome(&batch_key).await;
        ensure(
            P,
            "outcome-after-batch",
            matches!(&outcome, Ok(Some(MigrationOutcome::Batch(b))) if *b == batch),
            || format!("batch {n}: {outcome:?}"),
        )?;
        if batch.done {
            let none = port.outcome(&k("never")).await;
            return ensure(
                P,
                "outcome-of-unknown-key-is-none",
                matches!(none, Ok(None)),
                || format!("{none:?}"),
            );
        }
        cursor = Some(batch.cursor);
    }
    fail(
        P,
        "data-migration-ends",
        "10,000 batches of 2 rows, and the migrator never said it was done",
    )
}
