//! The driver's side of a data-parallel run: a job's ranks agree on where
//! they start, how each epoch is cut into exchange intervals, the epoch's
//! figures, whether to stop, and what the run cost in traffic.

use crate::cluster::{self, Cluster, Exchanger, Traffic, Weights};
use crate::error::Error;

use super::report::{Distributed, Trained};

/// One rank's state across a run.
pub(crate) struct Ranks<'c> {
    pub(crate) cluster: &'c dyn Cluster,
    exchanger: Exchanger,
    traffic: Traffic,
    every: Option<usize>,
    /// The interval the last epoch used (for the report).
    used_every: usize,
}

/// The figures of one epoch's end every rank must agree on, before the
/// driver decides anything from them.
pub(crate) struct Figures {
    pub(crate) loss: f64,
    pub(crate) accuracy: Option<f64>,
    pub(crate) valid_loss: Option<f64>,
    pub(crate) valid_accuracy: Option<f64>,
    pub(crate) finite: bool,
}

impl<'c> Ranks<'c> {
    pub(crate) fn new(cluster: &'c dyn Cluster, every: Option<usize>) -> Self {
        Ranks {
            cluster,
            exchanger: Exchanger::default(),
            traffic: Traffic::default(),
            every,
            used_every: 0,
        }
    }

    /// Makes every rank start from rank 0's `weights` (after checking that
    /// all ranks have as many: a sum over buffers of different lengths is
    /// undefined under MPI).
    pub(crate) fn start(&mut self, weights: &mut [f32]) -> Result<(), Error> {
        let n = weights.len() as u64;
        let mut lens = [n, u64::MAX - n];
        self.cluster.max_u64(&mut lens)?;
        let (most, least) = (lens[0], u64::MAX - lens[1]);
        if most != least {
            return Err(self.error(format!(
                "the ranks' models have different sizes ({least} to {most} weights; this rank {n}): \
                 every rank must train the same model (agree on the data's width first)"
            )));
        }
        if self.cluster.rank() != 0 {
            weights.iter_mut().for_each(|w| *w = 0.0);
        }
        self.cluster.sum_f32(weights)?;
        self.traffic.bytes_sent += 4 * n + 16;
        self.exchanger.reset(weights);
        Ok(())
    }

    /// Restarts the intervals from `weights` (the same on every rank: after
    /// a back-off reloaded the last epoch's).
    pub(crate) fn restart(&mut self, weights: &[f32]) {
        self.exchanger.reset(weights);
    }

    /// How many exchange intervals an epoch of `n` rows (this rank's) has:
    /// the same on every rank, from the largest shard.
    pub(crate) fn intervals(&mut self, n: usize) -> Result<usize, Error> {
        let mut most = [n as u64];
        self.cluster.max_u64(&mut most)?;
        self.traffic.bytes_sent += 8;
        let most = most[0] as usize;
        let every = self
            .every
            .unwrap_or_else(|| cluster::default_exchange_every(self.cluster.size()))
            .max(1);
        self.used_every = every;
        Ok(most.div_ceil(every).max(1))
    }

    /// Adds every rank's change since the last exchange to the engine's
    /// weights; returns whether any rank asked to stop (`stop` is this
    /// rank's vote).
    pub(crate) fn exchange(&mut self, engine: &mut impl Weights, stop: bool) -> Result<bool, Error> {
        let clock = std::time::Instant::now();
        let any = self.exchanger.exchange(self.cluster, engine, stop, &mut self.traffic)?;
        self.traffic.seconds += clock.elapsed().as_secs_f64();
        Ok(any)
    }

    /// The mean over the ranks of the tail averages `weights` (each rank
    /// averaged its own iterates between exchanges).
    pub(crate) fn average(&mut self, weights: &mut [f32]) -> Result<(), Error> {
        self.cluster.sum_f32(weights)?;
        self.traffic.bytes_sent += 4 * weights.len() as u64;
        let k = self.cluster.size() as f32;
        weights.iter_mut().for_each(|w| *w /= k);
        self.exchanger.reset(weights);
        Ok(())
    }

    /// The job's figures from every rank's: each rank's mean over its
    /// `rows` (and `valid_rows`) weighted by them, which is the mean over
    /// all ranks' rows (the penalty is the same on every rank: the weights
    /// are).
    pub(crate) fn agree(&mut self, mine: Figures, rows: usize, valid_rows: usize) -> Result<Figures, Error> {
        // A rank without rows (of validation data, say) adds nothing: its
        // mean of nothing would be NaN, and NaN times 0 rows is NaN.
        let part = |x: Option<f64>, n: usize| match x {
            Some(x) if n > 0 => (x * n as f64, n as f64, 1.0),
            _ => (0.0, 0.0, 0.0),
        };
        let (loss, r, _) = part(Some(mine.loss), rows);
        let (acc, _, has_acc) = part(mine.accuracy, rows);
        let (vloss, v, has_v) = part(mine.valid_loss, valid_rows);
        let (vacc, _, has_vacc) = part(mine.valid_accuracy, valid_rows);
        let mut buf = [
            loss,
            r,
            acc,
            has_acc,
            f64::from(u8::from(rows > 0)),
            vloss,
            v,
            has_v,
            vacc,
            has_vacc,
            f64::from(u8::from(!mine.finite)),
        ];
        self.cluster.sum_f64(&mut buf)?;
        self.traffic.bytes_sent += 8 * buf.len() as u64;
        let mean = |sum: f64, n: f64| if n > 0.0 { sum / n } else { f64::NAN };
        // Every rank with rows has accuracies or none does (one model).
        Ok(Figures {
            loss: mean(buf[0], buf[1]),
            accuracy: (buf[4] > 0.0 && buf[3] == buf[4]).then(|| mean(buf[2], buf[1])),
            valid_loss: (buf[7] > 0.0).then(|| mean(buf[5], buf[6])),
            valid_accuracy: (buf[9] > 0.0).then(|| mean(buf[8], buf[6])),
            finite: buf[10] == 0.0,
        })
    }

    /// The job's objective from every rank's `loss` over its `rows`.
    pub(crate) fn agree_loss(&mut self, loss: f64, rows: usize) -> Result<f64, Error> {
        let mut buf = if rows > 0 {
            [loss * rows as f64, rows as f64]
        } else {
            [0.0, 0.0]
        };
        self.cluster.sum_f64(&mut buf)?;
        self.traffic.bytes_sent += 16;
        Ok(buf[0] / buf[1])
    }

    /// Whether any rank votes `yes`.
    pub(crate) fn any(&mut self, yes: bool) -> Result<bool, Error> {
        let mut buf = [f64::from(u8::from(yes))];
        self.cluster.sum_f64(&mut buf)?;
        self.traffic.bytes_sent += 8;
        Ok(buf[0] > 0.0)
    }

    /// Adds the run's [`Distributed`] figures to `trained`'s report.
    pub(crate) fn finish(mut self, trained: &mut Trained) -> Result<(), Error> {
        let r = &trained.report;
        let samples: u64 = r.epochs.iter().map(|e| e.samples).sum();
        let seconds: f64 = r.epochs.iter().map(|e| e.update_seconds).sum();
        self.traffic.bytes_sent += 32;
        let mut sums = [self.traffic.bytes_sent as f64, samples as f64];
        self.cluster.sum_f64(&mut sums)?;
        // Non-negative f64s order as their bits do.
        let mut most = [self.traffic.seconds.to_bits(), seconds.to_bits()];
        self.cluster.max_u64(&mut most)?;
        let slowest = f64::from_bits(most[1]);
        trained.report.distributed = Some(Distributed {
            rank: self.cluster.rank(),
            ranks: self.cluster.size(),
            transport: self.cluster.transport(),
            exchange_every: self.used_every,
            exchanges: self.traffic.exchanges,
            sparse_exchanges: self.traffic.sparse_exchanges,
            bytes_sent: self.traffic.bytes_sent,
            bytes_sent_total: sums[0] as u64,
            comm_seconds: self.traffic.seconds,
            comm_seconds_max: f64::from_bits(most[0]),
            samples,
            samples_total: sums[1] as u64,
            samples_per_sec: samples as f64 / seconds,
            samples_per_sec_total: sums[1] / slowest,
        });
        Ok(())
    }

    fn error(&self, what: String) -> Error {
        Error::Cluster {
            rank: self.cluster.rank(),
            size: self.cluster.size(),
            what,
        }
    }
}
