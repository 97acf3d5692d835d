//! The git adapter on real repositories in temporary directories: the
//! conformance suite on a lone clone and on a clone of a bare "origin",
//! reverts in the documented order, conflicts, compare-and-swap against a
//! push to the remote, and keys that survive a restart.
#![cfg(feature = "git")]

use std::path::{Path, PathBuf};
use std::process::Command;

use knowngood::adapters::GitVcs;
use knowngood::memory::block_on;
use knowngood::port::Vcs;
use knowngood::{CommitId, ErrorKind, IdempotencyKey};

#[path = "common/tmp.rs"]
mod tmp;

/// This test's directory.
fn dir(name: &str) -> tmp::TempDir {
    tmp::TempDir::new(&format!("git-{name}"))
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=dev", "-c", "user.email=dev@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Writes `file` with `text` and commits it on the current branch.
fn commit(repo: &Path, file: &str, text: &str) -> CommitId {
    std::fs::write(repo.join(file), text).unwrap();
    git(repo, &["add", file]);
    git(repo, &["commit", "-q", "-m", &format!("{file}: {text}")]);
    CommitId::new(git(repo, &["rev-parse", "HEAD"]))
}

/// A repository with three commits on `main`: a.txt, b.txt, then a.txt
/// again.
fn repo(dir: &Path) -> (PathBuf, [CommitId; 3]) {
    let repo = dir.join("payments");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let one = commit(&repo, "a.txt", "one");
    let two = commit(&repo, "b.txt", "two");
    let three = commit(&repo, "c.txt", "three");
    (repo, [one, two, three])
}

/// A bare origin holding `repo`'s main, and a fresh clone of it.
fn origin_and_clone(dir: &Path, repo: &Path) -> (PathBuf, PathBuf) {
    let origin = dir.join("origin.git");
    git(
        dir,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            origin.to_str().unwrap(),
        ],
    );
    git(repo, &["push", "-q", origin.to_str().unwrap(), "main"]);
    let clone = dir.join("clone");
    git(
        dir,
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    (origin, clone)
}

fn key(k: &str) -> IdempotencyKey {
    k.into()
}

#[cfg(feature = "testkit")]
#[test]
fn git_vcs_passes_the_conformance_suite_alone_and_with_a_remote() {
    use knowngood::testkit::conformance;
    let dir = dir("conformance");
    let (repo, _) = repo(dir.path());
    let lone = GitVcs::new().repository("payments", &repo);
    block_on(conformance::vcs(&lone, &"payments".into(), &"main".into())).unwrap();
    let (_, clone) = origin_and_clone(dir.path(), &repo);
    let remote = GitVcs::new()
        .repository("payments", &clone)
        .remote("origin");
    block_on(conformance::vcs(
        &remote,
        &"payments".into(),
        &"main".into(),
    ))
    .unwrap();
}

#[test]
fn git_vcs_reverts_a_range_in_one_commit_and_conflicts_change_nothing() {
    let dir = dir("revert");
    let (repo, [one, two, three]) = repo(dir.path());
    let vcs = GitVcs::new().repository("payments", &repo);
    let s = "payments".into();
    let main = "main".into();
    // Undo two and three (given oldest first) as one commit on main.
    let landed =
        block_on(vcs.revert(&key("k1"), &s, &[two.clone(), three.clone()], &main, &three)).unwrap();
    assert_eq!(landed.parents, vec![three.clone()]);
    assert_eq!(block_on(vcs.head(&s, &main)).unwrap(), landed.commit);
    assert!(!repo.join("b.txt").exists() && !repo.join("c.txt").exists());
    assert!(repo.join("a.txt").exists());
    let message = git(&repo, &["log", "-1", "--format=%B", landed.commit.as_str()]);
    assert!(message.contains("Knowngood-Key: k1"), "{message}");
    // A stale expected head is a conflict; nothing moves.
    let stale = block_on(vcs.revert(&key("k2"), &s, std::slice::from_ref(&one), &main, &three))
        .unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Conflict);
    assert_eq!(block_on(vcs.head(&s, &main)).unwrap(), landed.commit);
    // A revert that does not apply is a conflict and leaves no trace. (The
    // adapter works on a detached head; a developer commits on main.)
    git(&repo, &["checkout", "-q", "main"]);
    let edited = commit(&repo, "a.txt", "edited");
    let conflict = block_on(vcs.revert(&key("k3"), &s, std::slice::from_ref(&one), &main, &edited))
        .unwrap_err();
    assert_eq!(conflict.kind(), ErrorKind::Conflict, "{conflict}");
    assert_eq!(block_on(vcs.head(&s, &main)).unwrap(), edited);
    assert_eq!(block_on(vcs.outcome(&key("k3"))).unwrap(), None);
    // The key survives a restart: a new adapter finds the first revert.
    let restarted = GitVcs::new().repository("payments", &repo);
    assert_eq!(
        block_on(restarted.outcome(&key("k1"))).unwrap(),
        Some(landed.clone())
    );
    // And the same call again answers the first result without acting.
    let again = block_on(restarted.revert(&key("k1"), &s, &[two, three], &main, &edited)).unwrap();
    assert_eq!(again, landed);
    assert_eq!(block_on(vcs.head(&s, &main)).unwrap(), edited);
}

#[test]
fn git_vcs_a_push_to_the_remote_wins_and_the_stale_move_is_a_conflict() {
    let dir = dir("push");
    let (repo, [_, two, three]) = repo(dir.path());
    let (origin, clone) = origin_and_clone(dir.path(), &repo);
    let vcs = GitVcs::new()
        .repository("payments", &clone)
        .remote("origin");
    let s = "payments".into();
    let main = "main".into();
    assert_eq!(block_on(vcs.head(&s, &main)).unwrap(), three);
    // Someone else pushes to origin from another clone.
    let other = dir.path().join("other");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    let pushed = commit(&other, "d.txt", "someone");
    git(&other, &["push", "-q", "origin", "main"]);
    // The driver still expects three: the revert is refused, origin keeps
    // the other's commit.
    let refused = block_on(vcs.revert(&key("r1"), &s, std::slice::from_ref(&two), &main, &three))
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Conflict);
    assert_eq!(block_on(vcs.head(&s, &main)).unwrap(), pushed);
    // From the new head it goes through and reaches origin.
    let landed = block_on(vcs.revert(&key("r2"), &s, &[two], &main, &pushed)).unwrap();
    assert_eq!(landed.parents, vec![pushed]);
    assert_eq!(
        git(&origin, &["rev-parse", "refs/heads/main"]),
        landed.commit.as_str()
    );
    // Commits between, oldest first.
    let between = block_on(vcs.commits_between(&s, &three, &landed.commit)).unwrap();
    assert_eq!(between.len(), 2);
    assert_eq!(between[1], landed.commit);
}

/// A second clone of `origin`, as another replica's.
fn another_clone(dir: &Path, origin: &Path, name: &str) -> PathBuf {
    let clone = dir.join(name);
    git(
        dir,
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    clone
}

/// Two replicas' clones of one origin: the active one's adapter (and its
/// clone), the standby's adapter, the origin, and the repository's commits.
struct TwoReplicas {
    dir: tmp::TempDir,
    origin: PathBuf,
    clone: PathBuf,
    commits: [CommitId; 3],
    active: GitVcs,
    standby: GitVcs,
}

fn two_replicas(name: &str) -> TwoReplicas {
    let dir = dir(name);
    let (repo, commits) = repo(dir.path());
    let (origin, clone) = origin_and_clone(dir.path(), &repo);
    let standby = another_clone(dir.path(), &origin, "standby");
    TwoReplicas {
        active: GitVcs::new()
            .repository("payments", &clone)
            .remote("origin"),
        standby: GitVcs::new()
            .repository("payments", &standby)
            .remote("origin"),
        dir,
        origin,
        clone,
        commits,
    }
}

#[test]
fn git_vcs_keys_on_the_remote_a_replica_with_its_own_clone_finds_what_another_did() {
    let TwoReplicas {
        dir: _dir,
        origin,
        clone,
        commits: [_, two, three],
        active,
        standby: vcs,
    } = two_replicas("keys-remote");
    let (s, main) = ("payments".into(), "main".into());
    let landed = block_on(active.revert(
        &key("INC-1/revert"),
        &s,
        std::slice::from_ref(&two),
        &main,
        &three,
    ))
    .unwrap();
    // The active replica dies; its clone is gone with it.
    std::fs::remove_dir_all(&clone).unwrap();
    // Positive: the standby's own clone finds the revert under its key,
    // and the same call answers it without acting again.
    assert_eq!(
        block_on(vcs.outcome(&key("INC-1/revert"))).unwrap(),
        Some(landed.clone())
    );
    let again = block_on(vcs.revert(
        &key("INC-1/revert"),
        &s,
        std::slice::from_ref(&two),
        &main,
        &three,
    ))
    .unwrap();
    assert_eq!(again, landed);
    assert_eq!(
        git(&origin, &["rev-list", "--count", "main"]),
        "4",
        "one revert on origin, not two"
    );
    // Negative: a key never used is not found.
    assert_eq!(block_on(vcs.outcome(&key("INC-1/other"))).unwrap(), None);
}

#[test]
fn git_vcs_tag_fetches_a_commit_another_replica_made() {
    let TwoReplicas {
        dir: _dir,
        origin,
        commits: [_, two, three],
        active,
        standby: vcs,
        ..
    } = two_replicas("tag-fetch");
    let (s, main) = ("payments".into(), "main".into());
    let landed =
        block_on(active.revert(&key("r"), &s, std::slice::from_ref(&two), &main, &three)).unwrap();
    // The standby's clone has never seen the revert; the tag step is its.
    let tagged = block_on(vcs.tag(&key("t"), &s, &landed.commit, "v1.0.1")).unwrap();
    assert_eq!(tagged, landed.commit);
    assert_eq!(
        git(&origin, &["rev-parse", "refs/tags/v1.0.1^{commit}"]),
        landed.commit.as_str()
    );
    // Negative: a commit nobody has is named as such.
    let missing = block_on(vcs.tag(
        &key("t2"),
        &s,
        &CommitId::new("0123456789012345678901234567890123456789"),
        "v9",
    ))
    .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound, "{missing}");
}

#[test]
fn git_vcs_no_empty_revert_a_change_already_undone_is_a_conflict() {
    let dir = dir("no-empty");
    let (repo, [_, _, three]) = repo(dir.path());
    let (origin, clone) = origin_and_clone(dir.path(), &repo);
    let vcs = GitVcs::new()
        .repository("payments", &clone)
        .remote("origin");
    let (s, main) = ("payments".into(), "main".into());
    // Positive: the first revert lands.
    let first = block_on(vcs.revert(
        &key("first"),
        &s,
        std::slice::from_ref(&three),
        &main,
        &three,
    ))
    .unwrap();
    // Negative: undoing it again, under another key, changes nothing and
    // is refused; origin gets no empty commit.
    let again = block_on(vcs.revert(
        &key("second"),
        &s,
        std::slice::from_ref(&three),
        &main,
        &first.commit,
    ))
    .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Conflict, "{again}");
    assert!(again.to_string().contains("already there"), "{again}");
    assert_eq!(git(&origin, &["rev-parse", "main"]), first.commit.as_str());
    assert_eq!(block_on(vcs.outcome(&key("second"))).unwrap(), None);
}
