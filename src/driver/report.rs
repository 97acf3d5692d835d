//! What a drive or a shipment came to: [`DriveReport`] and [`Shipped`].

use crate::machine::{DeploymentStatus, Slot};
use crate::recovery::IdempotencyKey;

/// How far a drive got.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriveReport {
    /// Every step is done.
    Done {
        /// The steps, in order.
        steps: Vec<IdempotencyKey>,
    },
    /// A rollout waits for approvals the policy asks for: record them
    /// (`Command::Approve`), then drive again. The revision stays requested
    /// meanwhile; nothing else is done.
    AwaitingApprovals {
        /// The step.
        key: IdempotencyKey,
        /// The revision waiting.
        slot: Slot,
        /// Valid approvals so far.
        have: u32,
        /// Approvals needed.
        need: u32,
        /// The role approvers must hold.
        role: crate::model::Role,
    },
    /// A ship step's branch carries more than when the plan was chosen
    /// (someone pushed while it ran), and something added would run where
    /// the plan ships: a person looks at the difference, then accepts it
    /// (`Command::AcceptChanges` with the head it names) and drives again,
    /// or chooses a plan again. Nothing was built.
    Outgrown {
        /// The step.
        key: IdempotencyKey,
        /// What the branch carries beyond the plan.
        additions: Box<crate::machine::Additions>,
    },
    /// The plan's steps are done, and a resolution was chosen up front
    /// ([`Command::PlanResolution`](crate::Command::PlanResolution)): mark
    /// the incident mitigated once it is, then drive again to carry out
    /// `then`.
    AwaitingMitigation {
        /// The steps done.
        steps: Vec<IdempotencyKey>,
        /// The resolution that follows.
        then: crate::model::Strategy,
    },
    /// A step needs a person; confirm it, then drive again.
    Paused {
        /// The step.
        key: IdempotencyKey,
        /// What to do.
        instruction: String,
    },
}

impl DriveReport {
    /// What has to happen before driving again, in words.
    pub fn instruction(&self) -> String {
        match self {
            Self::Done { steps } => format!("nothing: all {} steps are done", steps.len()),
            Self::AwaitingApprovals {
                slot,
                have,
                need,
                role,
                ..
            } => {
                let missing = need.saturating_sub(*have);
                format!(
                    "{slot} needs {missing} more approval{} from role `{role}` ({have} of {need}): record them with Approve, then drive again",
                    if missing == 1 { "" } else { "s" }
                )
            }
            Self::Outgrown { additions, .. } => format!(
                "{additions}: look at what was added, then accept it with AcceptChanges (head `{}`) and drive again, or choose a plan again",
                additions.head
            ),
            Self::AwaitingMitigation { steps, then } => format!(
                "all {} steps are done: mark the incident mitigated (MarkMitigated), then drive again to carry out the {then} chosen up front",
                steps.len()
            ),
            Self::Paused { instruction, .. } => instruction.clone(),
        }
    }
}

impl std::fmt::Display for DriveReport {
    /// What the drive came to: `done: all 4 steps`, or what it waits for.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Done { steps } => write!(
                f,
                "done: {} step{}",
                if steps.len() == 1 { "the one" } else { "all" },
                if steps.len() == 1 {
                    String::new()
                } else {
                    format!("s ({})", steps.len())
                }
            ),
            _ => f.write_str(&self.instruction()),
        }
    }
}

/// What [`Driver::ship`](crate::driver::Driver::ship) did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Shipped {
    /// The release serves there and was verified known good.
    Verified {
        /// Its revision.
        slot: Slot,
    },
    /// The rollout waits for approvals ([`DriveReport::AwaitingApprovals`]
    /// says whose): record them, then ship again with the same key.
    Waiting(DriveReport),
    /// This key shipped before and that shipment ended: nothing was done
    /// now. Its revision and how it ended, and what serves there now
    /// (which may be something else, after a rollback or a later ship).
    Replayed {
        /// The revision the key shipped.
        slot: Slot,
        /// How that revision stands now.
        status: DeploymentStatus,
        /// The revision serving there now, if any.
        serving: Option<Slot>,
    },
}

/// What [`Driver::roll_out_flag`](crate::driver::Driver::roll_out_flag)
/// came to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlagRollout {
    /// Every stage was measured healthy; the flag is on.
    Done {
        /// Where.
        environment: crate::model::EnvironmentId,
        /// Which flag.
        flag: crate::model::FlagKey,
        /// The stages' percentages, the dark launch (0) first.
        stages: Vec<u8>,
    },
    /// The stage at `percent` is set and held: it is measured once
    /// `until` has passed. Call again (same key) then.
    Holding {
        /// The stage held.
        percent: u8,
        /// When it may be measured.
        until: chrono::DateTime<chrono::Utc>,
    },
    /// The stage at `percent` measured unhealthy; the flag was put back to
    /// `back_to`, the last good stage (unless someone set it since: `now`
    /// says where it is).
    Halted {
        /// The stage that failed.
        percent: u8,
        /// What was measured.
        why: String,
        /// The last good stage.
        back_to: crate::model::FlagState,
        /// The flag's state now.
        now: crate::model::FlagState,
    },
    /// Someone changed the flag between stages (a kill switch pulled, a
    /// hand edit): nothing was written over. Look, then set it or start a
    /// new rollout under a new key.
    Interrupted {
        /// The stage the rollout was at.
        percent: u8,
        /// The state the rollout left the flag in.
        expected: crate::model::FlagState,
        /// What the flag store holds.
        found: crate::model::FlagState,
    },
}

impl std::fmt::Display for FlagRollout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Done {
                environment,
                flag,
                stages,
            } => {
                let stages: Vec<String> = stages.iter().map(|p| format!("{p}%")).collect();
                write!(
                    f,
                    "flag `{flag}` is on in `{environment}`: every stage measured healthy ({})",
                    stages.join(" → ")
                )
            }
            Self::Holding { percent, until } => write!(
                f,
                "the {percent}% stage is held until {until}: roll out again (same key) then"
            ),
            Self::Halted {
                percent,
                why,
                back_to,
                now,
            } => {
                write!(
                    f,
                    "halted: the {percent}% stage measured unhealthy ({why}); put back to {back_to}"
                )?;
                if now != back_to {
                    write!(f, ", and set to {now} since")?;
                }
                Ok(())
            }
            Self::Interrupted {
                percent,
                expected,
                found,
            } => write!(
                f,
                "interrupted at the {percent}% stage: the flag store holds {found}, not {expected}; someone changed it, and it was not written over"
            ),
        }
    }
}

/// What [`Driver::migrate`](crate::driver::Driver::migrate) came to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Migrated {
    /// The migration ran and is recorded (now, or before: nothing ran
    /// again).
    Done {
        /// The migration.
        migration: crate::model::MigrationId,
        /// The schema version it left.
        version: u32,
        /// Rows its batches moved (0 for a migration that runs whole).
        moved: u64,
    },
    /// A data migration paused between batches (its pace): call again
    /// (same key) once `until` has passed.
    Pacing {
        /// The migration.
        migration: crate::model::MigrationId,
        /// Rows moved so far.
        moved: u64,
        /// When the next batch may run.
        until: chrono::DateTime<chrono::Utc>,
    },
}

impl std::fmt::Display for Migrated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Done {
                migration,
                version,
                moved,
            } => {
                write!(f, "`{migration}` is applied: schema version {version}")?;
                if *moved > 0 {
                    write!(f, ", {moved} rows moved")?;
                }
                Ok(())
            }
            Self::Pacing {
                migration,
                moved,
                until,
            } => write!(
                f,
                "`{migration}` moved {moved} rows so far; the next batch runs after {until}: migrate again (same key) then"
            ),
        }
    }
}

/// What [`Driver::deliver`](crate::driver::Driver::deliver) came to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivered {
    /// Verified in every environment of the lane's way into production;
    /// the hotfix lane follows production.
    Done {
        /// The revision that passed each stage, upstream first.
        verified: Vec<Slot>,
        /// The hotfix lane's upkeep done on the way (its keys).
        lane_kept: Vec<IdempotencyKey>,
    },
    /// Waiting for something only time or a person gives: deliver again
    /// with the same key then.
    Waiting {
        /// The stages passed so far.
        verified: Vec<Slot>,
        /// What it waits for.
        waiting: DeliveryWait,
    },
    /// A stage this delivery shipped ended other than verified (measured
    /// unhealthy, aborted): nothing is promoted past it.
    Stopped {
        /// The stages passed before it.
        verified: Vec<Slot>,
        /// The revision that stopped it.
        slot: Slot,
        /// How it ended.
        status: DeploymentStatus,
    },
}

/// What a delivery waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryWait {
    /// Approvals ([`DriveReport::AwaitingApprovals`] says whose), for a
    /// stage or for the hotfix lane's mirror.
    Approvals(DriveReport),
    /// The bake time of `environment` before the release moves on to
    /// `target` (rule `bake-time`).
    Baking {
        /// Where the release is baking.
        environment: crate::model::EnvironmentId,
        /// Where it goes next.
        target: crate::model::EnvironmentId,
        /// When it will have baked.
        ready_at: chrono::DateTime<chrono::Utc>,
    },
}

impl std::fmt::Display for Delivered {
    /// What the delivery came to, and what it waits for, in words.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |slots: &[Slot]| {
            if slots.is_empty() {
                "nothing yet".to_owned()
            } else {
                slots
                    .iter()
                    .map(|s| format!("`{}`", s.environment))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        match self {
            Self::Done { verified, .. } => write!(f, "delivered: verified in {}", list(verified)),
            Self::Waiting { verified, waiting } => {
                write!(f, "verified in {}; waiting: ", list(verified))?;
                match waiting {
                    DeliveryWait::Approvals(report) => f.write_str(&report.instruction()),
                    DeliveryWait::Baking {
                        environment,
                        target,
                        ready_at,
                    } => write!(
                        f,
                        "baking in `{environment}` until {ready_at}, then on to `{target}`: deliver again then"
                    ),
                }
            }
            Self::Stopped {
                verified,
                slot,
                status,
            } => write!(
                f,
                "stopped: {slot} is {status}; verified in {}, nothing promoted past it",
                list(verified)
            ),
        }
    }
}
