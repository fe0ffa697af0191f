//! The rules behind the policies: each an [`UpdateRule`] whose
//! [`Worker`] hands the model a concrete view. `RacyRule`, `AtomicAddRule`
//! and `LockedRule` write straight to the shared store; `BatchedRule`,
//! `HotColdRule` and `ReplicasRule` keep per-worker state and merge it (see
//! `src/policy/README.md` for each merge protocol).

mod batched;
mod hotcold;
mod replicas;

pub use batched::{BatchedRule, BatchedView, BatchedWorker};
pub use hotcold::{HotColdRule, HotColdView, HotColdWorker, MAX_HOT};
pub use replicas::{Merge, Replica, ReplicaWorker, ReplicasRule, DENSE_PER_SAMPLE};

use super::{UpdateRule, Worker};

/// Per-worker state that holds updates back from the shared store until
/// [`merge`](Buffer::merge): a batch of deltas, hot weights' deltas, a
/// whole replica.
pub trait Buffer: Send {
    /// The view a model's step writes through.
    type View: WeightsMut;
    /// The view.
    fn view(&mut self) -> &mut Self::View;
    /// Delivers what is held back to the shared store (and refreshes what
    /// the view reads, where it keeps a copy).
    fn merge(&mut self);
    /// See [`Worker::prefetch`].
    #[inline]
    fn prefetch(&self, run: std::ops::Range<usize>) {
        let _ = run;
    }
}

/// The one merge schedule of the buffering rules ([`BatchedRule`],
/// [`HotColdRule`], [`ReplicasRule`]): a worker steps each sample on its
/// buffer's view and merges every `every` samples, when its share of an
/// epoch is done ([`Worker::finish`]) and when dropped, so nothing held back
/// is ever lost. Pausing the workers (evaluation points) merges nothing.
#[derive(Debug)]
pub struct Periodic<B: Buffer> {
    buffer: B,
    every: usize,
    pending: usize,
}

impl<B: Buffer> Periodic<B> {
    fn new(buffer: B, every: usize) -> Self {
        Periodic {
            buffer,
            every: every.max(1),
            pending: 0,
        }
    }
}

impl<B: Buffer> Worker for Periodic<B> {
    type View = B::View;

    #[inline]
    fn update<R>(&mut self, f: impl FnOnce(&mut B::View) -> R) -> R {
        let r = f(self.buffer.view());
        self.pending += 1;
        if self.pending == self.every {
            self.buffer.merge();
            self.pending = 0;
        }
        r
    }

    fn finish(&mut self) {
        self.buffer.merge();
        self.pending = 0;
    }

    #[inline]
    fn prefetch(&self, run: std::ops::Range<usize>) {
        self.buffer.prefetch(run);
    }
}

impl<B: Buffer> Drop for Periodic<B> {
    /// A worker dropped between merges still delivers what it holds.
    fn drop(&mut self) {
        if self.pending > 0 {
            self.buffer.merge();
        }
    }
}
use crate::model::{Weights, WeightsMut};
use crate::store::WeightStore;
use crate::sync::{self, AtomicF32, Mutex, Ordering::Relaxed};

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

    #[inline]
    fn add_read(&mut self, j: usize, current: f32, delta: f32) {
        self.0[j].store(current + delta, Relaxed);
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

/// The rule behind [`Policy::Racy`](crate::policy::Policy::Racy) and [`Policy::Sequential`](crate::policy::Policy::Sequential).
#[derive(Clone, Copy, Debug, Default)]
pub struct RacyRule;

impl UpdateRule for RacyRule {
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

/// The rule behind [`Policy::AtomicAdd`](crate::policy::Policy::AtomicAdd).
#[derive(Clone, Copy, Debug, Default)]
pub struct AtomicAddRule;

impl UpdateRule for AtomicAddRule {
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

/// The rule behind [`Policy::Locked`](crate::policy::Policy::Locked): the store's lock
/// (the [`WeightStore`]'s own lock) is held for each whole sample.
#[derive(Clone, Copy, Debug, Default)]
pub struct LockedRule;

/// A [`LockedRule`] worker.
#[derive(Debug)]
pub struct LockedWorker<'a> {
    view: RacyView<'a>,
    lock: &'a Mutex<()>,
}

impl UpdateRule for LockedRule {
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
    use crate::policy::Policy;

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
        apply(&RacyRule, &racy);
        let atomic = WeightStore::from_slice(&[1.0, 0.0, 0.0]);
        apply(&AtomicAddRule, &atomic);
        let locked = WeightStore::from_slice(&[1.0, 0.0, 0.0]);
        apply(&LockedRule, &locked);
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
                    let mut w = AtomicAddRule.worker(&store);
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
        for p in Policy::PARAMETERLESS {
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
