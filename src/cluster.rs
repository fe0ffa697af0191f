//! Data-parallel training across processes: the ranks of a job and the few
//! collectives the trainer needs from them.
//!
//! Each rank trains on its own shard of the data with its own Rayon pool
//! and any [`Policy`](crate::Policy). Every `every` samples of the shard
//! (and at each epoch's end) the ranks combine their **changes since the
//! last exchange**: the sum of every rank's delta is added to the weights
//! all of them started the interval from, so each sample's update counts
//! once. Averaging the models instead would divide every step by the rank
//! count. Dense models send the whole delta through an all-reduce; sparse
//! ones send only the coordinates they changed, when that is smaller (see
//! [`Exchange`]).
//!
//! The transport is a [`Cluster`]: [`Solo`] (one process, nothing to
//! exchange), [`Threads`] (ranks as threads of one process, for tests and
//! the equivalence harness) or, with the `mpi` cargo feature, `Mpi` (one
//! rank per MPI process; see the README's "Past one machine").
//!
//! Everything the ranks decide on — a loss that ends a run, a back-off, a
//! stop request, the choice between sparse and dense exchange — is computed
//! from values every rank receives from the same collective, so no rank
//! waits in a collective the others have left.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex};

use crate::error::Error;

#[cfg(feature = "mpi")]
mod mpi;
#[cfg(feature = "mpi")]
pub use self::mpi::Mpi;

/// The ranks of a data-parallel job: which one this process is, and the
/// collectives. Every rank must call the same collectives in the same order
/// with buffers of the same length (for the sums and maxima).
///
/// Dynamic dispatch is fine here: a collective runs once per exchange
/// (thousands of samples), never per sample.
pub trait Cluster: Send + Sync + fmt::Debug {
    /// This process's rank, from 0.
    fn rank(&self) -> usize;
    /// How many ranks the job has.
    fn size(&self) -> usize;
    /// Element-wise sum over the ranks, in place: every rank ends with the
    /// same values.
    fn sum_f32(&self, buf: &mut [f32]) -> Result<(), Error>;
    /// Element-wise sum over the ranks, in place.
    fn sum_f64(&self, buf: &mut [f64]) -> Result<(), Error>;
    /// Element-wise maximum over the ranks, in place.
    fn max_u64(&self, buf: &mut [u64]) -> Result<(), Error>;
    /// Every rank's `mine`, concatenated in rank order into `all` (replacing
    /// its contents); `counts[r]` is how many came from rank `r`.
    fn gather_u32(&self, mine: &[u32], all: &mut Vec<u32>, counts: &mut Vec<usize>) -> Result<(), Error>;
    /// Ends the whole job because this rank failed with `why`. Under MPI
    /// every process exits (this one too: it does not return); in-process
    /// ranks waiting in a collective get an error naming this rank.
    fn abort(&self, why: &str);
    /// The transport, for reports ("threads", "mpi: Open MPI v4.1.4").
    fn transport(&self) -> String;
}

/// A job of one rank: every collective is the identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct Solo;

impl Cluster for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn sum_f32(&self, _: &mut [f32]) -> Result<(), Error> {
        Ok(())
    }
    fn sum_f64(&self, _: &mut [f64]) -> Result<(), Error> {
        Ok(())
    }
    fn max_u64(&self, _: &mut [u64]) -> Result<(), Error> {
        Ok(())
    }
    fn gather_u32(&self, mine: &[u32], all: &mut Vec<u32>, counts: &mut Vec<usize>) -> Result<(), Error> {
        all.clear();
        all.extend_from_slice(mine);
        counts.clear();
        counts.push(mine.len());
        Ok(())
    }
    fn abort(&self, _: &str) {}
    fn transport(&self) -> String {
        "solo".into()
    }
}

/// What one rank hands to a collective.
#[derive(Debug)]
enum Payload {
    Empty,
    F32(Vec<f32>),
    F64(Vec<f64>),
    U64(Vec<u64>),
    U32(Vec<u32>),
}

#[derive(Debug)]
struct State {
    /// Each rank's contribution to the collective in progress.
    slots: Vec<Payload>,
    /// Ranks that have deposited (phase 0) or read (phase 1) this round.
    arrived: usize,
    /// Counts completed phases, so a waiter knows its phase is over.
    generation: u64,
    /// The first rank that failed or left, and why.
    broken: Option<(usize, String)>,
}

#[derive(Debug)]
struct Shared {
    size: usize,
    state: Mutex<State>,
    turn: Condvar,
}

/// Ranks as threads of one process, for tests and the equivalence harness:
/// [`Threads::ranks`] makes the job's handles, one per thread. Sums are
/// taken in rank order, so every rank gets bit-identical results and a run
/// is as reproducible as its policy. A rank that [aborts](Cluster::abort),
/// or whose handle is dropped (a panic unwinding, or a rank that stopped
/// early), breaks the job: the others' collectives return an error naming
/// it instead of waiting for ever.
///
/// ```
/// use wildsgd::cluster::{Cluster, Threads};
///
/// let sums: Vec<Vec<f32>> = std::thread::scope(|s| {
///     let handles: Vec<_> = Threads::ranks(3)
///         .into_iter()
///         .map(|r| s.spawn(move || {
///             let mut v = vec![r.rank() as f32, 1.0];
///             r.sum_f32(&mut v).unwrap();
///             v
///         }))
///         .collect();
///     handles.into_iter().map(|h| h.join().unwrap()).collect()
/// });
/// assert!(sums.iter().all(|v| v == &[3.0, 3.0]));
/// ```
#[derive(Debug)]
pub struct Threads {
    rank: usize,
    shared: Arc<Shared>,
}

impl Threads {
    /// The `size` ranks of one in-process job (at least 1).
    pub fn ranks(size: usize) -> Vec<Threads> {
        let size = size.max(1);
        let shared = Arc::new(Shared {
            size,
            state: Mutex::new(State {
                slots: (0..size).map(|_| Payload::Empty).collect(),
                arrived: 0,
                generation: 0,
                broken: None,
            }),
            turn: Condvar::new(),
        });
        (0..size)
            .map(|rank| Threads {
                rank,
                shared: Arc::clone(&shared),
            })
            .collect()
    }

    fn error(&self, what: String) -> Error {
        Error::Cluster {
            rank: self.rank,
            size: self.shared.size,
            what,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock means a rank panicked holding it: the state is
        // still consistent (every write under it is a single assignment).
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until every rank has arrived at this phase.
    fn wait_all<'g>(
        &self,
        mut st: std::sync::MutexGuard<'g, State>,
    ) -> Result<std::sync::MutexGuard<'g, State>, Error> {
        if let Some((r, why)) = &st.broken {
            return Err(self.error(format!("rank {r} ended the job: {why}")));
        }
        st.arrived += 1;
        if st.arrived == self.shared.size {
            st.arrived = 0;
            st.generation += 1;
            self.shared.turn.notify_all();
            return Ok(st);
        }
        let generation = st.generation;
        while st.generation == generation {
            if let Some((r, why)) = &st.broken {
                return Err(self.error(format!("rank {r} ended the job: {why}")));
            }
            st = self.shared.turn.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        Ok(st)
    }

    /// Deposits `mine`, lets `read` see every rank's payload once all have
    /// arrived, then waits until all have read (so no slot is overwritten
    /// while another rank still reads it).
    fn collective<T>(&self, mine: Payload, read: impl FnOnce(&[Payload]) -> T) -> Result<T, Error> {
        let mut st = self.lock();
        st.slots[self.rank] = mine;
        let st = self.wait_all(st)?;
        let out = read(&st.slots);
        // A slot is overwritten only by its own rank's next deposit, which
        // cannot come before this second wait ends for everyone.
        drop(self.wait_all(st)?);
        Ok(out)
    }

    fn mismatch(&self, what: &str) -> Error {
        self.error(format!("the ranks called different collectives ({what})"))
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        let mut st = self.lock();
        if st.broken.is_none() {
            st.broken = Some((
                self.rank,
                "its handle was dropped (the rank finished or panicked)".into(),
            ));
        }
        self.shared.turn.notify_all();
    }
}

impl Cluster for Threads {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn sum_f32(&self, buf: &mut [f32]) -> Result<(), Error> {
        let n = buf.len();
        let ok = self.collective(Payload::F32(buf.to_vec()), |slots| {
            let mut sum = vec![0.0f32; n];
            for s in slots {
                match s {
                    Payload::F32(v) if v.len() == n => sum.iter_mut().zip(v).for_each(|(a, b)| *a += b),
                    _ => return None,
                }
            }
            Some(sum)
        })?;
        buf.copy_from_slice(&ok.ok_or_else(|| self.mismatch("sum_f32"))?);
        Ok(())
    }

    fn sum_f64(&self, buf: &mut [f64]) -> Result<(), Error> {
        let n = buf.len();
        let ok = self.collective(Payload::F64(buf.to_vec()), |slots| {
            let mut sum = vec![0.0f64; n];
            for s in slots {
                match s {
                    Payload::F64(v) if v.len() == n => sum.iter_mut().zip(v).for_each(|(a, b)| *a += b),
                    _ => return None,
                }
            }
            Some(sum)
        })?;
        buf.copy_from_slice(&ok.ok_or_else(|| self.mismatch("sum_f64"))?);
        Ok(())
    }

    fn max_u64(&self, buf: &mut [u64]) -> Result<(), Error> {
        let n = buf.len();
        let ok = self.collective(Payload::U64(buf.to_vec()), |slots| {
            let mut max = vec![0u64; n];
            for s in slots {
                match s {
                    Payload::U64(v) if v.len() == n => max.iter_mut().zip(v).for_each(|(a, &b)| *a = (*a).max(b)),
                    _ => return None,
                }
            }
            Some(max)
        })?;
        buf.copy_from_slice(&ok.ok_or_else(|| self.mismatch("max_u64"))?);
        Ok(())
    }

    fn gather_u32(&self, mine: &[u32], all: &mut Vec<u32>, counts: &mut Vec<usize>) -> Result<(), Error> {
        all.clear();
        counts.clear();
        let ok = self.collective(Payload::U32(mine.to_vec()), |slots| {
            for s in slots {
                match s {
                    Payload::U32(v) => {
                        all.extend_from_slice(v);
                        counts.push(v.len());
                    }
                    _ => return false,
                }
            }
            true
        })?;
        if ok {
            Ok(())
        } else {
            Err(self.mismatch("gather_u32"))
        }
    }

    fn abort(&self, why: &str) {
        let mut st = self.lock();
        if st.broken.is_none() {
            st.broken = Some((self.rank, why.to_string()));
        }
        self.shared.turn.notify_all();
    }

    fn transport(&self) -> String {
        "threads".into()
    }
}

/// A shared handle to a job's [`Cluster`], as a
/// [`Trainer`](crate::Trainer) holds it.
#[derive(Clone)]
pub struct Handle(pub(crate) Arc<dyn Cluster>);

impl Handle {
    /// Wraps `cluster`.
    pub fn new(cluster: impl Cluster + 'static) -> Self {
        Handle(Arc::new(cluster))
    }

    /// The cluster.
    pub fn get(&self) -> &dyn Cluster {
        &*self.0
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rank {} of {} ({})",
            self.0.rank(),
            self.0.size(),
            self.0.transport()
        )
    }
}

impl PartialEq for Handle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Which way an exchange sends the ranks' changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Exchange {
    /// The whole delta through an all-reduce: `4 × weights` bytes per rank.
    Dense,
    /// Only the changed coordinates (index and value, 8 bytes each), every
    /// rank receiving every rank's list.
    Sparse,
}

/// How many bytes of touched coordinates a sparse exchange may gather, as a
/// multiple of the dense all-reduce's payload, before the dense one is used
/// instead: a ring all-reduce moves about twice its payload per rank, and a
/// gather moves what it receives once. Measured: see
/// `benches/results/2core-epyc/distributed/`.
pub const SPARSE_BREAK_EVEN: f64 = 2.0;

/// The exchange that moves fewer bytes when the ranks changed `touched`
/// coordinates in all (summed over ranks) of `weights`.
pub fn exchange_for(touched: u64, weights: usize) -> Exchange {
    let sparse = touched as f64 * 8.0;
    let dense = weights as f64 * 4.0;
    if sparse < SPARSE_BREAK_EVEN * dense {
        Exchange::Sparse
    } else {
        Exchange::Dense
    }
}

/// What a rank sent and how long it spent in collectives, for reports.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Traffic {
    /// Exchanges of weight changes.
    pub exchanges: u64,
    /// Of those, how many were sparse.
    pub sparse_exchanges: u64,
    /// Bytes this rank handed to collectives (its payloads; what the
    /// transport moves on the wire depends on its algorithm).
    pub bytes_sent: u64,
    /// Seconds exchanging: copying the weights out, computing the deltas,
    /// the collectives, applying the sum.
    pub seconds: f64,
}

/// What an exchange reads and writes of a rank's weights (the trainer's
/// engines are ones; so is a plain `Vec<f32>`).
pub(crate) trait Weights {
    /// Copies all weights into `out`.
    fn copy_into(&self, out: &mut Vec<f32>);
    /// Overwrites all weights.
    fn set_all(&mut self, weights: &[f32]);
    /// Overwrites the weights at `at` (possibly repeated) with those of the
    /// full-length `weights` there.
    fn set_some(&mut self, at: &[u32], weights: &[f32]);
    /// Replaces `out` by the indices of the weights that differ from
    /// `base` (NaN differs from everything), in order.
    fn changed_from(&self, base: &[f32], out: &mut Vec<u32>) {
        let mut now = Vec::new();
        self.copy_into(&mut now);
        now.as_slice().changed_from(base, out);
    }
    /// Appends the weights at `at` to `out`.
    fn values_at(&self, at: &[u32], out: &mut Vec<f32>) {
        let mut now = Vec::new();
        self.copy_into(&mut now);
        out.extend(at.iter().map(|&j| now[j as usize]));
    }
}

/// A branch-free compaction: every index is written, the count moves only
/// past changed ones.
fn compact(len: usize, differs: impl Fn(usize) -> bool, out: &mut Vec<u32>) {
    out.clear();
    out.resize(len.max(1), 0);
    let mut t = 0usize;
    for j in 0..len {
        out[t] = j as u32;
        t += usize::from(differs(j));
    }
    out.truncate(t);
}

impl Weights for &[f32] {
    fn copy_into(&self, out: &mut Vec<f32>) {
        out.clear();
        out.extend_from_slice(self);
    }
    fn set_all(&mut self, _: &[f32]) {
        unreachable!("a borrowed slice is only read")
    }
    fn set_some(&mut self, _: &[u32], _: &[f32]) {
        unreachable!("a borrowed slice is only read")
    }
    fn changed_from(&self, base: &[f32], out: &mut Vec<u32>) {
        compact(self.len(), |j| self[j] != base[j], out);
    }
    fn values_at(&self, at: &[u32], out: &mut Vec<f32>) {
        out.extend(at.iter().map(|&j| self[j as usize]));
    }
}

impl Weights for Vec<f32> {
    fn copy_into(&self, out: &mut Vec<f32>) {
        self.as_slice().copy_into(out);
    }
    fn set_all(&mut self, weights: &[f32]) {
        self.copy_from_slice(weights);
    }
    fn set_some(&mut self, at: &[u32], weights: &[f32]) {
        for &j in at {
            self[j as usize] = weights[j as usize];
        }
    }
    fn changed_from(&self, base: &[f32], out: &mut Vec<u32>) {
        self.as_slice().changed_from(base, out);
    }
    fn values_at(&self, at: &[u32], out: &mut Vec<f32>) {
        self.as_slice().values_at(at, out);
    }
}

impl Weights for crate::store::WeightStore {
    fn copy_into(&self, out: &mut Vec<f32>) {
        self.snapshot_into(out);
    }
    fn set_all(&mut self, weights: &[f32]) {
        self.load_from(weights).expect("weights of the store's length");
    }
    fn set_some(&mut self, at: &[u32], weights: &[f32]) {
        for &j in at {
            self.set(j as usize, weights[j as usize]);
        }
    }
    fn changed_from(&self, base: &[f32], out: &mut Vec<u32>) {
        compact(self.len(), |j| self.get(j) != base[j], out);
    }
    fn values_at(&self, at: &[u32], out: &mut Vec<f32>) {
        out.extend(at.iter().map(|&j| self.get(j as usize)));
    }
}

/// The combination of changes since the last exchange: the weights every
/// rank started the interval from, and scratch.
#[derive(Debug, Default)]
pub(crate) struct Exchanger {
    base: Vec<f32>,
    /// Zero between exchanges: a dense exchange's delta, a sparse one's
    /// accumulator of the gathered changes (cleared where they landed).
    delta: Vec<f32>,
    /// The coordinates this rank changed, then (for a sparse exchange) the
    /// changes' bits after them.
    pairs: Vec<u32>,
    values: Vec<f32>,
    all: Vec<u32>,
    counts: Vec<usize>,
    /// The coordinates the last sparse exchange set (every rank's changed
    /// ones), possibly repeated.
    changed: Vec<u32>,
}

impl Exchanger {
    /// Starts from `weights` (the same on every rank).
    pub(crate) fn reset(&mut self, weights: &[f32]) {
        self.base.clear();
        self.base.extend_from_slice(weights);
        self.delta.clear();
        self.delta.resize(weights.len(), 0.0);
    }

    /// Replaces this rank's weights `w` by the interval's start plus every
    /// rank's change, and makes that the next interval's start. `stop` is
    /// this rank's vote to stop; returns whether any rank voted so. One
    /// pass over the weights (compared where they are, not copied) finds
    /// this rank's changes; a sparse exchange then costs O(changes), a
    /// dense one a copy out, two passes and a copy back.
    pub(crate) fn exchange(
        &mut self,
        cluster: &dyn Cluster,
        w: &mut impl Weights,
        stop: bool,
        traffic: &mut Traffic,
    ) -> Result<bool, Error> {
        let n = self.base.len();
        w.changed_from(&self.base, &mut self.pairs);
        let t = self.pairs.len();
        // One small collective decides the shape of the big one from what
        // every rank reports, so all ranks take the same branch.
        let mut head = [t as f64, f64::from(u8::from(stop))];
        cluster.sum_f64(&mut head)?;
        traffic.bytes_sent += 16;
        let any_stop = head[1] > 0.0;
        traffic.exchanges += 1;
        match exchange_for(head[0] as u64, n) {
            Exchange::Dense => {
                w.copy_into(&mut self.values);
                for ((d, &now), &b) in self.delta.iter_mut().zip(&self.values).zip(&self.base) {
                    *d = now - b;
                }
                cluster.sum_f32(&mut self.delta)?;
                traffic.bytes_sent += 4 * n as u64;
                for ((b, d), now) in self
                    .base
                    .iter_mut()
                    .zip(self.delta.iter_mut())
                    .zip(self.values.iter_mut())
                {
                    *b += *d;
                    *now = *b;
                    *d = 0.0;
                }
                w.set_all(&self.values);
            }
            Exchange::Sparse => {
                self.values.clear();
                w.values_at(&self.pairs, &mut self.values);
                for k in 0..t {
                    let j = self.pairs[k] as usize;
                    self.pairs.push((self.values[k] - self.base[j]).to_bits());
                }
                cluster.gather_u32(&self.pairs, &mut self.all, &mut self.counts)?;
                traffic.bytes_sent += 4 * self.pairs.len() as u64;
                traffic.sparse_exchanges += 1;
                self.changed.clear();
                // Sums in rank order (the same on every rank)...
                let mut at = 0;
                for &c in &self.counts {
                    let (idx, vals) = self.all[at..at + c].split_at(c / 2);
                    for (&j, &bits) in idx.iter().zip(vals) {
                        if let Some(d) = self.delta.get_mut(j as usize) {
                            *d += f32::from_bits(bits);
                            self.changed.push(j);
                        }
                    }
                    at += c;
                }
                // ...then each changed weight set once (a repeat finds its
                // delta cleared and adds nothing).
                for &j in &self.changed {
                    let j = j as usize;
                    self.base[j] += self.delta[j];
                    self.delta[j] = 0.0;
                }
                w.set_some(&self.changed, &self.base);
            }
        }
        Ok(any_stop)
    }
}

/// Samples all ranks together may train between two exchanges by default
/// ([`default_exchange_every`]).
///
/// Summing the ranks' changes is exact for a weight only one rank moved,
/// but a weight every rank moves (a bias, a hot feature) and that settles
/// within an interval is moved K times as far as it should be: the sum
/// overshoots and, past a point, diverges. Measured on the equivalence
/// harness's problems (20k rows, 5k features, EpochDecay 0.6 over 10
/// epochs, 1 thread per rank; gap of the final loss to sequential, samples
/// per rank per interval):
///
/// | problem | 2 ranks: 16 / 64 / 128 | 4 ranks: 16 / 32 / 64 / 128 |
/// |---|---|---|
/// | logistic, lr 0.5 | −0.01% / −0.01% / −0.01% | 0.00% / 0.00% / +0.08% / +1.10% |
/// | hinge, lr 0.5 | −0.05% / −0.03% / +0.01% | +0.07% / +0.22% / +0.72% / +3.27% |
/// | squared, lr 0.2 | −0.03% / +0.03% / +0.10% | diverges at every interval |
///
/// 128 samples per interval for the whole job keeps logistic and hinge
/// within 0.25% at 2 and 4 ranks. Least squares at 4 ranks diverges even
/// exchanging every 16 samples: there the summed step (4 × 0.2 on rows of
/// squared norm ~2) is past the loss's stability limit, whatever the
/// interval; the blow-up guard's back-offs ([`Trainer::blow_up_guard`](crate::Trainer::blow_up_guard))
/// or a smaller rate are the remedy.
pub const JOB_SAMPLES_PER_EXCHANGE: usize = 128;

/// The fewest samples per rank between exchanges by default.
pub const MIN_EXCHANGE_EVERY: usize = 16;

/// The default interval between exchanges, in samples of each rank's shard,
/// for a job of `ranks` ranks: [`JOB_SAMPLES_PER_EXCHANGE`] shared among
/// them, at least [`MIN_EXCHANGE_EVERY`]. Frequent, so the exchanges are
/// sparse (only the changed coordinates) on sparse models.
///
/// ```
/// use wildsgd::cluster::default_exchange_every;
/// assert_eq!(default_exchange_every(2), 64);
/// assert_eq!(default_exchange_every(4), 32);
/// assert_eq!(default_exchange_every(64), 16);
/// ```
pub fn default_exchange_every(ranks: usize) -> usize {
    (JOB_SAMPLES_PER_EXCHANGE / ranks.max(1)).max(MIN_EXCHANGE_EVERY)
}

/// Combines every rank's feature statistics into the whole data's, in
/// place: rows and counts summed, scales the largest of any rank's.
pub fn agree_features(cluster: &dyn Cluster, stats: &mut crate::data::FeatureStats) -> Result<(), Error> {
    let mut sums = Vec::with_capacity(stats.counts.len() + 1);
    sums.push(stats.rows);
    sums.extend_from_slice(&stats.counts);
    cluster.sum_f64(&mut sums)?;
    stats.rows = sums[0];
    stats.counts.copy_from_slice(&sums[1..]);
    // Non-negative floats order as their bits do.
    let mut bits: Vec<u64> = stats.max_abs.iter().map(|m| u64::from(m.to_bits())).collect();
    cluster.max_u64(&mut bits)?;
    for (m, b) in stats.max_abs.iter_mut().zip(bits) {
        *m = f32::from_bits(b as u32);
    }
    Ok(())
}

/// Every rank's `mine`, in rank order: the strings each rank holds (an id
/// table, say), gathered to every rank.
///
/// ```
/// use wildsgd::cluster::{gather_strings, Solo};
/// let all = gather_strings(&Solo, &["u1".to_string(), "über".to_string()])?;
/// assert_eq!(all, vec![vec!["u1".to_string(), "über".to_string()]]);
/// # Ok::<(), wildsgd::Error>(())
/// ```
pub fn gather_strings(cluster: &dyn Cluster, mine: &[String]) -> Result<Vec<Vec<String>>, Error> {
    // Each string as its byte length, then its bytes four to a word.
    let mut words = Vec::with_capacity(mine.len() * 3);
    for s in mine {
        let b = s.as_bytes();
        words.push(u32::try_from(b.len()).map_err(|_| Error::InvalidParameter {
            name: "gather_strings",
            reason: format!("a string of {} bytes", b.len()),
        })?);
        words.extend(b.chunks(4).map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        }));
    }
    let (mut all, mut counts) = (Vec::new(), Vec::new());
    cluster.gather_u32(&words, &mut all, &mut counts)?;
    let broken = || Error::Cluster {
        rank: cluster.rank(),
        size: cluster.size(),
        what: "a gathered string table is malformed".into(),
    };
    let mut out = Vec::with_capacity(counts.len());
    let mut at = 0;
    for &c in &counts {
        let part = all.get(at..at + c).ok_or_else(broken)?;
        let (mut strings, mut k) = (Vec::new(), 0);
        while k < part.len() {
            let len = part[k] as usize;
            let n = len.div_ceil(4);
            let body = part.get(k + 1..k + 1 + n).ok_or_else(broken)?;
            let mut bytes: Vec<u8> = body.iter().flat_map(|w| w.to_le_bytes()).collect();
            bytes.truncate(len);
            strings.push(String::from_utf8(bytes).map_err(|_| broken())?);
            k += 1 + n;
        }
        out.push(strings);
        at += c;
    }
    Ok(out)
}

/// The smallest and largest of every rank's `(lo, hi)` (`None` on a rank
/// that has no values).
pub fn agree_range(cluster: &dyn Cluster, mine: Option<(f32, f32)>) -> Result<Option<(f32, f32)>, Error> {
    // f32s mapped to u32s that order as the floats do; 0 stands for none.
    let key = |x: f32| {
        let b = x.to_bits();
        u64::from(if b >> 31 == 1 { !b } else { b | 0x8000_0000 })
    };
    let unkey = |k: u64| {
        let k = k as u32;
        f32::from_bits(if k >> 31 == 1 { k & 0x7FFF_FFFF } else { !k })
    };
    let mut buf = match mine {
        Some((lo, hi)) => [key(-lo), key(hi)],
        None => [0, 0],
    };
    cluster.max_u64(&mut buf)?;
    Ok((buf[1] != 0).then(|| (-unkey(buf[0]), unkey(buf[1]))))
}

/// The `k`-th of `parts` contiguous, near-equal ranges of `0..n`.
pub fn part(n: usize, k: usize, parts: usize) -> std::ops::Range<usize> {
    let parts = parts.max(1);
    k * n / parts..(k + 1) * n / parts
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn on_ranks<T: Send>(k: usize, f: impl Fn(&Threads) -> T + Sync) -> Vec<T> {
        std::thread::scope(|s| {
            let f = &f;
            let hs: Vec<_> = Threads::ranks(k).into_iter().map(|r| s.spawn(move || f(&r))).collect();
            hs.into_iter().map(|h| h.join().expect("rank panicked")).collect()
        })
    }

    #[test]
    fn sums_maxima_and_gathers_agree_on_every_rank() {
        let out = on_ranks(4, |r| {
            let mut f = vec![r.rank() as f64; 3];
            r.sum_f64(&mut f).unwrap();
            let mut m = [r.rank() as u64 * 10, 7];
            r.max_u64(&mut m).unwrap();
            let (mut all, mut counts) = (Vec::new(), Vec::new());
            let mine: Vec<u32> = (0..r.rank() as u32).collect();
            r.gather_u32(&mine, &mut all, &mut counts).unwrap();
            (f, m, all, counts)
        });
        for (f, m, all, counts) in out {
            assert_eq!(f, [6.0; 3]);
            assert_eq!(m, [30, 7]);
            assert_eq!(all, [0, 0, 1, 0, 1, 2]);
            assert_eq!(counts, [0, 1, 2, 3]);
        }
    }

    #[test]
    fn an_aborting_rank_wakes_the_others_with_its_reason() {
        let out = on_ranks(3, |r| {
            if r.rank() == 1 {
                r.abort("bad input on line 7");
                return None;
            }
            let mut v = [1.0f32];
            Some(r.sum_f32(&mut v).unwrap_err().to_string())
        });
        for e in out.into_iter().flatten() {
            assert!(e.contains("rank 1 ended the job: bad input on line 7"), "{e}");
        }
    }

    #[test]
    fn a_rank_that_leaves_early_breaks_the_job_instead_of_hanging_it() {
        let out = on_ranks(2, |r| {
            let mut v = [1.0f32];
            r.sum_f32(&mut v).unwrap();
            if r.rank() == 0 {
                return Ok(());
            }
            r.sum_f32(&mut v).map(|_| ())
        });
        // Rank 0's handle lives until the scope joins it, so rank 1 may
        // only fail once rank 0 is dropped: the scope drops the handles as
        // their threads end.
        assert!(out[0].is_ok());
        assert!(out[1]
            .as_ref()
            .is_err_and(|e| e.to_string().contains("rank 0 ended the job")));
    }

    #[test]
    fn dense_and_sparse_exchanges_add_every_ranks_change_once() {
        // (weights, what every rank adds to every weight): the small model
        // with everything touched goes dense, the large one sparse.
        for (dim, everywhere) in [(8usize, 0.125f32), (4096, 0.0)] {
            let out = on_ranks(3, |r| {
                let mut ex = Exchanger::default();
                let start = vec![1.0f32; dim];
                ex.reset(&start);
                let mut now: Vec<f32> = start.iter().map(|w| w + everywhere).collect();
                now[r.rank()] += 0.5; // each rank changes its own weight
                now[7] += 1.0; // and all change a shared one
                let mut traffic = Traffic::default();
                let stop = ex.exchange(r, &mut now, r.rank() == 2, &mut traffic).unwrap();
                (now, stop, traffic)
            });
            let all = 1.0 + 3.0 * everywhere;
            for (now, stop, traffic) in &out {
                assert!(stop, "rank 2's vote reaches every rank");
                assert_eq!(&now[..3], &[all + 0.5; 3]);
                assert_eq!(now[7], all + 3.0);
                assert!(now[3..7].iter().chain(&now[8..]).all(|&w| w == all));
                assert_eq!(traffic.sparse_exchanges, u64::from(everywhere == 0.0), "dim {dim}");
                assert_eq!(traffic.exchanges, 1);
            }
            assert!(out.windows(2).all(|w| w[0].0 == w[1].0));
        }
    }

    #[test]
    fn strings_and_ranges_are_agreed_in_rank_order() {
        let out = on_ranks(3, |r| {
            let mine: Vec<String> = (0..r.rank()).map(|k| format!("r{}-{k}-é", r.rank())).collect();
            let range = (r.rank() != 1).then(|| (-(r.rank() as f32) - 0.5, r.rank() as f32 * 2.0));
            (gather_strings(r, &mine).unwrap(), agree_range(r, range).unwrap())
        });
        for (all, range) in out {
            assert_eq!(
                all,
                vec![
                    vec![],
                    vec!["r1-0-é".to_string()],
                    vec!["r2-0-é".into(), "r2-1-é".into()]
                ]
            );
            assert_eq!(range, Some((-2.5, 4.0)));
        }
        let none = on_ranks(2, |r| agree_range(r, None).unwrap());
        assert_eq!(none, vec![None, None]);
    }

    #[test]
    fn sparse_wins_below_the_break_even() {
        assert_eq!(exchange_for(10, 1000), Exchange::Sparse);
        assert_eq!(exchange_for(1000, 1000), Exchange::Dense);
        assert_eq!(part(10, 0, 3), 0..3);
        assert_eq!(part(10, 2, 3), 6..10);
    }
}
