//! `--stream` and `--hash-bits` for the linear kinds: the pass that reads
//! the file into a spill (with a progress bar), the labels, and the model
//! set up from what the pass measured.

use std::io::IsTerminal;

use wildsgd::checkpoint::{tables, Checkpoint, Table};
use wildsgd::data::{binary_pair, stream_libsvm, Hashing, StreamOptions, Streamed};
use wildsgd::model::Update;
use wildsgd::model::{Softmax, MAX_CLASSES};
use wildsgd::{Error, Linear, Loss, Schedule};

use crate::run::{param, trainer_line, Done, Failure, Run};
use crate::svm::InFile;
use crate::train_loop::{train_loop, Described, Saved, Source};

/// The hashing `--hash-bits` asks for (or a resumed model was trained
/// with: it must stay the same).
pub(crate) fn hashing(run: &Run) -> Result<Option<Hashing>, Error> {
    let saved = match &run.resume {
        Some(c) => saved_hashing(c, &run.checkpoint_name())?,
        None => None,
    };
    let asked = run
        .a
        .hash_bits
        .map(|b| Hashing::new(b).map_err(|e| param("hash-bits", e.to_string())))
        .transpose()?;
    match (saved, asked) {
        (Some(s), Some(a)) if s.bits() != a.bits() => Err(param(
            "hash-bits",
            format!("{}: the checkpoint's model hashes into {} bits", a.bits(), s.bits()),
        )),
        (None, Some(_)) if run.resume.is_some() => Err(param(
            "hash-bits",
            "the checkpoint's model was trained on exact feature indices".into(),
        )),
        (Some(s), _) => Ok(Some(s)),
        (None, a) => Ok(a),
    }
}

/// The hashing a saved model's features went through (its table).
pub(crate) fn saved_hashing(c: &Checkpoint, file: &str) -> Result<Option<Hashing>, Error> {
    if !c.tables.contains_key(tables::HASHING) {
        return Ok(None);
    }
    let v = c.u64s(file, tables::HASHING)?;
    let bad = || Error::InvalidParameter {
        name: "model",
        reason: format!("{file}: the feature-hashing table is not (bits, seed)"),
    };
    let [bits, seed] = v else { return Err(bad()) };
    let bits = u32::try_from(*bits).map_err(|_| bad())?;
    Ok(Some(Hashing::new(bits).map_err(|_| bad())?.seed(*seed)))
}

/// The table that records `h` in a saved model.
pub(crate) fn hashing_table(h: Hashing) -> Table {
    Table::U64s(vec![u64::from(h.bits()), h.get_seed()])
}

/// How the labels of a streamed file are read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Labels {
    /// Two classes, mapped to ±1.
    Binary,
    /// As written (real targets, class ids).
    AsWritten,
}

/// Reads `--data` (and `--valid`) once into a spill, with a progress bar
/// on a terminal, at the width of `width` (a resumed model's) if given.
pub(crate) fn read(run: &Run, labels: Labels, width: Option<usize>) -> Result<Streamed, Failure> {
    let a = &run.a;
    let opts = StreamOptions {
        hashing: hashing(run)?,
        n_features: width,
        valid_fraction: a.valid_fraction.unwrap_or(0.0),
        seed: run.split_seed(),
        sample_rows: if a.loss_rows == 0 { 100_000 } else { a.loss_rows },
        spill_dir: a.spill_dir.clone(),
        ..StreamOptions::default()
    };
    if !(0.0..1.0).contains(&opts.valid_fraction) {
        return Err(param(
            "valid-fraction",
            format!("{}: must be at least 0 and below 1", opts.valid_fraction),
        )
        .into());
    }
    let bar = (!run.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "reading {bar:30} {bytes}/{total_bytes}, {bytes_per_sec}, ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut progress = |done: u64, total: Option<u64>| {
        if let Some(b) = &bar {
            if let Some(t) = total {
                b.set_length(t);
            }
            b.set_position(done);
        }
    };
    // Parsed on as many threads as training will use.
    let threads = run
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| param("threads", format!("cannot start {threads} threads: {e}")))?;
    let result = pool.install(|| stream_libsvm(&a.data, &opts, &mut progress));
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let mut s = result?;
    if let Some(path) = &a.valid {
        s.validate_on(path, &opts)?;
        let (values, rows) = s.dropped();
        if values > 0 {
            say!(
                run.quiet,
                "validation: ignored {values} feature value(s) in {rows} row(s) with indices beyond the model's {} features",
                s.n_features()
            );
        }
    }
    let v = s.survey().clone();
    say!(
        run.quiet,
        "read: {} ({:.1} MB of text, {} lines) in {:.2} s ({:.0} MB/s, {:.0} MB/s per parsing thread of {}); {:.1} MB \
         of parsed rows spilled to {}",
        a.data.display(),
        v.text_bytes as f64 / 1e6,
        v.lines,
        v.seconds,
        v.mb_per_sec(),
        v.mb_per_sec_per_thread(),
        v.threads,
        s.spill_bytes() as f64 / 1e6,
        a.spill_dir.clone().unwrap_or_else(std::env::temp_dir).display()
    );
    if labels == Labels::Binary {
        let set = s.labels().clone();
        if set.many || set.first_seen.len() > 2 {
            let (y, row) = set.first_seen.get(2).copied().unwrap_or((f32::NAN, 0));
            let e = Error::InvalidSample {
                row: row as usize,
                reason: format!(
                    "label {y} is a third class (after {} and {}): a binary model needs two",
                    set.first_seen[0].0, set.first_seen[1].0
                ),
            };
            return Err(e.in_file(&a.data).into());
        }
        let mut classes: Vec<f32> = set.first_seen.iter().map(|&(y, _)| y).collect();
        let (neg, pos) = binary_pair(&mut classes);
        s.binary_labels_as(neg, pos).map_err(|e| e.in_file(&a.data))?;
    }
    Ok(s)
}

/// `train --stream` for logistic, hinge and squared loss.
pub(crate) fn train_linear(run: &Run, loss: Loss) -> Result<Done, Failure> {
    let (a, quiet) = (&run.a, run.quiet);
    refuse_averaging(run)?;
    let width = match &run.resume {
        Some(c) => Some(c.model::<Linear>(&run.checkpoint_name())?.n_features()),
        None => None,
    };
    let labels = if loss == Loss::Squared {
        Labels::AsWritten
    } else {
        Labels::Binary
    };
    let s = read(run, labels, width)?;
    let hashing = hashing(run)?;
    let n_features = s.n_features();
    let rows = s.rows() as usize;
    let stats = s.stats();
    // The adaptive update's mean normalised norm, estimated on the sample
    // (the scales are known only once the pass has seen every row).
    let norm = || {
        let sample = s.sample();
        sample.normalised_norm_sum(&stats.inverse_scales()) / sample.len().max(1) as f64
    };
    let model = match &run.resume {
        Some(c) => {
            let m = c.model::<Linear>(&run.checkpoint_name())?;
            if m.get_loss() != loss || m.get_bias() == a.no_bias {
                return Err(param(
                    "resume",
                    format!(
                        "the checkpoint holds a {} model{}, not the {}{} asked for",
                        m.get_loss().name(),
                        if m.get_bias() { " with bias" } else { " without bias" },
                        loss.name(),
                        if a.no_bias { " without bias" } else { " with bias" }
                    ),
                )
                .into());
            }
            let (l2, update) = (m.get_l2(), m.get_update());
            let m = m.l2_from(l2, stats);
            match update {
                Update::Adaptive => m.adaptive_from(stats, norm()),
                Update::Sgd => m,
            }
        }
        None => {
            let m = Linear::new(loss, n_features)
                .bias(!a.no_bias)
                .l2_from(run.l2_for(rows), stats);
            match a.update.unwrap_or(crate::run::DEFAULT_UPDATE) {
                Update::Adaptive => m.adaptive_from(stats, norm()),
                Update::Sgd => m,
            }
        }
    };
    let mut trainer = run.trainer();
    if model.get_update() == Update::Sgd && loss == Loss::Logistic && a.lr.is_none() && run.resume.is_none() {
        // As in memory: the default rate is for unit-norm rows.
        let mean = s.mean_squared_norm();
        if mean.is_finite() && mean > 0.0 {
            if let Schedule::EpochDecay { initial, decay } = trainer.get_schedule() {
                trainer = trainer.schedule(Schedule::EpochDecay {
                    initial: (f64::from(initial) / mean) as f32,
                    decay,
                });
            }
        }
    }
    let weights = run.start_weights(&model)?;
    let valid_rows = s.valid_rows();
    say!(
        quiet,
        "data: {} ({} rows, {} features{}, {:.1} nonzeros per training row); streaming {} training rows{}",
        a.data.display(),
        rows as u64 + if a.valid.is_some() { 0 } else { valid_rows },
        n_features,
        match hashing {
            Some(h) => format!(" hashed from names, {} bits", h.bits()),
            None => String::new(),
        },
        s.nnz() as f64 / rows.max(1) as f64,
        rows,
        if valid_rows > 0 {
            format!(", validating on {valid_rows} held out")
        } else {
            " (no validation set)".to_string()
        }
    );
    say!(
        quiet,
        "model: {}{}, l2 {}, {} update; {}",
        loss.name(),
        if model.get_bias() { " with bias" } else { "" },
        model.get_l2(),
        model.get_update().name(),
        trainer_line(&trainer)
    );
    let mut json = described_json(run, &s, hashing);
    json.insert("model".into(), loss.name().into());
    json.insert("l2".into(), model.get_l2().into());
    json.insert("update".into(), model.get_update().name().into());
    let mut saved = Saved::of(&model);
    if let Some(h) = hashing {
        saved = saved.table(tables::HASHING, hashing_table(h));
    }
    let described = Described {
        saved,
        json,
        summary: Box::new(|_, _| Ok(Vec::new())),
    };
    train_loop(run, &model, Source::Stream(&s), None, trainer, weights, described)
}

/// `--stream` trains no averaged iterates (the average samples the weights
/// within an epoch held in memory).
fn refuse_averaging(run: &Run) -> Result<(), Error> {
    if run.averaging() {
        return Err(param(
            "average",
            "--stream does not average iterates (this run's settings or checkpoint ask for it): give --average false"
                .into(),
        ));
    }
    Ok(())
}

/// `train --model softmax --stream`.
pub(crate) fn train_softmax(run: &Run) -> Result<Done, Failure> {
    let (a, quiet) = (&run.a, run.quiet);
    refuse_averaging(run)?;
    let ckpt_name = run.checkpoint_name();
    let resumed = match &run.resume {
        Some(c) => Some(c.model::<Softmax>(&ckpt_name)?),
        None => None,
    };
    let s = read(run, Labels::AsWritten, resumed.as_ref().map(Softmax::n_features))?;
    let hashing = hashing(run)?;
    let set = s.labels();
    let mut classes = 0usize;
    // Classes seen only in the validation file still get a row.
    let valid = s.valid_labels().map(|v| (v, a.valid.as_deref().unwrap_or(&a.data)));
    for (set, path) in std::iter::once((set, a.data.as_path())).chain(valid) {
        if set.many {
            return Err(param(
                "data",
                format!("{}: more than 1024 distinct labels: not class ids", path.display()),
            )
            .into());
        }
        for &(y, row) in &set.first_seen {
            if !(y >= 0.0 && y.fract() == 0.0 && (y as usize) < MAX_CLASSES) {
                let e = Error::InvalidSample {
                    row: row as usize,
                    reason: format!("label {y} is not a class id (a whole number in 0..{MAX_CLASSES})"),
                };
                return Err(e.in_file(path).into());
            }
            classes = classes.max(y as usize + 1);
        }
    }
    let stats = s.stats();
    let norm = || {
        let sample = s.sample();
        sample.normalised_norm_sum(&stats.inverse_scales()) / sample.len().max(1) as f64
    };
    let rows = s.rows() as usize;
    let model = match resumed {
        Some(m) => {
            if classes > m.n_classes() {
                return Err(param(
                    "data",
                    format!(
                        "{}: class {} is beyond the checkpoint's {} classes",
                        a.data.display(),
                        classes - 1,
                        m.n_classes()
                    ),
                )
                .into());
            }
            let (l2, update) = (m.get_l2(), m.get_update());
            let m = m.l2_from(l2, stats);
            match update {
                Update::Adaptive => m.adaptive_from(stats, norm()),
                Update::Sgd => m,
            }
        }
        None => {
            let m = Softmax::new(classes.max(2), s.n_features())?.l2_from(run.l2_for(rows), stats);
            match a.update.unwrap_or(crate::run::DEFAULT_UPDATE) {
                Update::Adaptive => m.adaptive_from(stats, norm()),
                Update::Sgd => m,
            }
        }
    };
    let trainer = run.trainer();
    let weights = run.start_weights(&model)?;
    let valid_rows = s.valid_rows();
    say!(
        quiet,
        "data: {} ({} rows, {} features{}, {:.1} nonzeros per training row); streaming {rows} training rows{}",
        a.data.display(),
        rows as u64 + if a.valid.is_some() { 0 } else { valid_rows },
        s.n_features(),
        match hashing {
            Some(h) => format!(" hashed from names, {} bits", h.bits()),
            None => String::new(),
        },
        s.nnz() as f64 / rows.max(1) as f64,
        if valid_rows > 0 {
            format!(", validating on {valid_rows} held out")
        } else {
            " (no validation set)".to_string()
        }
    );
    say!(
        quiet,
        "model: softmax, {} classes x {} features (+ bias), l2 {}, {} update; {}",
        model.n_classes(),
        model.n_features(),
        model.get_l2(),
        model.get_update().name(),
        trainer_line(&trainer)
    );
    let mut json = described_json(run, &s, hashing);
    json.insert("classes".into(), model.n_classes().into());
    json.insert("model".into(), "softmax".into());
    json.insert("l2".into(), model.get_l2().into());
    json.insert("update".into(), model.get_update().name().into());
    let mut saved = Saved::of(&model);
    if let Some(h) = hashing {
        saved = saved.table(tables::HASHING, hashing_table(h));
    }
    let described = Described {
        saved,
        json,
        summary: Box::new(|_, _| Ok(Vec::new())),
    };
    train_loop(run, &model, Source::Stream(&s), None, trainer, weights, described)
}

/// The JSON report's fields about the data and the pass over it.
fn described_json(run: &Run, s: &Streamed, hashing: Option<Hashing>) -> crate::train_loop::Json {
    let mut json = serde_json::Map::new();
    json.insert("data".into(), run.a.data.display().to_string().into());
    json.insert("rows".into(), s.rows().into());
    json.insert("valid_rows".into(), s.valid_rows().into());
    json.insert("features".into(), s.n_features().into());
    json.insert("hash_bits".into(), hashing.map(|h| h.bits()).into());
    json.insert("read_seconds".into(), s.survey().seconds.into());
    json.insert("read_mb_per_sec".into(), s.survey().mb_per_sec().into());
    json.insert("read_threads".into(), s.survey().threads.into());
    json.insert("spill_bytes".into(), s.spill_bytes().into());
    // With hashing, the columns some training row uses (fewer than the
    // distinct names by the collisions).
    json.insert(
        "columns_used".into(),
        s.stats().counts.iter().filter(|&&c| c > 0.0).count().into(),
    );
    json
}
