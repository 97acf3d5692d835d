//! The tamper-evident journal: every edit, removal, insertion or swap of an
//! entry in a journal file is detected at the right position; a cut-off
//! tail is detected against a head recorded elsewhere.

mod common;

use common::World;
use knowngood::{ChainHead, Journal, LineProblem, TamperEvidence};

fn written() -> (Journal, Vec<String>) {
    let mut w = World::new();
    let one = w.ready_for_prod(1);
    w.deploy("prod", &one, true);
    let two = w.ready_for_prod(2);
    w.deploy("prod", &two, false);
    let journal = w.ledger.journal().clone();
    let mut out = Vec::new();
    journal.write_jsonl(&mut out).unwrap();
    let lines = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    (journal, lines)
}

fn read(lines: &[String]) -> Result<Journal, knowngood::CorruptJournal> {
    Journal::from_jsonl_str(&lines.join("\n"))
}

#[test]
fn tamper_an_intact_journal_verifies() {
    let (journal, lines) = written();
    let read = read(&lines).unwrap();
    assert_eq!(read, journal);
    assert!(read.verify_chain().is_ok());
    assert!(read.verify_head(&journal.head()).is_ok());
}

#[test]
fn tamper_an_edited_entry_is_detected_at_its_position() {
    let (_, mut lines) = written();
    let at = lines
        .iter()
        .position(|l| l.contains("error rate 12%"))
        .unwrap();
    lines[at] = lines[at].replace("error rate 12%", "all fine");
    let err = read(&lines).unwrap_err();
    assert_eq!(err.line, at + 1);
    assert_eq!(
        err.problem,
        LineProblem::BrokenLink {
            position: at as u64 + 1
        }
    );
    assert_eq!(err.intact.len(), at);
    assert!(err.to_string().contains("was altered"), "{err}");
}

#[test]
fn tamper_a_removed_entry_is_detected_where_it_was() {
    let (_, mut lines) = written();
    lines.remove(9);
    let err = read(&lines).unwrap_err();
    assert_eq!(
        (err.line, err.problem),
        (
            10,
            LineProblem::OutOfSequence {
                expected: 10,
                found: 11
            }
        )
    );
}

#[test]
fn tamper_an_inserted_entry_is_detected_where_it_was_put() {
    let (_, mut lines) = written();
    // A copy of entry 5 slipped in after it.
    lines.insert(5, lines[4].clone());
    let err = read(&lines).unwrap_err();
    assert_eq!(
        (err.line, err.problem),
        (
            6,
            LineProblem::OutOfSequence {
                expected: 6,
                found: 5
            }
        )
    );
    // A forged entry numbered to fit, carrying someone else's hash.
    let (_, mut lines) = written();
    let forged = lines[4].replace("\"position\":5,", "\"position\":6,");
    lines.insert(5, forged);
    let err = read(&lines).unwrap_err();
    assert_eq!(err.line, 6);
    assert!(
        matches!(
            err.problem,
            LineProblem::BrokenLink { position: 6 } | LineProblem::StreamOutOfSequence { .. }
        ),
        "{err}"
    );
}

#[test]
fn tamper_swapped_entries_are_detected_at_the_first_of_them() {
    let (_, mut lines) = written();
    lines.swap(6, 7);
    let err = read(&lines).unwrap_err();
    assert_eq!(
        (err.line, err.problem),
        (
            7,
            LineProblem::OutOfSequence {
                expected: 7,
                found: 8
            }
        )
    );
    // Swapped and renumbered so that positions and versions follow: the
    // hash chain still breaks at the first swapped entry.
    let (_, mut lines) = written();
    lines.swap(6, 7);
    lines[6] = lines[6]
        .replace("\"position\":8,", "\"position\":7,")
        .replace("\"version\":4,", "\"version\":3,");
    lines[7] = lines[7]
        .replace("\"position\":7,", "\"position\":8,")
        .replace("\"version\":3,", "\"version\":4,");
    let err = read(&lines).unwrap_err();
    assert_eq!(
        (err.line, err.problem),
        (7, LineProblem::BrokenLink { position: 7 })
    );
}

#[test]
fn tamper_a_cut_off_tail_is_detected_against_the_recorded_head() {
    let (journal, mut lines) = written();
    let head = journal.head();
    lines.truncate(lines.len() - 3);
    let cut = read(&lines).unwrap();
    assert!(
        cut.verify_chain().is_ok(),
        "a shorter chain is still a chain"
    );
    assert_eq!(
        cut.verify_head(&head).unwrap_err(),
        TamperEvidence::Truncated {
            len: head.len - 3,
            expected: head.len
        }
    );
    // Against a head recorded earlier, a journal that grew since is fine.
    let earlier = ChainHead::new(cut.len() as u64, cut.entries().last().unwrap().hash);
    assert!(journal.verify_head(&earlier).is_ok());
}

#[test]
fn tamper_a_rewritten_history_with_a_recomputed_chain_is_detected_against_the_head() {
    let (journal, _) = written();
    // Rebuild the journal from edited events: the chain is valid again, but
    // it no longer ends in the recorded head.
    let mut rewritten = Journal::new();
    for e in journal.entries() {
        let mut event = e.event.clone();
        if let knowngood::EventKind::VerificationFailed { reason, .. } = &mut event.kind {
            *reason = "all fine".into();
        }
        rewritten
            .append(&e.stream, knowngood::ExpectedVersion::Any, vec![event])
            .unwrap();
    }
    assert!(rewritten.verify_chain().is_ok());
    assert!(matches!(
        rewritten.verify_head(&journal.head()),
        Err(TamperEvidence::HeadMismatch { .. })
    ));
}
