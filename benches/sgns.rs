//! Throughput of one SGNS training epoch on the 4elt METIS graph's edges
//! (both directions, 86k pairs, dim 32, 5 negatives), per policy and thread
//! count, against `Sequential`.
//!
//! ```text
//! bash scripts/fetch-data                 # once: data-cache/metis/4elt.graph
//! cargo bench --bench sgns                # everything (~1 min on 2 cores)
//! cargo bench --bench sgns -- sgns/racy   # a filter (substring of the id)
//! ```
//!
//! Without the data file it falls back to a synthetic graph (a 2-D grid of
//! the same size). Each measurement is the update time of one epoch as the
//! trainer's report gives it (loss passes and pool start-up off the clock).
//! Throughput is in pairs (criterion's elements).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use wildsgd::data::{read_metis, Graph, Pairs};
use wildsgd::model::{Sgns, UnigramTable};
use wildsgd::{Policy, Schedule, Trainer};

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

fn graph() -> (String, Graph) {
    let path = "data-cache/metis/4elt.graph";
    if let Ok(g) = read_metis(path) {
        return ("4elt".into(), g);
    }
    let side = 86u32;
    let id = |r: u32, c: u32| r * side + c;
    let mut edges = Vec::new();
    for r in 0..side {
        for c in 0..side {
            if c + 1 < side {
                edges.push((id(r, c), id(r, c + 1)));
            }
            if r + 1 < side {
                edges.push((id(r, c), id(r + 1, c)));
            }
        }
    }
    let g = Graph {
        n_nodes: (side * side) as usize,
        edges,
        ..Graph::default()
    };
    ("grid86".into(), g)
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    if let Some(f) = &filter {
        c = c.with_filter(f.clone());
    }
    let (name, g) = graph();
    let pairs = Pairs::from_graph(&g);
    let model = Sgns::new(
        g.n_nodes,
        32,
        UnigramTable::new(&pairs.target_counts(g.n_nodes)).unwrap(),
    )
    .unwrap();
    let mut group = c.benchmark_group(format!("sgns/{name}"));
    group.throughput(Throughput::Elements(pairs.as_slice().len() as u64));
    let base = Trainer::new()
        .epochs(1)
        .schedule(Schedule::Constant(0.1))
        .loss_rows(Some(1));
    let epoch = |t: &Trainer, iters: u64| {
        let mut total = Duration::ZERO;
        for i in 0..iters {
            let t = t.clone().seed(i);
            let r = t.fit(&model, &pairs).expect("training runs");
            total += Duration::from_secs_f64(r.report.update_seconds());
        }
        total
    };
    let seq = base.clone().policy(Policy::Sequential);
    group.bench_function(BenchmarkId::new("sequential", 1), |b| b.iter_custom(|n| epoch(&seq, n)));
    for policy in [
        Policy::Racy,
        Policy::AtomicAdd,
        Policy::Batched { size: 32 },
        Policy::Locked,
    ] {
        for &t in &thread_counts() {
            let tr = base.clone().policy(policy).threads(t);
            group.bench_function(BenchmarkId::new(policy.to_string(), t), |b| {
                b.iter_custom(|n| epoch(&tr, n))
            });
        }
    }
    group.finish();
    c.final_summary();
}
