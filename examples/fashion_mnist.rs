//! Softmax regression on Fashion-MNIST: the dense workload, where every
//! sample updates a weight of every class.
//!
//! ```text
//! bash scripts/fetch-data                                    # once: data-cache/fashion-mnist/
//! cargo run --release --example fashion_mnist                # defaults, 1 and 2 threads
//! cargo run --release --example fashion_mnist -- --threads 1,2,4 --policy atomic --epochs 10
//! ```
//!
//! For each thread count it trains from scratch on the 60,000 training
//! images (pixels / 255, zeros omitted, 784 features), printing each epoch's
//! training objective and accuracy and the test accuracy, then the test
//! confusion matrix and the update throughput (samples/s, evaluation off the
//! clock).

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use wildsgd::data::{read_libsvm, CsrDataset, LibsvmOptions};
use wildsgd::model::Softmax;
use wildsgd::{Control, Policy, Schedule, Trainer};

#[derive(Parser, Debug)]
#[command(about = "Softmax regression on Fashion-MNIST at several thread counts")]
struct Args {
    /// Directory holding train.svm.gz and test.svm.gz.
    #[arg(long, default_value = "data-cache/fashion-mnist")]
    data: PathBuf,
    /// Thread counts to train with, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Update policy: sequential, racy, atomic, locked or batched:N.
    #[arg(long, default_value = "racy")]
    policy: Policy,
    /// Passes over the training data.
    #[arg(long, default_value_t = 6)]
    epochs: usize,
    /// Learning rate of the first epoch.
    #[arg(long, default_value_t = 0.01)]
    lr: f32,
    /// Factor applied to the learning rate at each new epoch.
    #[arg(long, default_value_t = 0.6)]
    decay: f32,
    /// L2 strength λ (objective: mean cross-entropy + λ/2 ‖W‖², biases excluded).
    #[arg(long, default_value_t = 1e-4)]
    l2: f32,
    /// Train on only the first N training rows (0: all).
    #[arg(long, default_value_t = 0)]
    train_rows: usize,
    /// Seed for the sample orders.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the test confusion matrix after each run.
    #[arg(long)]
    confusion: bool,
    /// Return the average of the last epoch's iterates (tail averaging):
    /// `--average false` for the last iterate.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    average: bool,
}

fn read(path: PathBuf, n_features: Option<usize>) -> Result<CsrDataset, wildsgd::Error> {
    let clock = Instant::now();
    let opts = LibsvmOptions {
        n_features,
        ..LibsvmOptions::default()
    };
    let d = read_libsvm(&path, &opts)?.data;
    println!(
        "read {} ({} rows, {} features, {} nonzeros) in {:.2} s",
        path.display(),
        d.len(),
        d.n_features(),
        d.nnz(),
        clock.elapsed().as_secs_f64()
    );
    Ok(d)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let train_path = args.data.join("train.svm.gz");
    if !train_path.exists() {
        return Err(format!(
            "{} is absent; run `bash scripts/fetch-data` first",
            train_path.display()
        )
        .into());
    }
    // 784 features whatever the largest pixel index present: test and train agree.
    let mut train = read(train_path, Some(784))?;
    let test = read(args.data.join("test.svm.gz"), Some(784))?;
    if args.train_rows > 0 && args.train_rows < train.len() {
        train = train.subset(&(0..args.train_rows).collect::<Vec<_>>());
        println!("training on the first {} rows", train.len());
    }
    let model = Softmax::for_data(&train)?.l2(args.l2, &train);
    let schedule = Schedule::EpochDecay {
        initial: args.lr,
        decay: args.decay,
    };
    println!(
        "model: softmax, {} classes x {} features (+ bias), λ = {}; schedule: EpochDecay {{ initial: {}, decay: {} }}, \
         {} epochs, policy {}, seed {}, tail averaging {}",
        model.n_classes(),
        model.n_features(),
        args.l2,
        args.lr,
        args.decay,
        args.epochs,
        args.policy,
        args.seed,
        args.average
    );
    let mut summary = Vec::new();
    for &threads in &args.threads {
        let trainer = Trainer::new()
            .threads(threads)
            .policy(args.policy)
            .epochs(args.epochs)
            .schedule(schedule)
            .seed(args.seed)
            .average(args.average);
        println!("\n{} x{threads}", args.policy);
        println!(
            "{:>5} {:>10} {:>12} {:>10} {:>10} {:>12}",
            "epoch", "lr", "train obj", "train acc", "test acc", "samples/s"
        );
        let trained = trainer
            .job(&model, &train)
            .validation(&test)
            .on_epoch(|e| {
                println!(
                    "{:>5} {:>10.5} {:>12.5} {:>10.4} {:>10.4} {:>12.0}",
                    e.epoch,
                    e.learning_rate,
                    e.train_loss,
                    e.train_accuracy.unwrap_or(f64::NAN),
                    e.valid_accuracy.unwrap_or(f64::NAN),
                    e.samples_per_sec
                );
                Control::Continue
            })
            .run()?;
        let confusion = model.confusion(&trained.weights, &test)?;
        if args.confusion {
            println!("{confusion}");
        }
        let r = &trained.report;
        println!(
            "{} x{threads}: final training objective {:.5}, test accuracy {:.4}, {:.0} samples/s over {:.2} s of updates",
            args.policy,
            r.final_loss().unwrap_or(f64::NAN),
            confusion.accuracy(),
            r.samples_per_sec(),
            r.update_seconds()
        );
        summary.push((
            threads,
            r.final_loss().unwrap_or(f64::NAN),
            confusion.accuracy(),
            r.samples_per_sec(),
        ));
    }
    println!(
        "\n{:>7} {:>12} {:>9} {:>12}",
        "threads", "train obj", "test acc", "samples/s"
    );
    for (t, loss, acc, sps) in summary {
        println!("{t:>7} {loss:>12.5} {acc:>9.4} {sps:>12.0}");
    }
    Ok(())
}
