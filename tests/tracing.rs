//! With the `tracing` feature, the driver tells the host's subscriber what
//! it does: the plan it drives, each step, and every port call (a span
//! with the port and the idempotency key, and its outcome).
#![cfg(feature = "tracing")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use knowngood::drill::run;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Collects every event's message and fields, and every span's fields.
#[derive(Default, Clone)]
struct Collector {
    lines: Arc<Mutex<Vec<String>>>,
    next: Arc<AtomicU64>,
}

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Subscriber for Collector {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut line = Line(format!("span {}", span.metadata().name()));
        span.record(&mut line);
        self.lines.lock().unwrap().push(line.0);
        Id::from_u64(self.next.fetch_add(1, Ordering::SeqCst) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(format!("event {}", event.metadata().target()));
        event.record(&mut line);
        self.lines.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn tracing_the_driver_reports_the_plan_its_steps_and_every_port_call() {
    let collector = Collector::default();
    let lines = collector.lines.clone();
    let scenario =
        knowngood::drill::Scenario::from_json(knowngood::drill::BUILT_IN, "built-in").unwrap();
    // A few seeds, so that some port calls meet injected faults.
    tracing::subscriber::with_default(collector, || {
        for seed in 0..12 {
            let report = run(&scenario, seed);
            assert!(report.passed(), "{:?}", report.failures);
        }
    });
    let lines = lines.lock().unwrap();
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(has("driving the chosen plan"), "{lines:#?}");
    assert!(has("step started"));
    assert!(has("step done"));
    // A port call: the span names the port and the step's key.
    assert!(
        lines.iter().any(|l| l.starts_with("span port_call")
            && l.contains("port=\"deployer\"")
            && l.contains("/attempt-1/")),
        "{lines:#?}"
    );
    assert!(has("port call done"));
    // Faults show as failed port calls with their kind.
    assert!(has("port call failed"), "{lines:#?}");
}
