//! Limits on every size that comes from outside the program — a flag, a file
//! header, a data value — checked before anything of that size is allocated.
//!
//! Two kinds of bound apply, and both are checked with checked arithmetic
//! (a size that overflows `u64` is simply too large):
//!
//! * **stated limits**, the constants below, that no real run comes near but
//!   that keep a typo or a forged file from asking for absurd work
//!   (`--negatives 1000000000000` would make every step loop for hours);
//! * **the machine's memory**: [`check_memory`] refuses an allocation larger
//!   than the memory available now ([`available_memory`]: the system's
//!   available memory, or what a cgroup limit leaves, whichever is less), or
//!   than a budget the program set with [`set_memory_limit`] (the command
//!   line's `--max-memory`). Refusing up front gives a clear error naming
//!   what asked for the memory, where allocating would abort the process.
//!
//! ```
//! use wildsgd::limits;
//!
//! assert!(limits::check_memory("a small buffer", 1024).is_ok());
//! let e = limits::check_memory("a huge model", u64::MAX).unwrap_err();
//! assert!(e.to_string().starts_with("a huge model would need"));
//! ```

use crate::error::Error;
use crate::sync::{Ordering, ProcessConfigU64};
use std::fmt::Display;

/// The most worker threads a trainer starts (a pool is spawned up front:
/// asking for 100,000 threads would otherwise spend minutes creating them).
pub const MAX_THREADS: usize = 1024;

/// The most weights a model may have: 2^33 (32 GiB of `f32`).
pub const MAX_WEIGHTS: u64 = 1 << 33;

/// The most negatives per pair of a skip-gram model (word2vec uses 5–20).
pub const MAX_NEGATIVES: usize = 1024;

/// The largest skip-gram window, words on each side (word2vec uses 5–10).
pub const MAX_WINDOW: usize = 1000;

/// The largest matrix-factorisation rank.
pub const MAX_RANK: usize = 65_536;

/// A process-wide memory budget in bytes (0: none set).
static BUDGET: ProcessConfigU64 = ProcessConfigU64::new(0);

/// Sets a memory budget for the whole process: [`check_memory`] then refuses
/// anything larger than `bytes` (or than the available memory, if less).
/// `None` removes it. Memory is a resource of the process, not of one
/// trainer, hence one setting for all.
pub fn set_memory_limit(bytes: Option<u64>) {
    BUDGET.store(bytes.unwrap_or(0), Ordering::Relaxed);
}

/// The budget set with [`set_memory_limit`], if any.
pub fn memory_limit() -> Option<u64> {
    match BUDGET.load(Ordering::Relaxed) {
        0 => None,
        b => Some(b),
    }
}

/// The memory available to this process now, in bytes: the system's
/// available memory, lowered to what a cgroup (container) limit leaves.
/// `None` where the system does not say.
pub fn available_memory() -> Option<u64> {
    use sysinfo::{MemoryRefreshKind, RefreshKind, System};
    let sys = System::new_with_specifics(RefreshKind::nothing().with_memory(MemoryRefreshKind::nothing().with_ram()));
    let mut free = sys.available_memory();
    if let Some(cg) = sys.cgroup_limits() {
        free = free.min(cg.free_memory);
    }
    (free > 0).then_some(free)
}

/// The memory this process holds now (its resident set), if the system says.
pub fn used_memory() -> Option<u64> {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};
    let pid = sysinfo::get_current_pid().ok()?;
    let mut sys = System::new();
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        false,
        ProcessRefreshKind::nothing().with_memory(),
    );
    sys.process(pid).map(|p| p.memory())
}

/// The limit [`check_memory`] applies: what is left of the budget (the
/// budget less what the process already holds, so that the budget bounds
/// the whole process, not each allocation), the available memory, or the
/// smaller of the two; and whether it is the budget.
fn current_limit() -> Option<(u64, bool)> {
    let left = memory_limit().map(|b| b.saturating_sub(used_memory().unwrap_or(0)));
    match (left, available_memory()) {
        (Some(b), Some(a)) if b <= a => Some((b, true)),
        (_, Some(a)) => Some((a, false)),
        (Some(b), None) => Some((b, true)),
        (None, None) => None,
    }
}

/// Checks that `bytes` more bytes can be allocated for `what` (which the
/// error names, say "the model's 4294967297 weights").
///
/// # Errors
/// [`Error::OutOfMemory`] when `bytes` exceeds the memory budget or the
/// available memory.
pub fn check_memory(what: impl Display, bytes: u64) -> Result<(), Error> {
    match current_limit() {
        Some((limit, budget)) if bytes > limit => Err(Error::OutOfMemory {
            what: what.to_string(),
            needed: bytes,
            limit,
            budget,
        }),
        _ => Ok(()),
    }
}

/// Reserves room for `count` more items in `v` for `what`, after
/// [`check_memory`]: an allocation that fails is an error, not an abort.
///
/// # Errors
/// [`Error::OutOfMemory`] when the memory check or the allocation fails.
pub fn reserve<T>(v: &mut Vec<T>, count: u64, what: impl Display) -> Result<(), Error> {
    let needed = bytes(count, std::mem::size_of::<T>() as u64);
    check_memory(&what, needed)?;
    let fail = || Error::OutOfMemory {
        what: what.to_string(),
        needed,
        limit: current_limit().map_or(0, |(l, _)| l),
        budget: current_limit().is_some_and(|(_, b)| b),
    };
    let n = usize::try_from(count).map_err(|_| fail())?;
    v.try_reserve_exact(n).map_err(|_| fail())
}

/// `count` items of `size` bytes each, or `u64::MAX` if that overflows (so
/// that [`check_memory`] refuses it).
pub fn bytes(count: u64, size: u64) -> u64 {
    count.saturating_mul(size)
}

/// Checks a model's weight count against [`MAX_WEIGHTS`] and the memory
/// that `copies` arrays of that many `f32`s need; `what` names the model.
///
/// # Errors
/// [`Error::InvalidParameter`] above [`MAX_WEIGHTS`]; [`Error::OutOfMemory`]
/// when the copies do not fit.
pub fn check_weights(what: impl Display, weights: u64, copies: u64) -> Result<(), Error> {
    if weights > MAX_WEIGHTS {
        return Err(Error::InvalidParameter {
            name: "model size",
            reason: format!("{what} would have {weights} weights, more than the limit of {MAX_WEIGHTS}"),
        });
    }
    check_memory(
        format_args!("{what} ({weights} weights)"),
        bytes(weights, 4u64.saturating_mul(copies)),
    )
}

pub use crate::error::human_bytes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_saturate_and_print() {
        assert_eq!(bytes(u64::MAX, 4), u64::MAX);
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
        assert!(check_weights("m", MAX_WEIGHTS + 1, 1).is_err());
    }
}
