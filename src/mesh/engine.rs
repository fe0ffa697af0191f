//! The mesh as an [`Engine`] of the one driver: cortices with their model
//! and rule types erased behind one virtual call per (sample, cortex), each
//! step inside it the monomorphised loop.

use std::time::Instant;

use crossbeam_utils::CachePadded;

use super::{CortexEpoch, JoinMode, MeshEpoch, Routes};
use crate::data::Dataset;
use crate::error::Error;
use crate::model::{Model, Step};
use crate::policy::{self, Policy, UpdateRule, UseRule, Worker};
use crate::store::WeightStore;
use crate::sync::{self, Mutex};
use crate::trainer::{evaluate, initial_store, segments, share, Engine, Schedule, StopFlag, Trainer, Visit};

/// A cortex as added to the mesh, before its data is seen.
pub(crate) trait Spec<D: Dataset + ?Sized>: Sync {
    fn name(&self) -> &str;
    fn validate(&self, data: &D) -> Result<(), Error>;
    /// The cortex to train, its policy resolved on its routed `rows`.
    fn resolve(
        &self,
        data: &D,
        rows: &[u32],
        seed: u64,
        lr: f32,
        threads: usize,
    ) -> Result<Box<dyn Cortex<D> + '_>, Error>;
}

/// A cortex ready to train.
pub(crate) trait Cortex<D: Dataset + ?Sized>: Sync {
    fn name(&self) -> &str;
    fn validate(&self, data: &D) -> Result<(), Error>;
    /// The policy's name as resolved.
    fn policy(&self) -> &str;
    fn init(&self, seed: u64) -> Result<WeightStore, Error>;
    fn worker<'s>(&'s self, store: &'s WeightStore) -> Box<dyn ErasedWorker<D> + 's>;
    /// The objective (mean loss plus penalty) over `rows`, and accuracy.
    fn objective(
        &self,
        pool: &rayon::ThreadPool,
        store: &WeightStore,
        data: &D,
        rows: &[u32],
        epoch: usize,
    ) -> (f64, Option<f64>);
    /// The mean loss over `rows`, and accuracy.
    fn loss(
        &self,
        pool: &rayon::ThreadPool,
        store: &WeightStore,
        data: &D,
        rows: &[u32],
        epoch: usize,
    ) -> (f64, Option<f64>);
}

pub(crate) trait ErasedWorker<D: ?Sized>: Send {
    /// Steps sample `i` of `data` (`at.index` names its original row).
    fn step(&mut self, data: &D, i: usize, at: Step);
    fn finish(&mut self);
}

/// A cortex trained under a [`Policy`], resolved through
/// [`policy::resolve`] like any job's.
pub(crate) struct ByPolicy<'m, M> {
    pub(crate) name: String,
    pub(crate) model: &'m M,
    pub(crate) policy: Policy,
}

impl<M: Model> Spec<M::Data> for ByPolicy<'_, M> {
    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, data: &M::Data) -> Result<(), Error> {
        self.model.validate(data)
    }

    fn resolve(
        &self,
        data: &M::Data,
        rows: &[u32],
        seed: u64,
        lr: f32,
        threads: usize,
    ) -> Result<Box<dyn Cortex<M::Data> + '_>, Error> {
        let make = MakeCortex {
            name: &self.name,
            model: self.model,
        };
        let samples = policy::probe_samples(self.policy, threads);
        if samples == 0 {
            return policy::resolve(self.policy, None, self.model.n_weights(), threads, make);
        }
        if rows.is_empty() {
            // Nothing routed here: nothing to probe, nothing to contend on.
            return Ok(make.with(policy::rule::RacyRule, Policy::Racy.to_string()));
        }
        let mut start = vec![0.0; self.model.n_weights()];
        self.model.init(&mut start, seed);
        let touches = policy::Touches::probe_rows(self.model, data, Some(rows), &start, samples, lr, seed)?;
        policy::resolve(self.policy, Some(&touches), self.model.n_weights(), threads, make)
    }
}

struct MakeCortex<'n, 'm, M> {
    name: &'n str,
    model: &'m M,
}

impl<'m, M: Model> UseRule for MakeCortex<'_, 'm, M> {
    type Output = Box<dyn Cortex<M::Data> + 'm>;

    fn with<R: UpdateRule + 'static>(self, rule: R, name: String) -> Self::Output {
        Box::new(Typed {
            name: self.name.to_string(),
            policy: name,
            model: self.model,
            rule,
        })
    }
}

pub(crate) struct Typed<'m, M, R> {
    pub(crate) name: String,
    pub(crate) policy: String,
    pub(crate) model: &'m M,
    pub(crate) rule: R,
}

impl<M: Model, R: UpdateRule> Spec<M::Data> for Typed<'_, M, R> {
    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, data: &M::Data) -> Result<(), Error> {
        self.model.validate(data)
    }

    fn resolve(
        &self,
        _: &M::Data,
        _: &[u32],
        _: u64,
        _: f32,
        _: usize,
    ) -> Result<Box<dyn Cortex<M::Data> + '_>, Error> {
        Ok(Box::new(Borrowed(self)))
    }
}

/// A custom-rule cortex lent to one fit.
struct Borrowed<'c, C>(&'c C);

impl<D: Dataset + ?Sized, C: Cortex<D>> Cortex<D> for Borrowed<'_, C> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn validate(&self, data: &D) -> Result<(), Error> {
        Cortex::validate(self.0, data)
    }
    fn policy(&self) -> &str {
        self.0.policy()
    }
    fn init(&self, seed: u64) -> Result<WeightStore, Error> {
        self.0.init(seed)
    }
    fn worker<'s>(&'s self, store: &'s WeightStore) -> Box<dyn ErasedWorker<D> + 's> {
        self.0.worker(store)
    }
    fn objective(
        &self,
        pool: &rayon::ThreadPool,
        store: &WeightStore,
        data: &D,
        rows: &[u32],
        epoch: usize,
    ) -> (f64, Option<f64>) {
        self.0.objective(pool, store, data, rows, epoch)
    }
    fn loss(
        &self,
        pool: &rayon::ThreadPool,
        store: &WeightStore,
        data: &D,
        rows: &[u32],
        epoch: usize,
    ) -> (f64, Option<f64>) {
        self.0.loss(pool, store, data, rows, epoch)
    }
}

impl<M: Model, R: UpdateRule> Cortex<M::Data> for Typed<'_, M, R> {
    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, data: &M::Data) -> Result<(), Error> {
        self.model.validate(data)
    }

    fn policy(&self) -> &str {
        &self.policy
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

    fn objective(
        &self,
        pool: &rayon::ThreadPool,
        store: &WeightStore,
        data: &M::Data,
        rows: &[u32],
        epoch: usize,
    ) -> (f64, Option<f64>) {
        evaluate::objective(pool, self.model, store, data, Some(rows), epoch)
    }

    fn loss(
        &self,
        pool: &rayon::ThreadPool,
        store: &WeightStore,
        data: &M::Data,
        rows: &[u32],
        epoch: usize,
    ) -> (f64, Option<f64>) {
        evaluate::mean_loss(pool, self.model, store, data, Some(rows), epoch)
    }
}

struct TypedWorker<'s, M, W> {
    model: &'s M,
    worker: W,
}

impl<M: Model, W: Worker> ErasedWorker<M::Data> for TypedWorker<'_, M, W> {
    #[inline]
    fn step(&mut self, data: &M::Data, i: usize, at: Step) {
        let sample = data.sample(i);
        let model = self.model;
        self.worker.update(|w| model.step(w, sample, at));
    }

    fn finish(&mut self) {
        self.worker.finish();
    }
}

/// Under [`JoinMode::Auto`], a worker alternates the two ways in blocks of
/// `BLOCK` multi-routed samples until each way has `TRIALS` blocks, then
/// joins only if joining took less than `MARGIN` of the time one after
/// another did. Blocks, not single samples, are timed (a clock read costs
/// about as much as a small step), and the margin keeps timing noise from
/// ever picking the slower way: with every worker busy on its own share, a
/// join mostly adds overhead, and only a clear win should buy it.
struct Chooser {
    fixed: Option<bool>,
    blocks: [u32; 2],
    nanos: [u64; 2],
    in_block: u32,
    clock: Option<Instant>,
}

const BLOCK: u32 = 32;
const TRIALS: u32 = 32;
const MARGIN: f64 = 0.85;

impl Chooser {
    fn new(fixed: Option<bool>) -> Self {
        Chooser {
            fixed,
            blocks: [0; 2],
            nanos: [0; 2],
            in_block: 0,
            clock: None,
        }
    }

    /// The way to step the next multi-routed sample.
    fn next(&mut self) -> bool {
        if let Some(f) = self.fixed {
            return f;
        }
        if self.in_block == 0 {
            self.clock = Some(Instant::now());
        }
        (self.blocks[0] + self.blocks[1]) % 2 == 1
    }

    /// After the sample [`next`](Self::next) chose `joined` for.
    fn done(&mut self, joined: bool) {
        if self.fixed.is_some() {
            return;
        }
        self.in_block += 1;
        if self.in_block < BLOCK {
            return;
        }
        self.in_block = 0;
        let way = usize::from(joined);
        self.nanos[way] += self.clock.take().map_or(0, |c| c.elapsed().as_nanos() as u64);
        self.blocks[way] += 1;
        if self.blocks[0] >= TRIALS && self.blocks[1] >= TRIALS {
            self.fixed = Some(self.join_wins());
        }
    }

    fn join_wins(&self) -> bool {
        self.blocks[1] > 0
            && self.blocks[0] > 0
            && (self.nanos[1] as f64 / f64::from(self.blocks[1]))
                < MARGIN * (self.nanos[0] as f64 / f64::from(self.blocks[0]))
    }

    /// The choice so far: a worker that saw too few samples to decide steps
    /// one after another.
    fn choice(&self) -> Option<bool> {
        self.fixed
            .or((self.blocks[0] + self.blocks[1] > 0).then(|| self.join_wins()))
    }
}

/// A loss and, for classifiers, an accuracy.
type Figures = (f64, Option<f64>);

/// One thread's state for an epoch: a worker per cortex and its chooser.
struct Lane<'s, D: ?Sized> {
    workers: Vec<Box<dyn ErasedWorker<D> + 's>>,
    chooser: Chooser,
}

pub(crate) struct MeshEngine<'e, D: Dataset + ?Sized> {
    cortices: &'e [Box<dyn Cortex<D> + 'e>],
    stores: &'e [WeightStore],
    pool: &'e rayon::ThreadPool,
    routes: Vec<Routes>,
    rows: Vec<Vec<u32>>,
    valid_rows: Option<Vec<Vec<u32>>>,
    decided: Vec<Option<bool>>,
    stop: Option<StopFlag>,
    /// Each cortex's last objective and validation figures, for the log.
    last: Mutex<Vec<Figures>>,
    last_valid: Mutex<Vec<Option<Figures>>>,
    update_seconds: f64,
    log: Vec<MeshEpoch>,
}

impl<'e, D: Dataset + ?Sized> MeshEngine<'e, D> {
    #[allow(clippy::too_many_arguments)] // a private constructor, called once
    pub(crate) fn new(
        cortices: &'e [Box<dyn Cortex<D> + 'e>],
        stores: &'e [WeightStore],
        pool: &'e rayon::ThreadPool,
        routes: Vec<Routes>,
        rows: Vec<Vec<u32>>,
        valid_rows: Option<Vec<Vec<u32>>>,
        join: JoinMode,
        t: &Trainer,
    ) -> Self {
        let k = cortices.len();
        MeshEngine {
            cortices,
            stores,
            pool,
            routes,
            rows,
            valid_rows,
            decided: vec![
                match join {
                    JoinMode::Auto => None,
                    JoinMode::Never => Some(false),
                    JoinMode::Always => Some(true),
                };
                pool.current_num_threads()
            ],
            stop: t.stop_flag_ref().cloned(),
            last: Mutex::new(vec![(0.0, None); k]),
            last_valid: Mutex::new(vec![None; k]),
            update_seconds: 0.0,
            log: Vec::new(),
        }
    }

    /// The per-epoch log and each worker's join choice.
    pub(crate) fn into_log(self) -> (Vec<MeshEpoch>, Vec<bool>) {
        (self.log, self.decided.iter().map(|d| d.unwrap_or(false)).collect())
    }

    /// The rows of cortex `c` among `subset` (both sorted), or all of them.
    fn rows_of(&self, c: usize, subset: Option<&[u32]>) -> Vec<u32> {
        let mine = &self.rows[c];
        match subset {
            None => mine.clone(),
            Some(s) => mine.iter().copied().filter(|r| s.binary_search(r).is_ok()).collect(),
        }
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
    at: Step,
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
                w.step(data, i, at);
            }
        }
        return;
    }
    let (left, right) = workers.split_at_mut(len / 2);
    rayon::join(
        || step_set(left, offset, mask, data, i, at, true),
        || step_set(right, offset + len / 2, mask, data, i, at, true),
    );
}

/// Sums per-cortex figures: the losses, and the accuracy weighted by rows.
fn total(figures: &[(f64, Option<f64>)], weights: &[usize]) -> (f64, Option<f64>) {
    let loss = figures.iter().map(|f| f.0).sum();
    let (mut right, mut judged) = (0.0, 0usize);
    for (f, &n) in figures.iter().zip(weights) {
        if let Some(a) = f.1 {
            right += a * n as f64;
            judged += n;
        }
    }
    (loss, (judged > 0).then(|| right / judged as f64))
}

impl<D: Dataset + ?Sized> Engine for MeshEngine<'_, D> {
    type Data = D;

    fn name(&self) -> String {
        "mesh".into()
    }

    fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    fn validate(&self, data: &D) -> Result<(), Error> {
        for c in self.cortices {
            c.validate(data).map_err(|e| Error::InvalidParameter {
                name: "cortex",
                reason: format!("{:?}: {e}", c.name()),
            })?;
        }
        Ok(())
    }

    fn epoch(
        &mut self,
        visit: &Visit<'_, D>,
        sched: &Schedule,
        epoch: usize,
        span: std::ops::Range<usize>,
        points: &[usize],
        pause: &mut dyn FnMut(&Self),
    ) -> u64 {
        let this = &*self;
        let (data, order) = (visit.data, visit.order);
        let (n, stop, routes) = (order.len(), this.stop.as_ref(), &this.routes);
        let lanes: Vec<CachePadded<Mutex<Lane<'_, D>>>> = this
            .decided
            .iter()
            .map(|&d| {
                CachePadded::new(Mutex::new(Lane {
                    workers: this
                        .cortices
                        .iter()
                        .zip(this.stores)
                        .map(|(c, s)| c.worker(s))
                        .collect(),
                    chooser: Chooser::new(d),
                }))
            })
            .collect();
        let base = (epoch * n) as u64;
        let (mut applied, mut seconds) = (0u64, 0.0f64);
        for (seg, paused) in segments(points, span.clone()) {
            let clock = Instant::now();
            applied += this
                .pool
                .broadcast(|ctx| {
                    let mut lane = sync::lock(&lanes[ctx.index()]);
                    let Lane { workers, chooser } = &mut *lane;
                    let mine = share(&seg, ctx.index(), ctx.num_threads());
                    let start = mine.start;
                    for p in mine.clone() {
                        if stop.is_some_and(StopFlag::is_raised) {
                            return (p - start) as u64;
                        }
                        if visit.prefetch {
                            if let Some(&ahead) = order.get(p + 8) {
                                data.prefetch(ahead as usize);
                            }
                        }
                        let i = order[p] as usize;
                        // Routes are per original row; the copy's rows are
                        // named by `visit.index`.
                        let index = visit.index(i);
                        let r = routes[index];
                        let at = Step {
                            lr: sched.rate(epoch, base + p as u64),
                            epoch,
                            index,
                        };
                        if r.count() < 2 {
                            if r.0 != 0 {
                                workers[r.0.trailing_zeros() as usize].step(data, i, at);
                            }
                            continue;
                        }
                        let join = chooser.next();
                        step_set(workers, 0, r.0, data, i, at, join);
                        chooser.done(join);
                    }
                    mine.len() as u64
                })
                .into_iter()
                .sum::<u64>();
            seconds += clock.elapsed().as_secs_f64();
            if paused {
                pause(this);
            }
        }
        let clock = Instant::now();
        let choices = this.pool.broadcast(|ctx| {
            let mut lane = sync::lock(&lanes[ctx.index()]);
            for w in &mut lane.workers {
                w.finish();
            }
            lane.chooser.choice()
        });
        seconds += clock.elapsed().as_secs_f64();
        for (d, c) in self.decided.iter_mut().zip(choices) {
            if d.is_none() {
                *d = c;
            }
        }
        self.update_seconds = seconds;
        applied
    }

    fn objective(&self, pool: &rayon::ThreadPool, data: &D, rows: Option<&[u32]>, epoch: usize) -> (f64, Option<f64>) {
        let mut figures = Vec::with_capacity(self.cortices.len());
        let mut counts = Vec::with_capacity(self.cortices.len());
        for (c, (cortex, store)) in self.cortices.iter().zip(self.stores).enumerate() {
            let rows = self.rows_of(c, rows);
            counts.push(rows.len());
            figures.push(if rows.is_empty() {
                (0.0, None)
            } else {
                cortex.objective(pool, store, data, &rows, epoch)
            });
        }
        let sum = total(&figures, &counts);
        *sync::lock(&self.last) = figures;
        sum
    }

    fn validation(&self, pool: &rayon::ThreadPool, data: &D, epoch: usize) -> (f64, Option<f64>) {
        let Some(valid_rows) = &self.valid_rows else {
            return (f64::NAN, None); // never asked for without a validation set
        };
        let mut figures = Vec::with_capacity(self.cortices.len());
        let mut seen = Vec::with_capacity(self.cortices.len());
        for ((cortex, store), rows) in self.cortices.iter().zip(self.stores).zip(valid_rows) {
            let f = (!rows.is_empty()).then(|| cortex.loss(pool, store, data, rows, epoch));
            seen.push(f);
            figures.push(f.unwrap_or((0.0, None)));
        }
        let counts: Vec<usize> = valid_rows.iter().map(Vec::len).collect();
        *sync::lock(&self.last_valid) = seen;
        total(&figures, &counts)
    }

    fn all_finite(&self) -> bool {
        self.stores.iter().all(WeightStore::all_finite)
    }

    fn non_finite(&self) -> Option<String> {
        let bad: Vec<&str> = self
            .cortices
            .iter()
            .zip(self.stores)
            .filter(|(_, s)| !s.all_finite())
            .map(|(c, _)| c.name())
            .collect();
        (!bad.is_empty()).then(|| format!("a weight of cortex {} is NaN or infinite", bad.join(", ")))
    }

    fn snapshot_into(&self, out: &mut Vec<f32>) {
        out.clear();
        let mut part = Vec::new();
        for s in self.stores {
            s.snapshot_into(&mut part);
            out.extend_from_slice(&part);
        }
    }

    fn load(&mut self, weights: &[f32]) {
        let parts =
            super::cut(weights, self.stores.iter().map(WeightStore::len)).expect("weights of the stores' lengths");
        for (s, part) in self.stores.iter().zip(parts) {
            s.load_from(part).expect("a part of its store's length");
        }
    }

    fn end_epoch(&mut self, _: &rayon::ThreadPool, data: &D, epoch: usize) {
        let n = data.len() as u64;
        let last = sync::lock(&self.last).clone();
        let valid = std::mem::take(&mut *sync::lock(&self.last_valid));
        let seconds = self.update_seconds;
        let cortices = self
            .cortices
            .iter()
            .enumerate()
            .map(|(c, cortex)| {
                let samples = self.rows[c].len() as u64;
                let v = valid.get(c).copied().flatten();
                CortexEpoch {
                    name: cortex.name().to_string(),
                    samples,
                    samples_per_sec: samples as f64 / seconds,
                    loss: last[c].0,
                    accuracy: last[c].1,
                    valid_loss: v.map(|v| v.0),
                    valid_accuracy: v.and_then(|v| v.1),
                }
            })
            .collect();
        *sync::lock(&self.last_valid) = vec![None; self.cortices.len()];
        self.log.push(MeshEpoch {
            epoch,
            samples: n,
            unrouted: self.routes.iter().filter(|r| r.count() == 0).count() as u64,
            steps: self.routes.iter().map(|r| r.count() as u64).sum(),
            update_seconds: seconds,
            samples_per_sec: n as f64 / seconds,
            cortices,
        });
    }
}
