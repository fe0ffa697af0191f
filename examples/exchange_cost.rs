//! What a sparse exchange (every rank's changed coordinates gathered) and a
//! dense one (the whole delta all-reduced) cost on this machine's MPI, for a
//! range of changed fractions: where `cluster::SPARSE_BREAK_EVEN` comes from.
//!
//! ```text
//! cargo build --release --features mpi --example exchange_cost
//! mpirun -np 2 target/release/examples/exchange_cost > out-2.tsv
//! ```
//! Prints one TSV line per (weights, changed fraction): the median seconds
//! of each exchange over the repetitions, measured by rank 0.

#[cfg(feature = "mpi")]
fn main() -> Result<(), wildsgd::Error> {
    use std::time::Instant;
    use wildsgd::cluster::{Cluster, Mpi};

    let mpi = Mpi::init()?;
    let (rank, size) = (mpi.rank(), mpi.size());
    let reps = 31;
    if rank == 0 {
        println!("ranks\tweights\tchanged_fraction\tsparse_bytes_over_dense\tdense_s\tsparse_s\tsparse_over_dense");
    }
    for weights in [50_000usize, 1_000_000] {
        for frac in [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5] {
            let mut dense = vec![1.0f32; weights];
            let t = ((weights as f64 * frac) as usize).max(1);
            // Each rank's changed coordinates: a strided set, shifted by rank.
            let mine: Vec<u32> = (0..t)
                .map(|k| ((k * weights / t + rank) % weights) as u32)
                .chain((0..t).map(|_| 1.0f32.to_bits()))
                .collect();
            let (mut all, mut counts) = (Vec::new(), Vec::new());
            let (mut d_times, mut s_times) = (Vec::new(), Vec::new());
            for _ in 0..reps {
                let mut b = [0.0f64];
                mpi.sum_f64(&mut b)?; // line the ranks up
                let c = Instant::now();
                mpi.sum_f32(&mut dense)?;
                d_times.push(c.elapsed().as_secs_f64());
                mpi.sum_f64(&mut b)?;
                let c = Instant::now();
                mpi.gather_u32(&mine, &mut all, &mut counts)?;
                s_times.push(c.elapsed().as_secs_f64());
            }
            let median = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let (d, s) = (median(&mut d_times), median(&mut s_times));
            if rank == 0 {
                let ratio = (size * t * 8) as f64 / (weights * 4) as f64;
                println!("{size}\t{weights}\t{frac}\t{ratio:.3}\t{d:.6}\t{s:.6}\t{:.3}", s / d);
            }
        }
    }
    Ok(())
}

#[cfg(not(feature = "mpi"))]
fn main() {
    eprintln!("exchange_cost needs --features mpi");
    std::process::exit(2);
}
