//! The trainer end to end: reproducibility, the plain baseline, parallel
//! convergence, reports, averaging, early stopping, divergence and errors.

use wildsgd::data::{CsrDataset, Synthetic};
use wildsgd::trainer::epoch_order;
use wildsgd::trainer::Outcome;
use wildsgd::{
    baseline, Control, Error, Linear, Loss, Model, Policy, Schedule, Step, Trainer, WeightStore, Weights, WeightsMut,
};

fn problem(rows: usize, features: usize, seed: u64) -> CsrDataset {
    Synthetic {
        rows,
        features,
        seed,
        ..Synthetic::default()
    }
    .generate()
    .unwrap()
}

fn logistic(train: &CsrDataset) -> Linear {
    Linear::new(Loss::Logistic, train.n_features())
        .bias(true)
        .l2(1e-5, train)
}

#[test]
fn sequential_is_bit_for_bit_reproducible_and_equals_the_plain_loop() {
    let data = problem(5_000, 2_000, 3);
    for (loss, schedule) in [
        (
            Loss::Logistic,
            Schedule::InverseTime {
                initial: 0.5,
                decay: 1e-4,
            },
        ),
        (
            Loss::Hinge,
            Schedule::EpochDecay {
                initial: 0.2,
                decay: 0.8,
            },
        ),
        (Loss::Squared, Schedule::Constant(0.05)),
    ] {
        let model = Linear::new(loss, data.n_features()).bias(true).l2(1e-4, &data);
        let t = Trainer::new()
            .policy(Policy::Sequential)
            .threads(8) // ignored by Sequential
            .epochs(3)
            .schedule(schedule)
            .evals_per_epoch(4)
            .seed(11);
        let a = t.fit(&model, &data).unwrap();
        let b = t.fit(&model, &data).unwrap();
        let plain = baseline::plain_linear(&t, &model, &data).unwrap();
        assert_eq!(a.report.threads, 1);
        let bits = |w: &[f32]| w.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&a.weights),
            bits(&b.weights),
            "{loss:?}: Sequential differs between runs"
        );
        assert_eq!(
            bits(&a.weights),
            bits(&plain.weights),
            "{loss:?}: plain loop differs from Sequential"
        );
        assert_eq!(plain.report.policy, "plain");
        assert_eq!(a.report.final_loss(), plain.report.final_loss());
        let c = t.clone().seed(12).fit(&model, &data).unwrap();
        assert_ne!(bits(&a.weights), bits(&c.weights), "the seed changes the run");
    }
}

#[test]
fn parallel_logistic_matches_sequential_loss_within_one_percent() {
    let data = problem(50_000, 20_000, 5);
    let model = logistic(&data);
    let base = Trainer::new().epochs(5).seed(1);
    let seq = base.clone().policy(Policy::Sequential).fit(&model, &data).unwrap();
    let seq_loss = seq.report.final_loss().unwrap();
    assert!(seq_loss < 0.6, "the problem is learnable: {seq_loss}");
    for policy in [Policy::Racy, Policy::AtomicAdd] {
        for threads in [2, 8] {
            let par = base.clone().policy(policy).threads(threads).fit(&model, &data).unwrap();
            let loss = par.report.final_loss().unwrap();
            let rel = (loss - seq_loss) / seq_loss;
            assert!(
                rel.abs() < 0.01,
                "{policy} x{threads}: loss {loss} vs sequential {seq_loss} ({rel:+.4})"
            );
            assert_eq!(par.report.threads, threads);
        }
    }
}

#[test]
fn reports_hold_every_epoch_and_the_loss_curve() {
    let data = problem(4_000, 1_000, 2);
    let (train, valid) = data.split(0.25, 9).unwrap();
    let model = logistic(&train);
    let t = Trainer::new()
        .threads(2)
        .epochs(3)
        .evals_per_epoch(5)
        .loss_rows(Some(500));
    let out = t.job(&model, &train).validation(&valid).run().unwrap();
    let r = &out.report;
    assert_eq!(r.epochs.len(), 3);
    assert_eq!(r.trace.len(), 15);
    assert_eq!(r.samples(), 3 * train.len() as u64);
    assert!(r
        .trace
        .windows(2)
        .all(|w| w[0].samples < w[1].samples && w[0].update_seconds <= w[1].update_seconds));
    for (i, e) in r.epochs.iter().enumerate() {
        assert_eq!(e.epoch, i);
        assert_eq!(e.samples, train.len() as u64);
        assert!(e.samples_per_sec > 0.0 && e.update_seconds > 0.0);
        assert!(e.eval_seconds > 0.0, "loss passes are timed separately");
        assert!(e.wall_seconds >= e.update_seconds + e.eval_seconds * 0.5);
        assert!(e.valid_loss.unwrap().is_finite());
        let acc = e.valid_accuracy.unwrap();
        assert!((0.5..=1.0).contains(&acc), "{acc}");
        assert!(e.train_accuracy.is_some());
        assert_eq!(
            r.trace[5 * i + 4].loss,
            e.train_loss,
            "the epoch's point is its train loss"
        );
    }
    assert!(r.epochs[2].train_loss < r.epochs[0].train_loss);
    assert!(r.seconds_to(f64::INFINITY).is_some());
    assert!(r.seconds_to(-1.0).is_none());
    // The table prints one line per epoch under a header.
    assert_eq!(r.to_string().lines().count(), 2 + 3);
    assert!(r.samples_per_sec() > 0.0);
}

#[test]
fn training_loss_is_the_exact_objective_on_the_final_weights() {
    let data = problem(3_000, 800, 4);
    let model = logistic(&data);
    let out = Trainer::new().threads(2).epochs(2).fit(&model, &data).unwrap();
    let w = &out.weights;
    let mean: f64 = (0..data.len())
        .map(|i| model.loss(w, data.row(i), Step::new(0.0)))
        .sum::<f64>()
        / data.len() as f64;
    let objective = mean + model.penalty(w);
    let reported = out.report.final_loss().unwrap();
    assert!((objective - reported).abs() < 1e-9, "{objective} vs {reported}");
}

/// One weight; each step adds the sample's value times the learning rate,
/// so the iterates are easy to follow by hand.
struct Counter;

impl Model for Counter {
    type Data = Vec<f32>;
    fn n_weights(&self) -> usize {
        1
    }
    fn loss<W: Weights + ?Sized>(&self, w: &W, _: &f32, _: Step) -> f64 {
        f64::from(w.read(0))
    }
    fn step<W: WeightsMut + ?Sized>(&self, w: &mut W, x: &f32, at: Step) {
        let lr = at.lr;
        w.add(0, lr * x);
    }
}

#[test]
fn tail_averaging_returns_the_mean_iterate_of_the_last_epoch() {
    // 32 samples: the last epoch's iterates are sampled every 2 samples.
    let data: Vec<f32> = (1..=32).map(|i| i as f32).collect();
    let t = Trainer::new()
        .policy(Policy::Sequential)
        .epochs(2)
        .schedule(Schedule::Constant(0.5))
        .average(true)
        // The counter's "loss" is its weight, which training only grows.
        .blow_up_guard(false)
        .seed(4);
    let out = t.fit(&Counter, &data).unwrap();
    // By hand: epoch 0 sums everything, then average 16 evenly spaced epoch-1 iterates.
    let mut w = 0.5 * data.iter().sum::<f32>();
    let mut order = vec![0u32; data.len()];
    epoch_order(4, 1, &mut order);
    let mut sum = 0.0f64;
    for (p, &i) in order.iter().enumerate() {
        w += 0.5 * data[i as usize];
        if p % 2 == 1 {
            sum += f64::from(w);
        }
    }
    let expected = sum / 16.0;
    assert!(
        (f64::from(out.weights[0]) - expected).abs() < 1e-3,
        "{} vs {expected}",
        out.weights[0]
    );
    assert_eq!(out.report.final_loss().unwrap(), f64::from(out.weights[0]));
    assert!(
        f64::from(out.weights[0]) < f64::from(w),
        "the average lags the last iterate"
    );

    // On a real problem, averaging over 2 threads keeps the loss in range.
    let data = problem(5_000, 1_000, 8);
    let model = logistic(&data);
    for policy in [Policy::Sequential, Policy::Racy, Policy::AtomicAdd] {
        let t = Trainer::new().threads(4).epochs(3).policy(policy);
        let avg = t.clone().average(true).fit(&model, &data).unwrap();
        let last = t.fit(&model, &data).unwrap();
        assert_ne!(avg.weights, last.weights);
        let (a, l) = (avg.report.final_loss().unwrap(), last.report.final_loss().unwrap());
        assert!(a < l * 1.02, "{policy}: averaged {a} vs last iterate {l}");
    }
}

#[test]
fn the_epoch_callback_stops_early() {
    let data = problem(2_000, 500, 1);
    let model = logistic(&data);
    let mut seen = Vec::new();
    let out = Trainer::new()
        .threads(2)
        .epochs(10)
        .job(&model, &data)
        .on_epoch(|e| {
            seen.push(e.epoch);
            if e.epoch == 2 {
                Control::Stop
            } else {
                Control::Continue
            }
        })
        .run()
        .unwrap();
    assert_eq!(seen, vec![0, 1, 2]);
    assert_eq!(out.report.epochs.len(), 3);
    assert_eq!(out.outcome, Outcome::StoppedEarly { epoch: 2 });
}

#[test]
fn warm_start_trains_the_given_store() {
    let data = problem(2_000, 500, 6);
    let model = logistic(&data);
    let store = WeightStore::zeros(model.n_weights());
    let t = Trainer::new().threads(2).epochs(2);
    let first = t.job(&model, &data).weights(&store).run().unwrap();
    assert_eq!(store.snapshot(), first.weights);
    let second = t.job(&model, &data).weights(&store).run().unwrap();
    assert!(second.report.epochs[0].train_loss < first.report.epochs[0].train_loss);
    let wrong = WeightStore::zeros(3);
    let e = t.job(&model, &data).weights(&wrong).run().unwrap_err();
    assert!(
        matches!(e, Error::LengthMismatch { expected, found: 3, .. } if expected == model.n_weights()),
        "{e}"
    );
}

#[test]
fn locked_policy_trains_too() {
    let data = problem(3_000, 500, 7);
    let model = logistic(&data);
    let out = Trainer::new()
        .threads(2)
        .epochs(3)
        .policy(Policy::Locked)
        .fit(&model, &data)
        .unwrap();
    assert_eq!(out.report.policy, "locked");
    assert!(out.report.final_loss().unwrap() < 0.65);
}

#[test]
fn divergence_is_reported_with_the_last_finite_weights() {
    let mut data = CsrDataset::new(2);
    for i in 0..200 {
        data.push(&[0, 1], &[1e3, (i % 7) as f32], (i % 3) as f32).unwrap();
    }
    let model = Linear::new(Loss::Squared, 2);
    let d = Trainer::new()
        .threads(2)
        .epochs(5)
        .schedule(Schedule::Constant(0.5))
        .fit(&model, &data)
        .unwrap();
    let Outcome::Diverged { epoch, .. } = &d.outcome else {
        panic!("expected divergence, got {}", d.outcome)
    };
    assert_eq!(*epoch, 0);
    assert!(d.outcome.to_string().contains("diverged in epoch 0"), "{}", d.outcome);
    assert!(d.outcome.diverged());
    assert_eq!(d.weights, vec![0.0, 0.0], "the initial weights, since epoch 0 diverged");
    assert!(d.report.epochs.is_empty());

    // Diverging later keeps the last good epoch's weights.
    let mut data = CsrDataset::new(1);
    for _ in 0..100 {
        data.push(&[0], &[1.0], 1.0).unwrap();
    }
    let sched = Schedule::EpochDecay {
        initial: 0.01,
        decay: 1e3,
    };
    let d = Trainer::new()
        .threads(1)
        .epochs(6)
        .schedule(sched)
        .fit(&model_one(), &data)
        .unwrap();
    let Outcome::Diverged { epoch, .. } = d.outcome else {
        panic!()
    };
    assert!(epoch >= 1, "{epoch}");
    assert_eq!(d.report.epochs.len(), epoch);
    assert!(d.weights[0].is_finite());
}

fn model_one() -> Linear {
    Linear::new(Loss::Squared, 1)
}

#[test]
fn bad_configuration_and_data_are_typed_errors() {
    let data = problem(500, 100, 1);
    let model = logistic(&data);
    let fit = |t: Trainer| t.fit(&model, &data).unwrap_err();

    assert!(matches!(fit(Trainer::new().threads(0)), Error::ZeroThreads));
    assert!(matches!(fit(Trainer::new().epochs(0)), Error::ZeroEpochs));
    for lr in [f32::NAN, f32::INFINITY, 0.0, -0.1] {
        let e = fit(Trainer::new().schedule(Schedule::Constant(lr)));
        assert!(matches!(e, Error::InvalidLearningRate { .. }), "{lr}: {e}");
    }
    let e = fit(Trainer::new().schedule(Schedule::InverseTime {
        initial: 0.1,
        decay: f32::NAN,
    }));
    assert!(e.to_string().contains("decay"), "{e}");
    assert!(matches!(
        fit(Trainer::new().evals_per_epoch(0)),
        Error::InvalidParameter { .. }
    ));
    assert!(matches!(
        fit(Trainer::new().loss_rows(Some(0))),
        Error::InvalidParameter { .. }
    ));

    let empty = CsrDataset::new(100);
    let e = Trainer::new().fit(&model, &empty).unwrap_err();
    assert!(matches!(e, Error::EmptyDataset { what: "training" }), "{e}");
    let e = Trainer::new().job(&model, &data).validation(&empty).run().unwrap_err();
    assert!(matches!(e, Error::EmptyDataset { what: "validation" }), "{e}");

    // A feature index beyond the model's dimension, in training or validation data.
    let mut wide = CsrDataset::new(200);
    wide.push(&[3], &[1.0], 1.0).unwrap();
    wide.push(&[150], &[1.0], -1.0).unwrap();
    let e = Trainer::new().fit(&model, &wide).unwrap_err();
    assert_eq!(
        e.to_string(),
        "training data, row 1: feature index 150 is beyond the model's dimension 100"
    );
    let e = Trainer::new().job(&model, &data).validation(&wide).run().unwrap_err();
    assert!(
        e.to_string().starts_with("validation data, row 1: feature index 150"),
        "{e}"
    );

    "bogus".parse::<Policy>().unwrap_err();
    assert_eq!("atomic".parse::<Policy>().unwrap(), Policy::AtomicAdd);
}

#[test]
fn a_resumed_sequential_run_is_bit_identical_to_an_uninterrupted_one() {
    let data = problem(3_000, 800, 12);
    let model = logistic(&data);
    let t = Trainer::new().policy(Policy::Sequential).epochs(4).seed(5);
    let whole = t.fit(&model, &data).unwrap();

    // Save the weights after epoch 1 (two epochs done), as a checkpoint would.
    let mut saved = Vec::new();
    t.job(&model, &data)
        .on_weights(|epoch, w| {
            if epoch == 1 {
                saved = w.to_vec();
            }
            Ok(())
        })
        .on_epoch(|e| if e.epoch == 1 { Control::Stop } else { Control::Continue })
        .run()
        .unwrap();
    let store = WeightStore::from_slice(&saved);
    let resumed = t
        .clone()
        .start_epoch(2)
        .job(&model, &data)
        .weights(&store)
        .run()
        .unwrap();
    assert_eq!(resumed.report.epochs.len(), 2);
    assert_eq!(resumed.report.epochs[0].epoch, 2);
    let bits = |w: &[f32]| w.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&resumed.weights), bits(&whole.weights));

    // A hook's error stops training and is returned.
    let e = t
        .job(&model, &data)
        .on_weights(|_, _| {
            Err(Error::InvalidParameter {
                name: "disk",
                reason: "full".into(),
            })
        })
        .run()
        .unwrap_err();
    assert_eq!(e.to_string(), "invalid disk: full");
    let e = t.clone().start_epoch(4).fit(&model, &data).unwrap_err();
    assert!(e.to_string().contains("start_epoch"), "{e}");
}

#[test]
fn batched_with_size_one_is_atomic_add() {
    let data = problem(3_000, 800, 13);
    let model = logistic(&data);
    let t = Trainer::new().threads(1).epochs(3).seed(2);
    let seq = t.clone().policy(Policy::Sequential).fit(&model, &data).unwrap();
    let atomic = t.clone().policy(Policy::AtomicAdd).fit(&model, &data).unwrap();
    let batched = t
        .clone()
        .policy(Policy::Batched { size: 1 })
        .fit(&model, &data)
        .unwrap();
    // On one thread every policy applies the same adds in the same order.
    assert_eq!(batched.weights, atomic.weights);
    assert_eq!(batched.weights, seq.weights);
    assert_eq!(batched.report.policy, "batched:1");
    // A larger batch on one thread: its reads include its own pending updates, so it
    // differs from Sequential only by float rounding (`(w + a) + b` vs `w + (a + b)`);
    // one thread makes the run deterministic. Several threads are covered, with a
    // statistical test, in tests/equivalence.rs.
    let b = t.policy(Policy::Batched { size: 32 }).fit(&model, &data).unwrap();
    assert_ne!(b.weights, seq.weights, "the buffer really batches");
    let (bl, sl) = (b.report.final_loss().unwrap(), seq.report.final_loss().unwrap());
    assert!(((bl - sl) / sl).abs() < 1e-4, "{bl} vs {sl}");
}

/// Observing a run does not change it: evaluation points and tail-averaging
/// points pause the workers without ending them, so buffering policies
/// merge exactly where they would unobserved. On one thread the runs are
/// deterministic, so the weights agree bit for bit.
#[test]
fn evaluation_points_do_not_change_the_optimiser() {
    let data = problem(3_000, 500, 11);
    let model = logistic(&data);
    for policy in [
        Policy::Batched { size: 64 },
        Policy::HotCold { hot: 32, every: 50 },
        Policy::Replicas {
            every: 100,
            merge: wildsgd::policy::Merge::Sum,
        },
    ] {
        let t = Trainer::new().threads(1).epochs(2).seed(5).policy(policy);
        let plain = t.fit(&model, &data).unwrap();
        let observed = t.clone().evals_per_epoch(7).fit(&model, &data).unwrap();
        assert_eq!(
            plain.weights, observed.weights,
            "{policy}: evaluation points changed the run"
        );
        assert_eq!(observed.report.trace.len(), 14);
    }
}

/// A model that records, per step, the row it was told (`Step::index`) and
/// the row's own id (its value), so a test can see the copy's rows are named
/// by their original position.
struct Recorder;

impl wildsgd::Model for Recorder {
    type Data = wildsgd::data::Pairs;
    fn n_weights(&self) -> usize {
        1
    }
    fn loss<W: wildsgd::Weights + ?Sized>(&self, _: &W, _: wildsgd::data::Pair, _: wildsgd::Step) -> f64 {
        0.0
    }
    fn step<W: wildsgd::WeightsMut + ?Sized>(&self, w: &mut W, p: wildsgd::data::Pair, at: wildsgd::Step) {
        // Pair (i, i) is row i of the caller's data: any mismatch poisons the weight.
        if p.source as usize != at.index {
            w.add(0, f32::NAN);
        } else {
            w.add(0, 1.0);
        }
    }
}

#[test]
fn every_order_visits_each_row_once_per_epoch_and_names_its_original_row() {
    use wildsgd::data::Pairs;
    use wildsgd::schedule::Order;
    let data = Pairs::new((0..5000u32).map(|i| (i, i)).collect());
    for order in [
        Order::Full,
        Order::default(),
        Order::Blocks {
            rows: 7,
            shuffle_within: false,
        },
        Order::Stored,
    ] {
        for (policy, threads) in [(Policy::Sequential, 1), (Policy::AtomicAdd, 2)] {
            let t = Trainer::new()
                .epochs(3)
                .policy(policy)
                .threads(threads)
                .order(order)
                .seed(4);
            let trained = t.fit(&Recorder, &data).unwrap();
            assert!(
                matches!(trained.outcome, Outcome::Finished),
                "{order:?} {policy}: {:?}",
                trained.outcome
            );
            // AtomicAdd loses nothing: one +1 per sample per epoch.
            assert_eq!(trained.weights[0], 15_000.0, "{order:?} {policy}");
        }
    }
}

#[test]
fn data_that_cannot_copy_itself_is_visited_in_a_full_permutation_and_the_report_says_why() {
    #[derive(Clone, Copy)]
    struct Mean;
    impl wildsgd::Model for Mean {
        type Data = Vec<f32>;
        fn n_weights(&self) -> usize {
            1
        }
        fn loss<W: wildsgd::Weights + ?Sized>(&self, w: &W, x: &f32, _: wildsgd::Step) -> f64 {
            0.5 * f64::from(w.read(0) - x).powi(2)
        }
        fn step<W: wildsgd::WeightsMut + ?Sized>(&self, w: &mut W, x: &f32, at: wildsgd::Step) {
            let e = w.read(0) - x;
            w.add(0, -at.lr * e);
        }
    }
    let data: Vec<f32> = (0..1000).map(|i| (i % 10) as f32).collect();
    let t = Trainer::new()
        .epochs(2)
        .policy(Policy::Sequential)
        .schedule(wildsgd::Schedule::Constant(0.01));
    let blocks = t.fit(&Mean, &data).unwrap();
    let full = t
        .clone()
        .order(wildsgd::schedule::Order::Full)
        .fit(&Mean, &data)
        .unwrap();
    assert!(
        blocks.report.order.starts_with("full (instead of blocks:"),
        "{}",
        blocks.report.order
    );
    assert!(
        blocks.report.order.contains("Dataset::gather"),
        "{}",
        blocks.report.order
    );
    assert_eq!(full.report.order, "full");
    assert_eq!(blocks.weights, full.weights, "the fallback is exactly the full order");
}

#[test]
fn promised_shuffled_rows_are_read_as_they_are() {
    let train = problem(3000, 400, 2);
    let model = logistic(&train);
    let t = Trainer::new().epochs(2).policy(Policy::Sequential).seed(9);
    // With the promise the rows are read in place: the visit is that of a
    // copy made by the identity permutation, i.e. different from the
    // trainer's own shuffled copy, and equal to training on the copy itself.
    let own = t.clone().fit(&model, &train).unwrap();
    let promised = t.clone().rows_shuffled(true).fit(&model, &train).unwrap();
    assert_ne!(own.weights, promised.weights);
    let perm = wildsgd::schedule::once_permutation(9, None, train.len());
    let copy = train.gather_rows(&perm);
    let on_copy = t.clone().rows_shuffled(true).fit(&model, &copy).unwrap();
    assert_eq!(
        own.weights, on_copy.weights,
        "the trainer's copy is gather_rows(once_permutation)"
    );
    assert!(own.report.order.starts_with("blocks:"));
}
