//! Fits the coherence simulator's cost constants on the 16-core machine's
//! figures (`shared/DEVICE.md`) and reports every figure's error, fitted or
//! held out, and the predicted ranking of strategies against the measured one.
//!
//! ```text
//! cargo run --release --example calibrate_coherence -- --out benches/results/simulated
//! ```
//!
//! Writes `DIR/calibration.md` and `DIR/calibration.json`. Every predicted
//! figure is a **prediction** of `wildsgd::policy::coherence`, not a
//! measurement.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use serde::Serialize;
use wildsgd::data::{Synthetic, SyntheticRatings};
use wildsgd::policy::coherence::{self, base_ratio, Costs, Replay, Settings};
use wildsgd::{Linear, Loss, MatrixFactorization, Model, Policy, Schedule};

#[derive(Parser, Debug)]
#[command(about = "Fit the coherence simulator on the 16-core figures")]
struct Args {
    /// Rows per replayed problem.
    #[arg(long, default_value_t = 20_000)]
    rows: usize,
    /// Epochs per replay.
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    /// Also replay at twice the rows, to check the counts per sample are stable.
    #[arg(long)]
    stability: bool,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

/// One figure of `shared/DEVICE.md`.
struct Figure {
    problem: &'static str,
    policy: &'static str,
    threads: usize,
    /// Measured samples/s on the 16-core machine.
    measured: f64,
    fitted: bool,
    source: &'static str,
}

/// 1-thread plain-loop samples/s on the 16-core machine (DEVICE.md's
/// 1-thread column; midpoints of ranges).
fn plain_rate(problem: &str) -> f64 {
    match problem {
        "zipf1.0" => 1.165e6,
        "uniform" => 1.24e6,
        "rcv1-zipf1.1" => 0.77e6,
        "dense256" => 0.49e6,
        "mf32" => 2.86e6,
        _ => unreachable!(),
    }
}

// The sequential Vec<f32> loop's rate on the Zipf(1.0) problem (midpoint of
// 1.08–1.38M) and the uniform one, for the figures given "vs sequential".
const SEQ_ZIPF: f64 = 1.23e6;
const SEQ_UNIFORM: f64 = 1.01e6;

fn figures() -> Vec<Figure> {
    let f = |problem, policy, threads, measured, fitted, source| Figure {
        problem,
        policy,
        threads,
        measured,
        fitted,
        source,
    };
    vec![
        f("zipf1.0", "racy", 16, 3.15e6, true, "naive loop, 3.0–3.3M"),
        f("zipf1.0", "racy", 4, 2.0e6, true, "naive loop, 2.0M"),
        f("uniform", "racy", 16, 5.9e6, true, "naive loop, 5.9M"),
        f("uniform", "racy", 4, 2.2e6, false, "naive loop, 2.2M"),
        f("rcv1-zipf1.1", "racy", 16, 2.49e6, false, "naive loop, 2.49M"),
        f("rcv1-zipf1.1", "racy", 4, 1.26e6, false, "naive loop, 1.26M"),
        f("dense256", "racy", 16, 2.1e6, true, "naive loop, 2.1M"),
        f("dense256", "racy", 4, 0.90e6, false, "naive loop, 0.90M"),
        f("mf32", "racy", 16, 17.5e6, true, "naive loop, 17.5M"),
        f("mf32", "racy", 4, 7.6e6, false, "naive loop, 7.6M"),
        f(
            "zipf1.0",
            "atomic",
            16,
            0.5 * 3.15e6,
            true,
            "fetch_add: about half of racy",
        ),
        f(
            "rcv1-zipf1.1",
            "atomic",
            16,
            0.5 * 2.49e6,
            false,
            "fetch_add: about half of racy",
        ),
        f(
            "zipf1.0",
            "hotcold:512:32",
            16,
            5.4e6,
            true,
            "512 hottest buffered, flushed every 32: 5.4M",
        ),
        f(
            "zipf1.0",
            "batched:16",
            16,
            2.2 * SEQ_ZIPF,
            true,
            "delta buffer B=16: 2.2x sequential",
        ),
        f(
            "zipf1.0",
            "batched:128",
            16,
            3.3 * SEQ_ZIPF,
            true,
            "delta buffer B=128: 3.3x sequential",
        ),
        f(
            "zipf1.0",
            "batched:1024",
            16,
            4.7 * SEQ_ZIPF,
            false,
            "delta buffer B=1024: 4.7x sequential",
        ),
        f(
            "uniform",
            "batched:128",
            16,
            2.2 * SEQ_UNIFORM,
            true,
            "delta buffer B=128, uniform: 2.2x sequential",
        ),
    ]
}

#[derive(Serialize)]
struct Row {
    problem: String,
    policy: String,
    threads: usize,
    measured_samples_per_sec: f64,
    predicted_samples_per_sec: f64,
    error_pct: f64,
    fitted: bool,
    bound: String,
    transfers_per_sample: f64,
    loads_per_sample: f64,
    stores_per_sample: f64,
    contended_per_sample: f64,
    cold_per_sample: f64,
    rmw_per_sample: f64,
    handoffs_busiest_line_per_sample: f64,
    base_ratio: f64,
    source: String,
}

#[derive(Serialize)]
struct Output {
    note: &'static str,
    rows_per_replay: usize,
    epochs: usize,
    costs: Costs,
    rms_log_error_fitted: f64,
    max_abs_error_pct: f64,
    figures: Vec<Row>,
    ranking_zipf_measured: Vec<String>,
    ranking_zipf_predicted: Vec<String>,
    ranking_uniform_measured: Vec<String>,
    ranking_uniform_predicted: Vec<String>,
    targets: Vec<Target>,
    stability: Vec<Stability>,
}

#[derive(Serialize)]
struct Target {
    problem: String,
    policy: String,
    workers: usize,
    predicted_speedup: f64,
    final_loss: f64,
    sequential_loss: f64,
    loss_gap_pct: f64,
}

#[derive(Serialize)]
struct Stability {
    problem: String,
    policy: String,
    threads: usize,
    rows: usize,
    transfers_per_sample: f64,
    handoffs_busiest_line_per_sample: f64,
}

/// A problem built like DEVICE.md's (the naive loop had no bias).
enum Problem {
    Linear(Linear, wildsgd::data::CsrDataset),
    Mf(MatrixFactorization, wildsgd::data::Ratings),
}

fn build(name: &str, rows: usize) -> Result<Problem, wildsgd::Error> {
    let linear = |zipf: f64, nnz: usize| -> Result<Problem, wildsgd::Error> {
        let data = Synthetic {
            rows,
            features: 47_236,
            nnz_per_row: nnz,
            zipf,
            ..Synthetic::default()
        }
        .generate()?;
        Ok(Problem::Linear(Linear::new(Loss::Logistic, 47_236), data))
    };
    match name {
        "zipf1.0" => linear(1.0, 75),
        "uniform" => linear(0.0, 75),
        "rcv1-zipf1.1" => linear(1.1, 95),
        "dense256" => {
            let data = Synthetic::dense(rows, 256).generate()?;
            Ok(Problem::Linear(Linear::new(Loss::Logistic, 256), data))
        }
        "mf32" => {
            let data = SyntheticRatings {
                users: 50_000,
                items: 10_000,
                ratings: rows,
                rank: 32,
                ..SyntheticRatings::default()
            }
            .generate()?;
            let model = MatrixFactorization::for_ratings(&data, 32)?.l2(0.02, &data);
            Ok(Problem::Mf(model, data))
        }
        _ => unreachable!(),
    }
}

fn nnz_per_row(p: &Problem) -> f64 {
    match p {
        Problem::Linear(_, d) => d.nnz() as f64 / d.len() as f64,
        Problem::Mf(m, _) => (2 * (m.n_weights() / 60_000)) as f64,
    }
}

fn settings(problem: &str, epochs: usize) -> Settings {
    Settings {
        epochs,
        schedule: if problem == "mf32" {
            MatrixFactorization::DEFAULT_SCHEDULE
        } else {
            Schedule::default()
        },
        plain_ns: 1e9 / plain_rate(problem),
        sequential: false,
        loss_rows: 5_000,
        ..Settings::default()
    }
}

fn replay_of(p: &Problem, policy: Policy, workers: usize, s: &Settings) -> Result<Replay, wildsgd::Error> {
    match p {
        Problem::Linear(m, d) => coherence::replay(m, d, policy, workers, s),
        Problem::Mf(m, d) => coherence::replay(m, d, policy, workers, s),
    }
}

fn simulate_of(
    p: &Problem,
    policy: Policy,
    workers: usize,
    s: &Settings,
) -> Result<coherence::Simulation, wildsgd::Error> {
    match p {
        Problem::Linear(m, d) => coherence::simulate(m, d, policy, workers, s),
        Problem::Mf(m, d) => coherence::simulate(m, d, policy, workers, s),
    }
}

fn rate(r: &Replay, costs: &Costs, problem: &str) -> (f64, &'static str) {
    let plain = 1e9 / plain_rate(problem);
    let c = base_ratio(r.policy, false) * plain;
    let p = r.predict(costs, c, plain);
    (1e9 / p.ns_per_sample, p.bound)
}

fn to_costs(x: &[f64; 5]) -> Costs {
    Costs {
        miss_ns: x[0].exp(),
        contended_ns: x[1].exp(),
        handoff_ns: x[2].exp(),
        rmw_ns: x[3].exp(),
        fabric_ns: x[4].exp(),
    }
}

/// Nelder–Mead on `f` from `x0` (log constants).
#[allow(clippy::needless_range_loop)]
fn nelder_mead(f: impl Fn(&[f64; 5]) -> f64, x0: [f64; 5], iters: usize) -> [f64; 5] {
    let mut simplex: Vec<([f64; 5], f64)> = (0..6)
        .map(|i| {
            let mut x = x0;
            if i > 0 {
                x[i - 1] += 0.7;
            }
            (x, f(&x))
        })
        .collect();
    for _ in 0..iters {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let mut centroid = [0.0; 5];
        for (x, _) in &simplex[..5] {
            for k in 0..5 {
                centroid[k] += x[k] / 5.0;
            }
        }
        let worst = simplex[5];
        let along = |t: f64| {
            let mut x = [0.0; 5];
            for k in 0..5 {
                x[k] = centroid[k] + t * (worst.0[k] - centroid[k]);
            }
            x
        };
        let xr = along(-1.0);
        let fr = f(&xr);
        if fr < simplex[0].1 {
            let xe = along(-2.0);
            let fe = f(&xe);
            simplex[5] = if fe < fr { (xe, fe) } else { (xr, fr) };
        } else if fr < simplex[4].1 {
            simplex[5] = (xr, fr);
        } else {
            let xc = along(0.5);
            let fc = f(&xc);
            if fc < worst.1 {
                simplex[5] = (xc, fc);
            } else {
                let best = simplex[0].0;
                for s in simplex.iter_mut().skip(1) {
                    for k in 0..5 {
                        s.0[k] = best[k] + 0.5 * (s.0[k] - best[k]);
                    }
                    s.1 = f(&s.0);
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex[0].0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let clock = Instant::now();
    let figs = figures();
    let names = ["zipf1.0", "uniform", "rcv1-zipf1.1", "dense256", "mf32"];
    let mut problems = Vec::new();
    for n in names {
        let p = build(n, args.rows)?;
        eprintln!("{n}: {:.1} nonzeros per row", nnz_per_row(&p));
        problems.push((n, p));
    }
    let find = |n: &str| &problems.iter().find(|(m, _)| *m == n).expect("problem").1;
    let mut replays = Vec::new();
    for f in &figs {
        let t = Instant::now();
        let r = replay_of(
            find(f.problem),
            f.policy.parse()?,
            f.threads,
            &settings(f.problem, args.epochs),
        )?;
        eprintln!(
            "replayed {} {} x{} in {:.1} s: {:.1} transfers/sample, busiest line {:.2} hand-offs/sample",
            f.problem,
            f.policy,
            f.threads,
            t.elapsed().as_secs_f64(),
            r.total().transfers() as f64 / r.total().samples as f64,
            r.busiest_handoffs as f64 / r.total().samples as f64
        );
        replays.push(r);
    }
    let loss = |x: &[f64; 5]| {
        let c = to_costs(x);
        figs.iter()
            .zip(&replays)
            .filter(|(f, _)| f.fitted)
            .map(|(f, r)| (rate(r, &c, f.problem).0 / f.measured).ln().powi(2))
            .sum::<f64>()
    };
    // A coarse grid, then Nelder–Mead from its best point.
    let mut best = ([0.0; 5], f64::INFINITY);
    for l in [5.0f64, 10.0, 20.0, 40.0, 80.0] {
        for s in [20.0f64, 50.0, 100.0, 200.0, 400.0] {
            for h in [100.0f64, 200.0, 300.0, 400.0] {
                for r in [20.0f64, 50.0, 100.0, 200.0, 400.0] {
                    for b in [2.0f64, 5.0, 10.0, 20.0] {
                        let x = [l.ln(), s.ln(), h.ln(), r.ln(), b.ln()];
                        let v = loss(&x);
                        if v < best.1 {
                            best = (x, v);
                        }
                    }
                }
            }
        }
    }
    let x = nelder_mead(loss, best.0, 400);
    let costs = to_costs(&x);
    let n_fitted = figs.iter().filter(|f| f.fitted).count();
    let rms = (loss(&x) / n_fitted as f64).sqrt();
    eprintln!("fitted {costs:?}, rms log error {rms:.3}");

    let rows: Vec<Row> = figs
        .iter()
        .zip(&replays)
        .map(|(f, r)| {
            let (pred, bound) = rate(r, &costs, f.problem);
            let t = r.total();
            let n = t.samples as f64;
            Row {
                problem: f.problem.into(),
                policy: f.policy.into(),
                threads: f.threads,
                measured_samples_per_sec: f.measured,
                predicted_samples_per_sec: pred,
                error_pct: 100.0 * (pred / f.measured - 1.0),
                fitted: f.fitted,
                bound: bound.into(),
                transfers_per_sample: t.transfers() as f64 / n,
                loads_per_sample: t.loads() as f64 / n,
                stores_per_sample: t.store_transfers as f64 / n,
                contended_per_sample: t.contended as f64 / n,
                cold_per_sample: t.cold as f64 / n,
                rmw_per_sample: t.rmw_remote as f64 / n,
                handoffs_busiest_line_per_sample: r.busiest_handoffs as f64 / n,
                base_ratio: base_ratio(r.policy, false),
                source: f.source.into(),
            }
        })
        .collect();
    let max_err = rows.iter().map(|r| r.error_pct.abs()).fold(0.0, f64::max);

    let ranking = |problem: &str, predicted: bool| {
        let mut v: Vec<(&str, f64)> = rows
            .iter()
            .filter(|r| r.problem == problem && r.threads == 16)
            .map(|r| {
                (
                    r.policy.as_str(),
                    if predicted {
                        r.predicted_samples_per_sec
                    } else {
                        r.measured_samples_per_sec
                    },
                )
            })
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v.into_iter().map(|(p, _)| p.to_string()).collect::<Vec<_>>()
    };

    // The issue's targets: the best strategy at 16 workers, with its loss.
    let candidates = [
        "racy",
        "atomic",
        "batched:128",
        "batched:1024",
        "hotcold:512:32",
        "hotcold:4096:32",
        "delayed:64",
        "delayed:256",
        "delayed:1024",
    ];
    let mut targets = Vec::new();
    for problem in ["rcv1-zipf1.1", "uniform", "mf32"] {
        let p = find(problem);
        for &c in &candidates {
            for prefix in [false, true] {
                if prefix && !c.starts_with("hotcold") {
                    continue;
                }
                let s = Settings {
                    costs,
                    sequential: true,
                    prefix,
                    epochs: 3,
                    ..settings(problem, 3)
                };
                let sim = simulate_of(p, c.parse()?, 16, &s)?;
                let name = if prefix {
                    format!("{c} (hot prefix)")
                } else {
                    c.to_string()
                };
                eprintln!(
                    "target {problem} {name} x16: predicted {:.2}x, loss {:.5} vs sequential {:.5}",
                    sim.predicted_speedup, sim.final_loss, sim.sequential_loss
                );
                targets.push(Target {
                    problem: problem.into(),
                    policy: name,
                    workers: 16,
                    predicted_speedup: sim.predicted_speedup,
                    final_loss: sim.final_loss,
                    sequential_loss: sim.sequential_loss,
                    loss_gap_pct: 100.0 * (sim.final_loss / sim.sequential_loss - 1.0),
                });
            }
        }
    }

    let mut stability = Vec::new();
    if args.stability {
        for (problem, policy, threads) in [
            ("zipf1.0", "racy", 16),
            ("uniform", "racy", 16),
            ("zipf1.0", "batched:128", 16),
        ] {
            for rows in [args.rows, 2 * args.rows] {
                let p = build(problem, rows)?;
                let r = replay_of(&p, policy.parse()?, threads, &settings(problem, args.epochs))?;
                let t = r.total();
                stability.push(Stability {
                    problem: problem.into(),
                    policy: policy.into(),
                    threads,
                    rows,
                    transfers_per_sample: t.transfers() as f64 / t.samples as f64,
                    handoffs_busiest_line_per_sample: r.busiest_handoffs as f64 / t.samples as f64,
                });
            }
        }
    }

    let out = Output {
        note: "predicted figures are predictions of the coherence simulator (src/policy/coherence.rs), \
               measured ones are shared/DEVICE.md's 16-core Intel Xeon figures",
        rows_per_replay: args.rows,
        epochs: args.epochs,
        costs,
        rms_log_error_fitted: rms,
        max_abs_error_pct: max_err,
        ranking_zipf_measured: ranking("zipf1.0", false),
        ranking_zipf_predicted: ranking("zipf1.0", true),
        ranking_uniform_measured: ranking("uniform", false),
        ranking_uniform_predicted: ranking("uniform", true),
        figures: rows,
        targets,
        stability,
    };
    fs::create_dir_all(&args.out)?;
    fs::write(args.out.join("calibration.json"), serde_json::to_string_pretty(&out)?)?;
    let md = markdown(&out);
    print!("{md}");
    fs::write(args.out.join("calibration.md"), md)?;
    eprintln!("done in {:.0} s", clock.elapsed().as_secs_f64());
    Ok(())
}

fn markdown(o: &Output) -> String {
    let c = &o.costs;
    let mut s = format!(
        "# Coherence simulator calibration (simulated / predicted)\n\n\
         Measured: the 16-core Intel Xeon figures of `shared/DEVICE.md` (a naive Hogwild! loop and its variants). \
         Predicted: `wildsgd::policy::coherence` replays ({} rows per problem, {} epochs), priced with the constants below. \
         Every predicted figure is a **prediction**, not a measurement.\n\n\
         Command: `calibrate_coherence {}`\n\n\
         Fitted constants (Nelder–Mead on the squared log errors of the fitted figures): \
         independent transfer {:.1} ns, contended transfer {:.1} ns, serialised hand-off {:.1} ns, remote RMW {:.1} ns, fabric {:.1} ns per line fill. \
         RMS log error over fitted figures {:.3}; largest error {:.0}%.\n\n\
         | problem | policy | threads | measured samples/s | predicted samples/s | error | fit | bound | transfers/sample | loads | stores | contended | cold | remote RMW | busiest line hand-offs/sample | c ratio | source |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        o.rows_per_replay,
        o.epochs,
        std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        c.miss_ns,
        c.contended_ns,
        c.handoff_ns,
        c.rmw_ns,
        c.fabric_ns,
        o.rms_log_error_fitted,
        o.max_abs_error_pct
    );
    for r in &o.figures {
        s += &format!(
            "| {} | {} | {} | {:.2}M | {:.2}M | {:+.0}% | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.3} | {:.2} | {} |\n",
            r.problem,
            r.policy,
            r.threads,
            r.measured_samples_per_sec / 1e6,
            r.predicted_samples_per_sec / 1e6,
            r.error_pct,
            if r.fitted { "fitted" } else { "held out" },
            r.bound,
            r.transfers_per_sample,
            r.loads_per_sample,
            r.stores_per_sample,
            r.contended_per_sample,
            r.cold_per_sample,
            r.rmw_per_sample,
            r.handoffs_busiest_line_per_sample,
            r.base_ratio,
            r.source
        );
    }
    s += &format!(
        "\nRanking at 16 threads, Zipf(1.0): measured {}; predicted {}.\n\n\
         Ranking at 16 threads, uniform: measured {}; predicted {}.\n\n",
        o.ranking_zipf_measured.join(" > "),
        o.ranking_zipf_predicted.join(" > "),
        o.ranking_uniform_measured.join(" > "),
        o.ranking_uniform_predicted.join(" > ")
    );
    s += "## Predicted 16-worker speed-ups vs the 1-thread plain loop (issue 18's targets)\n\n\
          Throughput speed-up only (predicted); the loss is the simulated interleaving's after 3 epochs.\n\n\
          | problem | policy | predicted speed-up | final loss | sequential loss | gap |\n|---|---|---|---|---|---|\n";
    for t in &o.targets {
        s += &format!(
            "| {} | {} | {:.2}x | {:.5} | {:.5} | {:+.2}% |\n",
            t.problem, t.policy, t.predicted_speedup, t.final_loss, t.sequential_loss, t.loss_gap_pct
        );
    }
    if !o.stability.is_empty() {
        s += "\n## Stability of the counts per sample\n\n| problem | policy | threads | rows | transfers/sample | busiest line hand-offs/sample |\n|---|---|---|---|---|---|\n";
        for r in &o.stability {
            s += &format!(
                "| {} | {} | {} | {} | {:.2} | {:.3} |\n",
                r.problem, r.policy, r.threads, r.rows, r.transfers_per_sample, r.handoffs_busiest_line_per_sample
            );
        }
    }
    s
}
