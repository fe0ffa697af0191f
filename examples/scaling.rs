//! The scaling report: throughput and time-to-target-loss of every policy at
//! every thread count, against the plain sequential loop, in one run.
//!
//! ```text
//! cargo run --release --example scaling -- --problem zipf --threads 1,2 --out benches/results/local
//! target/release/examples/scaling --problem zipf --threads 1,2,4,8,16 --out /tmp/scaling   # on another machine
//! ```
//!
//! Writes `DIR/scaling.json` (one row per policy and thread count), prints a
//! markdown table and draws `DIR/scaling.svg`. Every figure is the median of
//! `--reps` repetitions; repetitions interleave all configurations, so slow
//! drifts of the machine hit them all alike. The loss is sampled
//! `--evals-per-epoch` times per epoch on a fixed subset of rows, off the
//! clock, so time-to-target is not quantised to whole epochs.
//!
//! `--simulate 16,32,64` also replays each policy (not `plain`) in the
//! coherence simulator (`wildsgd::policy::coherence`) at those worker counts
//! and writes `DIR/simulated.{json,md,svg}`: counts per sample, the
//! simulated interleaving's final loss and a **predicted** speed-up, labelled
//! as such (they are not measurements).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Parser, ValueEnum};
use plotters::prelude::*;
use serde::Serialize;
use wildsgd::data::{CsrDataset, Synthetic, SyntheticRatings};
use wildsgd::policy::{Touches, PROBE_SAMPLES};
use wildsgd::schedule::Order;
use wildsgd::trainer::{Report, Trained};
use wildsgd::{baseline, Linear, Loss, MatrixFactorization, Model, Policy, Schedule, Trainer};

#[derive(Clone, Copy, Debug, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Problem {
    /// RCV1-shaped: 47,236 features, ~75 nonzeros per row, Zipf popularity.
    Zipf,
    /// The same shape with uniform feature popularity.
    Uniform,
    /// Every row touches every weight (256 features by default).
    Dense,
    /// Matrix factorisation, rank 32 (`--rank`), 50,000 users x 10,000
    /// items, `--samples` ratings (synthetic, low-rank plus noise).
    Mf,
}

#[derive(Parser, Debug, Clone)]
#[command(about = "Scaling report: every policy at every thread count vs the plain sequential loop")]
struct Args {
    #[arg(long, value_enum, default_value = "zipf")]
    problem: Problem,
    /// Zipf exponent for `--problem zipf`.
    #[arg(long, default_value_t = 1.0)]
    zipf: f64,
    /// Training rows.
    #[arg(long, default_value_t = 200_000)]
    samples: usize,
    /// Features (default 47,236; 256 for dense).
    #[arg(long)]
    features: Option<usize>,
    /// Model loss: logistic, hinge or squared (linear problems).
    #[arg(long, default_value = "logistic")]
    model: String,
    /// The linear model's update: sgd or adaptive (the plain loop takes the
    /// same update, so the ratios stay like for like).
    #[arg(long, default_value = "sgd")]
    update: wildsgd::model::Update,
    /// Factor rank for `--problem mf`.
    #[arg(long, default_value_t = 32)]
    rank: usize,
    /// Epochs per run.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Thread counts, comma separated (default 1, 2, 4, ... up to the cores).
    #[arg(long, value_delimiter = ',')]
    threads: Option<Vec<usize>>,
    /// Policies, comma separated: plain, plain-full (the plain loop in
    /// `Order::Full`), sequential, racy, atomic, locked,
    /// batched:N, hotcold:K:M, replicas:M, delayed:M, auto.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "plain,plain-full,sequential,racy,atomic,locked,batched:32,hotcold:65534:32,delayed:1024,replicas:1024,auto"
    )]
    policies: Vec<String>,
    /// Repetitions; each figure is their median.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Loss samples per epoch.
    #[arg(long, default_value_t = 10)]
    evals_per_epoch: usize,
    /// Rows of the fixed subset the loss curve is measured on.
    #[arg(long, default_value_t = 20_000)]
    loss_rows: usize,
    /// Target: this fraction above the sequential run's final loss.
    #[arg(long, default_value_t = 0.01)]
    target: f64,
    /// Also replay every policy in the coherence simulator at these worker
    /// counts (comma separated, e.g. 16,32,64) and write `simulated.json`
    /// and `simulated.svg`: predicted figures, not measurements.
    #[arg(long, value_delimiter = ',')]
    simulate: Vec<usize>,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

/// One simulated (predicted) configuration.
#[derive(Serialize, Debug, Clone)]
struct SimRow {
    kind: &'static str,
    problem: String,
    policy: String,
    ran_as: String,
    threads: usize,
    transfers_per_sample: f64,
    invalidations_per_sample: f64,
    loads_per_sample: f64,
    stores_per_sample: f64,
    rmw_per_sample: f64,
    handoffs_busiest_line_per_sample: f64,
    final_loss: f64,
    sequential_loss: f64,
    predicted_speedup: f64,
    predicted_ns_per_sample: f64,
    bound: String,
    base_ratio: f64,
    plain_ns: f64,
    plain_ns_source: String,
    samples_replayed: u64,
}

#[derive(Serialize, Debug, Clone)]
struct Row {
    problem: String,
    model: String,
    policy: String,
    ran_as: String,
    threads: usize,
    reps: usize,
    samples_per_sec: f64,
    speedup_vs_plain: f64,
    /// Samples/s over the plain loop's under `Order::Full` (the textbook order).
    speedup_vs_plain_full: f64,
    final_loss: f64,
    target_loss: f64,
    seconds_to_target: Option<f64>,
    time_to_target_speedup: Option<f64>,
    peak_rss_bytes: u64,
    rss_growth_bytes: u64,
    data_bytes: u64,
    cpu: String,
    cores: usize,
}

/// One configuration's runs.
struct Config {
    policy: String,
    threads: usize,
    reports: Vec<Report>,
    peak_rss: u64,
    growth: u64,
    /// The policy as the report names it (`auto:...` shows the pick).
    ran_as: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn status_kib(field: &str) -> Option<u64> {
    let s = fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|k| k * 1024)
}

/// Resets the kernel's peak-RSS mark (Linux), so VmHWM afterwards is the
/// peak since now.
fn reset_peak() {
    let _ = fs::write("/proc/self/clear_refs", "5");
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = Args::parse();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = args.threads.clone().unwrap_or_else(|| {
        let mut t: Vec<usize> = std::iter::successors(Some(1), |&t| Some(t * 2))
            .take_while(|&t| t <= cores)
            .collect();
        if t.last() != Some(&cores) {
            t.push(cores);
        }
        t
    });
    let mut wanted = Vec::new();
    for p in &args.policies {
        match p.as_str() {
            "plain" | "plain-full" | "sequential" => wanted.push((p.clone(), 1)),
            other => {
                let policy: Policy = other.parse()?;
                wanted.extend(threads.iter().map(|&t| (policy.to_string(), t)));
            }
        }
    }
    if args.reps == 0 {
        return Err("--reps must be at least 1".into());
    }
    let clock = Instant::now();
    if let Problem::Mf = args.problem {
        args.model = format!("mf (rank {})", args.rank);
        let data = SyntheticRatings {
            users: 50_000,
            items: 10_000,
            ratings: args.samples,
            rank: args.rank,
            ..SyntheticRatings::default()
        }
        .generate()?;
        let model = MatrixFactorization::for_ratings(&data, args.rank)?.l2(0.02, &data);
        let name = format!("mf{}", args.rank);
        let bytes = (12 * data.len() + 4 * model.n_weights()) as u64;
        let describe = format!(
            "{name}: {} ratings, {} users x {} items, rank {}",
            data.len(),
            data.n_users(),
            data.n_items(),
            args.rank
        );
        let sweep = Sweep {
            args: &args,
            cores,
            wanted,
            name,
            data_bytes: bytes,
            clock,
        };
        return sweep.run(
            &model,
            &data,
            MatrixFactorization::DEFAULT_SCHEDULE,
            &describe,
            |t: &Trainer| baseline::plain(t, &model, &data),
        );
    }
    let loss = match args.model.as_str() {
        "logistic" => Loss::Logistic,
        "hinge" => Loss::Hinge,
        "squared" => Loss::Squared,
        m => return Err(format!("unknown model {m:?}: expected logistic, hinge or squared").into()),
    };
    let (name, data) = problem(&args)?;
    let model = Linear::new(loss, data.n_features())
        .bias(true)
        .l2(1e-6, &data)
        .update(args.update, &data);
    let data_bytes = (data.heap_bytes() + 4 * wildsgd::Model::n_weights(&model)) as u64;
    let describe = format!(
        "{name}: {} rows, {} features, {:.1} nnz/row",
        data.len(),
        data.n_features(),
        data.nnz() as f64 / data.len() as f64
    );
    let sweep = Sweep {
        args: &args,
        cores,
        wanted,
        name,
        data_bytes,
        clock,
    };
    sweep.run(&model, &data, Schedule::default(), &describe, |t: &Trainer| {
        baseline::plain_linear(t, &model, &data)
    })
}

/// One problem's sweep over policies and thread counts.
struct Sweep<'a> {
    args: &'a Args,
    cores: usize,
    wanted: Vec<(String, usize)>,
    name: String,
    data_bytes: u64,
    clock: Instant,
}

impl Sweep<'_> {
    fn run<M: Model>(
        self,
        model: &M,
        data: &M::Data,
        schedule: Schedule,
        describe: &str,
        plain: impl Fn(&Trainer) -> Result<Trained, wildsgd::Error>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let Sweep {
            args,
            cores,
            wanted,
            name,
            data_bytes,
            clock,
            ..
        } = self;
        let args = args.clone();
        eprintln!(
            "{describe}, {:.1} MiB data+weights, generated in {:.1} s; {cores} cores: {}",
            data_bytes as f64 / 1048576.0,
            clock.elapsed().as_secs_f64(),
            cpu_model()
        );
        let base = Trainer::new()
            .epochs(args.epochs)
            .schedule(schedule)
            .evals_per_epoch(args.evals_per_epoch)
            .loss_rows(Some(args.loss_rows));

        let mut configs: Vec<Config> = wanted
            .iter()
            .map(|(p, t)| Config {
                policy: p.clone(),
                threads: *t,
                reports: Vec::new(),
                peak_rss: 0,
                growth: 0,
                ran_as: String::new(),
            })
            .collect();
        for rep in 0..args.reps {
            for c in &mut configs {
                let t = base.clone().seed(rep as u64);
                reset_peak();
                let before = status_kib("VmRSS:").unwrap_or(0);
                let trained = if c.policy == "plain" {
                    plain(&t)?
                } else if c.policy == "plain-full" {
                    // The second yardstick: the same loop in the textbook order.
                    plain(&t.order(Order::Full))?
                } else {
                    t.policy(c.policy.parse()?).threads(c.threads).fit(model, data)?
                };
                let peak = status_kib("VmHWM:").unwrap_or(0);
                c.peak_rss = c.peak_rss.max(peak);
                c.growth = c.growth.max(peak.saturating_sub(before));
                eprintln!(
                    "rep {rep} {:>10} x{:<3} {:>12.0} samples/s, final loss {:.5} ({})",
                    c.policy,
                    c.threads,
                    trained.report.samples_per_sec(),
                    trained.report.final_loss().unwrap_or(f64::NAN),
                    trained.report.policy
                );
                c.ran_as = trained.report.policy.clone();
                c.reports.push(trained.report);
            }
        }

        // The target: within `--target` of the sequential (else plain) run's
        // median final loss.
        let reference = configs
            .iter()
            .find(|c| c.policy == "sequential")
            .or_else(|| configs.iter().find(|c| c.policy == "plain"))
            .unwrap_or(&configs[0]);
        let target = median(reference.reports.iter().filter_map(Report::final_loss).collect()) * (1.0 + args.target);
        let summary = |c: &Config| {
            let sps = median(c.reports.iter().map(Report::samples_per_sec).collect());
            let fin = median(c.reports.iter().filter_map(Report::final_loss).collect());
            let stt = median(
                c.reports
                    .iter()
                    .map(|r| r.seconds_to(target).unwrap_or(f64::INFINITY))
                    .collect(),
            );
            (sps, fin, stt.is_finite().then_some(stt))
        };
        let plain = configs
            .iter()
            .find(|c| c.policy == "plain")
            .map(summary)
            .unwrap_or((f64::NAN, f64::NAN, None));
        let plain_full = configs
            .iter()
            .find(|c| c.policy == "plain-full")
            .map_or(f64::NAN, |c| summary(c).0);
        let cpu = cpu_model();
        let rows: Vec<Row> = configs
            .iter()
            .map(|c| {
                let (sps, fin, stt) = summary(c);
                Row {
                    problem: name.clone(),
                    model: args.model.clone(),
                    policy: c.policy.clone(),
                    ran_as: c.ran_as.clone(),
                    threads: c.threads,
                    reps: args.reps,
                    samples_per_sec: sps,
                    speedup_vs_plain: sps / plain.0,
                    speedup_vs_plain_full: sps / plain_full,
                    final_loss: fin,
                    target_loss: target,
                    seconds_to_target: stt,
                    time_to_target_speedup: plain.2.zip(stt).map(|(p, s)| p / s),
                    peak_rss_bytes: c.peak_rss,
                    rss_growth_bytes: c.growth,
                    data_bytes,
                    cpu: cpu.clone(),
                    cores,
                }
            })
            .collect();

        fs::create_dir_all(&args.out)?;
        let table = markdown(&rows, &args, &name, &cpu, cores);
        print!("{table}");
        fs::write(args.out.join("scaling.md"), &table)?;
        fs::write(args.out.join("scaling.json"), serde_json::to_string_pretty(&rows)?)?;
        plot(&rows, &args.out.join("scaling.svg"), &name)?;
        eprintln!("wrote {}/scaling.{{json,md,svg}}", args.out.display());
        if !args.simulate.is_empty() {
            simulate(model, data, schedule, &args, &name, plain.0)?;
        }
        Ok(())
    }
}

/// The 16-core machine's 1-thread naive-loop rate for the problems of
/// `shared/DEVICE.md` (the calibration's `c_plain`), else this machine's
/// plain loop.
fn plain_ns(name: &str, measured_plain: f64) -> (f64, String) {
    let device = match name {
        "zipf1" => Some(1.165e6),
        "uniform" => Some(1.24e6),
        "dense256" => Some(0.49e6),
        "mf32" => Some(2.86e6),
        _ => None,
    };
    match device {
        Some(r) => (
            1e9 / r,
            format!(
                "16-core machine, 1-thread naive loop, {:.2}M samples/s (DEVICE.md)",
                r / 1e6
            ),
        ),
        None => (
            1e9 / measured_plain,
            format!("this machine's plain loop, {measured_plain:.0} samples/s"),
        ),
    }
}

/// Replays every policy of the run in the coherence simulator at the
/// `--simulate` worker counts: `simulated.json`, `simulated.md`, `simulated.svg`.
fn simulate<M: Model>(
    model: &M,
    data: &M::Data,
    schedule: Schedule,
    args: &Args,
    name: &str,
    measured_plain: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    use wildsgd::policy::coherence::{self, Settings};
    let (plain, source) = plain_ns(name, measured_plain);
    let settings = Settings {
        epochs: args.epochs,
        schedule,
        loss_rows: args.loss_rows,
        plain_ns: plain,
        sequential: false,
        ..Settings::default()
    };
    let sequential_loss = coherence::replay(model, data, Policy::Sequential, 1, &settings)?.final_loss;
    let mut policies: Vec<Policy> = Vec::new();
    for p in &args.policies {
        if let Ok(policy) = p.parse::<Policy>() {
            if policy != Policy::Sequential && !policies.contains(&policy) {
                policies.push(policy);
            }
        }
    }
    let mut rows = Vec::new();
    for &policy in &policies {
        for &n in &args.simulate {
            let t = Instant::now();
            // `auto` is replayed as what it would pick at n threads.
            let ran = if policy == Policy::Auto {
                let mut start = vec![0.0; model.n_weights()];
                model.init(&mut start, settings.seed);
                let touches = Touches::probe(model, data, &start, PROBE_SAMPLES, schedule.rate(0, 0), settings.seed)?;
                wildsgd::policy::decide(model, data, &touches, &schedule, settings.seed, n, args.epochs)?.policy
            } else {
                policy
            };
            let r = coherence::replay(model, data, ran, n, &settings)?;
            let sim = coherence::summarise(policy, &r, sequential_loss, &settings);
            eprintln!(
                "simulated {policy} x{n} ({}) in {:.1} s: {:.1} transfers/sample, predicted {:.2}x ({}-bound), loss {:.5} (sequential {:.5})",
                sim.ran_as,
                t.elapsed().as_secs_f64(),
                sim.transfers_per_sample,
                sim.predicted_speedup,
                sim.bound,
                sim.final_loss,
                sequential_loss
            );
            rows.push(SimRow {
                kind: "simulated",
                problem: name.to_string(),
                policy: sim.policy,
                ran_as: sim.ran_as,
                threads: n,
                transfers_per_sample: sim.transfers_per_sample,
                invalidations_per_sample: sim.invalidations_per_sample,
                loads_per_sample: sim.loads_per_sample,
                stores_per_sample: sim.stores_per_sample,
                rmw_per_sample: sim.rmw_per_sample,
                handoffs_busiest_line_per_sample: sim.handoffs_busiest_line_per_sample,
                final_loss: sim.final_loss,
                sequential_loss,
                predicted_speedup: sim.predicted_speedup,
                predicted_ns_per_sample: sim.predicted_ns_per_sample,
                bound: sim.bound.to_string(),
                base_ratio: sim.base_ratio,
                plain_ns: plain,
                plain_ns_source: source.clone(),
                samples_replayed: sim.samples,
            });
        }
    }
    fs::write(args.out.join("simulated.json"), serde_json::to_string_pretty(&rows)?)?;
    let mut md = format!(
        "Simulated (predicted, not measured): problem {name}, {} rows, {} epochs, coherence simulator with its fitted \
         constants (`Costs::FITTED`); speed-up predicted vs the 1-thread plain loop, c_plain from {source}.\n\n\
         | policy | ran as | workers | transfers/sample | invalidations/sample | remote RMW/sample | busiest line hand-offs/sample | bound | predicted speed-up | simulated final loss | sequential loss |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
        wildsgd::data::Dataset::len(data),
        args.epochs
    );
    for r in &rows {
        md += &format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.3} | {} | {:.2}x | {:.5} | {:.5} |\n",
            r.policy,
            r.ran_as,
            r.threads,
            r.transfers_per_sample,
            r.invalidations_per_sample,
            r.rmw_per_sample,
            r.handoffs_busiest_line_per_sample,
            r.bound,
            r.predicted_speedup,
            r.final_loss,
            r.sequential_loss
        );
    }
    print!("{md}");
    fs::write(args.out.join("simulated.md"), md)?;
    plot_simulated(&rows, &args.out.join("simulated.svg"), name)?;
    eprintln!("wrote {}/simulated.{{json,md,svg}}", args.out.display());
    Ok(())
}

fn plot_simulated(rows: &[SimRow], path: &Path, name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (800, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let max_t = rows.iter().map(|r| r.threads).max().unwrap_or(1) as f64;
    let ymax = rows.iter().map(|r| r.predicted_speedup).fold(1.0, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{name}: SIMULATED predicted speed-up vs 1-thread plain loop"),
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..max_t + 2.0, 0.0..ymax)?;
    chart
        .configure_mesh()
        .x_desc("simulated workers")
        .y_desc("predicted speed-up")
        .draw()?;
    let mut policies: Vec<&str> = rows.iter().map(|r| r.policy.as_str()).collect();
    policies.dedup();
    let colors = [BLACK, RED, BLUE, GREEN, MAGENTA, CYAN];
    for (i, p) in policies.iter().enumerate() {
        let color = colors[i % colors.len()];
        let pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.policy == *p)
            .map(|r| (r.threads as f64, r.predicted_speedup))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(format!("{p} (predicted)"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color));
        chart.draw_series(pts.iter().map(|&pt| Circle::new(pt, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn problem(args: &Args) -> Result<(String, CsrDataset), wildsgd::Error> {
    let rcv1 = |zipf: f64| Synthetic {
        rows: args.samples,
        features: args.features.unwrap_or(47_236),
        zipf,
        ..Synthetic::default()
    };
    Ok(match args.problem {
        Problem::Zipf => (format!("zipf{}", args.zipf), rcv1(args.zipf).generate()?),
        Problem::Uniform => ("uniform".into(), rcv1(0.0).generate()?),
        Problem::Dense => {
            let f = args.features.unwrap_or(256);
            (format!("dense{f}"), Synthetic::dense(args.samples, f).generate()?)
        }
        Problem::Mf => unreachable!("matrix factorisation is set up in main"),
    })
}

fn markdown(rows: &[Row], args: &Args, name: &str, cpu: &str, cores: usize) -> String {
    let opt = |v: Option<f64>, digits: usize| v.map_or_else(|| "never".to_string(), |v| format!("{v:.digits$}"));
    let mut s = format!(
        "Problem {name}, {} rows, model {}, {} epochs, median of {} reps; target loss {:.5} ({}% above sequential).\n\
         Machine: {cpu}, {cores} cores. Command: `scaling {}`\n\n\
         | policy | threads | samples/s | vs plain | vs plain-full | final loss | s to target | time-to-target vs plain | peak RSS MiB | RSS growth MiB |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        args.samples,
        args.model,
        args.epochs,
        args.reps,
        rows.first().map_or(f64::NAN, |r| r.target_loss),
        args.target * 100.0,
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    for r in rows {
        s += &format!(
            "| {} | {} | {:.0} | {:.2}x | {:.2}x | {:.5} | {} | {} | {:.1} | {:.1} |\n",
            r.policy,
            r.threads,
            r.samples_per_sec,
            r.speedup_vs_plain,
            r.speedup_vs_plain_full,
            r.final_loss,
            opt(r.seconds_to_target, 3),
            opt(r.time_to_target_speedup, 2).replace("never", "-")
                + if r.time_to_target_speedup.is_some() { "x" } else { "" },
            r.peak_rss_bytes as f64 / 1048576.0,
            r.rss_growth_bytes as f64 / 1048576.0
        );
    }
    s += &format!(
        "\nData + weights: {:.1} MiB.\n",
        rows.first().map_or(0, |r| r.data_bytes) as f64 / 1048576.0
    );
    s
}

fn plot(rows: &[Row], path: &Path, name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (1500, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 3));
    let max_t = rows.iter().map(|r| r.threads).max().unwrap_or(1) as f64;
    let policies: Vec<&str> = {
        let mut p: Vec<&str> = rows.iter().map(|r| r.policy.as_str()).collect();
        p.dedup();
        p
    };
    let colors = [BLACK, RED, BLUE, GREEN, MAGENTA, CYAN];
    type Metric = fn(&Row) -> Option<f64>;
    let metrics: [(&str, Metric, bool); 3] = [
        ("throughput (samples/s)", |r| Some(r.samples_per_sec), false),
        ("throughput speedup vs plain loop", |r| Some(r.speedup_vs_plain), true),
        (
            "time-to-target speedup vs plain loop",
            |r| r.time_to_target_speedup,
            true,
        ),
    ];
    for (area, (title, metric, ideal)) in panels.iter().zip(metrics) {
        let ymax = rows
            .iter()
            .filter_map(metric)
            .fold(if ideal { max_t } else { 0.0 }, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{name}: {title}"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..max_t + 1.0, 0.0..ymax.max(1e-9))?;
        chart.configure_mesh().x_desc("threads").draw()?;
        if ideal {
            chart
                .draw_series(LineSeries::new(vec![(1.0, 1.0), (max_t, max_t)], BLACK.mix(0.3)))?
                .label("ideal linear")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], BLACK.mix(0.3)));
        }
        for (i, p) in policies.iter().enumerate() {
            let color = colors[i % colors.len()];
            let pts: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.policy == *p)
                .filter_map(|r| metric(r).map(|v| (r.threads as f64, v)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
                .label(*p)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color));
            chart.draw_series(pts.iter().map(|&pt| Circle::new(pt, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
