//! `knowngood`: the command for the people on call. Point it at a
//! `knowngood.toml` (the journal, the pipeline and policy, the adapters) to
//! see where every environment stands, weigh the recovery options and
//! carry one out. Every command is a thin layer over the library's public
//! API.
//!
//! Exit codes: 0 done, 1 refused by a rule, 2 bad input, 3 waiting for a
//! person, 4 a port failed (run again to go on), 5 the journal does not
//! verify.

mod config;
mod delivery;
mod fail;
mod incident;
mod open;
mod out;
mod reports;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};
use knowngood::Startup;

use crate::fail::{Exit, Failure};
use crate::open::Session;
use crate::out::Out;

/// Restore production to a known good state: status, recovery options and
/// their reasons, and the chosen plan carried out, from the journal.
#[derive(Debug, Parser)]
#[command(name = "knowngood", version, max_term_width = 100)]
#[command(after_help = "Exit codes: 0 done, 1 refused by a rule, 2 bad input, \
3 waiting for a person, 4 a port failed (run again to go on), 5 the journal does not verify.")]
struct Cli {
    /// The configuration file.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "KNOWNGOOD_CONFIG",
        default_value = "knowngood.toml"
    )]
    config: PathBuf,
    /// JSON on stdout, for scripts.
    #[arg(long, global = true)]
    json: bool,
    /// Who acts (else `actor` in the configuration, else $USER).
    #[arg(
        long = "as",
        global = true,
        env = "KNOWNGOOD_ACTOR",
        value_name = "ACTOR"
    )]
    actor: Option<String>,
    /// No progress on stderr.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Write a commented knowngood.toml to start from.
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Where every environment stands: what runs, since when, verified or
    /// not, the gate, freezes, drift, open incidents and follow-ups.
    Status {
        /// Only this environment.
        #[arg(long = "env")]
        environment: Option<String>,
    },
    /// Record what landed on each service's branch, from git.
    Sync {
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
    },
    /// Build a commit (the branch's head by default) and register its
    /// release.
    Build(delivery::BuildArgs),
    /// Deploy a release to one environment and verify it.
    Ship(delivery::ShipArgs),
    /// Promote a release along its lane to every production environment,
    /// stage by stage, each verified and baked.
    Promote(delivery::PromoteArgs),
    /// Switch a feature flag in one environment.
    Flag(delivery::FlagArgs),
    /// Freeze deliveries (or other actions) until a time or until lifted.
    Freeze(delivery::FreezeArgs),
    /// Lift a freeze.
    Unfreeze(delivery::UnfreezeArgs),
    /// Approve a requested deployment.
    Approve(delivery::ApproveArgs),
    /// Declare an incident.
    Declare(incident::DeclareArgs),
    /// The changes most likely to have caused what is seen, ranked.
    Suspects(incident::SuspectsArgs),
    /// Every recovery option for an incident, ranked, with its reasons.
    Plan(incident::PlanArgs),
    /// Choose a recovery option.
    Choose(incident::ChooseArgs),
    /// Carry out the chosen plan (resumable: run it again after a crash).
    Drive(incident::DriveArgs),
    /// Close what the history proves done and resolve the incident.
    Resolve(incident::ResolveArgs),
    /// The incident's blameless retro, in Markdown.
    Retro(incident::RetroArgs),
    /// The delivery metrics table.
    Metrics(reports::MetricsArgs),
    /// The pipeline or an incident's plan as a graph.
    Graph(reports::GraphArgs),
    /// The journal itself.
    Journal {
        #[command(subcommand)]
        command: JournalCmd,
    },
    /// Rehearse an incident: the same runner as the crate's drill example.
    Drill(reports::DrillArgs),
    /// Shell completions for bash, zsh, fish, elvish or powershell.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

// Doc comments here are the help people read, not rustdoc.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Subcommand)]
enum JournalCmd {
    /// Check every entry from the first: the chain, the canonical form,
    /// and that the state rebuilds.
    Verify,
    /// Bring a PostgreSQL journal's tables to this version's schema
    /// (nothing to do for a file or SQLite journal).
    Migrate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out::new(cli.json, cli.quiet);
    match run(cli, out) {
        Ok(Exit::Done) => ExitCode::SUCCESS,
        Ok(exit) => ExitCode::from(exit as u8),
        Err(failure) => {
            if out.json {
                let body = serde_json::json!({
                    "error": failure.message,
                    "exit": failure.exit as u8,
                });
                println!("{body}");
            }
            eprintln!("{} {}", out.red("error:"), failure.message);
            ExitCode::from(failure.exit as u8)
        }
    }
}

/// Runs the command; `Ok` with the exit code when it finished as it
/// should (waiting for a person is such an answer).
fn run(cli: Cli, out: Out) -> Result<Exit, Failure> {
    match cli.command {
        Cmd::Init { force } => return reports::init(&cli.config, force, out),
        Cmd::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "knowngood",
                &mut std::io::stdout(),
            );
            return Ok(Exit::Done);
        }
        Cmd::Drill(args) => return reports::drill(&args, out),
        _ => {}
    }
    let session = session(&cli, out)?;
    if !out.quiet {
        progress_on_stderr();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(Exit::Failed, format!("cannot start the runtime: {e}")))?;
    runtime.block_on(dispatch(cli.command, &session))
}

async fn dispatch(command: Cmd, s: &Session) -> Result<Exit, Failure> {
    match command {
        Cmd::Status { environment } => {
            let ledger = s.ledger(Startup::Snapshot).await?;
            let status = status::gather(
                ledger.state(),
                ledger.journal().len() as u64,
                knowngood::Clock::now(&knowngood::SystemClock),
                environment.as_deref(),
            )?;
            s.out.emit(&status, || status::text(&status, s.out))?;
            Ok(Exit::Done)
        }
        Cmd::Sync { service } => delivery::sync(s, service.as_deref()).await,
        Cmd::Build(a) => delivery::build(s, &a).await,
        Cmd::Ship(a) => delivery::ship(s, &a).await,
        Cmd::Promote(a) => delivery::promote(s, &a).await,
        Cmd::Flag(a) => delivery::flag(s, &a).await,
        Cmd::Freeze(a) => delivery::freeze(s, &a).await,
        Cmd::Unfreeze(a) => delivery::unfreeze(s, &a).await,
        Cmd::Approve(a) => delivery::approve(s, &a).await,
        Cmd::Declare(a) => incident::declare(s, &a).await,
        Cmd::Suspects(a) => incident::suspects(s, &a).await,
        Cmd::Plan(a) => incident::plan(s, &a).await,
        Cmd::Choose(a) => incident::choose(s, &a).await,
        Cmd::Drive(a) => incident::drive(s, &a).await,
        Cmd::Resolve(a) => incident::resolve(s, &a).await,
        Cmd::Retro(a) => incident::retro(s, &a).await,
        Cmd::Metrics(a) => reports::metrics(s, &a).await,
        Cmd::Graph(a) => reports::graph(s, &a).await,
        Cmd::Journal {
            command: JournalCmd::Verify,
        } => reports::verify(s).await,
        Cmd::Journal {
            command: JournalCmd::Migrate,
        } => reports::migrate(s).await,
        // Answered before a session is opened (they need no configuration).
        Cmd::Init { .. } | Cmd::Completions { .. } | Cmd::Drill(_) => Ok(Exit::Done),
    }
}

/// Reads the configuration, moves to its directory (where paths are
/// relative and scripts run), and settles who acts.
fn session(cli: &Cli, out: Out) -> Result<Session, Failure> {
    let config = config::Config::load(&cli.config)?;
    if let Some(dir) = cli.config.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::env::set_current_dir(dir)
            .map_err(|e| Failure::bad_input(format!("cannot work in `{}`: {e}", dir.display())))?;
    }
    let actor = cli
        .actor
        .clone()
        .or_else(|| config.actor.clone())
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()));
    if let Some(actor) = &actor
        && let Err(e) = knowngood::check_name(actor)
    {
        return Err(Failure::bad_input(format!("who acts, `{actor}`: {e}")));
    }
    Ok(Session {
        config,
        actor: actor.map(|a| a.as_str().into()),
        out,
    })
}

/// The driver's progress (each step, each port call, what it waits for)
/// as lines on stderr.
fn progress_on_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .with_level(false)
        .without_time()
        .compact()
        .try_init();
}
