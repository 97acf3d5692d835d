//! One line of plain English per event, for timelines and audit trails.

use std::fmt;

use super::event::{EventKind, GateCause, Subject};

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PipelineDefined { pipeline } => write!(
                f,
                "pipeline defined with {} environments",
                pipeline.environments().count()
            ),
            Self::ServiceRegistered { service } => write!(f, "service `{}` registered", service.id),
            Self::CommitRecorded { commit } => write!(f, "commit `{}` recorded", commit.id),
            Self::ChangeRecorded { change } => {
                write!(
                    f,
                    "`{}` merged by {}: {}",
                    change.id, change.author, change.title
                )
            }
            Self::ArtifactRegistered { artifact } => write!(
                f,
                "`{}` {} built (build {}, `{}`)",
                artifact.service, artifact.version, artifact.build, artifact.digest
            ),
            Self::ReleaseRegistered { release } => write!(f, "release `{}` registered", release.id),
            Self::DeploymentRequested {
                slot, release, by, ..
            } => {
                write!(f, "{by} requested `{release}` as {slot}")
            }
            Self::RollbackRequested {
                slot,
                release,
                target,
                rolled_back_from,
                by,
                reason,
                unverified_target,
                ..
            } => {
                write!(
                    f,
                    "{by} rolled back from {rolled_back_from} to {target} (`{release}`) as {slot}: {reason}"
                )?;
                match unverified_target {
                    Some(why) => write!(
                        f,
                        " (UNVERIFIED TARGET: never verified known good; {by} says: {why})"
                    ),
                    None => Ok(()),
                }
            }
            Self::RolloutStarted { slot } => write!(f, "rollout of {slot} started"),
            Self::RolloutCompleted { slot } => write!(f, "rollout of {slot} completed"),
            Self::RolloutFailed { slot, reason } => write!(f, "rollout of {slot} failed: {reason}"),
            Self::DeploymentVerified {
                slot,
                evidence: None,
            } => write!(f, "{slot} verified known good"),
            Self::DeploymentVerified {
                slot,
                evidence: Some(evidence),
            } => write!(f, "{slot} verified known good: {evidence}"),
            Self::VerificationFailed { slot, reason } => {
                write!(f, "verification of {slot} failed: {reason}")
            }
            Self::RolloutAborted {
                slot, by, reason, ..
            } => {
                write!(f, "{by} aborted {slot}: {reason}")
            }
            Self::RevisionSuperseded { slot, by_revision } => {
                write!(f, "{slot} superseded by {by_revision}")
            }
            Self::RevisionRolledBack { slot, by_revision } => {
                write!(f, "{slot} rolled back by {by_revision}")
            }
            Self::DeploymentApproved { slot, by } => write!(f, "{by} approved {slot}"),
            Self::BreakGlassUsed {
                slot,
                by,
                justification,
            } => write!(
                f,
                "BREAK-GLASS: {by} skipped approvals for {slot}: {justification}"
            ),
            Self::FreezeOverridden {
                subject,
                action,
                by,
                reason,
                ..
            } => {
                let what = match subject {
                    Subject::Deployment { slot } => slot.to_string(),
                    Subject::Flag { environment, flag } => {
                        format!("flag `{flag}` in `{environment}`")
                    }
                };
                write!(
                    f,
                    "FREEZE OVERRIDE: {by} let {action} of {what} through: {reason}"
                )
            }
            Self::PolicyAdopted { by, .. } => write!(f, "{by} adopted a new policy"),
            Self::BranchMoved {
                service,
                branch,
                head,
            } => write!(f, "`{service}` branch `{branch}` moved to `{head}`"),
            Self::ChangePoisoned { change, by, reason } => {
                write!(f, "{by} marked `{change}` poisoned: {reason}")
            }
            Self::FixDeclared { change, fix, by } => {
                write!(f, "{by} declared `{fix}` a fix of `{change}`")
            }
            Self::FlagSet {
                environment,
                flag,
                state,
                by,
            } => write!(f, "{by} set flag `{flag}` to {state} in `{environment}`"),
            Self::FlagVerified {
                environment,
                flag,
                state,
                healthy,
                detail,
                by,
                ..
            } => write!(
                f,
                "{by} measured `{environment}` {} with flag `{flag}` at {state}: {detail}",
                if *healthy { "healthy" } else { "unhealthy" }
            ),
            Self::GateClosed {
                environment,
                by,
                reason,
                cause,
            } => {
                let how = match cause {
                    GateCause::Manual => "stopped the line",
                    _ => "stop the line",
                };
                write!(f, "gate of `{environment}` closed ({how}, {by}): {reason}")
            }
            Self::FastTrackAuthorized {
                release,
                target,
                skipped,
                by,
                reason,
                role,
                ..
            } => {
                let skipped: Vec<String> = skipped.iter().map(|e| format!("`{e}`")).collect();
                let role = role
                    .as_ref()
                    .map(|r| format!(" as {r}"))
                    .unwrap_or_default();
                write!(
                    f,
                    "{by}{role} fast-tracked `{release}` into `{target}` past {}: {reason}",
                    skipped.join(", ")
                )
            }
            Self::RecoveryAuthorized {
                environment,
                plan,
                permits,
                by,
            } => {
                let steps: Vec<String> = permits.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "{by} authorized plan `{plan}` through the gate of `{environment}`: {}",
                    steps.join(", ")
                )
            }
            Self::GateReopened {
                environment,
                by,
                reason,
            } => write!(f, "{by} reopened the gate of `{environment}`: {reason}"),
            Self::FreezeDeclared { freeze } => write!(
                f,
                "{} declared freeze `{}`: {}",
                freeze.declared_by, freeze.id, freeze.reason
            ),
            Self::FreezeLifted { freeze, by, reason } => {
                write!(f, "{by} lifted freeze `{freeze}`: {reason}")
            }
            Self::ArtifactExpired { digest, by } => write!(f, "{by} expired artifact `{digest}`"),
            Self::RunbookRegistered { runbook } => write!(
                f,
                "runbook `{}` registered: {} ({})",
                runbook.id,
                runbook.title,
                if runbook.restores {
                    "restores"
                } else {
                    "relieves"
                }
            ),
            Self::MigrationProgressed {
                environment,
                service,
                migration,
                cursor,
                moved,
                by,
                ..
            } => write!(
                f,
                "{by} moved {moved} more of `{migration}` for `{service}` in `{environment}` (next from `{cursor}`)"
            ),
            Self::MigrationApplied {
                environment,
                service,
                migration,
                by,
            } => write!(
                f,
                "{by} ran {} migration `{}` on `{service}` in `{environment}` (schema {} → {})",
                migration.phase, migration.id, migration.from, migration.to
            ),
            Self::IncidentDeclared {
                incident,
                environment,
                severity,
                cause,
                summary,
                by,
                ..
            } => write!(
                f,
                "{by} declared {severity} incident `{incident}` in `{environment}` (suspected: {cause}): {summary}"
            ),
            Self::StrategyChosen {
                incident,
                strategy,
                by,
                steps,
                ..
            } => {
                let runbook = steps.iter().find_map(|s| match &s.action {
                    super::effect::EffectAction::RunRunbook { runbook, .. } => Some(runbook),
                    _ => None,
                });
                match runbook {
                    Some(id) => write!(f, "{by} chose runbook `{id}` for `{incident}`"),
                    None => write!(f, "{by} chose {strategy} for `{incident}`"),
                }
            }
            Self::RemediationDecided {
                incident,
                environment,
                release,
                strategy,
                evidence,
                nth,
                in_window,
                by,
            } => write!(
                f,
                "{by}, for the remediation policy of `{environment}`, chose {strategy} for `{incident}` by itself: `{release}` failed its verification ({evidence}); remediation {nth} of `{release}` there, {in_window} in the policy's window"
            ),
            Self::ResolutionPlanned {
                incident,
                strategy,
                by,
            } => write!(
                f,
                "{by} chose {strategy} up front to resolve `{incident}` once it is mitigated"
            ),
            Self::CausePinned {
                incident,
                change,
                by,
            } => write!(
                f,
                "{by} pinned the cause of `{incident}` to change `{change}`"
            ),
            Self::ChangesAccepted {
                incident,
                service,
                branch,
                head,
                by,
                reason,
            } => write!(
                f,
                "{by} accepted what `{branch}` of `{service}` carries at `{head}` into the plan of `{incident}`: {reason}"
            ),
            Self::IncidentMitigated { incident, by } => {
                write!(f, "{by} marked `{incident}` mitigated: known good restored")
            }
            Self::IncidentResolved { incident, by } => {
                write!(f, "{by} marked `{incident}` resolved")
            }
            Self::RetroRecorded { incident, by, .. } => {
                write!(f, "{by} recorded the retro of `{incident}`")
            }
            Self::EffectRecorded {
                incident,
                key,
                outcome,
                ..
            } => match outcome {
                crate::machine::effect::EffectOutcome::Started => {
                    write!(f, "step `{key}` of `{incident}` started")
                }
                crate::machine::effect::EffectOutcome::Succeeded { detail } => {
                    write!(f, "step `{key}` of `{incident}` done: {detail}")
                }
                crate::machine::effect::EffectOutcome::Failed { error } => {
                    write!(f, "step `{key}` of `{incident}` failed: {error}")
                }
                crate::machine::effect::EffectOutcome::Unknown { error } => {
                    write!(f, "step `{key}` of `{incident}` outcome unknown: {error}")
                }
                crate::machine::effect::EffectOutcome::Reconciled { happened } => write!(
                    f,
                    "step `{key}` of `{incident}` reconciled: it {}",
                    if *happened {
                        "had happened"
                    } else {
                        "had not happened"
                    }
                ),
            },
            Self::FollowUpCompleted {
                incident,
                follow_up,
                by,
            } => write!(f, "{by} completed follow-up {follow_up} of `{incident}`"),
        }
    }
}
