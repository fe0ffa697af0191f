//! The pool engine: the workers of a Rayon pool update one shared store
//! through a rule's [`Worker`]s, which live for a whole epoch.

use std::ops::Range;

use crossbeam_utils::CachePadded;

use super::driver::{Engine, Visit};
use super::evaluate;
use super::{Schedule, StopFlag};
use crate::data::Dataset;
use crate::error::Error;
use crate::model::{Model, Step};
use crate::policy::{UpdateRule, Worker};
use crate::store::WeightStore;
use crate::sync::{self, Mutex};

pub(crate) struct PoolEngine<'a, M, R> {
    pub(crate) model: &'a M,
    pub(crate) store: &'a WeightStore,
    pub(crate) pool: &'a rayon::ThreadPool,
    pub(crate) rule: R,
    pub(crate) name: String,
    pub(crate) stop: Option<StopFlag>,
}

/// How far ahead of the loop rows are prefetched (in samples): far enough
/// for DRAM's ~100 ns, near enough that the lines are still in L1.
const ROWS_AHEAD: usize = 8;
/// How far ahead the weight rows a model names are prefetched: after the
/// sample's own row has arrived (it says which weight rows).
const WEIGHTS_AHEAD: usize = 4;
/// At most this many cache lines of each weight run are prefetched.
const WEIGHT_LINES: usize = 8;

/// Prefetches the row `ROWS_AHEAD` samples after position `p` of the visit
/// and the weight rows (in `weights`) of the one `WEIGHTS_AHEAD` after it.
#[inline]
pub(crate) fn ahead<M: Model, T>(model: &M, visit: &Visit<'_, M::Data>, weights: &[T], epoch: usize, p: usize) {
    ahead_also(model, visit, weights, epoch, p, |_| ());
}

/// [`ahead`], also handing each weight run to `also` (a worker's
/// [`prefetch`](Worker::prefetch) of its own copy).
#[inline]
pub(crate) fn ahead_also<M: Model, T>(
    model: &M,
    visit: &Visit<'_, M::Data>,
    weights: &[T],
    epoch: usize,
    p: usize,
    mut also: impl FnMut(std::ops::Range<usize>),
) {
    if let Some(&i) = visit.order.get(p + ROWS_AHEAD) {
        visit.data.prefetch(i as usize);
    }
    if let Some(&i) = visit.order.get(p + WEIGHTS_AHEAD) {
        let i = i as usize;
        let at = Step {
            lr: 0.0,
            epoch,
            index: visit.index(i),
        };
        model.prefetch_rows(visit.data.sample(i), at, |run| {
            if let Some(shared) = weights.get(run.clone()) {
                crate::prefetch::read_slice(shared, WEIGHT_LINES);
            }
            also(run);
        });
    }
}

#[allow(clippy::too_many_arguments)] // the per-sample loop's inputs, passed by value to stay in registers
/// The samples at positions `share` of the visit's order in `epoch`,
/// through `worker`, stopping early when `stop` is raised; returns how many
/// were applied. `weights` is what [`ahead`] prefetches into.
#[inline]
pub(crate) fn apply<M: Model, W: Worker, T>(
    model: &M,
    worker: &mut W,
    visit: &Visit<'_, M::Data>,
    weights: &[T],
    sched: &Schedule,
    epoch: usize,
    share: Range<usize>,
    stop: Option<&StopFlag>,
) -> u64 {
    let base = visit.base;
    let start = share.start;
    for p in share.clone() {
        // One relaxed load of a line no one writes until a stop: it stays
        // in every core's cache and costs nothing measurable.
        if stop.is_some_and(StopFlag::is_raised) {
            return (p - start) as u64;
        }
        if visit.prefetch {
            ahead_also(model, visit, weights, epoch, p, |run| worker.prefetch(run));
        }
        let i = visit.order[p] as usize;
        let sample = visit.data.sample(i);
        let lr = sched.rate(epoch, base + p as u64);
        let index = visit.index(i);
        worker.update(|w| model.step(w, sample, Step { lr, epoch, index }));
    }
    share.len() as u64
}

/// Worker `k` of `parts`' contiguous share of `range`.
pub(crate) fn share(range: &Range<usize>, k: usize, parts: usize) -> Range<usize> {
    let len = range.len();
    range.start + k * len / parts..range.start + (k + 1) * len / parts
}

/// The segments of the positions `span` of an epoch cut at `points` (within
/// `span`), each with whether a pause follows it (every one but the last):
/// the loop every engine's `epoch` runs.
pub(crate) fn segments(points: &[usize], span: Range<usize>) -> impl Iterator<Item = (Range<usize>, bool)> + '_ {
    let starts = std::iter::once(span.start).chain(points.iter().copied());
    let ends = points
        .iter()
        .map(|&p| (p, true))
        .chain(std::iter::once((span.end, false)));
    starts.zip(ends).map(|(start, (end, paused))| (start..end, paused))
}

impl<M: Model, R: UpdateRule> Engine for PoolEngine<'_, M, R> {
    type Data = M::Data;

    fn name(&self) -> String {
        self.name.clone()
    }

    fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    fn validate(&self, data: &M::Data) -> Result<(), Error> {
        self.model.validate(data)
    }

    fn epoch(
        &mut self,
        visit: &Visit<'_, M::Data>,
        sched: &Schedule,
        epoch: usize,
        span: Range<usize>,
        points: &[usize],
        pause: &mut dyn FnMut(&Self),
    ) -> u64 {
        let this = &*self;
        let (model, stop) = (this.model, this.stop.as_ref());
        let weights = this.store.atomics();
        let mut applied = 0;
        if this.pool.current_num_threads() == 1 {
            // One worker: run it on the calling thread, as a hand-written
            // loop would, rather than hand the work to a pool thread and
            // wait (on a 2-vCPU VM that hand-off measured up to 15% slower).
            let mut worker = this.rule.worker(this.store);
            for (seg, paused) in segments(points, span.clone()) {
                applied += apply(model, &mut worker, visit, weights, sched, epoch, seg, stop);
                if paused {
                    pause(this);
                }
            }
            worker.finish();
            return applied;
        }
        // One worker per pool thread for the whole epoch; each thread takes
        // its own slot (an uncontended lock, once per segment). The slots
        // are cache-padded: a worker's counters are written every sample,
        // and neighbours in one line would be written by two cores.
        let slots: Vec<CachePadded<Mutex<R::Worker<'_>>>> = (0..this.pool.current_num_threads())
            .map(|_| CachePadded::new(Mutex::new(this.rule.worker(this.store))))
            .collect();
        for (seg, paused) in segments(points, span.clone()) {
            applied += this
                .pool
                .broadcast(|ctx| {
                    let mut worker = sync::lock(&slots[ctx.index()]);
                    let mine = share(&seg, ctx.index(), ctx.num_threads());
                    apply(model, &mut *worker, visit, weights, sched, epoch, mine, stop)
                })
                .into_iter()
                .sum::<u64>();
            if paused {
                pause(this);
            }
        }
        this.pool.broadcast(|ctx| sync::lock(&slots[ctx.index()]).finish());
        applied
    }

    fn objective(
        &self,
        pool: &rayon::ThreadPool,
        data: &M::Data,
        rows: Option<&[u32]>,
        epoch: usize,
    ) -> (f64, Option<f64>) {
        evaluate::objective(pool, self.model, self.store, data, rows, epoch)
    }

    fn validation(&self, pool: &rayon::ThreadPool, data: &M::Data, epoch: usize) -> (f64, Option<f64>) {
        evaluate::mean_loss(pool, self.model, self.store, data, None, epoch)
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

    fn load_some(&mut self, at: &[u32], weights: &[f32]) {
        for &j in at {
            self.store.set(j as usize, weights[j as usize]);
        }
    }

    // Compared and read where they are: no copy of every weight.
    fn changed_from(&self, base: &[f32], out: &mut Vec<u32>) {
        crate::cluster::Weights::changed_from(self.store, base, out);
    }

    fn values_at(&self, at: &[u32], out: &mut Vec<f32>) {
        crate::cluster::Weights::values_at(self.store, at, out);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::segments;

    #[test]
    fn segments_cover_the_epoch_with_a_pause_after_all_but_the_last() {
        let cut: Vec<_> = segments(&[3, 3, 7], 0..10).collect();
        assert_eq!(cut, vec![(0..3, true), (3..3, true), (3..7, true), (7..10, false)]);
        assert_eq!(segments(&[], 0..5).collect::<Vec<_>>(), vec![(0..5, false)]);
        assert_eq!(
            segments(&[6], 4..9).collect::<Vec<_>>(),
            vec![(4..6, true), (6..9, false)]
        );
    }
}
