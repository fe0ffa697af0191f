use super::{Buffer, Periodic};
use crate::policy::UpdateRule;
use crate::store::WeightStore;
use crate::sync::{AtomicF32, Ordering::Relaxed};

/// How a [`ReplicasRule`] worker's progress is merged into the shared weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Merge {
    /// Model averaging (local SGD, DimmWitted's PerCore): each merge adds
    /// `1/workers` of the replica's change since its last merge, so workers
    /// that merge together leave the mean of their replicas. Statistically
    /// conservative: a weight only one worker moved gets `1/workers` of
    /// that move.
    #[default]
    Average,
    /// Delayed updates (HogBatch): each merge adds the replica's whole
    /// change, as if its samples had been applied to the shared weights late.
    Sum,
}

/// Per-worker replicas: each worker trains a private copy of the whole model
/// with plain `f32` arithmetic — no atomics and no shared cache line in the
/// per-sample path — and merges it into the shared weights every `every`
/// samples (and at the end of its share), then restarts from the merged
/// weights.
///
/// A merge walks the whole model once: for each weight it `fetch_add`s the
/// replica's change since its last merge (scaled by [`Merge`]), and reloads
/// the shared value into the replica. Its cost, one pass over all weights,
/// is spread over `every` samples, so pick `every` at least comparable to
/// the dimension divided by the weights a sample touches. ReplicasRule win when
/// every sample writes most of the model (dense softmax, small models):
/// there a shared array has every line contended on every sample.
///
/// A merge never loses or applies twice a replica's change (`fetch_add`,
/// and the replica's base moves to what it merged); weights are never torn.
///
/// ```
/// use wildsgd::policy::rule::{Merge, ReplicasRule};
/// use wildsgd::policy::{UpdateRule, Worker};
/// use wildsgd::{WeightStore, WeightsMut};
///
/// let store = WeightStore::zeros(2);
/// let rule = ReplicasRule { every: 2, merge: Merge::Average, workers: 2 };
/// let mut w = rule.worker(&store);
/// w.update(|v| v.add(0, 4.0));
/// assert_eq!(store.get(0), 0.0); // still private
/// w.update(|v| v.add(1, 2.0));
/// assert_eq!(store.snapshot(), vec![2.0, 1.0]); // half of the change: one of two workers
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicasRule {
    /// Samples between merges (at least 1).
    pub every: usize,
    /// How changes are merged.
    pub merge: Merge,
    /// The number of workers (for [`Merge::Average`]'s scale).
    pub workers: usize,
}

/// A [`ReplicasRule`] worker: merges its replica's change every `every`
/// samples.
pub type ReplicaWorker<'a> = Periodic<Replica<'a>>;

/// One worker's replica: the copy it steps on, and its base (the weights it
/// last merged or loaded).
#[derive(Debug)]
pub struct Replica<'a> {
    shared: &'a [AtomicF32],
    local: Vec<f32>,
    base: Vec<f32>,
    scale: f32,
}

impl UpdateRule for ReplicasRule {
    type Worker<'a> = ReplicaWorker<'a>;

    fn worker<'a>(&'a self, store: &'a WeightStore) -> ReplicaWorker<'a> {
        let shared = store.atomics();
        let base: Vec<f32> = shared.iter().map(|w| w.load(Relaxed)).collect();
        let scale = match self.merge {
            Merge::Average => 1.0 / self.workers.max(1) as f32,
            Merge::Sum => 1.0,
        };
        let replica = Replica {
            shared,
            local: base.clone(),
            base,
            scale,
        };
        Periodic::new(replica, self.every)
    }
}

impl Buffer for Replica<'_> {
    type View = Vec<f32>;

    #[inline]
    fn view(&mut self) -> &mut Vec<f32> {
        &mut self.local
    }

    fn merge(&mut self) {
        for ((w, l), b) in self.shared.iter().zip(&mut self.local).zip(&mut self.base) {
            let change = *l - *b;
            let now = if change != 0.0 {
                let add = change * self.scale;
                w.fetch_add(add, Relaxed) + add
            } else {
                w.load(Relaxed)
            };
            *l = now;
            *b = now;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::model::{Weights, WeightsMut};
    use crate::policy::Worker;

    #[test]
    fn sum_merges_whole_changes_and_reloads_others_progress() {
        let store = WeightStore::zeros(2);
        let rule = ReplicasRule {
            every: 2,
            merge: Merge::Sum,
            workers: 4,
        };
        let mut w = rule.worker(&store);
        w.update(|v| v.add(0, 1.0));
        store.set(1, 10.0); // another worker's merge lands meanwhile
        w.update(|v| {
            v.add(0, 1.0);
            assert_eq!(v.read(1), 0.0, "a replica does not see others until it merges");
        });
        assert_eq!(store.snapshot(), vec![2.0, 10.0]);
        w.update(|v| assert_eq!(v.read(1), 10.0, "the merge reloaded the shared weights"));
        w.finish();
        assert_eq!(store.snapshot(), vec![2.0, 10.0], "nothing merged twice");
    }

    #[test]
    fn average_of_workers_that_merge_together_is_the_mean() {
        let store = WeightStore::from_slice(&[1.0]);
        let rule = ReplicasRule {
            every: 100,
            merge: Merge::Average,
            workers: 2,
        };
        let mut a = rule.worker(&store);
        let mut b = rule.worker(&store);
        a.update(|v| v.add(0, 2.0)); // replica a: 3
        b.update(|v| v.add(0, -4.0)); // replica b: -3
        a.finish();
        b.finish();
        assert_eq!(store.get(0), 0.0, "the mean of 3 and -3");
    }

    #[test]
    fn dropping_a_worker_merges_it() {
        let store = WeightStore::zeros(1);
        let rule = ReplicasRule {
            every: 10,
            merge: Merge::Sum,
            workers: 1,
        };
        let mut w = rule.worker(&store);
        w.update(|v| v.add(0, 3.0));
        drop(w);
        assert_eq!(store.get(0), 3.0);
    }

    #[test]
    fn concurrent_sum_merges_lose_nothing() {
        let store = WeightStore::zeros(3);
        let rule = ReplicasRule {
            every: 7,
            merge: Merge::Sum,
            workers: 4,
        };
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let mut w = rule.worker(&store);
                    for _ in 0..1000 {
                        w.update(|v| {
                            v.add(0, 1.0);
                            v.add(2, 0.5);
                        });
                    }
                    w.finish();
                });
            }
        });
        assert_eq!(store.snapshot(), vec![4000.0, 0.0, 2000.0]);
    }
}
