//! Tools for adapter authors and test suites (feature `testkit`).
//!
//! [`conformance`] checks that an adapter keeps the port contracts the
//! driver relies on: idempotency keys, outcome queries, expected-revision
//! conflicts, ordered journal appends. Run it against your own adapter:
//!
//! ```
//! use knowngood::memory::{block_on, InMemoryFlags};
//! use knowngood::testkit::conformance;
//! block_on(conformance::flag_store(&InMemoryFlags::default())).unwrap();
//! ```

pub mod conformance;

/// Switches that break a rule on purpose, on the current thread only, to
/// prove that drills catch a broken rule. Never use them outside tests.
pub mod sabotage {
    use std::cell::Cell;

    thread_local! {
        static POISON_RULE_OFF: Cell<bool> = const { Cell::new(false) };
    }

    /// While the guard lives, production accepts releases carrying poisoned
    /// changes (on this thread).
    #[must_use = "the rule comes back when the guard drops"]
    #[derive(Debug)]
    pub struct PoisonRuleOff(());

    /// Turns the poisoned-change rule off on this thread.
    pub fn disable_poison_rule() -> PoisonRuleOff {
        POISON_RULE_OFF.with(|c| c.set(true));
        PoisonRuleOff(())
    }

    impl Drop for PoisonRuleOff {
        fn drop(&mut self) {
            POISON_RULE_OFF.with(|c| c.set(false));
        }
    }

    pub(crate) fn poison_rule_disabled() -> bool {
        POISON_RULE_OFF.with(Cell::get)
    }
}
