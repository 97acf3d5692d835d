//! What ran under each key, recorded in an outcomes directory: the intent
//! before a command runs, its end after, so that a retry (in this process
//! or after a restart) never runs it again, and a key whose end was not
//! recorded is known to have started.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::process::{CommandSpec, Facts, run};
use crate::port::{AdapterError, ErrorKind};
use crate::recovery::IdempotencyKey;

/// What is recorded under a key: what it made (a release, a runbook's
/// account), and whether the command ended (`false`: it started, its end
/// is not known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Record {
    pub(super) key: String,
    #[serde(rename = "release")]
    pub(super) what: String,
    pub(super) done: bool,
}

/// One outcomes directory.
#[derive(Debug, Clone)]
pub(super) struct KeyedRecords<'a> {
    pub(super) dir: &'a PathBuf,
}

impl KeyedRecords<'_> {
    fn path(&self, key: &IdempotencyKey) -> Result<PathBuf, AdapterError> {
        if self.dir.as_os_str().is_empty() {
            return Err(AdapterError::new(
                ErrorKind::Rejected,
                "no outcomes directory configured",
            ));
        }
        Ok(self
            .dir
            .join(format!("{:016x}.json", super::super::key_digest(key))))
    }

    /// The record under `key`, if any (one planted through a link is never
    /// believed).
    pub(super) fn recorded(&self, key: &IdempotencyKey) -> Result<Option<Record>, AdapterError> {
        let path = self.path(key)?;
        super::super::not_a_link(&path)?;
        match std::fs::read(&path) {
            Ok(bytes) => {
                let record = serde_json::from_slice::<Record>(&bytes)
                    .or_else(|_| {
                        // Written before records said whether they ended.
                        serde_json::from_slice::<(String, String)>(&bytes).map(|(key, what)| {
                            Record {
                                key,
                                what,
                                done: true,
                            }
                        })
                    })
                    .map_err(|e| {
                        AdapterError::new(ErrorKind::Rejected, format!("{}: {e}", path.display()))
                    })?;
                Ok((record.key == key.as_str()).then_some(record))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AdapterError::from(e)),
        }
    }

    /// Records `what` under `key`, ended or not, durably (written aside,
    /// synced, renamed into place, the directory synced).
    pub(super) fn record(
        &self,
        key: &IdempotencyKey,
        what: &str,
        done: bool,
    ) -> Result<(), AdapterError> {
        let path = self.path(key)?;
        std::fs::create_dir_all(self.dir)?;
        let temp = path.with_extension(format!("{}.tmp", std::process::id()));
        let record = Record {
            key: key.as_str().to_owned(),
            what: what.to_owned(),
            done,
        };
        let bytes = serde_json::to_vec(&record)
            .map_err(|e| AdapterError::new(ErrorKind::Rejected, e.to_string()))?;
        {
            use std::io::Write as _;
            let mut file = super::super::create_fresh(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&temp, &path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Forgets `key` (its command did not act).
    pub(super) fn forget(&self, key: &IdempotencyKey) -> Result<(), AdapterError> {
        match std::fs::remove_file(self.path(key)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(AdapterError::from(e)),
        }
    }

    /// Runs `spec` once under `key`: the intent recorded first (whoever
    /// asks about the key later knows it started, even if this process
    /// dies before it ends), the end after, as `done` makes it of what the
    /// command printed; an exit code saying it did not act forgets the
    /// key, a timeout leaves it unknown.
    pub(super) fn once(
        &self,
        key: &IdempotencyKey,
        (intent, done): (&str, &dyn Fn(&str) -> String),
        spec: &CommandSpec,
        facts: &Facts<'_>,
    ) -> Result<String, AdapterError> {
        self.record(key, intent, false)?;
        match run(spec, facts) {
            Ok(ran) => {
                let what = done(&ran.stdout);
                self.record(key, &what, true)?;
                Ok(what)
            }
            Err(e) if e.kind() == ErrorKind::UnknownOutcome => Err(e),
            Err(e) => {
                self.forget(key)?;
                Err(e)
            }
        }
    }
}
