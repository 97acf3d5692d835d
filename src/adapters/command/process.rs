//! Running one host command: its facts as placeholders and environment
//! variables, a process group of its own, its output drained while it runs,
//! its timeout, and its exit code as a kind.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::port::{AdapterError, ErrorKind};

/// One command: a program and its arguments (with `{placeholders}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommandSpec {
    /// The program.
    pub program: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// How long it may run, in seconds (default 600).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_timeout() -> u64 {
    600
}

impl CommandSpec {
    /// `program` with `args`.
    pub fn new<S: Into<String>>(
        program: impl Into<String>,
        args: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            timeout_seconds: default_timeout(),
        }
    }

    /// The same with another timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout_seconds = timeout.as_secs();
        self
    }
}

/// The facts a command is run with.
pub(super) struct Facts<'a>(pub(super) Vec<(&'static str, &'a str)>);

impl<'a> Facts<'a> {
    /// Adds the lease a fenced call is made under: `{fence}` (its token),
    /// `{holder}` and `{lease}` (its scope), as `KNOWNGOOD_FENCE`,
    /// `KNOWNGOOD_HOLDER` and `KNOWNGOOD_LEASE`.
    pub(super) fn fenced(&mut self, fence: Option<&'a crate::port::Fence>, token: Option<&'a str>) {
        if let (Some(fence), Some(token)) = (fence, token) {
            self.0.push(("fence", token));
            self.0.push(("holder", fence.holder.as_str()));
            self.0.push(("lease", fence.scope.as_str()));
        }
    }

    /// `arg` with each `{name}` of a fact replaced by its value, in one
    /// pass: a value is never read again for placeholders (a `{config}`
    /// inside a key stays as it is), and an unknown `{name}` is kept.
    fn fill(&self, arg: &str) -> String {
        let mut out = String::with_capacity(arg.len());
        let mut rest = arg;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open..];
            let fact = after.find('}').and_then(|close| {
                let name = &after[1..close];
                self.0
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, value)| (close, *value))
            });
            match fact {
                Some((close, value)) => {
                    out.push_str(value);
                    // Past the `}` (one byte).
                    rest = &after.split_at(close).1[1..];
                }
                None => {
                    out.push('{');
                    rest = &after[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// What a finished command said.
pub(super) struct Ran {
    pub(super) stdout: String,
    pub(super) stderr: String,
}

/// At most this much of what a command prints is kept (all of it is read,
/// so a talkative command never blocks on a full pipe).
const KEPT_OUTPUT: usize = 1 << 20;

/// Reads all of `pipe` on a thread of its own, keeping the first
/// [`KEPT_OUTPUT`] bytes, and hands them over when the pipe closes.
fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let Some(mut pipe) = pipe else {
            let _ = send.send(kept);
            return;
        };
        let mut buf = [0_u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = KEPT_OUTPUT.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        let _ = send.send(kept);
    });
    receive
}

pub(super) fn run(spec: &CommandSpec, facts: &Facts<'_>) -> Result<Ran, AdapterError> {
    crate::trace::debug!(program = %spec.program, facts = ?facts.0, "running the host's command");
    let mut command = Command::new(&spec.program);
    command
        .args(spec.args.iter().map(|a| facts.fill(a)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A group of its own: what it starts in the background is part of it,
    // waited for, and stopped with it.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    for (name, value) in &facts.0 {
        command.env(format!("KNOWNGOOD_{}", name.to_uppercase()), value);
    }
    let child = command.spawn().map_err(|e| {
        AdapterError::new(
            ErrorKind::Unavailable,
            format!("cannot run `{}`: {e}", spec.program),
        )
        .with_source(e)
    })?;
    wait(child, spec)
}

/// Whether any process of `child`'s group still runs (the child itself
/// already reaped).
#[cfg(unix)]
fn group_alive(child: &Child) -> bool {
    Command::new("kill")
        .args(["-0", "--", &format!("-{}", child.id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(not(unix))]
fn group_alive(_: &Child) -> bool {
    false
}

/// Stops `child` and everything it started.
fn stop(child: &mut Child) {
    #[cfg(unix)]
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

fn wait(mut child: Child, spec: &CommandSpec) -> Result<Ran, AdapterError> {
    let deadline = Instant::now()
        .checked_add(Duration::from_secs(spec.timeout_seconds))
        .unwrap_or_else(Instant::now);
    let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let timed_out = |child: &mut Child| {
        stop(child);
        AdapterError::new(
            ErrorKind::UnknownOutcome,
            format!(
                "`{}` (or what it started) ran longer than {} s and was stopped with all it started: it may or may not have acted",
                spec.program, spec.timeout_seconds
            ),
        )
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => return Err(timed_out(&mut child)),
            // On the blocking pool (see `off_executor`), never the
            // caller's executor.
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                stop(&mut child);
                return Err(AdapterError::from(e));
            }
        }
    };
    // What it left running in the background is part of the command.
    while group_alive(&child) {
        if Instant::now() >= deadline {
            return Err(timed_out(&mut child));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // A process that left the group may still hold a pipe: what it
    // printed is not waited for past the deadline.
    let text = |pipe: std::sync::mpsc::Receiver<Vec<u8>>| {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100));
        String::from_utf8_lossy(&pipe.recv_timeout(left).unwrap_or_default())
            .trim()
            .to_owned()
    };
    let ran = Ran {
        stdout: text(stdout),
        stderr: text(stderr),
    };
    match status.code() {
        Some(0) => Ok(ran),
        code => {
            let kind = match code {
                Some(69 | 75) => ErrorKind::Unavailable,
                Some(124) => ErrorKind::UnknownOutcome,
                _ => ErrorKind::Rejected,
            };
            let said = if ran.stderr.is_empty() {
                &ran.stdout
            } else {
                &ran.stderr
            };
            Err(AdapterError::new(
                kind,
                format!(
                    "`{}` exited with {}: {said}",
                    spec.program,
                    code.map_or_else(|| "a signal".to_owned(), |c| c.to_string())
                ),
            ))
        }
    }
}
