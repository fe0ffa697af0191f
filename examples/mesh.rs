//! A mesh of three logistic classifiers on three domains of the SpamAssassin
//! corpus (`data/spamassassin.svm.gz`, rows in sub-corpus order), trained at
//! once in one pool, against training the same three one after another.
//!
//! Domains: `easy-1` = easy-ham-1 + spam-1, `easy-2` = easy-ham-2 + spam-2,
//! `hard` = hard-ham-1 + all spam (so every spam row goes to two cortices,
//! which exercises the parallel join).
//!
//! ```text
//! cargo run --release --example mesh -- [--threads 2] [--epochs 10] [--reps 5]
//! ```

use std::time::Instant;

use clap::Parser;
use wildsgd::data::{read_libsvm, CsrDataset, LibsvmOptions};
use wildsgd::mesh::{JoinMode, Mesh, Routes};
use wildsgd::{Linear, Loss, Policy, Trainer};

#[derive(Parser)]
struct Args {
    /// The corpus (rows in sub-corpus order, as `scripts/spam-to-libsvm` writes them).
    #[arg(long, default_value = "data/spamassassin.svm.gz")]
    data: String,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Repetitions; times are medians.
    #[arg(long, default_value_t = 5)]
    reps: usize,
}

// Row ranges of the sub-corpora (data/README.md).
const EASY_HAM_1: std::ops::Range<usize> = 0..2_500;
const EASY_HAM_2: std::ops::Range<usize> = 2_500..3_900;
const HARD_HAM: std::ops::Range<usize> = 3_900..4_150;
const SPAM_1: std::ops::Range<usize> = 4_150..4_650;
const SPAM_2: std::ops::Range<usize> = 4_650..6_046;
const NAMES: [&str; 3] = ["easy-1", "easy-2", "hard"];

fn routes(i: usize) -> Routes {
    match i {
        i if EASY_HAM_1.contains(&i) => Routes::only(0),
        i if EASY_HAM_2.contains(&i) => Routes::only(1),
        i if HARD_HAM.contains(&i) => Routes::only(2),
        i if SPAM_1.contains(&i) => Routes::only(0).with(2),
        i if SPAM_2.contains(&i) => Routes::only(1).with(2),
        _ => Routes::none(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let data = read_libsvm(&args.data, &LibsvmOptions::default())?.data;
    if data.len() != SPAM_2.end {
        return Err(format!(
            "{}: expected {} rows in sub-corpus order, found {}",
            args.data,
            SPAM_2.end,
            data.len()
        )
        .into());
    }
    let d = data.n_features();
    // Each domain's own rows, for training the cortices one after another.
    let parts: Vec<CsrDataset> = (0..3)
        .map(|c| data.subset(&(0..data.len()).filter(|&i| routes(i).contains(c)).collect::<Vec<_>>()))
        .collect();
    let models: Vec<Linear> = parts
        .iter()
        .map(|p| Linear::new(Loss::Logistic, d).bias(true).l2(1e-4, p))
        .collect();
    let trainer = Trainer::new().threads(args.threads).epochs(args.epochs).seed(1);
    let mesh = |join| {
        let mut m = Mesh::new(trainer.clone());
        for (name, model) in NAMES.iter().zip(&models) {
            m = m.cortex(name, model, Policy::Racy);
        }
        m.route(|_: &CsrDataset, i| Ok(routes(i))).join(join)
    };

    println!(
        "SpamAssassin: {} rows, {d} features; {} threads, {} epochs, median of {} reps",
        data.len(),
        args.threads,
        args.epochs,
        args.reps
    );
    let (mut apart, mut together) = (vec![], vec![[0.0; 3]; 0]);
    let mut last = None;
    for _ in 0..args.reps {
        let clock = Instant::now();
        let mut alone = Vec::new();
        for (p, m) in parts.iter().zip(&models) {
            alone.push(trainer.clone().policy(Policy::Racy).fit(m, p)?);
        }
        let wall = clock.elapsed().as_secs_f64();
        apart.push((
            wall,
            alone.iter().map(|t| t.report.update_seconds()).sum::<f64>(),
            alone,
        ));
        let mut times = [0.0; 3];
        for (k, join) in [JoinMode::Auto, JoinMode::Never, JoinMode::Always]
            .into_iter()
            .enumerate()
        {
            let m = mesh(join);
            let clock = Instant::now();
            let trained = m.fit(&data)?;
            times[k] = clock.elapsed().as_secs_f64();
            if join == JoinMode::Auto {
                let update: f64 = trained.report.epochs.iter().map(|e| e.update_seconds).sum();
                times[0] = update;
                last = Some(trained);
            } else {
                times[k] = trained.report.epochs.iter().map(|e| e.update_seconds).sum();
            }
        }
        together.push(times);
    }
    let trained = last.expect("at least one rep");
    let alone = &apart.last().expect("at least one rep").2;
    println!("\n| cortex | rows | mesh loss | alone loss | mesh accuracy |");
    println!("|---|---|---|---|---|");
    let final_epoch = trained.report.epochs.last().expect("epochs");
    for (c, a) in final_epoch.cortices.iter().zip(alone) {
        println!(
            "| {} | {} | {:.5} | {:.5} | {:.4} |",
            c.name,
            c.samples,
            c.loss,
            a.report.final_loss().unwrap_or(f64::NAN),
            c.accuracy.unwrap_or(f64::NAN)
        );
    }
    let steps = final_epoch.steps as f64 * args.epochs as f64;
    let seq_update = median(apart.iter().map(|a| a.1).collect());
    println!("\nupdate seconds for all {steps} cortex steps (median):");
    println!(
        "  one after another: {seq_update:.4} s ({:.0} steps/s)",
        steps / seq_update
    );
    for (k, name) in ["mesh, auto join", "mesh, never join", "mesh, always join"]
        .iter()
        .enumerate()
    {
        let t = median(together.iter().map(|x| x[k]).collect());
        println!(
            "  {name}: {t:.4} s ({:.0} steps/s, {:.2}x one after another)",
            steps / t,
            seq_update / t
        );
    }
    println!("  auto chose join on workers: {:?}", trained.report.joined);
    Ok(())
}
