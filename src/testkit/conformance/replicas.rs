//! The hostile half of the suite: two replicas on one system. Each check
//! gets two handles on the same store, repository or deploy target, made
//! as two replicas make them (two connections, two opens of one file, two
//! clones of one remote, two deployers on two machines), and checks the
//! property that keeps each effect once between them. The two handles act
//! at the same time where the property is about racing (they are polled
//! together on the caller's executor; adapters that work on a thread pool
//! really run in parallel).
//!
//! What a single process cannot do here — SIGKILL between acting and
//! recording, a grandchild outliving a timeout, a lost commit reply — the
//! crate's own tests do against every real adapter, and
//! [`tripwire`](crate::testkit::tripwire) gives a host's suite the kill
//! points to do it too.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use chrono::DateTime;

use super::{ConformanceFailure, ensure, fail, fresh_run, key, sample_release};
use crate::journal::{Journal, JournalEntry};
use crate::ledger::Ledger;
use crate::machine::Command;
use crate::model::{BranchName, EnvironmentId, FlagKey, FlagState, Service, ServiceId};
use crate::port::{Deployer, ErrorKind, FlagStore, JournalStore, Vcs};

/// Polls `a` and `b` together until both are done.
async fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                ra = x;
                rb = y;
                Poll::Pending
            }
        }
    })
    .await
}

const J: &str = "journal store (two replicas)";

/// The entries that register `names` as services after `journal`.
fn registering(journal: Journal, names: &[String]) -> Result<Vec<JournalEntry>, String> {
    let before = journal.len();
    let at = journal
        .entries()
        .last()
        .map_or(DateTime::UNIX_EPOCH, |e| e.event.at);
    let mut ledger = Ledger::from_journal(journal).map_err(|e| e.to_string())?;
    for name in names {
        ledger
            .execute(
                &Command::RegisterService {
                    service: Service::new(name.as_str()),
                },
                at,
            )
            .map_err(|e| e.to_string())?;
    }
    Ok(ledger.journal().entries()[before..].to_vec())
}

/// One writer: `rounds` batches of two entries, each appended at the
/// length it read, reading again after a conflict.
async fn writer(
    port: &dyn JournalStore,
    tag: &str,
    rounds: usize,
) -> Result<usize, ConformanceFailure> {
    let mut conflicts = 0_usize;
    let mut done = 0_usize;
    while done < rounds {
        let stored = match port.read_from(1).await {
            Ok(entries) => entries,
            Err(e) => return fail(J, "read", e.to_string()),
        };
        let len = stored.len() as u64;
        let journal = match Journal::with_chain(port.chain()).read_entries(stored) {
            Ok(j) => j,
            Err(e) => return fail(J, "two-writers-keep-one-journal", e.to_string()),
        };
        let names = [format!("{tag}-{done}-a"), format!("{tag}-{done}-b")];
        let batch = match registering(journal, &names) {
            Ok(batch) => batch,
            Err(e) => return fail(J, "two-writers-keep-one-journal", e),
        };
        match port.append(len, &batch).await {
            Ok(()) => done = done.saturating_add(1),
            Err(e) if e.kind() == ErrorKind::Conflict => {
                conflicts = conflicts.saturating_add(1);
                if conflicts > rounds.saturating_mul(50) {
                    return fail(
                        J,
                        "a-conflict-means-another-appended",
                        format!(
                            "{conflicts} conflicts for {done} appends: the store refuses appends nobody else made"
                        ),
                    );
                }
            }
            Err(e) => return fail(J, "append", e.to_string()),
        }
    }
    Ok(conflicts)
}

/// Checks two handles on one journal store (two connections, two opens of
/// one file) appending batches of two at once, `rounds` each: every
/// append that succeeded is in the journal exactly once, its batch whole
/// and in order, the journal reads back as one valid chain, and every
/// refused append was a conflict (another got there first), never a loss.
pub async fn journal_store_replicas(
    a: &dyn JournalStore,
    b: &dyn JournalStore,
    rounds: usize,
) -> Result<(), ConformanceFailure> {
    let start = match a.read_from(1).await {
        Ok(entries) => entries.len(),
        Err(e) => return fail(J, "read", e.to_string()),
    };
    // Names no earlier run used: the run is the length found at its start.
    let (ta, tb) = (format!("replicas-{start}-x"), format!("replicas-{start}-y"));
    let (ra, rb) = both(writer(a, &ta, rounds), writer(b, &tb, rounds)).await;
    ra?;
    rb?;
    let stored = match b.read_from(1).await {
        Ok(entries) => entries,
        Err(e) => return fail(J, "read", e.to_string()),
    };
    ensure(
        J,
        "two-writers-lose-nothing-and-duplicate-nothing",
        stored.len() == start.saturating_add(rounds.saturating_mul(4)),
        || {
            format!(
                "{} entries after {} appends of two from {start}",
                stored.len(),
                rounds.saturating_mul(2)
            )
        },
    )?;
    let names: Vec<String> = stored[start..]
        .iter()
        .map(|e| match &e.event.kind {
            crate::machine::EventKind::ServiceRegistered { service } => service.id.to_string(),
            other => other.type_name().to_owned(),
        })
        .collect();
    for pair in names.chunks(2) {
        let whole = matches!(pair, [x, y] if x.ends_with("-a") && y.ends_with("-b") && x.strip_suffix("-a") == y.strip_suffix("-b"));
        ensure(J, "a-batch-stays-whole-and-in-order", whole, || {
            format!("{pair:?}")
        })?;
    }
    if let Err(e) = Journal::with_chain(a.chain()).read_entries(stored) {
        return fail(J, "two-writers-keep-one-journal", e.to_string());
    }
    Ok(())
}

const F: &str = "flag store (two replicas)";

/// One writer on `flag`: `rounds` sets with fresh keys, alternating on and
/// off, each at the revision it read, reading again after a conflict.
/// Answers the key and revision of each set that succeeded.
async fn flag_writer(
    port: &dyn FlagStore,
    env: &EnvironmentId,
    flag: &FlagKey,
    tag: &str,
    rounds: usize,
) -> Result<Vec<(crate::recovery::IdempotencyKey, u64, FlagState)>, ConformanceFailure> {
    let mut written = Vec::new();
    let mut tries = 0_usize;
    while written.len() < rounds {
        tries = tries.saturating_add(1);
        if tries > rounds.saturating_mul(50) {
            return fail(
                F,
                "a-conflict-means-another-wrote",
                format!(
                    "{tries} tries for {} writes: the store refuses writes nobody else made",
                    written.len()
                ),
            );
        }
        let revision = match port.get(env, flag).await {
            Ok((_, r)) => r,
            Err(e) => return fail(F, "get", e.to_string()),
        };
        let state = if written.len() % 2 == 0 {
            FlagState::On
        } else {
            FlagState::Off
        };
        let k = key(&format!("{tag}/{}", written.len()));
        match port.set(&k, env, flag, &state, revision).await {
            Ok(r) => written.push((k, r, state)),
            Err(e) if e.kind() == ErrorKind::Conflict => {}
            Err(e) => return fail(F, "set", e.to_string()),
        }
    }
    Ok(written)
}

/// Checks two handles on one flag store (two processes' adapters on one
/// file, two clients of one service) writing at once, in environment
/// `conformance-env`: first each on a flag of its own, then both on one
/// flag, `rounds` writes each. No write rolls back another's (each flag
/// ends as its writer last set it), and every key of a write that
/// succeeded is answered, by either handle, with the revision it made.
pub async fn flag_store_replicas(
    a: &dyn FlagStore,
    b: &dyn FlagStore,
    rounds: usize,
) -> Result<(), ConformanceFailure> {
    let run = fresh_run(F, "outcome-of-unknown-key-is-none", |n| async move {
        !matches!(
            a.outcome(&key(&format!("replicas/run-{n}/x/0"))).await,
            Ok(None)
        )
    })
    .await?;
    let env = EnvironmentId::new("conformance-env");
    let (fa, fb, shared) = (
        FlagKey::new(format!("conformance-replicas-{run}-x")),
        FlagKey::new(format!("conformance-replicas-{run}-y")),
        FlagKey::new(format!("conformance-replicas-{run}-shared")),
    );
    let (ta, tb) = (
        format!("replicas/run-{run}/x"),
        format!("replicas/run-{run}/y"),
    );
    let (wa, wb) = both(
        flag_writer(a, &env, &fa, &ta, rounds),
        flag_writer(b, &env, &fb, &tb, rounds),
    )
    .await;
    let (wa, wb) = (wa?, wb?);
    for (flag, written) in [(&fa, &wa), (&fb, &wb)] {
        let last = written.last().map(|(_, r, s)| (s.clone(), *r));
        let now = b.get(&env, flag).await.ok();
        ensure(
            F,
            "two-writers-on-two-flags-keep-each-others-writes",
            now == last,
            || format!("`{flag}` reads {now:?}, its writer last set {last:?}"),
        )?;
    }
    let (sa, sb) = both(
        flag_writer(a, &env, &shared, &format!("{ta}-shared"), rounds),
        flag_writer(b, &env, &shared, &format!("{tb}-shared"), rounds),
    )
    .await;
    let (sa, sb) = (sa?, sb?);
    let mut revisions: Vec<u64> = sa.iter().chain(&sb).map(|(_, r, _)| *r).collect();
    revisions.sort_unstable();
    revisions.dedup();
    ensure(
        F,
        "two-writers-on-one-flag-never-share-a-revision",
        revisions.len() == rounds.saturating_mul(2),
        || {
            format!(
                "{} distinct revisions for {} writes",
                revisions.len(),
                rounds.saturating_mul(2)
            )
        },
    )?;
    for (k, revision, _) in wa.iter().chain(&wb).chain(&sa).chain(&sb) {
        for (who, port) in [("one", a), ("the other", b)] {
            let answer = port.outcome(k).await;
            ensure(
                F,
                "every-successful-write-keeps-its-key",
                matches!(&answer, Ok(Some(r)) if r == revision),
                || {
                    format!(
                        "{who} handle answers {answer:?} for `{k}`, which made revision {revision}"
                    )
                },
            )?;
        }
    }
    Ok(())
}

const V: &str = "VCS (two replicas)";

/// Checks two handles on one repository (two replicas' clones of one
/// remote): a revert one replica made under a key is found by the other,
/// which answers the same commit for the same call under that key and
/// makes no second revert. Needs a service with a branch whose head is an
/// ordinary commit, as [`vcs`](super::vcs) does.
pub async fn vcs_replicas(
    a: &dyn Vcs,
    b: &dyn Vcs,
    service: &ServiceId,
    branch: &BranchName,
) -> Result<(), ConformanceFailure> {
    let head = match a.head(service, branch).await {
        Ok(h) => h,
        Err(e) => return fail(V, "head", e.to_string()),
    };
    let run = fresh_run(V, "unknown-branch-is-not-found", |n| async move {
        a.head(
            service,
            &BranchName::new(format!("conformance/replicas-{n}")),
        )
        .await
        .is_ok()
    })
    .await?;
    let side = BranchName::new(format!("conformance/replicas-{run}"));
    let k = |name: &str| key(&format!("vcs-replicas/run-{run}/{name}"));
    if let Err(e) = a.create_branch(&k("branch"), service, &side, &head).await {
        return fail(V, "create-branch", e.to_string());
    }
    let revert = k("revert");
    let landed = match a
        .revert(&revert, service, std::slice::from_ref(&head), &side, &head)
        .await
    {
        Ok(l) => l,
        Err(e) => return fail(V, "revert", e.to_string()),
    };
    let found = b.outcome(&revert).await;
    ensure(
        V,
        "another-replica-finds-a-revert-by-its-key",
        matches!(&found, Ok(Some(l)) if *l == landed),
        || format!("{found:?}"),
    )?;
    let again = b
        .revert(&revert, service, std::slice::from_ref(&head), &side, &head)
        .await;
    ensure(
        V,
        "another-replica-replaying-the-key-answers-the-first-result",
        matches!(&again, Ok(l) if *l == landed),
        || format!("{again:?}"),
    )?;
    let tip = b.head(service, &side).await;
    ensure(
        V,
        "another-replica-replaying-the-key-makes-no-second-commit",
        matches!(&tip, Ok(c) if *c == landed.commit),
        || format!("{tip:?}"),
    )?;
    let never = b.outcome(&k("never")).await;
    ensure(
        V,
        "outcome-of-unknown-key-is-none",
        matches!(never, Ok(None)),
        || format!("{never:?}"),
    )?;
    Ok(())
}

const D: &str = "deployer (two replicas)";

/// Checks two deployers acting on one target from two machines (each with
/// what it keeps locally): a deploy one made under a key is found by the
/// other, whose deploy under that key answers without deploying again
/// (`runs(key)` counts how often the host's deploy really ran under a
/// key), while a new key deploys once.
pub async fn deployer_replicas(
    a: &dyn Deployer,
    b: &dyn Deployer,
    environment: &EnvironmentId,
    runs: &(dyn Fn(&crate::recovery::IdempotencyKey) -> usize + Sync),
) -> Result<(), ConformanceFailure> {
    let run = fresh_run(D, "outcome-of-unknown-key-is-none", |n| async move {
        !matches!(
            a.outcome(&key(&format!("deployer-replicas/run-{n}/a")))
                .await,
            Ok(None)
        )
    })
    .await?;
    let service = format!("conformance-replicas-{run}");
    let (first, first_artifact) = sample_release(&service, 1)?;
    let (second, second_artifact) = sample_release(&service, 2)?;
    let k = |name: &str| key(&format!("deployer-replicas/run-{run}/{name}"));
    let one = k("a");
    if let Err(e) = a.deploy(&one, environment, &first, &first_artifact).await {
        return fail(D, "deploy", e.to_string());
    }
    let found = b.outcome(&one).await;
    ensure(
        D,
        "another-replica-finds-a-deploy-by-its-key",
        matches!(&found, Ok(Some(r)) if *r == first.id),
        || format!("{found:?}"),
    )?;
    if let Err(e) = b.deploy(&one, environment, &first, &first_artifact).await {
        return fail(
            D,
            "another-replica-replaying-the-key-answers",
            e.to_string(),
        );
    }
    ensure(
        D,
        "another-replica-replaying-the-key-does-not-deploy-again",
        runs(&one) == 1,
        || format!("the deploy under `{one}` ran {} times", runs(&one)),
    )?;
    let two = k("b");
    if let Err(e) = b.deploy(&two, environment, &second, &second_artifact).await {
        return fail(D, "deploy", e.to_string());
    }
    let status = a.status(environment, &second.service).await;
    ensure(
        D,
        "both-replicas-see-what-serves",
        matches!(&status, Ok(Some(r)) if *r == second.id),
        || format!("{status:?}"),
    )?;
    ensure(D, "a-new-key-deploys-once", runs(&two) == 1, || {
        format!("the deploy under `{two}` ran {} times", runs(&two))
    })?;
    Ok(())
}
