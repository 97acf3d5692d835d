//! The metrics port: answers a query at an instant or over a range, for
//! metric analysis ([`crate::analysis`]).

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::error::AdapterError;

/// A metrics source: Prometheus, a vendor's API, a scripted series in a
/// drill. Queries are the host's own language, opaque to knowngood; a
/// query the source does not know, or one that answers no series, is an
/// error of kind [`NotFound`](super::ErrorKind::NotFound), one it cannot
/// parse [`Rejected`](super::ErrorKind::Rejected), a source that is down
/// or too slow [`Unavailable`](super::ErrorKind::Unavailable).
///
/// A query answering several series is the host's to aggregate (`sum`,
/// `max`): a measurement is one number.
#[async_trait]
pub trait Metrics: Send + Sync + fmt::Debug + 'static {
    /// The query's value at `at`.
    async fn at(&self, query: &str, at: DateTime<Utc>) -> Result<f64, AdapterError>;
    /// The query's values from `from` to `to` (both included), one every
    /// `step_seconds`, in time order; a point the source has no value for
    /// is left out.
    async fn range(
        &self,
        query: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        step_seconds: u32,
    ) -> Result<Vec<(DateTime<Utc>, f64)>, AdapterError>;
}

/// The placeholders a query may hold, filled in one pass before the port
/// is asked: `{environment}`, `{service}` and `{release}` (names checked
/// where they enter knowngood: letters, digits, `.`, `_`, `-`, `@`, `+`,
/// so they fit inside a quoted label value). Any other `{…}` stays as it
/// is.
///
/// ```
/// use knowngood::port::fill_query;
/// let q = fill_query(
///     r#"sum(rate(http_errors{service="{service}",release="{release}"}[1m]))"#,
///     "prod",
///     "payments",
///     "payments@1.2.0",
/// );
/// assert_eq!(q, r#"sum(rate(http_errors{service="payments",release="payments@1.2.0"}[1m]))"#);
/// ```
pub fn fill_query(query: &str, environment: &str, service: &str, release: &str) -> String {
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    while let Some(open) = rest.find('{') {
        let (before, from_open) = rest.split_at(open);
        out.push_str(before);
        let filled = [
            ("{environment}", environment),
            ("{service}", service),
            ("{release}", release),
        ]
        .into_iter()
        .find(|(name, _)| from_open.starts_with(name));
        match filled {
            Some((name, value)) => {
                out.push_str(value);
                rest = from_open.get(name.len()..).unwrap_or("");
            }
            None => {
                out.push('{');
                rest = from_open.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}
