//! The hardening issue's cases, one test each, on the `wildsgd` binary: no
//! input, flag or signal makes it destroy a file, hang, panic or abort.
//! Every file is made here, in a temporary folder (never a `/dev` node);
//! every run has a deadline and a memory cap (see [`run`]), so a hang or an
//! unbounded allocation fails the test instead of stalling the suite.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use wildsgd::checkpoint::{tables, Checkpoint, Table};
use wildsgd::model::UnigramTable;
use wildsgd::{Loss, Policy, Schedule};

const BIN: &str = env!("CARGO_BIN_EXE_wildsgd");
/// No case may take longer than this (a hang is a failure).
const DEADLINE: Duration = Duration::from_secs(60);
/// The address-space cap of every run, in KiB: far above what the cases
/// need, far below what the defects asked for.
const MEMORY_KIB: u64 = 4 << 20;

fn spam() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/spamassassin.svm.gz")
}

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("wildsgd-hardening-").tempdir().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Starts the binary under `ulimit -v` (the memory cap), stdin closed.
fn spawn(args: &[&str], dir: &Path) -> std::process::Child {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_KIB}; exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs the binary to its end, failing the test if it outlives [`DEADLINE`].
fn run_in(dir: &Path, args: &[&str]) -> Output {
    let mut child = spawn(args, dir);
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{args:?} still running after {DEADLINE:?} (a hang); stderr: {}",
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn run(args: &[&str]) -> Output {
    run_in(Path::new("."), args)
}

/// Exits with `code` and one stderr line naming `needle`, no panic.
fn fails(out: &Output, code: i32, needle: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    assert!(!err.contains("panicked") && !err.contains("memory allocation"), "{err}");
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

/// A small LIBSVM file (plain) and its bytes.
fn small_svm(d: &Path) -> PathBuf {
    let p = d.join("small.svm");
    let mut t = String::new();
    for i in 0..200 {
        t += &format!(
            "{} {}:1 {}:0.5\n",
            if i % 2 == 0 { 1 } else { -1 },
            i % 7 + 1,
            i % 5 + 8
        );
    }
    write(&p, t.as_bytes());
    p
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn mkfifo(p: &Path) {
    assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
}

// ---------------------------------------------------------------- safe output

#[test]
fn an_output_that_is_not_a_regular_file_is_refused_and_left_alone() {
    let d = tmp();
    let data = small_svm(d.path());
    let fifo = d.path().join("fifo");
    mkfifo(&fifo);
    let folder = d.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let sock_path = d.path().join("sock");
    let _sock = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    for (target, what) in [(&fifo, "FIFO"), (&folder, "directory"), (&sock_path, "socket")] {
        for flag in ["--out", "--report", "--checkpoint"] {
            let out = run(&["train", "--data", s(&data), "--epochs", "1", flag, s(target)]);
            fails(&out, 2, what);
            assert!(text(&out.stdout).is_empty(), "refused before training");
        }
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(folder.is_dir());
    assert!(std::fs::symlink_metadata(&sock_path).unwrap().file_type().is_socket());
}

#[test]
fn an_output_equal_to_an_input_or_another_output_is_refused() {
    let d = tmp();
    let data = small_svm(d.path());
    let gz = d.path().join("small.svm.gz");
    write(&gz, &gzip(&std::fs::read(&data).unwrap()));
    let before = (std::fs::read(&data).unwrap(), std::fs::read(&gz).unwrap());
    let (m, link) = (d.path().join("m"), d.path().join("link.svm"));
    std::os::unix::fs::symlink(&data, &link).unwrap();
    let hard = d.path().join("hard.svm");
    std::fs::hard_link(&data, &hard).unwrap();
    let dot = format!("{}/./small.svm", s(d.path()));
    let cases: Vec<Vec<&str>> = vec![
        vec!["--data", s(&data), "--out", s(&data)],
        vec!["--data", s(&gz), "--out", s(&gz)],
        vec!["--data", s(&data), "--checkpoint", s(&data)],
        vec!["--data", s(&data), "--report", s(&data)],
        vec!["--data", s(&data), "--valid", s(&gz), "--report", s(&gz)],
        vec!["--data", s(&data), "--valid", s(&gz), "--out", s(&gz)],
        vec!["--data", s(&data), "--out", s(&link)],
        vec!["--data", s(&data), "--out", s(&hard)],
        vec!["--data", s(&data), "--out", &dot],
    ];
    for args in &cases {
        let mut a = vec!["train", "--epochs", "1"];
        a.extend(args);
        fails(&run(&a), 2, "is the --");
    }
    fails(
        &run(&["train", "--data", s(&data), "--out", s(&m), "--report", s(&m)]),
        2,
        "are the same file",
    );
    fails(
        &run(&["train", "--data", s(&data), "--out", s(&m), "--checkpoint", s(&m)]),
        2,
        "are the same file",
    );
    assert!(!m.exists());
    assert_eq!((std::fs::read(&data).unwrap(), std::fs::read(&gz).unwrap()), before);

    ok(&run(&[
        "train",
        "--data",
        s(&data),
        "--epochs",
        "1",
        "--out",
        s(&m),
        "-q",
    ]));
    let model = std::fs::read(&m).unwrap();
    fails(
        &run(&["predict", "--model", s(&m), "--data", s(&data), "--out", s(&m)]),
        2,
        "--out is the --model file",
    );
    fails(
        &run(&["predict", "--model", s(&m), "--data", s(&data), "--out", s(&data)]),
        2,
        "--out is the --data file",
    );
    assert_eq!(std::fs::read(&m).unwrap(), model);
    assert_eq!(std::fs::read(&data).unwrap(), before.0);
}

#[test]
fn a_symlink_at_the_output_is_followed_and_kept() {
    let d = tmp();
    let data = small_svm(d.path());
    let (real, link) = (d.path().join("real.model"), d.path().join("latest.model"));
    write(&real, b"an older model");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    ok(&run(&[
        "train",
        "--data",
        s(&data),
        "--epochs",
        "1",
        "--out",
        s(&link),
        "-q",
    ]));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(Checkpoint::load(&real).is_ok(), "the file the link names was replaced");
    let dangling = d.path().join("dangling.model");
    std::os::unix::fs::symlink(d.path().join("missing"), &dangling).unwrap();
    fails(
        &run(&["train", "--data", s(&data), "--epochs", "1", "--out", s(&dangling)]),
        2,
        "symbolic link to a missing file",
    );
    assert!(!d.path().join("missing").exists());
}

#[test]
fn an_output_in_a_missing_folder_fails_before_training() {
    let d = tmp();
    let data = small_svm(d.path());
    for flag in ["--out", "--report", "--checkpoint"] {
        let out = run(&["train", "--data", s(&data), flag, "nodir/sub/m.model"]);
        fails(&out, 2, "the folder nodir/sub does not exist");
        assert!(!text(&out.stdout).contains("epoch"), "refused before training");
    }
    fails(
        &run(&[
            "predict",
            "--model",
            s(&spam()),
            "--data",
            s(&data),
            "--out",
            "nodir/p.txt",
        ]),
        2,
        "does not exist",
    );
}

#[test]
fn saves_leave_no_temporary_files_and_two_writers_never_share_one() {
    let d = tmp();
    let target = d.path().join("m");
    // Same process, two threads, the same target: every write lands whole.
    std::thread::scope(|sc| {
        for k in 0..4u8 {
            let t = &target;
            sc.spawn(move || {
                for _ in 0..50 {
                    wildsgd::output::write_atomically(t, &[k; 4096]).unwrap();
                }
            });
        }
    });
    let b = std::fs::read(&target).unwrap();
    assert_eq!(b.len(), 4096);
    assert!(b.iter().all(|&x| x == b[0]), "one writer's bytes, whole");
    let names: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["m"], "no temporary file left behind");
    // A link planted at the old, predictable temporary name redirects nothing.
    let victim = d.path().join("victim");
    write(&victim, b"precious");
    std::os::unix::fs::symlink(&victim, d.path().join(format!(".m.tmp-{}", std::process::id()))).unwrap();
    wildsgd::output::write_atomically(&target, b"new").unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
}

// ---------------------------------------------------------------- hangs

fn forged_trainer() -> wildsgd::Trainer {
    wildsgd::Trainer::new()
        .schedule(Schedule::Constant(0.1))
        .policy(Policy::Racy)
        .seed(1)
}

fn linear_checkpoint(weights: Vec<f32>) -> Checkpoint {
    let model = wildsgd::Linear::new(Loss::Logistic, weights.len() - 1)
        .bias(true)
        .bias_scale(1.0);
    Checkpoint::new(&model, &forged_trainer(), 1, weights)
}

#[test]
fn non_finite_weights_or_margins_are_errors_not_hangs() {
    let d = tmp();
    let data = d.path().join("d.svm");
    write(&data, b"1 1:1 2:1\n-1 1:0.5\n1 2:2\n");
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let m = d.path().join("nan.model");
        write(&m, &linear_checkpoint(vec![0.5, bad, 0.1]).to_bytes());
        for cmd in ["eval", "predict"] {
            fails(&run(&[cmd, "--model", s(&m), "--data", s(&data)]), 1, "diverged model");
        }
    }
    // Finite weights, data so large that the margins overflow to ±inf.
    let m = d.path().join("big.model");
    write(&m, &linear_checkpoint(vec![3e38, -3e38, 0.0]).to_bytes());
    let huge = d.path().join("huge.svm");
    write(&huge, b"1 1:3e38 2:3e38\n-1 1:1\n");
    for cmd in ["eval", "predict"] {
        fails(&run(&[cmd, "--model", s(&m), "--data", s(&huge)]), 1, "f32 overflow");
    }
}

fn sgns_checkpoint(negatives: usize, window: usize) -> Checkpoint {
    let names: Vec<String> = (0..4).map(|i| format!("w{i}")).collect();
    let counts = vec![3, 2, 2, 1];
    let table = wildsgd::model::UnigramTable::new(&counts).unwrap();
    let model = wildsgd::model::Sgns::new(4, 2, table).unwrap().negatives(negatives);
    Checkpoint::new(&model, &forged_trainer(), 1, vec![0.1; 16])
        .with_table(tables::TASK, Table::Text("word2vec".into()))
        .with_table(tables::NAMES, Table::Strings(names))
        .with_table(tables::COUNTS, Table::U64s(counts))
        .with_table(tables::WINDOW, Table::U64(window as u64))
        .with_table(tables::SUBSAMPLE, Table::F64(0.0))
}

#[test]
fn huge_negatives_windows_and_thread_counts_are_bounded() {
    let d = tmp();
    let edges = d.path().join("g.edges");
    write(&edges, b"a b\nb c\nc d\nd a\na c\nb d\ne a\ne b\n");
    let corpus = d.path().join("c.txt");
    write(&corpus, "the cat sat on the mat\n".repeat(30).as_bytes());
    fails(
        &run(&[
            "train",
            "--model",
            "line",
            "--data",
            s(&edges),
            "--negatives",
            "1000000000000",
        ]),
        1,
        "negatives: 1000000000000 is more than the limit of 1024",
    );
    for w in ["18446744073709551615", "1000000000000"] {
        fails(
            &run(&[
                "train",
                "--model",
                "word2vec",
                "--data",
                s(&corpus),
                "--min-count",
                "1",
                "--window",
                w,
            ]),
            1,
            "window: must be in 1..=1000",
        );
    }
    fails(
        &run(&[
            "train",
            "--model",
            "word2vec",
            "--data",
            s(&corpus),
            "--negatives",
            "1000000000000",
        ]),
        1,
        "the limit of 1024",
    );
    // Forged checkpoints carrying such values are rejected by the loader.
    for (neg, win, field) in [(1_000_000_000_000, 5, "negatives"), (5, usize::MAX, "window")] {
        let m = d.path().join("forged.model");
        write(&m, &sgns_checkpoint(neg, win).to_bytes());
        let words = d.path().join("words.txt");
        write(&words, b"w0\n");
        fails(&run(&["predict", "--model", s(&m), "--data", s(&words)]), 1, field);
    }
    let data = small_svm(d.path());
    let out = run(&["train", "--data", s(&data), "--epochs", "1", "--threads", "100000"]);
    ok(&out);
    assert!(
        text(&out.stderr).contains("--threads 100000 is more than 4 per core"),
        "{}",
        text(&out.stderr)
    );
}

// ---------------------------------------------------------------- panics and aborts

#[test]
fn huge_ranks_are_errors_not_panics_or_aborts() {
    let d = tmp();
    let r = d.path().join("r.tsv");
    write(&r, b"u1\ti1\t5\nu2\ti1\t3\nu1\ti2\t4\nu3\ti3\t2\n");
    for rank in [
        "18446744073709551615",
        "4611686018427387903",
        "263524915338707880",
        "1000000000",
    ] {
        fails(
            &run(&["train", "--model", "mf", "--data", s(&r), "--rank", rank]),
            1,
            "rank: must be in 1..=65536",
        );
    }
    // Within the stated limit, but more memory than allowed: a clear error.
    fails(
        &run(&[
            "train",
            "--model",
            "mf",
            "--data",
            s(&r),
            "--rank",
            "65536",
            "--max-memory",
            "1M",
        ]),
        1,
        "left of the memory limit set",
    );
}

#[test]
fn a_huge_feature_index_names_its_place_instead_of_aborting() {
    let d = tmp();
    let f = d.path().join("idx.svm");
    write(&f, b"1 4294967295:1\n-1 1:1\n");
    for model in ["logistic", "softmax"] {
        let out = run(&["train", "--model", model, "--data", s(&f), "--max-memory", "1G"]);
        fails(&out, 1, "line 1, column 3: feature index 4294967295");
    }
}

#[test]
fn gzip_bombs_and_endless_inputs_stop_at_the_limits() {
    let d = tmp();
    // 6 MB of rows in a small gzip: over a 1 MiB input limit.
    let rows = gzip(&b"1 1:1\n".repeat(1_000_000));
    let g = d.path().join("rows.svm.gz");
    write(&g, &rows);
    fails(
        &run(&["train", "--data", s(&g), "--max-input-bytes", "1M"]),
        1,
        "more than 1048576 bytes of input",
    );
    // Within the input limit but not the memory allowed: an error, not an abort.
    let out = run(&["train", "--data", s(&g), "--max-memory", "4M"]);
    fails(&out, 1, "left of the memory limit set");
    assert!(!text(&out.stderr).contains("truncated or corrupt"));
    // Binary data (zeros) fails on its first block, compressed or not.
    let zeros = vec![0u8; 8 << 20];
    let (z, zg) = (d.path().join("zeros"), d.path().join("zeros.gz"));
    write(&z, &zeros);
    write(&zg, &gzip(&zeros));
    for f in [&z, &zg] {
        fails(&run(&["train", "--data", s(f)]), 1, "line 1, column 1");
        fails(
            &run(&["eval", "--model", s(f), "--data", s(f)]),
            1,
            "not a wildsgd checkpoint",
        );
        let data = small_svm(d.path());
        fails(
            &run(&["train", "--data", s(&data), "--checkpoint", s(f), "--resume"]),
            1,
            "not a wildsgd checkpoint",
        );
    }
    // An endless stream (a FIFO fed without end) stops at the input limit.
    let fifo = d.path().join("endless");
    mkfifo(&fifo);
    let f2 = fifo.clone();
    let feeder = std::thread::spawn(move || {
        if let Ok(mut w) = std::fs::OpenOptions::new().write(true).open(&f2) {
            let block = vec![b'1'; 1 << 16];
            while w.write_all(&block).is_ok() {}
        }
    });
    let out = run(&["train", "--data", s(&fifo), "--max-input-bytes", "4M"]);
    fails(&out, 1, "");
    feeder.join().unwrap();
}

// ---------------------------------------------------------------- work kept

/// Starts a long training run and sends `signal` once its first epoch line
/// is out; returns the output.
fn interrupt(d: &Path, extra: &[&str], signal: &str, twice: bool) -> Output {
    let mut args = vec![
        "train",
        "--data",
        s(&spam()).to_owned().leak(),
        "--epochs",
        "100000",
        "--threads",
        "2",
    ];
    args.extend(extra);
    let mut child = spawn(&args, d);
    let mut stdout = child.stdout.take().unwrap();
    let pid = child.id().to_string();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    use std::io::Read;
    let start = Instant::now();
    while !text(&seen).contains("epoch   1:") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "training ended early: {}", text(&seen));
        seen.extend_from_slice(&buf[..n]);
        assert!(start.elapsed() < DEADLINE);
    }
    assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
    if twice {
        std::thread::sleep(Duration::from_millis(20));
        let _ = Command::new("kill").args([signal, &pid]).status();
    }
    let rest = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < DEADLINE, "still running after the signal");
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stderr = Vec::new();
    child.stderr.take().unwrap().read_to_end(&mut stderr).unwrap();
    seen.extend(rest.join().unwrap());
    Output {
        status,
        stdout: seen,
        stderr,
    }
}

#[test]
fn sigint_and_sigterm_save_the_model_and_exit_130_or_143() {
    let d = tmp();
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let m = d.path().join(format!("m{code}"));
        let out = interrupt(d.path(), &["--out", s(&m), "--checkpoint-every", "1000"], signal, false);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(err.contains("training stopped in epoch"), "{err}");
        assert!(err.contains(&format!("saved the model to {}", s(&m))), "{err}");
        assert!(err.contains(".ckpt (--resume repeats epoch"), "{err}");
        let c = Checkpoint::load(&m).unwrap();
        assert!(c.epochs_done >= 1 && c.weights.iter().all(|w| w.is_finite()));
        ok(&run(&["eval", "--model", s(&m), "--data", s(&spam())]));
        assert!(Checkpoint::load(format!("{}.ckpt", s(&m))).is_ok());
    }
}

/// Whether every thread of process `pid` is asleep (state `S` or `D` in
/// `/proc/PID/task/*/stat`), twice, 100 ms apart.
fn all_threads_sleep(pid: &str) -> bool {
    let once = || -> bool {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return false;
        };
        tasks.filter_map(Result::ok).all(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            // The state follows the parenthesised command name.
            let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
            matches!(state, Some('S' | 'D'))
        })
    };
    once() && {
        std::thread::sleep(Duration::from_millis(100));
        once()
    }
}

/// The first signal asks for a graceful stop; if that cannot finish (here:
/// the process is blocked writing to a full stdout pipe that nobody reads),
/// a second one exits at once, without saving.
#[test]
fn a_second_signal_exits_at_once() {
    let d = tmp();
    let data = small_svm(d.path());
    let (m, c) = (d.path().join("m"), d.path().join("c"));
    let args = [
        "train",
        "--data",
        s(&data),
        "--epochs",
        "1000000",
        "--loss-rows",
        "1",
        "--out",
        s(&m),
        "--checkpoint",
        s(&c),
    ];
    let mut child = spawn(&args, d.path());
    let pid = child.id().to_string();
    // Wait until training is blocked on its output: stdout (never read) is
    // full, so no epoch advances and every thread of the process sleeps. (A
    // process merely waiting for a core would show runnable threads.) From
    // then on every way to a graceful end needs a write to stdout (the
    // interrupted epoch's line), so only the second signal can end it.
    let (mut last, mut still_since, start) = (0, Instant::now(), Instant::now());
    loop {
        let now = Checkpoint::load(&c).map_or(0, |k| k.epochs_done);
        if now != last {
            (last, still_since) = (now, Instant::now());
        } else if last > 0 && still_since.elapsed() > Duration::from_millis(500) && all_threads_sleep(&pid) {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "training never blocked on its output");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "blocked: the graceful stop cannot finish"
    );
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < DEADLINE, "the second signal did not end the process");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(status.code(), Some(130));
    assert!(!m.exists(), "exited at once, saving nothing");
}

#[test]
fn after_divergence_the_last_finite_weights_are_saved_and_named() {
    let d = tmp();
    let data = small_svm(d.path());
    let m = d.path().join("div.model");
    let out = run(&[
        "train",
        "--model",
        "squared",
        "--data",
        s(&data),
        "--lr",
        "1e30",
        "--schedule",
        "constant",
        "--out",
        s(&m),
    ]);
    fails(&out, 1, "training diverged in epoch 1");
    assert!(
        text(&out.stderr).contains(&format!("were saved to {}", s(&m))),
        "{}",
        text(&out.stderr)
    );
    let c = Checkpoint::load(&m).unwrap();
    assert_eq!(c.epochs_done, 0);
    ok(&run(&["eval", "--model", s(&m), "--data", s(&data)]));
}

// ---------------------------------------------------------------- silent misreads

#[test]
fn ratings_headers_separators_and_ids_are_read_by_rule() {
    let d = tmp();
    let f = d.path().join("first.txt");
    write(&f, b"u1 i1 x\nu2 i1 3\nu1 i2 4\n");
    fails(
        &run(&["train", "--model", "mf", "--data", s(&f)]),
        1,
        "line 1, column 7",
    );
    let h = d.path().join("header.csv");
    write(&h, b"userId,movieId,rating,timestamp\n1,10,4,0\n2,10,3,0\n1,11,5,0\n");
    let out = ok(&run(&["train", "--model", "mf", "--data", s(&h), "--epochs", "1"]));
    assert!(out.contains("skipped the header line"), "{out}");
    assert!(out.contains("3 ratings, 2 users, 2 items"), "{out}");
    let t = d.path().join("titles.tsv");
    write(
        &t,
        b"u1\tApollo 13 (1995)\t5\nu2\tApollo 13 (1995)\t3\nu1\tHeat (1995)\t4\n",
    );
    let out = ok(&run(&["train", "--model", "mf", "--data", s(&t), "--epochs", "1"]));
    assert!(out.contains("3 ratings, 2 users, 2 items"), "{out}");
    let n = d.path().join("bytes.tsv");
    write(&n, b"u\xff1\ti1\t5\nu\xfe1\ti1\t3\n");
    fails(
        &run(&["train", "--model", "mf", "--data", s(&n)]),
        1,
        "line 1, column 2",
    );
}

#[test]
fn metis_symmetry_and_header_fields_are_checked() {
    let d = tmp();
    let asym = d.path().join("asym.graph");
    write(&asym, b"3 2\n2 3\n1\n2\n");
    fails(
        &run(&["train", "--model", "line", "--data", s(&asym)]),
        1,
        "does not list",
    );
    let ncon = d.path().join("ncon.graph");
    write(&ncon, b"3 2 011 18446744073709551615\n1 2\n1 1\n1 2\n");
    fails(&run(&["train", "--model", "line", "--data", s(&ncon)]), 1, "ncon");
}

// ---------------------------------------------------------------- clear errors

#[test]
fn errors_name_the_flag_or_the_data_at_fault() {
    let d = tmp();
    let big = d.path().join("big.svm");
    write(&big, b"1 1:1\n-1 1:3e38\n1 2:3e38\n");
    let tiny = d.path().join("tiny.svm");
    write(&tiny, b"1 1:1e-45\n-1 2:1e-45\n");
    for f in [&big, &tiny] {
        // Plain SGD divides its rate by the rows' mean squared norm, which
        // these values make unusable: said, naming --lr.
        let out = run(&["train", "--data", s(f), "--epochs", "1", "--update", "sgd"]);
        fails(&out, 1, "mean squared norm");
        assert!(text(&out.stderr).contains("--lr"));
    }
    // The default (adaptive) update normalises each feature by its scale:
    // values near f32's largest train; values all subnormal cannot (no f32
    // weight could weigh them), said naming the feature.
    let out = run(&["train", "--data", s(&big), "--epochs", "1", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    fails(
        &run(&["train", "--data", s(&tiny), "--epochs", "1"]),
        1,
        "feature 0 (counting from 0): its largest |value|",
    );
    let data = small_svm(d.path());
    fails(&run(&["train", "--data", s(&data), "--lr", "-1"]), 1, "invalid lr: ");
    fails(
        &run(&["train", "--data", s(&data), "--lr-decay=-1"]),
        1,
        "invalid lr-decay: ",
    );
    fails(
        &run(&["train", "--data", s(&data), "--lr-decay", "-1"]),
        1,
        "invalid lr-decay: ",
    );
    let corpus = d.path().join("sub.txt");
    write(&corpus, "the the the the\n".repeat(50).as_bytes());
    fails(
        &run(&["train", "--model", "word2vec", "--data", s(&corpus), "--min-count", "1"]),
        1,
        "sub-sampling (--subsample 0.001) discarded every word",
    );
}

#[test]
fn resume_refuses_the_flags_it_would_ignore_and_honours_the_policy() {
    let d = tmp();
    let data = small_svm(d.path());
    let m = d.path().join("m");
    ok(&run(&[
        "train",
        "--data",
        s(&data),
        "--epochs",
        "2",
        "--out",
        s(&m),
        "--checkpoint-every",
        "1",
        "-q",
    ]));
    for flag in [
        ["--lr", "0.1"],
        ["--lr-decay", "0.5"],
        ["--schedule", "constant"],
        ["--seed", "3"],
        ["--l2", "0.1"],
    ] {
        let out = run(&[
            "train",
            "--data",
            s(&data),
            "--epochs",
            "4",
            "--out",
            s(&m),
            "--resume",
            flag[0],
            flag[1],
        ]);
        fails(
            &out,
            1,
            &format!("{} {} differs from the checkpoint's", flag[0], flag[1]),
        );
    }
    let out = ok(&run(&[
        "train",
        "--data",
        s(&data),
        "--epochs",
        "3",
        "--out",
        s(&m),
        "--resume",
        "--policy",
        "atomic",
        "--threads",
        "2",
    ]));
    assert!(out.contains("policy atomic"), "{out}");
    assert_eq!(Checkpoint::load(&m).unwrap().policy, Policy::AtomicAdd);
}

#[test]
fn the_unigram_table_of_a_forged_checkpoint_is_still_checked() {
    // A checkpoint whose counts are all zero cannot build a negative table.
    let d = tmp();
    let mut c = sgns_checkpoint(5, 5);
    c.tables.insert(tables::COUNTS.into(), Table::U64s(vec![0; 4]));
    let m = d.path().join("zero.model");
    write(&m, &c.to_bytes());
    let words = d.path().join("w.txt");
    write(&words, b"w0\n");
    fails(
        &run(&["predict", "--model", s(&m), "--data", s(&words)]),
        1,
        "item counts",
    );
    assert!(UnigramTable::new(&[0, 0]).is_err());
}

// ---------------------------------------------------------------- property tests

mod random {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::select;

    /// What a run may end with: success, a data error, a usage error.
    fn clean(out: &Output, what: &str) -> Result<(), TestCaseError> {
        let err = text(&out.stderr);
        prop_assert!(
            matches!(out.status.code(), Some(0..=2)),
            "{what}: exit {:?}: {err}",
            out.status.code()
        );
        prop_assert!(
            !err.contains("panicked") && !err.contains("memory allocation"),
            "{what}: {err}"
        );
        Ok(())
    }

    const MODELS: [&str; 7] = ["logistic", "hinge", "squared", "softmax", "mf", "line", "word2vec"];

    fn data_for(d: &Path, model: &str) -> PathBuf {
        let p = d.join(format!("{model}.data"));
        let text: String = match model {
            "mf" => (0..60)
                .map(|i| format!("u{}\ti{}\t{}\n", i % 7, i % 5, i % 5 + 1))
                .collect(),
            "line" => (0..40).map(|i| format!("n{} n{}\n", i % 9, (i * 7 + 1) % 11)).collect(),
            "word2vec" => "the cat sat on the mat and the dog ran\n".repeat(40),
            "softmax" => (0..90)
                .map(|i| format!("{} {}:1 {}:0.5\n", i % 3, i % 4 + 1, i % 6 + 5))
                .collect(),
            _ => (0..90)
                .map(|i| format!("{} {}:1 {}:0.5\n", i % 2, i % 4 + 1, i % 6 + 5))
                .collect(),
        };
        write(&p, text.as_bytes());
        p
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<u64>().prop_map(|v| v.to_string()),
            any::<i64>().prop_map(|v| v.to_string()),
            any::<f64>().prop_map(|v| v.to_string()),
            select(vec![
                "0",
                "-0",
                "1e400",
                "-1e-400",
                "nan",
                "inf",
                "-inf",
                "",
                "0x10",
                "1.5",
                "18446744073709551616"
            ])
            .prop_map(String::from),
            "[-+0-9.eE]{1,12}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn random_flag_values_never_panic_hang_or_abort(
            model in select(MODELS.to_vec()),
            flag in select(vec![
                "--threads", "--lr", "--lr-decay", "--l2", "--loss-rows", "--rank", "--dim", "--negatives",
                "--window", "--min-count", "--subsample", "--valid-fraction", "--seed", "--checkpoint-every",
                "--max-input-bytes", "--max-memory", "--average", "--policy",
            ]),
            v in value(),
        ) {
            let d = tmp();
            let data = data_for(d.path(), model);
            let arg = format!("{flag}={v}");
            let out = run_in(d.path(), &["train", "--model", model, "--data", s(&data), "--epochs", "1", "-q", &arg]);
            clean(&out, &format!("{model} {arg}"))?;
        }

        #[test]
        fn random_bytes_as_any_input_never_panic_hang_or_abort(
            bytes in prop::collection::vec(any::<u8>(), 0..4096),
            model in select(MODELS.to_vec()),
            gz in any::<bool>(),
        ) {
            let d = tmp();
            let f = d.path().join("input");
            write(&f, &if gz { gzip(&bytes) } else { bytes.clone() });
            let out = run_in(d.path(), &["train", "--model", model, "--data", s(&f), "--epochs", "1", "-q"]);
            clean(&out, &format!("train {model}"))?;
            let data = data_for(d.path(), model);
            for cmd in ["eval", "predict"] {
                let out = run_in(d.path(), &[cmd, "--model", s(&f), "--data", s(&data)]);
                clean(&out, cmd)?;
            }
        }

        /// Text-like bytes (digits, separators, newlines) reach deeper into
        /// the readers than uniform bytes do.
        #[test]
        fn random_text_as_data_never_panics_hangs_or_aborts(
            t in "[0-9a-c :.,\t#%+-]{0,40}(\n[0-9a-c :.,\t#%+-]{0,40}){0,30}",
            model in select(MODELS.to_vec()),
        ) {
            let d = tmp();
            let f = d.path().join("input.txt");
            write(&f, t.as_bytes());
            let out = run_in(d.path(), &["train", "--model", model, "--data", s(&f), "--epochs", "1", "-q"]);
            clean(&out, &format!("train {model} on {t:?}"))?;
        }
    }
}

#[test]
fn sigint_stops_a_streamed_run_and_saves_the_model() {
    let d = tmp();
    let m = d.path().join("streamed");
    let out = interrupt(
        d.path(),
        &[
            "--stream",
            "--hash-bits",
            "16",
            "--out",
            s(&m),
            "--checkpoint-every",
            "1000",
        ],
        "-INT",
        false,
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("training stopped in epoch"), "{err}");
    let c = Checkpoint::load(&m).unwrap();
    assert!(c.epochs_done >= 1 && c.weights.iter().all(|w| w.is_finite()));
    assert!(c.tables.contains_key(wildsgd::checkpoint::tables::HASHING));
    ok(&run(&["eval", "--model", s(&m), "--data", s(&spam())]));
}
