//! The runbooks port's contract.

use super::{ConformanceFailure, ensure, fail, fresh_run, key};
use crate::model::{EnvironmentId, Runbook, ServiceId};
use crate::port::Runbooks;

/// Checks a [`Runbooks`] port with `runbook`, one the host can run
/// harmlessly (a no-op, a dry run, a cache purge): it runs once per key
/// (a replayed key answers the first result), and `outcome` says what ran
/// under a key, and nothing for a key never used.
///
/// The suite runs it for service `conformance-svc` in environment
/// `conformance-env`.
pub async fn runbooks(port: &dyn Runbooks, runbook: &Runbook) -> Result<(), ConformanceFailure> {
    const P: &str = "runbooks";
    let run = fresh_run(P, "outcome-of-unknown-key-is-none", |n| async move {
        !matches!(
            port.outcome(&key(&format!("runbooks/run-{n}/run"))).await,
            Ok(None)
        )
    })
    .await?;
    let k = |name: &str| key(&format!("runbooks/run-{run}/{name}"));
    let (env, service) = (
        EnvironmentId::new("conformance-env"),
        ServiceId::new("conformance-svc"),
    );
    let first = match port.run(&k("run"), runbook, &env, &service).await {
        Ok(detail) => detail,
        Err(e) => return fail(P, "run", e.to_string()),
    };
    let again = port.run(&k("run"), runbook, &env, &service).await;
    ensure(
        P,
        "replayed-key-returns-first-result",
        again.as_ref().is_ok_and(|d| *d == first),
        || format!("first {first:?}, then {again:?}"),
    )?;
    let outcome = port.outcome(&k("run")).await;
    ensure(
        P,
        "outcome-after-run",
        matches!(&outcome, Ok(Some(d)) if *d == first),
        || format!("{outcome:?}"),
    )?;
    let none = port.outcome(&k("never")).await;
    ensure(
        P,
        "outcome-of-unknown-key-is-none",
        matches!(none, Ok(None)),
        || format!("{none:?}"),
    )
}
