//! The journal: append-only, per-stream expected versions, JSON Lines round
//! trip, replay rebuilds the exact state, damage is located by line.

mod common;

use common::{SERVICE, World};
use knowngood::{
    Command, ExpectedVersion, Journal, JournalError, Ledger, LineProblem, Rejection, Revision,
    Slot, StreamId, Verdict,
};
use proptest::prelude::*;

fn jsonl(journal: &Journal) -> String {
    let mut out = Vec::new();
    journal.write_jsonl(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// A small but complete history: build 1 through to prod, build 2 fails
/// there, rolled back.
fn history() -> World {
    let mut w = World::new();
    let a = w.ready_for_prod(1);
    w.deploy("prod", &a, true);
    let b = w.ready_for_prod(2);
    w.deploy("prod", &b, false);
    let back = common::slot_of(&w.rollback("prod", None).unwrap()[0]);
    w.start(&back);
    w.complete(&back);
    w.verify(&back, true);
    w
}

#[test]
fn journal_round_trips_through_json_lines_and_replays_to_the_same_state() {
    let w = history();
    let text = jsonl(w.ledger.journal());
    assert_eq!(text.lines().count(), w.ledger.journal().len());
    assert!(text.lines().all(|l| l.starts_with("{\"v\":1,")), "{text}");
    let read = Journal::from_jsonl_str(&text).unwrap();
    assert_eq!(&read, w.ledger.journal());
    let rebuilt = Ledger::from_journal(read).unwrap();
    assert_eq!(rebuilt.state(), w.ledger.state());
}

#[test]
fn journal_append_with_a_stale_expected_version_is_a_conflict() {
    let w = history();
    let mut journal = w.ledger.journal().clone();
    let stream = StreamId::deployments(&"prod".into(), &SERVICE.into());
    let version = journal.stream_version(&stream);
    assert!(version > 0);
    let event = journal.entries().last().unwrap().event.clone();
    let before = journal.clone();
    let err = journal
        .append(
            &stream,
            ExpectedVersion::Exactly(version - 1),
            vec![event.clone()],
        )
        .unwrap_err();
    assert_eq!(
        err,
        JournalError::Conflict {
            stream: stream.clone(),
            expected: ExpectedVersion::Exactly(version - 1),
            actual: version
        }
    );
    assert!(err.to_string().contains("read the stream again"), "{err}");
    assert_eq!(journal, before);
    assert_eq!(
        journal
            .append(&stream, ExpectedVersion::NoStream, vec![event.clone()])
            .unwrap_err(),
        JournalError::Conflict {
            stream: stream.clone(),
            expected: ExpectedVersion::NoStream,
            actual: version
        }
    );
    // The writer with the right version succeeds.
    let added = journal
        .append(
            &stream,
            ExpectedVersion::Exactly(version),
            vec![event.clone()],
        )
        .unwrap();
    assert_eq!(added[0].version, version + 1);
    // An event appended to a stream it does not belong to is refused.
    let err = journal
        .append(&StreamId::catalog(), ExpectedVersion::Any, vec![event])
        .unwrap_err();
    assert!(matches!(err, JournalError::WrongStream { .. }), "{err}");
}

#[test]
fn journal_corrupt_line_is_named_and_the_entries_before_it_stay_readable() {
    let w = history();
    let text = jsonl(w.ledger.journal());
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[6] = lines[6].replace("\"position\":7", "\"position\":\"seven\"");
    let err = Journal::from_jsonl_str(&lines.join("\n")).unwrap_err();
    assert_eq!(err.line, 7);
    assert!(matches!(err.problem, LineProblem::Malformed(_)), "{err}");
    assert_eq!(err.intact.len(), 6);
    assert_eq!(err.intact.entries(), &w.ledger.journal().entries()[..6]);
    assert!(
        err.to_string()
            .starts_with("journal line 7 is not a journal entry"),
        "{err}"
    );

    // Truncated mid-line (a crash during a write).
    let cut = &text[..text.len() - 20];
    let err = Journal::from_jsonl_str(cut).unwrap_err();
    assert_eq!(err.line, w.ledger.journal().len());
    assert_eq!(err.intact.len(), w.ledger.journal().len() - 1);
}

#[test]
fn journal_blank_lines_are_skipped_but_counted() {
    let w = history();
    let text = jsonl(w.ledger.journal());
    let spaced = text.replacen('\n', "\n\n", 1);
    assert_eq!(
        &Journal::from_jsonl_str(&spaced).unwrap(),
        w.ledger.journal()
    );
    let broken = spaced.replacen("\"v\":1", "\"v\":1,\"extra\":0", 2);
    // Line 1 keeps its place, line 2 is blank, line 3 is the second entry.
    assert_eq!(Journal::from_jsonl_str(&broken).unwrap_err().line, 1);
}

#[test]
fn journal_removed_or_reordered_lines_are_out_of_sequence() {
    let w = history();
    let text = jsonl(w.ledger.journal());
    let mut lines: Vec<&str> = text.lines().collect();
    let removed = lines.remove(4);
    let err = Journal::from_jsonl_str(&lines.join("\n")).unwrap_err();
    assert_eq!(
        (err.line, err.problem.clone()),
        (
            5,
            LineProblem::OutOfSequence {
                expected: 5,
                found: 6
            }
        )
    );
    lines.insert(6, removed);
    let err = Journal::from_jsonl_str(&lines.join("\n")).unwrap_err();
    assert_eq!(err.line, 5);
}

#[test]
fn journal_from_a_newer_format_is_refused_with_the_version() {
    let w = history();
    let text = jsonl(w.ledger.journal()).replacen("{\"v\":1,", "{\"v\":2,", 1);
    let err = Journal::from_jsonl_str(&text).unwrap_err();
    assert_eq!(err.problem, LineProblem::UnsupportedFormat { found: 2 });
    assert!(err.to_string().contains("upgrade knowngood"), "{err}");
}

#[test]
fn journal_entry_that_contradicts_the_history_fails_replay_at_its_position() {
    // A writer outside the ledger appends an event that never could have
    // been decided: a rollout of a revision that was never requested.
    let w = history();
    let mut journal = w.ledger.journal().clone();
    let stream = StreamId::deployments(&"prod".into(), &SERVICE.into());
    let forged = knowngood::Event::new(
        common::t(999),
        knowngood::EventKind::RolloutStarted {
            slot: Slot::new("prod", SERVICE, Revision(9)),
        },
    );
    journal
        .append(&stream, ExpectedVersion::Any, vec![forged])
        .unwrap();
    let position = journal.len() as u64;
    // The file round trip keeps it (the chain covers it), replay refuses it.
    let text = jsonl(&journal);
    let err = Ledger::from_journal(Journal::from_jsonl_str(&text).unwrap()).unwrap_err();
    assert_eq!(err.position, position);
    assert_eq!(
        err.rejection,
        Rejection::UnknownRevision {
            slot: Slot::new("prod", SERVICE, Revision(9))
        }
    );
    assert!(
        err.to_string()
            .starts_with(&format!("journal entry {position} does not follow")),
        "{err}"
    );
}

/// One step of a random session against the fixture world.
#[derive(Debug, Clone)]
enum Op {
    Build(u64),
    Request(usize, u64),
    Start(usize, u32),
    Complete(usize, u32),
    Fail(usize, u32),
    Verify(usize, u32, bool),
    Abort(usize, u32),
    Rollback(usize, Option<u32>),
}

const ENVS: [&str; 4] = ["dev", "qa", "prod", "hotfix-dev"];

fn op() -> impl Strategy<Value = Op> {
    let env = 0..ENVS.len();
    let rev = 1u32..6;
    prop_oneof![
        (1u64..5).prop_map(Op::Build),
        (env.clone(), 1u64..5).prop_map(|(e, n)| Op::Request(e, n)),
        (env.clone(), rev.clone()).prop_map(|(e, r)| Op::Start(e, r)),
        (env.clone(), rev.clone()).prop_map(|(e, r)| Op::Complete(e, r)),
        (env.clone(), rev.clone()).prop_map(|(e, r)| Op::Fail(e, r)),
        (env.clone(), rev.clone(), any::<bool>()).prop_map(|(e, r, h)| Op::Verify(e, r, h)),
        (env.clone(), rev.clone()).prop_map(|(e, r)| Op::Abort(e, r)),
        (env, proptest::option::of(rev)).prop_map(|(e, r)| Op::Rollback(e, r)),
    ]
}

fn command(op: &Op) -> Command {
    let slot = |e: usize, r: u32| Slot::new(ENVS[e], SERVICE, Revision(r));
    match op.clone() {
        Op::Build(n) => Command::RegisterRelease {
            release: knowngood::Release::new(
                common::release_id(n),
                SERVICE,
                common::digest(n),
                format!("cfg-{n}"),
            ),
        },
        Op::Request(e, n) => Command::RequestDeployment {
            environment: ENVS[e].into(),
            release: common::release_id(n),
            by: "bot".into(),
            clearance: knowngood::Clearance::none(),
            effect: None,
        },
        Op::Start(e, r) => Command::StartRollout { slot: slot(e, r) },
        Op::Complete(e, r) => Command::CompleteRollout { slot: slot(e, r) },
        Op::Fail(e, r) => Command::FailRollout {
            slot: slot(e, r),
            reason: "crash".into(),
            by: "deployer".into(),
        },
        Op::Verify(e, r, healthy) => Command::RecordVerification {
            slot: slot(e, r),
            verdict: if healthy {
                Verdict::Healthy
            } else {
                Verdict::Unhealthy {
                    reason: "5xx".into(),
                }
            },
            by: "health-probe".into(),
            evidence: healthy.then(|| "error rate 0.1%".into()),
        },
        Op::Abort(e, r) => Command::AbortRollout {
            slot: slot(e, r),
            by: "alice".into(),
            reason: "stop".into(),
        },
        Op::Rollback(e, r) => Command::Rollback {
            environment: ENVS[e].into(),
            service: SERVICE.into(),
            to_revision: r.map(Revision),
            by: "alice".into(),
            reason: "bad".into(),
            clearance: knowngood::Clearance::none(),
            effect: None,
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn journal_replay_equals_live_state_for_random_command_sequences(ops in proptest::collection::vec(op(), 1..120)) {
        let mut w = World::new();
        for n in 1..5 {
            w.ok(Command::RegisterArtifact {
                artifact: knowngood::Artifact::new(SERVICE, common::digest(n), semver::Version::new(1, n, 0), n, "c1"),
            });
        }
        for op in &ops {
            let before = w.ledger.clone();
            if w.run(command(op)).is_err() {
                prop_assert_eq!(&w.ledger, &before, "a rejected {:?} changed something", op);
            }
        }
        let text = jsonl(w.ledger.journal());
        let read = Journal::from_jsonl_str(&text).unwrap();
        prop_assert_eq!(&read, w.ledger.journal());
        prop_assert_eq!(jsonl(&read), text, "a read journal must write back byte for byte");
        prop_assert!(read.verify_chain().is_ok());
        let rebuilt = Ledger::from_journal(read).unwrap();
        prop_assert_eq!(rebuilt.state(), w.ledger.state());
    }
}

#[test]
fn journal_one_line_codec_round_trips_every_entry_and_checks_the_link() {
    let w = history();
    let journal = w.ledger.journal();
    let chain = journal.chain().clone();
    let mut previous = chain.genesis();
    let mut lines = Vec::new();
    for entry in journal.entries() {
        let line = entry.to_line();
        assert!(!line.contains('\n'));
        let back = knowngood::JournalEntry::from_line(&line, &previous, &chain).unwrap();
        assert_eq!(&back, entry);
        previous = entry.hash;
        lines.push(line);
    }
    // The same lines, joined, are the file `write_jsonl` writes.
    assert_eq!(format!("{}\n", lines.join("\n")), jsonl(journal));
    // A line against the wrong predecessor, or edited, is refused.
    let second = &journal.entries()[1];
    assert!(matches!(
        knowngood::JournalEntry::from_line(&second.to_line(), &chain.genesis(), &chain),
        Err(LineProblem::ForeignStart { .. })
    ));
    let edited = lines[1].replacen("\"version\":1", "\"version\":2", 1);
    assert!(matches!(
        knowngood::JournalEntry::from_line(&edited, &journal.entries()[0].hash, &chain),
        Err(LineProblem::BrokenLink { position: 2 })
    ));
    // Serde keeps the fields as they are, for stores that use columns.
    let json = serde_json::to_string(second).unwrap();
    assert_eq!(
        &serde_json::from_str::<knowngood::JournalEntry>(&json).unwrap(),
        second
    );
}
