//! Connections: made, made again when lost, and their errors as adapter
//! errors.

use super::schema::SCHEMA_VERSION;
use crate::port::{AdapterError, ErrorKind};
use tokio::sync::{Mutex, watch};
use tokio_postgres::error::SqlState;
use tokio_postgres::{AsyncMessage, Client, NoTls};

/// What the driver should make of a database error with SQL state `code`
/// (none when the connection, not a statement, failed), raised while
/// `committing` a transaction or before.
///
/// - A unique violation, a serialization failure or a deadlock: another
///   writer won ([`ErrorKind::Conflict`]); the transaction was rolled back.
/// - A connection failure, a server shutting down or terminating the
///   backend (`57P01`–`57P03`), too few resources (class `53`), a lock not
///   had (`55P03`), a cancelled statement (`57014`) or a system error
///   (class `58`): the server may come back ([`ErrorKind::Unavailable`]);
///   a transaction that had not reached its commit was rolled back.
/// - The same while committing, or `40003` (statement completion
///   unknown): the commit may have happened and its reply been lost
///   ([`ErrorKind::UnknownOutcome`]): read the journal to find out.
/// - Anything else: the statement is wrong for this database
///   ([`ErrorKind::Rejected`]).
pub(super) fn kind_of(code: Option<&SqlState>, committing: bool) -> ErrorKind {
    let Some(code) = code else {
        return if committing {
            ErrorKind::UnknownOutcome
        } else {
            ErrorKind::Unavailable
        };
    };
    let code = code.code();
    let transient = code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || code.starts_with("58")
        || code == "55P03"
        || code == "57014";
    match code {
        "23505" | "40001" | "40P01" => ErrorKind::Conflict,
        "40003" => ErrorKind::UnknownOutcome,
        _ if transient && committing => ErrorKind::UnknownOutcome,
        _ if transient => ErrorKind::Unavailable,
        _ => ErrorKind::Rejected,
    }
}

/// A database error as an adapter error, raised before a commit.
pub(super) fn db_error(e: &tokio_postgres::Error) -> AdapterError {
    error_at(e, false)
}

/// A database error as an adapter error, raised while `committing` or
/// before; the message keeps the whole cause ("connection refused", the
/// server's own words).
pub(super) fn error_at(e: &tokio_postgres::Error, committing: bool) -> AdapterError {
    let kind = kind_of(e.code(), committing);
    let mut detail = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !detail.contains(&cause) {
            detail.push_str(": ");
            detail.push_str(&cause);
        }
        source = cause_of(source);
    }
    if kind == ErrorKind::UnknownOutcome {
        detail.push_str("; the commit may have happened: read the journal to find out");
    }
    AdapterError::new(kind, format!("postgres: {detail}"))
}

fn cause_of<'a>(
    error: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    error.and_then(std::error::Error::source)
}

/// Where `url` points, without its password: `host=… port=… dbname=…
/// user=…`, for an error that says which database is down.
pub(super) fn target(url: &str) -> String {
    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
        return "an unparsable connection string".to_owned();
    };
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port_list: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    let mut parts = Vec::new();
    if !hosts.is_empty() {
        parts.push(format!("host={}", hosts.join(",")));
    }
    if !port_list.is_empty() {
        parts.push(format!("port={}", port_list.join(",")));
    }
    if let Some(db) = config.get_dbname() {
        parts.push(format!("dbname={db}"));
    }
    if let Some(user) = config.get_user() {
        parts.push(format!("user={user}"));
    }
    if parts.is_empty() {
        "the default database".to_owned()
    } else {
        parts.join(" ")
    }
}

/// Connects to `url` and spawns the connection's task, which hands every
/// notification on `CHANNEL` to `notify`.
pub(super) async fn connect(
    url: &str,
    notify: Option<(String, watch::Sender<u64>)>,
) -> Result<Client, AdapterError> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await.map_err(|e| {
        let error = db_error(&e);
        AdapterError::new(
            error.kind(),
            format!("{} (connecting to {})", error.message(), target(url)),
        )
    })?;
    tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    let Some((journal, sender)) = &notify else {
                        continue;
                    };
                    let Some((len, name)) = n.payload().split_once(' ') else {
                        continue;
                    };
                    if name == journal
                        && let Ok(len) = len.parse::<u64>()
                    {
                        sender.send_if_modified(|latest| {
                            let newer = len > *latest;
                            if newer {
                                *latest = len;
                            }
                            newer
                        });
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            }
        }
    });
    Ok(client)
}

pub(super) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A statement's failure; a closed (or failed) connection is dropped so
/// that the next call makes a new one.
pub(super) fn failed(guard: &mut Option<Client>, e: &tokio_postgres::Error) -> AdapterError {
    failed_at(guard, e, false)
}

/// [`failed`], for a statement that may have been the commit.
pub(super) fn failed_at(
    guard: &mut Option<Client>,
    e: &tokio_postgres::Error,
    committing: bool,
) -> AdapterError {
    let error = error_at(e, committing);
    // After a connection-level failure the connection is not trusted
    // again, even before its task noticed it closed.
    if guard.as_ref().is_some_and(Client::is_closed) || error.needs_reconciling() {
        *guard = None;
    }
    error
}

/// The connection in `slot`, made again (to `url`) if it was lost.
pub(super) async fn live<'a>(
    slot: &'a Mutex<Option<Client>>,
    url: &str,
) -> Result<tokio::sync::MutexGuard<'a, Option<Client>>, AdapterError> {
    let mut guard = slot.lock().await;
    if guard.as_ref().is_none_or(Client::is_closed) {
        *guard = Some(connect(url, None).await?);
    }
    Ok(guard)
}

pub(super) fn closed() -> AdapterError {
    AdapterError::new(ErrorKind::Unavailable, "postgres: the connection is closed")
}

pub(super) fn newer(version: i32) -> AdapterError {
    AdapterError::new(
        ErrorKind::Rejected,
        format!(
            "postgres: the database has knowngood schema version {version}, newer than this knowngood's {SCHEMA_VERSION}: upgrade knowngood"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::kind_of;
    use crate::port::ErrorKind;
    use tokio_postgres::error::SqlState;

    fn kind(code: &str, committing: bool) -> ErrorKind {
        kind_of(Some(&SqlState::from_code(code)), committing)
    }

    #[test]
    fn postgres_error_kinds_transient_classes_are_unavailable_not_rejected() {
        // A terminated backend, a shutdown, a server that cannot take
        // connections yet, a lost connection, too few resources, a lock
        // not had, a cancelled statement: the server may come back.
        for code in [
            "57P01", "57P02", "57P03", "08006", "08001", "53300", "55P03", "57014", "58030",
        ] {
            assert_eq!(kind(code, false), ErrorKind::Unavailable, "{code}");
        }
        assert_eq!(kind_of(None, false), ErrorKind::Unavailable);
        // What the database refuses for good stays rejected.
        for code in ["42P01", "22P02", "P0001", "XX000"] {
            assert_eq!(kind(code, false), ErrorKind::Rejected, "{code}");
        }
        for code in ["23505", "40001", "40P01"] {
            assert_eq!(kind(code, false), ErrorKind::Conflict, "{code}");
        }
    }

    #[test]
    fn postgres_error_kinds_a_commit_cut_off_is_an_unknown_outcome() {
        assert_eq!(kind_of(None, true), ErrorKind::UnknownOutcome);
        assert_eq!(kind("57P01", true), ErrorKind::UnknownOutcome);
        assert_eq!(kind("08006", true), ErrorKind::UnknownOutcome);
        assert_eq!(kind("40003", false), ErrorKind::UnknownOutcome);
        // The server answered the commit: it was rolled back.
        assert_eq!(kind("40001", true), ErrorKind::Conflict);
        assert_eq!(kind("23505", true), ErrorKind::Conflict);
    }
}
