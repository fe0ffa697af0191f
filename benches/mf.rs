//! Throughput of one matrix-factorisation epoch, per problem, rank, policy
//! and thread count, against a plain sequential `&mut [f32]` loop.
//!
//! ```text
//! cargo bench --bench mf                   # everything (~3 min on 2 cores)
//! cargo bench --bench mf -- synthetic/r16  # a filter (substring of the id)
//! cargo bench --bench mf -- --measurement-time 1 ml100k   # a shorter smoke run
//! ```
//!
//! Problems: a synthetic ML-100k-shaped one (943 users, 1682 items, 100k
//! uniformly drawn ratings of a rank-5 truth) at ranks 16 and 100, and
//! MovieLens 100k itself at rank 100 when `data-cache/ml-100k.inter` is
//! present (its popularity skew makes hot item rows). Each measurement is
//! the update time of one epoch as the trainer's report gives it (loss
//! passes and pool start-up off the clock); the plain loop times only its
//! own update loop. Throughput is in samples (criterion's elements).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use wildsgd::data::{read_ratings, Dataset, Ratings, SyntheticRatings};
use wildsgd::model::MatrixFactorization;
use wildsgd::model::Step;
use wildsgd::trainer::epoch_order;
use wildsgd::{Model, Policy, Schedule, Trainer};

const LR: f32 = 0.01;

/// Criterion's own parser is not used (as in the throughput bench), so the
/// few flags a smoke run needs are taken here: `--warm-up-time S`,
/// `--measurement-time S`, `--sample-size N`; other flags (cargo's
/// `--bench`) are ignored and the first free argument is the filter.
fn configure() -> Criterion {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let mut it = std::env::args().skip(1);
    let secs = |v: Option<String>, flag: &str| {
        Duration::from_secs_f64(
            v.and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} needs seconds")),
        )
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--warm-up-time" => c = c.warm_up_time(secs(it.next(), &a)),
            "--measurement-time" => c = c.measurement_time(secs(it.next(), &a)),
            "--sample-size" => {
                c = c.sample_size(
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .expect("--sample-size needs a number >= 10"),
                )
            }
            s if s.starts_with("--") => {}
            s => c = c.with_filter(s.to_string()),
        }
    }
    c
}

fn thread_counts() -> Vec<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut t: Vec<usize> = std::iter::successors(Some(1), |&t| Some(t * 2))
        .take_while(|&t| t <= cores)
        .collect();
    if t.last() != Some(&cores) {
        t.push(cores);
    }
    t
}

fn problems() -> Vec<(String, Ratings, usize)> {
    let synthetic = SyntheticRatings::default().generate().unwrap();
    let mut out = vec![
        ("synthetic/r16".to_string(), synthetic.clone(), 16),
        ("synthetic/r100".to_string(), synthetic, 100),
    ];
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data-cache/ml-100k.inter");
    match read_ratings(&path) {
        Ok(r) => out.push(("ml100k/r100".to_string(), r, 100)),
        Err(e) => eprintln!("SKIPPED ml100k: {e}; run `bash scripts/fetch-data` to fetch it"),
    }
    out
}

/// One epoch of the model's own step on a plain `Vec<f32>`, in the trainer's
/// order for `seed`: no atomics, no views, no pool.
fn plain_epoch(model: &MatrixFactorization, data: &Ratings, init: &[f32], order: &mut [u32], seed: u64) -> Duration {
    let mut w = init.to_vec();
    epoch_order(seed, 0, order);
    let clock = Instant::now();
    for &i in order.iter() {
        model.step(&mut w[..], data.sample(i as usize), Step::new(LR));
    }
    let t = clock.elapsed();
    std::hint::black_box(&w);
    t
}

fn main() {
    let mut c = configure();
    let threads = thread_counts();
    for (name, data, rank) in problems() {
        let model = MatrixFactorization::for_ratings(&data, rank).expect("valid model settings");
        let mut group = c.benchmark_group(format!("mf/{name}"));
        group.throughput(Throughput::Elements(data.len() as u64));
        let base = Trainer::new()
            .epochs(1)
            .schedule(Schedule::Constant(LR))
            .loss_rows(Some(1));
        let epoch = |t: &Trainer, iters: u64| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let r = t.clone().seed(i).fit(&model, &data).expect("training runs");
                total += Duration::from_secs_f64(r.report.update_seconds());
            }
            total
        };
        let mut init = vec![0.0f32; model.n_weights()];
        model.init(&mut init, 0);
        let mut order = vec![0u32; data.len()];
        group.bench_function(BenchmarkId::new("plain", 1), |b| {
            b.iter_custom(|n| (0..n).map(|i| plain_epoch(&model, &data, &init, &mut order, i)).sum())
        });
        let seq = base.clone().policy(Policy::Sequential);
        group.bench_function(BenchmarkId::new("sequential", 1), |b| b.iter_custom(|n| epoch(&seq, n)));
        for policy in [
            Policy::Racy,
            Policy::AtomicAdd,
            Policy::Locked,
            Policy::Batched { size: 32 },
            // Touched-only merges: a merge costs what the period touched,
            // not the 1.9M weights of the model.
            Policy::Replicas {
                every: 1024,
                merge: wildsgd::policy::Merge::Sum,
            },
        ] {
            for &t in &threads {
                let tr = base.clone().policy(policy).threads(t);
                group.bench_function(BenchmarkId::new(policy.to_string(), t), |b| {
                    b.iter_custom(|n| epoch(&tr, n))
                });
            }
        }
        group.finish();
    }
    c.final_summary();
}
