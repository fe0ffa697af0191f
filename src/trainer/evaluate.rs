use rayon::prelude::*;

use crate::data::Dataset;
use crate::model::{Model, Step, Weights};

/// Rows per block of the parallel loss sum. Blocks are summed in order, so
/// the result does not depend on how Rayon schedules them.
const BLOCK: usize = 4096;

/// The mean loss of `model` over `data` (or over `rows` of it), and the
/// accuracy for classifiers, as seen in `epoch`. Deterministic for given
/// weights.
pub(crate) fn mean_loss<M: Model, W: Weights + Sync + ?Sized>(
    pool: &rayon::ThreadPool,
    model: &M,
    w: &W,
    data: &M::Data,
    rows: Option<&[u32]>,
    epoch: usize,
) -> (f64, Option<f64>) {
    let n = rows.map_or(data.len(), <[u32]>::len);
    let row = |i: usize| rows.map_or(i, |r| r[i] as usize);
    let blocks: Vec<(f64, usize, usize)> = pool.install(|| {
        (0..n.div_ceil(BLOCK))
            .into_par_iter()
            .map(|b| {
                let (mut loss, mut right, mut judged) = (0.0f64, 0usize, 0usize);
                for i in b * BLOCK..((b + 1) * BLOCK).min(n) {
                    let index = row(i);
                    let s = data.sample(index);
                    loss += model.loss(w, s, Step { lr: 0.0, epoch, index });
                    if let Some(ok) = model.correct(w, s) {
                        judged += 1;
                        right += usize::from(ok);
                    }
                }
                (loss, right, judged)
            })
            .collect()
    });
    let (mut loss, mut right, mut judged) = (0.0, 0, 0);
    for (l, r, j) in blocks {
        loss += l;
        right += r;
        judged += j;
    }
    (loss / n as f64, (judged > 0).then(|| right as f64 / judged as f64))
}

/// The training objective: [`mean_loss`] plus the model's penalty.
pub(crate) fn objective<M: Model, W: Weights + Sync + ?Sized>(
    pool: &rayon::ThreadPool,
    model: &M,
    w: &W,
    data: &M::Data,
    rows: Option<&[u32]>,
    epoch: usize,
) -> (f64, Option<f64>) {
    let (loss, acc) = mean_loss(pool, model, w, data, rows, epoch);
    (loss + model.penalty(w), acc)
}
