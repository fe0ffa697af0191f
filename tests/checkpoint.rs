//! Checkpoints: the format rejects damaged files with clear errors, a
//! training process killed (SIGKILL) at random moments always leaves a
//! checkpoint that loads and is one of the saved ones, and resuming a
//! sequential run is bit-identical to never stopping.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wildsgd::checkpoint::{Checkpoint, CheckpointIssue, VERSION};
use wildsgd::data::{read_libsvm, write_libsvm_file, LibsvmOptions, Synthetic};
use wildsgd::{Error, Linear, Loss, Policy, Schedule, Trainer};

const BIN: &str = env!("CARGO_BIN_EXE_wildsgd");

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wildsgd-ckpt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sample() -> Checkpoint {
    Checkpoint {
        loss: Loss::Logistic,
        bias: true,
        bias_scale: 0.01,
        l2: 1e-6,
        schedule: Schedule::EpochDecay {
            initial: 0.5,
            decay: 0.8,
        },
        policy: Policy::Sequential,
        n_features: 5,
        epochs_done: 2,
        seed: 9,
        weights: vec![0.5, -1.25, 0.0, 3.0, 1e-9, -0.125],
    }
}

fn issue(e: Error) -> CheckpointIssue {
    match e {
        Error::Checkpoint { what, .. } => what,
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
}

#[test]
fn save_load_and_damaged_files() {
    let d = dir("format");
    let path = d.join("m.ckpt");
    let c = sample();
    c.save(&path).unwrap();
    assert_eq!(Checkpoint::load(&path).unwrap(), c);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..8], b"WSGDCKPT");
    assert_eq!(bytes.len(), 80 + 4 * 6 + 4);

    // Truncated.
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let e = Checkpoint::load(&path).unwrap_err();
    assert!(e.to_string().contains("not a usable checkpoint: truncated"), "{e}");
    assert!(matches!(issue(e), CheckpointIssue::Truncated { .. }));
    std::fs::write(&path, &bytes[..40]).unwrap();
    assert!(matches!(
        issue(Checkpoint::load(&path).unwrap_err()),
        CheckpointIssue::Truncated { len: 40, .. }
    ));
    // Corrupted weight byte.
    let mut bad = bytes.clone();
    bad[90] ^= 0x01;
    std::fs::write(&path, &bad).unwrap();
    let e = Checkpoint::load(&path).unwrap_err();
    assert!(e.to_string().contains("corrupted: checksum"), "{e}");
    assert!(matches!(issue(e), CheckpointIssue::ChecksumMismatch { .. }));
    // Another version.
    let mut v2 = bytes.clone();
    v2[8..12].copy_from_slice(&(VERSION + 1).to_le_bytes());
    std::fs::write(&path, &v2).unwrap();
    let e = Checkpoint::load(&path).unwrap_err();
    assert!(
        e.to_string().contains(&format!("format version {}", VERSION + 1)),
        "{e}"
    );
    assert_eq!(issue(e), CheckpointIssue::UnsupportedVersion { found: VERSION + 1 });
    // Not a checkpoint at all.
    std::fs::write(&path, b"+1 1:0.5\n").unwrap();
    assert_eq!(issue(Checkpoint::load(&path).unwrap_err()), CheckpointIssue::BadMagic);
    // Missing.
    assert!(matches!(
        Checkpoint::load(d.join("absent")).unwrap_err(),
        Error::Io { .. }
    ));
    // Wrong model.
    let e = c.check_model("m.ckpt", Loss::Hinge, true, 5).unwrap_err();
    assert!(matches!(issue(e), CheckpointIssue::WrongModel { .. }));
    let e = c.check_model("m.ckpt", Loss::Logistic, true, 9).unwrap_err();
    assert!(
        e.to_string().contains("5 features in the file, but the data has 9"),
        "{e}"
    );
    c.check_model("m.ckpt", Loss::Logistic, true, 5).unwrap();
    // No temporary file is left behind by a successful save.
    c.save(&path).unwrap();
    let left: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("m.ckpt")]);
}

/// A training file big enough that an epoch takes tens of milliseconds.
fn training_file(d: &Path) -> PathBuf {
    let data = Synthetic {
        rows: 40_000,
        features: 20_000,
        nnz_per_row: 40,
        seed: 5,
        ..Synthetic::default()
    }
    .generate()
    .unwrap();
    let path = d.join("train.svm");
    write_libsvm_file(&path, &data).unwrap();
    path
}

const EPOCHS: usize = 25;

fn train_args(data: &Path) -> Vec<String> {
    [
        "train",
        "--data",
        data.to_str().unwrap(),
        "--model",
        "logistic",
        "--policy",
        "sequential",
        "--epochs",
        &EPOCHS.to_string(),
        "--lr",
        "0.5",
        "--schedule",
        "epoch-decay",
        "--lr-decay",
        "0.9",
        "--l2",
        "1e-6",
        "--seed",
        "3",
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The weights after every epoch of the uninterrupted run, from the library.
fn reference(data: &Path) -> Vec<Vec<f32>> {
    let train = read_libsvm(data, &LibsvmOptions::default()).unwrap().data;
    let model = Linear::new(Loss::Logistic, train.n_features())
        .bias(true)
        .l2(1e-6, &train);
    let trainer = Trainer::new()
        .policy(Policy::Sequential)
        .epochs(EPOCHS)
        .schedule(Schedule::EpochDecay {
            initial: 0.5,
            decay: 0.9,
        })
        .seed(3);
    let mut all = Vec::new();
    trainer
        .job(&model, &train)
        .on_weights(|_, w| {
            all.push(w.to_vec());
            Ok(())
        })
        .run()
        .unwrap();
    all
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// A small xorshift, seeded from the clock: the kill moments differ run to run.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % max
    }
}

#[test]
fn sigkill_at_random_moments_never_loses_the_checkpoint() {
    let d = dir("kill");
    let data = training_file(&d);
    let expected = reference(&data);
    let ckpt = d.join("run.ckpt");
    let out = d.join("final.model");

    // How long one uninterrupted run takes, to spread the kills over it.
    let clock = Instant::now();
    let status = Command::new(BIN)
        .args(train_args(&data))
        .args(["--checkpoint", ckpt.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let full = clock.elapsed();
    let c = Checkpoint::load(&ckpt).unwrap();
    assert_eq!(c.epochs_done, EPOCHS);
    assert!(same_bits(&c.weights, &expected[EPOCHS - 1]));
    std::fs::remove_file(&ckpt).unwrap();

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut moments = Moments(seed);
    let span = (full.as_millis() as u64).max(50);
    let (mut kills, mut seen) = (0, std::collections::BTreeSet::new());
    for round in 0..24 {
        // Mostly resume (so later epochs get checkpointed and killed too);
        // every third round starts afresh, overwriting the same file.
        let done = if ckpt.exists() && round % 3 != 0 {
            Checkpoint::load(&ckpt).unwrap().epochs_done
        } else {
            0
        };
        let resume = done > 0;
        let mut cmd = Command::new(BIN);
        cmd.args(train_args(&data))
            .args(["--checkpoint", ckpt.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if resume {
            cmd.arg("--resume");
        }
        let mut child = cmd.spawn().unwrap();
        // Somewhere in what is left of the run (start-up included).
        let left = span * (EPOCHS - done.min(EPOCHS - 1)) as u64 / EPOCHS as u64 + 30;
        let wait = Duration::from_millis(moments.next_ms(left));
        std::thread::sleep(wait);
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap(); // SIGKILL on Unix
            kills += 1;
        }
        let status = child.wait().unwrap();
        // Whatever happened, the checkpoint on disk (if any) is whole and one
        // of the saved ones.
        if ckpt.exists() {
            let c = Checkpoint::load(&ckpt).unwrap_or_else(|e| panic!("after a kill at {wait:?}: {e}"));
            assert!((1..=EPOCHS).contains(&c.epochs_done));
            assert!(
                same_bits(&c.weights, &expected[c.epochs_done - 1]),
                "the checkpoint of epoch {} differs from the uninterrupted run's",
                c.epochs_done
            );
            seen.insert(c.epochs_done);
        }
        if finished {
            assert!(status.success());
        }
    }
    eprintln!("{kills} kills (seed {seed}, runs of ~{span} ms); checkpoints seen after epochs {seen:?}");
    assert!(kills >= 8, "too few kills landed ({kills}); the runs were too short");

    // Finish the run: resumed to the end, it equals the uninterrupted run bit for bit.
    let mut cmd = Command::new(BIN);
    cmd.args(train_args(&data))
        .args(["--checkpoint", ckpt.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    if ckpt.exists() {
        cmd.arg("--resume");
    }
    assert!(cmd.status().unwrap().success());
    let m = Checkpoint::load(&out).unwrap();
    assert_eq!(m.epochs_done, EPOCHS);
    assert!(
        same_bits(&m.weights, &expected[EPOCHS - 1]),
        "resumed final weights differ"
    );
}

#[test]
fn resumed_sequential_run_is_bit_identical() {
    let d = dir("resume");
    let data = Synthetic {
        rows: 3000,
        features: 2000,
        seed: 8,
        ..Synthetic::default()
    }
    .generate()
    .unwrap();
    let file = d.join("d.svm");
    write_libsvm_file(&file, &data).unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(BIN)
            .args([
                "train",
                "--data",
                file.to_str().unwrap(),
                "--policy",
                "sequential",
                "--quiet",
            ])
            .args(["--valid-fraction", "0.2", "--seed", "11"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let whole = d.join("whole.model");
    let part = d.join("part.ckpt");
    let resumed = d.join("resumed.model");
    run(&["--epochs", "6", "--out", whole.to_str().unwrap()]);
    run(&["--epochs", "2", "--checkpoint", part.to_str().unwrap()]);
    assert_eq!(Checkpoint::load(&part).unwrap().epochs_done, 2);
    run(&[
        "--epochs",
        "6",
        "--checkpoint",
        part.to_str().unwrap(),
        "--resume",
        "--out",
        resumed.to_str().unwrap(),
    ]);
    let (a, b) = (Checkpoint::load(&whole).unwrap(), Checkpoint::load(&resumed).unwrap());
    assert_eq!(a.epochs_done, 6);
    assert_eq!(b.epochs_done, 6);
    assert!(same_bits(&a.weights, &b.weights), "resume is not bit-identical");
    assert_eq!(Checkpoint::load(&part).unwrap().epochs_done, 6);
}
