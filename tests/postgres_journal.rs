//! The `PostgreSQL` journal store against a real database: migrations, the
//! conformance suite, writers racing on one expected length, bounded
//! reads, the append-only table, followers, leases, and three
//! replicas driving one incident with one killed mid-plan.
//!
//! The database comes from `KNOWNGOOD_POSTGRES_URL` (for example
//! `host=127.0.0.1 user=postgres dbname=test`); without it each test says
//! it was skipped and passes, so `cargo test` runs anywhere. `.ci/run`
//! sets it and fails when the database cannot be reached.
#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::misbehaving::{DeployerFault, MisbehavingDeployer};
use common::pg::{by_hand, fresh, in_schema, services, store, store_on, unique, url};
use knowngood::adapters::PostgresJournalStore;
use knowngood::adapters::postgres::SCHEMA_VERSION;
use knowngood::driver::Driver;
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryFlagStore, InMemoryHealthProbe, InMemoryVcs,
};
use knowngood::port::{Deployer, JournalStore, Vcs};
use knowngood::{
    Chain, ErrorKind, Journal, LeaseAnswer, Leases, Ledger, Policy, Ports, Strategy, SystemClock,
};

#[tokio::test]
async fn postgres_migrations_are_asked_for_applied_once_and_versioned() {
    let Some(url) = url("migrations") else { return };
    let schema = unique("kg_schema").replace('-', "_");
    let admin = store(&url, &unique("admin")).await;
    let client = by_hand(&url).await;
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let fresh = PostgresJournalStore::connect(in_schema(&url, &schema), "j", Chain::named("j"))
        .await
        .unwrap();
    // Not migrated: every call says what to do, nothing is created.
    let before = fresh.read_from(1).await.unwrap_err();
    assert_eq!(before.kind(), ErrorKind::Rejected);
    assert!(
        before.to_string().contains("PostgresJournalStore::migrate"),
        "{before}"
    );
    assert_eq!(fresh.migrate().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(
        fresh.migrate().await.unwrap(),
        SCHEMA_VERSION,
        "applied once"
    );
    let versions: i64 = client
        .query_one(
            &format!("SELECT COUNT(*) FROM {schema}.knowngood_schema"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(versions, i64::from(SCHEMA_VERSION), "one row per migration");
    // A newer schema is refused by a store that has not seen it yet.
    client
        .batch_execute(&format!(
            "INSERT INTO {schema}.knowngood_schema (version) VALUES (99)"
        ))
        .await
        .unwrap();
    let later = PostgresJournalStore::connect(in_schema(&url, &schema), "j", Chain::named("j"))
        .await
        .unwrap();
    let newer = later.read_from(1).await.unwrap_err();
    assert!(newer.to_string().contains("upgrade knowngood"), "{newer}");
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
    drop(admin);
}

#[cfg(feature = "testkit")]
#[tokio::test]
async fn postgres_journal_passes_the_conformance_suite_empty_and_holding_a_journal() {
    let Some(url) = url("conformance") else {
        return;
    };
    let name = unique("conformance");
    let store = store(&url, &name).await;
    knowngood::testkit::conformance::journal_store(&store)
        .await
        .unwrap();
    let again = self::store(&url, &name).await;
    knowngood::testkit::conformance::journal_store(&again)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_writers_racing_on_one_expected_length_exactly_one_wins_every_time() {
    let Some(url) = url("race") else { return };
    let name = unique("race");
    let one = Arc::new(store(&url, &name).await);
    let two = Arc::new(store(&url, &name).await);
    let mut base = Ledger::from_journal(Journal::with_chain(Chain::named(&name))).unwrap();
    let rounds = 2_000;
    let mut wins = [0_u32; 2];
    for round in 0..rounds {
        let len = base.journal().len() as u64;
        let mut left = base.clone();
        let mut right = base.clone();
        let ours = services(&mut left, &format!("a{round}"), 1);
        let theirs = services(&mut right, &format!("b{round}"), 1);
        let (x, y) = (one.clone(), two.clone());
        let first = tokio::spawn(async move { x.append(len, &ours).await });
        let second = tokio::spawn(async move { y.append(len, &theirs).await });
        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        match (&first, &second) {
            (Ok(()), Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::Conflict, "round {round}: {e}");
                wins[0] += 1;
                base = left;
            }
            (Err(e), Ok(())) => {
                assert_eq!(e.kind(), ErrorKind::Conflict, "round {round}: {e}");
                wins[1] += 1;
                base = right;
            }
            _ => panic!("round {round}: not exactly one winner: {first:?} {second:?}"),
        }
    }
    let stored = one.read_from(1).await.unwrap();
    assert_eq!(stored.len(), rounds);
    let journal = Journal::with_chain(Chain::named(&name))
        .read_entries(stored)
        .unwrap();
    assert_eq!(
        journal,
        *base.journal(),
        "the winners, in order, and nothing else"
    );
    println!("race: {wins:?} wins over {rounds} rounds");
}

#[tokio::test]
async fn postgres_stale_writer_and_a_broken_link_write_nothing() {
    let Some((_, _, store, mut ledger)) = fresh("stale").await else {
        return;
    };
    let first = services(&mut ledger, "s", 3);
    store.append(0, &first).await.unwrap();
    let stale = store.append(1, &first[1..]).await.unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Conflict);
    assert!(
        stale.to_string().contains("holds 3 entries, not 1"),
        "{stale}"
    );
    // Entries linked on another chain do not continue this journal.
    let mut foreign = Ledger::from_journal(Journal::with_chain(Chain::named("elsewhere"))).unwrap();
    services(&mut foreign, "s", 3);
    let next = services(&mut foreign, "t", 1);
    let refused = store.append(3, &next).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Rejected);
    assert!(
        refused.to_string().contains("does not continue"),
        "{refused}"
    );
    assert_eq!(store.read_from(1).await.unwrap(), first);
}

#[tokio::test]
async fn postgres_reads_are_paged_and_the_table_is_append_only() {
    let Some((url, name, store, mut ledger)) = fresh("pages").await else {
        return;
    };
    let entries = services(&mut ledger, "s", 2_500);
    store.append(0, &entries).await.unwrap();
    assert_eq!(store.read_page(1, 1_000).await.unwrap(), entries[..1_000]);
    assert_eq!(
        store.read_page(2_001, 1_000).await.unwrap(),
        entries[2_000..]
    );
    assert_eq!(store.read_from(1_200).await.unwrap(), entries[1_199..]);
    assert_eq!(store.read_from(1).await.unwrap().len(), 2_500);

    let client = by_hand(&url).await;
    for sql in [
        "UPDATE knowngood_journal SET line = 'x' WHERE journal = $1 AND position = 7",
        "DELETE FROM knowngood_journal WHERE journal = $1 AND position = 2500",
    ] {
        let e = client.execute(sql, &[&name]).await.unwrap_err();
        assert!(e.to_string().contains("append-only") || format!("{e:?}").contains("append-only"));
    }
    assert_eq!(store.read_from(1).await.unwrap(), entries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_followers_are_told_of_each_append() {
    let Some(url) = url("follow") else { return };
    let name = unique("follow");
    let writer = store(&url, &name).await;
    let reader = store(&url, &name).await;
    let mut follower = reader.follow().await.unwrap();
    let mut other = store(&url, &unique("other")).await.follow().await.unwrap();
    let mut ledger = Ledger::from_journal(Journal::with_chain(Chain::named(&name))).unwrap();
    let mut dashboard = Ledger::from_journal(Journal::with_chain(Chain::named(&name))).unwrap();
    for round in 0..5_u64 {
        writer
            .append(round * 2, &services(&mut ledger, &format!("r{round}"), 2))
            .await
            .unwrap();
        let len = tokio::time::timeout(Duration::from_secs(5), follower.changed())
            .await
            .expect("told within 5 s")
            .unwrap();
        assert_eq!(len, round * 2 + 2);
        // The follower reads only what is new.
        let new = reader
            .read_from(dashboard.journal().next_position())
            .await
            .unwrap();
        assert_eq!(dashboard.catch_up(new).unwrap(), 2);
    }
    assert_eq!(dashboard.state(), ledger.state());
    assert_eq!(follower.latest(), 10);
    // A follower of another journal hears nothing of this one.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), other.changed())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn postgres_leases_one_holder_until_it_lets_go_or_expires() {
    let Some(url) = url("leases") else { return };
    let name = unique("leases");
    let leases = store(&url, &name).await.leases().await.unwrap();
    let ttl = Duration::from_millis(400);
    let LeaseAnswer::Granted { token } = leases.acquire("incident/INC-1", "a", ttl).await.unwrap()
    else {
        panic!("free, so granted")
    };
    // Renewed by its holder under the same token; refused to another.
    assert_eq!(
        leases.acquire("incident/INC-1", "a", ttl).await.unwrap(),
        LeaseAnswer::Granted { token }
    );
    let LeaseAnswer::Held { holder, remaining } =
        leases.acquire("incident/INC-1", "b", ttl).await.unwrap()
    else {
        panic!("held by a")
    };
    assert_eq!(holder, "a");
    assert!(remaining <= ttl);
    // Another scope is free.
    assert!(matches!(
        leases.acquire("incident/INC-2", "b", ttl).await.unwrap(),
        LeaseAnswer::Granted { .. }
    ));
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let LeaseAnswer::Granted { token: taken } =
        leases.acquire("incident/INC-1", "b", ttl).await.unwrap()
    else {
        panic!("expired, so granted")
    };
    assert!(taken > token, "a new holder, a new token");
    // Let go: another takes it at once, and tokens never repeat.
    leases.release("incident/INC-1", "b", taken).await.unwrap();
    let LeaseAnswer::Granted { token: third } =
        leases.acquire("incident/INC-1", "a", ttl).await.unwrap()
    else {
        panic!("let go, so granted")
    };
    assert!(third > taken);
}

// ----- replicas ---------------------------------------------------------------

/// The host's systems, shared by every replica.
struct Systems {
    vcs: Arc<InMemoryVcs>,
    deployer: Arc<InMemoryDeployer>,
    flags: Arc<InMemoryFlagStore>,
    builder: Arc<InMemoryBuilder>,
}

impl Systems {
    fn new() -> Self {
        let vcs = Arc::new(InMemoryVcs::default());
        for c in ["a1", "998b"] {
            vcs.commit(&common::SERVICE.into(), &"main".into(), &c.into());
        }
        Self {
            vcs,
            deployer: Arc::new(InMemoryDeployer::default()),
            flags: Arc::new(InMemoryFlagStore::default()),
            builder: Arc::new(InMemoryBuilder::new(3, 1, 9)),
        }
    }

    fn ports(
        &self,
        deployer: Arc<dyn Deployer>,
        journal: Arc<dyn JournalStore>,
        leases: Option<(Arc<dyn Leases>, Duration)>,
    ) -> Ports {
        let mut ports = Ports::builder()
            .vcs(self.vcs.clone())
            .deployer(deployer)
            .flags(self.flags.clone())
            .health(Arc::new(InMemoryHealthProbe::default()))
            .builder(self.builder.clone())
            .journal(journal)
            .clock(Arc::new(SystemClock));
        if let Some((leases, ttl)) = leases {
            ports = ports.leases(leases, ttl);
        }
        ports.build().unwrap()
    }
}

/// Production runs a bad commit; the revert plan is chosen.
fn revert_world() -> common::World {
    let mut w = common::bad_commit_in_production(Policy::forward_only());
    w.choose(Strategy::Revert);
    w
}

fn kinds(entries: &[knowngood::JournalEntry]) -> Vec<serde_json::Value> {
    common::performed_apart(entries, &["solo", "replica-0", "replica-1", "replica-2"])
}

/// What a single driver, alone, records for the revert plan.
async fn single_driver_kinds() -> Vec<serde_json::Value> {
    let world = revert_world();
    let systems = Systems::new();
    let store = Arc::new(knowngood::memory::InMemoryJournalStore::default());
    store
        .append(0, world.ledger.journal().entries())
        .await
        .unwrap();
    let driver = Driver::resume(
        systems.ports(systems.deployer.clone(), store.clone(), None),
        "solo",
    )
    .await
    .unwrap();
    let driver = common::drive_as_replica(driver, "solo").await;
    kinds(driver.journal().entries())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_three_replicas_one_killed_mid_plan_every_effect_once_and_the_same_journal() {
    let Some(url) = url("replicas") else { return };
    let name = unique("replicas");
    let ttl = Duration::from_millis(1_500);
    let world = revert_world();
    let setup = store_on(&url, &name, Chain::unnamed()).await;
    setup
        .append(0, world.ledger.journal().entries())
        .await
        .unwrap();
    let systems = Systems::new();
    let acted = Arc::new(AtomicBool::new(false));

    // Replica 0 acts first, and dies right after its first deployment.
    let first_store = Arc::new(store_on(&url, &name, Chain::unnamed()).await);
    let first_leases: Arc<dyn Leases> = Arc::new(first_store.leases().await.unwrap());
    let dying = MisbehavingDeployer::new(
        &systems.deployer,
        DeployerFault::DiesAfterDeploying(acted.clone()),
    );
    let first = Driver::resume(
        systems.ports(dying, first_store, Some((first_leases, ttl))),
        "replica-0",
    )
    .await
    .unwrap();
    let killed = tokio::spawn(common::drive_as_replica(first, "replica-0"));
    let waited = Instant::now();
    while !acted.load(Ordering::SeqCst) {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "replica 0 never deployed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    killed.abort();
    let killed_at = Instant::now();

    // Two standbys, started now, take over once its lease runs out.
    let mut standbys = Vec::new();
    for n in 1..=2 {
        let own = Arc::new(store_on(&url, &name, Chain::unnamed()).await);
        let leases: Arc<dyn Leases> = Arc::new(own.leases().await.unwrap());
        let driver = Driver::resume(
            systems.ports(systems.deployer.clone(), own, Some((leases, ttl))),
            format!("replica-{n}"),
        )
        .await
        .unwrap();
        standbys.push(tokio::spawn(async move {
            common::drive_as_replica(driver, &format!("replica-{n}")).await
        }));
    }
    let mut finished = Vec::new();
    for standby in standbys {
        finished.push(standby.await.unwrap());
    }
    let took = killed_at.elapsed();
    // The dead replica's lease held the standbys back until it ran out.
    assert!(common::HELD_BACK.load(Ordering::Relaxed) > 0);
    assert!(
        took >= ttl / 2,
        "took over after {took:?}, before the lease ran out"
    );

    for (key, n) in systems.deployer.all_executions() {
        assert_eq!(n, 1, "deployed twice under {key}");
    }
    for (key, n) in systems.vcs.all_executions() {
        assert_eq!(n, 1, "the VCS acted twice under {key}");
    }
    for (key, n) in systems.builder.all_executions() {
        assert_eq!(n, 1, "built twice under {key}");
    }
    let stored = setup.read_from(1).await.unwrap();
    assert_eq!(kinds(&stored), single_driver_kinds().await);
    for driver in &finished {
        assert_eq!(driver.journal().head().len, stored.len() as u64);
    }
    // Who acted after the kill: one of the standbys, within the lease
    // (plus the time to drive the rest of the plan).
    assert!(took < ttl * 10, "took over in {took:?}");
    let main = systems
        .vcs
        .head(&common::SERVICE.into(), &"main".into())
        .await
        .unwrap();
    assert_eq!(
        finished[0]
            .state()
            .branch(&common::SERVICE.into(), &"main".into()),
        Some(&main)
    );
}

/// A proxy between the store and the database that, once armed, lets the
/// next `COMMIT` reach the server and then cuts the connection before the
/// server's answer reaches the store: a commit whose reply was lost.
async fn commit_reply_eater(upstream: (String, u16)) -> (u16, Arc<AtomicBool>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let armed = Arc::new(AtomicBool::new(false));
    let armed_here = armed.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) =
                tokio::net::TcpStream::connect((upstream.0.as_str(), upstream.1)).await
            else {
                continue;
            };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            let eating = Arc::new(AtomicBool::new(false));
            let (armed, eating_up) = (armed_here.clone(), eating.clone());
            tokio::spawn(async move {
                let mut buf = vec![0_u8; 64 * 1024];
                while let Ok(n) = client_read.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let commit = buf[..n].windows(7).any(|w| w == b"COMMIT\0");
                    if commit && armed.swap(false, Ordering::SeqCst) {
                        eating_up.store(true, Ordering::SeqCst);
                    }
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let mut buf = vec![0_u8; 64 * 1024];
                while let Ok(n) = server_read.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    // The server's word that it committed never arrives.
                    if eating.load(Ordering::SeqCst)
                        && buf[..n].windows(7).any(|w| w == b"COMMIT\0")
                    {
                        break;
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                // Dropping both halves closes the store's connection.
            });
        }
    });
    (port, armed)
}

/// The host and port `url` points at, and the same connection string
/// pointed at `port` on this machine instead.
fn through(url: &str, port: u16) -> ((String, u16), String) {
    let config: tokio_postgres::Config = url.parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let upstream_port = config.get_ports().first().copied().unwrap_or(5432);
    let mut parts = vec!["host=127.0.0.1".to_owned(), format!("port={port}")];
    if let Some(user) = config.get_user() {
        parts.push(format!("user={user}"));
    }
    if let Some(db) = config.get_dbname() {
        parts.push(format!("dbname={db}"));
    }
    if let Some(password) = config.get_password() {
        let password = String::from_utf8_lossy(password)
            .replace('\\', "\\\\")
            .replace('\'', "\\'");
        parts.push(format!("password='{password}'"));
    }
    let proxied = parts.join(" ");
    ((host, upstream_port), proxied)
}

#[tokio::test]
async fn postgres_error_kinds_a_commit_whose_reply_was_lost_is_an_unknown_outcome_and_the_entries_are_there()
 {
    let Some((url, name, _store, mut ledger)) =
        fresh("postgres_error_kinds_a_commit_whose_reply_was_lost").await
    else {
        return;
    };
    let (upstream, _) = through(&url, 0);
    let (port, armed) = commit_reply_eater(upstream).await;
    let (_, proxied) = through(&url, port);
    let store = PostgresJournalStore::connect(&proxied, &name, Chain::named(&name))
        .await
        .unwrap();
    let entries = services(&mut ledger, "svc", 2);
    armed.store(true, Ordering::SeqCst);
    let error = store.append(0, &entries).await.unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::UnknownOutcome,
        "a commit whose reply was lost may have happened: {error}"
    );
    assert!(error.message().contains("read the journal"), "{error}");
    // It did happen: the next call reconnects and finds both entries.
    let stored = store.read_from(1).await.unwrap();
    assert_eq!(stored, entries);
    // And a failure before the commit is no unknown: nothing happened.
    let more = services(&mut ledger, "later", 1);
    let stale = store.append(0, &more).await.unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Conflict, "{stale}");
}

#[tokio::test]
async fn postgres_error_kinds_a_terminated_backend_is_unavailable_and_the_next_call_reconnects() {
    let Some(url) = url("postgres_error_kinds_a_terminated_backend_is_unavailable") else {
        return;
    };
    let name = unique("terminated");
    let tag = format!("kg-terminated-{}", std::process::id());
    let tagged = if url.starts_with("postgres") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}application_name={tag}")
    } else {
        format!("{url} application_name={tag}")
    };
    let store = Arc::new(store(&tagged, &name).await);
    let mut ledger = Ledger::from_journal(Journal::with_chain(Chain::named(&name))).unwrap();
    let first = services(&mut ledger, "svc", 1);
    store.append(0, &first).await.unwrap();
    // An append waits on a lock; meanwhile its backend is terminated.
    let locker = by_hand(&url).await;
    locker
        .batch_execute("BEGIN; LOCK TABLE knowngood_journal IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let second = services(&mut ledger, "svc-b", 1);
    let appending = {
        let (store, second) = (store.clone(), second.clone());
        tokio::spawn(async move { store.append(1, &second).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed: i64 = by_hand(&url)
        .await
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&tag],
        )
        .await
        .unwrap()
        .get(0);
    assert!(killed >= 1, "the store's backend was found and terminated");
    let error = appending.await.unwrap().unwrap_err();
    locker.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        error.kind(),
        ErrorKind::Unavailable,
        "a terminated backend is no statement the database refuses: {error}"
    );
    // Nothing of that append happened, and the next call reconnects.
    assert_eq!(store.read_from(1).await.unwrap(), first);
    store.append(1, &second).await.unwrap();
    assert_eq!(store.read_from(1).await.unwrap().len(), 2);
}

#[tokio::test]
async fn postgres_down_says_which_database_and_why() {
    // No database needed: nothing listens on port 1.
    let error = PostgresJournalStore::connect(
        "host=127.0.0.1 port=1 user=knowngood password=secret dbname=ledger connect_timeout=5",
        "j",
        Chain::unnamed(),
    )
    .await
    .unwrap_err();
    let message = error.to_string();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{message}");
    assert!(
        message.contains("host=127.0.0.1 port=1 dbname=ledger user=knowngood"),
        "{message}"
    );
    assert!(message.to_lowercase().contains("refused"), "{message}");
    assert!(
        !message.contains("secret"),
        "the password never shows: {message}"
    );
}

#[tokio::test]
async fn postgres_fencing_a_holder_whose_lease_passed_on_writes_nothing() {
    let Some((_, name, store, mut ledger)) = fresh("postgres_fencing").await else {
        return;
    };
    let leases = store.leases().await.unwrap();
    let scope = "incident/INC-1";
    let LeaseAnswer::Granted { token: first } = leases
        .acquire(scope, "replica-a", Duration::from_millis(300))
        .await
        .unwrap()
    else {
        panic!("the lease was free");
    };
    // Replica A pauses past its lease; B takes over.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let LeaseAnswer::Granted { token: second } = leases
        .acquire(scope, "replica-b", Duration::from_secs(30))
        .await
        .unwrap()
    else {
        panic!("the lease had expired");
    };
    assert_ne!(first, second);
    let entries = services(&mut ledger, "svc", 1);
    // Negative: A wakes and appends under its old lease: refused, nothing
    // written.
    let stale = store
        .append_fenced(
            0,
            &entries,
            &knowngood::Fence::new(scope, "replica-a", first),
        )
        .await
        .unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Rejected, "{stale}");
    assert!(stale.to_string().contains("no longer"), "{stale}");
    assert!(store.read_from(1).await.unwrap().is_empty(), "{name}");
    // Positive: B, holding it, appends.
    store
        .append_fenced(
            0,
            &entries,
            &knowngood::Fence::new(scope, "replica-b", second),
        )
        .await
        .unwrap();
    assert_eq!(store.read_from(1).await.unwrap(), entries);
}
