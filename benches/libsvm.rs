//! LIBSVM parsing throughput, in MB/s of text: one thread, then all cores.
//!
//! ```text
//! cargo bench --bench libsvm
//! ```
//!
//! The inputs: a synthetic RCV1-shaped dataset written with `write_libsvm`
//! (about 49 MB of text, values in shortest round-trip form), and the
//! embedded SpamAssassin file decompressed (11.4 MB, 4-digit values).
//! Decompression is not timed.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wildsgd::data::{read_libsvm_bytes, write_libsvm, LibsvmOptions, Synthetic};

fn text() -> Vec<u8> {
    let data = Synthetic {
        rows: 40_000,
        ..Synthetic::default()
    }
    .generate()
    .expect("generate");
    let mut out = Vec::new();
    write_libsvm(&mut out, &data).expect("write");
    out
}

fn bench(c: &mut Criterion) {
    let text = text();
    let mut g = c.benchmark_group("libsvm_parse");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.sample_size(10);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in [1, cores] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        g.bench_function(format!("{threads}_threads"), |b| {
            b.iter(|| pool.install(|| read_libsvm_bytes("bench", &text, &LibsvmOptions::default()).expect("parse")))
        });
        if cores == 1 {
            break;
        }
    }
    // The embedded real data (11.4 MB of text once decompressed), one thread.
    let spam = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/spamassassin.svm.gz");
    let mut real = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(spam).expect("data/spamassassin.svm.gz")),
        &mut real,
    )
    .expect("gunzip");
    g.throughput(Throughput::Bytes(real.len() as u64));
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    g.bench_function("spamassassin_1_thread", |b| {
        b.iter(|| one.install(|| read_libsvm_bytes("spam", &real, &LibsvmOptions::default()).expect("parse")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
