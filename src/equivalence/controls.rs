//! Negative controls: rules a harness must reject.

use std::collections::VecDeque;

use serde::Serialize;

use crate::model::{Weights, WeightsMut};
use crate::policy::{UpdateRule, Worker};
use crate::store::WeightStore;
use crate::sync::{AtomicF32, Ordering::Relaxed};

/// A deliberately degraded update rule, for negative controls: each worker
/// reads the current shared weights but applies every sample's update `tau`
/// samples late (its own later samples, so on one thread the run is
/// deterministic). Adds land as under [`Policy::Racy`](crate::policy::Policy::Racy).
///
/// With staleness this large the iterates lag and overshoot, and the run
/// converges measurably above `Sequential`; an equivalence harness must
/// reject it. Each worker allocates its delay buffer once.
///
/// ```
/// use wildsgd::equivalence::LaggedRule;
/// use wildsgd::{data::Synthetic, Linear, Loss, Policy, Trainer};
///
/// let train = Synthetic { rows: 2_000, features: 500, ..Synthetic::default() }.generate()?;
/// let model = Linear::new(Loss::Logistic, train.n_features()).bias(true);
/// let trainer = Trainer::new().epochs(2).policy(Policy::Sequential);
/// let late = trainer.job(&model, &train).run_with_rule(LaggedRule::new(0), "lagged")?;
/// assert_eq!(late.weights, trainer.fit(&model, &train)?.weights); // tau = 0: no delay
/// # Ok::<(), wildsgd::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LaggedRule {
    /// How many samples late each update lands.
    pub tau: usize,
}

impl LaggedRule {
    /// Updates land `tau` samples late.
    pub fn new(tau: usize) -> Self {
        LaggedRule { tau }
    }
}

impl UpdateRule for LaggedRule {
    type Worker<'a> = LaggedWorker<'a>;

    fn worker<'a>(&'a self, store: &'a WeightStore) -> LaggedWorker<'a> {
        LaggedWorker {
            view: LaggedView {
                weights: store.atomics(),
                pending: VecDeque::with_capacity(self.tau.saturating_mul(128).min(1 << 22)),
            },
            counts: VecDeque::with_capacity(self.tau + 1),
            tau: self.tau,
        }
    }
}

/// A [`LaggedRule`] worker: the view and the per-sample counts of its pending
/// adds.
#[derive(Debug)]
pub struct LaggedWorker<'a> {
    view: LaggedView<'a>,
    counts: VecDeque<usize>,
    tau: usize,
}

/// The view of a [`LaggedRule`] worker: reads the shared weights, queues adds.
#[derive(Debug)]
pub struct LaggedView<'a> {
    weights: &'a [AtomicF32],
    pending: VecDeque<(usize, f32)>,
}

impl Weights for LaggedView<'_> {
    #[inline]
    fn read(&self, j: usize) -> f32 {
        self.weights[j].load(Relaxed)
    }
}

impl WeightsMut for LaggedView<'_> {
    #[inline]
    fn add(&mut self, j: usize, delta: f32) {
        self.pending.push_back((j, delta));
    }
}

impl LaggedWorker<'_> {
    /// Applies the oldest queued sample's adds.
    fn apply_oldest(&mut self) {
        let Some(count) = self.counts.pop_front() else {
            return;
        };
        for (j, delta) in self.view.pending.drain(..count) {
            let w = &self.view.weights[j];
            w.store(w.load(Relaxed) + delta, Relaxed);
        }
    }
}

impl<'a> Worker for LaggedWorker<'a> {
    type View = LaggedView<'a>;

    fn update<R>(&mut self, f: impl FnOnce(&mut LaggedView<'a>) -> R) -> R {
        let before = self.view.pending.len();
        let r = f(&mut self.view);
        self.counts.push_back(self.view.pending.len() - before);
        while self.counts.len() > self.tau {
            self.apply_oldest();
        }
        r
    }

    fn finish(&mut self) {
        while !self.counts.is_empty() {
            self.apply_oldest();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delayed_rule_applies_late_then_flushes() {
        let store = WeightStore::zeros(2);
        let rule = LaggedRule::new(2);
        let mut w = rule.worker(&store);
        w.update(|v| v.add(0, 1.0));
        w.update(|v| v.add(1, 1.0));
        assert_eq!(store.snapshot(), vec![0.0, 0.0]);
        w.update(|v| {
            assert_eq!(v.read(0), 0.0, "not yet applied");
            v.add(0, 1.0)
        });
        assert_eq!(store.snapshot(), vec![1.0, 0.0]);
        w.finish();
        assert_eq!(store.snapshot(), vec![2.0, 1.0]);
    }
}
