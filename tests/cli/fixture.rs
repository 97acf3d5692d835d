//! A team's world for the `knowngood` command: a temporary directory with
//! a real git repository, shell scripts that deploy, check health, build
//! and answer for a key, a flagd file, and a `knowngood.toml`; the built
//! binary run in it as a user would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

#[path = "../common/tmp.rs"]
mod tmp;

#[path = "../common/git.rs"]
mod git;

/// Which journal store the configuration names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    File,
    Sqlite,
    Postgres,
}

pub struct World {
    dir: tmp::TempDir,
    name: String,
}

/// What one run of the command did.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Parses stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr)
        })
    }
}

impl From<Output> for Ran {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

const DEPLOY: &str = r#"# Deploys a release: copies the build's artifact where the environment
# serves from. A marker file makes the next production deploy slow.
key=$(printf %s "$KNOWNGOOD_KEY" | tr '/@' '__')
touch "state/running-$key"
if [ -f slow-deploy ] && [ "$KNOWNGOOD_ENVIRONMENT" = prod ]; then
  rm -f slow-deploy
  touch state/deploy-started
  sleep 3
fi
cp "state/artifact-$KNOWNGOOD_DIGEST" "state/$KNOWNGOOD_ENVIRONMENT"
echo "$KNOWNGOOD_RELEASE" > "state/$KNOWNGOOD_ENVIRONMENT.release"
echo "$KNOWNGOOD_KEY $KNOWNGOOD_RELEASE" >> state/deploys.log
rm -f "state/running-$key"
"#;

const STATUS: &str = r#"cat "state/$KNOWNGOOD_ENVIRONMENT.release" 2>/dev/null || true
"#;

/// What a deploy under a key did, waiting for one still running (a
/// process killed mid-drive leaves its deploy running).
const OUTCOME: &str = r#"key=$(printf %s "$KNOWNGOOD_KEY" | tr '/@' '__')
while [ -f "state/running-$key" ]; do sleep 0.1; done
grep -F "$KNOWNGOOD_KEY " state/deploys.log 2>/dev/null | tail -1 | cut -d' ' -f2
"#;

const HEALTH: &str = r#"if [ "$KNOWNGOOD_ENVIRONMENT" = prod ] && grep -q broken state/prod 2>/dev/null; then
  echo "checkout error rate 9%"
  exit 1
fi
echo "error rate 0.1%"
"#;

/// Builds a commit: an artifact that is broken when the commit holds
/// `bug.txt`, and its manifest as the last line.
const BUILD: &str = r#"echo "$KNOWNGOOD_KEY" >> state/builds
n=$(wc -l < state/builds | tr -d ' ')
d=$(printf %s "$KNOWNGOOD_COMMIT" | sha256sum | cut -c1-16)
if git -C payments cat-file -e "$KNOWNGOOD_COMMIT:bug.txt" 2>/dev/null; then
  echo broken > "state/artifact-sha256:$d"
else
  echo fine > "state/artifact-sha256:$d"
fi
echo "{\"digest\": \"sha256:$d\", \"version\": \"1.1.$n\", \"build\": $n, \"config\": \"cfg-1\", \"builder\": \"ci\"}"
"#;

impl World {
    /// A world named `name` whose journal is kept in `store`.
    pub fn new(name: &str, store: Store) -> Self {
        let dir = tmp::TempDir::new(&format!("cli-{name}"));
        let world = Self {
            dir,
            name: name.to_owned(),
        };
        let d = world.path();
        std::fs::create_dir_all(d.join("state")).unwrap();
        std::fs::create_dir_all(d.join("payments")).unwrap();
        world.git(&["init", "-q", "-b", "main"]);
        world.commit("start", "PR-0", None);
        for (file, text) in [
            ("deploy.sh", DEPLOY),
            ("status.sh", STATUS),
            ("outcome.sh", OUTCOME),
            ("health.sh", HEALTH),
            ("build.sh", BUILD),
        ] {
            std::fs::write(d.join(file), text).unwrap();
        }
        let journal = match store {
            Store::File => "store = \"file\"\npath = \"journal.jsonl\"".to_owned(),
            Store::Sqlite => "store = \"sqlite\"\npath = \"journal.sqlite\"".to_owned(),
            Store::Postgres => format!(
                "store = \"postgres\"\nurl_env = \"KNOWNGOOD_POSTGRES_URL\"\nname = \"cli-{name}-{}-{}\"",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ),
        };
        std::fs::write(
            d.join("knowngood.toml"),
            format!(
                r#"actor = "alice"

[journal]
{journal}
chain = "payments-prod"

[pipeline]
environments = [{{ id = "qa", role = "test" }}, {{ id = "prod", role = "production" }}]
promotions = [{{ from = "qa", to = "prod" }}]

[policy]
stage_seconds = {{ qa = 600, prod = 300 }}

[[services]]
name = "payments"
repository = "payments"

[flags]
prod = "prod.flags.json"

[deploy]
command = {{ program = "sh", args = ["deploy.sh"], timeout_seconds = 60 }}
status = {{ program = "sh", args = ["status.sh"] }}
outcome = {{ program = "sh", args = ["outcome.sh"] }}

[health]
command = {{ program = "sh", args = ["health.sh"] }}

[build]
command = {{ program = "sh", args = ["build.sh"] }}
"#
            ),
        )
        .unwrap();
        world
    }

    /// Rewrites the configuration: `edit` gets its text.
    pub fn configure(&self, edit: impl FnOnce(String) -> String) {
        let file = self.file("knowngood.toml");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(file, edit(text)).unwrap();
    }

    /// Production deployments need one approval, from bob (the
    /// release manager).
    pub fn require_approval_in_prod(&self) {
        self.configure(|t| {
            t.replace(
                "[policy]\n",
                "[policy]\napprovals = { prod = { approvers = 1, role = \"release-manager\" } }\nroles = { release-manager = [\"bob\"] }\n",
            )
        });
    }

    /// The first build shipped everywhere: `sync`, `build`, `promote`.
    pub fn first_build_shipped(&self) {
        self.expect(0, &["sync"]);
        self.expect(0, &["build"]);
        self.expect(0, &["promote", "payments@1.1.1+1"]);
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `git` in the team's repository, as a developer at a fixed time
    /// (so commit ids are the same every run).
    pub fn git(&self, args: &[&str]) -> String {
        git::git(&self.path().join("payments"), args)
    }

    /// A merged change: `file` written (or an empty commit), with its
    /// `Change-Id`.
    pub fn commit(&self, subject: &str, change: &str, file: Option<&str>) {
        match file {
            Some(file) => {
                std::fs::write(self.path().join("payments").join(file), subject).unwrap();
                self.git(&["add", file]);
                self.git(&[
                    "commit",
                    "-q",
                    "-m",
                    subject,
                    "-m",
                    &format!("Change-Id: {change}"),
                ]);
            }
            None => {
                self.git(&[
                    "commit",
                    "-q",
                    "--allow-empty",
                    "-m",
                    subject,
                    "-m",
                    &format!("Change-Id: {change}"),
                ]);
            }
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_knowngood"));
        c.current_dir(self.path())
            .args(args)
            .env_remove("KNOWNGOOD_ACTOR")
            .env_remove("KNOWNGOOD_CONFIG")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        c
    }

    /// Runs `knowngood args…` to its end.
    pub fn run(&self, args: &[&str]) -> Ran {
        self.command(args).output().unwrap().into()
    }

    /// Runs `knowngood args…` with one more environment variable.
    pub fn command_with_env(&self, args: &[&str], var: &str, value: &str) -> Ran {
        self.command(args).env(var, value).output().unwrap().into()
    }

    /// Runs it and expects `code`.
    pub fn expect(&self, code: i32, args: &[&str]) -> Ran {
        let ran = self.run(args);
        assert_eq!(
            ran.code, code,
            "knowngood {args:?} in {}: exit {}\nstdout:\n{}\nstderr:\n{}",
            self.name, ran.code, ran.stdout, ran.stderr
        );
        ran
    }

    /// Starts `knowngood args…` without waiting.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// A file of the world, as text ("" when missing).
    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path().join(file)).unwrap_or_default()
    }

    pub fn file(&self, file: &str) -> PathBuf {
        self.path().join(file)
    }

    /// `text` with what differs from run to run replaced: the directory,
    /// times, commit ids and hashes, durations measured on the clock.
    pub fn redact(&self, text: &str) -> String {
        redact(&text.replace(&self.path().display().to_string(), "<dir>"))
    }
}

/// Replaces times (`2026-12-06 09:10:16 UTC`, RFC 3339), hex runs of 12 or
/// more (commit ids, digests, hashes), `Ns` durations and `N h N min`.
pub fn redact(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let digits = |from: usize, n: usize| {
        (from..from + n).all(|k| chars.get(k).is_some_and(char::is_ascii_digit))
    };
    let at_word_start = |i: usize| i == 0 || !chars[i - 1].is_ascii_alphanumeric();
    while i < chars.len() {
        // A date, then a time.
        if at_word_start(i)
            && digits(i, 4)
            && chars.get(i + 4) == Some(&'-')
            && digits(i + 5, 2)
            && chars.get(i + 7) == Some(&'-')
            && digits(i + 8, 2)
        {
            let mut j = i + 10;
            if matches!(chars.get(j), Some(' ' | 'T'))
                && digits(j + 1, 2)
                && chars.get(j + 3) == Some(&':')
                && digits(j + 4, 2)
            {
                j += 6;
                if chars.get(j) == Some(&':') && digits(j + 1, 2) {
                    j += 3;
                }
                if chars.get(j) == Some(&'.') {
                    j += 1;
                    while chars.get(j).is_some_and(char::is_ascii_digit) {
                        j += 1;
                    }
                }
                if chars.get(j) == Some(&'Z') {
                    j += 1;
                } else if chars[j..].starts_with(&[' ', 'U', 'T', 'C']) {
                    j += 4;
                }
            }
            out.push_str("<time>");
            i = j;
            continue;
        }
        // A run of hex digits.
        if at_word_start(i) {
            let mut j = i;
            while chars.get(j).is_some_and(char::is_ascii_hexdigit) {
                j += 1;
            }
            let word_ends = chars.get(j).is_none_or(|c| !c.is_ascii_alphanumeric());
            if j - i >= 12 && word_ends {
                out.push_str("<hex>");
                i = j;
                continue;
            }
            // A duration measured on the clock: `16s`, `8134 h 11 min`.
            let mut k = i;
            while chars.get(k).is_some_and(char::is_ascii_digit) {
                k += 1;
            }
            if k > i {
                let rest: String = chars[k..chars.len().min(k + 8)].iter().collect();
                let after_s = chars.get(k + 1).is_none_or(|c| !c.is_ascii_alphanumeric());
                if chars.get(k) == Some(&'s') && after_s {
                    out.push_str("<seconds>");
                    i = k + 1;
                    continue;
                }
                if rest.starts_with(" h") {
                    let mut m = k + 2;
                    let tail: String = chars[m..chars.len().min(m + 8)].iter().collect();
                    if let Some(len) = minutes_after(&tail) {
                        m += len;
                    }
                    out.push_str("<hours>");
                    i = m;
                    continue;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The length of ` N min` at the start of `tail`, if it is there.
fn minutes_after(tail: &str) -> Option<usize> {
    let rest = tail.strip_prefix(' ')?;
    let n = rest.chars().take_while(char::is_ascii_digit).count();
    (n > 0 && rest[n..].starts_with(" min")).then_some(1 + n + 4)
}

#[test]
fn redaction_replaces_what_changes_from_run_to_run_only() {
    assert_eq!(
        redact(
            "since 2026-12-06 09:10:16 UTC, at 2026-12-06T09:11:15.316039613Z; 2026-12-06 09:10 alice"
        ),
        "since <time>, at <time>; <time> alice"
    );
    assert_eq!(
        redact("built payments@1.1.2+2 from 1f024bd8f662 (sha256:0123456789abcdef)"),
        "built payments@1.1.2+2 from <hex> (sha256:<hex>)"
    );
    assert_eq!(
        redact("16s before; 8134 h 11 min; ~5 min; revision 2"),
        "<seconds> before; <hours>; ~5 min; revision 2"
    );
}
