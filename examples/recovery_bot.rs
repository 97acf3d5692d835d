//! A recovery bot on real systems: a git repository, the journal in a
//! file, flags in a flagd file, and deployments and health checks run by
//! small shell scripts. It ships two builds to production, the second
//! with a change behind a flag that breaks checkout, declares the
//! incident, lets the planner choose (retoggle wins), switches the flag
//! off in the flagd file and marks the incident mitigated.
//!
//! Kill it at any point and run it again with the same directory: it
//! resumes from the journal file and does nothing twice.
//!
//! ```sh
//! cargo run --example recovery_bot --features git,file-journal,flagd,command -- /tmp/kg-bot
//! ```

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::Arc;

use knowngood::adapters::{
    CommandBuilder, CommandDeployer, CommandHealthProbe, CommandSpec, FileJournalStore,
    FlagdFileStore, GitVcs,
};
use knowngood::memory::block_on;
use knowngood::{
    Artifact, Chain, Change, Command, Commit, Digest, Driver, EnvironmentRole, IncidentPhase,
    PipelineSpec, Ports, Release, Service, Severity, Shipped, SuspectedCause,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn git(repo: &Path, args: &[&str]) -> Result<String> {
    let out = Process::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.name=dev", "-c", "user.email=dev@example.com"])
        .args(args)
        .output()?;
    if !out.status.success() {
        return Err(format!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The team's repository with two merged changes, and the host's scripts.
/// Every step checks what is already there, so a run killed half-way
/// through finishes the set-up the next time.
fn set_up(dir: &Path) -> Result<()> {
    let repo = dir.join("payments");
    std::fs::create_dir_all(&repo)?;
    if !repo.join(".git").exists() {
        git(&repo, &["init", "-q", "-b", "main"])?;
    }
    let made = git(&repo, &["log", "--format=%s"]).unwrap_or_default();
    // Trailers tell the driver's sync what each commit is: its change,
    // and the flags it sits behind.
    for (file, text, trailers) in [
        ("checkout.txt", "v1", "Change-Id: PR-1"),
        (
            "checkout-v2.txt",
            "behind new-checkout",
            "Change-Id: PR-2\nFlag: new-checkout",
        ),
    ] {
        let subject = format!("add {file}");
        if made.lines().any(|l| l == subject) {
            continue;
        }
        std::fs::write(repo.join(file), text)?;
        git(&repo, &["add", file])?;
        git(&repo, &["commit", "-q", "-m", &subject, "-m", trailers])?;
    }
    let state = dir.join("state");
    std::fs::create_dir_all(&state)?;
    let s = state.display();
    std::fs::write(
        dir.join("deploy.sh"),
        format!("echo \"$KNOWNGOOD_RELEASE\" > \"{s}/$KNOWNGOOD_ENVIRONMENT\"\n"),
    )?;
    // The build: the host's CI, printing the build's manifest last.
    std::fs::write(
        dir.join("build.sh"),
        format!(
            r#"echo "$KNOWNGOOD_KEY" >> "{s}/builds"
n=$(wc -l < "{s}/builds" | tr -d ' ')
d=$(printf %s "$KNOWNGOOD_COMMIT" | sha256sum | cut -c1-16)
echo "{{\"digest\": \"sha256:$d\", \"version\": \"1.1.$n\", \"build\": $n, \"config\": \"cfg-1\", \"builder\": \"ci\"}}"
"#
        ),
    )?;
    std::fs::write(
        dir.join("status.sh"),
        format!("cat \"{s}/$KNOWNGOOD_ENVIRONMENT\" 2>/dev/null || true\n"),
    )?;
    // Checkout fails while the new checkout is on in production.
    let flags = dir.join("prod.flags.json").display().to_string();
    std::fs::write(
        dir.join("health.sh"),
        format!(
            "if [ \"$KNOWNGOOD_ENVIRONMENT\" = prod ] && grep -q '\"defaultVariant\": \"on\"' \"{flags}\" 2>/dev/null; then echo 'checkout error rate 9%'; exit 1; fi\necho 'error rate 0.1%'\n"
        ),
    )?;
    Ok(())
}

fn ports(dir: &Path) -> Result<Ports> {
    let script = |name: &str| dir.join(name).display().to_string();
    let deploy = script("deploy.sh");
    let status = script("status.sh");
    let health = script("health.sh");
    let build = script("build.sh");
    Ok(Ports::builder()
        .vcs(Arc::new(
            GitVcs::new().repository("payments", dir.join("payments")),
        ))
        .deployer(Arc::new(CommandDeployer::new(
            CommandSpec::new("sh", [deploy.as_str()]),
            CommandSpec::new("sh", [status.as_str()]),
            dir.join("outcomes"),
        )))
        .flags(Arc::new(
            FlagdFileStore::new().environment("prod", dir.join("prod.flags.json")),
        ))
        .health(Arc::new(CommandHealthProbe::new(CommandSpec::new(
            "sh",
            [health.as_str()],
        ))))
        .builder(Arc::new(CommandBuilder::new(
            CommandSpec::new("sh", [build.as_str()]),
            dir.join("builds"),
        )))
        .journal(Arc::new(FileJournalStore::open(
            dir.join("journal.jsonl"),
            Chain::named("payments-prod"),
        )?))
        .build()?)
}

fn main() -> Result<()> {
    let dir: PathBuf = std::env::args_os().nth(1).map_or_else(
        || std::env::temp_dir().join("knowngood-recovery-bot"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir)?;
    set_up(&dir)?;
    // Resume what the journal holds; a store that holds nothing yet (a
    // first run, or one killed before its first entry) starts afresh.
    let (first_run, mut driver) = match block_on(Driver::resume(ports(&dir)?, "recovery-bot")) {
        Err(knowngood::DriveError::NothingToResume) => {
            (true, block_on(Driver::start(ports(&dir)?, "recovery-bot"))?)
        }
        resumed => (false, resumed?),
    };
    println!(
        "{} from {} ({} entries)",
        if first_run { "started" } else { "resumed" },
        dir.display(),
        driver.journal().len()
    );
    run_incident(&mut driver, &dir)
}

fn run_incident(driver: &mut Driver, dir: &Path) -> Result<()> {
    let repo = dir.join("payments");
    let commits: Vec<String> = git(&repo, &["rev-list", "--reverse", "main"])?
        .lines()
        .map(str::to_owned)
        .collect();
    let [c1, c2] = commits.as_slice() else {
        return Err(format!("expected two commits on main, found {}", commits.len()).into());
    };
    let (c1, c2) = (c1.clone(), c2.clone());
    // What the team did: two merges, two builds, both shipped.
    if driver.state().pipeline().is_none() {
        let pipeline = PipelineSpec::new()
            .environment("qa", EnvironmentRole::Test)
            .environment("prod", EnvironmentRole::Production)
            .promote("qa", "prod")
            .build()?;
        block_on(driver.execute(&Command::DefinePipeline { pipeline }))?;
    }
    // Where the ledger starts following main: its first commit, recorded
    // by hand (a sync goes on from the head the ledger holds).
    if driver
        .state()
        .branch(&"payments".into(), &"main".into())
        .is_none()
    {
        let now = driver.ports().clock.now();
        for command in [
            Command::RegisterService {
                service: Service::new("payments"),
            },
            Command::RecordCommit {
                commit: Commit::new(c1.as_str(), None::<&str>),
            },
            Command::RecordChange {
                change: Change::new("PR-1", "add checkout.txt", "dev", now, [c1.as_str()]),
            },
            Command::MoveBranch {
                service: "payments".into(),
                branch: "main".into(),
                head: c1.as_str().into(),
            },
        ] {
            block_on(driver.execute(&command))?;
        }
    }
    // What landed since, read from git: PR-2, behind `new-checkout`.
    let synced = block_on(driver.sync(&"payments".into(), &"main".into()))?;
    if !synced.changes.is_empty() {
        println!(
            "synced main to {}: {}",
            &synced.to.as_str()[..12],
            synced
                .changes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for (n, commit) in [(1_u64, &c1), (2, &c2)] {
        let digest = Digest::parse(&format!("sha256:{}", &commit[..16]))?;
        let version = format!("1.{n}.0");
        let release = format!("payments@{version}");
        block_on(driver.execute(&Command::RegisterArtifact {
            artifact: Artifact::new(
                "payments",
                digest.clone(),
                version.parse()?,
                n,
                commit.as_str(),
            ),
        }))?;
        block_on(driver.execute(&Command::RegisterRelease {
            release: Release::new(release.as_str(), "payments", digest, format!("cfg-{n}")),
        }))?;
        for env in ["qa", "prod"] {
            let key = format!("ship/{release}/{env}");
            match block_on(driver.ship(
                &env.into(),
                &release.as_str().into(),
                &key.as_str().into(),
            ))? {
                Shipped::Verified { slot } => println!("shipped {release}: {slot} verified"),
                Shipped::Replayed { slot, status, .. } => {
                    println!("shipped {release} before: {slot} ({status})");
                }
                other => return Err(format!("{other:?}").into()),
            }
        }
    }
    // The new checkout goes live in production, and breaks it.
    let flags = driver.ports().flags.clone().ok_or("no flag store")?;
    let (state, revision) = block_on(flags.get(&"prod".into(), &"new-checkout".into()))?;
    if driver.state().incident(&"INC-1".into()).is_none() {
        if state != knowngood::FlagState::On {
            block_on(flags.set(
                &"history/new-checkout/on".into(),
                &"prod".into(),
                &"new-checkout".into(),
                &knowngood::FlagState::On,
                revision,
            ))?;
            block_on(driver.execute(&Command::SetFlag {
                environment: "prod".into(),
                flag: "new-checkout".into(),
                state: knowngood::FlagState::On,
                by: "bob".into(),
                clearance: knowngood::Clearance::none(),
            }))?;
        }
        block_on(driver.execute(&Command::DeclareIncident {
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
        }))?;
        println!("incident INC-1 declared");
    }
    let incident = driver
        .state()
        .incident(&"INC-1".into())
        .cloned()
        .ok_or("no incident")?;
    if incident.strategy.is_none() {
        let plan = knowngood::plan(
            driver.state(),
            &"INC-1".into(),
            driver.ports().clock.now(),
            &driver.ports().capabilities(),
        )?;
        println!("{}", plan.explanation);
        let best = plan.best().ok_or("nothing applicable")?.strategy;
        block_on(driver.execute(&plan.choose(best, "oncall")?))?;
        println!("chose {best}");
    }
    let report = block_on(driver.drive(&"INC-1".into()))?;
    println!("driver: {report}");
    if driver.state().incident(&"INC-1".into()).map(|i| i.phase) == Some(IncidentPhase::Mitigating)
    {
        block_on(driver.execute(&Command::MarkMitigated {
            incident: "INC-1".into(),
            by: "oncall".into(),
        }))?;
    }
    let flag = std::fs::read_to_string(dir.join("prod.flags.json"))?;
    println!(
        "INC-1 is {}; flagd serves new-checkout {}",
        driver
            .state()
            .incident(&"INC-1".into())
            .map_or_else(|| "?".to_owned(), |i| i.phase.to_string()),
        if flag.contains("\"defaultVariant\": \"off\"") {
            "off"
        } else {
            "on"
        }
    );
    Ok(())
}
