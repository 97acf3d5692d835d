//! Hostile and absurd input: each test is named after the defect it pins,
//! with the hostile input in the test.

mod common;
#[path = "../benches/support/history.rs"]
mod history;

use std::sync::Arc;

use chrono::Duration;
use common::{World, t};
use knowngood::driver::{DriveError, Driver};
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe,
    InMemoryJournalStore, InMemoryVcs, ManualClock, block_on,
};
use knowngood::port::{JournalStore, Ports};
use knowngood::{
    Chain, Command, EntryHash, Event, EventKind, ExpectedVersion, Freeze, GatedAction, Journal,
    Ledger, Rejection, Service,
};

// ----- 1. time only moves forward ------------------------------------------

#[test]
fn time_travel_a_deploy_stamped_before_a_freeze_was_declared_is_refused() {
    let mut w = World::new();
    let one = w.ready_for_prod(1);
    w.clock += 10;
    let declared_at = t(w.clock);
    let freeze = Freeze::deny(
        "holidays",
        [GatedAction::Deliver],
        declared_at,
        "carol",
        "holidays",
    )
    .until(t(w.clock + 600))
    .in_environment("prod");
    w.ledger
        .execute(&Command::DeclareFreeze { freeze }, declared_at)
        .unwrap();
    let before = w.ledger.journal().clone();
    let deploy = Command::deploy("prod", one.clone(), "bob");
    // Stamped a minute before the freeze: refused as time travel.
    let refusal = w
        .ledger
        .execute(&deploy, declared_at - Duration::minutes(1))
        .unwrap_err();
    assert_eq!(refusal.rule(), "clock-went-backwards", "{refusal}");
    assert!(matches!(refusal, Rejection::ClockWentBackwards { last, .. } if last == declared_at));
    assert_eq!(w.ledger.journal(), &before, "nothing recorded");
    // Stamped at or after the last event: judged by the freeze as usual.
    let frozen = w.ledger.execute(&deploy, declared_at).unwrap_err();
    assert_eq!(frozen.rule(), "frozen", "{frozen}");
}

#[test]
fn time_travel_an_incident_cannot_be_mitigated_before_it_was_declared() {
    let mut w = common::bad_commit_in_production(knowngood::Policy::default());
    let declared = w.ledger.state().last_event_at().unwrap();
    let refusal = w
        .ledger
        .execute(
            &Command::MarkMitigated {
                incident: "INC-1".into(),
                by: "alice".into(),
            },
            declared - Duration::hours(1),
        )
        .unwrap_err();
    assert_eq!(refusal.rule(), "clock-went-backwards");
    // The same command a minute later is judged on its merits.
    w.clock += 1;
    let merits = w.run(Command::MarkMitigated {
        incident: "INC-1".into(),
        by: "alice".into(),
    });
    assert_ne!(
        merits.err().map(|r| r.rule().to_owned()),
        Some("clock-went-backwards".to_owned())
    );
}

#[test]
fn time_travel_a_journal_with_an_event_out_of_order_does_not_replay() {
    let mut journal = Journal::new();
    let events = [(t(10), "payments"), (t(5), "search")];
    for (at, name) in events {
        let event = Event::new(
            at,
            EventKind::ServiceRegistered {
                service: Service::new(name),
            },
        );
        let stream = event.stream();
        let version = journal.stream_version(&stream);
        journal
            .append(&stream, ExpectedVersion::Exactly(version), vec![event])
            .unwrap();
    }
    let err = Ledger::from_journal(journal).unwrap_err();
    assert_eq!(err.position, 2, "{err}");
    assert_eq!(err.rejection.rule(), "clock-went-backwards");
    // In order, the same events replay.
    let mut ordered = Journal::new();
    for (at, name) in [(t(5), "payments"), (t(10), "search")] {
        let event = Event::new(
            at,
            EventKind::ServiceRegistered {
                service: Service::new(name),
            },
        );
        let stream = event.stream();
        let version = ordered.stream_version(&stream);
        ordered
            .append(&stream, ExpectedVersion::Exactly(version), vec![event])
            .unwrap();
    }
    assert!(Ledger::from_journal(ordered).is_ok());
}

#[test]
fn time_travel_the_driver_reports_a_clock_that_went_backwards_and_journals_nothing() {
    let w = common::bad_commit_in_production(knowngood::Policy::default());
    let store = Arc::new(InMemoryJournalStore::default());
    block_on(store.append(0, w.ledger.journal().entries())).unwrap();
    let last = w.ledger.state().last_event_at().unwrap();
    let clock = Arc::new(ManualClock::at(last - Duration::minutes(30)));
    let ports = Ports::new(
        Arc::new(InMemoryVcs::default()),
        Arc::new(InMemoryDeployer::default()),
        Some(Arc::new(InMemoryFlagStore::default())),
        Arc::new(InMemoryHealthProbe::default()),
        Arc::new(InMemoryBuilder::new(1, 1, 0)),
        store.clone(),
        clock.clone(),
    );
    let mut driver = block_on(Driver::resume(ports, "bot")).unwrap();
    let command = Command::RegisterService {
        service: Service::new("search"),
    };
    let err = block_on(driver.execute(&command)).unwrap_err();
    assert!(
        matches!(&err, DriveError::Refused(r) if r.rule() == "clock-went-backwards"),
        "{err}"
    );
    assert_eq!(store.entries().len(), w.ledger.journal().len());
    // Once the clock is right again, the same command goes through.
    clock.advance(Duration::hours(1));
    assert_eq!(block_on(driver.execute(&command)).unwrap().len(), 1);
    assert!(driver.state().service(&"search".into()).is_some());
}

// ----- 3. the planner is linear in the pipeline's shape ----------------------

#[test]
fn planner_exponential_in_the_pipelines_shape_now_linear_layers_of_two_fully_connected() {
    // 30 layers of two environments, each fully connected to the next:
    // 2^30 paths from dev to prod. A walk over every path would not finish.
    let layers = 30;
    let ledger = history::layered(layers);
    let plan = knowngood::plan(
        ledger.state(),
        &"INC-1".into(),
        history::t0() + Duration::minutes(1),
        &knowngood::Capabilities::all(),
    )
    .unwrap();
    // The estimate follows what the driver runs: it deploys to and
    // verifies in every environment on the lane's path, one after another.
    let policy = ledger.state().policy();
    let stages = 2 * u64::from(layers) + 2;
    let fix = plan.option(knowngood::Strategy::FixForward).unwrap();
    assert_eq!(
        fix.estimate.seconds,
        policy.fix_seconds + stages * policy.default_stage_seconds,
        "{:?}",
        fix.estimate
    );
}

// ----- 9. memory on huge lines ---------------------------------------------

fn one_good_line() -> Vec<u8> {
    let mut ledger = Ledger::new();
    ledger
        .execute(
            &Command::RegisterService {
                service: Service::new("payments"),
            },
            t(0),
        )
        .unwrap();
    let mut bytes = Vec::new();
    ledger.journal().write_jsonl(&mut bytes).unwrap();
    bytes
}

#[test]
fn memory_on_huge_lines_an_endless_line_is_refused_without_buffering_it() {
    use std::io::{BufReader, Read};
    // A valid first line, then a line that never ends.
    let first = one_good_line();
    let endless = first.as_slice().chain(std::io::repeat(b'x'));
    let err = Journal::from_jsonl(BufReader::new(endless)).unwrap_err();
    assert_eq!(err.line, 2, "{err}");
    assert!(
        matches!(err.problem, knowngood::LineProblem::TooLong { limit } if limit == knowngood::MAX_LINE_BYTES),
        "{err}"
    );
    assert_eq!(err.intact.len(), 1, "the entry before it is kept");
    assert!(
        err.to_string().contains("longer than 1048576 bytes"),
        "{err}"
    );
}

#[test]
fn memory_on_huge_lines_the_limit_is_configurable_and_exact() {
    let good = one_good_line();
    let len = good.len() - 1; // without the newline
    // Exactly at the limit: read.
    assert_eq!(
        Journal::from_jsonl_limited(good.as_slice(), len)
            .unwrap()
            .len(),
        1
    );
    // One byte over: refused, naming the limit.
    let err = Journal::from_jsonl_limited(good.as_slice(), len - 1).unwrap_err();
    assert_eq!(err.line, 1);
    assert!(matches!(err.problem, knowngood::LineProblem::TooLong { limit } if limit == len - 1));
}

// ----- 2. arithmetic overflow ----------------------------------------------

#[test]
fn arithmetic_overflow_an_absurd_policy_is_refused_at_adoption_naming_the_field() {
    let mut w = common::bad_commit_in_production(knowngood::Policy::default());
    for (field, shape) in [
        (
            "default_stage_seconds",
            (|p: &mut knowngood::Policy| p.default_stage_seconds = u64::MAX)
                as fn(&mut knowngood::Policy),
        ),
        ("fix_seconds", |p| p.fix_seconds = u64::MAX - 1),
        ("stage_seconds.qa", |p| {
            p.stage_seconds.insert("qa".into(), 40 * 365 * 24 * 3600);
        }),
    ] {
        let mut policy = knowngood::Policy::default();
        shape(&mut policy);
        let refusal = w
            .run(Command::AdoptPolicy {
                policy,
                by: "mallory".into(),
            })
            .unwrap_err();
        assert_eq!(refusal.rule(), "absurd-policy-value");
        assert!(
            matches!(&refusal, Rejection::AbsurdPolicyValue { field: f, .. } if f == field),
            "{refusal}"
        );
        assert!(refusal.to_string().contains(field), "{refusal}");
    }
    // A year is a long stage, but a team may mean it.
    let mut slow = knowngood::Policy::default();
    slow.stage_seconds
        .insert("qa".into(), knowngood::MAX_POLICY_SECONDS);
    w.run(Command::AdoptPolicy {
        policy: slow,
        by: "alice".into(),
    })
    .unwrap();
}

#[test]
fn arithmetic_overflow_estimates_saturate_instead_of_wrapping_to_zero() {
    // A journal written past the core (or by an older version) may still
    // carry an absurd policy: the planner must neither panic nor rank a
    // wrapped "0 s" estimate first.
    let w = common::bad_commit_in_production(knowngood::Policy::forward_only());
    let mut journal = w.ledger.journal().clone();
    let mut policy = knowngood::Policy::forward_only();
    policy.default_stage_seconds = u64::MAX;
    policy.stage_seconds.clear();
    policy.fix_seconds = u64::MAX;
    policy.revert_seconds = u64::MAX;
    let event = Event::new(
        t(w.clock + 1),
        EventKind::PolicyAdopted {
            policy,
            by: "mallory".into(),
        },
    );
    let stream = event.stream();
    let version = journal.stream_version(&stream);
    journal
        .append(&stream, ExpectedVersion::Exactly(version), vec![event])
        .unwrap();
    let ledger = Ledger::from_journal(journal).unwrap();
    let plan = knowngood::plan(
        ledger.state(),
        &"INC-1".into(),
        t(w.clock + 2),
        &knowngood::Capabilities::all(),
    )
    .unwrap();
    for strategy in [knowngood::Strategy::Revert, knowngood::Strategy::FixForward] {
        let option = plan.option(strategy).unwrap();
        assert_eq!(
            option.estimate.seconds,
            u64::MAX,
            "{strategy}: saturated, not wrapped"
        );
    }
}

#[test]
fn arithmetic_overflow_a_schema_change_near_the_top_version_is_an_error() {
    use knowngood::migration::SchemaChangePlan;
    let err = SchemaChangePlan::new("payments", "split", u32::MAX - 1).unwrap_err();
    assert_eq!(err.from, u32::MAX - 1);
    assert!(err.to_string().contains("renumber"), "{err}");
    let plan = SchemaChangePlan::new("payments", "split", u32::MAX - 2).unwrap();
    assert_eq!(plan.steps[2].release_schema.min, u32::MAX - 1);
}

// ----- 4. injection into rendered output -----------------------------------

const HOSTILE: &str = "x\" ] evil [label=\"y\n## Pwned\n| a | b |\n<script>alert(1)</script>`\u{2028}  12:00 : forged\r\\";

#[test]
fn injection_into_dot_an_environment_id_cannot_add_attributes_or_lines() {
    let pipeline = knowngood::PipelineSpec::new()
        .environment(HOSTILE, knowngood::EnvironmentRole::Test)
        .environment("prod", knowngood::EnvironmentRole::Production)
        .promote(HOSTILE, "prod")
        .build()
        .unwrap();
    let dot = knowngood::picture::pipeline_dot(&pipeline);
    // Two nodes and one edge, each on its own line, nothing else.
    let lines: Vec<&str> = dot.lines().collect();
    assert_eq!(lines.len(), 5, "{dot}");
    let node = lines.iter().find(|l| l.contains("evil")).unwrap();
    assert!(node.contains(r#"x\" ] evil [label=\"y"#), "{node}");
    assert!(node.contains(r"\\"), "the backslash is escaped: {node}");
    assert_eq!(
        node.matches('"').count() - node.matches("\\\"").count(),
        2,
        "only the label's own quotes are unescaped: {node}"
    );
}

/// An incident whose free text (summary, cause, who declared it) is
/// hostile; its id cannot be (see the `injection_names_…` tests).
fn hostile_incident() -> knowngood::retro::Retro {
    let mut w = World::new();
    w.ok(Command::DeclareIncident {
        incident: "INC-1".into(),
        environment: "prod".into(),
        service: common::SERVICE.into(),
        severity: knowngood::Severity::Sev1,
        cause: knowngood::SuspectedCause::External {
            description: HOSTILE.into(),
        },
        summary: HOSTILE.into(),
        by: HOSTILE.into(),
        impact_began: None,
    });
    knowngood::retro::Retro::from_journal(w.ledger.journal(), &"INC-1".into()).unwrap()
}

#[test]
fn injection_into_mermaid_free_text_cannot_forge_a_timeline_entry() {
    let retro = hostile_incident();
    let timeline = knowngood::picture::timeline_mermaid(&retro);
    assert!(
        timeline.contains("evil"),
        "the hostile text is shown: {timeline}"
    );
    for line in timeline.lines().skip(1) {
        assert!(line.starts_with("  "), "every entry is indented: {line:?}");
        assert!(
            !line.trim_start().starts_with("12:00"),
            "forged: {timeline}"
        );
        assert!(!line.contains('<') && !line.contains('"'), "{line}");
    }
    assert_eq!(
        timeline.lines().count(),
        2 + retro.timeline.len(),
        "{timeline}"
    );
}

#[test]
fn injection_into_markdown_a_summary_cannot_add_headings_rows_or_html() {
    let md = hostile_incident().to_markdown();
    for line in md.lines() {
        assert!(!line.starts_with("## Pwned"), "{md}");
        assert!(!line.starts_with("| a |"), "{md}");
        assert!(!line.contains("<script>"), "{md}");
        assert!(!line.contains('\u{2028}') && !line.contains('\r'), "{md}");
    }
    let headings: Vec<&str> = md.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(
        headings.len(),
        5,
        "title, timeline, options, metrics, follow-ups only: {headings:?}"
    );
    assert!(md.contains("&lt;script&gt;"), "{md}");
    assert!(md.contains(r"\| a \| b \|"), "{md}");
}

/// An incident whose summary is `summary`, as a retro.
fn incident_saying(summary: &str) -> knowngood::retro::Retro {
    let mut w = World::new();
    w.ok(Command::DeclareIncident {
        incident: "INC-1".into(),
        environment: "prod".into(),
        service: common::SERVICE.into(),
        severity: knowngood::Severity::Sev2,
        cause: common::external(),
        summary: summary.into(),
        by: "alice".into(),
        impact_began: None,
    });
    knowngood::retro::Retro::from_journal(w.ledger.journal(), &"INC-1".into()).unwrap()
}

#[test]
fn injection_into_markdown_a_bare_url_or_address_does_not_become_a_link() {
    let md = incident_saying(
        "see https://evil.example/login or www.evil.example, mail root@evil.example",
    )
    .to_markdown();
    // Positive: the text is all there, to read.
    assert!(md.contains("evil"), "{md}");
    // Negative: nothing a renderer autolinks.
    for autolink in ["https://", "www.evil", "root@evil"] {
        assert!(!md.contains(autolink), "{autolink} in {md}");
    }
    assert!(
        md.contains(r"https\://") && md.contains(r"www\.evil") && md.contains(r"root\@evil"),
        "{md}"
    );
}

#[test]
fn injection_into_mermaid_a_directive_in_free_text_stays_text() {
    let retro = incident_saying("%%{init: {'theme': 'dark', 'securityLevel': 'loose'}}%%");
    let timeline = knowngood::picture::timeline_mermaid(&retro);
    assert!(!timeline.contains("%%"), "{timeline}");
    assert!(timeline.contains("#37;#37;"), "shown as text: {timeline}");
}

// ----- 8. the drill clock never wraps ---------------------------------------

#[test]
fn drill_clock_past_chronos_range_fails_the_drill_instead_of_wrapping_to_1970() {
    use knowngood::drill::{BUILT_IN, HistoryStep, Scenario, run};
    let mut scenario = Scenario::from_json(BUILT_IN, "built-in").unwrap();
    let honest = run(&scenario, 1);
    assert!(honest.passed(), "{:?}", honest.failures);
    // Forty waits of u32::MAX minutes: some 300,000 years.
    let waits = std::iter::repeat_with(|| HistoryStep::Wait { minutes: u32::MAX }).take(40);
    let at = scenario.history.len();
    scenario.history.splice(at..at, waits);
    let report = run(&scenario, 1);
    assert!(!report.passed());
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.contains("virtual clock ran past")),
        "{:?}",
        report.failures
    );
    // Time never went back to 1970 in the journal.
    let entries = report.journal.entries();
    assert!(entries.windows(2).all(|w| w[0].event.at <= w[1].event.at));
}

// ----- property: any commands, any times, any ids ----------------------------

mod any_input {
    use super::*;
    use proptest::prelude::*;

    /// An id drawn from printable text, hostile characters included.
    fn id() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("prod".to_owned()),
            Just("payments".to_owned()),
            Just("INC-1".to_owned()),
            "[a-z]{1,6}",
            "\\PC{0,12}",
            Just("a\"b\n## c|<d>`\u{2028}".to_owned()),
        ]
    }

    fn command() -> impl Strategy<Value = Command> {
        prop_oneof![
            id().prop_map(|s| Command::RegisterService {
                service: Service::new(s),
            }),
            (id(), proptest::option::of(id())).prop_map(|(c, p)| Command::RecordCommit {
                commit: knowngood::Commit::new(c, p.map(knowngood::CommitId::new)),
            }),
            (id(), id(), id()).prop_map(|(incident, env, summary)| {
                Command::DeclareIncident {
                    incident: incident.into(),
                    environment: env.into(),
                    service: "payments".into(),
                    severity: knowngood::Severity::Sev2,
                    cause: common::external(),
                    summary,
                    by: "oncall".into(),
                    impact_began: None,
                }
            }),
            id().prop_map(|incident| Command::MarkMitigated {
                incident: incident.into(),
                by: "oncall".into(),
            }),
            (id(), id()).prop_map(|(env, release)| Command::deploy(
                env.as_str(),
                release.as_str(),
                "bob"
            )),
            (any::<u64>(), any::<u64>()).prop_map(|(stage, fix)| {
                let mut policy = knowngood::Policy::default();
                policy.default_stage_seconds = stage;
                policy.fix_seconds = fix;
                Command::AdoptPolicy {
                    policy,
                    by: "lead".into(),
                }
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_commands_at_any_times_never_panic_never_go_back_and_replay_equals_live(
            steps in proptest::collection::vec((command(), -600_i64..600), 1..40)
        ) {
            let mut ledger = World::new().ledger;
            let mut at = t(0);
            for (command, minutes) in &steps {
                at += Duration::minutes(*minutes);
                let _ = ledger.execute(command, at);
                let _ = knowngood::plan(
                    ledger.state(),
                    &"INC-1".into(),
                    at,
                    &knowngood::Capabilities::all(),
                );
            }
            let entries = ledger.journal().entries();
            prop_assert!(entries.windows(2).all(|w| w[0].event.at <= w[1].event.at));
            let replayed = Ledger::from_journal(ledger.journal().clone()).unwrap();
            prop_assert_eq!(replayed.state(), ledger.state());
            let mut bytes = Vec::new();
            ledger.journal().write_jsonl(&mut bytes).unwrap();
            let read = Journal::from_jsonl(bytes.as_slice()).unwrap();
            prop_assert_eq!(&read, ledger.journal());
        }
    }
}

// ----- 7. replay re-checks meaning ------------------------------------------

/// `w`'s journal with `kind` appended past the core (a re-chained journal:
/// every hash is valid).
fn forged(w: &World, kind: EventKind) -> Journal {
    let mut journal = w.ledger.journal().clone();
    let event = Event::new(t(w.clock + 1), kind);
    let stream = event.stream();
    let version = journal.stream_version(&stream);
    journal
        .append(&stream, ExpectedVersion::Exactly(version), vec![event])
        .unwrap();
    assert!(journal.verify_chain().is_ok(), "the chain itself is valid");
    journal
}

fn refused_on_replay(journal: Journal) -> knowngood::ReplayError {
    let len = journal.len() as u64;
    let err = Ledger::from_journal(journal).unwrap_err();
    assert_eq!(err.position, len, "the forged entry is named: {err}");
    err
}

#[test]
fn replay_trusts_meaning_a_second_declaration_of_an_incident_is_refused() {
    let w = common::bad_commit_in_production(knowngood::Policy::default());
    let journal = forged(
        &w,
        EventKind::IncidentDeclared {
            incident: "INC-1".into(),
            environment: "prod".into(),
            service: common::SERVICE.into(),
            severity: knowngood::Severity::Sev3,
            cause: common::external(),
            summary: "nothing to see".into(),
            by: "mallory".into(),
            impact_began: None,
        },
    );
    let err = refused_on_replay(journal);
    assert_eq!(err.rejection.rule(), "duplicate-incident", "{err}");
    // A new incident's declaration replays.
    let fine = forged(
        &w,
        EventKind::IncidentDeclared {
            incident: "INC-2".into(),
            environment: "prod".into(),
            service: common::SERVICE.into(),
            severity: knowngood::Severity::Sev3,
            cause: common::external(),
            summary: "slow".into(),
            by: "alice".into(),
            impact_began: None,
        },
    );
    assert!(Ledger::from_journal(fine).is_ok());
}

#[test]
fn replay_trusts_meaning_an_artifact_of_an_unregistered_service_is_refused() {
    let w = World::new();
    let artifact = |service: &str| {
        knowngood::Artifact::new(
            service,
            common::digest(77),
            semver::Version::new(1, 0, 0),
            77,
            "c77",
        )
    };
    let err = refused_on_replay(forged(
        &w,
        EventKind::ArtifactRegistered {
            artifact: artifact("shadow"),
        },
    ));
    assert_eq!(err.rejection.rule(), "unknown-service", "{err}");
    let fine = forged(
        &w,
        EventKind::ArtifactRegistered {
            artifact: artifact(common::SERVICE),
        },
    );
    assert!(Ledger::from_journal(fine).is_ok());
}

#[test]
fn replay_trusts_meaning_a_production_deployment_never_verified_upstream_is_refused() {
    let mut w = World::new();
    let unverified = w.build(5);
    let verified = w.ready_for_prod(6);
    let request = |release| EventKind::DeploymentRequested {
        slot: knowngood::Slot::new("prod", common::SERVICE, knowngood::Revision(1)),
        release,
        by: "mallory".into(),
        effect: None,
    };
    let err = refused_on_replay(forged(&w, request(unverified)));
    assert_eq!(err.rejection.rule(), "not-verified-upstream", "{err}");
    assert!(Ledger::from_journal(forged(&w, request(verified))).is_ok());
}

// ----- 5. one canonical form, every reader agrees ----------------------------

/// `journal`'s events recorded again on `chain`, in order: the same
/// history under another chain (what a re-chaining forger produces, too).
fn rechained(journal: &Journal, chain: &Chain) -> Journal {
    let mut out = Journal::with_chain(chain.clone());
    for entry in journal.entries() {
        out.append(
            &entry.stream,
            ExpectedVersion::Any,
            vec![entry.event.clone()],
        )
        .unwrap();
    }
    out
}

fn lines_of(journal: &Journal) -> Vec<String> {
    let mut out = Vec::new();
    journal.write_jsonl(&mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn hash_of(line: &str) -> EntryHash {
    let hex = &line[line.len() - 66..line.len() - 2];
    EntryHash::parse_hex(hex).unwrap()
}

/// Line `index` respelled by `respell` (applied to the line without its
/// hash) and linked again on `chain` over the respelled bytes: what another
/// writer following the format's description, but not its spelling,
/// produces.
fn respelled(
    lines: &[String],
    index: usize,
    chain: &Chain,
    respell: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut out = lines.to_vec();
    let line = &lines[index];
    let body = format!("{}}}", &line[..line.rfind(",\"hash\":").unwrap()]);
    let body = respell(&body);
    assert_ne!(
        body,
        format!("{}}}", &line[..line.rfind(",\"hash\":").unwrap()])
    );
    let previous = if index == 0 {
        chain.genesis()
    } else {
        hash_of(&lines[index - 1])
    };
    let hash = chain.link(&previous, body.as_bytes());
    out[index] = format!("{},\"hash\":\"{hash}\"}}", &body[..body.len() - 1]);
    out
}

#[test]
fn two_readers_disagree_no_more_a_canonical_file_reads_the_same_everywhere() {
    let w = common::bad_commit_in_production(knowngood::Policy::default());
    let text = lines_of(w.ledger.journal()).join("\n");
    let loaded = Journal::from_jsonl_str(&text).unwrap();
    assert_eq!(&loaded, w.ledger.journal());
    assert!(loaded.verify_chain().is_ok());
    assert_eq!(
        Journal::from_entries(loaded.entries().to_vec()).unwrap(),
        loaded
    );
    // Written back, it is the same bytes: the file can be resumed from.
    assert_eq!(lines_of(&loaded).join("\n"), text);
}

/// What is respelled, how, and what the error shows of it.
type Respelling = (&'static str, fn(&str) -> String, &'static str);

#[test]
fn two_readers_disagree_no_more_a_respelled_line_is_refused_at_load_naming_the_byte() {
    let w = common::bad_commit_in_production(knowngood::Policy::default());
    let lines = lines_of(w.ledger.journal());
    let chain = Chain::unnamed();
    let respellings: [Respelling; 4] = [
        (
            "a space after a colon",
            |l| l.replacen("\"v\":1", "\"v\": 1", 1),
            " 1",
        ),
        (
            "keys reordered",
            |l| l.replacen("{\"v\":1,\"position\":3,", "{\"position\":3,\"v\":1,", 1),
            "position\":3,\"v\"",
        ),
        (
            "`+00:00` for `Z`",
            |l| l.replacen("Z\",", "+00:00\",", 1),
            "+00:00",
        ),
        (
            "an escaped letter",
            |l| {
                let at = l.find("\"stream\":\"").unwrap() + "\"stream\":\"".len();
                let letter = l[at..].chars().next().unwrap();
                format!("{}\\u{:04x}{}", &l[..at], u32::from(letter), &l[at + 1..])
            },
            "\\u00",
        ),
    ];
    for (what, respell, shown) in respellings {
        let bad = respelled(&lines, 2, &chain, respell);
        let err = Journal::from_jsonl_str(&bad.join("\n")).unwrap_err();
        assert_eq!(err.line, 3, "{what}: {err}");
        let knowngood::LineProblem::NotCanonical { offset, found, .. } = &err.problem else {
            panic!("{what}: {err}");
        };
        assert_eq!(
            bad[2].as_bytes()[..*offset],
            lines[2].as_bytes()[..*offset],
            "{what}: the offset is the first difference"
        );
        assert!(found.contains(shown), "{what}: {err}");
        assert_eq!(err.intact.len(), 2, "{what}");
        assert!(err.to_string().contains("canonical form"), "{what}: {err}");
    }
}

// ----- 6. the first link is checkable ---------------------------------------

#[test]
fn a_replaced_first_line_is_blamed_on_line_1_on_a_named_chain() {
    let w = common::bad_commit_in_production(knowngood::Policy::default());
    let prod_chain = Chain::named("payments-prod");
    let prod = lines_of(&rechained(w.ledger.journal(), &prod_chain));
    // The untouched journal reads back under its own name only.
    let read = Journal::with_chain(prod_chain.clone())
        .read_jsonl(prod.join("\n").as_bytes())
        .unwrap();
    assert!(read.verify_chain().is_ok());
    let err = Journal::from_jsonl_str(&prod.join("\n")).unwrap_err();
    assert_eq!(err.line, 1, "read without its name: {err}");

    // A first line taken from another journal (named or not), itself a
    // perfectly valid first line there, is refused at line 1 and nothing
    // foreign is handed back as intact.
    let staging = lines_of(&rechained(
        w.ledger.journal(),
        &Chain::named("payments-staging"),
    ));
    let unnamed = lines_of(w.ledger.journal());
    for foreign in [&staging[0], &unnamed[0]] {
        let mut lines = prod.clone();
        lines[0].clone_from(foreign);
        let err = Journal::with_chain(prod_chain.clone())
            .read_jsonl(lines.join("\n").as_bytes())
            .unwrap_err();
        assert_eq!(err.line, 1, "{err}");
        assert!(
            matches!(&err.problem, knowngood::LineProblem::ForeignStart { chain } if chain.contains("payments-prod")),
            "{err}"
        );
        assert!(err.intact.is_empty());
        assert!(err.to_string().contains("journal line 1 "), "{err}");
    }
}

// ----- 7. an optional keyed chain --------------------------------------------

#[test]
fn replay_trusts_meaning_a_keyed_chain_catches_a_rechained_forgery() {
    let w = common::bad_commit_in_production(knowngood::Policy::default());
    let key = b"kept in the vault, never in the journal";
    let keyed = Chain::named("payments-prod").keyed(key);
    let genuine = rechained(w.ledger.journal(), &keyed);
    let text = lines_of(&genuine).join("\n");
    assert_eq!(
        Journal::with_chain(keyed.clone())
            .read_jsonl(text.as_bytes())
            .unwrap(),
        genuine
    );

    // The forger changes who declared the incident and re-links the chain
    // from there on: without the key it can only guess one.
    let at = genuine
        .entries()
        .iter()
        .position(|e| matches!(e.event.kind, EventKind::IncidentDeclared { .. }))
        .unwrap();
    for guess in [
        Chain::named("payments-prod"),
        Chain::named("payments-prod").keyed(b"guess"),
    ] {
        let mut forged = Journal::with_chain(guess.clone());
        for (i, entry) in genuine.entries().iter().enumerate() {
            let mut event = entry.event.clone();
            if let (true, EventKind::IncidentDeclared { by, .. }) = (i == at, &mut event.kind) {
                *by = "mallory".into();
            }
            forged
                .append(&entry.stream, ExpectedVersion::Any, vec![event])
                .unwrap();
        }
        let mut lines = lines_of(&forged);
        // The lines before the edit are the genuine ones.
        lines[..at].clone_from_slice(&lines_of(&genuine)[..at]);
        let forged_text = lines.join("\n");
        // Under the forger's own chain only the seam shows; under the key,
        // the first forged line is named.
        let err = Journal::with_chain(keyed.clone())
            .read_jsonl(forged_text.as_bytes())
            .unwrap_err();
        assert_eq!(err.line, at + 1, "{guess}: {err}");
        assert_eq!(err.intact.len(), at, "{guess}");
        // Re-linked from the first line, the forgery does not start the
        // keyed journal at all.
        let whole = lines_of(&forged).join("\n");
        let err = Journal::with_chain(keyed.clone())
            .read_jsonl(whole.as_bytes())
            .unwrap_err();
        assert_eq!(err.line, 1, "{guess}: {err}");
    }
}

#[test]
fn replay_trusts_meaning_the_driver_reads_and_writes_a_keyed_store_with_its_chain() {
    let w = common::bad_commit_in_production(knowngood::Policy::default());
    let keyed = Chain::named("payments-prod").keyed(b"vault");
    let ports = |store: Arc<InMemoryJournalStore>| {
        Ports::new(
            Arc::new(InMemoryVcs::default()),
            Arc::new(InMemoryDeployer::default()),
            Some(Arc::new(InMemoryFlagStore::default())),
            Arc::new(InMemoryHealthProbe::default()),
            Arc::new(InMemoryBuilder::new(1, 1, 0)),
            store,
            Arc::new(ManualClock::at(t(w.clock + 60))),
        )
    };
    let store = Arc::new(InMemoryJournalStore::with_chain(keyed.clone()));
    let history = rechained(w.ledger.journal(), &keyed);
    block_on(store.append(0, history.entries())).unwrap();
    let mut driver = block_on(Driver::resume(ports(store.clone()), "bot")).unwrap();
    let command = Command::RegisterService {
        service: Service::new("search"),
    };
    block_on(driver.execute(&command)).unwrap();
    let stored = store.entries();
    assert_eq!(stored.len(), history.len() + 1);
    assert!(
        Journal::with_chain(keyed.clone())
            .read_entries(stored.clone())
            .is_ok()
    );
    assert_eq!(Journal::from_entries(stored).unwrap_err().line, 1);

    // A store set up with a key that does not match what it holds is
    // refused at the first entry, before anything is driven.
    let wrong = Arc::new(InMemoryJournalStore::with_chain(
        Chain::named("payments-prod").keyed(b"other"),
    ));
    block_on(wrong.append(0, history.entries())).unwrap();
    let err = block_on(Driver::resume(ports(wrong), "bot")).unwrap_err();
    assert!(
        matches!(&err, DriveError::Corrupt(c) if c.line == 1 && matches!(c.problem, knowngood::LineProblem::ForeignStart { .. })),
        "{err}"
    );
}

// ----- 4. names are checked where they enter ---------------------------------

fn invalid_name(rejection: &Rejection) -> (&str, &str) {
    match rejection {
        Rejection::InvalidName { what, name, .. } => (what, name),
        other => panic!("expected invalid-name, got {other}"),
    }
}

#[test]
fn injection_names_a_service_with_a_slash_or_a_newline_is_refused_at_registration() {
    let mut w = World::new();
    for bad in [
        "eu/payments",
        "pay\nments",
        "",
        "-payments",
        &"p".repeat(129),
    ] {
        let err = w
            .run(Command::RegisterService {
                service: Service::new(bad),
            })
            .unwrap_err();
        assert_eq!(invalid_name(&err), ("service", bad));
        assert_eq!(err.rule(), "invalid-name");
        assert!(err.to_string().contains("pick another name"), "{err}");
        assert!(!err.to_string().contains('\n'), "the name is quoted: {err}");
    }
    for good in ["search", "Search.API_v2-eu", &"p".repeat(128)] {
        w.ok(Command::RegisterService {
            service: Service::new(good),
        });
    }
}

#[test]
fn injection_names_an_environment_that_would_share_a_stream_is_refused() {
    // Environment `prod/payments` with service `x` and environment `prod`
    // with service `payments/x` would both be `deployments/prod/payments/x`.
    let mut w = World::new();
    let pipeline = common::pipeline_spec()
        .environment("prod/payments", knowngood::EnvironmentRole::Test)
        .promote("qa", "prod/payments")
        .build()
        .unwrap();
    let err = w.run(Command::DefinePipeline { pipeline }).unwrap_err();
    assert_eq!(invalid_name(&err), ("environment", "prod/payments"));
    let pipeline = common::pipeline_spec()
        .environment("prod.payments", knowngood::EnvironmentRole::Test)
        .promote("qa", "prod.payments")
        .build()
        .unwrap();
    w.ok(Command::DefinePipeline { pipeline });
}

#[test]
fn injection_names_an_incident_or_flag_with_markup_is_refused() {
    let mut w = common::flagged_change_in_production();
    let declare = |incident: &str| Command::DeclareIncident {
        incident: incident.into(),
        environment: "prod".into(),
        service: common::SERVICE.into(),
        severity: knowngood::Severity::Sev3,
        cause: common::external(),
        summary: "slow".into(),
        by: "alice".into(),
        impact_began: None,
    };
    let err = w.run(declare("INC-9\n  12:00 : forged")).unwrap_err();
    assert_eq!(invalid_name(&err).0, "incident");
    w.ok(declare("INC-9"));

    let flag = |flag: &str| Command::SetFlag {
        environment: "qa".into(),
        flag: flag.into(),
        state: knowngood::FlagState::On,
        by: "bob".into(),
        clearance: knowngood::Clearance::none(),
    };
    let err = w.run(flag("<b>dark</b>")).unwrap_err();
    assert_eq!(invalid_name(&err).0, "flag");
    w.ok(flag("dark.launch_2"));
}

#[test]
fn injection_names_a_release_or_config_with_shell_syntax_or_a_placeholder_is_refused() {
    let mut w = World::new();
    let artifact = w.build(5);
    let digest = w
        .ledger
        .state()
        .release(&artifact)
        .map(|r| r.artifact.clone())
        .unwrap();
    let register = |id: &str, config: &str| Command::RegisterRelease {
        release: knowngood::Release::new(id, common::SERVICE, digest.clone(), config),
    };
    for bad in [
        "1.2.0; rm -rf /",
        "$(id)",
        "-x",
        "{config}",
        "payments/1.2",
        "a b",
        "`id`",
    ] {
        let err = w.run(register(bad, "cfg-1")).unwrap_err();
        assert_eq!(invalid_name(&err), ("release", bad));
        let err = w.run(register("payments@9.0.0", bad)).unwrap_err();
        assert_eq!(invalid_name(&err), ("config revision", bad));
    }
    w.ok(register("payments@9.0.0+build.7", "cfg-2041_a"));
}

#[test]
fn injection_names_a_commit_id_that_reads_as_an_option_or_a_revision_is_refused() {
    let mut w = World::new();
    for bad in [
        "--output=/etc/passwd",
        "main~1",
        "HEAD^",
        "a1\nb2",
        "{key}",
        "-x",
        "",
    ] {
        let err = w
            .run(Command::RecordCommit {
                commit: knowngood::Commit::new(bad, None::<&str>),
            })
            .unwrap_err();
        assert_eq!(invalid_name(&err), ("commit", bad));
        // As a parent it was never recorded, and cannot be.
        assert!(
            w.run(Command::RecordCommit {
                commit: knowngood::Commit::new("c0ffee", [bad]),
            })
            .is_err()
        );
    }
    w.ok(Command::RecordCommit {
        commit: knowngood::Commit::new("c0ffee12", None::<&str>),
    });
}

#[test]
fn injection_names_a_journal_holding_a_hostile_name_does_not_replay() {
    let w = World::new();
    let journal = forged(
        &w,
        EventKind::ServiceRegistered {
            service: Service::new("eu/payments"),
        },
    );
    let err = refused_on_replay(journal);
    assert_eq!(invalid_name(&err.rejection), ("service", "eu/payments"));
    let fine = forged(
        &w,
        EventKind::ServiceRegistered {
            service: Service::new("eu-payments"),
        },
    );
    assert!(Ledger::from_journal(fine).is_ok());
}
