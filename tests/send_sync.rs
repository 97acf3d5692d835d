//! Every public type can cross threads: a compile-time check.

use knowngood::*;

const fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn every_public_type_is_send_and_sync() {
    const _: () = {
        assert_send_sync::<ActivePlan>();
        assert_send_sync::<Actor>();
        assert_send_sync::<ApprovalRule>();
        assert_send_sync::<Artifact>();
        assert_send_sync::<BranchName>();
        assert_send_sync::<BuilderId>();
        assert_send_sync::<ChainHead>();
        assert_send_sync::<Change>();
        assert_send_sync::<ChangeId>();
        assert_send_sync::<Clearance>();
        assert_send_sync::<ClosedGate>();
        assert_send_sync::<Command>();
        assert_send_sync::<Commit>();
        assert_send_sync::<CommitId>();
        assert_send_sync::<CommitRecord>();
        assert_send_sync::<ConfigRevision>();
        assert_send_sync::<CorruptJournal>();
        assert_send_sync::<Deployment>();
        assert_send_sync::<DeploymentOrigin>();
        assert_send_sync::<DeploymentStatus>();
        assert_send_sync::<Digest>();
        assert_send_sync::<DigestError>();
        assert_send_sync::<Drift>();
        assert_send_sync::<EntryHash>();
        assert_send_sync::<Environment>();
        assert_send_sync::<EnvironmentId>();
        assert_send_sync::<EnvironmentRole>();
        assert_send_sync::<EnvironmentState>();
        assert_send_sync::<Event>();
        assert_send_sync::<EventKind>();
        assert_send_sync::<ExpectedVersion>();
        assert_send_sync::<FlagKey>();
        assert_send_sync::<FlagState>();
        assert_send_sync::<Freeze>();
        assert_send_sync::<FreezeEffect>();
        assert_send_sync::<FreezeId>();
        assert_send_sync::<GateCause>();
        assert_send_sync::<GateHold>();
        assert_send_sync::<GatedAction>();
        assert_send_sync::<HotfixLanePolicy>();
        assert_send_sync::<Journal>();
        assert_send_sync::<JournalEntry>();
        assert_send_sync::<JournalError>();
        assert_send_sync::<Lane>();
        assert_send_sync::<Ledger>();
        assert_send_sync::<LifecycleStep>();
        assert_send_sync::<LineProblem>();
        assert_send_sync::<Pipeline>();
        assert_send_sync::<PipelineError>();
        assert_send_sync::<PipelineSpec>();
        assert_send_sync::<PlanId>();
        assert_send_sync::<Poisoning>();
        assert_send_sync::<Policy>();
        assert_send_sync::<Promotion>();
        assert_send_sync::<RecoveryPermit>();
        assert_send_sync::<Rejection>();
        assert_send_sync::<Release>();
        assert_send_sync::<ReleaseId>();
        assert_send_sync::<RemedyKind>();
        assert_send_sync::<ReplayError>();
        assert_send_sync::<Revision>();
        assert_send_sync::<Role>();
        assert_send_sync::<RolloutHistory>();
        assert_send_sync::<Service>();
        assert_send_sync::<ServiceId>();
        assert_send_sync::<Slot>();
        assert_send_sync::<State>();
        assert_send_sync::<Strategy>();
        assert_send_sync::<StreamId>();
        assert_send_sync::<Subject>();
        assert_send_sync::<TamperEvidence>();
        assert_send_sync::<TargetProblem>();
        assert_send_sync::<UpstreamGap>();
        assert_send_sync::<Verdict>();
    };
}
