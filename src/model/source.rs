//! Source history: commits (a DAG) and changes (merged units of work).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{Actor, ChangeId, CommitId, FlagKey};

/// A version-control commit with its parents.
///
/// Commits are recorded parents first, so the history is a DAG by
/// construction: a commit naming an unknown parent is refused.
///
/// ```
/// use knowngood::Commit;
/// let root = Commit::root("a1b2c3d");
/// let next = Commit::new("998b1f0", ["a1b2c3d"]);
/// assert!(root.parents.is_empty());
/// assert_eq!(next.parents.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Commit {
    /// The commit id.
    pub id: CommitId,
    /// Its parents (none for a root commit, two or more for a merge).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<CommitId>,
}

impl Commit {
    /// A commit with the given parents.
    pub fn new<P: Into<CommitId>>(
        id: impl Into<CommitId>,
        parents: impl IntoIterator<Item = P>,
    ) -> Self {
        Self {
            id: id.into(),
            parents: parents.into_iter().map(Into::into).collect(),
        }
    }

    /// A commit without parents.
    pub fn root(id: impl Into<CommitId>) -> Self {
        Self {
            id: id.into(),
            parents: Vec::new(),
        }
    }
}

/// One merged unit of work (a pull request) and its commits.
///
/// A commit belongs to at most one change. A change may sit behind feature
/// flags and may depend on earlier changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Change {
    /// The change id, e.g. `PR-1234`.
    pub id: ChangeId,
    /// A one-line title.
    pub title: String,
    /// Who wrote it.
    pub author: Actor,
    /// When it was merged to main.
    pub merged_at: DateTime<Utc>,
    /// The commits it consists of (already recorded).
    pub commits: Vec<CommitId>,
    /// Feature flags the change sits behind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<FlagKey>,
    /// The part of the change no flag covers, when it is only partly
    /// behind its flags (e.g. "the new tax table"): turning the flags off
    /// leaves that part running, so it neither retoggles the change away
    /// nor neutralises it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unflagged: Option<String>,
    /// Earlier changes this one builds on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ChangeId>,
    /// The change this one reverts, if it is a revert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverts: Option<ChangeId>,
}

impl Change {
    /// A change with its commits, behind no flag and depending on nothing.
    pub fn new<C: Into<CommitId>>(
        id: impl Into<ChangeId>,
        title: impl Into<String>,
        author: impl Into<Actor>,
        merged_at: DateTime<Utc>,
        commits: impl IntoIterator<Item = C>,
    ) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            author: author.into(),
            merged_at,
            commits: commits.into_iter().map(Into::into).collect(),
            flags: Vec::new(),
            unflagged: None,
            depends_on: Vec::new(),
            reverts: None,
        }
    }

    /// Whether the whole change sits behind flags: it names at least one
    /// and has no [unflagged](Change::unflagged) part.
    pub fn wholly_behind_flags(&self) -> bool {
        !self.flags.is_empty() && self.unflagged.is_none()
    }

    /// Declares the part of the change no flag covers.
    ///
    /// ```
    /// # use chrono::{TimeZone, Utc};
    /// use knowngood::Change;
    /// let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let change = Change::new("PR-7", "checkout v2", "bob", at, ["c7"]).behind_flag("checkout-v2");
    /// assert!(change.wholly_behind_flags());
    /// let change = change.with_unflagged_part("the tax table migration");
    /// assert!(!change.wholly_behind_flags());
    /// ```
    #[must_use]
    pub fn with_unflagged_part(mut self, part: impl Into<String>) -> Self {
        self.unflagged = Some(part.into());
        self
    }

    /// Marks the change as the revert of an earlier one.
    #[must_use]
    pub fn reverting(mut self, change: impl Into<ChangeId>) -> Self {
        self.reverts = Some(change.into());
        self
    }

    /// Puts the change behind a feature flag.
    #[must_use]
    pub fn behind_flag(mut self, flag: impl Into<FlagKey>) -> Self {
        self.flags.push(flag.into());
        self
    }

    /// Declares that this change builds on an earlier one.
    #[must_use]
    pub fn depending_on(mut self, change: impl Into<ChangeId>) -> Self {
        self.depends_on.push(change.into());
        self
    }
}
