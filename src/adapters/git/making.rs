//! Making a commit: a revert, a cherry-pick or a merge on the expected
//! head, in git's own words, adopted after a crash only when it is the
//! call's, and the clone put back whatever failed.

use std::path::Path;

use super::GitVcs;
use super::checks::{branch_name, object_id};
use crate::model::{BranchName, CommitId, ServiceId};
use crate::port::{AdapterError, ErrorKind, Landed};
use crate::recovery::IdempotencyKey;

/// How a commit is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Making {
    Revert,
    Pick,
    Merge,
}

impl GitVcs {
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

    pub(super) fn make(
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
