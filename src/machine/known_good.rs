//! Last-known-good sets: whenever an environment is verified healthy as a
//! whole (every service serving a release verified known good there), what
//! it ran — each service's release and revision, the flags' states, the
//! schema versions — so that a team can see how it differs now.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::kept::{KNOWN_GOOD_SETS_KEPT, KnownGoodSet};
use super::lifecycle::DeploymentStatus;
use super::state::State;
use crate::model::{EnvironmentId, FlagKey, FlagState, ReleaseId, ServiceId};

/// One way an environment differs now from a known-good set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SetDifference {
    /// A service serves something else (or nothing, or did not run then).
    Service {
        /// The service.
        service: ServiceId,
        /// Then.
        then: Option<ReleaseId>,
        /// Now.
        now: Option<ReleaseId>,
    },
    /// A flag is in another state.
    Flag {
        /// The flag.
        flag: FlagKey,
        /// Then.
        then: FlagState,
        /// Now.
        now: FlagState,
    },
    /// A schema is at another version.
    Schema {
        /// Whose.
        service: ServiceId,
        /// Then.
        then: Option<u32>,
        /// Now.
        now: Option<u32>,
    },
}

impl fmt::Display for SetDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_none = |r: &Option<ReleaseId>| {
            r.as_ref()
                .map_or_else(|| "nothing".to_owned(), |r| format!("`{r}`"))
        };
        let version = |v: &Option<u32>| v.map_or_else(|| "untracked".to_owned(), |v| v.to_string());
        match self {
            Self::Service { service, then, now } => write!(
                f,
                "`{service}` serves {} (then {})",
                or_none(now),
                or_none(then)
            ),
            Self::Flag { flag, then, now } => {
                write!(f, "flag `{flag}` is {now} (then {then})")
            }
            Self::Schema { service, then, now } => write!(
                f,
                "`{service}`'s schema is at {} (then {})",
                version(now),
                version(then)
            ),
        }
    }
}

impl State {
    /// The known-good sets of `env`, oldest first (the newest
    /// [`KNOWN_GOOD_SETS_KEPT`]).
    pub fn known_good_sets(&self, env: &EnvironmentId) -> &[KnownGoodSet] {
        self.environment(env)
            .map_or(&[], |e| e.known_good.as_slice())
    }

    /// Set `number` of `env`, if kept.
    pub fn known_good_set(&self, env: &EnvironmentId, number: u32) -> Option<&KnownGoodSet> {
        self.known_good_sets(env)
            .iter()
            .find(|s| s.number == number)
    }

    /// How `env` differs now from its set `number` (empty: it runs that
    /// set), or `None` when the set is not kept.
    pub fn differences_from_set(
        &self,
        env: &EnvironmentId,
        number: u32,
    ) -> Option<Vec<SetDifference>> {
        let set = self.known_good_set(env, number)?;
        let now = self.whole(env);
        let mut out = Vec::new();
        let services: std::collections::BTreeSet<&ServiceId> =
            set.services.keys().chain(now.services.keys()).collect();
        for service in services {
            let then = set.services.get(service).map(|(r, _)| r.clone());
            let serving = self
                .history(env, service)
                .and_then(super::RolloutHistory::current)
                .map(|d| d.release.clone());
            if then != serving {
                out.push(SetDifference::Service {
                    service: service.clone(),
                    then,
                    now: serving,
                });
            }
        }
        let flags: std::collections::BTreeSet<&FlagKey> =
            set.flags.keys().chain(now.flags.keys()).collect();
        for flag in flags {
            let then = set.flags.get(flag).cloned().unwrap_or(FlagState::Off);
            let current = now.flags.get(flag).cloned().unwrap_or(FlagState::Off);
            if then != current {
                out.push(SetDifference::Flag {
                    flag: flag.clone(),
                    then,
                    now: current,
                });
            }
        }
        let schemas: std::collections::BTreeSet<&ServiceId> =
            set.schemas.keys().chain(now.schemas.keys()).collect();
        for service in schemas {
            let (then, current) = (
                set.schemas.get(service).copied(),
                now.schemas.get(service).copied(),
            );
            if then != current {
                out.push(SetDifference::Schema {
                    service: service.clone(),
                    then,
                    now: current,
                });
            }
        }
        Some(out)
    }

    /// What `env` runs now, as a set (numbered 0, not recorded).
    fn whole(&self, env: &EnvironmentId) -> KnownGoodSet {
        let at = self.last_at.unwrap_or(DateTime::<Utc>::MIN_UTC);
        let Some(e) = self.environment(env) else {
            return KnownGoodSet {
                number: 0,
                at,
                services: BTreeMap::new(),
                flags: BTreeMap::new(),
                schemas: BTreeMap::new(),
            };
        };
        KnownGoodSet {
            number: 0,
            at,
            services: e
                .services()
                .filter_map(|(s, h)| {
                    let d = h.current()?;
                    Some((s.clone(), (d.release.clone(), d.revision)))
                })
                .collect(),
            flags: e.flags.as_ref().clone(),
            schemas: e
                .schemas
                .iter()
                .map(|(s, v)| (s.clone(), v.version))
                .collect(),
        }
    }

    /// Records what `env` runs as a known-good set when every service
    /// there serves a release verified known good (and something serves),
    /// unless the newest set holds the same.
    pub(super) fn record_known_good(&mut self, env: &EnvironmentId, at: DateTime<Utc>) {
        let whole = self.environment(env).is_some_and(|e| {
            let mut serving = e.services().filter_map(|(_, h)| h.current()).peekable();
            serving.peek().is_some() && serving.all(|d| d.status == DeploymentStatus::KnownGood)
        });
        if !whole {
            return;
        }
        let mut set = self.whole(env);
        set.at = at;
        let Ok(e) = self.environment_mut(env) else {
            return;
        };
        if e.known_good.last().is_some_and(|last| last.same_as(&set)) {
            return;
        }
        set.number = e
            .known_good
            .last()
            .map_or(1, |last| last.number.saturating_add(1));
        let sets = std::sync::Arc::make_mut(&mut e.known_good);
        sets.push(set);
        if sets.len() > KNOWN_GOOD_SETS_KEPT {
            sets.remove(0);
        }
    }
}
