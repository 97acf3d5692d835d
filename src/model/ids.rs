//! Identifiers: small, cheaply cloned names chosen by the host.
//!
//! The core never makes an identifier of its own (revision numbers are
//! counters, not ids): every id arrives with a command. Ids are opaque
//! strings compared byte for byte. [`Digest`] checks its form, because a
//! malformed digest is always a mistake upstream; the names that become
//! part of journal stream names (services, environments, incidents, flags)
//! must pass [`check_name`] when they are first registered, so that no two
//! of them can spell the same stream (`deployments/a/b/c` is environment
//! `a/b` or service `b/c`) and none can smuggle a line break into a report.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Reads a name straight into its shared string: one allocation, not a
/// `String` first (a snapshot reads hundreds of thousands of names).
pub(crate) struct SharedStr;

impl serde::de::Visitor<'_> for SharedStr {
    type Value = Arc<str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Arc<str>, E> {
        Ok(Arc::from(text))
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(std::sync::Arc<str>);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str($crate::model::ids::SharedStr).map(Self)
            }
        }

        impl $name {
            /// Wraps a host-chosen name.
            pub fn new(name: impl AsRef<str>) -> Self {
                Self(std::sync::Arc::from(name.as_ref()))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl From<&str> for $name {
            fn from(name: &str) -> Self {
                Self::new(name)
            }
        }

        impl From<String> for $name {
            fn from(name: String) -> Self {
                Self(std::sync::Arc::from(name))
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

pub(crate) use id_type;

/// The longest name [`check_name`] accepts, in bytes.
pub const MAX_NAME_BYTES: usize = 128;

/// Checks a name a host registers for a service, an environment, an
/// incident or a feature flag: 1 to [`MAX_NAME_BYTES`] characters from
/// ASCII letters, digits, `.`, `_` and `-`, starting with a letter or a
/// digit (`payments`, `prod-eu`, `INC-2041`, `checkout.new_flow`). The
/// error says what is wrong, for a message that ends "… pick another
/// name".
///
/// ```
/// use knowngood::check_name;
/// assert!(check_name("prod-eu").is_ok());
/// assert!(check_name("eu/prod").unwrap_err().contains("`/`"));
/// ```
pub fn check_name(name: &str) -> Result<(), String> {
    check_chars(name, &['.', '_', '-'])
}

/// Checks a release id or a config revision a host registers (they reach
/// host commands as `{release}` and `{config}`): as [`check_name`], with
/// `@` and `+` allowed too (`payments@1.2.0`, `1.2.0+build.7`,
/// `cfg-2041`), so nothing in one can be read as an option, a path, a
/// placeholder or shell syntax.
///
/// ```
/// use knowngood::check_release_name;
/// assert!(check_release_name("payments@1.2.0+build.7").is_ok());
/// assert!(check_release_name("1.2.0; rm -rf /").unwrap_err().contains("`;`"));
/// assert!(check_release_name("-x").is_err());
/// ```
pub fn check_release_name(name: &str) -> Result<(), String> {
    check_chars(name, &['.', '_', '-', '@', '+'])
}

/// Checks a branch or tag name a version control port is handed: one
/// exact ref, never an option or a revision expression (`git
/// check-ref-format`'s rules, no leading `-`, not `HEAD`). The error says
/// what is wrong.
///
/// ```
/// use knowngood::check_ref_name;
/// assert!(check_ref_name("hotfix/1.2").is_ok());
/// assert!(check_ref_name("main~1").is_err());
/// assert!(check_ref_name("-x").is_err());
/// ```
pub fn check_ref_name(name: &str) -> Result<(), String> {
    let problem = if name.is_empty() {
        Some("is empty")
    } else if name == "HEAD" || name == "@" {
        Some("names what is checked out, not a branch or tag")
    } else if name.starts_with(['-', '/']) {
        Some("starts with `-` or `/`")
    } else if name.ends_with(['/', '.'])
        || name
            .rsplit_once('.')
            .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case("lock"))
    {
        Some("ends with `/`, `.` or `.lock`")
    } else if name.contains("..") || name.contains("@{") || name.contains("//") {
        Some("holds `..`, `@{` or `//`")
    } else if name.split('/').any(|part| part.starts_with('.')) {
        Some("has a part starting with `.`")
    } else if name.chars().any(|c| {
        c.is_control() || c.is_whitespace() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    }) {
        Some("holds a space, a control character or one of `~^:?*[\\`")
    } else {
        None
    };
    problem.map_or(Ok(()), |p| Err(p.to_owned()))
}

fn check_chars(name: &str, allowed: &[char]) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".to_owned());
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "is {} bytes long, more than the {MAX_NAME_BYTES} allowed",
            name.len()
        ));
    }
    if let Some((at, c)) = name
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || allowed.contains(&c)))
    {
        return Err(format!("holds {} at byte {at}", shown(c)));
    }
    match name.chars().next() {
        Some(c) if !c.is_ascii_alphanumeric() => Err(format!("starts with {}", shown(c))),
        _ => Ok(()),
    }
}

/// A character as an error shows it: printable ones in backticks, the
/// others as their code point.
fn shown(c: char) -> String {
    if c.is_ascii_graphic() || (!c.is_control() && !c.is_whitespace() && c != '`') {
        format!("`{c}`")
    } else {
        format!("U+{:04X}", u32::from(c))
    }
}

id_type!(
    /// A deployable application, e.g. `payments`.
    ServiceId
);
id_type!(
    /// A place software runs, e.g. `qa` or `prod-eu`.
    EnvironmentId
);
id_type!(
    /// A merged unit of work (a pull request), e.g. `PR-1234`.
    ChangeId
);
id_type!(
    /// A version-control commit id, e.g. `998b1f0`.
    CommitId
);
id_type!(
    /// A release: an artifact plus a configuration revision, e.g. `payments@1.4.2+cfg7`.
    ReleaseId
);
id_type!(
    /// A configuration revision shipped with a release, e.g. `cfg-7`.
    ConfigRevision
);
id_type!(
    /// A person or automation acting on the system, e.g. `alice` or `deploy-bot`.
    Actor
);
id_type!(
    /// A feature-flag key, e.g. `new-checkout`.
    FlagKey
);

/// The content hash of an artifact, written `<algorithm>:<hex>`, e.g.
/// `sha256:9f86d081884c7d65`.
///
/// Two artifacts with the same version but different digests are different
/// artifacts. The digest is checked for form only: an algorithm name of
/// lowercase letters and digits, a colon, and at least eight lowercase
/// hexadecimal digits.
///
/// ```
/// use knowngood::Digest;
/// let d = Digest::parse("sha256:9f86d081884c7d65").unwrap();
/// assert_eq!(d.algorithm(), "sha256");
/// assert!(Digest::parse("9f86d081").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(Arc<str>);

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = d.deserialize_str(SharedStr)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A digest that is not of the form `<algorithm>:<hex>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{value}` is not an artifact digest: expected `<algorithm>:<hex>` such as `sha256:9f86d081884c7d65` ({problem})"
)]
pub struct DigestError {
    /// The text that was offered.
    pub value: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl Digest {
    /// Parses `<algorithm>:<hex>`.
    pub fn parse(text: &str) -> Result<Self, DigestError> {
        let fail = |problem| DigestError {
            value: text.to_owned(),
            problem,
        };
        let (algorithm, hex) = text.split_once(':').ok_or_else(|| fail("no `:`"))?;
        if algorithm.is_empty()
            || !algorithm
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(fail("the algorithm must be lowercase letters and digits"));
        }
        if hex.len() < 8 {
            return Err(fail("the hash must have at least 8 hex digits"));
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(fail("the hash must be lowercase hexadecimal"));
        }
        Ok(Self(std::sync::Arc::from(text)))
    }

    /// The SHA-256 digest of `bytes` (the form is valid by construction).
    pub fn sha256_of(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        use std::fmt::Write as _;
        let hash = sha2::Sha256::digest(bytes);
        let mut text = String::with_capacity(7 + 64);
        text.push_str("sha256:");
        for b in hash {
            let _ = write!(text, "{b:02x}");
        }
        Self(std::sync::Arc::from(text))
    }

    /// The algorithm part, e.g. `sha256`.
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The whole digest as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Digest {
    type Error = DigestError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> Self {
        d.0.to_string()
    }
}

impl std::str::FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({:?})", &*self.0)
    }
}

/// A revision number in one service's rollout history in one environment:
/// 1, 2, 3 … in the order rollouts were requested. A rollback takes the next
/// number too; history is never rewritten.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Revision(pub u32);

impl Revision {
    /// The number as an integer.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "revision {}", self.0)
    }
}

impl fmt::Debug for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Revision({})", self.0)
    }
}

id_type!(
    /// A role named in the policy, e.g. `release-managers`.
    Role
);
id_type!(
    /// A freeze's name, e.g. `holiday-2026`.
    FreezeId
);
id_type!(
    /// A recovery plan's name, e.g. `INC-42-rollback`.
    PlanId
);
id_type!(
    /// A branch name, e.g. `main` or `hotfix/1.4.1`.
    BranchName
);
id_type!(
    /// The build system that produced an artifact, as its provenance
    /// states it, e.g. `github-actions`.
    BuilderId
);

impl BranchName {
    /// The main branch, `main`.
    pub fn main() -> Self {
        Self::new("main")
    }
}
id_type!(
    /// An incident's name, e.g. `INC-42`.
    IncidentId
);
id_type!(
    /// A schema migration's name, e.g. `0042-split-address`.
    MigrationId
);
id_type!(
    /// A host runbook's name, e.g. `failover-to-eu-west`.
    RunbookId
);
