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

mod vcs;

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

/// How a commit is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Making {
    Revert,
    Pick,
    Merge,
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

    /// Puts the clone back to `at` whatever was left half done (a failed
    /// revert, pick or merge, a commit that failed, a change staged by
    /// hand): nothing of it reaches the next commit.
    fn tidy(&self, repo: &Path, at: &str) -> Result<(), AdapterError> {
        for abort in ["merge", "cherry-pick", "revert"] {
            let _ = self.git(repo, &[abort, "--abort"], ErrorKind::Unavailable);
        }
        self.git(
            repo,
            &["checkout", "--force", "--quiet", "--detach", at],
            ErrorKind::Unavailable,
        )?;
        self.git(
            repo,
            &["reset", "--hard", "--quiet", at],
            ErrorKind::Unavailable,
        )?;
        self.git(repo, &["clean", "-fdq"], ErrorKind::Unavailable)
            .map(drop)
    }

    /// Applies `commits` on `expected` as `making` says, in the index and
    /// work tree (nothing committed), and answers the tree it gives.
    fn apply(
        &self,
        repo: &Path,
        making: Making,
        commits: &[&str],
        onto: &BranchName,
        expected: &str,
    ) -> Result<String, AdapterError> {
        self.tidy(repo, expected)?;
        let mut args = match making {
            Making::Revert => vec!["revert", "--no-commit", "--end-of-options"],
            Making::Pick => vec!["cherry-pick", "--no-commit", "--end-of-options"],
            Making::Merge => vec!["merge", "--no-ff", "--no-commit", "--end-of-options"],
        };
        match making {
            // Newest first, as `git revert` of a range undoes them.
            Making::Revert => args.extend(commits.iter().rev().copied()),
            _ => args.extend(commits.iter().copied()),
        }
        self.git(repo, &args, ErrorKind::Conflict)
            .map_err(applying_error)?;
        // A revert or a pick that changes nothing is refused, never made
        // as an empty commit: the change is already undone (or there).
        if making != Making::Merge
            && self
                .git(repo, &["diff", "--cached", "--quiet"], ErrorKind::Conflict)
                .is_ok()
        {
            return Err(AdapterError::new(
                ErrorKind::Conflict,
                format!(
                    "{} of {} changes nothing on `{onto}` at `{expected}`: it is already there",
                    making.verb(),
                    commits.join(", ")
                ),
            ));
        }
        self.git(repo, &["write-tree"], ErrorKind::Unavailable)
    }

    /// Whether `commit` is what this call makes: its parents are
    /// `expected` (then `from`, for a merge) and its tree is the one the
    /// operation gives. A commit that only carries the key's trailer (or a
    /// key ref someone pushed) is not adopted otherwise.
    fn is_the_result(
        &self,
        repo: &Path,
        commit: &CommitId,
        (making, commits, onto, expected): (Making, &[&str], &BranchName, &str),
    ) -> Result<bool, AdapterError> {
        let mut parents = vec![expected.to_owned()];
        if making == Making::Merge {
            parents.extend(commits.iter().map(|c| (*c).to_owned()));
        }
        let found: Vec<String> = self
            .parents(repo, commit)?
            .into_iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        if found != parents {
            return Ok(false);
        }
        let tree = self.apply(repo, making, commits, onto, expected);
        let _ = self.tidy(repo, expected);
        let theirs = self.git(
            repo,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &format!("{commit}^{{tree}}"),
            ],
            ErrorKind::NotFound,
        )?;
        Ok(tree.is_ok_and(|tree| tree == theirs))
    }

    /// The message a commit of `making` carries: git's own convention
    /// (`Revert "<subject>"` and `This reverts commit <id>.` per commit;
    /// a pick's own message and `(cherry picked from commit <id>)` as
    /// `cherry-pick -x` writes), then the key's trailer. A pick of one
    /// commit also keeps its author and date.
    fn message(
        &self,
        repo: &Path,
        making: Making,
        commits: &[&str],
        onto: &BranchName,
        key: &IdempotencyKey,
    ) -> Result<(String, Option<(String, String)>), AdapterError> {
        let show = |format: &str, commit: &str| {
            self.git(
                repo,
                &[
                    "log",
                    "-1",
                    &format!("--format={format}"),
                    "--end-of-options",
                    commit,
                ],
                ErrorKind::NotFound,
            )
        };
        let trailer = format!("Knowngood-Key: {key}");
        Ok(match (making, commits) {
            (Making::Revert, [one]) => (
                format!(
                    "Revert \"{}\"\n\nThis reverts commit {one}.\n\n{trailer}",
                    show("%s", one)?
                ),
                None,
            ),
            (Making::Revert, many) => {
                let lines: Vec<String> = many
                    .iter()
                    .rev()
                    .map(|c| format!("This reverts commit {c}."))
                    .collect();
                (
                    format!(
                        "Revert {} commits\n\n{}\n\n{trailer}",
                        many.len(),
                        lines.join("\n")
                    ),
                    None,
                )
            }
            (Making::Pick, [one]) => (
                format!(
                    "{}\n\n(cherry picked from commit {one})\n{trailer}",
                    show("%B", one)?.trim_end()
                ),
                Some((show("%an <%ae>", one)?, show("%aI", one)?)),
            ),
            (Making::Pick, many) => {
                let lines: Vec<String> = many
                    .iter()
                    .map(|c| {
                        Ok(format!(
                            "{} (cherry picked from commit {c})",
                            show("%s", c)?
                        ))
                    })
                    .collect::<Result<_, AdapterError>>()?;
                (
                    format!(
                        "Apply {} commits\n\n{}\n\n{trailer}",
                        many.len(),
                        lines.join("\n")
                    ),
                    None,
                )
            }
            (Making::Merge, _) => (
                format!(
                    "Merge commit '{}' into {onto}\n\n{trailer}",
                    commits.join("', '")
                ),
                None,
            ),
        })
    }

    fn make(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        (commits, onto, expected): (&[CommitId], &BranchName, &CommitId),
        making: Making,
    ) -> Result<Landed, AdapterError> {
        let repo = self.repo(service)?;
        let onto = branch_name(onto)?;
        let expected_id = object_id(expected)?;
        let named = commits
            .iter()
            .map(object_id)
            .collect::<Result<Vec<&str>, _>>()?;
        self.fetch(repo)?;
        // Full ids, as git's messages and the tree check name them.
        let full = |c: &str| {
            self.resolve(repo, c).ok_or_else(|| {
                AdapterError::new(
                    ErrorKind::NotFound,
                    format!("no commit `{c}` in {}", repo.display()),
                )
            })
        };
        let expected_full = full(expected_id)?;
        let names_full = named
            .iter()
            .map(|c| full(c))
            .collect::<Result<Vec<CommitId>, _>>()?;
        let ids: Vec<&str> = names_full.iter().map(CommitId::as_str).collect();
        let call = (making, ids.as_slice(), onto, expected_full.as_str());
        if let Some(done) = self.remembered(repo, key)? {
            if self.is_the_result(repo, &done.commit, call)? {
                return Ok(done);
            }
            return Err(spoofed(key, &done.commit));
        }
        let head = self.head_of(repo, onto)?;
        if head != expected_full {
            // Moved by this very call before a crash (the trailer says so,
            // and the commit is what the call makes)?
            if self.made_under(repo, &head, key) {
                if !self.is_the_result(repo, &head, call)? {
                    return Err(spoofed(key, &head));
                }
                self.remember(repo, key, &head, false)?;
                return Ok(Landed::new(head.clone(), self.parents(repo, &head)?));
            }
            return Err(AdapterError::new(
                ErrorKind::Conflict,
                format!("`{onto}` is at `{head}`, not at `{expected}` as expected"),
            ));
        }
        if making == Making::Merge
            && let [from] = ids.as_slice()
            && self
                .git(
                    repo,
                    &[
                        "merge-base",
                        "--is-ancestor",
                        "--end-of-options",
                        from,
                        expected_full.as_str(),
                    ],
                    ErrorKind::Conflict,
                )
                .is_ok()
        {
            return Err(AdapterError::new(
                ErrorKind::Conflict,
                format!(
                    "`{from}` is already merged into `{onto}` at `{expected}`: there is nothing to merge"
                ),
            ));
        }
        let made = (|| {
            self.apply(repo, making, &ids, onto, expected_full.as_str())?;
            let (message, author) = self.message(repo, making, &ids, onto, key)?;
            let mut args = vec!["commit", "--quiet", "-m", message.as_str()];
            let author_args;
            if let Some((who, when)) = &author {
                author_args = [format!("--author={who}"), format!("--date={when}")];
                args.extend(author_args.iter().map(String::as_str));
            }
            self.git(repo, &args, ErrorKind::Rejected)?;
            self.resolve(repo, "HEAD")
                .ok_or_else(|| AdapterError::new(ErrorKind::Unavailable, "git made no commit"))
        })();
        let new = match made {
            Ok(new) => new,
            Err(e) => {
                // Nothing half done stays in the clone for the next call.
                let _ = self.tidy(repo, expected_full.as_str());
                return Err(e);
            }
        };
        // The branch and the key move together, or neither does: a
        // replica that takes over finds the key wherever the commit is.
        let branch_ref = format!("refs/heads/{onto}");
        self.publish(
            repo,
            &[
                (&new, branch_ref.clone()),
                (&new, Self::key_ref(key, false)),
            ],
            Some((&branch_ref, &expected_full)),
        )?;
        if self.remote.is_some() {
            // Keep the local branch in step; it is not the source of truth.
            let _ = self.git(
                repo,
                &["update-ref", &branch_ref, new.as_str()],
                ErrorKind::Unavailable,
            );
        }
        Ok(Landed::new(new.clone(), self.parents(repo, &new)?))
    }
}

impl Making {
    fn verb(self) -> &'static str {
        match self {
            Making::Revert => "a revert",
            Making::Pick => "a cherry-pick",
            Making::Merge => "a merge",
        }
    }
}

/// A commit id as git names objects: 4 to 64 hexadecimal digits. Anything
/// else (`--output=…`, `main~1`, a newline) is refused before it reaches
/// git, where it could be read as an option or a revision expression.
fn object_id(commit: &CommitId) -> Result<&str, AdapterError> {
    let id = commit.as_str();
    if (4..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(AdapterError::new(
            ErrorKind::Rejected,
            format!(
                "{id:?} is not a git commit id (4 to 64 hexadecimal digits): refused before it reached git"
            ),
        ))
    }
}

/// A branch or tag name git accepts as one exact ref, never as an option
/// or a revision expression (`git check-ref-format`'s rules, and no
/// leading `-`, no `HEAD`).
fn ref_name<'a>(what: &str, name: &'a str) -> Result<&'a str, AdapterError> {
    let bad = name.is_empty()
        || name == "HEAD"
        || name == "@"
        || name.starts_with(['-', '/'])
        || name.ends_with(['/', '.'])
        || name
            .rsplit_once('.')
            .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case("lock"))
        || name.contains("..")
        || name.contains("@{")
        || name.contains("//")
        || name.split('/').any(|part| part.starts_with('.'))
        || name.chars().any(|c| {
            c.is_control()
                || c.is_whitespace()
                || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
        });
    if bad {
        Err(AdapterError::new(
            ErrorKind::Rejected,
            format!(
                "{name:?} is not a {what} name git reads as one ref: refused before it reached git"
            ),
        ))
    } else {
        Ok(name)
    }
}

fn branch_name(branch: &BranchName) -> Result<&BranchName, AdapterError> {
    ref_name("branch", branch.as_str()).map(|_| branch)
}

/// A commit carrying `key` that is not what the call makes.
fn spoofed(key: &IdempotencyKey, commit: &CommitId) -> AdapterError {
    AdapterError::new(
        ErrorKind::Rejected,
        format!(
            "`{commit}` claims key `{key}` but is not what this call makes (its parent is not the expected head, or its tree is not the one the call gives): not adopted; the key was used for another call, or someone forged the commit (look at who pushed it)"
        ),
    )
}

/// What git said when applying failed, with the kind retrying deserves: a
/// merge commit reverted or picked without a mainline is refused for good,
/// anything else is a conflict with the branch as it is.
fn applying_error(e: AdapterError) -> AdapterError {
    if e.message()
        .contains("is a merge but no -m option was given")
    {
        AdapterError::new(
            ErrorKind::Rejected,
            format!(
                "{}: knowngood does not revert or pick merge commits (no mainline to choose); revert the merged commits instead",
                e.message()
            ),
        )
    } else {
        e
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
