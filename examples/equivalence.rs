//! Sequential equivalence: does each parallel policy converge to the loss
//! `Sequential` reaches? Prints one row per (model, policy, threads): the
//! converged training loss of both sides (mean ± sd over the seeds), the
//! relative gap, its confidence interval and the TOST verdict.
//!
//! ```text
//! cargo run --release --example equivalence -- --model logistic --policy racy,atomic \
//!     --threads 2,4,16 --seeds 5 [--samples N] [--json PATH]
//! ```
//!
//! Models: `logistic`, `hinge`, `squared` (the built-in `Linear` model on the
//! RCV1-like synthetic generator; `squared` regresses on the ±1 labels).
//! Policies: `racy`, `atomic`, `locked`, `sequential`, and two controls:
//! `delayed:TAU` (every update lands TAU samples late), which the harness
//! should call `different` for a large enough TAU, and `sequential+OFFSET`
//! (`Sequential` with seeds shifted by OFFSET: other sample orders), which it
//! should call `equivalent`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use serde::Serialize;
use wildsgd::data::{CsrDataset, Synthetic};
use wildsgd::equivalence::{Comparison, Harness, LaggedRule};
use wildsgd::{Error, Linear, Loss, Policy, Schedule, Trainer};

#[derive(Parser, Debug)]
#[command(about = "Compare parallel policies with Sequential: converged loss, relative gap, TOST verdict")]
struct Args {
    /// Models, comma-separated: logistic, hinge, squared.
    #[arg(long, value_delimiter = ',', default_value = "logistic")]
    model: Vec<String>,
    /// Policies, comma-separated: racy, atomic, locked, sequential, and the
    /// controls delayed:TAU and sequential+OFFSET.
    #[arg(long, value_delimiter = ',', default_value = "racy,atomic")]
    policy: Vec<String>,
    /// Thread counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2,4,16")]
    threads: Vec<usize>,
    /// Seeds per side (K >= 2); the pairs use seeds 1..=K.
    #[arg(long, default_value_t = 5)]
    seeds: usize,
    /// Rows of the synthetic problem.
    #[arg(long, default_value_t = 20_000)]
    samples: usize,
    /// Features of the synthetic problem.
    #[arg(long, default_value_t = 5_000)]
    features: usize,
    /// Epochs per run.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Initial learning rate (EpochDecay schedule); default 0.5, or 0.2 for
    /// `squared` (its gradient is unbounded: at 0.5 its final loss is several
    /// times noisier across seeds).
    #[arg(long)]
    lr: Option<f32>,
    /// Learning-rate decay per epoch (EpochDecay schedule).
    #[arg(long, default_value_t = 0.6)]
    decay: f32,
    /// L2 strength of the model.
    #[arg(long, default_value_t = 1e-4)]
    l2: f32,
    /// Equivalence margin on the relative gap, a fraction (0.01 = 1 %).
    #[arg(long, default_value_t = 0.01)]
    tolerance: f64,
    /// Level of each one-sided test (the interval covers 1 - 2 alpha).
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Losses below this are raised to it before taking ratios.
    #[arg(long, default_value_t = 0.05)]
    loss_floor: f64,
    /// Loss evaluations per epoch (points of the loss curves).
    #[arg(long, default_value_t = 1)]
    evals_per_epoch: usize,
    /// Print each comparison's loss curves side by side.
    #[arg(long)]
    curves: bool,
    /// Also write the rows as a JSON array to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One row of the table (and of the JSON array).
#[derive(Serialize)]
struct Row {
    model: String,
    policy: String,
    threads: usize,
    seeds: usize,
    seq_mean: f64,
    seq_sd: f64,
    par_mean: f64,
    par_sd: f64,
    rel_gap: f64,
    ci_low: f64,
    ci_high: f64,
    p_value: f64,
    tolerance: f64,
    verdict: String,
    caught_up_epoch: Option<usize>,
    time_ratio: f64,
}

enum Side {
    Policy(Policy),
    Delayed(usize),
    Reseeded(u64),
}

fn parse_side(s: &str) -> Result<Side, String> {
    if let Some(tau) = s.strip_prefix("delayed:") {
        return tau
            .parse()
            .map(Side::Delayed)
            .map_err(|e| format!("delayed:TAU needs a sample count, got {tau:?}: {e}"));
    }
    if let Some(offset) = s.strip_prefix("sequential+") {
        return offset
            .parse()
            .map(Side::Reseeded)
            .map_err(|e| format!("sequential+OFFSET needs a seed offset, got {offset:?}: {e}"));
    }
    s.parse::<Policy>().map(Side::Policy).map_err(|e| e.to_string())
}

fn loss_of(name: &str) -> Result<Loss, String> {
    match name {
        "logistic" => Ok(Loss::Logistic),
        "hinge" => Ok(Loss::Hinge),
        "squared" => Ok(Loss::Squared),
        _ => Err(format!("unknown model {name:?}; expected logistic, hinge or squared")),
    }
}

fn pct(x: f64) -> String {
    format!("{:+.2}%", 100.0 * x)
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let losses = args.model.iter().map(|m| loss_of(m)).collect::<Result<Vec<_>, _>>()?;
    let sides = args
        .policy
        .iter()
        .map(|p| parse_side(p))
        .collect::<Result<Vec<_>, _>>()?;
    if args.threads.contains(&0) {
        return Err("thread counts must be at least 1".into());
    }
    let train: CsrDataset = Synthetic {
        rows: args.samples,
        features: args.features,
        ..Synthetic::default()
    }
    .generate()?;
    let trainer = |loss: Loss| {
        let default_lr = if loss == Loss::Squared { 0.2 } else { 0.5 };
        Trainer::new()
            .epochs(args.epochs)
            .schedule(Schedule::EpochDecay {
                initial: args.lr.unwrap_or(default_lr),
                decay: args.decay,
            })
            .evals_per_epoch(args.evals_per_epoch)
            .seed(1)
    };
    println!(
        "synthetic RCV1-like: {} rows x {} features ({} nonzeros); {} epochs, EpochDecay({}, {}), L2 {}; \
         {} seeds per side; tolerance ±{:.2}%, {:.0}% intervals; {} CPUs available",
        train.len(),
        train.n_features(),
        train.nnz(),
        args.epochs,
        args.lr
            .map_or_else(|| "0.5 (squared: 0.2)".to_string(), |lr| lr.to_string()),
        args.decay,
        args.l2,
        args.seeds,
        100.0 * args.tolerance,
        100.0 * (1.0 - 2.0 * args.alpha),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    println!(
        "{:<9} {:<11} {:>7} {:>20} {:>20} {:>8} {:>20} {:>10} {:>6} {:>8}",
        "model",
        "policy",
        "threads",
        "sequential loss",
        "parallel loss",
        "rel gap",
        "90% CI of gap",
        "verdict",
        "caught",
        "time"
    );
    let mut rows = Vec::new();
    for (&loss, name) in losses.iter().zip(&args.model) {
        let model = Linear::new(loss, train.n_features()).bias(true).l2(args.l2, &train);
        let trainer = trainer(loss);
        let mut harness = Harness::new(&trainer, &model, &train)
            .seeds(args.seeds)
            .tolerance(args.tolerance)
            .alpha(args.alpha)
            .loss_floor(args.loss_floor);
        for side in &sides {
            for (i, &threads) in args.threads.iter().enumerate() {
                if matches!(side, Side::Reseeded(_)) && i > 0 {
                    continue; // one thread whatever the list says: run it once
                }
                let label = match *side {
                    Side::Policy(p) => p.to_string(),
                    Side::Delayed(tau) => format!("delayed:{tau}"),
                    Side::Reseeded(offset) => format!("sequential+{offset}"),
                };
                let outcome = match *side {
                    Side::Policy(p) => harness.policy(p, threads),
                    Side::Delayed(tau) => harness.custom(&label, threads, |t| {
                        t.job(&model, &train).run_with_rule(LaggedRule::new(tau), &label)
                    }),
                    Side::Reseeded(offset) => harness.custom(&label, 1, |t| {
                        let t = t.clone().policy(Policy::Sequential);
                        t.clone().seed(t.get_seed() + offset).fit(&model, &train)
                    }),
                };
                let cmp: Comparison = match outcome {
                    Ok(cmp) => cmp,
                    // A diverged parallel run is as different as it gets; report it and go on.
                    Err(Error::Diverged { epoch: diverged_at, .. }) => {
                        let seq = harness.sequential()?;
                        let seq_losses: Vec<f64> = seq.iter().map(|r| r.final_loss).collect();
                        let k = seq_losses.len() as f64;
                        let seq_mean = seq_losses.iter().sum::<f64>() / k;
                        let seq_sd =
                            (seq_losses.iter().map(|l| (l - seq_mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt();
                        println!(
                            "{name:<9} {label:<11} {threads:>7} {:>20} {:>20} {:>8} {:>20} {:>10} {:>6} {:>8}",
                            format!("{seq_mean:.5} ± {seq_sd:.5}"),
                            format!("diverged (epoch {diverged_at})"),
                            "-",
                            "-",
                            "different",
                            "-",
                            "-"
                        );
                        rows.push(Row {
                            model: name.clone(),
                            policy: label,
                            threads,
                            seeds: args.seeds,
                            seq_mean,
                            seq_sd,
                            par_mean: f64::NAN,
                            par_sd: f64::NAN,
                            rel_gap: f64::NAN,
                            ci_low: f64::NAN,
                            ci_high: f64::NAN,
                            p_value: f64::NAN,
                            tolerance: args.tolerance,
                            verdict: "different".into(),
                            caught_up_epoch: None,
                            time_ratio: f64::NAN,
                        });
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                let row = Row {
                    model: name.clone(),
                    policy: cmp.policy.clone(),
                    threads: cmp.threads,
                    seeds: cmp.seeds,
                    seq_mean: cmp.seq_mean,
                    seq_sd: cmp.seq_sd,
                    par_mean: cmp.par_mean,
                    par_sd: cmp.par_sd,
                    rel_gap: cmp.rel_gap,
                    ci_low: cmp.ci_low,
                    ci_high: cmp.ci_high,
                    p_value: cmp.p_value,
                    tolerance: cmp.tolerance,
                    verdict: cmp.verdict.to_string(),
                    caught_up_epoch: cmp.caught_up_epoch(),
                    time_ratio: cmp.time_ratio(),
                };
                println!(
                    "{:<9} {:<11} {:>7} {:>20} {:>20} {:>8} {:>20} {:>10} {:>6} {:>7.2}x",
                    row.model,
                    row.policy,
                    row.threads,
                    format!("{:.5} ± {:.5}", row.seq_mean, row.seq_sd),
                    format!("{:.5} ± {:.5}", row.par_mean, row.par_sd),
                    pct(row.rel_gap),
                    format!("[{}, {}]", pct(row.ci_low), pct(row.ci_high)),
                    row.verdict,
                    row.caught_up_epoch
                        .map_or_else(|| "-".to_string(), |e| format!("ep {e}")),
                    row.time_ratio,
                );
                if args.curves {
                    println!("{cmp}");
                }
                rows.push(row);
            }
        }
    }
    println!(
        "caught: first epoch from which the mean parallel loss curve stays within the tolerance; \
         time: parallel / sequential update seconds"
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
