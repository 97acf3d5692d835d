//! Bytes the state holds per stored release, counted by a counting
//! allocator: the growth of the state between 1 000 and 11 000 releases
//! (each registered as an artifact and a release, and deployed through
//! dev, qa and prod), divided by 10 000.
#![allow(unsafe_code, clippy::cast_possible_wrap, clippy::cast_precision_loss)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use knowngood::{Ledger, State};

#[path = "support/history.rs"]
mod history;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only
// counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn state_bytes(releases: u64) -> isize {
    let revisions = u32::try_from(releases).unwrap();
    let ledger = history::history(revisions, 0, releases);
    let journal = ledger.into_journal();
    let before = LIVE.load(Ordering::Relaxed);
    let state: State = journal.replay().unwrap();
    let after = LIVE.load(Ordering::Relaxed);
    drop(state);
    let _ = Ledger::new();
    after - before
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("footprint: bench");
        return;
    }
    let small = state_bytes(1_000);
    let large = state_bytes(11_000);
    let per = (large - small) as f64 / 10_000.0;
    println!(
        "footprint/bytes_per_stored_release: {per:.0} bytes (state of 1 000 releases: {small} B, 11 000: {large} B)"
    );
}
