//! Tools for adapter authors and test suites (feature `testkit`).
//!
//! [`conformance`] checks that an adapter keeps the port contracts the
//! driver relies on: idempotency keys, outcome queries, expected-revision
//! conflicts, ordered journal appends. Run it against your own adapter:
//!
//! ```
//! use knowngood::memory::{block_on, InMemoryFlagStore};
//! use knowngood::testkit::conformance;
//! block_on(conformance::flag_store(&InMemoryFlagStore::default())).unwrap();
//! ```
//!
//! [`tripwire`] puts the host's ports behind kill points, so a test can
//! crash the process just before and just after every call that acts or
//! records and check that a successor does each effect once.

pub mod conformance;
pub mod tripwire;
