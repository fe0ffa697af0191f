//! Sequential equivalence of the lock-free policies, and the controls that
//! show the harness can fail.
//!
//! Every built-in model (logistic, hinge, squared) is trained with `Racy`,
//! `AtomicAdd` and `Batched { size: 16 }` at 2, 4 and 16 threads (16 is
//! oversubscribed on purpose on a small machine: preemption mid-sample makes
//! staleness worse), and with the contention strategies (`HotCold`, replicas
//! merged by sum, `Auto`) at 2 and 16 threads, and must reach the converged
//! training loss of `Sequential` within `TOLERANCE` (1 % relative), by a
//! paired TOST over `SEEDS` seeds.
//!
//! Controls:
//! * a trainer whose updates land `tau` samples late ([`LaggedRule`]), with `tau`
//!   calibrated on this problem to converge 2–3 % above `Sequential`
//!   (logistic: tau = 375 gives +2.48 %; hinge: tau = 250 gives +2.45 %,
//!   both measured over 5 seeds with the example), must be *rejected*;
//! * `Sequential` against `Sequential` with other seeds must be *accepted*;
//! * replicas merged by averaging must be accepted at 2 threads and rejected
//!   at 16 (+0.34 % and +7.4 % on logistic, whatever the schedule below);
//! * replicas merged by sum every 256 samples at 16 threads must fail once
//!   the workers are preempted often (below).
//!
//! `squared` has no delay control: its gradient is unbounded, and the delayed
//! feedback loop on the hot features goes from harmless (tau = 18: +0.10 %,
//! tau = 19: +0.67 %) to divergent (tau = 20) with no gap of a few percent
//! in between.
//!
//! # Scheduling
//!
//! The parallel runs are not reproducible, and what a *buffering* policy
//! (`Batched`, `HotCold`, `Replicas`) costs depends on how the OS interleaves
//! its workers, so each check here must hold for every schedule the 2-vCPU CI
//! machine can produce, quiet or loaded. A worker's buffered window (the
//! samples since its last merge) is invisible to the others; if the worker
//! is preempted with a window open, the window stays open while the others
//! go on, and once the time slices are as short as a window all 16 windows
//! are open at once: 16 replicas correct the same error on the hot weights,
//! a 16x step. Measured (one 20,000-sample epoch is 1,250 samples per worker
//! at 16 threads; per-sample clocks, a gap over 20 µs counted as a
//! preemption): a worker runs its whole share unpreempted in the median
//! quiet or loaded (4 busy loops plus a second 16-thread trainer), and 90 %
//! of uninterrupted runs are longer than about 600 samples quiet and 350
//! loaded. Forcing a preemption (`yield_now`) every `S` samples instead
//! (rel gap, 90 % CI, 4–6 seeds):
//!
//! | 16 threads | S = 1024 | S = 512 | S = 256 | S = 16 | S = 8 |
//! |---|---|---|---|---|---|
//! | sum every 256, logistic | +0.03 % | +0.01 % | **+140 %** | **+314 %** | |
//! | sum every 256, hinge | +0.08 % | **+1.20 % [+0.26, +2.14]** | **+210 %** | **+353 %** | |
//! | sum every 256, squared | +0.02 % (once +0.37 % [−0.28, **+1.03**]) | **+0.65 % [−0.18, +1.48]**, one seed +2.65 % | blows up | blows up | |
//! | sum every 8 (below), worst loss | | | | +0.06 % [−0.01, +0.14] (hinge) | hinge +0.53 %, squared diverges |
//! | `HotCold { 4096, 32 }`, or `Auto`'s 376 hot weights | | | ≤ +0.03 % | ≤ +0.06 % [+0.02, +0.10] | hinge **+0.89 % to +1.80 %**, squared blows up |
//! | `Batched { 16 }` (also at 4) | | | ≤ +0.02 % | ≤ +0.02 %, CI within ±0.13 % | ≤ +0.04 %, CI within ±0.14 % |
//!
//! ReplicasRule summed every 256 samples at 16 threads, as
//! `squared_contention_strategies_are_equivalent` checked them when it
//! failed once under load, sit right at the edge of that cliff: equivalent
//! only while most shares run in one slice. At two preemptions per share
//! (S = 512) the test's own seeds 1–3 land +0.39 %, −0.03 % and +2.65 %
//! off, and with 3 seeds one seed 0.77 % off already moves the interval's
//! end past 1 %. More seeds would not help (those gaps are real, not
//! noise), nor would a lower rate (squared at 0.02 still diverges at
//! S = 1). Merging every 8 samples moves the cliff down to S ≈ 8, where
//! `HotCold` and `Batched` already have theirs, 40x below the loaded
//! machine's 10 % quantile; so at 16 threads the sum is checked every 8
//! samples, and every 256 at 2 threads, where there is no cliff (at S = 1
//! every 2-thread check here has its interval within ±0.14 %). `Racy` and
//! `AtomicAdd` buffer nothing: intervals within ±0.23 % at any S, 1
//! included. (`Batched` at S <= 4 blows up on squared too.)
//! `squared_contention_strategies_survive_preemption_every_32_samples`
//! keeps the margin checked under a forced S = 32 on the most sensitive
//! loss, and checks that summing every 256 fails there.
//!
//! With the cliff out of reach, 3 seeds leave a wide margin: a single seed
//! would have to land 0.77 % off to move a 3-seed interval past 1 %, and of
//! 552 natural-schedule runs measured (quiet, 4 busy loops, a second
//! trainer alongside) none landed more than 0.29 % off. In 5 runs of this
//! file (quiet, 3 with 4 busy loops on the 2 cores, 1 beside a looping
//! `cargo build`) every multi-thread check's interval stayed within ±0.40 %,
//! the squared contention check's within ±0.24 %. The sequential runs are
//! trained once per loss for the whole file (a cloned [`Harness`] keeps
//! them), which pays for the extra check and the costlier merges: the file
//! still takes about 45 s quiet.
//!
//! (S = 1 is what 16 real cores do: there `HotCold`/`Auto` and `Batched` at
//! 16 threads diverge on `squared` and `HotCold` is +0.9 % (logistic) to
//! +2–7 % (hinge); these checks assume a machine with far fewer cores than
//! threads, as the CI machine is.)

use std::sync::OnceLock;

use wildsgd::data::{CsrDataset, Synthetic};
use wildsgd::equivalence::{Comparison, Harness, LaggedRule, Verdict};
use wildsgd::policy::rule::{HotColdRule, Merge, ReplicasRule};
use wildsgd::policy::{Touches, UpdateRule, Worker, PROBE_SAMPLES};
use wildsgd::{Error, Linear, Loss, Model, Policy, Schedule, Trainer, WeightStore};

/// The equivalence margin: converged training loss within 1 % of sequential.
const TOLERANCE: f64 = 0.01;
/// Seeds per side.
const SEEDS: usize = 3;
/// Samples between merges of replicas merged by sum at 16 threads: well
/// below the samples a worker runs between preemptions (module docs).
const SUM_EVERY_AT_16: usize = 8;

/// RCV1-like, 20k rows x 5k features, generated once for all tests.
fn data() -> &'static CsrDataset {
    static DATA: OnceLock<CsrDataset> = OnceLock::new();
    DATA.get_or_init(|| {
        Synthetic {
            rows: 20_000,
            features: 5_000,
            ..Synthetic::default()
        }
        .generate()
        .expect("valid generator settings")
    })
}

fn model(loss: Loss) -> &'static Linear {
    static MODELS: [OnceLock<Linear>; 3] = [const { OnceLock::new() }; 3];
    MODELS[index(loss)].get_or_init(|| {
        let train = data();
        Linear::new(loss, train.n_features()).bias(true).l2(1e-4, train)
    })
}

fn index(loss: Loss) -> usize {
    match loss {
        Loss::Logistic => 0,
        Loss::Hinge => 1,
        Loss::Squared => 2,
    }
}

/// 10 epochs of EpochDecay(lr, 0.6): the final rate is 1 % of the first, so
/// the runs are converged and the final iterate's order noise is small. The
/// squared loss's gradient is unbounded, so it starts lower (at 0.5 its
/// final loss is several times noisier across seeds).
fn trainer(loss: Loss) -> Trainer {
    let initial = if loss == Loss::Squared { 0.2 } else { 0.5 };
    Trainer::new()
        .epochs(10)
        .schedule(Schedule::EpochDecay { initial, decay: 0.6 })
        .seed(1)
}

/// The harness for `loss` (`SEEDS` seeds, `TOLERANCE`), its sequential runs
/// trained once for the whole file: they are deterministic, and every test
/// compares against the same ones.
fn harness(loss: Loss) -> Harness<'static, Linear> {
    static HARNESSES: [OnceLock<Harness<'static, Linear>>; 3] = [const { OnceLock::new() }; 3];
    HARNESSES[index(loss)]
        .get_or_init(|| {
            let mut harness = Harness::new(&trainer(loss), model(loss), data())
                .seeds(SEEDS)
                .tolerance(TOLERANCE);
            harness.sequential().expect("sequential runs");
            harness
        })
        .clone()
}

fn check(cmp: &Comparison, want: Verdict) {
    assert_eq!(cmp.verdict, want, "\n{cmp}");
    eprintln!("{cmp}");
}

fn lock_free_policies_match_sequential(loss: Loss) {
    let mut harness = harness(loss);
    for policy in [Policy::Racy, Policy::AtomicAdd, Policy::Batched { size: 16 }] {
        for threads in [2, 4, 16] {
            let cmp = harness.policy(policy, threads).unwrap();
            check(&cmp, Verdict::Equivalent);
            assert!(cmp.rel_gap.abs() < TOLERANCE, "{cmp}");
            assert_eq!(cmp.threads, threads);
        }
    }
}

/// The contention strategies: a hot/cold split, replicas merged by sum
/// (delayed updates), and the automatic choice (`Racy` at 2 threads, a
/// hot/cold split of 376 weights at 16).
fn contention_strategies_match_sequential(loss: Loss) {
    let mut harness = harness(loss);
    let hot_cold = Policy::HotCold { hot: 4096, every: 32 };
    let sum = |every| Policy::Replicas {
        every,
        merge: Merge::Sum,
    };
    for (policy, threads) in [
        (hot_cold, 2),
        (hot_cold, 16),
        (sum(256), 2),
        (sum(SUM_EVERY_AT_16), 16),
        (Policy::Auto, 2),
        (Policy::Auto, 16),
    ] {
        let cmp = harness.policy(policy, threads).unwrap();
        check(&cmp, Verdict::Equivalent);
        assert!(cmp.rel_gap.abs() < TOLERANCE, "{cmp}");
    }
}

/// An update rule that runs `rule`'s workers but yields the thread every
/// `every` samples: with more workers than cores, a preemption every
/// `every` samples, whatever else the machine runs.
struct Preempted<'r, R> {
    rule: &'r R,
    every: usize,
}

struct PreemptedWorker<W> {
    inner: W,
    every: usize,
    done: usize,
}

impl<R: UpdateRule> UpdateRule for Preempted<'_, R> {
    type Worker<'a>
        = PreemptedWorker<R::Worker<'a>>
    where
        Self: 'a;

    fn worker<'a>(&'a self, store: &'a WeightStore) -> Self::Worker<'a> {
        PreemptedWorker {
            inner: self.rule.worker(store),
            every: self.every,
            done: 0,
        }
    }
}

impl<W: Worker> Worker for PreemptedWorker<W> {
    type View = W::View;

    fn update<T>(&mut self, f: impl FnOnce(&mut W::View) -> T) -> T {
        let r = self.inner.update(f);
        self.done += 1;
        if self.done.is_multiple_of(self.every) {
            std::thread::yield_now();
        }
        r
    }

    fn finish(&mut self) {
        self.inner.finish()
    }
}

/// Samples between the forced preemptions of
/// `squared_contention_strategies_survive_preemption_every_32_samples`.
const PREEMPT_EVERY: usize = 32;

/// `rule` on 16 threads of the squared problem, every worker yielding its
/// core every `PREEMPT_EVERY` samples, against `Sequential`.
fn preempted<R: UpdateRule>(harness: &mut Harness<'static, Linear>, name: &str, rule: &R) -> Result<Comparison, Error> {
    let (model, train) = (model(Loss::Squared), data());
    harness.custom(&format!("{name}/yield:{PREEMPT_EVERY}"), 16, |t| {
        let rule = Preempted {
            rule,
            every: PREEMPT_EVERY,
        };
        t.job(model, train).run_with_rule(rule, name)
    })
}

/// The 16-thread contention checks above do not rest on the workers
/// running long stretches unpreempted: with every worker yielding its core
/// every 32 samples (where 90 % of a loaded CI machine's uninterrupted runs
/// are 350 samples or longer), on the most sensitive loss, the hot/cold
/// split (the one `Auto` makes at 16 threads) and replicas summed every
/// `SUM_EVERY_AT_16` samples stay equivalent, while replicas summed every
/// 256 samples (the setting that once failed under load) blow up.
#[test]
fn squared_contention_strategies_survive_preemption_every_32_samples() {
    let (model, trainer, train) = (model(Loss::Squared), trainer(Loss::Squared), data());
    let mut harness = harness(Loss::Squared);
    // The split the trainer makes for the first seed: probed from its
    // initial weights at the first rate.
    let mut start = vec![0.0; model.n_weights()];
    model.init(&mut start, trainer.get_seed());
    let rate = trainer.get_schedule().rate(0, 0);
    let touches = Touches::probe(model, train, &start, PROBE_SAMPLES, rate, trainer.get_seed()).unwrap();
    let hot_cold = HotColdRule::from_touches(&touches, model.n_weights(), 4096, 32).unwrap();
    let sum = |every| ReplicasRule {
        every,
        merge: Merge::Sum,
        workers: 16,
    };
    let cmp = preempted(&mut harness, "hotcold:4096:32", &hot_cold).unwrap();
    check(&cmp, Verdict::Equivalent);
    let name = format!("delayed:{SUM_EVERY_AT_16}");
    let cmp = preempted(&mut harness, &name, &sum(SUM_EVERY_AT_16)).unwrap();
    check(&cmp, Verdict::Equivalent);
    match preempted(&mut harness, "delayed:256", &sum(256)) {
        Err(d @ Error::Diverged { .. }) => {
            eprintln!("delayed:256/yield:{PREEMPT_EVERY} x16 diverged, as it should: {d}")
        }
        Ok(cmp) => {
            check(&cmp, Verdict::Different);
            assert!(
                cmp.rel_gap > 0.1,
                "summing 16 open windows of 256 should blow up: {cmp}"
            );
        }
        Err(e) => panic!("{e}"),
    }
}

/// Model averaging pays for its lack of contention in statistical
/// efficiency: each merge adds 1/threads of a replica's change, so in the
/// same epochs it converges within the tolerance at 2 threads but not at 16
/// (measured: +0.34 % at 2 threads, +7.7 % at 16 on logistic; hinge +0.69 %
/// and +11 %; squared +1.2 % already at 2; on logistic +0.34 % and +7.4 %
/// also with a preemption forced every 1, 64, 256 or 1,024 samples: the
/// verdicts do not depend on the schedule). Summing the changes instead
/// (`delayed:M`, above) keeps the sequential step and is equivalent.
#[test]
fn averaged_replicas_converge_at_2_threads_but_fall_behind_at_16() {
    let mut harness = harness(Loss::Logistic);
    let average = Policy::Replicas {
        every: 256,
        merge: Merge::Average,
    };
    check(&harness.policy(average, 2).unwrap(), Verdict::Equivalent);
    let cmp = harness.policy(average, 16).unwrap();
    check(&cmp, Verdict::Different);
    assert!(
        cmp.rel_gap > 0.03,
        "averaging 16 replicas should lag well behind: {cmp}"
    );
}

#[test]
fn logistic_is_equivalent_to_sequential() {
    lock_free_policies_match_sequential(Loss::Logistic);
}

#[test]
fn logistic_contention_strategies_are_equivalent() {
    contention_strategies_match_sequential(Loss::Logistic);
}

#[test]
fn hinge_contention_strategies_are_equivalent() {
    contention_strategies_match_sequential(Loss::Hinge);
}

#[test]
fn squared_contention_strategies_are_equivalent() {
    contention_strategies_match_sequential(Loss::Squared);
}

#[test]
fn hinge_is_equivalent_to_sequential() {
    lock_free_policies_match_sequential(Loss::Hinge);
}

#[test]
fn squared_is_equivalent_to_sequential() {
    lock_free_policies_match_sequential(Loss::Squared);
}

/// Lagged updates, calibrated to converge 2–3 % above sequential, must be
/// rejected.
#[test]
fn control_delayed_updates_are_rejected() {
    for (loss, tau) in [(Loss::Logistic, 375), (Loss::Hinge, 250)] {
        let (model, train) = (model(loss), data());
        // Stale gradients blow the first epoch up before they settle 2-3 %
        // above: the control must see that run as it is, not backed off.
        let cmp = harness(loss)
            .custom("delayed", 1, |t| {
                t.clone()
                    .blow_up_guard(false)
                    .job(model, train)
                    .run_with_rule(LaggedRule::new(tau), "delayed")
            })
            .unwrap();
        check(&cmp, Verdict::Different);
        // The calibration itself: the gap is the intended 2-3 % (with slack
        // for seed noise), and the interval excludes the tolerance.
        assert!((0.015..0.035).contains(&cmp.rel_gap), "{loss:?} tau {tau}: {cmp}");
        assert!(cmp.ci_low > TOLERANCE, "{cmp}");
        assert_eq!(cmp.caught_up, None, "never within tolerance at the end: {cmp}");
    }
}

/// Sequential against Sequential with other seeds (other sample orders, so
/// not identical runs) must be accepted.
#[test]
fn control_sequential_with_other_seeds_is_accepted() {
    for loss in [Loss::Logistic, Loss::Hinge, Loss::Squared] {
        let (model, train) = (model(loss), data());
        let cmp = harness(loss)
            .custom("sequential+1000", 1, |t| {
                t.clone()
                    .policy(Policy::Sequential)
                    .seed(t.get_seed() + 1000)
                    .fit(model, train)
            })
            .unwrap();
        check(&cmp, Verdict::Equivalent);
        assert_ne!(cmp.rel_gap, 0.0, "other seeds must give other runs");
    }
}

/// The harness's bookkeeping: seeds, pairing, curves and the cache.
#[test]
fn harness_pairs_runs_by_seed_and_lines_up_curves() {
    let train = Synthetic {
        rows: 2_000,
        features: 500,
        ..Synthetic::default()
    }
    .generate()
    .unwrap();
    let model = Linear::new(Loss::Logistic, train.n_features()).bias(true);
    let trainer = Trainer::new().epochs(3).evals_per_epoch(2).seed(7);
    let mut harness = Harness::new(&trainer, &model, &train).seeds(4);
    assert_eq!(harness.seed_list(), vec![7, 8, 9, 10]);
    // RacyRule on one thread is Sequential, bit for bit: a gap of exactly 0.
    let cmp = harness.policy(Policy::Racy, 1).unwrap();
    assert_eq!(cmp.rel_gap, 0.0);
    assert_eq!(cmp.verdict, Verdict::Equivalent);
    for (s, p) in cmp.seq_runs.iter().zip(&cmp.par_runs) {
        assert_eq!(s.seed, p.seed, "paired by seed");
        assert_eq!(s.final_loss, p.final_loss);
        let losses = |r: &wildsgd::equivalence::Run| r.curve.iter().map(|t| t.loss).collect::<Vec<_>>();
        assert_eq!(losses(s), losses(p));
    }
    let seeds: Vec<u64> = cmp.par_runs.iter().map(|r| r.seed).collect();
    assert_eq!(seeds, vec![7, 8, 9, 10]);
    assert_eq!(cmp.curve.len(), 6, "2 points per epoch x 3 epochs");
    assert_eq!(cmp.curve.last().unwrap().samples, 3 * train.len() as u64);
    assert_eq!(cmp.caught_up, Some(cmp.curve[0].samples));
    assert_eq!(cmp.caught_up_epoch(), Some(0));
    // Display: the verdict line and one line per curve point.
    let text = cmp.to_string();
    assert!(text.contains("equivalent"), "{text}");
    assert_eq!(text.lines().count(), 2 + 6);
    // The JSON has the fields the table's consumers rely on.
    let json = serde_json::to_value(&cmp).unwrap();
    for field in [
        "policy", "threads", "seeds", "seq_mean", "seq_sd", "par_mean", "par_sd", "rel_gap", "verdict",
    ] {
        assert!(json.get(field).is_some(), "{field} missing");
    }
    assert_eq!(json["verdict"], "equivalent");
    // One seed is not enough for a test.
    let mut one = Harness::new(&trainer, &model, &train).seeds(1);
    assert!(one.policy(Policy::Racy, 2).is_err());
}

/// The adaptive update (`Update::Adaptive`, the command line's default):
/// its accumulators live in the store beside the weights and race like
/// them, so every lock-free policy must still converge to the sequential
/// loss. The same data and L2 as the SGD tests, the command line's adaptive
/// schedule (8, x0.8 per epoch).
#[test]
fn adaptive_update_is_equivalent_to_sequential() {
    let train = data();
    let model = Linear::new(Loss::Logistic, train.n_features())
        .bias(true)
        .l2(1e-4, train)
        .adaptive(train);
    let trainer = Trainer::new()
        .epochs(10)
        .schedule(Schedule::EpochDecay {
            initial: 8.0,
            decay: 0.8,
        })
        .seed(1);
    let mut harness = Harness::new(&trainer, &model, train).seeds(SEEDS).tolerance(TOLERANCE);
    for (policy, threads) in [(Policy::Racy, 2), (Policy::AtomicAdd, 2), (Policy::Racy, 16)] {
        let cmp = harness.policy(policy, threads).unwrap();
        check(&cmp, Verdict::Equivalent);
    }
}

/// Data-parallel training (in-process ranks, `wildsgd::cluster::Threads`):
/// `ranks` ranks of 2 threads each, every rank on its shard, exchanging the
/// sum of their changes at the default interval.
fn distributed_matches_sequential(loss: Loss, ranks: &[usize]) {
    let mut harness = harness(loss);
    for &k in ranks {
        let cmp = harness.distributed(Policy::Racy, k, 2, None).unwrap();
        check(&cmp, Verdict::Equivalent);
        assert_eq!(cmp.threads, 2 * k);
    }
}

#[test]
fn logistic_distributed_is_equivalent_to_sequential() {
    distributed_matches_sequential(Loss::Logistic, &[2, 4]);
}

#[test]
fn hinge_distributed_is_equivalent_to_sequential() {
    distributed_matches_sequential(Loss::Hinge, &[2, 4]);
}

/// Least squares at 2 ranks. At 4 the summed step (4 x 0.2 on rows of
/// squared norm ~2) is past the loss's stability limit at any exchange
/// interval (see `cluster::JOB_SAMPLES_PER_EXCHANGE`): that run diverges,
/// which the next test pins down so a change in it is noticed.
#[test]
fn squared_distributed_is_equivalent_to_sequential_at_2_ranks() {
    distributed_matches_sequential(Loss::Squared, &[2]);
}

#[test]
fn squared_at_4_ranks_diverges_without_the_blow_up_guard() {
    let err = harness(Loss::Squared)
        .distributed(Policy::Racy, 4, 2, None)
        .unwrap_err();
    assert!(matches!(err, Error::Diverged { .. }), "{err}");
}

/// The negative control: 4 ranks that exchange only at each epoch's end
/// (every 5,000 samples of their 5,000-row shards) add four epoch-long
/// steps taken from the same start: rejected (or diverged).
#[test]
fn control_exchange_once_per_epoch_is_rejected() {
    for loss in [Loss::Logistic, Loss::Hinge, Loss::Squared] {
        match harness(loss).distributed(Policy::Racy, 4, 2, Some(data().len() / 4)) {
            Ok(cmp) => {
                check(&cmp, Verdict::Different);
                assert!(cmp.rel_gap > TOLERANCE, "{cmp}");
            }
            Err(Error::Diverged { .. }) => {}
            Err(e) => panic!("{loss:?}: {e}"),
        }
    }
}
