//! Multiclass softmax regression on LIBSVM files whose labels are class ids
//! `0..C-1`.

use wildsgd::checkpoint::{Checkpoint, Persist};
use wildsgd::data::CsrDataset;
use wildsgd::model::Update;
use wildsgd::{Error, Model, Schedule, Softmax};

use crate::args::{EvalArgs, PredictArgs};
use crate::kind::Kind;
use crate::run::{param, trainer_line, Defaults, Done, Failure, Run};
use crate::svm::{read_data, restrict, Ignored, InFile};
use crate::train_loop::{train_loop, Described, Saved, Source};

/// Multiclass softmax regression.
pub(crate) struct SoftmaxKind;

impl Kind for SoftmaxKind {
    fn names(&self) -> &'static [(&'static str, &'static str)] {
        &[("softmax", "Multiclass softmax regression (labels 0..C-1; LIBSVM)")]
    }

    fn defaults(&self, _model: &str, update: Update) -> Defaults {
        match update {
            Update::Adaptive => ADAPTIVE_DEFAULTS,
            Update::Sgd => DEFAULTS,
        }
    }

    fn flags(&self) -> &'static [&'static str] {
        &["update", "stream", "hash-bits"]
    }

    fn train(&self, run: &Run) -> Result<Done, Failure> {
        train(run)
    }

    fn loads(&self, c: &Checkpoint) -> bool {
        c.kind == Softmax::KIND
    }

    fn saved_l2(&self, c: &Checkpoint, file: &str) -> Result<f32, Error> {
        Ok(c.model::<Softmax>(file)?.get_l2())
    }

    fn eval(&self, c: &Checkpoint, name: &str, a: &EvalArgs) -> Result<(), Error> {
        eval(c, name, a)
    }

    fn predict(&self, c: &Checkpoint, name: &str, a: &PredictArgs) -> Result<Vec<String>, Error> {
        predict(c, name, a)
    }
}

/// The adaptive update's defaults: the linear models' (one rule for every
/// kind that normalises its features; see `benches/defaults/`).
const ADAPTIVE_DEFAULTS: Defaults = crate::kind::linear::ADAPTIVE_DEFAULTS;

/// With `--update sgd`: the Fashion-MNIST example's settings (`examples/fashion_mnist.rs`).
const DEFAULTS: Defaults = Defaults {
    epochs: 6,
    schedule: Schedule::EpochDecay {
        initial: 0.01,
        decay: 0.6,
    },
    l2: 1e-4,
    average: true,
    l2_per_row: false,
};

fn train(run: &Run) -> Result<Done, Failure> {
    if run.a.stream {
        return crate::stream::train_softmax(run);
    }
    let (a, quiet) = (&run.a, run.quiet);
    let hashing = crate::stream::hashing(run)?;
    let ckpt_name = run.checkpoint_name();
    let resumed = match &run.resume {
        Some(c) => Some(c.model::<Softmax>(&ckpt_name)?),
        None => None,
    };
    let ranks = run.ranks();
    // At least two classes: the width check counts two weights per
    // feature. A validation share may be empty; a training share may not.
    let read = |path: &std::path::Path, width: Option<usize>, valid: bool| match ranks {
        Some(c) => crate::distributed::read_share(c, path, width, &run.read, run.split_seed(), 2, valid),
        None => read_data(path, width, &run.read, 2, hashing),
    };
    // Over all ranks (this process's alone when not distributed).
    let total = |x: f64| match ranks {
        Some(c) => crate::distributed::total(c, x),
        None => Ok(x),
    };
    let data = read(&a.data, resumed.as_ref().map(Softmax::n_features), false)?;
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
            let v = read(path, Some(data.n_features()), true)?;
            let (v, ignored) = restrict(&v, data.n_features());
            if ignored.values > 0 {
                say!(quiet, "validation: ignored {ignored}");
            }
            (data, Some(v), false)
        }
        (None, None) => (data, None, false),
    };
    let model = match &run.resume {
        Some(c) => {
            let m = c.model::<Softmax>(&ckpt_name)?;
            if train.n_features() > m.n_features() {
                return Err(param(
                    "data",
                    format!(
                        "{}: {} features, but the checkpoint {ckpt_name} has {}",
                        a.data.display(),
                        train.n_features(),
                        m.n_features()
                    ),
                )
                .into());
            }
            if let Some(u) = a.update.filter(|&u| u != m.get_update()) {
                return Err(param(
                    "update",
                    format!(
                        "{}: the checkpoint {ckpt_name} was trained with the {} update, not {}",
                        a.data.display(),
                        m.get_update().name(),
                        u.name()
                    ),
                )
                .into());
            }
            let (l2, update) = (m.get_l2(), m.get_update());
            m.l2(l2, &train).update(update, &train)
        }
        None => {
            // Classes seen only in the validation file still get a row.
            let mut classes = Softmax::classes_in(&train).map_err(|e| e.in_file(&a.data))?;
            if let (Some(v), Some(path)) = (&valid, &a.valid) {
                classes = classes.max(Softmax::classes_in(v).map_err(|e| e.in_file(path))?);
            }
            if let Some(c) = ranks {
                // A class only another rank's share holds still gets a row.
                let mut most = [classes as u64];
                c.max_u64(&mut most)?;
                classes = most[0] as usize;
            }
            Softmax::new(classes, train.n_features())?
                .l2(run.l2_for(total(train.len() as f64)? as usize), &train)
                .update(a.update.unwrap_or(crate::run::DEFAULT_UPDATE), &train)
        }
    };
    let model = match ranks {
        // Every rank's model must be the one all the rows give: document
        // frequencies and scales over every share.
        Some(c) => {
            let mut stats = train.feature_stats(model.n_features());
            wildsgd::cluster::agree_features(c, &mut stats)?;
            let l2 = model.get_l2();
            let m = model.l2_from(l2, &stats);
            if m.get_update() == Update::Adaptive {
                let norm = total(train.normalised_norm_sum(&stats.inverse_scales()))? / stats.rows.max(1.0);
                m.adaptive_from(&stats, norm)
            } else {
                m
            }
        }
        None => model,
    };
    model.validate(&train).map_err(|e| e.in_file(&a.data))?;
    if let Some(v) = &valid {
        model
            .validate(v)
            .map_err(|e| e.in_file(a.valid.as_deref().unwrap_or(&a.data)))?;
    }
    let trainer = run.trainer().rows_shuffled(shuffled);
    let weights = run.start_weights(&model)?;
    // Outside `say!`: every rank takes part in the sums, quiet or not.
    let rows = total(train.len() as f64)? as usize;
    let valid_rows = match &valid {
        Some(v) => Some(total(v.len() as f64)? as usize),
        None => None,
    };
    let nnz = total(train.nnz() as f64)?;
    say!(
        quiet,
        "data: {} ({} rows, {} features, {:.1} nonzeros per row){}",
        a.data.display(),
        rows + if a.valid.is_some() { 0 } else { valid_rows.unwrap_or(0) },
        train.n_features(),
        nnz / rows.max(1) as f64,
        match (valid_rows, &a.valid) {
            (Some(v), Some(p)) => format!("; training on {rows} rows, validating on {v} rows of {}", p.display()),
            (Some(v), None) => format!("; training on {rows} rows, validating on {v}"),
            (None, _) => format!("; training on all {rows} rows (no validation set)"),
        }
    );
    if let Some(c) = ranks {
        say!(quiet, "distributed: {} ranks ({}), each on its share of the rows", c.size(), c.transport());
    }
    say!(
        quiet,
        "model: softmax, {} classes x {} features (+ bias), l2 {}, {} update, tail averaging {}; {}",
        model.n_classes(),
        model.n_features(),
        model.get_l2(),
        model.get_update().name(),
        run.averaging(),
        trainer_line(&trainer)
    );
    let mut json = serde_json::Map::new();
    json.insert("data".into(), a.data.display().to_string().into());
    json.insert("rows".into(), rows.into());
    json.insert("valid_rows".into(), valid_rows.into());
    json.insert("features".into(), model.n_features().into());
    json.insert("classes".into(), model.n_classes().into());
    json.insert("model".into(), "softmax".into());
    json.insert("l2".into(), model.get_l2().into());
    json.insert("update".into(), model.get_update().name().into());
    let summary: crate::train_loop::Summary<'_> = Box::new(|w: &[f32], _: &mut crate::train_loop::Json| -> Result<Vec<String>, Error> {
        Ok(match &valid {
            Some(v) => {
                let c = model.confusion(w, v)?;
                // Every rank's validation rows: the sums run on all ranks.
                let (correct, all) = (total(c.correct() as f64)?, total(c.total() as f64)?);
                vec![format!(
                    "valid accuracy {:.4} ({correct} of {all} rows)",
                    correct / all.max(1.0),
                )]
            }
            None => Vec::new(),
        })
    });
    let mut saved = Saved::of(&model);
    if let Some(h) = hashing {
        saved = saved.table(wildsgd::checkpoint::tables::HASHING, crate::stream::hashing_table(h));
        json.insert("hash_bits".into(), h.bits().into());
    }
    let described = Described {
        saved,
        json,
        summary,
    };
    train_loop(run, &model, Source::Fixed(&train), valid.as_ref(), trainer, weights, described)
}

/// The model and the data to apply it to, features beyond the model dropped.
fn load(
    ckpt: &Checkpoint,
    name: &str,
    path: &std::path::Path,
    read: &wildsgd::data::ReadOptions,
) -> Result<(Softmax, CsrDataset, Ignored), Error> {
    let model = ckpt.model::<Softmax>(name)?;
    let hashing = crate::stream::saved_hashing(ckpt, name)?;
    let data = read_data(path, Some(model.n_features()), read, 2, hashing)?;
    let (data, ignored) = restrict(&data, model.n_features());
    if ignored.values > 0 {
        eprintln!("wildsgd: ignored {ignored}");
    }
    Ok((model, data, ignored))
}

/// Loss (mean cross-entropy), accuracy and each class's recall; the
/// confusion matrix with `--verbose`.
fn eval(ckpt: &Checkpoint, name: &str, a: &EvalArgs) -> Result<(), Error> {
    let (model, data, _) = load(ckpt, name, &a.data, &a.limits.read())?;
    if data.is_empty() {
        return Err(Error::EmptyDataset { what: "evaluation" });
    }
    let confusion = model
        .confusion(&ckpt.weights[..], &data)
        .map_err(|e| e.in_file(&a.data))?;
    let w = &ckpt.weights[..];
    let loss = (0..data.len()).map(|i| model.loss(w, data.row(i), wildsgd::Step::new(0.0))).sum::<f64>() / data.len() as f64;
    if !loss.is_finite() {
        return Err(param(
            "data",
            format!(
                "{}: the loss is {loss}: the feature values are too large for this model (f32 overflow)",
                a.data.display()
            ),
        ));
    }
    out!(
        "data: {} ({} rows, model: softmax, {} classes)",
        a.data.display(),
        data.len(),
        model.n_classes()
    );
    out!("loss: {loss:.6}");
    out!("accuracy: {:.6}", confusion.accuracy());
    for c in 0..model.n_classes() {
        let n: u64 = (0..model.n_classes()).map(|p| confusion.get(c, p)).sum();
        match confusion.recall(c) {
            Some(r) => out!("recall class {c}: {r:.6} ({n} rows)"),
            None => out!("recall class {c}: undefined (no rows)"),
        }
    }
    if a.verbose {
        out!("confusion matrix (rows: true class, columns: predicted):\n{confusion}");
    }
    Ok(())
}

/// The predicted class of each row.
fn predict(ckpt: &Checkpoint, name: &str, a: &PredictArgs) -> Result<Vec<String>, Error> {
    let (model, data, _) = load(ckpt, name, &a.data, &a.limits.read())?;
    Ok((0..data.len())
        .map(|i| model.predict(&ckpt.weights[..], &data.row(i)).to_string())
        .collect())
}
