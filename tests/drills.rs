//! Incident drills: shipped scenarios pass, wrong expectations fail
//! readably, the same seed gives the same journal, malformed files get
//! clear errors, and exploration over many seeds finds no failure.

use std::path::{Path, PathBuf};

use knowngood::drill::{BUILT_IN, Scenario, explore, run};

mod common;

fn built_in() -> Scenario {
    Scenario::from_json(BUILT_IN, "built-in").unwrap()
}

fn shipped() -> Vec<(PathBuf, Scenario)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let s = Scenario::load(&p).unwrap_or_else(|e| panic!("{e}"));
            (p, s)
        })
        .collect()
}

fn failures_of(report: &knowngood::drill::DrillReport) -> String {
    format!(
        "{}\n--- log ---\n{}",
        report.failures.join("\n"),
        report.log.join("\n")
    )
}

#[test]
fn drill_estimates_hold_the_chosen_options_time_is_simulated_and_compared() {
    for (path, scenario) in shipped() {
        let report = run(&scenario, 1);
        let restore = report
            .restore
            .unwrap_or_else(|| panic!("{}: no restore time", path.display()));
        assert!(restore.held(), "{}: {restore}", path.display());
    }
    // Waiting for Bob's build: the QA time left (under 10 min), then the
    // fix (30 min), then dev, QA and prod (10 + 60 + 10 min): simulated
    // exactly so.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    let wait = Scenario::load(&dir.join("bob-in-qa-wait.toml")).unwrap();
    let restore = run(&wait, 0).restore.unwrap();
    assert_eq!(restore.strategy, knowngood::Strategy::Wait);
    assert_eq!(restore.simulated, restore.estimated, "{restore}");
    let qa_left = restore.estimated - (1800 + 600 + 3600 + 600);
    assert!(qa_left <= 600, "{restore}");
}

#[test]
fn drill_estimates_a_difference_beyond_the_tolerance_fails() {
    use knowngood::Strategy::Wait;
    use knowngood::drill::RestoreTime;
    // A tenth of the estimate...
    assert!(RestoreTime::new(Wait, 3000, 3300).held());
    assert!(RestoreTime::new(Wait, 3000, 2700).held());
    assert!(!RestoreTime::new(Wait, 3000, 3301).held());
    // ... and never less than two minutes.
    assert!(RestoreTime::new(Wait, 60, 180).held());
    assert!(!RestoreTime::new(Wait, 60, 181).held());
}

#[test]
fn drill_every_shipped_scenario_passes() {
    let scenarios = shipped();
    assert!(scenarios.len() >= 6, "{} scenarios", scenarios.len());
    for (path, scenario) in &scenarios {
        for seed in 0..8 {
            let report = run(scenario, seed);
            assert!(
                report.passed(),
                "{} seed {seed}:\n{}",
                path.display(),
                failures_of(&report)
            );
        }
    }
    for seed in 0..8 {
        let report = run(&built_in(), seed);
        assert!(
            report.passed(),
            "built-in seed {seed}:\n{}",
            failures_of(&report)
        );
    }
}

#[test]
fn drill_with_a_wrong_expectation_fails_with_a_readable_difference() {
    let mut scenario = built_in();
    scenario.expect.top = Some(knowngood::Strategy::Hotfix);
    scenario.expect.serving = Some("payments@9.9.9".into());
    // Stop at the rollback, so that what serves is the release it restored.
    scenario.expect.resolve_with = None;
    let report = run(&scenario, 1);
    assert!(!report.passed());
    assert!(
        report
            .failures
            .iter()
            .any(|f| f == "expected top option hotfix, got rollback"),
        "{:?}",
        report.failures
    );
    assert!(
        report.failures.iter().any(|f| f.starts_with(
            "expected `payments@9.9.9` serving in `prod`, got Some(ReleaseId(\"payments@1.4.1\"))"
        )),
        "{:?}",
        report.failures
    );
}

#[test]
fn drill_same_seed_same_journal_byte_for_byte() {
    for (_, scenario) in shipped() {
        let a = run(&scenario, 42);
        let b = run(&scenario, 42);
        assert_eq!(a.journal_jsonl(), b.journal_jsonl(), "{}", scenario.name);
        assert_eq!(a.log, b.log);
    }
}

#[test]
fn drill_malformed_scenario_files_get_clear_errors() {
    let err = Scenario::from_json("{\"format\": 1, \"name\": \"x\"}", "missing.json").unwrap_err();
    assert!(err.to_string().starts_with("missing.json: line 1"), "{err}");
    assert!(
        err.to_string().contains("missing field `pipeline`"),
        "{err}"
    );

    let wrong_type = BUILT_IN.replace("\"build\": 41", "\"build\": \"forty-one\"");
    let err = Scenario::from_json(&wrong_type, "wrong-type.json").unwrap_err();
    assert!(err.to_string().contains("wrong-type.json: line"), "{err}");
    assert!(
        err.to_string()
            .contains("invalid type: string \"forty-one\", expected u64"),
        "{err}"
    );

    let unknown_env = BUILT_IN.replace("\"through\": [\"dev\", \"qa\", \"prod\"] },\n    { \"step\": \"merge\", \"change\": \"PR-42\"", "\"through\": [\"dev\", \"staging\", \"prod\"] },\n    { \"step\": \"merge\", \"change\": \"PR-42\"");
    let err = Scenario::from_json(&unknown_env, "unknown-env.json").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown-env.json: history step 3 (field `history[2]`): unknown environment `staging`"
    );

    let cyclic = BUILT_IN.replace(
        "{ \"from\": \"qa\", \"to\": \"prod\" }",
        "{ \"from\": \"qa\", \"to\": \"prod\" }, { \"from\": \"prod\", \"to\": \"dev\" }",
    );
    let err = Scenario::from_json(&cyclic, "cyclic.json").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cyclic.json: field `pipeline`: promotion paths form a cycle"),
        "{err}"
    );

    let toml_err = Scenario::from_toml("format = 1\nname = 3\n", "bad.toml").unwrap_err();
    assert!(toml_err.to_string().starts_with("bad.toml: "), "{toml_err}");
    assert!(toml_err.to_string().contains("name"), "{toml_err}");

    let err = Scenario::load(Path::new("no/such/file.toml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no/such/file.toml: cannot be read"),
        "{err}"
    );
}

/// The number of drills to explore: `KG_DRILLS` (default 100, what a debug
/// build runs in seconds; `.ci/run` explores 1000).
fn drills() -> u64 {
    std::env::var("KG_DRILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

#[test]
fn drill_exploration_over_many_seeds_finds_no_failure() {
    let mut scenarios: Vec<Scenario> = shipped().into_iter().map(|(_, s)| s).collect();
    scenarios.push(built_in());
    // `KG_SEED` replays one seed.
    let (first, count) = match std::env::var("KG_SEED").ok().and_then(|v| v.parse().ok()) {
        Some(seed) => (seed, 1),
        None => (0, drills()),
    };
    let found = explore(&scenarios, first, count);
    assert_eq!(found.drills, count);
    assert!(
        found.nondeterministic.is_empty(),
        "seeds with differing journals: {:?}",
        found.nondeterministic
    );
    eprintln!(
        "{count} drills (each twice); faults injected: {:?}; fallbacks: {}",
        found.faults, found.fallbacks
    );
    if count >= 200 {
        // The exploration really meets every seam it claims to cover.
        for kind in [
            "unavailable",
            "timeout before acting",
            "timeout after acting",
            "duplicate delivery",
            "latency",
            "degraded health",
            "crash at a journal write",
            "failed journal append",
            "clock jump before a resume",
            "concurrent push",
            "late approval",
        ] {
            assert!(
                found.faults.get(kind).is_some_and(|n| *n > 0),
                "no `{kind}` fault was injected: {:?}",
                found.faults
            );
        }
    }
    if let Some((seed, failure)) = found.failing.iter().next() {
        panic!(
            "{} of {count} drills failed; first: seed {seed}: {failure}\nreplay: KG_SEED={seed} cargo test --all-features --test drills drill_exploration",
            found.failing.len()
        );
    }
}

/// No production path reads a test switch: to prove the drill invariants
/// catch a broken rule, the rule is broken where a broken core would break
/// it — in the journal — by writing an event past the core.
#[test]
fn drill_invariants_catch_a_poisoned_release_written_past_the_core() {
    use knowngood::drill::Invariants;
    use knowngood::{Event, EventKind, ExpectedVersion, Ledger, Revision, Slot};
    let w = common::bad_commit_in_production(knowngood::Policy::default());
    let mut journal = w.ledger.journal().clone();
    let mut invariants = Invariants::new();
    assert_eq!(
        invariants.check(&journal, w.ledger.state()),
        Vec::<String>::new(),
        "the honest journal keeps every invariant"
    );
    // Build 2 carries the poisoned PR-2; the core would refuse this request.
    let mut copy = w.ledger.clone();
    let refused = copy.execute(
        &knowngood::Command::deploy("prod", common::release_id(2), "eve"),
        common::t(500),
    );
    assert!(refused.is_err());
    let forged = Event::new(
        common::t(500),
        EventKind::DeploymentRequested {
            slot: Slot::new("prod", common::SERVICE, Revision(3)),
            release: common::release_id(2),
            by: "eve".into(),
            effect: None,
        },
    );
    let stream = forged.stream();
    let version = journal.stream_version(&stream);
    journal
        .append(&stream, ExpectedVersion::Exactly(version), vec![forged])
        .unwrap();
    let live = Ledger::from_journal(journal.clone()).unwrap();
    let broken = invariants.check(&journal, live.state());
    assert!(
        broken
            .iter()
            .any(|b| b.contains("entered `prod` carrying a poisoned change")),
        "{broken:?}"
    );
}

fn shipped_named(name: &str) -> Scenario {
    shipped()
        .into_iter()
        .map(|(_, s)| s)
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario `{name}`"))
}

#[test]
fn drill_fallback_shows_in_the_verdict_and_fails_unless_the_scenario_allows_it() {
    let allowed = shipped_named("rollback-allowed");
    assert!(allowed.expect.fallback_allowed);
    // A seed where health degrades after the rollback: the drill falls back.
    let seed = (0..200)
        .find(|s| !run(&allowed, *s).fallbacks.is_empty())
        .expect("some seed degrades health");
    let report = run(&allowed, seed);
    assert!(report.passed(), "{}", failures_of(&report));
    let fallback = &report.fallbacks[0];
    assert_eq!(fallback.failed, knowngood::Strategy::Rollback);
    assert!(
        fallback.why.contains("unhealthy") || fallback.why.contains("failed its verification"),
        "{fallback}"
    );
    assert!(
        report.verdict().starts_with("PASS; rollback failed"),
        "{}",
        report.verdict()
    );
    // The same drill where the team would not accept a fallback fails.
    let mut strict = allowed.clone();
    strict.expect.fallback_allowed = false;
    let report = run(&strict, seed);
    assert!(!report.passed());
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.contains("fell back to") && f.contains("does not allow fallbacks")),
        "{}",
        failures_of(&report)
    );
    assert!(report.verdict().starts_with("FAIL; rollback failed"));
}

/// A builder whose manifest names its build after a release registered
/// already (with another artifact): the core refuses to record it,
/// mid-plan.
#[derive(Debug)]
struct LyingBuilder(knowngood::memory::InMemoryBuilder);

#[async_trait::async_trait]
impl knowngood::port::Builder for LyingBuilder {
    fn capabilities(&self) -> knowngood::port::BuilderCapabilities {
        self.0.capabilities()
    }
    async fn build(
        &self,
        key: &knowngood::recovery::IdempotencyKey,
        service: &knowngood::ServiceId,
        commit: &knowngood::CommitId,
    ) -> Result<knowngood::port::BuildManifest, knowngood::port::AdapterError> {
        let built = self.0.build(key, service, commit).await?;
        Ok(built.named("payments@1.1.0"))
    }
    async fn outcome(
        &self,
        key: &knowngood::recovery::IdempotencyKey,
    ) -> Result<Option<knowngood::port::BuildManifest>, knowngood::port::AdapterError> {
        self.0.outcome(key).await
    }
}

fn host_world(
    builder: std::sync::Arc<dyn knowngood::port::Builder>,
) -> knowngood::drill::DrillWorld {
    use knowngood::memory::{
        InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe, InMemoryJournalStore,
        InMemoryVcs, ManualClock,
    };
    use std::sync::Arc;
    let vcs = Arc::new(InMemoryVcs::default());
    let deployer = Arc::new(InMemoryDeployer::default());
    let ports = knowngood::port::Ports::new(
        vcs.clone(),
        deployer.clone(),
        Some(Arc::new(InMemoryFlagStore::default())),
        Arc::new(InMemoryHealthProbe::default()),
        builder,
        Arc::new(InMemoryJournalStore::default()),
        Arc::new(ManualClock::at(common::t(0))),
    );
    knowngood::drill::DrillWorld::on(ports, move |service, branch, commit| {
        vcs.commit(service, branch, commit);
    })
    .counting_deployments(move || deployer.all_executions())
}

#[test]
fn drill_runs_on_the_hosts_own_ports() {
    let scenario = shipped_named("forward-only-revert-real-world");
    let builder = std::sync::Arc::new(knowngood::memory::InMemoryBuilder::new(50, 2, 0));
    for seed in 0..4 {
        let report = knowngood::drill::run_on(&scenario, seed, host_world(builder.clone()));
        assert!(report.passed(), "seed {seed}:\n{}", failures_of(&report));
    }
    // The host's builder did the builds (its own numbering).
    let journal = knowngood::drill::run_on(&scenario, 9, host_world(builder)).journal;
    assert!(journal.entries().iter().any(|e| matches!(
        &e.event.kind,
        knowngood::EventKind::ReleaseRegistered { release } if release.id.as_str().starts_with("payments@2.0.")
    )));
}

#[test]
fn drill_a_core_refusal_mid_plan_is_an_invariant_violation_not_a_fallback() {
    let scenario = shipped_named("forward-only-revert-real-world");
    let liar = std::sync::Arc::new(LyingBuilder(knowngood::memory::InMemoryBuilder::new(
        1, 1, 0,
    )));
    let report = knowngood::drill::run_on(&scenario, 3, host_world(liar));
    assert!(!report.passed());
    assert!(report.fallbacks.is_empty(), "{:?}", report.fallbacks);
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.contains("invariant broken: the core refused a step")),
        "{}",
        failures_of(&report)
    );
}

#[test]
fn drill_builder_a_version_that_is_not_semver_is_an_error_naming_the_release() {
    use knowngood::drill::Drill;
    use knowngood::{EnvironmentRole, PipelineSpec, SuspectedCause};
    let pipeline = || {
        PipelineSpec::new()
            .environment("qa", EnvironmentRole::Test)
            .environment("prod", EnvironmentRole::Production)
            .promote("qa", "prod")
    };
    let external = || SuspectedCause::External {
        description: "the provider".into(),
    };
    let err = Drill::given("typo", pipeline())
        .merge("PR-1", "a1")
        .build("payments@1.0", "1.0", 1, "a1")
        .when_incident("prod", external(), "down")
        .run(1)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("build `payments@1.0`: version `1.0` is not semver"),
        "{err}"
    );
    // A good version goes through.
    assert!(
        Drill::given("fine", pipeline())
            .merge("PR-1", "a1")
            .build("payments@1.0.0", "1.0.0", 1, "a1")
            .when_incident("prod", external(), "down")
            .scenario()
            .is_ok()
    );
}

/// The shipped scenario whose health is measured, with `1.31.0`'s error
/// series replaced by `series` (TOML).
#[cfg(feature = "toml")]
fn measured_with(series: &str) -> Scenario {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios/measured-rollback.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace(
        "error-rate = { noisy = { base = 0.002, spread = 0.001, seed = 31 } }",
        &format!("error-rate = {series}"),
    );
    Scenario::from_toml(&text, "measured-rollback (edited)").unwrap()
}

#[cfg(feature = "toml")]
#[test]
fn drill_measured_health_the_rollback_is_verified_by_measuring_and_the_numbers_are_journaled() {
    let report = run(&measured_with("{ steady = 0.002 }"), 3);
    assert!(report.failures.is_empty(), "{}", failures_of(&report));
    let journal = serde_json::to_string(report.journal.entries()).unwrap();
    assert!(
        journal.contains("error-rate healthy: 5 measured (5 ok"),
        "the verdict's numbers are in the journal"
    );
    assert!(journal.contains("values [0.002, 0.002"), "{journal}");
}

#[cfg(feature = "toml")]
#[test]
fn drill_measured_health_a_rollback_target_that_measures_unhealthy_is_never_mitigated() {
    // 1.31.0 errs too: the rollback's Verify step measures it and fails;
    // nothing else restores production, so the drill ends unmitigated.
    let report = run(&measured_with("{ steady = 0.4 }"), 3);
    let failures = failures_of(&report);
    assert!(
        failures.contains("expected mitigated = true, got false"),
        "{failures}"
    );
    let state = report.journal.replay().unwrap();
    let incident = state.incident(&"INC-1".into()).unwrap();
    assert_ne!(incident.phase, knowngood::IncidentPhase::Mitigated);
    let journal = serde_json::to_string(report.journal.entries()).unwrap();
    assert!(
        journal.contains("unhealthy (decided by error-rate)"),
        "{journal}"
    );
}

#[cfg(feature = "toml")]
#[test]
fn drill_measured_health_mitigated_while_what_serves_measures_unhealthy_fails_the_drill() {
    // First run: when was the rollback verified?
    let first = run(&measured_with("{ steady = 0.002 }"), 3);
    let verified = first
        .journal
        .entries()
        .iter()
        .rev()
        .find(|e| {
            matches!(
                e.event.kind,
                knowngood::EventKind::DeploymentVerified { .. }
            )
        })
        .unwrap()
        .event
        .at;
    // The same drill, with 1.31.0 breaking one second after that: the
    // plan is done and mitigated, but what serves at the end errs.
    let later = (verified + chrono::Duration::seconds(1)).to_rfc3339();
    let report = run(
        &measured_with(&format!(
            "{{ step = {{ at = \"{later}\", before = 0.002, after = 0.4 }} }}"
        )),
        3,
    );
    let failures = failures_of(&report);
    assert!(
        failures.contains("mitigated while `payments@1.31.0` measures unhealthy"),
        "{failures}"
    );
    // Negative: healthy to the end, nothing is said.
    assert!(first.failures.is_empty(), "{}", failures_of(&first));
}

/// The shipped canary scenario, edited by `edit`.
#[cfg(feature = "toml")]
fn canary_with(edit: impl Fn(String) -> String) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/scenarios/canary-against-baseline.toml");
    let text = edit(std::fs::read_to_string(&path).unwrap());
    Scenario::from_toml(&text, "canary-against-baseline (edited)").unwrap()
}

#[cfg(feature = "toml")]
#[test]
fn drill_canary_against_baseline_detected_without_a_person_and_judged_by_comparison() {
    let report = run(&canary_with(|t| t), 5);
    assert!(report.failures.is_empty(), "{}", failures_of(&report));
    let state = report.journal.replay().unwrap();
    let incident = state
        .incident(&"auto-prod-payments-r2".into())
        .expect("the driver declared the incident");
    assert_eq!(incident.declared_by.as_str(), "knowngood-driver");
    assert!(incident.impact_began.is_some());
    assert!(
        incident
            .summary
            .contains("unhealthy against baseline `payments@1.41.0`; p99-latency-ms fails"),
        "{}",
        incident.summary
    );
    // The threshold alone passed it: the comparison decided.
    assert!(
        incident.summary.contains("the analysis alone: healthy"),
        "{}",
        incident.summary
    );
    assert_eq!(
        state
            .current_release(&"prod".into(), &"payments".into())
            .unwrap()
            .id
            .as_str(),
        "payments@1.41.0"
    );
}

#[cfg(feature = "toml")]
#[test]
fn drill_canary_against_baseline_without_auto_declare_nothing_is_detected_and_the_drill_says_so() {
    let report = run(
        &canary_with(|t| t.replace("auto_declare = \"sev2\"", "")),
        5,
    );
    let failures = failures_of(&report);
    assert!(
        failures.contains("no incident was detected in `prod`"),
        "{failures}"
    );
    // And without the comparison, 1.42.0 passes its thresholds: nothing
    // is detected either.
    let report = run(
        &canary_with(|t| {
            let cut = t.find("[[metrics.compare]]").unwrap();
            let rest = &t[cut..];
            let end = rest.find("[metrics.series").unwrap();
            format!("{}{}", &t[..cut], &rest[end..])
        }),
        5,
    );
    let failures = failures_of(&report);
    assert!(
        failures.contains("no incident was detected in `prod`"),
        "{failures}"
    );
}

#[cfg(feature = "toml")]
#[test]
fn drill_series_per_environment_need_a_query_that_names_the_environment() {
    let report = run(
        &canary_with(|t| t.replace(r#"env="{environment}","#, "")),
        5,
    );
    let failures = failures_of(&report);
    assert!(
        failures.contains("`p99-latency-ms` has series per environment, and its query does not name `{environment}`"),
        "{failures}"
    );
    let report = run(
        &canary_with(|t| t.replace("in_environment.prod", "in_environment.staging")),
        5,
    );
    let failures = failures_of(&report);
    assert!(
        failures.contains("series for environment `staging`, which the pipeline does not have"),
        "{failures}"
    );
}

fn gradual_rollout_scenario() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/scenarios/gradual-rollout-halted.toml");
    Scenario::load(&path).unwrap()
}

/// The flag states the driver set in `prod`, in order, before the
/// incident, and the verdicts it journaled.
fn rollout_story(report: &knowngood::drill::DrillReport) -> (Vec<String>, Vec<(String, bool)>) {
    let mut sets = Vec::new();
    let mut verdicts = Vec::new();
    for entry in report.journal.entries() {
        match &entry.event.kind {
            knowngood::EventKind::IncidentDeclared { .. } => break,
            knowngood::EventKind::FlagSet { state, .. } => sets.push(state.to_string()),
            knowngood::EventKind::FlagVerified { state, healthy, .. } => {
                verdicts.push((state.to_string(), *healthy));
            }
            _ => {}
        }
    }
    (sets, verdicts)
}

#[test]
fn drill_gradual_rollout_halted_goes_back_to_the_last_good_stage_under_faults() {
    let scenario = gradual_rollout_scenario();
    for seed in 0..12 {
        let report = run(&scenario, seed);
        assert!(report.passed(), "seed {seed}:\n{}", failures_of(&report));
        let (sets, verdicts) = rollout_story(&report);
        assert_eq!(sets, ["0%", "5%", "25%", "5%"], "seed {seed}");
        assert_eq!(
            verdicts,
            [
                ("0%".to_owned(), true),
                ("5%".to_owned(), true),
                ("25%".to_owned(), false)
            ],
            "seed {seed}"
        );
        assert!(
            report.log.iter().any(|l| l.contains("put back to 5%")),
            "seed {seed}"
        );
    }
}

#[test]
fn drill_gradual_rollout_that_nothing_breaks_reaches_on() {
    let mut scenario = gradual_rollout_scenario();
    for step in &mut scenario.history {
        if let knowngood::drill::HistoryStep::RollOutFlag { breaks_at, .. } = step {
            *breaks_at = None;
        }
    }
    let report = run(&scenario, 3);
    assert!(report.passed(), "{}", failures_of(&report));
    let (sets, verdicts) = rollout_story(&report);
    assert_eq!(sets, ["0%", "5%", "25%", "50%", "on"]);
    assert!(verdicts.iter().all(|(_, healthy)| *healthy));
    // On a host whose flag store has no percentages, the rollout cannot
    // run, and the drill says so rather than pass.
    let ports = knowngood::Ports::new(
        std::sync::Arc::new(knowngood::memory::InMemoryVcs::default()),
        std::sync::Arc::new(knowngood::memory::InMemoryDeployer::default()),
        None,
        std::sync::Arc::new(knowngood::memory::InMemoryHealthProbe::default()),
        std::sync::Arc::new(knowngood::memory::InMemoryBuilder::new(1000, 9, 0)),
        std::sync::Arc::new(knowngood::memory::InMemoryJournalStore::default()),
        std::sync::Arc::new(knowngood::memory::ManualClock::at(common::t(0))),
    );
    let world = knowngood::drill::DrillWorld::on(ports, |_, _, _| {});
    let report = knowngood::drill::run_on(&scenario, 3, world);
    assert!(!report.passed());
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.contains("rolling out `new-checkout`") && f.contains("no flag store")),
        "{:?}",
        report.failures
    );
}

#[test]
fn drill_migration_in_batches_each_batch_recorded_once_and_the_down_migration_driven() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios/migration-in-batches.toml");
    let scenario = Scenario::load(&path).unwrap();
    let mut crashed = 0;
    for seed in 0..12 {
        let report = run(&scenario, seed);
        assert!(report.passed(), "seed {seed}:\n{}", failures_of(&report));
        let mut keys = Vec::new();
        let mut moved = 0;
        for entry in report.journal.entries() {
            if let knowngood::EventKind::MigrationProgressed {
                key, moved: rows, ..
            } = &entry.event.kind
            {
                keys.push(key.clone());
                moved += rows;
            }
        }
        // 1,000 rows in batches of 150, every batch recorded once.
        assert_eq!(keys.len(), 7, "seed {seed}");
        keys.dedup();
        assert_eq!(keys.len(), 7, "seed {seed}");
        assert_eq!(moved, 1000, "seed {seed}");
        crashed += usize::from(report.log.iter().any(|l| l.contains("rows recorded")));
        // The rollback's down-migration was run by the driver, not a person.
        let state = report.journal.replay().unwrap();
        let schema = state
            .environment(&"prod".into())
            .unwrap()
            .schema(&"payments".into())
            .unwrap();
        assert_eq!(schema.version, 1, "seed {seed}");
        assert!(
            !report.log.iter().any(|l| l.starts_with("person: migrate")),
            "seed {seed}"
        );
    }
    assert!(crashed > 0, "no seed crashed the driver mid-migration");
}

#[test]
fn drill_host_runbook_ranked_first_run_once_and_its_undo_left_open() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios/host-runbook-failover.toml");
    let scenario = Scenario::load(&path).unwrap();
    for seed in 0..8 {
        let report = run(&scenario, seed);
        assert!(report.passed(), "seed {seed}:\n{}", failures_of(&report));
        let plan = report.plan.as_ref().unwrap();
        assert_eq!(
            plan.best().and_then(|o| o.runbook.clone()),
            Some("failover-provider-b".into())
        );
        let state = report.journal.replay().unwrap();
        let incident = state.incident(&"INC-1".into()).unwrap();
        assert!(
            incident
                .follow_up("undo-runbook/failover-provider-b")
                .is_some_and(|f| f.done_at.is_none()),
            "seed {seed}"
        );
        let ran = report
            .journal
            .entries()
            .iter()
            .filter(|e| {
                matches!(&e.event.kind, knowngood::EventKind::EffectRecorded {
                    outcome: knowngood::recovery::EffectOutcome::Succeeded { detail },
                    ..
                } if detail.starts_with("ran `failover-provider-b`"))
            })
            .count();
        assert_eq!(ran, 1, "seed {seed}");
    }
}
