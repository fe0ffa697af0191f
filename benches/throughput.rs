//! Throughput of one training epoch, per problem, model, policy and thread
//! count, against the plain sequential `&mut [f32]` loop.
//!
//! ```text
//! cargo bench --bench throughput                  # everything (~20 min on 2 cores)
//! cargo bench --bench throughput -- zipf/logistic # a filter (substring of the id)
//! cargo bench --bench throughput -- --zipf 1.3    # another popularity skew
//! ```
//!
//! Each measurement is the update time of one epoch as the trainer's report
//! gives it: loss passes, pool start-up and data generation are off the clock,
//! for the plain loop and every policy alike. Throughput is in samples
//! (criterion's elements).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use wildsgd::data::{CsrDataset, Synthetic};
use wildsgd::{baseline, Linear, Loss, Policy, Schedule, Trainer};

struct Args {
    filter: Option<String>,
    zipf: f64,
}

/// Criterion's own parser rejects unknown flags, so `--zipf` is taken here;
/// the first free argument is the filter, and cargo's `--bench` is ignored.
fn args() -> Args {
    let mut out = Args {
        filter: None,
        zipf: 1.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--zipf" => {
                out.zipf = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--zipf needs a number, e.g. --zipf 1.0")
            }
            s if s.starts_with("--") => {}
            s => out.filter = Some(s.to_string()),
        }
    }
    out
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

fn problems(zipf: f64) -> Vec<(String, CsrDataset)> {
    let rcv1 = |zipf| Synthetic {
        rows: 50_000,
        zipf,
        ..Synthetic::default()
    };
    vec![
        (format!("zipf{zipf}"), rcv1(zipf).generate().unwrap()),
        ("uniform".into(), rcv1(0.0).generate().unwrap()),
        ("dense256".into(), Synthetic::dense(20_000, 256).generate().unwrap()),
    ]
}

fn main() {
    let args = args();
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    if let Some(f) = &args.filter {
        c = c.with_filter(f.clone());
    }
    let threads = thread_counts();
    for (name, data) in problems(args.zipf) {
        for loss in [Loss::Logistic, Loss::Hinge, Loss::Squared] {
            let model = Linear::new(loss, data.n_features()).bias(true).l2(1e-6, &data);
            let mut group = c.benchmark_group(format!("{name}/{}", loss.name()));
            group.throughput(Throughput::Elements(data.len() as u64));
            let base = Trainer::new()
                .epochs(1)
                .schedule(Schedule::Constant(0.1))
                .loss_rows(Some(1));
            let epoch = |t: &Trainer, iters: u64, plain: bool| {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let t = t.clone().seed(i);
                    let r = if plain {
                        baseline::plain_linear(&t, &model, &data)
                    } else {
                        t.fit(&model, &data)
                    };
                    total += Duration::from_secs_f64(r.expect("training runs").report.update_seconds());
                }
                total
            };
            group.bench_function(BenchmarkId::new("plain", 1), |b| {
                b.iter_custom(|n| epoch(&base, n, true))
            });
            let seq = base.clone().policy(Policy::Sequential);
            group.bench_function(BenchmarkId::new("sequential", 1), |b| {
                b.iter_custom(|n| epoch(&seq, n, false))
            });
            for policy in [
                Policy::Racy,
                Policy::AtomicAdd,
                Policy::Locked,
                Policy::Batched { size: 32 },
                Policy::HotCold { hot: 65_534, every: 32 },
                // On the sparse problems (47k weights) a whole-copy replica
                // (/ 1024 <= 256 per sample) and a touched-only one (/ 64 > 256).
                Policy::Replicas {
                    every: 1024,
                    merge: wildsgd::policy::Merge::Sum,
                },
                Policy::Replicas {
                    every: 64,
                    merge: wildsgd::policy::Merge::Sum,
                },
                Policy::Auto,
            ] {
                for &t in &threads {
                    let tr = base.clone().policy(policy).threads(t);
                    group.bench_function(BenchmarkId::new(policy.to_string(), t), |b| {
                        b.iter_custom(|n| epoch(&tr, n, false))
                    });
                }
            }
            group.finish();
        }
    }
    c.final_summary();
}
