//! The plain sequential loop every speed-up is measured against.
//!
//! A hand-written `&mut [f32]` loop for [`Linear`] models ([`plain_linear`]),
//! and for any other model a loop calling its `step` on a plain `Vec<f32>`
//! ([`plain`]): the same maths, schedule and per-epoch shuffled order as the
//! trainer, with no atomics, no views and no thread pool in the update path.
//! Their weights equal [`Policy::Sequential`](crate::Policy::Sequential)'s
//! bit for bit (tests check it), so they are honest baselines rather than
//! straw men.

use std::ops::Range;

use crate::data::{CsrDataset, Dataset};
use crate::error::Error;
use crate::model::{shrink, Linear, Model, Step, Update};
use crate::trainer::{ahead, drive, evaluate, segments, Engine, Hooks, Schedule, Train, Trained, Trainer, Visit};

/// Trains `model` on `train` with a plain single-threaded loop, using the
/// trainer's epochs, schedule, seed and evaluation settings (its thread count
/// and policy are ignored). The report's policy is `"plain"`.
///
/// ```
/// use wildsgd::{baseline, data::Synthetic, Linear, Loss, Policy, Trainer};
///
/// let data = Synthetic { rows: 3000, features: 800, ..Synthetic::default() }.generate().unwrap();
/// let model = Linear::new(Loss::Logistic, data.n_features()).bias(true).l2(1e-4, &data);
/// let trainer = Trainer::new().epochs(2).policy(Policy::Sequential).seed(3);
/// let plain = baseline::plain_linear(&trainer, &model, &data).unwrap();
/// let seq = trainer.fit(&model, &data).unwrap();
/// assert_eq!(plain.weights, seq.weights); // bit for bit
/// ```
pub fn plain_linear(trainer: &Trainer, model: &Linear, train: &CsrDataset) -> Result<Trained, Error> {
    // Linear's `init` is all zeros, as this loop has always started.
    run(trainer, model, train, linear_segment)
}

/// Trains any `model` with a plain single-threaded loop: its own
/// [`step`](Model::step) on a `Vec<f32>` (monomorphised: no atomics, no
/// dispatch), from [`Model::init`] with the trainer's seed, with the
/// trainer's epochs, schedule, seed and evaluation settings. The report's
/// policy is `"plain"`.
///
/// ```
/// use wildsgd::{baseline, data::Synthetic, Linear, Loss, Policy, Trainer};
///
/// let data = Synthetic { rows: 2000, features: 500, ..Synthetic::default() }.generate().unwrap();
/// let model = Linear::new(Loss::Hinge, data.n_features()).bias(true);
/// let trainer = Trainer::new().epochs(2).policy(Policy::Sequential).seed(5);
/// let plain = baseline::plain(&trainer, &model, &data).unwrap();
/// assert_eq!(plain.weights, trainer.fit(&model, &data).unwrap().weights);
/// ```
pub fn plain<M: Model>(trainer: &Trainer, model: &M, train: &M::Data) -> Result<Trained, Error> {
    run(trainer, model, train, model_segment::<M>)
}

/// The samples at positions `range` of the visit in `epoch`, applied to `w`.
type Segment<M> = fn(&M, &mut [f32], &Visit<'_, <M as Model>::Data>, &Schedule, usize, Range<usize>);

fn run<M: Model>(trainer: &Trainer, model: &M, train: &M::Data, segment: Segment<M>) -> Result<Trained, Error> {
    crate::limits::check_weights("the model", model.n_weights() as u64, 3)?;
    let pool = trainer.pool(1)?;
    let mut w = vec![0.0; model.n_weights()];
    model.init(&mut w, trainer.get_seed());
    let mut engine = Plain { model, w, segment };
    drive(
        trainer,
        &mut engine,
        &mut Train::Fixed(train),
        None,
        Hooks::default(),
        &pool,
    )
}

/// The plain loop: one `Vec<f32>`, no pool, no views.
struct Plain<'m, M: Model> {
    model: &'m M,
    w: Vec<f32>,
    segment: Segment<M>,
}

fn model_segment<M: Model>(
    m: &M,
    w: &mut [f32],
    visit: &Visit<'_, M::Data>,
    sched: &Schedule,
    epoch: usize,
    range: Range<usize>,
) {
    let base = visit.base;
    for p in range {
        if visit.prefetch {
            ahead(m, visit, w, epoch, p);
        }
        let lr = sched.rate(epoch, base + p as u64);
        let i = visit.order[p] as usize;
        let index = visit.index(i);
        m.step(w, visit.data.sample(i), Step { lr, epoch, index });
    }
}

/// [`Linear`]'s step written out by hand on a slice.
fn linear_segment(
    m: &Linear,
    w: &mut [f32],
    visit: &Visit<'_, CsrDataset>,
    sched: &Schedule,
    epoch: usize,
    range: Range<usize>,
) {
    if m.get_update() == Update::Adaptive {
        // The adaptive update's per-coordinate maths is the model's own
        // step on the slice: monomorphised, no atomics, the same bits.
        return model_segment(m, w, visit, sched, epoch, range);
    }
    let d = m.n_features();
    let (bias, bias_scale, l2, loss) = (m.get_bias(), m.get_bias_scale(), m.get_l2(), m.get_loss());
    let (data, order) = (visit.data, visit.order);
    let base = (epoch * order.len()) as u64;
    for p in range {
        if visit.prefetch {
            if let Some(&i) = order.get(p + 8) {
                data.prefetch(i as usize);
            }
        }
        let x = data.sample(order[p] as usize);
        let lr = sched.rate(epoch, base + p as u64);
        // The model's own margin (its summation order), so the weights
        // stay bit-identical to Sequential's.
        let g = loss.derivative(m.margin(&w[..], &x), x.label);
        if l2 == 0.0 {
            if g == 0.0 {
                continue;
            }
            for (&j, &v) in x.indices.iter().zip(x.values) {
                w[j as usize] += -(lr * (g * v));
            }
        } else {
            for (&j, &v) in x.indices.iter().zip(x.values) {
                let j = j as usize;
                let wj = w[j];
                w[j] += shrink(wj - lr * (g * v), lr * m.l2_factor(j)) - wj;
            }
        }
        if bias && g != 0.0 {
            w[d] += -(lr * g * bias_scale);
        }
    }
}

impl<M: Model> Engine for Plain<'_, M> {
    type Data = M::Data;

    fn name(&self) -> String {
        "plain".into()
    }

    fn threads(&self) -> usize {
        1
    }

    fn validate(&self, data: &M::Data) -> Result<(), Error> {
        self.model.validate(data)
    }

    fn epoch(
        &mut self,
        visit: &Visit<'_, M::Data>,
        sched: &Schedule,
        epoch: usize,
        span: std::ops::Range<usize>,
        points: &[usize],
        pause: &mut dyn FnMut(&Self),
    ) -> u64 {
        let applied = span.len() as u64;
        for (range, paused) in segments(points, span) {
            (self.segment)(self.model, &mut self.w, visit, sched, epoch, range);
            if paused {
                pause(self);
            }
        }
        applied
    }

    fn objective(
        &self,
        pool: &rayon::ThreadPool,
        data: &M::Data,
        rows: Option<&[u32]>,
        epoch: usize,
    ) -> (f64, Option<f64>) {
        evaluate::objective(pool, self.model, &self.w[..], data, rows, epoch)
    }

    fn validation(&self, pool: &rayon::ThreadPool, data: &M::Data, epoch: usize) -> (f64, Option<f64>) {
        evaluate::mean_loss(pool, self.model, &self.w[..], data, None, epoch)
    }

    fn all_finite(&self) -> bool {
        self.w.iter().all(|v| v.is_finite())
    }

    fn snapshot_into(&self, out: &mut Vec<f32>) {
        out.clear();
        out.extend_from_slice(&self.w);
    }

    fn load(&mut self, weights: &[f32]) {
        self.w.copy_from_slice(weights);
    }

    fn load_some(&mut self, at: &[u32], weights: &[f32]) {
        for &j in at {
            self.w[j as usize] = weights[j as usize];
        }
    }
}
