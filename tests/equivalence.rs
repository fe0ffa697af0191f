//! Sequential equivalence of the lock-free policies, and the controls that
//! show the harness can fail.
//!
//! Every built-in model (logistic, hinge, squared) is trained with `Racy`,
//! `AtomicAdd` and `Batched { size: 16 }` at 2, 4 and 16 threads (16 is oversubscribed on purpose on a
//! small machine: preemption mid-sample makes staleness worse) and must reach
//! the converged training loss of `Sequential` within `TOLERANCE` (1 %
//! relative), by a paired TOST over `SEEDS` seeds.
//!
//! Controls:
//! * a trainer whose updates land `tau` samples late ([`Delayed`]), with `tau`
//!   calibrated on this problem to converge 2–3 % above `Sequential`
//!   (logistic: tau = 375 gives +2.48 %; hinge: tau = 250 gives +2.45 %,
//!   both measured over 5 seeds with the example), must be *rejected*;
//! * `Sequential` against `Sequential` with other seeds must be *accepted*.
//!
//! `squared` has no delay control: its gradient is unbounded, and the delayed
//! feedback loop on the hot features goes from harmless (tau = 18: +0.10 %,
//! tau = 19: +0.67 %) to divergent (tau = 20) with no gap of a few percent
//! in between.

use std::sync::OnceLock;

use wildsgd::data::{CsrDataset, Synthetic};
use wildsgd::equivalence::{Comparison, Delayed, Harness, Verdict};
use wildsgd::policy::Merge;
use wildsgd::{Linear, Loss, Policy, Schedule, Trainer};

/// The equivalence margin: converged training loss within 1 % of sequential.
const TOLERANCE: f64 = 0.01;
/// Seeds per side.
const SEEDS: usize = 3;

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

fn model(loss: Loss) -> Linear {
    let train = data();
    Linear::new(loss, train.n_features()).bias(true).l2(1e-4, train)
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

fn check(cmp: &Comparison, want: Verdict) {
    assert_eq!(cmp.verdict, want, "\n{cmp}");
    eprintln!("{cmp}");
}

fn lock_free_policies_match_sequential(loss: Loss) {
    let (model, trainer) = (model(loss), trainer(loss));
    let mut harness = Harness::new(&trainer, &model, data()).seeds(SEEDS).tolerance(TOLERANCE);
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
/// (delayed updates), and the automatic choice.
fn contention_strategies_match_sequential(loss: Loss) {
    let (model, trainer) = (model(loss), trainer(loss));
    let mut harness = Harness::new(&trainer, &model, data()).seeds(SEEDS).tolerance(TOLERANCE);
    for policy in [
        Policy::HotCold { hot: 4096, every: 32 },
        Policy::Replicas {
            every: 256,
            merge: Merge::Sum,
        },
        Policy::Auto,
    ] {
        for threads in [2, 16] {
            let cmp = harness.policy(policy, threads).unwrap();
            check(&cmp, Verdict::Equivalent);
            assert!(cmp.rel_gap.abs() < TOLERANCE, "{cmp}");
        }
    }
}

/// Model averaging pays for its lack of contention in statistical
/// efficiency: each merge adds 1/threads of a replica's change, so in the
/// same epochs it converges within the tolerance at 2 threads but not at 16
/// (measured: +0.34 % at 2 threads, +7.7 % at 16 on logistic; hinge +0.69 %
/// and +11 %; squared +1.2 % already at 2). Summing the changes instead
/// (`delayed:M`, above) keeps the sequential step and is equivalent.
#[test]
fn averaged_replicas_converge_at_2_threads_but_fall_behind_at_16() {
    let (model, trainer) = (model(Loss::Logistic), trainer(Loss::Logistic));
    let mut harness = Harness::new(&trainer, &model, data()).seeds(SEEDS).tolerance(TOLERANCE);
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

/// Delayed updates, calibrated to converge 2–3 % above sequential, must be
/// rejected.
#[test]
fn control_delayed_updates_are_rejected() {
    for (loss, tau) in [(Loss::Logistic, 375), (Loss::Hinge, 250)] {
        let (model, trainer) = (model(loss), trainer(loss));
        let train = data();
        let mut harness = Harness::new(&trainer, &model, train).seeds(SEEDS).tolerance(TOLERANCE);
        let cmp = harness
            .custom("delayed", 1, |t| {
                t.job(&model, train).run_with_rule(Delayed::new(tau), "delayed")
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
        let (model, trainer) = (model(loss), trainer(loss));
        let train = data();
        let mut harness = Harness::new(&trainer, &model, train).seeds(SEEDS).tolerance(TOLERANCE);
        let cmp = harness
            .custom("sequential+1000", 1, |t| {
                t.clone()
                    .policy(Policy::Sequential)
                    .seed(t.get_seed() + 1000)
                    .fit(&model, train)
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
    // Racy on one thread is Sequential, bit for bit: a gap of exactly 0.
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
