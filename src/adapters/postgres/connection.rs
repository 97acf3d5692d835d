//! Connections: made, made again when lost, and their errors as adapter
//! errors.

use super::schema::SCHEMA_VERSION;
use crate::port::{AdapterError, ErrorKind};
use tokio::sync::{Mutex, watch};
use tokio_postgres::error::SqlState;
use tokio_postgres::{AsyncMessage, Client, NoTls};

/// A database error as an adapter error.
pub(super) fn db_error(e: &tokio_postgres::Error) -> AdapterError {
    let kind = match e.code() {
        Some(code)
            if *code == SqlState::UNIQUE_VIOLATION
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            ErrorKind::Conflict
        }
        Some(code) if *code == SqlState::UNDEFINED_TABLE => ErrorKind::Rejected,
        Some(_) => ErrorKind::Rejected,
        None if e.is_closed() => ErrorKind::Unavailable,
        // No SQL state: the connection, not the statement, failed.
        None => ErrorKind::Unavailable,
    };
    let detail = e
        .as_db_error()
        .map_or_else(|| e.to_string(), |db| db.message().to_owned());
    AdapterError::new(kind, format!("postgres: {detail}"))
}

/// Connects to `url` and spawns the connection's task, which hands every
/// notification on `CHANNEL` to `notify`.
pub(super) async fn connect(
    url: &str,
    notify: Option<(String, watch::Sender<u64>)>,
) -> Result<Client, AdapterError> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| db_error(&e))?;
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

/// A statement's failure; a closed connection is dropped so that the
/// next call makes a new one.
pub(super) fn failed(guard: &mut Option<Client>, e: &tokio_postgres::Error) -> AdapterError {
    if guard.as_ref().is_some_and(Client::is_closed) {
        *guard = None;
    }
    db_error(e)
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
