//! Delivery metrics on a hand-built history with known answers. The
//! world's clock moves one minute per command; it is set by hand before
//! each stretch so that the answers can be read off the history.

mod common;

use chrono::Duration;
use common::{World, t};
use knowngood::metrics::{MetricsQuery, delivery_metrics};
use knowngood::{Command, Strategy};

/// PR-1 merged at minute 3, build 1 serving in prod from minute 103; PR-2
/// merged at 201, build 2 serving from 303; the incident naming PR-2 is
/// detected at 331, rolled back and mitigated at 337; the revert PR-3
/// merged at 401, build 3 serving from 503.
fn history() -> World {
    let mut w = World::new(); // two commands: the clock is at minute 2
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.clock = 100;
    w.deploy("prod", &one, true);
    w.clock = 200;
    w.merge("PR-2", "998b", Some("a1"));
    let two = w.build_at(2, "998b");
    w.through_qa(&two);
    w.clock = 300;
    w.deploy("prod", &two, true);
    w.clock = 330;
    w.declare(common::change_cause("PR-2"));
    w.choose(Strategy::Rollback);
    let back = common::slot_of(&w.rollback("prod", None).unwrap()[0]);
    w.start(&back);
    w.complete(&back);
    w.verify(&back, true);
    w.ok(Command::MarkMitigated {
        incident: "INC-1".into(),
        by: "alice".into(),
    });
    w.clock = 400;
    w.merge_change("PR-3", "dd3a", Some("998b"), |c| c.reverting("PR-2"));
    let three = w.build_at(3, "dd3a");
    w.through_qa(&three);
    w.clock = 500;
    w.deploy("prod", &three, true);
    w
}

#[test]
fn metrics_known_answers_for_a_hand_built_history() {
    let w = history();
    let query = MetricsQuery::new("prod", t(0), t(600)).per(Duration::minutes(300));
    let m = delivery_metrics(w.ledger.state(), &query);
    // Three deployments (the rollback is a restore, not a deployment).
    assert_eq!(m.deployments, 3);
    // Build 2 failed: it was rolled back (and brought the incident's cause).
    assert_eq!(m.failed, 1);
    assert_eq!(m.failures[0].0.revision.0, 2);
    assert!(m.change_failure_rate().unwrap() > 0.33 && m.change_failure_rate().unwrap() < 0.34);
    // Merged to serving: 103 - 3, 303 - 201, 503 - 401 minutes.
    assert_eq!(m.lead_time.samples, 3);
    assert_eq!(m.lead_time.median_seconds, Some(102 * 60));
    // Detected at 331, mitigated at 337.
    assert_eq!(m.time_to_restore.median_seconds, Some(6 * 60));
    // Build 2 served from 303, detected at 331.
    assert_eq!(m.time_to_detect.median_seconds, Some(28 * 60));
    // 3 deployments in 600 minutes: 7.2 a day.
    assert!((m.deployments_per_day() - 7.2).abs() < 1e-9);
    // The trend: build 1 in the first period; builds 2 and 3 and the
    // incident in the second.
    assert_eq!(m.periods.len(), 2);
    assert_eq!((m.periods[0].deployments, m.periods[0].failed), (1, 0));
    assert_eq!((m.periods[1].deployments, m.periods[1].failed), (2, 1));
    assert_eq!(m.periods[1].time_to_restore.samples, 1);
    let md = m.to_markdown();
    assert!(
        md.contains("| Change failure rate | 33 % (1 of 3) |"),
        "{md}"
    );
    assert!(
        md.contains("| Lead time for changes (median) | 1 h 42 min (n = 3) |"),
        "{md}"
    );
    assert_eq!(md.matches("```mermaid\nxychart-beta").count(), 4, "{md}");
    // Serde round trip.
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(
        serde_json::from_str::<knowngood::metrics::DeliveryMetrics>(&json).unwrap(),
        m
    );
}

#[test]
fn metrics_only_what_falls_in_the_window_and_scope_counts() {
    let w = history();
    // The first 200 minutes: build 1 only, no failure, no incident.
    let m = delivery_metrics(w.ledger.state(), &MetricsQuery::new("prod", t(0), t(200)));
    assert_eq!((m.deployments, m.failed), (1, 0));
    assert_eq!(m.time_to_restore.samples, 0);
    assert_eq!(m.time_to_detect.median_seconds, None);
    assert_eq!(m.change_failure_rate(), Some(0.0));
    // Another service: nothing.
    let m = delivery_metrics(
        w.ledger.state(),
        &MetricsQuery::new("prod", t(0), t(600)).service("search"),
    );
    assert_eq!(m.deployments, 0);
    assert_eq!(m.change_failure_rate(), None);
    // QA: every build passed there; no incident.
    let m = delivery_metrics(w.ledger.state(), &MetricsQuery::new("qa", t(0), t(600)));
    assert_eq!((m.deployments, m.failed), (3, 0));
}

#[test]
fn metrics_an_external_cause_gives_no_time_to_detect_and_fails_no_deployment() {
    let mut w = World::new();
    let one = w.ready_for_prod(1);
    w.deploy("prod", &one, true);
    w.declare(common::external());
    let m = delivery_metrics(w.ledger.state(), &MetricsQuery::new("prod", t(0), t(600)));
    assert_eq!((m.deployments, m.failed), (1, 0));
    assert_eq!(m.time_to_detect.samples, 0);
}
