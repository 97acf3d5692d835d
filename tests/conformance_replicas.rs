//! The hostile half of the conformance suite (`conformance::*_replicas`)
//! on every adapter, each with two handles as two replicas hold them: two
//! opens of one journal file or `SQLite` database, two `PostgreSQL`
//! connections, two flagd stores on one file, two clones of one git
//! remote, two command deployers on two machines. And it fails, naming the
//! property, where two handles do not share what they must.
#![cfg(feature = "testkit")]

#[path = "common/tmp.rs"]
mod tmp;

use knowngood::memory::{
    InMemoryDeployer, InMemoryFlagStore, InMemoryJournalStore, InMemoryVcs, block_on,
};
use knowngood::testkit::conformance;

const ROUNDS: usize = 20;

#[test]
fn replicas_in_memory_adapters_shared_by_two_handles_pass() {
    let journal = InMemoryJournalStore::default();
    block_on(conformance::journal_store_replicas(
        &journal, &journal, ROUNDS,
    ))
    .unwrap();
    let flags = InMemoryFlagStore::default();
    block_on(conformance::flag_store_replicas(&flags, &flags, ROUNDS)).unwrap();
    let vcs = InMemoryVcs::default();
    vcs.commit(&"payments".into(), &"main".into(), &"a1".into());
    block_on(conformance::vcs_replicas(
        &vcs,
        &vcs,
        &"payments".into(),
        &"main".into(),
    ))
    .unwrap();
    let deployer = InMemoryDeployer::default();
    block_on(conformance::deployer_replicas(
        &deployer,
        &deployer,
        &"prod".into(),
        &|k| deployer.executions(k),
    ))
    .unwrap();
}

#[test]
fn replicas_two_stores_that_share_nothing_are_caught_naming_the_property() {
    // Two in-memory flag stores are two systems, not two handles on one:
    // what one writes the other never sees.
    let err = block_on(conformance::flag_store_replicas(
        &InMemoryFlagStore::default(),
        &InMemoryFlagStore::default(),
        3,
    ))
    .unwrap_err();
    assert_eq!(
        err.check, "two-writers-on-two-flags-keep-each-others-writes",
        "{err}"
    );
    let a = InMemoryDeployer::default();
    let err = block_on(conformance::deployer_replicas(
        &a,
        &InMemoryDeployer::default(),
        &"prod".into(),
        &|k| a.executions(k),
    ))
    .unwrap_err();
    assert_eq!(err.check, "another-replica-finds-a-deploy-by-its-key");
}

#[cfg(feature = "file-journal")]
#[test]
fn replicas_file_journal_two_opens_of_one_file_pass() {
    use knowngood::adapters::FileJournalStore;
    let dir = tmp::TempDir::new("replicas-file");
    let path = dir.path().join("journal.jsonl");
    let a = FileJournalStore::open(&path, knowngood::Chain::named("replicas")).unwrap();
    let b = FileJournalStore::open(&path, knowngood::Chain::named("replicas")).unwrap();
    block_on(conformance::journal_store_replicas(&a, &b, ROUNDS)).unwrap();
    // And again on the journal it now holds.
    block_on(conformance::journal_store_replicas(&b, &a, 5)).unwrap();
}

#[cfg(feature = "sqlite")]
#[test]
fn replicas_sqlite_two_opens_of_one_database_pass() {
    use knowngood::adapters::SqliteJournalStore;
    let dir = tmp::TempDir::new("replicas-sqlite");
    let path = dir.path().join("journal.db");
    let a = SqliteJournalStore::open(&path, knowngood::Chain::named("replicas")).unwrap();
    let b = SqliteJournalStore::open(&path, knowngood::Chain::named("replicas")).unwrap();
    block_on(conformance::journal_store_replicas(&a, &b, ROUNDS)).unwrap();
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_postgres_two_connections_pass() {
    use knowngood::adapters::PostgresJournalStore;
    let Ok(url) = std::env::var("KNOWNGOOD_POSTGRES_URL") else {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "replicas_postgres_two_connections_pass: SKIPPED: KNOWNGOOD_POSTGRES_URL is not set, nothing ran against PostgreSQL"
        );
        return;
    };
    let journal = format!(
        "replicas-conformance-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let a = PostgresJournalStore::connect(&url, &journal, knowngood::Chain::unnamed())
        .await
        .unwrap();
    a.migrate().await.unwrap();
    let b = PostgresJournalStore::connect(&url, &journal, knowngood::Chain::unnamed())
        .await
        .unwrap();
    conformance::journal_store_replicas(&a, &b, ROUNDS)
        .await
        .unwrap();
}

#[cfg(feature = "flagd")]
#[test]
fn replicas_flagd_two_stores_on_one_file_pass() {
    use knowngood::adapters::FlagdFileStore;
    let dir = tmp::TempDir::new("replicas-flagd");
    let file = dir.path().join("flags.json");
    let a = FlagdFileStore::new().environment("conformance-env", &file);
    let b = FlagdFileStore::new().environment("conformance-env", &file);
    block_on(conformance::flag_store_replicas(&a, &b, ROUNDS)).unwrap();
}

#[cfg(feature = "git")]
fn git(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=dev", "-c", "user.email=dev@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(feature = "git")]
#[test]
fn replicas_git_two_clones_of_one_remote_pass() {
    use knowngood::adapters::GitVcs;
    let dir = tmp::TempDir::new("replicas-git");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    for (file, text) in [("a.txt", "one"), ("b.txt", "two")] {
        std::fs::write(work.join(file), text).unwrap();
        git(&work, &["add", file]);
        git(&work, &["commit", "-q", "-m", file]);
    }
    let origin = dir.path().join("origin.git");
    let origin_path = origin.to_str().unwrap();
    git(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", origin_path],
    );
    git(&work, &["push", "-q", origin_path, "main"]);
    let clone = |name: &str| {
        let path = dir.path().join(name);
        git(
            dir.path(),
            &["clone", "-q", origin_path, path.to_str().unwrap()],
        );
        GitVcs::new().repository("payments", path).remote("origin")
    };
    let (a, b) = (clone("replica-a"), clone("replica-b"));
    block_on(conformance::vcs_replicas(
        &a,
        &b,
        &"payments".into(),
        &"main".into(),
    ))
    .unwrap();
    // Two clones without a remote share nothing: the second replica cannot
    // find the first one's revert.
    let lone = |name: &str| {
        let path = dir.path().join(name);
        git(
            dir.path(),
            &["clone", "-q", origin_path, path.to_str().unwrap()],
        );
        GitVcs::new().repository("payments", path)
    };
    let err = block_on(conformance::vcs_replicas(
        &lone("lone-a"),
        &lone("lone-b"),
        &"payments".into(),
        &"main".into(),
    ))
    .unwrap_err();
    assert_eq!(
        err.check, "another-replica-finds-a-revert-by-its-key",
        "{err}"
    );
}

#[cfg(feature = "command")]
#[test]
fn replicas_command_deployers_on_two_machines_pass_with_the_hosts_outcome_command() {
    use knowngood::adapters::{CommandDeployer, CommandSpec};
    let dir = tmp::TempDir::new("replicas-command");
    let d = dir.path().display().to_string();
    // The host: a deploy that logs every run and is idempotent per key, a
    // status, and an outcome answered from the host's own log.
    let deploy = format!(
        "echo \"$KNOWNGOOD_KEY\" >> '{d}/runs.log'\n\
         grep -qF \"$KNOWNGOOD_KEY \" '{d}/deployed.log' 2>/dev/null && exit 0\n\
         echo \"$KNOWNGOOD_KEY $KNOWNGOOD_RELEASE\" >> '{d}/deployed.log'\n\
         echo \"$KNOWNGOOD_RELEASE\" > '{d}/serving.'\"$KNOWNGOOD_SERVICE\"\n"
    );
    let status = format!("cat '{d}/serving.'\"$KNOWNGOOD_SERVICE\" 2>/dev/null || true");
    let outcome = format!(
        "grep -F \"$KNOWNGOOD_KEY \" '{d}/deployed.log' 2>/dev/null | head -n1 | cut -d' ' -f2"
    );
    let machine = |name: &str, asks: bool| {
        let deployer = CommandDeployer::new(
            CommandSpec::new("sh", ["-c", deploy.as_str()]),
            CommandSpec::new("sh", ["-c", status.as_str()]),
            dir.path().join(name),
        );
        if asks {
            deployer.with_outcome(CommandSpec::new("sh", ["-c", outcome.as_str()]))
        } else {
            deployer
        }
    };
    let runs = |key: &knowngood::IdempotencyKey| {
        std::fs::read_to_string(dir.path().join("runs.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| *l == key.as_str())
            .count()
    };
    block_on(conformance::deployer_replicas(
        &machine("machine-a", true),
        &machine("machine-b", true),
        &"prod".into(),
        &runs,
    ))
    .unwrap();
    // Without the host's outcome command, a deployer on another machine
    // knows only its own records.
    let err = block_on(conformance::deployer_replicas(
        &machine("machine-c", false),
        &machine("machine-d", false),
        &"prod".into(),
        &runs,
    ))
    .unwrap_err();
    assert_eq!(
        err.check, "another-replica-finds-a-deploy-by-its-key",
        "{err}"
    );
}
