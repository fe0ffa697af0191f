//! Linear models (logistic, hinge, squared) on LIBSVM files.

use wildsgd::checkpoint::{Checkpoint, Persist};
use wildsgd::data::{binary_labels, CsrDataset};
use wildsgd::model::Update;
use wildsgd::{Error, Linear, Loss, Schedule};

use crate::args::{EvalArgs, PredictArgs};
use crate::kind::Kind;
use crate::run::{param, trainer_line, Defaults, Done, Failure, Run};
use crate::svm::{read_data, restrict, Ignored, InFile};
use crate::train_loop::{train_loop, Described, Saved, Source};

/// Logistic regression, hinge loss and least squares: one kind, three names.
pub(crate) struct LinearKind;

impl Kind for LinearKind {
    fn names(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("logistic", "Logistic regression (labels ±1 or 0/1; LIBSVM)"),
            ("hinge", "Linear SVM, hinge loss (labels ±1 or 0/1; LIBSVM)"),
            ("squared", "Least squares (real targets; LIBSVM)"),
        ]
    }

    fn group(&self) -> Option<&'static str> {
        Some("linear models")
    }

    fn defaults(&self, model: &str, update: Update) -> Defaults {
        match update {
            Update::Adaptive => ADAPTIVE_DEFAULTS,
            Update::Sgd if model == "logistic" => LOGISTIC_DEFAULTS,
            Update::Sgd => DEFAULTS,
        }
    }

    fn lr_note(&self) -> Option<&'static str> {
        Some("with --update sgd, logistic's is divided by the training rows' mean squared norm")
    }

    fn flags(&self) -> &'static [&'static str] {
        &["no-bias", "update", "stream", "hash-bits"]
    }

    fn train(&self, run: &Run) -> Result<Done, Failure> {
        let loss = match run.a.model.as_str() {
            "hinge" => Loss::Hinge,
            "squared" => Loss::Squared,
            _ => Loss::Logistic,
        };
        train(run, loss)
    }

    fn loads(&self, c: &Checkpoint) -> bool {
        c.kind == Linear::KIND
    }

    fn saved_l2(&self, c: &Checkpoint, file: &str) -> Result<f32, Error> {
        Ok(c.model::<Linear>(file)?.get_l2())
    }

    fn eval(&self, c: &Checkpoint, name: &str, a: &EvalArgs) -> Result<(), Error> {
        eval(c, name, a)
    }

    fn predict(&self, c: &Checkpoint, name: &str, a: &PredictArgs) -> Result<Vec<String>, Error> {
        predict(c, name, a)
    }
}

/// The adaptive update's defaults, for every loss: see the README's
/// defaults section and `benches/defaults/` for the panel they were chosen on.
pub(crate) const ADAPTIVE_DEFAULTS: Defaults = Defaults {
    epochs: Linear::DEFAULT_EPOCHS,
    schedule: Linear::DEFAULT_SCHEDULE,
    l2: 0.0,
    average: false,
    l2_per_row: true,
};

/// Logistic regression's defaults with `--update sgd`: a large first step that falls fast
/// (12, then x0.3 per epoch), divided by the training rows' mean squared
/// norm (see `train`), so that unit-norm tf-idf rows get 12. Chosen with
/// `benches/peers/sweep` to reach LIBLINEAR's optimum test loss (λ = 1e-6)
/// within 1% in 5 epochs on both peer datasets (SpamAssassin, RCV1-shaped
/// synthetic); one rule for every dataset, no per-dataset settings.
const LOGISTIC_DEFAULTS: Defaults = Defaults {
    epochs: 10,
    schedule: Schedule::EpochDecay {
        initial: 12.0,
        decay: 0.3,
    },
    l2: 1e-6,
    average: false,
    l2_per_row: false,
};

/// Hinge and squared loss keep the defaults the command has always had
/// (at logistic's rate squared loss diverges, and hinge's validation loss
/// on SpamAssassin gets worse).
const DEFAULTS: Defaults = Defaults {
    epochs: 10,
    schedule: Schedule::EpochDecay {
        initial: 0.5,
        decay: 0.8,
    },
    l2: 1e-6,
    average: false,
    l2_per_row: false,
};

fn train(run: &Run, loss: Loss) -> Result<Done, Failure> {
    if run.a.stream {
        return crate::stream::train_linear(run, loss);
    }
    let hashing = crate::stream::hashing(run)?;
    let (a, quiet) = (&run.a, run.quiet);
    let ckpt_name = run.checkpoint_name();
    // The model's width is the data's, or the checkpoint's when resuming.
    let width = match &run.resume {
        Some(c) => Some(c.model::<Linear>(&ckpt_name)?.n_features()),
        None => None,
    };
    let ranks = run.ranks();
    // A validation share may be empty; a training share may not.
    let read = |path: &std::path::Path, width: Option<usize>, valid: bool| match ranks {
        Some(c) => crate::distributed::read_share(c, path, width, &run.read, run.split_seed(), 1, valid),
        None => read_data(path, width, &run.read, 1, hashing),
    };
    // Rows over all ranks (this process's alone when not distributed).
    let total = |x: f64| match ranks {
        Some(c) => crate::distributed::total(c, x),
        None => Ok(x),
    };
    let mut data = read(&a.data, width, false)?;
    let labels = |d: &mut CsrDataset, path: &std::path::Path| match ranks {
        Some(c) => crate::distributed::binary_labels(c, d, path),
        None => binary_labels(d).map(|_| ()).map_err(|e| e.in_file(path)),
    };
    if loss != Loss::Squared {
        labels(&mut data, &a.data)?;
    }
    // A split returns both halves in a seeded random order: the trainer's
    // block order may read them as they are (no second copy of the rows).
    let (train, valid, shuffled) = match (a.valid_fraction, &a.valid) {
        (Some(f), _) => {
            let (t, v) = data.split(f, run.split_seed())?;
            // Over every rank: one rank's share may be left with none.
            if total(v.len() as f64)? == 0.0 {
                return Err(param(
                    "valid-fraction",
                    format!("{f} of {} rows leaves no validation rows", data.len()),
                )
                .into());
            }
            drop(data);
            (t, Some(v), true)
        }
        (None, Some(path)) => {
            let mut v = read(path, Some(data.n_features()), true)?;
            if loss != Loss::Squared {
                labels(&mut v, path)?;
            }
            let (v, ignored) = restrict(&v, data.n_features());
            if ignored.values > 0 {
                say!(quiet, "validation: ignored {ignored}");
            }
            (data, Some(v), false)
        }
        (None, None) => (data, None, false),
    };
    train_on(run, loss, train, valid, shuffled)
}

/// Trains on rows read into memory (`shuffled`: in a seeded random order
/// already).
fn train_on(
    run: &Run,
    loss: Loss,
    train: CsrDataset,
    valid: Option<CsrDataset>,
    shuffled: bool,
) -> Result<Done, Failure> {
    let (a, quiet) = (&run.a, run.quiet);
    let ckpt_name = run.checkpoint_name();
    let ranks = run.ranks();
    let total = |x: f64| match ranks {
        Some(c) => crate::distributed::total(c, x),
        None => Ok(x),
    };
    let n_features = train.n_features();
    let rows = total(train.len() as f64)? as usize;
    let valid_rows = match &valid {
        Some(v) => Some(total(v.len() as f64)? as usize),
        None => None,
    };
    let mut model = match &run.resume {
        Some(c) => resumed_model(c, &ckpt_name, loss, !a.no_bias, a.update, n_features, &train)?,
        None => {
            Linear::new(loss, n_features)
                .bias(!a.no_bias)
                .l2(run.l2_for(rows), &train)
                .update(a.update.unwrap_or(crate::run::DEFAULT_UPDATE), &train)
        }
    };
    if let Some(c) = ranks {
        // Every rank's model must be the one all the rows give: document
        // frequencies and scales over every share.
        let mut stats = train.feature_stats(n_features);
        wildsgd::cluster::agree_features(c, &mut stats)?;
        let l2 = model.get_l2();
        model = model.l2_from(l2, &stats);
        if model.get_update() == Update::Adaptive {
            let inv = stats.inverse_scales();
            let norm = total(train.normalised_norm_sum(&inv))? / stats.rows.max(1.0);
            model = model.adaptive_from(&stats, norm);
        }
    }
    let mut trainer = run.trainer().rows_shuffled(shuffled);
    let sgd = model.get_update() == Update::Sgd;
    if sgd && loss == Loss::Logistic && a.lr.is_none() && run.resume.is_none() {
        // The default rate is for unit-norm rows: a step moves the margin by
        // about lr·‖x‖²·g, so rows of another scale get it divided out.
        let sq: f64 = (0..train.len())
            .map(|i| {
                train
                    .row(i)
                    .values
                    .iter()
                    .map(|&v| f64::from(v) * f64::from(v))
                    .sum::<f64>()
            })
            .sum();
        let mean = total(sq)? / rows.max(1) as f64;
        if mean.is_finite() && mean > 0.0 {
            let scale = |lr: f32| (f64::from(lr) / mean) as f32;
            let scaled = match trainer.get_schedule() {
                Schedule::Constant(lr) => Schedule::Constant(scale(lr)),
                Schedule::InverseTime { initial, decay } => Schedule::InverseTime {
                    initial: scale(initial),
                    decay,
                },
                Schedule::EpochDecay { initial, decay } => Schedule::EpochDecay {
                    initial: scale(initial),
                    decay,
                },
                other => other,
            };
            if scaled.validate().is_err() {
                // The scaled rate rounded to 0 or overflowed f32.
                return Err(param(
                    "data",
                    format!(
                        "{}: the rows' mean squared norm is {mean:e}, so the default learning rate divided by it \
                         ({}) is not a usable f32; rescale the feature values or give --lr",
                        a.data.display(),
                        scaled.rate(0, 0)
                    ),
                )
                .into());
            }
            trainer = trainer.schedule(scaled);
        }
    }
    let weights = run.start_weights(&model)?;

    // Outside `say!`: every rank takes part in the sum, quiet or not.
    let nnz = total(train.nnz() as f64)?;
    say!(
        quiet,
        "data: {} ({} rows, {} features, {:.1} nonzeros per row){}",
        a.data.display(),
        rows + valid_rows.unwrap_or(0),
        n_features,
        nnz / rows.max(1) as f64,
        match valid_rows {
            Some(v) => format!("; training on {rows} rows, validating on {v}"),
            None => format!("; training on all {rows} rows (no validation set)"),
        }
    );
    if let Some(c) = ranks {
        say!(quiet, "distributed: {} ranks ({}), each on its share of the rows", c.size(), c.transport());
    }
    say!(
        quiet,
        "model: {}{}, l2 {}, {} update; {}",
        loss.name(),
        if model.get_bias() { " with bias" } else { "" },
        model.get_l2(),
        model.get_update().name(),
        trainer_line(&trainer)
    );
    let mut json = serde_json::Map::new();
    json.insert("data".into(), a.data.display().to_string().into());
    json.insert("rows".into(), rows.into());
    json.insert("valid_rows".into(), valid_rows.into());
    json.insert("features".into(), n_features.into());
    json.insert("model".into(), loss.name().into());
    json.insert("l2".into(), model.get_l2().into());
    json.insert("update".into(), model.get_update().name().into());
    let mut saved = Saved::of(&model);
    if let Some(h) = crate::stream::hashing(run)? {
        saved = saved.table(wildsgd::checkpoint::tables::HASHING, crate::stream::hashing_table(h));
        json.insert("hash_bits".into(), h.bits().into());
    }
    let described = Described {
        saved,
        json,
        summary: Box::new(|_, _| Ok(Vec::new())),
    };
    train_loop(run, &model, Source::Fixed(&train), valid.as_ref(), trainer, weights, described)
}

/// The model a checkpoint holds, if it can continue training a linear model
/// with `loss` (with or without a bias) over `n_features` features: its L2
/// scaled by `train`'s document frequencies.
pub(crate) fn resumed_model(
    c: &Checkpoint,
    file: &str,
    loss: Loss,
    bias: bool,
    update: Option<Update>,
    n_features: usize,
    train: &CsrDataset,
) -> Result<Linear, Error> {
    let model = c.model_matching(file, |m: &Linear| {
        if m.get_loss() != loss {
            Some(format!("it holds a {} model, not {}", m.get_loss().name(), loss.name()))
        } else if update.is_some_and(|u| u != m.get_update()) {
            Some(format!(
                "its update is {}, not the {} --update asked for",
                m.get_update().name(),
                update.map_or("", Update::name)
            ))
        } else if m.get_bias() != bias {
            Some(format!("bias {} in the file, {bias} asked for", m.get_bias()))
        } else if m.n_features() < n_features {
            Some(format!(
                "{} features in the file, but the data has {n_features}",
                m.n_features()
            ))
        } else {
            None
        }
    })?;
    let (l2, update) = (model.get_l2(), model.get_update());
    // The feature scales are the training data's, as when it started.
    Ok(model.l2(l2, train).update(update, train))
}

/// Every margin finite, or an error naming the first row whose is not
/// (feature values so large that the score overflows `f32`).
fn check_margins(m: &[f32], path: &std::path::Path) -> Result<(), Error> {
    match m.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(param(
            "data",
            format!(
                "{}: data row {} (from 1): the model's score is {}: the feature values are too large for \
                 this model (f32 overflow)",
                path.display(),
                i + 1,
                m[i]
            ),
        )),
        None => Ok(()),
    }
}

/// The model and the data to apply it to, features beyond the model dropped.
fn load(
    ckpt: &Checkpoint,
    name: &str,
    data_path: &std::path::Path,
    classify: bool,
    read: &wildsgd::data::ReadOptions,
) -> Result<(Linear, CsrDataset, Ignored), Error> {
    let model = ckpt.model::<Linear>(name)?;
    let hashing = crate::stream::saved_hashing(ckpt, name)?;
    let mut data = read_data(data_path, Some(model.n_features()), read, 1, hashing)?;
    if classify && model.get_loss() != Loss::Squared {
        binary_labels(&mut data).map_err(|e| e.in_file(data_path))?;
    }
    let (data, ignored) = restrict(&data, model.n_features());
    Ok((model, data, ignored))
}

fn margins(model: &Linear, weights: &[f32], data: &CsrDataset) -> Vec<f32> {
    (0..data.len()).map(|i| model.margin(weights, &data.row(i))).collect()
}

fn eval(ckpt: &Checkpoint, name: &str, a: &EvalArgs) -> Result<(), Error> {
    let (model, data, ignored) = load(ckpt, name, &a.data, true, &a.limits.read())?;
    let loss_fn = model.get_loss();
    let m = margins(&model, &ckpt.weights, &data);
    check_margins(&m, &a.data)?;
    let labels = data.labels();
    let loss: f64 = m.iter().zip(labels).map(|(&m, &y)| loss_fn.value(m, y)).sum::<f64>() / m.len() as f64;
    out!("data: {} ({} rows)", a.data.display(), data.len());
    if ignored.values > 0 {
        out!("ignored {ignored}");
    }
    out!("loss: {loss:.6}");
    if loss_fn != Loss::Squared {
        let right = m
            .iter()
            .zip(labels)
            .filter(|(&m, &y)| (if m >= 0.0 { 1.0 } else { -1.0 }) == y)
            .count();
        out!("accuracy: {:.6}", right as f64 / m.len() as f64);
        let scores = |positive: bool| -> Vec<f32> {
            m.iter()
                .zip(labels)
                .filter(|(_, &y)| (y > 0.0) == positive)
                .map(|(&s, _)| s)
                .collect()
        };
        let (pos, neg) = (scores(true), scores(false));
        match wildsgd::metrics::auc(&pos, &neg) {
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

/// The positive-class probability for logistic regression, the raw score
/// `w·x + b` otherwise.
fn predict(ckpt: &Checkpoint, name: &str, a: &PredictArgs) -> Result<Vec<String>, Error> {
    let (model, data, ignored) = load(ckpt, name, &a.data, false, &a.limits.read())?;
    if ignored.values > 0 {
        eprintln!("wildsgd: ignored {ignored}");
    }
    let logistic = model.get_loss() == Loss::Logistic;
    let m = margins(&model, &ckpt.weights, &data);
    check_margins(&m, &a.data)?;
    Ok(m.into_iter()
        .map(|s| {
            let v = if logistic {
                1.0 / (1.0 + (-f64::from(s)).exp())
            } else {
                f64::from(s)
            };
            v.to_string()
        })
        .collect())
}
