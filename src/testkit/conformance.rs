//! The conformance suite: one async function per port. Each returns the
//! first contract its adapter breaks, naming the check.
//!
//! Every check runs on a port that already has history (a repository with
//! commits, a journal with entries, a deployer or a flag store used
//! before), and can run again on the same port: each run picks a fresh
//! namespace (`conformance/run-N/...` keys, branches, tags and flags),
//! found by asking the port which run numbers it has seen. Version control
//! needs a repository prepared by the caller: a service with a branch whose
//! head is an ordinary (non-merge) commit.

use chrono::DateTime;

use crate::journal::JournalEntry;
use crate::journal::{Journal, Snapshot};
use crate::ledger::Ledger;
use crate::machine::Command;
use crate::model::{
    Artifact, BranchName, CommitId, Digest, EnvironmentId, FlagKey, FlagState, Release, Service,
    ServiceId,
};
use crate::port::{
    Builder, Deployer, ErrorKind, FlagStore, HealthProbe, JournalStore, Landed, Vcs,
};
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

/// The first run number whose probe says the port has not seen it; a port
/// that claims to have seen a thousand runs breaks `check`.
async fn fresh_run<F, Fut>(
    port: &'static str,
    check: &'static str,
    mut seen: F,
) -> Result<u64, ConformanceFailure>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for run in 1..=1000 {
        if !seen(run).await {
            return Ok(run);
        }
    }
    fail(
        port,
        check,
        "the port claims to know every key (or branch) the suite could use",
    )
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

/// Checks a [`HealthProbe`]: it answers for a release serving in
/// `environment`, with a detail saying what it measured.
pub async fn health_probe(
    port: &dyn HealthProbe,
    environment: &EnvironmentId,
    service: &ServiceId,
    release: &crate::model::ReleaseId,
) -> Result<(), ConformanceFailure> {
    const P: &str = "health probe";
    match port.verify(environment, service, release).await {
        Ok(health) => ensure(
            P,
            "says-what-it-measured",
            !health.detail.is_empty(),
            || "the verdict has no detail".to_owned(),
        ),
        Err(e) => fail(P, "verify", e.to_string()),
    }
}

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

/// Checks a [`Vcs`] on `service`'s `branch`, which must hold history (its
/// head an ordinary commit). Nothing on `branch` itself changes: the run
/// works on a side branch `conformance/run-N` cut from its head.
///
/// Checked: heads and unknown branches; creating a branch (again at the same
/// commit: success; elsewhere: a conflict, never moved); reverts and picks
/// as compare-and-swap on the expected head, answering the new commit and
/// its real parents, once per key, reported by `outcome`; merges with both
/// parents, after which the merged commit is reachable; commits between
/// two commits, oldest first; tags (again on the same commit: success; on
/// another: a conflict).
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
    let none = port.commits_between(service, &head, &head).await;
    ensure(
        P,
        "nothing-between-a-commit-and-itself",
        matches!(&none, Ok(c) if c.is_empty()),
        || format!("{none:?}"),
    )?;
    let run = fresh_run(P, "unknown-branch-is-not-found", |n| async move {
        port.head(service, &BranchName::new(format!("conformance/run-{n}")))
            .await
            .is_ok()
    })
    .await?;
    let side = BranchName::new(format!("conformance/run-{run}"));
    let k = |name: &str| key(&format!("vcs/run-{run}/{name}"));
    let cut = port
        .create_branch(&k("branch"), service, &side, &head)
        .await;
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
    let again = port
        .create_branch(&k("branch-again"), service, &side, &head)
        .await;
    ensure(
        P,
        "existing-branch-at-same-commit-is-success",
        matches!(&again, Ok(c) if *c == head),
        || format!("{again:?}"),
    )?;
    // Revert the head on the side branch: a compare-and-swap from `head`.
    let revert_key = k("revert");
    let reverted = match port
        .revert(
            &revert_key,
            service,
            std::slice::from_ref(&head),
            &side,
            &head,
        )
        .await
    {
        Ok(landed) => landed,
        Err(e) => return fail(P, "revert", e.to_string()),
    };
    ensure(
        P,
        "revert-answers-its-real-parents",
        reverted.parents == [head.clone()],
        || format!("{reverted:?}"),
    )?;
    let again = port
        .revert(
            &revert_key,
            service,
            std::slice::from_ref(&head),
            &side,
            &head,
        )
        .await;
    ensure(
        P,
        "replayed-key-returns-first-result",
        matches!(&again, Ok(l) if *l == reverted),
        || format!("{again:?}"),
    )?;
    let tip = port.head(service, &side).await;
    ensure(
        P,
        "replayed-key-does-not-act-again",
        matches!(&tip, Ok(c) if *c == reverted.commit),
        || format!("{tip:?}"),
    )?;
    let outcome = port.outcome(&revert_key).await;
    ensure(
        P,
        "outcome-after-revert",
        matches!(&outcome, Ok(Some(l)) if *l == reverted),
        || format!("{outcome:?}"),
    )?;
    // The branch moved on: a call still expecting `head` must not act.
    let stale_key = k("stale-revert");
    let stale = port
        .revert(
            &stale_key,
            service,
            std::slice::from_ref(&head),
            &side,
            &head,
        )
        .await;
    ensure(
        P,
        "stale-expected-head-is-a-conflict",
        matches!(&stale, Err(e) if e.kind() == ErrorKind::Conflict),
        || format!("{stale:?}"),
    )?;
    let tip = port.head(service, &side).await;
    let nothing = port.outcome(&stale_key).await;
    ensure(
        P,
        "stale-expected-head-changes-nothing",
        matches!(&tip, Ok(c) if *c == reverted.commit) && matches!(nothing, Ok(None)),
        || format!("head {tip:?}, outcome {nothing:?}"),
    )?;
    // Pick the head again on top of its revert (a re-application).
    let pick_key = k("pick");
    let picked = match port
        .cherry_pick(
            &pick_key,
            service,
            std::slice::from_ref(&head),
            &side,
            &reverted.commit,
        )
        .await
    {
        Ok(landed) => landed,
        Err(e) => return fail(P, "cherry-pick", e.to_string()),
    };
    ensure(
        P,
        "cherry-pick-answers-its-real-parents",
        picked.parents == [reverted.commit.clone()],
        || format!("{picked:?}"),
    )?;
    let outcome = port.outcome(&pick_key).await;
    ensure(
        P,
        "outcome-after-cherry-pick",
        matches!(&outcome, Ok(Some(l)) if *l == picked),
        || format!("{outcome:?}"),
    )?;
    let stale = port
        .cherry_pick(
            &k("stale-pick"),
            service,
            std::slice::from_ref(&head),
            &side,
            &reverted.commit,
        )
        .await;
    ensure(
        P,
        "stale-expected-head-is-a-conflict",
        matches!(&stale, Err(e) if e.kind() == ErrorKind::Conflict),
        || format!("cherry-pick: {stale:?}"),
    )?;
    let between = port.commits_between(service, &head, &picked.commit).await;
    ensure(
        P,
        "commits-between-oldest-first",
        matches!(&between, Ok(c) if *c == [reverted.commit.clone(), picked.commit.clone()]),
        || format!("{between:?}"),
    )?;
    let moved = port
        .create_branch(&k("branch-elsewhere"), service, &side, &head)
        .await;
    let tip = port.head(service, &side).await;
    ensure(
        P,
        "existing-branch-elsewhere-is-a-conflict",
        matches!(&moved, Err(e) if e.kind() == ErrorKind::Conflict)
            && matches!(&tip, Ok(c) if *c == picked.commit),
        || format!("{moved:?}, head {tip:?}"),
    )?;
    // Merge the side branch into a second one cut at `head`: a merge
    // commit with both parents, after which the side branch's head is
    // reachable from the target.
    let target = BranchName::new(format!("conformance/run-{run}-merge"));
    if let Err(e) = port
        .create_branch(&k("merge-target"), service, &target, &head)
        .await
    {
        return fail(P, "create-branch", e.to_string());
    }
    let merge_key = k("merge");
    let merged = match port
        .merge(&merge_key, service, &picked.commit, &target, &head)
        .await
    {
        Ok(landed) => landed,
        Err(e) => return fail(P, "merge", e.to_string()),
    };
    ensure(
        P,
        "merge-answers-both-parents",
        merged.parents == [head.clone(), picked.commit.clone()],
        || format!("{merged:?}"),
    )?;
    let reachable = port
        .commits_between(service, &merged.commit, &picked.commit)
        .await;
    ensure(
        P,
        "merged-commit-is-reachable",
        matches!(&reachable, Ok(c) if c.is_empty()),
        || format!("{reachable:?}"),
    )?;
    let outcome = port.outcome(&merge_key).await;
    ensure(
        P,
        "outcome-after-merge",
        matches!(&outcome, Ok(Some(l)) if *l == merged),
        || format!("{outcome:?}"),
    )?;
    let stale = port
        .merge(&k("stale-merge"), service, &picked.commit, &target, &head)
        .await;
    ensure(
        P,
        "stale-expected-head-is-a-conflict",
        matches!(&stale, Err(e) if e.kind() == ErrorKind::Conflict),
        || format!("merge: {stale:?}"),
    )?;
    let tag = format!("conformance-run-{run}");
    let tagged = port.tag(&k("tag"), service, &picked.commit, &tag).await;
    ensure(
        P,
        "tag",
        matches!(&tagged, Ok(c) if *c == picked.commit),
        || format!("{tagged:?}"),
    )?;
    let again = port
        .tag(&k("tag-again"), service, &picked.commit, &tag)
        .await;
    ensure(
        P,
        "existing-tag-on-same-commit-is-success",
        matches!(&again, Ok(c) if *c == picked.commit),
        || format!("{again:?}"),
    )?;
    let elsewhere = port
        .tag(&k("tag-elsewhere"), service, &reverted.commit, &tag)
        .await;
    ensure(
        P,
        "existing-tag-elsewhere-is-a-conflict",
        matches!(&elsewhere, Err(e) if e.kind() == ErrorKind::Conflict),
        || format!("{elsewhere:?}"),
    )?;
    let named = port.outcome(&k("branch")).await;
    ensure(
        P,
        "outcome-of-a-branch-names-its-commit",
        matches!(&named, Ok(Some(l)) if *l == Landed::named(head.clone())),
        || format!("{named:?}"),
    )?;
    let none = port.outcome(&k("never")).await;
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

/// Checks a [`JournalStore`], empty or holding a journal: appends only at
/// the expected length, reads back exactly what was appended, from any
/// position. The entries appended continue the stored journal (positions
/// and hash chain), so the store stays a valid journal.
pub async fn journal_store(port: &dyn JournalStore) -> Result<(), ConformanceFailure> {
    const P: &str = "journal store";
    let stored = match port.read_from(1).await {
        Ok(entries) => entries,
        Err(e) => return fail(P, "read", e.to_string()),
    };
    let len = stored.len() as u64;
    let journal = match Journal::with_chain(port.chain()).read_entries(stored) {
        Ok(j) => j,
        Err(e) => return fail(P, "reads-back-a-journal", e.to_string()),
    };
    let entries = match continue_journal(journal) {
        Ok(entries) => entries,
        Err(e) => return fail(P, "reads-back-a-journal", e),
    };
    if let Err(e) = port.append(len, &entries[..2]).await {
        return fail(P, "append", e.to_string());
    }
    let stale = port.append(len, &entries[2..]).await;
    ensure(
        P,
        "stale-append-is-a-conflict",
        matches!(&stale, Err(e) if e.kind() == ErrorKind::Conflict),
        || format!("{stale:?}"),
    )?;
    if let Err(e) = port.append(len.saturating_add(2), &entries[2..]).await {
        return fail(P, "append", e.to_string());
    }
    let all = port.read_from(len.saturating_add(1)).await;
    ensure(
        P,
        "reads-back-what-was-appended",
        matches!(&all, Ok(e) if *e == entries),
        || "the entries differ".to_owned(),
    )?;
    let tail = port.read_from(len.saturating_add(2)).await;
    ensure(
        P,
        "reads-from-a-position",
        matches!(&tail, Ok(e) if e.as_slice() == &entries[1..]),
        || "reading from a position did not start at that entry".to_owned(),
    )?;
    let past = port.read_from(len.saturating_add(4)).await;
    ensure(
        P,
        "reads-past-the-end-as-empty",
        matches!(&past, Ok(e) if e.is_empty()),
        || format!("{past:?}"),
    )?;
    let page = port.read_page(len.saturating_add(1), 2).await;
    ensure(
        P,
        "reads-a-bounded-page",
        matches!(&page, Ok(e) if e.as_slice() == &entries[..2]),
        || format!("reading at most 2 entries gave {page:?}"),
    )?;
    snapshots(port).await
}

/// A store that keeps snapshots hands back the newest below a bound.
async fn snapshots(port: &dyn JournalStore) -> Result<(), ConformanceFailure> {
    const P: &str = "journal store";
    let Ok(stored) = port.read_from(1).await else {
        return fail(P, "read", "the store stopped reading".to_owned());
    };
    let journal = match Journal::with_chain(port.chain()).read_entries(stored) {
        Ok(j) => j,
        Err(e) => return fail(P, "reads-back-a-journal", e.to_string()),
    };
    let len = journal.len() as u64;
    let ledger = match Ledger::from_journal(journal.truncated(journal.len().saturating_sub(1))) {
        Ok(ledger) => ledger,
        Err(e) => return fail(P, "reads-back-a-journal", e.to_string()),
    };
    let older = Snapshot::of(&ledger).seal(&port.chain());
    let Ok(whole) = Ledger::from_journal(journal) else {
        return fail(P, "reads-back-a-journal", "it does not replay".to_owned());
    };
    let newer = Snapshot::of(&whole).seal(&port.chain());
    match port.save_snapshot(&older).await {
        // A store may keep no snapshots, and must say so this way.
        Err(e) if e.kind() == ErrorKind::Rejected => return Ok(()),
        Err(e) => return fail(P, "save-snapshot", e.to_string()),
        Ok(()) => {}
    }
    if let Err(e) = port.save_snapshot(&newer).await {
        return fail(P, "save-snapshot", e.to_string());
    }
    let newest = port.read_snapshot(None).await;
    ensure(
        P,
        "reads-back-the-newest-snapshot",
        matches!(&newest, Ok(Some(s)) if *s == newer),
        || {
            format!(
                "the newest snapshot read back is {:?}",
                newest.map(|s| s.map(|s| s.position))
            )
        },
    )?;
    let below = port.read_snapshot(Some(len)).await;
    ensure(
        P,
        "reads-the-newest-snapshot-below-a-bound",
        matches!(&below, Ok(Some(s)) if *s == older),
        || {
            format!(
                "below position {len} it read {:?}",
                below.map(|s| s.map(|s| s.position))
            )
        },
    )
}

/// Three new entries continuing `journal`: services no journal registered.
fn continue_journal(journal: Journal) -> Result<Vec<JournalEntry>, String> {
    let before = journal.len();
    let at = journal
        .entries()
        .last()
        .map_or(DateTime::UNIX_EPOCH, |e| e.event.at);
    let mut ledger = Ledger::from_journal(journal).map_err(|e| e.to_string())?;
    let mut n = 0_u32;
    while ledger.journal().len() < before.saturating_add(3) {
        n = n.saturating_add(1);
        let name = format!("conformance-service-{n}");
        if ledger
            .state()
            .service(&ServiceId::new(name.clone()))
            .is_some()
        {
            continue;
        }
        ledger
            .execute(
                &Command::RegisterService {
                    service: Service::new(name),
                },
                at,
            )
            .map_err(|e| e.to_string())?;
    }
    Ok(ledger.journal().entries()[before..].to_vec())
}
