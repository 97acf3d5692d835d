//! In-memory reference adapters for every port, a manual clock, and a
//! minimal executor — for examples, tests and drills. They keep their
//! state behind a mutex, honour idempotency keys (a repeated key returns
//! the first result without acting again) and count how often they really
//! acted under each key, so tests can prove that nothing ran twice.
//!
//! ```
//! use knowngood::memory::{block_on, InMemoryFlagStore};
//! use knowngood::port::FlagStore;
//! use knowngood::recovery::IdempotencyKey;
//! use knowngood::FlagState;
//! let flags = InMemoryFlagStore::default();
//! let key = IdempotencyKey::new("k1");
//! let rev = block_on(flags.set(&key, &"prod".into(), &"f".into(), &FlagState::On, 0)).unwrap();
//! // The same key again: same answer, no second write.
//! assert_eq!(block_on(flags.set(&key, &"prod".into(), &"f".into(), &FlagState::On, 0)).unwrap(), rev);
//! assert_eq!(flags.executions(&key), 1);
//! ```

use crate::recovery::IdempotencyKey;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

mod builder;
mod clock;
mod deployer;
mod executor;
mod flags;
mod health;
mod journal;
mod leases;
mod metrics;
mod migrator;
mod runbooks;
mod vcs;

pub use builder::InMemoryBuilder;
pub use clock::ManualClock;
pub use deployer::InMemoryDeployer;
pub use executor::block_on;
pub use flags::InMemoryFlagStore;
pub use health::InMemoryHealthProbe;
pub use journal::InMemoryJournalStore;
pub use leases::InMemoryLeases;
pub use metrics::{InMemoryMetrics, Series};
pub use migrator::InMemoryMigrator;
pub use runbooks::InMemoryRunbooks;
pub use vcs::InMemoryVcs;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another test thread must not hide this adapter's state.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Results by key and how often each key really acted.
#[derive(Debug)]
struct Ledgered<T> {
    results: BTreeMap<IdempotencyKey, T>,
    acted: BTreeMap<IdempotencyKey, usize>,
}

impl<T> Default for Ledgered<T> {
    fn default() -> Self {
        Self {
            results: BTreeMap::new(),
            acted: BTreeMap::new(),
        }
    }
}

impl<T: Clone> Ledgered<T> {
    fn seen(&self, key: &IdempotencyKey) -> Option<T> {
        self.results.get(key).cloned()
    }

    fn note(&mut self, key: &IdempotencyKey, result: T) -> T {
        let count = self.acted.entry(key.clone()).or_default();
        *count = count.saturating_add(1);
        self.results.insert(key.clone(), result.clone());
        result
    }

    fn executions(&self, key: &IdempotencyKey) -> usize {
        self.acted.get(key).copied().unwrap_or(0)
    }
}

/// The in-memory flag store's old name.
#[deprecated(
    since = "0.1.0",
    note = "renamed to `InMemoryFlagStore`, after its trait"
)]
pub type InMemoryFlags = InMemoryFlagStore;

/// The in-memory health probe's old name.
#[deprecated(
    since = "0.1.0",
    note = "renamed to `InMemoryHealthProbe`, after its trait"
)]
pub type InMemoryHealth = InMemoryHealthProbe;

/// The in-memory journal store's old name.
#[deprecated(
    since = "0.1.0",
    note = "renamed to `InMemoryJournalStore`, after its trait"
)]
pub type InMemoryJournal = InMemoryJournalStore;
