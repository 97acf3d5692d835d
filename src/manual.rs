//! The design of knowngood, chapter by chapter. This module holds no code.
//!
//! # 1. A pure core
//!
//! Everything that decides is a pure function. [`decide`](crate::decide)
//! takes the [`State`](crate::State), a [`Command`](crate::Command) and the
//! time, and returns events or a [`Rejection`](crate::Rejection);
//! [`State::apply`](crate::State::apply) folds one event into the state.
//! The core reads no clock, draws no random number and makes no id: the
//! host supplies the time with every command and chooses every name.
//! Identical inputs give identical outputs, which is what makes replay,
//! simulation and property tests possible. Containers are ordered
//! (`BTreeMap`, `BTreeSet`) so no hash order leaks into any output.
//!
//! # 2. The journal is the truth
//!
//! State is never stored: it is the fold of the journal. The journal is
//! split into streams (`pipeline`, `catalog`, `source`, and one
//! `deployments/<environment>/<service>` stream per rollout history) so
//! that writers contend only where they really touch the same thing. A
//! writer appends with the stream version it last read; a stale writer
//! gets a conflict and must read, decide and append again. Every JSON line
//! carries the format version `v`; the event's `type` tag names never
//! change meaning.
//!
//! Reading a damaged file stops at the first bad line, reports its number
//! and hands back every entry before it: nothing already recorded is lost.
//!
//! # 3. The deployment lifecycle
//!
//! Each revision of a service in an environment walks the machine in
//! [`lifecycle`](crate::machine::lifecycle): requested → rolling out →
//! verifying → known good, or failed; later superseded or rolled back.
//! Both [`decide`](crate::decide) and [`State::apply`](crate::State::apply)
//! consult the one transition function
//! [`DeploymentStatus::after`](crate::DeploymentStatus::after), so the
//! rules cannot drift apart.
//!
//! *Abort* and *rollback* are different operations with different events.
//! Abort stops a rollout still in flight; the stable release never stopped
//! serving. Rollback comes after a rollout completed: it is a **new
//! revision** deploying an older release, with a `rolled_back_from` link,
//! never a rewrite of history. Its default target is the newest earlier
//! revision that was *verified* known good (not merely the previous one),
//! that was not itself rolled back, and whose release differs from the one
//! serving.
//!
//! # 4. Promotion follows the digest
//!
//! An artifact is built once and promoted as-is. Entering an environment
//! requires the same digest to have been verified in every upstream
//! environment of at least one lane into it (the main lane or the hotfix
//! lane). A rebuild with the same version is a different digest, and so a
//! different artifact that must earn its way through the pipeline again.
//!
//! # 5. Rejections are for people
//!
//! Every refusal names its rule ([`Rejection::rule`](crate::Rejection::rule)),
//! the objects involved, and what would unblock it, so a host can show it
//! as it is. Re-registering something identical is not an error but a
//! no-op, so hosts can retry safely.
