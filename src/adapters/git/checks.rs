//! What may reach git: commit ids as object ids, branch and tag names as
//! exact refs. Anything else is refused before git runs.

use crate::model::{BranchName, CommitId};
use crate::port::{AdapterError, ErrorKind};

/// A commit id as git names objects: 4 to 64 hexadecimal digits. Anything
/// else (`--output=…`, `main~1`, a newline) is refused before it reaches
/// git, where it could be read as an option or a revision expression.
pub(super) fn object_id(commit: &CommitId) -> Result<&str, AdapterError> {
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
/// or a revision expression ([`check_ref_name`](crate::check_ref_name)).
pub(super) fn ref_name<'a>(what: &str, name: &'a str) -> Result<&'a str, AdapterError> {
    crate::model::check_ref_name(name).map(|()| name).map_err(|problem| {
        AdapterError::new(
            ErrorKind::Rejected,
            format!("{name:?} is not a {what} name git reads as one ref ({problem}): refused before it reached git"),
        )
    })
}

pub(super) fn branch_name(branch: &BranchName) -> Result<&BranchName, AdapterError> {
    ref_name("branch", branch.as_str()).map(|_| branch)
}
