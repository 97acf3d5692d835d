//! The flag store's contract.

use super::{ConformanceFailure, ensure, fail, fresh_run, key};
use crate::model::{EnvironmentId, FlagKey, FlagState};
use crate::port::{ErrorKind, FlagStore};

/// Checks a [`FlagStore`]: revisions, expected-revision conflicts,
/// idempotent sets and outcomes.
///
/// The suite works in environment `conformance-env`: a store configured
/// per environment must know it.
pub async fn flag_store(port: &dyn FlagStore) -> Result<(), ConformanceFailure> {
    const P: &str = "flag store";
    let run = fresh_run(P, "outcome-of-unknown-key-is-none", |n| async move {
        !matches!(
            port.outcome(&key(&format!("flags/run-{n}/on"))).await,
            Ok(None)
        )
    })
    .await?;
    let k = |name: &str| key(&format!("flags/run-{run}/{name}"));
    let (env, flag) = (
        EnvironmentId::new("conformance-env"),
        FlagKey::new(format!("conformance-flag-{run}")),
    );
    let r0 = match port.get(&env, &flag).await {
        Ok((_, r0)) => r0,
        Err(e) => return fail(P, "get", format!("reading a flag never set failed: {e}")),
    };
    let on = k("on");
    let r1 = match port.set(&on, &env, &flag, &FlagState::On, r0).await {
        Ok(r) => r,
        Err(e) => return fail(P, "set", e.to_string()),
    };
    ensure(P, "revision-moves-on", r1 > r0, || format!("{r0} → {r1}"))?;
    let read = port.get(&env, &flag).await;
    ensure(
        P,
        "get-after-set",
        matches!(&read, Ok((FlagState::On, r)) if *r == r1),
        || format!("{read:?}"),
    )?;
    let again = port.set(&on, &env, &flag, &FlagState::On, r0).await;
    ensure(
        P,
        "replayed-key-returns-first-result",
        matches!(again, Ok(r) if r == r1),
        || format!("{again:?}"),
    )?;
    let read = port.get(&env, &flag).await;
    ensure(
        P,
        "replayed-key-does-not-act-again",
        matches!(&read, Ok((_, r)) if *r == r1),
        || format!("{read:?}"),
    )?;
    let stale = port
        .set(&k("stale"), &env, &flag, &FlagState::Off, r0)
        .await;
    ensure(
        P,
        "stale-revision-is-a-conflict",
        matches!(&stale, Err(e) if e.kind() == ErrorKind::Conflict),
        || format!("{stale:?}"),
    )?;
    let outcome = port.outcome(&on).await;
    ensure(
        P,
        "outcome-after-set",
        matches!(outcome, Ok(Some(r)) if r == r1),
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
