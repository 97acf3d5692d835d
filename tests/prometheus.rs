//! The Prometheus metrics adapter against a real Prometheus server: each
//! test builds a TSDB deterministically (`promtool tsdb
//! create-blocks-from openmetrics` on a generated file: a healthy baseline
//! release and a canary that regresses slowly, with its latency 50 %
//! worse), starts `prometheus` on a free loopback port over it, and asks.
//!
//! Without `prometheus` and `promtool` on the machine the tests say, in
//! their output, that they were skipped; with
//! `KNOWNGOOD_PROMETHEUS_REQUIRED=1` (as `.ci/run` sets, after installing
//! Debian's `prometheus`) they fail instead.
#![cfg(feature = "prometheus")]

#[path = "common/tmp.rs"]
mod tmp;

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use knowngood::adapters::{AnalysisProbe, PrometheusMetrics};
use knowngood::analysis::{Analysis, Comparison, Condition, MetricCheck, Phase, Worse, compare};
use knowngood::memory::{ManualClock, block_on};
use knowngood::port::{ErrorKind, Metrics};

/// 10:00 on 1 March 2026: the data's first sample.
const T0: i64 = 1_772_359_200;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(T0 + seconds, 0).unwrap()
}

/// A small deterministic wobble in [-1, 1].
fn wobble(i: i64, seed: i64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let x = ((i * 7919 + seed * 104_729) % 201 - 100) as f64;
    x / 100.0
}

/// Two hours at 15 s: release 1 steady at 0.2 % errors and 180 ms; release
/// 2 like it until 11:00, then its errors climb to 20 % by 12:00; its
/// latency is 270 ms throughout. And two series of one metric that only a
/// sum can answer with one number.
fn openmetrics() -> String {
    let mut text = String::from("# TYPE http_errors_ratio gauge\n");
    for release in ["payments@1", "payments@2"] {
        for i in 0..480_i64 {
            let t = i * 15;
            let mut v = 0.002 + 0.0005 * wobble(i, 1);
            if release == "payments@2" && t > 3600 {
                #[allow(clippy::cast_precision_loss)]
                let climbed = (t - 3600) as f64 / 3600.0;
                v += 0.198 * climbed;
            }
            writeln!(
                text,
                "http_errors_ratio{{service=\"payments\",release=\"{release}\"}} {v} {}",
                T0 + t
            )
            .unwrap();
        }
    }
    text.push_str("# TYPE http_latency_seconds gauge\n");
    for (release, base) in [("payments@1", 0.180), ("payments@2", 0.270)] {
        for i in 0..480_i64 {
            let v = base + 0.02 * wobble(i, 2);
            writeln!(
                text,
                "http_latency_seconds{{service=\"payments\",release=\"{release}\"}} {v} {}",
                T0 + i * 15
            )
            .unwrap();
        }
    }
    text.push_str("# EOF\n");
    text
}

/// A Prometheus server of this test's own, killed when dropped.
struct Server {
    child: Child,
    base: String,
    _dir: tmp::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary(name: &str) -> Option<String> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .ok()?;
    found
        .status
        .success()
        .then(|| String::from_utf8_lossy(&found.stdout).trim().to_owned())
}

/// Starts Prometheus over the generated data, or says the test is skipped
/// (`None`) when the machine has no Prometheus and none is required.
fn server(name: &str) -> Option<Server> {
    let (Some(prometheus), Some(promtool)) = (binary("prometheus"), binary("promtool")) else {
        assert!(
            std::env::var("KNOWNGOOD_PROMETHEUS_REQUIRED").is_err(),
            "KNOWNGOOD_PROMETHEUS_REQUIRED is set but `prometheus` or `promtool` is not on the PATH: install Debian's `prometheus`"
        );
        eprintln!(
            "SKIPPED {name}: no `prometheus` and `promtool` on the PATH (install Debian's `prometheus`; .ci/run does)"
        );
        return None;
    };
    let dir = tmp::TempDir::new(&format!("prometheus-{name}"));
    let data = dir.path().join("data");
    let source = dir.path().join("metrics.om");
    std::fs::write(&source, openmetrics()).unwrap();
    let made = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&source)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    wait_ready(&server.base, &data);
    Some(server)
}

/// Waits until Prometheus answers a query over the generated data.
fn wait_ready(base: &str, data: &Path) {
    let metrics = PrometheusMetrics::new(base).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = block_on(metrics.at(r#"http_errors_ratio{release="payments@1"}"#, at(600)));
        if answer.is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus over {} did not answer in 60 s: {answer:?}",
            data.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

const ERRORS: &str = r#"http_errors_ratio{service="{service}",release="{release}"}"#;

#[test]
fn prometheus_instant_and_range_queries_answer_the_data() {
    let Some(server) = server("queries") else {
        return;
    };
    let metrics = PrometheusMetrics::new(&server.base).unwrap();
    let baseline =
        block_on(metrics.at(r#"http_errors_ratio{release="payments@1"}"#, at(1800))).unwrap();
    assert!((baseline - 0.002).abs() < 0.001, "{baseline}");
    // A scalar answers too.
    let scalar = block_on(metrics.at("scalar(vector(42))", at(0))).unwrap();
    assert!((scalar - 42.0).abs() < 1e-12);
    // A range: one point a minute from 11:30 to 12:00, climbing.
    let points = block_on(metrics.range(
        r#"http_errors_ratio{release="payments@2"}"#,
        at(5400),
        at(7185),
        60,
    ))
    .unwrap();
    assert_eq!(points.len(), 30, "{points:?}");
    assert_eq!(points[0].0, at(5400));
    assert!(
        points[0].1 > 0.05 && points[29].1 > points[0].1,
        "{points:?}"
    );
}

#[test]
fn prometheus_errors_by_kind_missing_ambiguous_refused_down_and_slow() {
    let Some(server) = server("errors") else {
        return;
    };
    let metrics = PrometheusMetrics::new(&server.base).unwrap();
    // No series: the series is missing.
    let err =
        block_on(metrics.at(r#"http_errors_ratio{release="payments@9"}"#, at(60))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // Two series: one number is asked for; a sum answers.
    let err = block_on(metrics.at("http_errors_ratio", at(60))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
    assert!(err.to_string().contains("answers 2 series"), "{err}");
    assert!(block_on(metrics.at("sum(http_errors_ratio)", at(60))).is_ok());
    let err = block_on(metrics.range("http_errors_ratio", at(0), at(600), 60)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
    // Prometheus refuses a query it cannot parse, in its own words.
    let err = block_on(metrics.at("sum(http_errors_ratio", at(60))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
    assert!(
        err.to_string().contains("Prometheus refused the query"),
        "{err}"
    );
    // Nobody listening: unavailable.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = PrometheusMetrics::new(format!("http://{closed}")).unwrap();
    let err = block_on(down.at("up", at(0))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    // A server that takes the connection and never answers: unavailable
    // after the timeout, not a hang.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let slow = PrometheusMetrics::new(format!("http://{}", silent.local_addr().unwrap()))
        .unwrap()
        .timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = block_on(slow.at("up", at(0))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Ten measurements a minute apart of the error ratio, at most 1 %
/// healthy, above 5 % failed.
fn analysis() -> Analysis {
    Analysis::new([MetricCheck::new("error-rate", ERRORS)
        .success(Condition::AtMost(0.01))
        .failure(Condition::Above(0.05))
        .count(10)
        .every(60)])
    .unwrap()
}

fn verdict(
    server: &Server,
    release: &str,
    now: DateTime<Utc>,
) -> knowngood::analysis::AnalysisVerdict {
    let probe = AnalysisProbe::new(
        Arc::new(PrometheusMetrics::new(&server.base).unwrap()),
        analysis(),
        Arc::new(ManualClock::at(now)),
    );
    block_on(probe.judge(&"prod".into(), &"payments".into(), &release.into()))
}

#[test]
fn prometheus_analysis_the_baseline_is_healthy_and_the_regressing_canary_is_not() {
    let Some(server) = server("analysis") else {
        return;
    };
    // At 11:50 the canary's last ten minutes are all above 5 %.
    let canary = verdict(&server, "payments@2", at(6600));
    assert_eq!(canary.phase, Phase::Failed, "{canary}");
    assert_eq!(canary.decided_by.as_deref(), Some("error-rate"));
    let baseline = verdict(&server, "payments@1", at(6600));
    assert!(baseline.is_healthy(), "{baseline}");
    // Before the regression began, the canary was healthy too.
    let early = verdict(&server, "payments@2", at(3000));
    assert!(early.is_healthy(), "{early}");
    // Past the data's end, nothing is measured: an error, never healthy.
    let after = verdict(&server, "payments@1", at(20_000));
    assert_eq!(after.phase, Phase::Error, "{after}");
}

#[test]
fn prometheus_canary_against_baseline_latency_half_again_slower_fails() {
    let Some(server) = server("canary") else {
        return;
    };
    let metrics = PrometheusMetrics::new(&server.base).unwrap();
    let window = |release: &str| -> Vec<f64> {
        block_on(metrics.range(
            &format!(r#"http_latency_seconds{{release="{release}"}}"#),
            at(0),
            at(3600),
            15,
        ))
        .unwrap()
        .into_iter()
        .map(|(_, v)| v)
        .collect()
    };
    let (baseline, canary) = (window("payments@1"), window("payments@2"));
    assert_eq!(baseline.len(), 241);
    let verdict = compare(
        &Comparison::new("p99", Worse::Higher, 0.1),
        &baseline,
        &canary,
    )
    .unwrap();
    assert!(!verdict.pass, "{verdict}");
    assert!((verdict.effect - 0.5).abs() < 0.05, "{verdict}");
    // Negative: the baseline against itself passes.
    let same = compare(
        &Comparison::new("p99", Worse::Higher, 0.1),
        &baseline,
        &baseline,
    )
    .unwrap();
    assert!(same.pass, "{same}");
}
