//! The trainer: configuration, the Rayon Hogwild! loop, schedules and reports.
//!
//! A [`Trainer`] holds the configuration (threads, epochs, [`Schedule`],
//! seed, [`Policy`], [`Order`], iterate averaging, evaluation settings). Each
//! run builds its own Rayon pool (never the global one), shuffles the rows
//! once into a copy it reads in runs (unless the order is [`Order::Full`]),
//! draws a fresh seeded [`Order`] of the samples each epoch, splits it into
//! one contiguous share per worker, and
//! each worker applies a model step after every sample through its policy's
//! view: no lock is taken in the `Racy`/`AtomicAdd` loop, and nothing is
//! allocated per sample.

mod driver;
pub(crate) mod evaluate;
mod job;
mod pool;
mod ranks;
mod report;
mod stop;
mod stream;

pub(crate) use driver::{check_training_len, drive, Engine, Hooks, Train, Visit};
pub(crate) use job::initial_store;
pub(crate) use pool::{ahead, segments, share};

pub use crate::schedule::{epoch_order, Order, Schedule};
pub use driver::EpochData;
pub use driver::BACK_OFFS;
pub use job::Job;
pub use report::{BackOff, Distributed, EpochReport, Outcome, Report, Streaming, TracePoint, Trained};
pub use stop::StopFlag;

use crate::error::Error;
use crate::policy::Policy;

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
    order: Order,
    rows_shuffled: bool,
    prefetch: bool,
    blow_up_guard: bool,
    #[serde(skip)]
    stop: Option<StopFlag>,
    #[serde(skip)]
    cluster: Option<crate::cluster::Handle>,
    exchange_every: Option<usize>,
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
            order: Order::default(),
            rows_shuffled: false,
            prefetch: true,
            blow_up_guard: true,
            stop: None,
            cluster: None,
            exchange_every: None,
        }
    }
}

impl Trainer {
    /// The defaults: all available cores, 5 epochs, [`Schedule::default`],
    /// seed 0, [`Policy::Auto`], [`Order::default`] with prefetching, no
    /// averaging, loss over all training rows, one loss evaluation per epoch.
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

    /// The order each epoch visits the rows in (default
    /// [`Order::default`]: blocks of about 32 KiB of consecutive rows of a
    /// once-shuffled copy, each block's rows in a random order). Every
    /// policy, the mesh and the [`baseline`](crate::baseline) loop use the
    /// same order, a function of the seed and the epoch.
    ///
    /// ```
    /// use wildsgd::{data::Synthetic, schedule::Order, Linear, Loss, Policy, Trainer};
    ///
    /// let data = Synthetic { rows: 4000, features: 500, ..Synthetic::default() }.generate()?;
    /// let model = Linear::new(Loss::Logistic, data.n_features()).bias(true);
    /// let t = Trainer::new().epochs(2).policy(Policy::Sequential);
    /// let blocks = t.clone().fit(&model, &data)?;
    /// let full = t.order(Order::Full).fit(&model, &data)?;
    /// assert_eq!(full.report.order, "full");
    /// assert!(blocks.report.order.starts_with("blocks:"));
    /// let (b, f) = (blocks.report.final_loss().unwrap(), full.report.final_loss().unwrap());
    /// assert!((b - f).abs() / f < 0.05, "{b} vs {f}");
    /// # Ok::<(), wildsgd::Error>(())
    /// ```
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// Promises that the training rows are already in a seeded random
    /// order (the caller shuffled them, e.g. with
    /// [`CsrDataset::split`](crate::data::CsrDataset::split), which returns
    /// its halves shuffled), so block orders read them as they are instead
    /// of making a shuffled copy: no memory for a second copy of the data.
    /// On rows grouped by label or source this breaks convergence; the
    /// default (`false`) is always safe.
    pub fn rows_shuffled(mut self, shuffled: bool) -> Self {
        self.rows_shuffled = shuffled;
        self
    }

    /// Whether the per-sample loop prefetches upcoming rows (and the weight
    /// rows models name with [`Model::prefetch_rows`](crate::Model::prefetch_rows))
    /// a few samples ahead. Default on; off only to measure what it gives.
    pub fn prefetch(mut self, prefetch: bool) -> Self {
        self.prefetch = prefetch;
        self
    }

    /// Whether an epoch that ends with the training objective above the one
    /// training started from (by more than 1%: a finite blow-up, which the
    /// NaN and infinity checks let through) is run again from the weights
    /// before it at a quarter of the rate, up to
    /// [`BACK_OFFS`] times, then ends the run as
    /// [`Outcome::Diverged`] with the
    /// last good weights. Default on; off for experiments that must see a
    /// run recover on its own (the equivalence suite's stale-gradient
    /// control does). The guard trusts an objective measured on all rows or
    /// on a [`loss_rows`](Self::loss_rows) subset of at least 100 rows, and
    /// stays out of runs measured on fewer. Every back-off is listed in
    /// [`Report::back_offs`](crate::trainer::Report::back_offs).
    ///
    /// ```
    /// use wildsgd::{data::Synthetic, Linear, Loss, Schedule, Trainer};
    ///
    /// let data = Synthetic { rows: 2000, features: 300, ..Synthetic::default() }.generate().unwrap();
    /// let model = Linear::new(Loss::Squared, 300);
    /// // A rate far too large for least squares: the first epochs blow up.
    /// let trained = Trainer::new().epochs(3).schedule(Schedule::Constant(40.0)).fit(&model, &data).unwrap();
    /// assert!(!trained.report.back_offs.is_empty() || trained.outcome.diverged());
    /// ```
    pub fn blow_up_guard(mut self, on: bool) -> Self {
        self.blow_up_guard = on;
        self
    }

    pub(crate) fn guards_blow_ups(&self) -> bool {
        self.blow_up_guard
    }

    /// The order setting.
    pub fn get_order(&self) -> Order {
        self.order
    }

    /// Stop when `flag` is raised: every worker finishes its sample in
    /// flight, the policy flushes, and the run returns the weights as they
    /// are then, with [`Outcome::Interrupted`] saying where (see
    /// [`StopFlag`]). Jobs and meshes alike look at it.
    pub fn stop_flag(mut self, flag: StopFlag) -> Self {
        self.stop = Some(flag);
        self
    }

    /// Train data-parallel as one rank of `cluster`: this process trains on
    /// its own shard (the data it is given) and, every
    /// [`exchange_every`](Self::exchange_every) samples of it and at each
    /// epoch's end, adds every rank's change since the last exchange to the
    /// weights (see [`cluster`](crate::cluster)). Every rank must run the
    /// same job (model, settings, seed, epochs); the weights start from rank
    /// 0's. Losses and accuracies in the report are the whole job's. Hooks
    /// run on every rank (write files from one). An error on any rank ends
    /// the job ([`Cluster::abort`](crate::cluster::Cluster::abort)) rather
    /// than leaving the others waiting. The schedule counts this rank's
    /// samples (an `InverseTime` decay per sample falls K times slower per
    /// sample of the whole job), and the loss points inside an epoch
    /// ([`evals_per_epoch`](Self::evals_per_epoch) > 1) are this rank's
    /// weights on its shard; each epoch's end is the job's. `Policy::Auto`
    /// decides on each rank's shard.
    ///
    /// ```
    /// use wildsgd::cluster::{Handle, Threads};
    /// use wildsgd::{data::Synthetic, Linear, Loss, Policy, Trainer};
    ///
    /// let data = Synthetic { rows: 8000, features: 500, ..Synthetic::default() }.generate()?;
    /// let model = Linear::new(Loss::Logistic, data.n_features()).bias(true);
    /// let shards: Vec<_> = (0..2)
    ///     .map(|k| data.subset(&wildsgd::cluster::part(data.len(), k, 2).collect::<Vec<_>>()))
    ///     .collect();
    /// let losses: Vec<f64> = std::thread::scope(|s| {
    ///     let runs: Vec<_> = Threads::ranks(2)
    ///         .into_iter()
    ///         .zip(&shards)
    ///         .map(|(rank, shard)| {
    ///             let model = &model;
    ///             s.spawn(move || {
    ///                 let t = Trainer::new().threads(1).epochs(3).policy(Policy::Racy).cluster(Handle::new(rank));
    ///                 t.fit(model, shard).unwrap().report.final_loss().unwrap()
    ///             })
    ///         })
    ///         .collect();
    ///     runs.into_iter().map(|r| r.join().unwrap()).collect()
    /// });
    /// assert_eq!(losses[0], losses[1]); // the job's loss, the same on every rank
    /// assert!(losses[0] < 0.6);
    /// # Ok::<(), wildsgd::Error>(())
    /// ```
    pub fn cluster(mut self, cluster: crate::cluster::Handle) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// Samples of its shard each rank trains on between exchanges in a
    /// data-parallel run (default:
    /// [`default_exchange_every`](crate::cluster::default_exchange_every)).
    pub fn exchange_every(mut self, samples: usize) -> Self {
        self.exchange_every = Some(samples);
        self
    }

    /// The cluster this trainer runs on, if any.
    pub fn get_cluster(&self) -> Option<&dyn crate::cluster::Cluster> {
        self.cluster.as_ref().map(crate::cluster::Handle::get)
    }

    pub(crate) fn get_exchange_every(&self) -> Option<usize> {
        self.exchange_every
    }

    pub(crate) fn stop_flag_ref(&self) -> Option<&StopFlag> {
        self.stop.as_ref()
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
        if self.exchange_every == Some(0) {
            return Err(Error::InvalidParameter {
                name: "exchange_every",
                reason: "must be at least 1 sample".into(),
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

type EpochReportHook<'a> = Box<dyn FnMut(&EpochReport) -> Control + 'a>;
type WeightsHook<'a> = Box<dyn FnMut(usize, &[f32]) -> Result<(), Error> + 'a>;
type ProgressHook<'a> = Box<dyn FnMut(usize, u64, u64) + 'a>;
