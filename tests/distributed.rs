#![cfg(feature = "mpi")]
//! `wildsgd train --distributed` end to end: the binary under `mpirun`, one
//! rank per process. Losses match the single-process run's, rank 0 alone
//! writes, bad input on one shard and a killed rank end the job fast, a
//! checkpoint resumes on another rank count, and what cannot train
//! distributed says so.
//!
//! Every launch runs in its own process group and is killed after a hard
//! timeout, so a deadlock fails a test instead of hanging CI. Launches stay
//! on this machine (shared memory and loopback only). Needs `mpirun` on
//! PATH (`bash scripts/mpi-deps --install`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use wildsgd::checkpoint::Checkpoint;
use wildsgd::data::{write_libsvm_file, Synthetic};

const BIN: &str = env!("CARGO_BIN_EXE_wildsgd");

/// How long any launch may take before its process group is killed.
const HARD_TIMEOUT: Duration = Duration::from_secs(60);

/// The bound for a job with a failing or killed rank to exit.
const FAIL_FAST: Duration = Duration::from_secs(10);

/// The training file's rows (RCV1-shaped, smaller).
const ROWS: usize = 20_000;

/// One launch at a time: the harness runs tests in parallel, and ranks of
/// concurrent jobs on 2 cores would blur the fail-fast timings.
static LAUNCH: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    LAUNCH.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh directory of this test's.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wildsgd-distributed-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The shared training file: 20k rows x 2k features, RCV1-shaped.
fn training_file() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let d = dir("data");
        let data = Synthetic {
            rows: ROWS,
            features: 2_000,
            nnz_per_row: 40,
            seed: 11,
            ..Synthetic::default()
        }
        .generate()
        .unwrap();
        let path = d.join("train.svm");
        write_libsvm_file(&path, &data).unwrap();
        path
    })
}

/// Checks that `mpirun` is on PATH, for a clear failure when it is not.
/// Launches name it bare: Open MPI refuses `/bin/mpirun` as a prefix.
fn check_mpirun() {
    let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("mpirun").is_file()));
    assert!(
        found,
        "mpirun not found on PATH: tests/distributed.rs needs an MPI installation (bash scripts/mpi-deps --install)"
    );
}

fn open_mpi() -> bool {
    static OPEN: OnceLock<bool> = OnceLock::new();
    *OPEN.get_or_init(|| {
        Command::new("mpirun")
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("Open MPI"))
    })
}

/// `wildsgd ARGS` on `ranks` ranks under mpirun (`ranks == 0`: the binary
/// alone, no MPI).
fn command(ranks: usize, args: &[&str]) -> Command {
    let mut cmd = if ranks == 0 {
        Command::new(BIN)
    } else {
        check_mpirun();
        let mut c = Command::new("mpirun");
        if open_mpi() {
            // More ranks than cores is the point of the 4-rank runs.
            c.arg("--oversubscribe");
        }
        c.arg("-np").arg(ranks.to_string()).arg(BIN);
        c
    };
    cmd.args(args)
        // Root is the norm in CI containers; Open MPI refuses it unless told.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        // Shared memory and loopback only: nothing leaves this machine.
        .env("OMPI_MCA_pml", "ob1")
        .env("OMPI_MCA_btl", "self,vader")
        .env("OMPI_MCA_oob_tcp_if_include", "lo")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        // hwloc would otherwise probe X displays on 127.0.0.1:6000+.
        .env("HWLOC_COMPONENTS", "-gl")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so a timeout can kill the ranks too, not only
    // mpirun (orphaned ranks would spin in their collectives).
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd
}

struct Run {
    /// `None` if it was killed at the hard timeout.
    code: Option<i32>,
    success: bool,
    elapsed: Duration,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// A started launch, with its output being read.
struct Started {
    child: Child,
    start: Instant,
    readers: Vec<std::thread::JoinHandle<String>>,
}

fn start(ranks: usize, args: &[&str]) -> Started {
    let mut child = command(ranks, args).spawn().expect("the launch starts");
    let readers = [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ]
    .into_iter()
    .map(|mut pipe| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = pipe.read_to_end(&mut b);
            String::from_utf8_lossy(&b).into_owned()
        })
    })
    .collect();
    Started {
        child,
        start: Instant::now(),
        readers,
    }
}

fn kill_group(child: &Child) {
    let group = format!("-{}", child.id());
    // The group is usually gone by then: say nothing about that.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stderr(Stdio::null())
        .status();
}

/// A test that fails while a launch runs must not leave its ranks behind.
impl Drop for Started {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            kill_group(&self.child);
            let _ = self.child.wait();
        }
    }
}

impl Started {
    /// Waits for the launch to end, killing its process group at the hard timeout.
    fn wait(mut self) -> Run {
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break Some(status);
            }
            if self.start.elapsed() > HARD_TIMEOUT {
                kill_group(&self.child);
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = self.start.elapsed();
        let Some(status) = status else {
            // Pipes may be held open by a stray grandchild: do not wait on them.
            return Run {
                code: None,
                success: false,
                elapsed,
                stdout: String::new(),
                stderr: format!("killed after {HARD_TIMEOUT:?}"),
            };
        };
        // Anything of the group still alive (a rank mpirun left behind)
        // would hold the pipes open.
        kill_group(&self.child);
        let mut out = std::mem::take(&mut self.readers).into_iter().map(|r| r.join().unwrap());
        Run {
            code: status.code(),
            success: status.success(),
            elapsed,
            stdout: out.next().unwrap(),
            stderr: out.next().unwrap(),
        }
    }
}

fn launch(ranks: usize, args: &[&str]) -> Run {
    let _one = one_at_a_time();
    start(ranks, args).wait()
}

/// A launch that must succeed.
fn ok(ranks: usize, args: &[&str]) -> Run {
    let run = launch(ranks, args);
    assert!(run.success, "{ranks} rank(s), {args:?}: {}", run.all());
    run
}

fn report(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The last epoch's training loss in a JSON report.
fn final_loss(r: &serde_json::Value) -> f64 {
    let epochs = r["epochs"].as_array().expect("epochs");
    epochs.last().expect("an epoch")["train_loss"]
        .as_f64()
        .expect("train_loss")
}

fn u(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

const EPOCHS: usize = 5;

/// The common flags of the loss comparisons.
fn train_args<'a>(model: &'a str, policy: &'a str, report: &'a Path, epochs: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--data",
        s(training_file()),
        "--model",
        model,
        "--threads",
        "1",
        "--policy",
        policy,
        "--epochs",
        epochs,
        "--report",
        s(report),
    ]
}

/// `model` on 1 process (sequential) and on each of `ranks` (racy): the
/// final training losses agree within 1%, and the reports' distributed
/// figures add up.
fn matches_single_process(model: &str, ranks: &[usize]) {
    let d = dir(&format!("loss-{model}"));
    let single = d.join("single.json");
    let epochs = EPOCHS.to_string();
    let run = ok(0, &train_args(model, "sequential", &single, &epochs));
    let single = report(&single);
    assert!(single.get("distributed").is_none_or(|v| v.is_null()), "{single}");
    let want = final_loss(&single);
    assert!(want.is_finite() && want > 0.0, "{want}\n{}", run.all());
    for &k in ranks {
        let path = d.join(format!("np{k}.json"));
        let mut args = train_args(model, "racy", &path, &epochs);
        args.push("--distributed");
        let run = ok(k, &args);
        let r = report(&path);
        let got = final_loss(&r);
        let rel = (got - want).abs() / want;
        println!(
            "{model}: 1 process {want:.6}, {k} ranks {got:.6} ({:.3}% off) in {:?}",
            100.0 * rel,
            run.elapsed
        );
        assert!(
            rel < 0.01,
            "{model}, {k} ranks: final train loss {got} vs {want} on one process ({:.3}% off)\n{}",
            100.0 * rel,
            run.all()
        );
        assert_eq!(u(&r, "rows"), ROWS as u64, "{r}");
        let dist = &r["distributed"];
        assert_eq!(u(dist, "rank"), 0, "{dist}");
        assert_eq!(u(dist, "ranks"), k as u64, "{dist}");
        assert_eq!(u(dist, "samples_total"), (ROWS * EPOCHS) as u64, "{dist}");
        assert!(u(dist, "samples") < u(dist, "samples_total"), "{dist}");
        assert!(u(dist, "exchanges") > 0, "{dist}");
        assert!(u(dist, "bytes_sent") > 0, "{dist}");
        assert!(u(dist, "bytes_sent_total") >= u(dist, "bytes_sent"), "{dist}");
        assert!(u(dist, "exchange_every") >= 1, "{dist}");
        let comm = dist["comm_seconds"].as_f64().unwrap();
        assert!(
            comm >= 0.0 && dist["comm_seconds_max"].as_f64().unwrap() >= comm,
            "{dist}"
        );
        assert!(dist["samples_per_sec_total"].as_f64().unwrap() > 0.0, "{dist}");
        assert!(dist["transport"].as_str().unwrap().starts_with("mpi: "), "{dist}");
        // Rank 0 alone prints: one data line, one done line.
        assert_eq!(run.stdout.matches("done: ").count(), 1, "{}", run.all());
        assert!(run.stdout.contains(&format!("distributed: {k} ranks")), "{}", run.all());
    }
}

#[test]
fn logistic_loss_matches_one_process_at_2_and_4_ranks() {
    matches_single_process("logistic", &[2, 4]);
}

#[test]
fn hinge_loss_matches_one_process_at_2_ranks() {
    matches_single_process("hinge", &[2]);
}

/// Softmax on 3 classes: with a validation share per rank, the held-out
/// accuracy line counts every rank's validation rows; without, the final
/// training loss is within 1% of one sequential process's.
#[test]
fn softmax_loss_matches_one_process_at_2_ranks() {
    let d = dir("softmax");
    let path = d.join("classes.svm");
    let data = wildsgd::model::SyntheticClasses {
        rows: 6_000,
        features: 20,
        classes: 3,
        seed: 5,
        ..wildsgd::model::SyntheticClasses::default()
    }
    .generate()
    .unwrap();
    write_libsvm_file(&path, &data).unwrap();
    let (single, par) = (d.join("single.json"), d.join("np2.json"));
    let args = |policy: &'static str, report: &Path| -> Vec<String> {
        [
            "train",
            "--data",
            s(&path),
            "--model",
            "softmax",
            "--threads",
            "1",
            "--epochs",
            "5",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain(["--policy".into(), policy.into(), "--report".into(), s(report).into()])
        .collect()
    };
    let one: Vec<String> = args("sequential", &single);
    ok(0, &one.iter().map(String::as_str).collect::<Vec<_>>());
    let mut two = args("racy", &par);
    two.extend(["--valid-fraction".into(), "0.2".into(), "--distributed".into()]);
    let run = ok(2, &two.iter().map(String::as_str).collect::<Vec<_>>());
    let want = final_loss(&report(&single));
    let r = report(&par);
    assert!(final_loss(&r).is_finite(), "{r}");
    assert_eq!(u(&r["distributed"], "ranks"), 2, "{r}");
    assert_eq!(u(&r, "rows") + u(&r, "valid_rows"), 6_000, "{r}");
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("valid accuracy"))
        .unwrap_or_else(|| panic!("no valid accuracy line\n{}", run.all()));
    assert!(line.ends_with(&format!("of {} rows)", u(&r, "valid_rows"))), "{line}");
    // Without a split, the job's loss is within 1% of one process's.
    let full = d.join("np2-full.json");
    let mut three = args("racy", &full);
    three.push("--distributed".into());
    ok(2, &three.iter().map(String::as_str).collect::<Vec<_>>());
    let got = final_loss(&report(&full));
    assert!((got - want).abs() / want < 0.01, "softmax, 2 ranks: {got} vs {want}");
}

#[test]
fn rank_0_alone_writes_the_model() {
    let d = dir("out");
    let data = d.join("train.svm");
    std::fs::copy(training_file(), &data).unwrap();
    let model = d.join("m.model");
    ok(
        2,
        &[
            "train",
            "--data",
            s(&data),
            "--model",
            "logistic",
            "--threads",
            "1",
            "--epochs",
            "2",
            "--out",
            s(&model),
            "--distributed",
        ],
    );
    let mut left: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["m.model", "train.svm"], "files in {}", d.display());
    let run = ok(0, &["eval", "--model", s(&model), "--data", s(&data)]);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("accuracy: "))
        .expect("accuracy");
    let acc: f64 = line["accuracy: ".len()..].trim().parse().unwrap();
    assert!(acc > 0.8, "{}", run.all());
}

/// The message after `wildsgd: error: ` on a single-process run's stderr.
fn single_error(args: &[&str]) -> String {
    let run = launch(0, args);
    assert_eq!(run.code, Some(1), "{}", run.all());
    let line = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("wildsgd: error: "))
        .unwrap_or_else(|| panic!("no error line: {}", run.all()));
    line.to_string()
}

/// A job that must fail within [`FAIL_FAST`], its stderr containing `want`.
fn fails_fast(ranks: usize, args: &[&str], want: &str) -> Run {
    let run = launch(ranks, args);
    let what = format!("{ranks} ranks, {args:?}");
    assert!(run.code.is_some(), "{what}: hung, killed after {:?}", run.elapsed);
    assert!(!run.success, "{what}: exited 0\n{}", run.all());
    assert!(run.elapsed < FAIL_FAST, "{what}: took {:?}\n{}", run.elapsed, run.all());
    assert!(
        run.stderr.contains(want),
        "{what}: no {want:?} on stderr\n{}",
        run.all()
    );
    run
}

#[test]
fn a_malformed_line_on_one_shard_ends_the_job_naming_file_and_line() {
    let d = dir("bad-line");
    let bad = d.join("bad.svm");
    // 6000 good lines, then a malformed one at line 3001 (the middle).
    let mut text = String::new();
    for i in 0..6000 {
        if i == 3000 {
            text += "1 5:abc\n";
        }
        text += &format!(
            "{} {}:1 {}:0.5\n",
            if i % 2 == 0 { 1 } else { -1 },
            1 + i % 97,
            100 + i % 13
        );
    }
    std::fs::write(&bad, text).unwrap();
    let args = [
        "train",
        "--data",
        s(&bad),
        "--model",
        "logistic",
        "--threads",
        "1",
        "--epochs",
        "2",
    ];
    let msg = single_error(&args);
    assert!(msg.contains(s(&bad)) && msg.contains("line 3001"), "{msg}");
    let mut dist = args.to_vec();
    dist.push("--distributed");
    for k in [2, 4] {
        let run = fails_fast(k, &dist, &msg);
        println!("malformed line, {k} ranks: failed in {:?}", run.elapsed);
    }
}

/// The `wildsgd` processes `mpirun` (pid `parent`) started.
fn ranks_of(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) && head.ends_with("(wildsgd") {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids
}

/// The rank `mpirun` gave process `pid`.
fn rank_of(pid: u32) -> Option<usize> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|&b| b == 0)
        .find_map(|v| v.strip_prefix(b"OMPI_COMM_WORLD_RANK="))
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
}

/// 20 tries (the "every time"), the killed rank alternating.
#[test]
fn a_killed_rank_ends_the_job_and_leaves_a_loadable_checkpoint() {
    let data = training_file();
    for (i, victim) in (0..20).map(|i| (i + 1) % 2).enumerate() {
        let d = dir(&format!("killed-{i}"));
        let ckpt = d.join("c.ckpt");
        let _one = one_at_a_time();
        let job = start(
            2,
            &[
                "train",
                "--data",
                s(data),
                "--model",
                "logistic",
                "--threads",
                "1",
                // Far more than it gets to: the kill comes after the first.
                "--epochs",
                "1000",
                "--checkpoint",
                s(&ckpt),
                "--checkpoint-every",
                "1",
                "--distributed",
            ],
        );
        let parent = job.child.id();
        // Wait for the first checkpoint.
        while !ckpt.exists() {
            assert!(
                job.start.elapsed() < HARD_TIMEOUT,
                "try {i}: no checkpoint after {HARD_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let pids = ranks_of(parent);
        assert_eq!(pids.len(), 2, "try {i}: mpirun's wildsgd children: {pids:?}");
        let pid = *pids
            .iter()
            .find(|&&p| rank_of(p) == Some(victim))
            .unwrap_or(&pids[victim]);
        let killed = Instant::now();
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        let run = job.wait();
        let after = killed.elapsed();
        println!(
            "killed rank {victim} (pid {pid}): the job ended {after:?} later, exit {:?}",
            run.code
        );
        assert!(run.code.is_some(), "try {i}: hung after rank {victim} was killed");
        assert!(!run.success, "try {i}: exited 0\n{}", run.all());
        assert!(after < FAIL_FAST, "try {i}: took {after:?}\n{}", run.all());
        let c = Checkpoint::load(&ckpt).unwrap_or_else(|e| panic!("try {i}: {e}\n{}", run.all()));
        assert!(c.epochs_done >= 1, "try {i}: {} epochs done", c.epochs_done);
        drop(_one);
        let ev = ok(0, &["eval", "--model", s(&ckpt), "--data", s(data)]);
        assert!(ev.stdout.contains("loss: "), "{}", ev.all());
    }
}

#[test]
fn a_checkpoint_resumes_on_another_rank_count() {
    let d = dir("resume");
    let data = training_file();
    let ckpt = d.join("c.ckpt");
    let (first, second) = (d.join("first.json"), d.join("second.json"));
    let common = [
        "train",
        "--data",
        s(data),
        "--model",
        "logistic",
        "--threads",
        "1",
        "--checkpoint",
        s(&ckpt),
        "--distributed",
    ];
    let mut a = common.to_vec();
    a.extend(["--epochs", "2", "--report", s(&first)]);
    ok(2, &a);
    assert_eq!(Checkpoint::load(&ckpt).unwrap().epochs_done, 2);
    let mut b = common.to_vec();
    b.extend(["--epochs", "4", "--resume", "--report", s(&second)]);
    let run = ok(4, &b);
    assert!(run.stdout.contains("resuming after epoch 2"), "{}", run.all());
    let (first, second) = (report(&first), report(&second));
    assert_eq!(second["epochs"].as_array().unwrap().len(), 2, "{second}");
    assert_eq!(u(&second["distributed"], "ranks"), 4);
    let (l1, l2) = (final_loss(&first), final_loss(&second));
    assert!(
        l2.is_finite() && l2 < l1,
        "loss after resuming {l2}, before {l1}\n{}",
        run.all()
    );
    assert_eq!(Checkpoint::load(&ckpt).unwrap().epochs_done, 4);
}

/// word2vec: every rank reads the corpus and draws each epoch's pairs
/// (one vocabulary, one sub-sampling), and trains its share of them; the
/// held-out pair AUC stays within 0.01 of one process's.
#[test]
fn word2vec_pair_auc_matches_one_process_at_2_ranks() {
    let d = dir("word2vec");
    let corpus = d.join("topics.txt");
    // 10 topics of 30 words; each sentence draws 10 words from one topic.
    let mut x = 11u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut text = String::new();
    for _ in 0..3000 {
        let topic = next() % 10;
        let words: Vec<String> = (0..10).map(|_| format!("t{topic}w{}", next() % 30)).collect();
        text += &words.join(" ");
        text.push('\n');
    }
    std::fs::write(&corpus, text).unwrap();
    let auc = |run: &Run| -> f64 {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with("held-out pair auc"))
            .unwrap_or_else(|| panic!("no auc line\n{}", run.all()));
        line["held-out pair auc ".len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let args = [
        "train",
        "--data",
        s(&corpus),
        "--model",
        "word2vec",
        "--threads",
        "1",
        "--epochs",
        "3",
    ];
    let one = auc(&ok(0, &args));
    let mut a = args.to_vec();
    a.push("--distributed");
    let run = ok(2, &a);
    let two = auc(&run);
    println!("word2vec: pair auc 1 process {one:.4}, 2 ranks {two:.4}");
    assert!(one > 0.6, "the corpus has structure: {one}");
    assert!(two > one - 0.01, "2 ranks {two} vs 1 process {one}\n{}", run.all());
    assert!(run.stdout.contains("distributed: 2 ranks"), "{}", run.all());
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Matrix factorisation: each rank reads its share of a ratings file (ids
/// as strings, numbered in the job's id space); the final training
/// objective within 1% of one sequential process's, and the held-out RMSE
/// line is the job's.
#[test]
fn mf_loss_matches_one_process_at_2_and_4_ranks() {
    let d = dir("mf");
    let path = d.join("ratings.tsv");
    let data = wildsgd::data::SyntheticRatings {
        users: 300,
        items: 200,
        ratings: 20_000,
        rank: 4,
        noise: 0.5,
        seed: 3,
        ..wildsgd::data::SyntheticRatings::default()
    }
    .generate()
    .unwrap();
    let mut text = String::from("user_id\titem_id\trating\n");
    for i in 0..data.len() {
        let r = wildsgd::data::Dataset::sample(&data, i);
        text += &format!("u{}\ti{}\t{}\n", r.user, r.item, r.value);
    }
    std::fs::write(&path, text).unwrap();
    let args = |policy: &'static str, report: &Path| -> Vec<String> {
        [
            "train",
            "--data",
            s(&path),
            "--model",
            "mf",
            "--threads",
            "1",
            "--epochs",
            "8",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain(["--policy".into(), policy.into(), "--report".into(), s(report).into()])
        .collect()
    };
    let single = d.join("single.json");
    ok(0, &strs(&args("sequential", &single)));
    let single = report(&single);
    let want = final_loss(&single);
    for k in [2, 4] {
        let path = d.join(format!("np{k}.json"));
        let mut a = args("racy", &path);
        a.push("--distributed".into());
        let run = ok(k, &strs(&a));
        let r = report(&path);
        let got = final_loss(&r);
        println!("mf: 1 process {want:.6}, {k} ranks {got:.6}");
        assert!(
            (got - want).abs() / want < 0.01,
            "mf, {k} ranks: {got} vs {want}\n{}",
            run.all()
        );
        assert_eq!(u(&r, "rows"), u(&single, "rows"), "{r}");
        assert_eq!(
            (u(&r, "users"), u(&r, "items")),
            (u(&single, "users"), u(&single, "items")),
            "{r}"
        );
        assert_eq!(u(&r["distributed"], "ranks"), k as u64, "{r}");
    }
    // A held-out share per rank: one RMSE line for the job.
    let mut a = args("racy", &d.join("valid.json"));
    a.extend(["--valid-fraction".into(), "0.1".into(), "--distributed".into()]);
    let run = ok(2, &strs(&a));
    assert_eq!(run.stdout.matches("valid rmse").count(), 1, "{}", run.all());
}

#[test]
fn exchange_every_0_is_refused() {
    let args = [
        "train",
        "--data",
        s(training_file()),
        "--model",
        "logistic",
        "--exchange-every",
        "0",
        "--distributed",
    ];
    fails_fast(2, &args, "exchange-every");
    // Without --distributed, the flag is a usage error.
    let run = launch(0, &args[..args.len() - 1]);
    assert_eq!(run.code, Some(2), "{}", run.all());
}

/// A binary model's classes are every share's together: three labels over
/// the file are refused on every rank, whatever each share holds.
#[test]
fn a_third_class_on_another_share_is_refused() {
    let d = dir("classes");
    let path = d.join("three.svm");
    let text: String = (0..3000)
        .map(|i| format!("{} 1:1 {}:0.5\n", i / 1000, 2 + i % 40))
        .collect();
    std::fs::write(&path, text).unwrap();
    let args = ["train", "--data", s(&path), "--epochs", "1", "--distributed"];
    let run = fails_fast(2, &args, "labels 0, 1 and 2");
    assert!(run.stderr.contains("three.svm"), "{}", run.all());
}

/// A divergence is every rank's outcome, not a failure of one: no rank
/// aborts the job while rank 0 saves the last finite weights to --out,
/// and rank 0 alone says so.
#[test]
fn a_divergence_saves_the_last_finite_weights() {
    let d = dir("diverged");
    let out = d.join("m.model");
    let args = [
        "train",
        "--data",
        s(training_file()),
        "--model",
        "squared",
        "--update",
        "sgd",
        "--lr",
        "1e30",
        "--threads",
        "1",
        "--epochs",
        "3",
        "--out",
        s(&out),
        "--distributed",
    ];
    let run = fails_fast(2, &args, "training diverged");
    assert_eq!(run.stderr.matches("training diverged").count(), 1, "{}", run.all());
    assert!(run.stderr.contains("were saved to"), "{}", run.all());
    assert!(Checkpoint::load(&out).is_ok(), "{}", run.all());
}

/// Graph embeddings (line): every rank reads the graph and trains its
/// share of the pairs; the held-out link AUC (the same held-out edges on
/// every rank) stays within 0.01 of one process's.
#[test]
fn line_link_auc_matches_one_process_at_2_ranks() {
    let d = dir("line");
    let path = d.join("communities.tsv");
    // 20 communities of 15 nodes: dense inside, a few edges across.
    let mut text = String::new();
    let mut x = 7u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for c in 0..20u64 {
        for a in 0..15 {
            for b in a + 1..15 {
                if next() % 3 == 0 {
                    text += &format!("n{}\tn{}\n", c * 15 + a, c * 15 + b);
                }
            }
        }
        text += &format!("n{}\tn{}\n", c * 15, ((c + 1) % 20) * 15 + 1);
    }
    std::fs::write(&path, text).unwrap();
    let auc = |run: &Run| -> f64 {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with("held-out link auc"))
            .unwrap_or_else(|| panic!("no auc line\n{}", run.all()));
        line["held-out link auc ".len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let args = [
        "train",
        "--data",
        s(&path),
        "--model",
        "line",
        "--threads",
        "1",
        "--epochs",
        "10",
    ];
    let one = auc(&ok(0, &args));
    let mut a = args.to_vec();
    a.push("--distributed");
    let run = ok(2, &a);
    let two = auc(&run);
    println!("line: link auc 1 process {one:.4}, 2 ranks {two:.4}");
    assert!(one > 0.8, "the problem has structure: {one}");
    assert!(two > one - 0.01, "2 ranks {two} vs 1 process {one}\n{}", run.all());
    assert!(run.stdout.contains("distributed: 2 ranks"), "{}", run.all());
}
