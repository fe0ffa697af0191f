//! The trainer: configuration, the Rayon Hogwild! loop, schedules and reports.
//!
//! A [`Trainer`] holds the configuration (threads, epochs, [`Schedule`],
//! seed, [`Policy`], iterate averaging, evaluation settings). Each run builds
//! its own Rayon pool (never the global one), draws a fresh seeded order of
//! the samples each epoch, splits it into one contiguous share per worker, and
//! each worker applies a model step after every sample through its policy's
//! view: no lock is taken in the `Racy`/`AtomicAdd` loop, and nothing is
//! allocated per sample.

pub(crate) mod evaluate;
mod report;
mod schedule;
mod stop;

pub use report::{EpochReport, Interruption, Report, TracePoint, Trained};
pub use schedule::{epoch_order, Schedule};
pub use stop::StopFlag;

use std::ops::Range;
use std::time::Instant;

use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;

use crate::data::Dataset;
use crate::error::Divergence;
use crate::model::{Model, Weights};
use crate::policy::{self, Policy, UpdateRule, Worker};
use crate::store::WeightStore;
use crate::Error;

/// What the per-epoch callback tells the trainer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on with the next epoch.
    Continue,
    /// Stop now; the result holds the weights as they are.
    Stop,
}

/// Training configuration (a builder). Cheap to clone; one trainer can run
/// many jobs.
///
/// ```
/// use wildsgd::{data::Synthetic, Linear, Loss, Policy, Schedule, Trainer};
///
/// let data = Synthetic { rows: 5000, features: 1000, ..Synthetic::default() }.generate().unwrap();
/// let (train, valid) = data.split(0.2, 7).unwrap();
/// let model = Linear::new(Loss::Logistic, train.n_features()).bias(true);
/// let trainer = Trainer::new()
///     .threads(2)
///     .epochs(3)
///     .policy(Policy::AtomicAdd)
///     .schedule(Schedule::EpochDecay { initial: 0.5, decay: 0.8 })
///     .seed(42);
/// let trained = trainer.job(&model, &train).validation(&valid).run().unwrap();
/// assert_eq!(trained.report.epochs.len(), 3);
/// assert!(trained.report.epochs[2].valid_accuracy.unwrap() > 0.6);
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Trainer {
    threads: Option<usize>,
    epochs: usize,
    schedule: Schedule,
    seed: u64,
    policy: Policy,
    average: bool,
    loss_rows: Option<usize>,
    evals_per_epoch: usize,
    start_epoch: usize,
    #[serde(skip)]
    stop: Option<StopFlag>,
}

impl Default for Trainer {
    fn default() -> Self {
        Trainer {
            threads: None,
            epochs: 5,
            schedule: Schedule::default(),
            seed: 0,
            policy: Policy::Auto,
            average: false,
            loss_rows: None,
            evals_per_epoch: 1,
            start_epoch: 0,
            stop: None,
        }
    }
}

impl Trainer {
    /// The defaults: all available cores, 5 epochs, [`Schedule::default`],
    /// seed 0, [`Policy::Auto`], no averaging, loss over all training rows,
    /// one loss evaluation per epoch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Worker threads (default: the machine's available parallelism).
    /// Ignored by [`Policy::Sequential`].
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Passes over the training data.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// The step-size schedule.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Seed for the initial weights, the sample orders and the evaluation
    /// subset.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How updates are applied to the shared weights.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Return the average of the iterates over the last epoch (tail
    /// averaging) instead of the last iterate. The iterates are sampled at
    /// 16 (or `evals_per_epoch`, if more) evenly spaced points of the epoch,
    /// so the average is exact under every policy and costs nothing per
    /// sample. The last epoch's report then describes the averaged weights.
    pub fn average(mut self, average: bool) -> Self {
        self.average = average;
        self
    }

    /// Measure the training loss on a fixed seeded subset of this many rows
    /// instead of all of them (for very large data). `None`: all rows.
    pub fn loss_rows(mut self, rows: Option<usize>) -> Self {
        self.loss_rows = rows;
        self
    }

    /// Sample the training loss this many times per epoch (at evenly spaced
    /// points, with the workers paused and the clock stopped), for loss
    /// curves finer than one point per epoch. Default 1.
    pub fn evals_per_epoch(mut self, evals: usize) -> Self {
        self.evals_per_epoch = evals;
        self
    }

    /// Begin at epoch `epoch` instead of 0, with that epoch's order and
    /// learning rates: resuming a run from weights saved after `epoch`
    /// epochs (pass them with [`Job::weights`]). A `Sequential` run resumed
    /// this way ends bit-identical to an uninterrupted one.
    pub fn start_epoch(mut self, epoch: usize) -> Self {
        self.start_epoch = epoch;
        self
    }

    /// Stop when `flag` is raised: every worker finishes its sample in
    /// flight, the policy flushes, and the run returns the weights as they
    /// are then, with [`Report::interrupted`] saying where (see [`StopFlag`]).
    /// Jobs and [`train_skipgram`](crate::model::train_skipgram) look at it;
    /// the [`mesh`](crate::mesh), which has its own epoch loop, does not yet.
    pub fn stop_flag(mut self, flag: StopFlag) -> Self {
        self.stop = Some(flag);
        self
    }

    /// Whether a [`stop_flag`](Self::stop_flag) was given and raised.
    pub fn stop_requested(&self) -> bool {
        self.stop.as_ref().is_some_and(StopFlag::is_raised)
    }

    /// The configured thread count, resolved (1 for `Sequential`).
    pub fn thread_count(&self) -> usize {
        match self.policy {
            Policy::Sequential => 1,
            _ => self
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        }
    }

    /// The policy.
    pub fn get_policy(&self) -> Policy {
        self.policy
    }

    /// The number of epochs.
    pub fn get_epochs(&self) -> usize {
        self.epochs
    }

    /// The schedule.
    pub fn get_schedule(&self) -> Schedule {
        self.schedule
    }

    /// The seed.
    pub fn get_seed(&self) -> u64 {
        self.seed
    }

    /// The first epoch to run (see [`start_epoch`](Self::start_epoch)).
    pub fn get_start_epoch(&self) -> usize {
        self.start_epoch
    }

    /// Trains `model` on `train` with defaults for everything else; the same
    /// as `self.job(model, train).run()`.
    pub fn fit<M: Model>(&self, model: &M, train: &M::Data) -> Result<Trained, Error> {
        self.job(model, train).run()
    }

    /// A training job, to add a validation set, a per-epoch callback or an
    /// existing weight store before [`run`](Job::run)ning it.
    pub fn job<'a, M: Model>(&'a self, model: &'a M, train: &'a M::Data) -> Job<'a, M> {
        Job {
            trainer: self,
            model,
            train,
            valid: None,
            on_epoch: None,
            on_weights: None,
            store: None,
        }
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.threads == Some(0) {
            return Err(Error::ZeroThreads);
        }
        if let Some(n) = self.threads.filter(|&n| n > crate::limits::MAX_THREADS) {
            return Err(Error::InvalidParameter {
                name: "threads",
                reason: format!("{n} is more than the limit of {}", crate::limits::MAX_THREADS),
            });
        }
        if self.epochs == 0 {
            return Err(Error::ZeroEpochs);
        }
        if self.start_epoch >= self.epochs {
            return Err(Error::InvalidParameter {
                name: "start_epoch",
                reason: format!("{} is not below the epoch count {}", self.start_epoch, self.epochs),
            });
        }
        if self.evals_per_epoch == 0 {
            return Err(Error::InvalidParameter {
                name: "evals_per_epoch",
                reason: "must be at least 1".into(),
            });
        }
        if self.loss_rows == Some(0) {
            return Err(Error::InvalidParameter {
                name: "loss_rows",
                reason: "must be at least 1 when given".into(),
            });
        }
        self.schedule.validate()
    }

    pub(crate) fn pool(&self, threads: usize) -> Result<rayon::ThreadPool, Error> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("wildsgd-worker-{i}"))
            .build()
            .map_err(|e| Error::ThreadPool(e.to_string()))
    }
}

/// The minimum number of points at which tail averaging samples the iterates.
const AVERAGE_POINTS: usize = 16;

type Callback<'a> = Box<dyn FnMut(&EpochReport) -> Control + 'a>;
type WeightsHook<'a> = Box<dyn FnMut(usize, &[f32]) -> Result<(), Error> + 'a>;

/// One training run being set up; made by [`Trainer::job`].
pub struct Job<'a, M: Model> {
    trainer: &'a Trainer,
    model: &'a M,
    train: &'a M::Data,
    valid: Option<&'a M::Data>,
    on_epoch: Option<Callback<'a>>,
    on_weights: Option<WeightsHook<'a>>,
    store: Option<&'a WeightStore>,
}

impl<'a, M: Model> Job<'a, M> {
    /// Report validation loss (and accuracy, for classifiers) each epoch.
    pub fn validation(mut self, valid: &'a M::Data) -> Self {
        self.valid = Some(valid);
        self
    }

    /// Called after each epoch's report; returning [`Control::Stop`] ends
    /// training early.
    pub fn on_epoch(mut self, f: impl FnMut(&EpochReport) -> Control + 'a) -> Self {
        self.on_epoch = Some(Box::new(f));
        self
    }

    /// Called after each epoch that ended finite, with the number of epochs
    /// completed so far (counting from 0, so `start_epoch` resumes after it)
    /// and the weights at that point: the place to write checkpoints. An
    /// error stops training and is returned.
    pub fn on_weights(mut self, f: impl FnMut(usize, &[f32]) -> Result<(), Error> + 'a) -> Self {
        self.on_weights = Some(Box::new(f));
        self
    }

    /// Train the weights already in `store` (warm start) instead of freshly
    /// initialised ones; `store` holds the result afterwards too.
    pub fn weights(mut self, store: &'a WeightStore) -> Self {
        self.store = Some(store);
        self
    }

    /// Runs the job.
    pub fn run(self) -> Result<Trained, Error> {
        let policy = self.trainer.policy;
        self.run_policy(policy, policy.to_string())
    }

    /// What [`Policy::Auto`] picks for this job (for any other policy, that
    /// policy): probes the problem's shape ([`Touches`](policy::Touches)) and
    /// applies [`policy::choose`]. Validates the data first: the probe runs
    /// the model's steps.
    pub fn choose_policy(&self) -> Result<policy::Choice, Error> {
        let t = self.trainer;
        if t.policy != Policy::Auto {
            return Ok(policy::Choice {
                policy: t.policy,
                reason: "chosen by the caller".into(),
            });
        }
        if t.thread_count() <= 1 {
            // One thread: no probe needed (and no cost paid for one).
            return Ok(policy::choose(&self.probe(1)?, self.model.dim(), 1));
        }
        let touches = self.probe(policy::PROBE_SAMPLES)?;
        Ok(policy::choose(&touches, self.model.dim(), t.thread_count()))
    }

    /// Counts the writes of the model's steps on up to `samples` training
    /// rows, from the job's starting weights.
    fn probe(&self, samples: usize) -> Result<policy::Touches, Error> {
        let t = self.trainer;
        t.check()?;
        check_training_len(self.train.len())?;
        self.model.validate(self.train).map_err(|e| e.in_dataset("training"))?;
        let start = match self.store {
            Some(s) if s.len() != self.model.dim() => return Err(store_mismatch(self.model.dim(), s.len())),
            Some(s) => s.snapshot(),
            None => {
                let mut w = vec![0.0; self.model.dim()];
                self.model.init(&mut w, t.seed);
                w
            }
        };
        let lr = t
            .schedule
            .rate(t.start_epoch, (t.start_epoch * self.train.len()) as u64);
        policy::Touches::probe(self.model, self.train, &start, samples, lr, t.seed)
    }

    /// Dispatches on the policy once per run; each arm is its own
    /// monomorphised loop.
    fn run_policy(self, policy: Policy, name: String) -> Result<Trained, Error> {
        let workers = self.trainer.thread_count();
        match policy {
            Policy::Sequential | Policy::Racy => self.run_with_rule(policy::Racy, &name),
            Policy::AtomicAdd => self.run_with_rule(policy::AtomicAdd, &name),
            Policy::Locked => self.run_with_rule(policy::Locked, &name),
            Policy::Batched { size } => self.run_with_rule(policy::Batched { size }, &name),
            Policy::HotCold { hot, every } => {
                let touches = self.probe(policy::PROBE_SAMPLES)?;
                let rule = policy::HotCold::from_touches(&touches, self.model.dim(), hot, every)?;
                self.run_with_rule(rule, &name)
            }
            Policy::Replicas { every, merge } => self.run_with_rule(
                policy::Replicas {
                    every: every.max(1),
                    merge,
                    workers,
                },
                &name,
            ),
            Policy::Auto => {
                let choice = self.choose_policy()?;
                if choice.policy == Policy::Auto {
                    unreachable!("choose never returns Auto");
                }
                self.run_policy(choice.policy, format!("auto:{}", choice.policy))
            }
        }
    }

    /// Runs the job with a user-supplied [`UpdateRule`] instead of the
    /// trainer's [`Policy`] (which then only names the thread count: a
    /// `Sequential` trainer runs the rule on one thread). The report's policy
    /// is `name`.
    pub fn run_with_rule<R: UpdateRule>(self, rule: R, name: &str) -> Result<Trained, Error> {
        let t = self.trainer;
        t.check()?;
        let owned;
        let store = match self.store {
            Some(s) => s,
            None => {
                owned = initial_store(self.model, t.seed)?;
                &owned
            }
        };
        if store.len() != self.model.dim() {
            return Err(store_mismatch(self.model.dim(), store.len()));
        }
        let pool = t.pool(t.thread_count())?;
        let hooks = Hooks {
            on_epoch: self.on_epoch,
            on_weights: self.on_weights,
        };
        let engine = Hogwild::new(store, &pool, rule, name.to_string(), t.stop.clone());
        drive(t, self.model, self.train, self.valid, hooks, engine, &pool)
    }
}

/// A fresh store holding `model`'s initial weights for `seed`.
pub(crate) fn initial_store<M: Model>(model: &M, seed: u64) -> Result<WeightStore, Error> {
    // The initial vector, the store, and the driver's last-finite copy.
    crate::limits::check_weights("the model", model.dim() as u64, 3)?;
    let mut init = vec![0.0; model.dim()];
    model.init(&mut init, seed);
    Ok(WeightStore::from_slice(&init))
}

fn store_mismatch(expected: usize, found: usize) -> Error {
    Error::LengthMismatch {
        what: "weight store for this model",
        expected,
        found,
    }
}

/// How a training loop applies one segment of an epoch's order; the driver
/// around it (orders, clocks, evaluation, the divergence guard, reports) is
/// shared by the trainer and the plain baseline loop.
pub(crate) trait Engine<M: Model> {
    type W: Weights + Sync + ?Sized;
    fn name(&self) -> String;
    fn threads(&self) -> usize;
    /// Applies the samples `order[range]`; `range` positions are within the
    /// epoch (so the global position of `order[p]` is `epoch * n + p`).
    /// Returns how many were applied: all of them, unless a raised
    /// [`StopFlag`] stopped the workers early.
    fn segment(
        &mut self,
        model: &M,
        data: &M::Data,
        sched: &Schedule,
        epoch: usize,
        order: &[u32],
        range: Range<usize>,
    ) -> u64;
    fn weights(&self) -> &Self::W;
    fn all_finite(&self) -> bool;
    fn snapshot_into(&self, out: &mut Vec<f32>);
    fn load(&mut self, weights: &[f32]);
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

/// The caller's callbacks.
#[derive(Default)]
pub(crate) struct Hooks<'a> {
    on_epoch: Option<Callback<'a>>,
    on_weights: Option<WeightsHook<'a>>,
}

pub(crate) fn drive<M: Model, E: Engine<M>>(
    t: &Trainer,
    model: &M,
    train: &M::Data,
    valid: Option<&M::Data>,
    mut hooks: Hooks<'_>,
    mut engine: E,
    pool: &rayon::ThreadPool,
) -> Result<Trained, Error> {
    t.check()?;
    let n = train.len();
    check_training_len(n)?;
    model.validate(train).map_err(|e| e.in_dataset("training"))?;
    if let Some(v) = valid {
        if v.is_empty() {
            return Err(Error::EmptyDataset { what: "validation" });
        }
        model.validate(v).map_err(|e| e.in_dataset("validation"))?;
    }

    let loss_rows: Option<Vec<u32>> = t.loss_rows.filter(|&k| k < n).map(|k| {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(t.seed ^ 0x005E_ED0F_1055);
        let mut rows: Vec<u32> = rand::seq::index::sample(&mut rng, n, k)
            .iter()
            .map(|i| i as u32)
            .collect();
        rows.sort_unstable();
        rows
    });
    let train_loss = |w: &E::W| {
        let (loss, acc) = evaluate::mean_loss(pool, model, w, train, loss_rows.as_deref());
        (loss + model.penalty(w), acc)
    };

    let mut report = Report {
        policy: engine.name(),
        threads: engine.threads(),
        ..Report::default()
    };
    let mut last_finite = Vec::with_capacity(model.dim());
    engine.snapshot_into(&mut last_finite);
    let mut order = vec![0u32; n];
    let (mut avg_sum, mut scratch) = if t.average {
        (vec![0.0f64; model.dim()], Vec::with_capacity(model.dim()))
    } else {
        (Vec::new(), Vec::new())
    };
    let (mut total_samples, mut total_seconds) = (0u64, 0.0f64);
    let k = t.evals_per_epoch;

    for epoch in t.start_epoch..t.epochs {
        let epoch_start = Instant::now();
        epoch_order(t.seed, epoch, &mut order);
        let average = t.average && epoch + 1 == t.epochs;
        // Averaging samples the iterates at AVERAGE_POINTS (or more) evenly
        // spaced points of the epoch: exact under every policy and thread
        // count, and nothing added to the per-sample path.
        let subs = if average { AVERAGE_POINTS.div_ceil(k) } else { 1 };
        let (mut update_seconds, mut eval_seconds) = (0.0, 0.0);
        let mut applied = 0u64;
        for s in 0..k {
            let range = s * n / k..(s + 1) * n / k;
            let clock = Instant::now();
            for u in 0..subs {
                let len = range.len();
                let sub = range.start + u * len / subs..range.start + (u + 1) * len / subs;
                applied += engine.segment(model, train, &t.schedule, epoch, &order, sub);
                if t.stop_requested() {
                    return Ok(interrupted(report, &engine, last_finite, epoch, applied));
                }
                if average {
                    engine.snapshot_into(&mut scratch);
                    for (a, &w) in avg_sum.iter_mut().zip(&scratch) {
                        *a += f64::from(w);
                    }
                }
            }
            update_seconds += clock.elapsed().as_secs_f64();
            total_samples += range.len() as u64;
            if s + 1 == k {
                break; // the end-of-epoch point is measured below
            }
            let clock = Instant::now();
            let (loss, _) = train_loss(engine.weights());
            eval_seconds += clock.elapsed().as_secs_f64();
            report.trace.push(TracePoint {
                epoch,
                samples: total_samples,
                update_seconds: total_seconds + update_seconds,
                loss,
            });
        }
        if average {
            let points = (k * subs) as f64;
            scratch.clear();
            scratch.extend(avg_sum.iter().map(|&a| (a / points) as f32));
            engine.load(&scratch);
        }
        total_seconds += update_seconds;

        let clock = Instant::now();
        let (loss, train_accuracy) = train_loss(engine.weights());
        let (valid_loss, valid_accuracy) = match valid {
            Some(v) => {
                let (l, a) = evaluate::mean_loss(pool, model, engine.weights(), v, None);
                (Some(l), a)
            }
            None => (None, None),
        };
        eval_seconds += clock.elapsed().as_secs_f64();
        report.trace.push(TracePoint {
            epoch,
            samples: total_samples,
            update_seconds: total_seconds,
            loss,
        });
        let er = EpochReport {
            epoch,
            learning_rate: t.schedule.rate(epoch, (epoch * n) as u64),
            samples: n as u64,
            update_seconds,
            samples_per_sec: n as f64 / update_seconds,
            train_loss: loss,
            train_accuracy,
            valid_loss,
            valid_accuracy,
            eval_seconds,
            wall_seconds: epoch_start.elapsed().as_secs_f64(),
        };

        // The divergence guard: nothing non-finite is handed back as a model.
        let bad = if !loss.is_finite() {
            Some(format!("the training loss is {loss}"))
        } else if valid_loss.is_some_and(|l| !l.is_finite()) {
            Some(format!("the validation loss is {}", valid_loss.unwrap_or_default()))
        } else if !engine.all_finite() {
            Some("a weight is NaN or infinite".to_string())
        } else {
            None
        };
        if let Some(reason) = bad {
            return Err(Error::Diverged(Box::new(Divergence {
                epoch,
                reason,
                last_finite,
                report,
            })));
        }
        engine.snapshot_into(&mut last_finite);
        report.epochs.push(er);
        if let Some(f) = hooks.on_weights.as_mut() {
            f(epoch, &last_finite)?;
        }
        let stop = hooks
            .on_epoch
            .as_mut()
            .is_some_and(|f| f(report.epochs.last().expect("just pushed")) == Control::Stop);
        if stop {
            report.stopped_early = epoch + 1 < t.epochs;
            break;
        }
    }
    Ok(Trained {
        weights: last_finite,
        report,
    })
}

/// The result of a run its [`StopFlag`] stopped in `epoch` after `applied`
/// samples of it: the weights as they are (all workers have finished their
/// samples and flushed), or the last finite ones if those are not finite.
fn interrupted<M: Model, E: Engine<M>>(
    mut report: Report,
    engine: &E,
    mut last_finite: Vec<f32>,
    epoch: usize,
    applied: u64,
) -> Trained {
    if engine.all_finite() {
        engine.snapshot_into(&mut last_finite);
    }
    report.stopped_early = true;
    report.interrupted = Some(Interruption {
        epoch,
        samples: applied,
    });
    Trained {
        weights: last_finite,
        report,
    }
}

/// The Hogwild! engine: workers of a Rayon pool update one shared store
/// through a policy's [`Worker`].
struct Hogwild<'a, R> {
    store: &'a WeightStore,
    pool: &'a rayon::ThreadPool,
    rule: R,
    name: String,
    stop: Option<StopFlag>,
}

impl<'a, R: UpdateRule> Hogwild<'a, R> {
    fn new(store: &'a WeightStore, pool: &'a rayon::ThreadPool, rule: R, name: String, stop: Option<StopFlag>) -> Self {
        Hogwild {
            store,
            pool,
            rule,
            name,
            stop,
        }
    }
}

impl<M: Model, R: UpdateRule> Engine<M> for Hogwild<'_, R> {
    type W = WeightStore;

    fn name(&self) -> String {
        self.name.clone()
    }

    fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    fn segment(
        &mut self,
        model: &M,
        data: &M::Data,
        sched: &Schedule,
        epoch: usize,
        order: &[u32],
        range: Range<usize>,
    ) -> u64 {
        let (store, rule, n, stop) = (self.store, &self.rule, order.len(), self.stop.as_ref());
        let run = |k: usize, parts: usize| -> u64 {
            let len = range.len();
            let share = range.start + k * len / parts..range.start + (k + 1) * len / parts;
            let base = (epoch * n) as u64;
            let mut worker = rule.worker(store);
            let (start, mut end) = (share.start, share.end);
            for p in share {
                // One relaxed load of a line no one writes until a stop: it
                // stays in every core's cache and costs nothing measurable.
                if stop.is_some_and(StopFlag::is_raised) {
                    end = p;
                    break;
                }
                let sample = data.sample(order[p] as usize);
                let lr = sched.rate(epoch, base + p as u64);
                worker.update(|w| model.step(w, sample, lr));
            }
            worker.finish();
            (end - start) as u64
        };
        if self.pool.current_num_threads() == 1 {
            // One worker: run it on the calling thread, as a hand-written
            // loop would, rather than hand the work to a freshly spawned
            // pool thread and wait (on a 2-vCPU VM that hand-off measured
            // up to 15% slower, from where the new thread lands).
            run(0, 1)
        } else {
            self.pool
                .broadcast(|ctx| run(ctx.index(), ctx.num_threads()))
                .into_iter()
                .sum()
        }
    }

    fn weights(&self) -> &WeightStore {
        self.store
    }

    fn all_finite(&self) -> bool {
        self.store.all_finite()
    }

    fn snapshot_into(&self, out: &mut Vec<f32>) {
        self.store.snapshot_into(out)
    }

    fn load(&mut self, weights: &[f32]) {
        self.store.load_from(weights).expect("weights of the store's length");
    }
}
