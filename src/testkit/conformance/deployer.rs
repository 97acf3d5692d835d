//! The deployer's contract.

use super::{ConformanceFailure, ensure, fail, fresh_run, key, sample_release};
use crate::model::EnvironmentId;
use crate::port::Deployer;

/// Checks a [`Deployer`]: outcomes by key, status after a deploy, that
/// replaying a key does not deploy again, and that an abort returns traffic
/// to the release before the last deploy (once per key) when the deployer
/// says it can abort.
pub async fn deployer(
    port: &dyn Deployer,
    environment: &EnvironmentId,
) -> Result<(), ConformanceFailure> {
    const P: &str = "deployer";
    let run = fresh_run(P, "outcome-of-unknown-key-is-none", |n| async move {
        !matches!(
            port.outcome(&key(&format!("deployer/run-{n}/a"))).await,
            Ok(None)
        )
    })
    .await?;
    let service = format!("conformance-svc-{run}");
    let (a, a_artifact) = sample_release(&service, 1)?;
    let (b, b_artifact) = sample_release(&service, 2)?;
    let k = |name: &str| key(&format!("deployer/run-{run}/{name}"));
    let unknown = port.outcome(&k("never")).await;
    ensure(
        P,
        "outcome-of-unknown-key-is-none",
        matches!(unknown, Ok(None)),
        || format!("{unknown:?}"),
    )?;
    let first = k("a");
    if let Err(e) = port.deploy(&first, environment, &a, &a_artifact).await {
        return fail(P, "deploy", e.to_string());
    }
    let status = port.status(environment, &a.service).await;
    ensure(
        P,
        "status-after-deploy",
        matches!(&status, Ok(Some(r)) if *r == a.id),
        || format!("{status:?}"),
    )?;
    let outcome = port.outcome(&first).await;
    ensure(
        P,
        "outcome-after-deploy",
        matches!(&outcome, Ok(Some(r)) if *r == a.id),
        || format!("{outcome:?}"),
    )?;
    if let Err(e) = port.deploy(&k("b"), environment, &b, &b_artifact).await {
        return fail(P, "deploy", e.to_string());
    }
    // Replaying the first key must answer without deploying `a` again.
    if let Err(e) = port.deploy(&first, environment, &a, &a_artifact).await {
        return fail(P, "replayed-key-answers", e.to_string());
    }
    let status = port.status(environment, &a.service).await;
    ensure(
        P,
        "replayed-key-does-not-act-again",
        matches!(&status, Ok(Some(r)) if *r == b.id),
        || {
            format!(
                "after replaying the key of `{}`, `{:?}` serves instead of `{}`",
                a.id, status, b.id
            )
        },
    )?;
    // A deployer that says it cannot abort is not asked to.
    if !port.capabilities().abort {
        return Ok(());
    }
    let abort = k("abort");
    if let Err(e) = port.abort(&abort, environment, &a.service).await {
        return fail(P, "abort", e.to_string());
    }
    let status = port.status(environment, &a.service).await;
    ensure(
        P,
        "abort-returns-to-the-release-before",
        matches!(&status, Ok(Some(r)) if *r == a.id),
        || format!("after aborting `{}`: {status:?}", b.id),
    )?;
    if let Err(e) = port.abort(&abort, environment, &a.service).await {
        return fail(P, "replayed-key-answers", e.to_string());
    }
    let status = port.status(environment, &a.service).await;
    ensure(
        P,
        "replayed-abort-does-not-act-again",
        matches!(&status, Ok(Some(r)) if *r == a.id),
        || format!("after replaying the abort: {status:?}"),
    )?;
    let outcome = port.outcome(&abort).await;
    ensure(
        P,
        "outcome-after-abort",
        matches!(&outcome, Ok(Some(_))),
        || format!("{outcome:?}"),
    )
}
