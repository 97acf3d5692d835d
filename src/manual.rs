//! The design of knowngood, chapter by chapter. This module holds no code.
//!
//! # 1. A pure core
//!
//! Everything that decides is a pure function. [`decide`](crate::decide)
//! takes the [`State`](crate::State), a [`Command`](crate::Command) and the
//! time, and returns events or a [`Rejection`](crate::Rejection);
//! [`State::apply`](crate::State::apply) folds one event into the state.
//! The core reads no clock, draws no random number and makes no id: the
//! host supplies the time with every command and chooses every name.
//! Identical inputs give identical outputs, which is what makes replay,
//! simulation and property tests possible. Containers are ordered
//! (`BTreeMap`, `BTreeSet`) so no hash order leaks into any output.
//!
//! # 2. The journal is the truth
//!
//! State is never stored: it is the fold of the journal. The journal is
//! split into streams (`pipeline`, `catalog`, `source`, and one
//! `deployments/<environment>/<service>` stream per rollout history) so
//! that writers contend only where they really touch the same thing. A
//! writer appends with the stream version it last read; a stale writer
//! gets a conflict and must read, decide and append again. Every JSON line
//! carries the format version `v`; the event's `type` tag names never
//! change meaning.
//!
//! Reading a damaged file stops at the first bad line, reports its number
//! and hands back every entry before it: nothing already recorded is lost.
//!
//! Time only moves forward, across the whole journal (not per stream: a
//! freeze declared in one stream must hold against a deploy in another). A
//! command stamped before the journal's last event is refused
//! ([`Rejection::ClockWentBackwards`](crate::Rejection::ClockWentBackwards),
//! rule `clock-went-backwards`) and nothing is recorded; a journal whose
//! events go back in time does not replay, and the error names the entry.
//! [`State::last_event_at`](crate::State::last_event_at) says when the last
//! event happened.
//!
//! # 3. The deployment lifecycle
//!
//! Each revision of a service in an environment walks the machine in
//! [`lifecycle`](crate::machine::lifecycle): requested → rolling out →
//! verifying → known good, or failed; later superseded or rolled back.
//! Both [`decide`](crate::decide) and [`State::apply`](crate::State::apply)
//! consult the one transition function
//! [`DeploymentStatus::after`](crate::DeploymentStatus::after), so the
//! rules cannot drift apart.
//!
//! *Abort* and *rollback* are different operations with different events.
//! Abort stops a rollout before it was verified: still in flight (the
//! stable release never stopped serving), or rolled out and being verified
//! (the known-good revision it replaced is *reinstated* and serves again;
//! the aborted one stays in the history, aborted, and no revision is
//! added). Rollback comes after a rollout was verified or failed: it is a
//! **new revision** deploying an older release, with a `rolled_back_from`
//! link, never a rewrite of history. Its default target is the newest
//! earlier revision that was *verified* known good and still qualifies
//! (see [`State::rollback_target`](crate::State::rollback_target)).
//!
//! # 4. Promotion follows the digest
//!
//! An artifact is built once and promoted as-is. Entering an environment
//! requires the same digest to have been verified in every upstream
//! environment of at least one lane into it (the main lane or the hotfix
//! lane). A rebuild with the same version is a different digest, and so a
//! different artifact that must earn its way through the pipeline again.
//! How long it stays in each before moving on (bake time), production in
//! waves, and one call that walks the whole way: §16.
//!
//! # 5. Rejections are for people
//!
//! Every refusal names its rule ([`Rejection::rule`](crate::Rejection::rule)),
//! the objects involved, and what would unblock it, so a host can show it
//! as it is. Re-registering something identical is not an error but a
//! no-op, so hosts can retry safely.
//!
//! # 6. Gates: whether *now*, and by whom
//!
//! Every deployment and rollback passes the same checks in the same order,
//! so the first refusal a person sees is the most fundamental one:
//!
//! 1. *what*: the artifact was verified upstream on a lane into the
//!    environment; for production, it comes from a trusted builder and
//!    carries no poisoned change without its remedy;
//! 2. *now*: the delivery gate is open, or the active recovery plan
//!    permits this step; no freeze closes the action (or a holder of an
//!    override role overrides it, with a reason);
//! 3. *by whom*: before a deployment's rollout starts, the approvals the
//!    policy asks for are in, from distinct role holders other than the
//!    requester, or glass was broken with a written justification.
//!
//! **Stop the line.** A failed production rollout or verification, and a
//! production rollback, close the production gate automatically, naming
//! who reported it and why; anyone can close a gate by hand. While it is
//! closed only the steps of the active recovery plan
//! ([`Command::AuthorizeRecovery`](crate::Command::AuthorizeRecovery)) may
//! deploy there. Reopening is explicit and refused while a service there
//! runs a rollback (drift), anything not verified known good, a
//! poisoned change, or commits main does not hold (a hotfix not merged
//! back: drift the other way).
//!
//! **The hotfix lane follows production.** After every production
//! deployment, [`State::hotfix_lane_upkeep`](crate::State::hotfix_lane_upkeep)
//! says what keeps the hotfix lane ready: the branch the policy's template
//! names for the build now serving (`Hotfix-44` at the commit build 44
//! came from) and the same release deployed to the other environments of
//! the hotfix lane, so hotfix-development mirrors production. The driver
//! carries it out ([`Driver::keep_hotfix_lane`](crate::driver::Driver::keep_hotfix_lane)),
//! each action under its own idempotency key; mirroring what production
//! runs is allowed even when it carries a change main has reverted.
//!
//! **Drift, both ways.** [`State::drift`](crate::State::drift) compares
//! what an environment runs with the head of main: the commits it lacks
//! (`missing_commits`: main moved on, or it runs a rollback) and the
//! commits it runs that main does not hold (`ahead_commits`: an unmerged
//! hotfix). Only a forward release holding exactly main is clear.
//!
//! **Poisoned changes.** A release *contains* a change when one of the
//! change's commits is an ancestor of the release's source commit. A
//! poisoned change is neutralised in a release that also contains every
//! commit of a revert of it or of a declared fix, or in an environment
//! where its flags keep it from running
//! ([`State::flags_neutralise`](crate::State::flags_neutralise)): the
//! change sits *wholly* behind them (a change with an
//! [unflagged part](crate::Change::unflagged) is never neutralised by its
//! flags, nor retoggled away) and every one is *off*. A flag at 0 % is a
//! dark launch: the code runs on mirrored traffic and its results are
//! discarded, so it still counts as running unless the policy says
//! otherwise ([`Policy::dark_launch_counts_as_off`](crate::Policy::dark_launch_counts_as_off)).
//! Revert pairs hold even without an incident: once main holds a revert
//! of a change, a release carrying the change without that revert may not
//! *enter* an environment that does not run the change now
//! ([`State::reverted_on_main`](crate::State::reverted_on_main), rule
//! `reverted-on-main`); redeploying what already runs there stays allowed,
//! and a rollback to a release from before the revert is refused too.
//! So a revert travels with the
//! change it reverts: a batch carrying the bad commit without its revert is
//! refused. A release built from an unrecorded commit cannot be proved
//! clean, and production refuses it while anything is poisoned.
//!
//! **Freezes** are deny or allow windows per action (deliver, rollback,
//! hotfix, flag change) and environment. A deny in force closes the action;
//! where allow windows exist for an action, it is closed outside all of
//! them; deny beats allow. A deployment counts as a *hotfix* when it goes
//! into a hotfix-development environment or enters production along the
//! hotfix lane, so a delivery freeze can leave rollbacks and hotfixes open.
//!
//! Exceptions (overrides and broken glass) are journaled in the stream of
//! the action they let through and marked by
//! [`EventKind::is_exception`](crate::EventKind::is_exception); the audit
//! trail is the journal filtered by
//! [`EventKind::is_audited`](crate::EventKind::is_audited).
//!
//! # 7. A tamper-evident journal
//!
//! Each entry carries `SHA-256(previous hash ‖ entry bytes)`, the entry
//! bytes being its line in the one canonical spelling knowngood writes
//! (fields in order, no spaces, UTC times ending in `Z`). Every reader
//! checks the same bytes: a file's reader refuses a line spelled any other
//! way ([`LineProblem::NotCanonical`](crate::LineProblem::NotCanonical)),
//! so a file that loads also verifies, is written back byte for byte, and
//! can be resumed from. Reading checks every link, so an edited, removed,
//! inserted or reordered line is reported at its position.
//!
//! Give each journal a [`Chain`](crate::Chain):
//!
//! - [`Chain::named`](crate::Chain::named) binds the first link to the
//!   journal's name, so a first line copied from another journal (or the
//!   whole file of another deployment, read by mistake) is refused at
//!   line 1 ([`LineProblem::ForeignStart`](crate::LineProblem::ForeignStart));
//!   on the unnamed chain it is only caught at line 2;
//! - [`Chain::keyed`](crate::Chain::keyed) links with HMAC-SHA-256 under
//!   a key the host keeps out of the journal's store: someone who rewrites
//!   the file and recomputes every link without the key is caught at the
//!   first line they changed.
//!
//! Write and read with the same chain: [`Journal::with_chain`](crate::Journal::with_chain)
//! then [`Journal::read_jsonl`](crate::Journal::read_jsonl) or
//! [`Journal::read_entries`](crate::Journal::read_entries); a
//! [`JournalStore`](crate::port::JournalStore) says which chain it holds
//! (`JournalStore::chain`) and the driver uses it.
//!
//! An unkeyed chain cannot stop someone who rewrites the whole file and
//! recomputes every link: keep the [`ChainHead`](crate::ChainHead) (entry
//! count and last hash) somewhere else and check it with
//! [`Journal::verify_head`](crate::Journal::verify_head), which also
//! detects a cut-off tail (a key does not: cutting entries off the end
//! leaves a valid, shorter chain).
//!
//! # 8. Incidents and the recovery planner
//!
//! An incident walks `detected → mitigating → mitigated → resolved →
//! reviewed`; every step is timestamped, so the journal yields time to
//! mitigate and time to resolve. Declaring one stops the line in its
//! environment and, when the suspected cause is a change, poisons it.
//!
//! [`plan`](crate::plan) is a pure function of the state, the incident,
//! the time and the host's [`Capabilities`](crate::Capabilities). It
//! assesses *every* strategy — retoggle, rollback, revert, hotfix, fix
//! forward, wait, revert-in-flight-then-fix, abort — with every precondition as a
//! named [`Check`](crate::recovery::Check), the risks, the ordered steps as
//! [`Effect`](crate::recovery::Effect)s with idempotency keys, an estimate,
//! the team's cost and the customer impact. Then it ranks: applicable
//! first, likely to help first (rolling code back does not fix an external
//! cause), fastest restore, least team disruption, least customer impact,
//! and the order strategies are listed in; and it explains in plain words
//! why the first beats each of the others.
//!
//! **Estimates** are the sum over the steps the driver will run, up to
//! the verification that restores the incident's environment (merging a
//! hotfix back or re-applying a change comes after the restore and does
//! not count): a flag switch or an abort costs the policy's
//! `flag_seconds`, a down-migration `migrate_seconds`, a revert
//! `revert_seconds`, a fix `fix_seconds`, a
//! rollback one stage of its environment (returning to a recently stable
//! release skips canary steps), waiting the time the work in flight has
//! left, and shipping one stage per environment the driver deploys to
//! ([`Pipeline::ship_path`](crate::Pipeline::ship_path): the lane's whole
//! path, one environment after another, without the test stages when the
//! plan fast-tracks). A stage's duration is the mean observed in the
//! journal once the policy's `observations_needed` verified deployments
//! exist there, the policy's `stage_seconds` before that; the estimate
//! says which. So waiting costs the time left in QA *plus* the fix's whole
//! pipeline, and only wins when nothing may overtake the work in flight.
//!
//! **Fast-track** ([`Command::FastTrack`](crate::Command::FastTrack)) is
//! explicit, authorised and recorded: who, why, the stages skipped (the
//! lane's test environments, [`Pipeline::fast_track_skips`](crate::Pipeline::fast_track_skips))
//! and the policy role it was authorised under. The policy may forbid it
//! (`fast_track_allowed`) or name who may (`fast_track_roles`). Once
//! recorded, entering a later stage needs the stages before the skipped
//! ones instead. The driver issues it when the chosen plan ships a fix
//! fast-tracked (revert-in-flight-then-fix), and the planner's dry run
//! meets the same refusal when the policy does not allow it.
//!
//! **The core is the only judge.** The planner keeps its own checks only
//! for what the core cannot know (what the host's ports can do, whether
//! the cause is a change, flags, work in flight, unreleased work on main,
//! estimates and costs). Everything else it asks the core: once its own
//! checks pass, it turns the option's steps into the commands the driver
//! would send and *rehearses* them ([`rehearse`](crate::machine::rehearse))
//! — each command goes through [`decide`](crate::decide) on the state as it
//! would be once the earlier steps succeeded (stand-ins for what only a
//! port or a person supplies: the revert's commit, the built artifact, the
//! approvals of the policy's role members). A refusal makes the option
//! not applicable, and its failed check is named after the core's rule
//! (`poisoned-release`, `frozen`, `rollout-in-flight`, …). So the planner
//! never offers what the core would refuse; a property test drives every
//! offered option over a thousand random histories to prove it. The
//! hypothetical state is a copy-on-write clone of the real one, so a dry
//! run costs what the plan changes, not what the history holds. Hosts can
//! rehearse any command the same way: "what would the journal say if we
//! did this?"
//!
//! **The rollback target** is one rule for the planner and the core
//! ([`State::rollback_target`](crate::State::rollback_target)): the newest
//! revision before the suspect that was verified known good and still
//! qualifies (artifact available, schema current or reachable by a
//! reversible down-migration, requirements on other services met, no
//! poisoned change, trusted builder). Candidates passed over are named
//! with the reason. A person may name another revision instead
//! ([`PlanRequest::rollback_to`](crate::PlanRequest), as `kubectl rollout
//! undo --to-revision` does): it must meet the same qualifications and
//! have been verified known good (rule `rollback-target-known-good`),
//! unless the request brings
//! [`Clearance::unverified_target`](crate::Clearance) with a written
//! reason, which the journal keeps with the rollback and the audit trail
//! marks as an exception.
//!
//! **The policy is enforced by the core**, not only by the planner: a
//! strategy the policy rules out ([`Policy::forbids`](crate::Policy::forbids))
//! cannot be chosen, and a direct rollback, or an abort that returns
//! production to the release before, is refused on the same rule
//! (`strategy-forbidden`) when `allowed_strategies` leaves it out; under a
//! forward-only policy a rollback command is refused unless a member of a
//! break-glass role gives a justification (audited in the journal); with
//! the hotfix lane off, nothing is deployed along it.
//!
//! **One actor per plan.** [`plan_for`](crate::plan_for) takes a
//! [`PlanRequest`](crate::PlanRequest): who will choose, and the clearance
//! they bring (a freeze override, break-glass, an unverified rollback
//! target). Every option is rehearsed as exactly that person with exactly
//! that clearance, the choice carries the clearance
//! ([`Command::ChooseStrategy`](crate::Command::ChooseStrategy)'s
//! `clearance`, kept as the incident's `chosen_by` and `clearance`), and
//! the driver issues the plan's commands as the chooser, each with the
//! part of the clearance it needs. So what the planner offers, the core
//! accepts all the way through the drive, and the journal says who
//! authorised each exception; the effects the driver records still name
//! it as the one that carried them out.
//!
//! **Choosing** a strategy: [`RecoveryPlan::choose`](crate::RecoveryPlan::choose)
//! builds the [`Command::ChooseStrategy`](crate::Command::ChooseStrategy)
//! that carries the option's steps, its follow-ups and every option
//! considered (for the retro), and refuses an inapplicable option with its
//! blocking rule. The core judges the command again (phase, policy, and a
//! rehearsal of every step), opens the follow-ups (merge a hotfix back,
//! re-apply a reverted change, fix main, lift the gate, hold the retro)
//! and lets the option's steps through the closed gate. A follow-up the
//! history can prove is closed only when it does: merging a hotfix back is
//! done when the hotfix branch's head is reachable from main (a merge
//! commit, not a cherry-picked copy); the driver merges with
//! [`Vcs::merge`](crate::port::Vcs::merge), asks the VCS that the branch
//! is reachable, and then closes the follow-up. Mitigation is
//! refused until the service serves a verified release without the cause
//! (or its flags are off); the gate reopens by itself once nothing holds
//! it.
//!
//! **Pinning the cause.** An incident declared on a deployment (as the
//! driver declares one it detects) cannot be answered with a revert, a
//! hotfix or a flag switch: those undo a change. Once someone finds the
//! change, [`Command::PinCause`](crate::Command::PinCause) pins the
//! incident to it (rule `pin-cause`: the deployment must have brought it,
//! [`State::changes_brought`](crate::State::changes_brought)); the change
//! is poisoned as a declaration naming it would have, and the next plan
//! offers what undoes it. The planner's check says what the deployment
//! brought.
//!
//! **Production elsewhere.** When another production environment runs
//! the cause too (the poisoned change without a remedy, or the suspected
//! release), [`State::also_running_cause`](crate::State::also_running_cause)
//! names it. A rollback rolls it back as well, to its own target by the
//! core's rule there, and a retoggle turns the flags off there too, each
//! verified, after the incident's environment. A revert, a fix forward
//! or a hotfix builds once and promotes that build there
//! ([`EffectAction::Promote`](crate::recovery::EffectAction::Promote)):
//! along the same lane, never built again, each stage that does not serve
//! it verified yet deployed and verified under its own key (rule
//! `promote-what-shipped`: the release is the one the plan shipped and
//! verified in the incident's environment). The estimate runs until every
//! one is verified. An environment that the lane does not reach, that
//! has nothing to roll back to, or where the core refuses the plan's step
//! (a freeze, a gate closed there by anything but this incident's own
//! rollback) is left out rather than sinking the whole plan, and the
//! risks say which and why. The other options cover the incident's
//! environment only, and say so in their risks: declare an incident
//! there and plan it too.
//!
//! The way back covers every region the incident touched. The incident
//! keeps the other environments its plans acted in
//! ([`IncidentRecord::covered`](crate::IncidentRecord::covered)); once it
//! is mitigated, [`State::restored_elsewhere`](crate::State::restored_elsewhere)
//! names those not back to normal (a rollback there drifts from main and
//! closed its gate), and the plan that resolves the incident promotes its
//! fix there too: choosing it authorizes its steps through the gate the
//! incident's own rollback closed (and no other). Resolving the incident
//! reopens each of those gates that nothing holds any more;
//! [`WayBack::elsewhere`](crate::WayBack) says what still holds each.
//!
//! **Host runbooks.** A team registers its own recovery actions in the
//! journal ([`Command::RegisterRunbook`](crate::Command::RegisterRunbook)
//! with a [`Runbook`](crate::Runbook)): a failover, scaling up, disabling
//! an integration, purging a cache; where it applies (environments,
//! services, kinds of cause; production and anything by default), about
//! how long it takes, whether it *restores* a healthy service or only
//! *relieves* the symptoms, and what undoes it afterwards. The planner
//! offers each beside the built-in strategies
//! ([`Strategy::Runbook`](crate::Strategy), one option per runbook,
//! [`RecoveryPlan::runbook`](crate::RecoveryPlan::runbook),
//! [`RecoveryPlan::choose_runbook`](crate::RecoveryPlan::choose_runbook)),
//! with the same checks, estimate (the runbook's own), costs and
//! explanation. Whether it applies is the core's rule
//! (`runbook-applies`), met in the dry run and when chosen. One that only
//! relieves ranks after every option that restores, and never lets the
//! incident be marked mitigated; its undo becomes a follow-up
//! (`undo-runbook/<id>`, closed on a person's word). The driver runs the
//! chosen runbook through the host's [`Runbooks`](crate::port::Runbooks)
//! port under the step's key (never twice), then measures the service.
//! The policy's `allowed_strategies` covers runbooks as `runbook`.
//!
//! **Back to normal, under the same incident.** A rollback or a flag
//! turned off mitigates; production then drifts from main (or carries the
//! cause behind a flag) and the gate stays closed. Plan again: once the
//! incident is mitigated, the planner offers only the plans that fix main
//! and ship it (revert, fix forward, hotfix) and the core refuses any
//! other (`resolve-after-mitigation`). Choose one and drive it as before;
//! the incident stays mitigated, its first plan's follow-ups stay. Then
//! close the follow-ups, by their stable ids
//! ([`Command::CloseFollowUp`](crate::Command::CloseFollowUp) with
//! `fix-main/payments`, `lift-gate/prod`, …), on what the history shows:
//! "fix main and ship it" closes once a revert of the cause (or a fix declared for it) is on main
//! *and* in the release serving where the incident is; resolve the
//! incident (refused while anything holds the gate: drift, a revision not
//! known good, a poisoned change running), which reopens the gate, and
//! the "reopen the gate" follow-up with it. The pairing can be chosen up
//! front: with the rollback,
//! [`Command::PlanResolution`](crate::Command::PlanResolution) names the
//! revert (rule `resolution-up-front`: a plan that fixes main, before the
//! mitigation); the drive ends with
//! [`DriveReport::AwaitingMitigation`](crate::driver::DriveReport::AwaitingMitigation)
//! until the incident is marked mitigated, and driving again plans and
//! chooses the revert as the rollback's chooser, with their clearance,
//! and carries it out (`rollback-then-revert-up-front.toml`). The gate also reopens by the
//! explicit [`Command::ReopenGate`](crate::Command::ReopenGate), refused
//! while anything holds it (`gate-must-stay-closed`). At any point,
//! [`State::way_back`](crate::State::way_back) says where the incident
//! stands: whether the gate is closed and what holds it, each open
//! follow-up and what the history still lacks for it, and the next thing
//! to do. The drill `examples/scenarios/rollback-then-revert.toml` walks
//! the whole way.
//!
//! # 9. Schemas
//!
//! Each release may declare the schema versions it runs on. A release never
//! enters an environment whose schema it cannot run on; a migration must
//! start from the current version and leave a schema the serving release
//! runs on; going down undoes migrations and is refused across an
//! irreversible (contract) one; and a contract is refused while a release
//! inside the policy's `rollback_window` still needs the old schema.
//!
//! **Driven migrations.** With a [`Migrator`](crate::port::Migrator) among
//! the ports ([`Ports::with_migrator`](crate::Ports::with_migrator)),
//! [`Driver::migrate`](crate::driver::Driver::migrate) runs a migration and
//! records it, the core judging first (a refusal comes before anything
//! runs). An expand, a contract or a down-migration runs whole; a data
//! migration moves in batches of a given size, each batch's cursor and
//! rows recorded ([`Command::RecordMigrationProgress`](crate::Command::RecordMigrationProgress),
//! rule `data-migration-in-batches`; [`SchemaState::moving`](crate::SchemaState)
//! says how far it got), paced by a pause between batches
//! ([`MigrationPace`](crate::driver::MigrationPace),
//! [`Migrated::Pacing`](crate::driver::Migrated)). Called again under the
//! same key after a crash or in another replica, it goes on from the last
//! recorded cursor and runs no batch twice. A recovery plan's
//! down-migration step is run by the driver too when the migrator can go
//! down ([`MigratorCapabilities::down`](crate::port::MigratorCapabilities));
//! without one, it pauses for a person as before. The conformance suite
//! checks a migrator (`testkit::conformance::migrator`,
//! feature `testkit`).
//! [`SchemaChangePlan`](crate::migration::SchemaChangePlan) generates the
//! expand → migrate → contract steps, and the rollback option names the
//! contract migration that makes a target unsafe.
//!
//! # 10. Ports and the driver
//!
//! The host brings its systems through small async traits in
//! [`port`](crate::port): [`Vcs`](crate::port::Vcs),
//! [`Deployer`](crate::port::Deployer), [`FlagStore`](crate::port::FlagStore),
//! [`HealthProbe`](crate::port::HealthProbe), [`Builder`](crate::port::Builder)
//! (CI), [`JournalStore`](crate::port::JournalStore) and a
//! [`Clock`](crate::port::Clock). They are object-safe and `Send + Sync +
//! Debug + 'static`; errors carry a semantic [`ErrorKind`](crate::port::ErrorKind).
//! Every mutating call carries an [`IdempotencyKey`](crate::recovery::IdempotencyKey),
//! and every port can say what happened under a key.
//!
//! The [`Driver`](crate::driver::Driver) carries the chosen strategy's
//! steps out in order. Each command it issues is decided by the core and
//! stored before it counts; each port call is preceded by asking the port
//! what already happened under its key, and a timeout is reconciled the
//! same way. So a driver that dies at any point and is
//! [resumed](crate::driver::Driver::resume) from the stored journal runs
//! no step twice and skips none; the tests crash it after every single
//! journal write and compare with an uninterrupted run. Steps only a
//! person can take (landing a fix, a down migration) pause the drive with
//! an instruction until [confirmed](crate::driver::Driver::confirm).
//!
//! The real world moves while the driver works, and the driver says so
//! rather than guess. Its clock moves between a crash and the resume (the
//! tests move it by seconds, hours and days, and rebuild the driver from
//! the store alone). Approvals arrive late: a rollout that needs them
//! pauses the drive ([`DriveReport::AwaitingApprovals`](crate::driver::DriveReport::AwaitingApprovals)
//! says how many, from which role) and choosing another plan withdraws the
//! waiting request. Someone pushes to the branch a revert is about to move:
//! branch moves are a compare-and-swap on the head the ledger knows, and
//! the drive stops with the commits to record
//! ([`DriveError::BranchMoved`](crate::driver::DriveError::BranchMoved)).
//!
//! **What ships is what was planned.** A plan remembers the heads of the
//! branches its ship steps build
//! ([`IncidentRecord::planned_heads`](crate::IncidentRecord)). Before it
//! builds, the driver asks the core what the branch carries beyond them
//! ([`State::unplanned`](crate::State::unplanned)): every recorded change
//! added since, dark or live where the plan ships, and every commit no
//! recorded change holds. The plan's own work is not counted (its revert
//! and re-apply, a fix declared for the suspected change, what stood on a
//! branch when a person confirmed landing the fix there). Changes kept
//! dark by their flags go on, and the step's outcome names them; anything
//! live stops the drive with
//! [`DriveReport::Outgrown`](crate::driver::DriveReport::Outgrown), before
//! anything is built. A person looks at the difference and either accepts
//! it ([`Command::AcceptChanges`](crate::Command::AcceptChanges) with the
//! head it names and a reason, journaled and audited; rule
//! `accept-planned-branch`) and drives again, or chooses a plan again.
//! **Gradual rollouts.** [`Driver::roll_out_flag`](crate::driver::Driver::roll_out_flag)
//! carries out a [`GradualRollout`](crate::rollout::GradualRollout): a
//! dark launch at 0 %, then each percentage up to on. Every stage is set
//! through the flag store under its own key, held for the rollout's
//! `hold_seconds` (at least the window the health probe looks back over,
//! so that it measures the stage and not the one before; the call answers
//! [`FlagRollout::Holding`](crate::driver::FlagRollout) and is made again
//! later), measured, and its verdict journaled
//! ([`Command::RecordFlagVerdict`](crate::Command::RecordFlagVerdict): a
//! healthy verdict needs its evidence, rule `verdict-needs-evidence`; the
//! environment keeps each flag's measurements and its last healthy state,
//! [`EnvironmentState::flag_record`](crate::EnvironmentState::flag_record)).
//! A stage measured unhealthy puts the flag back to the last stage
//! measured healthy, not off (off only when the dark launch fails), and
//! halts. A flag someone changed by hand between stages is never written
//! over. Called again under the same key, after a crash or in another
//! replica, the rollout goes on where the journal says it stands and sets
//! or measures nothing twice. It needs a flag store that serves
//! percentages ([`FlagStoreCapabilities::gradual`](crate::port::FlagStoreCapabilities)).
//! An incident's retoggle still turns the flag off: with users hurt, the
//! cause is neutralised, not dosed.
//!
//! Choosing a strategy again gives every step a fresh key, so a port never
//! answers the second attempt with the first one's outcome. A failed step
//! is journaled and its port error keeps its kind.
//!
//! The driver only awaits; it brings no runtime.
//! [`memory`](crate::memory) has reference adapters for every port, a
//! manual clock and a minimal `block_on`; the `testkit` feature adds the
//! conformance suite an adapter author runs against their own adapter:
//! one check per port, the two-replica half (`*_replicas`), hostile ids
//! and names (`vcs_hostile`), and what outsiders do to the system behind
//! a port, given as a function of the author's (a commit pushed with one
//! of the adapter's keys, `vcs_spoofed_keys`; a flag edited by hand
//! between read and write, `flag_store_foreign_edit`; a symlink planted
//! where the adapter's own files go, `planted_symlinks`; a failure, then
//! the next operation, `vcs_after_a_failure`).
//!
//! ## Connecting your systems
//!
//! **Bundle the ports** with [`Ports::builder`](crate::Ports::builder):
//! the VCS, the deployer, the health probe, the builder and the journal
//! store are needed; the flag store is optional and the clock defaults to
//! [`SystemClock`](crate::SystemClock). Say what each can do with the
//! capabilities' constructors (`VcsCapabilities::none().with_revert(true)`);
//! the planner offers nothing a port cannot do. The first run is
//! [`Driver::start`](crate::Driver::start) (the store must be empty); every
//! later run, in any process, is [`Driver::resume`](crate::Driver::resume).
//! Give a journal store a [`Chain`](crate::Chain) with a name (and a key,
//! kept in a secret manager, if nobody else may rewrite the file);
//! `adapters::FileJournalStore` (feature `file-journal`) is a durable one.
//!
//! **Record what happens outside the driver**, through
//! [`Driver::execute`](crate::Driver::execute), as it happens, stamped by
//! the driver's clock:
//!
//! - every merge to main: [`Driver::sync`](crate::Driver::sync) reads
//!   what landed from the VCS and records it (commits, a change per
//!   commit or per `Change-Id:` trailer, `Flag:` and `Depends-On:`
//!   trailers, reverts by git's `This reverts commit <id>.`), once, and
//!   says in its notes what it could not read; by hand, `RecordCommit`
//!   (parents first), then `RecordChange` (with its flags, what it
//!   reverts, what it depends on), then `MoveBranch`. A push to any branch
//!   the driver moves, likewise;
//! - every build: `RegisterArtifact`, then `RegisterRelease`;
//! - every build delivered: [`Driver::deliver`](crate::Driver::deliver)
//!   ships it along its lane to production (§16), or
//! - every deployment: [`Driver::ship`](crate::Driver::ship) does the
//!   request, start, deploy, completion and verification in one call,
//!   under a key of yours (`RequestDeployment`, `StartRollout`,
//!   `CompleteRollout`, `RecordVerification` one by one otherwise);
//! - after every production deployment,
//!   [`Driver::keep_hotfix_lane`](crate::Driver::keep_hotfix_lane) when
//!   the policy uses a hotfix lane;
//! - flags switched by people: `SetFlag`; migrations: `ApplyMigration`;
//!   freezes, approvals, the team's policy: their commands.
//!
//! **The order of calls the driver makes on each port.** Before acting
//! under a key, it asks the port's `outcome(key)`; after a timeout
//! ([`ErrorKind::UnknownOutcome`](crate::ErrorKind::UnknownOutcome)) it
//! asks again before anything else.
//!
//! - VCS: `head` of the branch it is about to move (a push stops the drive
//!   with the commits to record), then `revert`, `cherry_pick` or `merge`
//!   with that head as the expected one (compare-and-swap), or
//!   `create_branch` and `tag`; `commits_between` to name unknown commits
//!   and to check that a merged-back hotfix is reachable.
//! - Builder: `build` of the branch head it ships. The builder answers a
//!   [`BuildManifest`](crate::port::BuildManifest): the artifact, and the
//!   release it makes — its name (or `service@version+build`), the
//!   configuration revision, the schema versions it runs on, what it needs
//!   of other services. The driver registers exactly that release, so the
//!   core's schema and requirement rules judge what was built; a manifest
//!   for another service or commit fails the step and nothing of it is
//!   recorded. A builder that cannot build on demand
//!   ([`BuilderCapabilities::on_demand`](crate::port::BuilderCapabilities))
//!   gets no plan that builds (check `builder-on-demand`).
//! - Deployer: `deploy` of a revision the core opened and started, then
//!   `status` (it must serve that release, or the drive stops with
//!   [`DriveError::Diverged`](crate::driver::DriveError::Diverged)); `abort`
//!   for a rollout the plan stops.
//! - Health probe: `verify` after every rollout, before the verdict is
//!   recorded.
//! - Flag store: `get` (state and revision), then `set` with that
//!   revision as the expected one.
//! - Journal store: `read_from` on start, resume and refresh; `append` with
//!   the length it last read after every accepted command (a conflict
//!   means another process wrote first: `refresh` and decide again).
//!
//! # 11. Drills
//!
//! A [`Scenario`](crate::drill::Scenario) (JSON or TOML, format 1) holds
//! the pipeline, the policy, the history before the incident (merges,
//! builds, shipments, work left in flight, flags, migrations, waits, or any
//! raw command), the incident, the faults to inject and the expected
//! verdict. [`drill::run`](crate::drill::run) plays it on the in-memory
//! ports behind seeded faults — unavailability, timeouts whose outcome is
//! unknown (acted or not), duplicate delivery, latency, crashes at journal
//! writes, health that degrades after a rollout that looked fine, and a
//! reckless manual deploy while the plan holds the gate, journal appends
//! that fail without a crash, clock jumps before a resume, a push racing
//! the driver, approvals that arrive hours late — and plays the person
//! where a step needs one. [`drill::run_on`](crate::drill::run_on) plays
//! the same on the host's own adapters. Every fallback to another strategy
//! shows in the report's verdict and fails the drill unless the scenario
//! allows it; a step the core refuses after the planner offered it is an
//! invariant violation. Between stages it checks the invariants:
//! the journal replays to the live state, the hash chain holds, no release
//! carrying a poisoned change enters production, production runs only
//! digests verified upstream, an open gate during an incident has nothing
//! holding it, no port acts twice under one key, every unknown outcome is
//! reconciled, no contract migration ran inside the rollback window, and
//! (at the end) a start from a snapshot taken halfway through the journal,
//! plus the entries after it, gives the live state. Everything runs on one thread against a virtual clock, so one seed
//! always gives the same journal, byte for byte;
//! [`drill::explore`](crate::drill::explore) runs many seeds, each twice.
//! [`Drill`](crate::drill::Drill) describes the same thing from Rust:
//! given, when, then.
//!
//! The drill also checks the chosen option's promise: its clock advances
//! by the durations the planner models for what the plan really carried
//! out (each stage deployed to, flag switched, revert, fix, wait), and the
//! report's [`restore`](crate::drill::DrillReport::restore) sets that
//! simulated time beside the estimate; they may differ by a tenth of the
//! estimate (at least two minutes) before the drill fails.
//!
//! # 12. Suspects and delivery metrics
//!
//! [`suspects`](crate::suspects::suspects) answers "what changed here just
//! before it broke?": releases that started serving (with the changes they
//! brought), configuration-only changes, flag changes (with the changes
//! behind the flag), migrations and freeze overrides in the incident's
//! environment, most recent first, each with its offset, why it is a
//! suspect and the [`SuspectedCause`](crate::SuspectedCause) to declare.
//!
//! [`delivery_metrics`](crate::metrics::delivery_metrics) measures an
//! environment (optionally one service) over a window, period by period:
//! deployment frequency, lead time for changes (merged to first serving
//! there), change failure rate (deployments whose rollout or verification
//! failed, that were rolled back, or that were named — or brought the
//! change named — as an incident's cause; a release that brings a change
//! together with its revert does not count as bringing it), time to
//! restore (detected to mitigated) and time to detect (the suspect
//! deployment serving to detection). The report is serde-ready and renders
//! as a Markdown table with one Mermaid chart per metric.
//!
//! # 13. Running several replicas
//!
//! A platform team runs its recovery bot as two or three replicas, so that
//! losing one machine does not lose the bot in the middle of an incident,
//! and keeps years of history. Three things make that safe: one journal
//! every replica appends to, a lease per incident so that one replica at a
//! time acts on it, and snapshots so that a replica starts in time.
//!
//! **One journal, in the database.** `adapters::PostgresJournalStore`
//! (feature `postgres`, on `tokio-postgres`: the host runs a tokio runtime;
//! the core needs none) keeps each entry as its canonical line in
//! `knowngood_journal`, keyed by the journal's name and position, so one
//! table holds many journals. The schema comes from versioned migrations
//! the adapter ships (`adapters::postgres::MIGRATIONS`); they run only when
//! asked (`migrate()`, in one transaction under an advisory lock), and a
//! store on an unmigrated database says so on every call. Schema 2 keeps
//! snapshot bodies as compressed bytes (a 14 MB body arrives in a quarter
//! of the time text took); the adapter still works on schema 1
//! (`OLDEST_SCHEMA_VERSION`), so replicas are upgraded one at a time and
//! the database migrated after the last. Each append is
//! one transaction: the last stored position must be the writer's expected
//! length, the new entries must link onto the stored hash, the primary key
//! refuses a second writer that raced past the check, and a trigger refuses
//! `UPDATE` and `DELETE` on the table. A stale writer gets
//! [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) with nothing
//! written; its driver reads what it missed and decides the command again,
//! by itself, a few times at most ([`Driver::decided_again`](crate::Driver::decided_again)).
//! A commit whose reply was lost is an
//! [`ErrorKind::UnknownOutcome`](crate::ErrorKind::UnknownOutcome): the
//! next read says whether it happened. Reads come in bounded pages
//! ([`JournalStore::read_page`](crate::JournalStore::read_page); a start
//! reads [`startup::PAGE`](crate::startup::PAGE) entries at a time), never
//! an unbounded result set.
//!
//! **One replica acts on an incident.** Give the ports a
//! [`Leases`](crate::Leases) store and a lease length
//! ([`PortsBuilder::leases`](crate::PortsBuilder::leases);
//! `PostgresJournalStore::leases()` keeps them in `knowngood_leases`, with
//! expiries computed on the database's clock so replicas' clocks never
//! meet; [`InMemoryLeases`](crate::memory::InMemoryLeases) for replicas in
//! one process). Give each replica its own actor name: it is the lease's
//! holder, and effect outcomes record it (`EffectRecorded.by`), so the
//! journal says which replica performed each step. Then
//! [`Driver::drive`](crate::Driver::drive):
//!
//! - takes the lease on `incident/<id>` first, or stops with
//!   [`DriveError::LeaseHeld`](crate::DriveError::LeaseHeld) (who holds it,
//!   for how long at most) having done nothing;
//! - reads the store again whenever the lease changed hands since it last
//!   held it (the token changed), so it acts on what the other replica did;
//! - before every step and every port call, renews the lease once half of
//!   it is gone, counting from *before* it asked, on its own clock, and
//!   stopping a tenth of the lease early; when another replica holds it
//!   now, it stops with [`DriveError::LeaseLost`](crate::DriveError::LeaseLost)
//!   before acting. So a replica that loses its lease stops before another
//!   can start;
//! - lets go of the lease when it stops, however it stops (letting go
//!   expires the lease in place, so tokens never repeat).
//!
//! A replica that dies keeps its lease until the lease runs out: a standby
//! takes over within the lease's length (plus its own wait between tries)
//! and resumes from the journal. Choose the length as the longest pause you
//! accept (30 s unless set), longer than one port call usually takes. A
//! port call outlasting the lease can overlap a successor's: that is what
//! idempotency keys are for, so even then each effect happens once — the
//! tests kill a replica right after its deployer acted and before it could
//! record it, in threads and in separate processes, and find every effect
//! once and the journal the same as a single driver's, but for who
//! performed each step and when.
//!
//! A standby replica's loop:
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn standby(mut driver: knowngood::Driver, mut follower: knowngood::adapters::Follower) -> Result<(), knowngood::DriveError> {
//! use knowngood::{DriveError, DriveReport};
//! let incident = "INC-1".into();
//! loop {
//!     match driver.drive(&incident).await {
//!         Ok(DriveReport::Done { .. }) => break,
//!         Ok(paused) => println!("{paused}"), // a person's turn
//!         Err(DriveError::LeaseHeld { remaining, .. }) => {
//!             // Another replica acts: wait for news or for its lease to run out.
//!             let _ = tokio::time::timeout(remaining, follower.changed()).await;
//!         }
//!         Err(DriveError::LeaseLost { .. }) => {}
//!         Err(DriveError::Journal(e)) if e.kind() == knowngood::ErrorKind::Conflict => {}
//!         Err(other) => return Err(other),
//!     }
//!     driver.refresh().await?;
//! }
//! # Ok(()) }
//! # fn main() {}
//! ```
//!
//! **Each effect once: what each adapter guarantees, and what the host
//! provides.** A port call carries an idempotency key; after a crash, a
//! timeout or a hand-over to another replica the driver asks the port what
//! happened under the key before it acts again, and never guesses. That
//! holds across processes and machines only where the answer is kept where
//! every replica can read it:
//!
//! | adapter | what it keeps, and where | what the host provides |
//! | --- | --- | --- |
//! | `git` | a `Knowngood-Key:` trailer in each commit, and a key ref (`refs/knowngood/…`) pushed to the remote in one atomic push with the branch move; every call fetches heads, tags and key refs first | a remote every replica can push to and fetch from (with `--atomic` pushes: any current git server) |
//! | `flagd` | the flag's last key and revision in its own metadata, written with the flag; every key in a sidecar; writers take turns under `<file>.knowngood-lock` | one flag file (per environment) that every replica writes through this adapter |
//! | `command` | a deploy's (or a runbook's) intent before it runs and its end after, in the outcomes directory; the command's whole process group waited for and stopped on timeout | deploy scripts idempotent per `KNOWNGOOD_KEY`, and an `outcome` command that says what ran under a key: it is asked about every key this machine has no finished record of, so each replica may keep its own outcomes directory (without one, the outcomes directory must be shared, and a key whose end was not recorded stays unknown and the driver stops for a person) |
//! | `file-journal` | a batch written to `<file>.batch` before the journal, completed from it after a crash | one file on a file system whose locks every writer honours (not most network file systems) |
//! | `sqlite`, `postgres` | a batch in one transaction | the database |
//!
//! A replica whose clock is a little behind the journal stamps its commands
//! with the journal's last event time (five minutes of skew unless
//! [`Driver::tolerate_clock_skew`](crate::Driver::tolerate_clock_skew)
//! says otherwise); one further behind is refused, since time only moves
//! forward. [`Driver::resume`](crate::Driver::resume) refuses an empty
//! store: a misspelt journal name never starts a second history.
//!
//! A driver holding a lease hands it with every journal append
//! ([`JournalStore::append_fenced`](crate::JournalStore::append_fenced),
//! [`Fence`](crate::Fence)); the `PostgreSQL` store, whose
//! `leases()` keep the leases in the same database, refuses an append from
//! a holder whose lease expired or passed to another replica, in the same
//! transaction, so a replica paused past its lease records nothing once
//! woken. (Give a `PostgreSQL` store the leases of its own `leases()`.)
//!
//! The lease covers a whole deploy or abort: a deployer that says how long
//! a call may run ([`Deployer::longest_call`](crate::port::Deployer::longest_call);
//! the command deployer answers its timeout) gets the lease held that long
//! plus the lease's own length before the call starts, so no other replica
//! takes over while it runs.
//!
//! **Proved by killing it.** `tests/replica_kill_points.rs` runs this set-up
//! as a platform team would: replicas as separate processes, each with its
//! own git clone and outcomes directory, the `PostgreSQL` journal and
//! leases, one flagd file, deploy scripts slower than the lease. For a
//! revert, a rollback and a retoggle, one replica is killed (SIGKILL) at
//! every kill point in turn — just before and just after every call that
//! acts or records, during `git push` (landing or refused) and during each
//! deploy script (which runs on as an orphan) — and two more, with clocks
//! two minutes behind and ahead, finish the plan. Every run: each deploy
//! key ran its script once, the origin holds one revert, the flag was
//! written once, no replica stopped for a person, and the journal equals a
//! lone replica's apart from who did what when.
//! `testkit::tripwire` (feature `testkit`) gives your own test suite
//! the same kill points around your own adapters.
//!
//! The lease is handed to the deployer too
//! ([`Deployer::deploy_fenced`](crate::port::Deployer::deploy_fenced),
//! `abort_fenced`; the command deployer passes it to the host's command
//! as `KNOWNGOOD_FENCE`, `KNOWNGOOD_HOLDER` and `KNOWNGOOD_LEASE`, and the
//! in-memory one refuses a token lower than one it has seen). A holder
//! refused for a stale lease records nothing: the driver asks the lease
//! store again and stops with `DriveError::LeaseLost`. Git and flagd need
//! no token: every call there is a compare-and-swap (the expected head,
//! the expected revision), so a stale holder's call conflicts once another
//! has acted, and finds the other's result under the shared key before
//! that.
//!
//! What does not hold yet: the lease is not renewed *during* a call (the
//! driver has no timer of its own; it holds the lease long enough for the
//! longest call instead), so a replica paused (not dead) in the middle of a
//! call for longer than that can finish it after another took over; the
//! keys, the compare-and-swaps and a host that checks the fence keep that
//! from being done twice.
//!
//! **Followers see new entries as they land.** `PostgresJournalStore::follow()`
//! listens on the `knowngood_journal` channel, which every append notifies
//! on commit with the journal's new length: a dashboard or a standby waits
//! for `changed()` and then reads only what is new
//! ([`Driver::refresh`](crate::Driver::refresh),
//! [`Ledger::catch_up`](crate::Ledger::catch_up)). Follow first, then read:
//! a notification sent before the follower listened is not repeated.
//!
//! **Snapshots make a long history start fast.** A
//! [`Snapshot`](crate::Snapshot) is the state at a journal position with
//! the stream versions and the hash there, sealed on the journal's chain
//! (so a keyed chain makes it unforgeable too).
//! [`Driver::write_snapshot`](crate::Driver::write_snapshot) stores one (the
//! file store in `<file>.snapshots/`, `SQLite` and `PostgreSQL` in a table;
//! each keeps the newest three unless told), or
//! [`Driver::snapshot_every`](crate::Driver::snapshot_every) has the driver
//! write one by itself every few thousand entries. [`Driver::resume_with`](crate::Driver::resume_with) and
//! [`open_ledger`](crate::open_ledger) with
//! [`Startup::Snapshot`](crate::Startup::Snapshot) start from the newest
//! snapshot that checks out — its seal holds, its format is known, and the
//! journal holds an entry with its hash at its position — plus the entries
//! after it. One that does not check out is never trusted: it is passed
//! over, named with why in [`StartReport::ignored`](crate::StartReport)
//! (and as a `tracing` warning), and the next older one is tried, down to a
//! full replay. A snapshot start also holds no history in memory: the
//! journal keeps its length, last hash and stream versions, and only the
//! entries appended since (let go again at each snapshot written), so
//! [`suspects`](crate::suspects) and [`metrics`](crate::metrics), which
//! read history, belong on a [`Startup::Replay`](crate::Startup::Replay)
//! ledger. The file store reads a long file lazily when opened with
//! `FileJournalStore::open_lazily` (the end only; earlier lines when asked
//! for); the property test replays random drills' journals in full and from
//! a snapshot at every kind of position and finds the same state.
//!
//! `benches/replicas.rs` measures all of this (append latency and
//! throughput on `PostgreSQL`, start-up from about a million events on
//! each store, memory per event); `benches/README.md` has the figures. On
//! the project's 2-core machine, from a million events, a snapshot plus
//! the 1,000 entries after it start a ledger in 61 ms (file), 64 ms
//! (`SQLite`) and 91 ms (`PostgreSQL`), against 5 to 7.6 s to replay
//! everything, and the ledger holds about 71 bytes per event.
//!
//! # 14. Finding your way: rooms and floors
//!
//! One idea per file, one room per folder, and floors that point one way:
//! a file imports only files on its own floor or below, never in a circle
//! (`tests/floors.rs` reads `src/` and fails on a circle, naming it). From
//! the ground up:
//!
//! | floor | room | what lives there |
//! | --- | --- | --- |
//! | 0 | `model/` | plain data: ids, services, commits and changes, artifacts and releases, environments and the slots releases run in, the pipeline, flags, freezes, schemas, the policy, the host's runbooks |
//! | 1 | `machine/` | the core: `command`, `event` (and `stream`, the journal stream an event belongs to), `effect` (effects and keys), `rules` (one command's own rules), `deploy`, `gates`, `fit`, `response` (incident rules), `incident_apply` (how incident events change the state), `follow_ups` (obligations, closed on evidence), `planned` (what ships beyond a plan), `cause` (pinning an incident to a change), `runbooks` (the host's runbooks, rule `runbook-applies`), `remediation` (the remediation policy's rules), `known_good` (last-known-good sets and how an environment differs from one), `kept` (the records the state keeps beside the histories), `packed` (rollout histories as a snapshot writes them: a row of small numbers per deployment), `decide` (the judge: a choice is also rehearsed step by step), `rehearse` (dry runs, built on the rules), `steps` (what a plan's steps make), `apply`, `state`, `history`, `incident`, `lifecycle`, `target`, `rejection`, `contents`, `cow`, `describe` |
//! | 1 | `error` | the rejections, named where they always were |
//! | 2 | `journal/`, `migration`, `recovery/`, `analysis/` | the journal (`chain`, `jsonl`, `snapshot`), schema plans, the planner (`option`, `assess/`: `rollback`, `forward`, `runbook`, `estimate`), metric analysis (`judge`: Argo Rollouts' rules; `compare`: baseline against canary) |
//! | 3 | `ledger`, `rollout`, `retro`, `suspects`, `port/` | state and journal in step; gradual rollouts; retros; suspects; the ports, one file each (`vcs`, `deployer`, `flags`, `health`, `metrics`, `migrations`, `runbooks`, `builder`, `journal`, `leases`, `clock` with [`SystemClock`](crate::SystemClock), `error`, `ports`) |
//! | 4 | `picture`, `startup`, `memory/`, `adapters/`, `testkit/` | pictures; starting a ledger from a store ([`StartError`](crate::StartError); a snapshot's seal checked while its body is read in two halves at once); the in-memory adapters (one file per port, plus `clock` and `executor`); the real adapters (`postgres/` with `body.rs`, a snapshot body compressed, `file_journal/`, `git/`, `command/` and `flagd/` are folders; `command/process.rs` runs one host command, `flagd/splice.rs` changes one flag in a file's text; `analysis_probe` judges an analysis as a health probe, `prometheus` reads metrics); the conformance suite (one file per port, `replicas.rs`, its two-replica half, `hostile.rs` and `outsiders.rs`) and `tripwire` (kill points) |
//! | 5 | `metrics`, `driver/` | delivery metrics; the driver: `mod` (start, resume, refresh, execute), `drive` (the drive loop and each step), `calls` (port calls, asked about before acting again, reconciled), `branches`, `ship`, `deliver` (a build along its lane to production, baked, in waves), `remediate` (the remediation policy's turn on a failed verification), `detect` (detection without a person), `promote` (what a plan shipped, deployed on to production elsewhere), `flags` (a flag set; a gradual rollout driven), `migrate` (migrations through the migrator), `hotfix_lane`, `lease`, `snapshots`, `sync` (what landed on a branch), `error`, `report` |
//! | 6 | `drill/` | `text` (a drill told in plain text, for every runner), `run/` (running a scenario: `history`, `driven` (history steps the driver carries out: a gradual rollout, a migration), `incident` (declared or detected; the way back to normal), `response`, `checks`), `world`, `faults/` (the seeded faults and the faulty ports), `invariants`, `scenario`, `builder`, `report`, `explore` |
//!
//! So "where does the driver renew its lease?" is `driver/lease.rs`, and
//! "what does the in-memory flag store do?" is `memory/flags.rs`.
//!
//! Above them all, `bin/knowngood/` is the command (chapter 17), built
//! on the public API only: `main` (arguments, exit codes), `config`
//! (`knowngood.toml`), `open` (stores, ports, the driver), `out` (text,
//! colour, JSON), `fail` (exit codes), `status`, `delivery`, `incident`,
//! `reports`.
//!
//! Outside `src/`: `tests/` (one concept per file), `benches/`,
//! `examples/`, and `interop/flagd`, a crate of its own that judges the
//! flagd adapter with the `OpenFeature` project's flagd provider and flagd's
//! schema (kept out of the main build: the provider needs `protoc`;
//! `.ci/run` runs it).
//!
//! # 15. Verification and analysis: evidence before victory
//!
//! Nothing is *known good*, *verified* or *mitigated* without a
//! measurement recorded in the journal.
//!
//! **Every Verify step measures.** The driver asks the health probe after
//! every step that changes what serves: a deploy, a rollback, an abort, a
//! flag turned off. A revision known good before the step (the one a flag
//! went off on, the one an abort returned to) is measured again all the
//! same; an unhealthy answer fails the step, so the plan is not done and
//! the incident not mitigated. A healthy answer is the step's evidence,
//! kept with its outcome (and, for a revision being verified, with the
//! verdict: [`EventKind::DeploymentVerified`](crate::EventKind)'s
//! `evidence`). An abort is reconciled with the deployer's status, as a
//! deploy is: what the core says serves again must be what
//! [`Deployer::status`](crate::port::Deployer::status) reports, or the
//! drive stops ([`DriveError::Diverged`](crate::DriveError)).
//!
//! **Analysis.** A host's probe can be one yes/no, or an
//! [`Analysis`](crate::analysis::Analysis) judged on a
//! [`Metrics`](crate::port::Metrics) source by
//! [`AnalysisProbe`](crate::adapters::AnalysisProbe). Each
//! [`MetricCheck`](crate::analysis::MetricCheck) has a query (with
//! `{environment}`, `{service}`, `{release}` filled in), a success and a
//! failure [`Condition`](crate::analysis::Condition), and limits. The
//! rules are Argo Rollouts' ([`judge`](crate::analysis::judge)):
//!
//! | rule | what it says |
//! | --- | --- |
//! | assess-measurement | failure condition first; then success; neither of two is inconclusive; missing the only success condition fails; no value is an error |
//! | failure-limit | one failed measurement more than the limit fails the metric at once |
//! | inconclusive-limit | one inconclusive more than the limit asks a person |
//! | consecutive-error-limit | one error more than the limit, in a row, is an error; a value resets the run |
//! | count | successful once `count` measurements are in within the limits; running before |
//! | dry-run | judged and reported, never deciding |
//! | analysis-phase | failed, else error, else inconclusive, else running, else successful; the first deciding metric with the worst phase decided |
//!
//! The probe looks back from the clock's now: each metric's `count`
//! instants, `interval` apart, ending now, read with one range query; an
//! instant without a value is an error measurement. Healthy means the
//! analysis is successful; running, inconclusive and error are not
//! healthy, and say which they are. The verdict's words carry the values,
//! the conditions and the metric that decided, so the journal holds the
//! numbers behind every verdict.
//!
//! **Baseline against canary.** [`compare`](crate::analysis::compare)
//! judges a canary's samples of a metric against the known-good
//! baseline's over the same window, as Kayenta does: a Mann–Whitney U test
//! (tie and continuity corrections) toward the metric's bad direction, and
//! an allowed effect (how much worse the canary's median may be). It fails
//! only when the difference is both significant and larger than allowed,
//! and says by how much, with what p-value, or that it could not tell.
//!
//! The driver names the baseline: when it records the verdict on a new
//! revision and a known-good revision of another release served before it
//! there, it asks
//! [`HealthProbe::verify_against`](crate::port::HealthProbe::verify_against)
//! instead of `verify` (a probe that does not compare answers as
//! `verify`). An [`AnalysisProbe`](crate::adapters::AnalysisProbe) given
//! [`comparing`](crate::adapters::AnalysisProbe::comparing) compares the
//! release's samples of each compared metric with the baseline's over the
//! same instants; it is healthy only when the analysis succeeds and every
//! comparison was made and passes. A baseline with too few samples (it no
//! longer serves anywhere the source sees) is not healthy either: compare
//! a canary running beside its baseline, as Kayenta does.
//!
//! **Sources.** [`InMemoryMetrics`](crate::memory::InMemoryMetrics)
//! replays scripted [`Series`](crate::memory::Series) (a step at a deploy,
//! a slow ramp, noise, a flapping source, a missing series) for drills and
//! tests; feature `prometheus` adds `PrometheusMetrics` on Prometheus' HTTP
//! query API, tested against a real server.
//!
//! **Detection without a person.** With
//! [`Policy::auto_declare`](crate::Policy) set to a severity, a production
//! deployment the driver measures unhealthy, outside any incident and with
//! none open there, becomes an incident the driver declares itself: the
//! failed verification and the suspects of the last day in its summary,
//! the deployment as the suspected cause, the impact beginning when the
//! deployment began to serve
//! ([`Command::DeclareIncident`](crate::Command)'s `impact_began`), and
//! time to detect measured from then.
//!
//! **Migrations wait for verification.** A data migration or a contract
//! is refused while the release serving there is not verified, or a
//! rollout is in flight (`migration-before-verification`).
//!
//! **Mitigated needs a measurement.** The core refuses
//! [`Command::MarkMitigated`](crate::Command) (`not-yet-mitigated`) until
//! something measured the service healthy since the plan began: a
//! verification of the revision serving now, or the plan's own Verify step
//! recorded as succeeded (the driver records it when it drives the plan; a
//! host driving by hand records its measurement with
//! [`Command::RecordEffect`](crate::Command)). A flag turned off or an
//! abort back to a revision known good before is therefore never
//! "mitigated" on the strength of an old verdict.
//!
//! **In drills.** A scenario's `[metrics]` gives an analysis and a series
//! per release and metric ([`DrillMetrics`](crate::drill::DrillMetrics)):
//! the driver's health probe then measures, the verdicts and their numbers
//! land in the drill's journal, and a drill whose incident ends mitigated
//! while the release serving there measures unhealthy fails
//! (`examples/scenarios/measured-rollback.toml`). `in_environment` gives
//! series that differ in one environment (production load, say), and
//! `[[metrics.compare]]` judges each new release against its baseline. A
//! `deliver` history step has the driver ship a release through
//! environments, measuring each deployment; with the policy's
//! `auto_declare` and `[incident] automatic = true`, no one declares the
//! incident: the drill fails unless the driver detected it, naming the
//! scenario's cause (`examples/scenarios/canary-against-baseline.toml`: a
//! release 45 % slower in production, under its latency threshold, caught
//! by the comparison alone).
//!
//! # 16. Everyday delivery
//!
//! Incidents come from the everyday path, so the library drives it too,
//! with the same rules, keys and evidence as a recovery.
//!
//! **Build once, with a manifest.** The builder answers a
//! [`BuildManifest`](crate::port::BuildManifest): the artifact and the
//! release it makes (its configuration revision, schema range and
//! requirements), so the core's schema and requirement rules judge what
//! was really built. [`CommandBuilder`](crate::adapters) (feature
//! `command`) runs the host's build command and reads the manifest it
//! prints; a builder that cannot build on demand gets no plan that
//! builds. The artifact is then promoted as-is (§4).
//!
//! **Bake time.** The policy's `bake_seconds` holds a release in an
//! environment before it moves on (rule `bake-time`): it must have served
//! verified there that long (its longest stretch from verification to
//! its end, or to now while it serves). A soak in staging, or one
//! production region before the others: a production environment fed by
//! another in the pipeline (`prod-eu → prod-us`) is a later wave. The
//! refusal says when it will have baked. A step of an incident's recovery
//! plan is never held by it.
//!
//! **One call for the everyday path.**
//! [`Driver::deliver`](crate::Driver::deliver) takes a build along its
//! lane to every production environment the lane leads into, in waves
//! ([`Pipeline::delivery_path`](crate::Pipeline::delivery_path)): each
//! stage shipped under its own key and verified, held for its bake time,
//! then promoted; the hotfix lane kept after each production deployment.
//! A stage the release passed already is not deployed again. It answers
//! [`Delivered`](crate::Delivered): done, waiting (approvals, the bake
//! time with the moment it ends) or stopped at a stage that failed; call
//! it again with the same key after a crash, once approvals are in, or
//! once the bake time has passed, and it goes on without deploying
//! anything twice.
//!
//! **Automatic remediation.** The policy's `remediation` names, per
//! environment, what the driver may do by itself when a deployment there
//! fails its verification ([`RemediationPolicy`](crate::RemediationPolicy):
//! by default abort, roll back or retoggle; at most once per release and
//! three times an hour). The driver declares the incident (the failed
//! measurement as its evidence, the deployment as its suspected cause),
//! plans, and sends [`Command::Remediate`](crate::Command::Remediate) with
//! the best-ranked option the policy allows; the core judges it like any
//! choice, after the policy's own rules: `remediation-allowed` and the
//! loop guard `remediation-limit`. It is journaled as the policy's
//! decision with its evidence (`remediation_decided`, in the retro), then
//! driven; the incident is marked mitigated only on the plan's
//! measurements. A crash in between is carried on the next time the
//! shipment's key is shipped. Past a limit, or with no allowed option
//! that applies, the driver hands over: the failure says why and the
//! incident waits, detected, for a person and the ranked plan. A freeze
//! holds it like any change, unless the policy says `during_freeze`: its
//! choice then carries a freeze override, which the core accepts only
//! when the driver's actor holds a freeze-override role, and audits.
//!
//! **Last-known-good sets.** Each time an environment is verified
//! healthy as a whole (every service there serving a release verified
//! known good, after a verdict or a healthy flag measurement), the state
//! keeps what it ran: each service's release and revision, the flags'
//! states, the schema versions, numbered from 1
//! ([`State::known_good_sets`](crate::State::known_good_sets), the newest
//! [`KNOWN_GOOD_SETS_KEPT`](crate::KNOWN_GOOD_SETS_KEPT); a set holding
//! the same as the newest is not kept twice). They are rebuilt from the
//! journal like everything else.
//! [`State::differences_from_set`](crate::State::differences_from_set)
//! says how the environment differs now from any of them. Planning with
//! [`PlanRequest::return_to_set`](crate::PlanRequest::return_to_set)
//! makes the rollback option return the incident's environment to a set:
//! every service serving something else rolled back to the set's revision
//! (dependants first, a down-migration first where the set ran an older
//! schema), every flag set back, each verified; the core judges every
//! step, so a contract migration or an expired artifact in the way is
//! its refusal, named in the option.
//!
//! # 17. The command: `knowngood` for the people on call
//!
//! `cargo install knowngood --features cli` (from a checkout:
//! `cargo install --path . --features cli`) gives the `knowngood` command,
//! a thin layer over this crate's public API: everything it does, a host
//! can do the same way (its code is `src/bin/knowngood/`, one file per
//! group of commands). Feature `cli` adds `clap`, `clap_complete` and
//! `tracing-subscriber` and turns on every real adapter; the library's
//! default dependencies do not grow.
//!
//! **One file, `knowngood.toml`** (`knowngood init` writes a commented
//! starting point; `--config` or `KNOWNGOOD_CONFIG` names another). Paths
//! in it are relative to its directory, where every command and every
//! script runs. Unknown keys are refused; every bad value is an error that
//! names the file, the key and what is expected (exit code 2).
//!
//! | key | what |
//! | --- | --- |
//! | `actor` | who acts when neither `--as` nor `KNOWNGOOD_ACTOR` says (else `$USER`) |
//! | `snapshot_every` | a snapshot every this many entries (default 1,000; 0 never) |
//! | `[journal]` | `store` (`file`, `sqlite`, `postgres`), `path` (file and `SQLite`), `url_env` and `name` (`PostgreSQL`: the variable holding the connection string, the journal's name), `chain`, and `key_env` for a keyed chain |
//! | `[pipeline]` | [`PipelineSpec`](crate::PipelineSpec) as data: `environments` (`id`, `role`) and `promotions` (`from`, `to`, `lane`) |
//! | `[policy]` | [`Policy`](crate::Policy) as data; unset keys default |
//! | `[[services]]` | `name`, `repository` (a git repository), `branch` (default `main`) |
//! | `[git]` | `remote` (pushes go there), `author_name`, `author_email` |
//! | `[flags]` | a flagd file per environment |
//! | `[deploy]` | `command`, `status`, optional `outcome` and `abort` (`adapters::CommandSpec`s: `program`, `args`, `timeout_seconds`), `outcomes` (a directory) |
//! | `[health]` | `command` (exits 0 when healthy), or `analysis` (an [`Analysis`](crate::analysis::Analysis) judged on `[prometheus]`) |
//! | `[build]` | `command` (prints the manifest last; `adapters::CommandBuilder`), optional `outcome`, `outcomes` |
//! | `[prometheus]` | `url`, `timeout_seconds` |
//!
//! Commands that act record the configured pipeline, policy and services
//! first where the journal does not hold them as configured (the core
//! judges that too). A `PostgreSQL` journal's tables are made by
//! `knowngood journal migrate`, never behind the operator's back.
//!
//! **Commands.** `status` (each environment: what serves, its revision,
//! since when, verified or not and by what measurement, what awaits
//! approval and who may give it, drift both ways, the gate and why it is
//! closed, freezes, flags; each open incident with what holds its gate,
//! its follow-ups and the next command); `sync` (what landed on each
//! service's branch, from git; the first time, the branch is followed
//! from its head, [`Driver::follow`](crate::Driver::follow)); `build`
//! ([`Driver::build`](crate::Driver::build)); `ship` (one environment);
//! `promote` (along the lane to production, [`Driver::deliver`](crate::Driver::deliver); held by bake time and approvals it exits 3 saying when to run it again, or with `--wait` waits, saying what for);
//! `flag` (judged by the core before the flagd file changes); `freeze`,
//! `unfreeze`, `approve`; `declare`, `suspects`, `plan` (the ranked
//! options as a table: applicable or why not, the estimate and its basis,
//! the cost to the team, the risks, and why the first wins), `choose`
//! (`--then` chooses the resolving option up front), `drive`, `resolve`
//! (closes the follow-ups the journal proves done, resolves, then closes
//! the gate's), `retro` (Markdown; `--record` records it held), `metrics`,
//! `graph` (the pipeline in DOT or Mermaid, a plan or a timeline in
//! Mermaid), `journal verify` (every entry from the first, never a
//! snapshot), `drill` (the drill example's runner), `completions`.
//!
//! **`drive` is resumable.** Killed at any moment, it is run again: each
//! port call is asked about under its key before it is made again, so a
//! deploy still running when the command died is answered by the host's
//! `outcome` command, not repeated. It waits for approvals, saying for
//! whom, until they come (`--no-wait`: exit 3 instead); when the plan's
//! steps are done it marks the incident mitigated if the core accepts it
//! on the plan's measurements, and says the next command
//! ([`WayBack::step`](crate::WayBack::step)).
//!
//! **For people and for scripts.** Plain text on stdout, with colour only
//! on a terminal and never with `NO_COLOR`; `--json` on every command that
//! reports (an error is then `{"error", "exit"}` on stdout too); the
//! driver's progress (each step, each port call, each measurement, what it
//! waits for) on stderr, `--quiet` without it.
//!
//! **Exit codes.** 0 done; 1 refused by a rule (nothing was done); 2 bad
//! input (arguments, configuration, an unknown name); 3 waiting for a
//! person (approvals, a paused step, a branch that moved, an outcome
//! nobody can tell); 4 a port failed (a deploy, a build, the store; what
//! is known is in the journal: run the command again to go on); 5 the
//! journal does not verify.
