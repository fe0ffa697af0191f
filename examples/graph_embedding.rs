//! LINE-style graph embedding (first-order proximity through skip-gram with
//! negative sampling) on a METIS graph, evaluated by link prediction.
//!
//! ```text
//! bash scripts/fetch-data        # once: data-cache/metis/*.graph
//! cargo run --release --example graph_embedding -- [graph] [epochs] [dim] [learning rate]
//! ```
//!
//! Holds out 10 % of the edges, trains on the rest (both directions of each
//! edge, 5 negatives from degree^0.75, learning rate 0.4 decaying linearly;
//! the small word2vec initialisation needs a rate this large to leave the
//! saddle at zero within a few epochs of a small graph), and prints the AUC of the held-out
//! edges against as many random non-edges, and samples/s at 1 and 2 threads.

use wildsgd::data::{read_metis, Pairs};
use wildsgd::model::{Sgns, UnigramTable};
use wildsgd::{Policy, Schedule, Trainer};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), wildsgd::Error> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "data-cache/metis/4elt.graph".into());
    let epochs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let dim: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let lr: f32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0.4);
    if !std::path::Path::new(&path).exists() {
        eprintln!("{path} is missing: run `bash scripts/fetch-data` first");
        return Ok(());
    }
    let graph = read_metis(&path)?;
    let (train, held) = graph.split_edges(0.1, 1)?;
    let non_edges = graph.non_edges(held.len(), 2)?;
    let pairs = Pairs::from_graph(&train);
    let table = UnigramTable::new(&pairs.target_counts(graph.n_nodes))?;
    let model = Sgns::new(graph.n_nodes, dim, table)?.negatives(5);
    println!(
        "{path}: {} nodes, {} edges; training on {} ({} pairs), {} held out",
        graph.n_nodes,
        graph.edges.len(),
        train.edges.len(),
        pairs.as_slice().len(),
        held.len()
    );
    for threads in [1, 2] {
        let trainer = Trainer::new()
            .policy(if threads == 1 { Policy::Sequential } else { Policy::Racy })
            .threads(threads)
            .epochs(epochs)
            .schedule(Schedule::Linear {
                initial: lr,
                samples: (epochs * pairs.as_slice().len()) as u64,
            })
            .seed(1);
        let trained = trainer.fit(&model, &pairs)?;
        let r = &trained.report;
        println!(
            "{} thread(s) ({}): final loss {:.4}, {:.0} samples/s (update time), held-out link AUC {:.4}",
            threads,
            trainer.get_policy(),
            r.final_loss().unwrap_or(f64::NAN),
            r.samples_per_sec(),
            model.link_auc(&trained.weights, &held, &non_edges)
        );
    }
    Ok(())
}
