//! What people and programs outside knowngood do to the systems behind the
//! ports, and what an adapter must not be fooled by: a commit that claims
//! one of its keys, a flag edited between its read and its write, a
//! symlink planted where its own files go, and a failed operation followed
//! by another.
//!
//! The suite cannot act behind a port by itself, so each check takes the
//! outsider's move as a function the adapter's test supplies (push a
//! commit from another clone, edit the flag file by hand, …).

use super::{ConformanceFailure, ensure, fail, fresh_run, key};
use crate::model::{BranchName, CommitId, EnvironmentId, FlagKey, FlagState, ServiceId};
use crate::port::{ErrorKind, FlagStore, Vcs};
use crate::recovery::IdempotencyKey;

/// Checks that a [`Vcs`] never takes a commit someone else landed,
/// claiming one of its keys, for the result of that key's operation.
///
/// `spoof(key, head)` must land on `branch`, on top of `head`, a commit
/// that claims `key` the way the adapter marks its own commits (git: a
/// `Knowngood-Key:` trailer) but is not the operation's result (it changes
/// something else), and return its id. The suite then reverts `head`
/// under that key, expecting `head`: the answer must not be the spoofed
/// commit, and the adapter's `outcome` must not name it.
///
/// Named checks: `spoofed-keyed-commit-is-not-adopted`,
/// `nothing-moves-on-a-spoof`.
pub async fn vcs_spoofed_keys(
    port: &dyn Vcs,
    service: &ServiceId,
    branch: &BranchName,
    spoof: &(dyn Fn(&IdempotencyKey, &CommitId) -> Result<CommitId, String> + Sync),
) -> Result<(), ConformanceFailure> {
    const P: &str = "VCS (spoofed keys)";
    let head = match port.head(service, branch).await {
        Ok(h) => h,
        Err(e) => return fail(P, "head", e.to_string()),
    };
    // The head names the run: after it the branch holds the spoof.
    let k = key(&format!("spoof/{head}/revert"));
    let spoofed = match spoof(&k, &head) {
        Ok(c) => c,
        Err(e) => {
            return fail(
                P,
                "spoof",
                format!("the outsider could not land a commit: {e}"),
            );
        }
    };
    let reverted = port
        .revert(&k, service, std::slice::from_ref(&head), branch, &head)
        .await;
    ensure(
        P,
        "spoofed-keyed-commit-is-not-adopted",
        !matches!(&reverted, Ok(landed) if landed.commit == spoofed),
        || format!("reverting `{head}` under `{k}` answered the spoofed commit `{spoofed}`"),
    )?;
    let outcome = port.outcome(&k).await;
    ensure(
        P,
        "spoofed-keyed-commit-is-not-adopted",
        !matches!(&outcome, Ok(Some(landed)) if landed.commit == spoofed),
        || format!("`outcome({k})` names the spoofed commit `{spoofed}`"),
    )?;
    let now = port.head(service, branch).await;
    ensure(
        P,
        "nothing-moves-on-a-spoof",
        matches!(&now, Ok(c) if *c == spoofed),
        || format!("`{branch}` is at {now:?}, not at the spoofed `{spoofed}` it was left on"),
    )
}

/// Checks that a [`Vcs`] operation that failed leaves the branch where it
/// was and that the next one lands alone: after a first revert moves the
/// branch on, a revert expecting the old head is a conflict and moves
/// nothing; the revert that follows, at the right head, adds exactly one
/// commit.
///
/// Named checks: `a-failed-operation-moves-nothing`,
/// `the-next-operation-lands-alone`.
pub async fn vcs_after_a_failure(
    port: &dyn Vcs,
    service: &ServiceId,
    branch: &BranchName,
) -> Result<(), ConformanceFailure> {
    const P: &str = "VCS (after a failure)";
    let stale = match port.head(service, branch).await {
        Ok(h) => h,
        Err(e) => return fail(P, "head", e.to_string()),
    };
    // A first revert moves the branch on, so the old head is stale.
    let head = match port
        .revert(
            &key(&format!("after-failure/{stale}/first")),
            service,
            std::slice::from_ref(&stale),
            branch,
            &stale,
        )
        .await
    {
        Ok(landed) => landed.commit,
        Err(e) => return fail(P, "revert", e.to_string()),
    };
    let failed = port
        .revert(
            &key(&format!("after-failure/{head}/stale")),
            service,
            std::slice::from_ref(&head),
            branch,
            &stale,
        )
        .await;
    ensure(
        P,
        "a-failed-operation-moves-nothing",
        matches!(&failed, Err(e) if e.kind() == ErrorKind::Conflict),
        || format!("a revert expecting `{stale}` on `{branch}` at `{head}` answered {failed:?}"),
    )?;
    let now = port.head(service, branch).await;
    ensure(
        P,
        "a-failed-operation-moves-nothing",
        matches!(&now, Ok(c) if *c == head),
        || format!("after the failed revert `{branch}` is at {now:?}, not `{head}`"),
    )?;
    let next = match port
        .revert(
            &key(&format!("after-failure/{head}/next")),
            service,
            std::slice::from_ref(&head),
            branch,
            &head,
        )
        .await
    {
        Ok(landed) => landed.commit,
        Err(e) => {
            return fail(
                P,
                "the-next-operation-lands-alone",
                format!("the revert after a failure failed: {e}"),
            );
        }
    };
    let between = port.commits_between(service, &head, &next).await;
    ensure(
        P,
        "the-next-operation-lands-alone",
        matches!(&between, Ok(list) if list.len() == 1),
        || format!("`{head}..{next}` is {between:?}, not the one revert"),
    )
}

/// Checks that a [`FlagStore`] treats a change someone else made to a flag
/// between its read and its write as a conflict, writes nothing over it,
/// and that a write after that failure, at what the store now reads,
/// works.
///
/// `edit(environment, flag)` must change the flag's definition behind the
/// port, as a person or another tool would (flagd: edit the file by hand;
/// in memory: a write of someone else's). The suite works in environment
/// `conformance-env`.
///
/// Named checks: `foreign-edit-is-a-conflict`,
/// `a-failed-write-writes-nothing`, `a-write-after-a-failure-works`.
pub async fn flag_store_foreign_edit(
    port: &dyn FlagStore,
    edit: &(dyn Fn(&EnvironmentId, &FlagKey) -> Result<(), String> + Sync),
) -> Result<(), ConformanceFailure> {
    const P: &str = "flag store (foreign edit)";
    let env = EnvironmentId::new("conformance-env");
    let run = fresh_run(P, "foreign-edit-is-a-conflict", |n| {
        let env = env.clone();
        async move {
            !matches!(
                port.get(&env, &FlagKey::new(format!("conformance-foreign-{n}")))
                    .await,
                Ok((_, 0))
            )
        }
    })
    .await?;
    let flag = FlagKey::new(format!("conformance-foreign-{run}"));
    let k = |name: &str| key(&format!("foreign/run-{run}/{name}"));
    let read = match port.set(&k("on"), &env, &flag, &FlagState::On, 0).await {
        Ok(r) => r,
        Err(e) => return fail(P, "set", e.to_string()),
    };
    if let Err(e) = edit(&env, &flag) {
        return fail(
            P,
            "edit",
            format!("the outsider could not edit the flag: {e}"),
        );
    }
    let after = port.get(&env, &flag).await;
    let write = port
        .set(&k("off"), &env, &flag, &FlagState::Off, read)
        .await;
    ensure(
        P,
        "foreign-edit-is-a-conflict",
        matches!(&write, Err(e) if matches!(e.kind(), ErrorKind::Conflict | ErrorKind::Rejected)),
        || format!("a write expecting revision {read}, made before the edit, answered {write:?}"),
    )?;
    let now = port.get(&env, &flag).await;
    ensure(
        P,
        "a-failed-write-writes-nothing",
        format!("{now:?}") == format!("{after:?}"),
        || format!("the flag read {after:?} after the edit and {now:?} after the failed write"),
    )?;
    match now {
        // Readable: a write at what the store now reads works.
        Ok((_, revision)) => {
            let next = port
                .set(&k("next"), &env, &flag, &FlagState::Off, revision)
                .await;
            let read = port.get(&env, &flag).await;
            ensure(
                P,
                "a-write-after-a-failure-works",
                next.is_ok() && matches!(&read, Ok((FlagState::Off, _))),
                || format!("the write at revision {revision} answered {next:?}, then {read:?}"),
            )
        }
        // Refused (the edit made it something the store does not model):
        // it stays refused, whatever revision a write names.
        Err(_) => {
            for revision in [0, read, read.saturating_add(1)] {
                let next = port
                    .set(
                        &k(&format!("over-{revision}")),
                        &env,
                        &flag,
                        &FlagState::Off,
                        revision,
                    )
                    .await;
                ensure(P, "a-failed-write-writes-nothing", next.is_err(), || {
                    format!(
                        "a flag the store refuses to read was written over at revision {revision}"
                    )
                })?;
            }
            Ok(())
        }
    }
}

/// Checks that an adapter writing files in `dir` follows no symlink
/// planted where a file of its own goes (temporary files, lock files,
/// sidecars, key records, snapshots).
///
/// `act(n)` must make the adapter write what it writes in `dir` for one
/// operation, numbered `n` (a flag write under key `n`, an append, a
/// deploy); its result does not matter. Files the host configured (the
/// flag file, the journal) should exist in `dir` before the call: they
/// are the host's to point wherever it likes, and are left alone. The
/// suite runs `act(0)`, sees which files it created, replaces each with a
/// symlink to a victim file outside `dir`, runs `act(1)` and checks the
/// victim is untouched.
///
/// Named checks: `planted-symlinks-need-files`,
/// `planted-symlink-is-not-followed`.
#[cfg(unix)]
pub async fn planted_symlinks<F, Fut>(
    port: &'static str,
    dir: &std::path::Path,
    mut act: F,
) -> Result<(), ConformanceFailure>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    const VICTIM: &str = "{}\n";
    let before = files_under(dir);
    act(0).await;
    let created: Vec<_> = files_under(dir)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    if created.is_empty() {
        return fail(
            port,
            "planted-symlinks-need-files",
            format!("act(0) created no file under {}", dir.display()),
        );
    }
    let victim = std::env::temp_dir().join(format!(
        "knowngood-conformance-victim-{}-{}",
        std::process::id(),
        VICTIMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let planted = (|| {
        std::fs::write(&victim, VICTIM)?;
        for file in &created {
            std::fs::remove_file(file)?;
            std::os::unix::fs::symlink(&victim, file)?;
        }
        Ok::<_, std::io::Error>(())
    })();
    if let Err(e) = planted {
        let _ = std::fs::remove_file(&victim);
        return fail(port, "planted-symlinks-need-files", e.to_string());
    }
    act(1).await;
    let now = std::fs::read_to_string(&victim);
    let _ = std::fs::remove_file(&victim);
    let names: Vec<String> = created
        .iter()
        .map(|f| f.strip_prefix(dir).unwrap_or(f).display().to_string())
        .collect();
    ensure(
        port,
        "planted-symlink-is-not-followed",
        matches!(&now, Ok(text) if text == VICTIM),
        || format!("with symlinks planted at {names:?}, the file they point to became {now:?}"),
    )
}

/// Victim files made by this process, to name each its own.
#[cfg(unix)]
static VICTIMS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Every file (not directory) under `dir`, recursively, symlinks included.
#[cfg(unix)]
fn files_under(dir: &std::path::Path) -> std::collections::BTreeSet<std::path::PathBuf> {
    let mut found = std::collections::BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&at) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(path),
                Ok(_) => {
                    found.insert(path);
                }
                Err(_) => {}
            }
        }
    }
    found
}
