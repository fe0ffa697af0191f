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

/// The shape rule: an automatic choice from the problem's shape and the
/// thread count alone, without a replay. The trainer decides with
/// [`decide`] (the coherence simulator); this rule is what the mesh's
/// cortices use (they train on routed subsets of rows a replay of the
/// first rows would not represent) and what [`resolve`](super::resolve)
/// applies when handed `Auto`.
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

/// How far above the sequential loop's loss a candidate's simulated loss
/// may end on the probe and still be picked: the equivalence suite's
/// tolerance.
pub const AUTO_LOSS_SLACK: f64 = 0.01;

/// The most memory [`decide`] lets one candidate's replay give its virtual
/// workers' private state (a touched replica is 8 bytes and a bit per
/// weight per worker): a candidate that would need more is left out, and
/// the reason says so. 256 MiB: 16 workers on rank-32 factorisation's
/// 1.9M weights fit, 16 on a word2vec model of 20M weights do not.
pub const AUTO_REPLAY_BYTES: u64 = 256 << 20;

/// The most samples [`decide`] replays per candidate: the trainer's epochs
/// over the first [`PROBE_SAMPLES`] rows, as many of them as fit.
pub const AUTO_REPLAY_SAMPLES: usize = 16_384;

/// [`decide`] replays each candidate for at most 1/`AUTO_REPLAY_SHARE` of
/// the samples the run will train on (but at least [`AUTO_REPLAY_MIN`]): a
/// replayed sample costs about 15 trained ones (10.7 µs against 0.7 µs on
/// the SpamAssassin set, 2-vCPU AMD EPYC), so with the sequential replay
/// and three candidates the decision costs about a quarter of the run on
/// tiny jobs and a few percent on large ones.
pub const AUTO_REPLAY_SHARE: usize = 256;

/// See [`AUTO_REPLAY_SHARE`].
pub const AUTO_REPLAY_MIN: usize = 1_024;

/// A buffering candidate's replay covers at least this many of its merge
/// intervals on every worker (longer than [`AUTO_REPLAY_SHARE`] allows if
/// need be, and left out if that exceeds [`AUTO_REPLAY_SAMPLES`]): a replay
/// in which each worker merged once or twice lets a strategy through whose
/// staleness shows only later (measured: `delayed:66` at 16 workers on a
/// Zipf problem was within 1% of sequential on 1,024 replayed samples and
/// +1,008% on 16,384).
pub const AUTO_MERGES_SEEN: usize = 4;

/// The plain loop's 1-thread cost per sample the automatic choice prices
/// the simulator's counts against, estimated from the probe's writes per
/// sample: `AUTO_SAMPLE_NS + AUTO_WRITE_NS × writes`. A rough fit to the
/// 1-thread column of the 16-core machine (`shared/DEVICE.md`): 61 writes
/// → 850 ns (measured 725–925), 75 → 980 (990), 257 → 2,610 (2,330);
/// rank-32 factorisation's contiguous rows run faster (350 ns for 66
/// writes), which only makes its few transfers look dearer than they are.
pub const AUTO_SAMPLE_NS: f64 = 300.0;
/// See [`AUTO_SAMPLE_NS`].
pub const AUTO_WRITE_NS: f64 = 9.0;

/// What a whole-copy replica's merge adds per weight walked, and a touched
/// replica per write (bitmap, slot, and the merge's `fetch_add`), on one
/// thread, over the plain loop: fitted on the 1-thread rows of
/// `benches/results/2core-epyc/replicas/` (Zipf whole copy every 1,024
/// samples 0.51x of plain: 7 ns a weight walked; touched every 64, 0.29x,
/// and rank-32 factorisation, 0.14x: 11 ns a write, both). The
/// simulator's own table ([`base_ratio`](super::coherence::base_ratio))
/// has one ratio per policy; a replica's cost depends on which kind it is.
pub const REPLICA_WALK_NS: f64 = 7.0;
/// See [`REPLICA_WALK_NS`].
pub const REPLICA_WRITE_NS: f64 = 11.0;

/// The automatic choice decided by the coherence simulator
/// ([`coherence`](super::coherence)): the candidates the problem's shape
/// allows — [`Racy`](Policy::Racy); a hot/cold split of the weights written
/// in at least 1 of [`AUTO_EVERY`] samples, when there are any; delayed
/// updates ([`Merge::Sum`]) every `max(64, weights / writes per sample)`
/// samples — are each replayed at `threads` virtual workers on the first
/// [`PROBE_SAMPLES`] samples (one epoch, the trainer's schedule and seed),
/// next to the sequential loop on the same samples. Of the candidates whose
/// simulated loss ends within [`AUTO_LOSS_SLACK`] of the sequential loss
/// (`Racy` always qualifies: it is the Hogwild! baseline), the one with
/// the highest predicted speed-up wins; the reason lists every candidate's
/// prediction. One thread: `Racy`, with no replay (nothing contends).
///
/// The prediction is the simulator's, fitted on the 16-core machine's
/// figures; on a machine unlike it the pick may not be the fastest there.
///
/// ```
/// use wildsgd::data::Synthetic;
/// use wildsgd::policy::{decide, Policy, Touches};
/// use wildsgd::{Linear, Loss, Model, Schedule};
///
/// let data = Synthetic { rows: 3_000, features: 2_000, ..Synthetic::default() }.generate()?;
/// let model = Linear::new(Loss::Logistic, 2_000).bias(true);
/// let start = vec![0.0; model.n_weights()];
/// let touches = Touches::probe(&model, &data, &start, 1_000, 0.1, 1)?;
/// let one = decide(&model, &data, &touches, &Schedule::default(), 1, 1, 5)?;
/// assert_eq!(one.policy, Policy::Racy);
/// let sixteen = decide(&model, &data, &touches, &Schedule::default(), 1, 16, 5)?;
/// assert!(sixteen.reason.contains("predicted"), "{}", sixteen.reason);
/// # Ok::<(), wildsgd::Error>(())
/// ```
///
/// # Errors
/// Data the model rejects (the replays run its steps), or an invalid
/// schedule.
pub fn decide<M: Model>(
    model: &M,
    data: &M::Data,
    touches: &Touches,
    schedule: &crate::schedule::Schedule,
    seed: u64,
    threads: usize,
    epochs: usize,
) -> Result<Choice, crate::error::Error> {
    use super::coherence::{self, Settings, MAX_WORKERS};
    if threads <= 1 {
        return Ok(choose(touches, model.n_weights(), threads));
    }
    let dim = model.n_weights();
    let per = touches.per_sample();
    let workers = threads.min(MAX_WORKERS);
    let mut candidates = vec![Policy::Racy];
    if !touches
        .written_at_least(1.0 / AUTO_EVERY as f64, AUTO_MAX_HOT)
        .is_empty()
    {
        candidates.push(Policy::HotCold {
            hot: AUTO_MAX_HOT,
            every: AUTO_EVERY,
        });
    }
    let delayed = Policy::Replicas {
        every: ((dim as f64 / per.max(1.0)).ceil() as usize).max(64),
        merge: Merge::Sum,
    };
    let replica_bytes = crate::limits::bytes(workers as u64 * dim as u64, 8) + (workers * dim) as u64 / 8;
    let mut left_out = String::new();
    if replica_bytes <= AUTO_REPLAY_BYTES
        && crate::limits::check_memory("the replay of delayed updates", replica_bytes).is_ok()
    {
        candidates.push(delayed);
    } else {
        left_out = format!(
            "; {delayed} not replayed ({} MiB of replicas for {workers} workers)",
            replica_bytes >> 20
        );
    }
    let budget =
        (data.len().saturating_mul(epochs.max(1)) / AUTO_REPLAY_SHARE).clamp(AUTO_REPLAY_MIN, AUTO_REPLAY_SAMPLES);
    let base = Settings {
        schedule: *schedule,
        seed,
        loss_rows: PROBE_SAMPLES,
        plain_ns: AUTO_SAMPLE_NS + AUTO_WRITE_NS * per,
        sequential: false,
        ..Settings::default()
    };
    let plain_ns = base.plain_ns;
    let ratio = |p: Policy| match p {
        Policy::Replicas { every, .. } if dim / every <= super::rule::DENSE_PER_SAMPLE => {
            Some(1.0 + REPLICA_WALK_NS * dim as f64 / every as f64 / plain_ns)
        }
        Policy::Replicas { .. } => Some(1.0 + REPLICA_WRITE_NS * per / plain_ns),
        _ => None,
    };
    // A buffering candidate is judged on at least AUTO_MERGES_SEEN merge
    // intervals of every worker: fewer say nothing about its staleness.
    let interval = |p: Policy| match p {
        Policy::HotCold { every, .. } | Policy::Replicas { every, .. } => every,
        Policy::Batched { size } => size,
        _ => 1,
    };
    let span = |p: Policy| {
        let need = budget.max(AUTO_MERGES_SEEN * interval(p) * workers);
        let rows = PROBE_SAMPLES.min(data.len()).min(need).max(1);
        (rows, epochs.clamp(1, need.div_ceil(rows)), need)
    };
    let mut sequential: Vec<((usize, usize), f64)> = Vec::new();
    let mut best: Option<(Policy, f64)> = None;
    let mut lines = Vec::with_capacity(candidates.len());
    for &p in &candidates {
        let (rows, replay_epochs, need) = span(p);
        if p != Policy::Racy && need > AUTO_REPLAY_SAMPLES {
            left_out.push_str(&format!(
                "; {p} not replayed ({AUTO_MERGES_SEEN} merge intervals of {workers} workers need {need} samples)"
            ));
            continue;
        }
        let settings = Settings {
            epochs: replay_epochs,
            rows: Some(rows),
            base_ratio: ratio(p),
            ..base.clone()
        };
        let seq = match sequential.iter().find(|(k, _)| *k == (rows, replay_epochs)) {
            Some(&(_, l)) => l,
            None => {
                let l = coherence::replay(model, data, Policy::Sequential, 1, &settings)?.final_loss;
                sequential.push(((rows, replay_epochs), l));
                l
            }
        };
        let sim = coherence::simulate(model, data, p, workers, &settings)?;
        let gap = sim.final_loss / seq.max(f64::MIN_POSITIVE) - 1.0;
        let eligible = p == Policy::Racy || (sim.final_loss.is_finite() && gap <= AUTO_LOSS_SLACK);
        lines.push(format!(
            "{p} {:.1}x{} on {} sample{}",
            sim.predicted_speedup,
            if eligible {
                String::new()
            } else {
                format!(" (loss {:+.1}%: out)", 100.0 * gap)
            },
            sim.samples,
            if sim.samples == 1 { "" } else { "s" },
        ));
        if eligible && best.is_none_or(|(_, s)| sim.predicted_speedup > s) {
            best = Some((p, sim.predicted_speedup));
        }
    }
    let (policy, _) = best.expect("racy is always eligible");
    Ok(Choice {
        policy,
        reason: format!(
            "simulated at {workers} workers; predicted speed-up: {}{left_out}",
            lines.join(", ")
        ),
    })
}
