//! The synchronisation primitives the crate is built on, in one place.
//!
//! Every shared access to weights and every cross-thread flag goes through
//! the types re-exported here. In a normal build they are `atomic_float`'s
//! [`AtomicF32`] and the standard library's atomics and mutex. Under
//! `--cfg loom` they are swapped for `loom`'s instrumented versions, so the
//! model checker in `loom-tests/` drives the crate's *real* weight store and
//! update policies rather than a copy of them (the pattern tokio uses in its
//! `src/loom/` module).

#[cfg(not(loom))]
mod imp {
    pub use atomic_float::AtomicF32;
    pub use std::sync::atomic::Ordering;
    pub use std::sync::{Mutex, MutexGuard};

    /// Locks `m`, ignoring poisoning: the guarded data is `()`, so a panic
    /// in another holder cannot have left it inconsistent.
    pub fn lock(m: &Mutex<()>) -> MutexGuard<'_, ()> {
        m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(loom)]
mod imp {
    pub use loom::sync::atomic::Ordering;
    pub use loom::sync::{Mutex, MutexGuard};

    use loom::sync::atomic::AtomicU32;

    /// Under loom, locking never observes poisoning (loom aborts the model
    /// on a panic instead).
    pub fn lock(m: &Mutex<()>) -> MutexGuard<'_, ()> {
        m.lock().unwrap()
    }

    /// An `f32` stored as its bits in loom's `AtomicU32`, with the subset of
    /// `atomic_float::AtomicF32`'s API the crate uses. `fetch_add` is a CAS
    /// loop, as in `atomic_float`, so loom explores its retries.
    #[derive(Debug)]
    pub struct AtomicF32(AtomicU32);

    impl AtomicF32 {
        pub fn new(v: f32) -> Self {
            AtomicF32(AtomicU32::new(v.to_bits()))
        }

        pub fn load(&self, order: Ordering) -> f32 {
            f32::from_bits(self.0.load(order))
        }

        pub fn store(&self, v: f32, order: Ordering) {
            self.0.store(v.to_bits(), order)
        }

        pub fn fetch_add(&self, v: f32, order: Ordering) -> f32 {
            let mut cur = self.0.load(Ordering::Relaxed);
            loop {
                let new = (f32::from_bits(cur) + v).to_bits();
                match self.0.compare_exchange_weak(cur, new, order, Ordering::Relaxed) {
                    Ok(prev) => return f32::from_bits(prev),
                    Err(actual) => cur = actual,
                }
            }
        }
    }
}

pub(crate) use imp::*;
