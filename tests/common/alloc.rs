//! The test suite's one counting global allocator. It counts every
//! allocation (and reallocation) twice: for the current thread only, so tests
//! running in parallel in one binary do not disturb each other's counts
//! ([`allocations`]), and for the whole process, so a test can count what
//! the trainer's worker threads allocate too ([`process_allocations`]; such
//! tests must run one at a time). Included by the tests that prove hot loops
//! allocate nothing with
//! `#[path = "common/alloc.rs"] mod counting_alloc;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
// A test-only counter outside the library: not cross-thread library state.
#[allow(clippy::disallowed_types)]
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// A test-only counter outside the library: not cross-thread library state.
#[allow(clippy::disallowed_types)]
static PROCESS_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

fn count() {
    PROCESS_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    // `try_with`: the slot may already be gone while a thread exits.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations (and reallocations) made by the current thread so far.
#[allow(dead_code)] // not every including test uses both counts
pub fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// Allocations (and reallocations) made by every thread of the process so
/// far. Other tests of the same binary running in parallel add to it.
#[allow(dead_code)] // not every including test uses both counts
pub fn process_allocations() -> usize {
    PROCESS_ALLOCATIONS.load(Ordering::SeqCst)
}
