//! From the configuration to the library: the journal's store, the ledger
//! for commands that only read, and the driver (every port) for commands
//! that act.

use std::sync::Arc;
use std::time::Duration;

use knowngood::adapters::{
    AnalysisProbe, CommandBuilder, CommandDeployer, CommandHealthProbe, FileJournalStore,
    FlagdFileStore, GitVcs, PostgresJournalStore, PrometheusMetrics, SqliteJournalStore,
};
use knowngood::port::{HealthProbe, JournalStore};
use knowngood::startup::open_ledger;
use knowngood::{Actor, Chain, Command, Driver, Ledger, Ports, Service, Startup};

use crate::config::{Config, StoreKind};
use crate::fail::{Exit, Failure};
use crate::out::Out;

/// One run of the command: its configuration, who acts, how it speaks.
pub struct Session {
    /// The configuration.
    pub config: Config,
    /// Who acts, when known (commands that act need it).
    pub actor: Option<Actor>,
    /// How it speaks.
    pub out: Out,
}

impl Session {
    /// Who acts, or what to do to say it.
    pub fn actor(&self) -> Result<Actor, Failure> {
        self.actor.clone().ok_or_else(|| {
            Failure::bad_input(
                "who acts is unknown: pass --as NAME, set KNOWNGOOD_ACTOR, or set `actor` in the configuration".to_owned(),
            )
        })
    }

    /// The journal's chain, keyed when the configuration says so.
    fn chain(&self) -> Result<Chain, Failure> {
        let chain = Chain::named(self.config.journal.chain.as_str());
        match &self.config.journal.key_env {
            None => Ok(chain),
            Some(var) => match std::env::var(var) {
                Ok(key) if !key.is_empty() => Ok(chain.keyed(key)),
                _ => Err(Failure::bad_input(format!(
                    "the journal's chain is keyed (`journal.key_env`) but the environment variable `{var}` is unset or empty: set it to the chain's key"
                ))),
            },
        }
    }

    /// The journal's store.
    pub async fn store(&self) -> Result<Arc<dyn JournalStore>, Failure> {
        let chain = self.chain()?;
        let journal = &self.config.journal;
        let path = || {
            journal
                .path
                .clone()
                .ok_or_else(|| Failure::bad_input("`journal.path` is missing".to_owned()))
        };
        // A store that refuses what it holds on opening (a broken chain, an
        // altered entry, another chain's journal) does not verify.
        let opened = |e: knowngood::AdapterError| {
            let exit = if e.kind() == knowngood::ErrorKind::Rejected {
                Exit::Corrupt
            } else {
                Exit::Failed
            };
            Failure::new(exit, format!("the journal cannot be opened: {e}"))
        };
        Ok(match journal.store {
            StoreKind::File => Arc::new(FileJournalStore::open(path()?, chain).map_err(opened)?),
            StoreKind::Sqlite => {
                Arc::new(SqliteJournalStore::open(path()?, chain).map_err(opened)?)
            }
            StoreKind::Postgres => Arc::new(self.postgres(chain).await?),
        })
    }

    /// Brings a `PostgreSQL` journal to this version's schema; `None` for
    /// the other stores.
    pub async fn migrate(&self) -> Result<Option<i32>, Failure> {
        if self.config.journal.store != StoreKind::Postgres {
            return Ok(None);
        }
        let store = self.postgres(self.chain()?).await?;
        Ok(Some(store.migrate().await?))
    }

    async fn postgres(&self, chain: Chain) -> Result<PostgresJournalStore, Failure> {
        let journal = &self.config.journal;
        let var = journal
            .url_env
            .as_deref()
            .unwrap_or("KNOWNGOOD_POSTGRES_URL");
        let url = std::env::var(var).map_err(|_| {
            Failure::bad_input(format!(
                "`journal.url_env` names `{var}`, which is unset: set it to the database's connection string"
            ))
        })?;
        let name = journal.name.as_deref().unwrap_or(journal.chain.as_str());
        Ok(PostgresJournalStore::connect(url, name, chain).await?)
    }

    /// The ledger as the journal has it, for commands that only read:
    /// from the newest snapshot (`Startup::Snapshot`) or every entry
    /// checked from the first (`Startup::Replay`).
    pub async fn ledger(&self, startup: Startup) -> Result<Ledger, Failure> {
        let store = self.store().await?;
        let (ledger, _) = open_ledger(store.as_ref(), startup).await?;
        Ok(ledger)
    }

    /// Every port the configuration names.
    async fn ports(&self) -> Result<Ports, Failure> {
        let config = &self.config;
        let mut vcs = GitVcs::new();
        for s in &config.services {
            vcs = vcs.repository(s.name.as_str(), &s.repository);
        }
        if let Some(remote) = &config.git.remote {
            vcs = vcs.remote(remote.as_str());
        }
        if let (Some(name), Some(email)) = (&config.git.author_name, &config.git.author_email) {
            vcs = vcs.author(name.as_str(), email.as_str());
        }
        let d = &config.deploy;
        let mut deployer = CommandDeployer::new(d.command.clone(), d.status.clone(), &d.outcomes);
        if let Some(outcome) = &d.outcome {
            deployer = deployer.with_outcome(outcome.clone());
        }
        if let Some(abort) = &d.abort {
            deployer = deployer.with_abort(abort.clone());
        }
        let b = &config.build;
        let mut builder = CommandBuilder::new(b.command.clone(), &b.outcomes);
        if let Some(outcome) = &b.outcome {
            builder = builder.with_outcome(outcome.clone());
        }
        let clock: Arc<dyn knowngood::Clock> = Arc::new(knowngood::SystemClock);
        let health: Arc<dyn HealthProbe> = match (&config.health.command, &config.health.analysis) {
            (Some(command), _) => Arc::new(CommandHealthProbe::new(command.clone())),
            (None, Some(analysis)) => {
                let Some(prometheus) = &config.prometheus else {
                    return Err(Failure::bad_input(
                        "`health.analysis` needs `[prometheus]`".to_owned(),
                    ));
                };
                let mut metrics = PrometheusMetrics::new(prometheus.url.as_str())?;
                if let Some(seconds) = prometheus.timeout_seconds {
                    metrics = metrics.timeout(Duration::from_secs(seconds));
                }
                Arc::new(AnalysisProbe::new(
                    Arc::new(metrics),
                    analysis.clone(),
                    clock.clone(),
                ))
            }
            (None, None) => {
                return Err(Failure::bad_input(
                    "`[health]` needs `command` or `analysis`".to_owned(),
                ));
            }
        };
        let mut ports = Ports::builder()
            .vcs(Arc::new(vcs))
            .deployer(Arc::new(deployer))
            .health(health)
            .builder(Arc::new(builder))
            .journal(self.store().await?)
            .clock(clock);
        if !config.flags.is_empty() {
            let mut flags = FlagdFileStore::new();
            for (env, file) in &config.flags {
                flags = flags.environment(env.as_str(), file);
            }
            ports = ports.flags(Arc::new(flags));
        }
        ports
            .build()
            .map_err(|missing| Failure::bad_input(format!("the configuration lacks {missing}")))
    }

    /// The driver on every port, resumed from the journal (started on an
    /// empty one), with the configuration's pipeline, policy and services
    /// recorded where the journal does not have them as configured.
    pub async fn driver(&self) -> Result<Driver, Failure> {
        let driver = match Driver::resume(self.ports().await?, self.actor()?).await {
            Err(knowngood::DriveError::NothingToResume) => {
                Driver::start(self.ports().await?, self.actor()?).await?
            }
            resumed => resumed?,
        };
        let mut driver = driver.snapshot_every(self.config.snapshot_every);
        self.adopt_configuration(&mut driver).await?;
        Ok(driver)
    }

    /// Records what the configuration says and the journal lacks.
    async fn adopt_configuration(&self, driver: &mut Driver) -> Result<(), Failure> {
        let config = &self.config;
        let pipeline = config
            .pipeline
            .clone()
            .build()
            .map_err(|e| Failure::bad_input(format!("`pipeline`: {e}")))?;
        if driver.state().pipeline().map(knowngood::Pipeline::spec) != Some(pipeline.spec()) {
            self.progress(format_args!("recording the configured pipeline"));
            driver
                .execute(&Command::DefinePipeline { pipeline })
                .await
                .map_err(|e| configured("pipeline", e))?;
        }
        let policy = config.policy.clone().unwrap_or_default();
        if *driver.state().policy() != policy {
            self.progress(format_args!("adopting the configured policy"));
            driver
                .execute(&Command::AdoptPolicy {
                    policy,
                    by: self.actor()?,
                })
                .await
                .map_err(|e| configured("policy", e))?;
        }
        for s in &config.services {
            if driver.state().service(&s.name.as_str().into()).is_none() {
                driver
                    .execute(&Command::RegisterService {
                        service: Service::new(s.name.as_str()),
                    })
                    .await
                    .map_err(|e| configured("services", e))?;
            }
        }
        Ok(())
    }

    /// A line of progress on stderr (never with `--quiet`).
    pub fn progress(&self, line: std::fmt::Arguments<'_>) {
        if !self.out.quiet {
            eprintln!("{}", self.out.dim(&format!("· {line}")));
        }
    }
}

/// A configuration value the core refused.
fn configured(key: &str, e: knowngood::DriveError) -> Failure {
    let inner = Failure::from(e);
    Failure::new(
        if inner.exit == Exit::Refused {
            Exit::BadInput
        } else {
            inner.exit
        },
        format!(
            "the configuration's `{key}` cannot be recorded: {}",
            inner.message
        ),
    )
}
