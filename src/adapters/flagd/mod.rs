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
//! It reads a flag only when its meaning in flagd is exactly one of those
//! states for every user (with and without a targeting key or the
//! attribute), and refuses anything else with an error naming the file,
//! the flag and why: a disabled flag (flagd serves it as absent, so the
//! application gets its own code default), other variants or types, no
//! default variant, weights that are not whole percentages summing to 100,
//! a custom bucketing key, a rule on another attribute, inverted or
//! chained branches, a `$ref`, fields flagd's schema does not define, or a
//! `flags` that is not an object. It never writes over a flag it could not
//! read. A definition changed by someone else since knowngood wrote it
//! (its `knowngood-digest` no longer matches) reads at a revision of its
//! own, so a write that expected the old revision is a conflict.
//! A flag the file does not define reads as `Off` at revision 0, the
//! port's "no definition": flagd serves it as absent (the application's
//! code default), so the driver writes it even to turn it off.
//! A symlinked file (a Kubernetes `ConfigMap`'s `..data/…`) is written
//! through the link, to the file flagd reads.
//!
//! A write changes only the flag's own lines: the rest of the file keeps
//! its key order, spacing and other flags, so in a reviewed repository the diff is the
//! flag (a file whose text cannot be changed in place, such as one holding
//! a key twice, is written whole, the JSON the same).
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

mod splice;

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

/// The file's `flags` object (an empty one when the file has none yet);
/// any other shape (the array form, a string) is refused, never read as
/// flags that are off.
fn flags_of<'a>(doc: &'a Value, path: &Path) -> Result<&'a Map<String, Value>, AdapterError> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match doc.get("flags") {
        Some(Value::Object(flags)) => Ok(flags),
        None if doc.is_object() => Ok(EMPTY.get_or_init(Map::new)),
        _ => Err(AdapterError::new(
            ErrorKind::Rejected,
            format!(
                "{}: `flags` is not an object of flag definitions as flagd reads them: knowngood reads and changes nothing in it",
                path.display()
            ),
        )),
    }
}

/// Temporary files written by this process, to name each its own.
static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Replaces knowngood's own file `path` (the keys sidecar) with `value`
/// atomically: a symlink planted at the name is replaced, never followed.
fn write_json(path: &Path, value: &Value) -> Result<(), AdapterError> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| AdapterError::new(ErrorKind::Rejected, format!("cannot write flags: {e}")))?;
    replace(path, &bytes)
}

/// Replaces the host's flag file `path` with `bytes` atomically, through
/// a symlink (a Kubernetes `ConfigMap`'s `..data/…`) to the file flagd
/// really reads: replacing the link would leave flagd on the old one.
fn write_flags(path: &Path, bytes: &[u8]) -> Result<(), AdapterError> {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    replace(&real, bytes)
}

/// Replaces `path` with `bytes` atomically.
fn replace(path: &Path, bytes: &[u8]) -> Result<(), AdapterError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A name of its own: never another writer's half-written file.
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temp = dir.join(format!(".{name}.knowngood-tmp.{}.{n}", std::process::id()));
    let written = (|| {
        let mut file = super::create_fresh(&temp)?;
        file.write_all(bytes)?;
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
        super::not_a_link(&lock)?;
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
    super::not_a_link(&file)?;
    match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            AdapterError::new(ErrorKind::Rejected, format!("{}: {e}", file.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(io(&file, e)),
    }
}

/// A flag's state as knowngood reads it, and its revision: exactly what
/// flagd serves for every user, or a refusal that says why. Read only:
///
/// - `state` `ENABLED` (a disabled flag is absent to flagd: the
///   application gets its own code default, which knowngood cannot know);
/// - `variants` exactly `{"on": true, "off": false}` and a
///   `defaultVariant` of `on` or `off`;
/// - no targeting (everyone gets the default), a `fractional` split
///   between `on` and `off` in whole percentages summing to 100, bucketed
///   by flagd's default key, with `off` as the default (what users without
///   a targeting key get), or `if` the `segment` attribute is `in` a list
///   then `on` else `off`, with `off` as the default;
/// - no other field than those and `metadata`.
///
/// The revision is knowngood's own (`knowngood-revision`) while the
/// definition is the one it wrote (`knowngood-digest`); a definition
/// changed by someone else since reads at a revision of its own, so a
/// write expecting the old revision is a conflict.
fn decode(flag: &Value, path: &Path, key: &FlagKey) -> Result<(FlagState, u64), AdapterError> {
    let unreadable = |why: &str| {
        AdapterError::new(
            ErrorKind::Rejected,
            format!(
                "{}: flag `{key}` {why}; knowngood reads only on/off boolean flags whose meaning in flagd is one of its flag states, and changes nothing it cannot read",
                path.display()
            ),
        )
    };
    let Some(fields) = flag.as_object() else {
        return Err(unreadable("is not an object"));
    };
    if let Some(other) = fields.keys().find(|k| {
        !matches!(
            k.as_str(),
            "state" | "variants" | "defaultVariant" | "targeting" | "metadata"
        )
    }) {
        return Err(unreadable(&format!(
            "has a field `{other}` flagd's schema does not define"
        )));
    }
    match fields.get("state").and_then(Value::as_str) {
        Some("ENABLED") => {}
        Some("DISABLED") => {
            return Err(unreadable(
                "is DISABLED: flagd serves it as absent, so the application gets its own code default",
            ));
        }
        _ => return Err(unreadable("has no `state` of ENABLED or DISABLED")),
    }
    if fields.get("variants") != Some(&json!({ "on": true, "off": false })) {
        return Err(unreadable(
            "does not have exactly the variants `on` (true) and `off` (false)",
        ));
    }
    let default_on = match fields.get("defaultVariant").and_then(Value::as_str) {
        Some("on") => true,
        Some("off") => false,
        _ => {
            return Err(unreadable(
                "has no `defaultVariant` of `on` or `off` (without one, flagd answers the code default)",
            ));
        }
    };
    let state = match fields.get("targeting") {
        None => None,
        Some(t) if t.as_object().is_some_and(serde_json::Map::is_empty) => None,
        Some(t) => Some(read_targeting(t).ok_or_else(|| {
            unreadable("has a targeting rule that is not one knowngood writes (a split between `on` and `off` summing to 100 on flagd's default bucketing, or `segment` in a list)")
        })?),
    };
    let state = match (state, default_on) {
        (None, true) => FlagState::On,
        (None, false) => FlagState::Off,
        (Some(targeted), false) => targeted,
        (Some(_), true) => {
            return Err(unreadable(
                "has targeting and `on` as its default: users the rule does not place (no targeting key, no attribute) get `on`",
            ));
        }
    };
    Ok((state, revision_of(flag)))
}

/// The state a targeting rule knowngood writes stands for, if it is one.
fn read_targeting(targeting: &Value) -> Option<FlagState> {
    let rule = targeting.as_object()?;
    if rule.len() != 1 {
        return None;
    }
    if let Some(split) = rule.get("fractional").and_then(Value::as_array) {
        // Two `[variant, weight]` pairs (no bucketing expression first),
        // whole weights summing to 100.
        let mut on = None;
        let mut off = None;
        for pair in split {
            let [name, weight] = pair.as_array()?.as_slice() else {
                return None;
            };
            let weight = weight.as_u64()?;
            match name.as_str()? {
                "on" if on.is_none() => on = Some(weight),
                "off" if off.is_none() => off = Some(weight),
                _ => return None,
            }
        }
        let (on, off) = (on?, off?);
        if split.len() != 2 || on.checked_add(off) != Some(100) {
            return None;
        }
        return Some(FlagState::Percentage {
            percent: u8::try_from(on).ok()?,
        });
    }
    let branches = rule.get("if")?.as_array()?;
    let [condition, then, otherwise] = branches.as_slice() else {
        return None;
    };
    if then.as_str()? != "on" || otherwise.as_str()? != "off" {
        return None;
    }
    let condition = condition.as_object()?;
    let [attribute, list] = condition.get("in")?.as_array()?.as_slice() else {
        return None;
    };
    if condition.len() != 1 || *attribute != json!({ "var": "segment" }) {
        return None;
    }
    let segments = list
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<BTreeSet<String>>>()?;
    Some(FlagState::Segments { segments })
}

/// The metadata field holding a digest of the definition knowngood wrote.
const DIGEST: &str = "knowngood-digest";

/// A digest of a flag's definition, its metadata left out.
fn definition_digest(flag: &Value) -> u64 {
    let mut definition = flag.clone();
    if let Some(fields) = definition.as_object_mut() {
        fields.remove("metadata");
    }
    definition
        .to_string()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| {
            (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// The flag's revision: knowngood's own while the definition is the one
/// it wrote; past it, by an amount the new definition decides, once
/// someone else changed it.
fn revision_of(flag: &Value) -> u64 {
    let revision = flag
        .pointer(&format!("/metadata/{REVISION}"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let digest = definition_digest(flag);
    let written = flag
        .pointer(&format!("/metadata/{DIGEST}"))
        .and_then(Value::as_str)
        .and_then(|d| u64::from_str_radix(d, 16).ok());
    if written == Some(digest) {
        revision
    } else {
        revision
            .saturating_add(1)
            .saturating_add(digest % 1_000_000)
    }
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
    let digest = definition_digest(&Value::Object(flag.clone()));
    let metadata = flag.entry("metadata").or_insert_with(|| json!({}));
    if let Some(m) = metadata.as_object_mut() {
        m.insert(REVISION.into(), json!(revision));
        m.insert(KEY.into(), json!(key.as_str()));
        m.insert(DIGEST.into(), json!(format!("{digest:016x}")));
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
        match flags_of(&doc, path)?.get(flag.as_str()) {
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
        let old = flags_of(&doc, path)?.get(flag.as_str()).cloned();
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
        let written = encode(old.as_ref(), state, revision, key);
        flags.insert(flag.as_str().to_owned(), written.clone());
        // Only the flag's own lines change when the file's text allows it;
        // the whole document is written otherwise.
        let spliced = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| splice::with_flag(&text, flag.as_str(), &written, &doc));
        match spliced {
            Some(text) => write_flags(path, text.as_bytes())?,
            None => write_flags(
                path,
                &serde_json::to_vec_pretty(&doc).map_err(|e| {
                    AdapterError::new(ErrorKind::Rejected, format!("cannot write flags: {e}"))
                })?,
            )?,
        }
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
