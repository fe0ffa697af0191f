use super::{Buffer, Periodic};
use crate::model::{Weights, WeightsMut};
use crate::policy::{Touches, UpdateRule};
use crate::store::WeightStore;
use crate::sync::{AtomicF32, Ordering::Relaxed};

/// The most hot weights a [`HotColdRule`] split can hold (slots are `u16`; one
/// value marks cold weights).
pub const MAX_HOT: usize = u16::MAX as usize - 1;

/// Hot/cold split: the `K` most-written weights are buffered per worker and
/// merged into the shared array with `fetch_add` every `every` samples; every
/// other weight is updated Hogwild!-style (Relaxed load, then store).
///
/// Why: on skewed sparse data a few weights (the most frequent features, a
/// bias) are written by almost every sample. Under plain [`Racy`](super::RacyRule)
/// their cache lines bounce between all cores on every sample, which is what
/// caps a naive Hogwild! loop at a few times the sequential speed. Buffering
/// only those weights turns `every` contended writes into one `fetch_add`,
/// while the long tail of rarely written weights keeps the zero-overhead
/// racy update (buffering all of them, as [`BatchedRule`](super::BatchedRule)
/// does, pays a touched-list entry for each).
///
/// Reads of a hot weight see the shared value plus the worker's pending
/// delta, so a worker never goes stale on its own contributions, nor on
/// other workers' merges. (A private copy of the hot weights refreshed only
/// at merges would keep their shared lines out of every read between
/// merges, but it adds a whole merge interval of staleness on the weights
/// every sample moves: the squared-loss problem of `tests/equivalence.rs`
/// diverged with it at 16 threads with workers preempted every 32
/// samples, where this version stays equivalent.) No hot
/// contribution is lost or applied twice; cold weights keep `Racy`'s
/// semantics (a concurrent update may be lost, none is torn).
///
/// Which weights are hot is data-dependent: [`Touches::probe`](crate::policy::Touches::probe)
/// counts the writes a model's steps make on a sample of the data, and
/// [`Policy::HotCold`](crate::policy::Policy::HotCold) picks the weights written in
/// at least `1/every` of the probed samples (at most `hot` of them).
///
/// ```
/// use wildsgd::policy::rule::HotColdRule;
/// use wildsgd::policy::{UpdateRule, Worker};
/// use wildsgd::{WeightStore, Weights, WeightsMut};
///
/// let store = WeightStore::zeros(4);
/// let rule = HotColdRule::new(&[1], 4, 2).unwrap(); // weight 1 is hot; merge every 2 samples
/// let mut w = rule.worker(&store);
/// w.update(|v| {
///     v.add(0, 1.0); // cold: straight to the store
///     v.add(1, 5.0); // hot: buffered
///     assert_eq!(v.read(1), 5.0); // the worker sees its own pending delta
/// });
/// assert_eq!(store.snapshot(), vec![1.0, 0.0, 0.0, 0.0]);
/// w.update(|v| v.add(1, 1.0)); // second sample: the buffer is merged
/// assert_eq!(store.snapshot(), vec![1.0, 6.0, 0.0, 0.0]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HotColdRule {
    /// Each weight's buffer slot: its rank among the hot weights, or
    /// `hot.len()` (a slot that stays zero) for cold ones.
    slots: Vec<u16>,
    /// The hot weights, in increasing order (slot order).
    hot: Vec<u32>,
    dim: usize,
    every: usize,
}

impl HotColdRule {
    /// A split of a `dim`-weight model whose hot weights are `hot` (distinct
    /// indices below `dim`), merged every `every` samples (at least 1).
    pub fn new(hot: &[usize], dim: usize, every: usize) -> Result<Self, crate::error::Error> {
        let bad = |reason: String| crate::error::Error::InvalidParameter {
            name: "hot weights",
            reason,
        };
        if dim > u32::MAX as usize {
            return Err(bad(format!("{dim} weights; at most {} are supported", u32::MAX)));
        }
        if every == 0 {
            return Err(crate::error::Error::InvalidParameter {
                name: "merge interval",
                reason: "must be at least 1 sample".into(),
            });
        }
        if hot.len() > MAX_HOT {
            return Err(bad(format!(
                "{} hot weights; at most {MAX_HOT} are supported",
                hot.len()
            )));
        }
        let mut sorted: Vec<u32> = Vec::with_capacity(hot.len());
        for &j in hot {
            if j >= dim {
                return Err(bad(format!("index {j} is out of range for {dim} weights")));
            }
            sorted.push(j as u32);
        }
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(bad(format!("index {} is listed twice", w[0])));
        }
        let mut slots = vec![sorted.len() as u16; dim];
        for (k, &j) in sorted.iter().enumerate() {
            slots[j as usize] = k as u16;
        }
        Ok(HotColdRule {
            slots,
            hot: sorted,
            dim,
            every,
        })
    }

    /// The split [`Policy::HotCold { hot, every }`](crate::policy::Policy::HotCold)
    /// makes from a probe of the problem: the weights written in at least
    /// 1 of `every` probed samples, at most `hot` (and [`MAX_HOT`]) of them,
    /// the most written first.
    pub fn from_touches(touches: &Touches, dim: usize, hot: usize, every: usize) -> Result<Self, crate::error::Error> {
        // `every = 0` marks nothing hot (a rate of infinity) and `new` rejects it.
        let hot = touches.written_at_least(1.0 / every as f64, hot.min(MAX_HOT));
        Self::new(&hot, dim, every)
    }

    /// The hot weights' indices, in increasing order.
    pub fn hot(&self) -> &[u32] {
        &self.hot
    }

    /// Samples between merges.
    pub fn every(&self) -> usize {
        self.every
    }
}

/// A [`HotColdRule`] worker: merges its hot weights every `every` samples.
pub type HotColdWorker<'a> = Periodic<HotColdView<'a>>;

/// The view a [`HotColdRule`] worker hands a model.
///
/// The per-weight path has no data-dependent branch and one extra load from
/// a shared read-only table (a `u16` slot per weight, half the model's
/// size). Hot and cold weights are interleaved at random in a sample, so a
/// branch on "is it hot" mispredicts about once per weight, and a dense
/// per-worker delta array doubles the random memory traffic: each of those
/// measured 3–4x slower than `Racy` on one thread (RCV1-shaped rows, AMD
/// EPYC). Here cold weights read a slot that stays zero and add into a sink
/// slot, and the store goes, by a branch-free select, to the shared weight
/// (cold) or to a private scratch cell (hot); measured about 2x `Racy`'s
/// per-sample cost on one thread, the price paid for taking the hot weights'
/// cache lines out of circulation.
#[derive(Debug)]
pub struct HotColdView<'a> {
    shared: &'a [AtomicF32],
    slots: &'a [u16],
    hot: &'a [u32],
    /// Pending deltas of hot weights by slot, then a slot that stays 0 (what
    /// cold weights read) and a sink slot (where cold weights' adds go).
    delta: Vec<f32>,
    /// Where a hot weight's racy store goes instead of the shared array.
    scratch: AtomicF32,
}

impl UpdateRule for HotColdRule {
    type Worker<'a> = HotColdWorker<'a>;

    fn worker<'a>(&'a self, store: &'a WeightStore) -> HotColdWorker<'a> {
        let shared = store.atomics();
        assert_eq!(
            shared.len(),
            self.dim,
            "a HotColdRule split for a store of another size"
        );
        let view = HotColdView {
            shared,
            slots: &self.slots,
            hot: &self.hot,
            delta: vec![0.0; self.hot.len() + 2],
            scratch: AtomicF32::new(0.0),
        };
        Periodic::new(view, self.every)
    }
}

impl HotColdView<'_> {
    /// Whether weight `j` is hot, and its slot if it is.
    #[inline]
    fn slot(&self, j: usize) -> (bool, usize) {
        let s = usize::from(self.slots[j]);
        (s < self.hot.len(), s)
    }
}

impl Weights for HotColdView<'_> {
    #[inline]
    fn read(&self, j: usize) -> f32 {
        let (_, slot) = self.slot(j);
        self.shared[j].load(Relaxed) + self.delta[slot]
    }
}

impl WeightsMut for HotColdView<'_> {
    #[inline]
    fn add(&mut self, j: usize, delta: f32) {
        let (hot, slot) = self.slot(j);
        self.delta[slot + usize::from(!hot)] += delta;
        let cell = std::hint::select_unpredictable(hot, &self.scratch, &self.shared[j]);
        cell.store(cell.load(Relaxed) + delta, Relaxed);
    }
}

impl<'a> Buffer for HotColdView<'a> {
    type View = Self;

    #[inline]
    fn view(&mut self) -> &mut Self {
        self
    }

    fn merge(&mut self) {
        for (s, &j) in self.hot.iter().enumerate() {
            let d = std::mem::replace(&mut self.delta[s], 0.0);
            if d != 0.0 {
                self.shared[j as usize].fetch_add(d, Relaxed);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::policy::Worker;

    #[test]
    fn hot_weights_merge_every_interval_and_on_finish_and_drop() {
        let store = WeightStore::zeros(3);
        let rule = HotColdRule::new(&[2, 0], 3, 3).unwrap();
        assert_eq!(rule.hot(), &[0, 2]);
        let mut w = rule.worker(&store);
        w.update(|v| {
            v.add(0, 1.0);
            v.add(1, 2.0);
            v.add(2, 3.0);
            assert_eq!((v.read(0), v.read(1), v.read(2)), (1.0, 2.0, 3.0));
        });
        assert_eq!(
            store.snapshot(),
            vec![0.0, 2.0, 0.0],
            "only the cold weight is written at once"
        );
        w.finish();
        assert_eq!(store.snapshot(), vec![1.0, 2.0, 3.0]);
        w.update(|v| v.add(0, 1.0));
        drop(w);
        assert_eq!(store.get(0), 2.0, "dropping a worker merges it");
    }

    #[test]
    fn no_hot_weights_is_racy_and_all_hot_is_batched() {
        let cold = WeightStore::zeros(2);
        let none = HotColdRule::new(&[], 2, 4).unwrap();
        let mut w = none.worker(&cold);
        w.update(|v| v.add(1, 1.5));
        assert_eq!(cold.get(1), 1.5);
        let all = WeightStore::zeros(2);
        let rule = HotColdRule::new(&[0, 1], 2, 2).unwrap();
        let mut w = rule.worker(&all);
        w.update(|v| v.add(1, 1.5));
        assert_eq!(all.get(1), 0.0);
        w.update(|v| v.add(0, 1.0));
        assert_eq!(all.snapshot(), vec![1.0, 1.5]);
    }

    #[test]
    fn bad_splits_are_errors() {
        assert!(HotColdRule::new(&[3], 3, 1)
            .unwrap_err()
            .to_string()
            .contains("index 3"));
        assert!(HotColdRule::new(&[1, 1], 3, 1)
            .unwrap_err()
            .to_string()
            .contains("twice"));
        assert!(HotColdRule::new(&[1], 3, 0).is_err());
    }

    #[test]
    fn concurrent_hot_merges_lose_nothing() {
        let store = WeightStore::zeros(2);
        let rule = HotColdRule::new(&[0], 2, 7).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let mut w = rule.worker(&store);
                    for _ in 0..1000 {
                        w.update(|v| v.add(0, 1.0));
                    }
                    w.finish();
                });
            }
        });
        assert_eq!(store.get(0), 4000.0);
    }
}
