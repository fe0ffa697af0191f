use super::{Buffer, Periodic};
use crate::model::{Weights, WeightsMut};
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

/// Per-worker replicas: each worker trains a private copy of the weights
/// with plain arithmetic — no read-modify-write and no shared cache line in
/// the per-sample path once a weight is in its copy — and merges its
/// changes into the shared weights every `every` samples (and at the end of
/// its share). A merge never loses or applies twice a replica's change
/// (`fetch_add` of the change the replica accumulated, which then restarts
/// from zero); weights are never torn.
///
/// The replica takes one of two forms, by what a merge would cost
/// ([`DENSE_PER_SAMPLE`]):
///
/// - **Touched** (large models: factorisation, embeddings, big sparse
///   linear models): the replica holds only the weights this worker wrote
///   in the current period. The first write copies the shared value in;
///   reads and writes after it see only the replica, so a weight the worker
///   writes on every sample (a bias, the most frequent features) costs one
///   shared line per period, not one per sample. A weight not written this
///   period is read from the store, so it is never staler than the last
///   merge of whoever wrote it. A merge walks only what the period touched
///   and forgets it: O(weights touched), not O(weights), so merging every
///   few samples stays cheap on a model of millions of weights (a merge
///   over the whole model measured 0.05x of the plain loop on rank-32
///   factorisation; this one 0.12x — there each of a sample's 66 weights
///   still costs a `fetch_add` at the merge).
/// - **Dense** (small models, long periods): a whole copy, read and written
///   without a bitmap, merged by one streaming walk over every weight, after
///   which the copy reloads the store. Other workers' merges are seen only
///   at this worker's next merge.
///
/// ```
/// use wildsgd::policy::rule::{Merge, ReplicasRule};
/// use wildsgd::policy::{UpdateRule, Worker};
/// use wildsgd::{WeightStore, Weights, WeightsMut};
///
/// // 2,000 weights merged every 2 samples: a touched replica.
/// let store = WeightStore::zeros(2_000);
/// let rule = ReplicasRule { every: 2, merge: Merge::Average, workers: 2 };
/// let mut w = rule.worker(&store);
/// w.update(|v| v.add(0, 4.0));
/// assert_eq!(store.get(0), 0.0); // still private
/// store.set(1, 7.0); // another worker's merge
/// w.update(|v| {
///     assert_eq!(v.read(0), 4.0); // the replica's own copy
///     assert_eq!(v.read(1), 7.0); // not written here this period: the shared value
///     v.add(1, 2.0);
/// });
/// assert_eq!((store.get(0), store.get(1)), (2.0, 8.0)); // half of each change: one of two workers
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

/// One weight in a [`Replica`]: its private value and the change made to it
/// since the period began, side by side so an `add` writes one line. The
/// value is an atomic only so that one branch-free select can name either
/// it or the shared weight (it is never shared).
#[derive(Debug)]
struct Slot {
    value: AtomicF32,
    change: f32,
}

/// One worker's replica, and the view a [`ReplicasRule`] worker hands a
/// model: the weights it wrote this period, which of them those are (a
/// bitmap), and their list (what the next merge walks).
#[derive(Debug)]
pub struct Replica<'a> {
    shared: &'a [AtomicF32],
    slots: Vec<Slot>,
    /// Bit `j` set: weight `j` has been written this period and its slot holds it.
    mine: Vec<u64>,
    /// The weights written this period: the first `len` entries.
    touched: Vec<u32>,
    len: usize,
    scale: f32,
    /// Whether this replica is a whole copy, merged by one walk over all
    /// weights (see [`DENSE_PER_SAMPLE`]): then `local` is the copy and
    /// `base` what it held after the last merge (both empty otherwise, and
    /// `slots`, `mine`, `touched` empty when dense). Plain `f32` arrays, 4
    /// bytes a weight: the copy a dense step walks is half the size of
    /// the slots.
    dense: bool,
    local: Vec<f32>,
    base: Vec<f32>,
}

/// A replica is a whole copy of the model, merged by walking every weight,
/// when that walk costs at most this many weights per sample (`weights /
/// every`); otherwise it holds only what the period touched. A dense
/// replica's per-access path is one plain load or add, where the touched
/// replica pays a bitmap test and a select; its merge streams through
/// memory, where the touched one visits the weights at random. Measured on
/// one thread (AMD EPYC; `benches/results/2core-epyc/replicas/`): on
/// 47,236-weight Zipf rows merged every 1,024 samples (46 weights per
/// sample) the dense replica ran at 0.51x of the plain loop and the touched
/// one at 0.38x; merged every 64 (738 per sample), 0.22x against 0.29x; on
/// rank-32 factorisation (1.9M weights) every 1,024 (1,855 per sample),
/// 0.05x against 0.12x. The bound sits between, at about the work of a few
/// sparse samples.
pub const DENSE_PER_SAMPLE: usize = 256;

/// Touched-list entries reserved up front: a period of a few hundred sparse
/// samples fits without growing.
const TOUCHED_RESERVE: usize = 1 << 14;

/// How far ahead in its touched list a merge prefetches.
const MERGE_AHEAD: usize = 16;

/// At most this many cache lines of a weight run's slots are prefetched.
const PREFETCH_LINES: usize = 8;

impl UpdateRule for ReplicasRule {
    type Worker<'a> = ReplicaWorker<'a>;

    fn worker<'a>(&'a self, store: &'a WeightStore) -> ReplicaWorker<'a> {
        let shared = store.atomics();
        let scale = match self.merge {
            Merge::Average => 1.0 / self.workers.max(1) as f32,
            Merge::Sum => 1.0,
        };
        let dense = shared.len() / self.every.max(1) <= DENSE_PER_SAMPLE;
        let copy: Vec<f32> = if dense {
            shared.iter().map(|w| w.load(Relaxed)).collect()
        } else {
            Vec::new()
        };
        let replica = Replica {
            shared,
            slots: if dense {
                Vec::new()
            } else {
                (0..shared.len())
                    .map(|_| Slot {
                        value: AtomicF32::new(0.0),
                        change: 0.0,
                    })
                    .collect()
            },
            mine: if dense {
                Vec::new()
            } else {
                vec![0; shared.len().div_ceil(64)]
            },
            touched: if dense {
                Vec::new()
            } else {
                vec![0; shared.len().clamp(1, TOUCHED_RESERVE)]
            },
            len: 0,
            scale,
            dense,
            base: copy.clone(),
            local: copy,
        };
        Periodic::new(replica, self.every)
    }
}

impl Replica<'_> {
    #[inline]
    fn is_mine(&self, j: usize) -> bool {
        self.mine[j / 64] & (1 << (j % 64)) != 0
    }

    /// Weight `j` as this worker sees it, `mine` saying whether it is in the
    /// replica: one load, from the replica or the store, so a weight in the
    /// replica never loads its shared line.
    #[inline]
    fn current(&self, j: usize, mine: bool) -> f32 {
        std::hint::select_unpredictable(mine, &self.slots[j].value, &self.shared[j]).load(Relaxed)
    }

    /// Writes `value` (the weight after the add) and the change `delta` into
    /// weight `j`'s slot, taking it into the replica if it is not there yet.
    /// Branch-free in whether it was: in a sparse row the weights a worker
    /// writes every sample and the ones it rarely writes interleave at
    /// random, and a branch on it mispredicts about once per weight
    /// (touched replicas on Zipf rows, merged every 1,024 samples, one
    /// thread: 0.32x of the plain loop with the branches, 0.38x without).
    #[inline]
    fn write(&mut self, j: usize, mine: bool, value: f32, delta: f32) {
        let s = &mut self.slots[j];
        s.value.store(value, Relaxed);
        s.change = std::hint::select_unpredictable(mine, s.change, 0.0) + delta;
        self.mine[j / 64] |= 1 << (j % 64);
        self.touched[self.len] = j as u32;
        self.len += usize::from(!mine);
        if self.len == self.touched.len() {
            // Rare (a period touched more than ever before): grow once.
            let more = self.touched.len().min(self.shared.len());
            self.touched.resize(self.touched.len() + more, 0);
        }
    }
}

impl Weights for Replica<'_> {
    #[inline]
    fn read(&self, j: usize) -> f32 {
        if self.dense {
            return self.local[j];
        }
        self.current(j, self.is_mine(j))
    }
}

impl WeightsMut for Replica<'_> {
    #[inline]
    fn add(&mut self, j: usize, delta: f32) {
        if self.dense {
            self.local[j] += delta;
            return;
        }
        let mine = self.is_mine(j);
        let now = self.current(j, mine);
        self.write(j, mine, now + delta, delta);
    }

    #[inline]
    fn add_read(&mut self, j: usize, current: f32, delta: f32) {
        if self.dense {
            self.local[j] = current + delta;
            return;
        }
        // `current` is what `read` just returned (the replica's value, or
        // the shared one when the weight is not in it yet): no second load.
        let mine = self.is_mine(j);
        self.write(j, mine, current + delta, delta);
    }
}

impl<'a> Buffer for Replica<'a> {
    type View = Self;

    #[inline]
    fn view(&mut self) -> &mut Self {
        self
    }

    fn merge(&mut self) {
        if self.dense {
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
            return;
        }
        let touched = &self.touched[..self.len];
        for (k, &j) in touched.iter().enumerate() {
            // The list is in first-write order, i.e. at random addresses:
            // ask for the slot and shared line a few entries ahead.
            if let Some(&next) = touched.get(k + MERGE_AHEAD) {
                crate::prefetch::read(&self.slots[next as usize]);
                crate::prefetch::read(&self.shared[next as usize]);
            }
            let j = j as usize;
            let change = self.slots[j].change;
            if change != 0.0 {
                self.shared[j].fetch_add(change * self.scale, Relaxed);
            }
            self.mine[j / 64] = 0;
        }
        self.len = 0;
    }

    #[inline]
    fn prefetch(&self, run: std::ops::Range<usize>) {
        if let Some(slots) = self.slots.get(run.clone()) {
            crate::prefetch::read_slice(slots, PREFETCH_LINES);
        }
        if let Some(local) = self.local.get(run) {
            crate::prefetch::read_slice(local, PREFETCH_LINES);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::model::{Weights, WeightsMut};
    use crate::policy::Worker;

    #[test]
    fn sum_merges_whole_changes_and_sees_others_progress() {
        let store = WeightStore::zeros(2 * DENSE_PER_SAMPLE + 2);
        let rule = ReplicasRule {
            every: 2,
            merge: Merge::Sum,
            workers: 4,
        };
        let mut w = rule.worker(&store);
        w.update(|v| v.add(0, 1.0));
        store.set(0, 5.0); // another worker's merges land meanwhile
        store.set(1, 10.0);
        w.update(|v| {
            assert_eq!(v.read(0), 1.0, "a weight in the replica is read from the replica");
            assert_eq!(v.read(1), 10.0, "one not written this period is read from the store");
            v.add(0, 1.0);
        });
        let first3 = |s: &WeightStore| (s.get(0), s.get(1), s.get(2));
        assert_eq!(first3(&store), (7.0, 10.0, 0.0), "the change, not the copy, was merged");
        w.update(|v| assert_eq!(v.read(0), 7.0, "after a merge the store is read again"));
        w.finish();
        assert_eq!(first3(&store), (7.0, 10.0, 0.0), "nothing merged twice");
    }

    #[test]
    fn a_dense_replica_is_a_whole_copy_reloaded_at_merges() {
        let store = WeightStore::zeros(2);
        let rule = ReplicasRule {
            every: 2,
            merge: Merge::Sum,
            workers: 4,
        };
        let mut w = rule.worker(&store);
        assert!(w.buffer.dense);
        w.update(|v| v.add(0, 1.0));
        store.set(1, 10.0); // another worker's merge lands meanwhile
        w.update(|v| {
            v.add(0, 1.0);
            assert_eq!(v.read(1), 0.0, "a dense replica does not see others until it merges");
        });
        assert_eq!(store.snapshot(), vec![2.0, 10.0]);
        w.update(|v| assert_eq!(v.read(1), 10.0, "the merge reloaded the shared weights"));
        w.finish();
        assert_eq!(store.snapshot(), vec![2.0, 10.0], "nothing merged twice");
    }

    #[test]
    fn add_read_starts_the_copy_from_the_value_just_read() {
        let store = WeightStore::from_fn(20 * DENSE_PER_SAMPLE, |j| if j == 0 { 3.0 } else { 0.0 });
        let rule = ReplicasRule {
            every: 10,
            merge: Merge::Sum,
            workers: 1,
        };
        let mut w = rule.worker(&store);
        w.update(|v| {
            let now = v.read(0);
            v.add_read(0, now, 0.5);
            assert_eq!(v.read(0), 3.5);
            let again = v.read(0);
            v.add_read(0, again, 0.5);
        });
        store.set(0, 100.0);
        w.finish();
        assert_eq!(store.get(0), 101.0);
    }

    #[test]
    fn merges_walk_only_what_was_touched_and_forget_it() {
        let store = WeightStore::zeros(300);
        const { assert!(300 > DENSE_PER_SAMPLE, "a touched replica at every = 1") };
        let rule = ReplicasRule {
            every: 1,
            merge: Merge::Sum,
            workers: 1,
        };
        let mut w = rule.worker(&store);
        w.update(|v| {
            v.add(3, 1.0);
            v.add(64, 2.0);
            v.add(299, 4.0);
            v.add(3, -1.0); // back to a zero change: merged as nothing
        });
        assert!(!w.buffer.dense);
        assert_eq!(w.buffer.len, 0);
        assert!(w.buffer.mine.iter().all(|&b| b == 0), "every bit cleared");
        let mut want = vec![0.0; 300];
        want[64] = 2.0;
        want[299] = 4.0;
        assert_eq!(store.snapshot(), want);
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
        // Dense replicas, then touched ones.
        for dim in [3, 7 * DENSE_PER_SAMPLE + 7] {
            concurrent_sums(dim);
        }
    }

    fn concurrent_sums(dim: usize) {
        let store = WeightStore::zeros(dim);
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
        assert_eq!(
            (store.get(0), store.get(1), store.get(2)),
            (4000.0, 0.0, 2000.0),
            "{dim} weights"
        );
    }
}
