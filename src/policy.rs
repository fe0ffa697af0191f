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
//! | [`HotCold`](Policy::HotCold) | hot weights: never lost (buffered, merged with `fetch_add`); cold: may be lost | never | none | no |
//! | [`Replicas`](Policy::Replicas) | never lost (per-worker replica, change merged with `fetch_add`) | never | none | no |
//! | [`Auto`](Policy::Auto) | as the policy it picks ([`choose`]) | never | none | no |
//!
//! `Racy` is the update of the Hogwild! paper: cheapest, and a lost update
//! only delays progress slightly when conflicts are rare. "Never torn" holds
//! for all of them because every access is atomic; under `Racy` and
//! `AtomicAdd` a reader may still see a sample's update half-applied across
//! *different* weights (the `loom-tests/` suite shows both facts).
//!
//! # Contention
//!
//! On many cores a plain Hogwild! loop is limited less by lost updates than
//! by cache-line traffic: every write to a weight invalidates its line in
//! every other core's cache, and on skewed data the hottest weights are
//! written by nearly every sample. [`HotCold`](struct@HotCold) buffers just
//! those weights per worker; [`Replicas`](struct@Replicas) gives each worker
//! a whole private copy (for dense models, where every line is hot);
//! [`Policy::Auto`] picks between them and `Racy` from the problem's shape
//! ([`Touches`], [`choose`]).

mod auto;
mod batched;
mod hotcold;
mod replicas;

pub use auto::{choose, Choice, Touches, AUTO_EVERY, AUTO_HOTCOLD_THREADS, AUTO_MAX_HOT, PROBE_SAMPLES};
pub use batched::{Batched, BatchedView, BatchedWorker};
pub use hotcold::{HotCold, HotColdView, HotColdWorker, MAX_HOT};
pub use replicas::{Merge, ReplicaWorker, Replicas};

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
    /// Hot/cold split; see [`HotCold`](struct@HotCold). Before training, a
    /// probe ([`Touches`]) finds the weights written in at least 1 of `every`
    /// samples; up to `hot` of them (the most written) are buffered per
    /// worker and merged every `every` samples, the rest are updated as
    /// under `Racy`.
    HotCold {
        /// The most weights to buffer.
        hot: usize,
        /// Samples between merges, and the hot threshold (at least 1).
        every: usize,
    },
    /// Per-worker replicas of the whole model, merged every `every` samples;
    /// see [`Replicas`](struct@Replicas).
    Replicas {
        /// Samples between merges (at least 1).
        every: usize,
        /// Averaging or delayed updates.
        merge: Merge,
    },
    /// The trainer picks `Racy`, `HotCold` or `Replicas` from the problem's
    /// shape and the thread count ([`choose`]); the report names the pick.
    Auto,
}

impl Policy {
    /// The policies without parameters, in a stable order.
    pub const ALL: [Policy; 5] = [
        Policy::Sequential,
        Policy::Racy,
        Policy::AtomicAdd,
        Policy::Locked,
        Policy::Auto,
    ];

    /// The policy's family name: `sequential`, `racy`, `atomic`, `locked`,
    /// `batched`, `hotcold`, `replicas` (averaging), `delayed` (replicas
    /// merged by sum) or `auto`. The full name, as used on command lines and
    /// in JSON reports (`batched:32`, `hotcold:4096:32`, `replicas:1000`), is
    /// its [`Display`](std::fmt::Display) form.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Sequential => "sequential",
            Policy::Racy => "racy",
            Policy::AtomicAdd => "atomic",
            Policy::Locked => "locked",
            Policy::Batched { .. } => "batched",
            Policy::HotCold { .. } => "hotcold",
            Policy::Replicas {
                merge: Merge::Average, ..
            } => "replicas",
            Policy::Replicas { merge: Merge::Sum, .. } => "delayed",
            Policy::Auto => "auto",
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Policy::Batched { size } => write!(f, "batched:{size}"),
            Policy::HotCold { hot, every } => write!(f, "hotcold:{hot}:{every}"),
            Policy::Replicas { every, .. } => write!(f, "{}:{every}", self.name()),
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

    /// Parses a full name: `sequential`, `racy`, `atomic`, `locked`, `auto`,
    /// `batched:N`, `hotcold:K:M`, `replicas:M` or `delayed:M` (N, M ≥ 1).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| crate::Error::InvalidParameter { name: "policy", reason };
        let count = |what: &str, n: &str, min: usize| match n.parse::<usize>() {
            Ok(v) if v >= min => Ok(v),
            _ => Err(bad(format!("{s:?}: {what} must be a whole number >= {min}"))),
        };
        if let Some(n) = s.strip_prefix("batched:") {
            return Ok(Policy::Batched {
                size: count("the batch size", n, 1)?,
            });
        }
        if let Some(rest) = s.strip_prefix("hotcold:") {
            let (k, m) = rest
                .split_once(':')
                .ok_or_else(|| bad(format!("{s:?}: expected hotcold:K:M (hot weights, merge interval)")))?;
            return Ok(Policy::HotCold {
                hot: count("the number of hot weights", k, 0)?,
                every: count("the merge interval", m, 1)?,
            });
        }
        for (prefix, merge) in [("replicas:", Merge::Average), ("delayed:", Merge::Sum)] {
            if let Some(m) = s.strip_prefix(prefix) {
                return Ok(Policy::Replicas {
                    every: count("the merge interval", m, 1)?,
                    merge,
                });
            }
        }
        Policy::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            bad(format!(
                "unknown policy {s:?}; expected one of sequential, racy, atomic, locked, auto, batched:N, \
                 hotcold:K:M, replicas:M, delayed:M"
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
        for p in [
            Policy::HotCold { hot: 4096, every: 32 },
            Policy::Replicas {
                every: 100,
                merge: Merge::Average,
            },
            Policy::Replicas {
                every: 64,
                merge: Merge::Sum,
            },
        ] {
            assert_eq!(p.to_string().parse::<Policy>().unwrap(), p);
        }
        assert_eq!(Policy::HotCold { hot: 8, every: 2 }.to_string(), "hotcold:8:2");
        assert_eq!("delayed:64".parse::<Policy>().unwrap().name(), "delayed");
        assert!("hotcold:8".parse::<Policy>().is_err());
        assert!("hotcold:8:0".parse::<Policy>().is_err());
        assert!("replicas:0".parse::<Policy>().is_err());
        let e = "hogwild".parse::<Policy>().unwrap_err();
        assert!(e.to_string().contains("unknown policy \"hogwild\""), "{e}");
    }
}
