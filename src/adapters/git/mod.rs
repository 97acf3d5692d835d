//! A [`Vcs`](crate::port::Vcs) on real git repositories, through the `git` command line.
//!
//! Why the command line: it needs nothing to build (no C library, no large
//! crate on a 2-core machine), it uses the host's own git configuration
//! and credentials for pushes, and it behaves exactly as the team's git
//! does. Each service maps to a working clone; with a remote, heads are
//! read from the remote (after a fetch) and every branch move is pushed
//! with `--force-with-lease` on the expected head, so the compare-and-swap
//! holds on the remote too.
//!
//! Give the adapter a clone of its own: it works on a detached head in
//! that clone (its branches and the remote are what it moves).
//!
//! Idempotency keys survive a restart and a hand-over to another replica:
//! every commit the adapter makes carries its key as a `Knowngood-Key:`
//! trailer, and the key is kept as a ref (`refs/knowngood/keys/…`, or
//! `refs/knowngood/names/…` for a branch or tag it named) naming the
//! commit. With a remote, the branch move and the key ref are pushed in
//! one atomic push (both land or neither), and every call fetches the
//! remote's branches, tags and key refs first, so a replica with its own
//! clone finds what another replica did under a key. A crash between a
//! local move and its key ref is recovered from the trailer.
//!
//! A revert or a cherry-pick that would change nothing (the change is
//! already undone, or already there) is refused as a conflict, never made
//! as an empty commit. A merge is always a merge commit; merging a commit
//! already merged is refused ("nothing to merge").
//!
//! Commits read as git's own: a revert is titled `Revert "<subject>"` with
//! `This reverts commit <id>.` (a range: `Revert N commits`, one such line
//! per commit, newest first); a pick of one commit keeps its message,
//! author and date and notes `(cherry picked from commit <id>)`, as
//! `git cherry-pick -x` does. The committer (and the author of reverts and
//! merges) is [`GitVcs::author`] alone, whatever `GIT_AUTHOR_*` the host's
//! environment holds.
//!
//! No value becomes an option or a revision expression: commit ids must be
//! 4 to 64 hexadecimal digits, branch and tag names exact ref names (no
//! leading `-`, no `~`, `^`, `..`, `@{`, no `HEAD`), refused before git
//! runs; every call separates options from revisions with
//! `--end-of-options`. A commit carrying a call's key (its trailer, or a
//! key ref) is taken as that call's result only when its parent is the
//! expected head and its tree is the one the call computes. `outcome(key)`
//! has no call to compare with and trusts the key ref: let only the bots
//! push `refs/knowngood/*` on the remote. Before and after every
//! operation the clone is put back to the expected head (aborts,
//! `reset --hard`, `clean`): it is the adapter's own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::model::{BranchName, CommitId, ServiceId};
use crate::port::{AdapterError, ErrorKind, Landed};
use crate::recovery::IdempotencyKey;

mod checks;
mod making;
mod vcs;

use checks::branch_name;
use making::Making;

/// Version control on git working clones, one per service.
///
/// ```no_run
/// use knowngood::adapters::GitVcs;
/// let vcs = GitVcs::new().repository("payments", "/srv/clones/payments").remote("origin");
/// ```
#[derive(Debug, Clone, Default)]
pub struct GitVcs {
    repos: BTreeMap<ServiceId, PathBuf>,
    remote: Option<String>,
    author: (String, String),
}

impl GitVcs {
    /// No repository yet.
    pub fn new() -> Self {
        Self {
            repos: BTreeMap::new(),
            remote: None,
            author: ("knowngood".to_owned(), "knowngood@localhost".to_owned()),
        }
    }

    /// `service`'s working clone at `path`.
    #[must_use]
    pub fn repository(mut self, service: impl Into<ServiceId>, path: impl Into<PathBuf>) -> Self {
        self.repos.insert(service.into(), path.into());
        self
    }

    /// Read heads from, and push every move to, this remote (e.g.
    /// `origin`).
    #[must_use]
    pub fn remote(mut self, remote: impl Into<String>) -> Self {
        self.remote = Some(remote.into());
        self
    }

    /// The name and e-mail the adapter's commits carry.
    #[must_use]
    pub fn author(mut self, name: impl Into<String>, email: impl Into<String>) -> Self {
        self.author = (name.into(), email.into());
        self
    }

    fn repo(&self, service: &ServiceId) -> Result<&Path, AdapterError> {
        self.repos
            .get(service)
            .map(PathBuf::as_path)
            .ok_or_else(|| {
                AdapterError::new(
                    ErrorKind::NotFound,
                    format!("no git repository configured for `{service}`"),
                )
            })
    }

    /// Runs `git args` in `repo`; the trimmed standard output, or an error
    /// of `kind` with git's own message.
    fn git(&self, repo: &Path, args: &[&str], kind: ErrorKind) -> Result<String, AdapterError> {
        crate::trace::debug!(repo = %repo.display(), args = ?args, "git");
        // The identity is the adapter's alone: the host's `GIT_AUTHOR_*`
        // and `GIT_COMMITTER_*` do not override it (a pick keeps its
        // original author with `--author`, which wins over both).
        let output = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["-c", &format!("user.name={}", self.author.0)])
            .args(["-c", &format!("user.email={}", self.author.1)])
            .env("GIT_AUTHOR_NAME", &self.author.0)
            .env("GIT_AUTHOR_EMAIL", &self.author.1)
            .env("GIT_COMMITTER_NAME", &self.author.0)
            .env("GIT_COMMITTER_EMAIL", &self.author.1)
            .args(args)
            .output()
            .map_err(|e| {
                AdapterError::new(ErrorKind::Unavailable, format!("cannot run git: {e}"))
                    .with_source(e)
            })?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned());
        }
        Err(AdapterError::new(
            kind,
            format!(
                "git {} in {}: {}",
                args.join(" "),
                repo.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ))
    }

    fn branch_ref(&self, branch: &BranchName) -> String {
        match &self.remote {
            Some(remote) => format!("refs/remotes/{remote}/{branch}"),
            None => format!("refs/heads/{branch}"),
        }
    }

    /// With a remote, brings its branches, tags and key refs into the
    /// clone: the remote is the truth every replica shares.
    fn fetch(&self, repo: &Path) -> Result<(), AdapterError> {
        if let Some(remote) = &self.remote {
            self.git(
                repo,
                &[
                    "fetch",
                    "--quiet",
                    "--prune",
                    remote,
                    &format!("+refs/heads/*:refs/remotes/{remote}/*"),
                    "+refs/tags/*:refs/tags/*",
                    "+refs/knowngood/*:refs/knowngood/*",
                ],
                ErrorKind::Unavailable,
            )?;
        }
        Ok(())
    }

    /// Sets each `(commit, ref)` in one step: with a remote, one atomic
    /// push (all or none land; `lease` guards a branch with the head it
    /// must still have), then a fetch; without one, local `update-ref`s,
    /// the leased one first as a compare-and-swap.
    fn publish(
        &self,
        repo: &Path,
        refs: &[(&CommitId, String)],
        lease: Option<(&str, &CommitId)>,
    ) -> Result<(), AdapterError> {
        let Some(remote) = &self.remote else {
            for (commit, name) in refs {
                let mut args = vec!["update-ref", name.as_str(), commit.as_str()];
                if let Some((leased, expected)) = lease
                    && leased == name.as_str()
                {
                    args.push(expected.as_str());
                }
                self.git(repo, &args, ErrorKind::Conflict)?;
            }
            return Ok(());
        };
        let mut args = vec![
            "push".to_owned(),
            "--quiet".to_owned(),
            "--atomic".to_owned(),
        ];
        if let Some((leased, expected)) = lease {
            args.push(format!("--force-with-lease={leased}:{expected}"));
        }
        args.push(remote.clone());
        args.extend(refs.iter().map(|(commit, name)| format!("{commit}:{name}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.git(repo, &args, ErrorKind::Conflict)
            .map_err(pushing_error)?;
        self.fetch(repo)
    }

    fn resolve(&self, repo: &Path, rev: &str) -> Option<CommitId> {
        self.git(
            repo,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &format!("{rev}^{{commit}}"),
            ],
            ErrorKind::NotFound,
        )
        .ok()
        .filter(|s| !s.is_empty())
        .map(CommitId::new)
    }

    fn head_of(&self, repo: &Path, branch: &BranchName) -> Result<CommitId, AdapterError> {
        branch_name(branch)?;
        self.fetch(repo)?;
        self.resolve(repo, &self.branch_ref(branch)).ok_or_else(|| {
            AdapterError::new(
                ErrorKind::NotFound,
                format!("no branch `{branch}` in {}", repo.display()),
            )
        })
    }

    fn parents(&self, repo: &Path, commit: &CommitId) -> Result<Vec<CommitId>, AdapterError> {
        let line = self.git(
            repo,
            &[
                "rev-list",
                "--parents",
                "-n",
                "1",
                "--end-of-options",
                commit.as_str(),
            ],
            ErrorKind::NotFound,
        )?;
        Ok(line.split_whitespace().skip(1).map(CommitId::new).collect())
    }

    fn key_ref(key: &IdempotencyKey, named: bool) -> String {
        let safe: String = key
            .as_str()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // The readable part may collide after sanitising; with the digest
        // it does not.
        let hash = crate::adapters::key_digest(key);
        let space = if named { "names" } else { "keys" };
        format!("refs/knowngood/{space}/{safe}-{hash:016x}")
    }

    /// What a call under `key` produced: a commit it made (with its
    /// parents) or a commit it named (a branch, a tag).
    fn remembered(
        &self,
        repo: &Path,
        key: &IdempotencyKey,
    ) -> Result<Option<Landed>, AdapterError> {
        if let Some(commit) = self.resolve(repo, &Self::key_ref(key, false)) {
            let parents = self.parents(repo, &commit)?;
            return Ok(Some(Landed::new(commit, parents)));
        }
        Ok(self
            .resolve(repo, &Self::key_ref(key, true))
            .map(Landed::named))
    }

    fn remember(
        &self,
        repo: &Path,
        key: &IdempotencyKey,
        commit: &CommitId,
        named: bool,
    ) -> Result<(), AdapterError> {
        self.publish(repo, &[(commit, Self::key_ref(key, named))], None)
    }

    /// Whether `commit` was made under `key` (its trailer says so).
    fn made_under(&self, repo: &Path, commit: &CommitId, key: &IdempotencyKey) -> bool {
        self.git(
            repo,
            &[
                "log",
                "-1",
                "--format=%B",
                "--end-of-options",
                commit.as_str(),
            ],
            ErrorKind::NotFound,
        )
        .is_ok_and(|message| {
            message
                .lines()
                .any(|l| l.trim() == format!("Knowngood-Key: {key}"))
        })
    }
}

/// What a refused push means: a remote that moved on (a stale lease, not
/// a fast-forward) is a conflict, a race another call may win; a push the
/// remote declined (a hook, a protected branch, no permission) is refused
/// for good, and says so.
fn pushing_error(e: AdapterError) -> AdapterError {
    let said = e.message();
    let raced = [
        "stale info",
        "fetch first",
        "non-fast-forward",
        "already exists",
    ]
    .iter()
    .any(|m| said.contains(m));
    if !raced && (said.contains("[remote rejected]") || said.contains("declined")) {
        AdapterError::new(
            ErrorKind::Rejected,
            format!(
                "{said}: the remote declined the push; retrying will not help until its rules allow it"
            ),
        )
    } else {
        e
    }
}
