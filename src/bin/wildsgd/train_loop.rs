//! The training loop every kind shares: progress bar and per-epoch lines,
//! periodic checkpoints, `--resume`, divergence and interrupts (through
//! [`Outcome`]), `--out` and the JSON report.

use std::io::IsTerminal;

use wildsgd::checkpoint::{Checkpoint, Persist, Table};
use wildsgd::trainer::{EpochData, Outcome};
use wildsgd::{Control, Error, Model, Policy, Trainer, WeightStore};

use crate::run::{Done, Failure, Run};

/// The JSON report's fields.
pub(crate) type Json = serde_json::Map<String, serde_json::Value>;

/// Lines printed after training, from the final weights; it may add fields
/// to the JSON report.
pub(crate) type Summary<'s> = Box<dyn Fn(&[f32], &mut Json) -> Result<Vec<String>, Error> + 's>;

/// A job's training data: the same every epoch, or made for each epoch
/// (word2vec's skip-gram pairs: see [`EpochData`]).
pub(crate) enum Source<'d, D: ?Sized> {
    /// The same data every epoch.
    Fixed(&'d D),
    /// Data made afresh for each epoch.
    PerEpoch(Box<dyn EpochData<D> + 'd>),
    /// Data read from disk in windows each epoch (`--stream`).
    Stream(&'d dyn wildsgd::data::Windows<D>),
}

/// A boxed [`EpochData`], for [`Trainer::job_per_epoch`].
struct Boxed<'d, D: ?Sized>(Box<dyn EpochData<D> + 'd>);

impl<D: ?Sized> EpochData<D> for Boxed<'_, D> {
    fn epoch(&mut self, epoch: usize) -> Result<&D, Error> {
        self.0.epoch(epoch)
    }
}

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
    pub json: Json,
    /// What to print after training (held-out figures, say).
    pub summary: Summary<'s>,
}

/// Trains `model` on `train` (validating on `valid`) from `weights` with
/// `trainer`: progress, checkpoints, `--out` and `--report` as `run` says.
pub(crate) fn train_loop<M: Model>(
    run: &Run,
    model: &M,
    train: Source<'_, M::Data>,
    valid: Option<&M::Data>,
    trainer: Trainer,
    weights: Vec<f32>,
    described: Described<'_>,
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

    // A streamed job counts samples (its epochs are long and read from
    // disk): rate and ETA within an epoch.
    let streamed = match &train {
        Source::Stream(s) => Some(s.rows()),
        _ => None,
    };
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let (len, template) = match streamed {
            Some(rows) => (
                (epochs - done_before) as u64 * rows,
                "{bar:30} {pos}/{len} samples, {per_sec}, ETA {eta} {msg}",
            ),
            None => (
                (epochs - done_before) as u64,
                "{bar:30} epoch {pos}/{len} {elapsed} {msg}",
            ),
        };
        let b = indicatif::ProgressBar::new(len);
        b.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let store = WeightStore::from_slice(&weights);
    let mut job = match train {
        Source::Fixed(d) => trainer.job(model, d),
        Source::PerEpoch(e) => trainer.job_per_epoch(model, Boxed(e)),
        Source::Stream(s) => trainer.stream_job(model, s),
    }
    .weights(&store);
    if let (Some(rows), Some(b)) = (streamed, bar.as_ref()) {
        let first = trainer.get_start_epoch();
        job = job.on_progress(move |epoch, done, _| {
            b.set_position((epoch - first) as u64 * rows + done);
        });
    }
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
        let line = epoch_line(e);
        match bar_ref {
            Some(b) => {
                b.suspend(|| out!("{line}"));
                if streamed.is_none() {
                    b.inc(1);
                }
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
    for b in &r.back_offs {
        say!(
            quiet,
            "note: epoch {} ended at a training objective of {:.6}, above the {:.6} it started from: it was run \
             again from the weights before it at {} x the learning rate (a smaller --lr avoids this)",
            b.epoch + 1,
            b.objective,
            b.start,
            b.rate_factor
        );
    }
    let done = epochs.min(done_before + r.epochs.len());
    match &trained.outcome {
        Outcome::Diverged { epoch, reason } => {
            return Err(diverged(run, *epoch, reason, &trained.weights, |w| {
                checkpoint(*epoch, w)
            }))
        }
        Outcome::Interrupted { epoch, samples } => {
            return finish_interrupted(run, (*epoch, *samples), done, r, || {
                checkpoint(done, trained.weights.clone())
            })
        }
        Outcome::Finished | Outcome::StoppedEarly { .. } => {}
    }
    say!(
        quiet,
        "done: {} epochs in order {}, {:.0} samples/s over {:.3} s of updates, {:.2} s in all",
        r.epochs.len(),
        r.order,
        r.samples_per_sec(),
        r.update_seconds(),
        total_seconds
    );
    if let Some(d) = &r.distributed {
        say!(quiet, "{d}");
    }
    if let Some(st) = &r.stream {
        say!(
            quiet,
            "stream: {} windows, {:.1} MB of spill read at {:.0} MB/s on the reader thread; training waited {:.3} s \
             for data ({:.1}% of the update time)",
            st.windows,
            st.bytes as f64 / 1e6,
            st.read_mb_per_sec(),
            st.wait_seconds,
            100.0 * st.wait_seconds / r.update_seconds().max(1e-9)
        );
    }
    let mut json = described.json;
    for line in (described.summary)(&trained.weights, &mut json)? {
        say!(quiet, "{line}");
    }
    if let Some(out) = &a.out {
        checkpoint(done, trained.weights.clone()).save(out)?;
        say!(quiet, "model saved to {}", out.display());
    }
    if let Some(path) = &a.report {
        write_report(path, json, r, total_seconds, quiet)?;
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
    if run.ranks().is_some_and(|c| c.rank() != 0) {
        // Rank 0 saves a data-parallel job's weights and says so.
    } else if saved.is_empty() {
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
        ("policy_reason", serde_json::json!(r.policy_reason)),
        ("order", serde_json::json!(r.order)),
        ("back_offs", serde_json::json!(r.back_offs)),
        ("total_seconds", serde_json::json!(total_seconds)),
        ("update_seconds", serde_json::json!(r.update_seconds())),
        ("samples_per_sec", serde_json::json!(r.samples_per_sec())),
        ("epochs", serde_json::Value::Array(epochs)),
    ] {
        json.insert(k.into(), v);
    }
    if let Some(d) = &r.distributed {
        json.insert("distributed".into(), serde_json::json!(d));
    }
    if let Some(st) = &r.stream {
        json.insert("stream".into(), serde_json::json!(st));
    }
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(json)).expect("JSON of plain values");
    wildsgd::output::write_atomically(path, (text + "\n").as_bytes())?;
    say!(quiet, "report written to {}", path.display());
    Ok(())
}
