//! Streamed training (`data::stream_libsvm`, `Trainer::stream_job`) and
//! feature hashing: the same rows as in memory, the same errors, bounded
//! windows, a stable hold-out.

use std::io::Write;
use std::path::Path;

use wildsgd::data::{
    read_libsvm, read_libsvm_bytes, stream_libsvm, write_libsvm_file, Hashing, LibsvmOptions, StreamOptions, Synthetic,
};
use wildsgd::{Linear, Loss, Policy, Schedule, Trainer};

fn synthetic(dir: &Path, rows: usize, gz: bool) -> std::path::PathBuf {
    let d = Synthetic {
        rows,
        features: 2000,
        nnz_per_row: 20,
        ..Synthetic::default()
    }
    .generate()
    .unwrap();
    let path = dir.join(if gz { "d.svm.gz" } else { "d.svm" });
    write_libsvm_file(&path, &d).unwrap();
    path
}

fn small() -> StreamOptions {
    StreamOptions {
        chunk_bytes: 4 << 10,
        window_bytes: 64 << 10,
        block_bytes: 64 << 10,
        ..StreamOptions::default()
    }
}

#[test]
fn a_stream_holds_the_file_rows_and_statistics() {
    let dir = tempfile::tempdir().unwrap();
    for gz in [false, true] {
        let path = synthetic(dir.path(), 3000, gz);
        let mem = read_libsvm(&path, &LibsvmOptions::default()).unwrap().data;
        let mut calls = 0;
        let s = stream_libsvm(&path, &small(), &mut |_, _| calls += 1).unwrap();
        assert!(calls > 1, "progress is reported per block");
        assert_eq!(
            (s.rows() as usize, s.n_features(), s.nnz() as usize),
            (mem.len(), mem.n_features(), mem.nnz())
        );
        // The rows, scattered into windows: the same ones, in another order.
        let sorted = |d: &wildsgd::data::CsrDataset| {
            let mut v: Vec<(Vec<u32>, Vec<u32>, u32)> = (0..d.len())
                .map(|i| {
                    let r = d.row(i);
                    (
                        r.indices.to_vec(),
                        r.values.iter().map(|x| x.to_bits()).collect(),
                        r.label.to_bits(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        let loaded = s.load().unwrap();
        assert_ne!(loaded, mem);
        assert_eq!(sorted(&loaded), sorted(&mem));
        assert_eq!(s.stats(), &mem.feature_stats(mem.n_features()));
        // Every epoch's windows cover each row once, in a different order.
        let mut firsts = Vec::new();
        for epoch in 0..2 {
            let (mut rows, mut first) = (0usize, Vec::new());
            let piped = s
                .windows(false, Some(epoch), &mut |w| {
                    // About 64 KiB of rows (168 bytes each, on average): the
                    // scatter's windows vary by a few percent.
                    assert!(w.len() < 2 * (64 << 10) / 168, "{}", w.len());
                    first.push(w.row(0).indices.to_vec());
                    rows += w.len();
                    true
                })
                .unwrap();
            assert_eq!((rows, piped.rows as usize), (mem.len(), mem.len()));
            firsts.push(first);
        }
        assert_ne!(firsts[0], firsts[1], "each epoch visits the windows in its own order");
        assert!(s.window_count() > 4, "{}", s.window_count());
    }
}

#[test]
fn parse_errors_name_the_file_line_and_column_as_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.svm");
    let mut f = std::fs::File::create(&path).unwrap();
    for i in 0..5000 {
        writeln!(f, "1 {}:0.5 {}:1", i % 10 + 1, i % 10 + 20).unwrap();
    }
    writeln!(f, "1 3:0.5 2:x").unwrap();
    drop(f);
    let mem = read_libsvm(&path, &LibsvmOptions::default()).unwrap_err().to_string();
    let streamed = stream_libsvm(&path, &small(), &mut |_, _| {}).unwrap_err().to_string();
    assert_eq!(streamed, mem);
    assert!(streamed.contains("line 5001, column"), "{streamed}");
    // A truncated gzip stream is an error too, never a shorter dataset.
    let gz = synthetic(dir.path(), 2000, true);
    let bytes = std::fs::read(&gz).unwrap();
    std::fs::write(&gz, &bytes[..bytes.len() / 2]).unwrap();
    let e = stream_libsvm(&gz, &small(), &mut |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("gzip"), "{e}");
    let e = stream_libsvm(dir.path().join("missing.svm"), &small(), &mut |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("missing.svm"), "{e}");
}

#[test]
fn the_hold_out_is_a_stable_hash_of_each_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = synthetic(dir.path(), 4000, false);
    let opts = StreamOptions {
        valid_fraction: 0.25,
        seed: 3,
        ..small()
    };
    let a = stream_libsvm(&path, &opts, &mut |_, _| {}).unwrap();
    let b = stream_libsvm(&path, &opts, &mut |_, _| {}).unwrap();
    assert_eq!(a.rows() + a.valid_rows(), 4000);
    let held = a.valid_rows() as f64 / 4000.0;
    assert!((0.2..0.3).contains(&held), "{held}");
    assert_eq!(a.load_valid().unwrap(), b.load_valid().unwrap());
    // The same rows in another order: the same rows held out.
    let mut rows = read_libsvm(&path, &LibsvmOptions::default()).unwrap().data;
    let order: Vec<u32> = (0..rows.len() as u32).rev().collect();
    rows = rows.gather_rows(&order);
    let reversed = dir.path().join("reversed.svm");
    write_libsvm_file(&reversed, &rows).unwrap();
    let c = stream_libsvm(&reversed, &opts, &mut |_, _| {}).unwrap();
    let sorted = |d: wildsgd::data::CsrDataset| {
        let mut v: Vec<(Vec<u32>, Vec<u32>)> = (0..d.len())
            .map(|i| {
                let r = d.row(i);
                (r.indices.to_vec(), r.values.iter().map(|x| x.to_bits()).collect())
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        sorted(a.load_valid().unwrap().unwrap()),
        sorted(c.load_valid().unwrap().unwrap())
    );
}

#[test]
fn a_file_sorted_by_label_is_shuffled_into_mixed_windows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sorted.svm");
    let mut f = std::fs::File::create(&path).unwrap();
    for i in 0..20_000 {
        writeln!(
            f,
            "{} {}:1 {}:0.5",
            if i < 10_000 { -1 } else { 1 },
            i % 50 + 1,
            i % 31 + 60
        )
        .unwrap();
    }
    drop(f);
    let s = stream_libsvm(&path, &small(), &mut |_, _| {}).unwrap();
    assert!(s.window_count() >= 4, "{}", s.window_count());
    // Each window is a uniform sample: its share of positives near 1/2
    // (a window of ~2,500 rows: 5 standard deviations is 0.05).
    s.windows(false, Some(0), &mut |w| {
        let pos = w.labels().iter().filter(|&&y| y > 0.0).count() as f64 / w.len() as f64;
        assert!((pos - 0.5).abs() < 0.05, "{pos} of {} rows", w.len());
        true
    })
    .unwrap();
}

#[test]
fn streamed_training_reaches_the_in_memory_loss() {
    let dir = tempfile::tempdir().unwrap();
    let path = synthetic(dir.path(), 20_000, false);
    let mut mem = read_libsvm(&path, &LibsvmOptions::default()).unwrap().data;
    wildsgd::data::binary_labels(&mut mem).unwrap();
    // 64 KiB windows: about 50 of them.
    let mut s = stream_libsvm(&path, &small(), &mut |_, _| {}).unwrap();
    s.binary_labels_as(-1.0, 1.0).unwrap();
    assert!(s.window_count() > 40, "{}", s.window_count());
    let model = Linear::new(Loss::Logistic, mem.n_features()).bias(true);
    let objective = |w: &[f32]| {
        (0..mem.len())
            .map(|i| Loss::Logistic.value(model.margin(w, &mem.row(i)), mem.row(i).label))
            .sum::<f64>()
            / mem.len() as f64
    };
    // A schedule that converges (the last epoch's rate 1/32 of the first):
    // the final objective then depends on the sample order by ~0.1%.
    for seed in 1..=3 {
        let trainer = Trainer::new()
            .threads(1)
            .policy(Policy::Sequential)
            .epochs(6)
            .schedule(Schedule::EpochDecay {
                initial: 0.5,
                decay: 0.5,
            })
            .seed(seed);
        let a = trainer.fit(&model, &mem).unwrap();
        let b = trainer.stream_job(&model, &s).run().unwrap();
        assert_eq!(b.report.epochs.len(), 6);
        assert!(b.report.stream.as_ref().unwrap().windows >= 6 * 40);
        let (la, lb) = (objective(&a.weights), objective(&b.weights));
        assert!(
            (lb - la).abs() <= 0.01 * la,
            "seed {seed}: streamed {lb} vs in memory {la}"
        );
    }
}

#[test]
fn hashing_maps_names_and_indices_into_a_fixed_width() {
    let h = Hashing::new(12).unwrap().seed(9);
    let opts = LibsvmOptions {
        hashing: Some(h),
        ..LibsvmOptions::default()
    };
    let d = read_libsvm_bytes("t", b"1 price:2 free free:0.5 12:3 # comment\n0 qid:3 hello\n", &opts)
        .unwrap()
        .data;
    assert_eq!(d.n_features(), 4096);
    let r = d.row(0);
    // `free` twice sums; `12` is the name "12".
    let col = |n: &[u8]| h.column(n);
    let at = |name: &[u8]| r.indices.iter().position(|&j| j == col(name)).map(|k| r.values[k]);
    assert_eq!(at(b"free"), Some(1.5));
    assert_eq!(at(b"price"), Some(2.0));
    assert_eq!(at(b"12"), Some(3.0));
    assert!(r.indices.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(d.row(1).indices, &[col(b"hello")]);
    let e = read_libsvm_bytes("t", b"1 a:1\n1 b:zz\n", &opts)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "t: line 2, column 5: value \"zz\" is not a number");
    // Streamed and in memory hash alike.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.txt");
    std::fs::write(&path, b"1 price:2 free free:0.5 12:3\n0 hello\n").unwrap();
    let s = stream_libsvm(
        &path,
        &StreamOptions {
            hashing: Some(h),
            ..StreamOptions::default()
        },
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(s.load().unwrap(), d);
}
