//! Metric analysis in the core: each rule with a positive and a negative
//! case, named after it; the canary comparison on synthetic samples with
//! known answers.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use knowngood::analysis::{
    Analysis, AnalysisError, Comparison, Condition as C, Measurement, MeasurementPhase as M,
    MetricCheck, Phase, Worse, assess, compare, judge,
};

fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(second.into())
}

fn values(values: &[f64]) -> Vec<Measurement> {
    (0_u32..)
        .zip(values)
        .map(|(i, v)| Measurement::value(at(i * 10), *v))
        .collect()
}

fn one(check: MetricCheck, measured: Vec<Measurement>) -> knowngood::analysis::AnalysisVerdict {
    let name = check.name.clone();
    let analysis = Analysis::new([check]).unwrap();
    judge(&analysis, &BTreeMap::from([(name, measured)]))
}

fn error_rate() -> MetricCheck {
    MetricCheck::new("error-rate", "sum(rate(errors[1m]))")
        .success(C::AtMost(0.01))
        .failure(C::Above(0.05))
}

#[test]
fn assess_measurement_failure_is_checked_first_then_success_then_neither() {
    let both = error_rate();
    let v = |x| Measurement::value(at(0), x);
    assert_eq!(assess(&both, &v(0.09)), M::Failed);
    assert_eq!(assess(&both, &v(0.005)), M::Successful);
    // Neither of two conditions: inconclusive.
    assert_eq!(assess(&both, &v(0.03)), M::Inconclusive);
    // Only a success condition: missing it fails.
    let success_only = MetricCheck::new("m", "q").success(C::AtMost(0.01));
    assert_eq!(assess(&success_only, &v(0.03)), M::Failed);
    // Only a failure condition: not meeting it succeeds.
    let failure_only = MetricCheck::new("m", "q").failure(C::Above(0.05));
    assert_eq!(assess(&failure_only, &v(0.03)), M::Successful);
    assert_eq!(assess(&failure_only, &v(0.06)), M::Failed);
    // No value is an error, whatever the conditions; so is a value that
    // is not a number.
    assert_eq!(
        assess(&both, &Measurement::error(at(0), "timeout")),
        M::Error
    );
    assert_eq!(assess(&both, &v(f64::NAN)), M::Error);
}

#[test]
fn conditions_hold_at_their_bounds_as_named() {
    assert!(C::AtMost(1.0).holds(1.0) && !C::Below(1.0).holds(1.0));
    assert!(C::AtLeast(1.0).holds(1.0) && !C::Above(1.0).holds(1.0));
    let within = C::Within {
        low: 1.0,
        high: 2.0,
    };
    assert!(within.holds(1.0) && within.holds(2.0) && !within.holds(2.1));
    let outside = C::Outside {
        low: 1.0,
        high: 2.0,
    };
    assert!(outside.holds(0.9) && !outside.holds(1.5));
}

#[test]
fn failure_limit_one_more_failure_than_the_limit_fails_the_metric_at_once() {
    let check = error_rate().count(5).failure_limit(Some(1));
    // Two failures with a limit of one: failed at the second, the rest
    // ignored.
    let verdict = one(check.clone(), values(&[0.09, 0.001, 0.09, 0.001, 0.001]));
    assert_eq!(verdict.phase, Phase::Failed);
    assert_eq!(verdict.metrics[0].measured, 3);
    assert_eq!(verdict.decided_by.as_deref(), Some("error-rate"));
    assert!(
        verdict.to_string().contains("2 failed (limit 1)"),
        "{verdict}"
    );
    // Negative: one failure is within the limit.
    let verdict = one(check, values(&[0.09, 0.001, 0.001, 0.001, 0.001]));
    assert_eq!(verdict.phase, Phase::Successful, "{verdict}");
    // No limit: failures never fail it.
    let verdict = one(
        error_rate().count(3).failure_limit(None),
        values(&[0.09, 0.09, 0.09]),
    );
    assert_eq!(verdict.phase, Phase::Successful, "{verdict}");
}

#[test]
fn inconclusive_limit_one_more_than_the_limit_asks_a_person() {
    let check = error_rate().count(3).inconclusive_limit(Some(1));
    let verdict = one(check.clone(), values(&[0.03, 0.03, 0.001]));
    assert_eq!(verdict.phase, Phase::Inconclusive);
    assert!(
        verdict.to_string().contains("a person decides"),
        "{verdict}"
    );
    // Negative: one inconclusive is within the limit.
    let verdict = one(check, values(&[0.03, 0.001, 0.001]));
    assert_eq!(verdict.phase, Phase::Successful, "{verdict}");
}

#[test]
fn consecutive_error_limit_errors_in_a_row_beyond_the_limit_are_an_error() {
    let check = error_rate().count(6).consecutive_error_limit(2);
    let e = |i: u32| Measurement::error(at(i * 10), "series missing");
    let verdict = one(check.clone(), vec![e(0), e(1), e(2)]);
    assert_eq!(verdict.phase, Phase::Error);
    assert!(
        verdict.to_string().contains("3 errors in a row (limit 2)"),
        "{verdict}"
    );
    // Negative: a value between resets the run; the errors are counted.
    let mut flapping = vec![e(0), e(1)];
    flapping.push(Measurement::value(at(20), 0.001));
    flapping.extend([e(3), e(4)]);
    flapping.push(Measurement::value(at(50), 0.001));
    let verdict = one(check, flapping);
    assert_eq!(verdict.phase, Phase::Successful, "{verdict}");
    assert_eq!(verdict.metrics[0].errors, 4);
}

#[test]
fn count_a_metric_runs_until_its_measurements_are_taken() {
    let check = error_rate().count(3);
    assert_eq!(
        one(check.clone(), values(&[0.001, 0.001])).phase,
        Phase::Running
    );
    assert_eq!(one(check.clone(), vec![]).phase, Phase::Running);
    let verdict = one(check, values(&[0.001, 0.001, 0.001, 0.9]));
    // Measurements past `count` are not judged.
    assert_eq!(verdict.phase, Phase::Successful, "{verdict}");
    assert_eq!(verdict.metrics[0].measured, 3);
}

#[test]
fn measurements_are_judged_in_time_order() {
    let check = error_rate().count(2).failure_limit(Some(0));
    // Handed newest first: the older (healthy) ones are judged first and
    // the count is reached before the late failure.
    let mut measured = values(&[0.001, 0.001, 0.09]);
    measured.reverse();
    assert_eq!(one(check, measured).phase, Phase::Successful);
}

#[test]
fn dry_run_a_failing_dry_run_metric_is_reported_and_decides_nothing() {
    let latency = MetricCheck::new("p99", "histogram_quantile(0.99, …)")
        .failure(C::Above(300.0))
        .dry_run();
    let analysis = Analysis::new([error_rate(), latency]).unwrap();
    let measured = BTreeMap::from([
        ("error-rate".to_owned(), values(&[0.001])),
        ("p99".to_owned(), values(&[900.0])),
    ]);
    let verdict = judge(&analysis, &measured);
    assert_eq!(verdict.phase, Phase::Successful, "{verdict}");
    assert_eq!(verdict.metrics[1].phase, Phase::Failed);
    assert!(
        verdict.to_string().contains("p99 (dry run) unhealthy"),
        "{verdict}"
    );
    // Negative: the same metric, deciding, fails the analysis.
    let deciding = MetricCheck::new("p99", "q").failure(C::Above(300.0));
    let analysis = Analysis::new([error_rate(), deciding]).unwrap();
    let verdict = judge(&analysis, &measured);
    assert_eq!(verdict.phase, Phase::Failed);
    assert_eq!(verdict.decided_by.as_deref(), Some("p99"));
}

#[test]
fn analysis_phase_the_worst_deciding_metric_decides_failed_before_error_before_inconclusive() {
    let metric = |name: &str| {
        MetricCheck::new(name, "q")
            .success(C::AtMost(1.0))
            .failure(C::Above(5.0))
            .consecutive_error_limit(0)
    };
    let analysis = Analysis::new([metric("a"), metric("b"), metric("c")]).unwrap();
    let with = |a: Vec<Measurement>, b: Vec<Measurement>, c: Vec<Measurement>| {
        judge(
            &analysis,
            &BTreeMap::from([("a".into(), a), ("b".into(), b), ("c".into(), c)]),
        )
    };
    let error = || vec![Measurement::error(at(0), "down")];
    let verdict = with(values(&[3.0]), error(), values(&[9.0]));
    assert_eq!(
        (verdict.phase, verdict.decided_by.as_deref()),
        (Phase::Failed, Some("c"))
    );
    let verdict = with(values(&[3.0]), error(), values(&[0.5]));
    assert_eq!(
        (verdict.phase, verdict.decided_by.as_deref()),
        (Phase::Error, Some("b"))
    );
    let verdict = with(values(&[3.0]), values(&[0.5]), vec![]);
    assert_eq!(
        (verdict.phase, verdict.decided_by.as_deref()),
        (Phase::Inconclusive, Some("a"))
    );
    let verdict = with(values(&[0.5]), values(&[0.5]), vec![]);
    assert_eq!((verdict.phase, verdict.decided_by), (Phase::Running, None));
    let verdict = with(values(&[0.5]), values(&[0.5]), values(&[0.5]));
    assert!(verdict.is_healthy(), "{verdict}");
}

#[test]
fn schedule_initial_delay_then_every_interval_count_times() {
    let check = error_rate().initial_delay(60).every(30).count(3);
    let start = at(0);
    assert_eq!(check.due(start, 0), Some(at(60)));
    assert_eq!(check.due(start, 2), Some(at(120)));
    assert_eq!(check.due(start, 3), None);
}

#[test]
fn an_analysis_that_cannot_judge_is_refused_naming_the_metric() {
    assert_eq!(Analysis::new([]), Err(AnalysisError::NoMetric));
    let err = Analysis::new([error_rate(), error_rate()]).unwrap_err();
    assert!(err.to_string().contains("named twice"), "{err}");
    let err = Analysis::new([error_rate().count(0)]).unwrap_err();
    assert!(err.to_string().contains("`count` is 0"), "{err}");
    let err = Analysis::new([MetricCheck::new("m", "q").success(C::Within {
        low: 2.0,
        high: 1.0,
    })])
    .unwrap_err();
    assert!(err.to_string().contains("low bound 2 is above"), "{err}");
    let err = Analysis::new([MetricCheck::new("m", "q").failure(C::Above(f64::NAN))]).unwrap_err();
    assert!(err.to_string().contains("not a finite number"), "{err}");
}

// ----- baseline against canary -------------------------------------------

/// A deterministic, noisy sample: `base` plus a spread of ± `noise`.
fn sample(n: u32, base: f64, noise: f64) -> Vec<f64> {
    (0..n)
        .map(|i| base + noise * (f64::from((i * 7919) % 101) / 50.0 - 1.0))
        .collect()
}

#[test]
fn mann_whitney_known_answers_small_samples() {
    // Wholly separated samples: U is n1·n2; with the continuity and tie
    // corrections the one-sided p-values are the textbook normal ones.
    let check = Comparison::new("m", Worse::Higher, 0.0);
    let v = compare(&check, &[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
    assert!((v.u - 9.0).abs() < 1e-12, "{v:?}");
    assert!((v.p_worse - 0.0404).abs() < 1e-3, "{v:?}");
    let v = compare(
        &check,
        &[1.0, 2.0, 3.0, 4.0, 5.0],
        &[6.0, 7.0, 8.0, 9.0, 10.0],
    )
    .unwrap();
    assert!((v.u - 25.0).abs() < 1e-12, "{v:?}");
    assert!((v.p_worse - 0.0061).abs() < 2e-4, "{v:?}");
    // Ties share their ranks: identical samples are no evidence at all.
    let v = compare(&check, &[5.0, 5.0, 5.0, 5.0], &[5.0, 5.0, 5.0, 5.0]).unwrap();
    assert!(v.pass && (v.u - 8.0).abs() < 1e-12, "{v:?}");
}

#[test]
fn canary_worse_than_baseline_a_regressing_canary_fails_with_by_how_much() {
    let baseline = sample(200, 100.0, 10.0);
    let canary = sample(200, 150.0, 10.0);
    let verdict = compare(
        &Comparison::new("p99", Worse::Higher, 0.1),
        &baseline,
        &canary,
    )
    .unwrap();
    assert!(!verdict.pass, "{verdict}");
    assert!((verdict.effect - 0.5).abs() < 0.02, "{verdict}");
    assert!(verdict.p_worse < 1e-6, "{verdict}");
    assert!(verdict.to_string().contains("+50.0 % worse"), "{verdict}");
    // Negative: the same canary, for a metric where lower is worse, is
    // better, and passes.
    let verdict = compare(
        &Comparison::new("throughput", Worse::Lower, 0.1),
        &baseline,
        &canary,
    )
    .unwrap();
    assert!(verdict.pass, "{verdict}");
    assert!(verdict.effect < 0.0, "{verdict}");
}

#[test]
fn canary_worse_than_baseline_significant_but_within_the_allowed_effect_passes() {
    // 3 % slower, on a lot of samples: significant, and allowed (5 %).
    let baseline = sample(2000, 100.0, 2.0);
    let canary = sample(2000, 103.0, 2.0);
    let verdict = compare(
        &Comparison::new("p99", Worse::Higher, 0.05),
        &baseline,
        &canary,
    )
    .unwrap();
    assert!(verdict.p_worse < 0.01, "{verdict}");
    assert!(verdict.pass, "{verdict}");
    assert!(
        verdict.reason.contains("within what is allowed"),
        "{verdict}"
    );
    // Negative: allowing 1 %, it fails.
    let verdict = compare(
        &Comparison::new("p99", Worse::Higher, 0.01),
        &baseline,
        &canary,
    )
    .unwrap();
    assert!(!verdict.pass, "{verdict}");
}

#[test]
fn canary_worse_than_baseline_large_but_not_significant_passes_and_says_it_could_not_tell() {
    // Very noisy, few samples: the medians differ by 20 % by chance.
    let baseline = [10.0, 200.0, 30.0, 150.0, 90.0];
    let canary = [12.0, 210.0, 40.0, 160.0, 108.0];
    let verdict = compare(
        &Comparison::new("p99", Worse::Higher, 0.1),
        &baseline,
        &canary,
    )
    .unwrap();
    assert!(verdict.effect > 0.1, "{verdict}");
    assert!(verdict.pass, "{verdict}");
    assert!(verdict.reason.contains("could not tell"), "{verdict}");
    // Negative: too few samples are refused, not judged.
    let err = compare(
        &Comparison::new("p99", Worse::Higher, 0.1),
        &[1.0, 2.0],
        &canary,
    )
    .unwrap_err();
    assert!(err.to_string().contains("at least 3"), "{err}");
}
