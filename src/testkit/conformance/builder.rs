//! The CI builder's contract.

use super::{ConformanceFailure, ensure, fail, fresh_run, key};
use crate::model::{CommitId, ServiceId};
use crate::port::Builder;

/// Checks a [`Builder`]: one build per key, of the commit asked, whose
/// manifest says the same every time it is asked (the artifact and the
/// release it makes).
pub async fn builder(
    port: &dyn Builder,
    service: &ServiceId,
    commit: &CommitId,
) -> Result<(), ConformanceFailure> {
    const P: &str = "builder";
    let run = fresh_run(P, "outcome-of-unknown-key-is-none", |n| async move {
        !matches!(
            port.outcome(&key(&format!("builder/run-{n}/build"))).await,
            Ok(None)
        )
    })
    .await?;
    let k = key(&format!("builder/run-{run}/build"));
    let built = match port.build(&k, service, commit).await {
        Ok(a) => a,
        Err(e) => return fail(P, "build", e.to_string()),
    };
    ensure(
        P,
        "built-from-the-commit-asked",
        built.artifact.source_commit == *commit && built.artifact.service == *service,
        || format!("{built:?}"),
    )?;
    let again = port.build(&k, service, commit).await;
    ensure(
        P,
        "replayed-key-returns-first-build",
        matches!(&again, Ok(a) if *a == built),
        || format!("{again:?}"),
    )?;
    let outcome = port.outcome(&k).await;
    ensure(
        P,
        "outcome-after-build",
        matches!(&outcome, Ok(Some(a)) if *a == built),
        || format!("{outcome:?}"),
    )?;
    let none = port
        .outcome(&key(&format!("builder/run-{run}/never")))
        .await;
    ensure(
        P,
        "outcome-of-unknown-key-is-none",
        matches!(none, Ok(None)),
        || format!("{none:?}"),
    )
}
