//! `git` in a test's repository, as a developer at a fixed date, so that
//! the same commits get the same ids in every run and every replica.

use std::path::Path;
use std::process::Command;

/// The date every commit is made at.
pub const GIT_DATE: &str = "2026-01-01T00:00:00+00:00";

/// Runs `git -C dir args…` as `dev` at [`GIT_DATE`]; answers its output,
/// trimmed, and fails the test when git does.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=dev", "-c", "user.email=dev@example.com"])
        .args(args)
        .env("GIT_AUTHOR_DATE", GIT_DATE)
        .env("GIT_COMMITTER_DATE", GIT_DATE)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
