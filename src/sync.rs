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

    /// `std`'s `AtomicBool` with the subset of its API the crate uses. A
    /// newtype, not a re-export: clippy's `disallowed-types` (clippy.toml)
    /// sees through re-exports, and this shim is the one place the std
    /// atomics may be named.
    #[allow(clippy::disallowed_types)]
    #[derive(Debug, Default)]
    #[repr(transparent)]
    pub struct AtomicBool(std::sync::atomic::AtomicBool);

    #[allow(clippy::disallowed_types)]
    impl AtomicBool {
        #[allow(dead_code)] // the crate makes its flags with `Default`
        pub const fn new(v: bool) -> Self {
            AtomicBool(std::sync::atomic::AtomicBool::new(v))
        }

        #[inline]
        pub fn load(&self, order: Ordering) -> bool {
            self.0.load(order)
        }

        #[inline]
        pub fn store(&self, v: bool, order: Ordering) {
            self.0.store(v, order)
        }
    }

    /// Locks `m`, ignoring poisoning: the crate guards either `()` (the
    /// locked baseline) or a worker slot whose holder's panic the pool
    /// re-raises in the caller anyway, so nothing inconsistent is reused.
    pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(loom)]
mod imp {
    pub use loom::sync::atomic::{AtomicBool, Ordering};
    pub use loom::sync::{Mutex, MutexGuard};

    use loom::sync::atomic::AtomicU32;

    /// Locks `m`. Under loom a panic aborts the whole model run, so the
    /// mutex is never observed poisoned.
    pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap()
    }

    /// An `f32` stored as its bits (`to_bits`/`from_bits`) in loom's
    /// [`AtomicU32`], with the subset of `atomic_float::AtomicF32`'s API the
    /// crate uses: `new`, `load`, `store`, `fetch_add`.
    ///
    /// Like the real type it is 4 bytes of atomic state per weight, and every
    /// access is one atomic operation on the whole word, so a weight can never
    /// be torn. Like every loom object, it can only be created inside
    /// `loom::model`.
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

        /// Adds `v`, returning the previous value: the same algorithm as
        /// `atomic_float` (`AtomicU32::fetch_update`: a load with the failure
        /// ordering, then a `compare_exchange_weak` loop), so loom explores
        /// the interleavings in which another thread's write makes the CAS
        /// fail and retry. (loom's weak CAS never fails spuriously.)
        pub fn fetch_add(&self, v: f32, order: Ordering) -> f32 {
            let fail = failure_ordering(order);
            let mut cur = self.0.load(fail);
            loop {
                let new = (f32::from_bits(cur) + v).to_bits();
                match self.0.compare_exchange_weak(cur, new, order, fail) {
                    Ok(prev) => return f32::from_bits(prev),
                    Err(actual) => cur = actual,
                }
            }
        }
    }

    /// The failure (and initial load) ordering `atomic_float` pairs with a
    /// read-modify-write ordering: the strongest load ordering it implies.
    fn failure_ordering(order: Ordering) -> Ordering {
        match order {
            Ordering::Release | Ordering::Relaxed => Ordering::Relaxed,
            Ordering::Acquire | Ordering::AcqRel => Ordering::Acquire,
            _ => Ordering::SeqCst,
        }
    }
}

pub(crate) use imp::*;

/// A `std` `AtomicU64` for **process-wide configuration only** (the memory
/// budget of `limits::set_memory_limit`), in every build, loom's included. It
/// must be a `static`, and loom's atomics have no `const` constructor (each is
/// created inside `loom::model`), so it cannot be swapped for them; nor need
/// it be: it is set before a run (by the CLI, or a test) and only read during
/// one, never part of the cross-thread protocol the loom suite models. Do not
/// use it for state that workers share. (A newtype so that the std type is
/// named only here; see `clippy.toml`.)
#[allow(clippy::disallowed_types)]
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct ProcessConfigU64(std::sync::atomic::AtomicU64);

#[allow(clippy::disallowed_types)]
impl ProcessConfigU64 {
    pub(crate) const fn new(v: u64) -> Self {
        ProcessConfigU64(std::sync::atomic::AtomicU64::new(v))
    }

    #[inline]
    pub(crate) fn load(&self, order: std::sync::atomic::Ordering) -> u64 {
        self.0.load(order)
    }

    #[inline]
    pub(crate) fn store(&self, v: u64, order: std::sync::atomic::Ordering) {
        self.0.store(v, order)
    }
}
