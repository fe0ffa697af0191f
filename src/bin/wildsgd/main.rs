//! `wildsgd`: train, evaluate and apply sparse linear models on LIBSVM files
//! from the command line.
//!
//! ```text
//! wildsgd train --data data/spamassassin.svm.gz --valid-fraction 0.2 --out spam.model
//! wildsgd eval --model spam.model --data data/spamassassin.svm.gz
//! wildsgd predict --model spam.model --data data/spamassassin.svm.gz --out scores.txt
//! ```
//!
//! Exit codes: 0 success, 2 usage error (from clap), 1 data or training error
//! (one line on stderr).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use wildsgd::checkpoint::Checkpoint;
use wildsgd::data::{binary_labels, read_libsvm, CsrDataset, LibsvmOptions};
use wildsgd::{Control, Error, Linear, Loss, Policy, Schedule, Trainer, WeightStore};

#[derive(Parser)]
#[command(
    name = "wildsgd",
    version,
    about = "Lock-free Hogwild!-style SGD for sparse linear models on LIBSVM data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on a LIBSVM file and save it.
    Train(TrainArgs),
    /// Loss, accuracy and AUC of a saved model on a LIBSVM file.
    Eval(EvalArgs),
    /// One score per sample: the positive-class probability for logistic
    /// regression, the raw score otherwise.
    Predict(PredictArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum ModelKind {
    /// Logistic regression (labels ±1 or 0/1).
    Logistic,
    /// Linear SVM, hinge loss (labels ±1 or 0/1).
    Hinge,
    /// Least squares (real targets).
    Squared,
}

impl ModelKind {
    fn loss(self) -> Loss {
        match self {
            ModelKind::Logistic => Loss::Logistic,
            ModelKind::Hinge => Loss::Hinge,
            ModelKind::Squared => Loss::Squared,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ScheduleKind {
    /// The same rate throughout: `lr`.
    Constant,
    /// `lr / (1 + lr_decay · t)`, t counting samples.
    InverseTime,
    /// `lr · lr_decay^epoch`.
    EpochDecay,
}

#[derive(Args)]
struct TrainArgs {
    /// Training data, LIBSVM format (plain or gzip).
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// The model: logistic, hinge or squared.
    #[arg(long, value_enum, default_value = "logistic")]
    model: ModelKind,
    /// Worker threads (default: all cores; 1 for the sequential policy).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Passes over the training data.
    #[arg(long, value_name = "E", default_value_t = 10)]
    epochs: usize,
    /// Where to save the trained model.
    #[arg(long, value_name = "M")]
    out: Option<PathBuf>,
    /// Initial learning rate.
    #[arg(long, value_name = "X", default_value_t = 0.5)]
    lr: f32,
    /// The step-size schedule.
    #[arg(long, value_enum, default_value = "epoch-decay")]
    schedule: ScheduleKind,
    /// The schedule's decay (per epoch for epoch-decay, per sample for inverse-time).
    #[arg(long, value_name = "X", default_value_t = 0.8)]
    lr_decay: f32,
    /// L2 regularisation strength.
    #[arg(long, value_name = "X", default_value_t = 1e-6)]
    l2: f32,
    /// How updates land in the shared weights: auto (picks from the data's shape and the
    /// thread count), sequential, racy, atomic, locked, batched:N, hotcold:K:M, replicas:M
    /// or delayed:M.
    #[arg(long, value_name = "NAME", default_value = "auto", value_parser = parse_policy)]
    policy: Policy,
    /// Hold out this fraction of the rows (seeded) for validation.
    #[arg(long, value_name = "F", conflicts_with = "valid")]
    valid_fraction: Option<f64>,
    /// Validation data, LIBSVM format.
    #[arg(long, value_name = "FILE")]
    valid: Option<PathBuf>,
    /// Seed for the split, the initial weights and the sample orders.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Train without a bias weight.
    #[arg(long)]
    no_bias: bool,
    /// Write a JSON report of the run here.
    #[arg(long, value_name = "R.json")]
    report: Option<PathBuf>,
    /// Checkpoint file (default: the --out path with `.ckpt` appended).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Write a checkpoint every N epochs (0: never, unless --checkpoint is given, then every epoch).
    #[arg(long, value_name = "N", default_value_t = 0)]
    checkpoint_every: usize,
    /// Continue from the checkpoint's epoch with its schedule, policy and seed.
    #[arg(long)]
    resume: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct EvalArgs {
    /// A model saved by `wildsgd train --out`.
    #[arg(long, value_name = "M")]
    model: PathBuf,
    /// Data to evaluate on, LIBSVM format (plain or gzip).
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
}

#[derive(Args)]
struct PredictArgs {
    /// A model saved by `wildsgd train --out`.
    #[arg(long, value_name = "M")]
    model: PathBuf,
    /// Data to score, LIBSVM format (labels are read but not used).
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Where to write the scores, one per line (default: stdout).
    #[arg(long, value_name = "P")]
    out: Option<PathBuf>,
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    s.parse::<Policy>().map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse(); // usage errors exit with status 2
    let result = match cli.command {
        Command::Train(a) => train(a),
        Command::Eval(a) => eval(a),
        Command::Predict(a) => predict(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = e.to_string().replace('\n', " ");
            eprintln!("wildsgd: error: {msg}");
            ExitCode::from(1)
        }
    }
}

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

fn read_data(path: &Path, n_features: Option<usize>) -> Result<CsrDataset, Error> {
    Ok(read_libsvm(
        path,
        &LibsvmOptions {
            n_features,
            ..LibsvmOptions::default()
        },
    )?
    .data)
}

fn schedule_of(a: &TrainArgs) -> Schedule {
    match a.schedule {
        ScheduleKind::Constant => Schedule::Constant(a.lr),
        ScheduleKind::InverseTime => Schedule::InverseTime {
            initial: a.lr,
            decay: a.lr_decay,
        },
        ScheduleKind::EpochDecay => Schedule::EpochDecay {
            initial: a.lr,
            decay: a.lr_decay,
        },
    }
}

fn param(name: &'static str, reason: String) -> Error {
    Error::InvalidParameter { name, reason }
}

fn train(a: TrainArgs) -> Result<(), Error> {
    let clock = Instant::now();
    let quiet = a.quiet;
    let loss = a.model.loss();
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
        ));
    }
    let resume_from = if a.resume {
        let path = checkpoint_path.as_ref().expect("checked above");
        Some(Checkpoint::load(path)?)
    } else {
        None
    };
    if !(a.l2.is_finite() && a.l2 >= 0.0) {
        return Err(param("l2", format!("must be finite and >= 0, got {}", a.l2)));
    }

    // Data: the model's width is the data's, or the checkpoint's when resuming.
    let mut data = read_data(&a.data, resume_from.as_ref().map(|c| c.n_features))?;
    if loss != Loss::Squared {
        binary_labels(&mut data).map_err(|e| e.in_file(&a.data))?;
    }
    let (train, valid) = match (a.valid_fraction, &a.valid) {
        (Some(f), _) => {
            let (t, v) = data.split(f, a.seed)?;
            if v.is_empty() {
                return Err(param(
                    "valid-fraction",
                    format!("{f} of {} rows leaves no validation rows", data.len()),
                ));
            }
            (t, Some(v))
        }
        (None, Some(path)) => {
            let mut v = read_data(path, Some(data.n_features()))?;
            if loss != Loss::Squared {
                binary_labels(&mut v).map_err(|e| e.in_file(path))?;
            }
            let (v, ignored) = restrict(&v, data.n_features());
            if ignored.values > 0 {
                say!(quiet, "validation: ignored {ignored}");
            }
            (data, Some(v))
        }
        (None, None) => (data, None),
    };
    let n_features = train.n_features();

    let (model, trainer, store) = match &resume_from {
        Some(c) => {
            let name = checkpoint_path.as_ref().expect("checked").display().to_string();
            c.check_model(&name, loss, !a.no_bias, n_features)?;
            let mut t = Trainer::new()
                .epochs(a.epochs)
                .policy(c.policy)
                .schedule(c.schedule)
                .seed(c.seed)
                .start_epoch(c.epochs_done.min(a.epochs.saturating_sub(1)));
            if let Some(n) = a.threads {
                t = t.threads(n);
            }
            (c.model(&train), t, WeightStore::from_slice(&c.weights))
        }
        None => {
            let policy = a.policy;
            let model = Linear::new(loss, n_features).bias(!a.no_bias).l2(a.l2, &train);
            let mut t = Trainer::new()
                .epochs(a.epochs)
                .policy(policy)
                .schedule(schedule_of(&a))
                .seed(a.seed);
            if let Some(n) = a.threads {
                t = t.threads(n);
            }
            let mut init = vec![0.0f32; wildsgd::Model::dim(&model)];
            wildsgd::Model::init(&model, &mut init, a.seed);
            (model, t, WeightStore::from_slice(&init))
        }
    };

    say!(
        quiet,
        "data: {} ({} rows, {} features, {:.1} nonzeros per row){}",
        a.data.display(),
        train.len() + valid.as_ref().map_or(0, CsrDataset::len),
        n_features,
        train.nnz() as f64 / train.len().max(1) as f64,
        match &valid {
            Some(v) => format!("; training on {} rows, validating on {}", train.len(), v.len()),
            None => format!("; training on all {} rows (no validation set)", train.len()),
        }
    );
    say!(
        quiet,
        "model: {}{}, l2 {}; policy {}, {} thread(s), {} epochs, schedule {:?}, seed {}",
        loss.name(),
        if model.has_bias() { " with bias" } else { "" },
        model.l2_strength(),
        trainer.get_policy(),
        trainer.thread_count(),
        trainer.get_epochs(),
        trainer.get_schedule(),
        trainer.get_seed()
    );
    if let Some(c) = &resume_from {
        if c.epochs_done >= a.epochs {
            say!(
                quiet,
                "the checkpoint already has {} of {} epochs done: nothing to train",
                c.epochs_done,
                a.epochs
            );
            if let Some(out) = &a.out {
                c.save(out)?;
                say!(quiet, "model saved to {}", out.display());
            }
            return Ok(());
        }
        say!(quiet, "resuming after epoch {} of {}", c.epochs_done, a.epochs);
    }

    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let remaining = (a.epochs - resume_from.as_ref().map_or(0, |c| c.epochs_done)) as u64;
        let b = indicatif::ProgressBar::new(remaining);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let line_for = |e: &wildsgd::trainer::EpochReport| {
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
    };

    let ckpt_name = checkpoint_path.clone();
    let mut job = trainer.job(&model, &train).weights(&store);
    if let Some(v) = &valid {
        job = job.validation(v);
    }
    if trainer.get_policy() == Policy::Auto {
        let c = job.choose_policy()?;
        say!(quiet, "policy auto: {} ({})", c.policy, c.reason);
    }
    let (model_ref, trainer_ref) = (&model, &trainer);
    if every > 0 {
        let path = ckpt_name.clone().expect("checked");
        job = job.on_weights(move |epoch, w| {
            let done = epoch + 1;
            if done % every == 0 || done == trainer_ref.get_epochs() {
                Checkpoint::new(model_ref, trainer_ref, done, w.to_vec()).save(&path)?;
            }
            Ok(())
        });
    }
    let bar_ref = bar.as_ref();
    job = job.on_epoch(|e| {
        let line = line_for(e);
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
    let trained = match job.run() {
        Ok(t) => t,
        Err(e) => {
            if let Some(b) = &bar {
                b.abandon();
            }
            return Err(e);
        }
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let total_seconds = clock.elapsed().as_secs_f64();
    let r = &trained.report;
    say!(
        quiet,
        "done: {} epochs, {:.0} samples/s over {:.3} s of updates, {:.2} s in all",
        r.epochs.len(),
        r.samples_per_sec(),
        r.update_seconds(),
        total_seconds
    );
    if let Some(out) = &a.out {
        let done = trainer
            .get_epochs()
            .min(resume_from.as_ref().map_or(0, |c| c.epochs_done) + r.epochs.len());
        Checkpoint::new(&model, &trainer, done, trained.weights.clone()).save(out)?;
        say!(quiet, "model saved to {}", out.display());
    }
    if let Some(path) = &a.report {
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
        let json = serde_json::json!({
            "data": a.data.display().to_string(),
            "rows": train.len(),
            "valid_rows": valid.as_ref().map(CsrDataset::len),
            "features": n_features,
            "model": loss.name(),
            "threads": r.threads,
            "policy": r.policy,
            "total_seconds": total_seconds,
            "update_seconds": r.update_seconds(),
            "samples_per_sec": r.samples_per_sec(),
            "epochs": epochs,
        });
        let text = serde_json::to_string_pretty(&json).expect("JSON of plain values");
        std::fs::write(path, text + "\n").map_err(|source| Error::Io {
            file: path.display().to_string(),
            source,
        })?;
        say!(quiet, "report written to {}", path.display());
    }
    Ok(())
}

/// What [`restrict`] dropped.
#[derive(Clone, Copy, Debug, Default)]
struct Ignored {
    values: usize,
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
fn restrict(data: &CsrDataset, dim: usize) -> (CsrDataset, Ignored) {
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
trait InFile {
    fn in_file(self, path: &Path) -> Error;
}

impl InFile for Error {
    fn in_file(self, path: &Path) -> Error {
        match self {
            Error::InvalidSample { row, reason } => Error::InvalidParameter {
                name: "data",
                reason: format!("{}: data row {} (from 1): {reason}", path.display(), row + 1),
            },
            e => e,
        }
    }
}

/// A saved model and the data to apply it to, features beyond the model dropped.
fn load_for_scoring(
    model_path: &Path,
    data_path: &Path,
    classify: bool,
) -> Result<(Checkpoint, CsrDataset, Ignored), Error> {
    let ckpt = Checkpoint::load(model_path)?;
    let mut data = read_data(data_path, None)?;
    if classify && ckpt.loss != Loss::Squared {
        binary_labels(&mut data).map_err(|e| e.in_file(data_path))?;
    }
    let (data, ignored) = restrict(&data, ckpt.n_features);
    Ok((ckpt, data, ignored))
}

fn margins(ckpt: &Checkpoint, data: &CsrDataset) -> Vec<f32> {
    let model = ckpt.model(&CsrDataset::new(ckpt.n_features));
    (0..data.len())
        .map(|i| model.margin(&ckpt.weights, &data.row(i)))
        .collect()
}

fn eval(a: EvalArgs) -> Result<(), Error> {
    let (ckpt, data, ignored) = load_for_scoring(&a.model, &a.data, true)?;
    let m = margins(&ckpt, &data);
    let labels = data.labels();
    let loss: f64 = m.iter().zip(labels).map(|(&m, &y)| ckpt.loss.value(m, y)).sum::<f64>() / m.len() as f64;
    out!("data: {} ({} rows)", a.data.display(), data.len());
    if ignored.values > 0 {
        out!("ignored {ignored}");
    }
    out!("loss: {loss:.6}");
    if ckpt.loss != Loss::Squared {
        let right = m
            .iter()
            .zip(labels)
            .filter(|(&m, &y)| (if m >= 0.0 { 1.0 } else { -1.0 }) == y)
            .count();
        out!("accuracy: {:.6}", right as f64 / m.len() as f64);
        match auc(&m, labels) {
            Some(auc) => out!("auc: {auc:.6}"),
            None => out!("auc: undefined (only one class in the data)"),
        }
    } else {
        let mse: f64 = m
            .iter()
            .zip(labels)
            .map(|(&m, &y)| f64::from(m - y).powi(2))
            .sum::<f64>()
            / m.len() as f64;
        out!("rmse: {:.6}", mse.sqrt());
    }
    Ok(())
}

/// The area under the ROC curve (ties count half), or `None` with one class.
fn auc(scores: &[f32], labels: &[f32]) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&i, &j| scores[i].total_cmp(&scores[j]));
    let (mut rank_sum, mut pos) = (0.0f64, 0usize);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j + 1) as f64 / 2.0; // ranks i+1..=j
        for &k in &order[i..j] {
            if labels[k] > 0.0 {
                rank_sum += avg_rank;
                pos += 1;
            }
        }
        i = j;
    }
    let neg = scores.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    Some((rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos as f64 * neg as f64))
}

fn predict(a: PredictArgs) -> Result<(), Error> {
    let (ckpt, data, ignored) = load_for_scoring(&a.model, &a.data, false)?;
    if ignored.values > 0 {
        eprintln!("wildsgd: ignored {ignored}");
    }
    let m = margins(&ckpt, &data);
    let mut text = String::with_capacity(m.len() * 12);
    for &s in &m {
        use std::fmt::Write as _;
        let v = if ckpt.loss == Loss::Logistic {
            1.0 / (1.0 + (-f64::from(s)).exp())
        } else {
            f64::from(s)
        };
        let _ = writeln!(text, "{v}");
    }
    match &a.out {
        Some(p) => {
            std::fs::write(p, text).map_err(|source| Error::Io {
                file: p.display().to_string(),
                source,
            })?;
            eprintln!("wildsgd: wrote {} scores to {}", m.len(), p.display());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_simple_cases() {
        assert_eq!(auc(&[0.1, 0.9], &[-1.0, 1.0]), Some(1.0));
        assert_eq!(auc(&[0.9, 0.1], &[-1.0, 1.0]), Some(0.0));
        assert_eq!(auc(&[0.5, 0.5], &[-1.0, 1.0]), Some(0.5));
        assert_eq!(auc(&[0.5, 0.7], &[1.0, 1.0]), None);
    }
}
