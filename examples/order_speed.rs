//! Issue 16's speed report: samples/s of each training order (full
//! permutation, blocks ± prefetch, blocks in order, stored) per model and
//! policy, the variants interleaved round by round in one process, one JSON
//! line per fit on stdout.
//!
//! ```text
//! cargo run --release --example order_speed -- SUITE [--rounds R] [--variants a,b,..] [--configs a,b,..]
//! ```
//!
//! Suites: `synthetic` (200k × 61-nonzero RCV1-shaped rows, logistic, bias,
//! l2 1e-5), `spam` (data/spamassassin.svm.gz), `mf100k`, `mf1m`
//! (SyntheticRatings, rank 32, Constant(0.01)), `sgns` (a METIS graph's edges
//! as pairs, dim 32, 5 negatives; `--graph PATH`), `blocksize` (the synthetic
//! set at several block sizes). Variants: `full`, `full+pf`, `blocks`,
//! `blocks+pf`, `inorder+pf`, `stored+pf`, `blocks:N+pf`, `inorder:N+pf`.
//! Configs (linear suites): `seq`, `plain`, `racy2`, `auto2`; (mf, sgns):
//! `seq`, `racy2`.
//!
//! The measured figure is the report's update seconds (update passes only:
//! the one-off shuffled copy and the loss passes are off that clock; the
//! fit's wall time, which includes both, is printed as `fit_wall_s`).
//!
//! The same file also builds against the library before issue 16 (commit
//! 77523de, no `Order`): `benches/results/2core-epyc/order/run.sh` replaces
//! the two marked blocks and runs only the `full` variant there ("today").

use std::time::Instant;

use wildsgd::data::{
    binary_labels, read_libsvm, read_metis, CsrDataset, LibsvmOptions, Pairs, Ratings, Synthetic, SyntheticRatings,
};
use wildsgd::model::{Sgns, UnigramTable};
use wildsgd::{baseline, Linear, Loss, MatrixFactorization, Policy, Schedule, Trained, Trainer};

#[derive(Clone, Debug)]
struct Variant {
    name: String,
    /// `full`, `blocks`, `inorder` or `stored`.
    kind: String,
    /// Rows per block; 0 for the automatic size.
    rows: usize,
    prefetch: bool,
}

impl Variant {
    fn parse(s: &str) -> Variant {
        let (base, prefetch) = match s.strip_suffix("+pf") {
            Some(b) => (b, true),
            None => (s, false),
        };
        let (kind, rows) = match base.split_once(':') {
            Some((k, r)) => (k, r.parse().expect("block rows")),
            None => (base, 0),
        };
        assert!(
            matches!(kind, "full" | "blocks" | "inorder" | "stored"),
            "unknown variant {s}"
        );
        Variant {
            name: s.to_string(),
            kind: kind.to_string(),
            rows,
            prefetch,
        }
    }
}

// NEW-API BEGIN (replaced for the 77523de build)
fn configure(t: Trainer, v: &Variant) -> Trainer {
    use wildsgd::schedule::Order;
    let order = match v.kind.as_str() {
        "full" => Order::Full,
        "blocks" => Order::Blocks {
            rows: v.rows,
            shuffle_within: true,
        },
        "inorder" => Order::Blocks {
            rows: v.rows,
            shuffle_within: false,
        },
        _ => Order::Stored,
    };
    t.order(order).prefetch(v.prefetch)
}

fn order_name(r: &Trained) -> String {
    r.report.order.clone()
}

const BUILD: &str = "new";
// NEW-API END

fn update_rate(r: &Trained) -> (u64, f64) {
    let samples: u64 = r.report.epochs.iter().map(|e| e.samples).sum();
    let secs: f64 = r.report.epochs.iter().map(|e| e.update_seconds).sum();
    (samples, secs)
}

fn emit(suite: &str, config: &str, v: &Variant, round: usize, r: &Trained, wall: f64) {
    let (samples, secs) = update_rate(r);
    let line = serde_json::json!({
        "build": BUILD,
        "suite": suite,
        "config": config,
        "variant": v.name,
        "round": round,
        "samples": samples,
        "update_seconds": secs,
        "samples_per_sec": samples as f64 / secs,
        "final_loss": r.report.final_loss(),
        "policy": r.report.policy,
        "threads": r.report.threads,
        "order": order_name(r),
        "fit_wall_s": wall,
    });
    println!("{line}");
}

fn linear_trainer(config: &str, epochs: usize) -> Trainer {
    let t = Trainer::new().epochs(epochs).seed(1);
    match config {
        "seq" | "plain" => t.policy(Policy::Sequential),
        "racy2" => t.policy(Policy::Racy).threads(2),
        "auto2" => t.policy(Policy::Auto).threads(2),
        c => panic!("unknown config {c}"),
    }
}

fn run_linear(
    suite: &str,
    data: &CsrDataset,
    epochs: usize,
    rounds: std::ops::Range<usize>,
    variants: &[Variant],
    configs: &[String],
) {
    let model = Linear::new(Loss::Logistic, data.n_features()).bias(true).l2(1e-5, data);
    for round in rounds.clone() {
        for config in configs {
            for v in variants {
                let t = configure(linear_trainer(config, epochs), v);
                let start = Instant::now();
                let r = if config == "plain" {
                    baseline::plain_linear(&t, &model, data)
                } else {
                    t.fit(&model, data)
                }
                .expect("training runs");
                emit(suite, config, v, round, &r, start.elapsed().as_secs_f64());
            }
        }
    }
}

fn simple_trainer(config: &str, epochs: usize, lr: f32) -> Trainer {
    let t = Trainer::new().epochs(epochs).seed(1).schedule(Schedule::Constant(lr));
    match config {
        "seq" => t.policy(Policy::Sequential),
        "racy2" => t.policy(Policy::Racy).threads(2),
        c => panic!("unknown config {c}"),
    }
}

fn run_mf(
    suite: &str,
    data: &Ratings,
    epochs: usize,
    rounds: std::ops::Range<usize>,
    variants: &[Variant],
    configs: &[String],
) {
    let model = MatrixFactorization::for_ratings(data, 32).expect("model");
    for round in rounds.clone() {
        for config in configs {
            for v in variants {
                let t = configure(simple_trainer(config, epochs, 0.01), v);
                let start = Instant::now();
                let r = t.fit(&model, data).expect("training runs");
                emit(suite, config, v, round, &r, start.elapsed().as_secs_f64());
            }
        }
    }
}

fn run_sgns(
    suite: &str,
    path: &str,
    epochs: usize,
    rounds: std::ops::Range<usize>,
    variants: &[Variant],
    configs: &[String],
) {
    let g = read_metis(path).expect("graph");
    let pairs = Pairs::from_graph(&g);
    eprintln!("{path}: {} nodes, {} pairs", g.n_nodes, pairs.as_slice().len());
    let model = Sgns::new(
        g.n_nodes,
        32,
        UnigramTable::new(&pairs.target_counts(g.n_nodes)).unwrap(),
    )
    .unwrap();
    for round in rounds.clone() {
        for config in configs {
            for v in variants {
                let t = configure(simple_trainer(config, epochs, 0.1), v);
                let start = Instant::now();
                let r = t.fit(&model, &pairs).expect("training runs");
                emit(suite, config, v, round, &r, start.elapsed().as_secs_f64());
            }
        }
    }
}

fn synthetic() -> CsrDataset {
    Synthetic {
        rows: 200_000,
        features: 47_236,
        nnz_per_row: 61,
        ..Synthetic::default()
    }
    .generate()
    .expect("synthetic data")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let suite = args.first().expect("a suite").clone();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .map(|i| args.get(i + 1).expect("a value").clone())
    };
    let rounds: usize = opt("--rounds").map_or(3, |r| r.parse().unwrap());
    // The number the first round is printed with, for drivers that run one round per process.
    let first: usize = opt("--first-round").map_or(0, |r| r.parse().unwrap());
    let rounds = first..first + rounds;
    let list = |name: &str, default: &str| -> Vec<String> {
        opt(name)
            .unwrap_or_else(|| default.to_string())
            .split(',')
            .map(str::to_string)
            .collect()
    };
    let all = "full,full+pf,blocks,blocks+pf,inorder+pf,stored+pf";
    let variants: Vec<Variant> = list("--variants", all).iter().map(|s| Variant::parse(s)).collect();
    let epochs = |default: usize| opt("--epochs").map_or(default, |e| e.parse().unwrap());
    match suite.as_str() {
        "synthetic" => {
            let configs = list("--configs", "seq,plain,racy2,auto2");
            run_linear(
                "synthetic",
                &synthetic(),
                epochs(10),
                rounds.clone(),
                &variants,
                &configs,
            );
        }
        "blocksize" => {
            let configs = list("--configs", "seq");
            let v = list(
                "--variants",
                "blocks:16+pf,blocks:32+pf,blocks+pf,blocks:128+pf,blocks:256+pf,blocks:1024+pf,\
                 inorder:16+pf,inorder:32+pf,inorder+pf,inorder:128+pf,inorder:256+pf,inorder:1024+pf",
            );
            let v: Vec<Variant> = v.iter().map(|s| Variant::parse(s)).collect();
            run_linear("blocksize", &synthetic(), epochs(10), rounds.clone(), &v, &configs);
        }
        "spam" => {
            let mut d = read_libsvm("data/spamassassin.svm.gz", &LibsvmOptions::default())
                .expect("data/spamassassin.svm.gz")
                .data;
            binary_labels(&mut d).expect("two labels");
            eprintln!("spam: {} rows, {} features", d.len(), d.n_features());
            let configs = list("--configs", "seq,plain,racy2,auto2");
            run_linear("spam", &d, epochs(150), rounds.clone(), &variants, &configs);
        }
        "mf100k" | "mf1m" => {
            let shape = if suite == "mf1m" {
                SyntheticRatings {
                    users: 6040,
                    items: 3706,
                    ratings: 1_000_000,
                    ..SyntheticRatings::default()
                }
            } else {
                SyntheticRatings::default()
            };
            let d = shape.generate().expect("ratings");
            eprintln!(
                "{suite}: {} ratings, {} users, {} items",
                d.len(),
                d.n_users(),
                d.n_items()
            );
            let configs = list("--configs", "seq,racy2");
            run_mf(
                &suite,
                &d,
                epochs(if suite == "mf1m" { 5 } else { 20 }),
                rounds.clone(),
                &variants,
                &configs,
            );
        }
        "sgns" => {
            let path = opt("--graph").unwrap_or_else(|| "data-cache/metis/4elt.graph".into());
            let name = std::path::Path::new(&path)
                .file_stem()
                .map_or("graph".into(), |s| s.to_string_lossy().to_string());
            let configs = list("--configs", "seq,racy2");
            run_sgns(
                &format!("sgns-{name}"),
                &path,
                epochs(5),
                rounds.clone(),
                &variants,
                &configs,
            );
        }
        s => panic!("unknown suite {s}"),
    }
}
