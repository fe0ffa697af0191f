//! Matrix factorisation on MovieLens 100k: a seeded random 90/10 split,
//! per-epoch training objective and held-out RMSE, then update throughput at
//! 1 and 2 threads.
//!
//! ```text
//! bash scripts/fetch-data   # once, for data-cache/ml-100k.inter
//! cargo run --release --example movielens
//! cargo run --release --example movielens -- path/to/ratings.tsv --rank 50 --l2 0.05 --epochs 30
//! cargo run --release --example movielens -- --compare-sequential   # sequential vs racy x2
//! ```

use std::cell::RefCell;
use std::time::Instant;

use clap::Parser;
use wildsgd::data::read_ratings;
use wildsgd::model::MatrixFactorization;
use wildsgd::{Policy, Schedule, Trainer};

#[derive(Parser)]
#[command(about = "Matrix factorisation on a ratings file (MovieLens 100k by default)")]
struct Args {
    /// Ratings file: `user item rating ...` per line, optional header.
    #[arg(default_value = "data-cache/ml-100k.inter")]
    path: String,
    /// Length of the factor vectors.
    #[arg(long, default_value_t = MatrixFactorization::DEFAULT_RANK)]
    rank: usize,
    /// L2 strength λ (per rating, on the touched biases and factors).
    #[arg(long, default_value_t = MatrixFactorization::DEFAULT_L2)]
    l2: f32,
    /// Learning rate of epoch 0.
    #[arg(long)]
    lr: Option<f32>,
    /// Factor applied to the learning rate at each epoch.
    #[arg(long)]
    decay: Option<f32>,
    /// Passes over the training ratings.
    #[arg(long, default_value_t = MatrixFactorization::DEFAULT_EPOCHS)]
    epochs: usize,
    /// Standard deviation of the initial factors.
    #[arg(long, default_value_t = MatrixFactorization::DEFAULT_INIT_STD)]
    init_std: f32,
    /// Worker threads for the main run (RacyRule).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Fraction held out for testing.
    #[arg(long, default_value_t = 0.1)]
    test: f64,
    /// Seed of the split and of the trainer.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Epochs of each throughput run (0 skips them).
    #[arg(long, default_value_t = 5)]
    speed_epochs: usize,
    /// Also train with `Sequential` (same settings and seed) and compare the
    /// converged objective and RMSE with the main run's.
    #[arg(long)]
    compare_sequential: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let ratings = read_ratings(&args.path)?;
    let (train, test) = ratings.split(args.test, args.seed)?;
    let model = MatrixFactorization::for_ratings(&train, args.rank)?
        .l2(args.l2, &train)
        .init_std(args.init_std);
    let Schedule::EpochDecay { initial, decay } = MatrixFactorization::DEFAULT_SCHEDULE else {
        unreachable!("the default schedule is an epoch decay")
    };
    let schedule = Schedule::EpochDecay {
        initial: args.lr.unwrap_or(initial),
        decay: args.decay.unwrap_or(decay),
    };
    let trainer = Trainer::new()
        .epochs(args.epochs)
        .schedule(schedule)
        .policy(Policy::Racy)
        .threads(args.threads)
        .seed(args.seed);
    println!(
        "{}: {} ratings, {} users, {} items; train {}, test {} (seed {})",
        args.path,
        ratings.len(),
        ratings.n_users(),
        ratings.n_items(),
        train.len(),
        test.len(),
        args.seed
    );
    println!(
        "settings: rank {}, λ {}, init_std {}, {:?}, {} epochs, μ = {:.4}, clip {:?}, racy x{}",
        model.rank(),
        model.get_l2(),
        args.init_std,
        schedule,
        args.epochs,
        model.get_global_mean(),
        model.get_clip(),
        args.threads
    );
    println!(
        "{:>5} {:>9} {:>11} {:>10} {:>12} {:>12}",
        "epoch", "lr", "objective", "test_rmse", "test_rmse_nc", "samples/s"
    );
    // Each epoch's weights go to the clamped RMSE; its report to the line.
    let rmse = RefCell::new(Vec::new());
    let clock = Instant::now();
    let trained = trainer
        .job(&model, &train)
        .validation(&test)
        .on_weights(|_, w| {
            rmse.borrow_mut().push(model.rmse(w, &test)?);
            Ok(())
        })
        .on_epoch(|e| {
            let clamped = rmse.borrow().last().copied().unwrap_or(f64::NAN);
            let unclamped = (2.0 * e.valid_loss.unwrap_or(f64::NAN)).sqrt();
            println!(
                "{:>5} {:>9.5} {:>11.5} {:>10.5} {:>12.5} {:>12.0}",
                e.epoch, e.learning_rate, e.train_loss, clamped, unclamped, e.samples_per_sec
            );
            wildsgd::Control::Continue
        })
        .run()?;
    let test_rmse = model.rmse(&trained.weights, &test)?;
    println!(
        "held-out RMSE {test_rmse:.4} (clamped to {:?}; unclamped {:.4}); {:.1} s wall",
        model.get_clip(),
        model.clone().clip(None).rmse(&trained.weights, &test)?,
        clock.elapsed().as_secs_f64()
    );

    if args.compare_sequential {
        let seq = trainer.clone().policy(Policy::Sequential).fit(&model, &train)?;
        println!(
            "converged objective: sequential {:.5} (test RMSE {:.4}) vs racy x{} {:.5} (test RMSE {:.4}), gap {:+.3}%",
            seq.report.final_loss().unwrap_or(f64::NAN),
            model.rmse(&seq.weights, &test)?,
            args.threads,
            trained.report.final_loss().unwrap_or(f64::NAN),
            test_rmse,
            100.0
                * (trained.report.final_loss().unwrap_or(f64::NAN) / seq.report.final_loss().unwrap_or(f64::NAN) - 1.0)
        );
    }
    if args.speed_epochs > 0 {
        for threads in [1, 2] {
            let t = trainer.clone().threads(threads).epochs(args.speed_epochs);
            let r = t.fit(&model, &train)?.report;
            println!(
                "throughput racy x{threads}: {:.0} samples/s ({} samples in {:.3} update-s)",
                r.samples_per_sec(),
                r.samples(),
                r.update_seconds()
            );
        }
    }
    Ok(())
}
