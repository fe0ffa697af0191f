//! word2vec (skip-gram, negative sampling) on the Brown corpus.
//!
//! ```text
//! bash scripts/fetch-data        # once: data-cache/brown/tokens.txt
//! cargo run --release --example word2vec -- [epochs] [dim] [max_train_sentences] [runs] [learning_rate]
//! # defaults: 3 100 all 2 0.025; runs 1 = Sequential only, 2 = also RacyRule at 2 threads
//! # environment: WINDOW (5), SUBSAMPLE (1e-3), NEGATIVES (5)
//! ```
//!
//! Holds out 10 % of the sentences, trains on the rest with word2vec's
//! settings (window 5, 5 negatives, sub-sampling t = 1e-3, min_count 5,
//! learning rate 0.025 decaying linearly), and prints the loss curve, the AUC
//! of held-out (word, context) pairs against pairs with a sampled negative
//! context (from unigram^0.75, as in training, and uniform), the same AUC on
//! a fresh draw of training pairs (to tell under-fitting from
//! over-fitting), nearest neighbours of a few frequent words, and samples/s
//! at 1 and 2 threads.

use wildsgd::data::{read_corpus, Dataset, SkipGram};
use wildsgd::model::{corrupt_targets, Sgns, UnigramTable};
use wildsgd::word2vec::train_skipgram;
use wildsgd::{Policy, Schedule, Trainer};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// A setting from the environment (`WINDOW`, `SUBSAMPLE`, `NEGATIVES`).
fn env(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn run() -> Result<(), wildsgd::Error> {
    let arg = |i: usize, default: usize| std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (epochs, dim, max_sentences) = (arg(1, 3), arg(2, 100), arg(3, usize::MAX));
    let path = "data-cache/brown/tokens.txt";
    if !std::path::Path::new(path).exists() {
        eprintln!("{path} is missing: run `bash scripts/fetch-data` first");
        return Ok(());
    }
    let full = read_corpus(path, 5)?;
    let (mut train, held) = full.split(0.1, 1)?;
    if max_sentences < train.n_sentences() {
        train = train
            .split(1.0 - max_sentences as f64 / train.n_sentences() as f64, 2)?
            .0;
    }
    println!(
        "Brown: vocabulary {} (min_count 5), train {} sentences / {} tokens, held-out {} sentences",
        full.vocab().len(),
        train.n_sentences(),
        train.n_tokens(),
        held.n_sentences()
    );
    let sg = SkipGram {
        window: env("WINDOW", 5.0) as usize,
        subsample: env("SUBSAMPLE", 1e-3),
        seed: 1,
    };
    let per_epoch = sg.pairs(&train, 0).len();
    let table = UnigramTable::new(train.vocab().counts())?;
    let model = Sgns::new(full.vocab().len(), dim, table.clone())?.negatives(env("NEGATIVES", 5.0) as usize);
    // Held-out pairs drawn as training pairs are (sub-sampled, dynamic
    // window), and, harder, every co-occurrence within 5 words.
    let thin = |p: wildsgd::data::Pairs| -> Vec<(u32, u32)> {
        p.as_slice().iter().copied().step_by(p.len() / 100_000 + 1).collect()
    };
    let held_pairs = thin(sg.pairs(&held, 0));
    let all_pairs = thin(SkipGram { subsample: 0.0, ..sg }.pairs(&held, 0));
    let negatives = corrupt_targets(&held_pairs, &table, 99);
    let all_negatives = corrupt_targets(&all_pairs, &table, 98);
    let train_pairs = thin(sg.pairs(&train, 1000));
    let train_negatives = corrupt_targets(&train_pairs, &table, 96);
    let uniform = UnigramTable::with_power(train.vocab().counts(), 0.0)?;
    let uniform_negatives = corrupt_targets(&held_pairs, &uniform, 97);

    for threads in [1, 2].into_iter().take(arg(4, 2)) {
        let trainer = Trainer::new()
            .policy(if threads == 1 { Policy::Sequential } else { Policy::Racy })
            .threads(threads)
            .epochs(epochs)
            .evals_per_epoch(4)
            .loss_rows(Some(20_000))
            .schedule(Schedule::Linear {
                initial: std::env::args().nth(5).and_then(|a| a.parse().ok()).unwrap_or(0.025),
                samples: (epochs * per_epoch) as u64,
            })
            .seed(1);
        let t = std::time::Instant::now();
        let trained = train_skipgram(&trainer, &model, &train, &sg)?;
        let w = &trained.weights;
        println!(
            "\n{} thread(s) ({}): {} pairs/epoch, {:.0} samples/s (update time), {:.1} s wall",
            threads,
            trainer.get_policy(),
            per_epoch,
            trained.report.samples_per_sec(),
            t.elapsed().as_secs_f64()
        );
        println!("loss curve (samples, update s, loss on 20k training pairs):");
        for p in &trained.report.trace {
            println!("  {:>10} {:>8.2} {:.4}", p.samples, p.update_seconds, p.loss);
        }
        println!(
            "held-out AUC, skip-gram pairs as trained on ({} pairs vs unigram^0.75 negatives): {:.4}",
            held_pairs.len(),
            model.pair_auc(w, &held_pairs, &negatives)
        );
        println!(
            "training-pair AUC (a fresh draw of training pairs vs unigram^0.75 negatives): {:.4}",
            model.pair_auc(w, &train_pairs, &train_negatives)
        );
        println!(
            "held-out AUC, skip-gram pairs vs uniform negatives: {:.4}",
            model.pair_auc(w, &held_pairs, &uniform_negatives)
        );
        println!(
            "held-out AUC, every co-occurrence within 5 words, no sub-sampling ({} pairs): {:.4}",
            all_pairs.len(),
            model.pair_auc(w, &all_pairs, &all_negatives)
        );
        if threads == 1 {
            for word in ["man", "city", "money", "president", "week", "church"] {
                let Some(id) = train.vocab().id(word) else { continue };
                let nn: Vec<String> = model
                    .nearest(w, id, 8)
                    .into_iter()
                    .map(|(j, c)| format!("{} {:.2}", train.vocab().word(j), c))
                    .collect();
                println!("  {word:>10}: {}", nn.join(", "));
            }
        }
    }
    Ok(())
}
