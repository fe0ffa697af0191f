//! Checkpoints: the format rejects damaged files with clear errors, a
//! training process killed (SIGKILL) at random moments always leaves a
//! checkpoint that loads and is one of the saved ones, and resuming a
//! sequential run is bit-identical to never stopping.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wildsgd::checkpoint::{tables, Checkpoint, CheckpointIssue, Table, OLDEST_VERSION, VERSION};
use wildsgd::data::{read_libsvm, write_libsvm_file, CsrDataset, LibsvmOptions, Synthetic};
use wildsgd::{Error, Linear, Loss, Policy, Schedule, Trainer};

const BIN: &str = env!("CARGO_BIN_EXE_wildsgd");

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wildsgd-ckpt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sample() -> Checkpoint {
    let model = Linear::new(Loss::Logistic, 5)
        .bias(true)
        .bias_scale(0.01)
        .l2(1e-6, &CsrDataset::new(0));
    let trainer = Trainer::new()
        .schedule(Schedule::EpochDecay {
            initial: 0.5,
            decay: 0.8,
        })
        .policy(Policy::Sequential)
        .seed(9);
    Checkpoint::new(&model, &trainer, 2, vec![0.5, -1.25, 0.0, 3.0, 1e-9, -0.125])
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
    // Header; metadata block: the policy name "sequential" and the kind "linear"
    // with their lengths, the parameter block's length and 19 bytes of linear
    // parameters (the last one the update), no tables; weights; CRC.
    assert_eq!(bytes.len(), 64 + (4 + 10 + 4 + 6 + 8 + 19 + 4) + 4 * 6 + 4);

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
    bad[120] ^= 0x01;
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
    assert_eq!(
        issue(e),
        CheckpointIssue::UnsupportedVersion {
            found: VERSION + 1,
            oldest: OLDEST_VERSION,
            newest: VERSION
        }
    );
    // Not a checkpoint at all.
    std::fs::write(&path, b"+1 1:0.5\n").unwrap();
    assert_eq!(issue(Checkpoint::load(&path).unwrap_err()), CheckpointIssue::BadMagic);
    // Missing.
    assert!(matches!(
        Checkpoint::load(d.join("absent")).unwrap_err(),
        Error::Io { .. }
    ));
    // Wrong model: another kind, or parameters the caller refuses.
    let e = c.model::<wildsgd::Softmax>("m.ckpt").unwrap_err();
    assert!(e.to_string().contains("it holds a linear model, not softmax"), "{e}");
    assert!(matches!(issue(e), CheckpointIssue::WrongModel { .. }));
    let fewer = |m: &Linear| (m.n_features() < 9).then(|| format!("{} features in the file", m.n_features()));
    let e = c.model_matching("m.ckpt", fewer).unwrap_err();
    assert!(
        e.to_string().contains("a different model: 5 features in the file"),
        "{e}"
    );
    let m: Linear = c
        .model_matching("m.ckpt", |m: &Linear| {
            (m.get_loss() != Loss::Logistic).then(String::new)
        })
        .unwrap();
    assert_eq!((m.n_features(), m.get_bias(), m.get_l2()), (5, true, 1e-6));
    // A table asked for that is not there.
    let e = c.strings("m.ckpt", tables::NAMES).unwrap_err();
    assert!(matches!(issue(e), CheckpointIssue::MissingTable { .. }));
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
    // The command line's default update: the kills and resumes must keep
    // the accumulators too.
    let model = Linear::new(Loss::Logistic, train.n_features())
        .bias(true)
        .l2(1e-6, &train)
        .adaptive(&train);
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

/// A logistic model saved by the format-1 writer (before softmax and mf
/// existed): `wildsgd train --data t.svm --epochs 2 --policy sequential
/// --seed 5 --l2 0.001` on the three rows of `OLD_DATA`.
const OLD_V1_MODEL: &str = "57534744434b505401000000000102006f12833a0ad7233c0000003fcdcc4c3f73657175656e7469616c0000\
0000000002000000000000000300000000000000020000000000000005000000000000001c4369be51a90b3f24b4893bb996eaf5";
const OLD_DATA: &str = "1 1:0.5 2:1\n-1 1:1\n1 2:0.25\n";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_format_1_linear_checkpoint_still_loads_and_evaluates() {
    let bytes = unhex(OLD_V1_MODEL);
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 1);
    let c = Checkpoint::from_bytes("old", &bytes).unwrap();
    let m = c.model::<Linear>("old").unwrap();
    assert_eq!(
        (
            m.get_loss(),
            m.get_bias(),
            m.get_bias_scale(),
            m.get_l2(),
            m.n_features()
        ),
        (Loss::Logistic, true, 0.01, 0.001, 2)
    );
    assert!(c.tables.is_empty());
    assert_eq!(
        c.schedule,
        Schedule::EpochDecay {
            initial: 0.5,
            decay: 0.8
        }
    );
    assert_eq!(
        (c.policy, c.average, c.epochs_done, c.seed),
        (Policy::Sequential, false, 2, 5)
    );
    assert_eq!(c.weights.len(), 3);
    // Written again, it is a version-3 file holding the same checkpoint.
    let again = c.to_bytes();
    assert_eq!(u32::from_le_bytes(again[8..12].try_into().unwrap()), VERSION);
    assert_eq!(Checkpoint::from_bytes("new", &again).unwrap(), c);
    // Damage to the old format is still caught.
    let mut bad = bytes.clone();
    bad[82] ^= 0x04;
    assert!(matches!(
        issue(Checkpoint::from_bytes("old", &bad).unwrap_err()),
        CheckpointIssue::ChecksumMismatch { .. }
    ));
    assert!(matches!(
        issue(Checkpoint::from_bytes("old", &bytes[..bytes.len() - 1]).unwrap_err()),
        CheckpointIssue::Truncated { .. }
    ));
    // The command evaluates it exactly as the old build did (its output then: loss 0.570562).
    let d = dir("v1");
    let (model, data) = (d.join("old.model"), d.join("t.svm"));
    std::fs::write(&model, &bytes).unwrap();
    std::fs::write(&data, OLD_DATA).unwrap();
    let out = Command::new(BIN)
        .args([
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("loss: 0.570562") && stdout.contains("accuracy: 1.000000"),
        "{stdout}"
    );
}

/// Version-2 files of every kind, written by the last build that wrote version 2
/// (`train --seed 1 --policy sequential --epochs 2 --out M` on the data beside each),
/// with what its `eval` printed for them.
const OLD_V2: [(&str, &str, &str, &str); 5] = [
    (
        "linear",
        "57534744434b50540200000000020000898888419a99993e02000000000000000100000000000000220000000000000003000000000000000a00000073657175656e7469616c00010000bd3786350ad7233c02000000000000009e9a55c1ade17f41367891bd5c174c8e",
        "1 1:0.5 2:1\n-1 1:1\n1 2:0.25\n-1 1:0.7 2:0.1\n",
        "data: lin.svm (4 rows)\nloss: 0.005002\naccuracy: 1.000000\nauc: 1.000000\n",
    ),
    (
        "softmax",
        "57534744434b505402000000010201000ad7233c9a99193f02000000000000000100000000000000220000000000000009000000000000000a00000073657175656e7469616c030000000000000002000000000000000ad7233cb44b5d3c324bcdbb72e5063c4a9125bc253cbb3b101ba0bba6e95ebb6378103aac5f5bbb2be1c7ab",
        "0 1:1\n1 2:1\n2 1:0.5 2:0.5\n0 1:0.9\n",
        "data: sm.svm (4 rows, model: softmax, 3 classes)\nloss: 1.089134\naccuracy: 0.500000\nrecall class 0: 1.000000 (2 rows)\nrecall class 1: 0.000000 (1 rows)\nrecall class 2: 0.000000 (1 rows)\n",
    ),
    (
        "mf",
        "57534744434b505402000000020200000ad7a33c6666663f0200000000000000010000000000000055000000000000000a000000000000000a00000073657175656e7469616c030000000000000002000000000000000100000000000000000040400ad7a33d010000803f0000a0400200000075310200000075320200000075330200000069310200000069325626e63dc168a43d521e1cbde97f8e3d0f2e9bbdd0ac3dbe8034ddbada64393d008cf0392c3e77bdf972616a",
        "u1\ti1\t4\nu2\ti1\t2\nu1\ti2\t5\nu3\ti2\t1\n",
        "data: r.tsv (4 ratings, model: mf, rank 1, 3 users, 2 items)\nloss: 1.129968\nrmse: 1.503308\n",
    ),
    (
        "line",
        "57534744434b50540200000003030000cdcccc3e1000000002000000000000000100000000000000760000000000000010000000000000000a00000073657175656e7469616c0000000004000000000000000200000000000000050000000000000000000000000000000000000000000000000000000000000001000000610100000062010000006301000000640200000000000000020000000000000003000000000000000100000000000000b3d225be998e85bd1bc5f43d18385b3df1f327beea216e3da1bd52bec60d823ec4a8dd3db32be0bde10b9f3db2ecd8bd5e375a3d39d7c53c414ab73d3f970c3b325a2402",
        "a b\nb c\nc a\nc d\n",
        "data: g.txt (4 edges, model: line, 4 nodes, dim 2)\nlink auc: 0.750000 (4 edges vs 1 sampled non-edges)\n",
    ),
    (
        "word2vec",
        "57534744434b50540200000003030000cdcccc3c22000000020000000000000001000000000000009a0000000000000018000000000000000a00000073657175656e7469616c01000000060000000000000002000000000000000500000000000000000000000000000002000000000000000000000000000000030000006361740300000073617403000000746865010000006103000000646f670300000072616e020000000000000002000000000000000200000000000000010000000000000001000000000000000100000000000000ea7cb5bdca74d5bdbf74493ebc3e3a3d481913be0d61623d067c42be86085a3e8ed5383e4ba9593e31f3eebd7a162a3ec1855bbbe963dc3b56c642bb7e50c2bb7a05653c8f92b3bb3f29cfbb350424bcb8245a3cb7d722bc1154d2ba710504bcb190f18c",
        "the cat sat\nthe dog sat\na cat ran\n",
        "data: c.txt (3 sentences, 9 words; model: word2vec, vocabulary 6, dim 2)\nskipped: 0 of 9 words (0 distinct) not in the model's vocabulary\npair auc: 0.6678 vs unigram^0.75 negatives, 0.8460 vs uniform negatives (17 pairs) (dynamic window up to 2, no sub-sampling)\n",
    ),
];

/// The data file of each kind in [`OLD_V2`], as its `eval` output names it.
fn v2_data_name(kind: &str) -> &'static str {
    match kind {
        "linear" => "lin.svm",
        "softmax" => "sm.svm",
        "mf" => "r.tsv",
        "line" => "g.txt",
        _ => "c.txt",
    }
}

#[test]
fn format_2_files_of_every_kind_still_load_and_evaluate() {
    let d = dir("v2");
    for (kind, hex, data, printed) in OLD_V2 {
        let bytes = unhex(hex);
        assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 2, "{kind}");
        let c = Checkpoint::from_bytes(kind, &bytes).unwrap();
        assert_eq!((c.epochs_done, c.seed, c.policy), (2, 1, Policy::Sequential), "{kind}");
        let model_kind = match kind {
            "line" | "word2vec" => "sgns",
            k => k,
        };
        assert_eq!(c.kind, model_kind);
        match kind {
            "mf" => assert_eq!(c.strings(kind, tables::USER_IDS).unwrap(), ["u1", "u2", "u3"]),
            "line" | "word2vec" => assert_eq!(c.text(kind, tables::TASK).unwrap(), kind),
            _ => assert!(c.tables.is_empty(), "{kind}"),
        }
        // Converted, then written as version 3, it reads back the same.
        let again = c.to_bytes();
        assert_eq!(u32::from_le_bytes(again[8..12].try_into().unwrap()), VERSION);
        assert_eq!(Checkpoint::from_bytes(kind, &again).unwrap(), c, "{kind}");
        // The command evaluates the old file exactly as the old build did.
        std::fs::write(d.join("old.model"), &bytes).unwrap();
        std::fs::write(d.join(v2_data_name(kind)), data).unwrap();
        let out = Command::new(BIN)
            .current_dir(&d)
            .args(["eval", "--model", "old.model", "--data", v2_data_name(kind)])
            .output()
            .unwrap();
        assert!(out.status.success(), "{kind}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), printed, "{kind}");
    }
}

#[test]
fn softmax_and_mf_checkpoints_round_trip_and_rebuild_their_models() {
    use wildsgd::data::SyntheticRatings;
    use wildsgd::model::SyntheticClasses;
    use wildsgd::{MatrixFactorization, Softmax};
    let d = dir("kinds");

    let data = SyntheticClasses {
        rows: 300,
        features: 6,
        classes: 3,
        ..Default::default()
    }
    .generate()
    .unwrap();
    let model = Softmax::for_data(&data).unwrap().l2(1e-3, &data);
    let trainer = Trainer::new()
        .threads(1)
        .epochs(2)
        .policy(Policy::Sequential)
        .schedule(Schedule::Constant(0.02))
        .seed(4);
    let w = trainer.fit(&model, &data).unwrap().weights;
    let c = Checkpoint {
        average: true,
        ..Checkpoint::new(&model, &trainer, 2, w.clone())
    };
    let path = d.join("softmax.model");
    c.save(&path).unwrap();
    let back = Checkpoint::load(&path).unwrap();
    assert_eq!(back, c);
    let rebuilt = back.model::<Softmax>("softmax.model").unwrap();
    assert_eq!(
        (rebuilt.n_classes(), rebuilt.n_features(), rebuilt.get_l2()),
        (3, 6, 1e-3)
    );
    assert_eq!(
        rebuilt.confusion(&back.weights[..], &data).unwrap(),
        model.confusion(&w[..], &data).unwrap()
    );
    let e = back.model::<MatrixFactorization>("softmax.model").unwrap_err();
    assert!(e.to_string().contains("holds a softmax model, not mf"), "{e}");

    let ratings = SyntheticRatings {
        users: 30,
        items: 20,
        ratings: 400,
        rank: 2,
        ..Default::default()
    }
    .generate()
    .unwrap();
    let mf = MatrixFactorization::for_ratings(&ratings, 3)
        .expect("valid model settings")
        .l2(0.05, &ratings);
    let w = trainer.fit(&mf, &ratings).unwrap().weights;
    let c = Checkpoint::new(&mf, &trainer, 2, w.clone())
        .with_table(tables::USER_IDS, Table::Strings(ratings.user_ids.clone()))
        .with_table(tables::ITEM_IDS, Table::Strings(ratings.item_ids.clone()));
    let path = d.join("mf.model");
    c.save(&path).unwrap();
    let back = Checkpoint::load(&path).unwrap();
    assert_eq!(back, c);
    let rebuilt = back.model::<MatrixFactorization>("mf.model").unwrap();
    let (users, items) = (
        back.strings("mf.model", tables::USER_IDS).unwrap(),
        back.strings("mf.model", tables::ITEM_IDS).unwrap(),
    );
    assert_eq!((rebuilt.rank(), users.len(), items.len()), (3, 30, 20));
    assert_eq!(rebuilt.get_clip(), ratings.range());
    let l2 = rebuilt.get_l2();
    let rebuilt = rebuilt.l2(l2, &ratings);
    assert_eq!(
        rebuilt.rmse(&back.weights, &ratings).unwrap().to_bits(),
        mf.rmse(&w, &ratings).unwrap().to_bits()
    );
    assert!(back.model::<Linear>("mf.model").is_err());
    // Every cut and a flipped byte anywhere are errors naming the file, never a panic.
    let bytes = std::fs::read(&path).unwrap();
    for cut in (0..bytes.len()).step_by(7) {
        let e = Checkpoint::from_bytes("mf.model", &bytes[..cut]).unwrap_err();
        assert!(e.to_string().contains("mf.model"), "{e}");
    }
    for i in (0..bytes.len()).step_by(5) {
        let mut bad = bytes.clone();
        bad[i] ^= 0x20;
        assert!(Checkpoint::from_bytes("mf.model", &bad).is_err(), "flip at {i}");
    }
}

/// Runs the command, asserting success; returns stdout.
fn ok(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A ratings file with string ids and a header: 40 users x 25 items, a
/// rank-2 structure plus noise (deterministic).
fn ratings_file(d: &Path) -> PathBuf {
    let mut text = String::from("user_id\titem_id\trating\n");
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for u in 0..40 {
        for i in 0..25 {
            if next() < 0.5 {
                let (a, b) = ((u % 5) as f64 / 4.0, (i % 3) as f64 / 2.0);
                let r = (1.0 + 4.0 * (0.5 * a + 0.5 * b) + 0.3 * (next() - 0.5)).clamp(1.0, 5.0);
                text += &format!("u{u}\tm{i}\t{r:.1}\n");
            }
        }
    }
    let path = d.join("ratings.tsv");
    std::fs::write(&path, text).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn resumed_mf_and_softmax_runs_equal_uninterrupted_sequential_runs() {
    let d = dir("resume-kinds");
    let ratings = ratings_file(&d);
    let classes = d.join("classes.svm");
    let data = wildsgd::model::SyntheticClasses {
        rows: 400,
        features: 8,
        classes: 4,
        ..Default::default()
    }
    .generate()
    .unwrap();
    write_libsvm_file(&classes, &data).unwrap();
    for (kind, file, extra) in [
        ("mf", &ratings, &["--rank", "3", "--valid-fraction", "0.2"][..]),
        // A run averages its last epoch's iterates, so a finished 2-epoch run
        // saves averaged weights, which a 5-epoch run never has after epoch 2:
        // bit-identity holds for the iterates, with averaging off.
        (
            "softmax",
            &classes,
            &["--valid-fraction", "0.2", "--average", "false"][..],
        ),
    ] {
        let (whole, part, resumed) = (
            d.join(format!("{kind}-whole")),
            d.join(format!("{kind}-part")),
            d.join(format!("{kind}-resumed")),
        );
        let base = [
            "train",
            "--model",
            kind,
            "--data",
            s(file),
            "--policy",
            "sequential",
            "--quiet",
        ];
        let run = |more: &[&str]| ok(&[&base[..], extra, more].concat());
        run(&["--epochs", "5", "--seed", "7", "--out", s(&whole)]);
        run(&["--epochs", "2", "--seed", "7", "--checkpoint", s(&part)]);
        assert_eq!(Checkpoint::load(&part).unwrap().epochs_done, 2);
        // The checkpoint's seed and schedule continue; a different --seed
        // would not apply, so it is refused rather than ignored.
        let out = Command::new(BIN)
            .args(
                [
                    &base[..],
                    extra,
                    &["--epochs", "5", "--seed", "99", "--checkpoint", s(&part), "--resume"],
                ]
                .concat(),
            )
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{kind}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--seed 99 differs from the checkpoint's 7"));
        run(&[
            "--epochs",
            "5",
            "--checkpoint",
            s(&part),
            "--resume",
            "--out",
            s(&resumed),
        ]);
        let (a, b) = (Checkpoint::load(&whole).unwrap(), Checkpoint::load(&resumed).unwrap());
        assert_eq!((a.epochs_done, b.epochs_done), (5, 5), "{kind}");
        assert_eq!(
            (&a.kind, &a.params, &a.tables),
            (&b.kind, &b.params, &b.tables),
            "{kind}"
        );
        assert!(!a.average && !b.average, "{kind}");
        assert!(same_bits(&a.weights, &b.weights), "{kind}: resume is not bit-identical");
    }

    // Resuming a checkpoint of one kind as another is refused, naming both.
    let part = d.join("mf-part");
    let out = Command::new(BIN)
        .args(["train", "--model", "softmax", "--data", s(&classes), "--quiet"])
        .args(["--checkpoint", s(&part), "--resume"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("mf-part") && err.contains("holds a mf model, not softmax"),
        "{err}"
    );
    let out = Command::new(BIN)
        .args(["train", "--model", "logistic", "--data", s(&classes), "--quiet"])
        .args(["--checkpoint", s(&part), "--resume"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("holds a mf model, not linear"), "{err}");
}

#[test]
fn sgns_checkpoints_round_trip_and_rebuild_their_model() {
    use wildsgd::data::Pairs;
    use wildsgd::model::{Sgns, UnigramTable};
    let d = dir("sgns");
    // Two triangles {a,b,c} and {x,y,z}, both ways.
    let names: Vec<String> = ["a", "b", "c", "x", "y", "z"].iter().map(|s| s.to_string()).collect();
    let mut edges = Vec::new();
    for c in [0u32, 3] {
        for a in c..c + 3 {
            for b in c..c + 3 {
                if a != b {
                    edges.push((a, b));
                }
            }
        }
    }
    let pairs = Pairs::new(edges.repeat(20));
    let counts = pairs.target_counts(6);
    let model = Sgns::new(6, 8, UnigramTable::new(&counts).unwrap())
        .unwrap()
        .negatives(3)
        .seed(7);
    let trainer = Trainer::new()
        .threads(1)
        .epochs(3)
        .policy(Policy::Sequential)
        .schedule(Schedule::Linear {
            initial: 0.1,
            samples: 3 * pairs.as_slice().len() as u64,
        })
        .seed(2);
    let w = trainer.fit(&model, &pairs).unwrap().weights;
    let with_tables = |c: Checkpoint, task: &str, window: u64, subsample: f64| {
        c.with_table(tables::TASK, Table::Text(task.into()))
            .with_table(tables::NAMES, Table::Strings(names.clone()))
            .with_table(tables::COUNTS, Table::U64s(counts.clone()))
            .with_table(tables::WINDOW, Table::U64(window))
            .with_table(tables::SUBSAMPLE, Table::F64(subsample))
    };
    let c = with_tables(Checkpoint::new(&model, &trainer, 3, w.clone()), "line", 0, 0.0);
    assert_eq!((c.kind.as_str(), c.weights.len()), ("sgns", 2 * 6 * 8));
    let path = d.join("line.model");
    c.save(&path).unwrap();
    let back = Checkpoint::load(&path).unwrap();
    assert_eq!(back, c);
    assert_eq!(back.schedule, trainer.get_schedule());
    // The rebuilt model is the trained one: same negatives table, k, seed.
    assert_eq!(back.model::<Sgns>("line.model").unwrap(), model);
    assert_eq!(
        back.model::<Sgns>("line.model")
            .unwrap()
            .score(&back.weights[..], 0, 1)
            .to_bits(),
        model.score(&w[..], 0, 1).to_bits()
    );
    let e = back.model::<wildsgd::MatrixFactorization>("line.model").unwrap_err();
    assert!(e.to_string().contains("holds a sgns model, not mf"), "{e}");
    let e = sample().model::<Sgns>("linear.model").unwrap_err();
    assert!(e.to_string().contains("holds a linear model"), "{e}");

    // A word2vec model keeps its window and sub-sampling threshold.
    let text = with_tables(Checkpoint::new(&model, &trainer, 3, w), "word2vec", 4, 1e-3);
    let bytes = text.to_bytes();
    let back = Checkpoint::from_bytes("w2v.model", &bytes).unwrap();
    assert_eq!(back, text);
    assert_eq!(back.text("w2v.model", tables::TASK).unwrap(), "word2vec");
    assert_eq!(back.u64("w2v.model", tables::WINDOW).unwrap(), 4);
    assert_eq!(back.f64("w2v.model", tables::SUBSAMPLE).unwrap(), 1e-3);
    for cut in (0..bytes.len()).step_by(7) {
        let e = Checkpoint::from_bytes("w2v.model", &bytes[..cut]).unwrap_err();
        assert!(e.to_string().contains("w2v.model"), "{e}");
    }
    for i in (0..bytes.len()).step_by(5) {
        let mut bad = bytes.clone();
        bad[i] ^= 0x20;
        assert!(Checkpoint::from_bytes("w2v.model", &bad).is_err(), "flip at {i}");
    }
}

#[test]
fn a_resumed_line_run_equals_an_uninterrupted_sequential_run() {
    let d = dir("resume-line");
    let graph = d.join("cliques.txt");
    let mut t = String::new();
    for c in ["a", "b"] {
        for i in 0..8 {
            for j in i + 1..8 {
                t += &format!("{c}{i} {c}{j}\n");
            }
        }
    }
    std::fs::write(&graph, t + "a0 b0\n").unwrap();
    let (whole, part, resumed) = (d.join("whole"), d.join("part"), d.join("resumed"));
    let base = [
        "train",
        "--model",
        "line",
        "--data",
        s(&graph),
        "--policy",
        "sequential",
        "--dim",
        "8",
        "--schedule",
        "constant",
        "--lr",
        "0.2",
        "--quiet",
    ];
    let run = |more: &[&str]| ok(&[&base[..], more].concat());
    run(&["--epochs", "6", "--seed", "3", "--out", s(&whole)]);
    run(&["--epochs", "3", "--seed", "3", "--checkpoint", s(&part)]);
    assert_eq!(Checkpoint::load(&part).unwrap().epochs_done, 3);
    // The checkpoint's seed (and with it the held-out split) continues; the
    // same --seed again is fine.
    run(&[
        "--epochs",
        "6",
        "--seed",
        "3",
        "--checkpoint",
        s(&part),
        "--resume",
        "--out",
        s(&resumed),
    ]);
    let (a, b) = (Checkpoint::load(&whole).unwrap(), Checkpoint::load(&resumed).unwrap());
    assert_eq!((a.epochs_done, b.epochs_done), (6, 6));
    assert_eq!((&a.kind, &a.params, &a.tables), (&b.kind, &b.params, &b.tables));
    assert!(same_bits(&a.weights, &b.weights), "resume is not bit-identical");

    // Another graph, or another embedding size, is a clear error.
    let other = d.join("other.txt");
    std::fs::write(&other, "x y\ny z\nz x\nx w\n").unwrap();
    for (data, extra, needle) in [
        (&other, &[][..], "another graph or split"),
        (&graph, &["--dim", "4"][..], "dim 8 and 5 negatives in the file"),
    ] {
        let out = Command::new(BIN)
            .args([
                "train",
                "--model",
                "line",
                "--data",
                s(data),
                "--checkpoint",
                s(&part),
                "--resume",
            ])
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
    }
}
