//! A counting allocator for the benches that measure memory: it forwards
//! every call to the system allocator and keeps the live byte count.
#![allow(dead_code, unsafe_code, clippy::cast_possible_wrap)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Install with `#[global_allocator] static ALLOC: Counting = Counting;`.
pub struct Counting;

/// The bytes allocated and not yet freed.
pub static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The bytes live now.
pub fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

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
