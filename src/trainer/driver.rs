//! The one epoch loop. Every way of training — a job under any policy, the
//! plain baseline, the mesh, word2vec's per-epoch pairs — is an [`Engine`]
//! driven here, so orders, schedules, evaluation points, tail averaging, the
//! divergence guard, stop requests, hooks and reports behave the same for all.

use std::ops::Range;
use std::time::Instant;

use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;

use super::ranks::{Figures, Ranks};
use super::report::{BackOff, EpochReport, Outcome, Report, TracePoint, Trained};
use super::{Control, EpochReportHook, Order, ProgressHook, Schedule, Trainer, WeightsHook};
use crate::cluster::Weights;
use crate::data::Dataset;
use crate::error::Error;
use crate::schedule::once_permutation;

/// The minimum number of points at which tail averaging samples the iterates.
const AVERAGE_POINTS: usize = 16;

/// How one epoch's updates are applied, and how the weights they produce are
/// read; the driver around it is shared.
pub(crate) trait Engine {
    /// The dataset the engine trains on.
    type Data: Dataset + ?Sized;
    /// The name reports give the policy.
    fn name(&self) -> String;
    /// Worker threads.
    fn threads(&self) -> usize;
    /// Checks that `data` fits the model(s) before it is trained on.
    fn validate(&self, data: &Self::Data) -> Result<(), Error>;
    /// Applies the samples at positions `span` of `visit.order` (all of
    /// them, or one exchange interval of a data-parallel job), with workers
    /// that live throughout the span and have merged everything when it
    /// returns: at each of `points` (non-decreasing positions within
    /// `span`) every worker stops after the samples before it and `pause`
    /// runs with the workers idle and nothing merged. Returns the samples
    /// applied: all of them unless a raised stop flag ended the span early.
    fn epoch(
        &mut self,
        visit: &Visit<'_, Self::Data>,
        sched: &Schedule,
        epoch: usize,
        span: Range<usize>,
        points: &[usize],
        pause: &mut dyn FnMut(&Self),
    ) -> u64;
    /// The training objective (mean loss plus penalty) over `rows` of `data`
    /// (all of them when `None`) and the accuracy for classifiers.
    fn objective(
        &self,
        pool: &rayon::ThreadPool,
        data: &Self::Data,
        rows: Option<&[u32]>,
        epoch: usize,
    ) -> (f64, Option<f64>);
    /// The mean loss on validation data, and its accuracy.
    fn validation(&self, pool: &rayon::ThreadPool, data: &Self::Data, epoch: usize) -> (f64, Option<f64>);
    /// Whether every weight is finite.
    fn all_finite(&self) -> bool;
    /// What is non-finite among the weights, if anything (for the
    /// divergence guard's message).
    fn non_finite(&self) -> Option<String> {
        (!self.all_finite()).then(|| "a weight is NaN or infinite".to_string())
    }
    /// Copies all weights into `out`.
    fn snapshot_into(&self, out: &mut Vec<f32>);
    /// Overwrites all weights.
    fn load(&mut self, weights: &[f32]);
    /// Overwrites the weights at `at` (possibly repeated) with those of
    /// `weights` there (a full-length vector).
    fn load_some(&mut self, at: &[u32], weights: &[f32]) {
        let _ = at;
        self.load(weights);
    }
    /// The indices of the weights that differ from `base` (for an
    /// exchange; by default from a copy).
    fn changed_from(&self, base: &[f32], out: &mut Vec<u32>) {
        let mut now = Vec::new();
        self.snapshot_into(&mut now);
        Weights::changed_from(&now, base, out);
    }
    /// Appends the weights at `at` to `out` (by default from a copy).
    fn values_at(&self, at: &[u32], out: &mut Vec<f32>) {
        let mut now = Vec::new();
        self.snapshot_into(&mut now);
        Weights::values_at(&now, at, out);
    }
    /// Called after each epoch that ended finite (the mesh records its
    /// cortices' losses here).
    fn end_epoch(&mut self, pool: &rayon::ThreadPool, data: &Self::Data, epoch: usize) {
        let _ = (pool, data, epoch);
    }
}

impl<E: Engine> Weights for E {
    fn copy_into(&self, out: &mut Vec<f32>) {
        self.snapshot_into(out);
    }

    fn set_all(&mut self, weights: &[f32]) {
        self.load(weights);
    }

    fn set_some(&mut self, at: &[u32], weights: &[f32]) {
        self.load_some(at, weights);
    }

    fn changed_from(&self, base: &[f32], out: &mut Vec<u32>) {
        Engine::changed_from(self, base, out);
    }

    fn values_at(&self, at: &[u32], out: &mut Vec<f32>) {
        Engine::values_at(self, at, out);
    }
}

/// One epoch's visit of the training rows: the rows as trained on (the
/// once-shuffled copy, or the data as given), the positions in them in
/// visiting order, and the original row of each position of a copy (what
/// [`Step::index`](crate::model::Step::index) names, so a model's draws
/// follow the row, not where the shuffle put it).
pub(crate) struct Visit<'a, D: ?Sized> {
    pub(crate) data: &'a D,
    pub(crate) order: &'a [u32],
    pub(crate) names: Option<&'a [u32]>,
    /// Whether to prefetch rows and weights ahead of the loop.
    pub(crate) prefetch: bool,
    /// The samples of the run before position 0 of `order` (what a
    /// per-sample schedule counts): `epoch * order.len()` for a whole
    /// epoch, more for a later window of a streamed one.
    pub(crate) base: u64,
}

impl<D: ?Sized> Visit<'_, D> {
    /// The original row of position `i` of [`data`](Self::data).
    #[inline]
    pub(crate) fn index(&self, i: usize) -> usize {
        match self.names {
            Some(names) => names[i] as usize,
            None => i,
        }
    }
}

/// The once-per-run shuffled copy of the training rows an order reads
/// (`None` under [`Order::Full`], or when the data is used as given).
struct Shuffled<D: ?Sized> {
    /// The data length and epoch (for per-epoch data) it was made for.
    made_for: (usize, Option<usize>),
    copy: Option<(Box<D>, Vec<u32>)>,
}

/// Makes (or keeps) the shuffled copy of `data` the trainer's order needs,
/// and returns the order actually used: [`Order::Full`] when the data's
/// type cannot copy itself or memory does not allow a copy, with the reason.
fn shuffle_once<D: Dataset + ?Sized>(
    t: &Trainer,
    data: &D,
    epoch: Option<usize>,
    shuffled: &mut Shuffled<D>,
) -> (Order, Option<String>) {
    let order = t.order;
    if !order.shuffles_once() || t.rows_shuffled {
        shuffled.copy = None;
        return (order, None);
    }
    let n = data.len();
    if shuffled.copy.is_some() && shuffled.made_for == (n, epoch) {
        return (order, None);
    }
    shuffled.copy = None; // drop the last epoch's copy before making the next
    let bytes = crate::limits::bytes(n as u64, data.sample_bytes() as u64 + 4);
    if let Err(e) = crate::limits::check_memory("a shuffled copy of the training data", bytes) {
        return (Order::Full, Some(format!("no memory for a shuffled copy: {e}")));
    }
    let perm = once_permutation(t.seed, epoch, n);
    match data.gather(&perm) {
        Some(copy) => {
            shuffled.copy = Some((copy, perm));
            shuffled.made_for = (n, epoch);
            (order, None)
        }
        None => (
            Order::Full,
            Some("the dataset type cannot copy itself (Dataset::gather)".into()),
        ),
    }
}

/// Training data that may change from epoch to epoch: word2vec re-draws its
/// skip-gram pairs (sub-sampling and windows) for every epoch.
///
/// ```
/// use wildsgd::data::Pairs;
/// use wildsgd::trainer::EpochData;
/// use wildsgd::Error;
///
/// /// Epoch `e` trains on the first `e + 1` pairs.
/// struct Growing { all: Vec<(u32, u32)>, now: Pairs }
/// impl EpochData<Pairs> for Growing {
///     fn epoch(&mut self, epoch: usize) -> Result<&Pairs, Error> {
///         self.now = Pairs::new(self.all[..=epoch.min(self.all.len() - 1)].to_vec());
///         Ok(&self.now)
///     }
/// }
/// let mut g = Growing { all: vec![(0, 1), (1, 2), (2, 0)], now: Pairs::default() };
/// assert_eq!(g.epoch(1)?.as_slice(), &[(0, 1), (1, 2)]);
/// # Ok::<(), Error>(())
/// ```
pub trait EpochData<D: ?Sized> {
    /// The data of `epoch`. Called in increasing epoch order, and possibly
    /// twice for the first epoch (once to probe the policy): the same epoch
    /// must give the same data.
    fn epoch(&mut self, epoch: usize) -> Result<&D, Error>;
}

/// Where a job's training data comes from.
pub(crate) enum Train<'a, D: ?Sized> {
    /// The same data every epoch.
    Fixed(&'a D),
    /// The same data every epoch, already checked (length and
    /// [`Engine::validate`]) by the caller: a job that probed it, or the
    /// mesh, which validates before it routes and probes.
    Validated(&'a D),
    /// Data made for each epoch (each is validated).
    PerEpoch(Box<dyn EpochData<D> + 'a>),
    /// Data read from disk in windows each epoch ([`Streamed`](crate::data::Streamed)).
    Stream(&'a dyn crate::data::Windows<D>),
}

impl<D: ?Sized> Train<'_, D> {
    pub(crate) fn get(&mut self, epoch: usize) -> Result<&D, Error> {
        match self {
            Train::Fixed(d) | Train::Validated(d) => Ok(*d),
            Train::PerEpoch(src) => src.epoch(epoch),
            // What a probe or a policy decision looks at.
            Train::Stream(s) => Ok(s.sample()),
        }
    }

    /// Records that the caller has checked fixed data.
    pub(crate) fn mark_validated(&mut self) {
        if let Train::Fixed(d) = *self {
            *self = Train::Validated(d);
        }
    }
}

/// The caller's callbacks.
#[derive(Default)]
pub(crate) struct Hooks<'a> {
    pub(crate) on_epoch: Option<EpochReportHook<'a>>,
    pub(crate) on_weights: Option<WeightsHook<'a>>,
    pub(crate) on_progress: Option<ProgressHook<'a>>,
}

/// Training data must be non-empty, and sample orders are `u32`s.
pub(crate) fn check_training_len(n: usize) -> Result<(), Error> {
    if n == 0 {
        return Err(Error::EmptyDataset { what: "training" });
    }
    if n > u32::MAX as usize {
        return Err(Error::InvalidParameter {
            name: "training data",
            reason: format!("{n} samples; at most {} are supported", u32::MAX),
        });
    }
    Ok(())
}

/// Above this multiple of the starting objective, an epoch's end counts as
/// a blow-up: SGD's noise near an optimum moves the objective by far less,
/// and a run that ends an epoch worse than where it started has learned
/// nothing it can keep.
pub(crate) const BLOW_UP: f64 = 1.01;

/// The fewest rows a training objective measured on a subset
/// ([`Trainer::loss_rows`]) may have for the blow-up guard to trust it: on a
/// handful of rows one misclassified row lifts it above the start.
pub(crate) const GUARD_ROWS: usize = 100;

/// How many times a run backs off after a finite blow-up (the epoch run
/// again from the weights before it, every rate divided by 4) before it
/// gives up with [`Outcome::Diverged`]: 3, down to 1/64 of the rate.
pub const BACK_OFFS: usize = 3;

/// Why an epoch ending at objective `loss` has blown up, having started
/// from `start`: finite values the non-finite guard lets through (a lazy L2
/// step or a rate too large for the data makes weights large, not infinite).
pub(crate) fn worse_than_start(loss: f64, start: f64) -> Option<String> {
    (start.is_finite() && loss > BLOW_UP * start + f64::MIN_POSITIVE).then(|| {
        format!(
            "the training objective {loss:.6} is above the {start:.6} of the weights training started from \
             (a finite blow-up: the steps are too large for this data)"
        )
    })
}

/// The fixed seeded subset of `n` rows the training loss is measured on.
fn loss_subset(t: &Trainer, n: usize) -> Option<Vec<u32>> {
    t.loss_rows.filter(|&k| k < n).map(|k| {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(t.seed ^ 0x005E_ED0F_1055);
        let mut rows: Vec<u32> = rand::seq::index::sample(&mut rng, n, k)
            .iter()
            .map(|i| i as u32)
            .collect();
        rows.sort_unstable();
        rows
    })
}

/// The pause points of one epoch of `n` samples with `evals` evaluation
/// segments, each cut into `subs` averaging sub-segments: every inner
/// boundary, in order. Point `i` ends an evaluation segment when
/// `(i + 1) % subs == 0`.
fn pause_points(n: usize, evals: usize, subs: usize, out: &mut Vec<usize>) {
    out.clear();
    for s in 0..evals {
        let (start, end) = (s * n / evals, (s + 1) * n / evals);
        for u in 1..=subs {
            if s + 1 == evals && u == subs {
                break; // the epoch's end is not a pause
            }
            out.push(start + u * (end - start) / subs);
        }
    }
}

/// Runs `engine` for the trainer's epochs on `train`: as one rank of the
/// trainer's cluster when it has one, ending the whole job on an error.
pub(crate) fn drive<E: Engine>(
    t: &Trainer,
    engine: &mut E,
    train: &mut Train<'_, E::Data>,
    valid: Option<&E::Data>,
    hooks: Hooks<'_>,
    pool: &rayon::ThreadPool,
) -> Result<Trained, Error> {
    let Some(cluster) = t.get_cluster() else {
        return drive_ranks(t, engine, train, valid, hooks, pool, &mut None);
    };
    let mut ranks = Some(Ranks::new(cluster, t.get_exchange_every()));
    let result = drive_ranks(t, engine, train, valid, hooks, pool, &mut ranks).and_then(|mut trained| {
        ranks.take().expect("still there").finish(&mut trained)?;
        Ok(trained)
    });
    if let Err(e) = &result {
        cluster.abort(&e.to_string());
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn drive_ranks<E: Engine>(
    t: &Trainer,
    engine: &mut E,
    train: &mut Train<'_, E::Data>,
    valid: Option<&E::Data>,
    mut hooks: Hooks<'_>,
    pool: &rayon::ThreadPool,
    ranks: &mut Option<Ranks<'_>>,
) -> Result<Trained, Error> {
    t.check()?;
    if let Some(v) = valid {
        // A rank's share of the validation data may be empty (the job's
        // figures then come from the others).
        if v.is_empty() && ranks.is_none() {
            return Err(Error::EmptyDataset { what: "validation" });
        }
        engine.validate(v).map_err(|e| e.in_dataset("validation"))?;
    }
    let mut report = Report {
        policy: engine.name(),
        threads: engine.threads(),
        ..Report::default()
    };
    let mut shuffled = Shuffled {
        made_for: (0, None),
        copy: None,
    };
    let mut last_finite = Vec::new();
    engine.snapshot_into(&mut last_finite);
    if let Some(r) = ranks.as_mut() {
        r.start(&mut last_finite)?;
        engine.load(&last_finite);
    }
    let (mut order, mut points) = (Vec::new(), Vec::new());
    let (mut avg_sum, mut scratch) = (Vec::new(), Vec::new());
    let (mut total_samples, mut total_seconds) = (0u64, 0.0f64);
    let k = t.evals_per_epoch;
    let per_epoch = matches!(train, Train::PerEpoch(_));
    let mut validated = matches!(train, Train::Validated(_));
    // For data of this length.
    let mut loss_rows: Option<(usize, Option<Vec<u32>>)> = None;
    // The objective of the weights training starts from, for the guard
    // against finite blow-ups (measured only when the guard is on).
    let mut start_objective: Option<f64> = None;
    // The schedule, scaled down by each back-off.
    let mut schedule = t.schedule;
    let mut rate_factor = 1.0f32;

    let mut epoch = t.start_epoch;
    while epoch < t.epochs {
        let data = train.get(epoch)?;
        let n = data.len();
        if !validated {
            check_training_len(n)?;
            engine.validate(data).map_err(|e| e.in_dataset("training"))?;
            validated = !per_epoch;
        }
        if loss_rows.as_ref().is_none_or(|(len, _)| *len != n) {
            loss_rows = Some((n, loss_subset(t, n)));
        }
        let rows = loss_rows.as_ref().and_then(|(_, r)| r.as_deref());
        let epoch_start = Instant::now();
        let mut eval_seconds = 0.0f64;
        // The guard trusts the objective on all rows or on a subset of at
        // least GUARD_ROWS; it costs one objective pass, before epoch 1.
        let mut guarded = t.guards_blow_ups() && rows.is_none_or(|r| r.len() >= GUARD_ROWS);
        if let Some(r) = ranks.as_mut() {
            // Each rank's subset depends on its shard: the guard is on for
            // all or none, or the ranks' collectives would part ways.
            guarded = !r.any(!guarded)?;
        }
        if guarded && epoch == t.start_epoch && start_objective.is_none() {
            let clock = Instant::now();
            let mut start = engine.objective(pool, data, rows, epoch).0;
            if let Some(r) = ranks.as_mut() {
                // Weighted by the rows each mean stands for.
                start = r.agree_loss(start, n)?;
            }
            start_objective = Some(start);
            eval_seconds += clock.elapsed().as_secs_f64();
        }
        let (how, fallback) = shuffle_once(t, data, per_epoch.then_some(epoch), &mut shuffled);
        let block = how.block(data.sample_bytes(), n);
        if report.order.is_empty() || fallback.is_some() {
            report.order = match fallback {
                Some(why) => format!("full (instead of {}: {why})", t.order.describe(block)),
                None => how.describe(block),
            };
        }
        order.resize(n, 0);
        how.fill(t.seed, epoch, block, &mut order);
        let visit = match &shuffled.copy {
            Some((copy, perm)) => Visit {
                data: &**copy,
                order: &order,
                names: Some(perm),
                prefetch: t.prefetch,
                base: (epoch * n) as u64,
            },
            None => Visit {
                data,
                order: &order,
                names: None,
                prefetch: t.prefetch,
                base: (epoch * n) as u64,
            },
        };
        let average = t.average && epoch + 1 == t.epochs;
        // Averaging samples the iterates at AVERAGE_POINTS (or more) evenly
        // spaced points of the epoch: exact under every policy and thread
        // count, and nothing added to the per-sample path.
        let subs = if average { AVERAGE_POINTS.div_ceil(k) } else { 1 };
        pause_points(n, k, subs, &mut points);
        if average {
            avg_sum.clear();
            avg_sum.resize(last_finite.len(), 0.0f64);
        }

        let (mut paused, mut pause_seconds) = (0usize, 0.0f64);
        let clock = Instant::now();
        let mut pause = |e: &E| {
            let i = paused;
            paused += 1;
            if t.stop_requested() {
                return; // the epoch is being abandoned: measure nothing
            }
            let pause_clock = Instant::now();
            let updating = clock.elapsed().as_secs_f64() - pause_seconds;
            if average {
                e.snapshot_into(&mut scratch);
                for (a, &w) in avg_sum.iter_mut().zip(&scratch) {
                    *a += f64::from(w);
                }
            }
            if (i + 1) % subs == 0 {
                let s = (i + 1) / subs - 1;
                let eval_clock = Instant::now();
                let (loss, _) = e.objective(pool, data, rows, epoch);
                eval_seconds += eval_clock.elapsed().as_secs_f64();
                report.trace.push(TracePoint {
                    epoch,
                    samples: total_samples + ((s + 1) * n / k) as u64,
                    update_seconds: total_seconds + updating,
                    loss,
                });
            }
            pause_seconds += pause_clock.elapsed().as_secs_f64();
        };
        let (applied, stopping) = match ranks.as_mut() {
            None => (
                engine.epoch(&visit, &schedule, epoch, 0..n, &points, &mut pause),
                t.stop_requested(),
            ),
            Some(r) => {
                // Every rank cuts its epoch into the same number of
                // intervals and exchanges after each; a stop request
                // anywhere stops every rank at the same exchange.
                let intervals = r.intervals(n)?;
                let (mut applied, mut stopping, mut at) = (0, false, 0);
                for j in 0..intervals {
                    let span = crate::cluster::part(n, j, intervals);
                    let end = at + points[at..].iter().take_while(|&&p| p < span.end).count();
                    applied += engine.epoch(&visit, &schedule, epoch, span, &points[at..end], &mut pause);
                    at = end;
                    if r.exchange(engine, t.stop_requested())? {
                        stopping = true;
                        break;
                    }
                }
                (applied, stopping)
            }
        };
        let update_seconds = clock.elapsed().as_secs_f64() - pause_seconds;
        if stopping {
            if engine.all_finite() {
                engine.snapshot_into(&mut last_finite);
            }
            return Ok(Trained {
                weights: last_finite,
                report,
                outcome: Outcome::Interrupted {
                    epoch,
                    samples: applied,
                },
            });
        }
        if average {
            // The epoch's end is the last of the k * subs points.
            engine.snapshot_into(&mut scratch);
            let points = (k * subs) as f64;
            for (w, &a) in scratch.iter_mut().zip(&avg_sum) {
                *w = ((a + f64::from(*w)) / points) as f32;
            }
            if let Some(r) = ranks.as_mut() {
                r.average(&mut scratch)?;
            }
            engine.load(&scratch);
        }
        total_samples += n as u64;
        total_seconds += update_seconds;

        let clock = Instant::now();
        let (mut loss, mut train_accuracy) = engine.objective(pool, data, rows, epoch);
        let (mut valid_loss, mut valid_accuracy) = match valid {
            Some(v) if !v.is_empty() => {
                let (l, a) = engine.validation(pool, v, epoch);
                (Some(l), a)
            }
            _ => (None, None),
        };
        let mut finite = engine.all_finite();
        if let Some(r) = ranks.as_mut() {
            let mine = Figures {
                loss,
                accuracy: train_accuracy,
                valid_loss,
                valid_accuracy,
                finite,
            };
            let all = r.agree(mine, n, valid.map_or(0, Dataset::len))?;
            (loss, train_accuracy, valid_loss, valid_accuracy, finite) =
                (all.loss, all.accuracy, all.valid_loss, all.valid_accuracy, all.finite);
        }
        eval_seconds += clock.elapsed().as_secs_f64();
        report.trace.push(TracePoint {
            epoch,
            samples: total_samples,
            update_seconds: total_seconds,
            loss,
        });
        // The divergence guard: nothing non-finite is handed back as a model.
        let bad = if !loss.is_finite() {
            Some(format!("the training loss is {loss}"))
        } else if let Some(l) = valid_loss.filter(|l| !l.is_finite()) {
            Some(format!("the validation loss is {l}"))
        } else if let Some((start, why)) = start_objective
            .filter(|_| guarded)
            .and_then(|start| worse_than_start(loss, start).map(|why| (start, why)))
        {
            if report.back_offs.len() < BACK_OFFS {
                // Run the epoch again from the weights before it, at a
                // quarter of the rate: a finite blow-up is a step too large
                // for this data, not a reason to hand back nothing.
                rate_factor *= 0.25;
                schedule = t.schedule.scaled(rate_factor);
                report.back_offs.push(BackOff {
                    epoch,
                    objective: loss,
                    start,
                    rate_factor,
                });
                engine.load(&last_finite);
                if let Some(r) = ranks.as_mut() {
                    r.restart(&last_finite);
                }
                continue;
            }
            Some(format!("{why}, after {BACK_OFFS} back-offs to a quarter of the rate"))
        } else if !finite {
            Some(
                engine
                    .non_finite()
                    .unwrap_or_else(|| "a weight on another rank is NaN or infinite".into()),
            )
        } else {
            None
        };
        if let Some(reason) = bad {
            return Ok(Trained {
                weights: last_finite,
                report,
                outcome: Outcome::Diverged { epoch, reason },
            });
        }
        engine.end_epoch(pool, data, epoch);
        engine.snapshot_into(&mut last_finite);
        report.epochs.push(EpochReport {
            epoch,
            learning_rate: schedule.rate(epoch, (epoch * n) as u64),
            samples: n as u64,
            update_seconds,
            samples_per_sec: n as f64 / update_seconds,
            train_loss: loss,
            train_accuracy,
            valid_loss,
            valid_accuracy,
            eval_seconds,
            wall_seconds: epoch_start.elapsed().as_secs_f64(),
        });
        if let Some(f) = hooks.on_weights.as_mut() {
            f(epoch, &last_finite)?;
        }
        let mut stop = hooks
            .on_epoch
            .as_mut()
            .is_some_and(|f| f(report.epochs.last().expect("just pushed")) == Control::Stop);
        if let Some(r) = ranks.as_mut() {
            stop = r.any(stop)?;
        }
        if stop && epoch + 1 < t.epochs {
            return Ok(Trained {
                weights: last_finite,
                report,
                outcome: Outcome::StoppedEarly { epoch },
            });
        }
        epoch += 1;
    }
    Ok(Trained {
        weights: last_finite,
        report,
        outcome: Outcome::Finished,
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::pause_points;

    #[test]
    fn pause_points_are_the_inner_boundaries() {
        let mut p = Vec::new();
        pause_points(100, 1, 1, &mut p);
        assert!(p.is_empty());
        pause_points(100, 4, 1, &mut p);
        assert_eq!(p, [25, 50, 75]);
        pause_points(100, 2, 2, &mut p);
        assert_eq!(p, [25, 50, 75]);
        pause_points(10, 1, 16, &mut p);
        assert_eq!(p.len(), 15);
        assert!(p.windows(2).all(|w| w[0] <= w[1]) && p.iter().all(|&x| x <= 10));
    }
}
