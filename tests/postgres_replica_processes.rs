//! Replicas as separate processes, as a platform team runs them: three
//! processes share a `PostgreSQL` journal, `PostgreSQL` leases and a flagd
//! file; the first turns the flag off and is killed (SIGKILL) before it
//! can record it; the other two take over once its lease runs out. The
//! flag is written once, and the journal is what a single driver writes.
//!
//! Each replica is this test binary run again with `KG_REPLICA` set (the
//! ignored test `replica_process`). Skipped without
//! `KNOWNGOOD_POSTGRES_URL`.
#![cfg(all(feature = "postgres", feature = "flagd"))]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use knowngood::adapters::{FlagdFileStore, PostgresJournalStore};
use knowngood::driver::Driver;
use knowngood::memory::{
    InMemoryBuilder, InMemoryDeployer, InMemoryHealthProbe, InMemoryJournalStore, InMemoryVcs,
};
use knowngood::port::{FlagStore, FlagStoreCapabilities, JournalStore};
use knowngood::recovery::IdempotencyKey;
use knowngood::{
    AdapterError, Chain, EnvironmentId, FlagKey, FlagState, Leases, Ports, Strategy, SystemClock,
};

#[path = "common/tmp.rs"]
mod tmp;

const TTL: Duration = Duration::from_millis(1_500);

/// A flag store that writes, then never answers: the process dies right
/// after acting (the parent kills it there).
#[derive(Debug)]
struct HangsAfterWriting(FlagdFileStore);

#[async_trait]
impl FlagStore for HangsAfterWriting {
    fn capabilities(&self) -> FlagStoreCapabilities {
        self.0.capabilities()
    }
    async fn get(
        &self,
        env: &EnvironmentId,
        flag: &FlagKey,
    ) -> Result<(FlagState, u64), AdapterError> {
        self.0.get(env, flag).await
    }
    async fn set(
        &self,
        key: &IdempotencyKey,
        env: &EnvironmentId,
        flag: &FlagKey,
        state: &FlagState,
        expected_revision: u64,
    ) -> Result<u64, AdapterError> {
        self.0.set(key, env, flag, state, expected_revision).await?;
        std::future::pending().await
    }
    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<u64>, AdapterError> {
        self.0.outcome(key).await
    }
}

fn ports(
    flags: Arc<dyn FlagStore>,
    journal: Arc<dyn JournalStore>,
    leases: Option<Arc<dyn Leases>>,
) -> Ports {
    let mut ports = Ports::builder()
        .vcs(Arc::new(InMemoryVcs::default()))
        .deployer(Arc::new(InMemoryDeployer::default()))
        .flags(flags)
        .health(Arc::new(InMemoryHealthProbe::default()))
        .builder(Arc::new(InMemoryBuilder::new(3, 1, 9)))
        .journal(journal)
        .clock(Arc::new(SystemClock));
    if let Some(leases) = leases {
        ports = ports.leases(leases, TTL);
    }
    ports.build().unwrap()
}

fn flagd(path: &Path) -> FlagdFileStore {
    FlagdFileStore::new().environment("prod", path)
}

/// One replica process (run by the test below, never on its own).
#[tokio::test]
#[ignore = "a replica process the multi-process test starts"]
async fn replica_process() {
    let (Ok(name), Ok(url), Ok(journal), Ok(flags)) = (
        std::env::var("KG_REPLICA"),
        std::env::var("KNOWNGOOD_POSTGRES_URL"),
        std::env::var("KG_REPLICA_JOURNAL"),
        std::env::var("KG_REPLICA_FLAGS"),
    ) else {
        return;
    };
    let store = PostgresJournalStore::connect(&url, &journal, Chain::unnamed())
        .await
        .unwrap();
    let leases: Arc<dyn Leases> = Arc::new(store.leases().await.unwrap());
    let flags: Arc<dyn FlagStore> = if std::env::var("KG_REPLICA_DIES").is_ok() {
        Arc::new(HangsAfterWriting(flagd(Path::new(&flags))))
    } else {
        Arc::new(flagd(Path::new(&flags)))
    };
    let driver = Driver::resume(ports(flags, Arc::new(store), Some(leases)), name.as_str())
        .await
        .unwrap();
    common::drive_as_replica(driver, &name).await;
    println!("{name}: done");
}

fn spawn(name: &str, url: &str, journal: &str, flags: &Path, dies: bool) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "replica_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--quiet",
        ])
        .env("KG_REPLICA", name)
        .env("KNOWNGOOD_POSTGRES_URL", url)
        .env("KG_REPLICA_JOURNAL", journal)
        .env("KG_REPLICA_FLAGS", flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if dies {
        command.env("KG_REPLICA_DIES", "1");
    }
    command.spawn().unwrap()
}

fn flag_revision(path: &Path) -> (FlagState, u64) {
    futures_lite(flagd(path).get(&"prod".into(), &"new-checkout".into())).unwrap()
}

fn futures_lite<F: std::future::Future>(f: F) -> F::Output {
    knowngood::memory::block_on(f)
}

fn world() -> common::World {
    let mut w = common::flagged_change_in_production();
    w.choose(Strategy::Retoggle);
    w
}

/// The journal's event kinds a single driver in one process writes.
async fn single_driver_kinds(flags: PathBuf) -> Vec<serde_json::Value> {
    let store = Arc::new(InMemoryJournalStore::default());
    store
        .append(0, world().ledger.journal().entries())
        .await
        .unwrap();
    let driver = Driver::resume(ports(Arc::new(flagd(&flags)), store, None), "solo")
        .await
        .unwrap();
    common::performed_apart(
        common::drive_as_replica(driver, "solo")
            .await
            .journal()
            .entries(),
        &["solo", "replica-0", "replica-1", "replica-2"],
    )
}

/// The flag on in prod's flagd file, as the world says.
async fn flag_on(path: &Path) {
    flagd(path)
        .set(
            &IdempotencyKey::new("setup/flag-on"),
            &"prod".into(),
            &"new-checkout".into(),
            &FlagState::On,
            0,
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_in_separate_processes_one_killed_mid_plan_act_once() {
    let Ok(url) = std::env::var("KNOWNGOOD_POSTGRES_URL") else {
        // Straight to stderr, past libtest's capture: a skipped test must
        // say so where it is seen.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "replica processes: SKIPPED: KNOWNGOOD_POSTGRES_URL is not set, nothing ran against PostgreSQL"
        );
        return;
    };
    let dir = tmp::TempDir::new("replica-processes");
    let solo_flags = dir.path().join("solo.flags.json");
    flag_on(&solo_flags).await;
    let expected = single_driver_kinds(solo_flags).await;

    let flags = dir.path().join("prod.flags.json");
    flag_on(&flags).await;
    let (_, before) = flag_revision(&flags);
    let journal = format!(
        "processes-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let store = PostgresJournalStore::connect(&url, &journal, Chain::unnamed())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
        .append(0, world().ledger.journal().entries())
        .await
        .unwrap();

    // The first replica turns the flag off, then is killed before it can
    // record it.
    let mut first = spawn("replica-0", &url, &journal, &flags, true);
    let started = Instant::now();
    while flag_revision(&flags).0 != FlagState::Off {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "replica 0 never wrote the flag"
        );
        if let Some(status) = first.try_wait().unwrap() {
            let out = first.wait_with_output().unwrap();
            panic!(
                "replica 0 exited ({status}): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let killed = Instant::now();

    let standbys = [
        spawn("replica-1", &url, &journal, &flags, false),
        spawn("replica-2", &url, &journal, &flags, false),
    ];
    for standby in standbys {
        let out = standby.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let took = killed.elapsed();

    let (state, after) = flag_revision(&flags);
    assert_eq!(state, FlagState::Off);
    assert_eq!(after, before + 1, "the flag was written exactly once");
    let stored = store.read_from(1).await.unwrap();
    assert_eq!(
        common::performed_apart(&stored, &["solo", "replica-0", "replica-1", "replica-2"]),
        expected
    );
    // Only the standbys recorded after the kill; the killed replica
    // recorded the step as started and nothing after.
    let recorded_by = stored
        .iter()
        .filter_map(|e| match &e.event.kind {
            knowngood::EventKind::EffectRecorded { by, .. } => by.as_ref().map(ToString::to_string),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert!(
        recorded_by.iter().any(|by| by == "replica-0"),
        "{recorded_by:?}"
    );
    assert!(
        recorded_by
            .iter()
            .any(|by| by == "replica-1" || by == "replica-2"),
        "{recorded_by:?}"
    );
    println!(
        "replica processes: took over and finished {took:?} after the kill; recorded by {recorded_by:?}"
    );
    assert!(took < TTL * 20, "took {took:?}");
}
