//! Why a command stopped, and the exit code that says so.

use std::fmt;

use knowngood::driver::DriveError;
use knowngood::{AdapterError, Rejection, StartError};

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done.
    Done = 0,
    /// Refused by a rule of the core: nothing was done.
    Refused = 1,
    /// Bad input: arguments, configuration, an unknown name.
    BadInput = 2,
    /// Waiting for a person: approvals, bake time, a paused step, a branch
    /// that moved, an outcome nobody can tell.
    Waiting = 3,
    /// A port failed (a deploy, a build, the journal's store): what is
    /// known is in the journal; run the command again to go on.
    Failed = 4,
    /// The journal does not verify: its chain is broken or an entry is
    /// not what was written.
    Corrupt = 5,
}

/// A command that did not finish: the exit code and what to say.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// What happened and what to do next.
    pub message: String,
}

impl Failure {
    /// Bad input.
    pub fn bad_input(message: String) -> Self {
        Self {
            exit: Exit::BadInput,
            message,
        }
    }

    /// A failure with `exit`.
    pub fn new(exit: Exit, message: String) -> Self {
        Self { exit, message }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<Rejection> for Failure {
    fn from(r: Rejection) -> Self {
        let exit = match r {
            Rejection::UnknownIncident { .. }
            | Rejection::UnknownRelease { .. }
            | Rejection::UnknownService { .. }
            | Rejection::UnknownEnvironment { .. }
            | Rejection::InvalidName { .. } => Exit::BadInput,
            _ => Exit::Refused,
        };
        Self {
            exit,
            message: format!("refused: {r}"),
        }
    }
}

impl From<AdapterError> for Failure {
    fn from(e: AdapterError) -> Self {
        Self::new(Exit::Failed, e.to_string())
    }
}

impl From<StartError> for Failure {
    fn from(e: StartError) -> Self {
        let exit = match e {
            StartError::Journal(_) => Exit::Failed,
            _ => Exit::Corrupt,
        };
        let mut message = format!("the journal cannot be read: {e}");
        if message.contains("PostgresJournalStore::migrate") {
            message.push_str("\n(from the command: `knowngood journal migrate`)");
        }
        Self::new(exit, message)
    }
}

impl From<DriveError> for Failure {
    fn from(e: DriveError) -> Self {
        let exit = match &e {
            DriveError::Refused(r) => return Self::from(r.clone()),
            DriveError::Corrupt(_) | DriveError::Replay(_) => Exit::Corrupt,
            DriveError::NothingChosen(_) | DriveError::AlreadyStarted { .. } => Exit::BadInput,
            DriveError::Unresolved { .. }
            | DriveError::BranchMoved { .. }
            | DriveError::Diverged { .. }
            | DriveError::LeaseHeld { .. }
            | DriveError::ShipInProgress { .. } => Exit::Waiting,
            _ => Exit::Failed,
        };
        Self::new(exit, e.to_string())
    }
}
