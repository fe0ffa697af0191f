//! The `wildsgd` command end to end: train/eval/predict on the embedded
//! SpamAssassin data and on tiny files, exit codes and error messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_wildsgd");

fn spam() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/spamassassin.svm.gz")
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wildsgd-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn train_eval_predict_on_the_embedded_data() {
    let d = dir("spam");
    let (model, report, scores) = (d.join("spam.model"), d.join("r.json"), d.join("p.txt"));
    let out = run(&[
        "train",
        "--data",
        s(&spam()),
        "--model",
        "logistic",
        "--threads",
        "2",
        "--epochs",
        "4",
        "--valid-fraction",
        "0.2",
        "--out",
        s(&model),
        "--report",
        s(&report),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("6046 rows, 23904 features"), "{stdout}");
    assert!(stdout.contains("training on 4837 rows, validating on 1209"), "{stdout}");
    for e in 1..=4 {
        assert!(stdout.contains(&format!("epoch   {e}: train loss")), "{stdout}");
    }
    assert!(stdout.contains("valid acc") && stdout.contains("samples/s"), "{stdout}");

    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["threads"], 2);
    // The default policy is `auto`; the report names its pick.
    assert!(
        json["policy"].as_str().unwrap().starts_with("auto:"),
        "{}",
        json["policy"]
    );
    // ... and why: the simulator's prediction for each candidate.
    assert!(
        json["policy_reason"].as_str().unwrap().contains("predicted speed-up"),
        "{}",
        json["policy_reason"]
    );
    assert!(json["total_seconds"].as_f64().unwrap() > 0.0);
    let epochs = json["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 4);
    for (i, e) in epochs.iter().enumerate() {
        assert_eq!(e["epoch"], i);
        for k in [
            "train_loss",
            "samples_per_sec",
            "seconds",
            "valid_loss",
            "valid_accuracy",
        ] {
            assert!(e[k].as_f64().is_some(), "{k} in {e}");
        }
    }
    let last_acc = epochs[3]["valid_accuracy"].as_f64().unwrap();
    assert!(last_acc > 0.95, "held-out accuracy {last_acc}");

    let out = run(&["eval", "--model", s(&model), "--data", s(&spam())]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let field = |name: &str| -> f64 {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {stdout}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    assert!(field("loss:") < 0.2);
    assert!(field("accuracy:") > 0.95);
    assert!(field("auc:") > 0.98);

    let out = run(&[
        "predict",
        "--model",
        s(&model),
        "--data",
        s(&spam()),
        "--out",
        s(&scores),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let p: Vec<f64> = std::fs::read_to_string(&scores)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(p.len(), 6046);
    assert!(p.iter().all(|&x| (0.0..=1.0).contains(&x)));
    // The first 4150 rows are ham, the rest spam: probabilities separate them.
    let mean = |r: &[f64]| r.iter().sum::<f64>() / r.len() as f64;
    assert!(mean(&p[..4150]) < 0.2 && mean(&p[4150..]) > 0.8);
}

#[test]
fn tiny_files_train_and_exit_zero() {
    let d = dir("tiny");
    for (name, content) in [
        ("one.svm", "+1 1:1 3:0.5\n"),
        ("two.svm", "1 2:1\n0 1:1\n"),
        ("three.svm", "-1 1:0.5\n+1 2:1.5\n-1 1:1 2:0.25\n"),
    ] {
        let data = d.join(name);
        std::fs::write(&data, content).unwrap();
        let model = d.join(format!("{name}.model"));
        for policy in ["sequential", "racy", "atomic", "locked"] {
            let out = run(&[
                "train",
                "--data",
                s(&data),
                "--epochs",
                "3",
                "--threads",
                "2",
                "--policy",
                policy,
                "--out",
                s(&model),
            ]);
            assert!(out.status.success(), "{name} {policy}: {}", text(&out.stderr));
            assert!(text(&out.stdout).contains("no validation set"));
        }
        let out = run(&["eval", "--model", s(&model), "--data", s(&data)]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let out = run(&["predict", "--model", s(&model), "--data", s(&data)]);
        assert!(out.status.success());
        assert_eq!(text(&out.stdout).lines().count(), content.lines().count());
    }
}

#[test]
fn features_beyond_the_model_are_ignored_and_counted() {
    let d = dir("wide");
    let (train, wide, model) = (d.join("t.svm"), d.join("w.svm"), d.join("m"));
    std::fs::write(&train, "1 1:1\n-1 2:1\n1 1:1 3:1\n").unwrap();
    std::fs::write(&wide, "1 1:1 7:1 9:2\n-1 2:1\n1 3:1 4:1\n").unwrap();
    assert!(run(&["train", "--data", s(&train), "--out", s(&model), "--quiet"])
        .status
        .success());
    let out = run(&["eval", "--model", s(&model), "--data", s(&wide)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("ignored 3 feature value(s) in 2 row(s) with indices beyond the model's 3 features"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["predict", "--model", s(&model), "--data", s(&wide)]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).lines().count(), 3);
    assert!(text(&out.stderr).contains("ignored 3 feature value(s)"));
}

#[test]
fn quiet_prints_nothing() {
    let d = dir("quiet");
    let data = d.join("x.svm");
    std::fs::write(&data, "1 1:1\n-1 2:1\n").unwrap();
    let out = run(&["train", "--data", s(&data), "--quiet"]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}

fn fails_with(args: &[&str], code: i32, needle: &str) {
    let out = run(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr:?} lacks {needle:?}");
    if code == 1 {
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
        assert!(stderr.starts_with("wildsgd: error: "));
    }
}

#[test]
fn usage_errors_exit_2() {
    fails_with(&[], 2, "Usage");
    fails_with(&["train"], 2, "--data");
    fails_with(&["train", "--data", "x", "--bogus"], 2, "--bogus");
    fails_with(&["train", "--data", "x", "--model", "tree"], 2, "tree");
    fails_with(&["train", "--data", "x", "--policy", "bogus"], 2, "unknown policy");
    fails_with(&["train", "--data", "x", "--epochs", "many"], 2, "many");
    fails_with(&["frobnicate"], 2, "frobnicate");
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    for cmd in ["train", "eval", "predict"] {
        assert!(text(&out.stdout).contains(cmd));
    }
}

#[test]
fn data_and_training_errors_exit_1_with_one_line() {
    let d = dir("errors");
    let bad = d.join("bad.svm");
    std::fs::write(&bad, "1 1:1\n-1 2:x\n").unwrap();
    let b = s(&bad);
    fails_with(
        &["train", "--data", b],
        1,
        &format!("{b}: line 2, column 6: value \"x\" is not a number"),
    );
    let empty = d.join("empty.svm");
    std::fs::write(&empty, "").unwrap();
    fails_with(&["train", "--data", s(&empty)], 1, "the file is empty");
    let comments = d.join("comments.svm");
    std::fs::write(&comments, "# nothing here\n\n").unwrap();
    fails_with(&["train", "--data", s(&comments)], 1, "the file is empty");
    fails_with(&["train", "--data", "/nonexistent/d.svm"], 1, "/nonexistent/d.svm: ");
    let three = d.join("three.svm");
    std::fs::write(&three, "1 1:1\n2 1:1\n3 1:1\n").unwrap();
    fails_with(&["train", "--data", s(&three)], 1, "third class");
    let ok = d.join("ok.svm");
    std::fs::write(&ok, "1 1:1\n-1 2:1\n").unwrap();
    fails_with(
        &["train", "--data", s(&ok), "--epochs", "0"],
        1,
        "epochs must be at least 1",
    );
    fails_with(
        &["train", "--data", s(&ok), "--threads", "0"],
        1,
        "threads must be at least 1",
    );
    fails_with(&["train", "--data", s(&ok), "--lr=-1"], 1, "learning rate");
    fails_with(
        &["train", "--data", s(&ok), "--valid-fraction", "0.1"],
        1,
        "no validation rows",
    );
    fails_with(&["train", "--data", s(&ok), "--resume"], 1, "--resume need");
    fails_with(
        &["eval", "--model", s(&ok), "--data", s(&ok)],
        1,
        "not a wildsgd checkpoint",
    );
    fails_with(
        &["eval", "--model", "/nonexistent/m", "--data", s(&ok)],
        1,
        "/nonexistent/m: ",
    );
    let model = d.join("m");
    assert!(run(&["train", "--data", s(&ok), "--out", s(&model), "--quiet"])
        .status
        .success());
    fails_with(
        &["predict", "--model", s(&model), "--data", s(&bad)],
        1,
        "line 2, column 6",
    );
}

/// A build without MPI says how to get one: `train --distributed` is a
/// usage error naming the cargo feature and the system packages.
#[cfg(not(feature = "mpi"))]
#[test]
fn distributed_without_the_mpi_feature_says_how_to_build_it() {
    let d = dir("no-mpi");
    let data = d.join("x.svm");
    std::fs::write(&data, "1 1:1\n-1 2:1\n").unwrap();
    let out = run(&["train", "--data", s(&data), "--distributed"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("wildsgd: error: "), "{stderr}");
    assert!(stderr.contains("distributed"), "{stderr}");
    for needle in ["--features mpi", "libopenmpi-dev", "openmpi-bin", "libclang"] {
        assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
    }
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

#[test]
fn a_reader_that_goes_away_neither_crashes_training_nor_loses_the_model() {
    use std::process::Stdio;
    let d = dir("closed-pipe");
    let model = d.join("m.ckpt");
    let mut child = Command::new(BIN)
        .args([
            "train",
            "--data",
            s(&spam()),
            "--epochs",
            "3",
            "--threads",
            "2",
            "--out",
            s(&model),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read nothing and close our end at once, as `wildsgd train ... | head -0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status.code(),
        text(&out.stderr)
    );
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
    let eval = run(&["eval", "--model", s(&model), "--data", s(&spam())]);
    assert!(eval.status.success(), "the model was saved: {}", text(&eval.stderr));
}

/// A ratings file with string ids and a header: 40 users x 25 items rated
/// about half the time, a rank-2 structure plus noise (deterministic).
fn write_ratings(path: &Path) -> Vec<(String, String, f64)> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut rows = Vec::new();
    for u in 0..40 {
        for i in 0..25 {
            if next() < 0.5 {
                let (a, b) = ((u % 5) as f64 / 4.0, (i % 3) as f64 / 2.0);
                let r = (1.0 + 4.0 * (0.5 * a + 0.5 * b) + 0.3 * (next() - 0.5)).clamp(1.0, 5.0);
                rows.push((format!("user{u}"), format!("film{i}"), (r * 10.0).round() / 10.0));
            }
        }
    }
    let mut text = String::from("user_id,item_id,rating\n");
    for (u, i, r) in &rows {
        text += &format!("{u},{i},{r}\n");
    }
    std::fs::write(path, text).unwrap();
    rows
}

fn floats(t: &str) -> Vec<f64> {
    t.lines().map(|l| l.parse().unwrap()).collect()
}

fn value_of(stdout: &str, key: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("{key} in {stdout}"));
    line[key.len()..].split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn mf_trains_evaluates_and_predicts_in_the_training_id_space() {
    let d = dir("mf");
    let (data, model) = (d.join("r.csv"), d.join("mf.model"));
    let rows = write_ratings(&data);
    let out = run(&[
        "train",
        "--model",
        "mf",
        "--data",
        s(&data),
        "--rank",
        "4",
        "--epochs",
        "40",
        "--lr",
        "0.05",
        "--valid-fraction",
        "0.1",
        "--threads",
        "2",
        "--out",
        s(&model),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("({} ratings, 40 users, 25 items)", rows.len())),
        "{stdout}"
    );
    assert!(stdout.contains("model: mf, rank 4, l2 0.08"), "{stdout}");
    assert!(stdout.contains("epoch  40: train loss"), "{stdout}");
    let valid_rmse = value_of(&stdout, "valid rmse ");
    // The ratings' spread is about 1.1; the structure is learnable.
    assert!(valid_rmse < 0.6, "{stdout}");

    let eval = run(&["eval", "--model", s(&model), "--data", s(&data)]);
    let e = text(&eval.stdout);
    assert!(eval.status.success(), "{e}{}", text(&eval.stderr));
    assert!(
        e.contains(&format!(
            "({} ratings, model: mf, rank 4, 40 users, 25 items)",
            rows.len()
        )),
        "{e}"
    );
    let (loss, rmse) = (value_of(&e, "loss: "), value_of(&e, "rmse: "));
    assert!(rmse > 0.0 && rmse < 0.6 && loss > 0.0, "{e}");

    // Predictions: one per line, in the clip range, and tied to the ids, not
    // to the order a file lists them in: a reversed file without a header
    // numbers its ids differently but gets the same predictions.
    let p = run(&["predict", "--model", s(&model), "--data", s(&data)]);
    assert!(p.status.success(), "{}", text(&p.stderr));
    let forward = floats(&text(&p.stdout));
    assert_eq!(forward.len(), rows.len());
    assert!(forward.iter().all(|&x| (1.0..=5.0).contains(&x)), "{forward:?}");
    let reversed = d.join("rev.tsv");
    let mut t = String::new();
    for (u, i, r) in rows.iter().rev() {
        t += &format!("{u}\t{i}\t{r}\n");
    }
    std::fs::write(&reversed, t).unwrap();
    let p = run(&["predict", "--model", s(&model), "--data", s(&reversed)]);
    let mut backward = floats(&text(&p.stdout));
    backward.reverse();
    assert_eq!(forward, backward);
    // The RMSE of those predictions is what eval reported.
    let mse: f64 = forward.iter().zip(&rows).map(|(p, r)| (p - r.2).powi(2)).sum::<f64>() / rows.len() as f64;
    assert!((mse.sqrt() - rmse).abs() < 1e-4, "{} vs {rmse}", mse.sqrt());

    // An id the model never saw: a clear error naming the file and the rating.
    let cold = d.join("cold.tsv");
    std::fs::write(&cold, "user1\tfilm2\t4\nuser99\tfilm2\t3\n").unwrap();
    fails_with(
        &["eval", "--model", s(&model), "--data", s(&cold)],
        1,
        &format!(
            "{}: rating 2 (from 1, not counting a header): user id \"user99\" is not in the model's id space",
            s(&cold)
        ),
    );
    let cold_item = d.join("cold-item.tsv");
    std::fs::write(&cold_item, "user1\tfilm77\t4\n").unwrap();
    fails_with(
        &["predict", "--model", s(&model), "--data", s(&cold_item)],
        1,
        "item id \"film77\"",
    );
    // Options of other kinds, and bad values, are errors, not panics.
    fails_with(
        &["train", "--data", s(&data), "--model", "mf", "--rank", "0"],
        1,
        "rank",
    );
    fails_with(
        &["train", "--data", s(&data), "--model", "mf", "--no-bias"],
        1,
        "linear models only",
    );
    fails_with(&["train", "--data", s(&spam()), "--rank", "3"], 1, "--model mf only");
    fails_with(&["train", "--data", s(&data), "--model", "mf", "--l2=-1"], 1, "l2");
    fails_with(&["train", "--data", s(&data), "--model", "mf", "--lr", "nan"], 1, "lr");
}

#[test]
fn softmax_trains_evaluates_and_predicts_classes() {
    let d = dir("softmax");
    let (data, model) = (d.join("c.svm"), d.join("s.model"));
    // Three classes; class c has a strong feature c+1 and weak noise on feature 4.
    let mut t = String::new();
    let mut labels = Vec::new();
    for k in 0..300 {
        let c = k % 3;
        let noise = ((k * 37) % 11) as f64 / 10.0;
        t += &format!("{c} {}:1 4:{noise}\n", c + 1);
        labels.push(c);
    }
    std::fs::write(&data, t).unwrap();
    let out = run(&[
        "train",
        "--model",
        "softmax",
        "--data",
        s(&data),
        "--epochs",
        "5",
        "--lr",
        "0.5",
        "--valid",
        s(&data),
        "--threads",
        "2",
        "--out",
        s(&model),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        // The defaults: the adaptive update, L2 1/rows (300 rows).
        stdout.contains(
            "model: softmax, 3 classes x 4 features (+ bias), l2 0.0033333334, adaptive update, tail averaging false"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("epoch   5: train loss") && stdout.contains("valid acc"),
        "{stdout}"
    );
    assert!(value_of(&stdout, "valid accuracy ") > 0.99, "{stdout}");

    let eval = run(&["eval", "--model", s(&model), "--data", s(&data), "--verbose"]);
    let e = text(&eval.stdout);
    assert!(eval.status.success(), "{e}{}", text(&eval.stderr));
    assert!(value_of(&e, "accuracy: ") > 0.99, "{e}");
    assert!(value_of(&e, "loss: ") < 0.5, "{e}");
    for c in 0..3 {
        assert!(
            e.contains(&format!("recall class {c}: ")) && e.contains("(100 rows)"),
            "{e}"
        );
    }
    assert!(
        e.contains("true\\p") && e.contains("accuracy 1.0000 (300 of 300)"),
        "{e}"
    );
    let plain = text(&run(&["eval", "--model", s(&model), "--data", s(&data)]).stdout);
    assert!(!plain.contains("true\\p"), "the matrix only with --verbose: {plain}");

    let p = run(&["predict", "--model", s(&model), "--data", s(&data)]);
    let classes: Vec<usize> = text(&p.stdout).lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(classes, labels);

    // A label that is not a class id, and a label beyond the model's classes.
    let bad = d.join("bad.svm");
    std::fs::write(&bad, "0 1:1\n1.5 2:1\n").unwrap();
    fails_with(
        &["train", "--model", "softmax", "--data", s(&bad)],
        1,
        &format!("{}: data row 2 (from 1): label 1.5 is not a class id", s(&bad)),
    );
    let beyond = d.join("beyond.svm");
    std::fs::write(&beyond, "0 1:1\n7 2:1\n").unwrap();
    fails_with(
        &["eval", "--model", s(&model), "--data", s(&beyond)],
        1,
        &format!(
            "{}: data row 2 (from 1): label 7 is not a class id (a whole number in 0..3)",
            s(&beyond)
        ),
    );
    // A damaged model file: one line naming it.
    let mut bytes = std::fs::read(&model).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x40;
    let broken = d.join("broken.model");
    std::fs::write(&broken, &bytes).unwrap();
    fails_with(
        &["eval", "--model", s(&broken), "--data", s(&data)],
        1,
        "corrupted: checksum",
    );
    fails_with(&["eval", "--model", s(&broken), "--data", s(&data)], 1, s(&broken));
    std::fs::write(&broken, &bytes[..n - 10]).unwrap();
    fails_with(&["predict", "--model", s(&broken), "--data", s(&data)], 1, "truncated");
}

/// Two cliques of 10 nodes (`a0..a9`, `b0..b9`) joined by one edge.
fn write_cliques(path: &Path) {
    let mut t = String::from("# two cliques\n");
    for c in ["a", "b"] {
        for i in 0..10 {
            for j in i + 1..10 {
                t += &format!("{c}{i} {c}{j}\n");
            }
        }
    }
    t += "a0 b0\n";
    std::fs::write(path, t).unwrap();
}

#[test]
fn line_trains_evaluates_and_predicts_on_an_edge_list() {
    let d = dir("line");
    let (graph, model, report) = (d.join("cliques.txt"), d.join("line.model"), d.join("r.json"));
    write_cliques(&graph);
    let args = [
        "train",
        "--model",
        "line",
        "--data",
        s(&graph),
        "--dim",
        "8",
        "--epochs",
        "100",
        "--out",
        s(&model),
        "--report",
        s(&report),
    ];
    let out = run(&args);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    // 91 edges, 10 % held out; both directions of the rest are pairs.
    assert!(
        stdout.contains("20 nodes, 91 edges; training on 82 edges = 164 pairs, 9 held out"),
        "{stdout}"
    );
    assert!(stdout.contains("epoch 100: train loss"), "{stdout}");
    let held = value_of(&stdout, "held-out link auc");
    assert!(held > 0.8, "held-out link AUC {held}: {stdout}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        (json["model"].as_str(), json["nodes"].as_u64()),
        (Some("line"), Some(20))
    );
    assert_eq!(json["epochs"].as_array().unwrap().len(), 100);

    let out = run(&["eval", "--model", s(&model), "--data", s(&graph)]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("91 edges, model: line, 20 nodes, dim 8"), "{stdout}");
    assert!(stdout.contains("(91 edges vs 49 sampled non-edges)"), "{stdout}");
    let all = value_of(&stdout, "link auc:");
    assert!(all > 0.9, "link AUC {all}: {stdout}");

    // Nodes are mapped by name: a file naming a node the model lacks is an error naming it.
    let stranger = d.join("stranger.txt");
    std::fs::write(&stranger, "a1 a2\na3 nobody\n").unwrap();
    fails_with(
        &["eval", "--model", s(&model), "--data", s(&stranger)],
        1,
        "node \"nobody\" (edge 2 from 1) is not one of the model's 20 nodes",
    );
    // An edge list read as METIS is a parse error naming the file, not a panic.
    fails_with(
        &["eval", "--model", s(&model), "--data", s(&graph), "--format", "metis"],
        1,
        "cliques.txt",
    );
    fails_with(
        &["train", "--model", "line", "--data", s(&graph), "--format", "metis"],
        1,
        "cliques.txt",
    );
    fails_with(
        &["train", "--model", "line", "--data", s(&graph), "--format", "csv"],
        2,
        "csv",
    );
    fails_with(
        &["train", "--model", "line", "--data", s(&graph), "--window", "3"],
        1,
        "--window applies to --model word2vec only",
    );

    let queries = d.join("q.txt");
    std::fs::write(&queries, "a3\n\nnobody\nb5\n").unwrap();
    let out = run(&[
        "predict",
        "--model",
        s(&model),
        "--data",
        s(&queries),
        "--neighbours",
        "5",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[1], "nobody\tunknown");
    assert!(text(&out.stderr).contains("1 of 3 names are not in the model"));
    for (line, clique) in [(lines[0], 'a'), (lines[2], 'b')] {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 6, "{line}");
        let mut last = f32::INFINITY;
        for f in &fields[1..] {
            let (name, cos) = f.split_once(' ').unwrap();
            let cos: f32 = cos.parse().unwrap();
            assert!(name.starts_with(clique) && name != fields[0], "{line}");
            assert!(cos <= last && (-1.0..=1.0).contains(&cos), "{line}");
            last = cos;
        }
    }
}

/// 1,500 sentences of 10 words, each from one of five topics of four words
/// (`a0..a3`, ..., `e0..e3`), seeded. Only a fifth of random negatives share
/// a pair's topic, so the best held-out AUC is about 1 − ½·⅕ = 0.9.
fn write_topics(path: &Path) {
    let mut x = 12345u64;
    let mut next = || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (x >> 33) as usize
    };
    let mut t = String::new();
    for n in 0..1500 {
        let topic = ["a", "b", "c", "d", "e"][n % 5];
        let words: Vec<String> = (0..10).map(|_| format!("{topic}{}", next() % 4)).collect();
        t += &words.join(" ");
        t.push('\n');
    }
    std::fs::write(path, t).unwrap();
}

#[test]
fn word2vec_writes_checkpoints_and_resumes_from_them() {
    let d = dir("word2vec-resume");
    let (corpus, ckpt, model) = (d.join("topics.txt"), d.join("w2v.ckpt"), d.join("w2v.model"));
    write_topics(&corpus);
    let common = [
        "train",
        "--model",
        "word2vec",
        "--data",
        s(&corpus),
        "--dim",
        "8",
        "--window",
        "3",
        "--min-count",
        "1",
        "--subsample",
        "0",
        "--threads",
        "2",
        "--checkpoint",
        s(&ckpt),
    ];
    // Two of four epochs, a checkpoint after each.
    let mut first = common.to_vec();
    first.extend(["--epochs", "2"]);
    let out = run(&first);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("epoch   2: train loss"), "{stdout}");
    let c = wildsgd::checkpoint::Checkpoint::load(&ckpt).unwrap();
    assert_eq!((c.kind.as_str(), c.epochs_done), ("sgns", 2));
    assert_eq!(
        c.text("w2v.ckpt", wildsgd::checkpoint::tables::TASK).unwrap(),
        "word2vec"
    );

    // Resumed: epochs 3 and 4 only, then the model is saved and evaluates.
    let mut second = common.to_vec();
    second.extend(["--epochs", "4", "--resume", "--out", s(&model)]);
    let out = run(&second);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("resuming after epoch 2 of 4"), "{stdout}");
    assert!(!stdout.contains("epoch   2: train loss"), "{stdout}");
    assert!(stdout.contains("epoch   4: train loss"), "{stdout}");
    let held = value_of(&stdout, "held-out pair auc");
    assert!(held > 0.7, "held-out pair AUC {held}: {stdout}");
    assert_eq!(wildsgd::checkpoint::Checkpoint::load(&ckpt).unwrap().epochs_done, 4);
    let out = run(&["eval", "--model", s(&model), "--data", s(&corpus)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("model: word2vec, vocabulary 20, dim 8"));

    // A resumed run must keep the checkpoint's options.
    let mut other = common.to_vec();
    other.extend(["--epochs", "5", "--resume"]);
    other[8] = "4";
    fails_with(&other, 1, "window 3");
}

#[test]
fn word2vec_trains_evaluates_and_predicts_on_text() {
    let d = dir("word2vec");
    let (corpus, model) = (d.join("topics.txt"), d.join("w2v.model"));
    write_topics(&corpus);
    let out = run(&[
        "train",
        "--model",
        "word2vec",
        "--data",
        s(&corpus),
        "--dim",
        "16",
        "--epochs",
        "3",
        "--window",
        "3",
        "--min-count",
        "1",
        "--subsample",
        "0",
        "--lr",
        "0.05",
        "--out",
        s(&model),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("vocabulary 20 at min-count 1; training on 1350 sentences, 13500 tokens"),
        "{stdout}"
    );
    assert!(stdout.contains("150 sentences held out"), "{stdout}");
    assert!(stdout.contains("epoch   3: train loss"), "{stdout}");
    let held = value_of(&stdout, "held-out pair auc");
    assert!(held > 0.8, "held-out pair AUC {held}: {stdout}");

    // Unknown words are dropped before windows are formed, and counted.
    let eval_text = d.join("eval.txt");
    std::fs::write(&eval_text, "a1 a2 qqq a3 a0\nb1 b2 b3 zzz zzz b0\nqqq\n").unwrap();
    let out = run(&["eval", "--model", s(&model), "--data", s(&eval_text)]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("skipped: 4 of 12 words (2 distinct)"), "{stdout}");
    let auc = value_of(&stdout, "pair auc:");
    assert!((0.0..=1.0).contains(&auc), "{stdout}");
    fails_with(
        &[
            "train",
            "--model",
            "word2vec",
            "--data",
            s(&corpus),
            "--out",
            s(&model),
            "--resume",
        ],
        1,
        // word2vec resumes like every kind: from the checkpoint, which this run never wrote.
        "w2v.model.ckpt: No such file",
    );
    let lonely = d.join("lonely.txt");
    std::fs::write(&lonely, "a1 qqq\nb2\n").unwrap();
    fails_with(
        &["eval", "--model", s(&model), "--data", s(&lonely)],
        1,
        "no two known words share a sentence",
    );
    let none = d.join("none.txt");
    std::fs::write(&none, "qqq zzz\n").unwrap();
    fails_with(
        &["eval", "--model", s(&model), "--data", s(&none)],
        1,
        "none of its 2 words is in the model's vocabulary",
    );
    fails_with(
        &[
            "eval",
            "--model",
            s(&model),
            "--data",
            s(&eval_text),
            "--format",
            "edges",
        ],
        1,
        "--format applies to line models only",
    );

    let queries = d.join("q.txt");
    std::fs::write(&queries, "a0\nb3\n").unwrap();
    let out = run(&[
        "predict",
        "--model",
        s(&model),
        "--data",
        s(&queries),
        "--neighbours",
        "3",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for (line, topic) in stdout.lines().zip(['a', 'b']) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 4, "{line}");
        assert!(fields[1..].iter().all(|f| f.starts_with(topic)), "{stdout}");
    }
}

#[test]
fn stream_and_hash_bits_train_evaluate_and_predict() {
    let d = dir("stream");
    let (model, report) = (d.join("s.model"), d.join("s.json"));
    let out = run(&[
        "train",
        "--data",
        s(&spam()),
        "--stream",
        "--hash-bits",
        "18",
        "--threads",
        "2",
        "--epochs",
        "3",
        "--valid-fraction",
        "0.2",
        "--spill-dir",
        s(&d),
        "--out",
        s(&model),
        "--report",
        s(&report),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("262144 features hashed from names, 18 bits"),
        "{stdout}"
    );
    assert!(
        stdout.contains("windowed shuffle") && stdout.contains("stream: "),
        "{stdout}"
    );
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["hash_bits"], 18);
    assert!(json["stream"]["windows"].as_u64().unwrap() >= 3);
    let valid_acc = json["epochs"][2]["valid_accuracy"].as_f64().unwrap();
    assert!(valid_acc > 0.9, "{valid_acc}");
    // The spill is gone once training ends.
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("wildsgd-spill"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // eval and predict hash the data as training did (the model says how).
    let out = run(&["eval", "--model", s(&model), "--data", s(&spam())]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let acc = value_of(&stdout, "accuracy:");
    assert!(acc > 0.9, "{stdout}");
    // In memory, hashed: the same table, so the same eval path.
    let mem = d.join("m.model");
    let out = run(&[
        "train",
        "--data",
        s(&spam()),
        "--hash-bits",
        "18",
        "--epochs",
        "3",
        "--out",
        s(&mem),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["eval", "--model", s(&mem), "--data", s(&spam())]);
    assert!(value_of(&text(&out.stdout), "accuracy:") > 0.9);
    // A streamed parse error names the file and line, and exits 1.
    let bad = d.join("bad.svm");
    std::fs::write(&bad, "1 1:1\n-1 2:x\n").unwrap();
    fails_with(
        &["train", "--data", s(&bad), "--stream"],
        1,
        &format!("{}: line 2, column 6: value \"x\" is not a number", s(&bad)),
    );
    fails_with(&["train", "--data", s(&bad), "--hash-bits", "40"], 1, "hash-bits");
    fails_with(
        &["train", "--data", s(&bad), "--model", "mf", "--stream"],
        1,
        "--stream applies to",
    );
}

#[test]
fn streamed_runs_resume_and_check_their_labels() {
    let d = dir("stream-resume");
    let (model, ckpt) = (d.join("m"), d.join("c"));
    let data = spam();
    let base = [
        "train",
        "--data",
        s(&data),
        "--stream",
        "--threads",
        "2",
        "--checkpoint",
        s(&ckpt),
    ];
    let out = run(&[&base[..], &["--epochs", "2", "--out", s(&model)]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&[&base[..], &["--epochs", "3", "--resume", "--out", s(&model)]].concat());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("resuming after epoch 2 of 3") && stdout.contains("epoch   3:"),
        "{stdout}"
    );
    assert!(!stdout.contains("epoch   1:"), "{stdout}");
    // A hashed checkpoint cannot resume on exact indices or other bits.
    fails_with(
        &[&base[..], &["--epochs", "4", "--resume", "--hash-bits", "12"]].concat(),
        1,
        "hash-bits",
    );
    // A third class, in the data or only in the validation file, is named.
    let (three, two) = (d.join("three.svm"), d.join("two.svm"));
    std::fs::write(&three, "1 1:1\n-1 2:1\n1 1:0.5\n2 3:1\n").unwrap();
    std::fs::write(&two, "1 1:1\n-1 2:1\n1 1:0.5\n-1 3:1\n").unwrap();
    fails_with(
        &["train", "--data", s(&three), "--stream"],
        1,
        "data row 4 (from 1): label 2 is a third class",
    );
    fails_with(
        &["train", "--data", s(&two), "--stream", "--valid", s(&three)],
        1,
        "data row 4 (from 1): label 2 is not one of the training data's classes",
    );
    // softmax streams too, with the validation file's classes counted.
    let (sm, smv) = (d.join("sm.svm"), d.join("smv.svm"));
    let rows: String = (0..600)
        .map(|i| format!("{} {}:1 {}:0.5\n", i % 3, i % 3 + 1, 10 + i % 7))
        .collect();
    std::fs::write(&sm, &rows).unwrap();
    std::fs::write(&smv, "3 4:1\n0 1:1\n").unwrap();
    let out = run(&[
        "train",
        "--model",
        "softmax",
        "--data",
        s(&sm),
        "--stream",
        "--valid",
        s(&smv),
        "--epochs",
        "2",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("softmax, 4 classes"), "{stdout}");
    fails_with(
        &[
            "train",
            "--model",
            "softmax",
            "--data",
            s(&sm),
            "--stream",
            "--update",
            "sgd",
        ],
        1,
        "--stream does not average iterates",
    );
}
