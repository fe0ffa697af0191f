use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;

use super::{Merge, Policy};
use crate::data::Dataset;
use crate::model::{Model, Step, Weights, WeightsMut};

/// Samples [`Touches::probe`] steps through when the trainer probes a
/// problem (fewer when the data is smaller).
pub const PROBE_SAMPLES: usize = 4096;

/// Merge interval of the hot/cold split the automatic choice makes: a
/// weight written in at least 1 of this many samples is hot.
pub const AUTO_EVERY: usize = 32;

/// The fewest threads at which the automatic choice splits hot weights off.
///
/// A [`HotColdRule`](super::rule::HotColdRule) view costs about 2x `Racy`'s per-sample
/// work on one thread (measured on RCV1-shaped rows, AMD EPYC), so it only
/// pays where contention costs more than that. At 2 threads it measured
/// slower than `Racy` here; on the team's 16-core Intel machine a naive
/// Hogwild! loop on Zipf data ran at 1.6–1.9x the 1-thread rate at 4 threads
/// (contention already costs about 2x per sample) and 2.5x at 16 threads
/// (about 6x per sample), and buffering the 512 hottest weights lifted 16
/// threads from 3.3M to 5.4M samples/s. Hence 8.
pub const AUTO_HOTCOLD_THREADS: usize = 8;

/// The most hot weights the automatic choice buffers per worker.
pub const AUTO_MAX_HOT: usize = super::rule::MAX_HOT;

/// How often a model's steps write each weight, counted on a sample of the
/// data: the shape of a problem as contention sees it.
///
/// Model-agnostic: the probe runs the model's own [`step`](Model::step) on a
/// private copy of the weights through a view that counts `add`s, so it
/// works for any model, built in or not.
///
/// ```
/// use wildsgd::data::Synthetic;
/// use wildsgd::policy::Touches;
/// use wildsgd::{Linear, Loss, Model};
///
/// let data = Synthetic { rows: 2_000, features: 5_000, ..Synthetic::default() }.generate().unwrap();
/// let model = Linear::new(Loss::Logistic, 5_000);
/// let t = Touches::probe(&model, &data, &vec![0.0; model.n_weights()], 1_000, 0.1, 7).unwrap();
/// assert_eq!(t.samples(), 1_000);
/// let hot = t.written_at_least(1.0 / 32.0, usize::MAX);
/// // Zipf popularity: a few weights take a large share of all writes.
/// assert!(hot.len() < 500 && t.share(&hot) > 0.3);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Touches {
    counts: Vec<u32>,
    samples: usize,
    writes: u64,
}

/// A view that applies `add`s to a private copy and counts them.
struct Counting<'a> {
    w: &'a mut [f32],
    counts: &'a mut [u32],
}

impl Weights for Counting<'_> {
    fn read(&self, j: usize) -> f32 {
        self.w[j]
    }
}

impl WeightsMut for Counting<'_> {
    fn add(&mut self, j: usize, delta: f32) {
        self.w[j] += delta;
        self.counts[j] = self.counts[j].saturating_add(1);
    }
}

impl Touches {
    /// Steps `model` with learning rate `lr` on up to `samples` rows of
    /// `data` (a seeded random subset, in random order), starting from a copy
    /// of `weights` (the model's [`dim`](Model::n_weights) of them), and counts
    /// every weight's writes. Validate the data first
    /// ([`Model::validate`]): the probe runs the model's steps on it.
    pub fn probe<M: Model>(
        model: &M,
        data: &M::Data,
        weights: &[f32],
        samples: usize,
        lr: f32,
        seed: u64,
    ) -> Result<Self, crate::error::Error> {
        Self::probe_rows(model, data, None, weights, samples, lr, seed)
    }

    /// [`probe`](Self::probe) restricted to the rows `rows` of `data` (all
    /// rows when `None`).
    pub fn probe_rows<M: Model>(
        model: &M,
        data: &M::Data,
        rows: Option<&[u32]>,
        weights: &[f32],
        samples: usize,
        lr: f32,
        seed: u64,
    ) -> Result<Self, crate::error::Error> {
        if weights.len() != model.n_weights() {
            return Err(crate::error::Error::LengthMismatch {
                what: "weights for this model",
                expected: model.n_weights(),
                found: weights.len(),
            });
        }
        if let Some(&r) = rows.and_then(|rows| rows.iter().find(|&&r| r as usize >= data.len())) {
            return Err(crate::error::Error::InvalidSample {
                row: r as usize,
                reason: format!("a probe row beyond the data's {} samples", data.len()),
            });
        }
        let n = rows.map_or(data.len(), <[u32]>::len);
        let k = samples.min(n);
        let mut w = weights.to_vec();
        let mut counts = vec![0u32; w.len()];
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x7041_C4E5);
        for r in rand::seq::index::sample(&mut rng, n, k) {
            let i = rows.map_or(r, |rows| rows[r] as usize);
            let mut view = Counting {
                w: &mut w,
                counts: &mut counts,
            };
            model.step(&mut view, data.sample(i), Step { lr, epoch: 0, index: i });
        }
        let writes = counts.iter().map(|&c| u64::from(c)).sum();
        Ok(Touches {
            counts,
            samples: k,
            writes,
        })
    }

    /// The samples probed.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Writes to weight `j`.
    pub fn count(&self, j: usize) -> u32 {
        self.counts[j]
    }

    /// The mean number of writes per sample.
    pub fn per_sample(&self) -> f64 {
        self.writes as f64 / self.samples.max(1) as f64
    }

    /// The weights written at least `rate × samples` times (and at least
    /// once), most written first, at most `max` of them.
    pub fn written_at_least(&self, rate: f64, max: usize) -> Vec<usize> {
        let floor = (rate * self.samples as f64).max(1.0);
        let mut hot: Vec<usize> = (0..self.counts.len())
            .filter(|&j| f64::from(self.counts[j]) >= floor)
            .collect();
        hot.sort_by_key(|&j| (std::cmp::Reverse(self.counts[j]), j));
        hot.truncate(max);
        hot
    }

    /// The share of all writes that went to `weights`.
    pub fn share(&self, weights: &[usize]) -> f64 {
        let part: u64 = weights.iter().map(|&j| u64::from(self.counts[j])).sum();
        part as f64 / self.writes.max(1) as f64
    }
}

/// What [`Policy::Auto`] resolved to, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    /// The concrete policy.
    pub policy: Policy,
    /// The reason, in words (for reports and logs).
    pub reason: String,
}

/// The automatic choice, from the problem's shape and the thread count.
///
/// - One thread: [`Racy`](Policy::Racy); nothing contends, and no strategy
///   beats a bare load/store.
/// - Dense steps (a sample writes at least a quarter of the model, e.g.
///   softmax): every cache line is contended on every sample, so each worker
///   trains a replica and merges every `max(64, dim / writes per sample)`
///   samples by sum ([`Merge::Sum`]: delayed updates, which keep the
///   sequential step size; averaging would divide it by the thread count).
///   Measured at 2 threads on a dense 256-feature problem: 1.45–1.68x the
///   plain loop's time-to-target, against 1.31x for `Racy`.
/// - Skewed sparse steps (the weights written in at least 1 of
///   [`AUTO_EVERY`] samples take at least 10% of all writes) on at least
///   [`AUTO_HOTCOLD_THREADS`] threads: a hot/cold split of those weights,
///   merged every [`AUTO_EVERY`] samples.
/// - Otherwise (fewer threads, or uniform sparse writes with rare
///   conflicts): [`Racy`](Policy::Racy).
pub fn choose(touches: &Touches, dim: usize, threads: usize) -> Choice {
    let per = touches.per_sample();
    if threads <= 1 {
        return Choice {
            policy: Policy::Racy,
            reason: "one thread: nothing contends".into(),
        };
    }
    if per >= 0.25 * dim as f64 {
        let every = ((dim as f64 / per.max(1.0)).ceil() as usize).max(64);
        return Choice {
            policy: Policy::Replicas {
                every,
                merge: Merge::Sum,
            },
            reason: format!("dense steps ({per:.0} writes per sample of {dim} weights): per-worker replicas"),
        };
    }
    let hot = touches.written_at_least(1.0 / AUTO_EVERY as f64, AUTO_MAX_HOT);
    let share = touches.share(&hot);
    if threads < AUTO_HOTCOLD_THREADS {
        return Choice {
            policy: Policy::Racy,
            reason: format!(
                "sparse steps on {threads} threads (hot weights take {:.0}% of writes; a hot/cold split pays from {AUTO_HOTCOLD_THREADS} threads)",
                100.0 * share
            ),
        };
    }
    if !hot.is_empty() && share >= 0.10 {
        return Choice {
            policy: Policy::HotCold {
                hot: hot.len(),
                every: AUTO_EVERY,
            },
            reason: format!(
                "skewed writes: {} hot weights take {:.0}% of writes",
                hot.len(),
                100.0 * share
            ),
        };
    }
    Choice {
        policy: Policy::Racy,
        reason: format!("sparse, even writes (hot weights take {:.0}% of writes)", 100.0 * share),
    }
}
