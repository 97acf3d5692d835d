//! Every public path of the API as it stood before the rooms were split
//! (the paths rustdoc documented at 0daafaa, with all features) still
//! names an item. A path that moves must keep a re-export, or be listed
//! under Changed in CHANGELOG.md and removed here on purpose.

#![allow(unused_imports, deprecated, clippy::unsafe_removed_from_name)]

pub use knowngood::CatchUpError as I0;
pub use knowngood::Ledger as I1;
pub use knowngood::adapters as M17;
#[cfg(feature = "command")]
pub use knowngood::adapters::CommandDeployer as I2;
#[cfg(feature = "command")]
pub use knowngood::adapters::CommandHealthProbe as I3;
#[cfg(feature = "command")]
pub use knowngood::adapters::CommandSpec as I4;
#[cfg(feature = "file-journal")]
pub use knowngood::adapters::FileJournalStore as I5;
#[cfg(feature = "flagd")]
pub use knowngood::adapters::FlagdFileStore as I6;
#[cfg(feature = "git")]
pub use knowngood::adapters::GitVcs as I7;
#[cfg(feature = "sqlite")]
pub use knowngood::adapters::SqliteJournalStore as I8;
pub use knowngood::adapters::SystemClock as I9;
#[cfg(feature = "postgres")]
pub use knowngood::adapters::postgres as M16;
#[cfg(feature = "postgres")]
pub use knowngood::adapters::postgres::CHANNEL as I10;
#[cfg(feature = "postgres")]
pub use knowngood::adapters::postgres::Follower as I11;
#[cfg(feature = "postgres")]
pub use knowngood::adapters::postgres::MIGRATIONS as I12;
#[cfg(feature = "postgres")]
pub use knowngood::adapters::postgres::PostgresJournalStore as I13;
#[cfg(feature = "postgres")]
pub use knowngood::adapters::postgres::PostgresLeases as I14;
#[cfg(feature = "postgres")]
pub use knowngood::adapters::postgres::SCHEMA_VERSION as I15;
pub use knowngood::drill as M39;
pub use knowngood::drill::BUILT_IN as I18;
pub use knowngood::drill::Drill as I19;
pub use knowngood::drill::DrillReport as I20;
pub use knowngood::drill::DrillWorld as I21;
pub use knowngood::drill::ExecutionCount as I22;
pub use knowngood::drill::Expectation as I23;
pub use knowngood::drill::Exploration as I24;
pub use knowngood::drill::Fallback as I25;
pub use knowngood::drill::FaultSpec as I26;
pub use knowngood::drill::HistoryStep as I27;
pub use knowngood::drill::IncidentSpec as I28;
pub use knowngood::drill::Invariants as I29;
pub use knowngood::drill::PushFn as I30;
pub use knowngood::drill::RestoreTime as I31;
pub use knowngood::drill::SCENARIO_FORMAT as I32;
pub use knowngood::drill::Scenario as I33;
pub use knowngood::drill::ScenarioError as I34;
pub use knowngood::drill::SimRng as I35;
pub use knowngood::drill::explore as I36;
pub use knowngood::drill::run as I37;
pub use knowngood::drill::run_on as I38;
pub use knowngood::driver as M45;
pub use knowngood::driver::DriveError as I40;
pub use knowngood::driver::DriveReport as I41;
pub use knowngood::driver::Driver as I42;
pub use knowngood::driver::Shipped as I43;
pub use knowngood::driver::StepFailure as I44;
pub use knowngood::error as M50;
pub use knowngood::error::GateHold as I46;
pub use knowngood::error::Rejection as I47;
pub use knowngood::error::TargetProblem as I48;
pub use knowngood::error::UpstreamGap as I49;
pub use knowngood::journal as M69;
pub use knowngood::journal::Chain as I51;
pub use knowngood::journal::ChainHead as I52;
pub use knowngood::journal::CorruptJournal as I53;
pub use knowngood::journal::EntryHash as I54;
pub use knowngood::journal::ExpectedVersion as I55;
pub use knowngood::journal::FORMAT_VERSION as I56;
pub use knowngood::journal::Journal as I57;
pub use knowngood::journal::JournalEntry as I58;
pub use knowngood::journal::JournalError as I59;
pub use knowngood::journal::LineProblem as I60;
pub use knowngood::journal::MAX_LINE_BYTES as I61;
pub use knowngood::journal::ReplayError as I62;
pub use knowngood::journal::SNAPSHOT_FORMAT as I63;
pub use knowngood::journal::Snapshot as I64;
pub use knowngood::journal::SnapshotProblem as I65;
pub use knowngood::journal::StoredSnapshot as I66;
pub use knowngood::journal::StreamId as I67;
pub use knowngood::journal::TamperEvidence as I68;
pub use knowngood::machine as M103;
pub use knowngood::machine::Drift as I70;
pub use knowngood::machine::HotfixBase as I71;
pub use knowngood::machine::Rehearsal as I72;
pub use knowngood::machine::RollbackTarget as I73;
pub use knowngood::machine::SkippedCandidate as I74;
pub use knowngood::machine::command as M79;
pub use knowngood::machine::command::Clearance as I75;
pub use knowngood::machine::command::Command as I76;
pub use knowngood::machine::command::RecoveryPermit as I77;
pub use knowngood::machine::command::Verdict as I78;
pub use knowngood::machine::decide as I80;
pub use knowngood::machine::effect as M89;
pub use knowngood::machine::effect::ConsideredOption as I81;
pub use knowngood::machine::effect::Effect as I82;
pub use knowngood::machine::effect::EffectAction as I83;
pub use knowngood::machine::effect::EffectOutcome as I84;
pub use knowngood::machine::effect::EffectStatus as I85;
pub use knowngood::machine::effect::FollowUpKind as I86;
pub use knowngood::machine::effect::IdempotencyKey as I87;
pub use knowngood::machine::effect::human as I88;
pub use knowngood::machine::event as M95;
pub use knowngood::machine::event::Event as I90;
pub use knowngood::machine::event::EventKind as I91;
pub use knowngood::machine::event::GateCause as I92;
pub use knowngood::machine::event::Slot as I93;
pub use knowngood::machine::event::Subject as I94;
pub use knowngood::machine::incident as M98;
pub use knowngood::machine::incident::FollowUp as I96;
pub use knowngood::machine::incident::IncidentRecord as I97;
pub use knowngood::machine::lifecycle as M101;
pub use knowngood::machine::lifecycle::DeploymentStatus as I99;
pub use knowngood::machine::lifecycle::LifecycleStep as I100;
pub use knowngood::machine::rehearse as I102;
pub use knowngood::machine::state as M117;
pub use knowngood::machine::state::ActivePlan as I104;
pub use knowngood::machine::state::AppliedMigration as I105;
pub use knowngood::machine::state::ClosedGate as I106;
pub use knowngood::machine::state::CommitRecord as I107;
pub use knowngood::machine::state::Deployment as I108;
pub use knowngood::machine::state::DeploymentOrigin as I109;
pub use knowngood::machine::state::EnvironmentState as I110;
pub use knowngood::machine::state::Poisoning as I111;
pub use knowngood::machine::state::RemedyKind as I112;
pub use knowngood::machine::state::RolloutHistory as I113;
pub use knowngood::machine::state::SchemaState as I114;
pub use knowngood::machine::state::StageTimes as I115;
pub use knowngood::machine::state::State as I116;
pub use knowngood::manual as M118;
pub use knowngood::memory as M131;
pub use knowngood::memory::InMemoryBuilder as I119;
pub use knowngood::memory::InMemoryDeployer as I120;
pub use knowngood::memory::InMemoryFlagStore as I121;
pub use knowngood::memory::InMemoryFlags as I122;
pub use knowngood::memory::InMemoryHealth as I123;
pub use knowngood::memory::InMemoryHealthProbe as I124;
pub use knowngood::memory::InMemoryJournal as I125;
pub use knowngood::memory::InMemoryJournalStore as I126;
pub use knowngood::memory::InMemoryLeases as I127;
pub use knowngood::memory::InMemoryVcs as I128;
pub use knowngood::memory::ManualClock as I129;
pub use knowngood::memory::block_on as I130;
pub use knowngood::metrics as M137;
pub use knowngood::metrics::DeliveryMetrics as I132;
pub use knowngood::metrics::Durations as I133;
pub use knowngood::metrics::MetricsQuery as I134;
pub use knowngood::metrics::Period as I135;
pub use knowngood::metrics::delivery_metrics as I136;
pub use knowngood::migration as M141;
pub use knowngood::migration::SchemaChangePlan as I138;
pub use knowngood::migration::SchemaChangeStep as I139;
pub use knowngood::migration::SchemaPlanError as I140;
pub use knowngood::migration::unsafe_rollback_targets as I142;
pub use knowngood::model as M198;
pub use knowngood::model::artifact as M146;
pub use knowngood::model::artifact::Artifact as I143;
pub use knowngood::model::artifact::Release as I144;
pub use knowngood::model::artifact::Service as I145;
pub use knowngood::model::environment as M149;
pub use knowngood::model::environment::Environment as I147;
pub use knowngood::model::environment::EnvironmentRole as I148;
pub use knowngood::model::flag as M151;
pub use knowngood::model::flag::FlagState as I150;
pub use knowngood::model::freeze as M155;
pub use knowngood::model::freeze::Freeze as I152;
pub use knowngood::model::freeze::FreezeEffect as I153;
pub use knowngood::model::freeze::GatedAction as I154;
pub use knowngood::model::ids as M176;
pub use knowngood::model::ids::Actor as I156;
pub use knowngood::model::ids::BranchName as I157;
pub use knowngood::model::ids::BuilderId as I158;
pub use knowngood::model::ids::ChangeId as I159;
pub use knowngood::model::ids::CommitId as I160;
pub use knowngood::model::ids::ConfigRevision as I161;
pub use knowngood::model::ids::Digest as I162;
pub use knowngood::model::ids::DigestError as I163;
pub use knowngood::model::ids::EnvironmentId as I164;
pub use knowngood::model::ids::FlagKey as I165;
pub use knowngood::model::ids::FreezeId as I166;
pub use knowngood::model::ids::IncidentId as I167;
pub use knowngood::model::ids::MAX_NAME_BYTES as I168;
pub use knowngood::model::ids::MigrationId as I169;
pub use knowngood::model::ids::PlanId as I170;
pub use knowngood::model::ids::ReleaseId as I171;
pub use knowngood::model::ids::Revision as I172;
pub use knowngood::model::ids::Role as I173;
pub use knowngood::model::ids::ServiceId as I174;
pub use knowngood::model::ids::check_name as I175;
pub use knowngood::model::incident as M180;
pub use knowngood::model::incident::IncidentPhase as I177;
pub use knowngood::model::incident::Severity as I178;
pub use knowngood::model::incident::SuspectedCause as I179;
pub use knowngood::model::pipeline as M186;
pub use knowngood::model::pipeline::Lane as I181;
pub use knowngood::model::pipeline::Pipeline as I182;
pub use knowngood::model::pipeline::PipelineError as I183;
pub use knowngood::model::pipeline::PipelineSpec as I184;
pub use knowngood::model::pipeline::Promotion as I185;
pub use knowngood::model::policy as M193;
pub use knowngood::model::policy::ApprovalRule as I187;
pub use knowngood::model::policy::HotfixLanePolicy as I188;
pub use knowngood::model::policy::MAX_POLICY_SECONDS as I189;
pub use knowngood::model::policy::Policy as I190;
pub use knowngood::model::policy::Strategy as I191;
pub use knowngood::model::policy::UnknownStrategy as I192;
pub use knowngood::model::schema as M197;
pub use knowngood::model::schema::Migration as I194;
pub use knowngood::model::schema::MigrationPhase as I195;
pub use knowngood::model::schema::SchemaRange as I196;
pub use knowngood::model::source as M201;
pub use knowngood::model::source::Change as I199;
pub use knowngood::model::source::Commit as I200;
pub use knowngood::picture as M204;
pub use knowngood::picture::pipeline_dot as I202;
pub use knowngood::picture::plan_mermaid as I203;
pub use knowngood::picture::timeline_mermaid as I205;
pub use knowngood::port as M227;
pub use knowngood::port::AdapterError as I206;
pub use knowngood::port::Builder as I207;
pub use knowngood::port::BuilderCapabilities as I208;
pub use knowngood::port::Clock as I209;
pub use knowngood::port::DEFAULT_LEASE_TTL as I210;
pub use knowngood::port::Deployer as I211;
pub use knowngood::port::DeployerCapabilities as I212;
pub use knowngood::port::ErrorKind as I213;
pub use knowngood::port::FlagStore as I214;
pub use knowngood::port::FlagStoreCapabilities as I215;
pub use knowngood::port::Health as I216;
pub use knowngood::port::HealthProbe as I217;
pub use knowngood::port::JournalStore as I218;
pub use knowngood::port::Landed as I219;
pub use knowngood::port::LeaseAnswer as I220;
pub use knowngood::port::Leases as I221;
pub use knowngood::port::MissingPort as I222;
pub use knowngood::port::Ports as I223;
pub use knowngood::port::PortsBuilder as I224;
pub use knowngood::port::Vcs as I225;
pub use knowngood::port::VcsCapabilities as I226;
pub use knowngood::recovery as M239;
pub use knowngood::recovery::Capabilities as I228;
pub use knowngood::recovery::Check as I229;
pub use knowngood::recovery::CheckOutcome as I230;
pub use knowngood::recovery::CustomerImpact as I231;
pub use knowngood::recovery::Estimate as I232;
pub use knowngood::recovery::EstimateBasis as I233;
pub use knowngood::recovery::RecoveryOption as I234;
pub use knowngood::recovery::RecoveryPlan as I235;
pub use knowngood::recovery::TeamCost as I236;
pub use knowngood::recovery::hotfix_base as I237;
pub use knowngood::recovery::plan as I238;
pub use knowngood::recovery::stage_seconds as I240;
pub use knowngood::retro as M244;
pub use knowngood::retro::Retro as I241;
pub use knowngood::retro::RetroError as I242;
pub use knowngood::retro::TimelineEntry as I243;
pub use knowngood::rollout as M247;
pub use knowngood::rollout::GradualRollout as I245;
pub use knowngood::rollout::RolloutPlanError as I246;
pub use knowngood::startup as M252;
pub use knowngood::startup::PAGE as I248;
pub use knowngood::startup::StartReport as I249;
pub use knowngood::startup::Startup as I250;
pub use knowngood::startup::open_ledger as I251;
pub use knowngood::suspects as M255;
pub use knowngood::suspects::Suspect as I253;
pub use knowngood::suspects::SuspectKind as I254;
pub use knowngood::suspects::suspects as I256;
#[cfg(feature = "testkit")]
pub use knowngood::testkit as M265;
#[cfg(feature = "testkit")]
pub use knowngood::testkit::conformance as M263;
#[cfg(feature = "testkit")]
pub use knowngood::testkit::conformance::ConformanceFailure as I257;
#[cfg(feature = "testkit")]
pub use knowngood::testkit::conformance::builder as I258;
#[cfg(feature = "testkit")]
pub use knowngood::testkit::conformance::deployer as I259;
#[cfg(feature = "testkit")]
pub use knowngood::testkit::conformance::flag_store as I260;
#[cfg(feature = "testkit")]
pub use knowngood::testkit::conformance::health_probe as I261;
#[cfg(feature = "testkit")]
pub use knowngood::testkit::conformance::journal_store as I262;
#[cfg(feature = "testkit")]
pub use knowngood::testkit::conformance::vcs as I264;

#[test]
fn public_paths_before_the_split_name_the_same_items_as_their_new_homes() {
    use std::any::TypeId;
    // Compiling the `use` lines above is the first check; the second is
    // that a moved item's old path is the item itself, not a copy.
    assert_eq!(
        TypeId::of::<knowngood::machine::event::Slot>(),
        TypeId::of::<knowngood::model::Slot>()
    );
    assert_eq!(
        TypeId::of::<knowngood::journal::StreamId>(),
        TypeId::of::<knowngood::machine::StreamId>()
    );
    assert_eq!(
        TypeId::of::<knowngood::machine::command::RecoveryPermit>(),
        TypeId::of::<knowngood::machine::event::RecoveryPermit>()
    );
    assert_eq!(
        TypeId::of::<knowngood::adapters::SystemClock>(),
        TypeId::of::<knowngood::port::SystemClock>()
    );
    assert_eq!(
        TypeId::of::<knowngood::error::Rejection>(),
        TypeId::of::<knowngood::Rejection>()
    );
    assert_eq!(
        TypeId::of::<knowngood::machine::state::Deployment>(),
        TypeId::of::<knowngood::Deployment>()
    );
}
