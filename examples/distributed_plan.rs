//! The communication model of `train --distributed`, evaluated for a job
//! larger than any machine here: predicted time per epoch of a sparse
//! logistic model (adaptive update) on 1 billion rows x 10 million
//! features, 4 to 256 nodes, on 10, 25 and 100 Gb/s networks. A
//! prediction from the model below and the constants measured on the
//! 2-core development VM (`benches/results/2core-epyc/distributed/`), not a
//! measurement: `docs/distributed.md` explains each term.
//!
//! ```text
//! cargo run --release --example distributed_plan > docs/distributed-plan.md
//! ```

/// One network: bandwidth in bits per second and per-message latency.
struct Net {
    name: &'static str,
    bits_per_s: f64,
    latency_s: f64,
}

const NETS: [Net; 3] = [
    Net {
        name: "10 Gb/s (TCP)",
        bits_per_s: 10e9,
        latency_s: 25e-6,
    },
    Net {
        name: "25 Gb/s",
        bits_per_s: 25e9,
        latency_s: 10e-6,
    },
    Net {
        name: "100 Gb/s (RDMA)",
        bits_per_s: 100e9,
        latency_s: 2e-6,
    },
];

/// The problem.
const ROWS: f64 = 1e9;
const FEATURES: f64 = 10e6;
/// Nonzeros per row (RCV1-shaped rows have ~75).
const NNZ: f64 = 100.0;
/// Store slots per feature: weight and adaptive accumulator.
const SLOTS: f64 = 2.0;
/// One thread's samples per second on RCV1-shaped rows (measured: the
/// sequential run of benches/distributed/run, 2.6M/s (3.0M in a later run); rows of 100 nonzeros
/// scale it by 75/100).
const THREAD_RATE: f64 = 2.6e6 * 75.0 / 100.0;
/// Threads per node, and the speed-up they give (the coherence
/// simulator's prediction for racy on RCV1-shaped rows at 16 threads:
/// benches/results/simulated/).
const THREADS: f64 = 16.0;
const NODE_SPEEDUP: f64 = 3.6;
/// Seconds per store slot per exchange spent on the node itself (the pass
/// that finds the changed ones): measured 1.3 ns (the 2-rank run's 0.1116 s
/// per epoch over 783 exchanges of 94,474 slots, less its collectives).
const LOCAL_S_PER_SLOT: f64 = 1.3e-9;
/// The default exchange interval's budget: 128 samples of the whole job.
const JOB_SAMPLES: f64 = 128.0;

/// Seconds for one exchange on `nodes` nodes, each rank having changed
/// `touched` slots: the local pass (over every slot as built, or over the
/// changed ones only if `touched_only`), a small all-reduce of the counts,
/// then a gather of every rank's (index, value) pairs or a ring all-reduce
/// of the dense delta, whichever moves fewer bytes (as
/// `cluster::exchange_for` decides).
fn exchange_s(nodes: f64, touched: f64, net: &Net, touched_only: bool) -> f64 {
    let beta = net.bits_per_s / 8.0;
    let ring = |bytes: f64| 2.0 * (nodes - 1.0) * net.latency_s + 2.0 * (nodes - 1.0) / nodes * bytes / beta;
    let gather = |bytes_each: f64| (nodes - 1.0) * net.latency_s + (nodes - 1.0) * bytes_each / beta;
    let head = ring(16.0);
    let dense_bytes = 4.0 * SLOTS * FEATURES;
    let sparse_each = 8.0 * touched;
    let sparse = sparse_each * nodes < 2.0 * dense_bytes;
    let t = if sparse { gather(sparse_each) } else { ring(dense_bytes) };
    let local = if touched_only && sparse {
        // The changed slots and, applied back, every rank's.
        LOCAL_S_PER_SLOT * touched * (1.0 + nodes)
    } else {
        LOCAL_S_PER_SLOT * SLOTS * FEATURES
    };
    local + head + t
}

fn main() {
    let node_rate = THREAD_RATE * NODE_SPEEDUP;
    let one_node = ROWS / node_rate;
    println!(
        "Predicted (not measured) seconds per epoch: {ROWS:e} rows x {FEATURES:e} features, {NNZ} nonzeros per row,"
    );
    println!(
        "an adaptive logistic model ({SLOTS} store slots per feature), {THREADS} threads per node at {node_rate:.3e}"
    );
    println!("samples/s per node: one node alone takes {one_node:.1} s. Each cell: seconds per epoch (speed-up over one node).\n");
    println!("- *as built*: each exchange passes over every slot on the node (`cluster::Exchanger`).");
    println!("- *touched-only*: the pass covers only the changed slots (planned, not built).");
    println!(
        "- *default*: `every` = max(16, 128 / nodes) samples per node, the interval the sum of changes was measured"
    );
    println!("  stable at on the harness problems; *4096*: a longer one, stable here only with the adaptive update at 2 ranks.\n");
    println!("| nodes | network | as built, default | as built, 4096 | touched-only, default | touched-only, 4096 |");
    println!("|---|---|---|---|---|---|");
    for nodes in [4.0f64, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0] {
        for net in &NETS {
            let mut cells = Vec::new();
            for touched_only in [false, true] {
                for every in [(JOB_SAMPLES / nodes).max(16.0), 4096.0] {
                    // Changed slots: each of the interval's samples writes NNZ
                    // features' slots (repeats ignored: an upper bound).
                    let touched = (every * NNZ * SLOTS).min(SLOTS * FEATURES);
                    let per = exchange_s(nodes, touched, net, touched_only);
                    let exchanges = (ROWS / nodes / every).ceil();
                    let epoch = ROWS / nodes / node_rate + exchanges * per;
                    cells.push(format!("{epoch:.1} ({:.2}x)", one_node / epoch));
                }
            }
            println!("| {nodes} | {} | {} |", net.name, cells.join(" | "));
        }
    }
}
