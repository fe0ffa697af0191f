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
use crate::model::{Linear, Model};
use crate::trainer::{drive, Engine, Hooks, Schedule, Trained, Trainer};
use crate::Error;

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
    let pool = trainer.pool(1)?;
    let engine = Plain {
        w: vec![0.0; crate::Model::dim(model)],
    };
    drive(trainer, model, train, None, Hooks::default(), engine, &pool)
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
    let pool = trainer.pool(1)?;
    let mut w = vec![0.0; model.dim()];
    model.init(&mut w, trainer.get_seed());
    drive(trainer, model, train, None, Hooks::default(), Generic { w }, &pool)
}

struct Plain {
    w: Vec<f32>,
}

struct Generic {
    w: Vec<f32>,
}

impl<M: Model> Engine<M> for Generic {
    type W = [f32];

    fn name(&self) -> String {
        "plain".into()
    }

    fn threads(&self) -> usize {
        1
    }

    fn segment(
        &mut self,
        m: &M,
        data: &M::Data,
        sched: &Schedule,
        epoch: usize,
        order: &[u32],
        range: Range<usize>,
    ) -> u64 {
        let base = (epoch * order.len()) as u64;
        let applied = range.len() as u64;
        for p in range {
            let lr = sched.rate(epoch, base + p as u64);
            m.step(&mut self.w, data.sample(order[p] as usize), lr);
        }
        applied
    }

    fn weights(&self) -> &[f32] {
        &self.w
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
}

impl Engine<Linear> for Plain {
    type W = [f32];

    fn name(&self) -> String {
        "plain".into()
    }

    fn threads(&self) -> usize {
        1
    }

    fn segment(
        &mut self,
        m: &Linear,
        data: &CsrDataset,
        sched: &Schedule,
        epoch: usize,
        order: &[u32],
        range: Range<usize>,
    ) -> u64 {
        let applied = range.len() as u64;
        let w = &mut self.w[..];
        let d = m.n_features();
        let (bias, bias_scale, l2, loss) = (m.has_bias(), m.bias_rate(), m.l2_strength(), m.loss_fn());
        let base = (epoch * order.len()) as u64;
        for p in range {
            let x = data.sample(order[p] as usize);
            let lr = sched.rate(epoch, base + p as u64);
            let mut margin = if bias { w[d] } else { 0.0 };
            for (&j, &v) in x.indices.iter().zip(x.values) {
                margin += w[j as usize] * v;
            }
            let g = loss.derivative(margin, x.label);
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
                    w[j] += -(lr * (g * v + m.l2_factor(j) * w[j]));
                }
            }
            if bias && g != 0.0 {
                w[d] += -(lr * g * bias_scale);
            }
        }
        applied
    }

    fn weights(&self) -> &[f32] {
        &self.w
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
}
