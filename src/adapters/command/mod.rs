//! A [`Deployer`](crate::port::Deployer), a [`HealthProbe`](crate::port::HealthProbe), [`Runbooks`](crate::port::Runbooks) and a [`Builder`](crate::port::Builder) that run the host's own commands
//! (its `helm`, `kubectl`, deploy, runbook and build scripts), from a small typed config.
//!
//! Every command gets the call's facts both as `{placeholders}` in its
//! arguments and as environment variables: `{environment}`
//! (`KNOWNGOOD_ENVIRONMENT`), `{service}` (`KNOWNGOOD_SERVICE`),
//! `{release}` (`KNOWNGOOD_RELEASE`), `{digest}` (`KNOWNGOOD_DIGEST`),
//! `{config}` (`KNOWNGOOD_CONFIG`) and `{key}` (`KNOWNGOOD_KEY`, the
//! idempotency key). A command that outlives its timeout is killed and the
//! call's outcome is unknown. Exit codes map to kinds:
//!
//! | exit code | kind |
//! |---|---|
//! | 0 | success |
//! | 69 (`EX_UNAVAILABLE`), 75 (`EX_TEMPFAIL`) | unavailable: nothing happened, retrying may help |
//! | 124 (as `timeout` exits) | unknown outcome |
//! | anything else | rejected |
//!
//! Placeholders are filled in one pass (a value is never read again for
//! placeholders), and release ids and config revisions are checked where
//! they enter the core ([`check_release_name`](crate::check_release_name):
//! letters, digits, `.`, `_`, `-`, `@`, `+`). Even so, pass facts to a
//! shell as environment variables or as their own arguments, never inside
//! `sh -c` text: `CommandSpec::new("sh", ["deploy.sh", "{release}"])` or a
//! script reading `"$KNOWNGOOD_RELEASE"`, not
//! `CommandSpec::new("sh", ["-c", "deploy {release}"])`, where a value
//! becomes shell syntax.
//!
//! A deploy or abort the driver makes while it holds a lease also gets the
//! lease: `{fence}` (`KNOWNGOOD_FENCE`, its token, which only grows from
//! one holder to the next), `{holder}` (`KNOWNGOOD_HOLDER`) and `{lease}`
//! (`KNOWNGOOD_LEASE`, its scope). A host that keeps the highest token it
//! was handed per scope and refuses a lower one (exiting non-zero: it did
//! not deploy) keeps a replica paused past its lease from deploying after
//! another took over.
//!
//! Each command runs in a process group of its own: what it starts in
//! the background is part of it (the call waits for the whole group), a
//! timeout stops the whole group, and everything it prints is read while it
//! runs (the first MiB kept), so a talkative command never stalls.
//!
//! Exactly once, and what the host must provide: before a deploy runs, its
//! key is recorded as started in the outcomes directory; when it exits 0,
//! as done. A retry under the same key (in this process or after a
//! restart) does not deploy again; an abort is keyed the same way, so a retry never aborts twice. A key whose deploy started and whose
//! end was not recorded (the process died, the command timed out) is
//! answered by the host's `outcome` command, given `{key}`, which prints
//! the release deployed under it or nothing ([`CommandDeployer::with_outcome`]);
//! without one, that key's outcome stays unknown and the driver stops to
//! ask a person rather than deploy twice. With an `outcome` command, a key
//! this process has no record of is asked of the host too before
//! deploying: replicas on other machines, each with its own outcomes
//! directory, find what another deployed under the key. Without one, the
//! outcomes directory must be shared by every replica that may deploy
//! under the same keys. Either way, the host's deploy command must itself
//! be idempotent per `KNOWNGOOD_KEY` (a second run under a key that
//! already deployed deploys nothing new).
//!
//! [`CommandRunbooks`] runs the host's runbooks the same way: a command
//! per runbook (or one for all, told which by `{runbook}`,
//! `KNOWNGOOD_RUNBOOK`), each run recorded under its key, what it prints
//! kept as the step's account, and an `outcome` command asked about a run
//! whose end was not recorded.
//!
//! [`CommandBuilder`] runs the host's build command with `{service}`,
//! `{commit}` (`KNOWNGOOD_COMMIT`) and `{key}`; the command prints the
//! build's manifest (one JSON object, its last line: the format is on
//! [`CommandBuilder`]), recorded under the key the same way.

mod builder;
mod deployer;
mod health;
mod process;
mod records;
mod runbooks;

pub use builder::CommandBuilder;
pub use deployer::CommandDeployer;
pub use health::CommandHealthProbe;
pub use process::CommandSpec;
pub use runbooks::CommandRunbooks;
