//! Hostile values at the version control port: ids and names that a
//! command line would read as an option, a revision expression or a second
//! line. Each must be refused, and nothing may move.

use super::{ConformanceFailure, ensure, fail, key};
use crate::model::{BranchName, CommitId, ServiceId};
use crate::port::Vcs;

/// Commit ids no version control may act on as given.
pub const HOSTILE_IDS: [&str; 7] = [
    "--output=/tmp/knowngood-conformance-victim",
    "--strategy=ours",
    "-x",
    "main~1",
    "HEAD",
    "c0ffee\nother",
    "{key}",
];

/// Branch and tag names no version control may act on as given.
pub const HOSTILE_NAMES: [&str; 7] = [
    "--output=/tmp/knowngood-conformance-victim",
    "-x",
    "main~1",
    "HEAD",
    "a..b",
    "x\ny",
    "@{-1}",
];

/// Checks that a [`Vcs`] refuses every value of [`HOSTILE_IDS`] as a commit
/// id (`commits_between`, `revert`, `cherry_pick`, `create_branch`, `tag`)
/// and of [`HOSTILE_NAMES`] as a branch or tag name (`head`,
/// `create_branch`, `tag`), and that
/// `branch` has not moved after any of them. Needs `service`'s `branch`
/// holding history, as [`vcs`](super::vcs) does.
///
/// Named checks: `hostile-id-is-refused`, `hostile-name-is-refused`,
/// `nothing-moves-on-a-hostile-value`.
pub async fn vcs_hostile(
    port: &dyn Vcs,
    service: &ServiceId,
    branch: &BranchName,
) -> Result<(), ConformanceFailure> {
    const P: &str = "VCS (hostile values)";
    let head = match port.head(service, branch).await {
        Ok(h) => h,
        Err(e) => return fail(P, "head", e.to_string()),
    };
    for (n, hostile) in HOSTILE_IDS.into_iter().enumerate() {
        let id = CommitId::new(hostile);
        let k = key(&format!("hostile-id/{n}"));
        let calls = [
            (
                "commits_between",
                port.commits_between(service, &head, &id).await.is_err(),
            ),
            (
                "revert",
                port.revert(&k, service, std::slice::from_ref(&id), branch, &head)
                    .await
                    .is_err(),
            ),
            (
                "cherry_pick",
                port.cherry_pick(&k, service, std::slice::from_ref(&id), branch, &head)
                    .await
                    .is_err(),
            ),
            (
                "create_branch",
                port.create_branch(&k, service, &BranchName::new("conformance/hostile"), &id)
                    .await
                    .is_err(),
            ),
            (
                "tag",
                port.tag(&k, service, &id, "conformance-hostile")
                    .await
                    .is_err(),
            ),
        ];
        for (call, refused) in calls {
            ensure(P, "hostile-id-is-refused", refused, || {
                format!("`{call}` accepted the commit id {hostile:?}")
            })?;
        }
        let now = port.head(service, branch).await;
        ensure(
            P,
            "nothing-moves-on-a-hostile-value",
            matches!(&now, Ok(c) if *c == head),
            || format!("after {hostile:?}, `{branch}` is at {now:?}, not `{head}`"),
        )?;
    }
    for (n, hostile) in HOSTILE_NAMES.into_iter().enumerate() {
        let name = BranchName::new(hostile);
        let k = key(&format!("hostile-name/{n}"));
        let names = [
            ("head", port.head(service, &name).await.is_err()),
            (
                "create_branch",
                port.create_branch(&k, service, &name, &head).await.is_err(),
            ),
            ("tag", port.tag(&k, service, &head, hostile).await.is_err()),
        ];
        for (call, refused) in names {
            ensure(P, "hostile-name-is-refused", refused, || {
                format!("`{call}` accepted the name {hostile:?}")
            })?;
        }
        let now = port.head(service, branch).await;
        ensure(
            P,
            "nothing-moves-on-a-hostile-value",
            matches!(&now, Ok(c) if *c == head),
            || format!("after {hostile:?}, `{branch}` is at {now:?}, not `{head}`"),
        )?;
    }
    Ok(())
}
