//! The hotfix lane's upkeep: cutting the hotfix branch for what production
//! runs, mirroring it into hotfix-development, and merging hotfixes back.

use super::Driver;
use super::error::DriveError;
use super::report::DriveReport;
use crate::machine::Command;
use crate::model::{BranchName, EnvironmentId, IncidentId, ReleaseId, ServiceId};
use crate::recovery::{EffectAction, IdempotencyKey};

impl Driver {
    /// Deploys and verifies `release` in `environment` (a hotfix-lane
    /// environment mirroring production).
    pub(super) async fn mirror(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
        (environment, service, release): (&EnvironmentId, &ServiceId, &ReleaseId),
    ) -> Result<Result<String, DriveReport>, DriveError> {
        let command = Command::deploy(environment.clone(), release.clone(), self.acting());
        if let Err(waiting) = self.roll_out(incident, key, key.clone(), command).await? {
            return Ok(Err(waiting));
        }
        let verified = self.verify(incident, key, environment, service).await?;
        Ok(Ok(format!(
            "`{environment}` mirrors production with `{release}` ({verified})"
        )))
    }

    /// Keeps the hotfix lane into `environment` following what `service`
    /// runs there ([`State::hotfix_lane_upkeep`](crate::State::hotfix_lane_upkeep)):
    /// cuts the hotfix branch for that build and deploys the release to
    /// the other environments of the hotfix lane, so that
    /// hotfix-development mirrors production. Call it after every
    /// production deployment. Each action has an idempotency key of its
    /// own (`lane/{environment}/{service}/{release}/{verb}`), so a repeat or
    /// a resume after a crash acts at most once; the journal holds what was
    /// done (the branch move, the deployment), so a resumed driver computes
    /// only what is left. Answers [`DriveReport::Done`] with the keys acted
    /// on (none when the lane already follows), or
    /// [`DriveReport::AwaitingApprovals`] when a mirror deployment needs
    /// them.
    pub async fn keep_hotfix_lane(
        &mut self,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<DriveReport, DriveError> {
        let mut done = Vec::new();
        let due = self.state().hotfix_lane_upkeep(environment, service);
        let Some(release) = self
            .state()
            .hotfix_base(environment, service)
            .map(|b| b.release)
            .filter(|_| !due.is_empty())
        else {
            return Ok(DriveReport::Done { steps: done });
        };
        for action in due {
            let key = match &action {
                EffectAction::CutBranch {
                    service,
                    branch,
                    at,
                } => {
                    let key = IdempotencyKey::new(format!(
                        "lane/{environment}/{service}/{release}/cut-{branch}"
                    ));
                    self.cut_branch(None, &key, (service, branch, at)).await?;
                    key
                }
                EffectAction::Mirror {
                    environment: mirror,
                    service,
                    release: mirrored,
                } => {
                    let key = IdempotencyKey::new(format!(
                        "lane/{environment}/{service}/{release}/mirror-{mirror}"
                    ));
                    if let Err(waiting) =
                        self.mirror(None, &key, (mirror, service, mirrored)).await?
                    {
                        return Ok(waiting);
                    }
                    key
                }
                other => {
                    return Self::fail(
                        &IdempotencyKey::new(format!("lane/{environment}/{service}/{release}")),
                        format!("the lane's upkeep asked for something it cannot do: {other}"),
                    );
                }
            };
            done.push(key);
        }
        Ok(DriveReport::Done { steps: done })
    }

    /// Marks the incident's first open follow-up that `which` picks done,
    /// when the history shows its work ([`not_done`](crate::machine::not_done)
    /// says nothing is missing); otherwise leaves it open.
    pub(super) async fn complete_follow_up_where(
        &mut self,
        incident: &IncidentId,
        which: impl Fn(&crate::machine::FollowUpKind) -> bool,
    ) -> Result<(), DriveError> {
        let Some(record) = self.state().incident(incident) else {
            return Ok(());
        };
        let Some(index) = record.follow_ups.iter().position(|f| {
            f.done_at.is_none()
                && which(&f.kind)
                && crate::machine::not_done(self.state(), record, &f.kind).is_none()
        }) else {
            return Ok(());
        };
        self.execute(&Command::CompleteFollowUp {
            incident: incident.clone(),
            follow_up: u32::try_from(index).unwrap_or(u32::MAX),
            by: self.acting(),
        })
        .await?;
        Ok(())
    }

    /// Marks the incident's follow-up to merge `from` back into `onto` done,
    /// once the VCS shows `from`'s head reachable from `onto`'s (asked
    /// through the port, not taken from the step's word); the core checks
    /// the same against the recorded history.
    pub(super) async fn complete_merge_back(
        &mut self,
        incident: &IncidentId,
        key: &IdempotencyKey,
        service: &ServiceId,
        from: &BranchName,
        onto: &BranchName,
    ) -> Result<(), DriveError> {
        let Some(index) = self.state().incident(incident).and_then(|i| {
            i.follow_ups.iter().position(|f| {
                f.done_at.is_none()
                    && matches!(&f.kind, crate::machine::FollowUpKind::MergeHotfixBack { service: s, branch } if s == service && branch == from)
            })
        }) else {
            return Ok(());
        };
        let (Some(hotfix), Some(head)) = (
            self.state().branch(service, from).cloned(),
            self.state().branch(service, onto).cloned(),
        ) else {
            return Ok(());
        };
        let vcs = &self.ports.vcs;
        let missing = match vcs.commits_between(service, &head, &hotfix).await {
            Ok(missing) => missing,
            Err(e) => return Self::port_read(key, "VCS", e),
        };
        if !missing.is_empty() {
            return Self::fail(
                key,
                format!(
                    "the VCS does not show `{from}` (at `{hotfix}`) reachable from `{onto}` (at `{head}`) after the merge"
                ),
            );
        }
        self.execute(&Command::CompleteFollowUp {
            incident: incident.clone(),
            follow_up: u32::try_from(index).unwrap_or(u32::MAX),
            by: self.acting(),
        })
        .await?;
        Ok(())
    }
}
