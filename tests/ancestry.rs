//! Ancestry questions answered by generation-pruned walks agree with the
//! full ancestry over random commit graphs (with merges), and cost the
//! commits in between rather than the history.

use chrono::{TimeZone, Utc};
use knowngood::{Command, Commit, CommitId, Ledger};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// A ledger holding a random DAG: commit `n` has one or two parents among
/// the earlier commits.
fn dag(parents: &[(usize, Option<usize>)]) -> (Ledger, Vec<CommitId>) {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut ledger = Ledger::new();
    let mut ids: Vec<CommitId> = Vec::new();
    for (n, (first, second)) in parents.iter().enumerate() {
        let id = CommitId::new(format!("c{n}"));
        let mut ps: Vec<CommitId> = Vec::new();
        if n > 0 {
            ps.push(ids[first % n].clone());
            if let Some(s) = second
                && ids[s % n] != ps[0]
            {
                ps.push(ids[s % n].clone());
            }
        }
        ledger
            .execute(
                &Command::RecordCommit {
                    commit: Commit::new(id.clone(), ps),
                },
                now,
            )
            .unwrap();
        ids.push(id);
    }
    (ledger, ids)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn commits_between_and_is_ancestor_agree_with_the_full_ancestry(
        parents in proptest::collection::vec((0usize..1000, proptest::option::of(0usize..1000)), 1..60),
        a in 0usize..1000,
        b in 0usize..1000,
    ) {
        let (ledger, ids) = dag(&parents);
        let state = ledger.state();
        let head = &ids[a % ids.len()];
        let have = &ids[b % ids.len()];
        let full_head = state.ancestors(head);
        let full_have = state.ancestors(have);
        let expected: BTreeSet<CommitId> = full_head.difference(&full_have).cloned().collect();
        let between = state.commits_between(Some(have), head);
        let got: BTreeSet<CommitId> = between.iter().map(|c| (*c).clone()).collect();
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(got.len(), between.len(), "each commit once");
        // Parents before children.
        for (i, c) in between.iter().enumerate() {
            let record = state.commit(c).unwrap();
            for p in &record.commit.parents {
                if let Some(j) = between.iter().position(|x| *x == p) {
                    prop_assert!(j < i, "{p} after its child {c}");
                }
            }
        }
        let all: BTreeSet<CommitId> = state.commits_between(None, head).into_iter().cloned().collect();
        prop_assert_eq!(all, full_head.clone());
        for id in &ids {
            prop_assert_eq!(state.is_ancestor(id, head), full_head.contains(id), "{} of {}", id, head);
        }
    }
}

#[test]
fn is_ancestor_of_an_unrecorded_commit_is_false() {
    let (ledger, ids) = dag(&[(0, None), (0, None)]);
    let ghost = CommitId::new("ghost");
    assert!(!ledger.state().is_ancestor(&ghost, &ids[1]));
    assert!(!ledger.state().is_ancestor(&ids[0], &ghost));
    assert!(ledger.state().is_ancestor(&ids[0], &ids[1]));
    assert!(ledger.state().commits_between(None, &ghost).is_empty());
}
