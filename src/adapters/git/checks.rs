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
/// or a revision expression (`git check-ref-format`'s rules, and no
/// leading `-`, no `HEAD`).
pub(super) fn ref_name<'a>(what: &str, name: &'a str) -> Result<&'a str, AdapterError> {
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

pub(super) fn branch_name(branch: &BranchName) -> Result<&BranchName, AdapterError> {
    ref_name("branch", branch.as_str()).map(|_| branch)
}
