//! A mesh of several models ("cortices") trained at once in one worker pool.
//!
//! Each cortex has its own model, weight store and update policy. A router
//! sends every sample to one or more cortices (or to none: such samples are
//! counted and reported, never silently dropped). Workers walk one shuffled
//! order of the shared dataset and, for each sample, step every cortex it is
//! routed to; when a sample goes to several cortices their steps can run in
//! parallel (`rayon::join`), and by default each worker measures both ways on
//! its first multi-routed samples and keeps the faster.
//!
//! ```
//! use wildsgd::data::{CsrDataset, Synthetic};
//! use wildsgd::mesh::{Mesh, Routes};
//! use wildsgd::{Linear, Loss, Policy, Trainer};
//!
//! let data = Synthetic { rows: 4_000, features: 1_000, ..Synthetic::default() }.generate().unwrap();
//! let a = Linear::new(Loss::Logistic, 1_000).bias(true);
//! let b = Linear::new(Loss::Hinge, 1_000).bias(true);
//! let trained = Mesh::new(Trainer::new().threads(2).epochs(3))
//!     .cortex("logistic", &a, Policy::Racy)
//!     .cortex("svm", &b, Policy::AtomicAdd)
//!     // Even rows to the logistic model, odd rows to the SVM, every 10th row to both.
//!     .route(|_: &CsrDataset, i| Ok(if i % 10 == 0 { Routes::all(2) } else { Routes::only(i % 2) }))
//!     .fit(&data)
//!     .unwrap();
//! let last = trained.report.epochs.last().unwrap();
//! assert_eq!(last.cortices[0].samples, 2_000); // the every-10th rows are even already
//! assert_eq!(last.cortices[1].samples, 2_000 + 400);
//! assert!(last.cortices[0].loss < 0.65);
//! assert_eq!(trained.weights("svm").unwrap().len(), 1_001);
//! ```

use std::time::Instant;

use serde::Serialize;

use crate::data::Dataset;
use crate::error::Divergence;
use crate::model::Model;
use crate::policy::{self, Policy, UpdateRule, Worker};
use crate::store::WeightStore;
use crate::trainer::{check_training_len, epoch_order, evaluate, initial_store, Report, Trained, Trainer};
use crate::Error;

/// The set of cortices (by index, at most 64) a sample is routed to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Routes(u64);

impl Routes {
    /// No cortex.
    pub fn none() -> Self {
        Routes(0)
    }

    /// Cortex `c` alone.
    pub fn only(c: usize) -> Self {
        Routes::none().with(c)
    }

    /// Cortices `0..n`.
    pub fn all(n: usize) -> Self {
        Routes(if n >= 64 { u64::MAX } else { (1u64 << n) - 1 })
    }

    /// These routes plus cortex `c`.
    ///
    /// # Panics
    /// If `c >= 64`.
    pub fn with(self, c: usize) -> Self {
        assert!(c < 64, "a mesh has at most 64 cortices");
        Routes(self.0 | 1 << c)
    }

    /// Whether cortex `c` is included.
    pub fn contains(self, c: usize) -> bool {
        c < 64 && self.0 >> c & 1 == 1
    }

    /// How many cortices are included.
    pub fn count(self) -> usize {
        self.0.count_ones() as usize
    }
}

/// Whether a sample routed to several cortices steps them in parallel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum JoinMode {
    /// Each worker times both ways on its first multi-routed samples and
    /// keeps the faster.
    #[default]
    Auto,
    /// One after another, on the worker's thread.
    Never,
    /// With `rayon::join`, splitting the routed cortices in halves.
    Always,
}

/// One cortex's figures for one epoch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CortexEpoch {
    /// The cortex's name.
    pub name: String,
    /// Samples routed to it this epoch.
    pub samples: u64,
    /// `samples` over the epoch's update seconds (the cortices share them).
    pub samples_per_sec: f64,
    /// Its training objective over the samples routed to it.
    pub loss: f64,
    /// Its training accuracy over those samples, for classifiers.
    pub accuracy: Option<f64>,
}

/// One epoch of a mesh.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MeshEpoch {
    /// Epoch number, from 0.
    pub epoch: usize,
    /// Samples visited (routed or not).
    pub samples: u64,
    /// Samples routed to no cortex.
    pub unrouted: u64,
    /// Cortex steps taken (a sample routed to k cortices counts k).
    pub steps: u64,
    /// Seconds of update passes.
    pub update_seconds: f64,
    /// Visited samples per update second.
    pub samples_per_sec: f64,
    /// Per-cortex figures, in the order the cortices were added.
    pub cortices: Vec<CortexEpoch>,
}

/// The report of a mesh run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MeshReport {
    /// Worker threads.
    pub threads: usize,
    /// How multi-routed samples were stepped: per worker, `true` where it
    /// ran the cortices in parallel (after its measurement, under `Auto`).
    pub joined: Vec<bool>,
    /// One entry per epoch.
    pub epochs: Vec<MeshEpoch>,
}

impl MeshReport {
    /// The per-epoch report of one cortex, in the trainer's [`Report`] shape
    /// (for comparison with training it alone).
    pub fn cortex(&self, name: &str) -> Option<Report> {
        let idx = self.epochs.first()?.cortices.iter().position(|c| c.name == name)?;
        let mut r = Report {
            policy: format!("mesh:{name}"),
            threads: self.threads,
            ..Report::default()
        };
        let (mut samples, mut seconds) = (0u64, 0.0f64);
        for e in &self.epochs {
            let c = &e.cortices[idx];
            samples += c.samples;
            seconds += e.update_seconds;
            r.trace.push(crate::trainer::TracePoint {
                epoch: e.epoch,
                samples,
                update_seconds: seconds,
                loss: c.loss,
            });
            r.epochs.push(crate::trainer::EpochReport {
                epoch: e.epoch,
                learning_rate: f32::NAN,
                samples: c.samples,
                update_seconds: e.update_seconds,
                samples_per_sec: c.samples_per_sec,
                train_loss: c.loss,
                train_accuracy: c.accuracy,
                valid_loss: None,
                valid_accuracy: None,
                eval_seconds: 0.0,
                wall_seconds: e.update_seconds,
            });
        }
        Some(r)
    }
}

/// A finished mesh run.
#[derive(Clone, Debug)]
pub struct MeshTrained {
    /// Each cortex's name and final weights, in the order they were added.
    pub cortices: Vec<(String, Vec<f32>)>,
    /// What happened.
    pub report: MeshReport,
}

impl MeshTrained {
    /// The weights of the cortex called `name`.
    pub fn weights(&self, name: &str) -> Option<&[f32]> {
        self.cortices.iter().find(|c| c.0 == name).map(|c| c.1.as_slice())
    }

    /// The cortex called `name` as if trained alone: its weights and its
    /// per-epoch [`Report`] (for the [equivalence harness](crate::equivalence)).
    pub fn trained(&self, name: &str) -> Option<Trained> {
        Some(Trained {
            weights: self.weights(name)?.to_vec(),
            report: self.report.cortex(name)?,
        })
    }
}

type Router<'a, D> = Box<dyn Fn(&D, usize) -> Result<Routes, String> + Sync + 'a>;

/// Several models trained in one pool; see the [module docs](self).
pub struct Mesh<'a, D: Dataset + ?Sized> {
    trainer: Trainer,
    cortices: Vec<Box<dyn Cortex<D> + 'a>>,
    router: Option<Router<'a, D>>,
    join: JoinMode,
}

impl<'a, D: Dataset + ?Sized> Mesh<'a, D> {
    /// A mesh trained with `trainer`'s threads, epochs, schedule and seed
    /// (its policy is unused: each cortex names its own).
    pub fn new(trainer: Trainer) -> Self {
        Mesh {
            trainer,
            cortices: Vec::new(),
            router: None,
            join: JoinMode::Auto,
        }
    }

    /// Adds a cortex: a named model trained with `policy` on the samples
    /// routed to it. `Policy::Sequential` is treated as `Racy` here (the
    /// mesh's thread count decides parallelism). `HotCold` and `Auto` probe
    /// the cortex's own routed samples when training starts.
    pub fn cortex<M: Model<Data = D>>(mut self, name: &str, model: &'a M, policy: Policy) -> Self {
        let name = name.to_string();
        let c: Box<dyn Cortex<D> + 'a> = match policy {
            Policy::Sequential | Policy::Racy => Box::new(Typed {
                name,
                model,
                rule: policy::Racy,
            }),
            Policy::AtomicAdd => Box::new(Typed {
                name,
                model,
                rule: policy::AtomicAdd,
            }),
            Policy::Locked => Box::new(Typed {
                name,
                model,
                rule: policy::Locked,
            }),
            Policy::Batched { size } => Box::new(Typed {
                name,
                model,
                rule: policy::Batched { size },
            }),
            Policy::Replicas { every, merge } => Box::new(Typed {
                name,
                model,
                rule: policy::Replicas {
                    every: every.max(1),
                    merge,
                    workers: self.trainer.thread_count().max(1),
                },
            }),
            // These need the cortex's data: resolved when training starts.
            Policy::HotCold { .. } | Policy::Auto => Box::new(Probed { name, model, policy }),
        };
        self.cortices.push(c);
        self
    }

    /// Adds a cortex trained with a custom [`UpdateRule`].
    pub fn cortex_with_rule<M: Model<Data = D>, R: UpdateRule + 'a>(
        mut self,
        name: &str,
        model: &'a M,
        rule: R,
    ) -> Self {
        self.cortices.push(Box::new(Typed {
            name: name.to_string(),
            model,
            rule,
        }));
        self
    }

    /// Routes sample `i` of the data with a closure returning the cortices
    /// (by index, in the order they were added); an `Err(why)` stops training
    /// before it starts with an error naming the sample.
    pub fn route(mut self, router: impl Fn(&D, usize) -> Result<Routes, String> + Sync + 'a) -> Self {
        self.router = Some(Box::new(router));
        self
    }

    /// The built-in rule: each sample names a domain, and goes to the cortex
    /// of that name. A domain no cortex has is an error naming the sample.
    /// `None` routes the sample nowhere (it is counted as unrouted).
    pub fn route_by_domain(self, domain: impl for<'d> Fn(&'d D, usize) -> Option<&'d str> + Sync + 'a) -> Self {
        let names: Vec<String> = self.cortices.iter().map(|c| c.name().to_string()).collect();
        self.route(move |d, i| match domain(d, i) {
            None => Ok(Routes::none()),
            Some(name) => names
                .iter()
                .position(|n| n == name)
                .map(Routes::only)
                .ok_or_else(|| format!("unknown domain {name:?}; the mesh's cortices are {names:?}")),
        })
    }

    /// How multi-routed samples are stepped (default [`JoinMode::Auto`]).
    pub fn join(mut self, mode: JoinMode) -> Self {
        self.join = mode;
        self
    }

    /// The number of worker threads a fit uses.
    pub fn thread_count(&self) -> usize {
        self.trainer.thread_count()
    }

    /// Trains every cortex on `data`.
    pub fn fit(&self, data: &D) -> Result<MeshTrained, Error> {
        self.fit_seeded(data, self.trainer.get_seed())
    }

    /// Trains every cortex on `data` with `seed` in place of the trainer's
    /// (initial weights and sample orders), as the equivalence harness does
    /// for each of its seeds.
    pub fn fit_seeded(&self, data: &D, seed: u64) -> Result<MeshTrained, Error> {
        let t = &self.trainer.clone().seed(seed);
        t.check()?;
        let k = self.cortices.len();
        if k == 0 || k > 64 {
            return Err(Error::InvalidParameter {
                name: "cortices",
                reason: format!("a mesh needs 1 to 64 cortices, has {k}"),
            });
        }
        let Some(router) = &self.router else {
            return Err(Error::InvalidParameter {
                name: "router",
                reason: "no router set: call Mesh::route or Mesh::route_by_domain".into(),
            });
        };
        let n = data.len();
        check_training_len(n)?;
        // Route every sample once, up front: errors surface before any
        // training, and the hot loop reads a bitmask.
        let mut routes = Vec::with_capacity(n);
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); k];
        for i in 0..n {
            let r = router(data, i).map_err(|reason| Error::InvalidSample { row: i, reason }.in_dataset("training"))?;
            if r.0 >> k != 0 {
                return Err(Error::InvalidSample {
                    row: i,
                    reason: format!("routed to cortex {} but the mesh has {k}", 63 - r.0.leading_zeros()),
                }
                .in_dataset("training"));
            }
            for (c, rows) in rows.iter_mut().enumerate() {
                if r.contains(c) {
                    rows.push(i as u32);
                }
            }
            routes.push(r);
        }
        for c in &self.cortices {
            c.validate(data).map_err(|e| e.in_dataset("training"))?;
        }
        let threads = t.thread_count().max(1);
        let lr = t
            .get_schedule()
            .rate(t.get_start_epoch(), (t.get_start_epoch() * n) as u64);
        let mut resolved = Vec::with_capacity(k);
        for (c, cortex_rows) in self.cortices.iter().zip(&rows) {
            resolved.push(c.resolve(data, cortex_rows, t.get_seed(), lr, threads)?);
        }
        let cortices: Vec<&dyn Cortex<D>> = self
            .cortices
            .iter()
            .zip(&resolved)
            .map(|(c, r)| r.as_deref().unwrap_or(&**c))
            .collect();
        let stores: Vec<WeightStore> = cortices
            .iter()
            .map(|c| c.init(t.get_seed()))
            .collect::<Result<_, _>>()?;
        let pool = t.pool(threads)?;

        let mut report = MeshReport {
            threads,
            joined: vec![self.join == JoinMode::Always; threads],
            epochs: Vec::new(),
        };
        let mut last_finite: Vec<Vec<f32>> = stores.iter().map(WeightStore::snapshot).collect();
        let mut order = vec![0u32; n];
        let mut decided: Vec<Option<bool>> = vec![
            match self.join {
                JoinMode::Auto => None,
                JoinMode::Never => Some(false),
                JoinMode::Always => Some(true),
            };
            threads
        ];
        let unrouted = routes.iter().filter(|r| r.count() == 0).count() as u64;
        let steps: u64 = routes.iter().map(|r| r.count() as u64).sum();

        for epoch in t.get_start_epoch()..t.get_epochs() {
            epoch_order(t.get_seed(), epoch, &mut order);
            let clock = Instant::now();
            let choices = self.epoch(&pool, &cortices, &stores, data, &routes, &order, epoch, &decided);
            let update_seconds = clock.elapsed().as_secs_f64();
            for (d, c) in decided.iter_mut().zip(&choices) {
                d.get_or_insert(*c);
            }
            report.joined = decided.iter().map(|d| d.unwrap_or(false)).collect();

            let mut epoch_cortices = Vec::with_capacity(k);
            for (c, cortex) in cortices.iter().enumerate() {
                let (loss, accuracy) = if rows[c].is_empty() {
                    (0.0, None)
                } else {
                    cortex.eval(&pool, &stores[c], data, &rows[c])
                };
                let bad = if !loss.is_finite() {
                    Some(format!("cortex {:?}: the training loss is {loss}", cortex.name()))
                } else if !stores[c].all_finite() {
                    Some(format!("cortex {:?}: a weight is NaN or infinite", cortex.name()))
                } else {
                    None
                };
                if let Some(reason) = bad {
                    return Err(Error::Diverged(Box::new(Divergence {
                        epoch,
                        reason,
                        last_finite: std::mem::take(&mut last_finite[c]),
                        report: report.cortex(cortex.name()).unwrap_or_default(),
                    })));
                }
                epoch_cortices.push(CortexEpoch {
                    name: cortex.name().to_string(),
                    samples: rows[c].len() as u64,
                    samples_per_sec: rows[c].len() as f64 / update_seconds,
                    loss,
                    accuracy,
                });
            }
            for (s, w) in stores.iter().zip(&mut last_finite) {
                s.snapshot_into(w);
            }
            report.epochs.push(MeshEpoch {
                epoch,
                samples: n as u64,
                unrouted,
                steps,
                update_seconds,
                samples_per_sec: n as f64 / update_seconds,
                cortices: epoch_cortices,
            });
        }
        Ok(MeshTrained {
            cortices: self
                .cortices
                .iter()
                .map(|c| c.name().to_string())
                .zip(last_finite)
                .collect(),
            report,
        })
    }

    /// One epoch's updates; returns each worker's join choice.
    #[allow(clippy::too_many_arguments)]
    fn epoch(
        &self,
        pool: &rayon::ThreadPool,
        cortices: &[&dyn Cortex<D>],
        stores: &[WeightStore],
        data: &D,
        routes: &[Routes],
        order: &[u32],
        epoch: usize,
        decided: &[Option<bool>],
    ) -> Vec<bool> {
        let n = order.len();
        let sched = self.trainer.get_schedule();
        let mut choices = vec![false; decided.len()];
        let slots: Vec<std::sync::Mutex<bool>> = choices.iter().map(|&c| std::sync::Mutex::new(c)).collect();
        pool.broadcast(|ctx| {
            let (me, parts) = (ctx.index(), ctx.num_threads());
            let share = me * n / parts..(me + 1) * n / parts;
            let mut workers: Vec<Box<dyn ErasedWorker<D> + '_>> =
                cortices.iter().zip(stores).map(|(c, s)| c.worker(s)).collect();
            let mut chooser = Chooser::new(decided.get(me).copied().flatten());
            let base = (epoch * n) as u64;
            for p in share {
                let i = order[p] as usize;
                let r = routes[i];
                let lr = sched.rate(epoch, base + p as u64);
                if r.count() < 2 {
                    if let Some(c) = (r.0 != 0).then(|| r.0.trailing_zeros() as usize) {
                        workers[c].step(data, i, lr);
                    }
                    continue;
                }
                let join = chooser.next();
                let clock = chooser.timing().then(Instant::now);
                step_set(&mut workers, 0, r.0, data, i, lr, join);
                if let Some(c) = clock {
                    chooser.record(join, c.elapsed().as_nanos() as u64);
                }
            }
            for w in &mut workers {
                w.finish();
            }
            if let Some(slot) = slots.get(me) {
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = chooser.choice();
            }
        });
        for (c, s) in choices.iter_mut().zip(slots) {
            *c = s.into_inner().unwrap_or_else(|e| e.into_inner());
        }
        choices
    }
}

/// Steps every cortex of `mask` (bits relative to `offset`) that lies in
/// `workers`, splitting the slice in halves under `rayon::join` when `join`.
fn step_set<D: Dataset + ?Sized>(
    workers: &mut [Box<dyn ErasedWorker<D> + '_>],
    offset: usize,
    mask: u64,
    data: &D,
    i: usize,
    lr: f32,
    join: bool,
) {
    let len = workers.len();
    let here = mask >> offset & if len >= 64 { u64::MAX } else { (1u64 << len) - 1 };
    if here == 0 {
        return;
    }
    if !join || here.count_ones() == 1 {
        for (c, w) in workers.iter_mut().enumerate() {
            if here >> c & 1 == 1 {
                w.step(data, i, lr);
            }
        }
        return;
    }
    let (left, right) = workers.split_at_mut(len / 2);
    rayon::join(
        || step_set(left, offset, mask, data, i, lr, true),
        || step_set(right, offset + len / 2, mask, data, i, lr, true),
    );
}

/// Under `Auto`, a worker alternates the two ways on its first
/// `2 * TRIALS` multi-routed samples, then keeps the faster.
struct Chooser {
    fixed: Option<bool>,
    seen: u32,
    nanos: [u64; 2],
}

const TRIALS: u32 = 64;

impl Chooser {
    fn new(fixed: Option<bool>) -> Self {
        Chooser {
            fixed,
            seen: 0,
            nanos: [0; 2],
        }
    }

    fn timing(&self) -> bool {
        self.fixed.is_none()
    }

    fn next(&mut self) -> bool {
        self.fixed.unwrap_or(self.seen % 2 == 1)
    }

    fn record(&mut self, joined: bool, nanos: u64) {
        self.nanos[usize::from(joined)] += nanos;
        self.seen += 1;
        if self.seen == 2 * TRIALS {
            self.fixed = Some(self.nanos[1] < self.nanos[0]);
        }
    }

    fn choice(&self) -> bool {
        self.fixed.unwrap_or(self.nanos[1] < self.nanos[0])
    }
}

/// A cortex with its model and rule types erased: one virtual call per
/// (sample, cortex), inside which the step is the monomorphised loop.
trait Cortex<D: Dataset + ?Sized>: Sync {
    fn name(&self) -> &str;
    fn validate(&self, data: &D) -> Result<(), Error>;
    fn init(&self, seed: u64) -> Result<WeightStore, Error>;
    fn worker<'s>(&'s self, store: &'s WeightStore) -> Box<dyn ErasedWorker<D> + 's>;
    fn eval(&self, pool: &rayon::ThreadPool, store: &WeightStore, data: &D, rows: &[u32]) -> (f64, Option<f64>);
    /// A cortex whose rule depends on its data returns the resolved one.
    fn resolve(
        &self,
        _data: &D,
        _rows: &[u32],
        _seed: u64,
        _lr: f32,
        _threads: usize,
    ) -> Result<Option<Box<dyn Cortex<D> + '_>>, Error> {
        Ok(None)
    }
}

/// A cortex whose policy (`HotCold`, `Auto`) is resolved by probing its
/// routed samples when training starts; until then it would train as `Racy`.
struct Probed<'m, M> {
    name: String,
    model: &'m M,
    policy: Policy,
}

impl<M: Model> Cortex<M::Data> for Probed<'_, M> {
    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, data: &M::Data) -> Result<(), Error> {
        self.model.validate(data)
    }

    fn init(&self, seed: u64) -> Result<WeightStore, Error> {
        initial_store(self.model, seed)
    }

    fn worker<'s>(&'s self, store: &'s WeightStore) -> Box<dyn ErasedWorker<M::Data> + 's> {
        Box::new(TypedWorker {
            model: self.model,
            worker: policy::Racy.worker(store),
        })
    }

    fn eval(&self, pool: &rayon::ThreadPool, store: &WeightStore, data: &M::Data, rows: &[u32]) -> (f64, Option<f64>) {
        let (loss, acc) = evaluate::mean_loss(pool, self.model, store, data, Some(rows));
        (loss + self.model.penalty(store), acc)
    }

    fn resolve(
        &self,
        data: &M::Data,
        rows: &[u32],
        seed: u64,
        lr: f32,
        threads: usize,
    ) -> Result<Option<Box<dyn Cortex<M::Data> + '_>>, Error> {
        let typed = |name: String, rule| -> Box<dyn Cortex<M::Data> + '_> {
            Box::new(Typed {
                name,
                model: self.model,
                rule,
            })
        };
        if rows.is_empty() {
            return Ok(None);
        }
        let mut start = vec![0.0; self.model.dim()];
        self.model.init(&mut start, seed);
        let touches =
            policy::Touches::probe_rows(self.model, data, Some(rows), &start, policy::PROBE_SAMPLES, lr, seed)?;
        let policy = match self.policy {
            Policy::Auto => policy::choose(&touches, self.model.dim(), threads).policy,
            p => p,
        };
        let name = self.name.clone();
        Ok(Some(match policy {
            Policy::HotCold { hot, every } => typed(
                name,
                policy::HotCold::from_touches(&touches, self.model.dim(), hot, every)?,
            ),
            Policy::Replicas { every, merge } => Box::new(Typed {
                name,
                model: self.model,
                rule: policy::Replicas {
                    every: every.max(1),
                    merge,
                    workers: threads,
                },
            }),
            _ => return Ok(None), // Racy: what `worker` already does
        }))
    }
}

trait ErasedWorker<D: ?Sized>: Send {
    fn step(&mut self, data: &D, i: usize, lr: f32);
    fn finish(&mut self);
}

struct Typed<'m, M, R> {
    name: String,
    model: &'m M,
    rule: R,
}

struct TypedWorker<'s, M, W> {
    model: &'s M,
    worker: W,
}

impl<M: Model, R: UpdateRule> Cortex<M::Data> for Typed<'_, M, R> {
    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, data: &M::Data) -> Result<(), Error> {
        self.model.validate(data)
    }

    fn init(&self, seed: u64) -> Result<WeightStore, Error> {
        initial_store(self.model, seed)
    }

    fn worker<'s>(&'s self, store: &'s WeightStore) -> Box<dyn ErasedWorker<M::Data> + 's> {
        Box::new(TypedWorker {
            model: self.model,
            worker: self.rule.worker(store),
        })
    }

    fn eval(&self, pool: &rayon::ThreadPool, store: &WeightStore, data: &M::Data, rows: &[u32]) -> (f64, Option<f64>) {
        let (loss, acc) = evaluate::mean_loss(pool, self.model, store, data, Some(rows));
        (loss + self.model.penalty(store), acc)
    }
}

impl<M: Model, W: Worker> ErasedWorker<M::Data> for TypedWorker<'_, M, W> {
    #[inline]
    fn step(&mut self, data: &M::Data, i: usize, lr: f32) {
        let sample = data.sample(i);
        let model = self.model;
        self.worker.update(|w| model.step(w, sample, lr));
    }

    fn finish(&mut self) {
        self.worker.finish();
    }
}
