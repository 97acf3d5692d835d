//! Port calls: each under an idempotency key, asked about before acting
//! again, and reconciled (never guessed) when its outcome is unknown.

use super::Driver;
use super::error::{DriveError, StepFailure};
use crate::model::{
    Artifact, BranchName, CommitId, EnvironmentId, FlagKey, FlagState, IncidentId, Migration,
    Release, ServiceId,
};
use crate::port::{AdapterError, Batch, ErrorKind, Landed, MigrationOutcome, Migrator};
use crate::recovery::{EffectOutcome, IdempotencyKey};
use std::sync::Arc;

/// A branch a call moves: which, and where the ledger has its head.
#[derive(Clone)]
pub(super) struct BranchMove {
    pub(super) service: ServiceId,
    pub(super) branch: BranchName,
    pub(super) expected: CommitId,
}

/// One port call, so that acting and asking share one reconciliation.
pub(super) enum Call {
    Revert(BranchMove, Vec<CommitId>),
    Branch(ServiceId, BranchName, CommitId),
    Tag(ServiceId, CommitId, String),
    Pick(BranchMove, Vec<CommitId>),
    Merge(BranchMove, CommitId),
    Deploy(EnvironmentId, Box<Release>, Box<Artifact>),
    Abort(EnvironmentId, ServiceId),
    Flag(EnvironmentId, FlagKey, FlagState, u64),
    Build(ServiceId, CommitId),
    Migrate(EnvironmentId, ServiceId, Box<Migration>),
    Batch(
        EnvironmentId,
        ServiceId,
        Box<Migration>,
        Option<String>,
        u64,
    ),
    Runbook(Box<crate::model::Runbook>, EnvironmentId, ServiceId),
}

pub(super) enum Produced {
    Commit(Landed),
    Deployed,
    Revision(u64),
    Built(Box<crate::port::BuildManifest>),
    Migrated,
    Moved(Batch),
    Ran(String),
}

impl Call {
    pub(super) fn port(&self) -> &'static str {
        match self {
            Self::Revert(..)
            | Self::Branch(..)
            | Self::Tag(..)
            | Self::Pick(..)
            | Self::Merge(..) => "VCS",
            Self::Deploy(..) | Self::Abort(..) => "deployer",
            Self::Flag(..) => "flag store",
            Self::Build(..) => "builder",
            Self::Migrate(..) | Self::Batch(..) => "migrator",
            Self::Runbook(..) => "runbooks",
        }
    }

    /// The branch the call moves, if it moves one.
    pub(super) fn moves(&self) -> Option<&BranchMove> {
        match self {
            Self::Revert(moved, _) | Self::Pick(moved, _) | Self::Merge(moved, _) => Some(moved),
            _ => None,
        }
    }
}

impl Driver {
    /// One port call under `call_key`, reconciled: if the step was started
    /// before, or the call's outcome is unknown, the port is asked what
    /// happened under the key before anything is done (again).
    pub(super) async fn call(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
        call_key: IdempotencyKey,
        call: Call,
    ) -> Result<Produced, DriveError> {
        // Ask first: after a crash the call may have happened already.
        if let Some(done) = self.ask(key, &call_key, &call).await? {
            crate::trace::info!(port = call.port(), key = %call_key, "done before: answered by the port, not called again");
            return Ok(done);
        }
        // A branch is moved only from where the ledger has it.
        if let Some(moved) = call.moves() {
            self.check_branch(key, moved).await?;
        }
        let mut last = None;
        // The lease must cover the whole call: a deployer that says how
        // long a call may run gets the lease held that long, and more.
        let covered = match call {
            Call::Deploy(..) | Call::Abort(..) => self
                .ports
                .deployer
                .longest_call()
                .map(|longest| longest.saturating_add(self.ports.lease_ttl)),
            _ => None,
        }
        .unwrap_or(self.ports.lease_ttl);
        for _ in 0..2 {
            self.keep_lease_for(incident, key, covered).await?;
            crate::trace::info!(port = call.port(), key = %call_key, "calling");
            match self.act(&call_key, &call).await {
                Ok(done) => return Ok(done),
                Err(e) if e.needs_reconciling() => {
                    self.record(
                        incident,
                        key,
                        EffectOutcome::Unknown {
                            error: e.to_string(),
                        },
                    )
                    .await?;
                    let happened = self.ask(key, &call_key, &call).await?;
                    self.record(
                        incident,
                        key,
                        EffectOutcome::Reconciled {
                            happened: happened.is_some(),
                        },
                    )
                    .await?;
                    if let Some(done) = happened {
                        return Ok(done);
                    }
                    last = Some(e);
                }
                Err(error) => {
                    // A conflict on a branch move is either a push that
                    // raced the call (not a failure of the step: nothing
                    // happened) or a change that does not apply.
                    if error.kind() == ErrorKind::Conflict
                        && let Some(moved) = call.moves()
                    {
                        self.check_branch(key, moved).await?;
                    }
                    // A port that checks fences refused a holder whose
                    // lease passed on (paused past it, say): the step is
                    // another replica's now, not failed. Ask the store.
                    self.recheck_lease(incident, key).await?;
                    return Err(DriveError::StepFailed {
                        key: key.clone(),
                        failure: StepFailure::Port {
                            port: call.port(),
                            error,
                        },
                    });
                }
            }
        }
        Err(DriveError::Unresolved {
            key: key.clone(),
            port: call.port(),
            error: last.unwrap_or_else(|| {
                AdapterError::new(ErrorKind::Unavailable, "it stayed unavailable")
            }),
        })
    }

    /// One port call, in a `port_call` span (port, key) when tracing, with
    /// its outcome as an event in the span.
    pub(super) async fn act(
        &self,
        key: &IdempotencyKey,
        call: &Call,
    ) -> Result<Produced, AdapterError> {
        #[cfg(feature = "tracing")]
        {
            use tracing::Instrument as _;
            let span = tracing::info_span!(target: "knowngood", "port_call", port = call.port(), key = %key);
            let result = self.act_untraced(key, call).instrument(span.clone()).await;
            span.in_scope(|| match &result {
                Ok(_) => tracing::info!(target: "knowngood", "port call done"),
                Err(e) => tracing::warn!(target: "knowngood", kind = %e.kind(), error = %e, "port call failed"),
            });
            result
        }
        #[cfg(not(feature = "tracing"))]
        self.act_untraced(key, call).await
    }

    pub(super) async fn act_untraced(
        &self,
        key: &IdempotencyKey,
        call: &Call,
    ) -> Result<Produced, AdapterError> {
        let p = &self.ports;
        Ok(match call {
            Call::Revert(m, commits) => Produced::Commit(
                p.vcs
                    .revert(key, &m.service, commits, &m.branch, &m.expected)
                    .await?,
            ),
            Call::Branch(service, branch, at) => Produced::Commit(Landed::named(
                p.vcs.create_branch(key, service, branch, at).await?,
            )),
            Call::Tag(service, commit, tag) => {
                Produced::Commit(Landed::named(p.vcs.tag(key, service, commit, tag).await?))
            }
            Call::Pick(m, commits) => Produced::Commit(
                p.vcs
                    .cherry_pick(key, &m.service, commits, &m.branch, &m.expected)
                    .await?,
            ),
            Call::Merge(m, from) => Produced::Commit(
                p.vcs
                    .merge(key, &m.service, from, &m.branch, &m.expected)
                    .await?,
            ),
            // Holding a lease, the deployer is handed it: one that can
            // check refuses a holder whose lease passed on.
            Call::Deploy(env, release, artifact) => {
                match self.fence() {
                    Some(fence) => {
                        p.deployer
                            .deploy_fenced(key, env, release, artifact, &fence)
                            .await?;
                    }
                    None => p.deployer.deploy(key, env, release, artifact).await?,
                }
                Produced::Deployed
            }
            Call::Abort(env, service) => {
                match self.fence() {
                    Some(fence) => {
                        p.deployer.abort_fenced(key, env, service, &fence).await?;
                    }
                    None => p.deployer.abort(key, env, service).await?,
                }
                Produced::Deployed
            }
            Call::Flag(env, flag, state, expected) => {
                let flags = p.flags.clone().ok_or_else(|| {
                    AdapterError::new(
                        crate::port::ErrorKind::Rejected,
                        "the host has no flag store",
                    )
                })?;
                Produced::Revision(flags.set(key, env, flag, state, *expected).await?)
            }
            Call::Build(service, commit) => {
                Produced::Built(Box::new(p.builder.build(key, service, commit).await?))
            }
            Call::Migrate(env, service, migration) => {
                Self::migrator(p)?
                    .apply(key, env, service, migration)
                    .await?;
                Produced::Migrated
            }
            Call::Runbook(runbook, env, service) => {
                let runbooks = p.runbooks.clone().ok_or_else(|| {
                    AdapterError::new(crate::port::ErrorKind::Rejected, "the host has no runbooks")
                })?;
                Produced::Ran(runbooks.run(key, runbook, env, service).await?)
            }
            Call::Batch(env, service, migration, cursor, limit) => Produced::Moved(
                Self::migrator(p)?
                    .migrate_batch(key, env, service, migration, (cursor.as_deref(), *limit))
                    .await?,
            ),
        })
    }

    fn migrator(p: &crate::port::Ports) -> Result<Arc<dyn Migrator>, AdapterError> {
        p.migrator.clone().ok_or_else(|| {
            AdapterError::new(crate::port::ErrorKind::Rejected, "the host has no migrator")
        })
    }

    pub(super) async fn ask(
        &self,
        key: &IdempotencyKey,
        call_key: &IdempotencyKey,
        call: &Call,
    ) -> Result<Option<Produced>, DriveError> {
        let p = &self.ports;
        let asked = match call {
            Call::Revert(..)
            | Call::Branch(..)
            | Call::Tag(..)
            | Call::Pick(..)
            | Call::Merge(..) => p
                .vcs
                .outcome(call_key)
                .await
                .map(|o| o.map(Produced::Commit)),
            Call::Deploy(..) | Call::Abort(..) => p
                .deployer
                .outcome(call_key)
                .await
                .map(|o| o.map(|_| Produced::Deployed)),
            Call::Flag(..) => match p.flags.clone() {
                Some(flags) => flags
                    .outcome(call_key)
                    .await
                    .map(|o| o.map(Produced::Revision)),
                None => Ok(None),
            },
            Call::Build(..) => p
                .builder
                .outcome(call_key)
                .await
                .map(|o| o.map(|a| Produced::Built(Box::new(a)))),
            Call::Runbook(..) => match p.runbooks.clone() {
                Some(runbooks) => runbooks
                    .outcome(call_key)
                    .await
                    .map(|o| o.map(Produced::Ran)),
                None => Ok(None),
            },
            Call::Migrate(..) | Call::Batch(..) => match p.migrator.clone() {
                Some(migrator) => migrator.outcome(call_key).await.map(|o| {
                    o.map(|outcome| match outcome {
                        MigrationOutcome::Batch(batch) => Produced::Moved(batch),
                        _ => Produced::Migrated,
                    })
                }),
                None => Ok(None),
            },
        };
        asked.map_err(|error| DriveError::Unresolved {
            key: key.clone(),
            port: call.port(),
            error,
        })
    }
}
