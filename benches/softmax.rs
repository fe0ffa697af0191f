//! Throughput of one softmax-regression epoch per policy and thread count,
//! against a plain sequential `Vec<f32>` loop and `Sequential`: the dense
//! workload, where every sample writes a weight of every class (and every
//! thread writes the same class biases on every sample).
//!
//! ```text
//! cargo bench --bench softmax                      # everything
//! cargo bench --bench softmax -- synthetic         # a filter (substring of the id)
//! ```
//!
//! Problems: `synthetic` (20,000 dense rows × 256 features, 10 classes) and,
//! when `bash scripts/fetch-data` has fetched it, `fashion-mnist` (the
//! 10,000 test images, ~392 nonzeros of 784 per row, 10 classes; the test
//! split keeps reading time short). Each measurement is the update time of
//! one epoch (loss passes and pool start-up off the clock); throughput is in
//! samples.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use wildsgd::data::{read_libsvm, CsrDataset, Dataset, LibsvmOptions};
use wildsgd::model::Step;
use wildsgd::model::{Softmax, SyntheticClasses};
use wildsgd::trainer::epoch_order;
use wildsgd::{Model, Policy, Schedule, Trainer};

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

fn problems() -> Vec<(&'static str, CsrDataset)> {
    let synthetic = SyntheticClasses {
        rows: 20_000,
        features: 256,
        classes: 10,
        margin: 0.0,
        label_noise: 0.05,
        seed: 1,
    };
    let mut out = vec![("synthetic", synthetic.generate().expect("valid settings"))];
    let fashion = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data-cache/fashion-mnist/test.svm.gz");
    if fashion.exists() {
        let opts = LibsvmOptions {
            n_features: Some(784),
            ..LibsvmOptions::default()
        };
        out.push(("fashion-mnist", read_libsvm(&fashion, &opts).expect("readable").data));
    } else {
        eprintln!("skipping fashion-mnist: {} is absent", fashion.display());
    }
    out
}

const SCHEDULE: Schedule = Schedule::Constant(0.005);

/// One epoch of the plain loop: the trainer's order and rates, steps on a
/// `Vec<f32>`, no atomics, views or pool.
fn plain_epoch(model: &Softmax, data: &CsrDataset, seed: u64, order: &mut [u32]) -> Duration {
    let mut w = vec![0.0f32; model.n_weights()];
    model.init(&mut w, seed);
    epoch_order(seed, 0, order);
    let clock = Instant::now();
    for (p, &i) in order.iter().enumerate() {
        model.step(&mut w, data.sample(i as usize), Step::new(SCHEDULE.rate(0, p as u64)));
    }
    let t = clock.elapsed();
    std::hint::black_box(&w);
    t
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let threads = thread_counts();
    for (name, data) in problems() {
        let model = Softmax::for_data(&data).expect("class labels").l2(1e-4, &data);
        let mut group = c.benchmark_group(format!("{name}/softmax"));
        group.throughput(Throughput::Elements(data.len() as u64));
        let base = Trainer::new().epochs(1).schedule(SCHEDULE).loss_rows(Some(1));
        let epoch = |t: &Trainer, iters: u64| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let r = t.clone().seed(i).fit(&model, &data).expect("training runs");
                total += Duration::from_secs_f64(r.report.update_seconds());
            }
            total
        };
        let mut order = vec![0u32; data.len()];
        group.bench_function(BenchmarkId::new("plain", 1), |b| {
            b.iter_custom(|n| (0..n).map(|i| plain_epoch(&model, &data, i, &mut order)).sum())
        });
        let seq = base.clone().policy(Policy::Sequential);
        group.bench_function(BenchmarkId::new("sequential", 1), |b| b.iter_custom(|n| epoch(&seq, n)));
        for policy in [
            Policy::Racy,
            Policy::AtomicAdd,
            Policy::Locked,
            Policy::Batched { size: 32 },
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
