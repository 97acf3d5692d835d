//! The conformance suite: one async function per port. Each returns the
//! first contract its adapter breaks, naming the check.
//!
//! The suite acts under keys starting with `conformance/` and, for
//! version control, needs a repository prepared by the caller (a service
//! with a branch holding at least one commit).

use chrono::DateTime;

use crate::journal::JournalEntry;
use crate::ledger::Ledger;
use crate::machine::Command;
use crate::model::{
    Artifact, BranchName, CommitId, Digest, EnvironmentId, FlagKey, FlagState, Release, Service,
    ServiceId,
};
use crate::port::{Builder, Deployer, ErrorKind, FlagStore, JournalStore, Vcs};
use crate::recovery::IdempotencyKey;

/// A broken contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{port} breaks `{check}`: {detail}")]
#[non_exhaustive]
pub struct ConformanceFailure {
    /// Which port.
    pub port: &'static str,
    /// The contract, by name.
    pub check: &'static str,
    /// What happened instead.
    pub detail: String,
}

fn fail<T>(
    port: &'static str,
    check: &'static str,
    detail: impl Into<String>,
) -> Result<T, ConformanceFailure> {
    Err(ConformanceFailure {
        port,
        check,
        detail: detail.into(),
    })
}

fn key(name: &str) -> IdempotencyKey {
    IdempotencyKey::new(format!("conformance/{name}"))
}

fn ensure(
    port: &'static str,
    check: &'static str,
    ok: bool,
    detail: impl FnOnce() -> String,
) -> Result<(), ConformanceFailure> {
    if ok {
        Ok(())
    } else {
        fail(port, check, detail())
    }
}

/// A release and artifact to deploy in the deployer checks.
fn sample_release(service: &str, n: u64) -> Result<(Release, Artifact), ConformanceFailure> {
    let digest = match Digest::parse(&format!("sha256:c0f0{n:012x}")) {
        Ok(d) => d,
        Err(e) => return fail("deployer", "sample-release", e.to_string()),
    };
    let artifact = Artifact::new(
        service,
        digest.clone(),
        semver::Version::new(0, n, 0),
        n,
        format!("c{n}"),
    );
    Ok((
        Release::new(format!("{service}@0.{n}.0"), service, digest, "cfg"),
        artifact,
    ))
}

/// Checks a [`Deployer`]: outcomes by key, status after a deploy, and that
/// replaying a key does not deploy again.
pub async fn deployer(
    port: &dyn Deployer,
    environment: &EnvironmentId,
) -> Result<(), ConformanceFailure> {
    const P: &str = "deployer";
    let (a, a_artifact) = sample_release("conformance-svc", 1)?;
    let (b, b_artifact) = sample_release("conformance-svc", 2)?;
    let unknown = port.outcome(&key("deployer/never")).await;
    ensure(
        P,
        "outcome-of-unknown-key-is-none",
        matches!(unknown, Ok(None)),
        || format!("{unknown:?}"),
    )?;
    let first = key("deployer/a");
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
    if let Err(e) = port
        .deploy(&key("deployer/b"), environment, &b, &b_artifact)
        .await
    {
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
    )
}

/// Checks a [`FlagStore`]: revisions, expected-revision conflicts,
/// idempotent sets and outcomes.
pub async fn flag_store(port: &dyn FlagStore) -> Result<(), ConformanceFailure> {
    const P: &str = "flag store";
    let (env, flag) = (
        EnvironmentId::new("conformance-env"),
        FlagKey::new("conformance-flag"),
    );
    let Ok((_, r0)) = port.get(&env, &flag).await else {
        return fail(P, "get", "reading a flag never set failed");
    };
    let k = key("flags/on");
    let r1 = match port.set(&k, &env, &flag, &FlagState::On, r0).await {
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
    let again = port.set(&k, &env, &flag, &FlagState::On, r0).await;
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
        .set(&key("flags/stale"), &env, &flag, &FlagState::Off, r0)
        .await;
    ensure(
        P,
        "stale-revision-is-a-conflict",
        matches!(&stale, Err(e) if e.kind() == ErrorKind::Conflict),
        || format!("{stale:?}"),
    )?;
    let outcome = port.outcome(&k).await;
    ensure(
        P,
        "outcome-after-set",
        matches!(outcome, Ok(Some(r)) if r == r1),
        || format!("{outcome:?}"),
    )?;
    let none = port.outcome(&key("flags/never")).await;
    ensure(
        P,
        "outcome-of-unknown-key-is-none",
        matches!(none, Ok(None)),
        || format!("{none:?}"),
    )
}

/// Checks a [`Vcs`] on `service`'s `branch` (which must hold a commit):
/// branches, tags and reverts are idempotent by key and reported by
/// outcome; an unknown branch is not found.
pub async fn vcs(
    port: &dyn Vcs,
    service: &ServiceId,
    branch: &BranchName,
) -> Result<(), ConformanceFailure> {
    const P: &str = "VCS";
    let head = match port.head(service, branch).await {
        Ok(h) => h,
        Err(e) => return fail(P, "head", e.to_string()),
    };
    let missing = port
        .head(service, &BranchName::new("conformance/no-such-branch"))
        .await;
    ensure(
        P,
        "unknown-branch-is-not-found",
        matches!(&missing, Err(e) if e.kind() == ErrorKind::NotFound),
        || format!("{missing:?}"),
    )?;
    let side = BranchName::new("conformance/side");
    let k = key("vcs/branch");
    let cut = port.create_branch(&k, service, &side, &head).await;
    ensure(
        P,
        "create-branch",
        matches!(&cut, Ok(c) if *c == head),
        || format!("{cut:?}"),
    )?;
    let at = port.head(service, &side).await;
    ensure(
        P,
        "branch-starts-at-commit",
        matches!(&at, Ok(c) if *c == head),
        || format!("{at:?}"),
    )?;
    let k = key("vcs/revert");
    let reverted = match port
        .revert(&k, service, std::slice::from_ref(&head), &side)
        .await
    {
        Ok(c) => c,
        Err(e) => return fail(P, "revert", e.to_string()),
    };
    let again = port
        .revert(&k, service, std::slice::from_ref(&head), &side)
        .await;
    ensure(
        P,
        "replayed-key-returns-first-result",
        matches!(&again, Ok(c) if *c == reverted),
        || format!("{again:?}"),
    )?;
    let tip = port.head(service, &side).await;
    ensure(
        P,
        "replayed-key-does-not-act-again",
        matches!(&tip, Ok(c) if *c == reverted),
        || format!("{tip:?}"),
    )?;
    let outcome = port.outcome(&k).await;
    ensure(
        P,
        "outcome-after-revert",
        matches!(&outcome, Ok(Some(c)) if *c == reverted),
        || format!("{outcome:?}"),
    )?;
    let tagged = port
        .tag(&key("vcs/tag"), service, &reverted, "conformance-tag")
        .await;
    ensure(P, "tag", tagged.is_ok(), || format!("{tagged:?}"))?;
    let none = port.outcome(&key("vcs/never")).await;
    ensure(
        P,
        "outcome-of-unknown-key-is-none",
        matches!(none, Ok(None)),
        || format!("{none:?}"),
    )
}

/// Checks a [`Builder`]: one artifact per key, built from the commit asked.
pub async fn builder(
    port: &dyn Builder,
    service: &ServiceId,
    commit: &CommitId,
) -> Result<(), ConformanceFailure> {
    const P: &str = "builder";
    let k = key("builder/build");
    let built = match port.build(&k, service, commit).await {
        Ok(a) => a,
        Err(e) => return fail(P, "build", e.to_string()),
    };
    ensure(
        P,
        "built-from-the-commit-asked",
        built.source_commit == *commit && built.service == *service,
        || format!("{built:?}"),
    )?;
    let again = port.build(&k, service, commit).await;
    ensure(
        P,
        "replayed-key-returns-first-artifact",
        matches!(&again, Ok(a) if a.digest == built.digest),
        || format!("{again:?}"),
    )?;
    let outcome = port.outcome(&k).await;
    ensure(
        P,
        "outcome-after-build",
        matches!(&outcome, Ok(Some(a)) if a.digest == built.digest),
        || format!("{outcome:?}"),
    )?;
    let none = port.outcome(&key("builder/never")).await;
    ensure(
        P,
        "outcome-of-unknown-key-is-none",
        matches!(none, Ok(None)),
        || format!("{none:?}"),
    )
}

/// Checks an empty [`JournalStore`]: appends only at the expected length,
/// reads back exactly what was appended, from any position.
pub async fn journal_store(port: &dyn JournalStore) -> Result<(), ConformanceFailure> {
    const P: &str = "journal store";
    let entries = sample_entries();
    let empty = port.read_from(1).await;
    ensure(
        P,
        "starts-empty",
        matches!(&empty, Ok(e) if e.is_empty()),
        || format!("{} entries", empty.map_or(0, |e| e.len())),
    )?;
    if let Err(e) = port.append(0, &entries[..2]).await {
        return fail(P, "append", e.to_string());
    }
    let stale = port.append(0, &entries[2..]).await;
    ensure(
        P,
        "stale-append-is-a-conflict",
        matches!(&stale, Err(e) if e.kind() == ErrorKind::Conflict),
        || format!("{stale:?}"),
    )?;
    if let Err(e) = port.append(2, &entries[2..]).await {
        return fail(P, "append", e.to_string());
    }
    let all = port.read_from(1).await;
    ensure(
        P,
        "reads-back-what-was-appended",
        matches!(&all, Ok(e) if *e == entries),
        || "the entries differ".to_owned(),
    )?;
    let tail = port.read_from(2).await;
    ensure(
        P,
        "reads-from-a-position",
        matches!(&tail, Ok(e) if e.as_slice() == &entries[1..]),
        || "reading from position 2 did not start at the second entry".to_owned(),
    )
}

fn sample_entries() -> Vec<JournalEntry> {
    let mut ledger = Ledger::new();
    let at = DateTime::UNIX_EPOCH;
    for name in ["conformance-a", "conformance-b", "conformance-c"] {
        // Registering a new service is always accepted.
        let _ = ledger.execute(
            &Command::RegisterService {
                service: Service::new(name),
            },
            at,
        );
    }
    ledger.journal().entries().to_vec()
}
