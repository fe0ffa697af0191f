//! Skip-gram negative-sampling embeddings: `line` (LINE first-order style,
//! on the edges of a graph) and `word2vec` (skip-gram windows over text).
//!
//! Both save an [`Sgns`] with tables holding the items' names (node names,
//! or a METIS vertex's number from 1; words) and counts, the task and the
//! window (see [`saved`] and [`load`]) so that `eval` and `predict` map
//! names, not positions. `line` trains through the shared loop
//! (checkpoints every N epochs, `--report`); `word2vec` redraws its pairs
//! every epoch ([`train_skipgram`]), so it prints its epochs after training
//! and writes no periodic checkpoints; `line` resumes from its checkpoints,
//! `word2vec` does not (`--resume` is an error).

use std::collections::HashMap;
use std::path::Path;

use wildsgd::checkpoint::{tables, Checkpoint, Table};
use wildsgd::data::{
    read_corpus_with, read_edge_list_with, read_metis_with, read_text, Corpus, Graph, Pairs, ReadOptions, SkipGram,
};
use wildsgd::model::{corrupt_targets, Sgns, UnigramTable};
use wildsgd::trainer::Outcome;
use wildsgd::word2vec::train_skipgram;
use wildsgd::{Error, Schedule};

use crate::{
    param, schedule_of, train_loop_with, trainer_line, Defaults, Described, Done, EvalArgs, Failure, GraphFormat,
    ModelKind, PredictArgs, Run, Saved, TrainArgs,
};

/// `line`'s defaults, as in `examples/graph_embedding.rs`: the small
/// word2vec initialisation needs a rate this large to leave the saddle at
/// zero within a few epochs of a small graph. The schedule's sample count is
/// set once the pairs are known.
pub(crate) const LINE_DEFAULTS: Defaults = Defaults {
    epochs: 10,
    schedule: Schedule::Linear {
        initial: 0.4,
        samples: 0,
    },
    l2: 0.0,
    average: false,
};

/// word2vec's own defaults (`-iter 5 -alpha 0.025`, decaying linearly).
pub(crate) const WORD2VEC_DEFAULTS: Defaults = Defaults {
    epochs: 5,
    schedule: Schedule::Linear {
        initial: 0.025,
        samples: 0,
    },
    l2: 0.0,
    average: false,
};

const LINE_DIM: usize = 32;
const WORD2VEC_DIM: usize = 100;
const NEGATIVES: usize = 5;
const WINDOW: usize = 5;
const MIN_COUNT: u64 = 5;
const SUBSAMPLE: f64 = 1e-3;
const VALID_FRACTION: f64 = 0.1;
/// Held-out pairs scored after training and by `eval`, at most (evenly thinned).
const MAX_EVAL_PAIRS: usize = 100_000;

/// Rejects the options that do not apply to the kind being trained.
pub(crate) fn check_args(a: &TrainArgs) -> Result<(), Error> {
    let (line, w2v) = (a.model == ModelKind::Line, a.model == ModelKind::Word2vec);
    let only = |given: bool, name: &'static str, ok: bool, which: &str| {
        if given && !ok {
            Err(param(name, format!("--{name} applies to {which} only")))
        } else {
            Ok(())
        }
    };
    only(a.format.is_some(), "format", line, "--model line")?;
    only(a.dim.is_some(), "dim", line || w2v, "--model line and word2vec")?;
    only(
        a.negatives.is_some(),
        "negatives",
        line || w2v,
        "--model line and word2vec",
    )?;
    only(a.window.is_some(), "window", w2v, "--model word2vec")?;
    only(a.min_count.is_some(), "min-count", w2v, "--model word2vec")?;
    only(a.subsample.is_some(), "subsample", w2v, "--model word2vec")?;
    if !(line || w2v) {
        return Ok(());
    }
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
    if a.resume && w2v {
        return Err(param("resume", "--resume is not supported for word2vec models".into()));
    }
    if w2v && (a.checkpoint.is_some() || a.checkpoint_every > 0) {
        return Err(param(
            "checkpoint",
            "word2vec writes no periodic checkpoints (save the model with --out)".into(),
        ));
    }
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
    if let Some(w) = a.window.filter(|&w| w == 0 || w > wildsgd::limits::MAX_WINDOW) {
        return Err(param(
            "window",
            format!("must be in 1..={}, got {w}", wildsgd::limits::MAX_WINDOW),
        ));
    }
    if let Some(d) = a.dim.filter(|&d| d == 0 || d > wildsgd::model::MAX_DIM) {
        return Err(param(
            "dim",
            format!("must be in 1..={}, got {d}", wildsgd::model::MAX_DIM),
        ));
    }
    if let Some(t) = a.subsample.filter(|t| !(t.is_finite() && *t >= 0.0)) {
        return Err(param("subsample", format!("must be finite and >= 0, got {t}")));
    }
    Ok(())
}

/// The schedule: `--schedule` as for other kinds when given, else linear
/// decay from `--lr` (or `lr`) over `samples` updates, as word2vec decays.
fn schedule(a: &TrainArgs, lr: f32, samples: usize) -> Result<Schedule, Error> {
    if a.schedule.is_some() {
        return schedule_of(a, Schedule::Constant(lr));
    }
    let s = Schedule::Linear {
        initial: a.lr.unwrap_or(lr),
        samples: samples as u64,
    };
    crate::check_schedule(&s)?;
    Ok(s)
}

/// A graph file's format from its extension: `.graph` and `.metis` are METIS.
fn format_of(path: &Path) -> GraphFormat {
    match path.extension().and_then(|e| e.to_str()) {
        Some("graph" | "metis") => GraphFormat::Metis,
        _ => GraphFormat::Edges,
    }
}

/// The graph at `path` and its nodes' names (a METIS vertex's number from 1).
fn read_graph(path: &Path, format: Option<GraphFormat>, read: &ReadOptions) -> Result<(Graph, Vec<String>), Error> {
    let g = match format.unwrap_or_else(|| format_of(path)) {
        GraphFormat::Metis => read_metis_with(path, read)?,
        GraphFormat::Edges => read_edge_list_with(path, read)?,
    };
    let names = if g.names.is_empty() {
        (1..=g.n_nodes).map(|k| k.to_string()).collect()
    } else {
        g.names.clone()
    };
    Ok((g, names))
}

/// As many non-edges as `wanted`, or fewer in a dense graph: half of those
/// there are at most, which [`Graph::non_edges`] can still find by rejection.
fn non_edge_count(g: &Graph, wanted: usize) -> usize {
    let n = g.n_nodes as u64;
    let free = (n * n.saturating_sub(1) / 2).saturating_sub(g.edges.len() as u64);
    wanted.min((free / 2) as usize).max(1)
}

/// The model a line checkpoint holds, checked against the graph being
/// trained on (the same nodes, the same negative table) and the options given.
fn resumed_model(c: &Checkpoint, run: &Run, names: &[String], counts: &[u64]) -> Result<Sgns, Error> {
    let file = run.checkpoint_name();
    let wrong = |reason: String| Error::Checkpoint {
        file: file.clone(),
        what: wildsgd::checkpoint::CheckpointIssue::WrongModel { reason },
    };
    let saved = load(c, &file)?;
    let (saved_names, saved_counts, negatives) = (saved.names, saved.counts, saved.negatives);
    if saved.text {
        return Err(wrong("it holds a word2vec model, not line".into()));
    }
    if saved_names != names || saved_counts != counts {
        return Err(wrong(format!(
            "it was trained on another graph or split ({} nodes; this one has {})",
            saved_names.len(),
            names.len()
        )));
    }
    let a = &run.a;
    let dim = saved.model.embedding_dim();
    if a.dim.is_some_and(|d| d != dim) || a.negatives.is_some_and(|k| k != negatives) {
        return Err(wrong(format!(
            "dim {dim} and {negatives} negatives in the file, not what --dim/--negatives ask"
        )));
    }
    Ok(saved.model)
}

/// At most [`MAX_EVAL_PAIRS`] of `pairs`, evenly spaced.
fn thin(pairs: &Pairs) -> Vec<(u32, u32)> {
    let p = pairs.as_slice();
    p.iter().copied().step_by(p.len() / MAX_EVAL_PAIRS + 1).collect()
}

/// Pair AUCs of `positives` against their targets replaced by draws from
/// count^0.75 and from the uniform distribution over seen items.
fn pair_aucs(model: &Sgns, w: &[f32], positives: &[(u32, u32)], counts: &[u64], seed: u64) -> Result<String, Error> {
    let unigram = corrupt_targets(positives, model.table(), seed);
    let uniform = corrupt_targets(positives, &UnigramTable::with_power(counts, 0.0)?, seed ^ 0x55);
    Ok(format!(
        "{:.4} vs unigram^0.75 negatives, {:.4} vs uniform negatives ({} pairs)",
        model.pair_auc(w, positives, &unigram),
        model.pair_auc(w, positives, &uniform),
        positives.len()
    ))
}

pub(crate) fn train_line(run: &Run) -> Result<Done, Failure> {
    let (a, quiet) = (&run.a, run.quiet);
    let (graph, names) = read_graph(&a.data, a.format, &run.read)?;
    let fraction = a.valid_fraction.unwrap_or(VALID_FRACTION);
    let seed = run.split_seed();
    let (train, held) = if fraction > 0.0 {
        graph.split_edges(fraction, seed)?
    } else {
        (graph.clone(), Vec::new())
    };
    let non_edges = if held.is_empty() {
        Vec::new()
    } else {
        graph.non_edges(non_edge_count(&graph, held.len()), seed.wrapping_add(1))?
    };
    let pairs = Pairs::from_graph(&train);
    let counts = pairs.target_counts(graph.n_nodes);
    let samples = run.epochs * pairs.as_slice().len();
    let (model, trainer) = match &run.resume {
        None => {
            let (dim, k) = (a.dim.unwrap_or(LINE_DIM), a.negatives.unwrap_or(NEGATIVES));
            let model = Sgns::new(graph.n_nodes, dim, UnigramTable::new(&counts)?)?.negatives(k);
            (model, run.trainer().schedule(schedule(a, 0.4, samples)?))
        }
        Some(c) => {
            let model = resumed_model(c, run, &names, &counts)?;
            // A linear decay spans the whole run: over the epochs asked for now.
            let t = run.trainer();
            let t = match t.get_schedule() {
                Schedule::Linear { initial, .. } => t.schedule(Schedule::Linear {
                    initial,
                    samples: samples as u64,
                }),
                _ => t,
            };
            (model, t)
        }
    };
    let (dim, k) = (model.embedding_dim(), model.n_negatives());
    let weights = run.start_weights(&model)?;
    say!(
        quiet,
        "data: {} ({} nodes, {} edges; training on {} edges = {} pairs, {} held out)",
        a.data.display(),
        graph.n_nodes,
        graph.edges.len(),
        train.edges.len(),
        pairs.as_slice().len(),
        held.len()
    );
    say!(
        quiet,
        "model: line, dim {dim}, {k} negatives from degree^0.75; {}",
        trainer_line(&trainer)
    );
    let mut json = serde_json::Map::new();
    json.insert("data".into(), a.data.display().to_string().into());
    json.insert("rows".into(), pairs.as_slice().len().into());
    json.insert("valid_rows".into(), held.len().into());
    json.insert("nodes".into(), graph.n_nodes.into());
    json.insert("dim".into(), dim.into());
    json.insert("model".into(), "line".into());
    let summary: crate::Summary<'_> = Box::new(|w: &[f32]| {
        Ok(if held.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "held-out link auc {:.4} ({} held-out edges vs {} sampled non-edges)",
                model.link_auc(w, &held, &non_edges),
                held.len(),
                non_edges.len()
            )]
        })
    });
    let described = Described {
        saved: saved(&model, false, names, counts, 0, 0.0),
        json,
        summary,
    };
    train_loop_with(run, &model, &pairs, None, trainer, weights, described, None)
}

pub(crate) fn train_word2vec(run: &Run) -> Result<Done, Failure> {
    let (a, quiet) = (&run.a, run.quiet);
    let full = read_corpus_with(&a.data, a.min_count.unwrap_or(MIN_COUNT), &run.read)?;
    let fraction = a.valid_fraction.unwrap_or(VALID_FRACTION);
    let (train, held) = if fraction > 0.0 {
        let (t, h) = full.split(fraction, a.seed())?;
        (t, Some(h))
    } else {
        (full.clone(), None)
    };
    let sg = SkipGram {
        window: a.window.unwrap_or(WINDOW),
        subsample: a.subsample.unwrap_or(SUBSAMPLE),
        seed: a.seed(),
    };
    // The window and the memory the pairs can take are checked before any
    // is made; an epoch without pairs is an error saying why.
    let first = sg.try_pairs(&train, 0).map_err(|e| match e {
        Error::InvalidParameter { name: "subsample", .. } => param(
            "data",
            format!(
                "{}: sub-sampling (--subsample {}) discarded every word of the {} training tokens; raise it, or \
                 give 0 to keep every word",
                a.data.display(),
                sg.subsample,
                train.n_tokens()
            ),
        ),
        Error::InvalidParameter { name: "corpus", .. } => param(
            "data",
            format!(
                "{}: no training sentence has two words (at --min-count {}), so there are no skip-gram pairs",
                a.data.display(),
                a.min_count.unwrap_or(MIN_COUNT)
            ),
        ),
        e => e,
    })?;
    let per_epoch = first.as_slice().len();
    let counts = train.vocab().counts().to_vec();
    let (dim, k) = (a.dim.unwrap_or(WORD2VEC_DIM), a.negatives.unwrap_or(NEGATIVES));
    let model = Sgns::new(full.vocab().len(), dim, UnigramTable::new(&counts)?)?.negatives(k);
    let mut trainer = run.trainer().schedule(schedule(a, 0.025, run.epochs * per_epoch)?);
    if trainer.get_policy() == wildsgd::Policy::Auto {
        // Decided once on epoch 0's pairs, so every epoch runs the same policy.
        let c = trainer.job(&model, &first).choose_policy()?;
        say!(quiet, "policy auto: {} ({})", c.policy, c.reason);
        trainer = trainer.policy(c.policy);
    }
    say!(
        quiet,
        "data: {} (vocabulary {} at min-count {}; training on {} sentences, {} tokens, about {} pairs/epoch; \
         {} sentences held out)",
        a.data.display(),
        full.vocab().len(),
        a.min_count.unwrap_or(MIN_COUNT),
        train.n_sentences(),
        train.n_tokens(),
        per_epoch,
        held.as_ref().map_or(0, Corpus::n_sentences)
    );
    say!(
        quiet,
        "model: word2vec, dim {dim}, {k} negatives from unigram^0.75, window {}, subsample {}; {}",
        sg.window,
        sg.subsample,
        trainer_line(&trainer)
    );
    let words: Vec<String> = (0..full.vocab().len() as u32)
        .map(|i| full.vocab().word(i).to_string())
        .collect();
    let saved = saved(&model, true, words, counts.clone(), sg.window, sg.subsample);
    let checkpoint = |done: usize, w: Vec<f32>| saved.checkpoint(&trainer, run.average, done, w);
    run.interrupts.arm();
    let trained = train_skipgram(&trainer, &model, &train, &sg)?;
    let r = &trained.report;
    for e in &r.epochs {
        say!(quiet, "{}", crate::epoch_line(e));
    }
    match &trained.outcome {
        Outcome::Diverged { epoch, reason } => {
            return Err(crate::diverged(run, *epoch, reason, &trained.weights, |w| checkpoint(*epoch, w)))
        }
        Outcome::Interrupted { epoch, samples } => {
            let done = r.epochs.len();
            return crate::finish_interrupted(run, (*epoch, *samples), done, r, || {
                checkpoint(done, trained.weights.clone())
            });
        }
        Outcome::Finished | Outcome::StoppedEarly { .. } => {}
    }
    let total_seconds = run.clock.elapsed().as_secs_f64();
    say!(
        quiet,
        "done: {} epochs, {:.0} samples/s over {:.3} s of updates, {:.2} s in all",
        r.epochs.len(),
        r.samples_per_sec(),
        r.update_seconds(),
        total_seconds
    );
    let w = &trained.weights;
    let held_auc = match &held {
        Some(h) => {
            let positives = thin(&sg.pairs(h, 0));
            let line = pair_aucs(&model, w, &positives, &counts, a.seed())?;
            say!(quiet, "held-out pair auc {line}");
            Some(line)
        }
        None => None,
    };
    if let Some(out) = &a.out {
        checkpoint(r.epochs.len(), trained.weights.clone()).save(out)?;
        say!(quiet, "model saved to {}", out.display());
    }
    if let Some(path) = &a.report {
        let mut json = serde_json::Map::new();
        json.insert("data".into(), a.data.display().to_string().into());
        json.insert("model".into(), "word2vec".into());
        json.insert("vocabulary".into(), full.vocab().len().into());
        json.insert("rows".into(), per_epoch.into());
        json.insert("dim".into(), dim.into());
        json.insert("held_out_pair_auc".into(), serde_json::json!(held_auc));
        crate::write_report(path, json, r, total_seconds, quiet)?;
    }
    Ok(run.after_training())
}

/// The saved form of `model`: with the task (`word2vec` when `text`, else
/// `line`), the items' names and counts, the window and the sub-sampling
/// threshold as tables.
fn saved(model: &Sgns, text: bool, names: Vec<String>, counts: Vec<u64>, window: usize, subsample: f64) -> Saved {
    Saved::of(model)
        .table(tables::TASK, Table::Text(if text { "word2vec" } else { "line" }.into()))
        .table(tables::NAMES, Table::Strings(names))
        .table(tables::COUNTS, Table::U64s(counts))
        .table(tables::WINDOW, Table::U64(window as u64))
        .table(tables::SUBSAMPLE, Table::F64(subsample))
}

/// The model, its task, its items' names and counts, its negatives and its window.
struct Loaded<'c> {
    model: Sgns,
    text: bool,
    names: &'c [String],
    counts: &'c [u64],
    negatives: usize,
    window: usize,
}

/// The model an embedding checkpoint holds and its tables (see [`saved`]), checked.
fn load<'c>(ckpt: &'c Checkpoint, name: &str) -> Result<Loaded<'c>, Error> {
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
        negatives: model.n_negatives(),
        model,
        text,
        names,
        counts,
        window: window as usize,
    })
}

fn index_of(names: &[String]) -> HashMap<&str, u32> {
    names.iter().enumerate().map(|(i, n)| (n.as_str(), i as u32)).collect()
}

/// `line`: link AUC of the file's edges (nodes mapped by name; an unknown
/// name is an error) against as many node pairs that are not edges of the
/// file. The training edges are not known here, so a non-edge may be one of
/// them; evaluate on a held-out file for a clean figure. `word2vec`: pair
/// AUC of the file's skip-gram pairs (the model's window, no sub-sampling;
/// words not in the model's vocabulary are dropped, and counted, before
/// windows are formed) against their targets replaced by negatives.
pub(crate) fn eval(ckpt: &Checkpoint, name: &str, a: &EvalArgs) -> Result<(), Error> {
    let m = load(ckpt, name)?;
    let w = &ckpt.weights[..];
    let index = index_of(m.names);
    if !m.text {
        let (g, file_names) = read_graph(&a.data, a.format, &a.limits.read())?;
        let map = |k: u32, edge: usize| {
            let node = &file_names[k as usize];
            index.get(node.as_str()).copied().ok_or_else(|| {
                param(
                    "data",
                    format!(
                        "{}: node {node:?} (edge {} from 1) is not one of the model's {} nodes",
                        a.data.display(),
                        edge + 1,
                        m.names.len()
                    ),
                )
            })
        };
        let edges = g
            .edges
            .iter()
            .enumerate()
            .map(|(i, &(u, v))| Ok((map(u, i)?, map(v, i)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        let mapped = Graph {
            n_nodes: m.names.len(),
            edges,
            ..Graph::default()
        };
        let non_edges = mapped.non_edges(non_edge_count(&mapped, mapped.edges.len()), a.seed)?;
        out!(
            "data: {} ({} edges, model: line, {} nodes, dim {})",
            a.data.display(),
            mapped.edges.len(),
            m.names.len(),
            m.model.embedding_dim()
        );
        out!(
            "link auc: {:.6} ({} edges vs {} sampled non-edges)",
            m.model.link_auc(w, &mapped.edges, &non_edges),
            mapped.edges.len(),
            non_edges.len()
        );
        return Ok(());
    }
    if a.format.is_some() {
        return Err(param("format", "--format applies to line models only".into()));
    }
    let file = read_corpus_with(&a.data, 1, &a.limits.read())?;
    let (mut kept, mut skipped, mut unknown) = (String::new(), 0usize, 0usize);
    let known: Vec<Option<u32>> = (0..file.vocab().len() as u32)
        .map(|i| index.get(file.vocab().word(i)).copied())
        .collect();
    unknown += known.iter().filter(|k| k.is_none()).count();
    for s in 0..file.n_sentences() {
        for &t in file.sentence(s) {
            match known[t as usize] {
                Some(id) => {
                    kept += &m.names[id as usize];
                    kept.push(' ');
                }
                None => skipped += 1,
            }
        }
        kept.push('\n');
    }
    let tokens = file.n_tokens();
    if skipped == tokens {
        return Err(param(
            "data",
            format!(
                "{}: none of its {tokens} words is in the model's vocabulary",
                a.data.display()
            ),
        ));
    }
    let corpus = Corpus::from_text(&kept, 1)?;
    let to_model: Vec<u32> = (0..corpus.vocab().len() as u32)
        .map(|i| index[corpus.vocab().word(i)])
        .collect();
    // No sub-sampling: its keep probabilities would come from this file's
    // own frequencies, which for a short file discard nearly every word.
    let sg = SkipGram {
        window: m.window.max(1),
        subsample: 0.0,
        seed: a.seed,
    };
    let pairs: Vec<(u32, u32)> = thin(&sg.pairs(&corpus, 0))
        .into_iter()
        .map(|(s, t)| (to_model[s as usize], to_model[t as usize]))
        .collect();
    if pairs.is_empty() {
        return Err(param(
            "data",
            format!(
                "{}: no two known words share a sentence, so there are no skip-gram pairs",
                a.data.display()
            ),
        ));
    }
    out!(
        "data: {} ({} sentences, {tokens} words; model: word2vec, vocabulary {}, dim {})",
        a.data.display(),
        file.n_sentences(),
        m.names.len(),
        m.model.embedding_dim()
    );
    out!("skipped: {skipped} of {tokens} words ({unknown} distinct) not in the model's vocabulary");
    out!(
        "pair auc: {} (dynamic window up to {}, no sub-sampling)",
        pair_aucs(&m.model, w, &pairs, m.counts, a.seed)?,
        sg.window
    );
    Ok(())
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
        let at = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..at];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let column = 1 + before.iter().rev().take_while(|&&b| b != b'\n').count();
        param(
            "data",
            format!(
                "{}: line {line}, column {column}: the text is not valid UTF-8",
                a.data.display()
            ),
        )
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
