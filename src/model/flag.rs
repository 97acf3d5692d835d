//! Feature flags.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The state of a feature flag in one environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FlagState {
    /// Nobody sees the flagged code's effect. A flag never set is off.
    #[default]
    Off,
    /// Everybody does.
    On,
    /// This percentage of users does (0 is a dark launch: the code runs,
    /// its output stays hidden).
    Percentage {
        /// 0 to 100.
        percent: u8,
    },
    /// The named segments of users do.
    Segments {
        /// The segments.
        segments: BTreeSet<String>,
    },
}

impl FlagState {
    /// Whether the flagged code path is not executed at all. Only
    /// [`FlagState::Off`] is off: at 0 % or with no segment the code still
    /// runs (a dark launch), it is only not shown.
    pub fn is_off(&self) -> bool {
        matches!(self, Self::Off)
    }

    /// Whether the flagged code runs but no user sees its effect: 0 %, or
    /// no segment (a dark launch).
    pub fn is_dark(&self) -> bool {
        !self.is_off() && !self.reaches_users()
    }

    /// Whether any user sees the flagged behaviour.
    pub fn reaches_users(&self) -> bool {
        match self {
            Self::Off => false,
            Self::On => true,
            Self::Percentage { percent } => *percent > 0,
            Self::Segments { segments } => !segments.is_empty(),
        }
    }
}

impl fmt::Display for FlagState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::On => f.write_str("on"),
            Self::Percentage { percent } => write!(f, "{percent}%"),
            Self::Segments { segments } => {
                let names: Vec<_> = segments.iter().map(String::as_str).collect();
                write!(f, "segments {}", names.join(", "))
            }
        }
    }
}
