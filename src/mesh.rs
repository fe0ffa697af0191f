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

mod engine;

use serde::Serialize;

use crate::data::Dataset;
use crate::error::Error;
use crate::model::Model;
use crate::policy::{Policy, UpdateRule};
use crate::store::WeightStore;
use crate::trainer::{check_training_len, drive, EpochReport, Hooks, Outcome, Report, Train, Trained, Trainer};
use engine::{Cortex, MeshEngine, Spec, Typed};

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
    /// Each worker times both ways, in alternating blocks, on its first
    /// multi-routed samples of the first epoch and joins only if that was
    /// clearly faster (by a margin the timing noise cannot reach); otherwise
    /// it steps one after another.
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
    /// Its mean loss on the validation rows routed to it, with
    /// [`Mesh::validation`].
    pub valid_loss: Option<f64>,
    /// Its validation accuracy, for classifiers.
    pub valid_accuracy: Option<f64>,
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
    /// Each cortex's policy as resolved (`auto:racy` where `Auto` picked
    /// `Racy`), in the order the cortices were added.
    pub policies: Vec<String>,
    /// The run as the trainer reports it: its objective is the sum of the
    /// cortices' objectives, its validation loss (with
    /// [`Mesh::validation`]) the sum of theirs on the routed validation rows.
    pub run: Report,
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
        for (e, run) in self.epochs.iter().zip(&self.run.epochs) {
            let c = &e.cortices[idx];
            samples += c.samples;
            seconds += e.update_seconds;
            r.trace.push(crate::trainer::TracePoint {
                epoch: e.epoch,
                samples,
                update_seconds: seconds,
                loss: c.loss,
            });
            r.epochs.push(EpochReport {
                epoch: e.epoch,
                learning_rate: run.learning_rate,
                samples: c.samples,
                update_seconds: e.update_seconds,
                samples_per_sec: c.samples_per_sec,
                train_loss: c.loss,
                train_accuracy: c.accuracy,
                valid_loss: c.valid_loss,
                valid_accuracy: c.valid_accuracy,
                eval_seconds: run.eval_seconds,
                wall_seconds: run.wall_seconds,
            });
        }
        Some(r)
    }
}

/// A mesh run's result.
#[derive(Clone, Debug)]
pub struct MeshTrained {
    /// Each cortex's name and final weights, in the order they were added.
    pub cortices: Vec<(String, Vec<f32>)>,
    /// What happened.
    pub report: MeshReport,
    /// How the run ended (a divergence keeps every cortex's last finite
    /// weights).
    pub outcome: Outcome,
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
            outcome: self.outcome.clone(),
        })
    }
}

type Router<'a, D> = Box<dyn Fn(&D, usize) -> Result<Routes, String> + Sync + 'a>;
type MeshEpochHook<'a> = Box<dyn FnMut(&EpochReport) -> crate::trainer::Control + 'a>;
type MeshWeightsHook<'a> = Box<dyn FnMut(usize, &[f32]) -> Result<(), Error> + 'a>;

/// Several models trained in one pool; see the [module docs](self).
pub struct Mesh<'a, D: Dataset + ?Sized> {
    trainer: Trainer,
    cortices: Vec<Box<dyn Spec<D> + 'a>>,
    router: Option<Router<'a, D>>,
    join: JoinMode,
    valid: Option<&'a D>,
    on_epoch: std::cell::RefCell<Option<MeshEpochHook<'a>>>,
    on_weights: std::cell::RefCell<Option<MeshWeightsHook<'a>>>,
}

impl<'a, D: Dataset + ?Sized> Mesh<'a, D> {
    /// A mesh trained with `trainer`'s threads, epochs, schedule, seed,
    /// averaging, loss subset, evaluation points, start epoch and stop flag
    /// (its policy is unused: each cortex names its own).
    pub fn new(trainer: Trainer) -> Self {
        Mesh {
            trainer,
            cortices: Vec::new(),
            router: None,
            join: JoinMode::Auto,
            valid: None,
            on_epoch: Default::default(),
            on_weights: Default::default(),
        }
    }

    /// Adds a cortex: a named model trained with `policy` on the samples
    /// routed to it. `Policy::Sequential` is treated as `Racy` here (the
    /// mesh's thread count decides parallelism). `HotCold` and `Auto` probe
    /// the cortex's own routed samples when training starts.
    pub fn cortex<M: Model<Data = D>>(mut self, name: &str, model: &'a M, policy: Policy) -> Self {
        let policy = if policy == Policy::Sequential {
            Policy::Racy
        } else {
            policy
        };
        self.cortices.push(Box::new(engine::ByPolicy {
            name: name.to_string(),
            model,
            policy,
        }));
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
            policy: "custom".to_string(),
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

    /// Report each cortex's validation loss on the rows of `valid` the
    /// router sends it (and the sum, in [`MeshReport::run`]).
    pub fn validation(mut self, valid: &'a D) -> Self {
        self.valid = Some(valid);
        self
    }

    /// Called after each epoch with the run's report (the sum over the
    /// cortices); [`Control::Stop`](crate::trainer::Control::Stop) ends
    /// training. Used by the next fit only (a mesh fitted again, as the
    /// equivalence harness does once per seed, runs without it).
    pub fn on_epoch(self, f: impl FnMut(&EpochReport) -> crate::trainer::Control + 'a) -> Self {
        *self.on_epoch.borrow_mut() = Some(Box::new(f));
        self
    }

    /// Called after each epoch that ended finite with the epoch and every
    /// cortex's weights, one after another in the order they were added
    /// ([`split`](MeshTrained::split) cuts them): the place for checkpoints.
    /// Used by the next fit only, as [`on_epoch`](Self::on_epoch).
    pub fn on_weights(self, f: impl FnMut(usize, &[f32]) -> Result<(), Error> + 'a) -> Self {
        *self.on_weights.borrow_mut() = Some(Box::new(f));
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
    /// for each of its seeds; `warm`, when given, holds every cortex's
    /// starting weights one after another (a resumed run's).
    pub fn fit_from(&self, data: &D, seed: u64, warm: Option<&[f32]>) -> Result<MeshTrained, Error> {
        let result = self.fit_inner(data, seed, warm);
        // A data-parallel mesh: an error here would leave the other ranks
        // waiting in their next collective.
        if let (Err(e), Some(c)) = (&result, self.trainer.get_cluster()) {
            c.abort(&e.to_string());
        }
        result
    }

    fn fit_inner(&self, data: &D, seed: u64, warm: Option<&[f32]>) -> Result<MeshTrained, Error> {
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
        let (routes, rows) = route_all(router, data, k, "training")?;
        let valid_rows = match self.valid {
            Some(v) => Some(route_all(router, v, k, "validation")?.1),
            None => None,
        };
        for c in &self.cortices {
            c.validate(data).map_err(|e| e.in_dataset("training"))?;
        }
        let threads = t.thread_count().max(1);
        let lr = t
            .get_schedule()
            .rate(t.get_start_epoch(), (t.get_start_epoch() * n) as u64);
        let mut cortices: Vec<Box<dyn Cortex<D> + '_>> = Vec::with_capacity(k);
        for (c, cortex_rows) in self.cortices.iter().zip(&rows) {
            cortices.push(c.resolve(data, cortex_rows, seed, lr, threads)?);
        }
        let mut stores = Vec::with_capacity(k);
        for c in &cortices {
            stores.push(c.init(seed)?);
        }
        if let Some(w) = warm {
            let parts = cut(w, stores.iter().map(WeightStore::len)).ok_or_else(|| Error::LengthMismatch {
                what: "warm-start weights of the mesh's cortices",
                expected: stores.iter().map(WeightStore::len).sum(),
                found: w.len(),
            })?;
            for (s, part) in stores.iter().zip(parts) {
                s.load_from(part)?;
            }
        }
        let policies = cortices.iter().map(|c| c.policy().to_string()).collect();
        let pool = t.pool(threads)?;
        let mut engine = MeshEngine::new(&cortices, &stores, &pool, routes, rows, valid_rows, self.join, t);
        let hooks = Hooks {
            on_epoch: self.on_epoch.borrow_mut().take(),
            on_weights: self.on_weights.borrow_mut().take(),
            on_progress: None,
        };
        let trained = drive(t, &mut engine, &mut Train::Validated(data), self.valid, hooks, &pool);
        let (epochs, joined) = engine.into_log();
        let trained = trained?;
        let parts =
            cut(&trained.weights, stores.iter().map(WeightStore::len)).expect("the driver's weights are the stores'");
        let cortices = cortices
            .iter()
            .zip(parts)
            .map(|(c, w)| (c.name().to_string(), w.to_vec()))
            .collect();
        Ok(MeshTrained {
            cortices,
            report: MeshReport {
                threads,
                policies,
                run: trained.report,
                joined,
                epochs,
            },
            outcome: trained.outcome,
        })
    }

    /// [`fit_from`](Self::fit_from) with fresh weights.
    pub fn fit_seeded(&self, data: &D, seed: u64) -> Result<MeshTrained, Error> {
        self.fit_from(data, seed, None)
    }
}

impl MeshTrained {
    /// Cuts weights laid out as [`Mesh::on_weights`] hands them (every
    /// cortex's, one after another) into this run's cortices' lengths.
    pub fn split<'w>(&self, weights: &'w [f32]) -> Option<Vec<&'w [f32]>> {
        cut(weights, self.cortices.iter().map(|(_, w)| w.len()))
    }
}

/// Cuts `flat` (every cortex's weights, one after another) into pieces of
/// `lens`; `None` unless the lengths add up to exactly `flat`'s.
fn cut(flat: &[f32], lens: impl IntoIterator<Item = usize>) -> Option<Vec<&[f32]>> {
    let mut out = Vec::new();
    let mut rest = flat;
    for n in lens {
        let (here, tail) = rest.split_at_checked(n)?;
        out.push(here);
        rest = tail;
    }
    rest.is_empty().then_some(out)
}

/// Routes every sample of `data` once, up front: errors surface before any
/// training, and the hot loop reads a bitmask. Returns the routes and each
/// cortex's rows.
fn route_all<D: Dataset + ?Sized>(
    router: &Router<'_, D>,
    data: &D,
    k: usize,
    what: &'static str,
) -> Result<(Vec<Routes>, Vec<Vec<u32>>), Error> {
    let n = data.len();
    let mut routes = Vec::with_capacity(n);
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); k];
    for i in 0..n {
        let r = router(data, i).map_err(|reason| Error::InvalidSample { row: i, reason }.in_dataset(what))?;
        if r.0 >> k != 0 {
            return Err(Error::InvalidSample {
                row: i,
                reason: format!("routed to cortex {} but the mesh has {k}", 63 - r.0.leading_zeros()),
            }
            .in_dataset(what));
        }
        for (c, rows) in rows.iter_mut().enumerate() {
            if r.contains(c) {
                rows.push(i as u32);
            }
        }
        routes.push(r);
    }
    Ok((routes, rows))
}
