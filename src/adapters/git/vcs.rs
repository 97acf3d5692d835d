//! The [`Vcs`] port on git: each call's work, run on the blocking pool.

use crate::model::{BranchName, CommitId, ServiceId};
use crate::port::{AdapterError, ErrorKind, Landed, Vcs, VcsCapabilities};
use crate::recovery::IdempotencyKey;
use async_trait::async_trait;

use super::checks::{branch_name, object_id, ref_name};
use super::{GitVcs, Making};

impl GitVcs {
    fn head_now(&self, service: &ServiceId, branch: &BranchName) -> Result<CommitId, AdapterError> {
        self.head_of(self.repo(service)?, branch)
    }

    fn commits_between_now(
        &self,
        service: &ServiceId,
        from: &CommitId,
        to: &CommitId,
    ) -> Result<Vec<CommitId>, AdapterError> {
        let repo = self.repo(service)?;
        let (from, to) = (object_id(from)?, object_id(to)?);
        let list = self.git(
            repo,
            &[
                "rev-list",
                "--reverse",
                "--topo-order",
                "--end-of-options",
                to,
                &format!("^{from}"),
            ],
            ErrorKind::NotFound,
        )?;
        Ok(list.lines().map(CommitId::new).collect())
    }

    fn revert_now(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commits: &[CommitId],
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError> {
        self.make(key, service, (commits, onto, expected_head), Making::Revert)
    }

    fn cherry_pick_now(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commits: &[CommitId],
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError> {
        self.make(key, service, (commits, onto, expected_head), Making::Pick)
    }

    fn merge_now(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        from: &CommitId,
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError> {
        self.make(
            key,
            service,
            (std::slice::from_ref(from), onto, expected_head),
            Making::Merge,
        )
    }

    fn create_branch_now(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        branch: &BranchName,
        at: &CommitId,
    ) -> Result<CommitId, AdapterError> {
        let repo = self.repo(service)?;
        branch_name(branch)?;
        object_id(at)?;
        // Another replica may have made the commit.
        self.fetch(repo)?;
        let Some(at) = self.resolve(repo, at.as_str()) else {
            return Err(AdapterError::new(
                ErrorKind::NotFound,
                format!("no commit `{at}`"),
            ));
        };
        let at = &at;
        match self.head_of(repo, branch) {
            Ok(existing) if existing == *at => {}
            Ok(existing) => {
                return Err(AdapterError::new(
                    ErrorKind::Conflict,
                    format!("`{branch}` already exists at `{existing}`"),
                ));
            }
            Err(_) => match &self.remote {
                Some(remote) => {
                    self.git(
                        repo,
                        &[
                            "push",
                            "--quiet",
                            remote,
                            &format!("{at}:refs/heads/{branch}"),
                        ],
                        ErrorKind::Conflict,
                    )?;
                    self.fetch(repo)?;
                }
                None => {
                    self.git(
                        repo,
                        &[
                            "update-ref",
                            &format!("refs/heads/{branch}"),
                            at.as_str(),
                            "0000000000000000000000000000000000000000",
                        ],
                        ErrorKind::Conflict,
                    )?;
                }
            },
        }
        self.remember(repo, key, at, true)?;
        Ok(at.clone())
    }

    fn tag_now(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &CommitId,
        tag: &str,
    ) -> Result<CommitId, AdapterError> {
        let repo = self.repo(service)?;
        ref_name("tag", tag)?;
        object_id(commit)?;
        // Another replica may have made the commit, or the tag.
        self.fetch(repo)?;
        let tag_ref = format!("refs/tags/{tag}");
        let Some(commit) = self.resolve(repo, commit.as_str()) else {
            return Err(AdapterError::new(
                ErrorKind::NotFound,
                format!("no commit `{commit}` in {} or its remote", repo.display()),
            ));
        };
        let commit = &commit;
        match self.resolve(repo, &tag_ref) {
            Some(existing) if existing == *commit => {
                self.remember(repo, key, commit, true)?;
            }
            Some(existing) => {
                return Err(AdapterError::new(
                    ErrorKind::Conflict,
                    format!("tag `{tag}` already names `{existing}`"),
                ));
            }
            None => {
                self.publish(
                    repo,
                    &[
                        (commit, tag_ref.clone()),
                        (commit, Self::key_ref(key, true)),
                    ],
                    None,
                )?;
                // Checked after, as the remote has it now (fetched again).
                let now = self.resolve(repo, &tag_ref);
                if now.as_ref() != Some(commit) {
                    return Err(AdapterError::new(
                        ErrorKind::Conflict,
                        format!(
                            "tag `{tag}` names {} after the push, not `{commit}`",
                            now.map_or_else(|| "nothing".to_owned(), |c| format!("`{c}`"))
                        ),
                    ));
                }
            }
        }
        Ok(commit.clone())
    }

    fn outcome_now(&self, key: &IdempotencyKey) -> Result<Option<Landed>, AdapterError> {
        for repo in self.repos.values() {
            self.fetch(repo)?;
            if let Some(found) = self.remembered(repo, key)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl Vcs for GitVcs {
    fn capabilities(&self) -> VcsCapabilities {
        VcsCapabilities::all()
    }

    async fn head(
        &self,
        service: &ServiceId,
        branch: &BranchName,
    ) -> Result<CommitId, AdapterError> {
        let this = self.clone();
        let service = service.clone();
        let branch = branch.clone();
        crate::adapters::off_executor(move || this.head_now(&service, &branch)).await
    }

    async fn commits_between(
        &self,
        service: &ServiceId,
        from: &CommitId,
        to: &CommitId,
    ) -> Result<Vec<CommitId>, AdapterError> {
        let this = self.clone();
        let service = service.clone();
        let from = from.clone();
        let to = to.clone();
        crate::adapters::off_executor(move || this.commits_between_now(&service, &from, &to)).await
    }

    async fn revert(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commits: &[CommitId],
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError> {
        let this = self.clone();
        let key = key.clone();
        let service = service.clone();
        let commits = commits.to_vec();
        let onto = onto.clone();
        let expected_head = expected_head.clone();
        crate::adapters::off_executor(move || {
            this.revert_now(&key, &service, &commits, &onto, &expected_head)
        })
        .await
    }

    async fn cherry_pick(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commits: &[CommitId],
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError> {
        let this = self.clone();
        let key = key.clone();
        let service = service.clone();
        let commits = commits.to_vec();
        let onto = onto.clone();
        let expected_head = expected_head.clone();
        crate::adapters::off_executor(move || {
            this.cherry_pick_now(&key, &service, &commits, &onto, &expected_head)
        })
        .await
    }

    async fn merge(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        from: &CommitId,
        onto: &BranchName,
        expected_head: &CommitId,
    ) -> Result<Landed, AdapterError> {
        let this = self.clone();
        let key = key.clone();
        let service = service.clone();
        let from = from.clone();
        let onto = onto.clone();
        let expected_head = expected_head.clone();
        crate::adapters::off_executor(move || {
            this.merge_now(&key, &service, &from, &onto, &expected_head)
        })
        .await
    }

    async fn create_branch(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        branch: &BranchName,
        at: &CommitId,
    ) -> Result<CommitId, AdapterError> {
        let this = self.clone();
        let key = key.clone();
        let service = service.clone();
        let branch = branch.clone();
        let at = at.clone();
        crate::adapters::off_executor(move || this.create_branch_now(&key, &service, &branch, &at))
            .await
    }

    async fn tag(
        &self,
        key: &IdempotencyKey,
        service: &ServiceId,
        commit: &CommitId,
        tag: &str,
    ) -> Result<CommitId, AdapterError> {
        let this = self.clone();
        let key = key.clone();
        let service = service.clone();
        let commit = commit.clone();
        let tag = tag.to_owned();
        crate::adapters::off_executor(move || this.tag_now(&key, &service, &commit, &tag)).await
    }

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<Landed>, AdapterError> {
        let this = self.clone();
        let key = key.clone();
        crate::adapters::off_executor(move || this.outcome_now(&key)).await
    }

    async fn describe(
        &self,
        service: &ServiceId,
        commit: &CommitId,
    ) -> Result<crate::port::CommitDetails, AdapterError> {
        let this = self.clone();
        let service = service.clone();
        let commit = commit.clone();
        crate::adapters::off_executor(move || this.describe_now(&service, &commit)).await
    }
}

impl GitVcs {
    /// `git show` of one commit: parents, author, committer time, message.
    fn describe_now(
        &self,
        service: &ServiceId,
        commit: &CommitId,
    ) -> Result<crate::port::CommitDetails, AdapterError> {
        let repo = self.repo(service)?;
        let id = object_id(commit)?;
        let shown = self.git(
            repo,
            &[
                "show",
                "-s",
                "--format=%H%n%P%n%an <%ae>%n%cI%n%B",
                "--end-of-options",
                &format!("{id}^{{commit}}"),
            ],
            ErrorKind::NotFound,
        )?;
        let mut lines = shown.splitn(5, '\n');
        let mut next = || lines.next().unwrap_or_default();
        let (full, parents, author, at) = (next(), next(), next(), next());
        let message = next();
        let at = chrono::DateTime::parse_from_rfc3339(at.trim())
            .map_err(|e| {
                AdapterError::new(
                    ErrorKind::Rejected,
                    format!("git gave `{at}` as the time of `{id}`: {e}"),
                )
            })?
            .with_timezone(&chrono::Utc);
        Ok(crate::port::CommitDetails::new(
            full.trim(),
            parents.split_whitespace().map(CommitId::new),
            author.trim(),
            at,
            message,
        ))
    }
}
