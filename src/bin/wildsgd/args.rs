//! The command line: clap's definitions of the commands and their flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use wildsgd::data::ReadOptions;
use wildsgd::schedule::Order;
use wildsgd::Policy;

#[derive(Parser)]
#[command(
    name = "wildsgd",
    version,
    about = "Lock-free Hogwild!-style SGD: linear and softmax models on LIBSVM data, matrix factorisation on \
             ratings, embeddings of graphs (line) and text (word2vec)"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

// Parsed once per process: the size of the training arguments does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub(crate) enum Command {
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
    pub(crate) max_input_bytes: Option<u64>,
    /// A memory budget for the whole process: an allocation for the data or
    /// the model that would take it past this (counting what it already
    /// holds) is refused (suffixes K, M, G, T) [the memory available now].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub(crate) max_memory: Option<u64>,
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
    pub(crate) data: PathBuf,
    /// The model to train.
    #[arg(long, default_value = "logistic")]
    pub(crate) model: String,
    /// Worker threads (default: all cores; 1 for the sequential policy; at
    /// most 4 per core, more is capped with a note).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub(crate) threads: Option<usize>,
    /// Passes over the training data (each kind's default: see [`command`]).
    #[arg(long, value_name = "E", allow_negative_numbers = true)]
    pub(crate) epochs: Option<usize>,
    /// Where to save the trained model.
    #[arg(long, value_name = "M")]
    pub(crate) out: Option<PathBuf>,
    /// Initial learning rate (each kind's default: see [`command`]).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub(crate) lr: Option<f32>,
    /// The step-size schedule [epoch-decay].
    #[arg(long, value_enum)]
    pub(crate) schedule: Option<ScheduleKind>,
    /// The schedule's decay, per epoch for epoch-decay, per sample for
    /// inverse-time (each kind's default: see [`command`]).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub(crate) lr_decay: Option<f32>,
    /// L2 regularisation strength (each kind's default: see [`command`]).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub(crate) l2: Option<f32>,
    /// Rows of the seeded subset the per-epoch training loss is measured
    /// on; 0 means all rows [10000]. The loss pass is timed apart from the
    /// updates, but it is part of the run's wall time.
    #[arg(long, value_name = "N", default_value_t = 10_000, allow_negative_numbers = true)]
    pub(crate) loss_rows: usize,
    /// Factor rank (mf only) [100; at most 65536].
    #[arg(long, value_name = "R", allow_negative_numbers = true)]
    pub(crate) rank: Option<usize>,
    /// The graph file's format (line only) [by extension: `.graph` and
    /// `.metis` are METIS, anything else an edge list].
    #[arg(long, value_enum)]
    pub(crate) format: Option<GraphFormat>,
    /// Embedding dimension (line, word2vec) [line 32, word2vec 100; at most 512].
    #[arg(long, value_name = "D", allow_negative_numbers = true)]
    pub(crate) dim: Option<usize>,
    /// Negatives per pair, drawn from count^0.75 (line, word2vec) [5; at most 1024].
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    pub(crate) negatives: Option<usize>,
    /// Skip-gram window, words on each side (word2vec) [5; at most 1000].
    #[arg(long, value_name = "W", allow_negative_numbers = true)]
    pub(crate) window: Option<usize>,
    /// Drop words seen fewer times than this (word2vec) [5].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub(crate) min_count: Option<u64>,
    /// Sub-sampling threshold t of frequent words; 0 keeps every word (word2vec) [1e-3].
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    pub(crate) subsample: Option<f64>,
    /// Return the average of the last epoch's iterates (true/false) (each kind's default: see [`command`]).
    #[arg(long, value_name = "BOOL")]
    pub(crate) average: Option<bool>,
    /// How updates land in the shared weights: auto (picks from the data's shape and the
    /// thread count), sequential, racy, atomic, locked, batched:N, hotcold:K:M, replicas:M
    /// or delayed:M.
    /// [auto; when resuming, the checkpoint's].
    #[arg(long, value_name = "NAME", value_parser = parse_policy)]
    pub(crate) policy: Option<Policy>,
    /// The order each epoch visits the rows in: blocks (the rows shuffled once, seeded,
    /// then each epoch a seeded order of blocks of ~32 KiB of consecutive rows, each
    /// block's rows in a random order: the fastest order that converges like a full
    /// shuffle), blocks:N (N rows per block), full (a fresh permutation of all rows
    /// every epoch, no copy of the data: the textbook order, 2-3x slower), and for
    /// measurement blocks-in-order[:N] and stored (the shuffled rows in one fixed order).
    /// [blocks; may change when resuming]
    #[arg(long, value_name = "ORDER", value_parser = parse_order)]
    pub(crate) order: Option<Order>,
    /// Hold out this fraction of the rows (seeded) for validation [line and
    /// word2vec 0.1 of the edges or sentences; 0 holds out nothing].
    #[arg(long, value_name = "F", conflicts_with = "valid", allow_negative_numbers = true)]
    pub(crate) valid_fraction: Option<f64>,
    /// Validation data, in the training data's format.
    #[arg(long, value_name = "FILE")]
    pub(crate) valid: Option<PathBuf>,
    /// Seed for the split, the initial weights and the sample orders [1].
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) seed: Option<u64>,
    /// Train without a bias weight (linear models only).
    #[arg(long)]
    pub(crate) no_bias: bool,
    /// How a gradient becomes a step (linear models and softmax):
    /// `adaptive` (per-feature AdaGrad on features normalised by their
    /// largest value: no learning rate to retune when features are scaled)
    /// or `sgd` (plain SGD) [adaptive].
    #[arg(long, value_name = "U")]
    pub(crate) update: Option<wildsgd::model::Update>,
    /// Write a JSON report of the run here.
    #[arg(long, visible_alias = "json", value_name = "R.json")]
    pub(crate) report: Option<PathBuf>,
    /// Checkpoint file (default: the --out path with `.ckpt` appended).
    #[arg(long, value_name = "FILE")]
    pub(crate) checkpoint: Option<PathBuf>,
    /// Write a checkpoint every N epochs (0: never, unless --checkpoint is given, then every epoch).
    #[arg(long, value_name = "N", default_value_t = 0, allow_negative_numbers = true)]
    pub(crate) checkpoint_every: usize,
    /// Continue from the checkpoint's epoch with its schedule, seed, L2 and
    /// averaging (--lr, --lr-decay, --schedule, --seed, --l2 or --average
    /// asking for other values are refused); --policy and --threads may change.
    #[arg(long)]
    pub(crate) resume: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Train data-parallel as one rank of an MPI job (`mpirun -np K wildsgd
    /// train --distributed ...`): each rank reads and trains on its share of
    /// --data (and --valid), the ranks add up their changes every
    /// --exchange-every samples; rank 0 alone prints and writes --out,
    /// --report and checkpoints. Needs a build with `--features mpi`;
    /// every model kind (line and word2vec: every rank reads the graph or
    /// corpus and trains its share of the pairs).
    #[arg(long)]
    pub(crate) distributed: bool,
    /// With --distributed: samples of its share each rank trains on between
    /// exchanges [128 / ranks, at least 16].
    #[arg(long, value_name = "N", requires = "distributed", allow_negative_numbers = true)]
    pub(crate) exchange_every: Option<usize>,
    /// Stream --data from disk instead of loading it (linear models and
    /// softmax): one
    /// pass parses the file (plain or gzip) into a binary spill in
    /// --spill-dir, then each epoch reads it back in windows of rows
    /// (a windowed shuffle), so memory stays at a few windows plus the
    /// model whatever the file's size. --valid-fraction holds rows out by
    /// a seeded hash of each row.
    #[arg(long, conflicts_with = "distributed")]
    pub(crate) stream: bool,
    /// Hash feature names into 2^B weights (1..=31; linear models and
    /// softmax): LIBSVM
    /// indices or any token (`name:value`, or `name` for value 1), so the
    /// model's size is fixed whatever the data. Without it, indices are
    /// exact.
    #[arg(
        long,
        value_name = "B",
        allow_negative_numbers = true,
        conflicts_with = "distributed"
    )]
    pub(crate) hash_bits: Option<u32>,
    /// Directory of --stream's spill file (deleted when training ends;
    /// about 8 bytes per nonzero and per row) [the system's temporary
    /// directory].
    #[arg(long, value_name = "DIR", requires = "stream")]
    pub(crate) spill_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
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
    pub(crate) model: PathBuf,
    /// Data to evaluate on, in the model's training format (LIBSVM, ratings for
    /// mf, a graph for line, text for word2vec).
    #[arg(long, value_name = "FILE")]
    pub(crate) data: PathBuf,
    /// The graph file's format (line models) [by extension].
    #[arg(long, value_enum)]
    pub(crate) format: Option<GraphFormat>,
    /// Seed of the sampled negatives (line, word2vec).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub(crate) seed: u64,
    /// Also print the confusion matrix (softmax).
    #[arg(long, short)]
    pub(crate) verbose: bool,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

#[derive(Args)]
pub(crate) struct PredictArgs {
    /// A model saved by `wildsgd train --out`.
    #[arg(long, value_name = "M")]
    pub(crate) model: PathBuf,
    /// Data to predict for, in the model's training format (labels and ratings are read but not used);
    /// for line and word2vec, node names or words, one per line.
    #[arg(long, value_name = "FILE")]
    pub(crate) data: PathBuf,
    /// Neighbours to list per name or word (line, word2vec).
    #[arg(long, value_name = "K", default_value_t = 10, allow_negative_numbers = true)]
    pub(crate) neighbours: usize,
    /// Where to write the predictions, one per line (default: stdout).
    #[arg(long, value_name = "P")]
    pub(crate) out: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

fn parse_order(s: &str) -> Result<Order, String> {
    s.parse::<Order>()
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    s.parse::<Policy>().map_err(|e| e.to_string())
}
