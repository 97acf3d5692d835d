//! The version control system's contract.

use super::{ConformanceFailure, ensure, fail, fresh_run, key};
use crate::model::{BranchName, ServiceId};
use crate::port::{ErrorKind, Landed, Vcs};

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
    describes(port, service, &reverted, &head).await?;
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

/// `describe`, which syncing needs: either not offered at all (the port's
/// default, `Rejected` for every commit), or a revert the adapter made
/// described with its real parents and naming the commit it undoes by
/// git's convention, and an unknown commit `NotFound`.
async fn describes(
    port: &dyn Vcs,
    service: &ServiceId,
    reverted: &Landed,
    undone: &crate::model::CommitId,
) -> Result<(), ConformanceFailure> {
    const P: &str = "VCS";
    let unknown = crate::model::CommitId::new("0000000000000000000000000000000000000bad");
    let described = port.describe(service, &reverted.commit).await;
    let missing = port.describe(service, &unknown).await;
    if matches!(&described, Err(e) if e.kind() == ErrorKind::Rejected) {
        return ensure(
            P,
            "describe-not-offered-for-any-commit",
            matches!(&missing, Err(e) if e.kind() == ErrorKind::Rejected),
            || format!("{missing:?}"),
        );
    }
    ensure(
        P,
        "describe-answers-the-real-parents",
        matches!(&described, Ok(d) if d.id == reverted.commit && d.parents == reverted.parents),
        || format!("{described:?}"),
    )?;
    ensure(
        P,
        "describe-a-revert-names-what-it-undoes",
        matches!(&described, Ok(d) if d.reverted().iter().any(|c| c == undone || (c.as_str().len() >= 7 && undone.as_str().starts_with(c.as_str())))),
        || format!("{described:?}"),
    )?;
    ensure(
        P,
        "describe-unknown-commit-is-not-found",
        matches!(&missing, Err(e) if e.kind() == ErrorKind::NotFound),
        || format!("{missing:?}"),
    )
}
