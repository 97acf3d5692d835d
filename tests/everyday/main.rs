//! Everyday delivery, in one test binary: delivering a build along its
//! lane with bake time and waves, automatic remediation and its loop
//! guard, last-known-good sets and returning an environment to one.

#[path = "../common/mod.rs"]
mod common;

mod delivery;
mod known_good_sets;
mod remediation;
