//! `word2vec`: skip-gram with negative sampling on text (one sentence per
//! line, whitespace-separated words). The pairs are drawn afresh for every
//! epoch ([`SkipGramEpochs`]), through the shared loop: periodic
//! checkpoints, `--resume` and `--report` as for every kind.

use wildsgd::checkpoint::{tables, Checkpoint, Persist};
use wildsgd::data::{read_corpus_with, Corpus, Pairs, SkipGram};
use wildsgd::trainer::EpochData;
use wildsgd::model::{Sgns, UnigramTable};
use wildsgd::word2vec::SkipGramEpochs;
use wildsgd::{Error, Schedule};

use super::sgns::{
    index_of, load, pair_aucs, resumed_trainer, saved, schedule, thin, NEGATIVES, VALID_FRACTION,
};
use crate::args::{EvalArgs, PredictArgs, TrainArgs};
use crate::kind::Kind;
use crate::run::{param, trainer_line, Defaults, Done, Failure, Run};
use crate::train_loop::{train_loop, Described, Json, Source, Summary};

/// word2vec skip-gram embeddings of text.
pub(crate) struct Word2vecKind;

impl Kind for Word2vecKind {
    fn names(&self) -> &'static [(&'static str, &'static str)] {
        &[(
            "word2vec",
            "word2vec skip-gram with negative sampling on text (one sentence per line, whitespace-separated words)",
        )]
    }

    fn defaults(&self, _model: &str, _: wildsgd::model::Update) -> Defaults {
        DEFAULTS
    }

    fn flags(&self) -> &'static [&'static str] {
        &["dim", "negatives", "window", "min-count", "subsample"]
    }

    fn check(&self, a: &TrainArgs) -> Result<(), Error> {
        super::sgns::check_args(a)
    }

    fn train(&self, run: &Run) -> Result<Done, Failure> {
        train(run)
    }

    fn loads(&self, c: &Checkpoint) -> bool {
        c.kind == Sgns::KIND && matches!(c.text("", tables::TASK), Ok("word2vec"))
    }

    fn eval(&self, c: &Checkpoint, name: &str, a: &EvalArgs) -> Result<(), Error> {
        eval(c, name, a)
    }

    fn predict(&self, c: &Checkpoint, name: &str, a: &PredictArgs) -> Result<Vec<String>, Error> {
        super::sgns::predict(c, name, a)
    }
}

/// word2vec's own defaults (`-iter 5 -alpha 0.025`, decaying linearly).
const DEFAULTS: Defaults = Defaults {
    epochs: 5,
    schedule: Schedule::Linear {
        initial: 0.025,
        samples: 0,
    },
    l2: 0.0,
    average: false,
    l2_per_row: false,
};

const DIM: usize = 100;
const WINDOW: usize = 5;
const MIN_COUNT: u64 = 5;
const SUBSAMPLE: f64 = 1e-3;

/// The model a word2vec checkpoint holds and its window and sub-sampling
/// threshold, checked against the corpus being trained on (the same
/// vocabulary and counts) and the options given.
fn resumed(c: &Checkpoint, run: &Run, words: &[String], counts: &[u64]) -> Result<(Sgns, usize, f64), Error> {
    let file = run.checkpoint_name();
    let wrong = |reason: String| Error::Checkpoint {
        file: file.clone(),
        what: wildsgd::checkpoint::CheckpointIssue::WrongModel { reason },
    };
    let saved = load(c, &file)?;
    if !saved.text {
        return Err(wrong("it holds a line model, not word2vec".into()));
    }
    if saved.names != words || saved.counts != counts {
        return Err(wrong(format!(
            "it was trained on another corpus, split or --min-count (vocabulary {}; this one has {})",
            saved.names.len(),
            words.len()
        )));
    }
    let subsample = c.f64(&file, tables::SUBSAMPLE)?;
    let a = &run.a;
    let dim = saved.model.embedding_dim();
    if a.dim.is_some_and(|d| d != dim)
        || a.negatives.is_some_and(|k| k != saved.negatives)
        || a.window.is_some_and(|w| w != saved.window)
        || a.subsample.is_some_and(|t| t != subsample)
    {
        return Err(wrong(format!(
            "dim {dim}, {} negatives, window {} and subsample {subsample} in the file, not what \
             --dim/--negatives/--window/--subsample ask",
            saved.negatives, saved.window
        )));
    }
    Ok((saved.model, saved.window, subsample))
}

fn train(run: &Run) -> Result<Done, Failure> {
    let (a, quiet) = (&run.a, run.quiet);
    let min_count = a.min_count.unwrap_or(MIN_COUNT);
    let full = read_corpus_with(&a.data, min_count, &run.read)?;
    let fraction = a.valid_fraction.unwrap_or(VALID_FRACTION);
    let seed = run.split_seed();
    let (train, held) = if fraction > 0.0 {
        let (t, h) = full.split(fraction, seed)?;
        (t, Some(h))
    } else {
        (full.clone(), None)
    };
    let counts = train.vocab().counts().to_vec();
    let words: Vec<String> = (0..full.vocab().len() as u32)
        .map(|i| full.vocab().word(i).to_string())
        .collect();
    let resumed = match &run.resume {
        Some(c) => Some(resumed(c, run, &words, &counts)?),
        None => None,
    };
    let sg = SkipGram {
        window: resumed.as_ref().map_or(a.window.unwrap_or(WINDOW), |r| r.1),
        subsample: resumed.as_ref().map_or(a.subsample.unwrap_or(SUBSAMPLE), |r| r.2),
        seed,
    };
    // The window, the threshold and the memory the pairs can take are
    // checked before any is made (the library's errors; a window out of
    // range names the flag's range); an epoch without pairs is an error
    // saying why.
    sg.check(&train).map_err(|e| match e {
        Error::InvalidParameter { name: "window", reason } if reason.contains("must be in") => param(
            "window",
            format!("must be in 1..={}, got {}", wildsgd::limits::MAX_WINDOW, sg.window),
        ),
        e => e,
    })?;
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
                "{}: no training sentence has two words (at --min-count {min_count}), so there are no skip-gram pairs",
                a.data.display(),
            ),
        ),
        e => e,
    })?;
    let per_epoch = first.as_slice().len();
    drop(first);
    // --distributed: a rank's share of each epoch's pairs; the rate's
    // linear decay runs over the rank's own samples.
    let share_of = |n: usize| run.ranks().map_or(n, |c| wildsgd::cluster::part(n, c.rank(), c.size()).len());
    let samples = run.epochs * share_of(per_epoch);
    let (model, trainer) = match resumed {
        None => {
            let (dim, k) = (a.dim.unwrap_or(DIM), a.negatives.unwrap_or(NEGATIVES));
            let model = Sgns::new(full.vocab().len(), dim, UnigramTable::new(&counts)?)?.negatives(k);
            (model, run.trainer().schedule(schedule(a, 0.025, samples)?))
        }
        Some((model, _, _)) => {
            (model, resumed_trainer(run, samples))
        }
    };
    wildsgd::word2vec::check_vocabulary(&model, &train)?;
    let (dim, k) = (model.embedding_dim(), model.get_negatives());
    let weights = run.start_weights(&model)?;
    say!(
        quiet,
        "data: {} (vocabulary {} at min-count {min_count}; training on {} sentences, {} tokens, about {} pairs/epoch; \
         {} sentences held out)",
        a.data.display(),
        full.vocab().len(),
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
    let mut json = Json::new();
    json.insert("data".into(), a.data.display().to_string().into());
    json.insert("model".into(), "word2vec".into());
    json.insert("vocabulary".into(), full.vocab().len().into());
    json.insert("rows".into(), per_epoch.into());
    json.insert("dim".into(), dim.into());
    let summary: Summary<'_> = Box::new(|w: &[f32], json: &mut Json| {
        let line = match &held {
            Some(h) => Some(pair_aucs(&model, w, &thin(&sg.pairs(h, 0)), &counts, seed)?),
            None => None,
        };
        json.insert("held_out_pair_auc".into(), serde_json::json!(line));
        Ok(line.map(|l| format!("held-out pair auc {l}")).into_iter().collect())
    });
    let described = Described {
        saved: saved(&model, true, words, counts.clone(), sg.window, sg.subsample),
        json,
        summary,
    };
    if let Some(c) = run.ranks() {
        say!(quiet, "distributed: {} ranks ({}), each on its share of every epoch's pairs", c.size(), c.transport());
    }
    let epochs = SkipGramEpochs::new(&train, sg);
    let data = match run.ranks() {
        Some(c) => Source::PerEpoch(Box::new(Share {
            all: epochs,
            rank: c.rank(),
            ranks: c.size(),
            seed,
            mine: Pairs::default(),
        })),
        None => Source::PerEpoch(Box::new(epochs)),
    };
    train_loop(run, &model, data, None, trainer, weights, described)
}

/// A rank's share of every epoch's skip-gram pairs under `--distributed`:
/// every rank reads the corpus and draws the epoch's pairs (the same on
/// every rank: one vocabulary, one sub-sampling), then keeps its part of a
/// seeded permutation of them, so the ranks' shares make up exactly the
/// epoch one process would train.
struct Share<'c> {
    all: SkipGramEpochs<'c>,
    rank: usize,
    ranks: usize,
    seed: u64,
    mine: Pairs,
}

impl EpochData<Pairs> for Share<'_> {
    fn epoch(&mut self, epoch: usize) -> Result<&Pairs, Error> {
        let all = self.all.epoch(epoch)?.as_slice();
        let order = wildsgd::schedule::once_permutation(self.seed ^ 0x5_4A2D, Some(epoch), all.len());
        let mine = order[wildsgd::cluster::part(all.len(), self.rank, self.ranks)]
            .iter()
            .map(|&i| all[i as usize])
            .collect();
        self.mine = Pairs::new(mine);
        Ok(&self.mine)
    }
}

/// Pair AUC of the file's skip-gram pairs (the model's window, no
/// sub-sampling; words not in the model's vocabulary are dropped, and
/// counted, before windows are formed) against their targets replaced by
/// negatives.
fn eval(ckpt: &Checkpoint, name: &str, a: &EvalArgs) -> Result<(), Error> {
    let m = load(ckpt, name)?;
    let w = &ckpt.weights[..];
    let index = index_of(m.names);
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
