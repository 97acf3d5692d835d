//! What the `PostgreSQL` tests share: the database from
//! `KNOWNGOOD_POSTGRES_URL` (or a note that the test was skipped), names no
//! other run uses, a plain connection, and a schema of a test's own.

use std::sync::atomic::{AtomicUsize, Ordering};

use knowngood::adapters::PostgresJournalStore;
use knowngood::{Chain, Command, Journal, Ledger, Service};

/// The database to test against, or `None` (and a note) without one.
pub fn url(test: &str) -> Option<String> {
    match std::env::var("KNOWNGOOD_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            // Straight to stderr, past libtest's capture: a skipped test
            // must say so where it is seen, not only pass.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "{test}: SKIPPED: KNOWNGOOD_POSTGRES_URL is not set, nothing ran against PostgreSQL"
            );
            None
        }
    }
}

/// A journal name no other test run uses.
pub fn unique(test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{test}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A plain connection, for what a person (or an attacker) does by hand.
pub async fn by_hand(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// A connection string whose tables live in a schema of their own.
pub fn in_schema(url: &str, schema: &str) -> String {
    if url.starts_with("postgres") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-csearch_path%3D{schema}")
    } else {
        format!("{url} options='-c search_path={schema}'")
    }
}

/// A store for `journal` on its own chain, migrated.
pub async fn store(url: &str, journal: &str) -> PostgresJournalStore {
    store_on(url, journal, Chain::named(journal)).await
}

/// A store for `journal` on `chain`, migrated.
pub async fn store_on(url: &str, journal: &str, chain: Chain) -> PostgresJournalStore {
    let store = PostgresJournalStore::connect(url, journal, chain)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

/// The database, a fresh journal on it (migrated) and an empty ledger on
/// the journal's chain; `None` (and a note) without a database.
pub async fn fresh(test: &str) -> Option<(String, String, PostgresJournalStore, Ledger)> {
    let url = url(test)?;
    let name = unique(test);
    let store = store(&url, &name).await;
    let ledger = Ledger::from_journal(Journal::with_chain(Chain::named(&name))).unwrap();
    Some((url, name, store, ledger))
}

/// `n` entries registering services `<prefix>-1` … after `ledger`'s.
pub fn services(ledger: &mut Ledger, prefix: &str, n: usize) -> Vec<knowngood::JournalEntry> {
    let before = ledger.journal().len();
    for i in 1..=n {
        ledger
            .execute(
                &Command::RegisterService {
                    service: Service::new(format!("{prefix}-{i}")),
                },
                super::t(0),
            )
            .unwrap();
    }
    ledger.journal().read_from(before as u64 + 1).to_vec()
}
