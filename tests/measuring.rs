//! Measuring health: scripted series in memory (a slow regression, a noisy
//! metric, a missing series, a flapping source) judged by an analysis
//! through the metrics port, and the verdict's numbers as the evidence
//! the driver records.
// Scripted values come back exactly as scripted.
#![allow(clippy::float_cmp)]

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use knowngood::adapters::AnalysisProbe;
use knowngood::analysis::{Analysis, Condition, MetricCheck, Phase};
use knowngood::memory::{InMemoryMetrics, ManualClock, Series, block_on};
use knowngood::port::{ErrorKind, HealthProbe, Metrics};

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

const ERRORS: &str = r#"sum(rate(http_errors{service="{service}",release="{release}"}[1m]))"#;

fn filled(release: &str) -> String {
    knowngood::port::fill_query(ERRORS, "prod", "payments", release)
}

/// Ten measurements a minute apart; more than 5 % errors fails one; one
/// failure tolerated.
fn analysis() -> Analysis {
    Analysis::new([MetricCheck::new("error-rate", ERRORS)
        .success(Condition::AtMost(0.01))
        .failure(Condition::Above(0.05))
        .inconclusive_limit(None)
        .failure_limit(Some(1))
        .count(10)
        .every(60)])
    .unwrap()
}

fn probe(metrics: &Arc<InMemoryMetrics>, now: DateTime<Utc>) -> AnalysisProbe {
    AnalysisProbe::new(metrics.clone(), analysis(), Arc::new(ManualClock::at(now)))
}

fn verdict(
    metrics: &Arc<InMemoryMetrics>,
    now: DateTime<Utc>,
) -> knowngood::analysis::AnalysisVerdict {
    block_on(probe(metrics, now).judge(&"prod".into(), &"payments".into(), &"payments@2".into()))
}

#[test]
fn series_in_memory_answer_as_scripted_and_a_source_can_go_down() {
    let metrics = InMemoryMetrics::default();
    metrics.script(
        "step",
        Series::Step {
            at: noon(),
            before: 0.001,
            after: 0.4,
        },
    );
    metrics.script(
        "ramp",
        Series::Ramp {
            since: noon(),
            from: 0.0,
            to: 1.0,
            seconds: 100,
        },
    );
    metrics.script("missing", Series::Missing);
    let at = |s: i64| noon() + Duration::seconds(s);
    assert_eq!(block_on(metrics.at("step", at(-1))).unwrap(), 0.001);
    assert_eq!(block_on(metrics.at("step", at(0))).unwrap(), 0.4);
    assert!((block_on(metrics.at("ramp", at(25))).unwrap() - 0.25).abs() < 1e-9);
    assert_eq!(block_on(metrics.at("ramp", at(500))).unwrap(), 1.0);
    let err = block_on(metrics.at("missing", at(0))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = block_on(metrics.at("never-scripted", at(0))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    // A range: one point a step, both ends included.
    let points = block_on(metrics.range("ramp", at(0), at(100), 25)).unwrap();
    assert_eq!(points.len(), 5);
    // Noise is the same for the same instant and seed, and stays within
    // its spread.
    let noisy = Series::Noisy {
        base: 10.0,
        spread: 2.0,
        seed: 7,
    };
    assert_eq!(noisy.value_at(at(3)), noisy.value_at(at(3)));
    assert!((0..500).all(|s| {
        noisy
            .value_at(at(s))
            .is_some_and(|v| (8.0..=12.0).contains(&v))
    }));
    metrics.set_down(true);
    let err = block_on(metrics.at("step", at(0))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

#[test]
fn analysis_probe_a_healthy_release_is_healthy_with_its_numbers() {
    let metrics = Arc::new(InMemoryMetrics::default());
    metrics.script(filled("payments@2"), Series::Steady(0.002));
    let health = block_on(probe(&metrics, noon()).verify(
        &"prod".into(),
        &"payments".into(),
        &"payments@2".into(),
    ))
    .unwrap();
    assert!(health.healthy, "{}", health.detail);
    assert!(health.detail.contains("values [0.002"), "{}", health.detail);
    assert!(
        health
            .detail
            .contains("against success <= 0.01 and failure > 0.05"),
        "{}",
        health.detail
    );
}

#[test]
fn analysis_probe_a_slow_regression_is_caught_once_it_passes_the_threshold() {
    let metrics = Arc::new(InMemoryMetrics::default());
    // From 0.2 % to 20 % over an hour, from noon.
    metrics.script(
        filled("payments@2"),
        Series::Ramp {
            since: noon(),
            from: 0.002,
            to: 0.2,
            seconds: 3600,
        },
    );
    // Ten minutes in, the last ten minutes are at most 3.5 %: no failure.
    let early = verdict(&metrics, noon() + Duration::minutes(10));
    assert_ne!(early.phase, Phase::Failed, "{early}");
    // Half an hour in, they are all above 5 %: failed, and why.
    let late = verdict(&metrics, noon() + Duration::minutes(30));
    assert_eq!(late.phase, Phase::Failed, "{late}");
    assert!(late.to_string().contains("2 failed (limit 1)"), "{late}");
}

#[test]
fn analysis_probe_a_noisy_metric_within_its_conditions_stays_healthy() {
    let metrics = Arc::new(InMemoryMetrics::default());
    metrics.script(
        filled("payments@2"),
        Series::Noisy {
            base: 0.005,
            spread: 0.004,
            seed: 3,
        },
    );
    let verdict = verdict(&metrics, noon());
    assert!(verdict.is_healthy(), "{verdict}");
    // Negative: noise that crosses the failure line now and then fails
    // once it does so more than once.
    metrics.script(
        filled("payments@2"),
        Series::Noisy {
            base: 0.04,
            spread: 0.03,
            seed: 3,
        },
    );
    let noisy = self::verdict(&metrics, noon());
    assert_eq!(noisy.phase, Phase::Failed, "{noisy}");
}

#[test]
fn analysis_probe_a_missing_series_is_an_error_never_healthy() {
    let metrics = Arc::new(InMemoryMetrics::default());
    metrics.script(filled("payments@2"), Series::Missing);
    let verdict = verdict(&metrics, noon());
    assert_eq!(verdict.phase, Phase::Error, "{verdict}");
    assert!(verdict.to_string().contains("errors in a row"), "{verdict}");
    // A source that is down: the same.
    let down = Arc::new(InMemoryMetrics::default());
    down.set_down(true);
    let health = block_on(probe(&down, noon()).verify(
        &"prod".into(),
        &"payments".into(),
        &"payments@2".into(),
    ))
    .unwrap();
    assert!(!health.healthy);
    assert!(
        health.detail.contains("the metrics source is down"),
        "{}",
        health.detail
    );
}

#[test]
fn analysis_probe_a_flapping_source_counts_its_gaps_as_errors_without_deciding_on_them() {
    let metrics = Arc::new(InMemoryMetrics::default());
    // A value one minute, none the next.
    metrics.script(
        filled("payments@2"),
        Series::Flapping {
            value: 0.002,
            period_seconds: 60,
        },
    );
    let verdict = verdict(&metrics, noon());
    assert!(verdict.is_healthy(), "{verdict}");
    assert_eq!(verdict.metrics[0].errors, 5, "{verdict}");
}

#[test]
fn analysis_probe_the_driver_records_the_verdict_and_its_numbers() {
    // A retoggle in prod, measured by the analysis: build 2 still errs
    // at 40 % after the flag went off.
    let mut w = common::flagged_change_in_production();
    w.choose(knowngood::Strategy::Retoggle);
    let store = w.stored();
    let now = common::t(w.clock + 1);
    let metrics = Arc::new(InMemoryMetrics::default());
    let release = common::release_id(2);
    metrics.script(filled(release.as_str()), Series::Steady(0.4));
    let mut ports = common::ports_on(store);
    ports.clock = Arc::new(ManualClock::at(now));
    ports.flags = Some(Arc::new(knowngood::memory::InMemoryFlagStore::default()));
    ports.health = Arc::new(probe(&metrics, now));
    let failed = block_on(async {
        let mut driver = knowngood::Driver::resume(ports, "bot").await?;
        driver.drive(&"INC-1".into()).await
    })
    .unwrap_err();
    let text = failed.to_string();
    assert!(text.contains("unhealthy (decided by error-rate)"), "{text}");
    assert!(text.contains("values [0.4, 0.4"), "{text}");
    assert!(text.contains("failure > 0.05"), "{text}");
}

/// Build 1 verified in prod, build 2 through QA, under a policy with
/// `auto_declare` as given.
fn second_build_ready(auto: Option<knowngood::Severity>) -> (common::World, knowngood::ReleaseId) {
    let mut w = common::World::new();
    let mut policy = knowngood::Policy::default();
    policy.auto_declare = auto;
    w.adopt(policy);
    let one = w.ready_for_prod(1);
    w.deploy("prod", &one, true);
    let two = w.ready_for_prod(2);
    (w, two)
}

/// [`second_build_ready`], then ships build 2 to prod, where it measures
/// unhealthy, on a clock that moves 30 s a reading.
fn ship_unhealthy(auto: Option<knowngood::Severity>) -> (knowngood::Driver, knowngood::DriveError) {
    let (w, two) = second_build_ready(auto);
    let store = w.stored();
    let mut ports = common::ports_on(store);
    ports.clock = Arc::new(ManualClock::ticking(
        common::t(w.clock + 1),
        Duration::seconds(30),
    ));
    let health = knowngood::memory::InMemoryHealthProbe::default();
    health.set(
        &"prod".into(),
        &two,
        knowngood::port::Health::new(false, "error rate 40 %"),
    );
    ports.health = Arc::new(health);
    let mut driver = block_on(knowngood::Driver::resume(ports, "ship-bot")).unwrap();
    let err = block_on(driver.ship(&"prod".into(), &two, &"ci-9/prod".into())).unwrap_err();
    (driver, err)
}

#[test]
fn detection_without_a_person_a_failed_production_verification_declares_the_incident() {
    let (driver, err) = ship_unhealthy(Some(knowngood::Severity::Sev2));
    assert!(
        err.to_string()
            .contains("incident `auto-prod-payments-r2` declared"),
        "{err}"
    );
    let state = driver.state();
    let incident = state.incident(&"auto-prod-payments-r2".into()).unwrap();
    assert_eq!(incident.severity, knowngood::Severity::Sev2);
    assert_eq!(incident.declared_by.as_str(), "ship-bot");
    let knowngood::SuspectedCause::Deployment { slot } = &incident.cause else {
        panic!("{:?}", incident.cause)
    };
    assert_eq!(slot.revision.0, 2);
    assert!(
        incident.summary.contains("error rate 40 %"),
        "{}",
        incident.summary
    );
    assert!(
        incident.summary.contains("suspects:"),
        "{}",
        incident.summary
    );
    // The impact began when build 2 began to serve; detected when measured.
    let served = state
        .history(&"prod".into(), &"payments".into())
        .unwrap()
        .get(slot.revision)
        .unwrap()
        .completed_at
        .unwrap();
    assert_eq!(incident.impact_began, Some(served));
    assert!(incident.detected_at > served);
    // Time to detect runs from it, in the delivery metrics and the retro.
    let query = knowngood::metrics::MetricsQuery::new(
        "prod",
        common::t(0),
        incident.detected_at + Duration::days(1),
    );
    let metrics = knowngood::metrics::delivery_metrics(state, &query);
    let seconds = u64::try_from((incident.detected_at - served).num_seconds()).unwrap();
    assert_eq!(metrics.time_to_detect.median_seconds, Some(seconds));
    let retro = knowngood::retro::Retro::from_journal(driver.journal(), &incident.id).unwrap();
    assert_eq!(retro.time_to_detect, Some(i64::try_from(seconds).unwrap()));
    assert!(retro.to_markdown().contains("time to detect"));
    // Negative: without `auto_declare`, a person declares.
    let (driver, err) = ship_unhealthy(None);
    assert!(!err.to_string().contains("declared"), "{err}");
    assert_eq!(driver.state().incidents().count(), 0);
}

#[test]
fn detection_survives_a_crash_between_the_verdict_and_the_declaration() {
    let (w, two) = second_build_ready(Some(knowngood::Severity::Sev2));
    let store = w.stored();
    // The process dies writing the declaration: the failed verdict is
    // recorded, the incident is not.
    let dies = common::misbehaving::FailingJournal::when(&store, |_, entries| {
        entries
            .iter()
            .any(|e| matches!(e.event.kind, knowngood::EventKind::IncidentDeclared { .. }))
    });
    let ports_with = |journal: Arc<dyn knowngood::JournalStore>| {
        let mut ports = common::ports_on(journal);
        ports.clock = Arc::new(ManualClock::at(common::t(w.clock + 1)));
        let health = knowngood::memory::InMemoryHealthProbe::default();
        health.set(
            &"prod".into(),
            &two,
            knowngood::port::Health::new(false, "error rate 40 %"),
        );
        ports.health = Arc::new(health);
        ports
    };
    let key: knowngood::IdempotencyKey = "ci-9/prod".into();
    let mut driver = block_on(knowngood::Driver::resume(ports_with(dies), "ship-bot")).unwrap();
    let err = block_on(driver.ship(&"prod".into(), &two, &key)).unwrap_err();
    assert!(matches!(err, knowngood::DriveError::Journal(_)), "{err}");
    let mut successor = block_on(knowngood::Driver::resume(
        ports_with(store.clone()),
        "ship-bot",
    ))
    .unwrap();
    assert_eq!(successor.state().incidents().count(), 0);
    // Shipped again under its key: nothing is deployed again, and the
    // detection the crash lost is made.
    let replayed = block_on(successor.ship(&"prod".into(), &two, &key)).unwrap();
    assert!(
        matches!(
            replayed,
            knowngood::Shipped::Replayed {
                status: knowngood::DeploymentStatus::Failed,
                ..
            }
        ),
        "{replayed:?}"
    );
    let incident = successor
        .state()
        .incident(&"auto-prod-payments-r2".into())
        .expect("the detection is made on the replay");
    assert!(
        incident.summary.contains("error rate 40 %"),
        "{}",
        incident.summary
    );
    // Negative: once declared, a further replay declares nothing more.
    let before = successor.journal().len();
    block_on(successor.ship(&"prod".into(), &two, &key)).unwrap();
    assert_eq!(successor.journal().len(), before);
}

#[test]
fn impact_after_declaration_an_incident_cannot_begin_after_it_is_declared() {
    let mut w = common::World::new();
    let one = w.ready_for_prod(1);
    w.deploy("prod", &one, true);
    let declare = |began| knowngood::Command::DeclareIncident {
        incident: "INC-1".into(),
        environment: "prod".into(),
        service: "payments".into(),
        severity: knowngood::Severity::Sev2,
        cause: common::external(),
        summary: "checkout errors".into(),
        by: "alice".into(),
        impact_began: Some(began),
    };
    let later = common::t(w.clock + 60);
    let refused = w.run(declare(later)).unwrap_err();
    assert_eq!(refused.rule(), "impact-after-declaration", "{refused}");
    // Negative: a start in the past is kept.
    let earlier = common::t(w.clock - 5);
    w.ok(declare(earlier));
    let state = w.ledger.state();
    assert_eq!(
        state.incident(&"INC-1".into()).unwrap().impact_began,
        Some(earlier)
    );
}

const P99: &str = r#"p99{env="{environment}",release="{release}"}"#;

/// Twenty p99 readings a minute apart, failing only above 2 s; build 2
/// compared with its baseline on p99, 10 % allowed.
fn latency_probe(metrics: &Arc<InMemoryMetrics>, now: DateTime<Utc>) -> AnalysisProbe {
    let analysis = Analysis::new([MetricCheck::new("p99", P99)
        .failure(Condition::Above(2000.0))
        .count(20)
        .every(60)])
    .unwrap();
    AnalysisProbe::new(metrics.clone(), analysis, Arc::new(ManualClock::at(now)))
        .comparing([knowngood::analysis::Comparison::new(
            "p99",
            knowngood::analysis::Worse::Higher,
            0.1,
        )])
        .unwrap()
}

/// Build 1 verified in prod, build 2 through QA; then the driver ships
/// build 2 to prod, where its p99 is `p99_of_two` (build 1's is 180 ms).
fn ship_against_baseline(
    p99_of_two: f64,
) -> (
    knowngood::Driver,
    Result<knowngood::Shipped, knowngood::DriveError>,
) {
    let mut w = common::World::new();
    let one = w.ready_for_prod(1);
    w.deploy("prod", &one, true);
    let two = w.ready_for_prod(2);
    let store = w.stored();
    let now = common::t(w.clock + 30);
    let metrics = Arc::new(InMemoryMetrics::default());
    for (release, base, seed) in [(&one, 180.0, 1), (&two, p99_of_two, 2)] {
        metrics.script(
            knowngood::port::fill_query(P99, "prod", "payments", release.as_str()),
            Series::Noisy {
                base,
                spread: 15.0,
                seed,
            },
        );
    }
    let mut ports = common::ports_on(store);
    ports.clock = Arc::new(ManualClock::at(now));
    ports.health = Arc::new(latency_probe(&metrics, now));
    let mut driver = block_on(knowngood::Driver::resume(ports, "ship-bot")).unwrap();
    let shipped = block_on(driver.ship(&"prod".into(), &two, &"ci-2/prod".into()));
    (driver, shipped)
}

#[test]
fn canary_worse_than_baseline_the_driver_judges_a_new_release_against_the_one_it_replaces() {
    // 45 % slower, under the 2 s threshold: the comparison fails it.
    let (driver, shipped) = ship_against_baseline(260.0);
    let err = shipped.unwrap_err().to_string();
    assert!(
        err.contains("unhealthy against baseline `payments@1.1.0`"),
        "{err}"
    );
    assert!(err.contains("p99 fails"), "{err}");
    assert!(err.contains("significant at 95 %"), "{err}");
    let history = driver
        .state()
        .history(&"prod".into(), &"payments".into())
        .unwrap();
    assert_eq!(
        history.current().unwrap().status,
        knowngood::DeploymentStatus::Failed
    );
    // Negative: as fast as its baseline, it is verified, and the
    // comparison is the evidence kept.
    let (driver, shipped) = ship_against_baseline(182.0);
    assert!(
        matches!(shipped, Ok(knowngood::Shipped::Verified { .. })),
        "{shipped:?}"
    );
    let history = driver
        .state()
        .history(&"prod".into(), &"payments".into())
        .unwrap();
    let evidence = history.current().unwrap().evidence.clone().unwrap();
    assert!(
        evidence.contains("healthy against baseline `payments@1.1.0`; p99 passes"),
        "{evidence}"
    );
}

#[test]
fn a_comparison_without_a_baseline_to_compare_is_not_healthy_and_says_why() {
    let now = noon();
    let metrics = Arc::new(InMemoryMetrics::default());
    metrics.script(
        knowngood::port::fill_query(P99, "prod", "payments", "payments@2"),
        Series::Steady(180.0),
    );
    let probe = latency_probe(&metrics, now);
    let (prod, payments) = ("prod".into(), "payments".into());
    // The baseline serves nowhere the source sees.
    let health = block_on(probe.verify_against(
        &prod,
        &payments,
        &"payments@2".into(),
        &"payments@1".into(),
    ))
    .unwrap();
    assert!(!health.healthy);
    assert!(
        health.detail.contains("not compared: comparing `p99` needs at least 3 samples on each side; the baseline has 0"),
        "{}",
        health.detail
    );
    // Negative: asked without a baseline, the analysis alone decides.
    let alone = block_on(probe.verify(&prod, &payments, &"payments@2".into())).unwrap();
    assert!(alone.healthy, "{}", alone.detail);
}

#[test]
fn comparisons_are_checked_against_the_analysis() {
    use knowngood::analysis::{AnalysisError, Comparison, Worse};
    let metrics = Arc::new(InMemoryMetrics::default());
    let attempt = |c: Vec<Comparison>| {
        AnalysisProbe::new(
            metrics.clone(),
            analysis(),
            Arc::new(ManualClock::at(noon())),
        )
        .comparing(c)
        .map(|_| ())
    };
    let bad = [
        (
            vec![Comparison::new("p99", Worse::Higher, 0.1)],
            "the analysis does not measure it",
        ),
        (
            vec![
                Comparison::new("error-rate", Worse::Higher, 0.1),
                Comparison::new("error-rate", Worse::Higher, 0.2),
            ],
            "compared twice",
        ),
        (
            vec![Comparison::new("error-rate", Worse::Higher, 0.1).confidence(1.0)],
            "confidence outside (0, 1)",
        ),
        (
            vec![Comparison::new("error-rate", Worse::Higher, -0.1)],
            "negative or non-finite",
        ),
        (
            vec![Comparison::new("error-rate", Worse::Higher, f64::NAN)],
            "negative or non-finite",
        ),
    ];
    for (comparisons, says) in bad {
        let err = attempt(comparisons).unwrap_err();
        assert!(matches!(err, AnalysisError::BadMetric { .. }), "{err:?}");
        assert!(err.to_string().contains(says), "{err}");
    }
    // Negative: a comparison of a measured metric is taken.
    attempt(vec![
        Comparison::new("error-rate", Worse::Higher, 0.1).confidence(0.99),
    ])
    .unwrap();
}

#[test]
fn a_probe_that_does_not_compare_answers_verify_against_as_verify() {
    let probe = knowngood::memory::InMemoryHealthProbe::default();
    probe.set(
        &"prod".into(),
        &"payments@2".into(),
        knowngood::port::Health::new(false, "error rate 40 %"),
    );
    let against = block_on(probe.verify_against(
        &"prod".into(),
        &"payments".into(),
        &"payments@2".into(),
        &"payments@1".into(),
    ))
    .unwrap();
    let alone =
        block_on(probe.verify(&"prod".into(), &"payments".into(), &"payments@2".into())).unwrap();
    assert_eq!(against, alone);
    assert!(!against.healthy);
}
