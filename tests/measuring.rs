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
    let store = Arc::new(knowngood::memory::InMemoryJournalStore::default());
    block_on(knowngood::port::JournalStore::append(
        &*store,
        0,
        w.ledger.journal().entries(),
    ))
    .unwrap();
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

/// Build 1 verified in prod, build 2 through QA; the policy's
/// `auto_declare` as given. Ships build 2 to prod, where it measures
/// unhealthy, on a clock that moves 30 s a reading.
fn ship_unhealthy(auto: Option<knowngood::Severity>) -> (knowngood::Driver, knowngood::DriveError) {
    let mut w = common::World::new();
    let mut policy = knowngood::Policy::default();
    policy.auto_declare = auto;
    w.adopt(policy);
    let one = w.ready_for_prod(1);
    w.deploy("prod", &one, true);
    let two = w.ready_for_prod(2);
    let store = Arc::new(knowngood::memory::InMemoryJournalStore::default());
    block_on(knowngood::port::JournalStore::append(
        &*store,
        0,
        w.ledger.journal().entries(),
    ))
    .unwrap();
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
