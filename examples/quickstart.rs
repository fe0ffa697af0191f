//! The main job: train logistic regression on the built-in RCV1-like
//! synthetic problem and print the per-epoch report.
//!
//! ```text
//! cargo run --release --example quickstart
//! cargo run --release --example quickstart -- --threads 2 --policy atomic --epochs 8
//! ```

use std::time::Instant;

use clap::Parser;
use wildsgd::data::Synthetic;
use wildsgd::{Linear, Loss, Policy, Trainer};

#[derive(Parser)]
#[command(about = "Train logistic regression on an RCV1-like synthetic problem")]
struct Args {
    /// Rows to generate (10% held out for validation).
    #[arg(long, default_value_t = 200_000)]
    rows: usize,
    /// Features (RCV1 has 47,236).
    #[arg(long, default_value_t = 47_236)]
    features: usize,
    /// Zipf exponent of feature popularity (0 = uniform).
    #[arg(long, default_value_t = 1.0)]
    zipf: f64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Passes over the data.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// sequential, racy, atomic or locked.
    #[arg(long, default_value = "racy")]
    policy: Policy,
    /// L2 strength.
    #[arg(long, default_value_t = 1e-6)]
    l2: f32,
    /// Seed for data, initialisation and order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> Result<(), wildsgd::Error> {
    let args = Args::parse();
    let clock = Instant::now();
    let data = Synthetic {
        rows: args.rows,
        features: args.features,
        zipf: args.zipf,
        seed: args.seed,
        ..Synthetic::default()
    }
    .generate()?;
    let (train, valid) = data.split(0.1, args.seed)?;
    println!(
        "data: {} train / {} validation rows, {} features, {:.1} nonzeros per row (generated in {:.2} s)",
        train.len(),
        valid.len(),
        train.n_features(),
        train.nnz() as f64 / train.len() as f64,
        clock.elapsed().as_secs_f64()
    );
    let model = Linear::new(Loss::Logistic, train.n_features())
        .bias(true)
        .l2(args.l2, &train);
    let mut trainer = Trainer::new().epochs(args.epochs).policy(args.policy).seed(args.seed);
    if let Some(t) = args.threads {
        trainer = trainer.threads(t);
    }
    let trained = trainer
        .job(&model, &train)
        .validation(&valid)
        .on_epoch(|e| {
            println!(
                "epoch {}: train loss {:.5}, valid loss {:.5}, valid acc {:.4}, {:.0} samples/s",
                e.epoch,
                e.train_loss,
                e.valid_loss.unwrap_or(f64::NAN),
                e.valid_accuracy.unwrap_or(f64::NAN),
                e.samples_per_sec
            );
            wildsgd::Control::Continue
        })
        .run()?;
    println!("\n{}", trained.report);
    println!(
        "overall: {:.0} samples/s over {:.3} s of updates",
        trained.report.samples_per_sec(),
        trained.report.update_seconds()
    );
    Ok(())
}
