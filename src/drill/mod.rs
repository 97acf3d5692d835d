//! Incident drills: scenario files, a deterministic simulator with seeded
//! faults, invariants checked as the drill runs, and randomized
//! exploration over many seeds.
//!
//! A drill builds the world a [`Scenario`] describes on the in-memory
//! ports, declares its incident, asks the planner, chooses (the top option
//! or the one the scenario names), drives the steps through ports that
//! fail as the seed says — timeouts with unknown outcomes either way,
//! unavailability, duplicate delivery, latency, crashes at journal writes,
//! health that degrades after a rollout that looked fine — plays the
//! person where a step needs one, and checks the invariants after every
//! stage. Everything runs on one thread against a virtual clock: the same
//! seed gives the same journal, byte for byte.
//!
//! ```
//! use knowngood::drill::{run, Scenario};
//! let scenario = Scenario::from_json(knowngood::drill::BUILT_IN, "built-in").unwrap();
//! let report = run(&scenario, 7);
//! assert!(report.passed(), "{}", report.failures.join("\n"));
//! ```

mod builder;
mod explore;
mod faults;
mod invariants;
mod report;
mod run;
mod scenario;
mod text;
mod world;

pub use builder::Drill;
pub use explore::{Exploration, explore};
pub use faults::PushFn;
pub use faults::SimRng;
pub use invariants::Invariants;
pub use report::{DrillReport, Fallback, RestoreTime};
pub use run::{run, run_on};
pub use scenario::{
    DrillMetrics, Expectation, FaultSpec, HistoryStep, IncidentSpec, SCENARIO_FORMAT, Scenario,
    ScenarioError,
};
pub use text::{faults_line, load_scenarios};
pub use world::{DrillWorld, ExecutionCount};

/// The built-in scenario (JSON): a bad change reaches production, the
/// rollback restores the last known-good release.
pub const BUILT_IN: &str = include_str!("built_in.json");
