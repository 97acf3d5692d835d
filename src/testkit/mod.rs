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

pub mod conformance;
