//! The conformance suite: one async function per port. Each returns the
//! first contract its adapter breaks, naming the check.
//!
//! Every check runs on a port that already has history (a repository with
//! commits, a journal with entries, a deployer or a flag store used
//! before), and can run again on the same port: each run picks a fresh
//! namespace (`conformance/run-N/...` keys, branches, tags and flags),
//! found by asking the port which run numbers it has seen. Version control
//! needs a repository prepared by the caller: a service with a branch whose
//! head is an ordinary (non-merge) commit.
//!
//! The `*_replicas` checks are the hostile half: two handles on one system,
//! as two replicas hold them, racing where the property is about racing
//! (journal appends, flag writes) and finding each other's keys where it is
//! about hand-over (reverts, deploys). The outsiders' checks
//! ([`vcs_spoofed_keys`], [`flag_store_foreign_edit`],
//! [`vcs_after_a_failure`], [`planted_symlinks`]) take what someone outside
//! knowngood does to the system behind the port as a function the
//! adapter's test supplies.

use crate::model::{Artifact, Digest, Release};
use crate::recovery::IdempotencyKey;

mod builder;
mod deployer;
mod flags;
mod health;
mod hostile;
mod journal;
mod migrator;
mod outsiders;
mod replicas;
mod runbooks;
mod vcs;

pub use builder::builder;
pub use deployer::deployer;
pub use flags::flag_store;
pub use health::health_probe;
pub use hostile::{HOSTILE_IDS, HOSTILE_NAMES, vcs_hostile};
pub use journal::journal_store;
pub use migrator::migrator;
#[cfg(unix)]
pub use outsiders::planted_symlinks;
pub use outsiders::{flag_store_foreign_edit, vcs_after_a_failure, vcs_spoofed_keys};
pub use replicas::{deployer_replicas, flag_store_replicas, journal_store_replicas, vcs_replicas};
pub use runbooks::runbooks;
pub use vcs::vcs;

/// A broken contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{port} breaks `{check}`: {detail}")]
#[non_exhaustive]
pub struct ConformanceFailure {
    /// Which port.
    pub port: &'static str,
    /// The contract, by name.
    pub check: &'static str,
    /// What happened instead.
    pub detail: String,
}

fn fail<T>(
    port: &'static str,
    check: &'static str,
    detail: impl Into<String>,
) -> Result<T, ConformanceFailure> {
    Err(ConformanceFailure {
        port,
        check,
        detail: detail.into(),
    })
}

fn key(name: &str) -> IdempotencyKey {
    IdempotencyKey::new(format!("conformance/{name}"))
}

/// The first run number whose probe says the port has not seen it; a port
/// that claims to have seen a thousand runs breaks `check`.
async fn fresh_run<F, Fut>(
    port: &'static str,
    check: &'static str,
    mut seen: F,
) -> Result<u64, ConformanceFailure>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for run in 1..=1000 {
        if !seen(run).await {
            return Ok(run);
        }
    }
    fail(
        port,
        check,
        "the port claims to know every key (or branch) the suite could use",
    )
}

fn ensure(
    port: &'static str,
    check: &'static str,
    ok: bool,
    detail: impl FnOnce() -> String,
) -> Result<(), ConformanceFailure> {
    if ok {
        Ok(())
    } else {
        fail(port, check, detail())
    }
}

/// A release and artifact to deploy in the deployer checks.
fn sample_release(service: &str, n: u64) -> Result<(Release, Artifact), ConformanceFailure> {
    let digest = match Digest::parse(&format!("sha256:c0f0{n:012x}")) {
        Ok(d) => d,
        Err(e) => return fail("deployer", "sample-release", e.to_string()),
    };
    let artifact = Artifact::new(
        service,
        digest.clone(),
        semver::Version::new(0, n, 0),
        n,
        format!("c{n}"),
    );
    Ok((
        Release::new(format!("{service}@0.{n}.0"), service, digest, "cfg"),
        artifact,
    ))
}
