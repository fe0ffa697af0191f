#![cfg(feature = "mpi")]
//! The `Mpi` cluster across real ranks. Each test re-runs this test
//! executable under `mpirun` (one launch per rank count: MPI can be
//! initialised once per process), with `CHILD` set; in that mode the test's
//! body is what every rank runs. Launches stay on this machine (shared
//! memory and loopback only) and are killed after a hard timeout, so a
//! deadlock fails the test instead of hanging CI.
//!
//! Needs `mpirun` on PATH: without it these tests fail saying so. `bash
//! scripts/test-mpi` runs them when MPI is installed and reports them
//! skipped when not; `bash scripts/mpi-deps --install` installs it.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wildsgd::cluster::{Cluster, Mpi};

/// Set in the ranks' environment: run the test's body, not a launch.
const CHILD: &str = "WILDSGD_MPI_TEST_CHILD";

/// How long a launch may take before it is killed.
const HARD_TIMEOUT: Duration = Duration::from_secs(60);

/// The bound for a job with a failing rank to exit.
const FAIL_FAST: Duration = Duration::from_secs(10);

/// One launch at a time: the harness runs tests in parallel, and ranks of
/// concurrent jobs competing for 2 cores would blur the fail-fast timing.
static LAUNCH: Mutex<()> = Mutex::new(());

fn child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Checks that `mpirun` is on PATH, for a clear failure when it is not.
/// Launches then name it bare, not by this path: Open MPI derives its
/// install prefix from an absolute `argv[0]`, and refuses `/bin/mpirun`
/// (where merged-/usr systems also have it) as "a prefix ... only slashes".
fn mpirun() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("mpirun"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "mpirun not found on PATH: tests/mpi.rs needs an MPI installation \
             (bash scripts/mpi-deps --install; bash scripts/test-mpi skips these tests without it)"
        )
    })
}

struct Run {
    /// `None` if the launch was killed at the hard timeout.
    code: Option<i32>,
    success: bool,
    elapsed: Duration,
    /// The ranks' and mpirun's stdout, then their stderr.
    output: String,
}

/// Runs `test` (this executable's test of that name) on `ranks` ranks.
fn launch(test: &str, ranks: usize, extra_env: &[(&str, &str)]) -> Run {
    mpirun();
    let mpirun = "mpirun";
    let _one = LAUNCH.lock().unwrap_or_else(|e| e.into_inner());
    let open_mpi = Command::new(mpirun)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("Open MPI"));
    let mut cmd = Command::new(mpirun);
    if open_mpi {
        // More ranks than cores is the point of the 4-rank runs.
        cmd.arg("--oversubscribe");
    }
    cmd.arg("-np")
        .arg(ranks.to_string())
        .arg(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--include-ignored", "--test-threads=1"])
        .env(CHILD, "1")
        .envs(extra_env.iter().copied())
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
    // mpirun (orphaned ranks would spin in their collective).
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let start = Instant::now();
    let mut proc = cmd.spawn().expect("mpirun starts");
    let readers: Vec<_> = [
        Box::new(proc.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(proc.stderr.take().unwrap()),
    ]
    .into_iter()
    .map(|mut pipe| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = pipe.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    })
    .collect();
    let status = loop {
        if let Some(status) = proc.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > HARD_TIMEOUT {
            let group = format!("-{}", proc.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = proc.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    if status.is_none() {
        // Pipes may be held open by a stray grandchild: do not wait on them.
        return Run {
            code: None,
            success: false,
            elapsed,
            output: format!("killed after {HARD_TIMEOUT:?}"),
        };
    }
    let output = readers
        .into_iter()
        .map(|r| r.join().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let status = status.unwrap();
    Run {
        code: status.code(),
        success: status.success(),
        elapsed,
        output,
    }
}

/// The size `mpirun` says this rank's job has, to check `Mpi` against.
fn launcher_env(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// What every rank runs in `collectives_agree_across_ranks`.
fn collectives_on_this_rank() {
    let mpi = Mpi::init().expect("MPI initialises");
    let (r, k) = (mpi.rank(), mpi.size());
    if let Some(size) = launcher_env("OMPI_COMM_WORLD_SIZE").or(launcher_env("PMI_SIZE")) {
        assert_eq!(k, size);
    }
    if let Some(rank) = launcher_env("OMPI_COMM_WORLD_RANK").or(launcher_env("PMI_RANK")) {
        assert_eq!(r, rank);
    }
    assert!(r < k && k >= 2, "rank {r} of {k}");
    assert!(Mpi::init().is_err(), "MPI initialises once per process");
    assert!(mpi.transport().starts_with("mpi: "), "{}", mpi.transport());
    assert!(mpi.transport().contains("MPI"), "{}", mpi.transport());

    // Sums of integers stay exact in f32 below 2^24, so the expected
    // values are exact and every rank must match them to the bit.
    let n = 100_003;
    let ranks_sum = (k * (k - 1) / 2) as f32;
    let mut f: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 + r as f32).collect();
    mpi.sum_f32(&mut f).unwrap();
    assert!(f
        .iter()
        .enumerate()
        .all(|(i, &x)| x == k as f32 * (i % 1000) as f32 + ranks_sum));
    // The scratch buffer shrinks and grows between calls.
    let mut small = [r as f32, 0.5];
    mpi.sum_f32(&mut small).unwrap();
    assert_eq!(small, [ranks_sum, 0.5 * k as f32]);
    let mut empty: [f32; 0] = [];
    mpi.sum_f32(&mut empty).unwrap();

    let mut d = vec![r as f64 * 0.25, 1.0, -(r as f64)];
    mpi.sum_f64(&mut d).unwrap();
    assert_eq!(d, [0.25 * ranks_sum as f64, k as f64, -(ranks_sum as f64)]);

    let mut m = [r as u64 * 10, 7, u64::MAX - r as u64, 0];
    mpi.max_u64(&mut m).unwrap();
    assert_eq!(m, [(k as u64 - 1) * 10, 7, u64::MAX, 0]);

    // Rank r sends r values: rank 0 sends none.
    let (mut all, mut counts) = (vec![99], vec![99]);
    let mine: Vec<u32> = (0..r as u32).map(|i| 1000 * r as u32 + i).collect();
    mpi.gather_u32(&mine, &mut all, &mut counts).unwrap();
    let want: Vec<u32> = (0..k as u32).flat_map(|q| (0..q).map(move |i| 1000 * q + i)).collect();
    assert_eq!(all, want, "rank order");
    assert_eq!(counts, (0..k).collect::<Vec<_>>());
    mpi.gather_u32(&[], &mut all, &mut counts).unwrap();
    assert!(all.is_empty() && counts == vec![0; k]);

    // The handle is Send + Sync: a collective from another thread.
    let mut t = [1.0f32];
    std::thread::scope(|s| s.spawn(|| mpi.sum_f32(&mut t).unwrap()).join().unwrap());
    assert_eq!(t, [k as f32]);

    // Identical results everywhere: every rank's bits, gathered, agree.
    let bits: Vec<u32> = f.iter().step_by(997).chain(&small).map(|x| x.to_bits()).collect();
    mpi.gather_u32(&bits, &mut all, &mut counts).unwrap();
    assert!(all.chunks(bits.len()).all(|c| c == bits), "rank {r} differs");
    println!("wildsgd-test: rank {r} of {k} ok");
}

#[test]
fn collectives_agree_across_ranks() {
    if child() {
        collectives_on_this_rank();
        return;
    }
    for ranks in [2, 4] {
        let run = launch("collectives_agree_across_ranks", ranks, &[]);
        assert!(
            run.success,
            "{ranks} ranks: exit {:?} after {:?}\n{}",
            run.code, run.elapsed, run.output
        );
        for r in 0..ranks {
            let line = format!("wildsgd-test: rank {r} of {ranks} ok");
            assert!(run.output.contains(&line), "{ranks} ranks: no '{line}'\n{}", run.output);
        }
    }
}

/// Every rank but `WILDSGD_FAIL_RANK` waits in a collective; that one
/// fails the way `WILDSGD_FAIL_HOW` says (`abort` or `panic`).
fn fail_on_one_rank() {
    let mpi = Mpi::init().expect("MPI initialises");
    let bad: usize = std::env::var("WILDSGD_FAIL_RANK").unwrap().parse().unwrap();
    // One collective everyone completes, so all ranks are up and past
    // initialisation when the failure comes.
    let mut v = [1.0f32];
    mpi.sum_f32(&mut v).unwrap();
    if mpi.rank() == bad {
        std::thread::sleep(Duration::from_millis(200));
        match std::env::var("WILDSGD_FAIL_HOW").unwrap().as_str() {
            "abort" => mpi.abort("bad input on line 7 (deliberate)"),
            _ => panic!("deliberate panic on rank {bad}"),
        }
        unreachable!("abort returned");
    }
    loop {
        // The failing rank never arrives: only the abort can end this.
        mpi.sum_f32(&mut v).unwrap();
    }
}

/// Launches `test` 20 times (rank counts 2 to 4, the failing rank moving
/// round), asserting each job exits non-zero within the fail-fast bound
/// and that `expect(rank, ranks)` is in its output.
fn fails_fast_every_time(test: &str, how: &str, expect: impl Fn(usize, usize) -> Vec<String>) {
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let ranks = 2 + i % 3;
        let bad = (i / 3) % ranks;
        let bad_s = bad.to_string();
        let run = launch(test, ranks, &[("WILDSGD_FAIL_RANK", &bad_s), ("WILDSGD_FAIL_HOW", how)]);
        let what = format!("try {i}, rank {bad} of {ranks}");
        assert!(
            run.code.is_some(),
            "{what}: the job hung and was killed after {:?}",
            run.elapsed
        );
        assert!(!run.success, "{what}: the job exited 0\n{}", run.output);
        assert!(
            run.elapsed < FAIL_FAST,
            "{what}: took {:?}\n{}",
            run.elapsed,
            run.output
        );
        for want in expect(bad, ranks) {
            assert!(run.output.contains(&want), "{what}: no '{want}' in\n{}", run.output);
        }
        slowest = slowest.max(run.elapsed);
    }
    println!("{test}: 20 jobs, each failed; slowest {slowest:?}");
}

#[test]
fn a_rank_that_aborts_ends_the_job_fast() {
    if child() {
        fail_on_one_rank();
        return;
    }
    fails_fast_every_time("a_rank_that_aborts_ends_the_job_fast", "abort", |bad, ranks| {
        vec![format!(
            "wildsgd: rank {bad} of {ranks}: bad input on line 7 (deliberate)"
        )]
    });
}

#[test]
fn a_rank_that_panics_ends_the_job_fast() {
    if child() {
        fail_on_one_rank();
        return;
    }
    fails_fast_every_time("a_rank_that_panics_ends_the_job_fast", "panic", |bad, ranks| {
        vec![
            format!("deliberate panic on rank {bad}"),
            format!("wildsgd: rank {bad} of {ranks}: panicked"),
        ]
    });
}
