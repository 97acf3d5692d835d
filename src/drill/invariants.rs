//! The invariants every drill checks as it runs, for any journal.

use crate::journal::Journal;
use crate::machine::{EventKind, State};

/// The drill invariants, checked incrementally as a journal grows:
///
/// 1. replaying the journal gives the live state;
/// 2. the hash chain is intact;
/// 3. no release carrying a poisoned change enters production;
/// 4. production runs only digests verified upstream;
/// 5. an open gate during an incident has nothing holding it;
/// 6. no contract migration runs inside the rollback window.
///
/// They judge what the journal *says*, not how it got there, so they also
/// catch a rule the core failed to enforce (or an event written past it):
///
/// ```
/// use knowngood::drill::Invariants;
/// use knowngood::{Journal, State};
/// let mut invariants = Invariants::new();
/// assert!(invariants.check(&Journal::new(), &State::new()).is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Invariants {
    replayed: State,
    replayed_len: usize,
    chain_checked: usize,
}

impl Invariants {
    /// A checker that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the entries appended since the last call, and `live`, the
    /// state the host holds; returns every invariant broken, in words.
    pub fn check(&mut self, journal: &Journal, live: &State) -> Vec<String> {
        self.check_with(journal, live, true)
    }

    /// Like [`Invariants::check`], but without comparing the whole replayed
    /// state with `live` (which costs the state's size): for checks after
    /// every small step of a long history, with a full [`check`] at the end.
    ///
    /// [`check`]: Invariants::check
    pub fn check_incremental(&mut self, journal: &Journal, live: &State) -> Vec<String> {
        self.check_with(journal, live, false)
    }

    fn check_with(&mut self, journal: &Journal, live: &State, whole: bool) -> Vec<String> {
        let mut found: Vec<String> = Vec::new();
        // The journal only grows between checks; should a restart have
        // dropped entries, start over.
        if journal.len() < self.replayed_len {
            self.replayed = State::new();
            self.replayed_len = 0;
            self.chain_checked = 0;
        }
        // 1. Replaying the journal gives the live state; 8. no contract
        // migration ran inside the rollback window (checked event by event).
        let replayed = &mut self.replayed;
        for entry in &journal.entries()[self.replayed_len..] {
            // 3. No release carrying a poisoned change enters production.
            if let EventKind::DeploymentRequested { slot, release, .. }
            | EventKind::RollbackRequested { slot, release, .. } = &entry.event.kind
                && crate::machine::gates::is_production(replayed, &slot.environment)
                && let Some(r) = replayed.release(release)
                && matches!(replayed.unneutralised_poison(r, &slot.environment), Ok(p) if !p.is_empty())
            {
                found.push(format!(
                    "`{release}` entered `{}` carrying a poisoned change",
                    slot.environment
                ));
            }
            if let EventKind::MigrationApplied {
                environment,
                service,
                migration,
                ..
            } = &entry.event.kind
                && migration.phase == crate::model::MigrationPhase::Contract
                && !crate::migration::unsafe_rollback_targets(
                    replayed,
                    environment,
                    service,
                    migration.to,
                )
                .is_empty()
            {
                found.push(format!(
                "contract `{}` ran while a release in the rollback window needed the old schema",
                migration.id
            ));
            }
            if let Err(e) = replayed.apply(&entry.event) {
                found.push(format!(
                    "journal entry {} does not replay: {e}",
                    entry.position
                ));
                return found;
            }
        }
        self.replayed_len = journal.len();
        if whole && *replayed != *live {
            found.push("replaying the journal does not give the live state".to_owned());
        }
        // 2. The hash chain is intact (the new links).
        if let Err(e) = journal.verify_links_from(self.chain_checked) {
            found.push(e.to_string());
        }
        self.chain_checked = journal.len();
        // 4. Production runs only digests verified upstream.
        if let Some(pipeline) = live.pipeline() {
            for env in pipeline.production() {
                let Some(env_state) = live.environment(&env.id) else {
                    continue;
                };
                for (service, history) in env_state.services() {
                    let Some(release) = history.current().and_then(|d| live.release(&d.release))
                    else {
                        continue;
                    };
                    let lanes = pipeline.lanes_into(&env.id);
                    // A stage the artifact was fast-tracked past (recorded,
                    // authorised) stands for the stages before it.
                    let skipped: Vec<&crate::model::EnvironmentId> =
                        live.fast_tracked(&release.artifact).collect();
                    let verified = lanes.is_empty()
                        || lanes.iter().any(|lane| {
                            let mut todo = pipeline.predecessors(&env.id, *lane);
                            let mut ok = true;
                            let mut seen = std::collections::BTreeSet::new();
                            while let Some(up) = todo.pop() {
                                if !seen.insert(up) {
                                    continue;
                                }
                                if live
                                    .environment(up)
                                    .is_some_and(|e| e.has_verified(&release.artifact))
                                {
                                    continue;
                                }
                                if skipped.contains(&up) {
                                    todo.extend(pipeline.predecessors(up, *lane));
                                } else {
                                    ok = false;
                                }
                            }
                            ok
                        });
                    if !verified {
                        found.push(format!(
                            "`{}` runs `{}` in `{}`, not verified upstream",
                            service, release.id, env.id
                        ));
                    }
                }
                // 5. An open gate during an incident has nothing holding it.
                if env_state.closed_gate().is_none() {
                    let open_incident = live.incidents().any(|i| {
                        i.environment == env.id && i.phase < crate::model::IncidentPhase::Resolved
                    });
                    if open_incident
                        && let Some(hold) = crate::machine::gates::gate_hold(live, &env.id)
                    {
                        found.push(format!(
                            "the gate of `{}` is open during an incident although {hold}",
                            env.id
                        ));
                    }
                }
            }
        }
        found
    }
}

/// Whether starting from a snapshot taken halfway through `journal`
/// (sealed and opened on its chain) plus the entries after it fails to
/// give `live`, in words.
pub(crate) fn snapshot_start_differs(journal: &Journal, live: &State) -> Option<String> {
    if journal.held_from() > 0 {
        return None;
    }
    let half = journal.len().checked_div(2).unwrap_or(0);
    let prefix = crate::Ledger::from_journal(journal.truncated(half)).ok()?;
    let sealed = crate::journal::Snapshot::of(&prefix).seal(journal.chain());
    let snapshot = match sealed.open(journal.chain()) {
        Ok(snapshot) => snapshot,
        Err(problem) => {
            return Some(format!(
                "a snapshot of the journal does not open: {problem}"
            ));
        }
    };
    let mut started = crate::Ledger::from_snapshot(snapshot, journal.chain().clone());
    if let Err(e) = started.catch_up(
        journal
            .read_from((half as u64).saturating_add(1))
            .iter()
            .cloned(),
    ) {
        return Some(format!(
            "the entries after a snapshot at {half} do not follow it: {e}"
        ));
    }
    (started.state() != live).then(|| {
        format!("a start from a snapshot at {half} plus the entries after it does not give the live state")
    })
}
