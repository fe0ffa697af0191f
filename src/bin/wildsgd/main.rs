//! `wildsgd`: train, evaluate and apply the built-in models from the command
//! line: linear models (logistic, hinge, squared) and multiclass softmax on
//! LIBSVM files, matrix factorisation on ratings files, and skip-gram
//! negative-sampling embeddings of graphs (`line`) and text (`word2vec`).
//!
//! ```text
//! wildsgd train --data data/spamassassin.svm.gz --valid-fraction 0.2 --out spam.model
//! wildsgd eval --model spam.model --data data/spamassassin.svm.gz
//! wildsgd predict --model spam.model --data data/spamassassin.svm.gz --out scores.txt
//! wildsgd train --model mf --data ratings.tsv --valid-fraction 0.1 --out mf.model
//! wildsgd train --model softmax --data train.svm.gz --valid test.svm.gz --out softmax.model
//! wildsgd train --model line --data graph.metis.graph --out line.model
//! wildsgd train --model word2vec --data corpus.txt --epochs 3 --out w2v.model
//! wildsgd predict --model w2v.model --data words.txt --neighbours 8
//! ```
//!
//! Each model kind lives in its own module (`linear`, `softmax`, `mf`,
//! `sgns` for line and word2vec): how
//! it reads its data, builds its model (fresh or from a checkpoint), and
//! evaluates and predicts. The training loop, checkpoints, progress and
//! reports are shared ([`train_loop`]). A new kind is one more [`ModelKind`]
//! value, one more module, and a [`Persist`] impl for its model (its extra
//! data saved as checkpoint tables: see [`Saved`]).
//!
//! Exit codes: 0 success; 2 a usage error (from clap, or an output path
//! that would destroy a file: see [`paths`]); 1 a data or training error
//! (one line on stderr); 130 or 143 when SIGINT or SIGTERM stopped training
//! (the weights were saved as asked: see [`signals`]).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use wildsgd::checkpoint::{Checkpoint, Persist, Table};
use wildsgd::data::{read_libsvm, CsrDataset, LibsvmOptions, ReadOptions};
use wildsgd::model::Sgns;
use wildsgd::trainer::Outcome;
use wildsgd::{
    Control, Error, Linear, Loss, MatrixFactorization, Model, Policy, Schedule, Softmax, Trainer, WeightStore,
};

/// A line on stdout. A reader that went away (`wildsgd train ... | head`)
/// must not stop training or lose the model being saved, so write errors
/// are ignored here (`println!` would panic on a closed pipe).
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// A message on stdout unless `--quiet`.
macro_rules! say {
    ($quiet:expr, $($t:tt)*) => {
        if !$quiet {
            out!($($t)*);
        }
    };
}

mod linear;
mod mf;
mod paths;
mod sgns;
mod signals;
mod softmax;

#[derive(Parser)]
#[command(
    name = "wildsgd",
    version,
    about = "Lock-free Hogwild!-style SGD: linear and softmax models on LIBSVM data, matrix factorisation on \
             ratings, embeddings of graphs (line) and text (word2vec)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the training arguments does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Train a model and save it.
    Train(TrainArgs),
    /// Evaluate a saved model: loss, accuracy and AUC (linear), accuracy and
    /// per-class recall (softmax), RMSE (mf), link AUC (line), pair AUC (word2vec).
    Eval(EvalArgs),
    /// One prediction per sample: the positive-class probability (logistic),
    /// the raw score (hinge, squared), the class (softmax), the rating (mf);
    /// for line and word2vec, the nearest neighbours of each name or word
    /// (one per line of the data file).
    Predict(PredictArgs),
}

/// The models `train --model` builds.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModelKind {
    /// Logistic regression (labels ±1 or 0/1; LIBSVM).
    Logistic,
    /// Linear SVM, hinge loss (labels ±1 or 0/1; LIBSVM).
    Hinge,
    /// Least squares (real targets; LIBSVM).
    Squared,
    /// Multiclass softmax regression (labels 0..C-1; LIBSVM).
    Softmax,
    /// Matrix factorisation (ratings file: `user item rating` per line).
    Mf,
    /// LINE-style node embeddings, skip-gram with negative sampling on the
    /// edges of a graph (METIS `.graph` or an edge list).
    Line,
    /// word2vec skip-gram with negative sampling on text (one sentence per
    /// line, whitespace-separated words).
    Word2vec,
}

/// How a graph file is written.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GraphFormat {
    /// METIS adjacency format (a header `n m`, then one line of neighbours per vertex).
    Metis,
    /// An edge list: `from to [weight]` per line, any tokens as node names.
    Edges,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ScheduleKind {
    /// The same rate throughout: `lr`.
    Constant,
    /// `lr / (1 + lr_decay · t)`, t counting samples.
    InverseTime,
    /// `lr · lr_decay^epoch`.
    EpochDecay,
}

/// Bounds on what the inputs may cost (shared by every command).
#[derive(Args, Clone, Copy)]
pub(crate) struct LimitArgs {
    /// Read at most this many bytes of each input file, counted after
    /// decompression (suffixes K, M, G, T: powers of 1024) [16G].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    max_input_bytes: Option<u64>,
    /// A memory budget for the whole process: an allocation for the data or
    /// the model that would take it past this (counting what it already
    /// holds) is refused (suffixes K, M, G, T) [the memory available now].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    max_memory: Option<u64>,
}

impl LimitArgs {
    /// The readers' options.
    pub fn read(&self) -> ReadOptions {
        ReadOptions {
            max_bytes: self.max_input_bytes.unwrap_or(ReadOptions::default().max_bytes),
        }
    }
}

/// A byte count: digits with an optional K, M, G or T suffix (powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                'B' => 0,
                _ => return Err(format!("{s:?}: the suffix must be K, M, G or T")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a byte count (digits, then K, M, G or T)"))?;
    if n == 0 {
        return Err("must be at least 1".into());
    }
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{s:?} does not fit in 64 bits"))
}

#[derive(Args)]
pub(crate) struct TrainArgs {
    /// Training data: LIBSVM (plain or gzip) for linear and softmax models, a
    /// ratings file (`user item rating`, tab/comma/space separated) for mf, a
    /// graph for line, text (a sentence per line) for word2vec.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// The model: logistic, hinge, squared, softmax, mf, line or word2vec.
    #[arg(long, value_enum, default_value = "logistic")]
    model: ModelKind,
    /// Worker threads (default: all cores; 1 for the sequential policy; at
    /// most 4 per core, more is capped with a note).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    threads: Option<usize>,
    /// Passes over the training data [linear 10, softmax 6, mf 25, line 10, word2vec 5].
    #[arg(long, value_name = "E", allow_negative_numbers = true)]
    epochs: Option<usize>,
    /// Where to save the trained model.
    #[arg(long, value_name = "M")]
    out: Option<PathBuf>,
    /// Initial learning rate [logistic 12 divided by the training rows' mean
    /// squared norm; hinge and squared 0.5; softmax 0.01; mf 0.02; line 0.4;
    /// word2vec 0.025 (line and word2vec decay linearly to 1e-4 of it)].
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    lr: Option<f32>,
    /// The step-size schedule [epoch-decay].
    #[arg(long, value_enum)]
    schedule: Option<ScheduleKind>,
    /// The schedule's decay, per epoch for epoch-decay, per sample for
    /// inverse-time [logistic 0.3, hinge and squared 0.8, softmax 0.6, mf 0.9].
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    lr_decay: Option<f32>,
    /// L2 regularisation strength [linear 1e-6, softmax 1e-4, mf 0.08].
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    l2: Option<f32>,
    /// Rows of the seeded subset the per-epoch training loss is measured
    /// on; 0 means all rows [10000]. The loss pass is timed apart from the
    /// updates, but it is part of the run's wall time.
    #[arg(long, value_name = "N", default_value_t = 10_000, allow_negative_numbers = true)]
    loss_rows: usize,
    /// Factor rank (mf only) [100; at most 65536].
    #[arg(long, value_name = "R", allow_negative_numbers = true)]
    rank: Option<usize>,
    /// The graph file's format (line only) [by extension: `.graph` and
    /// `.metis` are METIS, anything else an edge list].
    #[arg(long, value_enum)]
    format: Option<GraphFormat>,
    /// Embedding dimension (line, word2vec) [line 32, word2vec 100; at most 512].
    #[arg(long, value_name = "D", allow_negative_numbers = true)]
    dim: Option<usize>,
    /// Negatives per pair, drawn from count^0.75 (line, word2vec) [5; at most 1024].
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    negatives: Option<usize>,
    /// Skip-gram window, words on each side (word2vec) [5; at most 1000].
    #[arg(long, value_name = "W", allow_negative_numbers = true)]
    window: Option<usize>,
    /// Drop words seen fewer times than this (word2vec) [5].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    min_count: Option<u64>,
    /// Sub-sampling threshold t of frequent words; 0 keeps every word (word2vec) [1e-3].
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    subsample: Option<f64>,
    /// Return the average of the last epoch's iterates (true/false) [softmax true, others false].
    #[arg(long, value_name = "BOOL")]
    average: Option<bool>,
    /// How updates land in the shared weights: auto (picks from the data's shape and the
    /// thread count), sequential, racy, atomic, locked, batched:N, hotcold:K:M, replicas:M
    /// or delayed:M.
    /// [auto; when resuming, the checkpoint's].
    #[arg(long, value_name = "NAME", value_parser = parse_policy)]
    policy: Option<Policy>,
    /// Hold out this fraction of the rows (seeded) for validation [line and
    /// word2vec 0.1 of the edges or sentences; 0 holds out nothing].
    #[arg(long, value_name = "F", conflicts_with = "valid", allow_negative_numbers = true)]
    valid_fraction: Option<f64>,
    /// Validation data, in the training data's format.
    #[arg(long, value_name = "FILE")]
    valid: Option<PathBuf>,
    /// Seed for the split, the initial weights and the sample orders [1].
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<u64>,
    /// Train without a bias weight (linear models only).
    #[arg(long)]
    no_bias: bool,
    /// Write a JSON report of the run here.
    #[arg(long, visible_alias = "json", value_name = "R.json")]
    report: Option<PathBuf>,
    /// Checkpoint file (default: the --out path with `.ckpt` appended).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Write a checkpoint every N epochs (0: never, unless --checkpoint is given, then every epoch).
    #[arg(long, value_name = "N", default_value_t = 0, allow_negative_numbers = true)]
    checkpoint_every: usize,
    /// Continue from the checkpoint's epoch with its schedule, seed, L2 and
    /// averaging (--lr, --lr-decay, --schedule, --seed, --l2 or --average
    /// asking for other values are refused); --policy and --threads may change.
    #[arg(long)]
    resume: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

impl TrainArgs {
    /// The seed asked for (or the default, 1).
    pub fn seed(&self) -> u64 {
        self.seed.unwrap_or(1)
    }
}

#[derive(Args)]
pub(crate) struct EvalArgs {
    /// A model saved by `wildsgd train --out`.
    #[arg(long, value_name = "M")]
    model: PathBuf,
    /// Data to evaluate on, in the model's training format (LIBSVM, ratings for
    /// mf, a graph for line, text for word2vec).
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// The graph file's format (line models) [by extension].
    #[arg(long, value_enum)]
    format: Option<GraphFormat>,
    /// Seed of the sampled negatives (line, word2vec).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    seed: u64,
    /// Also print the confusion matrix (softmax).
    #[arg(long, short)]
    verbose: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Args)]
pub(crate) struct PredictArgs {
    /// A model saved by `wildsgd train --out`.
    #[arg(long, value_name = "M")]
    model: PathBuf,
    /// Data to predict for, in the model's training format (labels and ratings are read but not used);
    /// for line and word2vec, node names or words, one per line.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Neighbours to list per name or word (line, word2vec).
    #[arg(long, value_name = "K", default_value_t = 10, allow_negative_numbers = true)]
    neighbours: usize,
    /// Where to write the predictions, one per line (default: stdout).
    #[arg(long, value_name = "P")]
    out: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    s.parse::<Policy>().map_err(|e| e.to_string())
}

/// Why a command did not finish: a library error (exit 1), a usage error
/// found after parsing (exit 2), or a message of the command's own (exit 1).
#[derive(Debug)]
pub(crate) enum Failure {
    /// A data, model or training error.
    Error(Error),
    /// Flags that cannot work together, or an output path that would
    /// destroy a file.
    Usage(Error),
    /// Training diverged: what happened, and what was saved.
    Diverged(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            e @ Error::Output { .. } => Failure::Usage(e),
            e => Failure::Error(e),
        }
    }
}

/// An error's message, with the flag that lifts a limit it hit.
fn with_flag_hint(e: &Error) -> String {
    match e {
        Error::InputTooLarge { .. } => format!("{e} (--max-input-bytes raises it)"),
        Error::OutOfMemory { budget: true, .. } => format!("{e} (--max-memory raises it)"),
        e => e.to_string(),
    }
}

/// How a command that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    /// It did all it was asked.
    Finished,
    /// A signal stopped training; what was asked to be saved was saved.
    Interrupted(i32),
}

fn main() -> ExitCode {
    let cli = Cli::parse(); // usage errors exit with status 2
    let limits = match &cli.command {
        Command::Train(a) => a.limits,
        Command::Eval(a) => a.limits,
        Command::Predict(a) => a.limits,
    };
    wildsgd::limits::set_memory_limit(limits.max_memory);
    let result = match cli.command {
        Command::Train(a) => train(a),
        Command::Eval(a) => eval(a).map(|()| Done::Finished).map_err(Failure::from),
        Command::Predict(a) => predict(a),
    };
    let (msg, code) = match result {
        Ok(Done::Finished) => return ExitCode::SUCCESS,
        Ok(Done::Interrupted(sig)) => return ExitCode::from(u8::try_from(128 + sig).unwrap_or(1)),
        Err(Failure::Error(e)) => (with_flag_hint(&e), 1),
        Err(Failure::Usage(e)) => (e.to_string(), 2),
        Err(Failure::Diverged(m)) => (m, 1),
    };
    eprintln!("wildsgd: error: {}", msg.replace('\n', " "));
    ExitCode::from(code)
}

pub(crate) fn param(name: &'static str, reason: String) -> Error {
    Error::InvalidParameter { name, reason }
}

/// A kind's defaults for what the user did not give.
pub(crate) struct Defaults {
    pub epochs: usize,
    pub schedule: Schedule,
    pub l2: f32,
    pub average: bool,
}

/// What every kind's training shares: the arguments resolved against the
/// kind's defaults, the checkpoint settings and the checkpoint resumed from.
pub(crate) struct Run {
    pub a: TrainArgs,
    pub quiet: bool,
    pub clock: Instant,
    pub checkpoint_path: Option<PathBuf>,
    pub every: usize,
    pub resume: Option<Checkpoint>,
    pub epochs: usize,
    pub l2: f32,
    pub schedule: Schedule,
    pub average: bool,
    /// The readers' limits.
    pub read: ReadOptions,
    /// Worker threads, after the cap.
    pub threads: Option<usize>,
    /// SIGINT/SIGTERM handling.
    pub interrupts: signals::Interrupts,
}

impl Run {
    /// The checkpoint file's name, for errors.
    pub fn checkpoint_name(&self) -> String {
        self.checkpoint_path
            .as_ref()
            .map_or_else(String::new, |p| p.display().to_string())
    }

    /// The seed of the split: the checkpoint's when resuming, so the run
    /// trains on the rows it started on.
    pub fn split_seed(&self) -> u64 {
        self.resume.as_ref().map_or(self.a.seed(), |c| c.seed)
    }

    /// The trainer: from the checkpoint when resuming, else from the arguments.
    pub fn trainer(&self) -> Trainer {
        let mut t = match &self.resume {
            Some(c) => Trainer::new()
                .epochs(self.epochs)
                .policy(self.a.policy.unwrap_or(c.policy))
                .schedule(c.schedule)
                .seed(c.seed)
                .average(c.average)
                .start_epoch(c.epochs_done.min(self.epochs.saturating_sub(1))),
            None => Trainer::new()
                .epochs(self.epochs)
                .policy(self.a.policy.unwrap_or(Policy::Auto))
                .schedule(self.schedule)
                .seed(self.a.seed())
                .average(self.average),
        };
        if let Some(n) = self.threads {
            t = t.threads(n);
        }
        t.loss_rows((self.a.loss_rows > 0).then_some(self.a.loss_rows))
            .stop_flag(self.interrupts.flag())
    }

    /// Whether the trainer averages (the checkpoint's setting when resuming).
    pub fn averaging(&self) -> bool {
        self.resume.as_ref().map_or(self.average, |c| c.average)
    }

    /// The starting weights: the checkpoint's, or `model`'s seeded initialisation.
    pub fn start_weights<M: Model>(&self, model: &M) -> Result<Vec<f32>, Error> {
        match &self.resume {
            Some(c) => {
                if c.weights.len() != model.n_weights() {
                    return Err(Error::LengthMismatch {
                        what: "checkpoint weights",
                        expected: model.n_weights(),
                        found: c.weights.len(),
                    });
                }
                Ok(c.weights.clone())
            }
            None => {
                // The initial vector, the store and the trainer's copies.
                wildsgd::limits::check_weights("the model", model.n_weights() as u64, 4)?;
                let mut init = vec![0.0f32; model.n_weights()];
                model.init(&mut init, self.a.seed());
                Ok(init)
            }
        }
    }
}

pub(crate) fn schedule_of(a: &TrainArgs, default: Schedule) -> Result<Schedule, Error> {
    let (d_kind, d_lr, d_decay) = match default {
        Schedule::Constant(lr) => (ScheduleKind::Constant, lr, 0.0),
        Schedule::InverseTime { initial, decay } => (ScheduleKind::InverseTime, initial, decay),
        Schedule::EpochDecay { initial, decay } => (ScheduleKind::EpochDecay, initial, decay),
        other => return Ok(other),
    };
    let (lr, decay) = (a.lr.unwrap_or(d_lr), a.lr_decay.unwrap_or(d_decay));
    let s = match a.schedule.unwrap_or(d_kind) {
        ScheduleKind::Constant => Schedule::Constant(lr),
        ScheduleKind::InverseTime => Schedule::InverseTime { initial: lr, decay },
        ScheduleKind::EpochDecay => Schedule::EpochDecay { initial: lr, decay },
    };
    check_schedule(&s)?;
    Ok(s)
}

/// A schedule's rates are usable, or an error naming the flag at fault.
pub(crate) fn check_schedule(s: &Schedule) -> Result<(), Error> {
    s.validate().map_err(|e| match e {
        Error::InvalidParameter { reason, .. } => param("lr-decay", reason),
        Error::InvalidLearningRate { value } => param(
            "lr",
            format!("the learning rate must be finite and positive, got {value}"),
        ),
        e => e,
    })
}

/// The cores of this machine, and the thread count asked for capped at 4
/// per core (a note says so): a pool is spawned up front, and more threads
/// than that only queue for the cores.
fn capped_threads(asked: Option<usize>, quiet: bool) -> Option<usize> {
    let n = asked?;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let cap = cores.saturating_mul(4).clamp(1, wildsgd::limits::MAX_THREADS);
    if n > cap {
        if !quiet {
            eprintln!(
                "wildsgd: note: --threads {n} is more than 4 per core on this machine's {cores} core(s); using {cap}"
            );
        }
        return Some(cap);
    }
    Some(n)
}

/// With --resume, a flag that asks for something other than what the
/// checkpoint holds would silently not apply: it is refused (the same value
/// as the checkpoint's is fine, so a run's command line can be repeated with
/// --resume added).
fn check_resume_flags(a: &TrainArgs, c: &Checkpoint, file: &str) -> Result<(), Error> {
    let (kind, initial, decay) = match c.schedule {
        Schedule::Constant(lr) => (ScheduleKind::Constant, lr, None),
        Schedule::InverseTime { initial, decay } => (ScheduleKind::InverseTime, initial, Some(decay)),
        Schedule::EpochDecay { initial, decay } => (ScheduleKind::EpochDecay, initial, Some(decay)),
        Schedule::Linear { initial, .. } => (ScheduleKind::Constant, initial, None),
    };
    let linear = matches!(c.schedule, Schedule::Linear { .. });
    let l2 = saved_l2(c, file)?;
    let differs = |flag: &'static str, given: String, saved: String| {
        Err(param(
            flag,
            format!(
                "--{flag} {given} differs from the checkpoint's {saved}: a resumed run continues with the \
                 checkpoint's schedule, seed, L2 and averaging (--policy and --threads may change); drop --{flag}, \
                 or train a new run without --resume"
            ),
        ))
    };
    if let Some(v) = a.seed.filter(|&v| v != c.seed) {
        return differs("seed", v.to_string(), c.seed.to_string());
    }
    if let Some(v) = a.lr.filter(|&v| v != initial) {
        return differs("lr", v.to_string(), initial.to_string());
    }
    if let Some(v) = a.lr_decay.filter(|&v| Some(v) != decay) {
        return differs(
            "lr-decay",
            v.to_string(),
            decay.map_or("none".into(), |d| d.to_string()),
        );
    }
    if let Some(v) = a.schedule.filter(|&v| linear || v != kind) {
        let name = |k: ScheduleKind| {
            k.to_possible_value()
                .map_or_else(String::new, |p| p.get_name().to_string())
        };
        let saved = if linear { "linear".to_string() } else { name(kind) };
        return differs("schedule", name(v), saved);
    }
    if let Some(v) = a.l2.filter(|&v| v != l2) {
        return differs("l2", v.to_string(), l2.to_string());
    }
    if let Some(v) = a.average.filter(|&v| v != c.average) {
        return differs("average", v.to_string(), c.average.to_string());
    }
    Ok(())
}

/// The L2 strength of a checkpoint's model (0 for a kind without one).
fn saved_l2(c: &Checkpoint, file: &str) -> Result<f32, Error> {
    Ok(match c.kind.as_str() {
        Linear::KIND => c.model::<Linear>(file)?.l2_strength(),
        Softmax::KIND => c.model::<Softmax>(file)?.l2_strength(),
        MatrixFactorization::KIND => c.model::<MatrixFactorization>(file)?.l2_strength(),
        _ => 0.0,
    })
}

fn train(a: TrainArgs) -> Result<Done, Failure> {
    let clock = Instant::now();
    let defaults = match a.model {
        ModelKind::Logistic => linear::LOGISTIC_DEFAULTS,
        ModelKind::Hinge | ModelKind::Squared => linear::DEFAULTS,
        ModelKind::Softmax => softmax::DEFAULTS,
        ModelKind::Mf => mf::DEFAULTS,
        ModelKind::Line => sgns::LINE_DEFAULTS,
        ModelKind::Word2vec => sgns::WORD2VEC_DEFAULTS,
    };
    sgns::check_args(&a)?;
    if a.no_bias && !matches!(a.model, ModelKind::Logistic | ModelKind::Hinge | ModelKind::Squared) {
        return Err(param("no-bias", "--no-bias applies to linear models only".into()).into());
    }
    if a.rank.is_some() && a.model != ModelKind::Mf {
        return Err(param("rank", "--rank applies to --model mf only".into()).into());
    }
    let checkpoint_path = a
        .checkpoint
        .clone()
        .or_else(|| a.out.as_ref().map(|o| PathBuf::from(format!("{}.ckpt", o.display()))));
    let every = match (a.checkpoint_every, &a.checkpoint) {
        (0, Some(_)) => 1,
        (n, _) => n,
    };
    if (every > 0 || a.resume) && checkpoint_path.is_none() {
        return Err(param(
            "checkpoint",
            "checkpoints and --resume need --checkpoint FILE or --out M".into(),
        )
        .into());
    }
    paths::check_train(&a, checkpoint_path.as_deref(), every > 0)?;
    let resume = match (a.resume, &checkpoint_path) {
        (true, Some(path)) => Some(Checkpoint::load(path)?),
        _ => None,
    };
    if let Some(c) = &resume {
        let file = checkpoint_path
            .as_deref()
            .map_or_else(String::new, |p| p.display().to_string());
        check_resume_flags(&a, c, &file)?;
    }
    let l2 = a.l2.unwrap_or(defaults.l2);
    if !(l2.is_finite() && l2 >= 0.0) {
        return Err(param("l2", format!("must be finite and >= 0, got {l2}")).into());
    }
    let schedule = schedule_of(&a, defaults.schedule)?;
    let threads = capped_threads(a.threads, a.quiet);
    let interrupts = signals::Interrupts::install()?;
    let run = Run {
        read: a.limits.read(),
        threads,
        interrupts,
        quiet: a.quiet,
        clock,
        checkpoint_path,
        every,
        resume,
        epochs: a.epochs.unwrap_or(defaults.epochs),
        l2,
        schedule,
        average: a.average.unwrap_or(defaults.average),
        a,
    };
    match run.a.model {
        ModelKind::Logistic => linear::train(&run, Loss::Logistic),
        ModelKind::Hinge => linear::train(&run, Loss::Hinge),
        ModelKind::Squared => linear::train(&run, Loss::Squared),
        ModelKind::Softmax => softmax::train(&run),
        ModelKind::Mf => mf::train(&run),
        ModelKind::Line => sgns::train_line(&run),
        ModelKind::Word2vec => sgns::train_word2vec(&run),
    }
}

/// Lines printed after training, from the final weights.
pub(crate) type Summary<'s> = Box<dyn Fn(&[f32]) -> Result<Vec<String>, Error> + 's>;

/// The saved form of a model: its kind, parameters and tables, to which
/// each checkpoint adds the trainer's state and the weights.
#[derive(Clone)]
pub(crate) struct Saved {
    template: Checkpoint,
}

impl Saved {
    /// `model`, without tables.
    pub fn of<M: Persist>(model: &M) -> Self {
        Saved {
            template: Checkpoint::new(model, &Trainer::new(), 0, Vec::new()),
        }
    }

    /// With `table` attached as `name`.
    pub fn table(self, name: &str, table: Table) -> Self {
        Saved {
            template: self.template.with_table(name, table),
        }
    }

    /// The checkpoint after `done` epochs of `trainer` (averaging or not), holding `weights`.
    pub fn checkpoint(&self, trainer: &Trainer, average: bool, done: usize, weights: Vec<f32>) -> Checkpoint {
        Checkpoint {
            schedule: trainer.get_schedule(),
            policy: trainer.get_policy(),
            seed: trainer.get_seed(),
            average,
            epochs_done: done,
            weights,
            ..self.template.clone()
        }
    }
}

/// How a kind describes itself to the shared loop.
pub(crate) struct Described<'s> {
    /// The saved form of the model, for checkpoints and `--out`.
    pub saved: Saved,
    /// The JSON report's `data`, `rows`, `valid_rows`, `features`, `model` fields.
    pub json: serde_json::Map<String, serde_json::Value>,
    /// What to print after training (held-out figures, say).
    pub summary: Summary<'s>,
}

/// Trains `model` on `train` (validating on `valid`) from `weights` with
/// `trainer`: progress, checkpoints, `--out` and `--report` as `run` says.
pub(crate) fn train_loop<M: Model>(
    run: &Run,
    model: &M,
    train: &M::Data,
    valid: Option<&M::Data>,
    trainer: Trainer,
    weights: Vec<f32>,
    described: Described<'_>,
) -> Result<Done, Failure> {
    train_loop_with(run, model, train, valid, trainer, weights, described, None)
}

/// [`train_loop`], calling `after_epoch` with each finished epoch's number
/// (from 0) before its progress line: line advances its pairs' epoch counter
/// there so each epoch draws fresh negatives.
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_loop_with<M: Model>(
    run: &Run,
    model: &M,
    train: &M::Data,
    valid: Option<&M::Data>,
    trainer: Trainer,
    weights: Vec<f32>,
    described: Described<'_>,
    after_epoch: Option<&dyn Fn(usize)>,
) -> Result<Done, Failure> {
    let (a, quiet) = (&run.a, run.quiet);
    let epochs = trainer.get_epochs();
    let averaging = run.averaging();
    let checkpoint = |done: usize, w: Vec<f32>| described.saved.checkpoint(&trainer, averaging, done, w);
    let done_before = run.resume.as_ref().map_or(0, |c| c.epochs_done);
    if let Some(c) = &run.resume {
        if c.epochs_done >= epochs {
            say!(
                quiet,
                "the checkpoint already has {} of {} epochs done: nothing to train",
                c.epochs_done,
                epochs
            );
            if let Some(out) = &a.out {
                c.save(out)?;
                say!(quiet, "model saved to {}", out.display());
            }
            return Ok(Done::Finished);
        }
        say!(quiet, "resuming after epoch {} of {}", c.epochs_done, epochs);
        if c.average {
            // A run that reached its own last epoch saved averaged weights, not
            // its last iterate: continuing from them is not the longer run.
            say!(
                quiet,
                "note: this run averages its last epoch's iterates; a checkpoint taken at the end of a \
                 shorter run holds averaged weights, so resuming it differs from one longer run"
            );
        }
    }

    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new((epochs - done_before) as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let store = WeightStore::from_slice(&weights);
    let mut job = trainer.job(model, train).weights(&store);
    if let Some(v) = valid {
        job = job.validation(v);
    }
    if trainer.get_policy() == Policy::Auto {
        let c = job.choose_policy()?;
        say!(quiet, "policy auto: {} ({})", c.policy, c.reason);
    }
    if run.every > 0 {
        let path = run.checkpoint_path.clone().expect("checked when the run was set up");
        let (every, checkpoint) = (run.every, &checkpoint);
        job = job.on_weights(move |epoch, w| {
            let done = epoch + 1;
            if done % every == 0 || done == epochs {
                checkpoint(done, w.to_vec()).save(&path)?;
            }
            Ok(())
        });
    }
    let bar_ref = bar.as_ref();
    job = job.on_epoch(|e| {
        if let Some(f) = after_epoch {
            f(e.epoch);
        }
        let line = epoch_line(e);
        match bar_ref {
            Some(b) => {
                b.suspend(|| out!("{line}"));
                b.inc(1);
                b.set_message(format!("loss {:.5}", e.train_loss));
            }
            None => say!(quiet, "{line}"),
        }
        Control::Continue
    });
    run.interrupts.arm();
    let result = job.run();
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let trained = result?;
    let total_seconds = run.clock.elapsed().as_secs_f64();
    let r = &trained.report;
    let done = epochs.min(done_before + r.epochs.len());
    match &trained.outcome {
        Outcome::Diverged { epoch, reason } => {
            return Err(diverged(run, *epoch, reason, &trained.weights, |w| checkpoint(*epoch, w)))
        }
        Outcome::Interrupted { epoch, samples } => {
            return finish_interrupted(run, (*epoch, *samples), done, r, || checkpoint(done, trained.weights.clone()))
        }
        Outcome::Finished | Outcome::StoppedEarly { .. } => {}
    }
    say!(
        quiet,
        "done: {} epochs, {:.0} samples/s over {:.3} s of updates, {:.2} s in all",
        r.epochs.len(),
        r.samples_per_sec(),
        r.update_seconds(),
        total_seconds
    );
    for line in (described.summary)(&trained.weights)? {
        say!(quiet, "{line}");
    }
    if let Some(out) = &a.out {
        checkpoint(done, trained.weights.clone()).save(out)?;
        say!(quiet, "model saved to {}", out.display());
    }
    if let Some(path) = &a.report {
        write_report(path, described.json, r, total_seconds, quiet)?;
    }
    Ok(run.after_training())
}

/// One progress line.
pub(crate) fn epoch_line(e: &wildsgd::trainer::EpochReport) -> String {
    let mut s = format!("epoch {:>3}: train loss {:.5}", e.epoch + 1, e.train_loss);
    if let Some(acc) = e.train_accuracy {
        s += &format!(", train acc {acc:.4}");
    }
    if let Some(l) = e.valid_loss {
        s += &format!(", valid loss {l:.5}");
    }
    if let Some(acc) = e.valid_accuracy {
        s += &format!(", valid acc {acc:.4}");
    }
    s + &format!(", {:.0} samples/s, {:.3} s", e.samples_per_sec, e.wall_seconds)
}

impl Run {
    /// How a run that trained to its end exits: normally, or with the code
    /// of a signal that came while it was saving.
    pub fn after_training(&self) -> Done {
        match self.interrupts.received() {
            Some((sig, _)) => Done::Interrupted(sig),
            None => Done::Finished,
        }
    }
}

/// After divergence: the last finite weights go to `--out` (when given),
/// and the error says where they are.
pub(crate) fn diverged(
    run: &Run,
    epoch: usize,
    reason: &str,
    last_finite: &[f32],
    checkpoint: impl FnOnce(Vec<f32>) -> Checkpoint,
) -> Failure {
    // `epoch` counts from 0: the epochs before it all ended finite.
    let complete = epoch;
    let what = format!(
        "training diverged in epoch {}: {reason}; lower --lr (or raise --l2) and train again",
        epoch + 1
    );
    let saved = match &run.a.out {
        None => "the last finite weights were not saved (no --out)".to_string(),
        Some(out) => match checkpoint(last_finite.to_vec()).save(out) {
            Ok(()) => format!(
                "the last finite weights (after {complete} complete epoch(s)) were saved to {}",
                out.display()
            ),
            Err(e) => format!("saving the last finite weights failed: {e}"),
        },
    };
    Failure::Diverged(format!("{what}; {saved}"))
}

/// After a signal stopped training: the weights go to `--out`, and to the
/// checkpoint when checkpoints were asked for; what was saved is printed.
pub(crate) fn finish_interrupted(
    run: &Run,
    (at_epoch, at_samples): (usize, u64),
    done: usize,
    r: &wildsgd::trainer::Report,
    checkpoint: impl Fn() -> Checkpoint,
) -> Result<Done, Failure> {
    let (sig, name) = run.interrupts.received().unwrap_or((2, "a stop request"));
    let trained_any = at_samples > 0 || !r.epochs.is_empty();
    say!(
        run.quiet,
        "epoch {:>3}: stopped by {name} after {} samples",
        at_epoch + 1,
        at_samples
    );
    eprintln!(
        "wildsgd: {name}: training stopped in epoch {} after {} of its samples ({done} complete epoch(s)); \
         a second signal exits at once",
        at_epoch + 1,
        at_samples
    );
    if !trained_any {
        eprintln!("wildsgd: nothing was trained yet, so nothing was saved");
        return Ok(Done::Interrupted(sig));
    }
    let mut saved = Vec::new();
    if let Some(out) = &run.a.out {
        checkpoint().save(out)?;
        saved.push(format!("the model to {}", out.display()));
    }
    if run.every > 0 {
        if let Some(path) = &run.checkpoint_path {
            checkpoint().save(path)?;
            saved.push(format!(
                "a checkpoint to {} (--resume repeats epoch {} from these weights)",
                path.display(),
                done + 1
            ));
        }
    }
    if saved.is_empty() {
        eprintln!("wildsgd: nothing was saved (no --out or --checkpoint)");
    } else {
        eprintln!("wildsgd: saved {}", saved.join(" and "));
    }
    Ok(Done::Interrupted(sig))
}

/// Writes the JSON report (`--report`): the kind's own fields, then the
/// run's threads, policy, timings and per-epoch figures.
pub(crate) fn write_report(
    path: &std::path::Path,
    mut json: serde_json::Map<String, serde_json::Value>,
    r: &wildsgd::trainer::Report,
    total_seconds: f64,
    quiet: bool,
) -> Result<(), Error> {
    let epochs: Vec<serde_json::Value> = r
        .epochs
        .iter()
        .map(|e| {
            serde_json::json!({
                "epoch": e.epoch,
                "train_loss": e.train_loss,
                "train_accuracy": e.train_accuracy,
                "valid_loss": e.valid_loss,
                "valid_accuracy": e.valid_accuracy,
                "samples_per_sec": e.samples_per_sec,
                "seconds": e.wall_seconds,
                "update_seconds": e.update_seconds,
                "eval_seconds": e.eval_seconds,
                "learning_rate": e.learning_rate,
            })
        })
        .collect();
    for (k, v) in [
        ("threads", serde_json::json!(r.threads)),
        ("policy", serde_json::json!(r.policy)),
        ("total_seconds", serde_json::json!(total_seconds)),
        ("update_seconds", serde_json::json!(r.update_seconds())),
        ("samples_per_sec", serde_json::json!(r.samples_per_sec())),
        ("epochs", serde_json::Value::Array(epochs)),
    ] {
        json.insert(k.into(), v);
    }
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(json)).expect("JSON of plain values");
    wildsgd::output::write_atomically(path, (text + "\n").as_bytes())?;
    say!(quiet, "report written to {}", path.display());
    Ok(())
}

/// The `model: ...; policy ...` line every kind prints before training.
pub(crate) fn trainer_line(t: &Trainer) -> String {
    format!(
        "policy {}, {} thread(s), {} epochs, schedule {:?}, seed {}",
        t.get_policy(),
        t.thread_count(),
        t.get_epochs(),
        t.get_schedule(),
        t.get_seed()
    )
}

/// Reads a LIBSVM file at least `n_features` wide. Unless `n_features` is
/// given (a model's width, which the data is cut to), a model `per_feature`
/// weights per feature wide must fit in memory: else the error names the
/// line and column of the largest feature index.
pub(crate) fn read_data(
    path: &Path,
    n_features: Option<usize>,
    read: &ReadOptions,
    per_feature: u64,
) -> Result<CsrDataset, Error> {
    let d = read_libsvm(
        path,
        &LibsvmOptions {
            n_features,
            read: *read,
            ..LibsvmOptions::default()
        },
    )?;
    if n_features.is_none() {
        let width = d.data.n_features() as u64;
        let weights = (width + 1).saturating_mul(per_feature);
        if let Err(e) = wildsgd::limits::check_weights("the model", weights, 4) {
            let (line, column) = d.widest.unwrap_or((1, 1));
            return Err(param(
                "data",
                format!(
                    "{}: line {line}, column {column}: feature index {width} makes the model {} features wide: {e}",
                    path.display(),
                    width
                ),
            ));
        }
    }
    Ok(d.data)
}

/// What [`restrict`] dropped.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ignored {
    pub values: usize,
    rows: usize,
    dim: usize,
}

impl std::fmt::Display for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} feature value(s) in {} row(s) with indices beyond the model's {} features",
            self.values, self.rows, self.dim
        )
    }
}

/// `data` without the features at or beyond `dim`.
pub(crate) fn restrict(data: &CsrDataset, dim: usize) -> (CsrDataset, Ignored) {
    let mut ignored = Ignored {
        dim,
        ..Ignored::default()
    };
    if data.n_features() <= dim {
        let mut d = data.clone();
        if d.n_features() < dim {
            let mut wide = CsrDataset::new(dim);
            wide.append_rows(&d);
            d = wide;
        }
        return (d, ignored);
    }
    let mut out = CsrDataset::new(dim);
    out.reserve(data.len(), data.nnz());
    for i in 0..data.len() {
        let r = data.row(i);
        let keep = r.indices.partition_point(|&j| (j as usize) < dim);
        if keep < r.indices.len() {
            ignored.values += r.indices.len() - keep;
            ignored.rows += 1;
        }
        out.push(&r.indices[..keep], &r.values[..keep], r.label)
            .expect("a prefix of a valid row is valid");
    }
    (out, ignored)
}

/// Appending rows to a wider dataset.
trait AppendRows {
    fn append_rows(&mut self, other: &CsrDataset);
}

impl AppendRows for CsrDataset {
    fn append_rows(&mut self, other: &CsrDataset) {
        self.reserve(other.len(), other.nnz());
        for i in 0..other.len() {
            let r = other.row(i);
            self.push(r.indices, r.values, r.label)
                .expect("rows of a narrower dataset fit");
        }
    }
}

/// Error context: which file a row-numbered error is about.
pub(crate) trait InFile {
    fn in_file(self, path: &Path) -> Error;
}

impl InFile for Error {
    fn in_file(self, path: &Path) -> Error {
        match self {
            Error::InvalidSample { row, reason } => Error::InvalidParameter {
                name: "data",
                reason: format!("{}: data row {} (from 1): {reason}", path.display(), row + 1),
            },
            Error::FeatureOutOfRange { row, index, dim } => Error::InvalidParameter {
                name: "data",
                reason: format!(
                    "{}: data row {} (from 1): feature index {} is beyond the model's {dim} features",
                    path.display(),
                    row + 1,
                    index + 1
                ),
            },
            e => e,
        }
    }
}

fn eval(a: EvalArgs) -> Result<(), Error> {
    let ckpt = Checkpoint::load(&a.model)?;
    let name = a.model.display().to_string();
    match ckpt.kind.as_str() {
        Linear::KIND => linear::eval(&ckpt, &name, &a),
        Softmax::KIND => softmax::eval(&ckpt, &name, &a),
        MatrixFactorization::KIND => mf::eval(&ckpt, &name, &a),
        Sgns::KIND => sgns::eval(&ckpt, &name, &a),
        other => Err(param(
            "model",
            format!("{name}: this build cannot evaluate {other:?} models"),
        )),
    }
}

fn predict(a: PredictArgs) -> Result<Done, Failure> {
    paths::check_predict(&a)?;
    let ckpt = Checkpoint::load(&a.model)?;
    let name = a.model.display().to_string();
    let lines = match ckpt.kind.as_str() {
        Linear::KIND => linear::predict(&ckpt, &name, &a)?,
        Softmax::KIND => softmax::predict(&ckpt, &name, &a)?,
        MatrixFactorization::KIND => mf::predict(&ckpt, &name, &a)?,
        Sgns::KIND => sgns::predict(&ckpt, &name, &a)?,
        other => {
            return Err(param(
                "model",
                format!("{name}: this build cannot predict with {other:?} models"),
            )
            .into())
        }
    };
    write_predictions(a.out.as_deref(), &lines)?;
    Ok(Done::Finished)
}

/// Writes one prediction per line to `out`, or stdout (a reader that went
/// away is not an error).
fn write_predictions(out: Option<&Path>, lines: &[String]) -> Result<(), Error> {
    let mut text = String::with_capacity(lines.len() * 12);
    for l in lines {
        text += l;
        text.push('\n');
    }
    match out {
        Some(p) => {
            wildsgd::output::write_atomically(p, text.as_bytes())?;
            eprintln!("wildsgd: wrote {} predictions to {}", lines.len(), p.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(Error::Io {
                        file: "<stdout>".into(),
                        source: e,
                    });
                }
            }
        }
    }
    Ok(())
}
