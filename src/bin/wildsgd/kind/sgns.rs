//! What line and word2vec share: skip-gram negative-sampling embeddings
//! ([`Sgns`]) saved with tables holding the items' names (node names, or a
//! METIS vertex's number from 1; words) and counts, the task and the window
//! (see [`saved`] and [`load`]) so that `eval` and `predict` map names, not
//! positions.

use std::collections::HashMap;

use wildsgd::checkpoint::{tables, Checkpoint, Table};
use wildsgd::data::{read_corpus_bytes, read_text, Pairs};
use wildsgd::model::{corrupt_targets, Sgns, UnigramTable};
use wildsgd::{Error, Schedule, Trainer};

use crate::args::{PredictArgs, TrainArgs};
use crate::run::{check_schedule, param, schedule_of, Run};
use crate::train_loop::Saved;

pub(crate) const NEGATIVES: usize = 5;
pub(crate) const VALID_FRACTION: f64 = 0.1;
/// Held-out pairs scored after training and by `eval`, at most (evenly thinned).
const MAX_EVAL_PAIRS: usize = 100_000;

/// Rejects the options that do not apply to line and word2vec.
pub(crate) fn check_args(a: &TrainArgs) -> Result<(), Error> {
    let not = |given: bool, name: &'static str, why: &str| {
        if given {
            Err(param(
                name,
                format!("--{name} does not apply to line and word2vec models{why}"),
            ))
        } else {
            Ok(())
        }
    };
    not(a.l2.is_some(), "l2", "")?;
    not(a.valid.is_some(), "valid", "; use --valid-fraction")?;
    not(
        a.lr_decay.is_some() && a.schedule.is_none(),
        "lr-decay",
        " without --schedule (their default decays linearly)",
    )?;
    if let Some(f) = a.valid_fraction {
        if !(0.0..1.0).contains(&f) {
            return Err(param("valid-fraction", format!("{f} is not in [0, 1)")));
        }
    }
    if let Some(k) = a.negatives.filter(|&k| k > wildsgd::limits::MAX_NEGATIVES) {
        return Err(param(
            "negatives",
            format!("{k} is more than the limit of {}", wildsgd::limits::MAX_NEGATIVES),
        ));
    }
    Ok(())
}

/// The schedule: `--schedule` as for other kinds when given, else linear
/// decay from `--lr` (or `lr`) over `samples` updates, as word2vec decays.
pub(crate) fn schedule(a: &TrainArgs, lr: f32, samples: usize) -> Result<Schedule, Error> {
    if a.schedule.is_some() {
        return schedule_of(a, Schedule::Constant(lr));
    }
    let s = Schedule::Linear {
        initial: a.lr.unwrap_or(lr),
        samples: samples as u64,
    };
    check_schedule(&s)?;
    Ok(s)
}

/// A resumed run's trainer: the checkpoint's schedule, except that a linear
/// decay spans the whole run, so over the `samples` updates asked for now.
pub(crate) fn resumed_trainer(run: &Run, samples: usize) -> Trainer {
    let t = run.trainer();
    match t.get_schedule() {
        Schedule::Linear { initial, .. } => t.schedule(Schedule::Linear {
            initial,
            samples: samples as u64,
        }),
        _ => t,
    }
}

/// At most [`MAX_EVAL_PAIRS`] of `pairs`, evenly spaced.
pub(crate) fn thin(pairs: &Pairs) -> Vec<(u32, u32)> {
    let p = pairs.as_slice();
    p.iter().copied().step_by(p.len() / MAX_EVAL_PAIRS + 1).collect()
}

/// Pair AUCs of `positives` against their targets replaced by draws from
/// count^0.75 and from the uniform distribution over seen items.
pub(crate) fn pair_aucs(
    model: &Sgns,
    w: &[f32],
    positives: &[(u32, u32)],
    counts: &[u64],
    seed: u64,
) -> Result<String, Error> {
    let unigram = corrupt_targets(positives, model.table(), seed);
    let uniform = corrupt_targets(positives, &UnigramTable::with_power(counts, 0.0)?, seed ^ 0x55);
    Ok(format!(
        "{:.4} vs unigram^0.75 negatives, {:.4} vs uniform negatives ({} pairs)",
        model.pair_auc(w, positives, &unigram),
        model.pair_auc(w, positives, &uniform),
        positives.len()
    ))
}

/// The saved form of `model`: with the task (`word2vec` when `text`, else
/// `line`), the items' names and counts, the window and the sub-sampling
/// threshold as tables.
pub(crate) fn saved(
    model: &Sgns,
    text: bool,
    names: Vec<String>,
    counts: Vec<u64>,
    window: usize,
    subsample: f64,
) -> Saved {
    Saved::of(model)
        .table(tables::TASK, Table::Text(if text { "word2vec" } else { "line" }.into()))
        .table(tables::NAMES, Table::Strings(names))
        .table(tables::COUNTS, Table::U64s(counts))
        .table(tables::WINDOW, Table::U64(window as u64))
        .table(tables::SUBSAMPLE, Table::F64(subsample))
}

/// The model, its task, its items' names and counts, its negatives and its window.
pub(crate) struct Loaded<'c> {
    pub(crate) model: Sgns,
    pub(crate) text: bool,
    pub(crate) names: &'c [String],
    pub(crate) counts: &'c [u64],
    pub(crate) negatives: usize,
    pub(crate) window: usize,
}

/// The model an embedding checkpoint holds and its tables (see [`saved`]), checked.
pub(crate) fn load<'c>(ckpt: &'c Checkpoint, name: &str) -> Result<Loaded<'c>, Error> {
    let model = ckpt.model::<Sgns>(name)?;
    let bad = |field, value: String| Error::Checkpoint {
        file: name.to_string(),
        what: wildsgd::checkpoint::bad(field, value),
    };
    let text = match ckpt.text(name, tables::TASK)? {
        "word2vec" => true,
        "line" => false,
        other => return Err(bad("task", format!("{other:?}"))),
    };
    let (names, counts) = (ckpt.strings(name, tables::NAMES)?, ckpt.u64s(name, tables::COUNTS)?);
    if names.len() != model.n_items() || counts.len() != model.n_items() {
        let (n, c, items) = (names.len(), counts.len(), model.n_items());
        return Err(bad("item names and counts", format!("{n} and {c} for {items} items")));
    }
    if counts.iter().all(|&c| c == 0) {
        return Err(bad("item counts", "all 0".into()));
    }
    let window = ckpt.u64(name, tables::WINDOW)?;
    if window > wildsgd::limits::MAX_WINDOW as u64 {
        return Err(bad("window", window.to_string()));
    }
    let subsample = ckpt.f64(name, tables::SUBSAMPLE)?;
    if subsample < 0.0 {
        return Err(bad("sub-sampling threshold", subsample.to_string()));
    }
    Ok(Loaded {
        negatives: model.get_negatives(),
        model,
        text,
        names,
        counts,
        window: window as usize,
    })
}

pub(crate) fn index_of(names: &[String]) -> HashMap<&str, u32> {
    names.iter().enumerate().map(|(i, n)| (n.as_str(), i as u32)).collect()
}

/// For each name or word in the file (one per line; blank lines skipped):
/// `NAME<TAB>NEIGHBOUR COSINE<TAB>...`, the `--neighbours` nearest by cosine
/// similarity of the input vectors, best first. A name the model does not
/// know gets the line `NAME<TAB>unknown`, so output lines stay one per
/// input line, and a count on stderr.
pub(crate) fn predict(ckpt: &Checkpoint, name: &str, a: &PredictArgs) -> Result<Vec<String>, Error> {
    let m = load(ckpt, name)?;
    let index = index_of(m.names);
    let bytes = read_text(&a.data, &a.limits.read())?;
    let text = String::from_utf8(bytes).map_err(|e| {
        // The corpus reader names the line and column of the first bad byte.
        let file = a.data.display().to_string();
        match read_corpus_bytes(&file, e.as_bytes(), 1) {
            Err(e) => e,
            Ok(_) => param("data", format!("{file}: the text is not valid UTF-8")),
        }
    })?;
    let mut unknown = 0usize;
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|q| match index.get(q) {
            Some(&i) => {
                let mut line = q.to_string();
                for (j, c) in m.model.nearest(&ckpt.weights[..], i, a.neighbours) {
                    line += &format!("\t{} {c:.4}", m.names[j as usize]);
                }
                line
            }
            None => {
                unknown += 1;
                format!("{q}\tunknown")
            }
        })
        .collect();
    if unknown > 0 {
        eprintln!(
            "wildsgd: {unknown} of {} names are not in the model (their lines say `unknown`)",
            lines.len()
        );
    }
    Ok(lines)
}
