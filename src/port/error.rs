//! What a port says when a call fails: [`AdapterError`], with a kind the
//! driver acts on.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of failure a port reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The thing named does not exist.
    NotFound,
    /// The world changed under the caller (a stale revision, a merge
    /// conflict): read again before retrying.
    Conflict,
    /// The system refused the request; retrying will not help.
    Rejected,
    /// The system could not be reached; retrying may help, nothing happened.
    Unavailable,
    /// The request may or may not have taken effect (a timeout): ask the
    /// port what happened under the key before doing anything else.
    UnknownOutcome,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotFound => "not found",
            Self::Conflict => "conflict",
            Self::Rejected => "rejected",
            Self::Unavailable => "unavailable",
            Self::UnknownOutcome => "unknown outcome",
        })
    }
}

/// A port's failure: a semantic kind, a message, and the adapter's own
/// error as the source.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct AdapterError {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl From<std::io::Error> for AdapterError {
    /// An I/O error with the kind a caller can act on: a missing file is
    /// [`ErrorKind::NotFound`], a refused or broken connection
    /// [`ErrorKind::Unavailable`], a timeout [`ErrorKind::UnknownOutcome`]
    /// (the request may have taken effect), a denied permission or invalid
    /// input [`ErrorKind::Rejected`], anything else
    /// [`ErrorKind::Unavailable`]. The I/O error is kept as the source.
    ///
    /// ```
    /// use knowngood::port::{AdapterError, ErrorKind};
    /// let e: AdapterError = std::io::Error::from(std::io::ErrorKind::TimedOut).into();
    /// assert_eq!(e.kind(), ErrorKind::UnknownOutcome);
    /// ```
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match e.kind() {
            Io::NotFound => ErrorKind::NotFound,
            Io::TimedOut | Io::WouldBlock | Io::Interrupted => ErrorKind::UnknownOutcome,
            Io::PermissionDenied | Io::InvalidInput | Io::InvalidData | Io::Unsupported => {
                ErrorKind::Rejected
            }
            Io::AlreadyExists => ErrorKind::Conflict,
            _ => ErrorKind::Unavailable,
        };
        AdapterError::new(kind, e.to_string()).with_source(e)
    }
}

impl AdapterError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the adapter's own error.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the outcome is unknown or nothing happened and a retry may
    /// help: the cases the driver reconciles by asking the port.
    pub fn needs_reconciling(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::UnknownOutcome | ErrorKind::Unavailable
        )
    }
}
