//! A [`FlagStore`] over flag definition files in the flagd and Open Feature
//! format, one file per environment, so a team that serves flags with
//! flagd (or an Open Feature file provider) can retoggle for real.
//!
//! A flag knowngood manages is a boolean flag with variants `on` (true)
//! and `off` (false):
//!
//! - off: `defaultVariant` `off`, no targeting;
//! - on: `defaultVariant` `on`, no targeting;
//! - a percentage: `defaultVariant` `off` and a `fractional` targeting
//!   rule splitting between `on` and `off`;
//! - segments: `defaultVariant` `off` and an `if` rule sending the
//!   listed values of the `segment` context attribute to `on`.
//!
//! Each write replaces the whole file atomically (a temporary file of its
//! own in the same directory, `fsync`, rename), so flagd never reads half
//! a file. Writers, in this process or any other, take turns: each holds
//! an exclusive lock on `<file>.knowngood-lock` while it reads, changes and
//! replaces the file, so no write is lost to another's. The flag's
//! revision and the key of the write that made it are kept in its
//! `metadata` (`knowngood-revision`, `knowngood-key`), written with the
//! flag in one replace; the keys of all writes made, with the revision
//! each produced, also go to a sidecar file next to it
//! (`<file>.knowngood-keys.json`), after. A crash between the two loses
//! nothing: the flag's own metadata answers for its last write. Other
//! flags and fields in the file are left as they are.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::model::{EnvironmentId, FlagKey, FlagState};
use crate::port::{AdapterError, ErrorKind, FlagStore, FlagStoreCapabilities};
use crate::recovery::IdempotencyKey;

/// Flags in flagd definition files, one per environment.
///
/// ```
/// use knowngood::adapters::FlagdFileStore;
/// let flags = FlagdFileStore::new().environment("prod", "/etc/flagd/prod.flags.json");
/// ```
#[derive(Debug, Clone, Default)]
pub struct FlagdFileStore {
    files: BTreeMap<EnvironmentId, PathBuf>,
}

const REVISION: &str = "knowngood-revision";
/// The metadata field naming the key of the write that made a revision.
const KEY: &str = "knowngood-key";

impl FlagdFileStore {
    /// No environment yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `environment`'s flags live in the flagd file at `path` (created on
    /// the first write when missing).
    #[must_use]
    pub fn environment(
        mut self,
        environment: impl Into<EnvironmentId>,
        path: impl Into<PathBuf>,
    ) -> Self {
        self.files.insert(environment.into(), path.into());
        self
    }

    fn file(&self, environment: &EnvironmentId) -> Result<&Path, AdapterError> {
        self.files
            .get(environment)
            .map(PathBuf::as_path)
            .ok_or_else(|| {
                AdapterError::new(
                    ErrorKind::NotFound,
                    format!("no flagd file configured for `{environment}`"),
                )
            })
    }
}

fn io(path: &Path, e: std::io::Error) -> AdapterError {
    let message = format!("{}: {e}", path.display());
    let kind = AdapterError::from(e).kind();
    AdapterError::new(kind, message)
}

/// The file's JSON, or an empty definition when it does not exist.
fn read_json(path: &Path) -> Result<Value, AdapterError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            AdapterError::new(
                ErrorKind::Rejected,
                format!("{}: not a flagd definition file: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({ "flags": {} })),
        Err(e) => Err(io(path, e)),
    }
}

/// Temporary files written by this process, to name each its own.
static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Replaces `path` with `value` atomically.
fn write_json(path: &Path, value: &Value) -> Result<(), AdapterError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A name of its own: never another writer's half-written file.
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temp = dir.join(format!(".{name}.knowngood-tmp.{}.{n}", std::process::id()));
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| AdapterError::new(ErrorKind::Rejected, format!("cannot write flags: {e}")))?;
    let written = (|| {
        let mut file = super::create_fresh(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        io(path, e)
    })
}

/// Holds the exclusive lock on `<file>.knowngood-lock` until dropped: one
/// writer at a time, across processes.
struct Turn(std::fs::File);

impl Turn {
    fn take(path: &Path) -> Result<Self, AdapterError> {
        let mut name = path.as_os_str().to_owned();
        name.push(".knowngood-lock");
        let lock = PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(|e| io(&lock, e))?;
        file.lock().map_err(|e| io(&lock, e))?;
        Ok(Self(file))
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// The revision of the write made under `key`, if `file`'s flags say so
/// in their own metadata (the sidecar may not have been written yet).
fn written_under(doc: &Value, key: &IdempotencyKey) -> Option<u64> {
    doc.get("flags")?.as_object()?.values().find_map(|flag| {
        let metadata = flag.get("metadata")?;
        (metadata.get(KEY)?.as_str()? == key.as_str())
            .then(|| metadata.get(REVISION)?.as_u64())
            .flatten()
    })
}

fn keys_file(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".knowngood-keys.json");
    PathBuf::from(name)
}

fn read_keys(path: &Path) -> Result<BTreeMap<String, u64>, AdapterError> {
    let file = keys_file(path);
    match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            AdapterError::new(ErrorKind::Rejected, format!("{}: {e}", file.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(io(&file, e)),
    }
}

/// A flag's state as knowngood reads it, and its revision.
fn decode(flag: &Value, path: &Path, key: &FlagKey) -> Result<(FlagState, u64), AdapterError> {
    let revision = flag
        .pointer(&format!("/metadata/{REVISION}"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let unreadable = |why: &str| {
        AdapterError::new(
            ErrorKind::Rejected,
            format!(
                "{}: flag `{key}` {why}: knowngood manages on/off boolean flags",
                path.display()
            ),
        )
    };
    if flag.get("state").and_then(Value::as_str) == Some("DISABLED") {
        return Ok((FlagState::Off, revision));
    }
    let default_on = match flag.get("defaultVariant").and_then(Value::as_str) {
        Some("on") => true,
        Some("off") | None => false,
        Some(_) => return Err(unreadable("has a default variant other than `on` or `off`")),
    };
    let Some(targeting) = flag
        .get("targeting")
        .filter(|t| t.as_object().is_some_and(|o| !o.is_empty()))
    else {
        return Ok((
            if default_on {
                FlagState::On
            } else {
                FlagState::Off
            },
            revision,
        ));
    };
    if let Some(split) = targeting.get("fractional").and_then(Value::as_array) {
        let on = split
            .iter()
            .filter_map(Value::as_array)
            .find(|pair| pair.first().and_then(Value::as_str) == Some("on"))
            .and_then(|pair| pair.get(1))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let percent = u8::try_from(on.min(100)).unwrap_or(100);
        return Ok((FlagState::Percentage { percent }, revision));
    }
    if let Some(segments) = targeting.pointer("/if/0/in/1").and_then(Value::as_array) {
        let segments: BTreeSet<String> = segments
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        return Ok((FlagState::Segments { segments }, revision));
    }
    Err(unreadable("has a targeting rule knowngood does not write"))
}

/// The flagd definition of `state` at `revision`, keeping `old`'s other
/// fields.
fn encode(old: Option<&Value>, state: &FlagState, revision: u64, key: &IdempotencyKey) -> Value {
    let mut flag = old
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_else(Map::new);
    flag.insert("state".into(), json!("ENABLED"));
    flag.insert("variants".into(), json!({ "on": true, "off": false }));
    flag.remove("targeting");
    let (default, targeting) = match state {
        FlagState::On => ("on", None),
        FlagState::Percentage { percent } => (
            "off",
            Some(
                json!({ "fractional": [["on", percent], ["off", 100_u8.saturating_sub(*percent)]] }),
            ),
        ),
        FlagState::Segments { segments } => (
            "off",
            Some(json!({ "if": [{ "in": [{ "var": "segment" }, segments] }, "on", "off"] })),
        ),
        _ => ("off", None),
    };
    flag.insert("defaultVariant".into(), json!(default));
    if let Some(t) = targeting {
        flag.insert("targeting".into(), t);
    }
    let metadata = flag.entry("metadata").or_insert_with(|| json!({}));
    if let Some(m) = metadata.as_object_mut() {
        m.insert(REVISION.into(), json!(revision));
        m.insert(KEY.into(), json!(key.as_str()));
    }
    Value::Object(flag)
}

impl FlagdFileStore {
    fn get_now(
        &self,
        environment: &EnvironmentId,
        flag: &FlagKey,
    ) -> Result<(FlagState, u64), AdapterError> {
        let path = self.file(environment)?;
        let doc = read_json(path)?;
        match doc.pointer(&format!("/flags/{}", flag.as_str())) {
            Some(found) => decode(found, path, flag),
            None => Ok((FlagState::Off, 0)),
        }
    }

    fn set_now(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        flag: &FlagKey,
        state: &FlagState,
        expected_revision: u64,
    ) -> Result<u64, AdapterError> {
        let path = self.file(environment)?;
        // One writer at a time, in this process or any other.
        let _turn = Turn::take(path)?;
        let mut keys = read_keys(path)?;
        if let Some(done) = keys.get(key.as_str()) {
            return Ok(*done);
        }
        let mut doc = read_json(path)?;
        if let Some(done) = written_under(&doc, key) {
            // Written before a crash that lost the sidecar's line.
            keys.insert(key.as_str().to_owned(), done);
            write_json(&keys_file(path), &json!(keys))?;
            return Ok(done);
        }
        let old = doc.pointer(&format!("/flags/{}", flag.as_str())).cloned();
        let current = match &old {
            Some(found) => decode(found, path, flag)?.1,
            None => 0,
        };
        if current != expected_revision {
            return Err(AdapterError::new(
                ErrorKind::Conflict,
                format!("flag `{flag}` is at revision {current}, not {expected_revision}"),
            ));
        }
        let revision = current.saturating_add(1);
        let flags = doc
            .as_object_mut()
            .map(|o| o.entry("flags").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
            .ok_or_else(|| {
                AdapterError::new(
                    ErrorKind::Rejected,
                    format!("{}: `flags` is not an object", path.display()),
                )
            })?;
        flags.insert(
            flag.as_str().to_owned(),
            encode(old.as_ref(), state, revision, key),
        );
        write_json(path, &doc)?;
        keys.insert(key.as_str().to_owned(), revision);
        write_json(&keys_file(path), &json!(keys))?;
        Ok(revision)
    }

    fn outcome_now(&self, key: &IdempotencyKey) -> Result<Option<u64>, AdapterError> {
        for path in self.files.values() {
            if let Some(done) = read_keys(path)?.get(key.as_str()) {
                return Ok(Some(*done));
            }
            if let Some(done) = written_under(&read_json(path)?, key) {
                return Ok(Some(done));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl FlagStore for FlagdFileStore {
    fn capabilities(&self) -> FlagStoreCapabilities {
        FlagStoreCapabilities::all()
    }

    async fn get(
        &self,
        environment: &EnvironmentId,
        flag: &FlagKey,
    ) -> Result<(FlagState, u64), AdapterError> {
        let this = self.clone();
        let environment = environment.clone();
        let flag = flag.clone();
        super::off_executor(move || this.get_now(&environment, &flag)).await
    }

    async fn set(
        &self,
        key: &IdempotencyKey,
        environment: &EnvironmentId,
        flag: &FlagKey,
        state: &FlagState,
        expected_revision: u64,
    ) -> Result<u64, AdapterError> {
        let this = self.clone();
        let key = key.clone();
        let environment = environment.clone();
        let flag = flag.clone();
        let state = state.clone();
        super::off_executor(move || {
            this.set_now(&key, &environment, &flag, &state, expected_revision)
        })
        .await
    }

    async fn outcome(&self, key: &IdempotencyKey) -> Result<Option<u64>, AdapterError> {
        let this = self.clone();
        let key = key.clone();
        super::off_executor(move || this.outcome_now(&key)).await
    }
}
