use std::fmt;

use serde::Serialize;

/// What one epoch did. `samples_per_sec` counts update passes only: the loss
/// and validation passes are timed separately (`eval_seconds`) and never
/// included, for every policy and the plain baseline alike.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpochReport {
    /// Epoch number, from 0.
    pub epoch: usize,
    /// The learning rate at the epoch's first sample.
    pub learning_rate: f32,
    /// Samples processed (update passes) in this epoch.
    pub samples: u64,
    /// Seconds spent in update passes.
    pub update_seconds: f64,
    /// `samples / update_seconds`.
    pub samples_per_sec: f64,
    /// The training objective after the epoch, on the current weights: mean
    /// loss over the training data (or its fixed evaluation subset) plus the
    /// model's penalty.
    pub train_loss: f64,
    /// Training accuracy, for classifiers.
    pub train_accuracy: Option<f64>,
    /// Mean loss on the validation set, when one is given.
    pub valid_loss: Option<f64>,
    /// Validation accuracy, for classifiers, when a validation set is given.
    pub valid_accuracy: Option<f64>,
    /// Seconds spent evaluating losses (off the update clock).
    pub eval_seconds: f64,
    /// Wall time of the whole epoch.
    pub wall_seconds: f64,
}

/// A point of the loss curve: the training objective (on the evaluation
/// subset) after `samples` updates and `update_seconds` of update time.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TracePoint {
    /// Epoch the point falls in.
    pub epoch: usize,
    /// Samples processed since training began.
    pub samples: u64,
    /// Update seconds since training began (evaluation time excluded).
    pub update_seconds: f64,
    /// The training objective at that point.
    pub loss: f64,
}

/// The report of a whole training run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// The policy's name (`plain` for the baseline loop).
    pub policy: String,
    /// Why [`Policy::Auto`](crate::Policy::Auto) picked what it did (the
    /// simulator's prediction for each candidate); empty for any other
    /// policy.
    pub policy_reason: String,
    /// Worker threads used.
    pub threads: usize,
    /// The order epochs visited the rows in ([`Order::describe`](crate::schedule::Order::describe)):
    /// `full`, `blocks:65`…, or `full (instead of …: why)` when the trainer
    /// could not make the shuffled copy a block order reads.
    pub order: String,
    /// One entry per completed epoch.
    pub epochs: Vec<EpochReport>,
    /// The loss curve, sampled [`evals_per_epoch`](crate::Trainer::evals_per_epoch)
    /// times per epoch.
    pub trace: Vec<TracePoint>,
    /// Each time an epoch ended in a finite blow-up (its objective above
    /// the one training started from) and was run again from the weights
    /// before it at a quarter of the rate; empty for a run that never did.
    pub back_offs: Vec<BackOff>,
    /// For a data-parallel run ([`Trainer::cluster`](crate::Trainer::cluster)):
    /// the ranks, their exchanges and traffic. The epochs' losses and
    /// accuracies are then the whole job's (every rank's rows), their
    /// samples and rates this rank's.
    pub distributed: Option<Distributed>,
    /// For a streamed run ([`Trainer::stream_job`](crate::Trainer::stream_job)):
    /// how reading the windows kept up with training.
    pub stream: Option<Streaming>,
}

/// How a streamed run's reading kept up with training, over all epochs:
/// see [`Report::stream`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Streaming {
    /// Windows trained on.
    pub windows: u64,
    /// Rows read.
    pub rows: u64,
    /// Bytes of spill read.
    pub bytes: u64,
    /// Seconds the reader thread spent reading and decoding windows.
    pub read_seconds: f64,
    /// Seconds training waited for the next window (reading not keeping up).
    pub wait_seconds: f64,
}

impl Streaming {
    pub(crate) fn add(&mut self, p: &crate::data::Piped, windows: u64) {
        self.windows += windows;
        self.rows += p.rows;
        self.bytes += p.bytes;
        self.read_seconds += p.read_seconds;
        self.wait_seconds += p.wait_seconds;
    }

    /// Spill read per second of the reader's work, in MB (10^6 bytes).
    pub fn read_mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.read_seconds.max(1e-9)
    }
}

/// A data-parallel run's figures: see [`Report::distributed`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Distributed {
    /// This process's rank, from 0.
    pub rank: usize,
    /// How many ranks trained.
    pub ranks: usize,
    /// The transport ([`Cluster::transport`](crate::cluster::Cluster::transport)).
    pub transport: String,
    /// Samples of its shard each rank trains on between exchanges (at most;
    /// every epoch also ends with one).
    pub exchange_every: usize,
    /// Exchanges of weight changes, per rank.
    pub exchanges: u64,
    /// Of those, how many sent only the changed coordinates.
    pub sparse_exchanges: u64,
    /// Bytes this rank handed to collectives.
    pub bytes_sent: u64,
    /// Bytes all ranks handed to collectives.
    pub bytes_sent_total: u64,
    /// Seconds this rank spent exchanging (computing deltas, collectives,
    /// applying the sum), part of its update seconds.
    pub comm_seconds: f64,
    /// The most any rank spent exchanging.
    pub comm_seconds_max: f64,
    /// Samples this rank trained on.
    pub samples: u64,
    /// Samples all ranks trained on.
    pub samples_total: u64,
    /// This rank's samples per second of update time.
    pub samples_per_sec: f64,
    /// All ranks' samples per second of the slowest rank's update time.
    pub samples_per_sec_total: f64,
}

/// One back-off: see [`Report::back_offs`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BackOff {
    /// The epoch that was run again, from 0.
    pub epoch: usize,
    /// The training objective that epoch ended at.
    pub objective: f64,
    /// The objective training started from.
    pub start: f64,
    /// The factor on the schedule's rates from then on (0.25, 0.0625, ...).
    pub rate_factor: f32,
}

/// How a training run ended. Every ending hands back usable weights
/// ([`Trained::weights`]); none of them is an error.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Every epoch ran.
    Finished,
    /// The per-epoch callback ([`Job::on_epoch`](crate::trainer::Job::on_epoch))
    /// returned [`Control::Stop`](crate::Control::Stop) after `epoch`.
    StoppedEarly {
        /// The last epoch run, from 0.
        epoch: usize,
    },
    /// A raised [`StopFlag`](crate::trainer::StopFlag) stopped the workers
    /// in `epoch` (that partial epoch has no entry in
    /// [`Report::epochs`]); the weights are as they were then.
    Interrupted {
        /// The epoch in progress, from 0.
        epoch: usize,
        /// Samples of that epoch applied before the workers stopped.
        samples: u64,
    },
    /// A loss or weight became NaN or infinite at the end of `epoch`, or the
    /// training objective ended the epoch above the one training started
    /// from (more than 1% above: a finite blow-up) even after
    /// [`BACK_OFFS`](crate::trainer::BACK_OFFS) back-offs: the weights are those
    /// after the last epoch that ended well (the initial ones if `epoch` is
    /// the first run).
    Diverged {
        /// The epoch whose end found the non-finite value, from 0.
        epoch: usize,
        /// What was non-finite.
        reason: String,
    },
}

impl Outcome {
    /// Whether the run diverged.
    pub fn diverged(&self) -> bool {
        matches!(self, Outcome::Diverged { .. })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Finished => f.write_str("finished"),
            Outcome::StoppedEarly { epoch } => write!(f, "stopped early by the epoch callback after epoch {epoch}"),
            Outcome::Interrupted { epoch, samples } => write!(f, "stopped in epoch {epoch} after {samples} samples"),
            Outcome::Diverged { epoch, reason } => write!(
                f,
                "training diverged in epoch {epoch}: {reason}; the last finite weights (after {epoch} complete epoch(s)) are kept"
            ),
        }
    }
}

impl Report {
    /// Total update seconds over all epochs.
    pub fn update_seconds(&self) -> f64 {
        self.epochs.iter().map(|e| e.update_seconds).sum()
    }

    /// Total samples processed over all epochs.
    pub fn samples(&self) -> u64 {
        self.epochs.iter().map(|e| e.samples).sum()
    }

    /// Overall update throughput.
    pub fn samples_per_sec(&self) -> f64 {
        self.samples() as f64 / self.update_seconds()
    }

    /// The last epoch's training objective.
    pub fn final_loss(&self) -> Option<f64> {
        self.epochs.last().map(|e| e.train_loss)
    }

    /// Update seconds until the loss curve first reached `target` or below,
    /// or `None` if it never did.
    pub fn seconds_to(&self, target: f64) -> Option<f64> {
        self.trace.iter().find(|p| p.loss <= target).map(|p| p.update_seconds)
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.5}"))
}

impl fmt::Display for EpochReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>5} {:>9.4} {:>10.5} {:>9} {:>10} {:>9} {:>12.0} {:>8.3}",
            self.epoch,
            self.learning_rate,
            self.train_loss,
            opt(self.train_accuracy),
            opt(self.valid_loss),
            opt(self.valid_accuracy),
            self.samples_per_sec,
            self.update_seconds
        )
    }
}

impl fmt::Display for Report {
    /// A table, one row per epoch.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "policy {}, {} thread(s)", self.policy, self.threads)?;
        if let Some(d) = &self.distributed {
            writeln!(f, "{d}")?;
        }
        writeln!(
            f,
            "{:>5} {:>9} {:>10} {:>9} {:>10} {:>9} {:>12} {:>8}",
            "epoch", "lr", "train_loss", "train_acc", "valid_loss", "valid_acc", "samples/s", "update_s"
        )?;
        for e in &self.epochs {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Distributed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rank {} of {} ({}): {} exchanges ({} sparse, every {} samples), {:.1} MB sent by this rank \
             ({:.1} MB by all), {:.3} s exchanging (most: {:.3} s); {:.0} samples/s on this rank, {:.0} in all",
            self.rank,
            self.ranks,
            self.transport,
            self.exchanges,
            self.sparse_exchanges,
            self.exchange_every,
            self.bytes_sent as f64 / 1e6,
            self.bytes_sent_total as f64 / 1e6,
            self.comm_seconds,
            self.comm_seconds_max,
            self.samples_per_sec,
            self.samples_per_sec_total
        )
    }
}

/// A training run's result: the weights, the report and how it ended.
#[derive(Clone, Debug)]
pub struct Trained {
    /// The final weights (the iterate average, when averaging was on); never
    /// NaN or infinite (see [`Outcome::Diverged`]).
    pub weights: Vec<f32>,
    /// What happened, epoch by epoch.
    pub report: Report,
    /// How the run ended.
    pub outcome: Outcome,
}

impl fmt::Display for Trained {
    /// The report's table, then how the run ended unless it simply finished.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.report)?;
        if self.outcome != Outcome::Finished {
            writeln!(f, "({})", self.outcome)?;
        }
        Ok(())
    }
}
