//! Replicas end to end, killed at every step: the kill-point matrix.
//!
//! As a platform team runs knowngood: each replica is a separate OS
//! process with its own clone of a bare git origin, its own outcomes
//! directory (its own machine), the `PostgreSQL` journal and leases, the
//! flagd file everyone shares, and deploy scripts slower than the lease.
//! For each strategy (revert, rollback, retoggle) a replica is first run
//! alone to list the kill points it passes (`testkit::tripwire`: just
//! before and just after every call that acts or records); then, for every
//! point in turn, on a fresh origin, journal and flag file:
//!
//! 1. replica 0 runs and is killed (SIGKILL) at that point;
//! 2. replicas 1 and 2, with clocks 2 minutes behind and 2 minutes ahead,
//!    race to finish the plan.
//!
//! Two more kill points come from outside the process: during `git push`
//! (the origin's `pre-receive` hook kills the replica, and the push lands
//! or is refused) and during a deploy script (the script kills the replica
//! and goes on as an orphan). After each run: every deploy key ran its
//! script once (the scripts' own log), the origin holds what a lone run
//! leaves (one revert, not two), the flag was written as often as a lone
//! run writes it, nobody needed a person (no error stopped a replica), and
//! the journal equals the lone run's apart from who performed each step
//! and when.
//!
//! Each replica is this test binary run again with `KG_KP_REPLICA` set
//! (the ignored test `kill_point_replica`). Skipped, saying so on stderr,
//! without `KNOWNGOOD_POSTGRES_URL`.
#![cfg(all(
    feature = "postgres",
    feature = "git",
    feature = "flagd",
    feature = "command",
    feature = "testkit"
))]

mod common;

#[path = "common/tmp.rs"]
mod tmp;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};

use common::git::{GIT_DATE, git};
use std::sync::Arc;
use std::time::{Duration, Instant};

use knowngood::adapters::{
    CommandDeployer, CommandSpec, FlagdFileStore, GitVcs, PostgresJournalStore,
};
use knowngood::memory::{InMemoryBuilder, InMemoryHealthProbe};
use knowngood::port::{Clock, FlagStore, JournalStore};
use knowngood::testkit::tripwire::{KillPoint, tripwire};
use knowngood::{
    Artifact, Chain, Change, Command, Commit, Digest, Driver, EnvironmentRole, FlagState, Leases,
    PipelineSpec, Ports, Release, Service, Severity, Shipped, Strategy, SuspectedCause,
};

/// The lease: shorter than a deploy script.
const TTL: Duration = Duration::from_secs(1);
/// How long a replica's deploy script runs.
const DEPLOY_SECONDS: &str = "1.2";
const REPLICAS: [&str; 3] = ["replica-0", "replica-1", "replica-2"];

fn write_script(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// One run's world on disk: the origin, the scripts, the flag file, the
/// logs, and the `PostgreSQL` journal's name.
struct Case {
    dir: PathBuf,
    journal: String,
}

impl Case {
    fn origin(&self) -> PathBuf {
        self.dir.join("origin.git")
    }
    fn flags(&self) -> PathBuf {
        self.dir.join("prod.flags.json")
    }
    fn clone_of(&self, who: &str) -> PathBuf {
        self.dir.join(format!("clone-{who}"))
    }

    /// The host's side: a repository with two merged changes on a bare
    /// origin whose `pre-receive` hook can kill replica 0 mid-push, and
    /// deploy, status and outcome scripts (the deploy script logs every
    /// run, is idempotent per key, and can kill replica 0 mid-deploy).
    fn set_up_host(dir: &Path) -> [String; 2] {
        let work = dir.join("work");
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "-q", "-b", "main"]);
        let mut commits = Vec::new();
        for (file, text) in [
            ("checkout.txt", "v1"),
            ("checkout-v2.txt", "behind new-checkout"),
        ] {
            std::fs::write(work.join(file), text).unwrap();
            git(&work, &["add", file]);
            git(&work, &["commit", "-q", "-m", &format!("add {file}")]);
            commits.push(git(&work, &["rev-parse", "HEAD"]));
        }
        let origin = dir.join("origin.git");
        git(
            dir,
            &[
                "init",
                "-q",
                "--bare",
                "-b",
                "main",
                origin.to_str().unwrap(),
            ],
        );
        git(&work, &["push", "-q", origin.to_str().unwrap(), "main"]);
        let d = dir.display();
        write_script(
            &origin.join("hooks/pre-receive"),
            &format!(
                "#!/bin/sh\ncat >/dev/null\n\
                 if [ \"$KG_REPLICA\" = replica-0 ] && [ -n \"$KG_KILL_DURING_PUSH\" ]; then\n\
                   kill -9 \"$(cat '{d}/replica-0.pid')\"\n\
                   sleep 0.3\n\
                   [ \"$KG_KILL_DURING_PUSH\" = lands ] || exit 1\n\
                 fi\n\
                 exit 0\n"
            ),
        );
        write_script(
            &dir.join("deploy.sh"),
            &format!(
                "d='{d}'\n\
                 echo \"$KNOWNGOOD_KEY\" >> \"$d/runs.log\"\n\
                 if [ -n \"$KG_REPLICA\" ]; then\n\
                   n=$(( $(cat \"$d/deploys.$KG_REPLICA\" 2>/dev/null || echo 0) + 1 ))\n\
                   echo \"$n\" > \"$d/deploys.$KG_REPLICA\"\n\
                   if [ \"$KG_REPLICA\" = replica-0 ] && [ \"${{KG_KILL_DURING_DEPLOY:-0}}\" = \"$n\" ]; then\n\
                     sleep 0.3; kill -9 \"$(cat \"$d/replica-0.pid\")\"\n\
                   fi\n\
                   sleep {DEPLOY_SECONDS}\n\
                 fi\n\
                 grep -qF \"$KNOWNGOOD_KEY \" \"$d/deployed.log\" 2>/dev/null && exit 0\n\
                 echo \"$KNOWNGOOD_KEY $KNOWNGOOD_ENVIRONMENT $KNOWNGOOD_RELEASE\" >> \"$d/deployed.log\"\n\
                 echo \"$KNOWNGOOD_RELEASE\" > \"$d/serving.$KNOWNGOOD_ENVIRONMENT\"\n"
            ),
        );
        write_script(
            &dir.join("status.sh"),
            &format!("cat '{d}/serving.'\"$KNOWNGOOD_ENVIRONMENT\" 2>/dev/null || true\n"),
        );
        write_script(
            &dir.join("outcome.sh"),
            &format!(
                "grep -F \"$KNOWNGOOD_KEY \" '{d}/deployed.log' 2>/dev/null | head -n1 | cut -d' ' -f3\n"
            ),
        );
        [commits[0].clone(), commits[1].clone()]
    }

    /// A fresh world for `strategy`: the host, each replica's clone, and
    /// a journal holding two shipped releases, the flag on, the incident
    /// and the chosen strategy.
    async fn new(root: &Path, name: &str, url: &str, strategy: Strategy) -> Case {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let [c1, c2] = Self::set_up_host(&dir);
        let journal = format!(
            "kill-points-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let case = Case { dir, journal };
        for who in std::iter::once("setup").chain(REPLICAS) {
            git(
                &case.dir,
                &[
                    "clone",
                    "-q",
                    case.origin().to_str().unwrap(),
                    case.clone_of(who).to_str().unwrap(),
                ],
            );
        }
        let store = PostgresJournalStore::connect(url, &case.journal, Chain::unnamed())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let ports = case.ports("setup", Arc::new(store), None, 0);
        let mut driver = Driver::start(ports, "setup").await.unwrap();
        record_history(&mut driver, &c1, &c2, &case.flags(), strategy).await;
        case
    }

    /// The ports of `who`: its own clone and outcomes directory, and what
    /// everyone shares.
    fn ports(
        &self,
        who: &str,
        journal: Arc<dyn JournalStore>,
        leases: Option<Arc<dyn Leases>>,
        skew_seconds: i64,
    ) -> Ports {
        let script = |name: &str| self.dir.join(name).display().to_string();
        let seconds = |s: u64| Duration::from_secs(s);
        let deployer = CommandDeployer::new(
            CommandSpec::new("sh", [script("deploy.sh")]).timeout(seconds(3)),
            CommandSpec::new("sh", [script("status.sh")]).timeout(seconds(2)),
            self.dir.join(format!("outcomes-{who}")),
        )
        .with_outcome(CommandSpec::new("sh", [script("outcome.sh")]).timeout(seconds(2)));
        let mut ports = Ports::builder()
            .vcs(Arc::new(
                GitVcs::new()
                    .repository("payments", self.clone_of(who))
                    .remote("origin")
                    .author("knowngood", "bot@example.com"),
            ))
            .deployer(Arc::new(deployer))
            .flags(Arc::new(
                FlagdFileStore::new().environment("prod", self.flags()),
            ))
            .health(Arc::new(InMemoryHealthProbe::default()))
            .builder(Arc::new(InMemoryBuilder::new(3, 1, 9)))
            .journal(journal)
            .clock(Arc::new(Skewed(chrono::Duration::seconds(skew_seconds))));
        if let Some(leases) = leases {
            ports = ports.leases(leases, TTL);
        }
        ports.build().unwrap()
    }
}

/// The system clock moved by a fixed amount: a replica whose clock is off.
#[derive(Debug)]
struct Skewed(chrono::Duration);

impl Clock for Skewed {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        knowngood::SystemClock.now() + self.0
    }
}

/// What the team did before the incident, the incident, and the choice.
async fn record_history(
    driver: &mut Driver,
    c1: &str,
    c2: &str,
    flags_file: &Path,
    strategy: Strategy,
) {
    let pipeline = PipelineSpec::new()
        .environment("qa", EnvironmentRole::Test)
        .environment("prod", EnvironmentRole::Production)
        .promote("qa", "prod")
        .build()
        .unwrap();
    let now = driver.ports().clock.now();
    let mut commands = vec![
        Command::DefinePipeline { pipeline },
        Command::RegisterService {
            service: Service::new("payments"),
        },
        Command::RecordCommit {
            commit: Commit::new(c1, None::<&str>),
        },
        Command::RecordCommit {
            commit: Commit::new(c2, [c1]),
        },
        Command::RecordChange {
            change: Change::new("PR-1", "PR-1", "dev", now, [c1]),
        },
        Command::RecordChange {
            change: Change::new("PR-2", "PR-2", "dev", now, [c2]).behind_flag("new-checkout"),
        },
        Command::MoveBranch {
            service: "payments".into(),
            branch: "main".into(),
            head: c2.into(),
        },
    ];
    for (n, commit) in [(1_u64, c1), (2, c2)] {
        let digest = Digest::parse(&format!("sha256:{}", &commit[..16])).unwrap();
        let release = format!("payments@1.{n}.0");
        commands.push(Command::RegisterArtifact {
            artifact: Artifact::new(
                "payments",
                digest.clone(),
                format!("1.{n}.0").parse().unwrap(),
                n,
                commit,
            ),
        });
        commands.push(Command::RegisterRelease {
            release: Release::new(release.as_str(), "payments", digest, format!("cfg-{n}")),
        });
    }
    for command in &commands {
        driver.execute(command).await.unwrap();
    }
    for n in [1, 2] {
        let release = format!("payments@1.{n}.0");
        for env in ["qa", "prod"] {
            let shipped = driver
                .ship(
                    &env.into(),
                    &release.as_str().into(),
                    &format!("ship/{release}/{env}").as_str().into(),
                )
                .await
                .unwrap();
            assert!(matches!(shipped, Shipped::Verified { .. }), "{shipped:?}");
        }
    }
    FlagdFileStore::new()
        .environment("prod", flags_file)
        .set(
            &"history/new-checkout/on".into(),
            &"prod".into(),
            &"new-checkout".into(),
            &FlagState::On,
            0,
        )
        .await
        .unwrap();
    for command in [
        Command::SetFlag {
            environment: "prod".into(),
            flag: "new-checkout".into(),
            state: FlagState::On,
            by: "bob".into(),
            clearance: knowngood::Clearance::none(),
        },
        Command::DeclareIncident {
            incident: "INC-1".into(),
            environment: "prod".into(),
            service: "payments".into(),
            severity: Severity::Sev2,
            cause: SuspectedCause::Change {
                change: "PR-2".into(),
            },
            summary: "checkout error rate 9%".into(),
            by: "oncall".into(),
            impact_began: None,
        },
    ] {
        driver.execute(&command).await.unwrap();
    }
    let plan = knowngood::plan(
        driver.state(),
        &"INC-1".into(),
        driver.ports().clock.now(),
        &driver.ports().capabilities(),
    )
    .unwrap();
    let choice = plan
        .choose(strategy, "oncall")
        .unwrap_or_else(|e| panic!("{strategy} is not offered: {e}\n{}", plan.explanation));
    driver.execute(&choice).await.unwrap();
}

/// One replica process (run by the tests below, never on its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a replica process the kill-point tests start"]
async fn kill_point_replica() {
    let (Ok(name), Ok(url), Ok(dir), Ok(journal)) = (
        std::env::var("KG_KP_REPLICA"),
        std::env::var("KNOWNGOOD_POSTGRES_URL"),
        std::env::var("KG_KP_DIR"),
        std::env::var("KG_KP_JOURNAL"),
    ) else {
        return;
    };
    let skew = std::env::var("KG_KP_SKEW").map_or(0, |s| s.parse().unwrap());
    let kill_at: Option<u64> = std::env::var("KG_KP_KILL_AT")
        .ok()
        .map(|s| s.parse().unwrap());
    let case = Case {
        dir: PathBuf::from(dir),
        journal,
    };
    std::fs::write(
        case.dir.join(format!("{name}.pid")),
        std::process::id().to_string(),
    )
    .unwrap();
    let store = PostgresJournalStore::connect(&url, &case.journal, Chain::unnamed())
        .await
        .unwrap();
    let leases: Arc<dyn Leases> = Arc::new(store.leases().await.unwrap());
    let ports = case.ports(&name, Arc::new(store), Some(leases), skew);
    let trace = case.dir.join(format!("points.{name}"));
    let ports = tripwire(ports, move |point: &KillPoint| {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&trace)
            .unwrap();
        writeln!(file, "{point}").unwrap();
        if Some(point.index) == kill_at {
            let _ = Process::new("kill")
                .args(["-9", &std::process::id().to_string()])
                .status();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    });
    let driver = Driver::resume(ports, name.as_str()).await.unwrap();
    common::drive_as_replica(driver, &name).await;
}

/// How replica `who` dies, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    None,
    At(u64),
    DuringPush { lands: bool },
    DuringDeploy(u32),
}

impl std::fmt::Display for Kill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kill::None => write!(f, "no kill"),
            Kill::At(n) => write!(f, "kill point {n}"),
            Kill::DuringPush { lands: true } => write!(f, "during git push (it lands)"),
            Kill::DuringPush { lands: false } => write!(f, "during git push (refused)"),
            Kill::DuringDeploy(n) => write!(f, "during deploy script {n}"),
        }
    }
}

fn spawn(case: &Case, url: &str, who: &str, skew: i64, kill: Kill) -> Child {
    let mut command = Process::new(std::env::current_exe().unwrap());
    command
        .args([
            "kill_point_replica",
            "--exact",
            "--ignored",
            "--nocapture",
            "--quiet",
        ])
        .env("KG_KP_REPLICA", who)
        .env("KG_REPLICA", who)
        .env("KNOWNGOOD_POSTGRES_URL", url)
        .env("KG_KP_DIR", &case.dir)
        .env("KG_KP_JOURNAL", &case.journal)
        .env("KG_KP_SKEW", skew.to_string())
        .env("GIT_AUTHOR_DATE", GIT_DATE)
        .env("GIT_COMMITTER_DATE", GIT_DATE)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match kill {
        Kill::None => {}
        Kill::At(n) => {
            command.env("KG_KP_KILL_AT", n.to_string());
        }
        Kill::DuringPush { lands } => {
            command.env(
                "KG_KILL_DURING_PUSH",
                if lands { "lands" } else { "refused" },
            );
        }
        Kill::DuringDeploy(n) => {
            command.env("KG_KILL_DURING_DEPLOY", n.to_string());
        }
    }
    command.spawn().unwrap()
}

fn finish(child: Child, what: &str) -> std::process::ExitStatus {
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(
            out.status.signal(),
            Some(9),
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status
}

/// What a run left behind, to compare with a lone replica's.
#[derive(Debug, PartialEq, Eq)]
struct Effects {
    /// Deploy keys the scripts ran under since the incident, and how
    /// often each ran.
    runs: BTreeMap<String, usize>,
    /// Commits on the origin's main.
    origin_commits: usize,
    /// The flag's state and revision in the shared file.
    flag: (FlagState, u64),
    /// The journal since the incident, times and performers left out.
    journal: Vec<serde_json::Value>,
}

async fn effects(case: &Case, url: &str, history: usize) -> Effects {
    let mut runs = BTreeMap::new();
    for key in std::fs::read_to_string(case.dir.join("runs.log"))
        .unwrap_or_default()
        .lines()
        .filter(|k| !k.starts_with("ship/"))
    {
        *runs.entry(key.to_owned()).or_insert(0) += 1;
    }
    let store = PostgresJournalStore::connect(url, &case.journal, Chain::unnamed())
        .await
        .unwrap();
    let entries = store.read_from(1).await.unwrap();
    let performers: Vec<&str> = REPLICAS.to_vec();
    Effects {
        runs,
        origin_commits: git(&case.origin(), &["rev-list", "--count", "main"])
            .parse()
            .unwrap(),
        flag: FlagdFileStore::new()
            .environment("prod", case.flags())
            .get(&"prod".into(), &"new-checkout".into())
            .await
            .unwrap(),
        journal: common::performed_apart(&entries[history..], &performers),
    }
}

async fn journal_len(case: &Case, url: &str) -> usize {
    PostgresJournalStore::connect(url, &case.journal, Chain::unnamed())
        .await
        .unwrap()
        .read_from(1)
        .await
        .unwrap()
        .len()
}

/// One row of the matrix: the kill, and what the successors did.
struct Row {
    kill: Kill,
    point: Option<String>,
    took: Duration,
}

/// One case: a fresh world, replica 0 killed as `kill` says, replicas 1
/// and 2 finishing; checks what they left against a lone run's.
#[allow(clippy::too_many_arguments)]
async fn run_case(
    root: &Path,
    i: usize,
    url: &str,
    strategy: Strategy,
    kill: Kill,
    history: usize,
    expected: &Effects,
    points: &[String],
) -> Row {
    let case = Case::new(root, &format!("case-{i}"), url, strategy).await;
    let first = spawn(&case, url, "replica-0", 0, kill);
    let first = tokio::task::spawn_blocking(move || finish(first, "replica 0"))
        .await
        .unwrap();
    assert!(
        !first.success(),
        "{strategy}, {kill}: replica 0 was not killed (the point was not reached)"
    );
    let killed = Instant::now();
    let standbys = [
        spawn(&case, url, "replica-1", -120, Kill::None),
        spawn(&case, url, "replica-2", 120, Kill::None),
    ];
    for (standby, who) in standbys.into_iter().zip(["replica 1", "replica 2"]) {
        let status = tokio::task::spawn_blocking(move || finish(standby, who))
            .await
            .unwrap();
        assert!(status.success(), "{strategy}, {kill}: {who} was killed");
    }
    let took = killed.elapsed();
    let found = effects(&case, url, history).await;
    assert!(
        found.runs.values().all(|&n| n == 1),
        "{strategy}, {kill}: a deploy key ran twice: {:?}",
        found.runs
    );
    assert_eq!(
        &found, expected,
        "{strategy}, {kill}: the run differs from a lone replica's"
    );
    let point = match kill {
        Kill::At(n) => points.get(usize::try_from(n).unwrap()).cloned(),
        _ => None,
    };
    Row { kill, point, took }
}

/// Runs the matrix for `strategy`; `None` when `PostgreSQL` is not set.
async fn matrix(strategy: Strategy) -> Option<Vec<Row>> {
    let Ok(url) = std::env::var("KNOWNGOOD_POSTGRES_URL") else {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "kill-point matrix ({strategy}): SKIPPED: KNOWNGOOD_POSTGRES_URL is not set, no replica ran"
        );
        return None;
    };
    let root = tmp::TempDir::new(&format!("kill-points-{strategy}"));

    // A lone replica: the points it passes and what it leaves.
    let lone = Case::new(root.path(), "lone", &url, strategy).await;
    let history = journal_len(&lone, &url).await;
    let status = finish(
        spawn(&lone, &url, "replica-0", 0, Kill::None),
        "the lone run",
    );
    assert!(status.success());
    let points: Vec<String> = std::fs::read_to_string(lone.dir.join("points.replica-0"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let expected = effects(&lone, &url, history).await;
    assert!(
        expected.runs.values().all(|&n| n == 1),
        "a lone run ran a deploy twice: {:?}",
        expected.runs
    );
    let deploys = u32::try_from(expected.runs.len()).unwrap();
    let pushes = points.iter().filter(|p| p.contains("before vcs.")).count();

    let mut kills: Vec<Kill> = (0..points.len() as u64).map(Kill::At).collect();
    if pushes > 0 {
        kills.push(Kill::DuringPush { lands: true });
        kills.push(Kill::DuringPush { lands: false });
    }
    kills.extend((1..=deploys).map(Kill::DuringDeploy));

    // Three cases at a time: the replicas mostly wait (on leases, on
    // deploy scripts), so the matrix takes a third of the time.
    let slots = Arc::new(tokio::sync::Semaphore::new(3));
    let expected = Arc::new(expected);
    let points = Arc::new(points);
    let mut running = tokio::task::JoinSet::new();
    for (i, kill) in kills.into_iter().enumerate() {
        let slot = slots.clone().acquire_owned().await.unwrap();
        let (root, url) = (root.path().to_owned(), url.clone());
        let (expected, points) = (expected.clone(), points.clone());
        running.spawn(async move {
            let row = run_case(&root, i, &url, strategy, kill, history, &expected, &points).await;
            drop(slot);
            (i, row)
        });
    }
    let mut rows = Vec::new();
    while let Some(done) = running.join_next().await {
        match done {
            Ok(row) => rows.push(row),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a case was cancelled: {e}"),
        }
    }
    rows.sort_by_key(|(i, _)| *i);
    let rows: Vec<Row> = rows.into_iter().map(|(_, row)| row).collect();
    // Straight to stderr, past libtest's capture: the matrix is what the
    // CI log shows of this test.
    let mut table = format!(
        "kill-point matrix, {strategy}: {} kills, each followed by two replicas (clocks -2 min, +2 min); every run: {} deploy key(s) run once each, {} commit(s) on origin, flag revision {}, journal equal to a lone run's\n",
        rows.len(),
        expected.runs.len(),
        expected.origin_commits,
        expected.flag.1
    );
    for row in &rows {
        let _ = writeln!(
            table,
            "  {strategy} | {} | {} | finished {:.1?} after the kill",
            row.kill,
            row.point.as_deref().unwrap_or("-"),
            row.took
        );
    }
    let _ = std::io::Write::write_all(&mut std::io::stderr(), table.as_bytes());
    Some(rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_effect_once_revert_with_a_replica_killed_at_every_step() {
    if let Some(rows) = matrix(Strategy::Revert).await {
        assert!(
            rows.iter()
                .any(|r| matches!(r.kill, Kill::DuringPush { .. }))
        );
        assert!(rows.iter().any(|r| matches!(r.kill, Kill::DuringDeploy(_))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_effect_once_rollback_with_a_replica_killed_at_every_step() {
    if let Some(rows) = matrix(Strategy::Rollback).await {
        assert!(rows.iter().any(|r| matches!(r.kill, Kill::DuringDeploy(_))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_effect_once_retoggle_with_a_replica_killed_at_every_step() {
    if let Some(rows) = matrix(Strategy::Retoggle).await {
        assert!(rows.iter().any(|r| r.kill == Kill::At(0)));
    }
}
