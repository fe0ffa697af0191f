//! Writes the RCV1-shaped synthetic problem (`Synthetic::default()`'s shape) to
//! LIBSVM train/test files, so that tools other than wildsgd can read the very same rows
//! (`benches/peers/run` uses it).
//!
//! ```text
//! cargo run --release --example write_synthetic -- --out-dir /tmp/syn
//! cargo run --release --example write_synthetic -- --out-dir /tmp/syn --train 20000 --test 5000 --seed 3
//! ```
//!
//! The rows are generated once (`train + test` of them, from `--seed`) and split by a seeded
//! shuffle, so both files come from one distribution and the output depends only on the
//! arguments. A `.gz` suffix in `--train-name`/`--test-name` writes gzip.

use std::path::PathBuf;

use clap::Parser;
use wildsgd::data::{write_libsvm_file, Synthetic};

#[derive(Parser)]
#[command(about = "Write the RCV1-shaped synthetic problem to LIBSVM train/test files")]
struct Args {
    /// Directory for the two files (created if missing).
    #[arg(long)]
    out_dir: PathBuf,
    /// Training rows.
    #[arg(long, default_value_t = 200_000)]
    train: usize,
    /// Test rows.
    #[arg(long, default_value_t = 50_000)]
    test: usize,
    /// Seed of the generator and of the split.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// File name of the training set.
    #[arg(long, default_value = "train.svm")]
    train_name: String,
    /// File name of the test set.
    #[arg(long, default_value = "test.svm")]
    test_name: String,
}

fn main() -> Result<(), wildsgd::Error> {
    let a = Args::parse();
    let rows = a.train + a.test;
    let data = Synthetic {
        rows,
        seed: a.seed,
        ..Synthetic::default()
    }
    .generate()?;
    let (train, test) = data.split(a.test as f64 / rows as f64, a.seed)?;
    std::fs::create_dir_all(&a.out_dir).map_err(|source| wildsgd::Error::Io {
        file: a.out_dir.display().to_string(),
        source,
    })?;
    for (set, name) in [(&train, &a.train_name), (&test, &a.test_name)] {
        let path = a.out_dir.join(name);
        write_libsvm_file(&path, set)?;
        println!("{}: {} rows, {} features", path.display(), set.len(), set.n_features());
    }
    Ok(())
}
