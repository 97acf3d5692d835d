//! `decide`: check a command against the state and say what happened.

use chrono::{DateTime, Utc};

use super::rejection::Rejection;

use super::command::Command;
use super::event::{Event, EventKind};
use super::state::State;
use super::{rehearse, rules};

/// Checks `command` against `state` and returns the events it causes, each
/// stamped with `now`, or the rejection that refuses it.
///
/// Pure: it reads no clock, makes no id and changes nothing; the same state,
/// command and time always give the same answer. Re-registering something
/// already registered with identical details yields no events.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use knowngood::{decide, Command, EnvironmentRole, PipelineSpec, State};
/// let pipeline = PipelineSpec::new()
///     .environment("prod", EnvironmentRole::Production)
///     .build()
///     .unwrap();
/// let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let events = decide(&State::new(), &Command::DefinePipeline { pipeline }, now).unwrap();
/// assert_eq!(events.len(), 1);
/// ```
pub fn decide(
    state: &State,
    command: &Command,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, Rejection> {
    if !matches!(
        command,
        Command::ChooseStrategy { .. } | Command::Remediate { .. }
    ) {
        return rules::judge(state, command, now);
    }
    // A choice is accepted only if the core accepts every step of it.
    state.check_time(now)?;
    let kinds: Vec<EventKind> = rehearse::choose_checked(state, command, now)?;
    kinds.iter().try_for_each(super::apply::check_names)?;
    Ok(kinds.into_iter().map(|k| Event::new(now, k)).collect())
}
