//! Update policies: how a model's `add(j, delta)` lands in the shared weights.
//!
//! The trainer picks a [`Policy`]; the model never knows which. Each policy is
//! an [`UpdateRule`] whose per-worker [`Worker`] hands the model a concrete
//! view type, so every (model, policy) pair compiles to its own loop with no
//! dynamic dispatch per weight.
//!
//! | policy | concurrent adds to one weight | a weight is torn | lock taken | reproducible |
//! |---|---|---|---|---|
//! | [`Sequential`](Policy::Sequential) | none (one thread) | never | none | bit for bit, per seed |
//! | [`Racy`](Policy::Racy) | **may be lost** (Relaxed load, then store) | never | none | no |
//! | [`AtomicAdd`](Policy::AtomicAdd) | never lost (`fetch_add`, a CAS loop) | never | none | no (float sums reorder) |
//! | [`Locked`](Policy::Locked) | never lost; whole sample under one lock | never | one per sample | no |
//! | [`Batched`](Policy::Batched) | never lost (per-worker buffer, flushed with `fetch_add` every `size` samples) | never | none | no |
//!
//! `Racy` is the update of the Hogwild! paper: cheapest, and a lost update
//! only delays progress slightly when conflicts are rare. "Never torn" holds
//! for all of them because every access is atomic; under `Racy` and
//! `AtomicAdd` a reader may still see a sample's update half-applied across
//! *different* weights (the `loom-tests/` suite shows both facts).

mod batched;

pub use batched::{Batched, BatchedView, BatchedWorker};

use crate::model::{Weights, WeightsMut};
use crate::store::WeightStore;
use crate::sync::{self, AtomicF32, Mutex, Ordering::Relaxed};

/// How workers apply updates to the shared weights; chosen on the
/// [`Trainer`](crate::Trainer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Policy {
    /// One thread, samples in the seeded shuffled order; bit-for-bit
    /// reproducible. Ignores the trainer's thread count.
    Sequential,
    /// Hogwild!: Relaxed load, add, Relaxed store. Concurrent updates of the
    /// same weight may be lost; a weight is never torn.
    Racy,
    /// `fetch_add`: no update is ever lost.
    AtomicAdd,
    /// The whole sample's update under one lock: a baseline for benchmarks.
    Locked,
    /// Mini-batch accumulation: each worker sums its updates for `size`
    /// samples in a private buffer, then flushes them with `fetch_add`; see
    /// [`Batched`](struct@Batched). `size = 1` is `AtomicAdd`.
    Batched {
        /// Samples per flush (at least 1).
        size: usize,
    },
}

impl Policy {
    /// The policies without parameters, in a stable order.
    pub const ALL: [Policy; 4] = [Policy::Sequential, Policy::Racy, Policy::AtomicAdd, Policy::Locked];

    /// The policy's family name: `sequential`, `racy`, `atomic`, `locked` or
    /// `batched`. The full name, as used on command lines and in JSON reports
    /// (`batched:32`), is its [`Display`](std::fmt::Display) form.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Sequential => "sequential",
            Policy::Racy => "racy",
            Policy::AtomicAdd => "atomic",
            Policy::Locked => "locked",
            Policy::Batched { .. } => "batched",
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Policy::Batched { size } => write!(f, "batched:{size}"),
            p => f.write_str(p.name()),
        }
    }
}

impl serde::Serialize for Policy {
    /// As its full name (`"atomic"`, `"batched:32"`).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::str::FromStr for Policy {
    type Err = crate::Error;

    /// Parses a full name: `sequential`, `racy`, `atomic`, `locked` or
    /// `batched:N` (N ≥ 1).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| crate::Error::InvalidParameter { name: "policy", reason };
        if let Some(n) = s.strip_prefix("batched:") {
            return match n.parse::<usize>() {
                Ok(size) if size >= 1 => Ok(Policy::Batched { size }),
                _ => Err(bad(format!("{s:?}: the batch size must be a whole number >= 1"))),
            };
        }
        Policy::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            bad(format!(
                "unknown policy {s:?}; expected one of sequential, racy, atomic, locked, batched:N"
            ))
        })
    }
}

/// The mechanics of a policy: makes one [`Worker`] per training thread.
///
/// The built-in rules are [`Racy`], [`AtomicAdd`], [`Locked`] and
/// [`Batched`](struct@Batched); a custom
/// rule runs through [`Job::run_with_rule`](crate::trainer::Job::run_with_rule).
pub trait UpdateRule: Sync {
    /// A worker's state (a view of the store, a lock handle, a buffer...).
    type Worker<'a>: Worker
    where
        Self: 'a;

    /// The worker for one thread, over `store`.
    fn worker<'a>(&'a self, store: &'a WeightStore) -> Self::Worker<'a>;
}

/// One thread's handle for applying samples' updates. `Send`, so that a
/// [`Mesh`](crate::mesh::Mesh) can run two cortices' steps of one sample on
/// two threads.
pub trait Worker: Send {
    /// The view a model's step writes through.
    type View: WeightsMut;

    /// Runs one sample's update `f` against the view.
    fn update<R>(&mut self, f: impl FnOnce(&mut Self::View) -> R) -> R;

    /// Called once when the worker's share of samples is done (policies that
    /// buffer updates flush here).
    fn finish(&mut self) {}
}

/// A view whose `add` is a Relaxed load followed by a Relaxed store.
#[derive(Clone, Copy, Debug)]
pub struct RacyView<'a>(&'a [AtomicF32]);

impl Weights for RacyView<'_> {
    #[inline]
    fn read(&self, j: usize) -> f32 {
        self.0[j].load(Relaxed)
    }
}

impl WeightsMut for RacyView<'_> {
    #[inline]
    fn add(&mut self, j: usize, delta: f32) {
        let w = &self.0[j];
        w.store(w.load(Relaxed) + delta, Relaxed);
    }
}

/// A view whose `add` is an atomic `fetch_add`.
#[derive(Clone, Copy, Debug)]
pub struct AtomicView<'a>(&'a [AtomicF32]);

impl Weights for AtomicView<'_> {
    #[inline]
    fn read(&self, j: usize) -> f32 {
        self.0[j].load(Relaxed)
    }
}

impl WeightsMut for AtomicView<'_> {
    #[inline]
    fn add(&mut self, j: usize, delta: f32) {
        self.0[j].fetch_add(delta, Relaxed);
    }
}

/// The rule behind [`Policy::Racy`] and [`Policy::Sequential`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Racy;

impl UpdateRule for Racy {
    type Worker<'a> = RacyView<'a>;

    fn worker<'a>(&'a self, store: &'a WeightStore) -> RacyView<'a> {
        RacyView(store.atomics())
    }
}

impl Worker for RacyView<'_> {
    type View = Self;

    #[inline]
    fn update<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        f(self)
    }
}

/// The rule behind [`Policy::AtomicAdd`].
#[derive(Clone, Copy, Debug, Default)]
pub struct AtomicAdd;

impl UpdateRule for AtomicAdd {
    type Worker<'a> = AtomicView<'a>;

    fn worker<'a>(&'a self, store: &'a WeightStore) -> AtomicView<'a> {
        AtomicView(store.atomics())
    }
}

impl Worker for AtomicView<'_> {
    type View = Self;

    #[inline]
    fn update<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        f(self)
    }
}

/// The rule behind [`Policy::Locked`]: the store's lock
/// ([`WeightStore::lock`]) is held for each whole sample.
#[derive(Clone, Copy, Debug, Default)]
pub struct Locked;

/// A [`Locked`] worker.
#[derive(Debug)]
pub struct LockedWorker<'a> {
    view: RacyView<'a>,
    lock: &'a Mutex<()>,
}

impl UpdateRule for Locked {
    type Worker<'a> = LockedWorker<'a>;

    fn worker<'a>(&'a self, store: &'a WeightStore) -> LockedWorker<'a> {
        LockedWorker {
            view: RacyView(store.atomics()),
            lock: store.update_lock(),
        }
    }
}

impl<'a> Worker for LockedWorker<'a> {
    type View = RacyView<'a>;

    fn update<R>(&mut self, f: impl FnOnce(&mut Self::View) -> R) -> R {
        let _guard = sync::lock(self.lock);
        f(&mut self.view)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn apply<R: UpdateRule>(rule: &R, store: &WeightStore) {
        let mut w = rule.worker(store);
        w.update(|v| {
            v.add(0, 1.5);
            v.add(2, -0.5);
            assert_eq!(v.read(0), 2.5);
        });
        w.finish();
    }

    #[test]
    fn every_rule_adds() {
        let racy = WeightStore::from_slice(&[1.0, 0.0, 0.0]);
        apply(&Racy, &racy);
        let atomic = WeightStore::from_slice(&[1.0, 0.0, 0.0]);
        apply(&AtomicAdd, &atomic);
        let locked = WeightStore::from_slice(&[1.0, 0.0, 0.0]);
        apply(&Locked, &locked);
        for s in [racy, atomic, locked] {
            assert_eq!(s.snapshot(), vec![2.5, 0.0, -0.5]);
        }
    }

    #[test]
    fn atomic_add_loses_nothing_under_contention() {
        let store = WeightStore::zeros(1);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let mut w = AtomicAdd.worker(&store);
                    for _ in 0..10_000 {
                        w.update(|v| v.add(0, 1.0));
                    }
                });
            }
        });
        assert_eq!(store.get(0), 40_000.0);
    }

    #[test]
    fn names_round_trip() {
        for p in Policy::ALL {
            assert_eq!(p.name().parse::<Policy>().unwrap(), p);
            assert_eq!(p.to_string(), p.name());
        }
        let b = Policy::Batched { size: 32 };
        assert_eq!(b.to_string(), "batched:32");
        assert_eq!("batched:32".parse::<Policy>().unwrap(), b);
        assert!("batched:0".parse::<Policy>().is_err());
        assert!("batched:x".parse::<Policy>().is_err());
        let e = "hogwild".parse::<Policy>().unwrap_err();
        assert!(e.to_string().contains("unknown policy \"hogwild\""), "{e}");
    }
}
