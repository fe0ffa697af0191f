//! `--stream` and `--hash-bits` for the linear kinds: the pass that reads
//! the file into a spill (with a progress bar), the labels, and the model
//! set up from what the pass measured.

use std::io::IsTerminal;

use wildsgd::checkpoint::{tables, Checkpoint, Table};
use wildsgd::data::{binary_pair, stream_libsvm, Hashing, StreamOptions, Streamed};
use wildsgd::model::Update;
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

/// Reads `--data` (and `--valid`) once into a spill, with a progress bar
/// on a terminal, and maps two-class labels to ±1 unless `loss` is squared.
pub(crate) fn read(run: &Run, loss: Loss) -> Result<Streamed, Failure> {
    let a = &run.a;
    let width = match &run.resume {
        Some(c) => Some(c.model::<Linear>(&run.checkpoint_name())?.n_features()),
        None => None,
    };
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
    let result = stream_libsvm(&a.data, &opts, &mut progress);
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
        "read: {} ({:.1} MB of text, {} lines) in {:.2} s ({:.0} MB/s); {:.1} MB of parsed rows spilled to {}",
        a.data.display(),
        v.text_bytes as f64 / 1e6,
        v.lines,
        v.seconds,
        v.mb_per_sec(),
        s.spill_bytes() as f64 / 1e6,
        a.spill_dir.clone().unwrap_or_else(std::env::temp_dir).display()
    );
    if loss != Loss::Squared {
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
    if a.average == Some(true) {
        return Err(param("average", "--stream does not average iterates".into()).into());
    }
    let s = read(run, loss)?;
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
    let mut json = serde_json::Map::new();
    json.insert("data".into(), a.data.display().to_string().into());
    json.insert("rows".into(), rows.into());
    json.insert("valid_rows".into(), valid_rows.into());
    json.insert("features".into(), n_features.into());
    json.insert("model".into(), loss.name().into());
    json.insert("l2".into(), model.get_l2().into());
    json.insert("update".into(), model.get_update().name().into());
    json.insert("hash_bits".into(), hashing.map(|h| h.bits()).into());
    json.insert("read_seconds".into(), s.survey().seconds.into());
    json.insert("read_mb_per_sec".into(), s.survey().mb_per_sec().into());
    json.insert("spill_bytes".into(), s.spill_bytes().into());
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
