//! What every kind's training shares before its loop: the arguments
//! resolved against the kind's defaults, the checkpoint resumed from, the
//! trainer; and how a command ends ([`Failure`], [`Done`]).

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

use std::path::PathBuf;
use std::time::Instant;

use clap::ValueEnum;
use wildsgd::checkpoint::Checkpoint;
use wildsgd::data::ReadOptions;
use wildsgd::model::Update;
use wildsgd::{Error, Model, Policy, Schedule, Trainer};

use crate::args::{EvalArgs, PredictArgs, ScheduleKind, TrainArgs};
use crate::{paths, signals};

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
pub(crate) fn with_flag_hint(e: &Error) -> String {
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

pub(crate) fn param(name: &'static str, reason: String) -> Error {
    Error::InvalidParameter { name, reason }
}

/// A kind's defaults for what the user did not give.
/// The update linear models and softmax train with unless `--update` says.
pub(crate) const DEFAULT_UPDATE: Update = Update::Adaptive;

pub(crate) struct Defaults {
    pub epochs: usize,
    pub schedule: Schedule,
    pub l2: f32,
    pub average: bool,
    /// Whether the L2 default is `1 / rows` (the training rows), as
    /// scikit-learn's `LogisticRegression()` (C = 1) has it, instead of `l2`.
    pub l2_per_row: bool,
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
    /// The kind's L2 default is `1 / rows` and no `--l2` (or checkpoint) set
    /// another: see [`Run::l2_for`].
    pub l2_per_row: bool,
    pub schedule: Schedule,
    pub average: bool,
    /// The readers' limits.
    pub read: ReadOptions,
    /// Worker threads, after the cap.
    pub threads: Option<usize>,
    /// SIGINT/SIGTERM handling.
    pub interrupts: signals::Interrupts,
    /// With --distributed: the MPI job this process is a rank of.
    pub cluster: Option<wildsgd::cluster::Handle>,
}

impl Run {
    /// The L2 strength for training on `rows` rows: `1 / rows` where that
    /// is the default in force, else [`l2`](Self::l2).
    pub fn l2_for(&self, rows: usize) -> f32 {
        if self.l2_per_row && rows > 0 {
            (1.0 / rows as f64) as f32
        } else {
            self.l2
        }
    }

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
        if let Some(c) = &self.cluster {
            t = t.cluster(c.clone());
        }
        if let Some(n) = self.a.exchange_every {
            t = t.exchange_every(n);
        }
        t.loss_rows((self.a.loss_rows > 0).then_some(self.a.loss_rows))
            .order(self.a.order.unwrap_or_default())
            .stop_flag(self.interrupts.flag())
    }

    /// The cluster of a --distributed run.
    pub fn ranks(&self) -> Option<&dyn wildsgd::cluster::Cluster> {
        self.cluster.as_ref().map(wildsgd::cluster::Handle::get)
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
fn check_resume_flags(model: &dyn Kind, a: &TrainArgs, c: &Checkpoint, file: &str) -> Result<(), Error> {
    let (kind, initial, decay) = match c.schedule {
        Schedule::Constant(lr) => (ScheduleKind::Constant, lr, None),
        Schedule::InverseTime { initial, decay } => (ScheduleKind::InverseTime, initial, Some(decay)),
        Schedule::EpochDecay { initial, decay } => (ScheduleKind::EpochDecay, initial, Some(decay)),
        Schedule::Linear { initial, .. } => (ScheduleKind::Constant, initial, None),
    };
    let linear = matches!(c.schedule, Schedule::Linear { .. });
    // A checkpoint of another kind is refused by the kind's own resume,
    // which names both; there is no saved L2 to compare with then.
    let l2 = if model.loads(c) {
        model.saved_l2(c, file)?
    } else {
        a.l2.unwrap_or_default()
    };
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

/// One model kind of the command line.
/// What the run context needs of a model kind (the kinds, and the one
/// registry listing them, are in `kind/`).
pub(crate) trait Kind: Sync {
    /// The names `--model` accepts for it, with each one's help.
    fn names(&self) -> &'static [(&'static str, &'static str)];

    /// What a flag that only this kind accepts calls it (`--rank applies to
    /// ... only`): by default `--model NAME`, for a kind of several names a
    /// word for them all.
    fn group(&self) -> Option<&'static str> {
        None
    }

    /// Its defaults for what the user did not give, `model` being the name
    /// `--model` gave.
    fn defaults(&self, model: &str, update: Update) -> Defaults;

    /// A note on its default learning rate, for `--lr`'s help.
    fn lr_note(&self) -> Option<&'static str> {
        None
    }

    /// The kind-specific flags (of [`KIND_FLAGS`]) it accepts.
    fn flags(&self) -> &'static [&'static str] {
        &[]
    }

    /// Further checks of the arguments, before anything is read.
    fn check(&self, _a: &TrainArgs) -> Result<(), Error> {
        Ok(())
    }

    /// Trains as `run` says.
    fn train(&self, run: &Run) -> Result<Done, Failure>;

    /// Whether a checkpoint holds one of its models (by the stored kind and tables).
    fn loads(&self, c: &Checkpoint) -> bool;

    /// The L2 strength of its model in `c` (0 for a kind without one).
    fn saved_l2(&self, _c: &Checkpoint, _file: &str) -> Result<f32, Error> {
        Ok(0.0)
    }

    /// Evaluates the checkpoint's model on `a.data`, printing the figures.
    fn eval(&self, c: &Checkpoint, name: &str, a: &EvalArgs) -> Result<(), Error>;

    /// One prediction line per sample of `a.data`.
    fn predict(&self, c: &Checkpoint, name: &str, a: &PredictArgs) -> Result<Vec<String>, Error>;
}

/// Trains a model of `kind` (whose kind-specific flags the caller has
/// checked) as `a` says.
pub(crate) fn train(
    mut a: TrainArgs,
    kind: &'static dyn Kind,
    cluster: Option<wildsgd::cluster::Handle>,
) -> Result<Done, Failure> {
    let clock = Instant::now();
    if a.exchange_every == Some(0) {
        return Err(param("exchange-every", "must be at least 1 sample".into()).into());
    }
    let defaults = kind.defaults(&a.model, a.update.unwrap_or(DEFAULT_UPDATE));
    kind.check(&a)?;
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
        check_resume_flags(kind, &a, c, &file)?;
    }
    let mut every = every;
    if let Some(c) = cluster.as_ref().map(wildsgd::cluster::Handle::get) {
        if c.rank() != 0 {
            // Rank 0 alone speaks and writes; the others checked the same
            // paths and loaded the same checkpoint.
            a.quiet = true;
            a.out = None;
            a.report = None;
            every = 0;
        }
    }
    let l2 = a.l2.unwrap_or(defaults.l2);
    if !(l2.is_finite() && l2 >= 0.0) {
        return Err(param("l2", format!("must be finite and >= 0, got {l2}")).into());
    }
    let l2_per_row = defaults.l2_per_row && a.l2.is_none() && resume.is_none();
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
        l2_per_row,
        schedule,
        average: a.average.unwrap_or(defaults.average),
        cluster,
        a,
    };
    kind.train(&run)
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
