//! Software prefetch: a hint that asks memory for a cache line the loop will
//! read a few samples from now. The crate's one `unsafe` block lives here.
//!
//! The per-sample loop is bound by memory latency, not arithmetic: a row the
//! order names at a random address waits ~100 ns for DRAM. Asking for the
//! rows (and the weight rows of matrix factorisation and SGNS) a few samples
//! ahead overlaps those waits with the current sample's work.
//!
//! Why `unsafe` at all: `std::arch::x86_64::_mm_prefetch` is a
//! `#[target_feature(enable = "sse")]` function, and Rust makes every call to
//! one unsafe from a function that does not itself enable the feature, even
//! where (as on every x86-64 target) the feature is part of the baseline.
//! No crate of the field offers a maintained safe wrapper (`prefetch` is
//! unmaintained since 2017 and needs nightly; `mem_prefetch` is a one-person
//! crate of 2026), so the wrapper is written here, audited once.

/// Hints that the cache line holding `*x` will be read soon. Never faults,
/// never changes what the program computes; a no-op on targets without a
/// prefetch instruction.
#[inline(always)]
pub(crate) fn read<T>(x: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = (x as *const T).cast::<i8>();
        // SAFETY: `_mm_prefetch` is unsafe only because it is a
        // `target_feature(enable = "sse")` function; the `cfg` above
        // guarantees the target has SSE. A prefetch never dereferences in
        // the language's sense: it cannot fault, read uninitialised memory
        // into the program, or race, whatever the address; here the address
        // is even that of a live reference.
        #[allow(unsafe_code)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p)
        };
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = x;
}

/// Hints every cache line of `xs` (at most `max_lines` of them, from the
/// start) will be read soon.
#[inline(always)]
pub(crate) fn read_slice<T>(xs: &[T], max_lines: usize) {
    const LINE: usize = 64;
    let size = std::mem::size_of::<T>().max(1);
    let step = (LINE / size).max(1);
    let mut i = 0;
    let mut lines = 0;
    while i < xs.len() && lines < max_lines {
        read(&xs[i]);
        i += step;
        lines += 1;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefetch_changes_nothing() {
        let v: Vec<u32> = (0..1000).collect();
        super::read(&v[999]);
        super::read_slice(&v[..], 4);
        super::read_slice::<u32>(&[], 4);
        assert_eq!(v.iter().sum::<u32>(), 999 * 1000 / 2);
    }
}
